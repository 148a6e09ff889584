// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl service add|edit|del|list`: virtual services.
//!
//! `--toa`/`--no-toa` are ipvs_rs's own setting: sent with the `IPVS_RS`
//! family's `SET_SVC` after the `IPVS` request.

use clap::{Args, Subcommand};
use ipvs_core::netlink::ext::{ProxyVersion, SvcExtSet};
use ipvs_core::netlink::service::ServiceConfReq;
use ipvs_core::service::{svc_flags, FlagsUpdate, Name, ServiceConf, ServiceKey};
use ipvs_core::version::version_triple;

use crate::client::Kernel;
use crate::cmd_laddr::require_ext;
use crate::error::Error;
use crate::listing::{Columns, TableView};
use crate::ops;
use crate::output::{render, Format};
use crate::values::{
    check_onepacket, check_zero_port, default_netmask, parse_netmask, parse_pe, parse_persistence,
    parse_proxy, parse_sched, parse_sched_flags, parse_sched_flags_for, parse_service,
    parse_service_kind, service_label, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHED, SCHED_FLAGS,
};

/// A service on the command line: `tcp 10.0.1.100:80`, `udp [2001:db8::1]:53`,
/// `sctp ...`, `fwmark 42 [--ipv6]`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ServiceArg {
    /// Service type: tcp, udp, sctp or fwmark.
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// ADDRESS[:PORT] (IPv6 as [ADDRESS]:PORT), or the mark of a fwmark
    /// service.
    #[arg(value_name = "SERVICE", allow_negative_numbers = true)]
    pub target: String,
    /// The fwmark service is an IPv6 one.
    #[arg(long, short = '6')]
    pub ipv6: bool,
}

impl ServiceArg {
    /// The service key.
    pub fn key(&self) -> Result<ServiceKey, Error> {
        parse_service(parse_service_kind(&self.kind)?, &self.target, self.ipv6)
    }
}

/// Settings of `service add` and `service edit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct ServiceOpts {
    /// Scheduler (rr, wrr, lc, wlc, sh, mh, ...); default wlc.
    #[arg(long, short = 's', value_name = "NAME")]
    pub sched: Option<String>,
    /// Make the service persistent, for SECS seconds (default 360).
    #[arg(
        long,
        short = 'p',
        value_name = "SECS",
        num_args = 0..=1,
        allow_negative_numbers = true
    )]
    pub persistent: Option<Option<String>>,
    /// Persistence granularity: IPv4 mask (255.255.255.0) or prefix
    /// length; IPv6 prefix length.
    #[arg(long, short = 'M', value_name = "MASK", allow_negative_numbers = true)]
    pub netmask: Option<String>,
    /// Scheduler flags, comma-separated: sh-fallback, sh-port,
    /// mh-fallback, mh-port, flag-1, flag-2, flag-3, or none.
    #[arg(long, short = 'b', value_name = "FLAGS")]
    pub sched_flags: Option<String>,
    /// One-packet scheduling (UDP and fwmark services).
    #[arg(long, short = 'o')]
    pub onepacket: bool,
    /// Persistence engine (e.g. sip).
    #[arg(long, value_name = "NAME")]
    pub pe: Option<String>,
    /// Write the client's address into FULLNAT TCP connections as a TCP
    /// option (TOA), for toa_rs on the real servers (ipvs_rs only).
    #[arg(long)]
    pub toa: bool,
    /// SYNPROXY: the director answers SYNs with cookies and opens the
    /// connection to a real server only for clients that complete the
    /// handshake (TCP services with NAT/FULLNAT real servers; ipvs_rs
    /// only).
    #[arg(long)]
    pub synproxy: bool,
    /// PROXY protocol header (v1 or v2) at the start of every TCP
    /// connection to a NAT or FULLNAT real server, for servers that read
    /// the client's address from it (nginx `proxy_protocol`; ipvs_rs
    /// only). `off` turns it off.
    #[arg(long, value_name = "VERSION")]
    pub proxy_protocol: Option<String>,
}

