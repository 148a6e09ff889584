// SPDX-License-Identifier: GPL-2.0
//! The per-namespace periodic work: every 2 seconds the rate estimators
//! of the namespace, its services and real servers (upstream's
//! `ip_vs_est.c`, gated by `run_estimation`), and every 60 seconds the
//! expiry of stale `lblc`/`lblcr` cache entries (their `periodic_timer`).
//!
//! It runs on a workqueue (process context) and takes the control mutex,
//! which also serialises it with `ipvsadm -Z`.

use crate::kbind::bindings;
use crate::kbind::rcu;
use crate::netns::NetState;
use crate::sysctl::Sysctl;
use core::sync::atomic::Ordering;
use ipvs_core::estimator::TICK_SECS;
use ipvs_core::sched::SchedKind;
use kernel::types::Opaque;

/// Seconds between two cache expiry runs.
const EXPIRE_SECS: u32 = 60;

/// Sets up the work item (namespace init, before [`start`]).
pub(crate) fn init(work: &Opaque<bindings::delayed_work>) {
    // SAFETY: the work item lives in the pinned namespace state and is
    // initialised once, before it is queued.
    unsafe { bindings::ipvs_rs_delayed_work_init(work.get(), Some(periodic_work)) };
}

/// Queues the next run.
pub(crate) fn start(st: &NetState) {
    let delay = u64::from(TICK_SECS) * u64::from(rcu::hz());
    // SAFETY: initialised by init(); cancelled before the state is freed.
    unsafe { bindings::ipvs_rs_schedule_delayed_work(st.work.get(), delay as _) };
}

/// Stops the work for good (namespace exit, process context).
pub(crate) fn stop(st: &NetState) {
    st.stopping.store(true, Ordering::SeqCst);
    // SAFETY: initialised by init(). cancel_delayed_work_sync also waits
    // for a running instance, which sees `stopping` and does not requeue.
    unsafe { bindings::cancel_delayed_work_sync(st.work.get()) };
}

fn run(st: &NetState) {
    let ticks = st.ticks.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    let estimate = st.sysctl.on(Sysctl::RunEstimation);
    let expire = ticks % (EXPIRE_SECS / TICK_SECS) == 0;
    let now = rcu::jiffies();
    let lblc = u64::try_from(st.sysctl.get(Sysctl::LblcExpiration)).ok();
    let lblcr = u64::try_from(st.sysctl.get(Sysctl::LblcrExpiration)).ok();
    let services = st.services.lock();
    if estimate {
        st.total.tick();
    }
    for s in services.list.iter() {
        if estimate {
            s.stats.tick();
        }
        s.with(|inner| {
            if estimate {
                inner.dests.iter().for_each(|d| d.rt.stats.tick());
            }
            if let (true, Some(sched)) = (expire, inner.sched.as_mut()) {
                let exp = match sched.kind() {
                    SchedKind::Lblcr => lblcr,
                    _ => lblc,
                };
                sched.expire(now, exp);
            }
        });
    }
    drop(services);
    // SYNPROXY: a fresh cookie key every few minutes.
    st.synproxy.rotate_if_due();
    // Real servers removed from their service still count for the
    // connections they keep; purge those whose connections are all gone.
    st.purge_trash();
}

/// The work function.
///
/// # Safety
///
/// Called by the workqueue with the `work_struct` of a `NetState`'s
/// delayed work.
unsafe extern "C" fn periodic_work(w: *mut bindings::work_struct) {
    // SAFETY: the work item is the `work` field of a NetState (init()).
    let dw = unsafe { bindings::ipvs_rs_to_delayed_work(w) };
    let off = core::mem::offset_of!(NetState, work);
    // SAFETY: as above; the state outlives the work (stop() cancels it
    // synchronously before the state is freed).
    let st = unsafe { &*dw.cast::<u8>().sub(off).cast::<NetState>() };
    run(st);
    if !st.stopping.load(Ordering::SeqCst) {
        start(st);
    }
}
