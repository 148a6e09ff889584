// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl laddr add|del|list`: the local address pools of FULLNAT
//! services, through ipvs_rs's own `IPVS_RS` generic netlink family
//! (upstream IPVS has none).
//!
//! A FULLNAT real server receives connections from one of its service's
//! local addresses instead of the client's address; the director picks an
//! address and a source port from the pool for every connection.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use ipvs_core::netlink::ext::LaddrEntry;
use ipvs_core::service::ServiceKey;
use serde::Serialize;

use crate::client::Kernel;
use crate::cmd_service::ServiceArg;
use crate::cmd_table::MaybeService;
use crate::error::Error;
use crate::listing::{svc_name, LaddrView, ServiceIdView};
use crate::ops;
use crate::output::{render, Format, Render};
use crate::values::{fmt_addr, parse_laddr, service_label};

/// A local address on the command line: its service, then the address.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct LaddrArg {
    #[command(flatten)]
    pub service: ServiceArg,
    /// The local address: numeric IPv4 or IPv6, of the service's family,
    /// without a port.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
}

/// `ipvsctl laddr ...`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum LaddrCommand {
    /// Add a local address to the FULLNAT pool of a virtual service.
    Add(LaddrArg),
    /// Remove a local address from the pool of a virtual service.
    #[command(visible_alias = "delete")]
    Del(LaddrArg),
    /// List the local addresses, with their counters, of one service or
    /// of every service that has some.
    #[command(visible_alias = "ls")]
    List(MaybeService),
}

/// Fails unless ipvs_rs's `IPVS_RS` family is there; asked before
/// anything of the `IPVS` family, so that these commands never make the
/// kernel load upstream `ip_vs`.
pub fn require_ext<K: Kernel>(k: &mut K, what: &str) -> Result<(), Error> {
    if k.has_ext()? {
        Ok(())
    } else {
        Err(Error::ExtMissing { what: what.into() })
    }
}

/// Fails with "no such service" unless the `IPVS` family knows `key`.
fn require_service<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<(), Error> {
    match ops::find_service(k, key)? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!("service {}", service_label(key)))),
    }
}

/// One service's pool, for `laddr list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaddrServiceView {
    /// The service.
    #[serde(flatten)]
    pub id: ServiceIdView,
    /// Its local addresses.
    pub laddrs: Vec<LaddrView>,
}

/// `ipvsctl laddr list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaddrTableView {
    /// The pools, for the text.
    #[serde(skip)]
    pub entries: Vec<(ServiceKey, Vec<LaddrEntry>)>,
    /// The pools, for JSON.
    pub services: Vec<LaddrServiceView>,
}

impl LaddrTableView {
    /// A view of the pools in `entries` (in listing order).
    pub fn new(entries: Vec<(ServiceKey, Vec<LaddrEntry>)>) -> Self {
        let services = entries
            .iter()
            .map(|(key, laddrs)| LaddrServiceView {
                id: ServiceIdView::from(key),
                laddrs: laddrs.iter().map(LaddrView::from).collect(),
            })
            .collect();
        LaddrTableView { entries, services }
    }
}

impl Render for LaddrTableView {
    fn human(&self) -> String {
        let dw = self
            .entries
            .iter()
            .flat_map(|(_, l)| l.iter().map(|l| fmt_addr(&l.addr).len()))
            .max()
            .unwrap_or(0)
            .max(28);
        let mut out = String::new();
        let _ = writeln!(out, "Prot LocalAddress:Port");
        let _ = writeln!(out, "  -> {:<dw$} InUseConn  Exhausted", "LocalAddress");
        for (key, laddrs) in &self.entries {
            let _ = writeln!(out, "{}", svc_name(key));
            for l in laddrs {
                let _ = writeln!(
                    out,
                    "  -> {:<dw$} {:<10} {}",
                    fmt_addr(&l.addr),
                    l.conns,
                    l.exhausted
                );
            }
        }
        out
    }
}