/// Settings only `service edit` can remove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct ServiceClear {
    /// Make the service non-persistent.
    #[arg(long, conflicts_with_all = ["persistent", "netmask"])]
    pub no_persistent: bool,
    /// Turn one-packet scheduling off.
    #[arg(long, conflicts_with = "onepacket")]
    pub no_onepacket: bool,
    /// Remove the persistence engine.
    #[arg(long, conflicts_with = "pe")]
    pub no_pe: bool,
    /// Stop writing TOA.
    #[arg(long, conflicts_with = "toa")]
    pub no_toa: bool,
    /// Turn SYNPROXY off.
    #[arg(long, conflicts_with = "synproxy")]
    pub no_synproxy: bool,
    /// Stop sending the PROXY protocol header.
    #[arg(long, conflicts_with = "proxy_protocol")]
    pub no_proxy_protocol: bool,
}

impl ServiceOpts {
    /// Whether an option of the `IPVS` family (not `--toa`) is given.
    fn has_ipvs_settings(&self) -> bool {
        let ipvs = ServiceOpts {
            toa: false,
            synproxy: false,
            proxy_protocol: None,
            ..self.clone()
        };
        ipvs != ServiceOpts::default()
    }
}

impl ServiceClear {
    /// Whether an option of the `IPVS` family (not `--no-toa`) is given.
    fn has_ipvs_settings(&self) -> bool {
        let ipvs = ServiceClear {
            no_toa: false,
            no_synproxy: false,
            no_proxy_protocol: false,
            ..self.clone()
        };
        ipvs != ServiceClear::default()
    }
}

/// `ipvsctl service ...`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum ServiceCommand {
    /// Add a virtual service.
    Add {
        #[command(flatten)]
        service: ServiceArg,
        #[command(flatten)]
        opts: ServiceOpts,
    },
    /// Change settings of a virtual service; others are kept.
    Edit {
        #[command(flatten)]
        service: ServiceArg,
        #[command(flatten)]
        opts: ServiceOpts,
        #[command(flatten)]
        clear: ServiceClear,
    },
    /// Delete a virtual service and its real servers.
    #[command(visible_alias = "delete")]
    Del {
        #[command(flatten)]
        service: ServiceArg,
    },
    /// List every service with its real servers, or one.
    #[command(visible_alias = "ls")]
    List(ListArgs),
}

/// `ipvsctl service list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct ListArgs {
    /// Service type: tcp, udp, sctp or fwmark (to list one service).
    #[arg(value_name = "TYPE", requires = "target")]
    pub kind: Option<String>,
    /// ADDRESS[:PORT] or mark of the service to list.
    #[arg(value_name = "SERVICE", allow_negative_numbers = true)]
    pub target: Option<String>,
    /// The fwmark service is an IPv6 one.
    #[arg(long, short = '6', requires = "target")]
    pub ipv6: bool,
    /// Show connections, packets and bytes.
    #[arg(long, group = "columns")]
    pub stats: bool,
    /// Show connection, packet and byte rates.
    #[arg(long, group = "columns")]
    pub rate: bool,
    /// Show connection thresholds.
    #[arg(long, group = "columns")]
    pub thresholds: bool,
    /// Show tunnel settings.
    #[arg(long, group = "columns")]
    pub tun_info: bool,
    /// Show numbers in full (no K, M, G, T).
    #[arg(long, short = 'X')]
    pub exact: bool,
}

impl ListArgs {
    fn columns(&self) -> Columns {
        if self.stats {
            Columns::Stats
        } else if self.rate {
            Columns::Rate
        } else if self.thresholds {
            Columns::Thresholds
        } else if self.tun_info {
            Columns::TunInfo
        } else {
            Columns::Default
        }
    }
}

