// SPDX-License-Identifier: GPL-2.0
//! The IPVS requests `ipvsctl` makes, typed: each one encodes its request
//! with `ipvs_core` (the encoders libipvs's layout is checked against),
//! sends it through a [`Kernel`], and decodes the replies with `ipvs_core`.
//! The same for ipvs_rs's `IPVS_RS` family (local addresses, TOA) with
//! `ipvs_core::netlink::ext`; readers treat its absence (upstream `ip_vs`)
//! as "no extension data".

use ipvs_core::addr::{Addr, Af};
use ipvs_core::config::Timeouts;
use ipvs_core::errno::Error as CoreError;
use ipvs_core::netlink::attr::{AttrWriter, Attrs};
use ipvs_core::netlink::ext::{
    self, decode_laddr_entry, decode_svc_ext_reply, encode_laddr_req, encode_svc_ext_req,
    LaddrEntry, SvcExt, SvcExtCounters, SvcExtSet,
};
use ipvs_core::netlink::ipvs::{cmd, decode_timeouts, Info};
use ipvs_core::netlink::service::{
    decode_dest_entry, decode_service_entry, encode_dest_req, encode_service_req,
    encode_timeouts_req, DestConns, ServiceConfReq,
};
use ipvs_core::service::{DestConf, DestKey, ServiceConf, ServiceKey};
use ipvs_core::stats::Stats;

use crate::client::{bad_attrs, cmd_name, ext_cmd_name, Kernel};
use crate::error::Error;
use crate::values::service_label;

/// Room for the largest request: a service with all its settings and a
/// real server (under 200 bytes).
const REQUEST_MAX: usize = 512;

/// A real server as a dump reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestEntry {
    /// Address and port.
    pub key: DestKey,
    /// Settings.
    pub conf: DestConf,
    /// Connection counts.
    pub conns: DestConns,
    /// Counters and rates.
    pub stats: Stats,
}

/// What ipvs_rs's `IPVS_RS` family knows of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceExt {
    /// Settings (TOA).
    pub settings: SvcExt,
    /// TOA and FULLNAT counters.
    pub counters: SvcExtCounters,
    /// The local address pool, in [`laddr_order`].
    pub laddrs: Vec<LaddrEntry>,
}

/// A virtual service and its real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// What identifies it.
    pub key: ServiceKey,
    /// Settings.
    pub conf: ServiceConf,
    /// Counters and rates.
    pub stats: Stats,
    /// Its real servers, in [`dest_order`].
    pub dests: Vec<DestEntry>,
    /// Its extension state; `None` without the `IPVS_RS` family.
    pub ext: Option<ServiceExt>,
}

/// The order `ipvsadm` lists services in: address services before fwmark
/// ones, then by mark, family, protocol, address and port. (`ipvsadm`
/// compares addresses by subtracting them, which misorders addresses more
/// than 2^31 apart; this is the consistent numeric order.)
pub fn service_order(key: &ServiceKey) -> (u32, u16, u16, [u8; 16], u16) {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            (0, addr.af().raw(), proto.raw(), addr.inet(), *port)
        }
        ServiceKey::Fwmark { af, mark } => (*mark, af.raw(), 0, [0; 16], 0),
    }
}

/// The order `ipvsadm` lists real servers in: by address, then port.
pub fn dest_order(key: &DestKey) -> (u16, [u8; 16], u16) {
    (key.addr.af().raw(), key.addr.inet(), key.port)
}

/// The order local addresses are listed and saved in: by address.
pub fn laddr_order(addr: &Addr) -> (u16, [u8; 16]) {
    (addr.af().raw(), addr.inet())
}

/// Builds the attribute stream of a request named `name`.
fn build_named(
    name: &str,
    f: impl FnOnce(&mut AttrWriter<'_>) -> Result<(), ipvs_core::netlink::WriteError>,
) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; REQUEST_MAX];
    let mut w = AttrWriter::new(&mut buf);
    f(&mut w).map_err(|_| Error::Internal(format!("{name} does not fit {REQUEST_MAX} bytes")))?;
    let len = w.len();
    buf.truncate(len);
    Ok(buf)
}

