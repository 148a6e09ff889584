// SPDX-License-Identifier: GPL-2.0
//! IPIP encapsulation (VS/TUN) for IPv4: the outer header and the path-MTU
//! decisions of upstream's `ip_vs_tunnel_xmit`, `__ip_vs_get_out_rt` and
//! `ensure_mtu_is_adequate`.

use super::ipv4::{require_v4, Ipv4Header, IPV4_MIN_HLEN};
use super::{csum, PacketError, IPPROTO_IPIP};
use crate::addr::Addr;

/// Length of the outer header added by IPIP encapsulation.
pub const IPIP_HLEN: usize = IPV4_MIN_HLEN;
/// The minimum IPv4 MTU (RFC 791); upstream refuses tunnels below it.
pub const IPV4_MIN_MTU: u32 = 68;

/// ECN bits of the TOS byte.
const ECN_MASK: u8 = 0x03;
/// ECN "congestion experienced".
const ECN_CE: u8 = 0x03;
/// ECN "ECT(0)".
const ECN_ECT0: u8 = 0x02;

/// The outer TOS for an inner TOS, upstream's
/// `INET_ECN_encapsulate(tos, tos)`: the DSCP and the ECN field are copied,
/// except that congestion experienced (CE) becomes ECT(0).
pub fn ecn_encapsulate(inner_tos: u8) -> u8 {
    let ecn = if inner_tos & ECN_MASK == ECN_CE {
        ECN_ECT0
    } else {
        inner_tos & ECN_MASK
    };
    (inner_tos & !ECN_MASK) | ecn
}

/// Builds the 20-byte outer IPv4 header to put in front of the packet
/// `inner` (starting at its IPv4 header; only the header is read) of
/// `inner_len` bytes (`skb->len`), as upstream's `ip_vs_tunnel_xmit` and
/// `ip_vs_prepare_tunneled_skb` do: version 4, no options, total length
/// `inner_len + 20`, TOS from the inner header via [`ecn_encapsulate`],
/// DF copied from the inner header if `copy_df` (upstream copies it only
/// when the `pmtu_disc` sysctl is set, the default), no MF and offset 0,
/// TTL copied from the inner header (the caller decrements the inner TTL
/// first with [`super::ipv4::decrement_ttl`], as upstream does for
/// non-local destinations), protocol 4, `saddr` and `daddr`, and the header
/// checksum.
///
/// `id` is the caller's: upstream's `ip_select_ident` (no socket) uses 0
/// when DF is set and `skb->ignore_df` is clear, otherwise the kernel's
/// hashed IP ID generator.
///
/// Errors: invalid inner header (as [`Ipv4Header::parse`]), IPv6 addresses
/// ([`PacketError::UnsupportedFamily`]), `inner_len + 20 > 65535`
/// ([`PacketError::TooBig`]).
pub fn ipip_header(
    inner: &[u8],
    inner_len: usize,
    saddr: Addr,
    daddr: Addr,
    id: u16,
    copy_df: bool,
) -> Result<[u8; IPIP_HLEN], PacketError> {
    let ih = Ipv4Header::parse(inner)?;
    let [s0, s1, s2, s3] = require_v4(&saddr)?;
    let [d0, d1, d2, d3] = require_v4(&daddr)?;
    let total = inner_len
        .checked_add(IPIP_HLEN)
        .and_then(|t| u16::try_from(t).ok())
        .ok_or(PacketError::TooBig)?;
    let [t0, t1] = total.to_be_bytes();
    let [i0, i1] = id.to_be_bytes();
    let frag = if copy_df && ih.df { 0x40 } else { 0 };
    let mut h = [
        0x45,
        ecn_encapsulate(ih.tos),
        t0,
        t1,
        i0,
        i1,
        frag,
        0,
        ih.ttl,
        IPPROTO_IPIP,
        0,
        0,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ];
    let [c0, c1] = csum::ipv4_header_checksum(&h).to_be_bytes();
    if let Some(c) = h.get_mut(10..12) {
        c.copy_from_slice(&[c0, c1]);
    }
    Ok(h)
}

