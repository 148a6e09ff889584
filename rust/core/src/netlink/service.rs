// SPDX-License-Identifier: GPL-2.0
//! Service and destination attributes of the IPVS family: decoding requests
//! with upstream's rules (`ip_vs_genl_parse_service/dest`) and encoding the
//! dump entries (`ip_vs_genl_fill_service/dest/stats`).
//!
//! Every error names the attribute that caused it.

use super::attr::{Attr, AttrError, AttrWriter, Attrs, WriteError};
use super::ipvs::{cmd_attr, dest_attr, stats_attr, svc_attr, PENAME_MAXLEN, SCHEDNAME_MAXLEN};
use crate::addr::{Addr, Af};
use crate::errno::{Errno, Error, Result};
use crate::service::{
    DestConf, DestKey, FlagsUpdate, FwdMethod, Name, Protocol, ServiceConf, ServiceKey, TunType,
};
use crate::stats::Stats;
use core::ffi::CStr;

fn einval(msg: &'static CStr) -> Error {
    Error::new(Errno::Einval, msg)
}

/// Maps a typed-read error to EINVAL with the attribute's message.
fn field<T>(r: core::result::Result<T, AttrError>, msg: &'static CStr) -> Result<T> {
    r.map_err(|_| einval(msg))
}

/// The top-level attributes of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct CmdAttrs<'a> {
    /// `IPVS_CMD_ATTR_SERVICE`.
    pub service: Option<Attr<'a>>,
    /// `IPVS_CMD_ATTR_DEST`.
    pub dest: Option<Attr<'a>>,
    /// `IPVS_CMD_ATTR_DAEMON`.
    pub daemon: Option<Attr<'a>>,
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP`.
    pub timeout_tcp: Option<Attr<'a>>,
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`.
    pub timeout_tcp_fin: Option<Attr<'a>>,
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP`.
    pub timeout_udp: Option<Attr<'a>>,
}

impl<'a> CmdAttrs<'a> {
    /// Splits a request's attribute bytes.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let t = Attrs::new(buf)
            .table::<{ cmd_attr::TABLE }>()
            .map_err(|_| einval(c"IPVS request: malformed attributes"))?;
        let [_, service, dest, daemon, timeout_tcp, timeout_tcp_fin, timeout_udp] = t;
        Ok(CmdAttrs {
            service,
            dest,
            daemon,
            timeout_tcp,
            timeout_tcp_fin,
            timeout_udp,
        })
    }
}

/// A decoded `IPVS_CMD_ATTR_SERVICE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceReq {
    /// Which service.
    pub key: ServiceKey,
    /// The settings, for `NEW_SERVICE`/`SET_SERVICE`.
    pub conf: Option<ServiceConfReq>,
}

/// Service settings as requested; flags apply to the current ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfReq {
    /// Scheduler name.
    pub sched: Name,
    /// Persistence engine name (empty: none).
    pub pe: Name,
    /// Flags update.
    pub flags: FlagsUpdate,
    /// Persistence timeout, seconds.
    pub timeout: u32,
    /// Persistence netmask (see [`ServiceConf::netmask`]).
    pub netmask: u32,
}

impl ServiceConfReq {
    /// The resulting configuration given the service's current flags (0 for
    /// a new service).
    pub fn resolve(&self, old_flags: u32) -> ServiceConf {
        ServiceConf {
            sched: self.sched,
            pe: self.pe,
            flags: self.flags.apply(old_flags),
            timeout: self.timeout,
            netmask: self.netmask,
        }
    }
}

/// Decodes the service attribute; `full` requires the settings too.
pub fn decode_service(nla: Option<Attr<'_>>, full: bool) -> Result<ServiceReq> {
    let nla = nla.ok_or(einval(c"IPVS_CMD_ATTR_SERVICE: missing"))?;
    let t = nla
        .nested()
        .table::<{ svc_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_CMD_ATTR_SERVICE: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();

    let af = get(svc_attr::AF).ok_or(einval(c"IPVS_SVC_ATTR_AF: missing"))?;
    let af = field(af.u16(), c"IPVS_SVC_ATTR_AF: expected a u16")?;
    let af = Af::from_raw(af).ok_or(Error::new(
        Errno::Eafnosupport,
        c"IPVS_SVC_ATTR_AF: address family not supported",
    ))?;

    let key = if let Some(mark) = get(svc_attr::FWMARK) {
        ServiceKey::Fwmark {
            af,
            mark: field(mark.u32(), c"IPVS_SVC_ATTR_FWMARK: expected a u32")?,
        }
    } else {
        let (Some(proto), Some(addr), Some(port)) = (
            get(svc_attr::PROTOCOL),
            get(svc_attr::ADDR),
            get(svc_attr::PORT),
        ) else {
            return Err(einval(
                c"IPVS_SVC_ATTR_FWMARK or IPVS_SVC_ATTR_PROTOCOL+ADDR+PORT: missing",
            ));
        };
        let proto = field(proto.u16(), c"IPVS_SVC_ATTR_PROTOCOL: expected a u16")?;
        let proto = Protocol::from_raw(proto).ok_or(Error::new(
            Errno::Eprotonosupport,
            c"IPVS_SVC_ATTR_PROTOCOL: only TCP, UDP and SCTP",
        ))?;
        let addr = field(
            addr.padded::<16>(),
            c"IPVS_SVC_ATTR_ADDR: expected at most 16 bytes",
        )?;
        ServiceKey::Addr {
            proto,
            addr: Addr::from_inet(af, addr),
            port: field(port.be16(), c"IPVS_SVC_ATTR_PORT: expected a 2-byte port")?,
        }
    };

    if !full {
        return Ok(ServiceReq { key, conf: None });
    }
    let sched = get(svc_attr::SCHED_NAME).ok_or(einval(c"IPVS_SVC_ATTR_SCHED_NAME: missing"))?;
    let flags = get(svc_attr::FLAGS).ok_or(einval(c"IPVS_SVC_ATTR_FLAGS: missing"))?;
    let timeout = get(svc_attr::TIMEOUT).ok_or(einval(c"IPVS_SVC_ATTR_TIMEOUT: missing"))?;
    let netmask = get(svc_attr::NETMASK).ok_or(einval(c"IPVS_SVC_ATTR_NETMASK: missing"))?;

    let sched = field(
        sched.str(SCHEDNAME_MAXLEN),
        c"IPVS_SVC_ATTR_SCHED_NAME: expected a string of at most 15 characters",
    )?;
    let sched = Name::new(sched).ok_or(einval(c"IPVS_SVC_ATTR_SCHED_NAME: too long"))?;
    let pe = match get(svc_attr::PE_NAME) {
        Some(a) => {
            let s = field(
                a.str(PENAME_MAXLEN),
                c"IPVS_SVC_ATTR_PE_NAME: expected a string of at most 15 characters",
            )?;
            Name::new(s).ok_or(einval(c"IPVS_SVC_ATTR_PE_NAME: too long"))?
        }
        None => Name::default(),
    };
    // struct ip_vs_flags { __u32 flags; __u32 mask; }, read like
    // nla_memcpy: a shorter payload leaves the rest zero.
    let raw = field(
        flags.padded::<8>(),
        c"IPVS_SVC_ATTR_FLAGS: expected struct ip_vs_flags (8 bytes)",
    )?;
    let [f0, f1, f2, f3, m0, m1, m2, m3] = raw;
    let flags = FlagsUpdate {
        flags: u32::from_ne_bytes([f0, f1, f2, f3]),
        mask: u32::from_ne_bytes([m0, m1, m2, m3]),
    };
    Ok(ServiceReq {
        key,
        conf: Some(ServiceConfReq {
            sched,
            pe,
            flags,
            timeout: field(timeout.u32(), c"IPVS_SVC_ATTR_TIMEOUT: expected a u32")?,
            netmask: field(netmask.u32(), c"IPVS_SVC_ATTR_NETMASK: expected 4 bytes")?,
        }),
    })
}

/// A decoded `IPVS_CMD_ATTR_DEST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestReq {
    /// Which real server.
    pub key: DestKey,
    /// The settings, for `NEW_DEST`/`SET_DEST`.
    pub conf: Option<DestConf>,
}

