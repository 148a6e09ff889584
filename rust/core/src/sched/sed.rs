// SPDX-License-Identifier: GPL-2.0
//! Shortest expected delay (`ip_vs_sed.c`): the server with the lowest
//! `(active + 1) / weight`; inactive connections do not count. Same
//! two-stage search and tie-breaking as [`super::wlc`] (first available
//! server, then strictly better ones; overloaded servers skipped).

use super::wlc::least_load;
use super::{delay_gt, DestView, Dests};

/// `ip_vs_sed_dest_overhead`: active connections plus one.
#[inline]
fn overhead(d: &DestView) -> u64 {
    u64::from(d.active) + 1
}

/// The server with the shortest expected delay.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    least_load(dests, overhead, delay_gt)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expected_delay() {
        // All idle: (0+1)/w is lowest for the heaviest server.
        let mut dests = ws(&[1, 3, 2]);
        assert_eq!(schedule(&dests[..]), Some(1));
        // 3 active on weight 3: 4/3 > 1/1: server 0.
        dests[1].active = 3;
        assert_eq!(schedule(&dests[..]), Some(2)); // 1/2 lowest
        dests[2].active = 1; // 2/2 = 1/1: tie, first (server 0) wins
        assert_eq!(schedule(&dests[..]), Some(0));
        // Inactive connections are ignored.
        dests[0].inactive = 1_000_000;
        assert_eq!(schedule(&dests[..]), Some(0));
        dests[0].overloaded = true;
        assert_eq!(schedule(&dests[..]), Some(2));
    }

    proptest! {
        #[test]
        fn minimal_expected_delay(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let avail: Vec<usize> = (0..dests.len()).filter(|&i| dests[i].available()).collect();
            match got {
                None => prop_assert!(avail.is_empty()),
                Some(i) => {
                    let oi = dests[i].active as u128 + 1;
                    let wi = dests[i].weight() as u128;
                    for &j in &avail {
                        let oj = dests[j].active as u128 + 1;
                        let wj = dests[j].weight() as u128;
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
