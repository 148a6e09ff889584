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

/// Writes one service as upstream's dump does (`IPVS_CMD_ATTR_SERVICE`).
pub fn encode_service(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    conf: &ServiceConf,
    stats: &Stats,
) -> core::result::Result<(), WriteError> {
    let n = w.nest_start_noflag(cmd_attr::SERVICE)?;
    w.put_u16(svc_attr::AF, key.af().raw())?;
    match key {
        ServiceKey::Fwmark { mark, .. } => w.put_u32(svc_attr::FWMARK, *mark)?,
        ServiceKey::Addr { proto, addr, port } => {
            w.put_u16(svc_attr::PROTOCOL, proto.raw())?;
            w.put(svc_attr::ADDR, &addr.inet())?;
            w.put_be16(svc_attr::PORT, *port)?;
        }
    }
    w.put_str(svc_attr::SCHED_NAME, conf.sched.as_str())?;
    if !conf.pe.is_empty() {
        w.put_str(svc_attr::PE_NAME, conf.pe.as_str())?;
    }
    let mut flags = [0u8; 8];
    let (f, m) = flags.split_at_mut(4);
    f.copy_from_slice(&conf.flags.to_ne_bytes());
    m.copy_from_slice(&u32::MAX.to_ne_bytes());
    w.put(svc_attr::FLAGS, &flags)?;
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
