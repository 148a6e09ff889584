// SPDX-License-Identifier: GPL-2.0
//! The bounded, allocation-free cache keyed by destination address behind
//! `lblc` and `lblcr` (upstream: a 1024-bucket chained hash table of
//! `kmalloc`ed entries, `ip_vs_lblc_table` / `ip_vs_lblcr_table`).
//!
//! # Layout
//!
//! An open-addressing table with linear probing over caller-provided
//! [`Slot`]s: `n` slots hold at most `limit = max_size * 3 / 2` entries,
//! where `max_size = n / 2`, so the table is never more than 3/4 full and
//! probes stay short. With `n = 32768` these are exactly upstream's
//! numbers: `max_size = IP_VS_LBLC_TAB_SIZE * 16 = 16384`, `limit = 24576`.
//! The home slot of an address is its keyed folded-multiply hash
//! ([`super::hash::addr_fold_mul`], of the family and the 16 address
//! bytes) under a per-service seed ([`super::SchedConfig::hash_seed`]),
//! scaled to `0..n` by multiply-shift. Removal shifts later entries of the
//! probe run back (no tombstones).
//!
//! # Insertion and eviction
//!
//! As upstream, a new address gets no entry while the table holds `limit`
//! entries (the connection is still scheduled, just not cached). Nothing
//! is evicted on insertion; entries go only through expiry:
//!
//! * on each [`super::SchedState::expire`] call (upstream's `periodic_timer`, every
//!   [`CHECK_EXPIRE_INTERVAL_SECS`]), if the counter is a multiple of
//!   [`COUNT_FOR_FULL_EXPIRATION`] (every 30th call while the table is not
//!   over `max_size`), a full sweep drops every entry unused for the
//!   `lbl{c,cr}_expiration` sysctl (default [`DEFAULT_EXPIRATION_SECS`]);
//! * otherwise, if there are more than `max_size` entries, a sweep starting
//!   after the rover position drops entries unused for
//!   [`ENTRY_TIMEOUT_SECS`] until `min((entries - max_size) * 4 / 3,
//!   max_size / 2)` are gone, and leaves the rover where it stopped.
//!
//! Upstream sweeps bucket by bucket and checks the goal after each bucket;
//! here the sweep goes slot by slot and checks after each slot, so which
//! stale entries a partial sweep drops first differs (both follow hash
//! order), not the policy.

use super::hash::addr_fold_mul;
use super::{iter, time_before, DestView, Dests};
use crate::addr::Addr;
use core::marker::PhantomData;

/// `ENTRY_TIMEOUT`: entries unused this long may go when the table is over
/// `max_size`.
pub const ENTRY_TIMEOUT_SECS: u64 = 6 * 60;
/// `DEFAULT_EXPIRATION`: the default of the `lblc_expiration` and
/// `lblcr_expiration` sysctls.
pub const DEFAULT_EXPIRATION_SECS: u64 = 24 * 60 * 60;
/// `CHECK_EXPIRE_INTERVAL`: how often the kernel should call `expire`.
pub const CHECK_EXPIRE_INTERVAL_SECS: u64 = 60;
/// `COUNT_FOR_FULL_EXPIRATION`: every this many `expire` calls (while not
/// over `max_size`) a full expiration sweep runs.
pub const COUNT_FOR_FULL_EXPIRATION: u32 = 30;

/// One slot of a cache table: empty or one entry. Allocate storage filled
/// with [`Slot::EMPTY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot<E>(pub(crate) Option<E>);

impl<E> Slot<E> {
    /// An empty slot.
    pub const EMPTY: Self = Slot(None);

    /// Whether the slot is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// What the cache needs of an entry.
pub(crate) trait Entry: Copy {
    /// The destination address the entry is for.
    fn key(&self) -> &Addr;
    /// When it was last used.
    fn lastuse(&self) -> u64;
}

/// A reference to a real server that survives index changes: its identity
/// (address and port) plus the index it had when last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DestRef {
    addr: Addr,
    port: u16,
    hint: u32,
}

impl DestRef {
    /// The server `d`, now at `index`.
    pub(crate) fn new(index: usize, d: &DestView) -> Self {
        DestRef {
            addr: d.addr,
            port: d.port,
            hint: u32::try_from(index).unwrap_or(u32::MAX),
        }
    }

    /// The server's address and port.
    pub(crate) fn id(&self) -> (Addr, u16) {
        (self.addr, self.port)
    }

