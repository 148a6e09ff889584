// SPDX-License-Identifier: GPL-2.0
//! Weighted fail over (`ip_vs_fo.c`): always the non-overloaded server
//! with the highest weight (the first one on ties); connection counts do
//! not matter. Weight-0 servers are never chosen.

use super::{cold_path, Dests};

/// The available server with the highest weight.
#[inline(never)]
pub fn schedule<D: Dests + ?Sized>(dests: &D) -> Option<usize> {
    let mut best: Option<usize> = None;
    // Weights compared as i32: a negative weight is never above 0.
    let mut hw = 0i32;
    for i in 0..dests.len() {
        let Some((weight, overloaded)) = dests.weight_overloaded(i) else {
            continue;
        };
        if weight > hw && !overloaded {
            cold_path();
            best = Some(i);
            hw = weight;
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
    fn highest_weight_wins() {
        let mut dests = ws(&[5, 10, 10, 1]);
        dests[1].active = 1_000_000;
        assert_eq!(schedule(&dests[..]), Some(1));
        dests[1].overloaded = true;
        assert_eq!(schedule(&dests[..]), Some(2));
        dests[2].weight = 0;
        assert_eq!(schedule(&dests[..]), Some(0));
        assert_eq!(schedule(&ws(&[0, -3])[..]), None);
    }

    proptest! {
        #[test]
        fn first_maximum(dests in arb_dests()) {
            let got = schedule(&dests[..]);
            let want = dests.iter().enumerate().filter(|(_, d)| d.available())
                .max_by_key(|(i, d)| (d.weight(), std::cmp::Reverse(*i))).map(|(i, _)| i);
            prop_assert_eq!(got, want);
        }
    }
}