/// Runs `laddr ...`; returns what to print.
pub fn run<K: Kernel>(k: &mut K, command: &LaddrCommand, format: Format) -> Result<String, Error> {
    match command {
        LaddrCommand::Add(a) | LaddrCommand::Del(a) => {
            let key = a.service.key()?;
            let addr = parse_laddr(&a.address, &key)?;
            require_ext(k, "a local address")?;
            require_service(k, &key)?;
            if matches!(command, LaddrCommand::Add(_)) {
                ops::add_laddr(k, &key, &addr)?;
            } else {
                ops::del_laddr(k, &key, &addr)?;
            }
            Ok(String::new())
        }
        LaddrCommand::List(one) => {
            let one = one.key()?;
            require_ext(k, "listing local addresses")?;
            let entries = match one {
                Some(key) => {
                    require_service(k, &key)?;
                    vec![(key, ops::laddrs(k, &key)?)]
                }
                None => ops::services(k)?
                    .into_iter()
                    .filter_map(|s| Some((s.key, s.ext?.laddrs)))
                    .filter(|(_, l)| !l.is_empty())
                    .collect(),
            };
            render(&LaddrTableView::new(entries), format)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use ipvs_core::addr::Addr;
    use ipvs_core::netlink::service::ServiceConfReq;
    use ipvs_core::service::{FlagsUpdate, Name, Protocol};

    fn svc() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        }
    }

    fn setup() -> FakeKernel {
        let mut k = FakeKernel::default();
        let conf = ServiceConfReq {
            sched: Name::new("rr").unwrap(),
            pe: Name::default(),
            flags: FlagsUpdate { flags: 0, mask: !0 },
            timeout: 0,
            netmask: u32::MAX,
        };
        ops::add_service(&mut k, &svc(), &conf).unwrap();
        k
    }

    fn arg(target: &str, address: &str) -> LaddrArg {
        LaddrArg {
            service: ServiceArg {
                kind: "tcp".into(),
                target: target.into(),
                ipv6: false,
            },
            address: address.into(),
        }
    }

    fn add(k: &mut FakeKernel, address: &str) -> Result<String, Error> {
        run(
            k,
            &LaddrCommand::Add(arg("10.0.1.100:80", address)),
            Format::Human,
        )
    }

    fn list(k: &mut FakeKernel, one: bool, format: Format) -> Result<String, Error> {
        let m = if one {
            MaybeService {
                kind: Some("tcp".into()),
                target: Some("10.0.1.100:80".into()),
                ipv6: false,
            }
        } else {
            MaybeService::default()
        };
        run(k, &LaddrCommand::List(m), format)
    }

    #[test]
    fn add_list_del() {
        let mut k = setup();
        add(&mut k, "10.0.5.2").unwrap();
        add(&mut k, "10.0.5.1").unwrap();
        k.set_ext_stats(&svc(), 3);
        let table = "Prot LocalAddress:Port\n\
                     \x20 -> LocalAddress                 InUseConn  Exhausted\n\
                     TCP  10.0.1.100:80\n\
                     \x20 -> 10.0.5.1                     4          31\n\
                     \x20 -> 10.0.5.2                     3          30\n";
        assert_eq!(list(&mut k, false, Format::Human).unwrap(), table);
        assert_eq!(list(&mut k, true, Format::Human).unwrap(), table);
        let j: serde_json::Value =
            serde_json::from_str(&list(&mut k, true, Format::Json).unwrap()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"services": [{
                "protocol": "tcp", "family": "ipv4", "address": "10.0.1.100", "port": 80,
                "fwmark": null,
                "laddrs": [
                    {"address": "10.0.5.1", "family": "ipv4", "conns": 4, "exhausted": 31},
                    {"address": "10.0.5.2", "family": "ipv4", "conns": 3, "exhausted": 30}
                ]
            }]})
        );
        run(
            &mut k,
            &LaddrCommand::Del(arg("10.0.1.100:80", "10.0.5.2")),
            Format::Human,
        )
        .unwrap();
        let pool: Vec<Addr> = k.services[0].laddrs.iter().map(|l| l.addr).collect();
        assert_eq!(pool, [Addr::v4([10, 0, 5, 1])]);
        run(
            &mut k,
            &LaddrCommand::Del(arg("10.0.1.100:80", "10.0.5.1")),
            Format::Human,
        )
        .unwrap();
        // Services without local addresses are left out of the full list,
        // but one asked for by name is shown.
        assert_eq!(
            list(&mut k, false, Format::Json).unwrap(),
            "{\"services\":[]}\n"
        );
        assert!(list(&mut k, true, Format::Human)
            .unwrap()
            .ends_with("TCP  10.0.1.100:80\n"));
    }

    #[test]
    fn errors_name_the_value_and_change_nothing() {
        let mut k = setup();
        add(&mut k, "10.0.5.1").unwrap();
        let sent = k.sent();
        let e = |k: &mut FakeKernel, target: &str, address: &str| {
            run(k, &LaddrCommand::Add(arg(target, address)), Format::Human)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(&mut k, "10.0.1.100:80", "2001:db8::5"),
            "invalid local address \"2001:db8::5\": IPv6, but service TCP 10.0.1.100:80 is \
             IPv4: local addresses are of the service's family"
        );
        assert_eq!(
            e(&mut k, "10.0.1.100:80", "10.0.5.300"),
            "invalid local address \"10.0.5.300\": expected a numeric IPv4 or IPv6 address"
        );
        assert_eq!(
            e(&mut k, "10.0.1.100:8o", "10.0.5.3"),
            "invalid service address \"10.0.1.100:8o\": the port must be 0..65535"
        );
        assert_eq!(k.sent(), sent, "argument errors send nothing");
        assert_eq!(
            e(&mut k, "10.0.1.101:80", "10.0.5.3"),
            "no such service TCP 10.0.1.101:80"
        );
        assert_eq!(
            e(&mut k, "10.0.1.100:80", "10.0.5.1"),
            "IPVS_RS_CMD_NEW_LADDR failed: File exists (EEXIST): IPVS_RS_LADDR_ATTR_ADDR: the \
             service already has this local address"
        );
        let del = run(
            &mut k,
            &LaddrCommand::Del(arg("10.0.1.100:80", "10.0.5.9")),
            Format::Human,
        )
        .unwrap_err();
        assert_eq!(
            del.to_string(),
            "IPVS_RS_CMD_DEL_LADDR failed: No such file or directory (ENOENT): \
             IPVS_RS_LADDR_ATTR_ADDR: the service has no such local address"
        );
        assert_eq!(k.services[0].laddrs.len(), 1);
    }

    #[test]
    fn without_the_ipvs_rs_family() {
        let mut k = setup();
        k.ext = false;
        let sent = k.sent();
        assert_eq!(
            add(&mut k, "10.0.5.1").unwrap_err().to_string(),
            "a local address needs ipvs_rs: the IPVS_RS generic netlink family is not \
             registered (upstream ip_vs has no FULLNAT, local addresses or TOA)"
        );
        assert!(list(&mut k, false, Format::Human)
            .unwrap_err()
            .to_string()
            .starts_with("listing local addresses needs ipvs_rs"));
        // Not even the IPVS family was asked (it could load upstream ip_vs).
        assert_eq!(k.sent(), sent);
    }
}
