// SPDX-License-Identifier: GPL-2.0
//! Counters of services and real servers, updated by the packet path
//! without locks, and their rate estimators.
//!
//! The estimator state (`ipvs_core::estimator`) is kept in atomics: the
//! periodic work (`periodic.rs`) is its only writer besides zeroing, and
//! both run under the namespace's control mutex; readers (netlink dumps,
//! `/proc`) only load it.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::estimator::{Counters, Estimator};
use ipvs_core::stats::Stats;

/// Connection, packet and byte counters, and the rate estimator.
#[derive(Default)]
pub(crate) struct AtomicStats {
    conns: AtomicU64,
    inpkts: AtomicU64,
    outpkts: AtomicU64,
    inbytes: AtomicU64,
    outbytes: AtomicU64,
    est: [AtomicU64; 10],
}

impl AtomicStats {
    /// A new connection was scheduled.
    pub(crate) fn conn(&self) {
        self.conns.fetch_add(1, Relaxed);
    }

    /// A packet from the client of `bytes` bytes.
    pub(crate) fn inbound(&self, bytes: usize) {
        self.inpkts.fetch_add(1, Relaxed);
        self.inbytes.fetch_add(bytes as u64, Relaxed);
    }

    /// A packet to the client of `bytes` bytes.
    pub(crate) fn outbound(&self, bytes: usize) {
        self.outpkts.fetch_add(1, Relaxed);
        self.outbytes.fetch_add(bytes as u64, Relaxed);
    }

    fn counters(&self) -> Counters {
        Counters {
            conns: self.conns.load(Relaxed),
            inpkts: self.inpkts.load(Relaxed),
            outpkts: self.outpkts.load(Relaxed),
            inbytes: self.inbytes.load(Relaxed),
            outbytes: self.outbytes.load(Relaxed),
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
        for c in [
            &self.conns,
            &self.inpkts,
            &self.outpkts,
            &self.inbytes,
            &self.outbytes,
        ] {
            c.store(0, Relaxed);
        }
        self.set_estimator(&Estimator::new());
    }
}
