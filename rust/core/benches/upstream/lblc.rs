// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_lblc.c`: locality-based least connection.

use super::{
    addr_fold, hash_32, ip_vs_addr_equal, ip_vs_dest_conn_overhead, ntohl, NfInetAddr, Pkt,
    Scheduler, Svc, IP_VS_DEST_CF_AVAILABLE,
};

/// `CONFIG_IP_VS_LBLC_TAB_BITS` (default 10).
const IP_VS_LBLC_TAB_BITS: u32 = 10;
const IP_VS_LBLC_TAB_SIZE: usize = 1 << IP_VS_LBLC_TAB_BITS;

/// End of an hlist.
const NIL: u32 = u32::MAX;

/// `struct ip_vs_lblc_entry`; `next` is the hlist link (an arena index).
struct Entry {
    next: u32,
    af: u16,
    addr: NfInetAddr,
    dest: usize,
    lastuse: u64,
}

/// `struct ip_vs_lblc_table`, with the entries' memory as an arena.
pub struct Lblc {
    bucket: [u32; IP_VS_LBLC_TAB_SIZE],
    entries: i32,
    max_size: i32,
    dead: bool,
    arena: Vec<Entry>,
    free: Vec<u32>,
}

/// `ip_vs_lblc_hashkey`.
#[inline]
fn ip_vs_lblc_hashkey(af: u16, addr: &NfInetAddr) -> usize {
    hash_32(ntohl(addr_fold(af, addr)), IP_VS_LBLC_TAB_BITS) as usize
}

/// `is_overloaded`.
fn is_overloaded(dest: &super::Dest, svc: &Svc) -> bool {
    if dest.activeconns() > dest.weight() {
        for d in &svc.destinations {
            if d.activeconns() * 2 < d.weight() {
                return true;
            }
        }
    }
    false
}

/// `__ip_vs_lblc_schedule`: wlc.
fn __ip_vs_lblc_schedule(svc: &Svc) -> Option<usize> {
    let dests = &svc.destinations;
    let mut it = dests.iter().enumerate();
    let (mut least, mut loh) = loop {
        let (i, dest) = it.next()?;
        if dest.overloaded() {
            continue;
        }
        if dest.weight() > 0 {
            break (i, ip_vs_dest_conn_overhead(dest));
        }
    };
    for (i, dest) in it {
        if dest.overloaded() {
            continue;
        }
        let doh = ip_vs_dest_conn_overhead(dest);
        if loh as i64 * dest.weight() as i64 > doh as i64 * dests[least].weight() as i64 {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

impl Lblc {
    /// `ip_vs_lblc_init_svc`.
    pub fn init_svc(_svc: &Svc) -> Self {
        Lblc {
            bucket: [NIL; IP_VS_LBLC_TAB_SIZE],
            entries: 0,
            max_size: IP_VS_LBLC_TAB_SIZE as i32 * 16,
            dead: false,
            arena: Vec::new(),
            free: Vec::new(),
        }
    }

    /// `ip_vs_lblc_get`.
    fn get(&self, af: u16, addr: &NfInetAddr) -> Option<u32> {
        let hash = ip_vs_lblc_hashkey(af, addr);
        let mut en = self.bucket[hash];
        while en != NIL {
            let e = &self.arena[en as usize];
            if ip_vs_addr_equal(af, &e.addr, addr) {
                return Some(en);
            }
            en = e.next;
        }
        None
    }

    /// `ip_vs_lblc_del`: unlink (hlist_del_rcu) and free.
    fn del(&mut self, en: u32) {
        let e = &self.arena[en as usize];
        let hash = ip_vs_lblc_hashkey(e.af, &e.addr);
        let next = e.next;
        if self.bucket[hash] == en {
            self.bucket[hash] = next;
        } else {
            let mut p = self.bucket[hash];
            while self.arena[p as usize].next != en {
                p = self.arena[p as usize].next;
            }
            self.arena[p as usize].next = next;
        }
        self.free.push(en);
    }

    /// `kmalloc` of an entry.
    fn alloc(&mut self, e: Entry) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.arena[i as usize] = e;
                i
            }
            None => {
                self.arena.push(e);
                self.arena.len() as u32 - 1
            }
        }
    }

    /// `ip_vs_lblc_new`.
    fn new_entry(&mut self, daddr: &NfInetAddr, af: u16, dest: usize, jiffies: u64) {
        if let Some(en) = self.get(af, daddr) {
            if self.arena[en as usize].dest == dest {
                return;
            }
            self.del(en);
            self.entries -= 1;
        }
        if self.entries >= self.max_size * 3 / 2 {
            return;
        }
        // ip_vs_lblc_hash: hlist_add_head_rcu.
        let hash = ip_vs_lblc_hashkey(af, daddr);
        let en = self.alloc(Entry {
            next: self.bucket[hash],
            af,
            addr: *daddr,
            dest,
            lastuse: jiffies,
        });
        self.bucket[hash] = en;
        self.entries += 1;
    }
}

impl Scheduler for Lblc {
    /// `ip_vs_lblc_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        // First look in our cache
        if let Some(en) = self.get(svc.af, &pkt.daddr) {
            let e = &mut self.arena[en as usize];
            e.lastuse = pkt.jiffies;
            let i = e.dest;
            let dest = &svc.destinations[i];
            if dest.cflags & IP_VS_DEST_CF_AVAILABLE != 0
                && dest.weight() > 0
                && !is_overloaded(dest, svc)
            {
                return Some(i);
            }
        }
        // No cache entry or it is invalid, time to schedule
        let dest = __ip_vs_lblc_schedule(svc)?;
        if !self.dead {
            self.new_entry(&pkt.daddr, svc.af, dest, pkt.jiffies);
        }
        Some(dest)
    }
}
