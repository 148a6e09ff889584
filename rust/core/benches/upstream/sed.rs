// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_sed.c`: shortest expected delay.

use super::{Dest, Pkt, Scheduler, Svc};

pub struct Sed;

/// `ip_vs_sed_dest_overhead`.
#[inline]
fn ip_vs_sed_dest_overhead(dest: &Dest) -> i32 {
    dest.activeconns() + 1
}

impl Scheduler for Sed {
    /// `ip_vs_sed_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let mut it = dests.iter().enumerate();
        let (mut least, mut loh) = loop {
            let (i, dest) = it.next()?;
            if !dest.overloaded() && dest.weight() > 0 {
                break (i, ip_vs_sed_dest_overhead(dest));
            }
        };
        for (i, dest) in it {
            if dest.overloaded() {
                continue;
            }
            let doh = ip_vs_sed_dest_overhead(dest);
            if loh as i64 * dest.weight() as i64 > doh as i64 * dests[least].weight() as i64 {
                least = i;
                loh = doh;
            }
        }
        Some(least)
    }
}
