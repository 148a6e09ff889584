// SPDX-License-Identifier: GPL-2.0
//! ICMP errors (IPv4): finding the connection an error belongs to and the
//! NAT translation of errors for VS/NAT connections, as upstream's
//! `ip_vs_out_icmp`/`ip_vs_in_icmp` and `ip_vs_nat_icmp`.

use super::csum::{self, CsumDiff};
use super::ipv4::{self, require_v4, Fragment, Ipv4Header, CHECK_OFF, DADDR_OFF, SADDR_OFF};
use super::l4::{self, PacketInfo, TCP_CHECK_OFF, UDP_CHECK_OFF};
use super::{rd16, rd4, rd8, wr, wr16, PacketError, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::addr::Addr;

/// Length of the ICMP header (type, code, checksum, 4 bytes of "rest").
pub const ICMP_HLEN: usize = 8;
/// How much of the quoted packet's transport header must be present.
pub const QUOTED_L4_MIN: usize = 8;

/// ICMP type: destination unreachable.
pub const ICMP_DEST_UNREACH: u8 = 3;
/// ICMP type: source quench.
pub const ICMP_SOURCE_QUENCH: u8 = 4;
/// ICMP type: time exceeded.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMP type: parameter problem.
pub const ICMP_PARAMETERPROB: u8 = 12;
/// ICMP destination-unreachable code: fragmentation needed and DF set.
pub const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMP time-exceeded code: TTL expired in transit.
pub const ICMP_EXC_TTL: u8 = 0;

/// The ICMP error types handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// Destination unreachable (type 3).
    DestUnreachable {
        /// For code 4 (fragmentation needed), the next-hop MTU from the
        /// message (RFC 1191; 0 from pre-RFC 1191 routers).
        frag_needed_mtu: Option<u16>,
    },
    /// Source quench (type 4).
    SourceQuench,
    /// Time exceeded (type 11).
    TimeExceeded,
    /// Parameter problem (type 12).
    ParameterProblem {
        /// The octet the problem was found at.
        pointer: u8,
    },
}

/// A parsed ICMP error and the packet it quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpError {
    /// The outer IP header.
    pub outer: Ipv4Header,
    /// Offset of the ICMP header in the slice.
    pub icmp_off: usize,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The error type and its parameters.
    pub kind: IcmpErrorKind,
    /// The quoted (inner) packet's tuple, offsets from the start of the
    /// slice (`inner.l3_off == icmp_off + 8`). It is the packet as it was
    /// *sent*, so its source and destination are those of the original
    /// direction: the connection lookup uses it with source and destination
    /// in reverse order relative to the error itself (upstream's "inverse"
    /// lookup; see [`PacketInfo::inverse`]). `has_ports` is false for
    /// protocols without ports and for quoted later fragments;
    /// `tcp_flags` is read if the quote reaches it.
    pub inner: PacketInfo,
}

impl IcmpError {
    /// The next-hop MTU of a fragmentation-needed error.
    pub fn frag_needed_mtu(&self) -> Option<u16> {
        match self.kind {
            IcmpErrorKind::DestUnreachable { frag_needed_mtu } => frag_needed_mtu,
            _ => None,
        }
    }

    /// Whether upstream IPVS treats this type as related to a connection:
    /// destination unreachable, source quench and time exceeded. Upstream
    /// lets parameter problems pass untranslated.
    pub fn upstream_related(&self) -> bool {
        !matches!(self.kind, IcmpErrorKind::ParameterProblem { .. })
    }
}

