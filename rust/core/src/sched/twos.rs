// SPDX-License-Identifier: GPL-2.0
//! Power of two choices (`ip_vs_twos.c`): draw two servers at random,
//! each with probability proportional to its weight, and take the one
//! with the lower `overhead / weight` (the first draw on ties).
//!
//! Upstream draws two numbers in `[0, total_weight]` (inclusive: `total + 1`
//! values) with `get_random_u32_below(total + 1)` and walks the available
//! servers subtracting weights until a draw reaches 0; so the first
//! available server gets `weight + 1` of the `total + 1` values. This is
//! reproduced. The caller passes 64 random bits ([`super::SchedInput::random`]);
//! each half becomes one draw by multiply-shift (`(r * (total + 1)) >>
//! 32`), as `get_random_u32_below` does but without its rejection step:
//! the bias is below `(total + 1) / 2^32`. Weight sums and load products
//! are computed without overflow (upstream: `int`).

use super::{available_weight_at, load_gt, mul_wide, Dests};

/// A value in `[0, n)` from 32 random bits: `(r * n) >> 32`.
#[inline]
fn below(r: u32, n: u64) -> u64 {
    mul_wide(n, r).0
}

/// From index `from` on, `sum` being the weight total of the available
/// servers before it: the first available server at which the running
/// total reaches `target` (upstream: `rweight -= weight; if (rweight <= 0`),
/// with the total there.
fn reach<D: Dests + ?Sized>(
    dests: &D,
    from: usize,
    mut sum: u64,
    target: u64,
) -> Option<(usize, u64)> {
    for i in from..dests.len() {
        if let Some(w) = available_weight_at(dests, i) {
            // At most i32::MAX per server: a u64 sum cannot wrap.
            sum = sum.wrapping_add(w);
            if sum >= target {
                return Some((i, sum));
            }
        }
    }
    None
}

/// The less loaded of two weighted random picks; `random` supplies both
/// draws (low and high 32 bits).
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D, random: u64) -> Option<usize> {
    let mut total = 0u64;
    let mut last = None;
    for i in 0..dests.len() {
        if let Some(w) = available_weight_at(dests, i) {
            // At most i32::MAX per server: a u64 sum cannot wrap.
            total = total.wrapping_add(w);
            last = Some(i);
        }
    }
    let last = last?;
    let n = total.saturating_add(1);
    let r1 = below(random as u32, n);
    let r2 = below((random >> 32) as u32, n);

    // One walk: up to the lower draw, then on to the higher one.
    let (lo, hi) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
    let a = reach(dests, 0, 0, lo);
    let b = match a {
        Some((i, sum)) if sum >= hi => Some((i, sum)),
        Some((i, sum)) => reach(dests, i + 1, sum, hi),
        None => None,
    };
    // The two picks, with the counters to compare their load.
    let pick = |p: Option<(usize, u64)>| p.and_then(|(i, _)| Some((i, dests.get(i)?)));
    let (a, b) = (pick(a), pick(b));
    let (c1, c2) = if r1 <= r2 { (a, b) } else { (b, a) };
    match (c1, c2) {
        (Some((i1, d1)), Some((i2, d2))) => {
            // `weight2 * overhead1 > weight1 * overhead2`: the second is
            // strictly less loaded.
            let gt = load_gt(
                d1.conn_overhead(),
                d1.weight(),
                d2.conn_overhead(),
                d2.weight(),
            );
            Some(if gt { i2 } else { i1 })
        }
        (Some((i, _)), None) | (None, Some((i, _))) => Some(i),
        (None, None) => Some(last),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    /// Random bits drawing `a` then `b` out of `n = total + 1` values.
    fn draws(a: u64, b: u64, n: u64) -> u64 {
        // Smallest r with (r * n) >> 32 == x is ceil(x * 2^32 / n).
        let r = |x: u64| ((x << 32).div_ceil(n)) as u32;
        u64::from(r(a)) | (u64::from(r(b)) << 32)
    }

    #[test]
    fn draw_mapping_like_upstream() {
        // Weights 2, 3: total 5, draws in [0, 5]; 0..=2 -> server 0
        // (weight + 1 values), 3..=5 -> server 1.
        let dests = ws(&[2, 3]);
        for (x, want) in [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1)] {
            assert_eq!(below(draws(x, x, 6) as u32, 6), x);
            assert_eq!(schedule(&dests[..], draws(x, x, 6)), Some(want), "draw {x}");
        }
    }

    #[test]
    fn less_loaded_of_the_two() {
        let mut dests = ws(&[2, 3]);
        dests[0].active = 10;
        dests[1].active = 1;
        // Draw server 0 first and server 1 second: 1 is less loaded.
        assert_eq!(schedule(&dests[..], draws(0, 5, 6)), Some(1));
        assert_eq!(schedule(&dests[..], draws(5, 0, 6)), Some(1));
        // Equal load ratios: the first draw stays.
        dests[0].active = 2;
        dests[0].inactive = 0;
        dests[1].active = 3;
        // 514/2 == 771/3
        assert_eq!(schedule(&dests[..], draws(0, 5, 6)), Some(0));
        assert_eq!(schedule(&dests[..], draws(5, 0, 6)), Some(1));
    }

    #[test]
    fn skips_unavailable_and_favours_less_loaded() {
        let mut dests = ws(&[5, 5, 5, 0]);
        dests[1].overloaded = true;
        dests[0].active = 100;
        let mut count = [0usize; 4];
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            count[schedule(&dests[..], x).unwrap()] += 1;
        }
        assert_eq!(count[1] + count[3], 0);
        // Server 0 only wins when both draws pick it: ~ (6/11)^2 = 30%.
        assert!(count[2] > 6_000, "{count:?}");
        assert!(count[0] > 2_000 && count[0] < 4_000, "{count:?}");
        assert_eq!(schedule(&ws(&[0, 0])[..], x), None);
    }

    proptest! {
        #[test]
        fn result_is_one_of_two_weighted_draws(dests in arb_dests(), random in any::<u64>()) {
            match schedule(&dests[..], random) {
                None => prop_assert!(dests.iter().all(|d| !d.available())),
                Some(i) => prop_assert!(dests[i].available()),
            }
        }
    }
}
