// SPDX-License-Identifier: GPL-2.0
//! The configuration table as data: what the kernel reports (read through
//! both families' dumps) and what the model expects, in one canonical
//! text form so the two compare line by line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;

use ipvs_core::addr::Addr;
use ipvs_core::config::Timeouts;
use ipvs_core::netlink::ext::{self, SvcExt};
use ipvs_core::netlink::ipvs::{cmd, decode_timeouts};
use ipvs_core::netlink::service::{decode_dest_entry, decode_service_entry};
use ipvs_core::netlink::Attrs;
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};

use crate::gen::{laddr_attrs, svc_attrs, Fam, Fams, Req};
use crate::nl::{Sock, GENL_HDRLEN};

/// One service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Svc {
    /// Settings.
    pub conf: ServiceConf,
    /// Real servers.
    pub dests: BTreeMap<DestKey, DestConf>,
    /// FULLNAT local addresses.
    pub laddrs: BTreeSet<Addr>,
    /// Extension settings.
    pub ext: SvcExt,
}

impl Svc {
    /// A new service with settings `conf`.
    pub fn new(conf: ServiceConf) -> Svc {
        Svc {
            conf,
            dests: BTreeMap::new(),
            laddrs: BTreeSet::new(),
            ext: SvcExt::default(),
        }
    }
}

/// The whole table of a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Services by key.
    pub svcs: BTreeMap<ServiceKey, Svc>,
    /// Global timeouts.
    pub timeouts: Timeouts,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            svcs: BTreeMap::new(),
            timeouts: Timeouts::DEFAULT,
        }
    }
}

impl Table {
    /// The canonical text: one line per service, real server and local
    /// address, sorted.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let t = &self.timeouts;
        let _ = writeln!(
            s,
            "timeouts tcp {} tcpfin {} udp {}",
            t.tcp, t.tcp_fin, t.udp
        );
        for (k, v) in &self.svcs {
            let c = &v.conf;
            let _ = writeln!(
                s,
                "service {k:?} sched {} pe {:?} flags {:#x} timeout {} netmask {:#x} ext {:?}",
                c.sched.as_str(),
                c.pe.as_str(),
                c.flags,
                c.timeout,
                c.netmask,
                v.ext
            );
            for (dk, dc) in &v.dests {
                let _ = writeln!(s, "  dest {dk:?} {dc:?}");
            }
            for a in &v.laddrs {
                let _ = writeln!(s, "  laddr {a:?}");
            }
        }
        s
    }
}

fn payload(d: &[u8]) -> &[u8] {
    d.get(GENL_HDRLEN..).unwrap_or(&[])
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn ask(sock: &mut Sock, fams: &Fams, req: &Req) -> io::Result<Vec<Vec<u8>>> {
    let ans = sock.exchange(&req.message(fams))?;
    if ans.errno() != 0 {
        return Err(bad(format!(
            "table read: command {} of {:?} failed: {:?}",
            req.cmd, req.fam, ans.status
        )));
    }
    Ok(ans.data)
}

/// Reads the whole table through the families' read commands.
pub fn read(sock: &mut Sock, fams: &Fams) -> io::Result<Table> {
    let mut t = Table::default();
    let conf = ask(
        sock,
        fams,
        &Req::new(Fam::Ipvs, cmd::GET_CONFIG, Vec::new()),
    )?;
    let first = conf
        .first()
        .ok_or_else(|| bad("GET_CONFIG: no reply".into()))?;
    t.timeouts = decode_timeouts(Attrs::new(payload(first)))
        .map_err(|e| bad(format!("GET_CONFIG reply: {e:?}")))?;
    let list = ask(
        sock,
        fams,
        &Req::new(Fam::Ipvs, cmd::GET_SERVICE, Vec::new()).dump(),
    )?;
    for d in &list {
        let (key, conf, _) = decode_service_entry(Attrs::new(payload(d)))
            .map_err(|e| bad(format!("service dump entry: {e:?}")))?;
        let mut svc = Svc::new(conf);
        let dests = ask(
            sock,
            fams,
            &Req::new(Fam::Ipvs, cmd::GET_DEST, svc_attrs(&key, None)).dump(),
        )?;
        for d in &dests {
            let (dk, dc, _, _) = decode_dest_entry(Attrs::new(payload(d)), key.af())
                .map_err(|e| bad(format!("dest dump entry: {e:?}")))?;
            if svc.dests.insert(dk, dc).is_some() {
                return Err(bad(format!("{key:?}: real server {dk:?} listed twice")));
            }
        }
        if fams.ext.is_some() {
            let ext_reply = ask(
                sock,
                fams,
                &Req::new(Fam::Ext, ext::cmd::GET_SVC, laddr_attrs(&key, None)),
            )?;
            let first = ext_reply
                .first()
                .ok_or_else(|| bad("GET_SVC: no reply".into()))?;
            svc.ext = ext::decode_svc_ext_reply(payload(first))
                .map_err(|e| bad(format!("GET_SVC reply: {e:?}")))?
                .0;
            let laddrs = ask(
                sock,
                fams,
                &Req::new(Fam::Ext, ext::cmd::GET_LADDR, laddr_attrs(&key, None)).dump(),
            )?;
            for d in &laddrs {
                let e = ext::decode_laddr_entry(payload(d))
                    .map_err(|e| bad(format!("laddr dump entry: {e:?}")))?;
                if !svc.laddrs.insert(e.addr) {
                    return Err(bad(format!("{key:?}: local address listed twice")));
                }
            }
        }
        if t.svcs.insert(key, svc).is_some() {
            return Err(bad(format!("service {key:?} listed twice")));
        }
    }
    Ok(t)
}

/// The lines where `a` and `b` differ, `-` for `a`'s and `+` for `b`'s.
pub fn diff(a: &str, b: &str) -> String {
    let la: BTreeSet<&str> = a.lines().collect();
    let lb: BTreeSet<&str> = b.lines().collect();
    let mut s = String::new();
    for l in la.difference(&lb) {
        let _ = writeln!(s, "- {l}");
    }
    for l in lb.difference(&la) {
        let _ = writeln!(s, "+ {l}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::service::{Name, Protocol};

    #[test]
    fn render_is_sorted_and_diff_names_lines() {
        let mut t = Table::default();
        let conf = ServiceConf {
            sched: Name::new("rr").unwrap(),
            pe: Name::default(),
            flags: 0,
            timeout: 0,
            netmask: u32::MAX,
        };
        for port in [443, 80] {
            t.svcs.insert(
                ServiceKey::Addr {
                    proto: Protocol::Tcp,
                    addr: Addr::v4([10, 0, 1, 1]),
                    port,
                },
                Svc::new(conf),
            );
        }
        let r = t.render();
        assert!(r.find("port: 80").unwrap() < r.find("port: 443").unwrap());
        let mut u = t.clone();
        u.timeouts.udp = 5;
        let d = diff(&r, &u.render());
        assert!(d.contains("- timeouts tcp 900 tcpfin 120 udp 300"));
        assert!(d.contains("+ timeouts tcp 900 tcpfin 120 udp 5"));
        assert_eq!(diff(&r, &r), "");
    }
}
