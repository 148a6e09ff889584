// SPDX-License-Identifier: GPL-2.0
//! `ipvs_rs`: an IPVS-class layer-4 load balancer (the director).
//!
//! Speaks upstream IPVS's generic netlink ABI (family `IPVS`, version 1), so
//! stock `ipvsadm` and `keepalived` drive it. State is per network
//! namespace. All decisions are made by the `ipvs_core` crate; the files of
//! this crate only connect it to the kernel:
//!
//! - `guard.rs`: refuses upstream `ip_vs` while loaded (they share the ABI).
//! - `netns.rs`: per-namespace state and its netfilter hooks.
//! - `hooks.rs`: the netfilter hook entry points.
//! - `drops.rs`: the drop ledger (every dropped packet by reason).
//! - `genl.rs`: the generic netlink family and its command handlers.
//! - `services.rs`: the service table the control plane edits.
//! - `procfs.rs`: `/proc/net/ip_vs*` in upstream's text format.

// Module code never panics on input (checked by clippy-driver: the module
// build runs with CLIPPY=1), and every unsafe block says why it is sound.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]
// The pin-initialiser of the per-namespace state (`netns.rs`) has more
// fields than the default macro recursion limit allows.
#![recursion_limit = "256"]

use kernel::prelude::*;

#[path = "../kbind/mod.rs"]
pub mod kbind;

mod conn;
mod dataplane;
mod defence;
mod drops;
mod fnat;
mod genl;
mod genl_ext;
mod guard;
mod hooks;
mod icmp;
mod netns;
mod periodic;
mod persist;
mod procfs;
mod proxy_protocol;
mod services;
mod stats;
mod synproxy;
mod sysctl;
mod xmit;

module! {
    type: IpvsRs,
    name: "ipvs_rs",
    author: "ipvs_rs developers",
    description: "IPVS-class layer-4 load balancer (director)",
    license: "GPL",
}

/// The loaded module: its registrations, undone in field order on unload
/// (fields drop in declaration order, the reverse of registration).
struct IpvsRs {
    _genl_ext: genl_ext::Registration,
    _genl: genl::Registration,
    _pernet: netns::Registration,
    _conn_cache: conn::ConnCache,
    _guard: guard::Registration,
}

impl kernel::Module for IpvsRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        netns::configure_from_params();
        // Refuse upstream ip_vs from now on, then take the ABI: if ip_vs is
        // already loaded, registering the family fails and nothing stays
        // (before any namespace state, whose /proc files would collide with
        // ip_vs's). Commands arriving before a namespace is set up get
        // ENODEV.
        let guard = guard::Registration::new()?;
        let genl = genl::Registration::new()?;
        let genl_ext = genl_ext::Registration::new()?;
        let conn_cache = conn::ConnCache::new()?;
        let pernet = netns::Registration::new()?;
        pr_info!(
            "IPVS ABI {} loaded, connection table size {}\n",
            "1.2.1",
            netns::conn_tab_size()
        );
        Ok(Self {
            _genl_ext: genl_ext,
            _genl: genl,
            _pernet: pernet,
            _conn_cache: conn_cache,
            _guard: guard,
        })
    }
}

impl Drop for IpvsRs {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
