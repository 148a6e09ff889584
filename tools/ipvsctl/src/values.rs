// SPDX-License-Identifier: GPL-2.0
//! Values an operator writes and reads: addresses with ports, services,
//! real servers, schedulers and their flags, forwarding methods, tunnels,
//! weights, timeouts and netmasks.
//!
//! The command line and the save file (`savefile`) parse with these
//! functions, so both accept the same syntax and reject it with the same
//! messages; every error names the field and repeats the exact value. The
//! formatting side reproduces `ipvsadm -n` (addresses as glibc's
//! `inet_ntop` writes them), so that `ipvsctl save` matches `ipvsadm -S -n`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipvs_core::addr::{Addr, Af};
use ipvs_core::netlink::ext::ProxyVersion;
use ipvs_core::service::{
    svc_flags, DestConf, FwdMethod, Name, Protocol, ServiceConf, ServiceKey, TunType,
};

use crate::error::Error;

/// Longest timeout `ipvsadm` accepts (31 days), in seconds.
pub const MAX_TIMEOUT: u32 = 86400 * 31;
/// Persistence timeout when `--persistent`/`-p` has no value (libipvs's
/// `IPVS_SVC_PERSISTENT_TIMEOUT`, 6 minutes).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 6 * 60;
/// Scheduler of a new service when none is given (`ipvsadm`'s default).
pub const DEFAULT_SCHED: &str = "wlc";
/// Largest weight and connection threshold (`INT_MAX`, the kernel's limit).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM`.
pub const TUN_F_CSUM: u16 = 1 << 0;
/// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`.
pub const TUN_F_REMCSUM: u16 = 1 << 1;

/// The three scheduler flag bits.
pub const SCHED_FLAGS: u32 = svc_flags::SCHED1 | svc_flags::SCHED2 | svc_flags::SCHED3;

/// A decimal number in `min..=max`; `what` names the field in the error.
pub fn parse_number(what: &str, s: &str, min: u32, max: u32) -> Result<u32, Error> {
    let bad = || Error::invalid(what, s, format!("must be {min}..{max}"));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// A weight, `0..=INT_MAX`.
pub fn parse_weight(s: &str) -> Result<i32, Error> {
    let w = parse_number("weight", s, 0, MAX_WEIGHT)?;
    i32::try_from(w).map_err(|_| Error::invalid("weight", s, "must be 0..2147483647"))
}

/// A persistence timeout, `1..=31 days` in seconds.
pub fn parse_persistence(s: &str) -> Result<u32, Error> {
    parse_number("persistence timeout", s, 1, MAX_TIMEOUT)
}

/// A port, `0..=65535`.
pub fn parse_port(what: &str, s: &str) -> Result<u16, Error> {
    let p = parse_number(what, s, 0, u32::from(u16::MAX))?;
    u16::try_from(p).map_err(|_| Error::invalid(what, s, "must be 0..65535"))
}

/// An address with an optional port: `10.0.0.1`, `10.0.0.1:80`,
/// `[2001:db8::1]:80`, `[2001:db8::1]` or `2001:db8::1`. Numeric only.
pub fn parse_addr_port(what: &str, s: &str) -> Result<(Addr, Option<u16>), Error> {
    let bad_addr = || {
        Error::invalid(
            what,
            s,
            "expected IPV4[:PORT] or [IPV6][:PORT] (numeric addresses only)",
        )
    };
    let bad_port = || Error::invalid(what, s, "the port must be 0..65535");
    let port = |p: &str| -> Result<u16, Error> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_port());
        }
        p.parse::<u16>().map_err(|_| bad_port())
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(bad_addr)?;
        let ip: Ipv6Addr = inner.parse().map_err(|_| bad_addr())?;
        let port = match after {
            "" => None,
            _ => Some(port(after.strip_prefix(':').ok_or_else(bad_addr)?)?),
        };
        return Ok((Addr::v6(ip.octets()), port));
    }
    if let Ok(ip) = s.parse::<Ipv6Addr>() {
        return Ok((Addr::v6(ip.octets()), None));
    }
    let (host, p) = match s.rsplit_once(':') {
        Some((host, p)) => (host, Some(port(p)?)),
        None => (s, None),
    };
    let ip: Ipv4Addr = host.parse().map_err(|_| bad_addr())?;
    Ok((Addr::v4(ip.octets()), p))
}

/// A service protocol or type name as the command line takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A protocol, address and port service.
    Proto(Protocol),
    /// A firewall mark service.
    Fwmark,
}

