// SPDX-License-Identifier: GPL-2.0
//! Persistence templates (`ip_vs_sched_persist`, `ip_vs_core.c`).
//!
//! A persistent service remembers, per client network, which real server
//! it chose, in a template entry of the connection table with the
//! `TEMPLATE` flag. Its key depends on how the packet matched the
//! service:
//!
//! | case | protocol | client | cport | vaddr | vport |
//! |---|---|---|---|---|---|
//! | port-specific service, packet to its port | packet's | masked | 0 | packet's | the port |
//! | the same for port 21 (FTP) | packet's | masked | 0 | packet's | 0 |
//! | port-zero ("all ports") service | packet's | masked | 0 | packet's | 0 |
//! | firewall-mark service | `IPPROTO_IP` | masked | 0 | the mark | 0 |
//!
//! The real-server port stored in a new template is the server's port for
//! the port-specific non-FTP case and 0 otherwise; the connection made
//! from the template goes to the server's port when the packet went to
//! the service's port and the server has one, else to the packet's port.

use super::key::{InKey, IPPROTO_IP};
use crate::addr::{Addr, Af};
use crate::service::{Protocol, ServiceKey};

/// `FTPPORT`: a port-specific persistent service on this port makes
/// all-ports templates, so FTP data connections follow the control one.
pub const FTPPORT: u16 = 21;

