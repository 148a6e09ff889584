// SPDX-License-Identifier: GPL-2.0
//! The module parameters (declared in the shim): `enabled` (writable at
//! run time in `/sys/module/toa_rs/parameters/`) and `max_entries`.

use crate::bindings;
use core::sync::atomic::{AtomicU32, Ordering};
use ipvs_core::toa::{MAX_ENTRIES_DEFAULT, MAX_ENTRIES_RANGE};
use kernel::prelude::*;

static MAX_ENTRIES: AtomicU32 = AtomicU32::new(MAX_ENTRIES_DEFAULT);

/// Whether new connections are tagged.
pub(crate) fn enabled() -> bool {
    // SAFETY: reads a module parameter (READ_ONCE in the shim).
    unsafe { bindings::toa_rs_param_enabled() }
}

/// Reads `max_entries` at load; out of range falls back to the default
/// with a warning.
pub(crate) fn configure() {
    // SAFETY: reads a module parameter.
    let raw = unsafe { bindings::toa_rs_param_max_entries() };
    let v = if MAX_ENTRIES_RANGE.contains(&raw) {
        raw
    } else {
        pr_warn!(
            "max_entries={} out of range {}..{}, using {}\n",
            raw,
            MAX_ENTRIES_RANGE.start(),
            MAX_ENTRIES_RANGE.end(),
            MAX_ENTRIES_DEFAULT
        );
        MAX_ENTRIES_DEFAULT
    };
    MAX_ENTRIES.store(v, Ordering::Relaxed);
}

/// The most tagged sockets at once.
pub(crate) fn max_entries() -> u32 {
    MAX_ENTRIES.load(Ordering::Relaxed)
}