/// `tcp`, `udp`, `sctp` or `fwmark` (any case).
pub fn parse_service_kind(s: &str) -> Result<ServiceKind, Error> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(ServiceKind::Proto(Protocol::Tcp)),
        "udp" => Ok(ServiceKind::Proto(Protocol::Udp)),
        "sctp" => Ok(ServiceKind::Proto(Protocol::Sctp)),
        "fwmark" | "fwm" => Ok(ServiceKind::Fwmark),
        _ => Err(Error::invalid(
            "service type",
            s,
            "must be tcp, udp, sctp or fwmark",
        )),
    }
}

/// A firewall mark, `1..=4294967295` (`ipvsadm` rejects 0: it means "no
/// mark" in the ABI).
pub fn parse_fwmark(s: &str) -> Result<u32, Error> {
    parse_number("fwmark", s, 1, u32::MAX)
}

/// A service key from its type and address (or mark); `ipv6` selects the
/// family of a fwmark service. A missing port is 0, which `ipvsadm` allows
/// for persistent services only (see [`check_zero_port`]).
pub fn parse_service(kind: ServiceKind, target: &str, ipv6: bool) -> Result<ServiceKey, Error> {
    match kind {
        ServiceKind::Fwmark => Ok(ServiceKey::Fwmark {
            af: if ipv6 { Af::Inet6 } else { Af::Inet },
            mark: parse_fwmark(target)?,
        }),
        ServiceKind::Proto(proto) => {
            if ipv6 {
                return Err(Error::Usage(
                    "--ipv6 applies only to fwmark services; the address gives the family \
                     of the others"
                        .into(),
                ));
            }
            let (addr, port) = parse_addr_port("service address", target)?;
            Ok(ServiceKey::Addr {
                proto,
                addr,
                port: port.unwrap_or(0),
            })
        }
    }
}

/// `ipvsadm`'s rule: a service on port 0 (every port) must be persistent.
pub fn check_zero_port(key: &ServiceKey, flags: u32) -> Result<(), Error> {
    match key {
        ServiceKey::Addr { port: 0, .. } if flags & svc_flags::PERSISTENT == 0 => {
            Err(Error::Usage(format!(
                "service {} has port 0 (every port), which needs persistence (--persistent)",
                service_label(key)
            )))
        }
        _ => Ok(()),
    }
}

/// `ipvsadm`'s rule: one-packet scheduling only for UDP and fwmark
/// services.
pub fn check_onepacket(key: &ServiceKey, flags: u32) -> Result<(), Error> {
    match key {
        ServiceKey::Addr { proto, .. }
            if *proto != Protocol::Udp && flags & svc_flags::ONEPACKET != 0 =>
        {
            Err(Error::Usage(format!(
                "one-packet scheduling is only for UDP and fwmark services, not {}",
                service_label(key)
            )))
        }
        _ => Ok(()),
    }
}

/// A real server address; a missing port is the service's (as `ipvsadm`
/// copies it), 0 for fwmark services.
pub fn parse_server(s: &str, svc: &ServiceKey) -> Result<(Addr, u16, bool), Error> {
    let (addr, port) = parse_addr_port("real server address", s)?;
    let svc_port = match svc {
        ServiceKey::Addr { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    };
    Ok((addr, port.unwrap_or(svc_port), port.is_some()))
}

/// A local address of a service's FULLNAT pool: numeric, without a port
/// (FULLNAT picks the source port), of the service's address family, and
/// not the unspecified address.
pub fn parse_laddr(s: &str, svc: &ServiceKey) -> Result<Addr, Error> {
    let what = "local address";
    let (addr, port) = parse_addr_port(what, s)
        .map_err(|_| Error::invalid(what, s, "expected a numeric IPv4 or IPv6 address"))?;
    if port.is_some() {
        return Err(Error::invalid(
            what,
            s,
            "a local address takes no port (FULLNAT picks the source port)",
        ));
    }
    if addr.is_unspecified() {
        return Err(Error::invalid(
            what,
            s,
            "the unspecified address cannot be a local address",
        ));
    }
    if addr.af() != svc.af() {
        return Err(Error::invalid(
            what,
            s,
            format!(
                "{}, but service {} is {}: local addresses are of the service's family",
                af_label(addr.af()),
                service_label(svc),
                af_label(svc.af())
            ),
        ));
    }
    Ok(addr)
}

/// `IPv4` or `IPv6`.
pub fn af_label(af: Af) -> &'static str {
    match af {
        Af::Inet => "IPv4",
        Af::Inet6 => "IPv6",
    }
}