    /// Whether this refers to `d`.
    pub(crate) fn is(&self, d: &DestView) -> bool {
        self.addr == d.addr && self.port == d.port
    }

    /// The server's current index and view, if it is still in `dests`
    /// (upstream: whether the server is `IP_VS_DEST_CF_AVAILABLE`, i.e.
    /// not moved to the trash).
    /// The common case, the server still at its hint, is inlined into the
    /// packet path; the search after a list change is not.
    #[inline]
    pub(crate) fn lookup<D: Dests + ?Sized>(&self, dests: &D) -> Option<(usize, DestView)> {
        let hint = self.hint as usize;
        if let Some(d) = dests.get(hint) {
            if self.is(&d) {
                return Some((hint, d));
            }
        }
        self.search(dests)
    }

    /// [`DestRef::lookup`] when the server is not at its hint.
    #[inline(never)]
    fn search<D: Dests + ?Sized>(&self, dests: &D) -> Option<(usize, DestView)> {
        iter(dests).find(|(_, d)| self.is(d))
    }

    /// As [`DestRef::lookup`], remembering the index found.
    #[inline]
    pub(crate) fn refresh<D: Dests + ?Sized>(&mut self, dests: &D) -> Option<(usize, DestView)> {
        let found = self.lookup(dests);
        if let Some((i, _)) = found {
            self.hint = u32::try_from(i).unwrap_or(u32::MAX);
        }
        found
    }
}

/// The slot after `i` in a table of `len` (`i < len`), wrapping.
#[inline]
fn next(i: usize, len: usize) -> usize {
    if i + 1 < len {
        i + 1
    } else {
        0
    }
}

/// A 64-bit hash scaled to `0..len` without a division (multiply-shift of
/// its top 32 bits); 0 for an empty table.
#[inline]
fn scale(h: u64, len: usize) -> usize {
    match u64::try_from(len) {
        Ok(l) if l <= 1 << 32 => (((h >> 32) * l) >> 32) as usize,
        _ => (h % len as u64) as usize,
    }
}

/// The cache table over storage `T`.
pub(crate) struct Cache<T, E> {
    slots: T,
    key: [u64; 2],
    entries: usize,
    rover: usize,
    counter: u32,
    hz: u64,
    _entry: PhantomData<E>,
}

impl<E: Entry, T: AsRef<[Slot<E>]> + AsMut<[Slot<E>]>> Cache<T, E> {
    /// An empty cache over `slots` (whatever they held is dropped).
    pub(crate) fn new(mut slots: T, seed: u64, hz: u64) -> Self {
        slots.as_mut().fill(Slot(None));
        Cache {
            slots,
            // Top bit set: see addr_fold_mul.
            key: [seed, seed.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15 | 1 << 63],
            entries: 0,
            rover: 0,
            // Upstream starts at 1: the first full sweep is the 30th call.
            counter: 1,
            hz,
            _entry: PhantomData,
        }
    }

    /// Number of entries.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }

    /// `tbl->max_size`: above this many entries, `expire` trims.
    pub(crate) fn max_size(&self) -> usize {
        self.slots.as_ref().len() / 2
    }

    /// `tbl->max_size * 3 / 2`: no new entries at this many.
    pub(crate) fn limit(&self) -> usize {
        self.max_size().saturating_mul(3) / 2
    }

    /// Ticks per second.
    pub(crate) fn hz(&self) -> u64 {
        self.hz
    }

    #[inline]
    fn home(&self, key: &Addr) -> usize {
        scale(addr_fold_mul(self.key, key), self.slots.as_ref().len())
    }

    /// The slot holding `key`'s entry.
    pub(crate) fn find(&self, key: &Addr) -> Option<usize> {
        let slots = self.slots.as_ref();
        let len = slots.len();
        let mut i = self.home(key);
        for _ in 0..len {
            match &slots.get(i)?.0 {
                None => return None,
                Some(e) if e.key() == key => return Some(i),
                Some(_) => i = next(i, len),
            }
        }
        None
    }

