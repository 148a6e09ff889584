// SPDX-License-Identifier: GPL-2.0
//! The connection table of a namespace: upstream's design in Rust.
//!
//! - One hash table keyed by the client side (protocol, client address and
//!   port), so replies, which are addressed to the client, hash to the same
//!   bucket (`ipvs_core::conn::key`).
//! - Lookups are lock-free under RCU: chains are singly linked through
//!   atomic pointers published with release stores.
//! - Writers (insertion by the packet path, removal by expiry or namespace
//!   exit) take one of 32 striped spinlocks, never two at once.
//! - Each connection has a timer; expiry costs O(expired connections).
//!   Memory is freed after an RCU grace period (`call_rcu`).
//! - The number of entries is capped (`max_conns`): a flood exhausts a
//!   budget, never memory; refusals are counted.
//!
//! Whoever unlinks a connection from its chain owns its release: the timer
//! callback (queues `call_rcu`) or namespace exit (frees after a grace
//! period), never both.
//!
//! Persistence templates (`TEMPLATE` flag) live in the same table. A
//! connection made from a template holds a count on it (`ctl`); a template
//! whose timer fires while it still controls connections waits another
//! persistence timeout, as upstream's `n_control`. A template that is
//! closing or was invalidated (its real server went away) takes no new
//! connections, so a count never rises from zero on a dying template.

use crate::fnat::Fnat;
use crate::kbind::bindings;
use crate::kbind::rcu::{self, BhGuard};
use crate::services::{DestRt, SvcRt};
use crate::stats::AtomicStats;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use ipvs_core::config::Timeouts;
use ipvs_core::conn::key::{bucket, conn_hashkey, ConnTuple, InKey, OutKey};
use ipvs_core::conn::proto::{transition, ConnState, Event};
use ipvs_core::conn::tcp::TcpTable;
use ipvs_core::conn::udp;
use ipvs_core::conn::{flags, Direction};
use ipvs_core::service::{FwdMethod, Protocol};
use kernel::alloc::KVVec;
use kernel::ffi::c_ulong;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// Counts of connections per bucket of an address hash: an empty bucket
/// proves that no counted connection has an address hashing there, so a
/// hook can let a packet pass after reading one address (`may_match`).
struct AddrBuckets([AtomicU32; AddrBuckets::N]);

impl AddrBuckets {
    const N: usize = 256;

    fn new() -> Self {
        AddrBuckets([const { AtomicU32::new(0) }; Self::N])
    }

    fn slot(&self, addr: &ipvs_core::addr::Addr) -> Option<&AtomicU32> {
        let [a, b, c, d, ..] = addr.inet();
        let i = (u32::from_ne_bytes([a, b, c, d]).wrapping_mul(0x9e37_79b1) >> 24) as usize;
        self.0.get(i % Self::N)
    }