/// The settings to send for `service add` (`current` is `None`) or
/// `service edit` (`current` is the service as the kernel has it): what
/// the options say, the rest from `current` or `ipvsadm`'s defaults.
pub fn service_conf(
    key: &ServiceKey,
    opts: &ServiceOpts,
    clear: &ServiceClear,
    current: Option<&ServiceConf>,
) -> Result<ServiceConfReq, Error> {
    let af = key.af();
    let mut conf = match current {
        Some(c) => *c,
        None => ServiceConf {
            sched: parse_sched(DEFAULT_SCHED)?,
            pe: Name::default(),
            flags: 0,
            timeout: 0,
            netmask: default_netmask(af),
        },
    };
    // Kernel-internal; upstream refuses to hash a new service that has it.
    conf.flags &= !svc_flags::HASHED;
    if let Some(s) = &opts.sched {
        conf.sched = parse_sched(s)?;
    }
    let was_persistent = conf.flags & svc_flags::PERSISTENT != 0;
    if let Some(secs) = &opts.persistent {
        conf.timeout = match secs {
            Some(s) => parse_persistence(s)?,
            None if was_persistent => conf.timeout,
            None => DEFAULT_PERSISTENT_TIMEOUT,
        };
        conf.flags |= svc_flags::PERSISTENT;
    }
    if clear.no_persistent {
        conf.flags &= !svc_flags::PERSISTENT;
        conf.timeout = 0;
        conf.netmask = default_netmask(af);
    }
    if let Some(m) = &opts.netmask {
        if conf.flags & svc_flags::PERSISTENT == 0 {
            return Err(Error::Usage(
                "--netmask sets the granularity of persistence: add --persistent".into(),
            ));
        }
        conf.netmask = parse_netmask(m, af, true)?;
    }
    if let Some(f) = &opts.sched_flags {
        let bits = parse_sched_flags(f, conf.sched.as_str())?;
        conf.flags = (conf.flags & !SCHED_FLAGS) | bits;
    }
    if opts.onepacket {
        conf.flags |= svc_flags::ONEPACKET;
        check_onepacket(key, conf.flags)?;
    }
    if clear.no_onepacket {
        conf.flags &= !svc_flags::ONEPACKET;
    }
    if let Some(pe) = &opts.pe {
        conf.pe = parse_pe(pe)?;
    }
    if clear.no_pe {
        conf.pe = Name::default();
    }
    check_zero_port(key, conf.flags)?;
    Ok(ServiceConfReq {
        sched: conf.sched,
        pe: conf.pe,
        // As ipvsadm: every flag is set to what is sent.
        flags: FlagsUpdate {
            flags: conf.flags,
            mask: !0,
        },
        timeout: conf.timeout,
        netmask: conf.netmask,
    })
}

/// Checks the values of the options on their own, so that `service edit`
/// reports a bad value before it reads the service.
fn check_values(key: &ServiceKey, opts: &ServiceOpts) -> Result<(), Error> {
    let sched = opts.sched.as_deref().map(parse_sched).transpose()?;
    if let Some(Some(secs)) = &opts.persistent {
        parse_persistence(secs)?;
    }
    if let Some(m) = &opts.netmask {
        parse_netmask(m, key.af(), true)?;
    }
    if let Some(f) = &opts.sched_flags {
        parse_sched_flags_for(f, sched.as_ref().map(|s| s.as_str()))?;
    }
    if let Some(pe) = &opts.pe {
        parse_pe(pe)?;
    }
    Ok(())
}

/// The first line of `ipvsadm -L`.
pub fn version_line<K: Kernel>(k: &mut K) -> Result<String, Error> {
    let info = ops::info(k)?;
    let (major, minor, patch) = version_triple(info.version);
    Ok(format!(
        "IP Virtual Server version {major}.{minor}.{patch} (size={})",
        info.conn_tab_size
    ))
}

/// The table, or one service, for `service list` and `stats`.
pub fn table_view<K: Kernel>(
    k: &mut K,
    one: Option<&ServiceKey>,
    columns: Columns,
    exact: bool,
    format: Format,
) -> Result<TableView, Error> {
    let (entries, header) = match one {
        Some(key) => (vec![ops::service(k, key)?], None),
        None => {
            let header = match format {
                Format::Human => Some(version_line(k)?),
                Format::Json => None,
            };
            (ops::services(k)?, header)
        }
    };
    Ok(TableView::new(entries, header, columns, exact))
}

