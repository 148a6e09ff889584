// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_mh.c`: Maglev hashing.

use super::{
    addr_fold, gcd, hsiphash, ntohl, ntohs, Dest, HsiphashKey, NfInetAddr, Pkt, Scheduler, Svc,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2,
};

const IP_VS_SVC_F_SCHED_MH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
const IP_VS_SVC_F_SCHED_MH_PORT: u32 = IP_VS_SVC_F_SCHED2;

const PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];
/// `CONFIG_IP_VS_MH_TAB_INDEX` (default 12).
const CONFIG_IP_VS_MH_TAB_INDEX: u32 = 12;
const IP_VS_MH_TAB_BITS: i32 = (CONFIG_IP_VS_MH_TAB_INDEX / 2) as i32;
const IP_VS_MH_TAB_INDEX: usize = (CONFIG_IP_VS_MH_TAB_INDEX - 8) as usize;
const IP_VS_MH_TAB_SIZE: u32 = PRIMES[IP_VS_MH_TAB_INDEX];

/// `struct ip_vs_mh_dest_setup`.
#[allow(dead_code)] // upstream's fields, some unread
#[derive(Clone, Copy, Default)]
struct DestSetup {
    offset: u32,
    skip: u32,
    perm: u32,
    turns: i32,
}

/// `struct ip_vs_mh_state`.
pub struct Mh {
    lookup: Vec<Option<usize>>,
    hash1: HsiphashKey,
    hash2: HsiphashKey,
    gcd: i32,
    rshift: i32,
}

/// `is_unavailable`.
#[inline]
fn is_unavailable(dest: &Dest) -> bool {
    dest.weight() <= 0 || dest.overloaded()
}

/// `ip_vs_mh_hashkey`.
#[inline]
fn ip_vs_mh_hashkey(af: u16, addr: &NfInetAddr, port: u16, key: &HsiphashKey, offset: u32) -> u32 {
    let v: u32 = offset
        .wrapping_add(ntohs(port) as u32)
        .wrapping_add(ntohl(addr_fold(af, addr)));
    hsiphash(&v.to_ne_bytes(), key)
}

/// `ip_vs_mh_get_port`.
#[inline]
fn ip_vs_mh_get_port(pkt: &Pkt) -> u16 {
    match pkt.protocol {
        IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
            if !pkt.inverse() {
                pkt.ports[0]
            } else {
                pkt.ports[1]
            }
        }
        _ => 0,
    }
}

fn fls(x: i32) -> i32 {
    32 - (x as u32).leading_zeros() as i32
}

impl Mh {
    /// `ip_vs_mh_init_svc`.
    pub fn init_svc(svc: &Svc) -> Self {
        let mut s = Mh {
            lookup: vec![None; IP_VS_MH_TAB_SIZE as usize],
            // generate_hash_secret
            hash1: [2_654_435_761, 2_654_435_761],
            hash2: [2_654_446_892, 2_654_446_892],
            gcd: 0,
            rshift: 0,
        };
        s.gcd = ip_vs_mh_gcd_weight(svc);
        s.rshift = ip_vs_mh_shift_weight(svc, s.gcd);
        s.reassign(svc);
        s
    }