    fn add(&self, addr: &ipvs_core::addr::Addr) {
        if let Some(n) = self.slot(addr) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&self, addr: &ipvs_core::addr::Addr) {
        if let Some(n) = self.slot(addr) {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// False only if no counted connection has an address like `addr`.
    fn may_match(&self, addr: [u8; 4]) -> bool {
        self.slot(&ipvs_core::addr::Addr::v4(addr))
            .map_or(true, |n| n.load(Ordering::Relaxed) != 0)
    }
}

/// Whether replies of connections with method `fwd` come back through
/// the director to be translated.
fn translates_replies(fwd: FwdMethod) -> bool {
    matches!(fwd, FwdMethod::Masq | FwdMethod::FullNat)
}

/// Writer lock stripes (upstream's `CT_LOCKARRAY_SIZE`).
const LOCKS: usize = 32;

/// Packed mutable state: state (16 bits) | flags (32 bits) << 16 |
/// expiring << 62 | dead << 63.
const DEAD: u64 = 1 << 63;
/// Asked to expire now (`ip_vs_conn_expire_now`): lookups skip it and its
/// timer fires at once.
const EXPIRING: u64 = 1 << 62;

/// Template control word: closing << 63 | invalid << 62 | controlled count.
const CTL_CLOSING: u64 = 1 << 63;
const CTL_INVALID: u64 = 1 << 62;
const CTL_COUNT: u64 = CTL_INVALID - 1;

fn pack(state: u16, flags: u32) -> u64 {
    u64::from(state) | (u64::from(flags) << 16)
}

fn unpack(v: u64) -> (u16, u32) {
    ((v & 0xffff) as u16, ((v >> 16) & 0xffff_ffff) as u32)
}

/// One connection.
pub(crate) struct Conn {
    pub(crate) tuple: ConnTuple,
    pub(crate) proto: Protocol,
    pub(crate) fwd: FwdMethod,
    pub(crate) dest: Arc<DestRt>,
    pub(crate) svc: Arc<SvcRt>,
    table: *const ConnTable,
    packed: AtomicU64,
    /// The template this connection was made from (null if none); the
    /// count this connection holds on it keeps it alive.
    control: *const Conn,
    /// Templates: see `CTL_*`.
    ctl: AtomicU64,
    /// Templates: the persistence timeout, seconds.
    tpl_timeout: u32,
    /// FULLNAT: the local address and port the real server sees.
    pub(crate) fnat: Option<Fnat>,
    /// FULLNAT with TOA: the option went out on a segment after the SYN.
    pub(crate) toa_sent: core::sync::atomic::AtomicBool,
    /// A client on the director itself uses it (counted in the table's
    /// `local_clients`).
    local_client: core::sync::atomic::AtomicBool,
    next: AtomicPtr<Conn>,
    /// FULLNAT: the chain of the local-side table.
    next_out: AtomicPtr<Conn>,
    /// When the connection expires (jiffies): the timer fires at or
    /// before it (see `rearm`).
    deadline: AtomicU64,
    /// Per-connection extension state (SYNPROXY, sequence adjustment),
    /// allocated only for connections that need it, freed with the
    /// connection (`synproxy.rs`).
    ext: AtomicPtr<crate::synproxy::ConnExt>,
    timer: Opaque<bindings::timer_list>,
    rcu: Opaque<bindings::callback_head>,
}

// Memory per connection is a benchmark target (at most upstream's
// `struct ip_vs_conn`, 320 bytes in its cache on x86_64): one object of
// the connection cache each, its exact size. (Lockdep kernels grow the
// embedded timer by a lock map, as they grow upstream's.)
#[cfg(not(CONFIG_LOCKDEP))]
const _: () = assert!(core::mem::size_of::<Conn>() <= 256);

/// The slab cache connections are allocated from (upstream's
/// `ip_vs_conn_cachep`: a dedicated cache, no size-class rounding and no
/// `krealloc` path). Exists while the module is loaded; every namespace
/// (so every connection) is gone before it is dropped.
pub(crate) struct ConnCache;

impl ConnCache {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain values; the shim keeps the one cache until drop.
        kernel::error::to_result(unsafe {
            bindings::ipvs_rs_conn_cache_create(
                core::mem::size_of::<Conn>() as u32,
                core::mem::align_of::<Conn>() as u32,
            )
        })?;
        Ok(ConnCache)
    }
}

impl Drop for ConnCache {
    fn drop(&mut self) {
        // SAFETY: created in new(); the pernet subsystem is unregistered
        // first and every namespace's exit waited for its connections'
        // RCU frees (rcu_barrier), so the cache is empty.
        unsafe { bindings::ipvs_rs_conn_cache_destroy() };
    }
}

/// Frees a connection of the cache.
///
/// # Safety
///
/// `conn` was initialised in `ConnTable::alloc` and nothing can reach it
/// any more; it is not used afterwards.
unsafe fn free_conn(conn: *mut Conn) {
    // SAFETY: as the caller promises: drop its fields, then give the
    // memory back to the cache it came from.
    unsafe {
        core::ptr::drop_in_place(conn);
        bindings::ipvs_rs_conn_free(conn.cast());
    }
}

// SAFETY: the raw table pointer is only dereferenced while the table is
// alive (its namespace deletes every timer before freeing it); all other
// fields are thread-safe.
unsafe impl Send for Conn {}
// SAFETY: as above; shared access goes through atomics.
unsafe impl Sync for Conn {}

impl Drop for Conn {
    fn drop(&mut self) {
        let p = *self.ext.get_mut();
        if !p.is_null() {
            // SAFETY: set once by set_ext() from ConnExt::into_raw; the
            // connection is being freed, so nothing else can reach it.
            unsafe { crate::synproxy::ConnExt::free(p) };
        }
    }
}

impl Conn {
    /// The extension state, if the connection has one.
    pub(crate) fn ext(&self) -> Option<&crate::synproxy::ConnExt> {
        // SAFETY: set once (set_ext) and freed only with the connection.
        unsafe { self.ext.load(Ordering::Acquire).as_ref() }
    }

    /// Attaches the extension state (once): false, and `ext` freed, if
    /// there is one already.
    ///
    /// # Safety
    ///
    /// `ext` comes from `ConnExt::into_raw` and is not used by the caller
    /// afterwards.
    pub(crate) unsafe fn set_ext(&self, ext: *mut crate::synproxy::ConnExt) -> bool {
        match self.ext.compare_exchange(
            core::ptr::null_mut(),
            ext,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            Err(_) => {
                // SAFETY: the caller gave it to us.
                unsafe { crate::synproxy::ConnExt::free(ext) };
                false
            }
        }
    }

    /// Re-arms the timer `secs` from now (SYNPROXY retransmissions).
    pub(crate) fn retimer(&self, secs: u32) {
        self.rearm(secs);
    }

    /// State name and expiry, for `/proc/net/ip_vs_conn`.
    ///
    /// Acquire: a TCP connection out of its initial state has seen its
    /// first packet, and what its creator did before that (attaching its
    /// `ConnExt`) is visible.
    pub(crate) fn state(&self) -> (ConnState, u32) {
        let (raw, flags) = unpack(self.packed.load(Ordering::Acquire));
        (
            ConnState::from_raw(self.proto, raw).unwrap_or(ConnState::initial(self.proto)),
            flags,
        )
    }

    /// Seconds until expiry.
    pub(crate) fn expires_secs(&self) -> u32 {
        let expires = self.deadline.load(Ordering::Relaxed);
        let now = rcu::jiffies();
        (expires.saturating_sub(now) / u64::from(rcu::hz().max(1))) as u32
    }

