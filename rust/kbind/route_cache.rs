// SPDX-License-Identifier: GPL-2.0
//! Routes by destination address, cached: a small direct-mapped table of
//! RCU-published entries (the C side, `ipvs_rs_rt_slot_*`), for FULLNAT
//! replies, which go to the client's address and would otherwise look a
//! route up per packet. A slot is picked by a keyed hash of the address
//! (so clients cannot choose to collide); an entry for another address,
//! or whose route went stale (`dst_check`), is replaced by a fresh lookup.
//! The lookup is the same as an uncached one (destination only), so the
//! result is the same route.

use super::bindings;
use super::netns::NetRef;
use super::skb::{CachedRoute, Route};
use kernel::types::Opaque;

/// Slots per table (a power of two).
const SLOTS: usize = 256;

/// What [`RouteCache::get`] found: a cached route (no reference, valid in
/// the caller's RCU read-side section) or, when no entry could be made,
/// a held one.
pub enum ClientRoute {
    /// From the table.
    Cached(CachedRoute),
    /// Looked up and held (no memory for an entry).
    Owned(Route),
}

/// The table (one per namespace).
pub struct RouteCache {
    key: u32,
    slots: [Opaque<bindings::ipvs_rs_rt_slot>; SLOTS],
}

// SAFETY: the slots are RCU pointers that the C side publishes with xchg
// and frees after a grace period; any context may read or replace them.
unsafe impl Send for RouteCache {}
// SAFETY: as above.
unsafe impl Sync for RouteCache {}

impl RouteCache {
    /// An empty table with a random hash key.
    pub fn new() -> Self {
        RouteCache {
            // The low 32 bits of a random number.
            key: super::rcu::random_u64() as u32,
            slots: [const {
                Opaque::new(bindings::ipvs_rs_rt_slot {
                    e: core::ptr::null_mut(),
                })
            }; SLOTS],
        }
    }

    fn slot(&self, daddr: [u8; 4]) -> Option<&Opaque<bindings::ipvs_rs_rt_slot>> {
        // Multiplicative hashing of the keyed address; the top bits pick
        // the slot (always one: i < SLOTS).
        let h = (u32::from_ne_bytes(daddr) ^ self.key).wrapping_mul(0x9e37_79b1);
        let i = (h >> (u32::BITS - SLOTS.trailing_zeros())) as usize;
        self.slots.get(i)
    }

    /// The route to `daddr` (network order octets), its MTU, source
    /// address and whether it is local. The caller must be in an RCU
    /// read-side section (netfilter hooks are) and use a cached route
    /// within it.
    pub fn get(
        &self,
        net: NetRef<'_>,
        daddr: [u8; 4],
    ) -> Option<(ClientRoute, bool, u32, [u8; 4])> {
        let slot = self.slot(daddr)?;
        let mut held = false;
        let mut local = false;
        let mut mtu = 0u32;
        let mut saddr = 0u32;
        // SAFETY: the slot is ours and valid (NULL or an entry of the C
        // side); net is alive; the out-parameters are valid locals; the
        // caller is in an RCU read-side section.
        let rt = unsafe {
            bindings::ipvs_rs_rt_slot_get(
                slot.get(),
                net.as_ptr(),
                u32::from_ne_bytes(daddr),
                &mut held,
                &mut local,
                &mut mtu,
                &mut saddr,
            )
        };
        if rt.is_null() {
            return None;
        }
        let r = if held {
            // SAFETY: a held route from the lookup; Route releases it.
            ClientRoute::Owned(unsafe { Route::from_raw(rt) })
        } else {
            // SAFETY: a route of a slot's entry, alive for the caller's
            // RCU section.
            ClientRoute::Cached(unsafe {
                CachedRoute::from_raw(rt, local, mtu, saddr.to_ne_bytes())
            })
        };
        Some((r, local, mtu, saddr.to_ne_bytes()))
    }
}

impl Default for RouteCache {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RouteCache {
    fn drop(&mut self) {
        for s in self.slots.iter() {
            // SAFETY: the slot is valid; the table is going away, so no
            // reader can reach it any more (the namespace's hooks are
            // gone); the entry is freed after a grace period anyway.
            unsafe { bindings::ipvs_rs_rt_slot_reset(s.get()) };
        }
    }
}
