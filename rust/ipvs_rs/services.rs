// SPDX-License-Identifier: GPL-2.0
//! The service table of a namespace.
//!
//! - Membership (which services exist) is changed by the control plane
//!   under the namespace's control mutex, and published to the packet path
//!   as an RCU snapshot (`Snapshot`).
//! - Each service's settings, real servers and scheduler state sit behind
//!   the service's spinlock, which the packet path takes only to schedule a
//!   new connection (process context takes it with bottom halves off).
//! - Counters are atomics updated without locks.

use crate::fnat::{self, Fnat, Laddr, PoolRegistry};
use crate::kbind::kvec;
use crate::kbind::rcu::{self, BhGuard};
use crate::kbind::skb::DstCache;
use crate::netns::NetState;
use crate::stats::AtomicStats;
use crate::sysctl::Sysctl;
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering,
};
use ipvs_core::addr::Addr;
use ipvs_core::conn::reuse;
use ipvs_core::conn::BindCounts;
use ipvs_core::control::Table;
use ipvs_core::errno::{Errno, Error, Result};
use ipvs_core::netlink::ext::{ProxyVersion, SvcExt, SvcExtCounters};
use ipvs_core::netlink::service::DestConns;
use ipvs_core::sched::{
    lblc::LblcSlot, lblcr::LblcrSlot, Backing, DestChange, DestView, Dests, SchedConfig,
    SchedError, SchedKind, SchedState, Storage, StorageNeed, NO_DEST,
};
use ipvs_core::service::Protocol;
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};
use kernel::alloc::{
    flags::{GFP_ATOMIC, GFP_KERNEL},
    KBox, KVVec, KVec,
};
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};

const ENOMEM: Error = Error::new(Errno::Enomem, c"ipvs_rs: out of memory");

/// A kernel vector (kvmalloc: tables can be large) as scheduler storage.
pub(crate) struct KTable<T>(pub(crate) KVVec<T>);

impl<T> AsRef<[T]> for KTable<T> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