    /// Runs the state machine for one packet in direction `dir`, updates
    /// the real server's counters and re-arms the timer. Returns false if
    /// the connection is expiring (the packet should not use it).
    pub(crate) fn packet(&self, dir: Direction, event: Option<Event>, timeouts: &Timeouts) -> bool {
        let mut cur = self.packed.load(Ordering::Acquire);
        // UDP, the common case decided without the state machine: live,
        // in its one state (0) and a datagram that changes no flag
        // (`udp::unchanged`): only the deadline moves, as below.
        if self.proto == Protocol::Udp
            && cur & (DEAD | EXPIRING | 0xffff) == 0
            && udp::unchanged(unpack(cur).1, dir)
        {
            self.rearm(timeouts.udp);
            return true;
        }
        loop {
            if cur & (DEAD | EXPIRING) != 0 {
                return false;
            }
            let (raw, flags) = unpack(cur);
            let state =
                ConnState::from_raw(self.proto, raw).unwrap_or(ConnState::initial(self.proto));
            let (dir, flags) = dir.effective(flags);
            let t = event.and_then(|e| transition(TcpTable::Normal, state, flags, dir, e, true));
            let Some(t) = t else {
                self.rearm(state.timeout(timeouts));
                return true;
            };
            let new = pack(t.state.raw(), t.flags);
            // Most packets change nothing (UDP, established TCP): no
            // atomic write, no counter update, only the deadline.
            if new == cur && t.active.active_delta() == 0 {
                self.rearm(t.state.timeout(timeouts));
                return true;
            }
            match self
                .packed
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.dest
                        .activity(t.active.active_delta(), t.active.inactive_delta());
                    self.rearm(t.state.timeout(timeouts));
                    return true;
                }
                Err(seen) => cur = seen,
            }
        }
    }

    /// Arms the timer `secs` from now.
    fn arm(&self, secs: u32) {
        let at = rcu::jiffies() + u64::from(secs) * u64::from(rcu::hz());
        self.deadline.store(at, Ordering::Relaxed);
        // SAFETY: the timer was set up when the connection was created
        // and lives as long as the connection, which the caller's RCU
        // read-side section (or timer callback) keeps from being freed.
        unsafe { bindings::mod_timer(self.timer.get(), at as c_ulong) };
        self.undo_arm_if_dead();
    }

    /// The expiry callback may have marked the connection dead and deleted
    /// its timer just before a packet re-armed it. Then delete it again
    /// here: the connection is freed only after the caller's RCU section
    /// ends, so no armed timer outlives it.
    fn undo_arm_if_dead(&self) {
        if self.packed.load(Ordering::SeqCst) & DEAD != 0 {
            // SAFETY: as in arm().
            unsafe { bindings::timer_delete(self.timer.get()) };
        }
    }

    /// After a packet: the connection now expires `secs` from now. Only
    /// the deadline is stored when the timer is due no later than it (the
    /// callback then re-arms the timer for the rest), so a busy
    /// connection does not touch the timer wheel per packet; the timer is
    /// moved when it would fire late (a shorter timeout) or has fired.
    /// Keeps an immediate expiry that expire_now() asked for meanwhile.
    fn rearm(&self, secs: u32) {
        let now = rcu::jiffies();
        let at = now + u64::from(secs) * u64::from(rcu::hz());
        self.deadline.store(at, Ordering::Relaxed);
        // SAFETY: the timer lives as long as the connection (see arm());
        // `expires` is read without the timer base lock, as the kernel's
        // own lockless readers do (a stale value only costs a mod_timer).
        let due =
            unsafe { core::ptr::read_volatile(&raw const (*self.timer.get()).expires) } as u64;
        if (due.wrapping_sub(now) as i64) <= 0 || (at.wrapping_sub(due) as i64) < 0 {
            // SAFETY: as in arm().
            unsafe { bindings::mod_timer(self.timer.get(), at as c_ulong) };
            self.undo_arm_if_dead();
        }
        if self.packed.load(Ordering::SeqCst) & (DEAD | EXPIRING) == EXPIRING {
            // SAFETY: as in arm().
            unsafe { bindings::mod_timer(self.timer.get(), rcu::jiffies() as c_ulong) };
        }
    }

    fn unbind(&self) {
        let (_, flags) = unpack(self.packed.load(Ordering::Acquire));
        self.dest.unbind(flags);
    }

    /// Counts a packet from the client of `bytes` bytes on the service, the
    /// real server and the namespace `total`.
    pub(crate) fn count_inbound(&self, total: &AtomicStats, bytes: usize) {
        self.svc
            .stats
            .packet3(&self.dest.stats, total, bytes, false);
    }

    /// Counts a packet to the client, as [`Conn::count_inbound`].
    pub(crate) fn count_outbound(&self, total: &AtomicStats, bytes: usize) {
        self.svc.stats.packet3(&self.dest.stats, total, bytes, true);
    }

    /// Notes that a client on the director uses the connection (before
    /// its first packet goes out, so before any reply can come back).
    pub(crate) fn mark_local_client(&self) {
        if !self.local_client.load(Ordering::Relaxed)
            && !self.local_client.swap(true, Ordering::Relaxed)
        {
            // SAFETY: the table outlives its connections (see Conn).
            unsafe { &*self.table }
                .local_clients
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The connection's flags.
    pub(crate) fn flags(&self) -> u32 {
        unpack(self.packed.load(Ordering::Relaxed)).1
    }

    /// Whether it was made from a persistence template.
    pub(crate) fn controlled(&self) -> bool {
        !self.control.is_null()
    }

    /// Whether lookups may return it.
    pub(crate) fn live(&self) -> bool {
        self.packed.load(Ordering::Relaxed) & (DEAD | EXPIRING) == 0
    }

    /// Expires the connection at once (`ip_vs_conn_expire_now`): lookups
    /// stop finding it and its timer fires now.
    pub(crate) fn expire_now(&self) {
        let old = self.packed.fetch_or(EXPIRING, Ordering::SeqCst);
        if old & DEAD == 0 {
            // SAFETY: the timer lives as long as the connection, which the
            // caller's RCU read-side section keeps alive.
            unsafe { bindings::mod_timer(self.timer.get(), rcu::jiffies() as c_ulong) };
        }
    }

    /// A template takes one more connection and restarts its persistence
    /// timeout (upstream's `ip_vs_control_add` + `ip_vs_conn_put`). False
    /// if it is closing or invalid (the caller then makes a new one).
    pub(crate) fn acquire_control(&self) -> bool {
        let mut cur = self.ctl.load(Ordering::Acquire);
        loop {
            if cur & (CTL_CLOSING | CTL_INVALID) != 0 || cur & CTL_COUNT == CTL_COUNT {
                return false;
            }
            match self
                .ctl
                .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.arm(self.tpl_timeout);
                    return true;
                }
                Err(seen) => cur = seen,
            }
        }
    }

    /// Releases a count taken by [`Conn::acquire_control`] that was not
    /// handed to a new connection.
    pub(crate) fn release_control(&self) {
        self.ctl.fetch_sub(1, Ordering::AcqRel);
    }

    /// Stops a template from being used (its server went away or was
    /// quiesced with `expire_quiescent_template`); it expires on its
    /// timer once no connection uses it (`ip_vs_check_template`).
    pub(crate) fn invalidate(&self) {
        self.ctl.fetch_or(CTL_INVALID, Ordering::AcqRel);
    }

    /// Timer expiry of a template: true if it may go now, false if it
    /// still controls connections (then it waits another timeout).
    fn template_may_expire(&self) -> bool {
        let mut cur = self.ctl.load(Ordering::Acquire);
        loop {
            if cur & CTL_COUNT != 0 {
                return false;
            }
            match self.ctl.compare_exchange(
                cur,
                cur | CTL_CLOSING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    fn is_template(&self) -> bool {
        self.flags() & flags::TEMPLATE != 0
    }
}

/// A held bucket lock of the table (see `ConnTable::lock`); not `Send`:
/// released on the CPU that took it.
struct BucketGuard<'a>(
    &'a Opaque<bindings::spinlock_t>,
    /// The lock disabled bottom halves (they were on): the unlock enables
    /// them again.
    bool,
    core::marker::PhantomData<*mut ()>,
);

impl Drop for BucketGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken by ConnTable::lock on this CPU, held until now.
        unsafe { bindings::ipvs_rs_conn_unlock_bh(self.0.get(), self.1) };
    }
}