/// The MTU available to the inner packet on a tunnel whose route has MTU
/// `route_mtu` (`dst_mtu`): `route_mtu - 20`, or `None` when that is below
/// 68, in which case upstream drops the packet without an ICMP error.
pub fn ipip_tunnel_mtu(route_mtu: u32) -> Option<u32> {
    route_mtu
        .checked_sub(IPIP_HLEN as u32)
        .filter(|&m| m >= IPV4_MIN_MTU)
}

/// Inputs of [`ipip_mtu_check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmtuParams {
    /// Length of the inner packet (`skb->len`, starting at its IP header).
    pub inner_len: usize,
    /// The inner packet's DF bit.
    pub inner_df: bool,
    /// MTU of the route to the real server (`dst_mtu`), outer header
    /// included.
    pub route_mtu: u32,
    /// The `pmtu_disc` sysctl (default on). When off, tunnelled packets
    /// are fragmented instead of triggering ICMP errors.
    pub pmtu_disc: bool,
    /// The packet is an ICMP error being forwarded for a connection
    /// (upstream's `IP_VS_HDR_ICMP`, `ip_vs_icmp_xmit`): never answered with
    /// another ICMP error.
    pub icmp_related: bool,
    /// The skb is GSO and its segments fit the MTU
    /// (`skb_is_gso && skb_gso_validate_network_len`).
    pub gso_fits: bool,
}

/// Decision of [`ipip_mtu_check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MtuVerdict {
    /// Encapsulate and send (the stack fragments the outer packet if
    /// needed; upstream sets `skb->ignore_df`).
    Send,
    /// Drop the packet and send the client ICMP destination unreachable /
    /// fragmentation needed (`icmp_send(skb, ICMP_DEST_UNREACH,
    /// ICMP_FRAG_NEEDED, htonl(mtu))`) with this next-hop MTU (the route MTU
    /// minus the outer header).
    FragNeeded {
        /// The MTU to report.
        mtu: u32,
    },
    /// Drop the packet silently: the tunnel MTU would be below 68.
    Drop,
}

/// Whether an IPv4 packet can be sent through an IPIP tunnel, as upstream
/// decides in `__ip_vs_get_out_rt` (tunnel MTU = route MTU - 20, below 68
/// → drop) and `ensure_mtu_is_adequate` (with `pmtu_disc` off → send;
/// DF set, longer than the tunnel MTU, not GSO-fitting and not a forwarded
/// ICMP error → frag needed with the tunnel MTU; otherwise send).
pub fn ipip_mtu_check(p: &PmtuParams) -> MtuVerdict {
    let Some(mtu) = ipip_tunnel_mtu(p.route_mtu) else {
        return MtuVerdict::Drop;
    };
    if !p.pmtu_disc {
        return MtuVerdict::Send;
    }
    let len = u32::try_from(p.inner_len).unwrap_or(u32::MAX);
    let exceeds = len > mtu && !p.gso_fits;
    if p.inner_df && exceeds && !p.icmp_related {
        MtuVerdict::FragNeeded { mtu }
    } else {
        MtuVerdict::Send
    }
}