/// Parses an ICMP error: the outer IPv4 header (any fragment is refused
/// with [`PacketError::Fragment`]: reassemble first, as upstream does), the
/// 8-byte ICMP header of one of the types in [`IcmpErrorKind`]
/// ([`PacketError::NotIcmp`] / [`PacketError::NotIcmpError`] otherwise), and
/// the quoted packet, which must have a valid IPv4 header with its options
/// and at least 8 bytes of its payload ([`PacketError::Truncated`],
/// [`PacketError::BadVersion`], [`PacketError::BadHeaderLength`]). The
/// ICMP checksum is not verified here; see [`icmp_checksum_ok`].
pub fn parse_icmp_error(buf: &[u8]) -> Result<IcmpError, PacketError> {
    let outer = Ipv4Header::parse(buf)?;
    if outer.protocol != IPPROTO_ICMP {
        return Err(PacketError::NotIcmp);
    }
    if outer.is_fragment() {
        return Err(PacketError::Fragment);
    }
    let end = outer.end(buf.len());
    let icmp_off = outer.header_len;
    let t = PacketError::Truncated;
    let inner_off = icmp_off + ICMP_HLEN;
    if inner_off > end {
        return Err(t);
    }
    let icmp_type = rd8(buf, icmp_off).ok_or(t)?;
    let code = rd8(buf, icmp_off + 1).ok_or(t)?;
    let kind = match icmp_type {
        ICMP_DEST_UNREACH => IcmpErrorKind::DestUnreachable {
            frag_needed_mtu: if code == ICMP_FRAG_NEEDED {
                Some(rd16(buf, icmp_off + 6).ok_or(t)?)
            } else {
                None
            },
        },
        ICMP_SOURCE_QUENCH => IcmpErrorKind::SourceQuench,
        ICMP_TIME_EXCEEDED => IcmpErrorKind::TimeExceeded,
        ICMP_PARAMETERPROB => IcmpErrorKind::ParameterProblem {
            pointer: rd8(buf, icmp_off + 4).ok_or(t)?,
        },
        _ => return Err(PacketError::NotIcmpError),
    };
    let quote = buf.get(inner_off..end).ok_or(t)?;
    let ih = Ipv4Header::parse_quoted(quote)?;
    if ih.header_len + QUOTED_L4_MIN > quote.len() {
        return Err(t);
    }
    let mut inner = l4::base_info(&ih, inner_off)?;
    if l4::has_ports(ih.protocol) && inner.fragment != Fragment::Later {
        l4::read_ports(buf, &mut inner)?;
        if ih.protocol == IPPROTO_TCP {
            inner.tcp_flags = rd8(quote, ih.header_len + 13).unwrap_or(0);
        }
    }
    Ok(IcmpError {
        outer,
        icmp_off,
        icmp_type,
        code,
        kind,
        inner,
    })
}

/// The client's packet inside the quote of an ICMP error about one of the
/// director's IPIP packets (the tunnel case of `ip_vs_in_icmp`): `e` is
/// the parsed error whose quoted packet is IPIP (protocol 4, not a later
/// fragment), `buf` the same bytes. Returns the inner packet's tuple
/// (offsets from the start of `buf`) and its DF bit. The quote may end
/// anywhere after the inner transport ports.
pub fn tunnel_quote(e: &IcmpError, buf: &[u8]) -> Result<(PacketInfo, bool), PacketError> {
    if e.inner.proto != super::IPPROTO_IPIP {
        return Err(PacketError::NotIcmpError);
    }
    if e.inner.fragment == Fragment::Later {
        return Err(PacketError::Fragment);
    }
    let end = e.outer.end(buf.len());
    let off = e.inner.l4_off;
    let quote = buf.get(off..end).ok_or(PacketError::Truncated)?;
    let ih = Ipv4Header::parse_quoted(quote)?;
    if ih.header_len + QUOTED_L4_MIN > quote.len() {
        return Err(PacketError::Truncated);
    }
    let mut inner = l4::base_info(&ih, off)?;
    if !l4::has_ports(ih.protocol) || inner.fragment == Fragment::Later {
        return Err(PacketError::Fragment);
    }
    l4::read_ports(buf, &mut inner)?;
    Ok((inner, ih.df))
}

/// Verifies the ICMP checksum over the whole ICMP message (upstream's
/// `ip_vs_checksum_common_check` before translating). Needs the whole
/// packet in `buf` ([`PacketError::Incomplete`]); fragments are refused.
pub fn icmp_checksum_ok(buf: &[u8]) -> Result<bool, PacketError> {
    let h = Ipv4Header::parse(buf)?;
    if h.protocol != IPPROTO_ICMP {
        return Err(PacketError::NotIcmp);
    }
    l4::l4_checksum_ok(buf)
}

