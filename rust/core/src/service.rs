// SPDX-License-Identifier: GPL-2.0
//! Virtual services and real servers ("destinations"): identities,
//! configuration, flags, and upstream's validation rules for them.

use crate::addr::{Addr, Af};
use crate::errno::{Errno, Error, Result};

/// IP protocols a virtual service can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// From an IP protocol number.
    #[inline]
    pub fn from_raw(p: u16) -> Option<Protocol> {
        match p {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The IP protocol number.
    #[inline]
    pub fn raw(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// Upstream's name (`/proc/net/ip_vs`, ipvsadm).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// Protocol, virtual address and port.
    Addr {
        /// Protocol.
        proto: Protocol,
        /// Virtual address (its family is the service's).
        addr: Addr,
        /// Virtual port, host order.
        port: u16,
    },
    /// Firewall mark (and family).
    Fwmark {
        /// Address family of the service.
        af: Af,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub fn af(&self) -> Af {
        match self {
            ServiceKey::Addr { addr, .. } => addr.af(),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    /// Persistent service.
    pub const PERSISTENT: u32 = 0x0001;
    /// Hashed entry (kernel-internal; reported, never settable).
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling (UDP).
    pub const ONEPACKET: u32 = 0x0004;
    /// Scheduler flag 1 (sh/mh: fallback).
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2 (sh/mh: use port).
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;
}

/// A short NUL-free name (scheduler, persistence engine), at most 15 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Name {
    bytes: [u8; 15],
    len: u8,
}

impl Name {
    /// A name from a string; `None` if longer than 15 bytes.
    pub fn new(s: &str) -> Option<Name> {
        let mut bytes = [0u8; 15];
        bytes.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(Name {
            bytes,
            len: u8::try_from(s.len()).ok()?,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(b).unwrap_or("")
    }

    /// Whether the name is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settable part of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConf {
    /// Scheduler name (upstream also accepts "none").
    pub sched: Name,
    /// Persistence engine name (empty: none).
    pub pe: Name,
    /// `IP_VS_SVC_F_*`.
    pub flags: u32,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// Persistence netmask exactly as the netlink attribute carries it (4
    /// bytes read in host order, as the kernel keeps them): for IPv4 the
    /// mask's bytes in network order, for IPv6 the prefix length.
    pub netmask: u32,
}

impl ServiceConf {
    /// Upstream's checks when a service is added or edited (`sched_known`
    /// says whether the scheduler name is implemented).
    pub fn validate(&self, af: Af, sched_known: bool) -> Result<()> {
        if !sched_known && self.sched.as_str() != "none" {
            return Err(Error::new(
                Errno::Enoent,
                c"IPVS_SVC_ATTR_SCHED_NAME: unknown scheduler",
            ));
        }
        if !self.pe.is_empty() {
            // Upstream's only persistence engine is "sip", for SIP over UDP;
            // ipvs_rs has none yet.
            return Err(Error::new(
                Errno::Enoent,
                c"IPVS_SVC_ATTR_PE_NAME: unknown persistence engine",
            ));
        }
        if af == Af::Inet6 && !(1..=128).contains(&self.netmask) {
            return Err(Error::new(
                Errno::Einval,
                c"IPVS_SVC_ATTR_NETMASK: IPv6 prefix length must be 1..128",
            ));
        }
        Ok(())
    }

    /// The persistence prefix length the netmask stands for.
    pub fn persist_prefix(&self, af: Af) -> u8 {
        match af {
            Af::Inet => {
                let mask = u32::from_be_bytes(self.netmask.to_ne_bytes());
                u8::try_from(mask.leading_ones()).unwrap_or(32)
            }
            Af::Inet6 => u8::try_from(self.netmask.min(128)).unwrap_or(128),
        }
    }
}

/// A flags update as netlink carries it (`struct ip_vs_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsUpdate {
    /// New values of the bits in `mask`.
    pub flags: u32,
    /// Bits to change.
    pub mask: u32,
}

impl FlagsUpdate {
    /// Applies the update to the current flags (0 for a new service), as
    /// upstream: `(old & !mask) | (flags & mask)`. `HASHED` is internal and
    /// always kept as it was.
    pub fn apply(&self, old: u32) -> u32 {
        let new = (old & !self.mask) | (self.flags & self.mask);
        (new & !svc_flags::HASHED) | (old & svc_flags::HASHED)
    }
}

/// Forwarding methods (`IP_VS_CONN_F_*` & `IP_VS_CONN_F_FWD_MASK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwdMethod {
    /// NAT (masquerading), 0.
    Masq,
    /// Local node, 1.
    Local,
    /// IP tunnel, 2.
    Tunnel,
    /// Direct routing, 3.
    Droute,
    /// Cache bypass, 4.
    Bypass,
    /// Full NAT, 5 (Alibaba LVS's `IP_VS_CONN_F_FULLNAT`): source and
    /// destination rewritten, the source to a local address of the
    /// service's pool. An ipvs_rs extension: upstream kernels reject it.
    FullNat,
}

/// `IP_VS_CONN_F_FWD_MASK`.
pub const FWD_MASK: u32 = 0x7;

impl FwdMethod {
    /// From the netlink value (upstream masks it with `FWD_MASK`).
    pub fn from_raw(v: u32) -> Option<FwdMethod> {
        match v & FWD_MASK {
            0 => Some(FwdMethod::Masq),
            1 => Some(FwdMethod::Local),
            2 => Some(FwdMethod::Tunnel),
            3 => Some(FwdMethod::Droute),
            4 => Some(FwdMethod::Bypass),
            5 => Some(FwdMethod::FullNat),
            _ => None,
        }
    }

    /// The netlink value.
    pub fn raw(self) -> u32 {
        match self {
            FwdMethod::Masq => 0,
            FwdMethod::Local => 1,
            FwdMethod::Tunnel => 2,
            FwdMethod::Droute => 3,
            FwdMethod::Bypass => 4,
            FwdMethod::FullNat => 5,
        }
    }

    /// ipvsadm's name (`/proc/net/ip_vs`).
    pub fn name(self) -> &'static str {
        match self {
            FwdMethod::Masq => "Masq",
            FwdMethod::Local => "Local",
            FwdMethod::Tunnel => "Tunnel",
            FwdMethod::Droute => "Route",
            FwdMethod::Bypass => "Bypass",
            FwdMethod::FullNat => "FullNat",
        }
    }
}

/// Tunnel encapsulations for `FwdMethod::Tunnel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunType {
    /// IP in IP (0).
    Ipip,
    /// Generic UDP encapsulation (1).
    Gue,
    /// GRE (2).
    Gre,
}

impl TunType {
    /// From the netlink value.
    pub fn from_raw(v: u8) -> Option<TunType> {
        match v {
            0 => Some(TunType::Ipip),
            1 => Some(TunType::Gue),
            2 => Some(TunType::Gre),
            _ => None,
        }
    }

    /// The netlink value.
    pub fn raw(self) -> u8 {
        match self {
            TunType::Ipip => 0,
            TunType::Gue => 1,
            TunType::Gre => 2,
        }
    }
}

/// What identifies a real server within its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestKey {
    /// Address (family included).
    pub addr: Addr,
    /// Port, host order.
    pub port: u16,
}

/// The settable part of a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConf {
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Weight; 0 means quiescent (no new connections).
    pub weight: i32,
    /// Upper connection threshold (0: none).
    pub u_thresh: u32,
    /// Lower connection threshold.
    pub l_thresh: u32,
    /// Tunnel encapsulation.
    pub tun_type: TunType,
    /// Tunnel port (GUE), host order.
    pub tun_port: u16,
    /// Tunnel flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
    pub tun_flags: u16,
}