impl<T> AsMut<[T]> for KTable<T> {
    fn as_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

/// Scheduler storage in kernel vectors.
pub(crate) struct KStorage;

impl Storage for KStorage {
    type Table = KTable<u32>;
    type Lblc = KTable<LblcSlot>;
    type Lblcr = KTable<LblcrSlot>;
}

fn ktable<T: Clone>(len: usize, fill: T) -> Result<KTable<T>> {
    KVVec::from_elem(fill, len, GFP_KERNEL)
        .map(KTable)
        .map_err(|_| ENOMEM)
}

/// What the packet path reads or changes on a real server without locks.
pub(crate) struct DestRt {
    pub(crate) key: DestKey,
    pub(crate) active: AtomicU32,
    pub(crate) inactive: AtomicU32,
    pub(crate) persist: AtomicU32,
    pub(crate) stats: AtomicStats,
    /// Still a member of its service (upstream's `IP_VS_DEST_CF_AVAILABLE`):
    /// cleared when it is removed, set again if it is added back while
    /// connections still use it.
    pub(crate) available: AtomicBool,
    /// Copies of the settings the packet path needs.
    pub(crate) weight: AtomicI32,
    u_thresh: AtomicU32,
    l_thresh: AtomicU32,
    /// `IP_VS_DEST_F_OVERLOAD`, with upstream's hysteresis.
    overloaded: AtomicBool,
    /// The route to the server, cached (upstream's `dest_dst`).
    pub(crate) dst: DstCache,
}

impl Drop for DestRt {
    fn drop(&mut self) {
        self.dst.reset();
    }
}

fn add(counter: &AtomicU32, delta: i32) {
    if delta > 0 {
        counter.fetch_add(delta.unsigned_abs(), Ordering::Relaxed);
    } else if delta < 0 {
        counter.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
    }
}

impl DestRt {
    fn new(key: DestKey, conf: &DestConf) -> Result<Arc<DestRt>> {
        let d = Arc::new(
            DestRt {
                key,
                active: AtomicU32::new(0),
                inactive: AtomicU32::new(0),
                persist: AtomicU32::new(0),
                stats: AtomicStats::new().map_err(|_| ENOMEM)?,
                available: AtomicBool::new(true),
                weight: AtomicI32::new(conf.weight),
                u_thresh: AtomicU32::new(conf.u_thresh),
                l_thresh: AtomicU32::new(conf.l_thresh),
                overloaded: AtomicBool::new(false),
                dst: DstCache::new(),
            },
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        // SAFETY: once, at its final address inside the Arc, before any use.
        unsafe { d.dst.init() };
        Ok(d)
    }

    /// Takes the settings of an edit (or a re-add).
    fn configure(&self, conf: &DestConf) {
        let old_u = self.u_thresh.swap(conf.u_thresh, Ordering::Relaxed);
        if reuse::overload_cleared_by_edit(old_u, conf.u_thresh) {
            self.overloaded.store(false, Ordering::Relaxed);
        }
        self.l_thresh.store(conf.l_thresh, Ordering::Relaxed);
        self.weight.store(conf.weight, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        u64::from(self.active.load(Ordering::Relaxed))
            + u64::from(self.inactive.load(Ordering::Relaxed))
    }

    /// A connection with `flags` was bound to this server
    /// (`ip_vs_bind_dest`).
    pub(crate) fn bind(&self, flags: u32) {
        let b = BindCounts::bind(flags);
        self.count(b);
        if b.total != 0 {
            let u = self.u_thresh.load(Ordering::Relaxed);
            let was = self.overloaded.load(Ordering::Relaxed);
            if reuse::overloaded_after_bind(self.total(), u, was) != was {
                self.overloaded.store(!was, Ordering::Relaxed);
            }
        }
    }

    /// A connection with (current) `flags` was unbound
    /// (`ip_vs_unbind_dest`).
    pub(crate) fn unbind(&self, flags: u32) {
        self.count(BindCounts::unbind(flags));
        let u = self.u_thresh.load(Ordering::Relaxed);
        let l = self.l_thresh.load(Ordering::Relaxed);
        let was = self.overloaded.load(Ordering::Relaxed);
        if reuse::overloaded_after_unbind(self.total(), u, l, was) != was {
            self.overloaded.store(!was, Ordering::Relaxed);
        }
    }

    /// A state change moved a connection between active and inactive.
    pub(crate) fn activity(&self, active: i32, inactive: i32) {
        add(&self.active, active);
        add(&self.inactive, inactive);
    }

    fn count(&self, c: BindCounts) {
        add(&self.active, c.active);
        add(&self.inactive, c.total - c.active);
        add(&self.persist, c.persist);
    }

    /// Whether no connection or template uses the server any more.
    fn unused(&self) -> bool {
        self.total() == 0 && self.persist.load(Ordering::Relaxed) == 0
    }

    pub(crate) fn conns(&self) -> DestConns {
        DestConns {
            active: self.active.load(Ordering::Relaxed),
            inactive: self.inactive.load(Ordering::Relaxed),
            persist: self.persist.load(Ordering::Relaxed),
        }
    }
}

/// A real server as its service holds it.
pub(crate) struct DestEntry {
    pub(crate) rt: Arc<DestRt>,
    pub(crate) conf: DestConf,
    /// The last non-zero weight (`mh` keeps a quiesced server's slots).
    pub(crate) last_weight: i32,
}

impl DestEntry {
    fn view(&self) -> DestView {
        // Only what schedulers read: no persistent-connection count.
        DestView {
            addr: self.rt.key.addr,
            port: self.rt.key.port,
            weight: self.conf.weight,
            last_weight: self.last_weight,
            active: self.rt.active.load(Ordering::Relaxed),
            inactive: self.rt.inactive.load(Ordering::Relaxed),
            overloaded: self.rt.overloaded.load(Ordering::Relaxed),
        }
    }
}

/// The real servers of a service, as schedulers see them.
pub(crate) struct DestList<'a>(pub(crate) &'a [DestEntry]);

impl Dests for DestList<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, index: usize) -> Option<DestView> {
        self.0.get(index).map(DestEntry::view)
    }

