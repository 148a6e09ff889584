// SPDX-License-Identifier: GPL-2.0
//! The save file: the rule format of `ipvsadm -S -n`, printed by
//! `ipvsctl save` and read by `ipvsctl restore`.
//!
//! ```text
//! -A -t 10.0.1.100:80 -s wlc -p 600
//! -a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 1
//! -A -f 42 -6 -s sh -b sh-port
//! -a -f 42 -6 -r [2001:db8::11]:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
//! ```
//!
//! The printer writes what `ipvsadm -S -n` writes for the same table, with
//! one addition: `-x`/`-y` after `-w` when a connection threshold is set
//! (`ipvsadm -S` drops thresholds; `ipvsadm -R` reads them back). The
//! parser reads every `-A`/`-a` line `ipvsadm -S` can print, in short or
//! long option form, applies `ipvsadm`'s defaults and rules, and rejects
//! anything else naming the line and the token.
//!
//! What only ipvs_rs has is written in `ipvsadm`'s style, as Alibaba's
//! FULLNAT `ipvsadm` wrote it where it had a syntax: `--toa` at the end
//! of a service's `-A` line, `--fullnat` as the forwarding method of an
//! `-a` line, and one `-P` line per local address, after the service's
//! `-A` line and before its real servers (so that a restored FULLNAT
//! service has its pool before it has real servers):
//!
//! ```text
//! -A -t 10.0.1.100:80 -s rr --toa
//! -P -t 10.0.1.100:80 -z 10.0.5.1
//! -a -t 10.0.1.100:80 -r 10.0.2.11:8080 --fullnat -w 1
//! ```
//!
//! Without these, a table prints exactly as `ipvsadm -S -n` prints it.

use std::fmt::Write as _;

use ipvs_core::addr::Af;
use ipvs_core::service::{
    svc_flags, DestConf, DestKey, FwdMethod, Protocol, ServiceConf, ServiceKey, TunType,
};

use ipvs_core::addr::Addr;
use ipvs_core::netlink::ext::ProxyVersion;

use crate::error::Error;
use crate::ops::ServiceEntry;
use crate::values::{
    check_dest_family, check_onepacket, check_thresholds, check_tunnel, check_zero_port,
    default_netmask, fmt_addr, fmt_addr_port, fmt_netmask, is_persistent, parse_laddr,
    parse_netmask, parse_number, parse_pe, parse_persistence, parse_port, parse_proxy, parse_sched,
    parse_sched_flags, parse_server, parse_service, parse_tun_type, parse_weight, proxy_name,
    sched_flag_names, tun_type_name, ServiceKind, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHED,
    MAX_WEIGHT, SCHED_FLAGS, TUN_F_CSUM, TUN_F_REMCSUM,
};

/// One rule of a save file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `-A`: add a virtual service.
    Service {
        /// The service.
        key: ServiceKey,
        /// Its settings.
        conf: ServiceConf,
        /// `--toa` (ipvs_rs): write TOA on FULLNAT TCP connections.
        toa: bool,
        /// `--synproxy` (ipvs_rs): SYNPROXY on this TCP service.
        synproxy: bool,
        /// `--proxy-protocol v1|v2` (ipvs_rs): PROXY protocol header to
        /// the real servers.
        proxy: ProxyVersion,
    },
    /// `-P` (ipvs_rs): add a local address to a service's FULLNAT pool.
    Laddr {
        /// The service.
        service: ServiceKey,
        /// The address (`-z`).
        addr: Addr,
    },
    /// `-a`: add a real server to a service.
    Dest {
        /// The service.
        service: ServiceKey,
        /// The real server.
        key: DestKey,
        /// Its settings.
        conf: DestConf,
    },
}

/// A rule and the line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The rule.
    pub rule: Rule,
}

// ---------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------

/// The service part of a rule: `-t 10.0.1.100:80`, `--sctp-service
/// [2001:db8::1]:80`, `-f 42`, `-f 42 -6`.
pub fn rule_service(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let opt = match proto {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{opt} {}", fmt_addr_port(addr, *port))
        }
        ServiceKey::Fwmark { af: Af::Inet, mark } => format!("-f {mark}"),
        ServiceKey::Fwmark {
            af: Af::Inet6,
            mark,
        } => format!("-f {mark} -6"),
    }
}

/// The `-A` line of a service, as `ipvsadm -S -n` prints it.
pub fn service_rule(key: &ServiceKey, conf: &ServiceConf) -> String {
    let mut line = format!("-A {} -s {}", rule_service(key), conf.sched.as_str());
    if is_persistent(conf) {
        let _ = write!(line, " -p {}", conf.timeout);
        let af = key.af();
        if conf.netmask != default_netmask(af) {
            let _ = write!(line, " -M {}", fmt_netmask(conf.netmask, af));
        }
    }
    if !conf.pe.is_empty() {
        let _ = write!(line, " --pe {}", conf.pe.as_str());
    }
    if conf.flags & svc_flags::ONEPACKET != 0 {
        line.push_str(" -o");
    }
    if conf.flags & SCHED_FLAGS != 0 {
        let _ = write!(
            line,
            " -b {}",
            sched_flag_names(conf.sched.as_str(), conf.flags).join(",")
        );
    }
    line
}

/// The `-a` line of a real server, as `ipvsadm -S -n` prints it, plus
/// `-x`/`-y` for thresholds that are set.
pub fn dest_rule(svc: &ServiceKey, key: &DestKey, conf: &DestConf) -> String {
    // ipvsadm prints local-node and (unsettable) bypass forwarding as -g.
    let fwd = match conf.fwd {
        FwdMethod::Masq => "-m",
        FwdMethod::Tunnel => "-i",
        FwdMethod::Droute | FwdMethod::Local | FwdMethod::Bypass => "-g",
        // ipvs_rs's; ipvsadm has no option for it.
        FwdMethod::FullNat => "--fullnat",
    };
    let mut line = format!(
        "-a {} -r {} {fwd} -w {}",
        rule_service(svc),
        fmt_addr_port(&key.addr, key.port),
        conf.weight
    );
    if conf.u_thresh != 0 {
        let _ = write!(line, " -x {}", conf.u_thresh);
    }
    if conf.l_thresh != 0 {
        let _ = write!(line, " -y {}", conf.l_thresh);
    }
    if conf.fwd == FwdMethod::Tunnel {
        let csum = if conf.tun_flags & TUN_F_REMCSUM != 0 {
            "--tun-remcsum"
        } else if conf.tun_flags & TUN_F_CSUM != 0 {
            "--tun-csum"
        } else {
            "--tun-nocsum"
        };
        let _ = write!(line, " --tun-type {}", tun_type_name(conf.tun_type));
        match conf.tun_type {
            TunType::Ipip => {}
            TunType::Gue => {
                let _ = write!(line, " --tun-port {} {csum}", conf.tun_port);
            }
            TunType::Gre => {
                let _ = write!(line, " {csum}");
            }
        }
    }
    line
}

