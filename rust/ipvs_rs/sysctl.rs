// SPDX-License-Identifier: GPL-2.0
//! The sysctls under `/proc/sys/net/ipv4/vs/` that apply to this
//! director, per namespace, with upstream's names and defaults. The shim
//! registers the table (`ipvs_rs_sysctl_register`) pointing at the values
//! here; the kernel's `proc_dointvec*` handlers write them, the packet path
//! reads them with relaxed loads (upstream reads them with plain loads).

use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu;
use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};
use kernel::error::{code::ENOMEM, Result};

/// Number of sysctls in the table.
const COUNT: usize = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_COUNT as usize;

/// One sysctl, by its index in the shim's table.
#[derive(Clone, Copy)]
pub(crate) enum Sysctl {
    ExpireNodestConn = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_EXPIRE_NODEST_CONN as isize,
    ExpireQuiescentTemplate =
        bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_EXPIRE_QUIESCENT_TEMPLATE as isize,
    ConnReuseMode = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_CONN_REUSE_MODE as isize,
    SloppyTcp = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SLOPPY_TCP as isize,
    SloppySctp = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SLOPPY_SCTP as isize,
    NatIcmpSend = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_NAT_ICMP_SEND as isize,
    PmtuDisc = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_PMTU_DISC as isize,
    ScheduleIcmp = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SCHEDULE_ICMP as isize,
    RunEstimation = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_RUN_ESTIMATION as isize,
    LblcExpiration = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_LBLC_EXPIRATION as isize,
    LblcrExpiration = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_LBLCR_EXPIRATION as isize,
    SynproxyInitMss = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_INIT_MSS as isize,
    SynproxySack = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_SACK as isize,
    SynproxyWscale = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_WSCALE as isize,
    SynproxyTimestamp = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_TIMESTAMP as isize,
    SynproxySynackTtl = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_SYNACK_TTL as isize,
    SynproxyDefer = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_DEFER as isize,
    SynproxyDupAckThresh = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_DUP_ACK_THRESH as isize,
    SynproxySkbStoreThresh =
        bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_SKB_STORE_THRESH as isize,
    SynproxySynRetry = bindings::ipvs_rs_sysctl_IPVS_RS_SYSCTL_SYNPROXY_SYN_RETRY as isize,
}

/// The values of a namespace and their registration.
pub(crate) struct Sysctls {
    vals: [AtomicI32; COUNT],
    header: AtomicPtr<c_void>,
}

impl Sysctls {
    /// Upstream's defaults.
    pub(crate) fn new() -> Self {
        let s = Sysctls {
            vals: [const { AtomicI32::new(0) }; COUNT],
            header: AtomicPtr::new(core::ptr::null_mut()),
        };
        let day = 24 * 60 * 60 * rcu::hz() as i32;
        s.set(Sysctl::ConnReuseMode, 1);
        s.set(Sysctl::PmtuDisc, 1);
        s.set(Sysctl::RunEstimation, 1);
        s.set(Sysctl::LblcExpiration, day);
        s.set(Sysctl::LblcrExpiration, day);
        crate::synproxy::sysctl_defaults(|which, v| s.set(which, v));
        s
    }

    fn set(&self, which: Sysctl, v: i32) {
        if let Some(c) = self.vals.get(which as usize) {
            c.store(v, Ordering::Relaxed);
        }
    }

    /// The current value.
    pub(crate) fn get(&self, which: Sysctl) -> i32 {
        self.vals
            .get(which as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Whether a boolean sysctl is set (non-zero).
    pub(crate) fn on(&self, which: Sysctl) -> bool {
        self.get(which) != 0
    }

    /// Registers the table for `net`. The values must stay where they are
    /// until [`Sysctls::unregister`] (they live in the pinned namespace
    /// state).
    pub(crate) fn register(&self, net: NetRef<'_>) -> Result {
        // SAFETY: `vals` has COUNT ints (AtomicI32 has the layout of i32)
        // and outlives the registration (unregistered before the state is
        // freed); the kernel's handlers write them like upstream's ints.
        let hdr = unsafe {
            bindings::ipvs_rs_sysctl_register(net.as_ptr(), self.vals.as_ptr().cast_mut().cast())
        };
        if hdr.is_null() {
            return Err(ENOMEM);
        }
        self.header.store(hdr, Ordering::Release);
        Ok(())
    }

    /// Removes the table (waits for running handlers).
    pub(crate) fn unregister(&self) {
        let hdr = self.header.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !hdr.is_null() {
            // SAFETY: from ipvs_rs_sysctl_register, unregistered once.
            unsafe { bindings::ipvs_rs_sysctl_unregister(hdr) };
        }
    }
}
