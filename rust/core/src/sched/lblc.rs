// SPDX-License-Identifier: GPL-2.0
//! Locality-based least connection (`ip_vs_lblc.c`): each destination
//! address (`iph->daddr`, the origin server behind a cache cluster) sticks
//! to one server, chosen by weighted least connection, until that server
//! becomes unsuitable.
//!
//! As upstream, for each packet:
//!
//! 1. look the destination address up in the cache ([`super::cache`]);
//!    on a hit, refresh its last-use time and return its server if it is
//!    still in the service, has weight above 0, and is not "overloaded" in
//!    lblc's own sense: `active > weight` while some server of the service
//!    has `2 * active < weight`. (Upstream does *not* check the
//!    `IP_VS_DEST_F_OVERLOAD` threshold flag on this path; neither does
//!    this code.)
//! 2. otherwise pick a server with [`super::wlc`] (no server: none) and
//!    point the entry at it: a stale entry is replaced, a new one created
//!    unless the cache is at its limit (then the connection still goes to
//!    that server, uncached).
//!
//! Entries expire through [`Lblc::expire`], see [`super::cache`]. Entries
//! refer to servers by address and port, so they survive list changes; a
//! server removed from the service counts as unavailable (upstream:
//! `IP_VS_DEST_CF_AVAILABLE` cleared) and comes back if re-added.

use super::cache::{Cache, DestRef, Entry, Slot};
use super::{iter, wlc, DestView, Dests, SchedConfig, SchedInput};
use crate::addr::Addr;

/// Slots for upstream's limits: `max_size` 16384 entries, at most 24576.
/// With 56 bytes a slot (on 64-bit) that is 1.75 MiB per service, to
/// allocate with `kvmalloc`; fewer slots scale the limits down
/// proportionally (`max_size = slots / 2`, limit `3/4` of the slots).
pub const LBLC_SLOTS: usize = 32768;

/// A cache entry: destination address, its server, last use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LblcEntry {
    addr: Addr,
    dest: DestRef,
    lastuse: u64,
}

impl Entry for LblcEntry {
    fn key(&self) -> &Addr {
        &self.addr
    }
    fn lastuse(&self) -> u64 {
        self.lastuse
    }
}

/// One slot of `lblc` storage; allocate them filled with
/// [`Slot::EMPTY`] (`LblcSlot::EMPTY`).
pub type LblcSlot = Slot<LblcEntry>;

/// lblc's overload test (`is_overloaded` of `ip_vs_lblc.c`, identical in
/// `ip_vs_lblcr.c`): more active connections than weight while some server
/// is below half of its weight.
pub(crate) fn lblc_overloaded<D: Dests + ?Sized>(d: &DestView, dests: &D) -> bool {
    i64::from(d.active) > i64::from(d.weight)
        && iter(dests).any(|(_, o)| i64::from(o.active) * 2 < i64::from(o.weight))
}

/// The `lblc` state: the destination-address cache over storage `T`.
pub struct Lblc<T> {
    cache: Cache<T, LblcEntry>,
}

impl<T: AsRef<[LblcSlot]> + AsMut<[LblcSlot]>> Lblc<T> {
    /// An empty cache over `slots` (upstream: [`LBLC_SLOTS`]).
    pub fn new(slots: T, cfg: &SchedConfig) -> Self {
        Lblc {
            cache: Cache::new(slots, cfg.hash_seed, cfg.hz),
        }
    }

    /// The server for the packet's destination address.
    #[inline(never)]
    pub fn schedule<D: Dests + ?Sized>(&mut self, dests: &D, input: &SchedInput) -> Option<usize> {
        let slot = self.cache.find(&input.daddr);
        if let Some(e) = slot.and_then(|s| self.cache.get_mut(s)) {
            e.lastuse = input.now;
            if let Some((i, d)) = e.dest.refresh(dests) {
                if d.weight > 0 && !lblc_overloaded(&d, dests) {
                    return Some(i);
                }
            }
        }
        self.reschedule(slot, dests, input)
    }

