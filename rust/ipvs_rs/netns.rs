// SPDX-License-Identifier: GPL-2.0
//! Per network namespace state, like upstream's `struct netns_ipvs`.
//!
//! The shim registers a pernet subsystem with one pointer of storage per
//! namespace; `ipvs_rs_net_init` puts a boxed [`NetState`] there,
//! `ipvs_rs_net_exit` frees it. The netfilter hooks are registered in a
//! namespace with its first virtual service ([`ensure_hooks`]), as upstream
//! does since 5.8, so namespaces without services (clients, real servers
//! on the same host) pay nothing per packet; they stay until the namespace
//! goes, so connections outliving their service are still translated.

use crate::conn::ConnTable;
use crate::defence::Defence;
use crate::drops::Drops;
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu;
use crate::periodic;
use crate::services::{Published, Services};
use crate::stats::AtomicStats;
use crate::sysctl::Sysctls;
use core::ffi::c_int;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use ipvs_core::config::{self, Timeouts};
use kernel::error::{to_result, Result};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::Opaque;

/// `conn_tab_bits` after validation, set once at module init.
static CONN_TAB_BITS: AtomicU32 = AtomicU32::new(config::CONN_TAB_BITS_DEFAULT);

/// Reads and validates the module parameters (before any namespace exists).
pub(crate) fn configure_from_params() {
    // SAFETY: plain read of a module parameter through the shim.
    let requested = unsafe { bindings::ipvs_rs_param_conn_tab_bits() };
    let bits = config::conn_tab_bits(requested).unwrap_or_else(|default| {
        pr_warn!(
            "conn_tab_bits={} out of range {}..{}, using {}\n",
            requested,
            config::CONN_TAB_BITS_MIN,
            config::CONN_TAB_BITS_MAX,
            default
        );
        default
    });
    CONN_TAB_BITS.store(bits, Ordering::Relaxed);
}

/// The most connections a namespace may hold (module parameter `conn_max`).
pub(crate) fn conn_max() -> u32 {
    // SAFETY: plain read of a module parameter through the shim.
    unsafe { bindings::ipvs_rs_param_conn_max() }
}

/// Number of connection table buckets per namespace.
pub(crate) fn conn_tab_size() -> u32 {
    config::conn_tab_size(CONN_TAB_BITS.load(Ordering::Relaxed))
}

/// The timeouts `ipvsadm --set` manages, readable without a lock.
pub(crate) struct AtomicTimeouts {
    tcp: AtomicU32,
    tcp_fin: AtomicU32,
    udp: AtomicU32,
}

impl AtomicTimeouts {
    fn new(t: Timeouts) -> Self {
        Self {
            tcp: AtomicU32::new(t.tcp),
            tcp_fin: AtomicU32::new(t.tcp_fin),
            udp: AtomicU32::new(t.udp),
        }
    }

    /// Sets the values given (`None`: unchanged).
    pub(crate) fn set(&self, t: [Option<u32>; 3]) {
        let [tcp, tcp_fin, udp] = t;
        for (cell, v) in [(&self.tcp, tcp), (&self.tcp_fin, tcp_fin), (&self.udp, udp)] {
            if let Some(v) = v {
                cell.store(v, Ordering::Relaxed);
            }
        }
    }

    /// A snapshot of the current values.
    pub(crate) fn get(&self) -> Timeouts {
        Timeouts {
            tcp: self.tcp.load(Ordering::Relaxed),
            tcp_fin: self.tcp_fin.load(Ordering::Relaxed),
            udp: self.udp.load(Ordering::Relaxed),
        }
    }
}

/// Everything `ipvs_rs` keeps for one network namespace.
#[pin_data]
pub(crate) struct NetState {
    /// Connection table buckets (fixed for the namespace's life).
    pub(crate) conn_tab_size: u32,
    /// Global timeouts.
    pub(crate) timeouts: AtomicTimeouts,
    /// The service table; the control plane's lock.
    #[pin]
    pub(crate) services: Mutex<Services>,
    /// The services as the packet path sees them (RCU).
    pub(crate) published: Published,
    /// Namespace totals (`/proc/net/ip_vs_stats`).
    pub(crate) total: AtomicStats,
    /// The connection table.
    #[pin]
    pub(crate) conns: ConnTable,
    /// `/proc/sys/net/ipv4/vs/*`.
    pub(crate) sysctl: Sysctls,
    /// TCP flag-attack defence counters.
    pub(crate) defence: Defence,
    /// The drop ledger: every dropped packet by reason.
    pub(crate) drops: Drops,
    /// SYNPROXY: cookie secret and namespace counters.
    pub(crate) synproxy: crate::synproxy::NetSynproxy,
    /// FULLNAT replies' routes by client address.
    pub(crate) client_routes: crate::kbind::route_cache::RouteCache,
    /// The periodic work (`periodic.rs`) and its state.
    pub(crate) work: Opaque<bindings::delayed_work>,
    pub(crate) stopping: AtomicBool,
    pub(crate) ticks: AtomicU32,
}

impl NetState {
    /// The state of `net`, if `ipvs_rs` has set it up.
    pub(crate) fn get<'a>(net: NetRef<'a>) -> Option<&'a NetState> {
        // SAFETY: the slot holds NULL or a pointer from KBox::into_raw in
        // ipvs_rs_net_init, freed only in ipvs_rs_net_exit once the
        // namespace is dead, i.e. after every caller holding `net` is gone.
        unsafe { (*net.slot()).cast::<NetState>().as_ref() }
    }

    /// Drops removed real servers that no connection uses any more.
    pub(crate) fn purge_trash(&self) {
        self.services.lock().purge_trash();
    }
}

