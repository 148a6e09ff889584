// SPDX-License-Identifier: GPL-2.0
//! The `IPVS_RS` generic netlink family: what upstream's `IPVS` family
//! cannot express — FULLNAT local address pools and per-service extension
//! settings (TOA) with their counters.
//!
//! A family of its own, so no command or attribute can ever collide with
//! a future upstream one. Services are named with the `IPVS` family's
//! service attributes (`IPVS_SVC_ATTR_AF` and `FWMARK` or
//! `PROTOCOL`+`ADDR`+`PORT`) nested in [`attr::SERVICE`]. FULLNAT itself is
//! a forwarding method of the `IPVS` family's real servers
//! ([`crate::service::FwdMethod::FullNat`], value 5, as Alibaba's LVS).
//! See `Documentation/extension.rst`.

use super::attr::{Attr, AttrError, AttrWriter, Attrs, WriteError};
use super::service::{decode_service, put_service_key};
use crate::addr::{Addr, Af};
use crate::errno::{Errno, Error, Result};
pub use crate::proxy_protocol::ProxyVersion;
use crate::service::ServiceKey;
use core::ffi::CStr;

/// Family name.
pub const GENL_NAME: &str = "IPVS_RS";
/// Family version.
pub const GENL_VERSION: u8 = 1;

/// Commands.
pub mod cmd {
    /// Add a local address to a service's pool (reply of `GET_LADDR` too).
    pub const NEW_LADDR: u8 = 1;
    /// Remove a local address from a service's pool.
    pub const DEL_LADDR: u8 = 2;
    /// Dump a service's local addresses.
    pub const GET_LADDR: u8 = 3;
    /// Set a service's extension settings (reply of `GET_SVC` too).
    pub const SET_SVC: u8 = 4;
    /// A service's extension settings and counters.
    pub const GET_SVC: u8 = 5;
}

/// Top-level attributes.
pub mod attr {
    /// Nested `IPVS_SVC_ATTR_*` naming the service.
    pub const SERVICE: u16 = 1;
    /// Nested [`super::laddr_attr`].
    pub const LADDR: u16 = 2;
    /// Nested [`super::svc_attr`].
    pub const SVC_EXT: u16 = 3;
    /// Table size for parsing (highest + 1).
    pub const TABLE: usize = 4;
}

/// Attributes of a local address.
pub mod laddr_attr {
    /// `u16` address family.
    pub const AF: u16 = 1;
    /// 16 bytes, `union nf_inet_addr` (IPv4 in the first 4).
    pub const ADDR: u16 = 2;
    /// `u32` (dumps): connections using the address now.
    pub const CONNS: u16 = 3;
    /// `u64` (dumps): allocations refused because its ports ran out.
    pub const EXHAUSTED: u16 = 4;
    /// Table size for parsing.
    pub const TABLE: usize = 5;
}

/// Attributes of a service's extension settings.
pub mod svc_attr {
    /// `u8`: write the TOA option on FULLNAT TCP connections (0/1).
    pub const TOA: u16 = 1;
    /// `u64` (replies): TOA options written.
    pub const TOA_WRITTEN: u16 = 2;
    /// `u64` (replies): TOA options skipped (no room in the segment).
    pub const TOA_SKIPPED: u16 = 3;
    /// `u64` (replies): FULLNAT connections refused for want of a local
    /// port (all addresses of the pool exhausted, or no address).
    pub const FNAT_EXHAUSTED: u16 = 4;
    /// `u32` (replies): local addresses in the pool.
    pub const LADDRS: u16 = 5;
    /// `u8`: SYNPROXY on this TCP service (0/1).
    pub const SYNPROXY: u16 = 6;
    /// `u64` (replies): SYN-ACKs with a cookie sent for client SYNs.
    pub const SYNPROXY_COOKIES: u16 = 7;
    /// `u64` (replies): client ACKs whose cookie was valid.
    pub const SYNPROXY_ACK_VALID: u16 = 8;
    /// `u64` (replies): client ACKs rejected (forged or expired cookie).
    pub const SYNPROXY_ACK_BAD: u16 = 9;
    /// `u64` (replies): SYNs to real servers retransmitted.
    pub const SYNPROXY_SYN_RETRANS: u16 = 10;
    /// `u64` (replies): duplicate ACKs dropped by the ACK-storm guard.
    pub const SYNPROXY_ACK_STORM: u16 = 11;
    /// `u64` (replies): client packets dropped while waiting for the real
    /// server (more than `synproxy_skb_store_thresh`).
    pub const SYNPROXY_HELD_DROPS: u16 = 12;
    /// `u8`: PROXY protocol header on the service's TCP connections to
    /// NAT and FULLNAT real servers: 0 none, 1 version 1, 2 version 2.
    pub const PROXY_PROTOCOL: u16 = 13;
    /// `u64` (replies): PROXY protocol header segments sent to real
    /// servers (repeats included).
    pub const PROXY_SENT: u16 = 14;
    /// `u64` (replies): header segments sent again (the real server had
    /// not acknowledged the first).
    pub const PROXY_RESENT: u16 = 15;
    /// Table size for parsing.
    pub const TABLE: usize = 16;
}

