// SPDX-License-Identifier: GPL-2.0
//! `toa_rs`: runs on real servers behind a FULLNAT director and gives
//! applications the client address the director wrote into the TCP option
//! (kind 254, see `ipvs_core::toa`).
//!
//! The director rewrites client -> VIP into local address -> real server
//! and carries the client's endpoint in a TOA option on the handshake.
//! This module tags the sockets whose handshake carried one and makes
//! `accept()` and `getpeername()` on them report the client; every other
//! socket is left alone. Kprobes only: no kernel memory or ops table is
//! written. See `Documentation/toa_rs.rst`.
//!
//! - `probes.rs`: the probes and their handlers.
//! - `table.rs`: the table of tagged sockets.
//! - `lock.rs`: the lock the table's shards use from probe handlers.
//! - `stats.rs`: counters and `/proc/net/toa_stats`.
//! - `params.rs`: the module parameters.

// Module code never panics on input (checked by clippy-driver: the module
// build runs with CLIPPY=1), and every unsafe block says why it is sound.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

use kernel::prelude::*;

// The raw bindings only: kbind's wrappers reference ipvs_rs's shim.
#[path = "../kbind/bindings.rs"]
mod bindings;

mod lock;
mod params;
mod probes;
mod stats;
mod table;

module! {
    type: ToaRs,
    name: "toa_rs",
    author: "ipvs_rs developers",
    description: "TCP option address (TOA) for real servers behind ipvs_rs FULLNAT",
    license: "GPL",
}

/// The loaded module. Fields drop in declaration order: the statistics
/// file, then the probes (waiting for running handlers), then the table.
struct ToaRs {
    _proc: ProcFile,
    _probes: probes::Probes,
}

/// `/proc/net/toa_stats`, removed on drop.
struct ProcFile;

impl ProcFile {
    fn new() -> Result<Self> {
        // SAFETY: creates the file once; removed by `drop`.
        kernel::error::to_result(unsafe { bindings::toa_rs_proc_create() })?;
        Ok(ProcFile)
    }
}

impl Drop for ProcFile {
    fn drop(&mut self) {
        // SAFETY: created by `new`; waits for running readers.
        unsafe { bindings::toa_rs_proc_remove() };
    }
}

impl kernel::Module for ToaRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        params::configure();
        let table = KBox::new(table::Table::new(params::max_entries())?, GFP_KERNEL)?;
        let probes = probes::Probes::new(table)?;
        let proc = ProcFile::new()?;
        pr_info!(
            "loaded (TOA option kind {}, length {}; up to {} tagged sockets)\n",
            ipvs_core::toa::TOA_KIND,
            ipvs_core::toa::TOA_LEN_V4,
            params::max_entries()
        );
        Ok(ToaRs {
            _proc: proc,
            _probes: probes,
        })
    }
}

impl Drop for ToaRs {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
