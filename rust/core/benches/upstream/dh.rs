// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_dh.c`: destination hashing.

use super::{addr_fold, hash_32, ntohl, NfInetAddr, Pkt, Scheduler, Svc, IP_VS_DEST_CF_AVAILABLE};

/// `CONFIG_IP_VS_DH_TAB_BITS` (default 8).
const IP_VS_DH_TAB_BITS: u32 = 8;
const IP_VS_DH_TAB_SIZE: usize = 1 << IP_VS_DH_TAB_BITS;

/// `struct ip_vs_dh_state`: the buckets' `dest` pointers.
pub struct Dh {
    buckets: [Option<usize>; IP_VS_DH_TAB_SIZE],
}

/// `ip_vs_dh_hashkey`.
#[inline]
fn ip_vs_dh_hashkey(af: u16, addr: &NfInetAddr) -> usize {
    hash_32(ntohl(addr_fold(af, addr)), IP_VS_DH_TAB_BITS) as usize
}

impl Dh {
    /// `ip_vs_dh_init_svc` + `ip_vs_dh_reassign`.
    pub fn init_svc(svc: &Svc) -> Self {
        let mut s = Dh {
            buckets: [None; IP_VS_DH_TAB_SIZE],
        };
        let n = svc.destinations.len();
        let mut p: Option<usize> = None;
        for b in s.buckets.iter_mut() {
            if n == 0 {
                *b = None;
            } else {
                let i = p.unwrap_or(0);
                *b = Some(i);
                p = if i + 1 == n { None } else { Some(i + 1) };
            }
        }
        s
    }

    /// `ip_vs_dh_get`.
    fn get(&self, af: u16, addr: &NfInetAddr) -> Option<usize> {
        self.buckets[ip_vs_dh_hashkey(af, addr)]
    }
}

impl Scheduler for Dh {
    /// `ip_vs_dh_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        let i = self.get(svc.af, &pkt.daddr)?;
        let dest = &svc.destinations[i];
        if dest.cflags & IP_VS_DEST_CF_AVAILABLE == 0 || dest.weight() <= 0 || dest.overloaded() {
            return None;
        }
        Some(i)
    }
}
