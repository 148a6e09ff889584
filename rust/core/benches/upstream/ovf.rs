// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_ovf.c`: weighted overflow.

use super::{Pkt, Scheduler, Svc};

pub struct Ovf;

impl Scheduler for Ovf {
    /// `ip_vs_ovf_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let mut h: Option<usize> = None;
        let mut hw = 0;
        for (i, dest) in svc.destinations.iter().enumerate() {
            let w = dest.weight();
            if dest.overloaded() || dest.activeconns() > w || w == 0 {
                continue;
            }
            if h.is_none() || w > hw {
                h = Some(i);
                hw = w;
            }
        }
        h
    }
}
