// SPDX-License-Identifier: GPL-2.0
//! The drop ledger of a namespace: every packet a hook drops is counted
//! under its reason (`ipvs_core::drops::DropReason`) by the hook entry
//! points (`hooks.rs`), and shown in `/proc/net/ip_vs_ext_stats`.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use ipvs_core::drops::DropReason;

/// Drop counters of a namespace, one per reason.
pub(crate) struct Drops {
    by_reason: [AtomicU64; DropReason::COUNT],
}

impl Drops {
    pub(crate) const fn new() -> Self {
        Drops {
            by_reason: [const { AtomicU64::new(0) }; DropReason::COUNT],
        }
    }

    /// A packet was dropped for `why`.
    pub(crate) fn count(&self, why: DropReason) {
        if let Some(c) = self.by_reason.get(why.index()) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// `drop_<reason> <n>` lines, then `drop_total <n>`.
    pub(crate) fn show(&self, w: &mut impl Write) -> fmt::Result {
        let mut total = 0u64;
        for why in DropReason::ALL {
            let n = self
                .by_reason
                .get(why.index())
                .map_or(0, |c| c.load(Relaxed));
            total = total.wrapping_add(n);
            writeln!(w, "drop_{} {}", why.name(), n)?;
        }
        writeln!(w, "drop_total {total}")
    }
}
