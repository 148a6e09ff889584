// SPDX-License-Identifier: GPL-2.0
//! `ip_vs_lblcr.c`: locality-based least connection with replication.

use super::{
    addr_fold, hash_32, ip_vs_addr_equal, ip_vs_dest_conn_overhead, ntohl, time_after, NfInetAddr,
    Pkt, Scheduler, Svc, IP_VS_DEST_CF_AVAILABLE,
};

/// `CONFIG_IP_VS_LBLCR_TAB_BITS` (default 10).
const IP_VS_LBLCR_TAB_BITS: u32 = 10;
const IP_VS_LBLCR_TAB_SIZE: usize = 1 << IP_VS_LBLCR_TAB_BITS;

/// End of a list.
const NIL: u32 = u32::MAX;

/// `struct ip_vs_dest_set_elem`: `next` links the set's list.
struct Elem {
    next: u32,
    dest: usize,
}

/// `struct ip_vs_dest_set`: `list` is the first element.
struct DestSet {
    size: i32,
    lastmod: u64,
    list: u32,
}

/// `struct ip_vs_lblcr_entry`.
#[allow(dead_code)] // upstream's fields, some unread
struct Entry {
    next: u32,
    af: u16,
    addr: NfInetAddr,
    set: DestSet,
    lastuse: u64,
}

/// `struct ip_vs_lblcr_table`, entries and set elements in arenas.
pub struct Lblcr {
    bucket: [u32; IP_VS_LBLCR_TAB_SIZE],
    entries: i32,
    max_size: i32,
    dead: bool,
    arena: Vec<Entry>,
    elems: Vec<Elem>,
    free_elems: Vec<u32>,
}

