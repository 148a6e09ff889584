// SPDX-License-Identifier: GPL-2.0
//! Transport headers (TCP, UDP, SCTP): the connection-lookup tuple and
//! full checksum computation.

use super::ipv4::{Fragment, Ipv4Header};
use super::{
    csum, rd16, rd4, rd8, wr, wr16, PacketError, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP,
};
use crate::addr::{Addr, Af};
use crate::service::Protocol;

/// Length of a TCP header without options.
pub const TCP_MIN_HLEN: usize = 20;
/// Length of a UDP header.
pub const UDP_HLEN: usize = 8;
/// Length of the SCTP common header.
pub const SCTP_HLEN: usize = 12;
/// Offset of the checksum in a TCP header.
pub const TCP_CHECK_OFF: usize = 16;
/// Offset of the checksum in a UDP header.
pub const UDP_CHECK_OFF: usize = 6;
/// Offset of the checksum in an SCTP common header.
pub const SCTP_CHECK_OFF: usize = 8;
/// Offset of the checksum in an ICMP header.
pub const ICMP_CHECK_OFF: usize = 2;

/// TCP header flag bits (byte 13 of the TCP header).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// What the data path needs to look a packet up (upstream's
/// `struct ip_vs_iphdr` plus the ports and TCP flags). Offsets are from the
/// start of the slice that was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Address family (always [`Af::Inet`] for now).
    pub af: Af,
    /// IP protocol number.
    pub proto: u8,
    /// Source address.
    pub saddr: Addr,
    /// Destination address.
    pub daddr: Addr,
    /// Source port, host order (0 unless `has_ports`).
    pub sport: u16,
    /// Destination port, host order (0 unless `has_ports`).
    pub dport: u16,
    /// Whether the ports were read: TCP, UDP or SCTP and not a later
    /// fragment.
    pub has_ports: bool,
    /// Offset of the IP header (0 for a packet, after the ICMP header for
    /// the packet quoted in an ICMP error; upstream's `off`).
    pub l3_off: usize,
    /// IP header length in bytes, options included.
    pub l3_len: usize,
    /// Offset of the transport header (`l3_off + l3_len`; upstream's `len`).
    pub l4_off: usize,
    /// IP total length from the header.
    pub total_len: u16,
    /// TCP flags ([`tcp_flags`]); 0 for other protocols or when not present.
    pub tcp_flags: u8,
    /// The packet's place in a fragmented datagram.
    pub fragment: Fragment,
}

impl PacketInfo {
    /// The protocol as a virtual-service protocol, if it is one.
    #[inline]
    pub fn protocol(&self) -> Option<Protocol> {
        Protocol::from_raw(u16::from(self.proto))
    }

    /// The same tuple with source and destination swapped (for looking up
    /// the connection a reply or an ICMP-quoted packet belongs to).
    pub fn inverse(&self) -> PacketInfo {
        PacketInfo {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
            ..*self
        }
    }
}