    /// Just the two fields most schedulers read per server (no counters,
    /// no address copy).
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        self.0
            .get(index)
            .map(|e| (e.conf.weight, e.rt.overloaded.load(Ordering::Relaxed)))
    }
}

/// A service's settings, real servers and scheduler.
pub(crate) struct SvcInner {
    pub(crate) conf: ServiceConf,
    pub(crate) dests: KVec<DestEntry>,
    pub(crate) sched: Option<SchedState<KStorage>>,
    /// FULLNAT local addresses (`IPVS_RS` family) and where the next
    /// allocation starts.
    pub(crate) laddrs: KVec<Arc<Laddr>>,
    laddr_next: usize,
    /// Extension settings (`IPVS_RS` family).
    pub(crate) ext: SvcExt,
}

/// Counters of the extensions, and the TOA switch as the packet path
/// reads it.
#[derive(Default)]
pub(crate) struct ExtCounters {
    pub(crate) toa: AtomicBool,
    pub(crate) toa_written: AtomicU64,
    pub(crate) toa_skipped: AtomicU64,
    pub(crate) fnat_exhausted: AtomicU64,
    /// SYNPROXY switch as the packet path reads it, and its counters.
    pub(crate) synproxy_on: AtomicBool,
    pub(crate) synproxy: crate::synproxy::Counters,
    /// PROXY protocol version as the packet path reads it (its netlink
    /// value), and the header segments sent.
    pub(crate) proxy: AtomicU8,
    pub(crate) proxy_sent: AtomicU64,
    pub(crate) proxy_resent: AtomicU64,
}

/// A virtual service.
#[pin_data]
pub(crate) struct SvcRt {
    pub(crate) key: ServiceKey,
    #[pin]
    pub(crate) inner: SpinLock<SvcInner>,
    pub(crate) stats: AtomicStats,
    pub(crate) ext_counters: ExtCounters,
}

