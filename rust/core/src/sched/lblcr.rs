// SPDX-License-Identifier: GPL-2.0
//! Locality-based least connection with replication (`ip_vs_lblcr.c`):
//! each destination address (`iph->daddr`) maps to a *set* of servers that
//! grows when its members get busy and shrinks when it has not changed for
//! a while.
//!
//! As upstream, for each packet:
//!
//! 1. on a cache hit ([`super::cache`]): refresh the entry's last use;
//!    take the set member with the least `overhead / weight` (members in
//!    set order, newest first; overloaded ones skipped; the first with
//!    weight above 0 is the initial candidate, later ones replace it only
//!    if strictly less loaded). Then, if the set has more than one member
//!    and was not modified for the `lblcr_expiration` sysctl
//!    ([`super::SchedInput::expiration`], default 24 h), erase its most
//!    loaded member (weight above 0 required, ties: newest). If the chosen
//!    member exists and is not overloaded in lblc's sense
//!    ([`super::lblc`]), use it; else pick a server with [`super::wlc`]
//!    (none: no server), add it to the set (at the front, if not already
//!    in), use it.
//! 2. on a miss: pick with [`super::wlc`] and cache a new entry with a
//!    one-server set, unless the cache is at its limit.
//!
//! Deviations forced by fixed-size storage, documented:
//!
//! * a set holds at most [`LBLCR_SET_CAP`] servers; adding to a full set
//!   does nothing (upstream's behaviour when its `kmalloc` fails), the
//!   connection still goes to the server picked;
//! * set members whose server left the service are dropped from the set
//!   when it is next examined. Upstream keeps such members (unavailable,
//!   but still counted and eligible for the "most loaded" erasure with the
//!   trashed server's counters, which are no longer visible here).

use super::cache::{Cache, DestRef, Entry, Slot};
use super::lblc::lblc_overloaded;
use super::{load_gt, time_after, wlc, DestView, Dests, SchedConfig, SchedInput};
use crate::addr::Addr;

/// Slots for upstream's entry limits: `max_size` 16384 entries, at most
/// 24576. With 232 bytes a slot (on 64-bit) that is 7.25 MiB per service,
/// to allocate with `kvmalloc`; fewer slots scale the limits down
/// proportionally (`max_size = slots / 2`, limit `3/4` of the slots), e.g.
/// 4096 slots (928 KiB) cache up to 3072 destinations.
pub const LBLCR_SLOTS: usize = 32768;

/// Most servers in one destination's set.
pub const LBLCR_SET_CAP: usize = 8;

/// A destination's server set (`struct ip_vs_dest_set`): members
/// contiguous from the front, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DestSet {
    members: [Option<DestRef>; LBLCR_SET_CAP],
    lastmod: u64,
}

impl DestSet {
    fn size(&self) -> usize {
        self.members.iter().flatten().count()
    }

    /// Drops members no longer in `dests`, refreshing the others' indices,
    /// and returns the least loaded usable member (`ip_vs_dest_set_min`)
    /// and the number of members left, in one walk over the set.
    fn prune_min<D: Dests + ?Sized>(&mut self, dests: &D) -> (Option<(usize, DestView)>, usize) {
        let mut least: Option<(usize, DestView, u64)> = None;
        let mut size = 0;
        let mut gone = false;
        for slot in self.members.iter_mut() {
            // Members are packed at the front: the first empty slot ends them.
            let Some(m) = slot else { break };
            let Some((i, d)) = m.refresh(dests) else {
                *slot = None;
                gone = true;
                continue;
            };
            size += 1;
            if d.overloaded {
                continue;
            }
            match least {
                None => {
                    if d.weight > 0 {
                        least = Some((i, d, d.conn_overhead()));
                    }
                }
                Some((_, l, loh)) => {
                    let doh = d.conn_overhead();
                    if load_gt(loh, l.weight(), doh, d.weight()) {
                        least = Some((i, d, doh));
                    }
                }
            }
        }
        if gone {
            // Keep the members packed at the front, in order.
            let mut out = [None; LBLCR_SET_CAP];
            for (o, m) in out.iter_mut().zip(self.members.iter().flatten()) {
                *o = Some(*m);
            }
            self.members = out;
        }
        (least.map(|(i, d, _)| (i, d)), size)
    }

