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
//! without TLVs. Inserting the bytes shifts the client's sequence space by
//! the header's length for the rest of the connection
//! ([`crate::packet::seqadj::ConnAdjust::insert_to_server`]).
//!
//! Both families: when the two addresses are of different families (an
//! IPv6 client of an IPv4 service, say), both are given as IPv6, the IPv4
//! one IPv4-mapped (`::ffff:a.b.c.d`), as HAProxy does.

use crate::addr::{Addr, Af};
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
}