impl SvcRt {
    /// Runs `f` on the service's inner state, bottom halves off.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SvcInner) -> R) -> R {
        let _bh = BhGuard::new();
        let mut g = self.inner.lock();
        f(&mut g)
    }

    /// A local address and port for a new FULLNAT connection (packet
    /// path), or `None`, counted, when the pool is empty or exhausted.
    pub(crate) fn fnat_alloc(&self, proto: Protocol) -> Option<Fnat> {
        let f = self.with(|i| {
            let start = i.laddr_next;
            i.laddr_next = i.laddr_next.wrapping_add(1);
            fnat::pick(&i.laddrs, start, proto)
        });
        if f.is_none() {
            self.ext_counters
                .fnat_exhausted
                .fetch_add(1, Ordering::Relaxed);
        }
        f
    }

    /// Adds a local address, with the namespace's port pools of it
    /// (control plane, under the control mutex).
    pub(crate) fn add_laddr(&self, reg: &mut PoolRegistry, addr: Addr) -> Result<()> {
        if self.with(|i| i.laddrs.iter().any(|l| l.addr == addr)) {
            return Err(Error::new(
                Errno::Eexist,
                c"IPVS_RS_LADDR_ATTR_ADDR: the service already has this local address",
            ));
        }
        let n = self.with(|i| i.laddrs.len());
        let Ok(mut v) = KVec::with_capacity(n + 1, GFP_KERNEL) else {
            return Err(ENOMEM);
        };
        let l = Laddr::new(reg, addr).map_err(|_| ENOMEM)?;
        let old = self.with(|i| {
            for x in i.laddrs.iter() {
                // Within capacity: the list only changes under the mutex.
                let _ = v.push(x.clone(), GFP_ATOMIC);
            }
            let _ = v.push(l, GFP_ATOMIC);
            core::mem::replace(&mut i.laddrs, v)
        });
        drop(old);
        Ok(())
    }

    /// Removes a local address; its connections keep their ports until
    /// they end (and the namespace keeps its pools until then).
    pub(crate) fn del_laddr(&self, reg: &mut PoolRegistry, addr: &Addr) -> Result<()> {
        let n = self.with(|i| i.laddrs.len());
        let mut v = KVec::with_capacity(n, GFP_KERNEL).map_err(|_| ENOMEM)?;
        let old = self.with(|i| {
            if !i.laddrs.iter().any(|l| l.addr == *addr) {
                return None;
            }
            for x in i.laddrs.iter().filter(|l| l.addr != *addr) {
                let _ = v.push(x.clone(), GFP_ATOMIC);
            }
            Some(core::mem::replace(&mut i.laddrs, v))
        });
        match old {
            Some(old) => {
                drop(old);
                reg.release(addr);
                Ok(())
            }
            None => Err(Error::new(
                Errno::Enoent,
                c"IPVS_RS_LADDR_ATTR_ADDR: the service has no such local address",
            )),
        }
    }

    /// The `i`th local address.
    pub(crate) fn laddr_at(&self, i: usize) -> Option<Arc<Laddr>> {
        self.with(|inner| inner.laddrs.get(i).cloned())
    }

    /// Extension settings.
    pub(crate) fn ext(&self) -> SvcExt {
        self.with(|i| i.ext)
    }

    /// Sets the extension settings.
    pub(crate) fn set_ext(&self, ext: SvcExt) {
        self.with(|i| i.ext = ext);
        self.ext_counters.toa.store(ext.toa, Ordering::Relaxed);
        self.ext_counters
            .synproxy_on
            .store(ext.synproxy, Ordering::Relaxed);
        self.ext_counters
            .proxy
            .store(ext.proxy.raw(), Ordering::Relaxed);
    }

    /// The PROXY protocol header the service's new connections get.
    pub(crate) fn proxy_version(&self) -> ProxyVersion {
        ProxyVersion::from_raw(self.ext_counters.proxy.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// Whether the service is a SYNPROXY service.
    pub(crate) fn synproxy_on(&self) -> bool {
        self.ext_counters.synproxy_on.load(Ordering::Relaxed)
    }

    /// Whether FULLNAT TCP connections get the TOA option.
    pub(crate) fn toa_on(&self) -> bool {
        self.ext_counters.toa.load(Ordering::Relaxed)
    }

    /// Extension counters.
    pub(crate) fn ext_counters(&self) -> SvcExtCounters {
        let c = &self.ext_counters;
        SvcExtCounters {
            toa_written: c.toa_written.load(Ordering::Relaxed),
            toa_skipped: c.toa_skipped.load(Ordering::Relaxed),
            fnat_exhausted: c.fnat_exhausted.load(Ordering::Relaxed),
            laddrs: self.with(|i| i.laddrs.len()) as u32,
            synproxy: c.synproxy.get(),
            proxy_sent: c.proxy_sent.load(Ordering::Relaxed),
            proxy_resent: c.proxy_resent.load(Ordering::Relaxed),
        }
    }
}

/// `lblcr` cache slots allocated per service.
const LBLCR_SLOTS_USED: usize = 4096;

fn sched_error(e: SchedError) -> Error {
    let msg = match e {
        SchedError::TooManyDests => {
            c"IPVS_CMD_ATTR_DEST: more real servers than the mh table has slots"
        }
        SchedError::ScratchTooSmall => c"ipvs_rs: out of memory",
        _ => c"ipvs_rs: scheduler storage mismatch",
    };
    Error::new(e.errno(), msg)
}

/// A scheduler for `conf` over `dests`, built outside any spinlock.
fn new_sched(
    key: &ServiceKey,
    conf: &ServiceConf,
    dests: &[DestEntry],
) -> Result<Option<SchedState<KStorage>>> {
    let Some(kind) = SchedKind::from_name(conf.sched.as_str()) else {
        // "none": no scheduler, every new connection fails.
        return Ok(None);
    };
    let backing = match kind.storage_need() {
        StorageNeed::None => Backing::None,
        StorageNeed::Table { len } => Backing::Table(ktable(len, NO_DEST)?),
        StorageNeed::Lblc { slots } => Backing::Lblc(ktable(slots, LblcSlot::EMPTY)?),
        // 4096 slots (928 KiB) rather than upstream's 32768 (7.25 MiB): the
        // cache limits scale down proportionally.
        StorageNeed::Lblcr { slots } => {
            Backing::Lblcr(ktable(slots.min(LBLCR_SLOTS_USED), LblcrSlot::EMPTY)?)
        }
    };
    let mut scratch =
        KVec::from_elem(0u32, kind.scratch_len(dests.len()), GFP_KERNEL).map_err(|_| ENOMEM)?;
    let cfg = SchedConfig {
        af: key.af(),
        hz: u64::from(rcu::hz()),
        hash_seed: rcu::random_u64(),
    };
    SchedState::new(kind, backing, &cfg, &DestList(dests), &mut scratch)
        .map(Some)
        .map_err(sched_error)
}

/// The services the packet path looks up, published by RCU.
pub(crate) struct Snapshot {
    pub(crate) list: KVec<Arc<SvcRt>>,
}

/// The service with `key` in a list.
fn find<'a>(list: &'a KVec<Arc<SvcRt>>, key: &ServiceKey) -> Option<&'a Arc<SvcRt>> {
    list.iter().find(|s| s.key == *key)
}

