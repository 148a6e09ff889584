// SPDX-License-Identifier: GPL-2.0
//! The service table of a namespace, as the control plane keeps it, and
//! its [`Table`] implementation for `ipvs_core::control`.
//!
//! The table is guarded by the namespace's control mutex; the netlink
//! handlers hold it for a whole command or dump round.

use crate::kbind::kvec;
use crate::netns::AtomicTimeouts;
use ipvs_core::control::Table;
use ipvs_core::errno::{Errno, Error, Result};
use ipvs_core::netlink::service::DestConns;
use ipvs_core::sched::SchedKind;
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};
use ipvs_core::stats::Stats;
use kernel::alloc::{flags::GFP_KERNEL, KVec};

/// A real server of a service.
pub(crate) struct Dest {
    pub(crate) key: DestKey,
    pub(crate) conf: DestConf,
    pub(crate) conns: DestConns,
    pub(crate) stats: Stats,
}

/// A virtual service and its real servers.
pub(crate) struct Service {
    pub(crate) key: ServiceKey,
    pub(crate) conf: ServiceConf,
    pub(crate) dests: KVec<Dest>,
    pub(crate) stats: Stats,
}

/// All services of a namespace, in the order they were added.
pub(crate) struct Services {
    pub(crate) list: KVec<Service>,
}

const ENOMEM: Error = Error::new(Errno::Enomem, c"ipvs_rs: out of memory");

impl Services {
    pub(crate) fn new() -> Self {
        Services { list: KVec::new() }
    }

    pub(crate) fn find(&self, key: &ServiceKey) -> Option<&Service> {
        self.list.iter().find(|s| s.key == *key)
    }

    fn svc(&mut self, i: usize) -> Option<&mut Service> {
        self.list.as_mut_slice().get_mut(i)
    }

    fn dest(&mut self, i: usize, key: &DestKey) -> Option<&mut Dest> {
        self.svc(i)?
            .dests
            .as_mut_slice()
            .iter_mut()
            .find(|d| d.key == *key)
    }
}

/// The table plus the namespace settings the write commands touch.
pub(crate) struct ControlTable<'a> {
    pub(crate) services: &'a mut Services,
    pub(crate) timeouts: &'a AtomicTimeouts,
}

impl Table for ControlTable<'_> {
    type Svc = usize;

    fn find_service(&self, key: &ServiceKey) -> Option<usize> {
        self.services.list.iter().position(|s| s.key == *key)
    }

    fn service_conf(&self, svc: usize) -> ServiceConf {
        // Handles come from find_service under the same lock; the table
        // cannot have shrunk in between. Fall back to a neutral value
        // rather than panic.
        self.services
            .list
            .as_slice()
            .get(svc)
            .map(|s| s.conf)
            .unwrap_or(ServiceConf {
                sched: Default::default(),
                pe: Default::default(),
                flags: 0,
                timeout: 0,
                netmask: 0,
            })
    }

    fn sched_known(&self, name: &str) -> bool {
        SchedKind::from_name(name).is_some()
    }

    fn add_service(&mut self, key: ServiceKey, conf: ServiceConf) -> Result<()> {
        let svc = Service {
            key,
            conf,
            dests: KVec::new(),
            stats: Stats::default(),
        };
        self.services.list.push(svc, GFP_KERNEL).map_err(|_| ENOMEM)
    }

    fn edit_service(&mut self, svc: usize, conf: ServiceConf) -> Result<()> {
        if let Some(s) = self.services.svc(svc) {
            s.conf = conf;
        }
        Ok(())
    }

    fn del_service(&mut self, svc: usize) {
        let _ = kvec::remove(&mut self.services.list, svc);
    }

    fn has_dest(&self, svc: usize, key: &DestKey) -> bool {
        self.services
            .list
            .as_slice()
            .get(svc)
            .is_some_and(|s| s.dests.iter().any(|d| d.key == *key))
    }

    fn add_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        let Some(s) = self.services.svc(svc) else {
            return Ok(());
        };
        let dest = Dest {
            key,
            conf,
            conns: DestConns::default(),
            stats: Stats::default(),
        };
        s.dests.push(dest, GFP_KERNEL).map_err(|_| ENOMEM)
    }

    fn edit_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
        if let Some(d) = self.services.dest(svc, &key) {
            d.conf = conf;
        }
        Ok(())
    }

    fn del_dest(&mut self, svc: usize, key: DestKey) {
        if let Some(s) = self.services.svc(svc) {
            if let Some(i) = s.dests.iter().position(|d| d.key == key) {
                let _ = kvec::remove(&mut s.dests, i);
            }
        }
    }

    fn zero_service(&mut self, svc: usize) {
        if let Some(s) = self.services.svc(svc) {
            s.stats = Stats::default();
            for d in s.dests.as_mut_slice() {
                d.stats = Stats::default();
            }
        }
    }

    fn zero_all(&mut self) {
        for i in 0..self.services.list.len() {
            self.zero_service(i);
        }
    }

    fn flush(&mut self) {
        kvec::clear(&mut self.services.list);
    }

    fn set_timeouts(&mut self, timeouts: [Option<u32>; 3]) {
        self.timeouts.set(timeouts);
    }
}
