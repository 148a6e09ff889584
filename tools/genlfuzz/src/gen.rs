// SPDX-License-Identifier: GPL-2.0
//! Plausible requests: every command of both families with attributes
//! drawn from small pools (a few addresses, ports, marks), so that many
//! are accepted and later ones meet existing services, real servers and
//! local addresses. The attributes are written by `ipvs_core`'s own
//! encoders, so the fuzzer follows the ABI as it grows.

use ipvs_core::addr::{Addr, Af};
use ipvs_core::config::Timeouts;
use ipvs_core::netlink::ext::{self, SvcExtSet};
use ipvs_core::netlink::ipvs::{cmd, cmd_attr, daemon_attr};
use ipvs_core::netlink::service::{
    encode_dest_req, encode_service_req, encode_timeouts_req, ServiceConfReq,
};
use ipvs_core::netlink::{AttrWriter, WriteError};
use ipvs_core::service::{
    svc_flags, DestConf, DestKey, FlagsUpdate, FwdMethod, Name, Protocol, ServiceKey, TunType,
};

use crate::nl::{self, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::rng::Rng;

/// Which generic netlink family a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fam {
    /// Upstream's `IPVS`.
    Ipvs,
    /// ipvs_rs's `IPVS_RS`.
    Ext,
}

/// The family ids of this boot.
#[derive(Clone, Copy, Debug)]
pub struct Fams {
    /// `IPVS`.
    pub ipvs: u16,
    /// `IPVS_RS` (absent with upstream ip_vs).
    pub ext: Option<u16>,
}

impl Fams {
    /// The id of `f` (`IPVS`'s if `IPVS_RS` is not registered).
    pub fn id(&self, f: Fam) -> u16 {
        match f {
            Fam::Ipvs => self.ipvs,
            Fam::Ext => self.ext.unwrap_or(self.ipvs),
        }
    }
}

/// A request before it is framed.
#[derive(Clone, Debug)]
pub struct Req {
    /// Family.
    pub fam: Fam,
    /// Command.
    pub cmd: u8,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// Attribute bytes.
    pub attrs: Vec<u8>,
}

impl Req {
    /// A request with `NLM_F_REQUEST | NLM_F_ACK`.
    pub fn new(fam: Fam, cmd: u8, attrs: Vec<u8>) -> Req {
        Req {
            fam,
            cmd,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            attrs,
        }
    }

    /// The same as a dump request.
    pub fn dump(mut self) -> Req {
        self.flags |= NLM_F_DUMP;
        self
    }

    /// The framed message.
    pub fn message(&self, fams: &Fams) -> Vec<u8> {
        nl::message(fams.id(self.fam), self.flags, self.cmd, 1, &self.attrs)
    }
}

/// Runs `f` on an attribute writer and returns what it wrote.
pub fn enc(f: impl FnOnce(&mut AttrWriter<'_>) -> Result<(), WriteError>) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut w = AttrWriter::new(&mut buf);
    match f(&mut w) {
        Ok(()) => w.as_bytes().to_vec(),
        Err(_) => Vec::new(),
    }
}

/// The schedulers ipvs_rs knows (upstream's 14).
pub const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "sed", "nq", "lblc", "lblcr", "dh", "sh", "mh", "fo", "ovf", "twos",
];

/// A service key from the pool: TCP/UDP/SCTP on two addresses and two
/// ports, or one of three firewall marks.
pub fn svc_key(r: &mut Rng) -> ServiceKey {
    if r.chance(1, 5) {
        return ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 1 + r.below(3) as u32,
        };
    }
    ServiceKey::Addr {
        proto: r.pick(
            &[Protocol::Tcp, Protocol::Udp, Protocol::Sctp],
            Protocol::Tcp,
        ),
        addr: Addr::v4([10, 0, 1, 1 + r.below(2) as u8]),
        port: r.pick(&[80, 443], 80),
    }
}

/// An IPv6 address `2001:db8::<net>:<host>`.
fn v6(net: u8, host: u8) -> Addr {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[13] = net;
    a[15] = host;
    Addr::v6(a)
}

/// A service key from the pool, sometimes IPv6 (for the random run: the
/// model keeps to IPv4).
pub fn svc_key_any(r: &mut Rng) -> ServiceKey {
    if !r.chance(1, 8) {
        return svc_key(r);
    }
    if r.chance(1, 4) {
        return ServiceKey::Fwmark {
            af: Af::Inet6,
            mark: 1 + r.below(3) as u32,
        };
    }
    ServiceKey::Addr {
        proto: r.pick(
            &[Protocol::Tcp, Protocol::Udp, Protocol::Sctp],
            Protocol::Tcp,
        ),
        addr: v6(1, 1 + r.below(2) as u8),
        port: r.pick(&[80, 443], 80),
    }
}

