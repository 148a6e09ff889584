// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_nq.c`: never queue.

use super::{Dest, Pkt, Scheduler, Svc};

pub struct Nq;

/// `ip_vs_nq_dest_overhead`.
#[inline]
fn ip_vs_nq_dest_overhead(dest: &Dest) -> i32 {
    dest.activeconns() + 1
}

impl Scheduler for Nq {
    /// `ip_vs_nq_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let mut least: Option<usize> = None;
        let mut loh: i32 = 0;
        for (i, dest) in dests.iter().enumerate() {
            if dest.overloaded() || dest.weight() == 0 {
                continue;
            }
            let doh = ip_vs_nq_dest_overhead(dest);
            // return the server directly if it is idle
            if dest.activeconns() == 0 {
                return Some(i);
            }
            let better = match least {
                None => true,
                Some(l) => {
                    loh as i64 * dest.weight() as i64 > doh as i64 * dests[l].weight() as i64
                }
            };
            if better {
                least = Some(i);
                loh = doh;
            }
        }
        least
    }
}