    /// The entry in slot `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&E> {
        self.slots.as_ref().get(i)?.0.as_ref()
    }

    /// The entry in slot `i`, mutable.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut E> {
        self.slots.as_mut().get_mut(i)?.0.as_mut()
    }

    /// Adds `e` (its key must not be present) unless the cache holds
    /// `limit` entries; returns its slot.
    pub(crate) fn insert(&mut self, e: E) -> Option<usize> {
        if self.entries >= self.limit() {
            return None;
        }
        let len = self.slots.as_ref().len();
        let mut i = self.home(e.key());
        for _ in 0..len {
            let slot = self.slots.as_mut().get_mut(i)?;
            match &slot.0 {
                None => {
                    slot.0 = Some(e);
                    self.entries += 1;
                    return Some(i);
                }
                Some(old) if old.key() == e.key() => {
                    slot.0 = Some(e);
                    return Some(i);
                }
                Some(_) => i = next(i, len),
            }
        }
        None
    }

    /// Empties slot `i`, moving later entries of its probe run back so
    /// that every entry stays reachable from its home slot.
    pub(crate) fn remove(&mut self, i: usize) {
        let len = self.slots.as_ref().len();
        match self.slots.as_mut().get_mut(i) {
            Some(slot) if slot.0.is_some() => slot.0 = None,
            _ => return,
        }
        self.entries = self.entries.saturating_sub(1);
        let mut hole = i;
        let mut j = i;
        for _ in 1..len {
            j = next(j, len);
            let Some(e) = self.slots.as_ref().get(j).and_then(|s| s.0) else {
                break;
            };
            let h = self.home(e.key());
            // The entry may stay if its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                if let Some(s) = self.slots.as_mut().get_mut(hole) {
                    s.0 = Some(e);
                }
                if let Some(s) = self.slots.as_mut().get_mut(j) {
                    s.0 = None;
                }
                hole = j;
            }
        }
    }

    /// Walks every slot once from after the rover, dropping entries unused
    /// for `timeout`; with a goal, stops once that many are gone.
    fn sweep(&mut self, now: u64, timeout: u64, mut goal: Option<usize>) {
        let len = self.slots.as_ref().len();
        if len == 0 {
            return;
        }
        let mut j = self.rover % len;
        for _ in 0..len {
            j = next(j, len);
            // A removal may shift another entry into slot j: look again.
            for _ in 0..=self.entries {
                let stale = match self.slots.as_ref().get(j).and_then(|s| s.0) {
                    Some(e) => !time_before(now, e.lastuse().wrapping_add(timeout)),
                    None => false,
                };
                if !stale {
                    break;
                }
                self.remove(j);
                goal = goal.map(|g| g.saturating_sub(1));
            }
            if goal == Some(0) {
                break;
            }
        }
        self.rover = j;
    }

    /// Upstream's `ip_vs_lbl{c,cr}_check_expire` (see the module docs).
    pub(crate) fn expire(&mut self, now: u64, expiration: Option<u64>) {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            let exp = expiration.unwrap_or(DEFAULT_EXPIRATION_SECS.saturating_mul(self.hz));
            self.sweep(now, exp, None);
            self.counter = 1;
            return;
        }
        let max = self.max_size();
        if self.entries <= max {
            self.counter = self.counter.saturating_add(1);
            return;
        }
        let goal = ((self.entries - max).saturating_mul(4) / 3).min(max / 2);
        self.sweep(now, ENTRY_TIMEOUT_SECS.saturating_mul(self.hz), Some(goal));
    }

    /// All entries, for tests and inspection.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.slots.as_ref().iter().filter_map(|s| s.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct E {
        key: Addr,
        lastuse: u64,
    }
    impl Entry for E {
        fn key(&self) -> &Addr {
            &self.key
        }
        fn lastuse(&self) -> u64 {
            self.lastuse
        }
    }

    fn a(i: u32) -> Addr {
        Addr::v4(i.to_be_bytes())
    }

    fn check<T: AsRef<[Slot<E>]> + AsMut<[Slot<E>]>>(c: &Cache<T, E>, model: &HashMap<Addr, u64>) {
        assert_eq!(c.entries(), model.len());
        assert_eq!(c.iter().count(), model.len());
        for (k, &t) in model {
            let i = c.find(k).expect("present");
            assert_eq!(c.slots.as_ref()[i].0.unwrap().lastuse, t);
        }
    }

    #[test]
    fn upstream_limits_with_32768_slots() {
        let c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![Slot::EMPTY; 32768], 1, 100);
        assert_eq!(c.max_size(), 16384);
        assert_eq!(c.limit(), 24576);
    }

    #[test]
    fn insert_refused_at_limit() {
        let mut c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![Slot::EMPTY; 16], 7, 1);
        assert_eq!(c.limit(), 12);
        for i in 0..12 {
            assert!(c
                .insert(E {
                    key: a(i),
                    lastuse: 0
                })
                .is_some());
        }
        assert!(c
            .insert(E {
                key: a(99),
                lastuse: 0
            })
            .is_none());
        assert_eq!(c.entries(), 12);
        assert!(c.find(&a(99)).is_none());
        let i = c.find(&a(3)).unwrap();
        c.remove(i);
        assert!(c
            .insert(E {
                key: a(99),
                lastuse: 0
            })
            .is_some());
    }

    #[test]
    fn zero_and_tiny_storage() {
        let mut c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![], 7, 1);
        assert!(c
            .insert(E {
                key: a(1),
                lastuse: 0
            })
            .is_none());
        assert!(c.find(&a(1)).is_none());
        c.expire(10, None);
        let mut c: Cache<[Slot<E>; 1], E> = Cache::new([Slot::EMPTY; 1], 7, 1);
        assert!(c
            .insert(E {
                key: a(1),
                lastuse: 0
            })
            .is_none());
        let mut c: Cache<[Slot<E>; 2], E> = Cache::new([Slot::EMPTY; 2], 7, 1);
        assert!(c
            .insert(E {
                key: a(1),
                lastuse: 0
            })
            .is_some());
        assert!(c
            .insert(E {
                key: a(2),
                lastuse: 0
            })
            .is_none());
    }

    #[test]
    fn expiry_schedule_like_upstream() {
        // hz = 1: ticks are seconds.
        let mut c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![Slot::EMPTY; 64], 3, 1);
        for i in 0..10 {
            c.insert(E {
                key: a(i),
                lastuse: i as u64 * 1000,
            })
            .unwrap();
        }
        // Under max_size (32): calls 1..29 only count, the 30th sweeps.
        let now = 100_000;
        for _ in 0..29 {
            c.expire(now, Some(5000));
            assert_eq!(c.entries(), 10);
        }
        c.expire(now, Some(5000));
        // Entries used at >= 95_000 would stay; all are older.
        assert_eq!(c.entries(), 0);

        // Over max_size: trims entries older than ENTRY_TIMEOUT only.
        let mut c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![Slot::EMPTY; 64], 3, 1);
        for i in 0..48 {
            let fresh = i % 2 == 0;
            let t = if fresh { 10_000 } else { 0 };
            c.insert(E {
                key: a(i),
                lastuse: t,
            })
            .unwrap();
        }
        assert_eq!(c.entries(), 48);
        c.expire(10_000 + 100, None);
        // goal = min((48 - 32) * 4 / 3, 16) = 16: at least 16 stale ones
        // go (a slot is finished once started, as upstream finishes a
        // bucket), fresh ones all stay.
        assert!((24..=32).contains(&c.entries()), "{}", c.entries());
        for i in (0..48).step_by(2) {
            assert!(c.find(&a(i)).is_some(), "fresh entry {i} kept");
        }
    }

    proptest! {
        /// The table agrees with a map under any mix of inserts, removals
        /// and sweeps (backward-shift deletion keeps everything reachable).
        #[test]
        fn behaves_like_a_map(
            len in 1usize..40,
            seed in any::<u64>(),
            ops in proptest::collection::vec((0u8..4, 0u32..30, 0u64..100), 0..200),
        ) {
            let mut c: Cache<Vec<Slot<E>>, E> = Cache::new(vec![Slot::EMPTY; len], seed, 1);
            let mut model: HashMap<Addr, u64> = HashMap::new();
            for (op, k, t) in ops {
                match op {
                    0 | 1 => {
                        if c.find(&a(k)).is_none() {
                            let ok = c.insert(E { key: a(k), lastuse: t }).is_some();
                            prop_assert_eq!(ok, model.len() < c.limit());
                            if ok {
                                model.insert(a(k), t);
                            }
                        }
                    }
                    2 => {
                        if let Some(i) = c.find(&a(k)) {
                            c.remove(i);
                            model.remove(&a(k));
                        }
                    }
                    _ => {
                        // Full sweep with expiration t: drop lastuse + t <= 100.
                        c.counter = COUNT_FOR_FULL_EXPIRATION;
                        c.expire(100, Some(t));
                        model.retain(|_, &mut u| u + t > 100);
                    }
                }
                check(&c, &model);
            }
        }
    }
}