/// The MTU to report to the client when an ICMP fragmentation-needed error
/// for one of our IPIP packets arrives with next-hop MTU `mtu` (the tunnel
/// case of upstream's `ip_vs_in_icmp`): `mtu - 20` if `mtu > 68 + 20`,
/// otherwise `mtu` unchanged. (Upstream prefers the route's resulting PMTU
/// over the reported value when it has one, and only forwards the error if
/// the client's packet had DF set.)
pub fn ipip_inner_frag_mtu(mtu: u32) -> u32 {
    let hlen = IPIP_HLEN as u32;
    if mtu > IPV4_MIN_MTU + hlen {
        mtu - hlen
    } else {
        mtu
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::ipv4;
    use super::*;

    const DIP: Addr = Addr::v4([10, 0, 0, 1]);
    const RS: Addr = Addr::v4([10, 0, 2, 11]);

    #[test]
    fn outer_header_matches_scapy() {
        let h = ipip_header(&TCP_SYN, TCP_SYN.len(), DIP, RS, 0x1234, true).unwrap();
        assert_eq!(h[..], IPIP_SYN[..20]);
        assert_eq!(IPIP_SYN[20..], TCP_SYN);
        assert!(ipv4::header_checksum_ok(&h).unwrap());

        let h = ipip_header(&INNER_CE, INNER_CE.len(), DIP, RS, 0xbeef, true).unwrap();
        assert_eq!(h[..], IPIP_CE[..20]);
        assert_eq!(h[1], 0xba);
        assert_eq!(h[8], 17);
    }

    #[test]
    fn outer_header_df_and_limits() {
        let h = ipip_header(&TCP_SYN, 40, DIP, RS, 7, false).unwrap();
        assert_eq!(h[6], 0);
        assert!(ipv4::header_checksum_ok(&h).unwrap());
        let h = ipip_header(&UDP_DNS, 65515, DIP, RS, 7, true).unwrap();
        assert_eq!(h[6], 0); // inner has no DF
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 65535);
        assert_eq!(
            ipip_header(&UDP_DNS, 65516, DIP, RS, 7, true),
            Err(PacketError::TooBig)
        );
        assert_eq!(
            ipip_header(&TCP_SYN[..10], 40, DIP, RS, 7, true),
            Err(PacketError::Truncated)
        );
        assert_eq!(
            ipip_header(&TCP_SYN, 40, Addr::v6([0; 16]), RS, 7, true),
            Err(PacketError::UnsupportedFamily)
        );
    }

    #[test]
    fn ecn() {
        assert_eq!(ecn_encapsulate(0x00), 0x00);
        assert_eq!(ecn_encapsulate(0x01), 0x01);
        assert_eq!(ecn_encapsulate(0x02), 0x02);
        assert_eq!(ecn_encapsulate(0x03), 0x02);
        assert_eq!(ecn_encapsulate(0xbb), 0xba);
        assert_eq!(ecn_encapsulate(0xb8), 0xb8);
    }

    fn params(inner_len: usize, inner_df: bool, route_mtu: u32) -> PmtuParams {
        PmtuParams {
            inner_len,
            inner_df,
            route_mtu,
            pmtu_disc: true,
            icmp_related: false,
            gso_fits: false,
        }
    }

    #[test]
    fn mtu_decisions() {
        // Fits: 1480 bytes through a 1500 route.
        assert_eq!(ipip_mtu_check(&params(1480, true, 1500)), MtuVerdict::Send);
        // One byte too many with DF: frag needed, MTU 1480.
        assert_eq!(
            ipip_mtu_check(&params(1481, true, 1500)),
            MtuVerdict::FragNeeded { mtu: 1480 }
        );
        // Without DF the outer packet is fragmented.
        assert_eq!(ipip_mtu_check(&params(1500, false, 1500)), MtuVerdict::Send);
        // pmtu_disc off: always send.
        let mut p = params(1500, true, 1500);
        p.pmtu_disc = false;
        assert_eq!(ipip_mtu_check(&p), MtuVerdict::Send);
        // Forwarded ICMP errors never cause ICMP errors.
        let mut p = params(1500, true, 1500);
        p.icmp_related = true;
        assert_eq!(ipip_mtu_check(&p), MtuVerdict::Send);
        // GSO whose segments fit.
        let mut p = params(60000, true, 1500);
        p.gso_fits = true;
        assert_eq!(ipip_mtu_check(&p), MtuVerdict::Send);
        // Tunnel MTU below 68: drop, whatever the packet.
        assert_eq!(ipip_mtu_check(&params(40, false, 87)), MtuVerdict::Drop);
        assert_eq!(ipip_mtu_check(&params(40, false, 88)), MtuVerdict::Send);
        assert_eq!(ipip_mtu_check(&params(40, false, 10)), MtuVerdict::Drop);
        assert_eq!(ipip_tunnel_mtu(1500), Some(1480));
        assert_eq!(ipip_tunnel_mtu(87), None);
    }

    #[test]
    fn inner_frag_mtu() {
        assert_eq!(ipip_inner_frag_mtu(1400), 1380);
        assert_eq!(ipip_inner_frag_mtu(89), 69);
        assert_eq!(ipip_inner_frag_mtu(88), 88);
        assert_eq!(ipip_inner_frag_mtu(0), 0);
    }
}