/// A real server key from the pool, of family `af` (sometimes the other).
pub fn dest_key_any(r: &mut Rng, af: Af) -> DestKey {
    let six = (af == Af::Inet6) != r.chance(1, 10);
    if !six {
        return dest_key(r);
    }
    DestKey {
        addr: v6(2, 1 + r.below(4) as u8),
        port: r.pick(&[80, 8080], 80),
    }
}

/// Valid service settings.
pub fn svc_conf(r: &mut Rng) -> ServiceConfReq {
    let bits = [
        svc_flags::PERSISTENT,
        svc_flags::ONEPACKET,
        svc_flags::SCHED1,
        svc_flags::SCHED2,
        svc_flags::SCHED3,
    ];
    let mut flags = 0;
    for b in bits {
        if r.chance(1, 3) {
            flags |= b;
        }
    }
    let mask = if r.chance(1, 2) { u32::MAX } else { r.u32() };
    ServiceConfReq {
        sched: Name::new(r.pick(&SCHEDULERS, "rr")).unwrap_or_default(),
        pe: Name::default(),
        flags: FlagsUpdate { flags, mask },
        timeout: r.pick(&[0, 60, 300, 3600, 86400], 300),
        netmask: r.pick(
            &[u32::MAX, u32::from_be_bytes([255, 255, 255, 0]), 0],
            u32::MAX,
        ),
    }
}

/// A real server key from the pool.
pub fn dest_key(r: &mut Rng) -> DestKey {
    DestKey {
        addr: Addr::v4([10, 0, 2, 1 + r.below(4) as u8]),
        port: r.pick(&[80, 8080], 80),
    }
}

/// Valid real server settings (`direct`: DR and TUN allowed).
pub fn dest_conf(r: &mut Rng, direct: bool) -> DestConf {
    let fwd = if direct {
        r.pick(
            &[
                FwdMethod::Masq,
                FwdMethod::Tunnel,
                FwdMethod::Droute,
                FwdMethod::FullNat,
            ],
            FwdMethod::Masq,
        )
    } else {
        r.pick(&[FwdMethod::Masq, FwdMethod::FullNat], FwdMethod::Masq)
    };
    let u_thresh = if r.chance(1, 2) {
        0
    } else {
        r.below(1000) as u32
    };
    DestConf {
        fwd,
        weight: r.below(101) as i32,
        u_thresh,
        l_thresh: if u_thresh == 0 {
            0
        } else {
            r.below(u_thresh as usize + 1) as u32
        },
        tun_type: TunType::Ipip,
        tun_port: 0,
        tun_flags: 0,
    }
}

/// A local address from the pool.
pub fn laddr(r: &mut Rng) -> Addr {
    Addr::v4([10, 0, 5, 1 + r.below(3) as u8])
}

/// `SET_CONFIG` timeouts (0: unchanged).
pub fn timeouts(r: &mut Rng) -> Timeouts {
    let mut t = || {
        if r.chance(1, 3) {
            0
        } else {
            1 + r.below(100_000) as u32
        }
    };
    Timeouts {
        tcp: t(),
        tcp_fin: t(),
        udp: t(),
    }
}

/// The attributes naming a service (and, with `conf`, its settings).
pub fn svc_attrs(key: &ServiceKey, conf: Option<&ServiceConfReq>) -> Vec<u8> {
    enc(|w| encode_service_req(w, key, conf))
}

/// Service and real server attributes.
pub fn dest_attrs(svc: &ServiceKey, key: &DestKey, conf: Option<&DestConf>) -> Vec<u8> {
    let mut a = svc_attrs(svc, None);
    a.extend(enc(|w| encode_dest_req(w, key, conf)));
    a
}

/// `SET_CONFIG` attributes.
pub fn timeout_attrs(t: &Timeouts) -> Vec<u8> {
    enc(|w| encode_timeouts_req(w, t))
}

/// `NEW_LADDR`/`DEL_LADDR` (or, with `None`, `GET_LADDR`/`GET_SVC`) attributes.
pub fn laddr_attrs(svc: &ServiceKey, addr: Option<&Addr>) -> Vec<u8> {
    enc(|w| ext::encode_laddr_req(w, svc, addr))
}

/// `SET_SVC` attributes.
pub fn svc_ext_attrs(svc: &ServiceKey, set: &SvcExtSet) -> Vec<u8> {
    enc(|w| ext::encode_svc_ext_req(w, svc, set))
}

/// An extension settings change from the pool.
pub fn svc_ext_set(r: &mut Rng) -> SvcExtSet {
    let mut s = SvcExtSet::default();
    if r.chance(2, 3) {
        s.toa = Some(r.chance(1, 2));
    }
    if r.chance(1, 2) {
        s.synproxy = Some(r.chance(1, 2));
    }
    s
}

