// SPDX-License-Identifier: GPL-2.0
//! PROXY protocol headers (HAProxy's `doc/proxy-protocol.txt`, versions 1
//! and 2): a block the director puts at the very start of the client's
//! byte stream to the real server, telling it the connection's original
//! endpoints (the client's address and port, and the virtual service's),
//! for servers that cannot use TOA ([`crate::toa`]).
//!
//! The header is what the director's "connection initiator" side sends
//! first: `src` is the client (the original connection's source), `dst` the
//! virtual address and port it connected to. Only the sender side is here,
//! without TLVs.
//!
//! # In a TCP connection
//!
//! The director sends the header as a segment of its own
//! ([`header_segment`]: the client's segment's headers, flags ACK|PSH, the
//! header as payload) at the client's first sequence number, just before
//! the client segment that starts there, and the client's stream moves by
//! the header's length for the rest of the connection ([`ProxyStream`],
//! [`crate::packet::seqadj::InsertGap`]). The client's handshake ACK is
//! replaced by the header segment (which carries the same acknowledgment),
//! so the real server's handshake completes only with the header in hand:
//! if the header segment is lost, the server repeats its SYN-ACK, the
//! client its ACK, and the header goes again. Until the server has
//! acknowledged the header, every client segment that starts at the first
//! sequence number (a retransmission of the first data) is preceded by the
//! header again; a repeated header is a duplicate the server's TCP drops.
//! Segments never grow, so the MSS needs no change.
//!
//! Both families: when the two addresses are of different families (an
//! IPv6 client of an IPv4 service, say), both are given as IPv6, the IPv4
//! one IPv4-mapped (`::ffff:a.b.c.d`), as HAProxy does.

use crate::addr::{Addr, Af};
use crate::packet::l4::{fill_l4_checksum, tcp_flags, TCP_MIN_HLEN};
use crate::packet::seqadj::InsertGap;
use crate::packet::{ipv4, PacketError};
use core::fmt::{self, Write};

/// The 12-byte signature that starts a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];
/// Version 2, command PROXY (byte 13).
pub const V2_VER_CMD_PROXY: u8 = 0x21;
/// Length of the fixed part of a version 2 header (signature, version and
/// command, family and protocol, length).
pub const V2_FIXED_LEN: usize = 16;
/// Length of a version 2 header for two IPv4 endpoints.
pub const V2_LEN_V4: usize = V2_FIXED_LEN + 12;
/// Length of a version 2 header for two IPv6 endpoints: the longest this
/// module writes.
pub const V2_LEN_V6: usize = V2_FIXED_LEN + 36;
/// The longest version 1 line this module writes: `PROXY TCP6`, two full
/// IPv6 addresses, two 5-digit ports, CRLF (the spec's 104 characters).
pub const V1_MAX_LEN: usize = 104;

/// Family byte (high nibble) of version 2: AF_INET.
const FAM_INET: u8 = 0x10;
/// Family byte (high nibble) of version 2: AF_INET6.
const FAM_INET6: u8 = 0x20;
/// Protocol (low nibble) of version 2: STREAM (TCP).
const PROTO_STREAM: u8 = 0x01;
/// Protocol (low nibble) of version 2: DGRAM (UDP).
const PROTO_DGRAM: u8 = 0x02;

/// Why a header could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyHeaderError {
    /// The buffer is shorter than the header (see [`V2_LEN_V6`],
    /// [`V1_MAX_LEN`]); it is unchanged.
    NoRoom,
}

/// An IPv4 address as an IPv4-mapped IPv6 address; IPv6 unchanged.
fn as_v6(a: &Addr) -> Addr {
    match a.af() {
        Af::Inet6 => *a,
        Af::Inet => {
            let [x, y, z, w, ..] = a.inet();
            Addr::v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, x, y, z, w])
        }
    }
}

/// The two addresses in one family: both IPv4, or both IPv6.
fn same_family(src: &Addr, dst: &Addr) -> (Addr, Addr) {
    if src.af() == Af::Inet && dst.af() == Af::Inet {
        (*src, *dst)
    } else {
        (as_v6(src), as_v6(dst))
    }
}

/// The length of the version 2 header [`proxy_v2_header`] writes for these
/// addresses: [`V2_LEN_V4`] if both are IPv4, else [`V2_LEN_V6`].
pub fn proxy_v2_len(src: &Addr, dst: &Addr) -> usize {
    if src.af() == Af::Inet && dst.af() == Af::Inet {
        V2_LEN_V4
    } else {
        V2_LEN_V6
    }
}

