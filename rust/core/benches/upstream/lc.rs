// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_lc.c`: least connection.

use super::{ip_vs_dest_conn_overhead, Pkt, Scheduler, Svc};

pub struct Lc;

impl Scheduler for Lc {
    /// `ip_vs_lc_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let mut least: Option<usize> = None;
        let mut loh: u32 = 0;
        for (i, dest) in svc.destinations.iter().enumerate() {
            if dest.overloaded() || dest.weight() == 0 {
                continue;
            }
            let doh = ip_vs_dest_conn_overhead(dest) as u32;
            if least.is_none() || doh < loh {
                least = Some(i);
                loh = doh;
            }
        }
        least
    }
}
