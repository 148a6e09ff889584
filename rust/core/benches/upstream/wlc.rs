// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_wlc.c`: weighted least connection.

use super::{ip_vs_dest_conn_overhead, Pkt, Scheduler, Svc};

pub struct Wlc;

impl Scheduler for Wlc {
    /// `ip_vs_wlc_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let mut it = dests.iter().enumerate();
        let (mut least, mut loh) = loop {
            let (i, dest) = it.next()?;
            if !dest.overloaded() && dest.weight() > 0 {
                break (i, ip_vs_dest_conn_overhead(dest));
            }
        };
        // nextstage: list_for_each_entry_continue_rcu
        for (i, dest) in it {
            if dest.overloaded() {
                continue;
            }
            let doh = ip_vs_dest_conn_overhead(dest);
            if loh as i64 * dest.weight() as i64 > doh as i64 * dests[least].weight() as i64 {
                least = i;
                loh = doh;
            }
        }
        Some(least)
    }
}
