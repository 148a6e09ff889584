// SPDX-License-Identifier: GPL-2.0
//! Counters of services, real servers and the namespace, and their rate
//! estimators.
//!
//! The counters are per CPU (the shim's `ipvs_rs_cpustats`, upstream's
//! `cpustats`): the packet path adds to its CPU's copy without atomics,
//! readers sum the copies. Zeroing (`ipvsadm -Z`) records the current sums
//! as a base, as upstream's `kstats0`, rather than writing other CPUs'
//! counters.
//!
//! The estimator state (`ipvs_core::estimator`) is kept in atomics: the
//! periodic work (`periodic.rs`) is its only writer besides zeroing, and
//! both run under the namespace's control mutex; readers only load it.

use crate::kbind::bindings;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::estimator::{Counters, Estimator};
use ipvs_core::stats::Stats;
use kernel::error::{code::ENOMEM, Result};

/// Connection, packet and byte counters, and the rate estimator.
pub(crate) struct AtomicStats {
    /// `struct ipvs_rs_cpustats __percpu *`, owned.
    pcpu: *mut c_void,
    base: [AtomicU64; 5],
    est: [AtomicU64; 10],
}

// SAFETY: the per-CPU area is only touched through the shim's this_cpu_*
// operations (writers) and per_cpu_ptr reads (readers); it lives until
// drop.
unsafe impl Send for AtomicStats {}
// SAFETY: as above.
unsafe impl Sync for AtomicStats {}

impl Drop for AtomicStats {
    fn drop(&mut self) {
        // SAFETY: allocated in new(), freed once here; no user remains
        // (the owner is being dropped).
        unsafe { bindings::ipvs_rs_stats_free(self.pcpu) };
    }
}

fn bytes(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl AtomicStats {
    /// Zeroed counters (process context).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation; NULL on failure.
        let pcpu = unsafe { bindings::ipvs_rs_stats_alloc() };
        if pcpu.is_null() {
            return Err(ENOMEM);
        }
        Ok(AtomicStats {
            pcpu,
            base: [const { AtomicU64::new(0) }; 5],
            est: [const { AtomicU64::new(0) }; 10],
        })
    }

    /// A new connection was scheduled: counted on `self` (a service),
    /// `dest` and `total` in one call.
    pub(crate) fn conn3(&self, dest: &AtomicStats, total: &AtomicStats) {
        // SAFETY: all three per-CPU areas are live (new()).
        unsafe { bindings::ipvs_rs_stats_conn3(self.pcpu, dest.pcpu, total.pcpu) }
    }

    /// A packet of `n` bytes counted on `self` (a service), `dest` and
    /// `total` in one call; `out`: to the client.
    pub(crate) fn packet3(&self, dest: &AtomicStats, total: &AtomicStats, n: usize, out: bool) {
        let n = bytes(n);
        if out {
            // SAFETY: all three per-CPU areas are live (new()).
            unsafe { bindings::ipvs_rs_stats3_out(self.pcpu, dest.pcpu, total.pcpu, n) }
        } else {
            // SAFETY: as above.
            unsafe { bindings::ipvs_rs_stats3_in(self.pcpu, dest.pcpu, total.pcpu, n) }
        }
    }

    fn sums(&self) -> [u64; 5] {
        let mut c = bindings::ipvs_rs_cpustats::default();
        // SAFETY: pcpu is live; `c` is a valid output.
        unsafe { bindings::ipvs_rs_stats_sum(self.pcpu, &mut c) };
        [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes]
    }

    fn counters(&self) -> Counters {
        let s = self.sums();
        let v = |i: usize| {
            s.get(i)
                .copied()
                .unwrap_or(0)
                .wrapping_sub(self.base.get(i).map_or(0, |b| b.load(Relaxed)))
        };
        Counters {
            conns: v(0),
            inpkts: v(1),
            outpkts: v(2),
            inbytes: v(3),
            outbytes: v(4),
        }
    }

    fn estimator(&self) -> Estimator {
        Estimator::from_words(core::array::from_fn(|i| {
            self.est.get(i).map_or(0, |w| w.load(Relaxed))
        }))
    }

    fn set_estimator(&self, e: &Estimator) {
        for (cell, w) in self.est.iter().zip(e.to_words()) {
            cell.store(w, Relaxed);
        }
    }

    /// One estimator tick (every `TICK_SECS`; under the control mutex).
    pub(crate) fn tick(&self) {
        let mut e = self.estimator();
        e.tick(&self.counters());
        self.set_estimator(&e);
    }

    /// The counters and estimated rates.
    pub(crate) fn get(&self) -> Stats {
        let c = self.counters();
        let mut s = Stats {
            conns: c.conns,
            inpkts: c.inpkts,
            outpkts: c.outpkts,
            inbytes: c.inbytes,
            outbytes: c.outbytes,
            ..Stats::default()
        };
        self.estimator().fill(&mut s);
        s
    }

    /// Zeroes the counters and the estimator (under the control mutex).
    pub(crate) fn zero(&self) {
        for (b, v) in self.base.iter().zip(self.sums()) {
            b.store(v, Relaxed);
        }
        self.set_estimator(&Estimator::new());
    }
}