/// Writes a PROXY protocol version 2 header (binary) for a connection from
/// `src` (address, port) to `dst` at the start of `buf` and returns its
/// length ([`proxy_v2_len`]: 28 for IPv4, 52 for IPv6): the signature,
/// `0x21` (version 2, PROXY), the family and protocol (`0x11` TCP over
/// IPv4, `0x12` UDP over IPv4, `0x21` TCP over IPv6, `0x22` UDP over IPv6;
/// TCP if `tcp`, else UDP), the address block length (12 or 36, big
/// endian), then source address, destination address, source port,
/// destination port, in network order. No TLVs.
pub fn proxy_v2_header(
    buf: &mut [u8],
    src: (Addr, u16),
    dst: (Addr, u16),
    tcp: bool,
) -> Result<usize, ProxyHeaderError> {
    let (sa, da) = same_family(&src.0, &dst.0);
    let len = proxy_v2_len(&src.0, &dst.0);
    let out = buf.get_mut(..len).ok_or(ProxyHeaderError::NoRoom)?;
    let fam = if sa.af() == Af::Inet {
        FAM_INET
    } else {
        FAM_INET6
    };
    let proto = if tcp { PROTO_STREAM } else { PROTO_DGRAM };
    // At most 36.
    let block = u16::try_from(len - V2_FIXED_LEN).unwrap_or(0);
    let parts: [&[u8]; 8] = [
        &V2_SIGNATURE,
        &[V2_VER_CMD_PROXY],
        &[fam | proto],
        &block.to_be_bytes(),
        sa.octets(),
        da.octets(),
        &src.1.to_be_bytes(),
        &dst.1.to_be_bytes(),
    ];
    let mut at = out.iter_mut();
    for p in parts {
        for (&b, d) in p.iter().zip(at.by_ref()) {
            *d = b;
        }
    }
    Ok(len)
}

/// A `fmt::Write` into a fixed buffer.
struct SliceWriter<'a> {
    /// The buffer.
    buf: &'a mut [u8],
    /// Bytes written so far.
    len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes a PROXY protocol version 1 header (text) for a TCP connection
/// from `src` (address, port) to `dst` at the start of `buf` and returns
/// its length (at most [`V1_MAX_LEN`]):
/// `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, addresses in dotted
/// decimal, or `PROXY TCP6 ...` with IPv6 addresses in RFC 5952 form
/// (lowercase hex, the longest run of zero groups as `::`), ports in
/// decimal, no leading zeros. Version 1 knows no UDP.
pub fn proxy_v1_header(
    buf: &mut [u8],
    src: (Addr, u16),
    dst: (Addr, u16),
) -> Result<usize, ProxyHeaderError> {
    let (sa, da) = same_family(&src.0, &dst.0);
    let proto = if sa.af() == Af::Inet { "TCP4" } else { "TCP6" };
    let mut line = [0u8; V1_MAX_LEN];
    let mut w = SliceWriter {
        buf: &mut line,
        len: 0,
    };
    // Cannot fail: the longest line fits (tested).
    write!(w, "PROXY {proto} {sa} {da} {} {}\r\n", src.1, dst.1)
        .map_err(|_| ProxyHeaderError::NoRoom)?;
    let len = w.len;
    let text = line.get(..len).ok_or(ProxyHeaderError::NoRoom)?;
    buf.get_mut(..len)
        .ok_or(ProxyHeaderError::NoRoom)?
        .copy_from_slice(text);
    Ok(len)
}

/// The PROXY protocol header a service's TCP connections carry to their
/// real servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// None.
    #[default]
    Off,
    /// Version 1 (text).
    V1,
    /// Version 2 (binary).
    V2,
}

impl ProxyVersion {
    /// From its netlink value (0 off, 1, 2); `None` for anything else.
    pub fn from_raw(v: u8) -> Option<ProxyVersion> {
        match v {
            0 => Some(ProxyVersion::Off),
            1 => Some(ProxyVersion::V1),
            2 => Some(ProxyVersion::V2),
            _ => None,
        }
    }

    /// Its netlink value.
    pub fn raw(self) -> u8 {
        match self {
            ProxyVersion::Off => 0,
            ProxyVersion::V1 => 1,
            ProxyVersion::V2 => 2,
        }
    }

    /// Whether a header is sent.
    pub fn is_on(self) -> bool {
        self != ProxyVersion::Off
    }
}

/// The longest header [`proxy_header`] writes.
pub const HEADER_MAX_LEN: usize = if V1_MAX_LEN > V2_LEN_V6 {
    V1_MAX_LEN
} else {
    V2_LEN_V6
};