fn einval(msg: &'static CStr) -> Error {
    Error::new(Errno::Einval, msg)
}

fn field<T>(r: core::result::Result<T, AttrError>, msg: &'static CStr) -> Result<T> {
    r.map_err(|_| einval(msg))
}

/// The top-level attributes of a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtAttrs<'a> {
    /// [`attr::SERVICE`].
    pub service: Option<Attr<'a>>,
    /// [`attr::LADDR`].
    pub laddr: Option<Attr<'a>>,
    /// [`attr::SVC_EXT`].
    pub svc_ext: Option<Attr<'a>>,
}

impl<'a> ExtAttrs<'a> {
    /// Splits a request's attribute bytes.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let t = Attrs::new(buf)
            .table::<{ attr::TABLE }>()
            .map_err(|_| einval(c"IPVS_RS request: malformed attributes"))?;
        let [_, service, laddr, svc_ext] = t;
        Ok(ExtAttrs {
            service,
            laddr,
            svc_ext,
        })
    }

    /// The service named by the request.
    pub fn service_key(&self) -> Result<ServiceKey> {
        decode_service(self.service, false).map(|r| r.key)
    }
}

/// Decodes [`attr::LADDR`]: an address of the service's family `af`.
pub fn decode_laddr(nla: Option<Attr<'_>>, af: Af) -> Result<Addr> {
    let nla = nla.ok_or(einval(c"IPVS_RS_ATTR_LADDR: missing"))?;
    let t = nla
        .nested()
        .table::<{ laddr_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_RS_ATTR_LADDR: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let laf = get(laddr_attr::AF).ok_or(einval(c"IPVS_RS_LADDR_ATTR_AF: missing"))?;
    let laf = field(laf.u16(), c"IPVS_RS_LADDR_ATTR_AF: expected a u16")?;
    let laf = Af::from_raw(laf).ok_or(Error::new(
        Errno::Eafnosupport,
        c"IPVS_RS_LADDR_ATTR_AF: address family not supported",
    ))?;
    if laf != af {
        return Err(einval(
            c"IPVS_RS_LADDR_ATTR_AF: not the service's address family",
        ));
    }
    if laf == Af::Inet6 {
        return Err(Error::new(
            Errno::Eafnosupport,
            c"IPVS_RS_LADDR_ATTR_AF: IPv6 local addresses are not supported yet",
        ));
    }
    let raw = get(laddr_attr::ADDR).ok_or(einval(c"IPVS_RS_LADDR_ATTR_ADDR: missing"))?;
    let raw = field(
        raw.padded::<16>(),
        c"IPVS_RS_LADDR_ATTR_ADDR: expected at most 16 bytes",
    )?;
    let addr = Addr::from_inet(laf, raw);
    if addr.v4_u32() == 0 {
        return Err(einval(
            c"IPVS_RS_LADDR_ATTR_ADDR: the unspecified address cannot be a local address",
        ));
    }
    Ok(addr)
}

/// A service's extension settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SvcExt {
    /// Write TOA on FULLNAT TCP connections.
    pub toa: bool,
    /// SYNPROXY: the director answers SYNs with cookies and opens the
    /// connection to the real server once the client's ACK validates.
    pub synproxy: bool,
    /// PROXY protocol header sent at the start of each TCP connection to a
    /// real server.
    pub proxy: ProxyVersion,
}

