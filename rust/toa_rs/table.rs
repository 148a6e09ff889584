// SPDX-License-Identifier: GPL-2.0
//! The tagged sockets: socket address -> [`Tag`], in [`SHARDS`] tables of
//! `ipvs_core::toa::table`, each behind its own lock (chosen by the high
//! bits of the key's hash), with one global cap (`max_entries`).

use crate::lock::IrqSpinLock;
use crate::stats::{inc, COUNTERS};
use core::sync::atomic::{AtomicUsize, Ordering};
use ipvs_core::toa::table::{mix, Insert, Slot, TagTable};
use ipvs_core::toa::{shard_slots, Tag};
use kernel::alloc::{flags::GFP_KERNEL, KVVec, KVec};
use kernel::error::{code::ENOMEM, Result};

/// Number of independently locked tables (a power of two).
pub(crate) const SHARDS: usize = 16;

/// Tagged sockets not yet freed (all shards). Read without locks by the
/// probes' fast paths and by the statistics file.
pub(crate) static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The table of tagged sockets.
pub(crate) struct Table {
    shards: KVec<IrqSpinLock<TagTable<KVVec<Slot>>>>,
    max: usize,
}

impl Table {
    /// An empty table for at most `max_entries` sockets. The result must
    /// be pinned with [`Table::init_locks`] before use.
    pub(crate) fn new(max_entries: u32) -> Result<Self> {
        let slots = shard_slots(max_entries, SHARDS as u32);
        let mut shards = KVec::with_capacity(SHARDS, GFP_KERNEL)?;
        for _ in 0..SHARDS {
            let storage = KVVec::from_elem(Slot::default(), slots, GFP_KERNEL)?;
            shards
                .push(IrqSpinLock::new(TagTable::new(storage)), GFP_KERNEL)
                .map_err(|_| ENOMEM)?;
        }
        LIVE.store(0, Ordering::Relaxed);
        Ok(Table {
            shards,
            max: max_entries as usize,
        })
    }

    /// Initialises the locks where they are (the shards live in the
    /// vector's heap buffer, which no longer moves: nothing is pushed after
    /// [`Table::new`]).
    pub(crate) fn init_locks(&self) {
        for s in self.shards.iter() {
            // SAFETY: once per lock, before the table is published to the
            // probes; the vector is never grown again, so its elements stay
            // where they are until the table is dropped.
            unsafe { s.init() };
        }
    }

    fn shard(&self, key: u64) -> Option<&IrqSpinLock<TagTable<KVVec<Slot>>>> {
        let i = mix(key)
            .checked_shr(64 - SHARDS.trailing_zeros())
            .unwrap_or(0);
        self.shards.get(i as usize)
    }

    /// Tags socket `key`. Counts the outcome.
    pub(crate) fn insert(&self, key: u64, tag: Tag) {
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut t = shard.lock();
        if t.get(key).is_some() {
            // A socket freed while its destructor probe was skipped: the
            // address is reused by this new socket.
            t.insert(key, tag);
            inc(&COUNTERS.tagged);
            return;
        }
        if LIVE.fetch_add(1, Ordering::Relaxed) >= self.max {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            inc(&COUNTERS.table_full);
            return;
        }
        match t.insert(key, tag) {
            Insert::New | Insert::Replaced => inc(&COUNTERS.tagged),
            Insert::Full | Insert::Invalid => {
                LIVE.fetch_sub(1, Ordering::Relaxed);
                inc(&COUNTERS.table_full);
            }
        }
    }

    /// The tag of socket `key`.
    pub(crate) fn get(&self, key: u64) -> Option<Tag> {
        self.shard(key)?.lock().get(key)
    }

    /// Forgets socket `key` (it is being freed).
    pub(crate) fn remove(&self, key: u64) {
        let Some(shard) = self.shard(key) else {
            return;
        };
        if shard.lock().remove(key).is_some() {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            inc(&COUNTERS.untagged);
        }
    }

    /// Empties every shard (no probe may run any more), returning how many
    /// tags there were.
    pub(crate) fn clear(&self) -> usize {
        let n = self.shards.iter().map(|s| s.lock().clear()).sum();
        LIVE.store(0, Ordering::Relaxed);
        n
    }
}
