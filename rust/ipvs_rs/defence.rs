// SPDX-License-Identifier: GPL-2.0
//! TCP flag-attack defence: packets to a virtual service with a flag
//! combination no TCP sends (`ipvs_core::packet::tcpflags`, Linux
//! conntrack's table) and non-SYN packets that match no connection
//! (ACK/RST/FIN floods) are dropped before any connection is created, and
//! counted here; `/proc/net/ip_vs_ext_stats` shows the counters.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::packet::tcpflags::InvalidFlags;

/// Drop counters of a namespace.
pub(crate) struct Defence {
    invalid: [AtomicU64; InvalidFlags::COUNT],
    no_conn: AtomicU64,
}

impl Defence {
    pub(crate) const fn new() -> Self {
        Defence {
            invalid: [const { AtomicU64::new(0) }; InvalidFlags::COUNT],
            no_conn: AtomicU64::new(0),
        }
    }

    /// A packet with an invalid flag combination was dropped.
    pub(crate) fn invalid(&self, class: InvalidFlags) {
        if let Some(c) = self.invalid.get(class.index()) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// A non-SYN TCP packet to a service matched no connection.
    pub(crate) fn no_conn(&self) {
        self.no_conn.fetch_add(1, Relaxed);
    }

    /// `/proc/net/ip_vs_ext_stats`: one `name value` line per counter.
    pub(crate) fn show(&self, w: &mut impl Write) -> fmt::Result {
        for class in InvalidFlags::ALL {
            let n = self
                .invalid
                .get(class.index())
                .map_or(0, |c| c.load(Relaxed));
            writeln!(w, "tcp_flags_{} {}", class.name(), n)?;
        }
        writeln!(w, "tcp_no_conn {}", self.no_conn.load(Relaxed))
    }
}
