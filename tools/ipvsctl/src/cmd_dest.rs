// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl dest add|edit|del`: real servers of a virtual service.

use clap::{Args, Subcommand};
use ipvs_core::addr::Addr;
use ipvs_core::service::{DestConf, DestKey, FwdMethod, ServiceKey, TunType};

use crate::client::Kernel;
use crate::cmd_laddr::require_ext;
use crate::cmd_service::ServiceArg;
use crate::error::Error;
use crate::ops;
use crate::values::{
    check_dest_family, check_thresholds, check_tunnel, fmt_addr_port, parse_fwd, parse_number,
    parse_port, parse_server, parse_tun_type, parse_weight, service_label, MAX_WEIGHT, TUN_F_CSUM,
    TUN_F_REMCSUM,
};

/// A real server on the command line: its service, then its address.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct DestArg {
    #[command(flatten)]
    pub service: ServiceArg,
    /// Real server ADDRESS[:PORT] (IPv6 as [ADDRESS]:PORT); the port
    /// defaults to the service's.
    #[arg(value_name = "SERVER")]
    pub server: String,
}

/// Settings of `dest add` and `dest edit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct DestOpts {
    /// Forwarding method: nat (masquerading), dr (direct routing, the
    /// default), tun (IP tunnel) or fullnat (source and destination
    /// translated, the source to a local address of the service; ipvs_rs
    /// only).
    #[arg(long, value_name = "METHOD")]
    pub fwd: Option<String>,
    /// The same as --fwd fullnat.
    #[arg(long, conflicts_with = "fwd")]
    pub fullnat: bool,
    /// Weight, 0..2147483647 (0: no new connections); default 1.
    #[arg(long, short = 'w', value_name = "N", allow_negative_numbers = true)]
    pub weight: Option<String>,
    /// Upper connection threshold (0: none).
    #[arg(
        long,
        short = 'x',
        visible_alias = "u-threshold",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub upper: Option<String>,
    /// Lower connection threshold, at most the upper one.
    #[arg(
        long,
        short = 'y',
        visible_alias = "l-threshold",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub lower: Option<String>,
    /// Tunnel encapsulation with --fwd tun: ipip (default), gue or gre.
    #[arg(long, value_name = "TYPE")]
    pub tun_type: Option<String>,
    /// Destination port of gue tunnels.
    #[arg(long, value_name = "PORT", allow_negative_numbers = true)]
    pub tun_port: Option<String>,
    /// Tunnel without checksums (the default; gue, gre).
    #[arg(long, group = "csum")]
    pub tun_nocsum: bool,
    /// Tunnel with checksums (gue, gre).
    #[arg(long, group = "csum")]
    pub tun_csum: bool,
    /// Tunnel with remote checksum offload (gue).
    #[arg(long, group = "csum")]
    pub tun_remcsum: bool,
}

/// `ipvsctl dest ...`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum DestCommand {
    /// Add a real server to a virtual service.
    Add {
        #[command(flatten)]
        dest: DestArg,
        #[command(flatten)]
        opts: DestOpts,
    },
    /// Change settings of a real server; others are kept.
    Edit {
        #[command(flatten)]
        dest: DestArg,
        #[command(flatten)]
        opts: DestOpts,
    },
    /// Remove a real server from a virtual service.
    #[command(visible_alias = "delete")]
    Del {
        #[command(flatten)]
        dest: DestArg,
    },
}

/// The options of `dest add|edit`, parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestValues {
    fwd: Option<FwdMethod>,
    weight: Option<i32>,
    upper: Option<u32>,
    lower: Option<u32>,
    tun_type: Option<TunType>,
    tun_port: Option<u16>,
    tun_flags: Option<u16>,
    /// The first tunnel option given, for messages.
    tun_option: Option<&'static str>,
}