impl Snapshot {
    /// The service for a packet: by protocol, address and port, or by mark.
    pub(crate) fn find(&self, key: &ServiceKey) -> Option<&Arc<SvcRt>> {
        find(&self.list, key)
    }
}

/// All services of a namespace, in the order they were added.
pub(crate) struct Services {
    pub(crate) list: KVec<Arc<SvcRt>>,
    /// Real servers removed while connections still used them (upstream's
    /// `dest_trash`): adding the same server back to the same service
    /// revives it, with its connections and counters.
    trash: KVec<(ServiceKey, Arc<DestRt>)>,
    /// The FULLNAT local addresses' port pools, shared by the services.
    pub(crate) laddr_pools: PoolRegistry,
    /// The namespace's netfilter hooks are registered (with its first
    /// service, until the namespace goes: `netns::ensure_hooks`).
    pub(crate) hooks: bool,
}

impl Services {
    pub(crate) fn new() -> Self {
        Services {
            list: KVec::new(),
            trash: KVec::new(),
            laddr_pools: PoolRegistry::new(),
            hooks: false,
        }
    }

    /// Drops trashed real servers, and local addresses' pools no service
    /// lists, that no connection uses any more.
    pub(crate) fn purge_trash(&mut self) {
        self.laddr_pools.purge();
        let mut i = 0;
        while i < self.trash.len() {
            if self.trash.get(i).is_some_and(|(_, d)| d.unused()) {
                let _ = kvec::remove(&mut self.trash, i);
            } else {
                i += 1;
            }
        }
    }

    /// Retires a removed real server of service `svc`.
    fn trash(&mut self, svc: &ServiceKey, dest: Arc<DestRt>) {
        dest.available.store(false, Ordering::Release);
        if !dest.unused() {
            // Without memory the server is simply not revivable.
            let _ = self.trash.push((*svc, dest), GFP_KERNEL);
        }
    }

    /// A trashed real server to revive.
    fn revive(&mut self, svc: &ServiceKey, key: &DestKey) -> Option<Arc<DestRt>> {
        let i = self
            .trash
            .iter()
            .position(|(s, d)| s == svc && d.key == *key)?;
        kvec::remove(&mut self.trash, i).map(|(_, d)| d)
    }

