// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_wrr.c`: weighted round robin.

use super::{gcd, Pkt, Scheduler, Svc};

/// `struct ip_vs_wrr_mark`.
pub struct Wrr {
    /// Current list head (`None`: the list head itself).
    cl: Option<usize>,
    /// Current weight.
    cw: i32,
    /// Maximum weight.
    mw: i32,
    /// Decreasing interval.
    di: i32,
}

/// `ip_vs_wrr_gcd_weight`.
fn ip_vs_wrr_gcd_weight(svc: &Svc) -> i32 {
    let mut g: i32 = 0;
    for dest in &svc.destinations {
        let weight = dest.weight();
        if weight > 0 {
            if g > 0 {
                g = gcd(weight as u64, g as u64) as i32;
            } else {
                g = weight;
            }
        }
    }
    if g != 0 {
        g
    } else {
        1
    }
}

/// `ip_vs_wrr_max_weight`.
fn ip_vs_wrr_max_weight(svc: &Svc) -> i32 {
    let mut weight = 0;
    for dest in &svc.destinations {
        let new_weight = dest.weight();
        if new_weight > weight {
            weight = new_weight;
        }
    }
    weight
}

impl Wrr {
    /// `ip_vs_wrr_init_svc`.
    pub fn init_svc(svc: &Svc) -> Self {
        let di = ip_vs_wrr_gcd_weight(svc);
        let mw = ip_vs_wrr_max_weight(svc) - (di - 1);
        Wrr {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }
}

impl Scheduler for Wrr {
    /// `ip_vs_wrr_schedule`.
    fn schedule(&mut self, svc: &Svc, _pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let mark = self;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;

        let mut dest = mark.cl;
        if mark.mw == 0 {
            // err_noavail:
            mark.cl = dest;
            return None;
        }
        let last = dest;
        loop {
            // list_for_each_entry_continue_rcu(dest, &svc->destinations, n_list)
            let mut i = dest.map_or(0, |d| d + 1);
            while i < dests.len() {
                let d = &dests[i];
                if !d.overloaded() && d.weight() >= mark.cw {
                    // found:
                    mark.cl = Some(i);
                    return Some(i);
                }
                if Some(i) == stop {
                    // err_over:
                    mark.cl = Some(i);
                    return None;
                }
                i += 1;
            }
            dest = None;
            mark.cw -= mark.di;
            if mark.cw <= 0 {
                mark.cw = mark.mw;
                if last_pass || last.is_none() {
                    // err_over: dest is the list head.
                    mark.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = mark.cw <= mark.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}