    /// Members present in `dests`, with their position in the set.
    fn resolved<'a, D: Dests + ?Sized>(
        &'a self,
        dests: &'a D,
    ) -> impl Iterator<Item = (usize, usize, DestView)> + 'a {
        self.members
            .iter()
            .enumerate()
            .filter_map(move |(pos, m)| m.and_then(|m| m.lookup(dests)).map(|(i, d)| (pos, i, d)))
    }

    /// `ip_vs_dest_set_max`: the set position of the most loaded member
    /// (overloaded ones included; weight above 0 required).
    fn max<D: Dests + ?Sized>(&self, dests: &D) -> Option<usize> {
        let mut most: Option<(usize, u64, u32)> = None;
        for (pos, _, d) in self.resolved(dests) {
            if d.weight <= 0 {
                continue;
            }
            let doh = d.conn_overhead();
            // moh / mw < doh / dw  <=>  doh * mw > moh * dw
            if most.map_or(true, |(_, moh, mw)| load_gt(doh, d.weight(), moh, mw)) {
                most = Some((pos, doh, d.weight()));
            }
        }
        most.map(|(pos, _, _)| pos)
    }

    /// `ip_vs_dest_set_erase` of the member at set position `pos`.
    fn erase(&mut self, pos: usize, now: u64) {
        if let Some(tail) = self.members.get_mut(pos..) {
            tail.rotate_left(1);
            if let Some(last) = tail.last_mut() {
                *last = None;
            }
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_insert(..., check = true)`.
    fn insert(&mut self, i: usize, d: &DestView, now: u64) {
        if self.members.iter().flatten().any(|m| m.is(d)) || self.size() >= LBLCR_SET_CAP {
            return;
        }
        self.members.rotate_right(1);
        self.members[0] = Some(DestRef::new(i, d));
        self.lastmod = now;
    }
}

/// A cache entry: destination address, its server set, last use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LblcrEntry {
    addr: Addr,
    set: DestSet,
    lastuse: u64,
}

impl Entry for LblcrEntry {
    fn key(&self) -> &Addr {
        &self.addr
    }
    fn lastuse(&self) -> u64 {
        self.lastuse
    }
}

/// One slot of `lblcr` storage; allocate them filled with
/// [`Slot::EMPTY`] (`LblcrSlot::EMPTY`).
pub type LblcrSlot = Slot<LblcrEntry>;

/// The `lblcr` state: the destination-address cache over storage `T`.
pub struct Lblcr<T> {
    cache: Cache<T, LblcrEntry>,
}

impl<T: AsRef<[LblcrSlot]> + AsMut<[LblcrSlot]>> Lblcr<T> {
    /// An empty cache over `slots` (upstream: [`LBLCR_SLOTS`]).
    pub fn new(slots: T, cfg: &SchedConfig) -> Self {
        Lblcr {
            cache: Cache::new(slots, cfg.hash_seed, cfg.hz),
        }
    }

    /// The server for the packet's destination address.
    #[inline(never)]
    pub fn schedule<D: Dests + ?Sized>(&mut self, dests: &D, input: &SchedInput) -> Option<usize> {
        let now = input.now;
        let expiration = input
            .expiration
            .unwrap_or(super::cache::DEFAULT_EXPIRATION_SECS.saturating_mul(self.cache.hz()));
        let slot = self.cache.find(&input.daddr);
        if let Some(e) = slot.and_then(|s| self.cache.get_mut(s)) {
            e.lastuse = now;
            let (chosen, size) = e.set.prune_min(dests);
            // More than one server and unchanged for long: shrink.
            if size > 1 && time_after(now, e.set.lastmod.wrapping_add(expiration)) {
                if let Some(pos) = e.set.max(dests) {
                    e.set.erase(pos, now);
                }
            }
            if let Some((i, d)) = chosen {
                if !lblc_overloaded(&d, dests) {
                    return Some(i);
                }
            }
            let i = wlc::schedule(dests)?;
            e.set.insert(i, &dests.get(i)?, now);
            return Some(i);
        }
        let i = wlc::schedule(dests)?;
        let d = dests.get(i)?;
        let mut set = DestSet {
            members: [None; LBLCR_SET_CAP],
            lastmod: now,
        };
        set.insert(i, &d, now);
        self.cache.insert(LblcrEntry {
            addr: input.daddr,
            set,
            lastuse: now,
        });
        Some(i)
    }

    /// Periodic garbage collection, see [`super::cache`].
    pub fn expire(&mut self, now: u64, expiration: Option<u64>) {
        self.cache.expire(now, expiration);
    }

    /// Number of cached destination addresses.
    pub fn entries(&self) -> usize {
        self.cache.entries()
    }

    /// The servers (address, port) cached for destination `daddr`, newest
    /// first; for inspection and tests.
    pub fn set_of(&self, daddr: &Addr) -> impl Iterator<Item = (Addr, u16)> + '_ {
        let e = self.cache.find(daddr).and_then(|s| self.cache.get(s));
        e.into_iter()
            .flat_map(|e| e.set.members.iter().flatten().map(|m| m.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    fn lblcr(slots: usize) -> Lblcr<Vec<LblcrSlot>> {
        Lblcr::new(vec![LblcrSlot::EMPTY; slots], &CFG)
    }

    fn to(x: u8, now: u64) -> SchedInput {
        let mut p = pkt(7);
        p.daddr = Addr::v4([93, 184, 0, x]);
        p.now = now;
        p
    }

    fn set(s: &Lblcr<Vec<LblcrSlot>>, x: u8, dests: &[DestView]) -> Vec<usize> {
        s.set_of(&to(x, 0).daddr)
            .map(|(a, p)| {
                dests
                    .iter()
                    .position(|d| d.addr == a && d.port == p)
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn set_grows_under_load_and_balances_inside() {
        let mut dests = ws(&[2, 2, 2, 2]);
        let mut s = lblcr(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        assert_eq!(set(&s, 1, &dests), [0]);
        // Server 0 over its weight while server 3 is idle: replicate.
        dests[0].active = 3;
        dests[1].active = 2;
        dests[2].active = 2;
        assert_eq!(s.schedule(&dests[..], &to(1, 1)), Some(3));
        assert_eq!(set(&s, 1, &dests), [3, 0]);
        // Now the set's least loaded member serves the destination.
        dests[3].active = 1;
        assert_eq!(s.schedule(&dests[..], &to(1, 2)), Some(3));
        dests[3].active = 4;
        dests[0].active = 2;
        dests[1].active = 0;
        // Least loaded member is 0 (2 < 4 active); 0 is not over weight.
        assert_eq!(s.schedule(&dests[..], &to(1, 3)), Some(0));
        assert_eq!(set(&s, 1, &dests), [3, 0]);
    }

    #[test]
    fn set_shrinks_after_expiration() {
        let mut dests = ws(&[2, 2]);
        let mut s = lblcr(64);
        s.schedule(&dests[..], &to(1, 0));
        dests[0].active = 3;
        assert_eq!(s.schedule(&dests[..], &to(1, 10)), Some(1));
        assert_eq!(set(&s, 1, &dests), [1, 0]);
        dests[0].active = 1;
        dests[1].active = 2;
        // Not yet expired: set unchanged.
        let mut p = to(1, 10 + 100);
        p.expiration = Some(100);
        assert_eq!(s.schedule(&dests[..], &p), Some(0));
        assert_eq!(set(&s, 1, &dests), [1, 0]);
        // Expired: the most loaded member (1) is erased; the choice made
        // before erasing still stands.
        p.now = 10 + 101;
        assert_eq!(s.schedule(&dests[..], &p), Some(0));
        assert_eq!(set(&s, 1, &dests), [0]);
        // A one-member set is never shrunk.
        p.now = 10_000;
        assert_eq!(s.schedule(&dests[..], &p), Some(0));
        assert_eq!(set(&s, 1, &dests), [0]);
    }

    #[test]
    fn set_capacity_and_departed_members() {
        let n = LBLCR_SET_CAP + 3;
        let mut dests = ws(&vec![1; n]);
        let mut s = lblcr(64);
        // Each round: all cached members over weight, a fresh idle one left.
        for k in 0..n {
            let i = s.schedule(&dests[..], &to(1, k as u64)).unwrap();
            assert_eq!(i, k);
            dests[k].active = 2;
        }
        assert_eq!(set(&s, 1, &dests).len(), LBLCR_SET_CAP);
        // Members that left the service are dropped on the next lookup.
        let kept: Vec<_> = dests[4..].to_vec();
        s.schedule(&kept[..], &to(1, 100));
        for i in set(&s, 1, &kept) {
            assert!(i < kept.len());
        }
    }

    #[test]
    fn overloaded_members_skipped() {
        let mut dests = ws(&[1, 1]);
        let mut s = lblcr(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        dests[0].overloaded = true;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(1));
        assert_eq!(set(&s, 1, &dests), [1, 0]);
        dests[1].weight = 0;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), None);
    }

    #[test]
    fn expiry_of_entries() {
        let dests = ws(&[1]);
        let mut s = lblcr(64);
        s.schedule(&dests[..], &to(1, 0));
        for k in 1..=30 {
            s.expire(1000 * k, Some(500));
        }
        assert_eq!(s.entries(), 0);
    }

    proptest! {
        #[test]
        fn choices_valid(dests in arb_dests(), inputs in proptest::collection::vec(arb_input(), 1..30)) {
            let mut s = lblcr(32);
            for input in &inputs {
                if let Some(i) = s.schedule(&dests[..], input) {
                    prop_assert!(i < dests.len() && dests[i].available());
                }
                prop_assert!(s.entries() <= 24);
                prop_assert!(s.set_of(&input.daddr).count() <= LBLCR_SET_CAP);
            }
        }
    }
}