    pub(crate) fn find(&self, key: &ServiceKey) -> Option<&Arc<SvcRt>> {
        find(&self.list, key)
    }

    fn get(&self, i: usize) -> Option<&Arc<SvcRt>> {
        self.list.get(i)
    }
}

/// The RCU-published snapshot pointer of a namespace.
pub(crate) struct Published(AtomicPtr<Snapshot>);

impl Published {
    pub(crate) const fn new() -> Self {
        Published(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// The current snapshot. The caller must be in an RCU read-side section
    /// (netfilter hooks are) for as long as it uses the result.
    pub(crate) fn get(&self) -> Option<&Snapshot> {
        // SAFETY: the pointer is NULL or from KBox::into_raw in publish();
        // a replaced snapshot is freed only after synchronize_rcu(), so it
        // outlives every reader that could have loaded it.
        unsafe { self.0.load(Ordering::Acquire).as_ref() }
    }

    /// Publishes a copy of `services`; frees the old one after a grace
    /// period. Process context, under the control mutex.
    pub(crate) fn publish(&self, services: &Services) -> Result<()> {
        let mut list = KVec::with_capacity(services.list.len(), GFP_KERNEL).map_err(|_| ENOMEM)?;
        for s in services.list.iter() {
            list.push(s.clone(), GFP_KERNEL).map_err(|_| ENOMEM)?;
        }
        let snap = KBox::new(Snapshot { list }, GFP_KERNEL).map_err(|_| ENOMEM)?;
        let old = self.0.swap(KBox::into_raw(snap), Ordering::AcqRel);
        self.retire(old);
        Ok(())
    }

    /// Unpublishes (namespace exit).
    pub(crate) fn clear(&self) {
        let old = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        self.retire(old);
    }

    fn retire(&self, old: *mut Snapshot) {
        if !old.is_null() {
            rcu::synchronize_rcu();
            // SAFETY: from KBox::into_raw; no reader can still hold it
            // after the grace period.
            drop(unsafe { KBox::from_raw(old) });
        }
    }
}

/// The table plus the namespace state the write commands touch.
pub(crate) struct ControlTable<'a> {
    pub(crate) services: &'a mut Services,
    pub(crate) st: &'a NetState,
}

/// A copy of a service's settings and real servers, with room for `extra`
/// more. Allocates before taking the spinlock (the number of real servers
/// only changes under the control mutex, which the caller holds), so that
/// nothing sleeps under it.
fn copy_dests(s: &SvcRt, extra: usize) -> Result<(ServiceConf, KVec<DestEntry>)> {
    let n = s.with(|i| i.dests.len());
    let mut v = KVec::with_capacity(n + extra, GFP_KERNEL).map_err(|_| ENOMEM)?;
    let conf = s.with(|i| {
        for d in i.dests.iter() {
            // Within the capacity reserved above: no allocation happens.
            v.push(
                DestEntry {
                    rt: d.rt.clone(),
                    conf: d.conf,
                    last_weight: d.last_weight,
                },
                GFP_ATOMIC,
            )
            .map_err(|_| ENOMEM)?;
        }
        Ok::<_, Error>(i.conf)
    })?;
    Ok((conf, v))
}

impl ControlTable<'_> {
    /// Replaces a service's real servers with an edited copy and tells its
    /// scheduler what changed (upstream's `add_dest`/`del_dest`/`upd_dest`
    /// hooks: `rr` keeps its place, `lblc` its cache, `mh` moves only the
    /// changed server's slots). Everything that allocates happens before
    /// the spinlock; on error nothing changes. Returns the removed entry.
    fn replace_dests(
        &mut self,
        svc: usize,
        edit: impl FnOnce(&mut KVec<DestEntry>) -> Result<(DestChange, Option<DestEntry>)>,
    ) -> Result<Option<DestEntry>> {
        let Some(s) = self.services.get(svc) else {
            return Ok(None);
        };
        let (conf, mut dests) = copy_dests(s, 1)?;
        let (change, removed) = edit(&mut dests)?;
        let kind = SchedKind::from_name(conf.sched.as_str());
        let mut scratch = KVec::from_elem(
            0u32,
            kind.map_or(0, |k| k.scratch_len(dests.len())),
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        // The old vector is freed after the lock is dropped.
        let old = s.with(|i| {
            let old = core::mem::replace(&mut i.dests, dests);
            if let Some(sched) = i.sched.as_mut() {
                if let Err(e) = sched.update(&DestList(&i.dests), change, &mut scratch) {
                    // As upstream, the scheduler keeps its tables; undo.
                    return Err((core::mem::replace(&mut i.dests, old), e));
                }
            }
            Ok(old)
        });
        match old {
            Ok(old) => drop(old),
            Err((new, e)) => {
                drop(new);
                return Err(sched_error(e));
            }
        }
        Ok(removed)
    }

    fn republish(&mut self) -> Result<()> {
        self.st.published.publish(self.services)
    }

    /// With `expire_nodest_conn`, connections to removed servers expire
    /// now rather than at their next packet (upstream's
    /// `ip_vs_expire_nodest_conn_flush`).
    fn expire_nodest(&self) {
        if self.st.sysctl.on(Sysctl::ExpireNodestConn) {
            self.st.conns.expire_nodest();
        }
    }
}

impl Table for ControlTable<'_> {
    type Svc = usize;