    /// `ip_vs_mh_reassign`: `ip_vs_mh_permutate` then `ip_vs_mh_populate`.
    fn reassign(&mut self, svc: &Svc) {
        let dests = &svc.destinations;
        assert!(dests.len() <= IP_VS_MH_TAB_SIZE as usize);
        if self.gcd < 1 {
            self.lookup.fill(None);
            return;
        }
        let mut ds: Vec<DestSetup> = dests
            .iter()
            .map(|dest| {
                let offset = ip_vs_mh_hashkey(svc.af, &dest.addr, dest.port, &self.hash1, 0)
                    % IP_VS_MH_TAB_SIZE;
                let skip = ip_vs_mh_hashkey(svc.af, &dest.addr, dest.port, &self.hash2, 0)
                    % (IP_VS_MH_TAB_SIZE - 1)
                    + 1;
                let lw = dest.last_weight.load(std::sync::atomic::Ordering::Relaxed);
                let t = (lw / self.gcd) >> self.rshift;
                DestSetup {
                    offset,
                    skip,
                    perm: offset,
                    turns: if t != 0 { t } else { (lw != 0) as i32 },
                }
            })
            .collect();
        let mut table = vec![false; IP_VS_MH_TAB_SIZE as usize];
        let mut n = 0;
        let mut dt_count = 0;
        'out: while n < IP_VS_MH_TAB_SIZE {
            let mut p = 0;
            while p < dests.len() {
                let d = &mut ds[p];
                if d.turns < 1 {
                    p += 1;
                    continue;
                }
                let mut c = d.perm;
                while table[c as usize] {
                    d.perm += d.skip;
                    if d.perm >= IP_VS_MH_TAB_SIZE {
                        d.perm -= IP_VS_MH_TAB_SIZE;
                    }
                    c = d.perm;
                }
                table[c as usize] = true;
                self.lookup[c as usize] = Some(p);
                n += 1;
                if n == IP_VS_MH_TAB_SIZE {
                    break 'out;
                }
                dt_count += 1;
                if dt_count >= d.turns {
                    dt_count = 0;
                    p += 1;
                }
            }
        }
    }

    /// `ip_vs_mh_get`.
    fn get(&self, svc: &Svc, addr: &NfInetAddr, port: u16) -> Option<usize> {
        let hash = ip_vs_mh_hashkey(svc.af, addr, port, &self.hash1, 0) % IP_VS_MH_TAB_SIZE;
        let i = self.lookup[hash as usize]?;
        if is_unavailable(&svc.destinations[i]) {
            None
        } else {
            Some(i)
        }
    }

    /// `ip_vs_mh_get_fallback`.
    fn get_fallback(&self, svc: &Svc, addr: &NfInetAddr, port: u16) -> Option<usize> {
        let ihash = ip_vs_mh_hashkey(svc.af, addr, port, &self.hash1, 0) % IP_VS_MH_TAB_SIZE;
        let i = self.lookup[ihash as usize]?;
        if !is_unavailable(&svc.destinations[i]) {
            return Some(i);
        }
        for offset in 0..IP_VS_MH_TAB_SIZE {
            let roffset = (offset + ihash) % IP_VS_MH_TAB_SIZE;
            let hash =
                ip_vs_mh_hashkey(svc.af, addr, port, &self.hash1, roffset) % IP_VS_MH_TAB_SIZE;
            let i = self.lookup[hash as usize]?;
            if !is_unavailable(&svc.destinations[i]) {
                return Some(i);
            }
        }
        None
    }
}

/// `ip_vs_mh_gcd_weight`.
fn ip_vs_mh_gcd_weight(svc: &Svc) -> i32 {
    let mut g: i32 = 0;
    for dest in &svc.destinations {
        let weight = dest.last_weight.load(std::sync::atomic::Ordering::Relaxed);
        if weight > 0 {
            if g > 0 {
                g = gcd(weight as u64, g as u64) as i32;
            } else {
                g = weight;
            }
        }
    }
    g
}

/// `ip_vs_mh_shift_weight`.
fn ip_vs_mh_shift_weight(svc: &Svc, gcd: i32) -> i32 {
    if gcd < 1 {
        return 0;
    }
    let mut weight = 0;
    for dest in &svc.destinations {
        let new_weight = dest.last_weight.load(std::sync::atomic::Ordering::Relaxed);
        if new_weight > weight {
            weight = new_weight;
        }
    }
    let mw = weight / gcd;
    let shift = fls(mw) - IP_VS_MH_TAB_BITS;
    if shift >= 0 {
        shift
    } else {
        0
    }
}

impl Scheduler for Mh {
    /// `ip_vs_mh_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        let hash_addr = if pkt.inverse() {
            &pkt.daddr
        } else {
            &pkt.saddr
        };
        let mut port = 0;
        if svc.flags & IP_VS_SVC_F_SCHED_MH_PORT != 0 {
            port = ip_vs_mh_get_port(pkt);
        }
        if svc.flags & IP_VS_SVC_F_SCHED_MH_FALLBACK != 0 {
            self.get_fallback(svc, hash_addr, port)
        } else {
            self.get(svc, hash_addr, port)
        }
    }
}