/// The `-P` line of a local address (ipvs_rs).
pub fn laddr_rule(svc: &ServiceKey, addr: &Addr) -> String {
    format!("-P {} -z {}", rule_service(svc), fmt_addr(addr))
}

/// The whole table (already in listing order), one rule per line: for
/// each service its `-A` line (`--toa` added when on), its local
/// addresses, its real servers.
pub fn print(entries: &[ServiceEntry]) -> String {
    let mut out = String::new();
    for s in entries {
        out.push_str(&service_rule(&s.key, &s.conf));
        if s.ext.as_ref().is_some_and(|e| e.settings.toa) {
            out.push_str(" --toa");
        }
        if s.ext.as_ref().is_some_and(|e| e.settings.synproxy) {
            out.push_str(" --synproxy");
        }
        if let Some(v) = s.ext.as_ref().and_then(|e| proxy_name(e.settings.proxy)) {
            out.push_str(" --proxy-protocol ");
            out.push_str(v);
        }
        out.push('\n');
        for l in s.ext.iter().flat_map(|e| &e.laddrs) {
            out.push_str(&laddr_rule(&s.key, &l.addr));
            out.push('\n');
        }
        for d in &s.dests {
            out.push_str(&dest_rule(&s.key, &d.key, &d.conf));
            out.push('\n');
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// The options of `ipvsadm` that can appear on a saved line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    AddService,
    AddServer,
    AddLaddr,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Ipv6,
    Sched,
    Persistent,
    Netmask,
    Pe,
    Ops,
    SchedFlags,
    Real,
    Gate,
    Ipip,
    Masq,
    Weight,
    UThresh,
    LThresh,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    FullNat,
    Toa,
    Synproxy,
    Proxy,
    Laddr,
}

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    No,
    Required,
    /// `-p [timeout]`: the next token, unless it starts with `-`.
    Optional,
}

/// Short form, long form, option, value.
const OPTIONS: [(Option<&str>, &str, Opt, Arg); 31] = [
    (Some("-A"), "--add-service", Opt::AddService, Arg::No),
    (Some("-a"), "--add-server", Opt::AddServer, Arg::No),
    (Some("-P"), "--add-laddr", Opt::AddLaddr, Arg::No),
    (Some("-t"), "--tcp-service", Opt::Tcp, Arg::Required),
    (Some("-u"), "--udp-service", Opt::Udp, Arg::Required),
    (None, "--sctp-service", Opt::Sctp, Arg::Required),
    (Some("-f"), "--fwmark-service", Opt::Fwmark, Arg::Required),
    (Some("-6"), "--ipv6", Opt::Ipv6, Arg::No),
    (Some("-s"), "--scheduler", Opt::Sched, Arg::Required),
    (Some("-p"), "--persistent", Opt::Persistent, Arg::Optional),
    (Some("-M"), "--netmask", Opt::Netmask, Arg::Required),
    (None, "--pe", Opt::Pe, Arg::Required),
    (Some("-o"), "--ops", Opt::Ops, Arg::No),
    (Some("-b"), "--sched-flags", Opt::SchedFlags, Arg::Required),
    (Some("-r"), "--real-server", Opt::Real, Arg::Required),
    (Some("-g"), "--gatewaying", Opt::Gate, Arg::No),
    (Some("-i"), "--ipip", Opt::Ipip, Arg::No),
    (Some("-m"), "--masquerading", Opt::Masq, Arg::No),
    (Some("-w"), "--weight", Opt::Weight, Arg::Required),
    (Some("-x"), "--u-threshold", Opt::UThresh, Arg::Required),
    (Some("-y"), "--l-threshold", Opt::LThresh, Arg::Required),
    (None, "--tun-type", Opt::TunType, Arg::Required),
    (None, "--tun-port", Opt::TunPort, Arg::Required),
    (None, "--tun-nocsum", Opt::TunNocsum, Arg::No),
    (None, "--tun-csum", Opt::TunCsum, Arg::No),
    (None, "--tun-remcsum", Opt::TunRemcsum, Arg::No),
    (None, "--fullnat", Opt::FullNat, Arg::No),
    (None, "--toa", Opt::Toa, Arg::No),
    (None, "--synproxy", Opt::Synproxy, Arg::No),
    (None, "--proxy-protocol", Opt::Proxy, Arg::Required),
    (Some("-z"), "--laddr", Opt::Laddr, Arg::Required),
];

/// `ipvsadm` commands other than `-A`/`-a`, rejected by name.
const OTHER_COMMANDS: [&str; 28] = [
    "-E",
    "--edit-service",
    "-D",
    "--delete-service",
    "-C",
    "--clear",
    "-L",
    "-l",
    "--list",
    "-Z",
    "--zero",
    "-e",
    "--edit-server",
    "-d",
    "--delete-server",
    "--set",
    "-R",
    "--restore",
    "-S",
    "--save",
    "--start-daemon",
    "--stop-daemon",
    "-h",
    "--help",
    // Alibaba's FULLNAT ipvsadm.
    "-Q",
    "--del-laddr",
    "-G",
    "--get-laddr",
];

/// Options that must not be given together, as `ipvsadm` groups them: one
/// command, one service, one forwarding method.
fn group(opt: Opt) -> Opt {
    match opt {
        Opt::AddServer | Opt::AddLaddr => Opt::AddService,
        Opt::Udp | Opt::Sctp | Opt::Fwmark => Opt::Tcp,
        Opt::Ipip | Opt::Masq | Opt::FullNat => Opt::Gate,
        other => other,
    }
}

/// An option found on a line: the token as written and its value.
#[derive(Clone, Copy, Debug)]
struct Found<'a> {
    opt: Opt,
    token: &'a str,
    value: Option<&'a str>,
}