/// `ip_vs_lblcr_hashkey`.
#[inline]
fn ip_vs_lblcr_hashkey(af: u16, addr: &NfInetAddr) -> usize {
    hash_32(ntohl(addr_fold(af, addr)), IP_VS_LBLCR_TAB_BITS) as usize
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

/// `__ip_vs_lblcr_schedule`: wlc.
fn __ip_vs_lblcr_schedule(svc: &Svc) -> Option<usize> {
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

impl Lblcr {
    /// `ip_vs_lblcr_init_svc`.
    pub fn init_svc(_svc: &Svc) -> Self {
        Lblcr {
            bucket: [NIL; IP_VS_LBLCR_TAB_SIZE],
            entries: 0,
            max_size: IP_VS_LBLCR_TAB_SIZE as i32 * 16,
            dead: false,
            arena: Vec::new(),
            elems: Vec::new(),
            free_elems: Vec::new(),
        }
    }

    /// `ip_vs_lblcr_get`.
    fn get(&self, af: u16, addr: &NfInetAddr) -> Option<u32> {
        let hash = ip_vs_lblcr_hashkey(af, addr);
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

    /// `ip_vs_dest_set_insert`.
    fn set_insert(&mut self, en: u32, dest: usize, check: bool, jiffies: u64) {
        if check {
            let mut e = self.arena[en as usize].set.list;
            while e != NIL {
                if self.elems[e as usize].dest == dest {
                    return;
                }
                e = self.elems[e as usize].next;
            }
        }
        // kmalloc; list_add_rcu at the head.
        let set = &mut self.arena[en as usize].set;
        let elem = Elem {
            next: set.list,
            dest,
        };
        let e = match self.free_elems.pop() {
            Some(i) => {
                self.elems[i as usize] = elem;
                i
            }
            None => {
                self.elems.push(elem);
                self.elems.len() as u32 - 1
            }
        };
        set.list = e;
        set.size += 1;
        set.lastmod = jiffies;
    }

    /// `ip_vs_dest_set_erase`.
    fn set_erase(&mut self, en: u32, dest: usize, jiffies: u64) {
        let set = &mut self.arena[en as usize].set;
        let mut prev = NIL;
        let mut e = set.list;
        while e != NIL {
            let next = self.elems[e as usize].next;
            if self.elems[e as usize].dest == dest {
                set.size -= 1;
                set.lastmod = jiffies;
                if prev == NIL {
                    set.list = next;
                } else {
                    self.elems[prev as usize].next = next;
                }
                self.free_elems.push(e);
                break;
            }
            prev = e;
            e = next;
        }
    }

    /// `ip_vs_dest_set_min`.
    fn set_min(&self, svc: &Svc, en: u32) -> Option<usize> {
        let dests = &svc.destinations;
        let mut e = self.arena[en as usize].set.list;
        let (mut least, mut loh) = loop {
            if e == NIL {
                return None;
            }
            let el = &self.elems[e as usize];
            e = el.next;
            let least = &dests[el.dest];
            if least.overloaded() {
                continue;
            }
            if least.weight() > 0 && least.cflags & IP_VS_DEST_CF_AVAILABLE != 0 {
                break (el.dest, ip_vs_dest_conn_overhead(least));
            }
        };
        while e != NIL {
            let el = &self.elems[e as usize];
            e = el.next;
            let dest = &dests[el.dest];
            if dest.overloaded() {
                continue;
            }
            let doh = ip_vs_dest_conn_overhead(dest);
            if loh as i64 * dest.weight() as i64 > doh as i64 * dests[least].weight() as i64
                && dest.cflags & IP_VS_DEST_CF_AVAILABLE != 0
            {
                least = el.dest;
                loh = doh;
            }
        }
        Some(least)
    }

    /// `ip_vs_dest_set_max`.
    fn set_max(&self, svc: &Svc, en: u32) -> Option<usize> {
        let dests = &svc.destinations;
        let mut e = self.arena[en as usize].set.list;
        let (mut most, mut moh) = loop {
            if e == NIL {
                return None;
            }
            let el = &self.elems[e as usize];
            e = el.next;
            let most = &dests[el.dest];
            if most.weight() > 0 {
                break (el.dest, ip_vs_dest_conn_overhead(most));
            }
        };
        while e != NIL {
            let el = &self.elems[e as usize];
            e = el.next;
            let dest = &dests[el.dest];
            let doh = ip_vs_dest_conn_overhead(dest);
            if (moh as i64 * dest.weight() as i64) < doh as i64 * dests[most].weight() as i64
                && dest.weight() > 0
            {
                most = el.dest;
                moh = doh;
            }
        }
        Some(most)
    }

    /// `ip_vs_lblcr_new`.
    fn new_entry(&mut self, daddr: &NfInetAddr, af: u16, dest: usize, jiffies: u64) {
        match self.get(af, daddr) {
            None => {
                if self.entries >= self.max_size * 3 / 2 {
                    return;
                }
                // kmalloc; ip_vs_lblcr_hash: hlist_add_head_rcu.
                let hash = ip_vs_lblcr_hashkey(af, daddr);
                self.arena.push(Entry {
                    next: self.bucket[hash],
                    af,
                    addr: *daddr,
                    set: DestSet {
                        size: 0,
                        lastmod: 0,
                        list: NIL,
                    },
                    lastuse: jiffies,
                });
                let en = self.arena.len() as u32 - 1;
                self.set_insert(en, dest, false, jiffies);
                self.bucket[hash] = en;
                self.entries += 1;
            }
            Some(en) => self.set_insert(en, dest, true, jiffies),
        }
    }
}

impl Scheduler for Lblcr {
    /// `ip_vs_lblcr_schedule`.
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize> {
        // First look in our cache
        if let Some(en) = self.get(svc.af, &pkt.daddr) {
            self.arena[en as usize].lastuse = pkt.jiffies;
            // Get the least loaded destination
            let dest = self.set_min(svc, en);
            // More than one destination + enough time passed by, cleanup
            let set = &self.arena[en as usize].set;
            let expire = svc.sysctl_lblcr_expiration as i64 as u64;
            if set.size > 1 && time_after(pkt.jiffies, set.lastmod.wrapping_add(expire)) {
                // spin_lock_bh(&svc->sched_lock): checked again under the lock.
                if self.arena[en as usize].set.size > 1 {
                    if let Some(m) = self.set_max(svc, en) {
                        self.set_erase(en, m, pkt.jiffies);
                    }
                }
            }
            // If the destination is not overloaded, use it
            if let Some(d) = dest {
                if !is_overloaded(&svc.destinations[d], svc) {
                    return Some(d);
                }
            }
            // The cache entry is invalid, time to schedule
            let dest = __ip_vs_lblcr_schedule(svc)?;
            if !self.dead {
                self.set_insert(en, dest, true, pkt.jiffies);
            }
            return Some(dest);
        }
        // No cache entry, time to schedule
        let dest = __ip_vs_lblcr_schedule(svc)?;
        if !self.dead {
            self.new_entry(&pkt.daddr, svc.af, dest, pkt.jiffies);
        }
        Some(dest)
    }
}
