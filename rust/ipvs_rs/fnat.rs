// SPDX-License-Identifier: GPL-2.0
//! FULLNAT: local address pools and the reply direction.
//!
//! A FULLNAT connection's requests leave the director from a local
//! address of the service's pool and a port allocated on it
//! (`client:cport -> VIP:vport` becomes `LIP:lport -> RIP:rport`), so real
//! servers only need a route back to the local addresses. Each local
//! address has a pool of ports per protocol
//! (`ipvs_core::fnat_ports::PortPool`): allocation and release are O(1),
//! and a port is in use by at most one connection, so the reply
//! `RIP:rport -> LIP:lport` names its connection (the connection table's
//! local-side chains, `ConnTable::find_fnat`). Exhaustion is counted per
//! address and per service.

use crate::kbind::rcu::BhGuard;
use crate::services::KTable;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use ipvs_core::addr::Addr;
use ipvs_core::fnat_ports::{storage_len, PortPool};
use ipvs_core::service::Protocol;
use kernel::alloc::{flags::GFP_KERNEL, KVVec};
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};

/// Local ports handed out: from 1024 up, `fnat_ports` of them (module
/// parameter; default all up to 65535, as Alibaba's LVS).
const PORT_LO: u16 = 1024;
const PORTS_MIN: u32 = 8;
const PORTS_MAX: u32 = 65536 - PORT_LO as u32;

fn port_hi() -> u16 {
    // SAFETY: plain read of a module parameter through the shim.
    let n = unsafe { crate::kbind::bindings::ipvs_rs_param_fnat_ports() };
    let n = n.clamp(PORTS_MIN, PORTS_MAX);
    u16::try_from(u32::from(PORT_LO) + n - 1).unwrap_or(u16::MAX)
}

type Pool = PortPool<KTable<u16>>;

fn new_pool() -> Result<Pool> {
    let hi = port_hi();
    let storage = KTable(KVVec::from_elem(
        0u16,
        storage_len(PORT_LO, hi),
        GFP_KERNEL,
    )?);
    PortPool::new(storage, PORT_LO, hi).map_err(|_| EINVAL)
}

/// A local address of a FULLNAT service, with its port pools.
#[pin_data]
pub(crate) struct Laddr {
    pub(crate) addr: Addr,
    #[pin]
    tcp: SpinLock<Pool>,
    #[pin]
    udp: SpinLock<Pool>,
    #[pin]
    sctp: SpinLock<Pool>,
    conns: AtomicU32,
    exhausted: AtomicU64,
}

impl Laddr {
    /// A local address with all its ports free (process context).
    pub(crate) fn new(addr: Addr) -> Result<Arc<Laddr>> {
        let (tcp, udp, sctp) = (new_pool()?, new_pool()?, new_pool()?);
        Arc::pin_init(
            pin_init!(Laddr {
                addr,
                tcp <- new_spinlock!(tcp, "ipvs_rs::laddr_tcp"),
                udp <- new_spinlock!(udp, "ipvs_rs::laddr_udp"),
                sctp <- new_spinlock!(sctp, "ipvs_rs::laddr_sctp"),
                conns: AtomicU32::new(0),
                exhausted: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    fn pool(&self, proto: Protocol) -> &SpinLock<Pool> {
        match proto {
            Protocol::Tcp => &self.tcp,
            Protocol::Udp => &self.udp,
            Protocol::Sctp => &self.sctp,
        }
    }

    /// Connections using the address.
    pub(crate) fn conns(&self) -> u32 {
        self.conns.load(Ordering::Relaxed)
    }

    /// Allocations refused because the address's ports ran out.
    pub(crate) fn exhausted(&self) -> u64 {
        self.exhausted.load(Ordering::Relaxed)
    }
}

/// A local address and port held by one connection; the port goes back
/// to its pool when this is dropped.
pub(crate) struct Fnat {
    pub(crate) laddr: Arc<Laddr>,
    pub(crate) lport: u16,
    proto: Protocol,
}

impl Fnat {
    /// A port on `laddr` for `proto`, or `None` (counted) if none is free.
    pub(crate) fn alloc(laddr: &Arc<Laddr>, proto: Protocol) -> Option<Fnat> {
        let port = {
            let _bh = BhGuard::new();
            laddr.pool(proto).lock().alloc()
        };
        let Some(lport) = port else {
            laddr.exhausted.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        laddr.conns.fetch_add(1, Ordering::Relaxed);
        Some(Fnat {
            laddr: laddr.clone(),
            lport,
            proto,
        })
    }
}

impl Drop for Fnat {
    fn drop(&mut self) {
        {
            let _bh = BhGuard::new();
            // A port is handed to one Fnat only: a refusal (counted by the
            // pool) would mean a bug, never a corrupted pool.
            let _ = self.laddr.pool(self.proto).lock().free(self.lport);
        }
        self.laddr.conns.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A local address and port for a new connection of a service whose pool
/// is `laddrs`, trying each address once from `start` (round robin).
pub(crate) fn pick(laddrs: &[Arc<Laddr>], start: usize, proto: Protocol) -> Option<Fnat> {
    let n = laddrs.len();
    (0..n).find_map(|i| {
        laddrs
            .get((start + i) % n)
            .and_then(|l| Fnat::alloc(l, proto))
    })
}