/// The bucket hash of a packet's client side (protocol, client address and
/// port), from its lookup ([`ConnTable::find_in_hashed`]): the connection
/// the packet then creates has the same client side, so [`ConnTable::create`]
/// reuses it (for a tuple with exactly that client side, otherwise it
/// hashes afresh).
#[derive(Clone, Copy)]
pub(crate) struct ClientHash {
    hash: u32,
    protocol: u16,
    cport: u16,
    caddr: ipvs_core::addr::Addr,
}

impl ClientHash {
    /// The hash, if it is `tuple`'s.
    fn of(&self, tuple: &ConnTuple) -> Option<u32> {
        (self.protocol == tuple.protocol && self.cport == tuple.cport && self.caddr == tuple.caddr)
            .then_some(self.hash)
    }
}

/// The connection table.
#[pin_data]
pub(crate) struct ConnTable {
    bits: u32,
    /// `2^bits - 1`: a hash's bucket (`ipvs_core::conn::key::bucket`).
    mask: u32,
    rnd: u32,
    heads: KVVec<AtomicPtr<Conn>>,
    /// FULLNAT connections by (protocol, local address, local port): the
    /// replies of real servers are addressed there.
    out_heads: KVVec<AtomicPtr<Conn>>,
    /// FULLNAT connections in the table (the reply path skips the
    /// local-side lookup while there are none).
    pub(crate) fnat_count: AtomicU32,
    /// Connections whose client is on the director (made at LOCAL_OUT):
    /// while there are none and no FULLNAT ones, no reply can arrive at
    /// LOCAL_IN, so that hook skips its lookup. (A connection marked
    /// while it is being unlinked may stay counted: that only costs the
    /// skip, never a missed reply.)
    pub(crate) local_clients: AtomicU32,
    /// NAT and FULLNAT connections by a hash of their real server's
    /// address: a forwarded packet from an address whose bucket is empty
    /// cannot be a reply to translate (`may_reply_from`).
    reply_sources: AddrBuckets,
    /// FULLNAT connections by a hash of their local address: a packet to
    /// an address whose bucket is empty cannot be a FULLNAT reply
    /// (`may_fnat_reply_to`).
    fnat_laddrs: AddrBuckets,
    #[pin]
    locks: [Opaque<bindings::spinlock_t>; LOCKS],
    count: AtomicU32,
    max: u32,
    /// New connections refused because the table was full.
    pub(crate) refused: AtomicU64,
}