/// Decodes the destination attribute of a request for a service of family
/// `svc_af` (the default when `IPVS_DEST_ATTR_ADDR_FAMILY` is absent, as
/// for old clients); `full` requires the settings too.
pub fn decode_dest(nla: Option<Attr<'_>>, full: bool, svc_af: Af) -> Result<DestReq> {
    let nla = nla.ok_or(einval(c"IPVS_CMD_ATTR_DEST: missing"))?;
    let t = nla
        .nested()
        .table::<{ dest_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_CMD_ATTR_DEST: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();

    let addr = get(dest_attr::ADDR).ok_or(einval(c"IPVS_DEST_ATTR_ADDR: missing"))?;
    let port = get(dest_attr::PORT).ok_or(einval(c"IPVS_DEST_ATTR_PORT: missing"))?;
    let af = match get(dest_attr::ADDR_FAMILY) {
        Some(a) => match field(a.u16(), c"IPVS_DEST_ATTR_ADDR_FAMILY: expected a u16")? {
            0 => svc_af,
            raw => Af::from_raw(raw).ok_or(Error::new(
                Errno::Eafnosupport,
                c"IPVS_DEST_ATTR_ADDR_FAMILY: address family not supported",
            ))?,
        },
        None => svc_af,
    };
    let key = DestKey {
        addr: Addr::from_inet(
            af,
            field(
                addr.padded::<16>(),
                c"IPVS_DEST_ATTR_ADDR: expected at most 16 bytes",
            )?,
        ),
        port: field(port.be16(), c"IPVS_DEST_ATTR_PORT: expected a 2-byte port")?,
    };
    if !full {
        return Ok(DestReq { key, conf: None });
    }

    let fwd = get(dest_attr::FWD_METHOD).ok_or(einval(c"IPVS_DEST_ATTR_FWD_METHOD: missing"))?;
    let weight = get(dest_attr::WEIGHT).ok_or(einval(c"IPVS_DEST_ATTR_WEIGHT: missing"))?;
    let u_thresh = get(dest_attr::U_THRESH).ok_or(einval(c"IPVS_DEST_ATTR_U_THRESH: missing"))?;
    let l_thresh = get(dest_attr::L_THRESH).ok_or(einval(c"IPVS_DEST_ATTR_L_THRESH: missing"))?;
    let fwd = field(fwd.u32(), c"IPVS_DEST_ATTR_FWD_METHOD: expected a u32")?;
    let fwd = FwdMethod::from_raw(fwd).ok_or(einval(
        c"IPVS_DEST_ATTR_FWD_METHOD: not a forwarding method (0 masq, 2 tunnel, 3 route)",
    ))?;
    let tun_type = match get(dest_attr::TUN_TYPE) {
        Some(a) => {
            let v = field(a.u8(), c"IPVS_DEST_ATTR_TUN_TYPE: expected a u8")?;
            TunType::from_raw(v).ok_or(einval(
                c"IPVS_DEST_ATTR_TUN_TYPE: not a tunnel type (0 ipip, 1 gue, 2 gre)",
            ))?
        }
        None => TunType::Ipip,
    };
    let tun_port = match get(dest_attr::TUN_PORT) {
        Some(a) => field(a.be16(), c"IPVS_DEST_ATTR_TUN_PORT: expected a 2-byte port")?,
        None => 0,
    };
    let tun_flags = match get(dest_attr::TUN_FLAGS) {
        Some(a) => field(a.u16(), c"IPVS_DEST_ATTR_TUN_FLAGS: expected a u16")?,
        None => 0,
    };
    let weight = field(weight.u32(), c"IPVS_DEST_ATTR_WEIGHT: expected a u32")?;
    Ok(DestReq {
        key,
        conf: Some(DestConf {
            fwd,
            // Upstream stores the u32 in an int: values above INT_MAX are
            // negative and rejected by validation.
            weight: i32::from_ne_bytes(weight.to_ne_bytes()),
            u_thresh: field(u_thresh.u32(), c"IPVS_DEST_ATTR_U_THRESH: expected a u32")?,
            l_thresh: field(l_thresh.u32(), c"IPVS_DEST_ATTR_L_THRESH: expected a u32")?,
            tun_type,
            tun_port,
            tun_flags,
        }),
    })
}

/// Decodes the timeouts of `SET_CONFIG` (0 or absent: unchanged).
pub fn decode_set_timeouts(a: &CmdAttrs<'_>) -> Result<[Option<u32>; 3]> {
    let get = |attr: Option<Attr<'_>>, msg| -> Result<Option<u32>> {
        match attr {
            Some(a) => Ok(Some(field(a.u32(), msg)?).filter(|&v| v != 0)),
            None => Ok(None),
        }
    };
    Ok([
        get(a.timeout_tcp, c"IPVS_CMD_ATTR_TIMEOUT_TCP: expected a u32")?,
        get(
            a.timeout_tcp_fin,
            c"IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: expected a u32",
        )?,
        get(a.timeout_udp, c"IPVS_CMD_ATTR_TIMEOUT_UDP: expected a u32")?,
    ])
}