/// A scheduler name: 1 to 15 characters without NUL.
pub fn parse_sched(s: &str) -> Result<Name, Error> {
    if s.is_empty() || s.contains('\0') {
        return Err(Error::invalid("scheduler", s, "must not be empty"));
    }
    Name::new(s).ok_or_else(|| Error::invalid("scheduler", s, "at most 15 characters"))
}

/// A persistence engine name: 1 to 15 characters without NUL.
pub fn parse_pe(s: &str) -> Result<Name, Error> {
    if s.is_empty() || s.contains('\0') {
        return Err(Error::invalid("persistence engine", s, "must not be empty"));
    }
    Name::new(s).ok_or_else(|| Error::invalid("persistence engine", s, "at most 15 characters"))
}

/// Scheduler flags as `ipvsadm -b` takes them, a comma-separated list of
/// `flag-1`, `flag-2`, `flag-3`, `sh-fallback`, `sh-port` (scheduler `sh`
/// only), `mh-fallback`, `mh-port` (`mh` only); `none` clears them.
/// Returns the `IP_VS_SVC_F_SCHED*` bits.
pub fn parse_sched_flags(s: &str, sched: &str) -> Result<u32, Error> {
    parse_sched_flags_for(s, Some(sched))
}

/// [`parse_sched_flags`], checking the scheduler only if it is known.
pub fn parse_sched_flags_for(s: &str, sched: Option<&str>) -> Result<u32, Error> {
    if s == "none" {
        return Ok(0);
    }
    let mut flags = 0;
    for flag in s.split(',') {
        let (bit, only) = match flag {
            "flag-1" => (svc_flags::SCHED1, None),
            "flag-2" => (svc_flags::SCHED2, None),
            "flag-3" => (svc_flags::SCHED3, None),
            "sh-fallback" => (svc_flags::SCHED1, Some("sh")),
            "sh-port" => (svc_flags::SCHED2, Some("sh")),
            "mh-fallback" => (svc_flags::SCHED1, Some("mh")),
            "mh-port" => (svc_flags::SCHED2, Some("mh")),
            _ => {
                return Err(Error::invalid(
                    "scheduler flag",
                    flag,
                    "must be sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, \
                     flag-3 or none",
                ))
            }
        };
        if let (Some(only), Some(sched)) = (only, sched) {
            if only != sched {
                return Err(Error::invalid(
                    "scheduler flag",
                    flag,
                    format!("only for the {only} scheduler, not {sched}"),
                ));
            }
        }
        flags |= bit;
    }
    Ok(flags)
}

/// The names of the scheduler flags set in `flags`, as `ipvsadm` prints
/// them for scheduler `sched`. A flag `sh`/`mh` have no name for is shown
/// as `flag-N`, which `ipvsadm -b` also reads.
pub fn sched_flag_names(sched: &str, flags: u32) -> Vec<&'static str> {
    let names: [(u32, &str); 3] = match sched {
        "sh" => [
            (svc_flags::SCHED1, "sh-fallback"),
            (svc_flags::SCHED2, "sh-port"),
            (svc_flags::SCHED3, "flag-3"),
        ],
        "mh" => [
            (svc_flags::SCHED1, "mh-fallback"),
            (svc_flags::SCHED2, "mh-port"),
            (svc_flags::SCHED3, "flag-3"),
        ],
        _ => [
            (svc_flags::SCHED1, "flag-1"),
            (svc_flags::SCHED2, "flag-2"),
            (svc_flags::SCHED3, "flag-3"),
        ],
    };
    names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The persistence netmask as the netlink attribute carries it: for IPv4
/// a dotted mask (`255.255.255.0`) or, if `allow_prefix`, a prefix length
/// (`24`); for IPv6 a prefix length `1..=128`. A leading `/` is accepted
/// on prefix lengths.
pub fn parse_netmask(s: &str, af: Af, allow_prefix: bool) -> Result<u32, Error> {
    match af {
        Af::Inet => {
            if let Ok(ip) = s.parse::<Ipv4Addr>() {
                return Ok(u32::from_ne_bytes(ip.octets()));
            }
            let digits = s.strip_prefix('/').unwrap_or(s);
            let reason = if allow_prefix {
                "must be a dotted IPv4 mask like 255.255.255.0 or a prefix length 0..32"
            } else {
                "must be a dotted IPv4 mask like 255.255.255.0"
            };
            if !allow_prefix || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid("netmask", s, reason));
            }
            let len = digits
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= 32)
                .ok_or_else(|| Error::invalid("netmask", s, reason))?;
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            Ok(u32::from_ne_bytes(mask.to_be_bytes()))
        }
        Af::Inet6 => {
            let digits = s.strip_prefix('/').unwrap_or(s);
            parse_number("netmask", digits, 1, 128)
                .map_err(|_| Error::invalid("netmask", s, "must be an IPv6 prefix length 1..128"))
        }
    }
}

