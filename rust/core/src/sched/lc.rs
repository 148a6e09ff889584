// SPDX-License-Identifier: GPL-2.0
//! Least connection (`ip_vs_lc.c`): the available server with the lowest
//! connection overhead ([`DestView::conn_overhead`], `257 * active +
//! inactive` in 6.12), the first one in list order on ties. Quiesced
//! (weight 0) and overloaded servers are skipped; weights otherwise do not
//! matter.

use super::{cold_path, Dests};

/// The least loaded available server.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    let mut least = None;
    // Above any overhead (< 2^41): the first available server always wins.
    let mut loh = u64::MAX;
    for i in 0..dests.len() {
        let Some(d) = dests.get(i) else { continue };
        if d.available() {
            let doh = d.conn_overhead();
            if doh < loh {
                cold_path();
                least = Some(i);
                loh = doh;
            }
        }
    }
    least
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn picks_least_overhead_first_on_ties() {
        let mut dests = ws(&[1, 1, 100, 1]);
        // overheads: 257*1+0 = 257, 256+... see below
        dests[0].active = 1; // 257
        dests[1].inactive = 256; // 256
        dests[2].inactive = 300; // 300, weight ignored
        dests[3].inactive = 256; // 256, tie with 1: first wins
        assert_eq!(schedule(&dests[..]), Some(1));
        // One active connection costs 257 inactive ones in 6.12 (not 256).
        dests[1].inactive = 257;
        assert_eq!(schedule(&dests[..]), Some(3));
        dests[3].inactive = 258;
        assert_eq!(schedule(&dests[..]), Some(0));
    }

    #[test]
    fn skips_quiesced_and_overloaded() {
        let mut dests = ws(&[0, 1, 1]);
        dests[1].overloaded = true;
        dests[2].active = 1000;
        assert_eq!(schedule(&dests[..]), Some(2));
        dests[2].weight = 0;
        assert_eq!(schedule(&dests[..]), None);
        assert_eq!(schedule(&ws(&[])[..]), None);
    }

    proptest! {
        #[test]
        fn minimum_of_available(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let best = dests.iter().enumerate().filter(|(_, d)| d.available())
                .min_by_key(|(i, d)| (d.conn_overhead(), *i)).map(|(i, _)| i);
            prop_assert_eq!(got, best);
        }
    }
}
