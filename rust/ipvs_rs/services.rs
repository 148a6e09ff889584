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

use crate::kbind::kvec;
use crate::kbind::rcu::{self, BhGuard};
use crate::netns::AtomicTimeouts;
use crate::stats::AtomicStats;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use ipvs_core::control::Table;
use ipvs_core::errno::{Errno, Error, Result};
use ipvs_core::netlink::service::DestConns;
use ipvs_core::sched::{
    lblc::LblcSlot, lblcr::LblcrSlot, Backing, DestView, Dests, SchedConfig, SchedError, SchedKind,
    SchedState, Storage, StorageNeed, NO_DEST,
};
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
pub(crate) struct KTable<T>(KVVec<T>);

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

/// What the packet path changes on a real server without locks.
pub(crate) struct DestRt {
    pub(crate) key: DestKey,
    pub(crate) active: AtomicU32,
    pub(crate) inactive: AtomicU32,
    pub(crate) persist: AtomicU32,
    pub(crate) stats: AtomicStats,
}

impl DestRt {
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
        let c = self.rt.conns();
        let total = u64::from(c.active) + u64::from(c.inactive);
        DestView {
            addr: self.rt.key.addr,
            port: self.rt.key.port,
            weight: self.conf.weight,
            last_weight: self.last_weight,
            active: c.active,
            inactive: c.inactive,
            overloaded: self.conf.u_thresh != 0 && total >= u64::from(self.conf.u_thresh),
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
}

/// A service's settings, real servers and scheduler.
pub(crate) struct SvcInner {
    pub(crate) conf: ServiceConf,
    pub(crate) dests: KVec<DestEntry>,
    pub(crate) sched: Option<SchedState<KStorage>>,
}

/// A virtual service.
#[pin_data]
pub(crate) struct SvcRt {
    pub(crate) key: ServiceKey,
    #[pin]
    pub(crate) inner: SpinLock<SvcInner>,
    pub(crate) stats: AtomicStats,
}

impl SvcRt {
    /// Runs `f` on the service's inner state, bottom halves off.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SvcInner) -> R) -> R {
        let _bh = BhGuard::new();
        let mut g = self.inner.lock();
        f(&mut g)
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
}

impl Services {
    pub(crate) fn new() -> Self {
        Services { list: KVec::new() }
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

/// The table plus the namespace settings the write commands touch.
pub(crate) struct ControlTable<'a> {
    pub(crate) services: &'a mut Services,
    pub(crate) published: &'a Published,
    pub(crate) timeouts: &'a AtomicTimeouts,
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
    /// Replaces a service's real servers (and rebuilds its scheduler over
    /// them), building everything before taking the spinlock.
    fn replace_dests(
        &mut self,
        svc: usize,
        edit: impl FnOnce(&mut KVec<DestEntry>) -> Result<()>,
    ) -> Result<()> {
        let Some(s) = self.services.get(svc) else {
            return Ok(());
        };
        let (conf, mut dests) = copy_dests(s, 1)?;
        edit(&mut dests)?;
        let sched = new_sched(&s.key, &conf, &dests)?;
        // The old vector and scheduler are freed after the lock is dropped.
        let old = s.with(|i| {
            (
                core::mem::replace(&mut i.dests, dests),
                core::mem::replace(&mut i.sched, sched),
            )
        });
        drop(old);
        Ok(())
    }

    fn republish(&mut self) -> Result<()> {
        self.published.publish(self.services)
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
        let svc = Arc::pin_init(
            pin_init!(SvcRt {
                key,
                inner <- new_spinlock!(SvcInner { conf, dests: KVec::new(), sched }, "ipvs_rs::service"),
                stats: AtomicStats::default(),
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
        if kvec::remove(&mut self.services.list, svc).is_some() {
            // On failure to allocate the new snapshot the old one (still
            // listing the service) stays: the service keeps working until
            // the next change, rather than failing the delete.
            let _ = self.republish();
        }
    }

    fn has_dest(&self, svc: usize, key: &DestKey) -> bool {
        self.services
            .get(svc)
            .is_some_and(|s| s.with(|i| i.dests.iter().any(|d| d.rt.key == *key)))
    }

    fn add_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        let rt = Arc::new(
            DestRt {
                key,
                active: AtomicU32::new(0),
                inactive: AtomicU32::new(0),
                persist: AtomicU32::new(0),
                stats: AtomicStats::default(),
            },
            GFP_KERNEL,
        )
        .map_err(|_| ENOMEM)?;
        self.replace_dests(svc, |dests| {
            dests
                .push(
                    DestEntry {
                        rt,
                        conf,
                        last_weight: conf.weight,
                    },
                    GFP_KERNEL,
                )
                .map_err(|_| ENOMEM)
        })
    }

    fn edit_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        self.replace_dests(svc, |dests| {
            if let Some(d) = dests.iter_mut().find(|d| d.rt.key == key) {
                if conf.weight > 0 {
                    d.last_weight = conf.weight;
                }
                d.conf = conf;
            }
            Ok(())
        })
    }

    fn del_dest(&mut self, svc: usize, key: DestKey) {
        let _ = self.replace_dests(svc, |dests| {
            if let Some(i) = dests.iter().position(|d| d.rt.key == key) {
                let _ = kvec::remove(dests, i);
            }
            Ok(())
        });
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
    }

    fn flush(&mut self) {
        while !self.services.list.is_empty() {
            self.del_service(self.services.list.len() - 1);
        }
    }

    fn set_timeouts(&mut self, timeouts: [Option<u32>; 3]) {
        self.timeouts.set(timeouts);
    }
}