impl DestConf {
    /// Upstream's checks when a real server is added or edited.
    pub fn validate(&self, svc_af: Af, dest_af: Af) -> Result<()> {
        if self.weight < 0 {
            return Err(Error::new(
                Errno::Erange,
                c"IPVS_DEST_ATTR_WEIGHT: must not be negative",
            ));
        }
        if self.l_thresh > self.u_thresh {
            return Err(Error::new(
                Errno::Erange,
                c"IPVS_DEST_ATTR_L_THRESH: higher than IPVS_DEST_ATTR_U_THRESH",
            ));
        }
        if self.u_thresh > i32::MAX as u32 {
            return Err(Error::new(
                Errno::Einval,
                c"IPVS_DEST_ATTR_U_THRESH: larger than INT_MAX",
            ));
        }
        if self.tun_type == TunType::Gue && self.tun_port == 0 {
            return Err(Error::new(
                Errno::Einval,
                c"IPVS_DEST_ATTR_TUN_PORT: required for GUE tunnels",
            ));
        }
        if dest_af != svc_af && self.fwd != FwdMethod::Tunnel {
            return Err(Error::new(
                Errno::Einval,
                c"IPVS_DEST_ATTR_ADDR_FAMILY: a real server of another family needs tunnel forwarding",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(weight: i32, l: u32, u: u32) -> DestConf {
        DestConf {
            fwd: FwdMethod::Masq,
            weight,
            u_thresh: u,
            l_thresh: l,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    #[test]
    fn flags_update_like_upstream() {
        let f = FlagsUpdate {
            flags: svc_flags::PERSISTENT,
            mask: !0,
        };
        assert_eq!(f.apply(0), svc_flags::PERSISTENT);
        assert_eq!(
            f.apply(svc_flags::HASHED | svc_flags::ONEPACKET),
            svc_flags::PERSISTENT | svc_flags::HASHED
        );
        let partial = FlagsUpdate {
            flags: 0,
            mask: svc_flags::SCHED1,
        };
        assert_eq!(
            partial.apply(svc_flags::SCHED1 | svc_flags::PERSISTENT),
            svc_flags::PERSISTENT
        );
    }

    #[test]
    fn dest_rules() {
        assert!(dest(1, 0, 0).validate(Af::Inet, Af::Inet).is_ok());
        assert_eq!(
            dest(-1, 0, 0)
                .validate(Af::Inet, Af::Inet)
                .unwrap_err()
                .errno,
            Errno::Erange
        );
        assert_eq!(
            dest(1, 5, 4)
                .validate(Af::Inet, Af::Inet)
                .unwrap_err()
                .errno,
            Errno::Erange
        );
        assert_eq!(
            dest(1, 0, u32::MAX)
                .validate(Af::Inet, Af::Inet)
                .unwrap_err()
                .errno,
            Errno::Einval
        );
        assert_eq!(
            dest(1, 0, 0)
                .validate(Af::Inet, Af::Inet6)
                .unwrap_err()
                .errno,
            Errno::Einval
        );
        let mut tun = dest(1, 0, 0);
        tun.fwd = FwdMethod::Tunnel;
        assert!(tun.validate(Af::Inet, Af::Inet6).is_ok());
        tun.tun_type = TunType::Gue;
        assert!(tun.validate(Af::Inet, Af::Inet).is_err());
        tun.tun_port = 6080;
        assert!(tun.validate(Af::Inet, Af::Inet).is_ok());
    }

    #[test]
    fn names_and_netmask() {
        assert_eq!(Name::new("wlc").unwrap().as_str(), "wlc");
        assert!(Name::new("a-name-longer-than-15").is_none());
        let conf = ServiceConf {
            sched: Name::new("rr").unwrap(),
            pe: Name::default(),
            flags: 0,
            timeout: 300,
            netmask: u32::from_ne_bytes([255, 255, 255, 0]),
        };
        assert_eq!(conf.persist_prefix(Af::Inet), 24);
        assert!(conf.validate(Af::Inet, true).is_ok());
        assert_eq!(
            conf.validate(Af::Inet, false).unwrap_err().errno,
            Errno::Enoent
        );
        assert_eq!(
            conf.validate(Af::Inet6, true).unwrap_err().errno,
            Errno::Einval
        );
    }
}
