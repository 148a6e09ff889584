// SPDX-License-Identifier: GPL-2.0
//! Weighted overflow (`ip_vs_ovf.c`): the server with the highest weight
//! among those whose active connections do not exceed their weight (the
//! first one on ties), so traffic overflows to the next server once
//! `active > weight`. Note upstream's test is `activeconns > weight` to
//! skip: a server with exactly `weight` active connections still takes
//! one more. Quiesced and overloaded servers are skipped.

use super::{cold_path, Dests};

/// The heaviest server not over its weight in active connections.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    let mut best = None;
    // Eligible servers have a weight of at least 1: the first one always
    // beats 0.
    let mut hw = 0u32;
    for i in 0..dests.len() {
        let Some(d) = dests.get(i) else { continue };
        let w = d.weight();
        if w > hw && !d.overloaded && d.active <= w {
            cold_path();
            best = Some(i);
            hw = w;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overflows_to_next_heaviest() {
        let mut dests = ws(&[2, 5, 5]);
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[1].active = 5; // == weight: still eligible
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[1].active = 6; // over: next heaviest
        assert_eq!(schedule(&dests[..]), Some(2));
        dests[2].active = 6;
        assert_eq!(schedule(&dests[..]), Some(0));
        dests[0].active = 3;
        assert_eq!(schedule(&dests[..]), None);
        dests[0].active = 0;
        dests[0].overloaded = true;
        assert_eq!(schedule(&dests[..]), None);
    }

    proptest! {
        #[test]
        fn first_maximum_not_full(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let want = dests.iter().enumerate()
                .filter(|(_, d)| d.available() && d.active <= d.weight())
                .max_by_key(|(i, d)| (d.weight(), std::cmp::Reverse(*i))).map(|(i, _)| i);
            prop_assert_eq!(got, want);
        }
    }
}