/// The registered pernet subsystem.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the ops are a static of the shim; unregistered in drop.
        to_result(unsafe {
            bindings::register_pernet_subsys(core::ptr::addr_of_mut!(bindings::ipvs_rs_pernet_ops))
        })?;
        Ok(Self)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in new(); runs ipvs_rs_net_exit for every namespace.
        unsafe {
            bindings::unregister_pernet_subsys(core::ptr::addr_of_mut!(
                bindings::ipvs_rs_pernet_ops
            ))
        };
    }
}

/// Registers the namespace's netfilter hooks unless they are (before its
/// first service is added; process context, under the control mutex that
/// guards `services`). On error nothing changed.
pub(crate) fn ensure_hooks(net: NetRef<'_>, services: &mut Services) -> Result {
    if services.hooks {
        return Ok(());
    }
    // SAFETY: the ops array is a static of the shim with
    // ipvs_rs_nf_ops_count entries; the state the hooks read is in the
    // namespace's slot since ipvs_rs_net_init; unregistered in
    // ipvs_rs_net_exit.
    to_result(unsafe {
        bindings::nf_register_net_hooks(
            net.as_ptr(),
            bindings::ipvs_rs_nf_ops.as_ptr(),
            bindings::ipvs_rs_nf_ops_count,
        )
    })?;
    services.hooks = true;
    Ok(())
}

fn unregister_hooks(net: NetRef<'_>) {
    // SAFETY: registered for this namespace by ensure_hooks().
    unsafe {
        bindings::nf_unregister_net_hooks(
            net.as_ptr(),
            bindings::ipvs_rs_nf_ops.as_ptr(),
            bindings::ipvs_rs_nf_ops_count,
        )
    };
    // A hook may still run on another CPU; wait for it before the state
    // it reads goes away.
    // SAFETY: process context, no locks held.
    unsafe { bindings::synchronize_net() };
}

fn net_init(net: NetRef<'_>) -> Result {
    let conns = ConnTable::new(CONN_TAB_BITS.load(Ordering::Relaxed), conn_max())?;
    let state = KBox::pin_init(
        try_pin_init!(NetState {
            conn_tab_size: conn_tab_size(),
            timeouts: AtomicTimeouts::new(Timeouts::DEFAULT),
            services <- new_mutex!(Services::new(), "ipvs_rs::services"),
            published: Published::new(),
            total: AtomicStats::new()?,
            conns <- conns,
            sysctl: Sysctls::new(),
            defence: Defence::new(),
            drops: Drops::new(),
            synproxy: crate::synproxy::NetSynproxy::new(),
            client_routes: crate::kbind::route_cache::RouteCache::new(),
            work: Opaque::uninit(),
            stopping: AtomicBool::new(false),
            ticks: AtomicU32::new(0),
        }? Error),
        GFP_KERNEL,
    )?;
    // SAFETY: the state is never moved out of its box: the raw pointer is
    // only dereferenced in place and freed with KBox::from_raw.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) });
    // SAFETY: the slot is ours and NULL until now; hooks see the state as
    // soon as they are registered, so store it first.
    unsafe { *net.slot() = raw.cast() };
    // SAFETY: just stored; alive until free_state.
    let st = unsafe { &*raw };
    periodic::init(&st.work);
    if let Err(e) = st.sysctl.register(net) {
        free_state(net);
        return Err(e);
    }
    // SAFETY: the namespace is alive during init; the files are removed in
    // ipvs_rs_net_exit before the state they read is freed.
    if let Err(e) = to_result(unsafe { bindings::ipvs_rs_proc_create(net.as_ptr()) }) {
        st.sysctl.unregister();
        free_state(net);
        return Err(e);
    }
    periodic::start(st);
    Ok(())
}

fn free_state(net: NetRef<'_>) {
    // SAFETY: the slot holds NULL or a pointer from KBox::into_raw; nothing
    // else can reach it (no hooks registered, namespace going away).
    let raw = unsafe { core::ptr::replace(net.slot(), core::ptr::null_mut()) };
    if !raw.is_null() {
        // SAFETY: from KBox::into_raw in net_init, not freed before.
        let state = unsafe { KBox::from_raw(raw.cast::<NetState>()) };
        state.published.clear();
        drop(state);
    }
}

/// pernet `init`: sets up `ipvs_rs` in a new namespace.
///
/// # Safety
///
/// Called by the pernet core with a namespace being created.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_net_init(net: *mut bindings::net) -> c_int {
    // SAFETY: the pernet core keeps the namespace alive during init.
    let net = unsafe { NetRef::new(net) };
    match net_init(net) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// pernet `exit`: tears `ipvs_rs` down in a dying namespace.
///
/// # Safety
///
/// Called by the pernet core with a namespace whose init succeeded.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_net_exit(net: *mut bindings::net) {
    // SAFETY: the pernet core keeps the namespace alive during exit.
    let net = unsafe { NetRef::new(net) };
    // No new lookups: hooks gone and, after the grace period that
    // unregister_hooks waits for, no running ones; proc files gone.
    // SAFETY: created in ipvs_rs_net_init; removal waits for readers.
    unsafe { bindings::ipvs_rs_proc_remove(net.as_ptr()) };
    // No control request runs any more (the namespace is dying), so the
    // flag cannot change after this read.
    let hooks = NetState::get(net).is_some_and(|st| core::mem::take(&mut st.services.lock().hooks));
    if hooks {
        unregister_hooks(net);
    }
    if let Some(st) = NetState::get(net) {
        periodic::stop(st);
        st.sysctl.unregister();
        st.conns.flush();
    }
    // Connections that expired earlier are freed by RCU callbacks.
    rcu::rcu_barrier();
    free_state(net);
}
