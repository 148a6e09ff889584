// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_twos.c`: power of two choices.

use super::{ip_vs_dest_conn_overhead, Pkt, Scheduler, Svc};

pub struct Twos;

/// `get_random_u32()`: the packet's random bits, 32 at a time; past the
/// two draws the scheduler normally needs (rejection sampling), more from
/// a xorshift of them.
struct Random(u64, u32);

impl Random {
    fn get_random_u32(&mut self) -> u32 {
        let n = self.1;
        self.1 += 1;
        match n {
            0 => self.0 as u32,
            1 => (self.0 >> 32) as u32,
            _ => {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u32
            }
        }
    }

    /// `__get_random_u32_below()` (`ceil` is not a compile-time constant).
    fn get_random_u32_below(&mut self, ceil: u32) -> u32 {
        let rand = self.get_random_u32();
        if ceil == 0 {
            return rand;
        }
        let mut mult = ceil as u64 * rand as u64;
        if (mult as u32) < ceil {
            let bound = ceil.wrapping_neg() % ceil;
            while (mult as u32) < bound {
                mult = ceil as u64 * self.get_random_u32() as u64;
            }
        }
        (mult >> 32) as u32
    }
}

impl Scheduler for Twos {
    /// `ip_vs_twos_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        let dests = &svc.destinations;
        let mut choice1: Option<usize> = None;
        let mut choice2: Option<usize> = None;
        let (mut weight1, mut weight2, mut overhead1, mut overhead2) = (-1i32, -1i32, 0i32, 0i32);
        let mut total_weight: i32 = 0;

        // Generate a random weight between [0,sum of all weights)
        for (i, dest) in dests.iter().enumerate() {
            if !dest.overloaded() {
                let weight = dest.weight();
                if weight > 0 {
                    total_weight += weight;
                    choice1 = Some(i);
                }
            }
        }
        choice1?;

        total_weight += 1;
        let mut rnd = Random(pkt.random, 0);
        let mut rweight1 = rnd.get_random_u32_below(total_weight as u32) as i32;
        let mut rweight2 = rnd.get_random_u32_below(total_weight as u32) as i32;

        // Pick two weighted servers
        for (i, dest) in dests.iter().enumerate() {
            if dest.overloaded() {
                continue;
            }
            let weight = dest.weight();
            if weight <= 0 {
                continue;
            }
            rweight1 -= weight;
            rweight2 -= weight;
            if rweight1 <= 0 && weight1 == -1 {
                choice1 = Some(i);
                weight1 = weight;
                overhead1 = ip_vs_dest_conn_overhead(dest);
            }
            if rweight2 <= 0 && weight2 == -1 {
                choice2 = Some(i);
                weight2 = weight;
                overhead2 = ip_vs_dest_conn_overhead(dest);
            }
            if weight1 != -1 && weight2 != -1 {
                break;
            }
        }
        // nextstage:
        if choice2.is_some() && weight2 * overhead1 > weight1 * overhead2 {
            choice1 = choice2;
        }
        choice1
    }
}