fn daemon_attrs(r: &mut Rng) -> Vec<u8> {
    enc(|w| {
        let n = w.nest_start(cmd_attr::DAEMON)?;
        w.put_u32(daemon_attr::STATE, 1 + r.below(2) as u32)?;
        w.put_str(daemon_attr::MCAST_IFN, "lo")?;
        w.put_u32(daemon_attr::SYNC_ID, r.below(256) as u32)?;
        w.nest_end(n)
    })
}

/// A plausible request to any command of either family.
pub fn plausible(r: &mut Rng, has_ext: bool) -> Req {
    if has_ext && r.chance(1, 3) {
        let svc = svc_key_any(r);
        // Writes likelier than reads.
        return match r.pick(&[0, 0, 1, 2, 3, 3, 4], 4) {
            0 => Req::new(
                Fam::Ext,
                ext::cmd::NEW_LADDR,
                laddr_attrs(&svc, Some(&laddr(r))),
            ),
            1 => Req::new(
                Fam::Ext,
                ext::cmd::DEL_LADDR,
                laddr_attrs(&svc, Some(&laddr(r))),
            ),
            2 => Req::new(Fam::Ext, ext::cmd::GET_LADDR, laddr_attrs(&svc, None)).dump(),
            3 => Req::new(
                Fam::Ext,
                ext::cmd::SET_SVC,
                svc_ext_attrs(&svc, &svc_ext_set(r)),
            ),
            _ => Req::new(Fam::Ext, ext::cmd::GET_SVC, laddr_attrs(&svc, None)),
        };
    }
    let svc = svc_key_any(r);
    // Writes that build up a table are likelier than the rest; FLUSH is
    // rare, so the table grows between flushes.
    let weighted = [
        cmd::NEW_SERVICE,
        cmd::NEW_SERVICE,
        cmd::NEW_SERVICE,
        cmd::SET_SERVICE,
        cmd::SET_SERVICE,
        cmd::DEL_SERVICE,
        cmd::GET_SERVICE,
        cmd::NEW_DEST,
        cmd::NEW_DEST,
        cmd::NEW_DEST,
        cmd::NEW_DEST,
        cmd::SET_DEST,
        cmd::SET_DEST,
        cmd::DEL_DEST,
        cmd::GET_DEST,
        cmd::NEW_DAEMON,
        cmd::DEL_DAEMON,
        cmd::GET_DAEMON,
        cmd::SET_CONFIG,
        cmd::GET_CONFIG,
        cmd::SET_INFO,
        cmd::GET_INFO,
        cmd::ZERO,
    ];
    let c = if r.chance(1, 200) {
        cmd::FLUSH
    } else {
        r.pick(&weighted, cmd::GET_INFO)
    };
    let attrs = match c {
        cmd::NEW_SERVICE | cmd::SET_SERVICE => {
            let mut conf = svc_conf(r);
            if svc.af() == Af::Inet6 {
                // A prefix length (1..128) for IPv6.
                conf.netmask = r.pick(&[128, 64, 0], 128);
            }
            svc_attrs(&svc, Some(&conf))
        }
        cmd::DEL_SERVICE | cmd::GET_SERVICE | cmd::GET_DEST => svc_attrs(&svc, None),
        cmd::ZERO if r.chance(1, 2) => svc_attrs(&svc, None),
        cmd::NEW_DEST | cmd::SET_DEST => {
            let conf = dest_conf(r, true);
            dest_attrs(&svc, &dest_key_any(r, svc.af()), Some(&conf))
        }
        cmd::DEL_DEST => dest_attrs(&svc, &dest_key_any(r, svc.af()), None),
        cmd::NEW_DAEMON | cmd::DEL_DAEMON => daemon_attrs(r),
        cmd::SET_CONFIG => timeout_attrs(&timeouts(r)),
        _ => Vec::new(),
    };
    let req = Req::new(Fam::Ipvs, c, attrs);
    match c {
        cmd::GET_DEST | cmd::GET_DAEMON => req.dump(),
        cmd::GET_SERVICE if r.chance(1, 2) => req.dump(),
        _ => req,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::netlink::service::{decode_dest, decode_service, CmdAttrs};

    #[test]
    fn pool_requests_decode_as_valid() {
        let mut r = Rng::new(7);
        for _ in 0..200 {
            let key = svc_key(&mut r);
            let conf = svc_conf(&mut r);
            let a = svc_attrs(&key, Some(&conf));
            let got = decode_service(CmdAttrs::parse(&a).unwrap().service, true).unwrap();
            assert_eq!(got.key, key);
            let dk = dest_key(&mut r);
            let dc = dest_conf(&mut r, true);
            dc.validate(Af::Inet, Af::Inet).unwrap();
            let a = dest_attrs(&key, &dk, Some(&dc));
            let d = decode_dest(CmdAttrs::parse(&a).unwrap().dest, true, Af::Inet).unwrap();
            assert_eq!((d.key, d.conf), (dk, Some(dc)));
        }
    }
}