/// The netmask a service gets when none is given: all ones for IPv4, a
/// /128 prefix for IPv6 (as `ipvsadm` sets them).
pub fn default_netmask(af: Af) -> u32 {
    match af {
        Af::Inet => u32::MAX,
        Af::Inet6 => 128,
    }
}

/// The netmask as `ipvsadm` prints it: dotted for IPv4 (`inet_ntoa`), the
/// prefix length for IPv6.
pub fn fmt_netmask(netmask: u32, af: Af) -> String {
    match af {
        Af::Inet => Ipv4Addr::from(netmask.to_ne_bytes()).to_string(),
        Af::Inet6 => netmask.to_string(),
    }
}

/// `nat`/`masq`, `dr`/`route`/`gatewaying`, `tun`/`tunnel`/`ipip`,
/// `fullnat`/`fnat`.
pub fn parse_fwd(s: &str) -> Result<FwdMethod, Error> {
    match s.to_ascii_lowercase().as_str() {
        "nat" | "masq" | "masquerading" => Ok(FwdMethod::Masq),
        "dr" | "route" | "droute" | "gatewaying" => Ok(FwdMethod::Droute),
        "tun" | "tunnel" | "ipip" => Ok(FwdMethod::Tunnel),
        "fullnat" | "fnat" => Ok(FwdMethod::FullNat),
        _ => Err(Error::invalid(
            "forwarding method",
            s,
            "must be nat, dr, tun or fullnat",
        )),
    }
}

/// The lower-case name of a forwarding method, for JSON.
pub fn fwd_json_name(fwd: FwdMethod) -> &'static str {
    match fwd {
        FwdMethod::Masq => "masq",
        FwdMethod::Local => "local",
        FwdMethod::Tunnel => "tunnel",
        FwdMethod::Droute => "route",
        FwdMethod::Bypass => "bypass",
        FwdMethod::FullNat => "fullnat",
    }
}

/// `ipip`, `gue` or `gre`.
pub fn parse_tun_type(s: &str) -> Result<TunType, Error> {
    match s {
        "ipip" => Ok(TunType::Ipip),
        "gue" => Ok(TunType::Gue),
        "gre" => Ok(TunType::Gre),
        _ => Err(Error::invalid("tunnel type", s, "must be ipip, gue or gre")),
    }
}

/// The name of a tunnel type (`ipvsadm`'s).
pub fn tun_type_name(t: TunType) -> &'static str {
    match t {
        TunType::Ipip => "ipip",
        TunType::Gue => "gue",
        TunType::Gre => "gre",
    }
}

/// The checksum mode of tunnel flags: `nocsum`, `csum` or `remcsum`.
pub fn tun_csum_name(flags: u16) -> &'static str {
    if flags & TUN_F_REMCSUM != 0 {
        "remcsum"
    } else if flags & TUN_F_CSUM != 0 {
        "csum"
    } else {
        "nocsum"
    }
}

/// An address as glibc's `inet_ntop` writes it (what `ipvsadm -n` shows).
pub fn fmt_addr(addr: &Addr) -> String {
    match addr.af() {
        Af::Inet => {
            let mut o = [0u8; 4];
            o.copy_from_slice(addr.octets().get(..4).unwrap_or(&[0; 4]));
            Ipv4Addr::from(o).to_string()
        }
        Af::Inet6 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(addr.octets().get(..16).unwrap_or(&[0; 16]));
            fmt_ipv6_glibc(&o)
        }
    }
}