/// Direction of an ICMP error translation, upstream's `inout` argument of
/// `ip_vs_nat_icmp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpNatDir {
    /// `inout = 1` (`handle_response_icmp`): an error coming from the real
    /// server's side (the real server itself or a router before it) about
    /// a request the director forwarded, i.e. quoting
    /// `client -> real server`, on its way to the client. The outer source
    /// address, the quoted destination address and the quoted destination
    /// port become the virtual address and port, so the client sees an
    /// error from the virtual service about the packet it sent.
    Out,
    /// `inout = 0` (`ip_vs_in_icmp` / `ip_vs_icmp_xmit`): an error from the
    /// client's side of the network, sent to the virtual address about a
    /// reply the director forwarded after SNAT, i.e. quoting
    /// `virtual address -> client`, to be forwarded to the real server.
    /// The outer destination address, the quoted source address and the
    /// quoted source port become the real server's address and port.
    In,
}

/// Translates an ICMP error belonging to a VS/NAT connection (upstream's
/// `ip_vs_nat_icmp`): see [`IcmpNatDir`] for which fields become `addr` and
/// `port` (host order; ignored unless the quoted protocol has ports and the
/// quote is not a later fragment). Fixes the outer IP header checksum (full
/// recompute), the quoted IP header checksum, and the ICMP checksum
/// (incrementally, so only the headers need to be in the slice; the kernel
/// recomputes it over the whole message instead, which gives the same value
/// when the original checksum was correct — verify it first with
/// [`icmp_checksum_ok`] as upstream does).
///
/// Unlike upstream, which leaves it stale, the quoted TCP or UDP checksum is
/// also updated when the quote contains it (as netfilter's NAT does), so the
/// receiver sees exactly the header it sent; a quoted UDP checksum of 0
/// stays 0. The quoted SCTP CRC cannot be updated from a quote and is left
/// as is.
///
/// Validation as [`parse_icmp_error`]; `addr` must be IPv4. If the quoted
/// TCP/UDP checksum lies within the packet but past the end of the slice,
/// [`PacketError::Incomplete`] is returned so the result never depends on
/// how much of the skb is linear: the glue makes
/// `min(total_len, inner.l4_off + 18)` bytes linear, or simply the whole
/// (small) ICMP error. On error the packet is unchanged.
pub fn nat_icmp(buf: &mut [u8], dir: IcmpNatDir, addr: Addr, port: u16) -> Result<(), PacketError> {
    let new_addr = require_v4(&addr)?;
    let e = parse_icmp_error(buf)?;
    let end = e.outer.end(buf.len());
    let t = PacketError::Truncated;
    // The quoted TCP/UDP checksum, if the quote contains it.
    let l4_check_off = match e.inner.proto {
        IPPROTO_TCP if e.inner.has_ports => Some(e.inner.l4_off + TCP_CHECK_OFF),
        IPPROTO_UDP if e.inner.has_ports => Some(e.inner.l4_off + UDP_CHECK_OFF),
        _ => None,
    }
    .filter(|&o| o + 2 <= usize::from(e.outer.total_len));
    if l4_check_off.is_some_and(|o| o + 2 > end) {
        // In the packet but not in the slice: the result must not depend on
        // how much of the skb is linear.
        return Err(PacketError::Incomplete);
    }
    let inner_hdr = buf.get(e.inner.l3_off..end).ok_or(t)?;
    let ih = Ipv4Header::parse_quoted(inner_hdr)?;
    let (outer_addr_off, inner_addr_off, old_inner_addr, port_off, old_port) = match dir {
        IcmpNatDir::Out => (
            SADDR_OFF,
            e.inner.l3_off + DADDR_OFF,
            ih.daddr4(),
            e.inner.l4_off + 2,
            e.inner.dport,
        ),
        IcmpNatDir::In => (
            DADDR_OFF,
            e.inner.l3_off + SADDR_OFF,
            ih.saddr4(),
            e.inner.l4_off,
            e.inner.sport,
        ),
    };

    // Outer header: address and checksum.
    wr(buf, outer_addr_off, &new_addr)?;
    ipv4::set_header_checksum(buf)?;

    // Changes inside the ICMP message, collected for its checksum.
    let mut icmp_diff = CsumDiff::new();

    // Quoted IP header: address and checksum.
    icmp_diff.replace4(old_inner_addr, new_addr);
    wr(buf, inner_addr_off, &new_addr)?;
    let inner_check_off = e.inner.l3_off + CHECK_OFF;
    let old_inner_check = rd16(buf, inner_check_off).ok_or(t)?;
    let new_inner_check =
        csum::ipv4_header_checksum(buf.get(e.inner.l3_off..e.inner.l4_off).ok_or(t)?);
    wr16(buf, inner_check_off, new_inner_check)?;
    icmp_diff.replace16(old_inner_check, new_inner_check);

    if e.inner.has_ports {
        wr16(buf, port_off, port)?;
        icmp_diff.replace16(old_port, port);

        // Quoted TCP/UDP checksum.
        if let Some(off) = l4_check_off {
            let old = rd16(buf, off).ok_or(t)?;
            if !(e.inner.proto == IPPROTO_UDP && old == 0) {
                let mut d = CsumDiff::new();
                d.replace4(old_inner_addr, new_addr);
                d.replace16(old_port, port);
                let mut new = d.apply(old);
                if e.inner.proto == IPPROTO_UDP && new == 0 {
                    new = 0xffff;
                }
                wr16(buf, off, new)?;
                icmp_diff.replace16(old, new);
            }
        }
    }

    // Finally the ICMP checksum.
    let icmp_check_off = e.icmp_off + 2;
    let old = rd16(buf, icmp_check_off).ok_or(t)?;
    wr16(buf, icmp_check_off, icmp_diff.apply(old))
}