/// A change of a service's extension settings (`SET_SVC`): the settings
/// given are changed, the others stay as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SvcExtSet {
    /// New TOA setting.
    pub toa: Option<bool>,
    /// New SYNPROXY setting.
    pub synproxy: Option<bool>,
    /// New PROXY protocol setting.
    pub proxy: Option<ProxyVersion>,
}

impl SvcExtSet {
    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.toa.is_none() && self.synproxy.is_none() && self.proxy.is_none()
    }

    /// `old` with the changes applied.
    pub fn apply(&self, old: SvcExt) -> SvcExt {
        SvcExt {
            toa: self.toa.unwrap_or(old.toa),
            synproxy: self.synproxy.unwrap_or(old.synproxy),
            proxy: self.proxy.unwrap_or(old.proxy),
        }
    }
}

/// SYNPROXY counters of a service (and, summed, of a namespace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynproxyCounters {
    /// SYN-ACKs with a cookie sent.
    pub cookies: u64,
    /// Client ACKs with a valid cookie (connections opened to a server).
    pub ack_valid: u64,
    /// Client ACKs with a forged or expired cookie, dropped.
    pub ack_bad: u64,
    /// SYNs to real servers retransmitted.
    pub syn_retrans: u64,
    /// Duplicate ACKs dropped by the ACK-storm guard.
    pub ack_storm: u64,
    /// Client packets dropped while waiting for the real server.
    pub held_drops: u64,
}

/// A service's extension counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SvcExtCounters {
    /// TOA options written.
    pub toa_written: u64,
    /// TOA options skipped.
    pub toa_skipped: u64,
    /// FULLNAT connections refused for want of a local port.
    pub fnat_exhausted: u64,
    /// Local addresses in the pool.
    pub laddrs: u32,
    /// SYNPROXY counters.
    pub synproxy: SynproxyCounters,
    /// PROXY protocol header segments sent.
    pub proxy_sent: u64,
    /// PROXY protocol header segments sent again.
    pub proxy_resent: u64,
}

/// Decodes [`attr::SVC_EXT`] of `SET_SVC`: the settings given, applied
/// to `old` (absent ones unchanged).
pub fn decode_svc_ext(nla: Option<Attr<'_>>, old: SvcExt) -> Result<SvcExt> {
    let nla = nla.ok_or(einval(c"IPVS_RS_ATTR_SVC_EXT: missing"))?;
    let t = nla
        .nested()
        .table::<{ svc_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_RS_ATTR_SVC_EXT: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let mut new = old;
    if let Some(toa) = get(svc_attr::TOA) {
        new.toa = match field(toa.u8(), c"IPVS_RS_SVC_ATTR_TOA: expected a u8")? {
            0 => false,
            1 => true,
            _ => return Err(einval(c"IPVS_RS_SVC_ATTR_TOA: expected 0 or 1")),
        };
    }
    if let Some(sp) = get(svc_attr::SYNPROXY) {
        new.synproxy = match field(sp.u8(), c"IPVS_RS_SVC_ATTR_SYNPROXY: expected a u8")? {
            0 => false,
            1 => true,
            _ => return Err(einval(c"IPVS_RS_SVC_ATTR_SYNPROXY: expected 0 or 1")),
        };
    }
    if let Some(pp) = get(svc_attr::PROXY_PROTOCOL) {
        let v = field(pp.u8(), c"IPVS_RS_SVC_ATTR_PROXY_PROTOCOL: expected a u8")?;
        new.proxy = ProxyVersion::from_raw(v).ok_or(einval(
            c"IPVS_RS_SVC_ATTR_PROXY_PROTOCOL: expected 0 (off), 1 (v1) or 2 (v2)",
        ))?;
    }
    Ok(new)
}

fn put_service(w: &mut AttrWriter<'_>, key: &ServiceKey) -> core::result::Result<(), WriteError> {
    let n = w.nest_start(attr::SERVICE)?;
    put_service_key(w, key)?;
    w.nest_end(n)
}

fn put_laddr_addr(w: &mut AttrWriter<'_>, addr: &Addr) -> core::result::Result<(), WriteError> {
    w.put_u16(laddr_attr::AF, addr.af().raw())?;
    w.put(laddr_attr::ADDR, &addr.inet())
}

/// A request naming a service and a local address (`NEW_LADDR`,
/// `DEL_LADDR`), or only the service (`addr` `None`: `GET_LADDR`,
/// `GET_SVC`).
pub fn encode_laddr_req(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    addr: Option<&Addr>,
) -> core::result::Result<(), WriteError> {
    put_service(w, key)?;
    if let Some(a) = addr {
        let n = w.nest_start(attr::LADDR)?;
        put_laddr_addr(w, a)?;
        w.nest_end(n)?;
    }
    Ok(())
}

/// One `GET_LADDR` dump entry.
pub fn encode_laddr_entry(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    addr: &Addr,
    conns: u32,
    exhausted: u64,
) -> core::result::Result<(), WriteError> {
    put_service(w, key)?;
    let n = w.nest_start(attr::LADDR)?;
    put_laddr_addr(w, addr)?;
    w.put_u32(laddr_attr::CONNS, conns)?;
    w.put_u64(laddr_attr::EXHAUSTED, exhausted)?;
    w.nest_end(n)
}

/// A local address of a dump entry, with its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaddrEntry {
    /// The address.
    pub addr: Addr,
    /// Connections using it.
    pub conns: u32,
    /// Allocations refused for want of ports.
    pub exhausted: u64,
}