/// Builds the attribute stream of an IPVS request.
fn build(
    command: u8,
    f: impl FnOnce(&mut AttrWriter<'_>) -> Result<(), ipvs_core::netlink::WriteError>,
) -> Result<Vec<u8>, Error> {
    build_named(cmd_name(command), f)
}

/// A reply that `ipvs_core` could not decode.
fn bad_entry(command: u8, e: CoreError) -> Error {
    Error::BadReply {
        request: cmd_name(command),
        reason: e.msg.to_string_lossy().into_owned(),
    }
}

/// Sends a `do` request and expects no reply but the acknowledgement.
fn execute<K: Kernel>(k: &mut K, command: u8, attrs: &[u8]) -> Result<(), Error> {
    let replies = k.call(command, attrs, false)?;
    if replies.is_empty() {
        Ok(())
    } else {
        Err(Error::BadReply {
            request: cmd_name(command),
            reason: format!("{} unexpected reply messages", replies.len()),
        })
    }
}

/// Sends a `do` request whose answer is exactly one message.
fn get_one<K: Kernel>(k: &mut K, command: u8, attrs: &[u8]) -> Result<Vec<u8>, Error> {
    let mut replies = k.call(command, attrs, false)?;
    let count = replies.len();
    match replies.pop() {
        Some(reply) if count == 1 => Ok(reply),
        _ => Err(Error::BadReply {
            request: cmd_name(command),
            reason: format!("{count} reply messages, expected one"),
        }),
    }
}

/// `IPVS_CMD_GET_INFO`: version and connection table size.
pub fn info<K: Kernel>(k: &mut K) -> Result<Info, Error> {
    let reply = get_one(k, cmd::GET_INFO, &[])?;
    Info::decode(Attrs::new(&reply)).map_err(|e| bad_attrs(cmd_name(cmd::GET_INFO), e))
}

/// `IPVS_CMD_GET_CONFIG`: the tcp, tcpfin and udp timeouts.
pub fn timeouts<K: Kernel>(k: &mut K) -> Result<Timeouts, Error> {
    let reply = get_one(k, cmd::GET_CONFIG, &[])?;
    decode_timeouts(Attrs::new(&reply)).map_err(|e| bad_attrs(cmd_name(cmd::GET_CONFIG), e))
}

/// `IPVS_CMD_SET_CONFIG`: sets the timeouts (0 leaves one unchanged).
pub fn set_timeouts<K: Kernel>(k: &mut K, t: &Timeouts) -> Result<(), Error> {
    let attrs = build(cmd::SET_CONFIG, |w| encode_timeouts_req(w, t))?;
    execute(k, cmd::SET_CONFIG, &attrs)
}

/// The real servers of a service (`IPVS_CMD_GET_DEST` dump), in
/// [`dest_order`]. A missing service has none (the kernel dumps nothing).
pub fn dests<K: Kernel>(k: &mut K, svc: &ServiceKey) -> Result<Vec<DestEntry>, Error> {
    let attrs = build(cmd::GET_DEST, |w| encode_service_req(w, svc, None))?;
    let af: Af = svc.af();
    let mut out = k
        .call(cmd::GET_DEST, &attrs, true)?
        .iter()
        .map(|reply| {
            decode_dest_entry(Attrs::new(reply), af)
                .map(|(key, conf, conns, stats)| DestEntry {
                    key,
                    conf,
                    conns,
                    stats,
                })
                .map_err(|e| bad_entry(cmd::GET_DEST, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|d| dest_order(&d.key));
    Ok(out)
}

/// Every service with its real servers, in [`service_order`].
pub fn services<K: Kernel>(k: &mut K) -> Result<Vec<ServiceEntry>, Error> {
    let replies = k.call(cmd::GET_SERVICE, &[], true)?;
    let mut out = Vec::with_capacity(replies.len());
    for reply in &replies {
        let (key, conf, stats) =
            decode_service_entry(Attrs::new(reply)).map_err(|e| bad_entry(cmd::GET_SERVICE, e))?;
        out.push(ServiceEntry {
            key,
            conf,
            stats,
            dests: Vec::new(),
            ext: None,
        });
    }
    out.sort_by_key(|s| service_order(&s.key));
    for svc in &mut out {
        svc.dests = dests(k, &svc.key)?;
    }
    if k.has_ext()? {
        for svc in &mut out {
            svc.ext = service_ext(k, &svc.key)?;
        }
    }
    Ok(out)
}

/// One service (`IPVS_CMD_GET_SERVICE` with its key), without its real
/// servers; `None` if there is no such service.
pub fn find_service<K: Kernel>(
    k: &mut K,
    key: &ServiceKey,
) -> Result<Option<(ServiceConf, Stats)>, Error> {
    let attrs = build(cmd::GET_SERVICE, |w| encode_service_req(w, key, None))?;
    match get_one(k, cmd::GET_SERVICE, &attrs) {
        Ok(reply) => {
            let (_, conf, stats) = decode_service_entry(Attrs::new(&reply))
                .map_err(|e| bad_entry(cmd::GET_SERVICE, e))?;
            Ok(Some((conf, stats)))
        }
        Err(e) if e.errno() == Some(libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One service with its real servers; an error naming it if it does not
/// exist.
pub fn service<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<ServiceEntry, Error> {
    let (conf, stats) = find_service(k, key)?
        .ok_or_else(|| Error::NotFound(format!("service {}", service_label(key))))?;
    let dests = dests(k, key)?;
    let ext = if k.has_ext()? {
        service_ext(k, key)?
    } else {
        None
    };
    Ok(ServiceEntry {
        key: *key,
        conf,
        stats,
        dests,
        ext,
    })
}

/// `IPVS_CMD_NEW_SERVICE`.
pub fn add_service<K: Kernel>(
    k: &mut K,
    key: &ServiceKey,
    conf: &ServiceConfReq,
) -> Result<(), Error> {
    let attrs = build(cmd::NEW_SERVICE, |w| encode_service_req(w, key, Some(conf)))?;
    execute(k, cmd::NEW_SERVICE, &attrs)
}

/// `IPVS_CMD_SET_SERVICE`.
pub fn edit_service<K: Kernel>(
    k: &mut K,
    key: &ServiceKey,
    conf: &ServiceConfReq,
) -> Result<(), Error> {
    let attrs = build(cmd::SET_SERVICE, |w| encode_service_req(w, key, Some(conf)))?;
    execute(k, cmd::SET_SERVICE, &attrs)
}

/// `IPVS_CMD_DEL_SERVICE`.
pub fn del_service<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<(), Error> {
    let attrs = build(cmd::DEL_SERVICE, |w| encode_service_req(w, key, None))?;
    execute(k, cmd::DEL_SERVICE, &attrs)
}

/// `IPVS_CMD_NEW_DEST` or `IPVS_CMD_SET_DEST` (`command`).
fn dest_request<K: Kernel>(
    k: &mut K,
    command: u8,
    svc: &ServiceKey,
    key: &DestKey,
    conf: Option<&DestConf>,
) -> Result<(), Error> {
    let attrs = build(command, |w| {
        encode_service_req(w, svc, None)?;
        encode_dest_req(w, key, conf)
    })?;
    execute(k, command, &attrs)
}

/// `IPVS_CMD_NEW_DEST`.
pub fn add_dest<K: Kernel>(
    k: &mut K,
    svc: &ServiceKey,
    key: &DestKey,
    conf: &DestConf,
) -> Result<(), Error> {
    dest_request(k, cmd::NEW_DEST, svc, key, Some(conf))
}

/// `IPVS_CMD_SET_DEST`.
pub fn edit_dest<K: Kernel>(
    k: &mut K,
    svc: &ServiceKey,
    key: &DestKey,
    conf: &DestConf,
) -> Result<(), Error> {
    dest_request(k, cmd::SET_DEST, svc, key, Some(conf))
}

/// `IPVS_CMD_DEL_DEST`.
pub fn del_dest<K: Kernel>(k: &mut K, svc: &ServiceKey, key: &DestKey) -> Result<(), Error> {
    dest_request(k, cmd::DEL_DEST, svc, key, None)
}

/// `IPVS_CMD_ZERO`: the counters of one service and its real servers, or
/// of everything.
pub fn zero<K: Kernel>(k: &mut K, svc: Option<&ServiceKey>) -> Result<(), Error> {
    let attrs = match svc {
        Some(key) => build(cmd::ZERO, |w| encode_service_req(w, key, None))?,
        None => Vec::new(),
    };
    execute(k, cmd::ZERO, &attrs)
}

/// `IPVS_CMD_FLUSH`: deletes every service.
pub fn flush<K: Kernel>(k: &mut K) -> Result<(), Error> {
    execute(k, cmd::FLUSH, &[])
}

// ---------------------------------------------------------------------------
// The IPVS_RS family
// ---------------------------------------------------------------------------

/// Sends an `IPVS_RS` `do` request and expects only the acknowledgement.
fn ext_execute<K: Kernel>(k: &mut K, command: u8, attrs: &[u8]) -> Result<(), Error> {
    let replies = k.ext_call(command, attrs, false)?;
    if replies.is_empty() {
        Ok(())
    } else {
        Err(Error::BadReply {
            request: ext_cmd_name(command),
            reason: format!("{} unexpected reply messages", replies.len()),
        })
    }
}

/// A reply of the `IPVS_RS` family that `ipvs_core` could not decode.
fn bad_ext_entry(command: u8, e: CoreError) -> Error {
    Error::BadReply {
        request: ext_cmd_name(command),
        reason: e.msg.to_string_lossy().into_owned(),
    }
}

/// `IPVS_RS_CMD_GET_SVC`: a service's TOA setting and counters.
pub fn svc_ext<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<(SvcExt, SvcExtCounters), Error> {
    let command = ext::cmd::GET_SVC;
    let attrs = build_named(ext_cmd_name(command), |w| encode_laddr_req(w, key, None))?;
    let mut replies = k.ext_call(command, &attrs, false)?;
    let count = replies.len();
    match replies.pop() {
        Some(reply) if count == 1 => {
            decode_svc_ext_reply(&reply).map_err(|e| bad_ext_entry(command, e))
        }
        _ => Err(Error::BadReply {
            request: ext_cmd_name(command),
            reason: format!("{count} reply messages, expected one"),
        }),
    }
}

/// `IPVS_RS_CMD_GET_LADDR`: a service's local addresses, in
/// [`laddr_order`].
pub fn laddrs<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<Vec<LaddrEntry>, Error> {
    let command = ext::cmd::GET_LADDR;
    let attrs = build_named(ext_cmd_name(command), |w| encode_laddr_req(w, key, None))?;
    let mut out = k
        .ext_call(command, &attrs, true)?
        .iter()
        .map(|reply| decode_laddr_entry(reply).map_err(|e| bad_ext_entry(command, e)))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|l| laddr_order(&l.addr));
    Ok(out)
}

/// Everything the `IPVS_RS` family knows of a service; `None` if it does
/// not know the service (it went away since it was listed).
pub fn service_ext<K: Kernel>(k: &mut K, key: &ServiceKey) -> Result<Option<ServiceExt>, Error> {
    let gone = |e: &Error| e.errno() == Some(libc::ESRCH);
    let (settings, counters) = match svc_ext(k, key) {
        Ok(v) => v,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let laddrs = match laddrs(k, key) {
        Ok(v) => v,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(ServiceExt {
        settings,
        counters,
        laddrs,
    }))
}

/// `IPVS_RS_CMD_NEW_LADDR`.
pub fn add_laddr<K: Kernel>(k: &mut K, key: &ServiceKey, addr: &Addr) -> Result<(), Error> {
    let command = ext::cmd::NEW_LADDR;
    let attrs = build_named(ext_cmd_name(command), |w| {
        encode_laddr_req(w, key, Some(addr))
    })?;
    ext_execute(k, command, &attrs)
}

/// `IPVS_RS_CMD_DEL_LADDR`.
pub fn del_laddr<K: Kernel>(k: &mut K, key: &ServiceKey, addr: &Addr) -> Result<(), Error> {
    let command = ext::cmd::DEL_LADDR;
    let attrs = build_named(ext_cmd_name(command), |w| {
        encode_laddr_req(w, key, Some(addr))
    })?;
    ext_execute(k, command, &attrs)
}

/// `IPVS_RS_CMD_SET_SVC`: change a service's TOA and SYNPROXY settings
/// (those given).
pub fn set_svc_ext<K: Kernel>(
    k: &mut K,
    key: &ServiceKey,
    settings: &SvcExtSet,
) -> Result<(), Error> {
    let command = ext::cmd::SET_SVC;
    let attrs = build_named(ext_cmd_name(command), |w| {
        encode_svc_ext_req(w, key, settings)
    })?;
    ext_execute(k, command, &attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use ipvs_core::addr::Addr;
    use ipvs_core::netlink::service::{decode_dest, decode_service, CmdAttrs};
    use ipvs_core::service::{svc_flags, FlagsUpdate, FwdMethod, Name, Protocol, TunType};

    fn key(last: u8, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, last]),
            port,
        }
    }

    fn conf(sched: &str) -> ServiceConfReq {
        ServiceConfReq {
            sched: Name::new(sched).unwrap(),
            pe: Name::default(),
            flags: FlagsUpdate {
                flags: svc_flags::PERSISTENT,
                mask: !0,
            },
            timeout: 600,
            netmask: u32::MAX,
        }
    }

    fn dest(weight: i32) -> DestConf {
        DestConf {
            fwd: FwdMethod::Masq,
            weight,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    #[test]
    fn requests_carry_what_the_kernel_decodes() {
        let mut k = FakeKernel::default();
        add_service(&mut k, &key(1, 80), &conf("rr")).unwrap();
        let (command, attrs) = k.log.last().unwrap().clone();
        assert_eq!(command, cmd::NEW_SERVICE);
        let a = CmdAttrs::parse(&attrs).unwrap();
        let req = decode_service(a.service, true).unwrap();
        assert_eq!(req.key, key(1, 80));
        assert_eq!(req.conf, Some(conf("rr")));

        let d = DestKey {
            addr: Addr::v4([10, 0, 2, 1]),
            port: 80,
        };
        add_dest(&mut k, &key(1, 80), &d, &dest(5)).unwrap();
        let (command, attrs) = k.log.last().unwrap().clone();
        assert_eq!(command, cmd::NEW_DEST);
        let a = CmdAttrs::parse(&attrs).unwrap();
        assert_eq!(decode_service(a.service, false).unwrap().key, key(1, 80));
        assert_eq!(
            decode_dest(a.dest, true, Af::Inet).unwrap().conf,
            Some(dest(5))
        );
        del_dest(&mut k, &key(1, 80), &d).unwrap();
        let (_, attrs) = k.log.last().unwrap().clone();
        let a = CmdAttrs::parse(&attrs).unwrap();
        assert_eq!(decode_dest(a.dest, false, Af::Inet).unwrap().conf, None);
    }

    #[test]
    fn services_are_listed_in_ipvsadm_order_with_their_dests() {
        let mut k = FakeKernel::default();
        let fw = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 3,
        };
        let udp = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: Addr::v4([10, 0, 1, 1]),
            port: 53,
        };
        for k2 in [fw, key(9, 80), udp, key(1, 443), key(1, 80)] {
            add_service(&mut k, &k2, &conf("wlc")).unwrap();
        }
        for last in [12, 11, 13] {
            let d = DestKey {
                addr: Addr::v4([10, 0, 2, last]),
                port: 80,
            };
            add_dest(&mut k, &key(1, 80), &d, &dest(1)).unwrap();
        }
        let all = services(&mut k).unwrap();
        let keys: Vec<_> = all.iter().map(|s| s.key).collect();
        assert_eq!(keys, [key(1, 80), key(1, 443), key(9, 80), udp, fw]);
        let dests: Vec<_> = all[0].dests.iter().map(|d| d.key.addr).collect();
        assert_eq!(
            dests,
            [11, 12, 13].map(|l| Addr::v4([10, 0, 2, l])).to_vec()
        );
        assert_eq!(all[0].conf.sched.as_str(), "wlc");
        assert_eq!(all[0].conf.timeout, 600);
    }

    #[test]
    fn one_service_or_a_named_error() {
        let mut k = FakeKernel::default();
        add_service(&mut k, &key(1, 80), &conf("rr")).unwrap();
        assert_eq!(service(&mut k, &key(1, 80)).unwrap().key, key(1, 80));
        assert_eq!(find_service(&mut k, &key(1, 81)).unwrap(), None);
        assert_eq!(
            service(&mut k, &key(1, 81)).unwrap_err().to_string(),
            "no such service TCP 10.0.1.1:81"
        );
        // GET_DEST of a missing service dumps nothing, as upstream.
        assert!(dests(&mut k, &key(1, 81)).unwrap().is_empty());
    }

    #[test]
    fn kernel_errors_carry_the_ext_ack() {
        let mut k = FakeKernel::default();
        let e = add_service(&mut k, &key(1, 80), &conf("nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "IPVS_CMD_NEW_SERVICE failed: No such file or directory (ENOENT): \
             IPVS_SVC_ATTR_SCHED_NAME: unknown scheduler"
        );
        let e = del_service(&mut k, &key(1, 80)).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ESRCH));
    }

    #[test]
    fn config_zero_flush_info() {
        let mut k = FakeKernel::default();
        set_timeouts(
            &mut k,
            &Timeouts {
                tcp: 60,
                tcp_fin: 0,
                udp: 10,
            },
        )
        .unwrap();
        assert_eq!(
            timeouts(&mut k).unwrap(),
            Timeouts {
                tcp: 60,
                tcp_fin: 120,
                udp: 10
            }
        );
        add_service(&mut k, &key(1, 80), &conf("rr")).unwrap();
        k.set_stats(&key(1, 80), 7);
        zero(&mut k, Some(&key(1, 80))).unwrap();
        assert_eq!(services(&mut k).unwrap()[0].stats.conns, 0);
        zero(&mut k, None).unwrap();
        assert_eq!(k.log.last().unwrap(), &(cmd::ZERO, Vec::new()));
        flush(&mut k).unwrap();
        assert!(services(&mut k).unwrap().is_empty());
        assert_eq!(info(&mut k).unwrap().conn_tab_size, 4096);
    }
}