/// glibc's `inet_ntop(AF_INET6)`: the first longest run of two or more
/// zero groups becomes `::`, and IPv4-compatible (`::a.b.c.d`, six zero
/// groups) and IPv4-mapped (`::ffff:a.b.c.d`) addresses end in dotted
/// form.
pub fn fmt_ipv6_glibc(b: &[u8; 16]) -> String {
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        let hi = b.get(2 * i).copied().unwrap_or(0);
        let lo = b.get(2 * i + 1).copied().unwrap_or(0);
        *w = u16::from_be_bytes([hi, lo]);
    }
    // The first longest run of zero groups.
    let (mut best, mut best_len) = (None::<usize>, 0usize);
    let (mut cur, mut cur_len) = (None::<usize>, 0usize);
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            if cur.is_none() {
                cur = Some(i);
                cur_len = 0;
            }
            cur_len += 1;
        } else if let Some(c) = cur.take() {
            if best.is_none() || cur_len > best_len {
                best = Some(c);
                best_len = cur_len;
            }
        }
    }
    if let Some(c) = cur {
        if best.is_none() || cur_len > best_len {
            best = Some(c);
            best_len = cur_len;
        }
    }
    if best_len < 2 {
        best = None;
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some(base) = best {
            if i >= base && i < base + best_len {
                if i == base {
                    out.push(':');
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let word5 = words.get(5).copied().unwrap_or(0);
        if i == 6 && best == Some(0) && (best_len == 6 || (best_len == 5 && word5 == 0xffff)) {
            let [_, _, _, _, _, _, _, _, _, _, _, _, a, b2, c, d] = *b;
            let _ = write!(out, "{a}.{b2}.{c}.{d}");
            return out;
        }
        let _ = write!(out, "{:x}", words.get(i).copied().unwrap_or(0));
        i += 1;
    }
    if let Some(base) = best {
        if base + best_len == 8 {
            out.push(':');
        }
    }
    out
}

/// `10.0.0.1:80` or `[2001:db8::1]:80`, as `ipvsadm -n` writes them.
pub fn fmt_addr_port(addr: &Addr, port: u16) -> String {
    match addr.af() {
        Af::Inet => format!("{}:{port}", fmt_addr(addr)),
        Af::Inet6 => format!("[{}]:{port}", fmt_addr(addr)),
    }
}

/// How a person names a service in messages: `TCP 10.0.1.100:80`,
/// `FWM 42`, `FWM 42 IPv6`.
pub fn service_label(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("{} {}", proto.name(), fmt_addr_port(addr, *port))
        }
        ServiceKey::Fwmark { af: Af::Inet, mark } => format!("FWM {mark}"),
        ServiceKey::Fwmark {
            af: Af::Inet6,
            mark,
        } => format!("FWM {mark} IPv6"),
    }
}

/// The tunnel rules `ipvsadm` enforces on a real server with tunnel
/// forwarding: GUE needs a port; only GUE takes a port and remote checksum
/// offload; IPIP takes no checksum option.
pub fn check_tunnel(conf: &DestConf) -> Result<(), Error> {
    if conf.fwd != FwdMethod::Tunnel {
        return Ok(());
    }
    let usage = |m: &str| Err(Error::Usage(m.to_owned()));
    match conf.tun_type {
        TunType::Gue if conf.tun_port == 0 => usage("gue tunnels need a port (--tun-port)"),
        TunType::Ipip | TunType::Gre if conf.tun_port != 0 => {
            usage("--tun-port applies only to gue tunnels")
        }
        TunType::Ipip if conf.tun_flags != 0 => {
            usage("tunnel checksum options apply only to gue and gre tunnels")
        }
        TunType::Gre if conf.tun_flags & TUN_F_REMCSUM != 0 => {
            usage("--tun-remcsum applies only to gue tunnels")
        }
        _ => Ok(()),
    }
}

/// The kernel's rule (upstream `ERANGE`): the lower connection threshold
/// must not exceed the upper one, even when the upper one is 0 (no limit).
pub fn check_thresholds(conf: &DestConf) -> Result<(), Error> {
    if conf.l_thresh > conf.u_thresh {
        return Err(Error::invalid(
            "lower threshold",
            &conf.l_thresh.to_string(),
            format!(
                "higher than the upper threshold {} (the kernel refuses it)",
                conf.u_thresh
            ),
        ));
    }
    Ok(())
}

/// The kernel's rule: a real server of another address family than its
/// service needs tunnel forwarding.
pub fn check_dest_family(svc: &ServiceKey, dest: &Addr, fwd: FwdMethod) -> Result<(), Error> {
    if dest.af() != svc.af() && fwd != FwdMethod::Tunnel {
        let name = af_label;
        return Err(Error::Usage(format!(
            "real server {} is {} but service {} is {}: only tunnel forwarding crosses \
             address families",
            fmt_addr(dest),
            name(dest.af()),
            service_label(svc),
            name(svc.af())
        )));
    }
    Ok(())
}

/// Whether a service is persistent.
pub fn is_persistent(conf: &ServiceConf) -> bool {
    conf.flags & svc_flags::PERSISTENT != 0
}

/// The name of a PROXY protocol version on the command line (`None` for
/// off).
pub fn proxy_name(v: ProxyVersion) -> Option<&'static str> {
    match v {
        ProxyVersion::Off => None,
        ProxyVersion::V1 => Some("v1"),
        ProxyVersion::V2 => Some("v2"),
    }
}

