// SPDX-License-Identifier: GPL-2.0
//! FULLNAT: local address pools and the reply direction.
//!
//! A FULLNAT connection's requests leave the director from a local
//! address of the service's pool and a port allocated on it
//! (`client:cport -> VIP:vport` becomes `LIP:lport -> RIP:rport`), so real
//! servers only need a route back to the local addresses. Each local
//! address of a namespace has one pool of ports per protocol
//! (`ipvs_core::fnat_ports::PortPool`, in [`LaddrPools`]), shared by every
//! service that lists the address ([`PoolRegistry`]): allocation and
//! release are O(1), and a port is in use by at most one connection of
//! the namespace, so the reply `RIP:rport -> LIP:lport` names its
//! connection (the connection table's local-side chains,
//! `ConnTable::find_fnat`) even when two services send to the same real
//! server from the same local address. A new pool hands out its ports
//! from a random place in the range. Connections and exhaustion are
//! counted per service and address ([`Laddr`]) and per service.

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

/// A pool of all the local ports, all free, handing out a random one
/// first (process context).
fn new_pool() -> Result<Pool> {
    let hi = port_hi();
    let storage = KTable(KVVec::from_elem(
        0u16,
        storage_len(PORT_LO, hi),
        GFP_KERNEL,
    )?);
    // The low 32 bits of a random number: any start is as good.
    let start = crate::kbind::rcu::random_u64() as u32;
    PortPool::new_at(storage, PORT_LO, hi, start).map_err(|_| EINVAL)
}

/// The port pools of one local address of a namespace, one per protocol,
/// shared by the services that list the address.
#[pin_data]
pub(crate) struct LaddrPools {
    addr: Addr,
    #[pin]
    tcp: SpinLock<Pool>,
    #[pin]
    udp: SpinLock<Pool>,
    #[pin]
    sctp: SpinLock<Pool>,
}

impl LaddrPools {
    /// The pools of `addr`, all ports free (process context).
    fn new(addr: Addr) -> Result<Arc<LaddrPools>> {
        let (tcp, udp, sctp) = (new_pool()?, new_pool()?, new_pool()?);
        Arc::pin_init(
            pin_init!(LaddrPools {
                addr,
                tcp <- new_spinlock!(tcp, "ipvs_rs::laddr_tcp"),
                udp <- new_spinlock!(udp, "ipvs_rs::laddr_udp"),
                sctp <- new_spinlock!(sctp, "ipvs_rs::laddr_sctp"),
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

    /// Whether no connection holds a port of any protocol.
    fn idle(&self) -> bool {
        let _bh = BhGuard::new();
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .into_iter()
            .all(|p| self.pool(p).lock().in_use() == 0)
    }
}

/// One local address of the registry: its pools and how many services
/// list it.
struct RegEntry {
    pools: Arc<LaddrPools>,
    users: u32,
}

/// The local addresses of a namespace's FULLNAT services, each with its
/// one set of pools (under the namespace's control mutex). An address
/// stays while a service lists it or a connection still holds one of its
/// ports (so a service that adds it back cannot hand out a port a live
/// connection has); [`PoolRegistry::purge`] drops the others.
pub(crate) struct PoolRegistry {
    list: KVec<RegEntry>,
}

impl PoolRegistry {
    pub(crate) fn new() -> Self {
        PoolRegistry { list: KVec::new() }
    }

    /// The pools of `addr` for one more service: the existing ones, or new.
    fn acquire(&mut self, addr: Addr) -> Result<Arc<LaddrPools>> {
        if let Some(e) = self.list.iter_mut().find(|e| e.pools.addr == addr) {
            e.users = e.users.saturating_add(1);
            return Ok(e.pools.clone());
        }
        let pools = LaddrPools::new(addr)?;
        self.list.push(
            RegEntry {
                pools: pools.clone(),
                users: 1,
            },
            GFP_KERNEL,
        )?;
        Ok(pools)
    }

    /// One service fewer lists `addr`; its pools go once no service lists
    /// the address and no connection holds a port of it.
    pub(crate) fn release(&mut self, addr: &Addr) {
        if let Some(e) = self.list.iter_mut().find(|e| e.pools.addr == *addr) {
            e.users = e.users.saturating_sub(1);
        }
        self.purge();
    }

    /// Drops the pools of addresses no service lists and no connection
    /// uses (control plane, and the periodic work).
    pub(crate) fn purge(&mut self) {
        let mut i = 0;
        while let Some(e) = self.list.get(i) {
            if e.users == 0 && e.pools.idle() {
                let _ = crate::kbind::kvec::remove(&mut self.list, i);
            } else {
                i += 1;
            }
        }
    }
}

/// A local address of a FULLNAT service: the address's shared pools, and
/// the service's own counters for it.
pub(crate) struct Laddr {
    pub(crate) addr: Addr,
    pools: Arc<LaddrPools>,
    conns: AtomicU32,
    exhausted: AtomicU64,
}

impl Laddr {
    /// `addr` for one more service, with the namespace's pools of the
    /// address (process context, under the control mutex). Give it back
    /// with [`PoolRegistry::release`] when the service drops it.
    pub(crate) fn new(reg: &mut PoolRegistry, addr: Addr) -> Result<Arc<Laddr>> {
        let pools = reg.acquire(addr)?;
        let l = Arc::new(
            Laddr {
                addr,
                pools,
                conns: AtomicU32::new(0),
                exhausted: AtomicU64::new(0),
            },
            GFP_KERNEL,
        );
        if l.is_err() {
            reg.release(&addr);
        }
        Ok(l?)
    }

    fn pool(&self, proto: Protocol) -> &SpinLock<Pool> {
        self.pools.pool(proto)
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