/// Decodes a `GET_LADDR` dump entry (the service is not checked).
pub fn decode_laddr_entry(buf: &[u8]) -> Result<LaddrEntry> {
    let a = ExtAttrs::parse(buf)?;
    let nla = a.laddr.ok_or(einval(c"IPVS_RS_ATTR_LADDR: missing"))?;
    let t = nla
        .nested()
        .table::<{ laddr_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_RS_ATTR_LADDR: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let af = get(laddr_attr::AF)
        .and_then(|v| v.u16().ok())
        .and_then(Af::from_raw)
        .ok_or(einval(c"IPVS_RS_LADDR_ATTR_AF: missing or invalid"))?;
    let raw = get(laddr_attr::ADDR)
        .and_then(|v| v.padded::<16>().ok())
        .ok_or(einval(c"IPVS_RS_LADDR_ATTR_ADDR: missing or invalid"))?;
    Ok(LaddrEntry {
        addr: Addr::from_inet(af, raw),
        conns: get(laddr_attr::CONNS)
            .and_then(|v| v.u32().ok())
            .unwrap_or(0),
        exhausted: get(laddr_attr::EXHAUSTED)
            .and_then(|v| v.u64().ok())
            .unwrap_or(0),
    })
}

/// A `SET_SVC` request: only the settings `set` gives.
pub fn encode_svc_ext_req(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    set: &SvcExtSet,
) -> core::result::Result<(), WriteError> {
    put_service(w, key)?;
    let n = w.nest_start(attr::SVC_EXT)?;
    if let Some(toa) = set.toa {
        w.put_u8(svc_attr::TOA, u8::from(toa))?;
    }
    if let Some(sp) = set.synproxy {
        w.put_u8(svc_attr::SYNPROXY, u8::from(sp))?;
    }
    if let Some(pp) = set.proxy {
        w.put_u8(svc_attr::PROXY_PROTOCOL, pp.raw())?;
    }
    w.nest_end(n)
}

/// The reply of `GET_SVC`.
pub fn encode_svc_ext(
    w: &mut AttrWriter<'_>,
    key: &ServiceKey,
    ext: &SvcExt,
    c: &SvcExtCounters,
) -> core::result::Result<(), WriteError> {
    put_service(w, key)?;
    let n = w.nest_start(attr::SVC_EXT)?;
    w.put_u8(svc_attr::TOA, u8::from(ext.toa))?;
    w.put_u64(svc_attr::TOA_WRITTEN, c.toa_written)?;
    w.put_u64(svc_attr::TOA_SKIPPED, c.toa_skipped)?;
    w.put_u64(svc_attr::FNAT_EXHAUSTED, c.fnat_exhausted)?;
    w.put_u32(svc_attr::LADDRS, c.laddrs)?;
    w.put_u8(svc_attr::SYNPROXY, u8::from(ext.synproxy))?;
    let s = &c.synproxy;
    w.put_u64(svc_attr::SYNPROXY_COOKIES, s.cookies)?;
    w.put_u64(svc_attr::SYNPROXY_ACK_VALID, s.ack_valid)?;
    w.put_u64(svc_attr::SYNPROXY_ACK_BAD, s.ack_bad)?;
    w.put_u64(svc_attr::SYNPROXY_SYN_RETRANS, s.syn_retrans)?;
    w.put_u64(svc_attr::SYNPROXY_ACK_STORM, s.ack_storm)?;
    w.put_u64(svc_attr::SYNPROXY_HELD_DROPS, s.held_drops)?;
    w.put_u8(svc_attr::PROXY_PROTOCOL, ext.proxy.raw())?;
    w.put_u64(svc_attr::PROXY_SENT, c.proxy_sent)?;
    w.put_u64(svc_attr::PROXY_RESENT, c.proxy_resent)?;
    w.nest_end(n)
}

/// Decodes the reply of `GET_SVC`.
pub fn decode_svc_ext_reply(buf: &[u8]) -> Result<(SvcExt, SvcExtCounters)> {
    let a = ExtAttrs::parse(buf)?;
    let nla = a.svc_ext.ok_or(einval(c"IPVS_RS_ATTR_SVC_EXT: missing"))?;
    let t = nla
        .nested()
        .table::<{ svc_attr::TABLE }>()
        .map_err(|_| einval(c"IPVS_RS_ATTR_SVC_EXT: malformed nested attributes"))?;
    let get = |k: u16| t.get(usize::from(k)).copied().flatten();
    let u64_of = |k: u16| get(k).and_then(|v| v.u64().ok()).unwrap_or(0);
    Ok((
        SvcExt {
            toa: get(svc_attr::TOA).and_then(|v| v.u8().ok()) == Some(1),
            synproxy: get(svc_attr::SYNPROXY).and_then(|v| v.u8().ok()) == Some(1),
            proxy: get(svc_attr::PROXY_PROTOCOL)
                .and_then(|v| v.u8().ok())
                .and_then(ProxyVersion::from_raw)
                .unwrap_or_default(),
        },
        SvcExtCounters {
            toa_written: u64_of(svc_attr::TOA_WRITTEN),
            toa_skipped: u64_of(svc_attr::TOA_SKIPPED),
            fnat_exhausted: u64_of(svc_attr::FNAT_EXHAUSTED),
            laddrs: get(svc_attr::LADDRS)
                .and_then(|v| v.u32().ok())
                .unwrap_or(0),
            synproxy: SynproxyCounters {
                cookies: u64_of(svc_attr::SYNPROXY_COOKIES),
                ack_valid: u64_of(svc_attr::SYNPROXY_ACK_VALID),
                ack_bad: u64_of(svc_attr::SYNPROXY_ACK_BAD),
                syn_retrans: u64_of(svc_attr::SYNPROXY_SYN_RETRANS),
                ack_storm: u64_of(svc_attr::SYNPROXY_ACK_STORM),
                held_drops: u64_of(svc_attr::SYNPROXY_HELD_DROPS),
            },
            proxy_sent: u64_of(svc_attr::PROXY_SENT),
            proxy_resent: u64_of(svc_attr::PROXY_RESENT),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Protocol;

    fn svc() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        }
    }

    #[test]
    fn laddr_round_trip() {
        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        let la = Addr::v4([10, 0, 5, 1]);
        encode_laddr_req(&mut w, &svc(), Some(&la)).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        assert_eq!(a.service_key().unwrap(), svc());
        assert_eq!(decode_laddr(a.laddr, Af::Inet).unwrap(), la);

        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        encode_laddr_entry(&mut w, &svc(), &la, 7, 3).unwrap();
        let e = decode_laddr_entry(w.as_bytes()).unwrap();
        assert_eq!((e.addr, e.conns, e.exhausted), (la, 7, 3));
    }

    #[test]
    fn laddr_errors_name_the_field() {
        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        encode_laddr_req(&mut w, &svc(), None).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        let e = decode_laddr(a.laddr, Af::Inet).unwrap_err();
        assert!(e.msg.to_str().unwrap().starts_with("IPVS_RS_ATTR_LADDR"));

        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        encode_laddr_req(&mut w, &svc(), Some(&Addr::v4([0, 0, 0, 0]))).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        let e = decode_laddr(a.laddr, Af::Inet).unwrap_err();
        assert!(e
            .msg
            .to_str()
            .unwrap()
            .starts_with("IPVS_RS_LADDR_ATTR_ADDR"));
        assert!(ExtAttrs::parse(&[1, 0]).is_err());
    }

    #[test]
    fn svc_ext_round_trip() {
        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        let set = SvcExtSet {
            toa: Some(true),
            synproxy: None,
            proxy: Some(ProxyVersion::V2),
        };
        encode_svc_ext_req(&mut w, &svc(), &set).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        let old = SvcExt {
            toa: false,
            synproxy: true,
            proxy: ProxyVersion::Off,
        };
        // Settings not given stay as they were.
        let both = SvcExt {
            toa: true,
            synproxy: true,
            proxy: ProxyVersion::V2,
        };
        assert_eq!(decode_svc_ext(a.svc_ext, old).unwrap(), both);
        assert_eq!(set.apply(old), both);
        let c = SvcExtCounters {
            toa_written: 5,
            toa_skipped: 1,
            fnat_exhausted: 2,
            laddrs: 2,
            synproxy: SynproxyCounters {
                cookies: 9,
                ack_valid: 8,
                ack_bad: 7,
                syn_retrans: 6,
                ack_storm: 5,
                held_drops: 4,
            },
            proxy_sent: 3,
            proxy_resent: 1,
        };
        let mut buf = [0u8; 512];
        let mut w = AttrWriter::new(&mut buf);
        encode_svc_ext(&mut w, &svc(), &both, &c).unwrap();
        assert_eq!(decode_svc_ext_reply(w.as_bytes()).unwrap(), (both, c));
    }

    #[test]
    fn synproxy_switch_off_and_errors() {
        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        let set = SvcExtSet {
            toa: None,
            synproxy: Some(false),
            proxy: None,
        };
        encode_svc_ext_req(&mut w, &svc(), &set).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        let old = SvcExt {
            toa: true,
            synproxy: true,
            proxy: ProxyVersion::V1,
        };
        assert_eq!(
            decode_svc_ext(a.svc_ext, old).unwrap(),
            SvcExt {
                toa: true,
                synproxy: false,
                proxy: ProxyVersion::V1,
            }
        );
        // A value other than 0/1 is refused by name.
        let mut buf = [0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        put_service(&mut w, &svc()).unwrap();
        let n = w.nest_start(attr::SVC_EXT).unwrap();
        w.put_u8(svc_attr::SYNPROXY, 2).unwrap();
        w.nest_end(n).unwrap();
        let a = ExtAttrs::parse(w.as_bytes()).unwrap();
        let e = decode_svc_ext(a.svc_ext, old).unwrap_err();
        assert!(e
            .msg
            .to_str()
            .unwrap()
            .starts_with("IPVS_RS_SVC_ATTR_SYNPROXY"));
        // PROXY protocol: 3 is no version; a u32 is the wrong type.
        for bad in [&[3u8][..], &[2, 0, 0, 0][..]] {
            let mut buf = [0u8; 256];
            let mut w = AttrWriter::new(&mut buf);
            put_service(&mut w, &svc()).unwrap();
            let n = w.nest_start(attr::SVC_EXT).unwrap();
            w.put(svc_attr::PROXY_PROTOCOL, bad).unwrap();
            w.nest_end(n).unwrap();
            let a = ExtAttrs::parse(w.as_bytes()).unwrap();
            let e = decode_svc_ext(a.svc_ext, old).unwrap_err();
            assert!(e
                .msg
                .to_str()
                .unwrap()
                .starts_with("IPVS_RS_SVC_ATTR_PROXY_PROTOCOL"));
        }
    }
}
