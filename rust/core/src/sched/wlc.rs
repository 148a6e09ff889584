// SPDX-License-Identifier: GPL-2.0
//! Weighted least connection (`ip_vs_wlc.c`), upstream's default
//! scheduler: the server with the lowest `overhead / weight`, where the
//! overhead is [`DestView::conn_overhead`].
//!
//! As upstream: the first available server (weight above 0, not
//! overloaded) is the initial candidate; every later non-overloaded server
//! replaces it if `candidate_overhead * weight > overhead *
//! candidate_weight` (strictly: ties keep the earlier server; a weight-0
//! server can never win that comparison). The products are computed
//! exactly (upstream: `s64`).

use super::{cold_path, load_gt, DestView, Dests};

/// The available server with the least `overhead / weight`.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    least_load(dests, DestView::conn_overhead, load_gt)
}

/// Upstream's two-stage weighted-least search with load `overhead(d) /
/// weight` (shared by `wlc`, `sed`, `lblc` and `lblcr`); `gt` is
/// [`load_gt`] or, for overheads known to be small, [`super::delay_gt`].
pub(crate) fn least_load<D: Dests + ?Sized>(
    dests: &D,
    overhead: impl Fn(&DestView) -> u64,
    gt: impl Fn(u64, u32, u64, u32) -> bool,
) -> Option<usize> {
    let n = dests.len();
    // The first available server is the first candidate.
    let mut first = 0;
    let (mut least, mut loh, mut lw) = loop {
        if first >= n {
            return None;
        }
        if let Some(d) = dests.get(first) {
            if d.available() {
                break (first, overhead(&d), d.weight());
            }
        }
        first += 1;
    };
    for i in first + 1..n {
        let Some(d) = dests.get(i) else { continue };
        if d.overloaded {
            continue;
        }
        let doh = overhead(&d);
        if gt(loh, lw, doh, d.weight()) {
            cold_path();
            (least, loh, lw) = (i, doh, d.weight());
        }
    }
    Some(least)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weighted_by_cross_multiplication() {
        let mut dests = ws(&[1, 3, 2]);
        dests[0].active = 1; // 257 / 1
        dests[1].active = 2; // 514 / 3 = 171.3
        dests[2].active = 1;
        dests[2].inactive = 86; // 343 / 2 = 171.5
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[2].inactive = 85; // 342 / 2 = 171: now lowest
        assert_eq!(schedule(&dests[..]), Some(2));
        // Exact tie (342/2 == 513/3): the earlier server stays.
        dests[1].inactive = 0;
        dests[1].active = 1;
        dests[1].inactive = 256; // 513 / 3 = 171
        assert_eq!(schedule(&dests[..]), Some(1));
    }

    #[test]
    fn idle_servers_tie_to_first_available() {
        let mut dests = ws(&[0, 1, 5, 1]);
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[1].overloaded = true;
        assert_eq!(schedule(&dests[..]), Some(2));
        // A quiesced idle server after the candidate never wins.
        let dests = ws(&[1, 0]);
        assert_eq!(schedule(&dests[..]), Some(0));
        assert_eq!(schedule(&ws(&[0, 0])[..]), None);
    }

    #[test]
    fn no_overflow_on_huge_values() {
        let mut dests = ws(&[i32::MAX, i32::MAX, 1]);
        for d in &mut dests {
            d.active = u32::MAX;
            d.inactive = u32::MAX;
        }
        dests[1].inactive = u32::MAX - 1;
        assert_eq!(schedule(&dests[..]), Some(1));
    }

    proptest! {
        /// The choice has the minimal load among available servers (in
        /// exact rational arithmetic), and is the first such one.
        #[test]
        fn minimal_load(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let avail: Vec<usize> = (0..dests.len()).filter(|&i| dests[i].available()).collect();
            match got {
                None => prop_assert!(avail.is_empty()),
                Some(i) => {
                    prop_assert!(dests[i].available());
                    let (oi, wi) = (dests[i].conn_overhead() as u128, dests[i].weight() as u128);
                    for &j in &avail {
                        let (oj, wj) = (dests[j].conn_overhead() as u128, dests[j].weight() as u128);
                        prop_assert!(oi * wj <= oj * wi);
                        if j < i {
                            prop_assert!(oi * wj < oj * wi);
                        }
                    }
                }
            }
        }
    }
}
