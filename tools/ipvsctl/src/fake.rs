// SPDX-License-Identifier: GPL-2.0
//! A model of the kernel side for tests: it executes write commands with
//! `ipvs_core::control::execute` (the code `ipvs_rs` runs, with upstream's
//! rules and errnos) and answers reads with `ipvs_core`'s dump encoders,
//! so tests drive `ipvsctl` end to end through the real attribute bytes.
//!
//! It also models ipvs_rs's `IPVS_RS` family (local address pools, TOA),
//! decoding requests and encoding replies with `ipvs_core::netlink::ext`;
//! [`FakeKernel::ext`] false models upstream `ip_vs`, which has none.

use ipvs_core::config::Timeouts;
use ipvs_core::control::{self, Table};
use ipvs_core::errno::Result as CoreResult;
use ipvs_core::netlink::attr::AttrWriter;
use ipvs_core::netlink::ext::{
    self, decode_laddr, decode_svc_ext, encode_laddr_entry, encode_svc_ext, ExtAttrs, LaddrEntry,
    SvcExt, SvcExtCounters,
};
use ipvs_core::netlink::ipvs::{cmd, encode_timeouts, Info};
use ipvs_core::netlink::service::{
    decode_service, encode_dest, encode_service, CmdAttrs, DestConns,
};
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};
use ipvs_core::stats::Stats;
use ipvs_core::version::IPVS_VERSION_CODE;

use crate::client::{cmd_name, ext_cmd_name, Kernel};
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
    /// `IPVS_RS` settings.
    pub ext: SvcExt,
    /// `IPVS_RS` counters (`laddrs` is computed).
    pub ext_counters: SvcExtCounters,
    /// The local address pool, in insertion order.
    pub laddrs: Vec<LaddrEntry>,
}

/// The model: services in insertion order (as the kernel's hash lists
/// would give them in no particular order), timeouts, and a log of every
/// request.
pub struct FakeKernel {
    pub services: Vec<FakeService>,
    pub timeouts: Timeouts,
    /// Every IPVS request: command and attribute bytes.
    pub log: Vec<(u8, Vec<u8>)>,
    /// Every `IPVS_RS` request.
    pub ext_log: Vec<(u8, Vec<u8>)>,
    /// Whether the `IPVS_RS` family is registered (false: upstream
    /// `ip_vs`).
    pub ext: bool,
    /// Fail the request with this index (0-based, counting writes of
    /// both families only) with `EINVAL`, to test error paths.
    pub fail_write: Option<usize>,
    writes: usize,
}

impl Default for FakeKernel {
    fn default() -> Self {
        FakeKernel {
            services: Vec::new(),
            timeouts: Timeouts::DEFAULT,
            log: Vec::new(),
            ext_log: Vec::new(),
            ext: true,
            fail_write: None,
            writes: 0,
        }
    }
}

impl FakeKernel {
    /// Number of requests sent, of both families.
    pub fn sent(&self) -> usize {
        self.log.len() + self.ext_log.len()
    }

    /// Sets the `IPVS_RS` counters of a service and of its local
    /// addresses.
    pub fn set_ext_stats(&mut self, key: &ServiceKey, base: u64) {
        for s in self.services.iter_mut().filter(|s| s.key == *key) {
            s.ext_counters = SvcExtCounters {
                toa_written: base,
                toa_skipped: base + 1,
                fnat_exhausted: base + 2,
                laddrs: 0,
                synproxy: ipvs_core::netlink::ext::SynproxyCounters {
                    cookies: base + 3,
                    ack_valid: base + 4,
                    ack_bad: base + 5,
                    syn_retrans: base + 6,
                    ack_storm: base + 7,
                    held_drops: base + 8,
                },
                proxy_sent: base + 9,
                proxy_resent: base + 10,
            };
            for (i, l) in s.laddrs.iter_mut().enumerate() {
                l.conns = u32::try_from(base).unwrap_or(u32::MAX) + i as u32;
                l.exhausted = base * 10 + i as u64;
            }
        }
    }

    fn ext_err(command: u8, errno: i32, msg: &str) -> Error {
        Error::from_errno(ext_cmd_name(command), errno, Some(msg.into()))
    }

