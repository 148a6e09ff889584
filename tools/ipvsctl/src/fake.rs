// SPDX-License-Identifier: GPL-2.0
//! A model of the kernel side for tests: it executes write commands with
//! `ipvs_core::control::execute` (the code `ipvs_rs` runs, with upstream's
//! rules and errnos) and answers reads with `ipvs_core`'s dump encoders,
//! so tests drive `ipvsctl` end to end through the real attribute bytes.

use ipvs_core::config::Timeouts;
use ipvs_core::control::{self, Table};
use ipvs_core::errno::Result as CoreResult;
use ipvs_core::netlink::attr::AttrWriter;
use ipvs_core::netlink::ipvs::{cmd, encode_timeouts, Info};
use ipvs_core::netlink::service::{
    decode_service, encode_dest, encode_service, CmdAttrs, DestConns,
};
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};
use ipvs_core::stats::Stats;
use ipvs_core::version::IPVS_VERSION_CODE;

use crate::client::{cmd_name, Kernel};
use crate::error::Error;

/// Upstream's schedulers.
const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// One real server of the model.
#[derive(Clone, Debug)]
pub struct FakeDest {
    pub key: DestKey,
    pub conf: DestConf,
    pub conns: DestConns,
    pub stats: Stats,
}

/// One service of the model.
#[derive(Clone, Debug)]
pub struct FakeService {
    pub key: ServiceKey,
    pub conf: ServiceConf,
    pub stats: Stats,
    pub dests: Vec<FakeDest>,
}

/// The model: services in insertion order (as the kernel's hash lists
/// would give them in no particular order), timeouts, and a log of every
/// request.
pub struct FakeKernel {
    pub services: Vec<FakeService>,
    pub timeouts: Timeouts,
    /// Every request: command and attribute bytes.
    pub log: Vec<(u8, Vec<u8>)>,
    /// Fail the request with this index (0-based, counting writes only)
    /// with `EINVAL`, to test error paths.
    pub fail_write: Option<usize>,
    writes: usize,
}

impl Default for FakeKernel {
    fn default() -> Self {
        FakeKernel {
            services: Vec::new(),
            timeouts: Timeouts::DEFAULT,
            log: Vec::new(),
            fail_write: None,
            writes: 0,
        }
    }
}

impl FakeKernel {
    /// Sets the counters of a service and its real servers.
    pub fn set_stats(&mut self, key: &ServiceKey, base: u64) {
        let stats = |b: u64| Stats {
            conns: b,
            inpkts: b * 10,
            outpkts: b * 9,
            inbytes: b * 1000,
            outbytes: b * 9000,
            cps: b,
            inpps: b * 2,
            outpps: b * 3,
            inbps: b * 400,
            outbps: b * 500,
        };
        for s in self.services.iter_mut().filter(|s| s.key == *key) {
            s.stats = stats(base);
            for (i, d) in s.dests.iter_mut().enumerate() {
                d.stats = stats(base + i as u64 + 1);
                d.conns = DestConns {
                    active: 3,
                    inactive: 4,
                    persist: 5,
                };
            }
        }
    }

    fn entry(
        command: u8,
        f: impl FnOnce(&mut AttrWriter<'_>) -> Result<(), ipvs_core::netlink::WriteError>,
    ) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; 1024];
        let mut w = AttrWriter::new(&mut buf);
        f(&mut w).map_err(|_| Error::Internal(format!("fake {}: too big", cmd_name(command))))?;
        let len = w.len();
        buf.truncate(len);
        Ok(buf)
    }

    fn core_err(command: u8, e: ipvs_core::errno::Error) -> Error {
        Error::from_errno(
            cmd_name(command),
            e.errno.code(),
            Some(e.msg.to_string_lossy().into_owned()),
        )
    }
}

impl Table for FakeKernel {
    type Svc = usize;