impl ConnTable {
    /// A table of `2^bits` buckets holding at most `max` connections.
    pub(crate) fn new(bits: u32, max: u32) -> Result<impl PinInit<Self, Error>> {
        let mut heads = KVVec::with_capacity(1 << bits, GFP_KERNEL)?;
        let mut out_heads = KVVec::with_capacity(1 << bits, GFP_KERNEL)?;
        for _ in 0..(1usize << bits) {
            heads.push(AtomicPtr::new(core::ptr::null_mut()), GFP_KERNEL)?;
            out_heads.push(AtomicPtr::new(core::ptr::null_mut()), GFP_KERNEL)?;
        }
        let mask = bucket(u32::MAX, bits) as u32;
        Ok(try_pin_init!(ConnTable {
            bits,
            mask,
            rnd: rcu::random_u64() as u32,
            heads,
            out_heads,
            fnat_count: AtomicU32::new(0),
            local_clients: AtomicU32::new(0),
            reply_sources: AddrBuckets::new(),
            fnat_laddrs: AddrBuckets::new(),
            // SAFETY: the shim initialises the lock in place, where it
            // stays (the table is pinned).
            locks <- kernel::init::pin_init_array_from_fn(|_| Opaque::ffi_init(|p| unsafe {
                bindings::ipvs_rs_conn_lock_init(p)
            })),
            count: AtomicU32::new(0),
            max,
            refused: AtomicU64::new(0),
        }? Error))
    }

    /// `/proc/net/ip_vs_ext_stats`: the table's fill and its refusals.
    pub(crate) fn show(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(w, "conn_count {}", self.count.load(Ordering::Relaxed))?;
        writeln!(w, "conn_max {}", self.max)?;
        writeln!(w, "conn_refused {}", self.refused.load(Ordering::Relaxed))
    }

    /// The bucket of `hash` (`bucket(hash, self.bits)`).
    #[inline]
    fn bucket(&self, hash: u32) -> usize {
        (hash & self.mask) as usize
    }

    fn head(&self, hash: u32) -> Option<&AtomicPtr<Conn>> {
        self.heads.get(self.bucket(hash))
    }

