// SPDX-License-Identifier: GPL-2.0
//! Never queue (`ip_vs_nq.c`): the first available server without active
//! connections if there is one, else the one with the lowest `(active + 1)
//! / weight` (ties: first in list order). Quiesced and overloaded servers
//! are skipped.

use super::{cold_path, delay_gt, Dests};

/// An idle server, else the one with the shortest expected delay.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    let n = dests.len();
    // The first available server is the first candidate.
    let mut first = 0;
    let (mut least, mut loh, mut lw) = loop {
        if first >= n {
            return None;
        }
        if let Some(d) = dests.get(first) {
            if d.available() {
                if d.active == 0 {
                    return Some(first);
                }
                break (first, u64::from(d.active) + 1, d.weight());
            }
        }
        first += 1;
    };
    for i in first + 1..n {
        let Some(d) = dests.get(i) else { continue };
        if !d.available() {
            continue;
        }
        if d.active == 0 {
            return Some(i);
        }
        let doh = u64::from(d.active) + 1;
        if delay_gt(loh, lw, doh, d.weight()) {
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
    fn idle_first_then_expected_delay() {
        let mut dests = ws(&[10, 1, 1]);
        dests[0].active = 1;
        // Server 1 idle: chosen although server 0 has a far better ratio.
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[1].active = 1;
        dests[2].active = 1;
        // 2/10 < 2/1.
        assert_eq!(schedule(&dests[..]), Some(0));
        dests[0].active = 19; // 20/10 == 2/1: tie, first wins
        assert_eq!(schedule(&dests[..]), Some(0));
        dests[0].active = 20; // 21/10 > 2/1
        assert_eq!(schedule(&dests[..]), Some(1));
        // Idle but quiesced or overloaded: skipped.
        dests[0].active = 0;
        dests[0].weight = 0;
        dests[1].active = 0;
        dests[1].overloaded = true;
        assert_eq!(schedule(&dests[..]), Some(2));
        assert_eq!(schedule(&ws(&[0])[..]), None);
    }

    proptest! {
        #[test]
        fn idle_or_minimal(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let avail: Vec<usize> = (0..dests.len()).filter(|&i| dests[i].available()).collect();
            match got {
                None => prop_assert!(avail.is_empty()),
                Some(i) => {
                    prop_assert!(dests[i].available());
                    if let Some(&idle) = avail.iter().find(|&&j| dests[j].active == 0) {
                        prop_assert_eq!(i, idle);
                    } else {
                        let (oi, wi) = (dests[i].active as u128 + 1, dests[i].weight() as u128);
                        for &j in &avail {
                            let (oj, wj) = (dests[j].active as u128 + 1, dests[j].weight() as u128);
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
}