    fn ext_core_err(command: u8, e: ipvs_core::errno::Error) -> Error {
        Error::from_errno(
            ext_cmd_name(command),
            e.errno.code(),
            Some(e.msg.to_string_lossy().into_owned()),
        )
    }

    /// Executes an `IPVS_RS` request.
    fn ext_execute(
        &mut self,
        command: u8,
        attrs: &[u8],
        dump: bool,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let a = ExtAttrs::parse(attrs).map_err(|e| Self::ext_core_err(command, e))?;
        let key = a.service_key().map_err(|e| Self::ext_core_err(command, e));
        let found = key
            .as_ref()
            .ok()
            .and_then(|key| self.services.iter().position(|s| s.key == *key));
        // As GET_DEST: a dump of an unknown service is empty.
        if dump && found.is_none() {
            return Ok(Vec::new());
        }
        let key = key?;
        let i = found.ok_or_else(|| {
            Self::ext_err(
                command,
                libc::ESRCH,
                "IPVS_RS_ATTR_SERVICE: no such service",
            )
        })?;
        let write = matches!(
            command,
            ext::cmd::NEW_LADDR | ext::cmd::DEL_LADDR | ext::cmd::SET_SVC
        );
        if write {
            let n = self.writes;
            self.writes += 1;
            if self.fail_write == Some(n) {
                return Err(Self::ext_err(command, libc::EINVAL, "injected failure"));
            }
        }
        let s = &mut self.services[i];
        match (command, dump) {
            (ext::cmd::NEW_LADDR, false) => {
                let addr =
                    decode_laddr(a.laddr, key.af()).map_err(|e| Self::ext_core_err(command, e))?;
                if s.laddrs.iter().any(|l| l.addr == addr) {
                    return Err(Self::ext_err(
                        command,
                        libc::EEXIST,
                        "IPVS_RS_LADDR_ATTR_ADDR: the service already has this local address",
                    ));
                }
                s.laddrs.push(LaddrEntry {
                    addr,
                    conns: 0,
                    exhausted: 0,
                });
                Ok(Vec::new())
            }
            (ext::cmd::DEL_LADDR, false) => {
                let addr =
                    decode_laddr(a.laddr, key.af()).map_err(|e| Self::ext_core_err(command, e))?;
                let before = s.laddrs.len();
                s.laddrs.retain(|l| l.addr != addr);
                if s.laddrs.len() == before {
                    return Err(Self::ext_err(
                        command,
                        libc::ENOENT,
                        "IPVS_RS_LADDR_ATTR_ADDR: the service has no such local address",
                    ));
                }
                Ok(Vec::new())
            }
            (ext::cmd::GET_LADDR, true) => s
                .laddrs
                .iter()
                .map(|l| {
                    Self::entry(command, |w| {
                        encode_laddr_entry(w, &key, &l.addr, l.conns, l.exhausted)
                    })
                })
                .collect(),
            (ext::cmd::SET_SVC, false) => {
                s.ext =
                    decode_svc_ext(a.svc_ext, s.ext).map_err(|e| Self::ext_core_err(command, e))?;
                Ok(Vec::new())
            }
            (ext::cmd::GET_SVC, false) => {
                let c = SvcExtCounters {
                    laddrs: u32::try_from(s.laddrs.len()).unwrap_or(u32::MAX),
                    ..s.ext_counters
                };
                let e = s.ext;
                Ok(vec![Self::entry(command, |w| {
                    encode_svc_ext(w, &key, &e, &c)
                })?])
            }
            _ => Err(Self::ext_err(command, libc::EOPNOTSUPP, "unknown command")),
        }
    }
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
            ext: SvcExt::default(),
            ext_counters: SvcExtCounters::default(),
            laddrs: Vec::new(),
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

    fn has_ext(&mut self) -> Result<bool, Error> {
        Ok(self.ext)
    }

    fn ext_call(&mut self, command: u8, attrs: &[u8], dump: bool) -> Result<Vec<Vec<u8>>, Error> {
        if !self.ext {
            return Err(Error::ExtMissing {
                what: ext_cmd_name(command).into(),
            });
        }
        self.ext_log.push((command, attrs.to_vec()));
        self.ext_execute(command, attrs, dump)
    }
}