fn put_stats(w: &mut AttrWriter<'_>, kind: u16, s: &Stats) -> core::result::Result<(), WriteError> {
    // 32-bit counters wrap as upstream's (it truncates to u32).
    let n = w.nest_start_noflag(kind)?;
    w.put_u32(stats_attr::CONNS, s.conns as u32)?;
    w.put_u32(stats_attr::INPKTS, s.inpkts as u32)?;
    w.put_u32(stats_attr::OUTPKTS, s.outpkts as u32)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u32(stats_attr::CPS, s.cps as u32)?;
    w.put_u32(stats_attr::INPPS, s.inpps as u32)?;
    w.put_u32(stats_attr::OUTPPS, s.outpps as u32)?;
    w.put_u32(stats_attr::INBPS, s.inbps as u32)?;
    w.put_u32(stats_attr::OUTBPS, s.outbps as u32)?;
    w.nest_end(n)
}

fn put_stats64(
    w: &mut AttrWriter<'_>,
    kind: u16,
    s: &Stats,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start_noflag(kind)?;
    w.put_u64(stats_attr::CONNS, s.conns)?;
    w.put_u64(stats_attr::INPKTS, s.inpkts)?;
    w.put_u64(stats_attr::OUTPKTS, s.outpkts)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u64(stats_attr::CPS, s.cps)?;
    w.put_u64(stats_attr::INPPS, s.inpps)?;
    w.put_u64(stats_attr::OUTPPS, s.outpps)?;
    w.put_u64(stats_attr::INBPS, s.inbps)?;
    w.put_u64(stats_attr::OUTBPS, s.outbps)?;
    w.nest_end(n)
}

/// The identifying attributes of a service: `AF`, then `FWMARK` or
/// `PROTOCOL`+`ADDR`+`PORT` (requests and dump entries alike).
pub fn put_service_key(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
) -> core::result::Result<(), WriteError> {
    w.put_u16(svc_attr::AF, key.af().raw())?;
    match key {
        ServiceKey::Fwmark { mark, .. } => w.put_u32(svc_attr::FWMARK, *mark),
        ServiceKey::Addr { proto, addr, port } => {
            w.put_u16(svc_attr::PROTOCOL, proto.raw())?;
            w.put(svc_attr::ADDR, &addr.inet())?;
            w.put_be16(svc_attr::PORT, *port)
        }
    }
}

/// `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags { flags, mask }`.
fn put_flags(
    w: &mut AttrWriter<'_>,
    flags: u32,
    mask: u32,
) -> core::result::Result<(), WriteError> {
    let [f0, f1, f2, f3] = flags.to_ne_bytes();
    let [m0, m1, m2, m3] = mask.to_ne_bytes();
    w.put(svc_attr::FLAGS, &[f0, f1, f2, f3, m0, m1, m2, m3])
}

/// Writes one service as upstream's dump does (`IPVS_CMD_ATTR_SERVICE`).
pub fn encode_service(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    conf: &ServiceConf,
    stats: &Stats,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start_noflag(cmd_attr::SERVICE)?;
    put_service_key(w, key)?;
    w.put_str(svc_attr::SCHED_NAME, conf.sched.as_str())?;
    if !conf.pe.is_empty() {
        w.put_str(svc_attr::PE_NAME, conf.pe.as_str())?;
    }
    put_flags(w, conf.flags, u32::MAX)?;
    w.put_u32(svc_attr::TIMEOUT, conf.timeout)?;
    w.put_u32(svc_attr::NETMASK, conf.netmask)?;
    put_stats(w, svc_attr::STATS, stats)?;
    put_stats64(w, svc_attr::STATS64, stats)?;
    w.nest_end(n)
}

/// Connection counters of a real server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestConns {
    /// Active (established) connections.
    pub active: u32,
    /// Inactive connections.
    pub inactive: u32,
    /// Persistence templates.
    pub persist: u32,
}

/// Writes one real server as upstream's dump does (`IPVS_CMD_ATTR_DEST`).
pub fn encode_dest(
    w: &mut AttrWriter<'_>,
    key: &DestKey,
    conf: &DestConf,
    conns: &DestConns,
    stats: &Stats,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start_noflag(cmd_attr::DEST)?;
    w.put(dest_attr::ADDR, &key.addr.inet())?;
    w.put_u16(dest_attr::ADDR_FAMILY, key.addr.af().raw())?;
    w.put_be16(dest_attr::PORT, key.port)?;
    w.put_u32(dest_attr::FWD_METHOD, conf.fwd.raw())?;
    w.put_u32(dest_attr::WEIGHT, conf.weight.max(0).unsigned_abs())?;
    w.put_u8(dest_attr::TUN_TYPE, conf.tun_type.raw())?;
    w.put_be16(dest_attr::TUN_PORT, conf.tun_port)?;
    w.put_u16(dest_attr::TUN_FLAGS, conf.tun_flags)?;
    w.put_u32(dest_attr::U_THRESH, conf.u_thresh)?;
    w.put_u32(dest_attr::L_THRESH, conf.l_thresh)?;
    w.put_u32(dest_attr::ACTIVE_CONNS, conns.active)?;
    w.put_u32(dest_attr::INACT_CONNS, conns.inactive)?;
    w.put_u32(dest_attr::PERSIST_CONNS, conns.persist)?;
    put_stats(w, dest_attr::STATS, stats)?;
    put_stats64(w, dest_attr::STATS64, stats)?;
    w.nest_end(n)
}