/// Writes the TCP header of `version` for a connection from `src` to `dst`
/// at the start of `buf` and returns its length (0 for
/// [`ProxyVersion::Off`]).
pub fn proxy_header(
    buf: &mut [u8],
    version: ProxyVersion,
    src: (Addr, u16),
    dst: (Addr, u16),
) -> Result<usize, ProxyHeaderError> {
    match version {
        ProxyVersion::Off => Ok(0),
        ProxyVersion::V1 => proxy_v1_header(buf, src, dst),
        ProxyVersion::V2 => proxy_v2_header(buf, src, dst, true),
    }
}

/// What the director does with a client segment of a connection whose
/// stream starts with a PROXY protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientAction {
    /// Forward it, its sequence number moved by [`ProxyStream::seq_delta`].
    Forward,
    /// Send the header segment first, then forward it (moved).
    HeaderFirst,
    /// Send the header segment in its place (a pure ACK at the first
    /// sequence number: the header segment carries the same
    /// acknowledgment and window).
    HeaderInstead,
}

/// The client stream of one TCP connection with a header of `gap.len`
/// bytes in front (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxyStream {
    /// Where the header sits in the server's sequence space.
    pub gap: InsertGap,
}

impl ProxyStream {
    /// The stream of a client whose SYN had sequence number `client_isn`,
    /// with a header of `len` bytes.
    pub fn new(client_isn: u32, len: u32) -> ProxyStream {
        ProxyStream {
            gap: InsertGap::new(client_isn, len),
        }
    }

    /// The header's length.
    pub fn len(&self) -> u32 {
        self.gap.len
    }

    /// Whether the header is empty (nothing to send).
    pub fn is_empty(&self) -> bool {
        self.gap.len == 0
    }

    /// The client segment (sequence number `seq`, `payload` bytes,
    /// `flags`): whether the header goes before it. `acked`: the server
    /// has acknowledged the header ([`InsertGap::covered_by`] on one of its
    /// acknowledgments). SYNs, resets and segments without ACK never carry
    /// the header.
    pub fn client_segment(&self, acked: bool, seq: u32, payload: u32, flags: u8) -> ClientAction {
        use tcp_flags::{ACK, FIN, RST, SYN};
        if acked
            || self.is_empty()
            || seq != self.gap.start
            || flags & (SYN | RST) != 0
            || flags & ACK == 0
        {
            return ClientAction::Forward;
        }
        if payload == 0 && flags & FIN == 0 {
            ClientAction::HeaderInstead
        } else {
            ClientAction::HeaderFirst
        }
    }

    /// What is added to the sequence number of a client segment with
    /// `flags`: the header's length, except on a SYN (which precedes the
    /// header).
    pub fn seq_delta(&self, flags: u8) -> u32 {
        if flags & tcp_flags::SYN != 0 {
            0
        } else {
            self.gap.len
        }
    }
}

/// Length of the IPv4 header a header segment gets (no options).
const IP_HLEN: usize = 20;
/// The longest header segment [`header_segment`] builds.
pub const HEADER_SEGMENT_MAX_LEN: usize = IP_HLEN + 60 + HEADER_MAX_LEN;