/// Splits a line into options, checking names, values and repetitions.
fn scan<'a>(tokens: &[&'a str]) -> Result<Vec<Found<'a>>, Error> {
    let mut found: Vec<Found<'a>> = Vec::new();
    let mut i = 0;
    while let Some(&token) = tokens.get(i) {
        i += 1;
        let (name, inline) = match token.split_once('=') {
            Some((name, value)) if token.starts_with("--") => (name, Some(value)),
            _ => (token, None),
        };
        if OTHER_COMMANDS.contains(&name) {
            return Err(Error::Usage(format!(
                "unsupported command \"{token}\": restore reads -A, -a and -P lines (the format \
                 of ipvsctl save and ipvsadm -S)"
            )));
        }
        let Some(&(_, long, opt, arg)) = OPTIONS
            .iter()
            .find(|(short, long, _, _)| *short == Some(name) || *long == name)
        else {
            return Err(if token.starts_with('-') {
                Error::Usage(format!("unknown option \"{token}\""))
            } else {
                Error::Usage(format!("unexpected argument \"{token}\""))
            });
        };
        let value = match (arg, inline) {
            (Arg::No, Some(_)) => {
                return Err(Error::Usage(format!("option \"{long}\" takes no value")))
            }
            (Arg::No, None) => None,
            (_, Some(v)) => Some(v),
            (Arg::Required, None) => {
                let v = tokens
                    .get(i)
                    .copied()
                    .ok_or_else(|| Error::Usage(format!("option \"{token}\" needs a value")))?;
                i += 1;
                Some(v)
            }
            (Arg::Optional, None) => match tokens.get(i) {
                Some(v) if !v.starts_with('-') => {
                    i += 1;
                    Some(*v)
                }
                _ => None,
            },
        };
        if let Some(prev) = found.iter().find(|f| group(f.opt) == group(opt)) {
            return Err(Error::Usage(if prev.opt == opt {
                format!("option \"{token}\" given twice")
            } else {
                format!(
                    "options \"{}\" and \"{token}\" exclude each other",
                    prev.token
                )
            }));
        }
        found.push(Found { opt, token, value });
    }
    Ok(found)
}

/// The command an option belongs to; `None` for the service options
/// every command takes.
fn command_of(opt: Opt) -> Option<Opt> {
    match opt {
        Opt::Sched
        | Opt::Persistent
        | Opt::Netmask
        | Opt::Pe
        | Opt::Ops
        | Opt::SchedFlags
        | Opt::Toa
        | Opt::Synproxy
        | Opt::Proxy => Some(Opt::AddService),
        Opt::Real
        | Opt::Gate
        | Opt::Ipip
        | Opt::Masq
        | Opt::FullNat
        | Opt::Weight
        | Opt::UThresh
        | Opt::LThresh
        | Opt::TunType
        | Opt::TunPort
        | Opt::TunNocsum
        | Opt::TunCsum
        | Opt::TunRemcsum => Some(Opt::AddServer),
        Opt::Laddr => Some(Opt::AddLaddr),
        Opt::AddService
        | Opt::AddServer
        | Opt::AddLaddr
        | Opt::Tcp
        | Opt::Udp
        | Opt::Sctp
        | Opt::Fwmark
        | Opt::Ipv6 => None,
    }
}

/// `-A`, `-a` or `-P`.
fn command_name(command: Opt) -> &'static str {
    match command {
        Opt::AddServer => "-a",
        Opt::AddLaddr => "-P",
        _ => "-A",
    }
}

/// Parses the options of one non-empty line.
pub fn parse_rule(tokens: &[&str]) -> Result<Rule, Error> {
    let found = scan(tokens)?;
    let get = |opt: Opt| found.iter().find(|f| f.opt == opt).copied();
    let value = |f: Found<'_>| f.value.unwrap_or_default().to_owned();
    let command = found
        .iter()
        .find(|f| matches!(f.opt, Opt::AddService | Opt::AddServer | Opt::AddLaddr))
        .ok_or_else(|| {
            Error::Usage(
                "no command: a line starts with -A (add service), -a (add real server) or -P \
                 (add local address)"
                    .into(),
            )
        })?;

    // Options of another command.
    for f in &found {
        if let Some(owner) = command_of(f.opt) {
            if owner != command.opt {
                return Err(Error::Usage(format!(
                    "option \"{}\" belongs on {} lines, not on {} lines",
                    f.token,
                    command_name(owner),
                    command_name(command.opt)
                )));
            }
        }
    }

    let svc = found
        .iter()
        .find(|f| matches!(f.opt, Opt::Tcp | Opt::Udp | Opt::Sctp | Opt::Fwmark))
        .ok_or_else(|| Error::Usage("no service: give -t, -u, --sctp-service or -f".into()))?;
    let ipv6 = get(Opt::Ipv6).is_some();
    let kind = match svc.opt {
        Opt::Tcp => ServiceKind::Proto(Protocol::Tcp),
        Opt::Udp => ServiceKind::Proto(Protocol::Udp),
        Opt::Sctp => ServiceKind::Proto(Protocol::Sctp),
        _ => ServiceKind::Fwmark,
    };
    if ipv6 && kind != ServiceKind::Fwmark {
        return Err(Error::Usage(
            "option \"-6\" applies only to fwmark services (-f)".into(),
        ));
    }
    let key = parse_service(kind, &value(*svc), ipv6)?;
    let af = key.af();

    if command.opt == Opt::AddLaddr {
        let z = get(Opt::Laddr)
            .ok_or_else(|| Error::Usage("no local address: give -z ADDRESS".into()))?;
        return Ok(Rule::Laddr {
            service: key,
            addr: parse_laddr(&value(z), &key)?,
        });
    }

    if command.opt == Opt::AddService {
        let sched = match get(Opt::Sched) {
            Some(f) => parse_sched(&value(f))?,
            None => parse_sched(DEFAULT_SCHED)?,
        };
        let mut flags = 0;
        let mut timeout = 0;
        if let Some(f) = get(Opt::Persistent) {
            flags |= svc_flags::PERSISTENT;
            timeout = match f.value {
                Some(v) => parse_persistence(v)?,
                None => DEFAULT_PERSISTENT_TIMEOUT,
            };
        }
        let netmask = match get(Opt::Netmask) {
            Some(f) => parse_netmask(&value(f), af, false)?,
            None => default_netmask(af),
        };
        let pe = match get(Opt::Pe) {
            Some(f) => parse_pe(&value(f))?,
            None => Default::default(),
        };
        if get(Opt::Ops).is_some() {
            flags |= svc_flags::ONEPACKET;
        }
        if let Some(f) = get(Opt::SchedFlags) {
            flags |= parse_sched_flags(&value(f), sched.as_str())?;
        }
        check_zero_port(&key, flags)?;
        check_onepacket(&key, flags)?;
        let proxy = match get(Opt::Proxy) {
            Some(f) => parse_proxy(&value(f))?,
            None => ProxyVersion::Off,
        };
        return Ok(Rule::Service {
            key,
            conf: ServiceConf {
                sched,
                pe,
                flags,
                timeout,
                netmask,
            },
            toa: get(Opt::Toa).is_some(),
            synproxy: get(Opt::Synproxy).is_some(),
            proxy,
        });
    }

    let real = get(Opt::Real)
        .ok_or_else(|| Error::Usage("no real server: give -r ADDRESS[:PORT]".into()))?;
    let (addr, mut port, _) = parse_server(&value(real), &key)?;
    let fwd = if get(Opt::Masq).is_some() {
        FwdMethod::Masq
    } else if get(Opt::FullNat).is_some() {
        FwdMethod::FullNat
    } else if get(Opt::Ipip).is_some() {
        FwdMethod::Tunnel
    } else {
        FwdMethod::Droute
    };
    // ipvsadm: direct routing and tunnels cannot change the port.
    if let ServiceKey::Addr { port: vport, .. } = key {
        if matches!(fwd, FwdMethod::Droute | FwdMethod::Tunnel) {
            port = vport;
        }
    }
    check_dest_family(&key, &addr, fwd)?;
    let threshold = |opt: Opt, what: &str| -> Result<u32, Error> {
        match get(opt) {
            Some(f) => parse_number(what, &value(f), 0, MAX_WEIGHT),
            None => Ok(0),
        }
    };
    let tun_opts: Vec<Found<'_>> = found
        .iter()
        .filter(|f| {
            matches!(
                f.opt,
                Opt::TunType | Opt::TunPort | Opt::TunNocsum | Opt::TunCsum | Opt::TunRemcsum
            )
        })
        .copied()
        .collect();
    if let Some(f) = tun_opts.first() {
        if fwd != FwdMethod::Tunnel {
            return Err(Error::Usage(format!(
                "option \"{}\" needs tunnel forwarding (-i)",
                f.token
            )));
        }
    }
    let csums: Vec<&Found<'_>> = tun_opts
        .iter()
        .filter(|f| matches!(f.opt, Opt::TunNocsum | Opt::TunCsum | Opt::TunRemcsum))
        .collect();
    if let [first, second, ..] = csums.as_slice() {
        return Err(Error::Usage(format!(
            "options \"{}\" and \"{}\" exclude each other",
            first.token, second.token
        )));
    }
    let conf = DestConf {
        fwd,
        weight: match get(Opt::Weight) {
            Some(f) => parse_weight(&value(f))?,
            None => 1,
        },
        u_thresh: threshold(Opt::UThresh, "upper threshold")?,
        l_thresh: threshold(Opt::LThresh, "lower threshold")?,
        tun_type: match get(Opt::TunType) {
            Some(f) => parse_tun_type(&value(f))?,
            None => TunType::Ipip,
        },
        tun_port: match get(Opt::TunPort) {
            Some(f) => {
                let p = parse_port("tunnel port", &value(f))?;
                if p == 0 {
                    return Err(Error::invalid("tunnel port", &value(f), "must be 1..65535"));
                }
                p
            }
            None => 0,
        },
        tun_flags: if get(Opt::TunRemcsum).is_some() {
            TUN_F_REMCSUM
        } else if get(Opt::TunCsum).is_some() {
            TUN_F_CSUM
        } else {
            0
        },
    };
    check_thresholds(&conf)?;
    check_tunnel(&conf)?;
    Ok(Rule::Dest {
        service: key,
        key: DestKey { addr, port },
        conf,
    })
}