    /// Takes the writer lock of `hash`'s bucket, bottom halves off (the
    /// packet path runs in softirq, and in process context at LOCAL_OUT):
    /// one call each way, upstream's `ct_write_lock_bh` (where they are off
    /// already, softirq, a plain lock).
    fn lock(&self, hash: u32) -> BucketGuard<'_> {
        let i = self.bucket(hash) % LOCKS;
        // In range: `i < LOCKS`, the array's length.
        #[allow(clippy::indexing_slicing)]
        let l = &self.locks[i];
        // SAFETY: initialised in new(); released by the guard's drop on
        // this CPU.
        let bh = unsafe { bindings::ipvs_rs_conn_lock_bh(l.get()) };
        BucketGuard(l, bh, core::marker::PhantomData)
    }

    /// Walks the chain of `hash` under RCU.
    fn chain<'a>(&'a self, hash: u32) -> impl Iterator<Item = &'a Conn> + 'a {
        let mut p = self
            .head(hash)
            .map_or(core::ptr::null_mut(), |h| h.load(Ordering::Acquire));
        core::iter::from_fn(move || {
            // SAFETY: entries reachable from a head are freed only after an
            // RCU grace period following their unlinking, and the caller is
            // in an RCU read-side section (netfilter hooks run in one).
            let c = unsafe { p.as_ref()? };
            p = c.next.load(Ordering::Acquire);
            Some(c)
        })
    }

    /// The connection of a packet from the client. The caller must be in an
    /// RCU read-side section and must not use the result past it (the
    /// lifetime does not say so; the hooks are the only callers).
    pub(crate) fn find_in(&self, key: &InKey) -> Option<&Conn> {
        self.find_in_at(key, key.hash(self.rnd))
    }

    /// [`Self::find_in`], also giving the key's client-side hash for the
    /// connection the packet may create.
    pub(crate) fn find_in_hashed(&self, key: &InKey) -> (Option<&Conn>, ClientHash) {
        let hash = key.hash(self.rnd);
        let h = ClientHash {
            hash,
            protocol: key.protocol,
            cport: key.cport,
            caddr: key.caddr,
        };
        (self.find_in_at(key, hash), h)
    }

    fn find_in_at(&self, key: &InKey, hash: u32) -> Option<&Conn> {
        self.chain(hash).find(|c| {
            let p = c.packed.load(Ordering::Relaxed);
            p & (DEAD | EXPIRING) == 0 && key.matches(&c.tuple, unpack(p).1)
        })
    }

    /// Whether a packet from `saddr` may be the reply of a NAT or FULLNAT
    /// connection (false: no such connection has a real server whose
    /// address hashes like it). A connection is counted before its first
    /// packet goes out, so before any reply.
    pub(crate) fn may_reply_from(&self, saddr: [u8; 4]) -> bool {
        self.reply_sources.may_match(saddr)
    }

    /// Whether a packet to `daddr` may be the reply of a FULLNAT
    /// connection (false: no FULLNAT connection has a local address that
    /// hashes like it). Counted before the connection's first packet.
    pub(crate) fn may_fnat_reply_to(&self, daddr: [u8; 4]) -> bool {
        self.fnat_laddrs.may_match(daddr)
    }

    /// The connection of a reply from a real server (caller in RCU).
    pub(crate) fn find_out(&self, key: &OutKey) -> Option<&Conn> {
        self.chain(key.hash(self.rnd)).find(|c| {
            let p = c.packed.load(Ordering::Relaxed);
            p & (DEAD | EXPIRING) == 0 && key.matches(&c.tuple, unpack(p).1)
        })
    }

    fn out_hash(&self, protocol: u16, laddr: &ipvs_core::addr::Addr, lport: u16) -> u32 {
        conn_hashkey(self.rnd, protocol, laddr, lport)
    }

    /// The FULLNAT connection of a reply from real server `raddr:rport` to
    /// local address `laddr:lport` (caller in RCU).
    pub(crate) fn find_fnat(
        &self,
        protocol: u16,
        laddr: &ipvs_core::addr::Addr,
        lport: u16,
        raddr: &ipvs_core::addr::Addr,
        rport: u16,
    ) -> Option<&Conn> {
        let hash = self.out_hash(protocol, laddr, lport);
        let mut p = self
            .out_heads
            .get(self.bucket(hash))
            .map_or(core::ptr::null_mut(), |h| h.load(Ordering::Acquire));
        // SAFETY: as in chain(): entries are freed only after a grace
        // period following their unlinking; the caller is in RCU.
        while let Some(c) = unsafe { p.as_ref() } {
            if let Some(f) = &c.fnat {
                if c.live()
                    && f.lport == lport
                    && c.tuple.protocol == protocol
                    && f.laddr.addr == *laddr
                    && c.tuple.daddr == *raddr
                    && c.tuple.dport == rport
                {
                    return Some(c);
                }
            }
            p = c.next_out.load(Ordering::Acquire);
        }
        None
    }

    /// The usable persistence template `key` names (caller in RCU).
    pub(crate) fn find_template(&self, key: &InKey) -> Option<&Conn> {
        self.chain(key.hash(self.rnd)).find(|c| {
            let p = c.packed.load(Ordering::Relaxed);
            p & (DEAD | EXPIRING) == 0
                && c.ctl.load(Ordering::Relaxed) & (CTL_CLOSING | CTL_INVALID) == 0
                && key.matches_template(&c.tuple, unpack(p).1)
        })
    }

    /// Expires every connection whose real server was removed (caller in
    /// process context): `expire_nodest_conn`.
    pub(crate) fn expire_nodest(&self) {
        let _rcu = rcu::RcuGuard::new();
        self.for_each(|c| {
            // Templates still controlling connections go when those do.
            let busy = c.ctl.load(Ordering::Relaxed) & CTL_COUNT != 0;
            if !c.dest.available.load(Ordering::Acquire) && c.live() && !busy {
                c.expire_now();
            }
            true
        });
    }

    /// Creates and hashes a connection (softirq). `None` if the table is
    /// full or memory is short. `control` is the template it is made from,
    /// with a count already taken for it (released here on failure);
    /// `tpl_timeout` the persistence timeout of a new template (which is
    /// armed with it at once); `hint` the client-side hash of the packet's
    /// lookup, if there was one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        &self,
        tuple: ConnTuple,
        proto: Protocol,
        fwd: FwdMethod,
        flags: u32,
        dest: Arc<DestRt>,
        svc: Arc<SvcRt>,
        control: Option<&Conn>,
        tpl_timeout: u32,
        fnat: Option<Fnat>,
        hint: Option<&ClientHash>,
    ) -> Option<&Conn> {
        let conn = self.alloc(
            tuple,
            proto,
            fwd,
            flags,
            dest,
            svc,
            control,
            tpl_timeout,
            fnat,
            hint,
        );
        if conn.is_none() {
            if let Some(t) = control {
                t.release_control();
            }
        }
        conn
    }

    #[allow(clippy::too_many_arguments)]
    fn alloc(
        &self,
        tuple: ConnTuple,
        proto: Protocol,
        fwd: FwdMethod,
        flags: u32,
        dest: Arc<DestRt>,
        svc: Arc<SvcRt>,
        control: Option<&Conn>,
        tpl_timeout: u32,
        fnat: Option<Fnat>,
        hint: Option<&ClientHash>,
    ) -> Option<&Conn> {
        // A FULLNAT port not handed to a connection goes back to its pool
        // when `fnat` is dropped (Fnat's Drop).
        if self.count.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // Allocate first, then build the connection in place (no copy of
        // a stack-built one).
        // SAFETY: the cache exists while the module is loaded (ConnCache).
        let raw = unsafe { bindings::ipvs_rs_conn_alloc() }.cast::<Conn>();
        if raw.is_null() {
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // SAFETY: a fresh object of the cache: size and alignment of Conn
        // (ConnCache::new), exclusively ours, written once before use.
        unsafe {
            raw.write(Conn {
                tuple,
                proto,
                fwd,
                dest,
                svc,
                table: self,
                packed: AtomicU64::new(pack(ConnState::initial(proto).raw(), flags)),
                control: control.map_or(core::ptr::null(), |c| c as *const Conn),
                ctl: AtomicU64::new(0),
                tpl_timeout,
                fnat,
                toa_sent: core::sync::atomic::AtomicBool::new(false),
                local_client: core::sync::atomic::AtomicBool::new(false),
                next: AtomicPtr::new(core::ptr::null_mut()),
                next_out: AtomicPtr::new(core::ptr::null_mut()),
                deadline: AtomicU64::new(0),
                ext: AtomicPtr::new(core::ptr::null_mut()),
                timer: Opaque::uninit(),
                rcu: Opaque::uninit(),
            })
        };
        // SAFETY: raw is a fresh, exclusively owned allocation that is not
        // moved again; the timer is set up before anything can arm it.
        let conn = unsafe { &*raw };
        // SAFETY: as above.
        unsafe { bindings::ipvs_rs_timer_setup(conn.timer.get(), Some(conn_timer_expired)) };
        // Not armed yet, and due now as far as rearm() is concerned
        // (timer_setup leaves `expires` unset).
        // SAFETY: as above: nobody else can see the timer yet.
        unsafe { (*conn.timer.get()).expires = rcu::jiffies() as c_ulong };
        conn.dest.bind(flags);
        if flags & flags::TEMPLATE != 0 {
            conn.arm(tpl_timeout);
        }
        let hash = hint
            .and_then(|h| h.of(&tuple))
            .unwrap_or_else(|| tuple.hash(self.rnd));
        {
            let _g = self.lock(hash);
            if let Some(head) = self.head(hash) {
                conn.next
                    .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
                head.store(raw, Ordering::Release);
            }
        }
        if translates_replies(conn.fwd) {
            self.reply_sources.add(&conn.tuple.daddr);
        }
        if let Some(f) = &conn.fnat {
            let h = self.out_hash(tuple.protocol, &f.laddr.addr, f.lport);
            let _g = self.lock(h);
            if let Some(head) = self.out_heads.get(self.bucket(h)) {
                conn.next_out
                    .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
                head.store(raw, Ordering::Release);
            }
            self.fnat_count.fetch_add(1, Ordering::Relaxed);
            self.fnat_laddrs.add(&f.laddr.addr);
        }
        Some(conn)
    }

    /// Unlinks `conn`; true if it was in the table (the caller now owns it).
    fn unlink(&self, conn: *mut Conn) -> bool {
        // SAFETY: conn is alive: either the caller owns a reference from a
        // timer callback that has not released it, or holds the lock.
        let hash = unsafe { (*conn).tuple.hash(self.rnd) };
        let _g = self.lock(hash);
        let Some(mut link) = self.head(hash) else {
            return false;
        };
        loop {
            let p = link.load(Ordering::Relaxed);
            if p.is_null() {
                return false;
            }
            // SAFETY: entries are alive while linked and we hold the lock.
            let c = unsafe { &*p };
            if core::ptr::eq(p, conn) {
                link.store(c.next.load(Ordering::Relaxed), Ordering::Release);
                self.count.fetch_sub(1, Ordering::Relaxed);
                if c.local_client.load(Ordering::Relaxed) {
                    self.local_clients.fetch_sub(1, Ordering::Relaxed);
                }
                if translates_replies(c.fwd) {
                    self.reply_sources.remove(&c.tuple.daddr);
                }
                drop(_g);
                self.unlink_out(c);
                return true;
            }
            link = &c.next;
        }
    }

    /// Takes an unlinked FULLNAT connection out of the local-side table;
    /// its port goes back to the pool when the connection is freed.
    fn unlink_out(&self, conn: &Conn) {
        let Some(f) = &conn.fnat else {
            return;
        };
        let h = self.out_hash(conn.tuple.protocol, &f.laddr.addr, f.lport);
        let _g = self.lock(h);
        let Some(mut link) = self.out_heads.get(self.bucket(h)) else {
            return;
        };
        loop {
            let p = link.load(Ordering::Relaxed);
            // SAFETY: entries are alive while linked and we hold the lock.
            let Some(c) = (unsafe { p.as_ref() }) else {
                return;
            };
            if core::ptr::eq(c, conn) {
                link.store(c.next_out.load(Ordering::Relaxed), Ordering::Release);
                self.fnat_count.fetch_sub(1, Ordering::Relaxed);
                self.fnat_laddrs.remove(&f.laddr.addr);
                return;
            }
            link = &c.next_out;
        }
    }

    /// Removes and frees every connection (namespace exit, process context).
    /// The caller has unregistered the hooks and removed the proc files and
    /// waited for their readers: nothing can look connections up any more.
    pub(crate) fn flush(&self) {
        // Connections first: a timer callback that unlinked one may still
        // be releasing its template. Timer callbacks run in softirq
        // context, an RCU read-side section, so after a grace period none
        // is left and the templates can go.
        self.flush_pass(false);
        rcu::synchronize_rcu();
        self.flush_pass(true);
    }

    fn flush_pass(&self, templates: bool) {
        for head in self.heads.iter() {
            loop {
                let p = {
                    let _bh = BhGuard::new();
                    let mut p = head.load(Ordering::Acquire);
                    // SAFETY: linked entries stay alive while we do not
                    // unlink them (their callbacks only free what they
                    // unlinked, after a grace period; bottom halves are
                    // off, an RCU read-side section).
                    while let Some(c) = unsafe { p.as_ref() } {
                        if c.is_template() == templates {
                            break;
                        }
                        p = c.next.load(Ordering::Acquire);
                    }
                    p
                };
                if p.is_null() {
                    break;
                }
                let owned = {
                    let _bh = BhGuard::new();
                    self.unlink(p)
                };
                if !owned {
                    // Its timer callback unlinked it and will free it.
                    continue;
                }
                // SAFETY: we unlinked it, so we own it. Deleting the timer
                // synchronously means no callback runs afterwards (a running
                // one finds it unlinked and leaves it to us). No reader can
                // reach it (see above), so it is freed at once.
                unsafe {
                    let c = &*p;
                    c.packed.fetch_or(DEAD, Ordering::AcqRel);
                    bindings::timer_delete_sync(c.timer.get());
                    c.unbind();
                    free_conn(p);
                }
            }
        }
    }

    /// Every connection, for `/proc/net/ip_vs_conn` (caller in RCU); stops
    /// when `f` returns false.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Conn) -> bool) {
        for head in self.heads.iter() {
            let mut p = head.load(Ordering::Acquire);
            // SAFETY: as in chain().
            while let Some(c) = unsafe { p.as_ref() } {
                if !f(c) {
                    return;
                }
                p = c.next.load(Ordering::Acquire);
            }
        }
    }
}