/// Builds into `out` the segment that carries `header` at the start of the
/// client's stream, from `tmpl`, the client segment it goes in front of
/// (an IPv4 packet from its IP header, the TCP header with its options
/// complete): the same addresses, ports, TOS, ID and TTL, the same
/// sequence and acknowledgment numbers, window and TCP options
/// (timestamps), flags ACK|PSH, `header` as the payload, no IP options,
/// DF, both checksums computed. Returns its length. Errors:
/// [`PacketError::Truncated`] if `tmpl` lacks its headers or `out` is too
/// short, [`PacketError::UnsupportedProtocol`] if it is not TCP,
/// [`PacketError::UnsupportedFamily`] for IPv6 (not yet),
/// [`PacketError::TooBig`] if `header` is longer than
/// [`HEADER_MAX_LEN`].
pub fn header_segment(tmpl: &[u8], header: &[u8], out: &mut [u8]) -> Result<usize, PacketError> {
    let t = PacketError::Truncated;
    if header.len() > HEADER_MAX_LEN {
        return Err(PacketError::TooBig);
    }
    let ip = ipv4::Ipv4Header::parse(tmpl)?;
    if ip.protocol != crate::packet::IPPROTO_TCP {
        return Err(PacketError::UnsupportedProtocol);
    }
    if ip.is_fragment() {
        return Err(PacketError::Fragment);
    }
    let l4 = ip.header_len;
    let tcp_fixed = tmpl.get(l4..l4 + TCP_MIN_HLEN).ok_or(t)?;
    let doff = usize::from(tcp_fixed.get(12).ok_or(t)? >> 4) * 4;
    if doff < TCP_MIN_HLEN {
        return Err(PacketError::BadL4Header);
    }
    let tcp = tmpl.get(l4..l4 + doff).ok_or(t)?;
    let total = IP_HLEN + doff + header.len();
    let pkt = out.get_mut(..total).ok_or(t)?;
    let ip_src = tmpl.get(..IP_HLEN).ok_or(t)?;
    pkt.get_mut(..IP_HLEN).ok_or(t)?.copy_from_slice(ip_src);
    pkt.get_mut(IP_HLEN..IP_HLEN + doff)
        .ok_or(t)?
        .copy_from_slice(tcp);
    pkt.get_mut(IP_HLEN + doff..)
        .ok_or(t)?
        .copy_from_slice(header);
    // total <= 20 + 60 + 104.
    let total16 = u16::try_from(total).map_err(|_| PacketError::TooBig)?;
    let [tl_hi, tl_lo] = total16.to_be_bytes();
    let fields: [(usize, u8); 8] = [
        (0, 0x45),
        (2, tl_hi),
        (3, tl_lo),
        // DF, offset 0.
        (6, 0x40),
        (7, 0),
        (IP_HLEN + 13, tcp_flags::ACK | tcp_flags::PSH),
        (IP_HLEN + 18, 0),
        (IP_HLEN + 19, 0),
    ];
    for (off, v) in fields {
        *pkt.get_mut(off).ok_or(t)? = v;
    }
    ipv4::set_header_checksum(pkt)?;
    fill_l4_checksum(pkt)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// What a receiver reads from a version 2 header.
    #[derive(Debug, PartialEq)]
    struct V2 {
        tcp: bool,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        len: usize,
    }

    /// A version 2 receiver, after the spec's section 2.2.
    fn parse_v2(b: &[u8]) -> Option<V2> {
        if b.len() < 16 || b[..12] != V2_SIGNATURE || b[12] != 0x21 {
            return None;
        }
        let block = usize::from(u16::from_be_bytes([b[14], b[15]]));
        let body = b.get(16..16 + block)?;
        let (alen, tcp) = match b[13] {
            0x11 => (4, true),
            0x12 => (4, false),
            0x21 => (16, true),
            0x22 => (16, false),
            _ => return None,
        };
        if block < 2 * alen + 4 {
            return None;
        }
        let ip = |s: &[u8]| -> IpAddr {
            if alen == 4 {
                IpAddr::from(<[u8; 4]>::try_from(s).unwrap())
            } else {
                IpAddr::from(<[u8; 16]>::try_from(s).unwrap())
            }
        };
        let port = |o: usize| u16::from_be_bytes([body[o], body[o + 1]]);
        Some(V2 {
            tcp,
            src: (ip(&body[..alen]), port(2 * alen)),
            dst: (ip(&body[alen..2 * alen]), port(2 * alen + 2)),
            len: 16 + block,
        })
    }

    /// A version 1 receiver, after the spec's section 2.1: the fields,
    /// strictly (canonical numbers, one space, CRLF).
    /// Protocol name, source, destination, line length.
    type V1 = (String, (IpAddr, u16), (IpAddr, u16), usize);

    fn parse_v1(b: &[u8]) -> Option<V1> {
        let end = b.windows(2).position(|w| w == b"\r\n")?;
        if end + 2 > 107 {
            return None;
        }
        let line = std::str::from_utf8(&b[..end]).ok()?;
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 6 || f[0] != "PROXY" {
            return None;
        }
        let port = |s: &str| -> Option<u16> {
            if s.len() > 1 && s.starts_with('0') {
                return None;
            }
            s.parse().ok()
        };
        let (s, d): (IpAddr, IpAddr) = (f[2].parse().ok()?, f[3].parse().ok()?);
        match (f[1], s, d) {
            ("TCP4", IpAddr::V4(_), IpAddr::V4(_)) => {}
            ("TCP6", IpAddr::V6(_), IpAddr::V6(_)) => {
                // Hex groups only, no dotted tail.
                if f[2].contains('.') || f[3].contains('.') {
                    return None;
                }
            }
            _ => return None,
        }
        // Canonical text: what Rust prints back (RFC 5952 for IPv6), except
        // for IPv4-mapped addresses, which Rust prints with a dotted tail.
        for (ip, text) in [(s, f[2]), (d, f[3])] {
            let mapped = matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
            if !mapped && ip.to_string() != text {
                return None;
            }
        }
        Some((
            f[1].to_string(),
            (s, port(f[4])?),
            (d, port(f[5])?),
            end + 2,
        ))
    }

    fn v4(a: &str) -> Addr {
        let ip: std::net::Ipv4Addr = a.parse().unwrap();
        Addr::v4(ip.octets())
    }

    fn v6(a: &str) -> Addr {
        let ip: std::net::Ipv6Addr = a.parse().unwrap();
        Addr::v6(ip.octets())
    }

    #[test]
    fn v1_spec_example() {
        // proxy-protocol.txt section 2.1: "PROXY TCP4 192.168.0.1
        // 192.168.0.11 56324 443\r\n".
        let mut buf = [0u8; 200];
        let n = proxy_v1_header(
            &mut buf,
            (v4("192.168.0.1"), 56324),
            (v4("192.168.0.11"), 443),
        )
        .unwrap();
        assert_eq!(
            &buf[..n],
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
        );
        // The spec's longest lines: 56 characters for TCP4, 104 for TCP6.
        let n = proxy_v1_header(
            &mut buf,
            (v4("255.255.255.255"), 65535),
            (v4("255.255.255.255"), 65535),
        )
        .unwrap();
        assert_eq!(n, 56);
        let all = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let n = proxy_v1_header(&mut buf, (all, 65535), (all, 65535)).unwrap();
        assert_eq!(n, V1_MAX_LEN);
        assert_eq!(
            &buf[..n],
            &b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
               ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"[..]
        );
        // Zeros: no leading zeros, compressed IPv6.
        let n = proxy_v1_header(&mut buf, (v4("0.0.0.0"), 0), (v6("2001:db8::1"), 8)).unwrap();
        assert_eq!(&buf[..n], b"PROXY TCP6 ::ffff:0:0 2001:db8::1 0 8\r\n");
    }

    #[test]
    fn v2_spec_layout() {
        // The same connection as the version 1 example, in the binary
        // format of section 2.2: signature, 0x21 (v2, PROXY), 0x11 (TCP over
        // IPv4), length 12, src, dst, sport, dport.
        let mut buf = [0u8; 64];
        let n = proxy_v2_header(
            &mut buf,
            (v4("192.168.0.1"), 56324),
            (v4("192.168.0.11"), 443),
            true,
        )
        .unwrap();
        assert_eq!(n, 28);
        assert_eq!(
            buf[..n],
            [
                0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // sig
                0x21, 0x11, 0x00, 0x0c, // ver/cmd, fam, len
                0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0x0b, // addresses
                0xdc, 0x04, 0x01, 0xbb, // ports
            ]
        );
        // The receiver's check of section 2.2: 13 first bytes.
        assert_eq!(
            buf[..13],
            *b"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A\x21"
        );
        // UDP over IPv4: 0x12.
        proxy_v2_header(
            &mut buf,
            (v4("10.0.0.2"), 53),
            (v4("10.0.1.100"), 53),
            false,
        )
        .unwrap();
        assert_eq!(buf[13], 0x12);
        // TCP over IPv6: 0x21, length 36.
        let n = proxy_v2_header(
            &mut buf,
            (v6("2001:db8::2"), 1),
            (v6("2001:db8::1"), 2),
            true,
        )
        .unwrap();
        assert_eq!(n, 52);
        assert_eq!(buf[12..16], [0x21, 0x21, 0x00, 0x24]);
        assert_eq!(buf[16..32], v6("2001:db8::2").inet());
        assert_eq!(buf[32..48], v6("2001:db8::1").inet());
        assert_eq!(buf[48..52], [0, 1, 0, 2]);
        // UDP over IPv6: 0x22.
        proxy_v2_header(&mut buf, (v6("::1"), 1), (v6("::2"), 2), false).unwrap();
        assert_eq!(buf[13], 0x22);
    }

    #[test]
    fn mixed_families_are_mapped() {
        let mut buf = [0u8; 64];
        let n = proxy_v2_header(
            &mut buf,
            (v6("2001:db8::2"), 1),
            (v4("10.0.1.100"), 80),
            true,
        )
        .unwrap();
        assert_eq!(n, V2_LEN_V6);
        assert_eq!(proxy_v2_len(&v6("::1"), &v4("1.2.3.4")), V2_LEN_V6);
        assert_eq!(proxy_v2_len(&v4("1.2.3.4"), &v4("1.2.3.4")), V2_LEN_V4);
        let p = parse_v2(&buf).unwrap();
        assert_eq!(p.dst.0, "::ffff:10.0.1.100".parse::<IpAddr>().unwrap());
        let n = proxy_v1_header(&mut buf, (v4("10.0.0.2"), 1), (v6("::1"), 2)).unwrap();
        assert_eq!(&buf[..n], b"PROXY TCP6 ::ffff:a00:2 ::1 1 2\r\n");
    }

    #[test]
    fn no_room_leaves_buffer_unchanged() {
        let mut buf = [0xaau8; 27];
        assert_eq!(
            proxy_v2_header(&mut buf, (v4("1.2.3.4"), 1), (v4("1.2.3.4"), 2), true),
            Err(ProxyHeaderError::NoRoom)
        );
        assert_eq!(buf, [0xaa; 27]);
        let mut buf = [0xaau8; 46];
        assert_eq!(
            proxy_v1_header(
                &mut buf,
                (v4("192.168.0.1"), 56324),
                (v4("192.168.0.11"), 443)
            ),
            Err(ProxyHeaderError::NoRoom)
        );
        assert_eq!(buf, [0xaa; 46]);
        let mut buf = [0u8; 47];
        assert_eq!(
            proxy_v1_header(
                &mut buf,
                (v4("192.168.0.1"), 56324),
                (v4("192.168.0.11"), 443)
            ),
            Ok(47)
        );
    }

    fn addr() -> impl proptest::strategy::Strategy<Value = Addr> {
        use proptest::prelude::*;
        prop_oneof![
            any::<[u8; 4]>().prop_map(Addr::v4),
            any::<[u8; 16]>().prop_map(Addr::v6),
            // Zero runs, to exercise the compression.
            (any::<u16>(), 0usize..8, 0usize..8).prop_map(|(x, i, j)| {
                let mut b = [0u8; 16];
                b[2 * i..2 * i + 2].copy_from_slice(&x.to_be_bytes());
                b[2 * j + 1] = 1;
                Addr::v6(b)
            }),
        ]
    }

    fn std_ip(a: &Addr) -> IpAddr {
        match a.af() {
            Af::Inet => IpAddr::from(<[u8; 4]>::try_from(a.octets()).unwrap()),
            Af::Inet6 => IpAddr::from(<[u8; 16]>::try_from(a.octets()).unwrap()),
        }
    }

    /// The endpoints a receiver should see: both in one family.
    fn expected(s: &Addr, d: &Addr) -> (IpAddr, IpAddr) {
        let (s, d) = same_family(s, d);
        (std_ip(&s), std_ip(&d))
    }

    proptest::proptest! {
        /// Any endpoints parse back (v2 and v1) to the same endpoints, and
        /// the lengths stay within the documented maxima.
        #[test]
        fn parse_back(s in addr(), d in addr(), sp in proptest::prelude::any::<u16>(),
                      dp in proptest::prelude::any::<u16>(), tcp in proptest::prelude::any::<bool>()) {
            let (es, ed) = expected(&s, &d);
            let mut buf = [0u8; 128];
            let n = proxy_v2_header(&mut buf, (s, sp), (d, dp), tcp).unwrap();
            proptest::prop_assert_eq!(n, proxy_v2_len(&s, &d));
            proptest::prop_assert_eq!(
                parse_v2(&buf[..n]),
                Some(V2 { tcp, src: (es, sp), dst: (ed, dp), len: n })
            );
            let n = proxy_v1_header(&mut buf, (s, sp), (d, dp)).unwrap();
            proptest::prop_assert!(n <= V1_MAX_LEN);
            let (proto, src, dst, len) = parse_v1(&buf[..n]).unwrap();
            proptest::prop_assert_eq!(proto, if es.is_ipv4() { "TCP4" } else { "TCP6" });
            proptest::prop_assert_eq!((src, dst, len), ((es, sp), (ed, dp), n));
        }
    }

    mod stream {
        use super::super::*;
        use crate::packet::l4::{l4_checksum_ok, parse_packet, tcp_flags::*};
        use crate::packet::nat::CsumMode;
        use crate::packet::seqadj::{tcp_adjust_gap, TcpAdjust};
        use crate::packet::toa_write::testpkt::{build_tcp, ref_valid, TcpSpec};

        #[test]
        fn version_raw_round_trip() {
            for v in [ProxyVersion::Off, ProxyVersion::V1, ProxyVersion::V2] {
                assert_eq!(ProxyVersion::from_raw(v.raw()), Some(v));
            }
            assert_eq!(ProxyVersion::from_raw(3), None);
            assert!(!ProxyVersion::Off.is_on() && ProxyVersion::V2.is_on());
            let mut b = [0u8; HEADER_MAX_LEN];
            let src = (Addr::v4([10, 0, 0, 2]), 40000);
            let dst = (Addr::v4([10, 0, 1, 100]), 80);
            assert_eq!(proxy_header(&mut b, ProxyVersion::Off, src, dst), Ok(0));
            assert_eq!(
                proxy_header(&mut b, ProxyVersion::V2, src, dst),
                Ok(V2_LEN_V4)
            );
            let n = proxy_header(&mut b, ProxyVersion::V1, src, dst).unwrap();
            assert_eq!(&b[..n], b"PROXY TCP4 10.0.0.2 10.0.1.100 40000 80\r\n");
        }

        #[test]
        fn client_actions() {
            let s = ProxyStream::new(999, 28);
            let start = 1000;
            use ClientAction::*;
            // The handshake ACK: replaced by the header segment.
            assert_eq!(s.client_segment(false, start, 0, ACK), HeaderInstead);
            // First data, or a FIN at once: header first.
            assert_eq!(s.client_segment(false, start, 100, ACK | PSH), HeaderFirst);
            assert_eq!(s.client_segment(false, start, 0, ACK | FIN), HeaderFirst);
            // Acknowledged: never again.
            assert_eq!(s.client_segment(true, start, 100, ACK), Forward);
            // Later data, SYN retransmissions, resets, no ACK.
            assert_eq!(s.client_segment(false, start + 100, 100, ACK), Forward);
            assert_eq!(s.client_segment(false, 999, 0, SYN), Forward);
            assert_eq!(s.client_segment(false, start, 0, RST | ACK), Forward);
            assert_eq!(s.client_segment(false, start, 10, PSH), Forward);
            assert_eq!((s.seq_delta(SYN), s.seq_delta(ACK)), (0, 28));
            let empty = ProxyStream::new(999, 0);
            assert_eq!(empty.client_segment(false, start, 0, ACK), Forward);
        }

        fn template(ip_opt_words: usize, payload: &[u8]) -> Vec<u8> {
            build_tcp(&TcpSpec {
                saddr: [10, 0, 0, 2],
                daddr: [10, 0, 1, 100],
                sport: 40000,
                dport: 80,
                seq: 0xffff_fffe,
                ack: 77,
                flags: ACK | PSH | FIN,
                window: 502,
                ip_opt_words,
                // NOP NOP timestamp.
                opts: vec![1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3],
                payload: payload.to_vec(),
                id: 4321,
                df: false,
            })
        }

        #[test]
        fn header_segment_from_template() {
            let hdr = b"PROXY TCP4 10.0.0.2 10.0.1.100 40000 80\r\n";
            for opt_words in [0, 2] {
                let t = template(opt_words, b"GET / HTTP/1.0\r\n\r\n");
                let mut out = [0u8; HEADER_SEGMENT_MAX_LEN];
                let n = header_segment(&t, hdr, &mut out).unwrap();
                let p = &out[..n];
                assert!(ref_valid(p));
                assert!(ipv4::header_checksum_ok(p).unwrap());
                assert!(l4_checksum_ok(p).unwrap());
                let i = parse_packet(p).unwrap();
                let ti = parse_packet(&t).unwrap();
                assert_eq!(
                    (i.saddr, i.daddr, i.sport, i.dport),
                    (ti.saddr, ti.daddr, ti.sport, ti.dport)
                );
                assert_eq!(i.tcp_flags, ACK | PSH);
                assert_eq!(p[0], 0x45);
                assert_eq!(&p[4..6], &4321u16.to_be_bytes());
                assert_eq!(p[6] & 0x40, 0x40);
                let l4 = usize::from(t[0] & 0xf) * 4;
                // seq, ack, window, options as the template's.
                assert_eq!(&p[24..32], &t[l4 + 4..l4 + 12]);
                assert_eq!(&p[34..36], &t[l4 + 14..l4 + 16]);
                assert_eq!(&p[40..52], &t[l4 + 20..l4 + 32]);
                assert_eq!(&p[52..], hdr);
            }
            // Errors.
            let t = template(0, b"");
            let mut small = [0u8; 60];
            assert_eq!(
                header_segment(&t, &[0; 20], &mut small),
                Err(PacketError::Truncated)
            );
            let mut out = [0u8; HEADER_SEGMENT_MAX_LEN + 10];
            assert_eq!(
                header_segment(&t, &[0; HEADER_MAX_LEN + 1], &mut out),
                Err(PacketError::TooBig)
            );
            assert_eq!(
                header_segment(&t[..30], b"x", &mut out),
                Err(PacketError::Truncated)
            );
            let mut udp = t.clone();
            udp[9] = 17;
            assert_eq!(
                header_segment(&udp, b"x", &mut out),
                Err(PacketError::UnsupportedProtocol)
            );
        }

        /// A client stream through the director to a receiver that keeps
        /// bytes in order (a simplified TCP receiver): the server reads
        /// header + client data, whatever is lost on the way, and every
        /// acknowledgment the client sees is one of its own sequence
        /// numbers, never past what it sent.
        #[test]
        fn stream_survives_loss() {
            let hdr = [0xaau8; 28];
            let isn = 0xffff_fff0u32;
            let s = ProxyStream::new(isn, hdr.len() as u32);
            let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
            // Loss patterns: which director->server sends are lost.
            for lost in [vec![], vec![0], vec![0, 1], vec![1], vec![0, 2, 3]] {
                let mut rcv_nxt = s.gap.start; // server space
                let mut got: Vec<u8> = Vec::new();
                let mut acked = false;
                let mut sends = 0usize;
                let mut client_una = s.gap.start;
                // The client's segments: handshake ACK, then 3 data
                // segments of 100, retransmitting from its una until all
                // is acknowledged.
                let mut deliver = |seq: u32, bytes: &[u8], got: &mut Vec<u8>, rcv_nxt: &mut u32| {
                    let n = sends;
                    sends += 1;
                    if lost.contains(&n) {
                        return None;
                    }
                    if seq == *rcv_nxt {
                        got.extend_from_slice(bytes);
                        *rcv_nxt = rcv_nxt.wrapping_add(bytes.len() as u32);
                    }
                    Some(*rcv_nxt)
                };
                let handle_ack = |a: u32, acked: &mut bool, una: &mut u32| {
                    if s.gap.covered_by(a) {
                        *acked = true;
                    }
                    let ca = s.gap.map(a);
                    // Never past what the client sent.
                    assert!((ca.wrapping_sub(s.gap.start) as usize) <= data.len());
                    if (ca.wrapping_sub(*una) as i32) > 0 {
                        *una = ca;
                    }
                };
                let mut first = true;
                for _round in 0..20 {
                    let off = client_una.wrapping_sub(s.gap.start) as usize;
                    if off >= data.len() {
                        break;
                    }
                    let mut segs: Vec<(u32, Vec<u8>)> = Vec::new();
                    if first {
                        segs.push((s.gap.start, vec![]));
                        first = false;
                    }
                    let mut o = off;
                    while o < data.len() {
                        let e = (o + 100).min(data.len());
                        segs.push((s.gap.start.wrapping_add(o as u32), data[o..e].to_vec()));
                        o = e;
                    }
                    for (seq, payload) in segs {
                        let act = s.client_segment(acked, seq, payload.len() as u32, ACK);
                        if act != ClientAction::Forward {
                            if let Some(a) = deliver(seq, &hdr, &mut got, &mut rcv_nxt) {
                                handle_ack(a, &mut acked, &mut client_una);
                            }
                        }
                        if act == ClientAction::HeaderInstead {
                            continue;
                        }
                        let sseq = seq.wrapping_add(s.seq_delta(ACK));
                        if let Some(a) = deliver(sseq, &payload, &mut got, &mut rcv_nxt) {
                            handle_ack(a, &mut acked, &mut client_una);
                        }
                    }
                }
                let mut want = hdr.to_vec();
                want.extend_from_slice(&data);
                assert_eq!(got, want, "lost {lost:?}");
                assert_eq!(client_una, s.gap.start.wrapping_add(data.len() as u32));
            }
        }

        /// A server segment acknowledging past the header, with a SACK
        /// block: mapped into the client's space.
        #[test]
        fn server_ack_mapped() {
            let s = ProxyStream::new(999, 28);
            let p = build_tcp(&TcpSpec {
                saddr: [10, 0, 1, 100],
                daddr: [10, 0, 0, 2],
                sport: 80,
                dport: 40000,
                seq: 5,
                ack: 1000 + 28 + 50,
                flags: ACK,
                window: 100,
                ip_opt_words: 0,
                opts: vec![1, 1, 5, 10, 0, 0, 0x04, 0xb0, 0, 0, 0x05, 0x14],
                payload: vec![],
                id: 1,
                df: true,
            });
            let mut q = p.clone();
            tcp_adjust_gap(&mut q, &TcpAdjust::default(), Some(s.gap), CsumMode::Full).unwrap();
            let be = |o: usize| u32::from_be_bytes(q[o..o + 4].try_into().unwrap());
            assert_eq!(be(28), 1050);
            assert_eq!((be(44), be(48)), (0x4b0 - 28, 0x514 - 28));
            assert!(l4_checksum_ok(&q).unwrap());
        }
    }
}
