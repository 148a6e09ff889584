// SPDX-License-Identifier: GPL-2.0
//! Weighted round robin (`ip_vs_wrr.c`).
//!
//! Upstream's algorithm, reproduced step for step: a current weight `cw`
//! starts at the maximum weight `mw` and goes down by `di`, the GCD of the
//! positive weights; at each level the list is scanned and every server
//! whose weight is at least `cw` (and that is not overloaded) gets one
//! connection. Over a full cycle each server gets `weight / gcd`
//! connections, interleaved (heavier servers first). Details kept:
//!
//! * `mw` is really `max_weight - (gcd - 1)` so that `cw` stays `≡ 1 (mod
//!   gcd)`; the maximum is over all servers, overloaded ones included;
//! * the scan resumes after the last chosen server (`mark->cl`); when a
//!   level is exhausted it restarts from the list head at the next level;
//! * after wrapping from the lowest level back to `mw`, a final pass stops
//!   at the server the call started from ("all destinations are
//!   overloaded"), and the cursor is left where the scan ended;
//! * any list change (`ip_vs_wrr_dest_changed`) resets the cursor to the
//!   head, recomputes `gcd`/`mw` and keeps `cw` if still in range
//!   (rounded to the new `gcd` grid, `(cw / di) * di + 1`), else sets it
//!   to `mw`.
//!
//! Upstream makes one list pass per level, so a call can take
//! `max_weight / gcd` passes (e.g. weights 1 and 10^6 with the heavy
//! server overloaded). Here levels that cannot match any available server
//! are skipped arithmetically, with identical results and state.

use super::{gcd, iter, Dests};

/// Upstream's `struct ip_vs_wrr_mark`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wrr {
    /// Last chosen server; `None` for the list head.
    cl: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Maximum weight minus (gcd - 1).
    mw: i64,
    /// Decreasing interval: the GCD of positive weights, or 1.
    di: i64,
}

/// GCD of the positive weights, 1 if none (`ip_vs_wrr_gcd_weight`).
fn gcd_weight<D: Dests + ?Sized>(dests: &D) -> i64 {
    let g = iter(dests)
        .map(|(_, d)| d.weight())
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
    if g == 0 {
        1
    } else {
        i64::from(g)
    }
}

/// Largest weight, 0 if none positive (`ip_vs_wrr_max_weight`).
fn max_weight<D: Dests + ?Sized>(dests: &D) -> i64 {
    iter(dests)
        .map(|(_, d)| i64::from(d.weight()))
        .max()
        .unwrap_or(0)
}

impl Wrr {
    /// Upstream's `init_service`: cursor at the head, `cw = mw`.
    pub fn new<D: Dests + ?Sized>(dests: &D) -> Self {
        let di = gcd_weight(dests);
        let mw = max_weight(dests) - (di - 1);
        Wrr {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }

    /// Upstream's `ip_vs_wrr_dest_changed` (add, delete or edit a server).
    pub fn update<D: Dests + ?Sized>(&mut self, dests: &D) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// The next server in weighted round-robin order.
    #[inline(never)]
    pub fn schedule<D: Dests + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        // Upstream's first pass: from after the last choice to the end of
        // the list, at the current level. It usually finds a server.
        // An index is below usize::MAX (a list cannot hold usize::MAX + 1
        // servers): adding 1 never wraps.
        let start = self.cl.map_or(0, |p| p.wrapping_add(1));
        // `mw` is at least 1 here, and so is `cw`: it starts at `mw`,
        // `next_levels` lowers it to no less than 1 or resets it to `mw`,
        // and `update` maps a `cw` of 1 or more to 1 or more (`(cw / di) *
        // di + 1`) or sets it to `mw` (0 only while `mw` is). So a
        // negative weight fails the comparison as the 0 it stands for,
        // without clamping (the tests check the invariant).
        let cw = self.cw;
        let found = (start..dests.len()).find(|&i| {
            dests
                .weight_overloaded(i)
                .is_some_and(|(weight, overloaded)| !overloaded && i64::from(weight) >= cw)
        });
        if let Some(i) = found {
            self.cl = Some(i);
            return Some(i);
        }
        self.next_levels(dests)
    }