    fn find_service(&self, key: &ServiceKey) -> Option<usize> {
        self.services.list.iter().position(|s| s.key == *key)
    }

    fn service_conf(&self, svc: usize) -> ServiceConf {
        match self.services.get(svc) {
            Some(s) => s.with(|i| i.conf),
            // Handles come from find_service under the control mutex.
            None => ServiceConf {
                sched: Default::default(),
                pe: Default::default(),
                flags: 0,
                timeout: 0,
                netmask: 0,
            },
        }
    }

    fn sched_known(&self, name: &str) -> bool {
        SchedKind::from_name(name).is_some()
    }

    fn add_service(&mut self, key: ServiceKey, conf: ServiceConf) -> Result<()> {
        let sched = new_sched(&key, &conf, &[])?;
        let stats = AtomicStats::new().map_err(|_| ENOMEM)?;
        let svc = Arc::pin_init(
            pin_init!(SvcRt {
                key,
                inner <- new_spinlock!(
                    SvcInner {
                        conf,
                        dests: KVec::new(),
                        sched,
                        laddrs: KVec::new(),
                        laddr_next: 0,
                        ext: SvcExt::default(),
                    },
                    "ipvs_rs::service"
                ),
                stats,
                ext_counters: ExtCounters::default(),
            }),
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        self.services
            .list
            .push(svc, GFP_KERNEL)
            .map_err(|_| ENOMEM)?;
        if let Err(e) = self.republish() {
            let last = self.services.list.len().wrapping_sub(1);
            let _ = kvec::remove(&mut self.services.list, last);
            return Err(e);
        }
        Ok(())
    }

    fn edit_service(&mut self, svc: usize, conf: ServiceConf) -> Result<()> {
        let Some(s) = self.services.get(svc) else {
            return Ok(());
        };
        let (old_conf, dests) = copy_dests(s, 0)?;
        let sched = if old_conf.sched == conf.sched && old_conf.flags == conf.flags {
            None
        } else {
            Some(new_sched(&s.key, &conf, &dests)?)
        };
        let old = s.with(|i| {
            i.conf = conf;
            sched.map(|new| core::mem::replace(&mut i.sched, new))
        });
        drop(old);
        Ok(())
    }

    fn del_service(&mut self, svc: usize) {
        if let Some(s) = kvec::remove(&mut self.services.list, svc) {
            // On failure to allocate the new snapshot the old one (still
            // listing the service) stays: the service keeps working until
            // the next change, rather than failing the delete.
            let _ = self.republish();
            let (dests, laddrs) = s.with(|i| {
                (
                    core::mem::take(&mut i.dests),
                    core::mem::take(&mut i.laddrs),
                )
            });
            for d in dests.into_iter() {
                self.services.trash(&s.key, d.rt);
            }
            // Its connections keep their local ports (and the pools) until
            // they end.
            for l in laddrs.iter() {
                self.services.laddr_pools.release(&l.addr);
            }
            self.expire_nodest();
        }
    }

    fn has_dest(&self, svc: usize, key: &DestKey) -> bool {
        self.services
            .get(svc)
            .is_some_and(|s| s.with(|i| i.dests.iter().any(|d| d.rt.key == *key)))
    }

    fn add_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        if let Some(s) = self.services.get(svc) {
            crate::synproxy::check_dest(s, &conf)?;
            crate::proxy_protocol::check_dest(s, &conf)?;
        }
        let Some(svc_key) = self.services.get(svc).map(|s| s.key) else {
            return Ok(());
        };
        let revived = self.services.revive(&svc_key, &key);
        let rt = match &revived {
            Some(rt) => rt.clone(),
            None => DestRt::new(key, &conf)?,
        };
        let res = self.replace_dests(svc, |dests| {
            // Upstream puts a new server at the head of the list.
            // Within the capacity copy_dests reserved: no allocation.
            kvec::push_front(
                dests,
                DestEntry {
                    rt: rt.clone(),
                    conf,
                    last_weight: conf.weight,
                },
                GFP_KERNEL,
            )
            .map_err(|_| ENOMEM)?;
            Ok((DestChange::Added(0), None))
        });
        match (res, revived) {
            (Ok(_), Some(rt)) => {
                rt.configure(&conf);
                rt.available.store(true, Ordering::Release);
                Ok(())
            }
            (Ok(_), None) => Ok(()),
            (Err(e), Some(rt)) => {
                self.services.trash(&svc_key, rt);
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    fn edit_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        if let Some(s) = self.services.get(svc) {
            crate::synproxy::check_dest(s, &conf)?;
            crate::proxy_protocol::check_dest(s, &conf)?;
        }
        self.replace_dests(svc, |dests| {
            let i = dests.iter().position(|d| d.rt.key == key);
            if let Some(d) = i.and_then(|i| dests.get_mut(i)) {
                if conf.weight > 0 {
                    d.last_weight = conf.weight;
                }
                d.conf = conf;
                d.rt.configure(&conf);
            }
            Ok((i.map_or(DestChange::Reset, DestChange::Updated), None))
        })?;
        Ok(())
    }

    fn del_dest(&mut self, svc: usize, key: DestKey) {
        let removed = self.replace_dests(svc, |dests| {
            let Some(i) = dests.iter().position(|d| d.rt.key == key) else {
                return Ok((DestChange::Reset, None));
            };
            Ok((DestChange::Removed(i), kvec::remove(dests, i)))
        });
        let Some(svc_key) = self.services.get(svc).map(|s| s.key) else {
            return;
        };
        if let Ok(Some(d)) = removed {
            self.services.trash(&svc_key, d.rt);
            self.expire_nodest();
        }
    }

    fn zero_service(&mut self, svc: usize) {
        if let Some(s) = self.services.get(svc) {
            s.stats.zero();
            s.with(|i| i.dests.iter().for_each(|d| d.rt.stats.zero()));
        }
    }

    fn zero_all(&mut self) {
        for i in 0..self.services.list.len() {
            self.zero_service(i);
        }
        self.st.total.zero();
    }

    fn flush(&mut self) {
        while !self.services.list.is_empty() {
            self.del_service(self.services.list.len() - 1);
        }
    }

    fn set_timeouts(&mut self, timeouts: [Option<u32>; 3]) {
        self.st.timeouts.set(timeouts);
    }
}