impl DestValues {
    /// Parses every option value on its own.
    pub fn parse(o: &DestOpts) -> Result<Self, Error> {
        let threshold = |s: &Option<String>, what| {
            s.as_deref()
                .map(|v| parse_number(what, v, 0, MAX_WEIGHT))
                .transpose()
        };
        let tun_port = match o.tun_port.as_deref() {
            Some(p) => match parse_port("tunnel port", p)? {
                0 => return Err(Error::invalid("tunnel port", p, "must be 1..65535")),
                n => Some(n),
            },
            None => None,
        };
        let tun_flags = if o.tun_remcsum {
            Some(TUN_F_REMCSUM)
        } else if o.tun_csum {
            Some(TUN_F_CSUM)
        } else if o.tun_nocsum {
            Some(0)
        } else {
            None
        };
        let tun_option = [
            (o.tun_type.is_some(), "--tun-type"),
            (o.tun_port.is_some(), "--tun-port"),
            (o.tun_nocsum, "--tun-nocsum"),
            (o.tun_csum, "--tun-csum"),
            (o.tun_remcsum, "--tun-remcsum"),
        ]
        .iter()
        .find(|(given, _)| *given)
        .map(|(_, name)| *name);
        let fwd = if o.fullnat {
            Some(FwdMethod::FullNat)
        } else {
            o.fwd.as_deref().map(parse_fwd).transpose()?
        };
        Ok(DestValues {
            fwd,
            weight: o.weight.as_deref().map(parse_weight).transpose()?,
            upper: threshold(&o.upper, "upper threshold")?,
            lower: threshold(&o.lower, "lower threshold")?,
            tun_type: o.tun_type.as_deref().map(parse_tun_type).transpose()?,
            tun_port,
            tun_flags,
            tun_option,
        })
    }
}

/// The settings to send for `dest add` (`current` is `None`: `ipvsadm`'s
/// defaults, direct routing with weight 1) or `dest edit` (`current` is the
/// real server as the kernel has it).
pub fn dest_conf(
    svc: &ServiceKey,
    addr: &Addr,
    v: &DestValues,
    current: Option<&DestConf>,
) -> Result<DestConf, Error> {
    let mut c = current.copied().unwrap_or(DestConf {
        fwd: FwdMethod::Droute,
        weight: 1,
        u_thresh: 0,
        l_thresh: 0,
        tun_type: TunType::Ipip,
        tun_port: 0,
        tun_flags: 0,
    });
    if let Some(fwd) = v.fwd {
        c.fwd = fwd;
    }
    if let Some(w) = v.weight {
        c.weight = w;
    }
    if let Some(u) = v.upper {
        c.u_thresh = u;
    }
    if let Some(l) = v.lower {
        c.l_thresh = l;
    }
    if c.fwd == FwdMethod::Tunnel {
        if let Some(t) = v.tun_type {
            if t != c.tun_type {
                // Port and checksums of another encapsulation do not carry
                // over.
                c.tun_type = t;
                c.tun_port = 0;
                c.tun_flags = 0;
            }
        }
        if let Some(p) = v.tun_port {
            c.tun_port = p;
        }
        if let Some(f) = v.tun_flags {
            c.tun_flags = f;
        }
    } else {
        if let Some(opt) = v.tun_option {
            return Err(Error::Usage(format!(
                "{opt} needs tunnel forwarding (--fwd tun)"
            )));
        }
        c.tun_type = TunType::Ipip;
        c.tun_port = 0;
        c.tun_flags = 0;
    }
    check_thresholds(&c)?;
    check_tunnel(&c)?;
    check_dest_family(svc, addr, c.fwd)?;
    Ok(c)
}

/// The real server key; for `dest add`, `ipvsadm`'s rule that direct
/// routing and tunnels keep the service port (`ipvsadm` silently replaces
/// a different port; `ipvsctl` refuses it).
fn dest_key(svc: &ServiceKey, server: &str, fwd: Option<FwdMethod>) -> Result<DestKey, Error> {
    let (addr, port, given) = parse_server(server, svc)?;
    if let (ServiceKey::Addr { port: vport, .. }, Some(fwd)) = (svc, fwd) {
        if given && port != *vport && matches!(fwd, FwdMethod::Droute | FwdMethod::Tunnel) {
            return Err(Error::invalid(
                "real server address",
                server,
                format!(
                    "direct routing and tunnels cannot change the port: use the service \
                     port {vport} (or no port), or --fwd nat"
                ),
            ));
        }
    }
    Ok(DestKey { addr, port })
}