/// Parses a whole save file: blank lines and comments (from `#` to the end
/// of the line) are skipped, and a leading `ipvsadm` on a line is ignored.
/// The first bad line fails the whole input, naming the line. Adding the
/// same service or real server twice is caught here too.
pub fn parse(input: &str) -> Result<Vec<Line>, Error> {
    let mut lines: Vec<Line> = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let number = i + 1;
        let text = text.split('#').next().unwrap_or_default();
        let mut tokens: Vec<&str> = text.split_whitespace().collect();
        if tokens.first() == Some(&"ipvsadm") {
            tokens.remove(0);
        }
        if tokens.is_empty() {
            continue;
        }
        let rule = parse_rule(&tokens).map_err(|e| e.at_line(number, None))?;
        let earlier = lines.iter().find(|l| match (&l.rule, &rule) {
            (Rule::Service { key: a, .. }, Rule::Service { key: b, .. }) => a == b,
            (
                Rule::Dest {
                    service: s1,
                    key: k1,
                    ..
                },
                Rule::Dest {
                    service: s2,
                    key: k2,
                    ..
                },
            ) => s1 == s2 && k1 == k2,
            (
                Rule::Laddr {
                    service: s1,
                    addr: a1,
                },
                Rule::Laddr {
                    service: s2,
                    addr: a2,
                },
            ) => s1 == s2 && a1 == a2,
            _ => false,
        });
        if let Some(earlier) = earlier {
            let what = match &rule {
                Rule::Service { .. } => "this service",
                Rule::Dest { .. } => "this real server",
                Rule::Laddr { .. } => "this local address",
            };
            return Err(Error::Usage(format!(
                "{what} was already added on line {}",
                earlier.number
            ))
            .at_line(number, None));
        }
        lines.push(Line { number, rule });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{DestEntry, ServiceExt};
    use ipvs_core::netlink::ext::{LaddrEntry, SvcExt};
    use ipvs_core::netlink::service::DestConns;
    use ipvs_core::service::Name;
    use ipvs_core::stats::Stats;

    fn rule(line: &str) -> Result<Rule, Error> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        parse_rule(&tokens)
    }

    fn err(line: &str) -> String {
        rule(line).unwrap_err().to_string()
    }

    fn svc(line: &str) -> (ServiceKey, ServiceConf) {
        match rule(line).unwrap() {
            Rule::Service { key, conf, .. } => (key, conf),
            r => panic!("not a service: {r:?}"),
        }
    }

    fn dst(line: &str) -> (ServiceKey, DestKey, DestConf) {
        match rule(line).unwrap() {
            Rule::Dest { service, key, conf } => (service, key, conf),
            r => panic!("not a real server: {r:?}"),
        }
    }

    fn tcp(last: u8, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, last]),
            port,
        }
    }

    fn v6(last: u8) -> Addr {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        b[15] = last;
        Addr::v6(b)
    }

    #[test]
    fn service_defaults_like_ipvsadm() {
        let (key, conf) = svc("-A -t 10.0.1.100:80");
        assert_eq!(key, tcp(100, 80));
        assert_eq!(conf.sched.as_str(), "wlc");
        assert_eq!(conf.flags, 0);
        assert_eq!(conf.timeout, 0);
        assert_eq!(conf.netmask, u32::MAX);
        assert!(conf.pe.is_empty());
        let (key, conf) = svc("-A -u [2001:db8::1]:53 -s rr");
        assert_eq!(key.af(), Af::Inet6);
        assert_eq!(conf.netmask, 128);
        let (key, conf) = svc("-A -f 42 -6");
        assert_eq!(
            key,
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 42
            }
        );
        assert_eq!(conf.netmask, 128);
        let (key, _) = svc("-A --sctp-service 10.0.1.1:9");
        assert!(matches!(
            key,
            ServiceKey::Addr {
                proto: Protocol::Sctp,
                ..
            }
        ));
    }

    #[test]
    fn every_service_option() {
        let (_, c) =
            svc("-A -t 10.0.1.100:80 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port");
        assert_eq!(c.sched.as_str(), "sh");
        assert_eq!(
            c.flags,
            svc_flags::PERSISTENT | svc_flags::SCHED1 | svc_flags::SCHED2
        );
        assert_eq!(c.timeout, 600);
        assert_eq!(c.netmask.to_ne_bytes(), [255, 255, 255, 0]);
        // -p without a value: ipvsadm's 360 s, also before another option.
        let (_, c) = svc("-A -t 10.0.1.100:80 -p");
        assert_eq!((c.flags, c.timeout), (svc_flags::PERSISTENT, 360));
        let (_, c) = svc("-A -t 10.0.1.100:80 -p -s rr");
        assert_eq!((c.timeout, c.sched.as_str()), (360, "rr"));
        let (_, c) = svc("-A -u 10.0.1.100:53 -o --pe sip");
        assert_eq!(c.flags, svc_flags::ONEPACKET);
        assert_eq!(c.pe.as_str(), "sip");
        let (_, c) = svc("-A -f 1 -6 -p 60 -M 64");
        assert_eq!(c.netmask, 64);
        // Long forms, with separate or inline values.
        let (k, c) = svc(
            "--add-service --tcp-service=10.0.1.100:80 --scheduler mh --persistent=30 \
             --netmask 255.255.0.0 --sched-flags=mh-port",
        );
        assert_eq!(k, tcp(100, 80).clone());
        assert_eq!(c.sched.as_str(), "mh");
        assert_eq!(c.timeout, 30);
        assert_eq!(c.flags, svc_flags::PERSISTENT | svc_flags::SCHED2);
        let (k, c) = svc("--add-service --udp-service 10.0.1.1:53 --ops --pe=sip");
        assert!(matches!(
            k,
            ServiceKey::Addr {
                proto: Protocol::Udp,
                ..
            }
        ));
        assert_eq!((c.flags, c.pe.as_str()), (svc_flags::ONEPACKET, "sip"));
        let (k, _) = svc("--add-service --fwmark-service 7 --ipv6");
        assert_eq!(
            k,
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 7
            }
        );
    }

    #[test]
    fn dest_defaults_like_ipvsadm() {
        let (s, k, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11");
        assert_eq!(s, tcp(100, 80));
        assert_eq!(
            k,
            DestKey {
                addr: Addr::v4([10, 0, 2, 11]),
                port: 80
            }
        );
        assert_eq!(c.fwd, FwdMethod::Droute);
        assert_eq!(c.weight, 1);
        assert_eq!((c.u_thresh, c.l_thresh), (0, 0));
        assert_eq!((c.tun_type, c.tun_port, c.tun_flags), (TunType::Ipip, 0, 0));
        // Direct routing keeps the service port whatever -r says.
        let (_, k, _) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -g");
        assert_eq!(k.port, 80);
        // NAT maps ports.
        let (_, k, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 0");
        assert_eq!((k.port, c.fwd, c.weight), (8080, FwdMethod::Masq, 0));
        // Fwmark services have no port of their own.
        let (_, k, _) = dst("-a -f 42 -r 10.0.2.11 -g");
        assert_eq!(k.port, 0);
        let (_, k, _) = dst("-a -f 42 -r 10.0.2.11:80 -g");
        assert_eq!(k.port, 80);
    }

    #[test]
    fn every_dest_option() {
        let (_, _, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 5 -x 100 -y 10");
        assert_eq!((c.weight, c.u_thresh, c.l_thresh), (5, 100, 10));
        let (_, k, c) = dst(
            "-a -t 10.0.1.100:80 -r [2001:db8::7]:80 -i -w 1 --tun-type gue --tun-port 6080 \
             --tun-remcsum",
        );
        assert_eq!(k.addr, v6(7));
        assert_eq!(c.fwd, FwdMethod::Tunnel);
        assert_eq!(
            (c.tun_type, c.tun_port, c.tun_flags),
            (TunType::Gue, 6080, 2)
        );
        let (_, _, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type gre --tun-csum");
        assert_eq!((c.tun_type, c.tun_flags), (TunType::Gre, TUN_F_CSUM));
        let (_, _, c) =
            dst("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type gue --tun-port 1 --tun-nocsum");
        assert_eq!(c.tun_flags, 0);
        let (_, _, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11 -i --tun-type ipip");
        assert_eq!(c.tun_type, TunType::Ipip);
        let (_, _, c) = dst(
            "--add-server --tcp-service 10.0.1.100:80 --real-server=10.0.2.11:80 \
             --masquerading --weight=3 --u-threshold 9 --l-threshold=2",
        );
        assert_eq!(
            (c.fwd, c.weight, c.u_thresh, c.l_thresh),
            (FwdMethod::Masq, 3, 9, 2)
        );
        let (_, _, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11 --gatewaying");
        assert_eq!(c.fwd, FwdMethod::Droute);
        let (_, _, c) = dst("-a -t 10.0.1.100:80 -r 10.0.2.11 --ipip");
        assert_eq!(c.fwd, FwdMethod::Tunnel);
        let (s, k, _) = dst("-a -f 42 -6 -r [2001:db8::2]:0 -g");
        assert_eq!(
            s,
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 42
            }
        );
        assert_eq!(k.addr, v6(2));
    }

    #[test]
    fn errors_name_the_token() {
        let cases = [
            ("-A", "no service: give -t, -u, --sctp-service or -f"),
            ("-t 10.0.0.1:80", "no command: a line starts with -A (add service), -a (add real server) or -P (add local address)"),
            ("-A -t 10.0.0.1:80 -A", "option \"-A\" given twice"),
            ("-A -t 10.0.0.1:80 -a", "options \"-A\" and \"-a\" exclude each other"),
            ("-A -t 10.0.0.1:80 -u 10.0.0.1:80", "options \"-t\" and \"-u\" exclude each other"),
            ("-A -t 10.0.0.1:80 -s", "option \"-s\" needs a value"),
            ("-A -t 10.0.0.1:80 --foo", "unknown option \"--foo\""),
            ("-A -t 10.0.0.1:80 stray", "unexpected argument \"stray\""),
            ("-A -t 10.0.0.1:80 --ops=1", "option \"--ops\" takes no value"),
            ("-C", "unsupported command \"-C\": restore reads -A, -a and -P lines (the format of ipvsctl save and ipvsadm -S)"),
            ("-A -t 10.0.0.1:80 -w 1", "option \"-w\" belongs on -a lines, not on -A lines"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -s rr", "option \"-s\" belongs on -A lines, not on -a lines"),
            ("-A -t 10.0.0.1:80 -6", "option \"-6\" applies only to fwmark services (-f)"),
            ("-A -t 10.0.0.1:99999", "invalid service address \"10.0.0.1:99999\": the port must be 0..65535"),
            ("-A -t example.com:80", "invalid service address \"example.com:80\": expected IPV4[:PORT] or [IPV6][:PORT] (numeric addresses only)"),
            ("-A -f 0", "invalid fwmark \"0\": must be 1..4294967295"),
            ("-A -t 10.0.0.1:80 -p 0", "invalid persistence timeout \"0\": must be 1..2678400"),
            ("-A -t 10.0.0.1:80 -p 9999999", "invalid persistence timeout \"9999999\": must be 1..2678400"),
            ("-A -t 10.0.0.1:80 -M 24", "invalid netmask \"24\": must be a dotted IPv4 mask like 255.255.255.0"),
            ("-A -f 1 -6 -M 129", "invalid netmask \"129\": must be an IPv6 prefix length 1..128"),
            ("-A -t 10.0.0.1:80 -b sh-port", "invalid scheduler flag \"sh-port\": only for the sh scheduler, not wlc"),
            ("-A -t 10.0.0.1:80 -s averyveryverylongname", "invalid scheduler \"averyveryverylongname\": at most 15 characters"),
            ("-A -t 10.0.0.1:80 -o", "one-packet scheduling is only for UDP and fwmark services, not TCP 10.0.0.1:80"),
            ("-A -t 10.0.0.1", "service TCP 10.0.0.1:0 has port 0 (every port), which needs persistence (--persistent)"),
            ("-a -t 10.0.0.1:80", "no real server: give -r ADDRESS[:PORT]"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -w -3", "invalid weight \"-3\": must be 0..2147483647"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -w x", "invalid weight \"x\": must be 0..2147483647"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -x 2147483648", "invalid upper threshold \"2147483648\": must be 0..2147483647"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -y -1", "invalid lower threshold \"-1\": must be 0..2147483647"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -x 5 -y 6", "invalid lower threshold \"6\": higher than the upper threshold 5 (the kernel refuses it)"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -m -g", "options \"-m\" and \"-g\" exclude each other"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -m --tun-type gue", "option \"--tun-type\" needs tunnel forwarding (-i)"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type vxlan", "invalid tunnel type \"vxlan\": must be ipip, gue or gre"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue", "gue tunnels need a port (--tun-port)"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 0", "invalid tunnel port \"0\": must be 1..65535"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-port 6080", "--tun-port applies only to gue tunnels"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-csum", "tunnel checksum options apply only to gue and gre tunnels"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-remcsum", "--tun-remcsum applies only to gue tunnels"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum", "options \"--tun-csum\" and \"--tun-nocsum\" exclude each other"),
            ("-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -m", "real server 2001:db8::1 is IPv6 but service TCP 10.0.0.1:80 is IPv4: only tunnel forwarding crosses address families"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2:x", "invalid real server address \"10.0.0.2:x\": the port must be 0..65535"),
        ];
        for (line, expect) in cases {
            assert_eq!(err(line), expect, "{line}");
        }
    }

    #[test]
    fn file_with_comments_blank_lines_and_line_numbers() {
        let input = "# saved\n\
                     \n\
                     -A -t 10.0.1.100:80 -s rr   # web\n\
                     ipvsadm -a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 1\n\
                     \t  \n\
                     -a -t 10.0.1.100:80 -r 10.0.2.12:80 -m -w 1\n";
        let lines = parse(input).unwrap();
        assert_eq!(
            lines.iter().map(|l| l.number).collect::<Vec<_>>(),
            [3, 4, 6]
        );
        assert!(matches!(lines[0].rule, Rule::Service { .. }));
        let bad = "-A -t 10.0.1.100:80 -s rr\n\n-a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w -3\n";
        assert_eq!(
            parse(bad).unwrap_err().to_string(),
            "restore: line 3: invalid weight \"-3\": must be 0..2147483647 (nothing was applied)"
        );
        let dup = "-A -t 10.0.1.100:80\n-a -t 10.0.1.100:80 -r 10.0.2.1\n\
                   -a -t 10.0.1.100:80 -r 10.0.2.1:80 -g -w 2\n";
        assert_eq!(
            parse(dup).unwrap_err().to_string(),
            "restore: line 3: this real server was already added on line 2 (nothing was applied)"
        );
        let dup = "-A -t 10.0.1.100:80\n-A -t 10.0.1.100:80 -s rr\n";
        assert!(parse(dup)
            .unwrap_err()
            .to_string()
            .starts_with("restore: line 2: this service was already added on line 1"));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n\n").unwrap().is_empty());
    }

    fn entry(key: ServiceKey, conf: ServiceConf, dests: Vec<(DestKey, DestConf)>) -> ServiceEntry {
        ServiceEntry {
            key,
            conf,
            ext: None,
            stats: Stats::default(),
            dests: dests
                .into_iter()
                .map(|(key, conf)| DestEntry {
                    key,
                    conf,
                    conns: DestConns::default(),
                    stats: Stats::default(),
                })
                .collect(),
        }
    }

    fn dconf(fwd: FwdMethod, weight: i32) -> DestConf {
        DestConf {
            fwd,
            weight,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    fn sconf(sched: &str, flags: u32, timeout: u32, netmask: u32) -> ServiceConf {
        ServiceConf {
            sched: Name::new(sched).unwrap(),
            pe: Name::default(),
            flags,
            timeout,
            netmask,
        }
    }

    /// A table using every feature the format has.
    fn table() -> Vec<ServiceEntry> {
        let d = |a: Addr, port: u16, c: DestConf| (DestKey { addr: a, port }, c);
        let mut thresh = dconf(FwdMethod::Masq, 3);
        thresh.u_thresh = 100;
        thresh.l_thresh = 10;
        let mut gue = dconf(FwdMethod::Tunnel, 1);
        gue.tun_type = TunType::Gue;
        gue.tun_port = 6080;
        let mut gre = dconf(FwdMethod::Tunnel, 2);
        gre.tun_type = TunType::Gre;
        gre.tun_flags = TUN_F_CSUM;
        let mut pe = sconf("wlc", svc_flags::PERSISTENT, 360, 128);
        pe.pe = Name::new("sip").unwrap();
        vec![
            entry(
                tcp(100, 80),
                sconf(
                    "rr",
                    svc_flags::PERSISTENT | svc_flags::HASHED,
                    600,
                    u32::from_ne_bytes([255, 255, 255, 0]),
                ),
                vec![
                    d(Addr::v4([10, 0, 2, 11]), 80, dconf(FwdMethod::Masq, 1)),
                    d(Addr::v4([10, 0, 2, 12]), 8080, thresh),
                    d(Addr::v4([10, 0, 2, 13]), 80, dconf(FwdMethod::Droute, 0)),
                    d(Addr::v4([10, 0, 2, 14]), 80, dconf(FwdMethod::Local, 1)),
                    d(v6(9), 80, gue),
                    d(Addr::v4([10, 0, 2, 15]), 80, gre),
                ],
            ),
            entry(
                ServiceKey::Addr {
                    proto: Protocol::Udp,
                    addr: Addr::v4([10, 0, 1, 100]),
                    port: 0,
                },
                sconf(
                    "sh",
                    svc_flags::PERSISTENT
                        | svc_flags::ONEPACKET
                        | svc_flags::SCHED1
                        | svc_flags::SCHED2,
                    30,
                    u32::MAX,
                ),
                vec![],
            ),
            entry(
                ServiceKey::Addr {
                    proto: Protocol::Sctp,
                    addr: v6(1),
                    port: 9,
                },
                pe,
                vec![d(v6(2), 9, dconf(FwdMethod::Droute, 1))],
            ),
            entry(
                ServiceKey::Fwmark {
                    af: Af::Inet,
                    mark: 42,
                },
                sconf("mh", svc_flags::SCHED2, 0, u32::MAX),
                vec![d(Addr::v4([10, 0, 2, 20]), 0, dconf(FwdMethod::Droute, 1))],
            ),
            entry(
                ServiceKey::Fwmark {
                    af: Af::Inet6,
                    mark: 43,
                },
                sconf("wrr", svc_flags::PERSISTENT | svc_flags::SCHED3, 100, 64),
                vec![d(v6(3), 443, dconf(FwdMethod::Masq, 7))],
            ),
        ]
    }

    /// What `ipvsadm -S -n` prints for [`table`] (its format strings in
    /// `print_service_entry`/`print_tunnel_rule`), plus `-x`/`-y`.
    const SAVED: &str = "\
-A -t 10.0.1.100:80 -s rr -p 600 -M 255.255.255.0
-a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 1
-a -t 10.0.1.100:80 -r 10.0.2.12:8080 -m -w 3 -x 100 -y 10
-a -t 10.0.1.100:80 -r 10.0.2.13:80 -g -w 0
-a -t 10.0.1.100:80 -r 10.0.2.14:80 -g -w 1
-a -t 10.0.1.100:80 -r [2001:db8::9]:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -t 10.0.1.100:80 -r 10.0.2.15:80 -i -w 2 --tun-type gre --tun-csum
-A -u 10.0.1.100:0 -s sh -p 30 -o -b sh-fallback,sh-port
-A --sctp-service [2001:db8::1]:9 -s wlc -p 360 --pe sip
-a --sctp-service [2001:db8::1]:9 -r [2001:db8::2]:9 -g -w 1
-A -f 42 -s mh -b mh-port
-a -f 42 -r 10.0.2.20:0 -g -w 1
-A -f 43 -6 -s wrr -p 100 -M 64 -b flag-3
-a -f 43 -6 -r [2001:db8::3]:443 -m -w 7
";

    #[test]
    fn prints_ipvsadm_save_format() {
        assert_eq!(print(&table()), SAVED);
    }

    /// The table a save file describes, as a listing with the `IPVS_RS`
    /// family would show it (`ext` present when `with_ext`).
    fn rebuild(text: &str, with_ext: bool) -> Vec<ServiceEntry> {
        let mut rebuilt: Vec<ServiceEntry> = Vec::new();
        for l in parse(text).unwrap() {
            match l.rule {
                Rule::Service {
                    key,
                    conf,
                    toa,
                    synproxy,
                    proxy,
                } => {
                    let mut e = entry(key, conf, vec![]);
                    if with_ext {
                        e.ext = Some(ServiceExt {
                            settings: SvcExt {
                                toa,
                                synproxy,
                                proxy,
                            },
                            ..Default::default()
                        });
                    }
                    rebuilt.push(e);
                }
                Rule::Laddr { service, addr } => {
                    let s = rebuilt.iter_mut().find(|s| s.key == service).unwrap();
                    s.ext.as_mut().unwrap().laddrs.push(LaddrEntry {
                        addr,
                        conns: 0,
                        exhausted: 0,
                    });
                }
                Rule::Dest { service, key, conf } => {
                    let s = rebuilt.iter_mut().find(|s| s.key == service).unwrap();
                    s.dests.push(DestEntry {
                        key,
                        conf,
                        conns: DestConns::default(),
                        stats: Stats::default(),
                    });
                }
            }
        }
        rebuilt
    }

    #[test]
    fn save_then_parse_gives_the_same_table() {
        let rebuilt = rebuild(SAVED, false);
        let mut expect = table();
        for s in &mut expect {
            // Kernel-internal; never sent.
            s.conf.flags &= !svc_flags::HASHED;
            for d in &mut s.dests {
                // ipvsadm has no way to ask for local-node forwarding: the
                // kernel picks it for local addresses given as -g.
                if d.conf.fwd == FwdMethod::Local {
                    d.conf.fwd = FwdMethod::Droute;
                }
            }
        }
        assert_eq!(rebuilt, expect);
        assert_eq!(print(&rebuilt), SAVED);
    }

    /// A FULLNAT service with TOA and a pool, and one without.
    const SAVED_EXT: &str = "\
-A -t 10.0.1.100:80 -s rr --toa
-P -t 10.0.1.100:80 -z 10.0.5.1
-P -t 10.0.1.100:80 -z 10.0.5.2
-a -t 10.0.1.100:80 -r 10.0.2.11:8080 --fullnat -w 1
-a -t 10.0.1.100:80 -r 10.0.2.12:80 --fullnat -w 2 -x 10 -y 5
-A -f 7 -6 -s wlc
-P -f 7 -6 -z 2001:db8::5
-a -f 7 -6 -r [2001:db8::11]:443 --fullnat -w 1
-A -u 10.0.1.100:53 -s wlc
-a -u 10.0.1.100:53 -r 10.0.2.11:53 -m -w 1
-A -t 10.0.1.100:443 -s rr --toa --synproxy
-a -t 10.0.1.100:443 -r 10.0.2.11:443 -m -w 1
-A -t 10.0.1.100:8443 -s rr --proxy-protocol v2
-a -t 10.0.1.100:8443 -r 10.0.2.11:443 --fullnat -w 1
";

    #[test]
    fn synproxy_lines_print_and_parse_back() {
        let rebuilt = rebuild(SAVED_EXT, true);
        let tls = &rebuilt[rebuilt.len() - 2];
        let e = tls.ext.as_ref().unwrap();
        assert!(e.settings.synproxy && e.settings.toa);
        assert!(!rebuilt[0].ext.as_ref().unwrap().settings.synproxy);
        match rule("-A -t 10.0.1.1:80 --synproxy -s rr").unwrap() {
            Rule::Service { synproxy, toa, .. } => assert!(synproxy && !toa),
            r => panic!("{r:?}"),
        }
        assert!(rule("-a -t 10.0.0.1:80 -r 10.0.0.2 --synproxy")
            .unwrap_err()
            .to_string()
            .contains("option \"--synproxy\" belongs on -A lines"));
    }

    #[test]
    fn proxy_protocol_lines_print_and_parse_back() {
        let rebuilt = rebuild(SAVED_EXT, true);
        let pp = rebuilt.last().unwrap();
        assert_eq!(pp.ext.as_ref().unwrap().settings.proxy, ProxyVersion::V2);
        assert_eq!(
            rebuilt[0].ext.as_ref().unwrap().settings.proxy,
            ProxyVersion::Off
        );
        match rule("-A -t 10.0.1.1:80 --proxy-protocol v1 -s rr").unwrap() {
            Rule::Service { proxy, .. } => assert_eq!(proxy, ProxyVersion::V1),
            r => panic!("{r:?}"),
        }
        for (line, msg) in [
            (
                "-A -t 10.0.1.1:80 --proxy-protocol v9",
                "--proxy-protocol: \"v9\" is not a PROXY protocol version",
            ),
            ("-A -t 10.0.1.1:80 --proxy-protocol", "--proxy-protocol"),
            (
                "-a -t 10.0.0.1:80 -r 10.0.0.2 --proxy-protocol v2",
                "option \"--proxy-protocol\" belongs on -A lines",
            ),
        ] {
            let e = rule(line).unwrap_err().to_string();
            assert!(e.contains(msg), "{line}: {e}");
        }
    }

    #[test]
    fn extension_lines_print_and_parse_back() {
        let rebuilt = rebuild(SAVED_EXT, true);
        assert_eq!(print(&rebuilt), SAVED_EXT);
        let web = &rebuilt[0];
        assert!(web.ext.as_ref().unwrap().settings.toa);
        assert_eq!(web.ext.as_ref().unwrap().laddrs.len(), 2);
        assert_eq!(web.dests[0].conf.fwd, FwdMethod::FullNat);
        // FULLNAT maps ports, as NAT does.
        assert_eq!(web.dests[0].key.port, 8080);
        // Without the IPVS_RS family a listing has no extension data, and
        // the file is plain ipvsadm (the FULLNAT real servers aside).
        let mut plain = rebuilt.clone();
        for s in &mut plain {
            s.ext = None;
        }
        let text = print(&plain);
        assert!(!text.contains("-P ") && !text.contains("--toa"), "{text}");
        // Long forms.
        let r = rule("--add-laddr --tcp-service 10.0.1.1:80 --laddr=10.0.5.1").unwrap();
        assert_eq!(
            r,
            Rule::Laddr {
                service: tcp(1, 80),
                addr: Addr::v4([10, 0, 5, 1])
            }
        );
        let r = rule("ipvsadm -P -t 10.0.1.1:80 -z 10.0.5.1".trim_start_matches("ipvsadm "));
        assert!(r.is_ok());
        let (_, _, c) = dst("-a -t 10.0.1.1:80 -r 10.0.2.1 --fullnat");
        assert_eq!((c.fwd, c.weight), (FwdMethod::FullNat, 1));
        match rule("-A -t 10.0.1.1:80 --toa -s rr").unwrap() {
            Rule::Service { toa, conf, .. } => assert!(toa && conf.sched.as_str() == "rr"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn extension_errors_name_the_token() {
        let cases = [
            ("-P -t 10.0.0.1:80", "no local address: give -z ADDRESS"),
            ("-P -t 10.0.0.1:80 -z 10.0.5.1 -s rr", "option \"-s\" belongs on -A lines, not on -P lines"),
            ("-P -t 10.0.0.1:80 -z 10.0.5.1 -w 1", "option \"-w\" belongs on -a lines, not on -P lines"),
            ("-A -t 10.0.0.1:80 -z 10.0.5.1", "option \"-z\" belongs on -P lines, not on -A lines"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 --toa", "option \"--toa\" belongs on -A lines, not on -a lines"),
            ("-P -t 10.0.0.1:80 -A -z 10.0.5.1", "options \"-P\" and \"-A\" exclude each other"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 -m --fullnat", "options \"-m\" and \"--fullnat\" exclude each other"),
            ("-a -t 10.0.0.1:80 -r 10.0.0.2 --fullnat --tun-type gre", "option \"--tun-type\" needs tunnel forwarding (-i)"),
            ("-A -t 10.0.0.1:80 --toa=1", "option \"--toa\" takes no value"),
            ("-P -t 10.0.0.1:80 -z 2001:db8::5", "invalid local address \"2001:db8::5\": IPv6, but service TCP 10.0.0.1:80 is IPv4: local addresses are of the service's family"),
            ("-P -t 10.0.0.1:80 -z 10.0.5.1:80", "invalid local address \"10.0.5.1:80\": a local address takes no port (FULLNAT picks the source port)"),
            ("-P -t 10.0.0.1:80 -z 0.0.0.0", "invalid local address \"0.0.0.0\": the unspecified address cannot be a local address"),
            ("-P -t 10.0.0.1:80 -z 10.0.5", "invalid local address \"10.0.5\": expected a numeric IPv4 or IPv6 address"),
            ("-Q -t 10.0.0.1:80 -z 10.0.5.1", "unsupported command \"-Q\": restore reads -A, -a and -P lines (the format of ipvsctl save and ipvsadm -S)"),
            ("-z 10.0.5.1", "no command: a line starts with -A (add service), -a (add real server) or -P (add local address)"),
        ];
        for (line, expect) in cases {
            assert_eq!(err(line), expect, "{line}");
        }
        let dup = "-A -t 10.0.1.100:80\n-P -t 10.0.1.100:80 -z 10.0.5.1\n\
                   -P -t 10.0.1.100:80 -z 10.0.5.1\n";
        assert_eq!(
            parse(dup).unwrap_err().to_string(),
            "restore: line 3: this local address was already added on line 2 (nothing was \
             applied)"
        );
        // The same address in two services' pools is two rules.
        assert!(
            parse("-P -t 10.0.1.100:80 -z 10.0.5.1\n-P -t 10.0.1.100:443 -z 10.0.5.1\n").is_ok()
        );
    }
}