/// Parses a packet starting at its IPv4 header: [`Ipv4Header::parse`] and,
/// unless it is a later fragment, the transport header. Validation for TCP:
/// the 20-byte header is within the packet, data offset >= 5 and within the
/// IP payload; UDP: the 8-byte header is within the packet, length >= 8 and
/// (unless fragmented) within the IP payload; SCTP: the 12-byte common
/// header is within the packet. Only the fixed part of the transport header
/// must be in the slice (TCP options may lie in the non-linear part).
///
/// This is the data path's parser (twice per packet at a director), so it
/// reads the fixed headers as arrays, one bounds check each, and builds
/// the result in place; [`parse_with_header`] is the same validation
/// through [`Ipv4Header`] (the tests check that both agree). Always
/// inlined: the data path's caller then builds its result in place.
#[inline(always)]
pub fn parse_packet(buf: &[u8]) -> Result<PacketInfo, PacketError> {
    let t = PacketError::Truncated;
    let Some(&vihl) = buf.first() else {
        return Err(t);
    };
    let Some(ip) = buf.first_chunk::<20>() else {
        return Err(t);
    };
    let [_, _, tl0, tl1, _, _, f0, f1, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = *ip;
    if vihl >> 4 != 4 {
        return Err(PacketError::BadVersion);
    }
    let header_len = usize::from(vihl & 0x0f) * 4;
    if header_len < super::ipv4::IPV4_MIN_HLEN {
        return Err(PacketError::BadHeaderLength);
    }
    if header_len > buf.len() {
        return Err(t);
    }
    let total_len = u16::from_be_bytes([tl0, tl1]);
    let total = usize::from(total_len);
    if total < header_len {
        return Err(PacketError::BadTotalLength);
    }
    let frag = u16::from_be_bytes([f0, f1]);
    let fragment = if frag & 0x1fff != 0 {
        Fragment::Later
    } else if frag & 0x2000 != 0 {
        Fragment::First
    } else {
        Fragment::None
    };
    let mut info = PacketInfo {
        af: Af::Inet,
        proto,
        saddr: Addr::v4([s0, s1, s2, s3]),
        daddr: Addr::v4([d0, d1, d2, d3]),
        sport: 0,
        dport: 0,
        has_ports: false,
        l3_off: 0,
        l3_len: header_len,
        l4_off: header_len,
        total_len,
        tcp_flags: 0,
        fragment,
    };
    if fragment == Fragment::Later || !has_ports(proto) {
        return Ok(info);
    }
    // The transport bytes within both the slice and the total length.
    let l4 = buf.get(header_len..total.min(buf.len())).unwrap_or(&[]);
    let payload = total - header_len;
    let ports = match proto {
        IPPROTO_TCP => {
            let Some(tcp) = l4.first_chunk::<TCP_MIN_HLEN>() else {
                return Err(t);
            };
            let doff = usize::from(tcp[12] >> 4) * 4;
            if doff < TCP_MIN_HLEN || doff > payload {
                return Err(PacketError::BadL4Header);
            }
            info.tcp_flags = tcp[13];
            [tcp[0], tcp[1], tcp[2], tcp[3]]
        }
        IPPROTO_UDP => {
            let Some(udp) = l4.first_chunk::<UDP_HLEN>() else {
                return Err(t);
            };
            let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            if ulen < UDP_HLEN || (fragment == Fragment::None && ulen > payload) {
                return Err(PacketError::BadL4Header);
            }
            [udp[0], udp[1], udp[2], udp[3]]
        }
        _ => {
            let Some(sctp) = l4.first_chunk::<SCTP_HLEN>() else {
                return Err(t);
            };
            [sctp[0], sctp[1], sctp[2], sctp[3]]
        }
    };
    let [p0, p1, p2, p3] = ports;
    info.sport = u16::from_be_bytes([p0, p1]);
    info.dport = u16::from_be_bytes([p2, p3]);
    info.has_ports = true;
    Ok(info)
}

/// [`parse_packet`], also returning the IP header.
pub(crate) fn parse_with_header(buf: &[u8]) -> Result<(Ipv4Header, PacketInfo), PacketError> {
    let h = Ipv4Header::parse(buf)?;
    let end = h.end(buf.len());
    let mut info = base_info(&h, 0)?;
    if info.fragment == Fragment::Later {
        return Ok((h, info));
    }
    let l4 = info.l4_off;
    let avail = end.saturating_sub(l4);
    let payload = usize::from(h.total_len).saturating_sub(h.header_len);
    let t = PacketError::Truncated;
    match h.protocol {
        IPPROTO_TCP => {
            if avail < TCP_MIN_HLEN {
                return Err(t);
            }
            let doff = usize::from(rd8(buf, l4 + 12).ok_or(t)? >> 4) * 4;
            if doff < TCP_MIN_HLEN || doff > payload {
                return Err(PacketError::BadL4Header);
            }
            info.tcp_flags = rd8(buf, l4 + 13).ok_or(t)?;
        }
        IPPROTO_UDP => {
            if avail < UDP_HLEN {
                return Err(t);
            }
            let ulen = usize::from(rd16(buf, l4 + 4).ok_or(t)?);
            if ulen < UDP_HLEN || (info.fragment == Fragment::None && ulen > payload) {
                return Err(PacketError::BadL4Header);
            }
        }
        IPPROTO_SCTP => {
            if avail < SCTP_HLEN {
                return Err(t);
            }
        }
        _ => return Ok((h, info)),
    }
    read_ports(buf, &mut info)?;
    Ok((h, info))
}

/// The tuple fields of an IPv4 header at `l3_off`, without ports.
pub(crate) fn base_info(h: &Ipv4Header, l3_off: usize) -> Result<PacketInfo, PacketError> {
    Ok(PacketInfo {
        af: Af::Inet,
        proto: h.protocol,
        saddr: h.saddr,
        daddr: h.daddr,
        sport: 0,
        dport: 0,
        has_ports: false,
        l3_off,
        l3_len: h.header_len,
        l4_off: l3_off
            .checked_add(h.header_len)
            .ok_or(PacketError::Truncated)?,
        total_len: h.total_len,
        tcp_flags: 0,
        fragment: h.fragment(),
    })
}

/// Reads the ports at `info.l4_off` and sets `has_ports`.
pub(crate) fn read_ports(buf: &[u8], info: &mut PacketInfo) -> Result<(), PacketError> {
    let t = PacketError::Truncated;
    info.sport = rd16(buf, info.l4_off).ok_or(t)?;
    info.dport = rd16(buf, info.l4_off + 2).ok_or(t)?;
    info.has_ports = true;
    Ok(())
}

/// Whether `proto` carries 16-bit source and destination ports at the
/// start of its header.
pub(crate) fn has_ports(proto: u8) -> bool {
    matches!(proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
}

/// The IP header and the transport segment's bounds (`l4_off..end`) of a
/// complete, unfragmented packet.
fn segment(buf: &[u8]) -> Result<(Ipv4Header, usize, usize), PacketError> {
    let (h, info) = parse_with_header(buf)?;
    if info.fragment != Fragment::None {
        return Err(PacketError::Fragment);
    }
    let total = usize::from(h.total_len);
    if total > buf.len() {
        return Err(PacketError::Incomplete);
    }
    let end = match h.protocol {
        IPPROTO_UDP => {
            let ulen = usize::from(rd16(buf, info.l4_off + 4).ok_or(PacketError::Truncated)?);
            info.l4_off + ulen
        }
        IPPROTO_TCP | IPPROTO_SCTP | IPPROTO_ICMP => total,
        _ => return Err(PacketError::UnsupportedProtocol),
    };
    Ok((h, info.l4_off, end))
}

/// The checksum the transport header of a complete packet should carry,
/// computed over the whole segment with the checksum field taken as zero,
/// and the field's offset in `buf`. For UDP a result of 0 is mapped to
/// 0xffff.
fn compute(buf: &[u8]) -> Result<(usize, ComputedCsum), PacketError> {
    let (h, l4, end) = segment(buf)?;
    let seg = buf.get(l4..end).ok_or(PacketError::Truncated)?;
    let len = u16::try_from(seg.len()).map_err(|_| PacketError::TooBig)?;
    let (check_off, width) = match h.protocol {
        IPPROTO_TCP => (TCP_CHECK_OFF, 2),
        IPPROTO_UDP => (UDP_CHECK_OFF, 2),
        IPPROTO_ICMP => (ICMP_CHECK_OFF, 2),
        _ => (SCTP_CHECK_OFF, 4),
    };
    if h.protocol == IPPROTO_SCTP {
        let crc = csum::sctp_checksum(seg);
        return Ok((l4 + check_off, ComputedCsum::Crc(crc.to_le_bytes())));
    }
    let head = seg.get(..check_off).ok_or(PacketError::Truncated)?;
    let tail = seg.get(check_off + width..).ok_or(PacketError::Truncated)?;
    let seed = if h.protocol == IPPROTO_ICMP {
        0
    } else {
        csum::pseudo_header_sum_v4(h.saddr4(), h.daddr4(), h.protocol, len)
    };
    let c = csum::finish(csum::sum(tail, csum::sum(head, seed)));
    let c = if h.protocol == IPPROTO_UDP && c == 0 {
        0xffff
    } else {
        c
    };
    Ok((l4 + check_off, ComputedCsum::Inet(c)))
}

/// A computed transport checksum.
enum ComputedCsum {
    /// A 16-bit Internet checksum.
    Inet(u16),
    /// The SCTP CRC32c field bytes.
    Crc([u8; 4]),
}

/// Verifies the transport checksum of a complete, unfragmented packet over
/// the whole segment: TCP and UDP with the pseudo-header (a UDP checksum of
/// 0 means "none" and verifies), SCTP's CRC32c, and ICMP. Errors:
/// [`PacketError::Fragment`] for fragments, [`PacketError::Incomplete`] if
/// the slice is shorter than the total length,
/// [`PacketError::UnsupportedProtocol`] for other protocols.
pub fn l4_checksum_ok(buf: &[u8]) -> Result<bool, PacketError> {
    let (h, l4, end) = segment(buf)?;
    let t = PacketError::Truncated;
    let seg = buf.get(l4..end).ok_or(t)?;
    let len = u16::try_from(seg.len()).map_err(|_| PacketError::TooBig)?;
    let seed = match h.protocol {
        IPPROTO_SCTP => {
            let crc = csum::sctp_checksum(seg).to_le_bytes();
            return Ok(rd4(seg, SCTP_CHECK_OFF).ok_or(t)? == crc);
        }
        IPPROTO_ICMP => 0,
        IPPROTO_UDP if rd16(seg, UDP_CHECK_OFF).ok_or(t)? == 0 => return Ok(true),
        _ => csum::pseudo_header_sum_v4(h.saddr4(), h.daddr4(), h.protocol, len),
    };
    // Summing the checksum field along with the data gives -0 for a
    // correct checksum in either representation of zero.
    Ok(csum::fold(csum::sum(seg, seed)) == 0xffff)
}

/// Recomputes the transport checksum of a complete, unfragmented packet
/// from scratch (TCP/UDP with the pseudo-header, UDP 0 stored as 0xffff;
/// SCTP CRC32c; ICMP). Use it instead of the incremental updates when the
/// payload changed or when upstream's behaviour of filling in a zero UDP
/// checksum is wanted. Errors as [`l4_checksum_ok`].
pub fn fill_l4_checksum(buf: &mut [u8]) -> Result<(), PacketError> {
    let (off, c) = compute(buf)?;
    match c {
        ComputedCsum::Inet(c) => wr16(buf, off, c),
        ComputedCsum::Crc(crc) => wr(buf, off, &crc),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn syn_tuple() {
        let i = parse_packet(&TCP_SYN).unwrap();
        assert_eq!(i.af, Af::Inet);
        assert_eq!(i.proto, IPPROTO_TCP);
        assert_eq!(i.protocol(), Some(Protocol::Tcp));
        assert_eq!(i.saddr, Addr::v4([10, 0, 0, 2]));
        assert_eq!(i.daddr, Addr::v4([10, 0, 1, 100]));
        assert_eq!((i.sport, i.dport), (40000, 80));
        assert!(i.has_ports);
        assert_eq!((i.l3_off, i.l3_len, i.l4_off), (0, 20, 20));
        assert_eq!(i.tcp_flags, tcp_flags::SYN);
        assert_eq!(i.fragment, Fragment::None);
        assert_eq!(i.total_len, 40);
        let r = i.inverse();
        assert_eq!(
            (r.saddr, r.sport, r.daddr, r.dport),
            (i.daddr, 80, i.saddr, 40000)
        );
        assert!(l4_checksum_ok(&TCP_SYN).unwrap());
    }

    #[test]
    fn udp_and_sctp_tuples() {
        let i = parse_packet(&UDP_DNS).unwrap();
        assert_eq!((i.proto, i.sport, i.dport), (IPPROTO_UDP, 40001, 53));
        assert!(l4_checksum_ok(&UDP_DNS).unwrap());
        let i = parse_packet(&SCTP_DATA).unwrap();
        assert_eq!((i.proto, i.sport, i.dport), (IPPROTO_SCTP, 5000, 80));
        assert!(l4_checksum_ok(&SCTP_DATA).unwrap());
        let mut p = SCTP_DATA;
        p[p.len() - 1] ^= 1;
        assert!(!l4_checksum_ok(&p).unwrap());
        fill_l4_checksum(&mut p).unwrap();
        assert!(l4_checksum_ok(&p).unwrap());
    }

    #[test]
    fn tcp_with_options_and_payload() {
        let i = parse_packet(&TCP_OPTS_DATA).unwrap();
        assert_eq!((i.l3_len, i.l4_off), (24, 24));
        assert_eq!(i.tcp_flags, tcp_flags::PSH | tcp_flags::ACK);
        assert!(l4_checksum_ok(&TCP_OPTS_DATA).unwrap());
        // Only the headers in the slice: parsing still works, full
        // verification reports the packet incomplete.
        assert!(parse_packet(&TCP_OPTS_DATA[..44]).is_ok());
        assert_eq!(
            l4_checksum_ok(&TCP_OPTS_DATA[..44]),
            Err(PacketError::Incomplete)
        );
    }

    #[test]
    fn fill_matches_scapy() {
        for pkt in [
            &TCP_SYN[..],
            &TCP_OPTS_DATA[..],
            &UDP_DNS[..],
            &SCTP_DATA[..],
        ] {
            let mut p = pkt.to_vec();
            let i = parse_packet(&p).unwrap();
            let off = i.l4_off
                + match i.proto {
                    IPPROTO_TCP => 16,
                    IPPROTO_UDP => 6,
                    _ => 8,
                };
            p[off] ^= 0x5a;
            assert!(!l4_checksum_ok(&p).unwrap());
            fill_l4_checksum(&mut p).unwrap();
            assert_eq!(p, pkt);
        }
    }

    #[test]
    fn udp_zero_checksum_verifies() {
        let mut p = UDP_DNS;
        p[26] = 0;
        p[27] = 0;
        assert!(l4_checksum_ok(&p).unwrap());
    }

    #[test]
    fn rejects_bad_transport_headers() {
        let mut p = TCP_SYN;
        p[32] = 0x40; // data offset 4
        assert_eq!(parse_packet(&p), Err(PacketError::BadL4Header));
        p[32] = 0x60; // data offset 6 = 24 bytes > 20-byte payload
        assert_eq!(parse_packet(&p), Err(PacketError::BadL4Header));
        assert_eq!(parse_packet(&TCP_SYN[..39]), Err(PacketError::Truncated));
        let mut p = TCP_SYN;
        p[3] = 39; // total length cuts the TCP header
        assert_eq!(parse_packet(&p), Err(PacketError::Truncated));
        let mut p = UDP_DNS;
        p[24] = 0;
        p[25] = 7;
        assert_eq!(parse_packet(&p), Err(PacketError::BadL4Header));
        p[25] = 0xff;
        assert_eq!(parse_packet(&p), Err(PacketError::BadL4Header));
    }

    #[test]
    fn later_fragment_has_no_ports() {
        let mut p = TCP_SYN;
        p[7] = 1;
        let i = parse_packet(&p).unwrap();
        assert!(!i.has_ports);
        assert_eq!((i.sport, i.dport), (0, 0));
        assert_eq!(i.fragment, Fragment::Later);
        assert_eq!(l4_checksum_ok(&p), Err(PacketError::Fragment));
    }

    #[test]
    fn other_protocols() {
        let i = parse_packet(&ICMP_ECHO).unwrap();
        assert_eq!(i.proto, IPPROTO_ICMP);
        assert!(!i.has_ports);
        assert_eq!(i.protocol(), None);
        assert!(l4_checksum_ok(&ICMP_ECHO).unwrap());
        let mut p = ICMP_ECHO;
        p[9] = 47; // GRE
        assert_eq!(l4_checksum_ok(&p), Err(PacketError::UnsupportedProtocol));
    }
}