// ---------------------------------------------------------------------------
// The user-space half: requests as `ipvsadm`/libipvs writes them, and the
// dump entries the kernel sends back. `ipvsctl` uses these, so both ends of
// the ABI share this module.
// ---------------------------------------------------------------------------

use crate::config::Timeouts;

/// Writes the `IPVS_CMD_ATTR_SERVICE` of a request exactly as libipvs's
/// `ipvs_nl_fill_service_attr` does: `AF`, then `FWMARK` or
/// `PROTOCOL`+`ADDR`+`PORT`, and, when `conf` is given (`NEW_SERVICE`,
/// `SET_SERVICE`), `SCHED_NAME`, `PE_NAME` (only if not empty), `FLAGS`,
/// `TIMEOUT` and `NETMASK`. Without `conf` only the key is written, which is
/// all `DEL_SERVICE`, `ZERO`, `GET_SERVICE` and `GET_DEST` read.
pub fn encode_service_req(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    conf: Option<&ServiceConfReq>,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start(cmd_attr::SERVICE)?;
    put_service_key(w, key)?;
    if let Some(conf) = conf {
        w.put_str(svc_attr::SCHED_NAME, conf.sched.as_str())?;
        if !conf.pe.is_empty() {
            w.put_str(svc_attr::PE_NAME, conf.pe.as_str())?;
        }
        put_flags(w, conf.flags.flags, conf.flags.mask)?;
        w.put_u32(svc_attr::TIMEOUT, conf.timeout)?;
        w.put_u32(svc_attr::NETMASK, conf.netmask)?;
    }
    w.nest_end(n)
}

/// Writes the `IPVS_CMD_ATTR_DEST` of a request in the order of libipvs's
/// `ipvs_nl_fill_dest_attr`: `ADDR_FAMILY`, `ADDR`, `PORT` and, when `conf`
/// is given (`NEW_DEST`, `SET_DEST`), `FWD_METHOD`, `WEIGHT`, `TUN_TYPE`,
/// `TUN_PORT`, `TUN_FLAGS`, `U_THRESH` and `L_THRESH`. The weight travels
/// as the two's complement `u32` of the `i32`, as the kernel reads it.
pub fn encode_dest_req(
    w: &mut AttrWriter<'_>,
    key: &DestKey,
    conf: Option<&DestConf>,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start(cmd_attr::DEST)?;
    w.put_u16(dest_attr::ADDR_FAMILY, key.addr.af().raw())?;
    w.put(dest_attr::ADDR, &key.addr.inet())?;
    w.put_be16(dest_attr::PORT, key.port)?;
    if let Some(conf) = conf {
        w.put_u32(dest_attr::FWD_METHOD, conf.fwd.raw())?;
        w.put_u32(
            dest_attr::WEIGHT,
            u32::from_ne_bytes(conf.weight.to_ne_bytes()),
        )?;
        w.put_u8(dest_attr::TUN_TYPE, conf.tun_type.raw())?;
        w.put_be16(dest_attr::TUN_PORT, conf.tun_port)?;
        w.put_u16(dest_attr::TUN_FLAGS, conf.tun_flags)?;
        w.put_u32(dest_attr::U_THRESH, conf.u_thresh)?;
        w.put_u32(dest_attr::L_THRESH, conf.l_thresh)?;
    }
    w.nest_end(n)
}

/// Writes the attributes of `SET_CONFIG` as libipvs's `ipvs_set_timeout`
/// does: all three timeouts, in seconds; 0 leaves one unchanged.
pub fn encode_timeouts_req(
    w: &mut AttrWriter<'_>,
    t: &Timeouts,
) -> core::result::Result<(), WriteError> {
    w.put_u32(cmd_attr::TIMEOUT_TCP, t.tcp)?;
    w.put_u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin)?;
    w.put_u32(cmd_attr::TIMEOUT_UDP, t.udp)
}

/// Size of a table indexed by `IPVS_STATS_ATTR_*` (up to `PAD`).
const STATS_TABLE: usize = 12;

/// Reads a statistics nest: 64-bit counters (`*_STATS64`) or the 32-bit
/// layout (`*_STATS`, whose byte counters are 64-bit all the same). Every
/// counter must be present, as libipvs requires.
fn decode_stats(nla: Attr<'_>, wide: bool, msg: &'static CStr) -> Result<Stats> {
    let t = nla
        .nested()
        .table::<STATS_TABLE>()
        .map_err(|_| einval(msg))?;
    let get = |k: u16, is_u64: bool| -> Result<u64> {
        let a = t
            .get(usize::from(k))
            .copied()
            .flatten()
            .ok_or(einval(msg))?;
        if is_u64 {
            field(a.u64(), msg)
        } else {
            field(a.u32(), msg).map(u64::from)
        }
    };
    Ok(Stats {
        conns: get(stats_attr::CONNS, wide)?,
        inpkts: get(stats_attr::INPKTS, wide)?,
        outpkts: get(stats_attr::OUTPKTS, wide)?,
        inbytes: get(stats_attr::INBYTES, true)?,
        outbytes: get(stats_attr::OUTBYTES, true)?,
        cps: get(stats_attr::CPS, wide)?,
        inpps: get(stats_attr::INPPS, wide)?,
        outpps: get(stats_attr::OUTPPS, wide)?,
        inbps: get(stats_attr::INBPS, wide)?,
        outbps: get(stats_attr::OUTBPS, wide)?,
    })
}

/// The statistics of a dump entry: the 64-bit nest when present, else the
/// 32-bit one, else zero (as libipvs reads them).
fn entry_stats(
    stats64: Option<Attr<'_>>,
    stats: Option<Attr<'_>>,
    msg64: &'static CStr,
    msg: &'static CStr,
) -> Result<Stats> {
    match (stats64, stats) {
        (Some(a), _) => decode_stats(a, true, msg64),
        (None, Some(a)) => decode_stats(a, false, msg),
        (None, None) => Ok(Stats::default()),
    }
}