/// The service's port as upstream keeps it (0 for firewall marks).
fn svc_port(svc: &ServiceKey) -> u16 {
    match svc {
        ServiceKey::Addr { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    }
}

/// The client's network, the template's granularity: an IPv4 address
/// ANDed with the service's netmask exactly as stored
/// ([`crate::service::ServiceConf::netmask`]: the mask's bytes in network
/// order read in host order, so any mask, contiguous or not, applies as
/// upstream's `saddr & netmask`), an IPv6 address cut to the prefix length
/// the netmask holds (`ipv6_addr_prefix`).
pub fn client_net(af: Af, caddr: &Addr, netmask: u32) -> Addr {
    match af {
        Af::Inet => {
            let [a, b, c, d, ..] = caddr.inet();
            let [m0, m1, m2, m3] = netmask.to_ne_bytes();
            Addr::v4([a & m0, b & m1, c & m2, d & m3])
        }
        Af::Inet6 => Addr::from_inet(Af::Inet6, caddr.inet())
            .masked(u8::try_from(netmask.min(128)).unwrap_or(128)),
    }
}

/// The virtual "address" of firewall-mark templates: the mark in network
/// order in the first 4 bytes, in the service's family.
pub fn fwmark_vaddr(af: Af, mark: u32) -> Addr {
    let [a, b, c, d] = mark.to_be_bytes();
    Addr::from_inet(af, [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
}

/// The key of the template a packet of a persistent service uses
/// (looked up with [`InKey::matches_template`], and the identity of a new
/// template): `svc` the service, `netmask` its
/// [`crate::service::ServiceConf::netmask`], `protocol` the packet's,
/// `caddr` the client (packet source), `vaddr` and `vport` the packet's
/// destination.
pub fn template_key(
    svc: &ServiceKey,
    netmask: u32,
    protocol: Protocol,
    caddr: &Addr,
    vaddr: &Addr,
    vport: u16,
) -> InKey {
    let af = svc.af();
    let port = svc_port(svc);
    let mut key = InKey {
        protocol: protocol.raw(),
        caddr: client_net(af, caddr, netmask),
        cport: 0,
        vaddr: *vaddr,
        vport: 0,
    };
    if vport == port {
        if port != FTPPORT {
            key.vport = vport;
        }
    } else if let ServiceKey::Fwmark { mark, .. } = svc {
        // A firewall-mark service's port is 0, so a packet to port 0 of a
        // marked service takes the branch above, as upstream.
        key.protocol = IPPROTO_IP;
        key.vaddr = fwmark_vaddr(af, *mark);
    }
    key
}

/// The real-server port a new template records: the server's for a
/// packet to the service's own port (unless FTP), 0 otherwise.
pub fn template_dport(svc: &ServiceKey, vport: u16, dest_port: u16) -> u16 {
    let port = svc_port(svc);
    if vport == port && port != FTPPORT {
        dest_port
    } else {
        0
    }
}

/// The real-server port of a connection of a persistent service: the
/// server's when the packet went to the service's port and the server has
/// a port, the packet's otherwise.
pub fn persist_conn_dport(svc: &ServiceKey, vport: u16, dest_port: u16) -> u16 {
    if vport == svc_port(svc) && dest_port != 0 {
        dest_port
    } else {
        vport
    }
}

/// The real-server port of a connection of a non-persistent service
/// (`ip_vs_schedule`): the server's, or the packet's if the server has
/// none.
#[inline]
pub fn conn_dport(vport: u16, dest_port: u16) -> u16 {
    if dest_port != 0 {
        dest_port
    } else {
        vport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NM24: u32 = u32::from_ne_bytes([255, 255, 255, 0]);
    const NM32: u32 = u32::from_ne_bytes([255, 255, 255, 255]);

    fn svc(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([192, 0, 2, 1]),
            port,
        }
    }

    #[test]
    fn port_specific() {
        let s = svc(443);
        let c = Addr::v4([198, 51, 100, 77]);
        let v = Addr::v4([192, 0, 2, 1]);
        let k = template_key(&s, NM24, Protocol::Tcp, &c, &v, 443);
        assert_eq!(
            k,
            InKey {
                protocol: 6,
                caddr: Addr::v4([198, 51, 100, 0]),
                cport: 0,
                vaddr: v,
                vport: 443,
            }
        );
        let k32 = template_key(&s, NM32, Protocol::Tcp, &c, &v, 443);
        assert_eq!(k32.caddr, c);
        assert_eq!(template_dport(&s, 443, 8443), 8443);
        assert_eq!(persist_conn_dport(&s, 443, 8443), 8443);
        assert_eq!(persist_conn_dport(&s, 443, 0), 443);
    }

    #[test]
    fn ftp() {
        let s = svc(FTPPORT);
        let c = Addr::v4([198, 51, 100, 77]);
        let v = Addr::v4([192, 0, 2, 1]);
        let k = template_key(&s, NM32, Protocol::Tcp, &c, &v, 21);
        assert_eq!(k.vport, 0);
        assert_eq!(k.protocol, 6);
        assert_eq!(template_dport(&s, 21, 2121), 0);
        // The connection itself still goes to the server's port.
        assert_eq!(persist_conn_dport(&s, 21, 2121), 2121);
    }

    #[test]
    fn port_zero_service() {
        let s = svc(0);
        let c = Addr::v4([198, 51, 100, 77]);
        let v = Addr::v4([192, 0, 2, 1]);
        let k = template_key(&s, NM24, Protocol::Udp, &c, &v, 5060);
        assert_eq!(
            k,
            InKey {
                protocol: 17,
                caddr: Addr::v4([198, 51, 100, 0]),
                cport: 0,
                vaddr: v,
                vport: 0,
            }
        );
        assert_eq!(template_dport(&s, 5060, 80), 0);
        // Packets keep their port (the server's port does not apply).
        assert_eq!(persist_conn_dport(&s, 5060, 80), 5060);
        assert_eq!(persist_conn_dport(&s, 5060, 0), 5060);
    }

    #[test]
    fn fwmark_service() {
        let s = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 0x0102_0304,
        };
        let c = Addr::v4([198, 51, 100, 77]);
        let v = Addr::v4([192, 0, 2, 9]);
        let k = template_key(&s, NM24, Protocol::Tcp, &c, &v, 80);
        assert_eq!(
            k,
            InKey {
                protocol: IPPROTO_IP,
                caddr: Addr::v4([198, 51, 100, 0]),
                cport: 0,
                vaddr: Addr::v4([1, 2, 3, 4]),
                vport: 0,
            }
        );
        // Every port and protocol of the mark shares the template.
        assert_eq!(
            template_key(&s, NM24, Protocol::Udp, &c, &Addr::v4([192, 0, 2, 10]), 53),
            k
        );
        assert_eq!(template_dport(&s, 80, 8080), 0);
        assert_eq!(persist_conn_dport(&s, 80, 8080), 80);
        // A packet to port 0 matches the (zero) service port: upstream
        // then builds a port-specific style key with the packet's address.
        let k0 = template_key(&s, NM24, Protocol::Tcp, &c, &v, 0);
        assert_eq!(k0.protocol, 6);
        assert_eq!(k0.vaddr, v);
        assert_eq!(k0.vport, 0);
    }

    #[test]
    fn ipv6_prefix_and_fwmark() {
        let mut cb = [0u8; 16];
        cb[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78]);
        cb[15] = 0x42;
        let c = Addr::v6(cb);
        let mut vb = [0u8; 16];
        vb[0] = 0x20;
        vb[15] = 1;
        let v = Addr::v6(vb);
        let s = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: v,
            port: 80,
        };
        let k = template_key(&s, 48, Protocol::Tcp, &c, &v, 80);
        let mut want = [0u8; 16];
        want[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34]);
        assert_eq!(k.caddr, Addr::v6(want));
        assert_eq!(k.vport, 80);
        assert_eq!(client_net(Af::Inet6, &c, 128), c);
        assert_eq!(client_net(Af::Inet6, &c, 999), c);
        let m = ServiceKey::Fwmark {
            af: Af::Inet6,
            mark: 7,
        };
        let k = template_key(&m, 64, Protocol::Tcp, &c, &v, 80);
        let mut mv = [0u8; 16];
        mv[3] = 7;
        assert_eq!(k.vaddr, Addr::v6(mv));
        assert_eq!(k.protocol, IPPROTO_IP);
    }

    #[test]
    fn non_contiguous_ipv4_mask_applies_raw() {
        let c = Addr::v4([198, 51, 100, 77]);
        let nm = u32::from_ne_bytes([255, 0, 255, 0]);
        assert_eq!(client_net(Af::Inet, &c, nm), Addr::v4([198, 0, 100, 0]));
    }

    #[test]
    fn non_persistent_dport() {
        assert_eq!(conn_dport(80, 8080), 8080);
        assert_eq!(conn_dport(80, 0), 80);
    }
}
