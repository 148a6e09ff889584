// SPDX-License-Identifier: GPL-2.0
//! Counters of services and real servers, updated by the packet path
//! without locks.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::stats::Stats;

/// Connection, packet and byte counters.
#[derive(Default)]
pub(crate) struct AtomicStats {
    conns: AtomicU64,
    inpkts: AtomicU64,
    outpkts: AtomicU64,
    inbytes: AtomicU64,
    outbytes: AtomicU64,
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

    /// The counters (rates are not estimated yet: zero).
    pub(crate) fn get(&self) -> Stats {
        Stats {
            conns: self.conns.load(Relaxed),
            inpkts: self.inpkts.load(Relaxed),
            outpkts: self.outpkts.load(Relaxed),
            inbytes: self.inbytes.load(Relaxed),
            outbytes: self.outbytes.load(Relaxed),
            ..Stats::default()
        }
    }

    /// Zeroes the counters.
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
    }
}
