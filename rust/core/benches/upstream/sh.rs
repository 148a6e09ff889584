// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_sh.c`: source hashing.

use super::{
    addr_fold, hash_32, ntohl, ntohs, Dest, NfInetAddr, Pkt, Scheduler, Svc, IPPROTO_SCTP,
    IPPROTO_TCP, IPPROTO_UDP, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2,
};

const IP_VS_SVC_F_SCHED_SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
const IP_VS_SVC_F_SCHED_SH_PORT: u32 = IP_VS_SVC_F_SCHED2;

/// `CONFIG_IP_VS_SH_TAB_BITS` (default 8).
const IP_VS_SH_TAB_BITS: u32 = 8;
const IP_VS_SH_TAB_SIZE: usize = 1 << IP_VS_SH_TAB_BITS;
const IP_VS_SH_TAB_MASK: u32 = IP_VS_SH_TAB_SIZE as u32 - 1;

/// `struct ip_vs_sh_state`.
pub struct Sh {
    buckets: [Option<usize>; IP_VS_SH_TAB_SIZE],
}

/// `is_unavailable`.
#[inline]
fn is_unavailable(dest: &Dest) -> bool {
    dest.weight() <= 0 || dest.overloaded()
}

/// `ip_vs_sh_hashkey`.
#[inline]
fn ip_vs_sh_hashkey(af: u16, addr: &NfInetAddr, port: u16, offset: u32) -> usize {
    let addr_fold = addr_fold(af, addr);
    (offset.wrapping_add(hash_32(
        (ntohs(port) as u32).wrapping_add(ntohl(addr_fold)),
        IP_VS_SH_TAB_BITS,
    )) & IP_VS_SH_TAB_MASK) as usize
}

/// `ip_vs_sh_get_port`.
#[inline]
fn ip_vs_sh_get_port(pkt: &Pkt) -> u16 {
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

impl Sh {
    /// `ip_vs_sh_init_svc` + `ip_vs_sh_reassign`.
    pub fn init_svc(svc: &Svc) -> Self {
        let mut s = Sh {
            buckets: [None; IP_VS_SH_TAB_SIZE],
        };
        let dests = &svc.destinations;
        let mut p: Option<usize> = None;
        let mut d_count = 0;
        for b in s.buckets.iter_mut() {
            if dests.is_empty() {
                *b = None;
            } else {
                let i = p.unwrap_or(0);
                *b = Some(i);
                p = Some(i);
                d_count += 1;
                if d_count >= dests[i].weight() {
                    p = if i + 1 == dests.len() {
                        None
                    } else {
                        Some(i + 1)
                    };
                    d_count = 0;
                }
            }
        }
        s
    }

    /// `ip_vs_sh_get`.
    fn get(&self, svc: &Svc, addr: &NfInetAddr, port: u16) -> Option<usize> {
        let hash = ip_vs_sh_hashkey(svc.af, addr, port, 0);
        let i = self.buckets[hash]?;
        if is_unavailable(&svc.destinations[i]) {
            None
        } else {
            Some(i)
        }
    }

    /// `ip_vs_sh_get_fallback`.
    fn get_fallback(&self, svc: &Svc, addr: &NfInetAddr, port: u16) -> Option<usize> {
        let ihash = ip_vs_sh_hashkey(svc.af, addr, port, 0);
        let i = self.buckets[ihash]?;
        if !is_unavailable(&svc.destinations[i]) {
            return Some(i);
        }
        for offset in 0..IP_VS_SH_TAB_SIZE as u32 {
            let roffset = (offset + ihash as u32) % IP_VS_SH_TAB_SIZE as u32;
            let hash = ip_vs_sh_hashkey(svc.af, addr, port, roffset);
            let i = self.buckets[hash]?;
            if !is_unavailable(&svc.destinations[i]) {
                return Some(i);
            }
        }
        None
    }
}

impl Scheduler for Sh {
    /// `ip_vs_sh_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        let hash_addr = if pkt.inverse() {
            &pkt.daddr
        } else {
            &pkt.saddr
        };
        let mut port = 0;
        if svc.flags & IP_VS_SVC_F_SCHED_SH_PORT != 0 {
            port = ip_vs_sh_get_port(pkt);
        }
        if svc.flags & IP_VS_SVC_F_SCHED_SH_FALLBACK != 0 {
            self.get_fallback(svc, hash_addr, port)
        } else {
            self.get(svc, hash_addr, port)
        }
    }
}