    fn find_service(&self, key: &ServiceKey) -> Option<usize> {
        self.services.iter().position(|s| s.key == *key)
    }
    fn service_conf(&self, svc: usize) -> ServiceConf {
        self.services[svc].conf
    }
    fn sched_known(&self, name: &str) -> bool {
        SCHEDULERS.contains(&name)
    }
    fn add_service(&mut self, key: ServiceKey, conf: ServiceConf) -> CoreResult<()> {
        self.services.push(FakeService {
            key,
            conf,
            stats: Stats::default(),
            dests: Vec::new(),
        });
        Ok(())
    }
    fn edit_service(&mut self, svc: usize, conf: ServiceConf) -> CoreResult<()> {
        self.services[svc].conf = conf;
        Ok(())
    }
    fn del_service(&mut self, svc: usize) {
        self.services.remove(svc);
    }
    fn has_dest(&self, svc: usize, key: &DestKey) -> bool {
        self.services[svc].dests.iter().any(|d| d.key == *key)
    }
    fn add_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> CoreResult<()> {
        self.services[svc].dests.push(FakeDest {
            key,
            conf,
            conns: DestConns::default(),
            stats: Stats::default(),
        });
        Ok(())
    }
    fn edit_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> CoreResult<()> {
        for d in self.services[svc].dests.iter_mut().filter(|d| d.key == key) {
            d.conf = conf;
        }
        Ok(())
    }
    fn del_dest(&mut self, svc: usize, key: DestKey) {
        self.services[svc].dests.retain(|d| d.key != key);
    }
    fn zero_service(&mut self, svc: usize) {
        let s = &mut self.services[svc];
        s.stats = Stats::default();
        for d in &mut s.dests {
            d.stats = Stats::default();
        }
    }
    fn zero_all(&mut self) {
        for i in 0..self.services.len() {
            self.zero_service(i);
        }
    }
    fn flush(&mut self) {
        self.services.clear();
    }
    fn set_timeouts(&mut self, t: [Option<u32>; 3]) {
        let [tcp, fin, udp] = t;
        self.timeouts.tcp = tcp.unwrap_or(self.timeouts.tcp);
        self.timeouts.tcp_fin = fin.unwrap_or(self.timeouts.tcp_fin);
        self.timeouts.udp = udp.unwrap_or(self.timeouts.udp);
    }
}

impl Kernel for FakeKernel {
    fn call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error> {
        self.log.push((command, attrs.to_vec()));
        let einval = || Error::from_errno(cmd_name(command), libc::EINVAL, None);
        match (command, dump) {
            (cmd::GET_INFO, false) => Ok(vec![Self::entry(command, |w| {
                Info {
                    version: IPVS_VERSION_CODE,
                    conn_tab_size: 4096,
                }
                .encode(w)
            })?]),
            (cmd::GET_CONFIG, false) => {
                let t = self.timeouts;
                Ok(vec![Self::entry(command, |w| encode_timeouts(&t, w))?])
            }
            (cmd::GET_SERVICE, true) => self
                .services
                .iter()
                .map(|s| Self::entry(command, |w| encode_service(w, &s.key, &s.conf, &s.stats)))
                .collect(),
            (cmd::GET_SERVICE, false) => {
                let a = CmdAttrs::parse(attrs).map_err(|e| Self::core_err(command, e))?;
                let key = decode_service(a.service, false)
                    .map_err(|e| Self::core_err(command, e))?
                    .key;
                let s = self.services.iter().find(|s| s.key == key).ok_or_else(|| {
                    Error::from_errno(
                        cmd_name(command),
                        libc::ESRCH,
                        Some("IPVS_CMD_ATTR_SERVICE: no such service".into()),
                    )
                })?;
                Ok(vec![Self::entry(command, |w| {
                    encode_service(w, &s.key, &s.conf, &s.stats)
                })?])
            }
            (cmd::GET_DEST, true) => {
                let key = CmdAttrs::parse(attrs)
                    .and_then(|a| decode_service(a.service, false))
                    .map(|r| r.key);
                let Some(s) = key
                    .ok()
                    .and_then(|k| self.services.iter().find(|s| s.key == k))
                else {
                    return Ok(Vec::new());
                };
                s.dests
                    .iter()
                    .map(|d| {
                        Self::entry(command, |w| {
                            encode_dest(w, &d.key, &d.conf, &d.conns, &d.stats)
                        })
                    })
                    .collect()
            }
            (_, true) => Err(einval()),
            _ => {
                let n = self.writes;
                self.writes += 1;
                if self.fail_write == Some(n) {
                    return Err(Error::from_errno(
                        cmd_name(command),
                        libc::EINVAL,
                        Some("injected failure".into()),
                    ));
                }
                control::execute(self, command, attrs).map_err(|e| Self::core_err(command, e))?;
                Ok(Vec::new())
            }
        }
    }
}