    /// No usable cached server: pick one with wlc and cache it (out of
    /// line, so the hit path stays short).
    #[inline(never)]
    fn reschedule<D: Dests + ?Sized>(
        &mut self,
        slot: Option<usize>,
        dests: &D,
        input: &SchedInput,
    ) -> Option<usize> {
        let i = wlc::schedule(dests)?;
        let d = dests.get(i)?;
        match slot.and_then(|s| self.cache.get_mut(s)) {
            Some(e) => {
                if !e.dest.is(&d) {
                    // Upstream frees the entry and makes a new one.
                    e.dest = DestRef::new(i, &d);
                    e.lastuse = input.now;
                }
            }
            None => {
                self.cache.insert(LblcEntry {
                    addr: input.daddr,
                    dest: DestRef::new(i, &d),
                    lastuse: input.now,
                });
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::super::cache::{CHECK_EXPIRE_INTERVAL_SECS, ENTRY_TIMEOUT_SECS};
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    fn lblc(slots: usize) -> Lblc<Vec<LblcSlot>> {
        Lblc::new(vec![LblcSlot::EMPTY; slots], &CFG)
    }

    fn to(x: u8, now: u64) -> SchedInput {
        let mut p = pkt(7);
        p.daddr = Addr::v4([93, 184, 0, x]);
        p.now = now;
        p
    }

    #[test]
    fn locality_sticks_while_wlc_would_move() {
        let mut dests = ws(&[1, 1, 1]);
        let mut s = lblc(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        dests[0].active = 1;
        // wlc alone would now pick server 1; the cached entry keeps 0
        // (active 1 is not above weight 1).
        assert_eq!(s.schedule(&dests[..], &to(1, 1)), Some(0));
        // Another destination gets its own least loaded server.
        assert_eq!(s.schedule(&dests[..], &to(2, 1)), Some(1));
        assert_eq!(s.entries(), 2);
    }

    #[test]
    fn lblc_overload_rule() {
        let mut dests = ws(&[2, 4]);
        let mut s = lblc(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        // active 3 > weight 2, but nobody is below half its weight: stays.
        dests[0].active = 3;
        dests[1].active = 2;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        // Server 1 drops below half (1 * 2 < 4): entry moves to wlc's pick.
        dests[1].active = 1;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(1));
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(1));
        assert_eq!(s.entries(), 1);
    }

    #[test]
    fn threshold_flag_not_checked_on_hit_like_upstream() {
        let mut dests = ws(&[1, 1]);
        let mut s = lblc(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        dests[0].overloaded = true;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        // Quiesced: rescheduled (wlc skips the overloaded server too).
        dests[0].weight = 0;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(1));
        dests[1].weight = 0;
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), None);
    }

    #[test]
    fn removed_server_is_unavailable_and_index_shifts_are_followed() {
        let dests = ws(&[1, 1, 1]);
        let mut s = lblc(64);
        assert_eq!(s.schedule(&dests[..], &to(1, 0)), Some(0));
        let mut busy = dests.clone();
        busy[0].active = 1;
        assert_eq!(s.schedule(&busy[..], &to(2, 0)), Some(1));
        // A new server at the head shifts indices: entries follow.
        let mut grown = vec![d(50, 1)];
        grown.extend_from_slice(&busy);
        grown[0].active = 5;
        assert_eq!(s.schedule(&grown[..], &to(2, 0)), Some(2));
        // Server of destination 1 removed: rescheduled.
        let shrunk: Vec<_> = grown
            .iter()
            .copied()
            .filter(|x| !x.same_server(&dests[0]))
            .collect();
        let i = s.schedule(&shrunk[..], &to(1, 0)).unwrap();
        assert!(!shrunk[i].same_server(&dests[0]));
    }

    #[test]
    fn limit_and_expiry() {
        let dests = ws(&[1]);
        let mut s = lblc(16);
        // 16 slots: max_size 8, limit 12.
        for x in 0..20 {
            assert_eq!(s.schedule(&dests[..], &to(x, 0)), Some(0));
        }
        assert_eq!(s.entries(), 12);
        // Over max_size: the next GC trims entries idle > ENTRY_TIMEOUT.
        let hz = CFG.hz;
        s.schedule(&dests[..], &to(0, ENTRY_TIMEOUT_SECS * hz));
        s.expire(ENTRY_TIMEOUT_SECS * hz + 1, None);
        assert!(s.entries() <= 8, "{}", s.entries());
        assert!(s.cache.find(&to(0, 0).daddr).is_some());
        // Under max_size: only the full sweep (every 30th call) expires.
        let mut s = lblc(64);
        s.schedule(&dests[..], &to(1, 0));
        let exp = 3600 * hz;
        for k in 1..30 {
            s.expire(exp + k * CHECK_EXPIRE_INTERVAL_SECS * hz, Some(exp));
            assert_eq!(s.entries(), 1);
        }
        s.expire(exp + 30 * CHECK_EXPIRE_INTERVAL_SECS * hz, Some(exp));
        assert_eq!(s.entries(), 0);
    }

    proptest! {
        #[test]
        fn choices_valid(dests in arb_dests(), inputs in proptest::collection::vec(arb_input(), 1..30)) {
            let mut s = lblc(32);
            for input in &inputs {
                if let Some(i) = s.schedule(&dests[..], input) {
                    prop_assert!(i < dests.len() && dests[i].weight > 0);
                }
                prop_assert!(s.entries() <= 24);
            }
        }
    }
}