/// Parses the value of `--proxy-protocol`: `v1`, `v2` or `off`.
pub fn parse_proxy(s: &str) -> Result<ProxyVersion, Error> {
    match s {
        "v1" | "1" => Ok(ProxyVersion::V1),
        "v2" | "2" => Ok(ProxyVersion::V2),
        "off" | "0" => Ok(ProxyVersion::Off),
        _ => Err(Error::Usage(format!(
            "--proxy-protocol: \"{s}\" is not a PROXY protocol version (v1, v2 or off)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<impl std::fmt::Debug, Error>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_weight("0").unwrap(), 0);
        assert_eq!(parse_weight("2147483647").unwrap(), i32::MAX);
        assert_eq!(
            msg(parse_weight("-3")),
            "invalid weight \"-3\": must be 0..2147483647"
        );
        assert_eq!(
            msg(parse_weight("2147483648")),
            "invalid weight \"2147483648\": must be 0..2147483647"
        );
        assert!(parse_weight("+3").is_err());
        assert!(parse_weight(" 3").is_err());
        assert!(parse_weight("").is_err());
        assert!(parse_weight("99999999999999999999").is_err());
        assert_eq!(parse_persistence("2678400").unwrap(), MAX_TIMEOUT);
        assert_eq!(
            msg(parse_persistence("0")),
            "invalid persistence timeout \"0\": must be 1..2678400"
        );
        assert_eq!(parse_fwmark("4294967295").unwrap(), u32::MAX);
        assert_eq!(
            msg(parse_fwmark("0")),
            "invalid fwmark \"0\": must be 1..4294967295"
        );
        assert_eq!(parse_port("tunnel port", "6080").unwrap(), 6080);
        assert!(parse_port("tunnel port", "65536").is_err());
    }

    #[test]
    fn addresses() {
        let (a, p) = parse_addr_port("x", "10.0.1.100:80").unwrap();
        assert_eq!((a, p), (Addr::v4([10, 0, 1, 100]), Some(80)));
        let (a, p) = parse_addr_port("x", "10.0.1.100").unwrap();
        assert_eq!((a, p), (Addr::v4([10, 0, 1, 100]), None));
        let (a, p) = parse_addr_port("x", "[2001:db8::1]:443").unwrap();
        assert_eq!(fmt_addr_port(&a, p.unwrap()), "[2001:db8::1]:443");
        let (a, p) = parse_addr_port("x", "[2001:db8::1]").unwrap();
        assert_eq!((a.af(), p), (Af::Inet6, None));
        let (a, p) = parse_addr_port("x", "2001:db8::1").unwrap();
        assert_eq!((fmt_addr(&a), p), ("2001:db8::1".to_owned(), None));
        assert_eq!(
            msg(parse_addr_port("service address", "10.0.1.300:80")),
            "invalid service address \"10.0.1.300:80\": expected IPV4[:PORT] or \
             [IPV6][:PORT] (numeric addresses only)"
        );
        assert_eq!(
            msg(parse_addr_port("service address", "10.0.1.3:http")),
            "invalid service address \"10.0.1.3:http\": the port must be 0..65535"
        );
        for bad in [
            "",
            "www.example.com:80",
            "10.0.0.1:",
            "10.0.0.1:65536",
            "[::1",
            "[::1]80",
            "[10.0.0.1]:80",
            "10.1:80",
        ] {
            assert!(parse_addr_port("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn services() {
        let k = parse_service(parse_service_kind("TCP").unwrap(), "10.0.1.100:80", false).unwrap();
        assert_eq!(service_label(&k), "TCP 10.0.1.100:80");
        let k = parse_service(ServiceKind::Fwmark, "42", true).unwrap();
        assert_eq!(
            k,
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 42
            }
        );
        assert_eq!(service_label(&k), "FWM 42 IPv6");
        assert!(msg(parse_service(
            ServiceKind::Proto(Protocol::Udp),
            "10.0.0.1:53",
            true
        ))
        .starts_with("--ipv6 applies only to fwmark services"));
        assert_eq!(
            msg(parse_service_kind("icmp")),
            "invalid service type \"icmp\": must be tcp, udp, sctp or fwmark"
        );
        let k = parse_service(ServiceKind::Proto(Protocol::Tcp), "10.0.0.1", false).unwrap();
        assert_eq!(
            msg(check_zero_port(&k, 0)),
            "service TCP 10.0.0.1:0 has port 0 (every port), which needs persistence \
             (--persistent)"
        );
        assert!(check_zero_port(&k, svc_flags::PERSISTENT).is_ok());
        assert!(check_onepacket(&k, svc_flags::ONEPACKET).is_err());
        let u = parse_service(ServiceKind::Proto(Protocol::Udp), "10.0.0.1:53", false).unwrap();
        assert!(check_onepacket(&u, svc_flags::ONEPACKET).is_ok());
        let (a, p, given) = parse_server("10.0.2.1", &u).unwrap();
        assert_eq!((a, p, given), (Addr::v4([10, 0, 2, 1]), 53, false));
        let f = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 1,
        };
        assert_eq!(parse_server("10.0.2.1", &f).unwrap().1, 0);
        assert_eq!(parse_server("10.0.2.1:8080", &f).unwrap().1, 8080);
    }

    #[test]
    fn local_addresses() {
        let tcp = parse_service(ServiceKind::Proto(Protocol::Tcp), "10.0.1.100:80", false).unwrap();
        assert_eq!(
            parse_laddr("10.0.5.1", &tcp).unwrap(),
            Addr::v4([10, 0, 5, 1])
        );
        assert_eq!(
            msg(parse_laddr("2001:db8::5", &tcp)),
            "invalid local address \"2001:db8::5\": IPv6, but service TCP 10.0.1.100:80 is \
             IPv4: local addresses are of the service's family"
        );
        assert_eq!(
            msg(parse_laddr("10.0.5.1:80", &tcp)),
            "invalid local address \"10.0.5.1:80\": a local address takes no port (FULLNAT \
             picks the source port)"
        );
        assert_eq!(
            msg(parse_laddr("0.0.0.0", &tcp)),
            "invalid local address \"0.0.0.0\": the unspecified address cannot be a local \
             address"
        );
        assert_eq!(
            msg(parse_laddr("10.0.5", &tcp)),
            "invalid local address \"10.0.5\": expected a numeric IPv4 or IPv6 address"
        );
        let fw6 = ServiceKey::Fwmark {
            af: Af::Inet6,
            mark: 1,
        };
        assert_eq!(parse_laddr("[2001:db8::5]", &fw6).unwrap().af(), Af::Inet6);
        assert!(parse_laddr("::", &fw6).is_err());
        assert!(parse_laddr("10.0.5.1", &fw6).is_err());
    }

    #[test]
    fn sched_and_flags() {
        assert_eq!(parse_sched("wlc").unwrap().as_str(), "wlc");
        assert_eq!(
            msg(parse_sched("a-scheduler-name-too-long")),
            "invalid scheduler \"a-scheduler-name-too-long\": at most 15 characters"
        );
        assert!(parse_sched("").is_err());
        assert_eq!(
            parse_sched_flags("sh-fallback,sh-port", "sh").unwrap(),
            svc_flags::SCHED1 | svc_flags::SCHED2
        );
        assert_eq!(
            parse_sched_flags("mh-port", "mh").unwrap(),
            svc_flags::SCHED2
        );
        assert_eq!(
            parse_sched_flags("flag-3", "rr").unwrap(),
            svc_flags::SCHED3
        );
        assert_eq!(parse_sched_flags("none", "rr").unwrap(), 0);
        assert_eq!(
            msg(parse_sched_flags("sh-port", "wlc")),
            "invalid scheduler flag \"sh-port\": only for the sh scheduler, not wlc"
        );
        assert!(msg(parse_sched_flags("sh-port,bogus", "sh"))
            .starts_with("invalid scheduler flag \"bogus\": must be sh-fallback"));
        assert!(parse_sched_flags("", "sh").is_err());
        assert_eq!(
            sched_flag_names("sh", svc_flags::SCHED1 | svc_flags::SCHED2),
            ["sh-fallback", "sh-port"]
        );
        assert_eq!(sched_flag_names("mh", svc_flags::SCHED2), ["mh-port"]);
        assert_eq!(
            sched_flag_names("rr", SCHED_FLAGS | svc_flags::PERSISTENT),
            ["flag-1", "flag-2", "flag-3"]
        );
        assert!(sched_flag_names("sh", svc_flags::PERSISTENT).is_empty());
    }

    #[test]
    fn netmasks() {
        let m = parse_netmask("255.255.255.0", Af::Inet, false).unwrap();
        assert_eq!(m.to_ne_bytes(), [255, 255, 255, 0]);
        assert_eq!(parse_netmask("24", Af::Inet, true).unwrap(), m);
        assert_eq!(parse_netmask("/24", Af::Inet, true).unwrap(), m);
        assert_eq!(parse_netmask("0", Af::Inet, true).unwrap(), 0);
        assert_eq!(parse_netmask("32", Af::Inet, true).unwrap(), u32::MAX);
        assert_eq!(
            msg(parse_netmask("24", Af::Inet, false)),
            "invalid netmask \"24\": must be a dotted IPv4 mask like 255.255.255.0"
        );
        assert!(parse_netmask("33", Af::Inet, true).is_err());
        assert_eq!(parse_netmask("64", Af::Inet6, false).unwrap(), 64);
        assert_eq!(
            msg(parse_netmask("0", Af::Inet6, true)),
            "invalid netmask \"0\": must be an IPv6 prefix length 1..128"
        );
        assert_eq!(fmt_netmask(m, Af::Inet), "255.255.255.0");
        assert_eq!(fmt_netmask(64, Af::Inet6), "64");
        assert_eq!(
            fmt_netmask(default_netmask(Af::Inet), Af::Inet),
            "255.255.255.255"
        );
    }

    #[test]
    fn forwarding_and_tunnels() {
        assert_eq!(parse_fwd("nat").unwrap(), FwdMethod::Masq);
        assert_eq!(parse_fwd("DR").unwrap(), FwdMethod::Droute);
        assert_eq!(parse_fwd("tun").unwrap(), FwdMethod::Tunnel);
        assert_eq!(parse_fwd("fullnat").unwrap(), FwdMethod::FullNat);
        assert_eq!(parse_fwd("FNAT").unwrap(), FwdMethod::FullNat);
        assert_eq!(fwd_json_name(FwdMethod::FullNat), "fullnat");
        assert_eq!(
            msg(parse_fwd("snat")),
            "invalid forwarding method \"snat\": must be nat, dr, tun or fullnat"
        );
        for t in [TunType::Ipip, TunType::Gue, TunType::Gre] {
            assert_eq!(parse_tun_type(tun_type_name(t)).unwrap(), t);
        }
        assert!(parse_tun_type("vxlan").is_err());
        assert_eq!(tun_csum_name(0), "nocsum");
        assert_eq!(tun_csum_name(TUN_F_CSUM), "csum");
        assert_eq!(tun_csum_name(TUN_F_REMCSUM), "remcsum");
    }

    #[test]
    fn dest_rules() {
        let mut c = DestConf {
            fwd: FwdMethod::Tunnel,
            weight: 1,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Gue,
            tun_port: 0,
            tun_flags: 0,
        };
        assert_eq!(
            msg(check_tunnel(&c)),
            "gue tunnels need a port (--tun-port)"
        );
        c.tun_port = 6080;
        c.tun_flags = TUN_F_REMCSUM;
        assert!(check_tunnel(&c).is_ok());
        c.tun_type = TunType::Gre;
        assert_eq!(
            msg(check_tunnel(&c)),
            "--tun-port applies only to gue tunnels"
        );
        c.tun_port = 0;
        assert_eq!(
            msg(check_tunnel(&c)),
            "--tun-remcsum applies only to gue tunnels"
        );
        c.tun_flags = TUN_F_CSUM;
        assert!(check_tunnel(&c).is_ok());
        c.tun_type = TunType::Ipip;
        assert!(msg(check_tunnel(&c)).starts_with("tunnel checksum options apply only"));
        c.fwd = FwdMethod::Masq;
        assert!(check_tunnel(&c).is_ok());
        c.l_thresh = 5;
        assert_eq!(
            msg(check_thresholds(&c)),
            "invalid lower threshold \"5\": higher than the upper threshold 0 (the kernel \
             refuses it)"
        );
        c.u_thresh = 5;
        assert!(check_thresholds(&c).is_ok());
        let svc = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 1,
        };
        let a6 = Addr::v6([0; 16]);
        assert_eq!(
            msg(check_dest_family(&svc, &a6, FwdMethod::Droute)),
            "real server :: is IPv6 but service FWM 1 is IPv4: only tunnel forwarding \
             crosses address families"
        );
        assert!(check_dest_family(&svc, &a6, FwdMethod::Tunnel).is_ok());
    }

    fn v6(s: &str) -> String {
        fmt_ipv6_glibc(&s.parse::<Ipv6Addr>().unwrap().octets())
    }

    #[test]
    fn ipv6_like_glibc() {
        assert_eq!(v6("::"), "::");
        assert_eq!(v6("::1"), "::1");
        assert_eq!(v6("2001:db8::1"), "2001:db8::1");
        assert_eq!(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(v6("fe80::"), "fe80::");
        assert_eq!(v6("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(v6("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
        assert_eq!(v6("::10.0.0.1"), "::10.0.0.1");
        assert_eq!(v6("::0.0.0.5"), "::5");
        assert_eq!(v6("::ffff:0:0"), "::ffff:0.0.0.0");
        assert_eq!(v6("0:0:0:0:0:1:0:0"), "::1:0:0");
        assert_eq!(
            v6("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"),
            "abcd:ef01:2345:6789:abcd:ef01:2345:6789"
        );
    }
}
