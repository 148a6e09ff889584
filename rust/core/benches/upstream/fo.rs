// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_fo.c`: weighted fail over.

use super::{Pkt, Scheduler, Svc};

pub struct Fo;

impl Scheduler for Fo {
    /// `ip_vs_fo_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let mut hweight: Option<usize> = None;
        let mut hw = 0;
        for (i, dest) in svc.destinations.iter().enumerate() {
            if !dest.overloaded() && dest.weight() > hw {
                hweight = Some(i);
                hw = dest.weight();
            }
        }
        hweight
    }
}
