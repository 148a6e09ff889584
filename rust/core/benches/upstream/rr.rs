// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_rr.c`: round robin.

use super::{Pkt, Scheduler, Svc};

/// `svc->sched_data`: the `list_head` of the last chosen dest, or the list
/// head itself (`None`).
pub struct Rr {
    sched_data: Option<usize>,
}

impl Rr {
    /// `ip_vs_rr_init_svc`: `svc->sched_data = &svc->destinations`.
    pub fn init_svc(_svc: &Svc) -> Self {
        Rr { sched_data: None }
    }
}

impl Scheduler for Rr {
    /// `ip_vs_rr_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let p = self.sched_data;
        // last = dest = list_entry(p, struct ip_vs_dest, n_list);
        let last = p;
        let mut dest = p;
        let mut pass = 0;
        loop {
            // list_for_each_entry_continue_rcu(dest, &svc->destinations, n_list)
            let mut i = dest.map_or(0, |d| d + 1);
            while i < dests.len() {
                let d = &dests[i];
                if !d.overloaded() && d.weight() > 0 {
                    // out:
                    self.sched_data = Some(i);
                    return Some(i);
                }
                if Some(i) == last {
                    // stop:
                    return None;
                }
                i += 1;
            }
            // The loop left `dest` at the list head.
            dest = None;
            pass += 1;
            if !(pass < 2 && p.is_some()) {
                return None;
            }
        }
    }
}