/// Runs `dest ...`; prints nothing.
pub fn run<K: Kernel>(k: &mut K, command: &DestCommand) -> Result<String, Error> {
    match command {
        DestCommand::Add { dest, opts } => {
            let svc = dest.service.key()?;
            let v = DestValues::parse(opts)?;
            let key = dest_key(&svc, &dest.server, Some(v.fwd.unwrap_or(FwdMethod::Droute)))?;
            let conf = dest_conf(&svc, &key.addr, &v, None)?;
            if conf.fwd == FwdMethod::FullNat {
                require_ext(k, "FULLNAT forwarding")?;
            }
            ops::add_dest(k, &svc, &key, &conf)?;
        }
        DestCommand::Edit { dest, opts } => {
            let svc = dest.service.key()?;
            let v = DestValues::parse(opts)?;
            let key = dest_key(&svc, &dest.server, None)?;
            if v.fwd == Some(FwdMethod::FullNat) {
                require_ext(k, "FULLNAT forwarding")?;
            }
            if ops::find_service(k, &svc)?.is_none() {
                return Err(Error::NotFound(format!("service {}", service_label(&svc))));
            }
            let current = ops::dests(k, &svc)?
                .into_iter()
                .find(|d| d.key == key)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "real server {} in service {}",
                        fmt_addr_port(&key.addr, key.port),
                        service_label(&svc)
                    ))
                })?;
            let conf = dest_conf(&svc, &key.addr, &v, Some(&current.conf))?;
            ops::edit_dest(k, &svc, &key, &conf)?;
        }
        DestCommand::Del { dest } => {
            let svc = dest.service.key()?;
            let key = dest_key(&svc, &dest.server, None)?;
            ops::del_dest(k, &svc, &key)?;
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use crate::ops::add_service;
    use ipvs_core::netlink::service::ServiceConfReq;
    use ipvs_core::service::{FlagsUpdate, Name, Protocol};

    fn setup() -> FakeKernel {
        let mut k = FakeKernel::default();
        let conf = ServiceConfReq {
            sched: Name::new("wlc").unwrap(),
            pe: Name::default(),
            flags: FlagsUpdate { flags: 0, mask: !0 },
            timeout: 0,
            netmask: u32::MAX,
        };
        add_service(&mut k, &svc(), &conf).unwrap();
        k
    }

    fn svc() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        }
    }

    fn arg(server: &str) -> DestArg {
        DestArg {
            service: ServiceArg {
                kind: "tcp".into(),
                target: "10.0.1.100:80".into(),
                ipv6: false,
            },
            server: server.into(),
        }
    }

    fn add(k: &mut FakeKernel, server: &str, opts: DestOpts) -> Result<String, Error> {
        run(
            k,
            &DestCommand::Add {
                dest: arg(server),
                opts,
            },
        )
    }

    fn edit(k: &mut FakeKernel, server: &str, opts: DestOpts) -> Result<String, Error> {
        run(
            k,
            &DestCommand::Edit {
                dest: arg(server),
                opts,
            },
        )
    }

    fn only(k: &FakeKernel) -> (DestKey, DestConf) {
        let d = &k.services[0].dests[0];
        (d.key, d.conf)
    }

    #[test]
    fn add_defaults_like_ipvsadm() {
        let mut k = setup();
        add(&mut k, "10.0.2.11", DestOpts::default()).unwrap();
        let (key, conf) = only(&k);
        assert_eq!(key.port, 80);
        assert_eq!(conf.fwd, FwdMethod::Droute);
        assert_eq!(conf.weight, 1);
        assert_eq!((conf.u_thresh, conf.l_thresh), (0, 0));
    }

    #[test]
    fn add_with_every_option() {
        let mut k = setup();
        let opts = DestOpts {
            fwd: Some("nat".into()),
            weight: Some("5".into()),
            upper: Some("100".into()),
            lower: Some("10".into()),
            ..Default::default()
        };
        add(&mut k, "10.0.2.11:8080", opts).unwrap();
        let (key, conf) = only(&k);
        assert_eq!(key.port, 8080);
        assert_eq!(
            (conf.fwd, conf.weight, conf.u_thresh, conf.l_thresh),
            (FwdMethod::Masq, 5, 100, 10)
        );
        let opts = DestOpts {
            fwd: Some("tun".into()),
            tun_type: Some("gue".into()),
            tun_port: Some("6080".into()),
            tun_remcsum: true,
            ..Default::default()
        };
        add(&mut k, "[2001:db8::7]", opts).unwrap();
        let d = &k.services[0].dests[1];
        assert_eq!(d.key.port, 80);
        assert_eq!(
            (
                d.conf.fwd,
                d.conf.tun_type,
                d.conf.tun_port,
                d.conf.tun_flags
            ),
            (FwdMethod::Tunnel, TunType::Gue, 6080, TUN_F_REMCSUM)
        );
    }

    #[test]
    fn add_errors() {
        let e = |server: &str, opts: DestOpts| {
            let mut k = setup();
            let msg = add(&mut k, server, opts).unwrap_err().to_string();
            assert_eq!(k.log.len(), 1, "{msg}: only the setup reached the kernel");
            msg
        };
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    weight: Some("-3".into()),
                    ..Default::default()
                }
            ),
            "invalid weight \"-3\": must be 0..2147483647"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    fwd: Some("snat".into()),
                    ..Default::default()
                }
            ),
            "invalid forwarding method \"snat\": must be nat, dr, tun or fullnat"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    fullnat: true,
                    tun_port: Some("6080".into()),
                    ..Default::default()
                }
            ),
            "--tun-port needs tunnel forwarding (--fwd tun)"
        );
        assert_eq!(
            e(
                "[2001:db8::1]:80",
                DestOpts {
                    fullnat: true,
                    ..Default::default()
                }
            ),
            "real server 2001:db8::1 is IPv6 but service TCP 10.0.1.100:80 is IPv4: only \
             tunnel forwarding crosses address families"
        );
        assert_eq!(
            e("10.0.2.11:8080", DestOpts::default()),
            "invalid real server address \"10.0.2.11:8080\": direct routing and tunnels \
             cannot change the port: use the service port 80 (or no port), or --fwd nat"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    tun_type: Some("gue".into()),
                    ..Default::default()
                }
            ),
            "--tun-type needs tunnel forwarding (--fwd tun)"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    fwd: Some("tun".into()),
                    tun_type: Some("gue".into()),
                    ..Default::default()
                }
            ),
            "gue tunnels need a port (--tun-port)"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    fwd: Some("tun".into()),
                    tun_port: Some("0".into()),
                    ..Default::default()
                }
            ),
            "invalid tunnel port \"0\": must be 1..65535"
        );
        assert_eq!(
            e(
                "10.0.2.11",
                DestOpts {
                    lower: Some("3".into()),
                    ..Default::default()
                }
            ),
            "invalid lower threshold \"3\": higher than the upper threshold 0 (the kernel \
             refuses it)"
        );
        assert_eq!(
            e("[2001:db8::1]:80", DestOpts::default()),
            "real server 2001:db8::1 is IPv6 but service TCP 10.0.1.100:80 is IPv4: only \
             tunnel forwarding crosses address families"
        );
        assert_eq!(
            e("10.0.2.300", DestOpts::default()),
            "invalid real server address \"10.0.2.300\": expected IPV4[:PORT] or \
             [IPV6][:PORT] (numeric addresses only)"
        );
        // The kernel's refusal.
        let mut k = setup();
        add(&mut k, "10.0.2.11", DestOpts::default()).unwrap();
        assert_eq!(
            add(&mut k, "10.0.2.11", DestOpts::default())
                .unwrap_err()
                .to_string(),
            "IPVS_CMD_NEW_DEST failed: File exists (EEXIST): \
             IPVS_CMD_ATTR_DEST: destination already exists"
        );
    }

    #[test]
    fn edit_keeps_unspecified_settings() {
        let mut k = setup();
        let opts = DestOpts {
            fwd: Some("nat".into()),
            weight: Some("5".into()),
            upper: Some("100".into()),
            lower: Some("10".into()),
            ..Default::default()
        };
        add(&mut k, "10.0.2.11:8080", opts).unwrap();
        edit(
            &mut k,
            "10.0.2.11:8080",
            DestOpts {
                weight: Some("0".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let (_, c) = only(&k);
        assert_eq!(
            (c.fwd, c.weight, c.u_thresh, c.l_thresh),
            (FwdMethod::Masq, 0, 100, 10)
        );
        // Switch to a tunnel, then change only its checksum mode.
        let mut k = setup();
        add(&mut k, "10.0.2.11", DestOpts::default()).unwrap();
        edit(
            &mut k,
            "10.0.2.11",
            DestOpts {
                fwd: Some("tun".into()),
                tun_type: Some("gue".into()),
                tun_port: Some("6080".into()),
                ..Default::default()
            },
        )
        .unwrap();
        edit(
            &mut k,
            "10.0.2.11",
            DestOpts {
                tun_csum: true,
                ..Default::default()
            },
        )
        .unwrap();
        let (_, c) = only(&k);
        assert_eq!(
            (c.fwd, c.tun_type, c.tun_port, c.tun_flags, c.weight),
            (FwdMethod::Tunnel, TunType::Gue, 6080, TUN_F_CSUM, 1)
        );
        // Another encapsulation drops the gue port.
        edit(
            &mut k,
            "10.0.2.11",
            DestOpts {
                tun_type: Some("gre".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let (_, c) = only(&k);
        assert_eq!((c.tun_type, c.tun_port, c.tun_flags), (TunType::Gre, 0, 0));
        // Leaving tunnels clears the tunnel settings.
        edit(
            &mut k,
            "10.0.2.11",
            DestOpts {
                fwd: Some("dr".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let (_, c) = only(&k);
        assert_eq!(
            (c.fwd, c.tun_type, c.tun_port),
            (FwdMethod::Droute, TunType::Ipip, 0)
        );
    }

    #[test]
    fn fullnat_real_servers() {
        let mut k = setup();
        // FULLNAT maps ports, as NAT does.
        add(
            &mut k,
            "10.0.2.11:8080",
            DestOpts {
                fwd: Some("fullnat".into()),
                weight: Some("3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let (key, c) = only(&k);
        assert_eq!((key.port, c.fwd, c.weight), (8080, FwdMethod::FullNat, 3));
        add(
            &mut k,
            "10.0.2.12",
            DestOpts {
                fullnat: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.services[0].dests[1].conf.fwd, FwdMethod::FullNat);
        // Edit to and from FULLNAT; other settings kept.
        edit(
            &mut k,
            "10.0.2.11:8080",
            DestOpts {
                fwd: Some("nat".into()),
                ..Default::default()
            },
        )
        .unwrap();
        edit(
            &mut k,
            "10.0.2.11:8080",
            DestOpts {
                fullnat: true,
                ..Default::default()
            },
        )
        .unwrap();
        let (_, c) = only(&k);
        assert_eq!((c.fwd, c.weight), (FwdMethod::FullNat, 3));
        // The listing names it.
        let j = ops::services(&mut k).unwrap();
        let v = crate::listing::DestView::from(&j[0].dests[0]);
        assert_eq!(v.forward, "fullnat");
    }

    #[test]
    fn fullnat_needs_the_ipvs_rs_family() {
        let mut k = setup();
        k.ext = false;
        let sent = k.sent();
        let e = add(
            &mut k,
            "10.0.2.11",
            DestOpts {
                fullnat: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("FULLNAT forwarding needs ipvs_rs: the IPVS_RS generic"),
            "{e}"
        );
        add(&mut k, "10.0.2.11", DestOpts::default()).unwrap();
        let e = edit(
            &mut k,
            "10.0.2.11",
            DestOpts {
                fwd: Some("fnat".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("FULLNAT forwarding needs ipvs_rs"));
        assert_eq!(k.sent(), sent + 1, "only the plain add was sent");
    }

    #[test]
    fn edit_and_del_of_missing_objects() {
        let mut k = setup();
        assert_eq!(
            edit(&mut k, "10.0.2.11", DestOpts::default())
                .unwrap_err()
                .to_string(),
            "no such real server 10.0.2.11:80 in service TCP 10.0.1.100:80"
        );
        let mut other = arg("10.0.2.11");
        other.service.target = "10.0.1.101:80".into();
        assert_eq!(
            run(
                &mut k,
                &DestCommand::Edit {
                    dest: other.clone(),
                    opts: DestOpts::default()
                }
            )
            .unwrap_err()
            .to_string(),
            "no such service TCP 10.0.1.101:80"
        );
        assert_eq!(
            run(&mut k, &DestCommand::Del { dest: other })
                .unwrap_err()
                .to_string(),
            "IPVS_CMD_DEL_DEST failed: No such process (ESRCH): \
             IPVS_CMD_ATTR_SERVICE: no such service"
        );
        add(&mut k, "10.0.2.11", DestOpts::default()).unwrap();
        run(
            &mut k,
            &DestCommand::Del {
                dest: arg("10.0.2.11"),
            },
        )
        .unwrap();
        assert!(k.services[0].dests.is_empty());
    }
}