/// Runs `service ...`; returns what to print.
pub fn run<K: Kernel>(
    k: &mut K,
    command: &ServiceCommand,
    format: Format,
) -> Result<String, Error> {
    match command {
        ServiceCommand::Add { service, opts } => {
            let key = service.key()?;
            let conf = service_conf(&key, opts, &ServiceClear::default(), None)?;
            if opts.toa {
                require_ext(k, "--toa")?;
            }
            if opts.synproxy {
                require_ext(k, "--synproxy")?;
            }
            let proxy = opts
                .proxy_protocol
                .as_deref()
                .map(parse_proxy)
                .transpose()?;
            if proxy.is_some() {
                require_ext(k, "--proxy-protocol")?;
            }
            ops::add_service(k, &key, &conf)?;
            let set = SvcExtSet {
                toa: opts.toa.then_some(true),
                synproxy: opts.synproxy.then_some(true),
                proxy: proxy.filter(|p| p.is_on()),
            };
            if !set.is_empty() {
                if let Err(e) = ops::set_svc_ext(k, &key, &set) {
                    // Take the service away again: a failed command
                    // changes nothing.
                    let _ = ops::del_service(k, &key);
                    return Err(e);
                }
            }
        }
        ServiceCommand::Edit {
            service,
            opts,
            clear,
        } => {
            let key = service.key()?;
            check_values(&key, opts)?;
            let toa = match (opts.toa, clear.no_toa) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            if toa.is_some() {
                require_ext(k, if opts.toa { "--toa" } else { "--no-toa" })?;
            }
            let synproxy = match (opts.synproxy, clear.no_synproxy) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            if synproxy.is_some() {
                require_ext(
                    k,
                    if opts.synproxy {
                        "--synproxy"
                    } else {
                        "--no-synproxy"
                    },
                )?;
            }
            let proxy = match (&opts.proxy_protocol, clear.no_proxy_protocol) {
                (Some(v), _) => Some(parse_proxy(v)?),
                (_, true) => Some(ProxyVersion::Off),
                _ => None,
            };
            if proxy.is_some() {
                require_ext(
                    k,
                    if opts.proxy_protocol.is_some() {
                        "--proxy-protocol"
                    } else {
                        "--no-proxy-protocol"
                    },
                )?;
            }
            let set = SvcExtSet {
                toa,
                synproxy,
                proxy,
            };
            let (current, _) = ops::find_service(k, &key)?
                .ok_or_else(|| Error::NotFound(format!("service {}", service_label(&key))))?;
            let conf = service_conf(&key, opts, clear, Some(&current))?;
            if set.is_empty() || opts.has_ipvs_settings() || clear.has_ipvs_settings() {
                ops::edit_service(k, &key, &conf)?;
            }
            if !set.is_empty() {
                ops::set_svc_ext(k, &key, &set)?;
            }
        }
        ServiceCommand::Del { service } => {
            let key = service.key()?;
            ops::del_service(k, &key)?;
        }
        ServiceCommand::List(args) => {
            let one = match (&args.kind, &args.target) {
                (Some(kind), Some(target)) => {
                    Some(parse_service(parse_service_kind(kind)?, target, args.ipv6)?)
                }
                _ => None,
            };
            let view = table_view(k, one.as_ref(), args.columns(), args.exact, format)?;
            return render(&view, format);
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use ipvs_core::addr::{Addr, Af};
    use ipvs_core::service::Protocol;

    fn tcp() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        }
    }

    fn arg(kind: &str, target: &str) -> ServiceArg {
        ServiceArg {
            kind: kind.into(),
            target: target.into(),
            ipv6: false,
        }
    }

    fn add(
        k: &mut FakeKernel,
        kind: &str,
        target: &str,
        opts: ServiceOpts,
    ) -> Result<String, Error> {
        run(
            k,
            &ServiceCommand::Add {
                service: arg(kind, target),
                opts,
            },
            Format::Human,
        )
    }

    fn edit(k: &mut FakeKernel, opts: ServiceOpts, clear: ServiceClear) -> Result<String, Error> {
        run(
            k,
            &ServiceCommand::Edit {
                service: arg("tcp", "10.0.1.100:80"),
                opts,
                clear,
            },
            Format::Human,
        )
    }

    fn conf(k: &FakeKernel) -> ServiceConf {
        k.services[0].conf
    }

    #[test]
    fn add_defaults_like_ipvsadm() {
        let c = service_conf(
            &tcp(),
            &ServiceOpts::default(),
            &ServiceClear::default(),
            None,
        )
        .unwrap();
        assert_eq!(c.sched.as_str(), "wlc");
        assert_eq!(c.flags, FlagsUpdate { flags: 0, mask: !0 });
        assert_eq!((c.timeout, c.netmask), (0, u32::MAX));
        let opts = ServiceOpts {
            persistent: Some(None),
            ..Default::default()
        };
        let c = service_conf(&tcp(), &opts, &ServiceClear::default(), None).unwrap();
        assert_eq!((c.flags.flags, c.timeout), (svc_flags::PERSISTENT, 360));
        let v6 = ServiceKey::Fwmark {
            af: Af::Inet6,
            mark: 1,
        };
        let c = service_conf(&v6, &ServiceOpts::default(), &ServiceClear::default(), None).unwrap();
        assert_eq!(c.netmask, 128);
    }

    #[test]
    fn add_with_every_option() {
        let mut k = FakeKernel::default();
        let opts = ServiceOpts {
            sched: Some("sh".into()),
            persistent: Some(Some("600".into())),
            netmask: Some("24".into()),
            sched_flags: Some("sh-fallback,sh-port".into()),
            onepacket: true,
            pe: None,
            toa: false,
            synproxy: false,
            proxy_protocol: None,
        };
        add(&mut k, "udp", "10.0.1.100:53", opts).unwrap();
        let c = conf(&k);
        assert_eq!(c.sched.as_str(), "sh");
        assert_eq!(
            c.flags,
            svc_flags::PERSISTENT | svc_flags::ONEPACKET | svc_flags::SCHED1 | svc_flags::SCHED2
        );
        assert_eq!(c.timeout, 600);
        assert_eq!(c.netmask.to_ne_bytes(), [255, 255, 255, 0]);
    }

    #[test]
    fn add_errors() {
        let mut k = FakeKernel::default();
        let e = |opts: ServiceOpts, kind: &str, target: &str| {
            add(&mut FakeKernel::default(), kind, target, opts)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e(ServiceOpts::default(), "tcp", "10.0.1.100"),
            "service TCP 10.0.1.100:0 has port 0 (every port), which needs persistence \
             (--persistent)"
        );
        assert_eq!(
            e(
                ServiceOpts {
                    netmask: Some("24".into()),
                    ..Default::default()
                },
                "tcp",
                "10.0.1.100:80"
            ),
            "--netmask sets the granularity of persistence: add --persistent"
        );
        assert_eq!(
            e(
                ServiceOpts {
                    onepacket: true,
                    ..Default::default()
                },
                "tcp",
                "10.0.1.100:80"
            ),
            "one-packet scheduling is only for UDP and fwmark services, not TCP 10.0.1.100:80"
        );
        assert_eq!(
            e(
                ServiceOpts {
                    persistent: Some(Some("-1".into())),
                    ..Default::default()
                },
                "tcp",
                "10.0.1.100:80"
            ),
            "invalid persistence timeout \"-1\": must be 1..2678400"
        );
        assert_eq!(
            e(ServiceOpts::default(), "icmp", "10.0.1.100:80"),
            "invalid service type \"icmp\": must be tcp, udp, sctp or fwmark"
        );
        // The kernel's own refusal, with its extended ack.
        let opts = ServiceOpts {
            sched: Some("fancy".into()),
            ..Default::default()
        };
        assert_eq!(
            add(&mut k, "tcp", "10.0.1.100:80", opts)
                .unwrap_err()
                .to_string(),
            "IPVS_CMD_NEW_SERVICE failed: No such file or directory (ENOENT): \
             IPVS_SVC_ATTR_SCHED_NAME: unknown scheduler"
        );
        // Nothing reached the kernel for the argument errors above.
        assert_eq!(k.log.len(), 1);
    }

    #[test]
    fn edit_keeps_unspecified_settings() {
        let mut k = FakeKernel::default();
        let opts = ServiceOpts {
            sched: Some("sh".into()),
            persistent: Some(Some("600".into())),
            netmask: Some("255.255.0.0".into()),
            sched_flags: Some("sh-port".into()),
            ..Default::default()
        };
        add(&mut k, "tcp", "10.0.1.100:80", opts).unwrap();
        let before = conf(&k);
        // Only the scheduler flags change.
        edit(
            &mut k,
            ServiceOpts {
                sched_flags: Some("sh-fallback".into()),
                ..Default::default()
            },
            ServiceClear::default(),
        )
        .unwrap();
        let after = conf(&k);
        assert_eq!(after.sched, before.sched);
        assert_eq!(after.timeout, 600);
        assert_eq!(after.netmask, before.netmask);
        assert_eq!(after.flags, svc_flags::PERSISTENT | svc_flags::SCHED1);
        // --persistent without a value keeps the timeout of a persistent
        // service.
        edit(
            &mut k,
            ServiceOpts {
                persistent: Some(None),
                ..Default::default()
            },
            ServiceClear::default(),
        )
        .unwrap();
        assert_eq!(conf(&k).timeout, 600);
        // Scheduler change keeps the flags.
        edit(
            &mut k,
            ServiceOpts {
                sched: Some("rr".into()),
                ..Default::default()
            },
            ServiceClear::default(),
        )
        .unwrap();
        assert_eq!(conf(&k).sched.as_str(), "rr");
        assert_eq!(conf(&k).flags, svc_flags::PERSISTENT | svc_flags::SCHED1);
        // Clearing.
        edit(
            &mut k,
            ServiceOpts {
                sched_flags: Some("none".into()),
                ..Default::default()
            },
            ServiceClear {
                no_persistent: true,
                ..Default::default()
            },
        )
        .unwrap();
        let c = conf(&k);
        assert_eq!((c.flags, c.timeout, c.netmask), (0, 0, u32::MAX));
        // The edit requests never carry the kernel-internal HASHED bit.
        for (command, attrs) in &k.log {
            if *command == ipvs_core::netlink::ipvs::cmd::SET_SERVICE {
                let a = ipvs_core::netlink::service::CmdAttrs::parse(attrs).unwrap();
                let req = ipvs_core::netlink::service::decode_service(a.service, true).unwrap();
                assert_eq!(req.conf.unwrap().flags.flags & svc_flags::HASHED, 0);
            }
        }
    }

    #[test]
    fn edit_of_a_missing_service() {
        let mut k = FakeKernel::default();
        assert_eq!(
            edit(&mut k, ServiceOpts::default(), ServiceClear::default())
                .unwrap_err()
                .to_string(),
            "no such service TCP 10.0.1.100:80"
        );
        // A bad value is reported before the kernel is asked anything.
        let opts = ServiceOpts {
            sched: Some("".into()),
            ..Default::default()
        };
        assert_eq!(
            edit(&mut k, opts, ServiceClear::default())
                .unwrap_err()
                .to_string(),
            "invalid scheduler \"\": must not be empty"
        );
        let opts = ServiceOpts {
            sched_flags: Some("sh-bogus".into()),
            ..Default::default()
        };
        assert!(edit(&mut k, opts, ServiceClear::default())
            .unwrap_err()
            .to_string()
            .starts_with("invalid scheduler flag \"sh-bogus\""));
        assert_eq!(k.log.len(), 1);
    }

    #[test]
    fn edit_flags_checked_against_the_current_scheduler() {
        let mut k = FakeKernel::default();
        let opts = ServiceOpts {
            sched: Some("sh".into()),
            ..Default::default()
        };
        add(&mut k, "tcp", "10.0.1.100:80", opts).unwrap();
        let flags = |f: &str| ServiceOpts {
            sched_flags: Some(f.into()),
            ..Default::default()
        };
        edit(&mut k, flags("sh-port"), ServiceClear::default()).unwrap();
        assert_eq!(conf(&k).flags, svc_flags::SCHED2);
        assert_eq!(
            edit(&mut k, flags("mh-port"), ServiceClear::default())
                .unwrap_err()
                .to_string(),
            "invalid scheduler flag \"mh-port\": only for the mh scheduler, not sh"
        );
    }

    #[test]
    fn toa_on_add_and_edit() {
        let mut k = FakeKernel::default();
        let toa = ServiceOpts {
            toa: true,
            ..Default::default()
        };
        add(&mut k, "tcp", "10.0.1.100:80", toa.clone()).unwrap();
        assert!(k.services[0].ext.toa);
        let text = run(
            &mut k,
            &ServiceCommand::List(ListArgs::default()),
            Format::Human,
        )
        .unwrap();
        assert!(text.ends_with("TCP  10.0.1.100:80 wlc toa\n"), "{text}");
        let j: serde_json::Value = serde_json::from_str(
            &run(
                &mut k,
                &ServiceCommand::List(ListArgs::default()),
                Format::Json,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(j["services"][0]["toa"], true);
        assert_eq!(j["services"][0]["laddrs"], serde_json::json!([]));
        assert_eq!(
            j["services"][0]["ext_stats"],
            serde_json::json!({"toa_written": 0, "toa_skipped": 0, "fnat_exhausted": 0,
                "synproxy_cookies_sent": 0, "synproxy_ack_valid": 0, "synproxy_ack_bad": 0,
                "synproxy_syn_retrans": 0, "synproxy_ack_storm": 0, "synproxy_held_drops": 0,
                "proxy_sent": 0, "proxy_resent": 0})
        );
        // --no-toa alone sends only the IPVS_RS request.
        let ipvs_before = k.log.len();
        edit(
            &mut k,
            ServiceOpts::default(),
            ServiceClear {
                no_toa: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!k.services[0].ext.toa);
        assert_eq!(k.log.len(), ipvs_before + 1, "only the GET_SERVICE");
        // With another setting both go.
        edit(
            &mut k,
            ServiceOpts {
                sched: Some("rr".into()),
                toa: true,
                ..Default::default()
            },
            ServiceClear::default(),
        )
        .unwrap();
        assert!(k.services[0].ext.toa);
        assert_eq!(conf(&k).sched.as_str(), "rr");
    }

    #[test]
    fn synproxy_on_add_and_edit() {
        let mut k = FakeKernel::default();
        let both = ServiceOpts {
            toa: true,
            synproxy: true,
            ..Default::default()
        };
        add(&mut k, "tcp", "10.0.1.100:80", both).unwrap();
        assert!(k.services[0].ext.toa && k.services[0].ext.synproxy);
        let text = run(
            &mut k,
            &ServiceCommand::List(ListArgs::default()),
            Format::Human,
        )
        .unwrap();
        assert!(
            text.ends_with("TCP  10.0.1.100:80 wlc toa synproxy\n"),
            "{text}"
        );
        // --no-synproxy changes SYNPROXY only (TOA stays on).
        edit(
            &mut k,
            ServiceOpts::default(),
            ServiceClear {
                no_synproxy: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(k.services[0].ext.toa && !k.services[0].ext.synproxy);
        // --synproxy alone changes SYNPROXY only (TOA stays on).
        edit(
            &mut k,
            ServiceOpts {
                synproxy: true,
                ..Default::default()
            },
            ServiceClear::default(),
        )
        .unwrap();
        assert!(k.services[0].ext.toa && k.services[0].ext.synproxy);
        let j: serde_json::Value = serde_json::from_str(
            &run(
                &mut k,
                &ServiceCommand::List(ListArgs::default()),
                Format::Json,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(j["services"][0]["synproxy"], true);
        // Without the IPVS_RS family: refused by name, nothing sent.
        let mut k = FakeKernel::default();
        k.ext = false;
        let sp = ServiceOpts {
            synproxy: true,
            ..Default::default()
        };
        assert!(add(&mut k, "tcp", "10.0.1.100:80", sp)
            .unwrap_err()
            .to_string()
            .starts_with("--synproxy needs ipvs_rs"));
        assert!(k.services.is_empty() && k.sent() == 0);
    }

    #[test]
    fn proxy_protocol_on_add_and_edit() {
        let mut k = FakeKernel::default();
        let v2 = ServiceOpts {
            proxy_protocol: Some("v2".into()),
            ..Default::default()
        };
        add(&mut k, "tcp", "10.0.1.100:80", v2).unwrap();
        assert_eq!(k.services[0].ext.proxy, ProxyVersion::V2);
        let text = run(
            &mut k,
            &ServiceCommand::List(ListArgs::default()),
            Format::Human,
        )
        .unwrap();
        assert!(
            text.ends_with("TCP  10.0.1.100:80 wlc proxy-protocol v2\n"),
            "{text}"
        );
        // v1, then off with --no-proxy-protocol; the rest stays.
        let v1 = ServiceOpts {
            proxy_protocol: Some("v1".into()),
            toa: true,
            ..Default::default()
        };
        edit(&mut k, v1, ServiceClear::default()).unwrap();
        assert_eq!(k.services[0].ext.proxy, ProxyVersion::V1);
        edit(
            &mut k,
            ServiceOpts::default(),
            ServiceClear {
                no_proxy_protocol: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.services[0].ext.proxy, ProxyVersion::Off);
        assert!(k.services[0].ext.toa);
        // A bad version is named, and nothing is sent.
        let before = k.sent();
        let bad = ServiceOpts {
            proxy_protocol: Some("v3".into()),
            ..Default::default()
        };
        let e = edit(&mut k, bad, ServiceClear::default()).unwrap_err();
        assert!(e.to_string().contains("\"v3\""), "{e}");
        assert!(e.to_string().contains("--proxy-protocol"), "{e}");
        assert_eq!(k.sent(), before);
        // Counters in JSON.
        k.set_ext_stats(&k.services[0].key.clone(), 1);
        let j: serde_json::Value = serde_json::from_str(
            &run(
                &mut k,
                &ServiceCommand::List(ListArgs::default()),
                Format::Json,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(j["services"][0]["proxy_protocol"], "off");
        assert_eq!(j["services"][0]["ext_stats"]["proxy_sent"], 10);
        assert_eq!(j["services"][0]["ext_stats"]["proxy_resent"], 11);
        // Without the IPVS_RS family: refused by name.
        let mut k = FakeKernel::default();
        k.ext = false;
        let v2 = ServiceOpts {
            proxy_protocol: Some("v2".into()),
            ..Default::default()
        };
        assert!(add(&mut k, "tcp", "10.0.1.100:80", v2)
            .unwrap_err()
            .to_string()
            .starts_with("--proxy-protocol needs ipvs_rs"));
        assert!(k.services.is_empty() && k.sent() == 0);
    }

    #[test]
    fn toa_without_the_ipvs_rs_family() {
        let mut k = FakeKernel::default();
        k.ext = false;
        let toa = ServiceOpts {
            toa: true,
            ..Default::default()
        };
        assert_eq!(
            add(&mut k, "tcp", "10.0.1.100:80", toa.clone())
                .unwrap_err()
                .to_string(),
            "--toa needs ipvs_rs: the IPVS_RS generic netlink family is not registered \
             (upstream ip_vs has no FULLNAT, local addresses or TOA)"
        );
        assert!(k.services.is_empty() && k.sent() == 0);
        // Plain IPVS commands and listings work as before, without TOA.
        add(&mut k, "tcp", "10.0.1.100:80", ServiceOpts::default()).unwrap();
        let j: serde_json::Value = serde_json::from_str(
            &run(
                &mut k,
                &ServiceCommand::List(ListArgs::default()),
                Format::Json,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(j["services"][0]["toa"], serde_json::Value::Null);
        assert_eq!(j["services"][0]["laddrs"], serde_json::Value::Null);
        assert!(edit(
            &mut k,
            ServiceOpts::default(),
            ServiceClear {
                no_toa: true,
                ..Default::default()
            }
        )
        .unwrap_err()
        .to_string()
        .starts_with("--no-toa needs ipvs_rs"));
    }

    #[test]
    fn a_failed_toa_request_takes_the_new_service_away() {
        let mut k = FakeKernel::default();
        // Write 0 is NEW_SERVICE, write 1 the IPVS_RS SET_SVC.
        k.fail_write = Some(1);
        let toa = ServiceOpts {
            toa: true,
            ..Default::default()
        };
        let e = add(&mut k, "tcp", "10.0.1.100:80", toa).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS_RS_CMD_SET_SVC failed: Invalid argument (EINVAL): injected failure"
        );
        assert!(k.services.is_empty());
    }

    #[test]
    fn del_and_list() {
        let mut k = FakeKernel::default();
        add(&mut k, "tcp", "10.0.1.100:80", ServiceOpts::default()).unwrap();
        add(&mut k, "fwmark", "42", ServiceOpts::default()).unwrap();
        let text = run(
            &mut k,
            &ServiceCommand::List(ListArgs::default()),
            Format::Human,
        )
        .unwrap();
        assert_eq!(
            text,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.100:80 wlc\n\
             FWM  42 wlc\n"
        );
        let one = ListArgs {
            kind: Some("fwmark".into()),
            target: Some("42".into()),
            ..Default::default()
        };
        let text = run(&mut k, &ServiceCommand::List(one.clone()), Format::Human).unwrap();
        assert!(text.starts_with("Prot LocalAddress:Port"), "{text}");
        assert!(text.ends_with("FWM  42 wlc\n"), "{text}");
        let json = run(&mut k, &ServiceCommand::List(one), Format::Json).unwrap();
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["services"].as_array().unwrap().len(), 1);
        assert_eq!(j["services"][0]["fwmark"], 42);
        run(
            &mut k,
            &ServiceCommand::Del {
                service: arg("tcp", "10.0.1.100:80"),
            },
            Format::Human,
        )
        .unwrap();
        assert_eq!(k.services.len(), 1);
        let e = run(
            &mut k,
            &ServiceCommand::Del {
                service: arg("tcp", "10.0.1.100:80"),
            },
            Format::Human,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS_CMD_DEL_SERVICE failed: No such process (ESRCH): \
             IPVS_CMD_ATTR_SERVICE: no such service"
        );
        let missing = ListArgs {
            kind: Some("udp".into()),
            target: Some("10.9.9.9:53".into()),
            ..Default::default()
        };
        assert_eq!(
            run(&mut k, &ServiceCommand::List(missing), Format::Human)
                .unwrap_err()
                .to_string(),
            "no such service UDP 10.9.9.9:53"
        );
    }
}