/// Rewrites the sequence number of the TCP segment quoted in the ICMP
/// error in `buf` to `map(seq)`, for a director that moved the stream's
/// sequence numbers on the way (a PROXY protocol header:
/// [`super::seqadj::InsertGap::map`] gives the sender its own number
/// back, which its TCP checks before acting on the error). The quoted TCP
/// checksum (when the quote holds it) and the ICMP checksum are updated
/// incrementally. Quotes of other protocols, of later fragments, or too
/// short to hold the sequence number are left alone.
pub fn icmp_quoted_tcp_seq(
    buf: &mut [u8],
    map: impl FnOnce(u32) -> u32,
) -> Result<(), PacketError> {
    let e = parse_icmp_error(buf)?;
    if e.inner.proto != IPPROTO_TCP || !e.inner.has_ports {
        return Ok(());
    }
    let end = e.outer.end(buf.len());
    let t = PacketError::Truncated;
    let seq_off = e.inner.l4_off + 4;
    if seq_off + 4 > end {
        return Ok(());
    }
    let old = rd4(buf, seq_off).ok_or(t)?;
    let new = map(u32::from_be_bytes(old)).to_be_bytes();
    if new == old {
        return Ok(());
    }
    let check_off = e.inner.l4_off + TCP_CHECK_OFF;
    let quoted_check = check_off + 2 <= usize::from(e.outer.total_len);
    if quoted_check && check_off + 2 > end {
        return Err(PacketError::Incomplete);
    }
    let mut icmp_diff = CsumDiff::new();
    wr(buf, seq_off, &new)?;
    icmp_diff.replace4(old, new);
    if quoted_check {
        let old_check = rd16(buf, check_off).ok_or(t)?;
        let mut d = CsumDiff::new();
        d.replace4(old, new);
        let new_check = d.apply(old_check);
        wr16(buf, check_off, new_check)?;
        icmp_diff.replace16(old_check, new_check);
    }
    let icmp_check_off = e.icmp_off + 2;
    let old_icmp = rd16(buf, icmp_check_off).ok_or(t)?;
    wr16(buf, icmp_check_off, icmp_diff.apply(old_icmp))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::l4::tcp_flags;
    use super::super::IPPROTO_UDP;
    use super::*;

    const C: Addr = Addr::v4([10, 0, 0, 2]);
    const VIP: Addr = Addr::v4([10, 0, 1, 100]);
    const RS: Addr = Addr::v4([10, 0, 2, 11]);

    fn assert_valid(p: &[u8]) {
        assert!(ipv4::header_checksum_ok(p).unwrap());
        assert!(icmp_checksum_ok(p).unwrap());
        let e = parse_icmp_error(p).unwrap();
        assert!(ipv4::header_checksum_ok(&p[e.inner.l3_off..]).unwrap());
    }

    #[test]
    fn parse_port_unreachable() {
        let e = parse_icmp_error(&ICMP_PORT_UNREACH_FROM_RS).unwrap();
        assert_eq!((e.icmp_type, e.code), (3, 3));
        assert_eq!(
            e.kind,
            IcmpErrorKind::DestUnreachable {
                frag_needed_mtu: None
            }
        );
        assert!(e.upstream_related());
        assert_eq!(e.outer.saddr, RS);
        assert_eq!(e.outer.daddr, C);
        assert_eq!(e.icmp_off, 20);
        let i = e.inner;
        assert_eq!((i.l3_off, i.l3_len, i.l4_off), (28, 20, 48));
        assert_eq!((i.saddr, i.sport, i.daddr, i.dport), (C, 40000, RS, 8080));
        assert_eq!(i.proto, IPPROTO_TCP);
        assert_eq!(i.tcp_flags, tcp_flags::SYN);
        assert!(i.has_ports);
        assert!(icmp_checksum_ok(&ICMP_PORT_UNREACH_FROM_RS).unwrap());
    }

    #[test]
    fn parse_frag_needed() {
        let e = parse_icmp_error(&ICMP_FRAG_NEEDED_TO_VIP).unwrap();
        assert_eq!(e.frag_needed_mtu(), Some(1280));
        let i = e.inner;
        assert_eq!((i.saddr, i.sport, i.daddr, i.dport), (VIP, 80, C, 40000));
        // Quote is IP header + 8 bytes: no TCP flags.
        assert_eq!(i.tcp_flags, 0);
        let e = parse_icmp_error(&ICMP_FRAG_NEEDED_FROM_RS_SIDE).unwrap();
        assert_eq!(e.frag_needed_mtu(), Some(1400));
        // Quoted packet with IP options.
        assert_eq!((e.inner.l3_len, e.inner.l4_off), (24, 52));
    }

    #[test]
    fn parse_other_types() {
        let e = parse_icmp_error(&ICMP_TIME_EXCEEDED_TO_VIP).unwrap();
        assert_eq!(e.kind, IcmpErrorKind::TimeExceeded);
        assert_eq!(e.frag_needed_mtu(), None);
        let e = parse_icmp_error(&ICMP_QUENCH_TO_VIP).unwrap();
        assert_eq!(e.kind, IcmpErrorKind::SourceQuench);
        let e = parse_icmp_error(&ICMP_PARAM_PROBLEM).unwrap();
        assert_eq!(e.kind, IcmpErrorKind::ParameterProblem { pointer: 20 });
        assert!(!e.upstream_related());
        let e = parse_icmp_error(&ICMP_UDP_UNREACH_FROM_RS).unwrap();
        assert_eq!(
            (e.inner.proto, e.inner.sport, e.inner.dport),
            (IPPROTO_UDP, 40001, 5353)
        );
    }

    #[test]
    fn parse_rejects() {
        assert_eq!(parse_icmp_error(&TCP_SYN), Err(PacketError::NotIcmp));
        assert_eq!(parse_icmp_error(&ICMP_ECHO), Err(PacketError::NotIcmpError));
        // Quote shorter than IP header + 8 bytes.
        let mut p = ICMP_FRAG_NEEDED_TO_VIP.to_vec();
        p.pop();
        let len = u16::try_from(p.len()).unwrap();
        p[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(parse_icmp_error(&p), Err(PacketError::Truncated));
        // The IP total length bounds the quote, not the slice.
        let mut p = ICMP_FRAG_NEEDED_TO_VIP.to_vec();
        p[3] -= 1;
        assert_eq!(parse_icmp_error(&p), Err(PacketError::Truncated));
        // Quoted header that is not IPv4.
        let mut p = ICMP_FRAG_NEEDED_TO_VIP;
        p[28] = 0x65;
        assert_eq!(parse_icmp_error(&p), Err(PacketError::BadVersion));
        p[28] = 0x43;
        assert_eq!(parse_icmp_error(&p), Err(PacketError::BadHeaderLength));
        // Fragmented outer packet.
        let mut p = ICMP_FRAG_NEEDED_TO_VIP;
        p[6] = 0x20;
        assert_eq!(parse_icmp_error(&p), Err(PacketError::Fragment));
        // Truncated ICMP header.
        assert_eq!(
            parse_icmp_error(&ICMP_FRAG_NEEDED_TO_VIP[..27]),
            Err(PacketError::Truncated)
        );
    }

    #[test]
    fn quoted_later_fragment_has_no_ports() {
        let mut p = ICMP_FRAG_NEEDED_TO_VIP;
        p[28 + 7] = 1; // quoted fragment offset 8
        let e = parse_icmp_error(&p).unwrap();
        assert!(!e.inner.has_ports);
        assert_eq!(e.inner.fragment, Fragment::Later);
    }

    #[test]
    fn nat_out_port_unreachable() {
        let mut p = ICMP_PORT_UNREACH_FROM_RS;
        assert_valid(&p);
        nat_icmp(&mut p, IcmpNatDir::Out, VIP, 80).unwrap();
        assert_eq!(p, ICMP_PORT_UNREACH_TO_CLIENT);
        assert_valid(&p);
    }

    #[test]
    fn nat_out_frag_needed_with_options() {
        let mut p = ICMP_FRAG_NEEDED_FROM_RS_SIDE;
        nat_icmp(&mut p, IcmpNatDir::Out, VIP, 80).unwrap();
        assert_eq!(p, ICMP_FRAG_NEEDED_FROM_RS_SIDE_NAT);
        assert_valid(&p);
    }

    #[test]
    fn nat_in_frag_needed_short_quote() {
        let mut p = ICMP_FRAG_NEEDED_TO_VIP;
        assert_valid(&p);
        nat_icmp(&mut p, IcmpNatDir::In, RS, 8080).unwrap();
        assert_eq!(p, ICMP_FRAG_NEEDED_TO_RS);
        assert_valid(&p);
        let e = parse_icmp_error(&p).unwrap();
        assert_eq!(e.frag_needed_mtu(), Some(1280));
    }

    #[test]
    fn nat_in_time_exceeded_full_quote() {
        let mut p = ICMP_TIME_EXCEEDED_TO_VIP;
        nat_icmp(&mut p, IcmpNatDir::In, RS, 8080).unwrap();
        assert_eq!(p, ICMP_TIME_EXCEEDED_TO_RS);
        assert_valid(&p);
        // The quote is now exactly the real server's original packet, so
        // its TCP checksum verifies again.
        let e = parse_icmp_error(&p).unwrap();
        assert!(l4::l4_checksum_ok(&p[e.inner.l3_off..]).unwrap());
        // Only the headers in the slice: the same result.
        let mut q = ICMP_TIME_EXCEEDED_TO_VIP;
        nat_icmp(&mut q[..66], IcmpNatDir::In, RS, 8080).unwrap();
        assert_eq!(q, ICMP_TIME_EXCEEDED_TO_RS);
        // Quoted checksum in the packet but not in the slice.
        let mut q = ICMP_TIME_EXCEEDED_TO_VIP;
        assert_eq!(
            nat_icmp(&mut q[..65], IcmpNatDir::In, RS, 8080),
            Err(PacketError::Incomplete)
        );
        assert_eq!(q, ICMP_TIME_EXCEEDED_TO_VIP);
    }

    #[test]
    fn quoted_tcp_seq_mapped() {
        let seq_of = |p: &[u8]| {
            let e = parse_icmp_error(p).unwrap();
            u32::from_be_bytes(
                p[e.inner.l4_off + 4..e.inner.l4_off + 8]
                    .try_into()
                    .unwrap(),
            )
        };
        // A full quote: its TCP checksum still verifies afterwards.
        let orig = ICMP_TIME_EXCEEDED_TO_RS;
        let mut p = orig;
        let s0 = seq_of(&p);
        icmp_quoted_tcp_seq(&mut p, |s| s.wrapping_sub(28)).unwrap();
        assert_eq!(seq_of(&p), s0.wrapping_sub(28));
        assert_valid(&p);
        let e = parse_icmp_error(&p).unwrap();
        assert!(l4::l4_checksum_ok(&p[e.inner.l3_off..]).unwrap());
        icmp_quoted_tcp_seq(&mut p, |s| s.wrapping_add(28)).unwrap();
        assert_eq!(p, orig);
        // A short quote (8 bytes of TCP: no checksum): the ICMP checksum.
        let mut p = ICMP_FRAG_NEEDED_TO_VIP;
        let s0 = seq_of(&p);
        icmp_quoted_tcp_seq(&mut p, |s| s ^ 0x8000_0001).unwrap();
        assert_eq!(seq_of(&p), s0 ^ 0x8000_0001);
        assert_valid(&p);
        // UDP quotes, and an identity map: untouched.
        let mut p = ICMP_UDP_UNREACH_FROM_RS;
        icmp_quoted_tcp_seq(&mut p, |s| s + 1).unwrap();
        assert_eq!(p, ICMP_UDP_UNREACH_FROM_RS);
        let mut p = ICMP_TIME_EXCEEDED_TO_RS;
        icmp_quoted_tcp_seq(&mut p, |s| s).unwrap();
        assert_eq!(p, ICMP_TIME_EXCEEDED_TO_RS);
    }

    #[test]
    fn nat_udp_quote() {
        let mut p = ICMP_UDP_UNREACH_FROM_RS;
        nat_icmp(&mut p, IcmpNatDir::Out, VIP, 53).unwrap();
        assert_eq!(p, ICMP_UDP_UNREACH_TO_CLIENT);
        assert_valid(&p);
        // Quoted UDP checksum 0 stays 0.
        let mut p = ICMP_UDP_UNREACH_FROM_RS;
        p[54..56].copy_from_slice(&[0, 0]);
        p[22..24].copy_from_slice(&[0, 0]);
        let ck = csum::checksum(&p[20..]);
        p[22..24].copy_from_slice(&ck.to_be_bytes());
        assert_valid(&p);
        nat_icmp(&mut p, IcmpNatDir::Out, VIP, 53).unwrap();
        assert_eq!(p[54..56], [0, 0]);
        assert_valid(&p);
        let mut want = ICMP_UDP_UNREACH_TO_CLIENT;
        want[54..56].copy_from_slice(&[0, 0]);
        want[22..24].copy_from_slice(&[0, 0]);
        let ck = csum::checksum(&want[20..]);
        want[22..24].copy_from_slice(&ck.to_be_bytes());
        assert_eq!(p, want);
    }

    #[test]
    fn nat_roundtrip_restores_bytes() {
        for pkt in [
            &ICMP_PORT_UNREACH_FROM_RS[..],
            &ICMP_FRAG_NEEDED_FROM_RS_SIDE[..],
            &ICMP_UDP_UNREACH_FROM_RS[..],
        ] {
            let mut p = pkt.to_vec();
            nat_icmp(&mut p, IcmpNatDir::Out, VIP, 80).unwrap();
            let e = parse_icmp_error(pkt).unwrap();
            nat_icmp(&mut p, IcmpNatDir::Out, e.inner.daddr, e.inner.dport).unwrap();
            // The outer source is the original sender again.
            p[12..16].copy_from_slice(&pkt[12..16]);
            ipv4::set_header_checksum(&mut p).unwrap();
            assert_eq!(p, pkt);
        }
    }

    #[test]
    fn nat_errors_leave_packet_unchanged() {
        let mut p = ICMP_ECHO;
        assert_eq!(
            nat_icmp(&mut p, IcmpNatDir::In, RS, 1),
            Err(PacketError::NotIcmpError)
        );
        assert_eq!(p, ICMP_ECHO);
        let mut p = ICMP_PORT_UNREACH_FROM_RS;
        assert_eq!(
            nat_icmp(&mut p, IcmpNatDir::Out, Addr::v6([1; 16]), 1),
            Err(PacketError::UnsupportedFamily)
        );
        assert_eq!(p, ICMP_PORT_UNREACH_FROM_RS);
    }
}