/// Timer callback: the connection timed out.
///
/// # Safety
///
/// Called by the timer subsystem with the timer embedded in a live `Conn`.
unsafe extern "C" fn conn_timer_expired(timer: *mut bindings::timer_list) {
    let off = core::mem::offset_of!(Conn, timer);
    // SAFETY: the timer is embedded in a Conn (set up in create()).
    let raw = unsafe { timer.cast::<u8>().sub(off).cast::<Conn>() };
    // SAFETY: the connection is alive: it is freed only after its owner
    // unlinked it and (for namespace exit) waited for this callback.
    let conn = unsafe { &*raw };
    // SYNPROXY: still waiting for the real server: the SYN goes again.
    if crate::synproxy::timer(conn) {
        return;
    }
    // Packets moved the deadline on without touching the timer: wait for
    // the rest (unless expire_now() or namespace exit asked for the end).
    let at = conn.deadline.load(Ordering::Relaxed);
    if conn.packed.load(Ordering::SeqCst) & (DEAD | EXPIRING) == 0
        && (at.wrapping_sub(rcu::jiffies()) as i64) > 0
    {
        // SAFETY: re-arming our own timer from its callback is allowed.
        unsafe { bindings::mod_timer(conn.timer.get(), at as c_ulong) };
        conn.undo_arm_if_dead();
        return;
    }
    if conn.is_template() && !conn.template_may_expire() {
        // Still controls connections: wait another persistence timeout
        // (unless namespace exit already owns it).
        if conn.packed.load(Ordering::SeqCst) & DEAD == 0 {
            conn.arm(conn.tpl_timeout);
        }
        return;
    }
    conn.packed.fetch_or(DEAD, Ordering::SeqCst);
    // A packet may have re-armed the timer before seeing DEAD (one that
    // re-arms it after this sees DEAD and deletes it itself).
    // SAFETY: deleting our own timer from its callback is allowed.
    unsafe { bindings::timer_delete(conn.timer.get()) };
    // SAFETY: the table outlives every connection timer (see Conn).
    let table = unsafe { &*conn.table };
    if !table.unlink(raw) {
        // Namespace exit unlinked it first and frees it.
        return;
    }
    conn.unbind();
    // SAFETY: a controlled connection holds a count on its template, which
    // therefore is alive; the template is not touched after the release.
    if let Some(t) = unsafe { conn.control.as_ref() } {
        t.release_control();
    }
    // SAFETY: unlinked and dead; freed after a grace period, once every
    // reader that could still see it is gone.
    unsafe { bindings::call_rcu(conn.rcu.get(), Some(conn_free_rcu)) };
}

/// RCU callback: frees an expired connection.
///
/// # Safety
///
/// Called by RCU with the `rcu_head` of a `Conn` passed to `call_rcu` once.
unsafe extern "C" fn conn_free_rcu(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(Conn, rcu);
    // SAFETY: the rcu_head is embedded in a Conn passed to call_rcu once.
    let raw = unsafe { head.cast::<u8>().sub(off).cast::<Conn>() };
    // SAFETY: made in create(); nothing references it now.
    unsafe { free_conn(raw) };
}