/// Reads one entry of a `GET_SERVICE` reply (dump or single service): the
/// attribute stream of the reply message, whose `IPVS_CMD_ATTR_SERVICE`
/// holds what the kernel's `ip_vs_genl_fill_service` writes. The flags are
/// `flags & mask`, as libipvs computes them.
pub fn decode_service_entry(attrs: Attrs<'_>) -> Result<(ServiceKey, ServiceConf, Stats)> {
    let top = attrs
        .table::<{ cmd_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS reply: malformed attributes"))?;
    let nla = top.get(usize::from(cmd_attr::SERVICE)).copied().flatten();
    let req = decode_service(nla, true)?;
    let conf = req
        .conf
        .ok_or(einval(c"IPVS_CMD_ATTR_SERVICE: settings missing"))?;
    let t = nla
        .ok_or(einval(c"IPVS_CMD_ATTR_SERVICE: missing"))?
        .nested()
        .table::<{ svc_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_CMD_ATTR_SERVICE: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let stats = entry_stats(
        get(svc_attr::STATS64),
        get(svc_attr::STATS),
        c"IPVS_SVC_ATTR_STATS64: missing or malformed counter",
        c"IPVS_SVC_ATTR_STATS: missing or malformed counter",
    )?;
    Ok((
        req.key,
        ServiceConf {
            sched: conf.sched,
            pe: conf.pe,
            flags: conf.flags.flags & conf.flags.mask,
            timeout: conf.timeout,
            netmask: conf.netmask,
        },
        stats,
    ))
}

/// Reads one entry of a `GET_DEST` dump: the attribute stream of the reply
/// message, whose `IPVS_CMD_ATTR_DEST` holds what the kernel's
/// `ip_vs_genl_fill_dest` writes, for a service of family `svc_af` (the
/// real server's family when `IPVS_DEST_ATTR_ADDR_FAMILY` is absent, as
/// from kernels before 4.x).
pub fn decode_dest_entry(
    attrs: Attrs<'_>,
    svc_af: Af,
) -> Result<(DestKey, DestConf, DestConns, Stats)> {
    let top = attrs
        .table::<{ cmd_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS reply: malformed attributes"))?;
    let nla = top.get(usize::from(cmd_attr::DEST)).copied().flatten();
    let req = decode_dest(nla, true, svc_af)?;
    let conf = req
        .conf
        .ok_or(einval(c"IPVS_CMD_ATTR_DEST: settings missing"))?;
    let t = nla
        .ok_or(einval(c"IPVS_CMD_ATTR_DEST: missing"))?
        .nested()
        .table::<{ dest_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_CMD_ATTR_DEST: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let count = |k: u16, msg: &'static CStr| -> Result<u32> {
        field(get(k).ok_or(einval(msg))?.u32(), msg)
    };
    let conns = DestConns {
        active: count(
            dest_attr::ACTIVE_CONNS,
            c"IPVS_DEST_ATTR_ACTIVE_CONNS: missing or not a u32",
        )?,
        inactive: count(
            dest_attr::INACT_CONNS,
            c"IPVS_DEST_ATTR_INACT_CONNS: missing or not a u32",
        )?,
        persist: count(
            dest_attr::PERSIST_CONNS,
            c"IPVS_DEST_ATTR_PERSIST_CONNS: missing or not a u32",
        )?,
    };
    let stats = entry_stats(
        get(dest_attr::STATS64),
        get(dest_attr::STATS),
        c"IPVS_DEST_ATTR_STATS64: missing or malformed counter",
        c"IPVS_DEST_ATTR_STATS: missing or malformed counter",
    )?;
    Ok((req.key, conf, conns, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::attr::{NLA_F_NESTED, NLA_TYPE_MASK};
    use crate::service::svc_flags;
    use proptest::prelude::*;

    fn tcp_key() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        }
    }

    fn v6(last: u8) -> Addr {
        let mut b = [0u8; 16];
        b[0] = 0x20;
        b[1] = 0x01;
        b[2] = 0x0d;
        b[3] = 0xb8;
        b[15] = last;
        Addr::v6(b)
    }

    fn conf_req(sched: &str, flags: u32, timeout: u32, netmask: u32) -> ServiceConfReq {
        ServiceConfReq {
            sched: Name::new(sched).unwrap(),
            pe: Name::default(),
            flags: FlagsUpdate { flags, mask: !0 },
            timeout,
            netmask,
        }
    }

    fn dest_conf() -> DestConf {
        DestConf {
            fwd: FwdMethod::Masq,
            weight: 3,
            u_thresh: 100,
            l_thresh: 10,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    fn encode<F>(f: F) -> Vec<u8>
    where
        F: FnOnce(&mut AttrWriter<'_>) -> core::result::Result<(), WriteError>,
    {
        let mut buf = vec![0u8; 1024];
        let mut w = AttrWriter::new(&mut buf);
        f(&mut w).unwrap();
        let len = w.len();
        buf.truncate(len);
        buf
    }

    #[test]
    fn service_req_bytes_like_libipvs() {
        let conf = conf_req("wlc", svc_flags::PERSISTENT, 600, u32::MAX);
        let bytes = encode(|w| encode_service_req(w, &tcp_key(), Some(&conf)));
        let mut expect = Vec::new();
        // IPVS_CMD_ATTR_SERVICE, nested; length filled below.
        expect.extend_from_slice(&[0, 0, 1, 0x80]);
        expect.extend_from_slice(&[6, 0, 1, 0, 2, 0, 0, 0]); // AF_INET
        expect.extend_from_slice(&[6, 0, 2, 0, 6, 0, 0, 0]); // TCP
        expect.extend_from_slice(&[20, 0, 3, 0, 10, 0, 1, 100]); // ADDR
        expect.extend_from_slice(&[0; 12]);
        expect.extend_from_slice(&[6, 0, 4, 0, 0, 80, 0, 0]); // PORT, be16
        expect.extend_from_slice(&[8, 0, 6, 0, b'w', b'l', b'c', 0]); // SCHED
        expect.extend_from_slice(&[12, 0, 7, 0]); // FLAGS {flags, mask}
        expect.extend_from_slice(&1u32.to_ne_bytes());
        expect.extend_from_slice(&u32::MAX.to_ne_bytes());
        expect.extend_from_slice(&[8, 0, 8, 0]); // TIMEOUT
        expect.extend_from_slice(&600u32.to_ne_bytes());
        expect.extend_from_slice(&[8, 0, 9, 0, 255, 255, 255, 255]); // NETMASK
        let len = u16::try_from(expect.len()).unwrap().to_ne_bytes();
        expect[0] = len[0];
        expect[1] = len[1];
        assert_eq!(bytes, expect);
    }

    #[test]
    fn fwmark_key_only_bytes() {
        let key = ServiceKey::Fwmark {
            af: Af::Inet6,
            mark: 42,
        };
        let bytes = encode(|w| encode_service_req(w, &key, None));
        let mut expect = vec![20, 0, 1, 0x80, 6, 0, 1, 0, 10, 0, 0, 0, 8, 0, 5, 0];
        expect.extend_from_slice(&42u32.to_ne_bytes());
        assert_eq!(bytes, expect);
    }

    #[test]
    fn dest_req_bytes_like_libipvs() {
        let key = DestKey {
            addr: Addr::v4([10, 0, 2, 11]),
            port: 8080,
        };
        let bytes = encode(|w| encode_dest_req(w, &key, Some(&dest_conf())));
        let t = Attrs::new(&bytes).table::<3>().unwrap();
        let nest = t[cmd_attr::DEST as usize].unwrap();
        assert!(nest.is_nested());
        let kinds: Vec<u16> = nest
            .nested()
            .into_iter()
            .map(|a| a.unwrap().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                dest_attr::ADDR_FAMILY,
                dest_attr::ADDR,
                dest_attr::PORT,
                dest_attr::FWD_METHOD,
                dest_attr::WEIGHT,
                dest_attr::TUN_TYPE,
                dest_attr::TUN_PORT,
                dest_attr::TUN_FLAGS,
                dest_attr::U_THRESH,
                dest_attr::L_THRESH,
            ]
        );
        let d = nest.nested().table::<{ dest_attr::TABLE }>().unwrap();
        assert_eq!(
            d[dest_attr::PORT as usize].unwrap().payload(),
            &[0x1f, 0x90]
        );
        assert_eq!(d[dest_attr::ADDR as usize].unwrap().payload().len(), 16);
        assert_eq!(d[dest_attr::WEIGHT as usize].unwrap().u32(), Ok(3));
        // Key only: address family, address and port.
        let bytes = encode(|w| encode_dest_req(w, &key, None));
        assert_eq!(bytes.len(), 4 + 8 + 20 + 8);
    }

    #[test]
    fn service_req_roundtrips_through_the_kernel_decoder() {
        let mut pe_conf = conf_req("sh", svc_flags::SCHED1 | svc_flags::SCHED2, 0, 128);
        pe_conf.pe = Name::new("sip").unwrap();
        let cases = [
            (
                tcp_key(),
                conf_req("wlc", svc_flags::PERSISTENT, 600, u32::MAX),
            ),
            (
                ServiceKey::Addr {
                    proto: Protocol::Udp,
                    addr: v6(1),
                    port: 53,
                },
                pe_conf,
            ),
            (
                ServiceKey::Fwmark {
                    af: Af::Inet,
                    mark: u32::MAX,
                },
                conf_req(
                    "rr",
                    svc_flags::ONEPACKET,
                    0,
                    u32::from_ne_bytes([255, 255, 0, 0]),
                ),
            ),
        ];
        for (key, conf) in cases {
            let bytes = encode(|w| encode_service_req(w, &key, Some(&conf)));
            let a = CmdAttrs::parse(&bytes).unwrap();
            assert_eq!(
                decode_service(a.service, true),
                Ok(ServiceReq {
                    key,
                    conf: Some(conf)
                })
            );
            // Key only: enough for DEL/ZERO/GET, not for NEW/SET.
            let bytes = encode(|w| encode_service_req(w, &key, None));
            let a = CmdAttrs::parse(&bytes).unwrap();
            assert_eq!(
                decode_service(a.service, false),
                Ok(ServiceReq { key, conf: None })
            );
            assert_eq!(
                decode_service(a.service, true).unwrap_err().msg,
                c"IPVS_SVC_ATTR_SCHED_NAME: missing"
            );
        }
    }

    #[test]
    fn dest_req_roundtrips_through_the_kernel_decoder() {
        let tun = DestConf {
            fwd: FwdMethod::Tunnel,
            weight: i32::MAX,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Gue,
            tun_port: 6080,
            tun_flags: 2,
        };
        let cases = [
            (Af::Inet, Addr::v4([10, 0, 2, 11]), 80, dest_conf()),
            (Af::Inet, v6(7), 443, tun),
            (Af::Inet6, v6(9), 0, dest_conf()),
        ];
        for (svc_af, addr, port, conf) in cases {
            let key = DestKey { addr, port };
            let bytes = encode(|w| encode_dest_req(w, &key, Some(&conf)));
            let a = CmdAttrs::parse(&bytes).unwrap();
            assert_eq!(
                decode_dest(a.dest, true, svc_af),
                Ok(DestReq {
                    key,
                    conf: Some(conf)
                })
            );
            let bytes = encode(|w| encode_dest_req(w, &key, None));
            let a = CmdAttrs::parse(&bytes).unwrap();
            assert_eq!(
                decode_dest(a.dest, false, svc_af),
                Ok(DestReq { key, conf: None })
            );
        }
    }

    #[test]
    fn negative_weight_reaches_the_kernel_as_upstream_reads_it() {
        let key = DestKey {
            addr: Addr::v4([10, 0, 2, 11]),
            port: 80,
        };
        let mut conf = dest_conf();
        conf.weight = -3;
        let bytes = encode(|w| encode_dest_req(w, &key, Some(&conf)));
        let a = CmdAttrs::parse(&bytes).unwrap();
        assert_eq!(
            decode_dest(a.dest, true, Af::Inet).unwrap().conf,
            Some(conf)
        );
    }

    #[test]
    fn timeouts_req_roundtrip() {
        let t = Timeouts {
            tcp: 60,
            tcp_fin: 0,
            udp: 7,
        };
        let bytes = encode(|w| encode_timeouts_req(w, &t));
        assert_eq!(bytes.len(), 24);
        let a = CmdAttrs::parse(&bytes).unwrap();
        assert_eq!(decode_set_timeouts(&a), Ok([Some(60), None, Some(7)]));
    }

    fn stats(base: u64) -> Stats {
        Stats {
            conns: base + 1,
            inpkts: base + 2,
            outpkts: base + 3,
            inbytes: base + 4,
            outbytes: base + 5,
            cps: base + 6,
            inpps: base + 7,
            outpps: base + 8,
            inbps: base + 9,
            outbps: base + 10,
        }
    }

    #[test]
    fn service_entry_roundtrip_prefers_stats64() {
        let s = stats(u64::from(u32::MAX));
        let conf = ServiceConf {
            sched: Name::new("wlc").unwrap(),
            pe: Name::new("sip").unwrap(),
            flags: svc_flags::PERSISTENT | svc_flags::HASHED,
            timeout: 600,
            netmask: u32::from_ne_bytes([255, 255, 255, 0]),
        };
        let keys = [
            tcp_key(),
            ServiceKey::Addr {
                proto: Protocol::Sctp,
                addr: v6(1),
                port: 9,
            },
            ServiceKey::Fwmark {
                af: Af::Inet6,
                mark: 1,
            },
        ];
        for key in keys {
            let bytes = encode(|w| encode_service(w, &key, &conf, &s));
            assert_eq!(decode_service_entry(Attrs::new(&bytes)), Ok((key, conf, s)));
        }
    }

    /// A service entry as a kernel without `IPVS_SVC_ATTR_STATS64` (before
    /// 4.1) sends it, with a flags mask that hides some bits.
    #[test]
    fn service_entry_with_32bit_stats_and_mask() {
        let bytes = encode(|w| {
            let n = w.nest_start_noflag(cmd_attr::SERVICE)?;
            w.put_u16(svc_attr::AF, 2)?;
            w.put_u32(svc_attr::FWMARK, 7)?;
            w.put_str(svc_attr::SCHED_NAME, "rr")?;
            let mut f = [0u8; 8];
            f[..4].copy_from_slice(&0x7u32.to_ne_bytes());
            f[4..].copy_from_slice(&0x5u32.to_ne_bytes());
            w.put(svc_attr::FLAGS, &f)?;
            w.put_u32(svc_attr::TIMEOUT, 0)?;
            w.put_u32(svc_attr::NETMASK, u32::MAX)?;
            let s = w.nest_start_noflag(svc_attr::STATS)?;
            for k in 1..=10u16 {
                if k == stats_attr::INBYTES || k == stats_attr::OUTBYTES {
                    w.put_u64(k, u64::from(k) << 33)?;
                } else {
                    w.put_u32(k, u32::from(k))?;
                }
            }
            w.nest_end(s)?;
            w.nest_end(n)
        });
        let (key, conf, st) = decode_service_entry(Attrs::new(&bytes)).unwrap();
        assert_eq!(
            key,
            ServiceKey::Fwmark {
                af: Af::Inet,
                mark: 7
            }
        );
        assert_eq!(conf.flags, 0x5);
        assert_eq!(conf.sched.as_str(), "rr");
        assert!(conf.pe.is_empty());
        assert_eq!(st.conns, 1);
        assert_eq!(st.inbytes, 4 << 33);
        assert_eq!(st.outbps, 10);
    }

    #[test]
    fn dest_entry_roundtrip() {
        let s = stats(1 << 40);
        let conns = DestConns {
            active: 5,
            inactive: 6,
            persist: 7,
        };
        let tun = DestConf {
            fwd: FwdMethod::Tunnel,
            weight: 0,
            u_thresh: 9,
            l_thresh: 1,
            tun_type: TunType::Gre,
            tun_port: 0,
            tun_flags: 1,
        };
        let cases = [
            (Af::Inet, Addr::v4([10, 0, 2, 11]), dest_conf()),
            (Af::Inet, v6(3), tun),
            (Af::Inet6, v6(4), dest_conf()),
        ];
        for (svc_af, addr, conf) in cases {
            let key = DestKey { addr, port: 8080 };
            let bytes = encode(|w| encode_dest(w, &key, &conf, &conns, &s));
            assert_eq!(
                decode_dest_entry(Attrs::new(&bytes), svc_af),
                Ok((key, conf, conns, s))
            );
        }
    }

    #[test]
    fn dest_entry_of_an_old_kernel() {
        // No ADDR_FAMILY, no tunnel attributes, no stats.
        let bytes = encode(|w| {
            let n = w.nest_start_noflag(cmd_attr::DEST)?;
            w.put(dest_attr::ADDR, &v6(5).inet())?;
            w.put_be16(dest_attr::PORT, 80)?;
            w.put_u32(dest_attr::FWD_METHOD, 3)?;
            w.put_u32(dest_attr::WEIGHT, 2)?;
            w.put_u32(dest_attr::U_THRESH, 0)?;
            w.put_u32(dest_attr::L_THRESH, 0)?;
            w.put_u32(dest_attr::ACTIVE_CONNS, 1)?;
            w.put_u32(dest_attr::INACT_CONNS, 2)?;
            w.put_u32(dest_attr::PERSIST_CONNS, 3)?;
            w.nest_end(n)
        });
        let (key, conf, conns, st) = decode_dest_entry(Attrs::new(&bytes), Af::Inet6).unwrap();
        assert_eq!(
            key,
            DestKey {
                addr: v6(5),
                port: 80
            }
        );
        assert_eq!(conf.fwd, FwdMethod::Droute);
        assert_eq!(conf.tun_type, TunType::Ipip);
        assert_eq!(conns.persist, 3);
        assert_eq!(st, Stats::default());
    }

    #[test]
    fn bad_entries_name_the_attribute() {
        assert_eq!(
            decode_service_entry(Attrs::new(&[])).unwrap_err().msg,
            c"IPVS_CMD_ATTR_SERVICE: missing"
        );
        assert_eq!(
            decode_dest_entry(Attrs::new(&[1, 0]), Af::Inet)
                .unwrap_err()
                .msg,
            c"IPVS reply: malformed attributes"
        );
        // A dest entry without its connection counters.
        let key = DestKey {
            addr: Addr::v4([1, 2, 3, 4]),
            port: 1,
        };
        let bytes = encode(|w| encode_dest_req(w, &key, Some(&dest_conf())));
        assert_eq!(
            decode_dest_entry(Attrs::new(&bytes), Af::Inet)
                .unwrap_err()
                .msg,
            c"IPVS_DEST_ATTR_ACTIVE_CONNS: missing or not a u32"
        );
        // A truncated 64-bit counter.
        let bytes = encode(|w| {
            let n = w.nest_start_noflag(cmd_attr::SERVICE)?;
            w.put_u16(svc_attr::AF, 2)?;
            w.put_u32(svc_attr::FWMARK, 7)?;
            w.put_str(svc_attr::SCHED_NAME, "rr")?;
            w.put(svc_attr::FLAGS, &[0; 8])?;
            w.put_u32(svc_attr::TIMEOUT, 0)?;
            w.put_u32(svc_attr::NETMASK, 0)?;
            let s = w.nest_start_noflag(svc_attr::STATS64)?;
            w.put_u32(stats_attr::CONNS, 1)?;
            w.nest_end(s)?;
            w.nest_end(n)
        });
        assert_eq!(
            decode_service_entry(Attrs::new(&bytes)).unwrap_err().msg,
            c"IPVS_SVC_ATTR_STATS64: missing or malformed counter"
        );
    }

    #[test]
    fn nested_flag_is_set_on_requests() {
        let bytes = encode(|w| encode_service_req(w, &tcp_key(), None));
        let raw_type = u16::from_ne_bytes([bytes[2], bytes[3]]);
        assert_eq!(raw_type & NLA_TYPE_MASK, cmd_attr::SERVICE);
        assert_ne!(raw_type & NLA_F_NESTED, 0);
    }

    fn any_addr() -> impl Strategy<Value = Addr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(Addr::v4),
            any::<[u8; 16]>().prop_map(Addr::v6),
        ]
    }

    fn any_key() -> impl Strategy<Value = ServiceKey> {
        prop_oneof![
            (
                prop_oneof![
                    Just(Protocol::Tcp),
                    Just(Protocol::Udp),
                    Just(Protocol::Sctp)
                ],
                any_addr(),
                any::<u16>()
            )
                .prop_map(|(proto, addr, port)| ServiceKey::Addr { proto, addr, port }),
            (any::<bool>(), any::<u32>()).prop_map(|(v6, mark)| ServiceKey::Fwmark {
                af: if v6 { Af::Inet6 } else { Af::Inet },
                mark
            }),
        ]
    }

    fn any_name() -> impl Strategy<Value = Name> {
        "[a-z0-9]{0,15}".prop_map(|s| Name::new(&s).unwrap())
    }

    proptest! {
        #[test]
        fn prop_service_req_roundtrip(
            key in any_key(),
            sched in any_name(),
            pe in any_name(),
            flags in any::<u32>(),
            mask in any::<u32>(),
            timeout in any::<u32>(),
            netmask in any::<u32>(),
        ) {
            let conf = ServiceConfReq {
                sched,
                pe,
                flags: FlagsUpdate { flags, mask },
                timeout,
                netmask,
            };
            let bytes = encode(|w| encode_service_req(w, &key, Some(&conf)));
            let a = CmdAttrs::parse(&bytes).unwrap();
            prop_assert_eq!(
                decode_service(a.service, true),
                Ok(ServiceReq { key, conf: Some(conf) })
            );
        }

        #[test]
        fn prop_service_entry_roundtrip(
            key in any_key(),
            sched in any_name(),
            pe in any_name(),
            flags in any::<u32>(),
            timeout in any::<u32>(),
            netmask in any::<u32>(),
            base in any::<u32>(),
        ) {
            let conf = ServiceConf { sched, pe, flags, timeout, netmask };
            let s = stats(u64::from(base));
            let bytes = encode(|w| encode_service(w, &key, &conf, &s));
            prop_assert_eq!(decode_service_entry(Attrs::new(&bytes)), Ok((key, conf, s)));
        }

        #[test]
        fn prop_dest_roundtrip(
            svc_v6 in any::<bool>(),
            addr in any_addr(),
            port in any::<u16>(),
            fwd in prop_oneof![
                Just(FwdMethod::Masq),
                Just(FwdMethod::Local),
                Just(FwdMethod::Tunnel),
                Just(FwdMethod::Droute),
                Just(FwdMethod::Bypass)
            ],
            weight in 0..=i32::MAX,
            u_thresh in any::<u32>(),
            l_thresh in any::<u32>(),
            tun in prop_oneof![Just(TunType::Ipip), Just(TunType::Gue), Just(TunType::Gre)],
            tun_port in any::<u16>(),
            tun_flags in any::<u16>(),
            active in any::<u32>(),
        ) {
            let svc_af = if svc_v6 { Af::Inet6 } else { Af::Inet };
            let key = DestKey { addr, port };
            let conf = DestConf {
                fwd, weight, u_thresh, l_thresh, tun_type: tun, tun_port, tun_flags,
            };
            let bytes = encode(|w| encode_dest_req(w, &key, Some(&conf)));
            let a = CmdAttrs::parse(&bytes).unwrap();
            prop_assert_eq!(
                decode_dest(a.dest, true, svc_af),
                Ok(DestReq { key, conf: Some(conf) })
            );
            let conns = DestConns { active, inactive: 1, persist: 2 };
            let s = stats(u64::from(active));
            let bytes = encode(|w| encode_dest(w, &key, &conf, &conns, &s));
            prop_assert_eq!(
                decode_dest_entry(Attrs::new(&bytes), svc_af),
                Ok((key, conf, conns, s))
            );
        }
    }
}