    /// Upstream's loop after a first pass found nothing: lower the level,
    /// pass over the whole list again, and so on. Out of line (once per
    /// level), so that the usual path stays small.
    #[cold]
    #[inline(never)]
    fn next_levels<D: Dests + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        let n = dests.len();
        let di = self.di.max(1);
        let last = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // Whether the latest pass started at the head and found nothing:
        // only then is the level above every available weight (`top`), so
        // only then is `top` computed (once per call at most). Usual calls
        // never need it and stay O(servers scanned), as upstream.
        let mut head_pass_failed = last.is_none();
        let mut top: Option<i64> = None;
        loop {
            // The pass found nothing: next level.
            self.cw -= di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= di;
            if last_pass && restarted && last.is_some() {
                // The first pass at weight >= 1 only covered servers after
                // `last`; check those up to it too.
                stop = last;
            }
            if head_pass_failed && stop.is_none() {
                // Highest weight a full pass can match: available servers
                // only.
                let top = *top.get_or_insert_with(|| {
                    iter(dests)
                        .filter(|(_, d)| !d.overloaded)
                        .map(|(_, d)| i64::from(d.weight()))
                        .max()
                        .unwrap_or(0)
                });
                // A full pass at a level above `top` (and above `di`) finds
                // nothing and changes nothing but `cw`: jump to the first
                // level at or below max(top, di) directly.
                let floor = top.max(di);
                if self.cw > floor {
                    let steps = (self.cw - floor + di - 1) / di;
                    self.cw -= steps * di;
                    last_pass = self.cw <= di;
                    if last_pass && restarted && last.is_some() {
                        stop = last;
                    }
                }
            }
            // A pass from the head of the list.
            for i in 0..n {
                if let Some((weight, overloaded)) = dests.weight_overloaded(i) {
                    if !overloaded && i64::from(weight.max(0)) >= self.cw {
                        self.cl = Some(i);
                        return Some(i);
                    }
                }
                if stop == Some(i) {
                    // All servers checked at weight >= 1: all overloaded.
                    self.cl = Some(i);
                    return None;
                }
            }
            head_pass_failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::DestView;
    use super::*;
    use proptest::prelude::*;

    /// A literal transcription of upstream's loop (no level skipping), to
    /// check the optimised one against.
    fn reference(m: &mut Wrr, dests: &[DestView]) -> Option<usize> {
        if m.mw == 0 {
            return None;
        }
        let last = m.cl;
        let mut pos = m.cl;
        let (mut stop, mut last_pass, mut restarted) = (None, false, false);
        loop {
            let start = pos.map_or(0, |p| p + 1);
            for (i, d) in dests.iter().enumerate().skip(start) {
                if !d.overloaded && i64::from(d.weight()) >= m.cw {
                    m.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    m.cl = Some(i);
                    return None;
                }
            }
            pos = None;
            m.cw -= m.di;
            if m.cw <= 0 {
                m.cw = m.mw;
                if last_pass || last.is_none() {
                    m.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = m.cw <= m.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }

    #[test]
    fn classic_sequence() {
        // The example from the LVS documentation: weights 4, 3, 2.
        let dests = ws(&[4, 3, 2]);
        let mut w = Wrr::new(&dests[..]);
        let seq: Vec<usize> = (0..9).map(|_| w.schedule(&dests[..]).unwrap()).collect();
        assert_eq!(seq, [0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn proportions_exact_over_a_cycle() {
        let weights = [5, 0, 10, 15, 3];
        let dests = ws(&weights);
        let mut w = Wrr::new(&dests[..]);
        // gcd 1, cycle length = sum of weights.
        let total: i32 = weights.iter().sum();
        for _ in 0..3 {
            let mut count = [0i32; 5];
            for _ in 0..total {
                count[w.schedule(&dests[..]).unwrap()] += 1;
            }
            assert_eq!(count, weights);
        }
        // With a common divisor the cycle is sum / gcd long.
        let dests = ws(&[20, 40, 60]);
        let mut w = Wrr::new(&dests[..]);
        let mut count = [0; 3];
        for _ in 0..6 {
            count[w.schedule(&dests[..]).unwrap()] += 1;
        }
        assert_eq!(count, [1, 2, 3]);
    }

    #[test]
    fn overloaded_and_empty() {
        let mut dests = ws(&[2, 1]);
        dests[0].overloaded = true;
        let mut w = Wrr::new(&dests[..]);
        for _ in 0..5 {
            assert_eq!(w.schedule(&dests[..]), Some(1));
        }
        dests[1].overloaded = true;
        assert_eq!(w.schedule(&dests[..]), None);
        let none = ws(&[0, 0]);
        let mut w = Wrr::new(&none[..]);
        assert_eq!(w.schedule(&none[..]), None);
        let mut w = Wrr::new(&ws(&[])[..]);
        assert_eq!(w.schedule(&ws(&[])[..]), None);
    }

    #[test]
    fn huge_weight_gap_is_fast() {
        // Upstream would make ~2^31 list passes here per call.
        let mut dests = ws(&[1, i32::MAX]);
        dests[1].overloaded = true;
        let mut w = Wrr::new(&dests[..]);
        for _ in 0..1000 {
            assert_eq!(w.schedule(&dests[..]), Some(0));
        }
    }

    #[test]
    fn update_rounds_cw_like_upstream() {
        let dests = ws(&[4, 3, 2]);
        let mut w = Wrr::new(&dests[..]);
        w.schedule(&dests[..]);
        w.schedule(&dests[..]);
        assert_eq!((w.cw, w.mw, w.di), (3, 4, 1));
        // New weights 8, 6, 4: gcd 2, mw = 8 - 1 = 7, cw = 3/2*2+1 = 3.
        let d2 = ws(&[8, 6, 4]);
        w.update(&d2[..]);
        assert_eq!((w.cl, w.cw, w.mw, w.di), (None, 3, 7, 2));
        // Weights 1: cw 3 > mw 1: cw = mw.
        let d3 = ws(&[1]);
        w.update(&d3[..]);
        assert_eq!((w.cw, w.mw, w.di), (1, 1, 1));
    }

    proptest! {
        /// Same choices and same state as the literal transcription, under
        /// overloads, list changes and negative weights (read as 0); and
        /// `cw` never below 1 while `mw` is positive (what `schedule`'s
        /// first pass relies on to compare raw weights).
        #[test]
        fn matches_upstream_transcription(
            steps in proptest::collection::vec(
                (proptest::collection::vec((-2i32..7, proptest::bool::weighted(0.3)), 0..6),
                 any::<bool>(), 1usize..12),
                1..6),
        ) {
            let mut fast: Option<Wrr> = None;
            let mut slow: Option<Wrr> = None;
            for (spec, update, calls) in steps {
                let mut dests = ws(&spec.iter().map(|s| s.0).collect::<Vec<_>>());
                for (d, s) in dests.iter_mut().zip(&spec) {
                    d.overloaded = s.1;
                }
                match (&mut fast, &mut slow, update) {
                    (Some(f), Some(s), true) => {
                        f.update(&dests[..]);
                        s.update(&dests[..]);
                    }
                    (Some(_), Some(_), false) => {}
                    _ => {
                        fast = Some(Wrr::new(&dests[..]));
                        slow = fast;
                    }
                }
                let (f, s) = (fast.as_mut().unwrap(), slow.as_mut().unwrap());
                prop_assert!(f.mw <= 0 || f.cw >= 1, "{:?}", f);
                for _ in 0..calls {
                    prop_assert_eq!(f.schedule(&dests[..]), reference(s, &dests));
                    prop_assert_eq!(*f, *s);
                    prop_assert!(f.mw <= 0 || f.cw >= 1, "{:?}", f);
                }
            }
        }

        /// Exact weight proportions over a cycle of sum(weight) / gcd
        /// calls, from any starting point.
        #[test]
        fn exact_proportions(weights in proptest::collection::vec(0i32..20, 1..8), skip in 0usize..30) {
            let dests = ws(&weights);
            let mut w = Wrr::new(&dests[..]);
            let g = weights.iter().filter(|&&x| x > 0).fold(0u32, |g, &x| gcd(x as u32, g));
            if g == 0 {
                prop_assert_eq!(w.schedule(&dests[..]), None);
                return Ok(());
            }
            for _ in 0..skip {
                w.schedule(&dests[..]);
            }
            let cycle: i32 = weights.iter().map(|&x| x / g as i32).sum();
            let mut count = vec![0i32; weights.len()];
            for _ in 0..cycle {
                count[w.schedule(&dests[..]).unwrap()] += 1;
            }
            let want: Vec<i32> = weights.iter().map(|&x| x / g as i32).collect();
            prop_assert_eq!(count, want);
        }
    }
}
