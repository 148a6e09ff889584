// SPDX-License-Identifier: GPL-2.0
//! Per-packet byte logic of the data path: parsing, checksums, NAT
//! rewrites, ICMP error translation and IPIP encapsulation.
//!
//! Every function works on a byte slice that starts at the IPv4 header:
//! the kernel glue hands in the linear part of an skb (`skb->data` after
//! `pskb_may_pull`/`skb_ensure_writable` made the needed headers linear).
//! The slice may be *shorter* than the IP total length when the skb is
//! non-linear; functions that only touch headers (parsing, [`nat::dnat`],
//! [`nat::snat`], [`icmp::nat_icmp`]) work on such slices because they update
//! checksums incrementally, while functions that need the whole datagram
//! ([`l4::l4_checksum_ok`], [`l4::fill_l4_checksum`], SCTP CRC updates) return
//! [`PacketError::Incomplete`] when it is not all there. Bytes past the IP
//! total length (link-layer padding) are never read or written.
//!
//! Everything is validated; truncated or garbage input gives a
//! [`PacketError`] and never panics. Functions that modify a packet check
//! everything first, so on error the bytes are unchanged.
//!
//! Only IPv4 is implemented. The types carry an address family
//! ([`crate::addr::Af`], [`crate::addr::Addr`]) so IPv6 can be added without
//! changing them; IPv6 input is rejected with [`PacketError::BadVersion`]
//! and IPv6 addresses with [`PacketError::UnsupportedFamily`].
//!
//! Upstream reference: Linux 6.12 `net/netfilter/ipvs/` (`ip_vs_proto_tcp.c`,
//! `ip_vs_proto_udp.c`, `ip_vs_proto_sctp.c`, `ip_vs_core.c`,
//! `ip_vs_xmit.c`). Where this module deliberately differs, the item's
//! documentation says so.

pub mod csum;
pub mod icmp;
pub mod ipv4;
pub mod l4;
pub mod mss;
pub mod nat;
pub mod seqadj;
pub mod tcpflags;
pub mod toa_write;
pub mod tunnel;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod proptests;

pub use icmp::{nat_icmp, parse_icmp_error, IcmpError, IcmpErrorKind, IcmpNatDir};
pub use ipv4::{Fragment, Ipv4Header};
pub use l4::{parse_packet, PacketInfo};
pub use nat::{dnat, dnat_parsed, snat, snat_parsed, CsumMode};

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of IP-in-IP.
pub const IPPROTO_IPIP: u8 = 4;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol number of SCTP.
pub const IPPROTO_SCTP: u8 = 132;

/// Why a packet could not be parsed or rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketError {
    /// A header the operation needs extends past the end of the slice (or
    /// past the IP total length).
    Truncated,
    /// IP version is not 4.
    BadVersion,
    /// IP header length (IHL) below 5 words.
    BadHeaderLength,
    /// IP total length smaller than the IP header.
    BadTotalLength,
    /// Malformed transport header: TCP data offset below 5 or beyond the IP
    /// payload, UDP length below 8 or beyond the IP payload.
    BadL4Header,
    /// The operation needs the transport header, but the packet is a
    /// fragment that does not carry it (or, for ICMP errors, any fragment:
    /// reassemble first, as upstream's `ip_vs_gather_frags` does).
    Fragment,
    /// The operation needs the whole datagram but the slice holds less than
    /// the IP total length (non-linear skb: linearize first).
    Incomplete,
    /// Not an ICMP packet.
    NotIcmp,
    /// An ICMP packet, but not one of the error types handled here.
    NotIcmpError,
    /// An address of a family this module does not implement (IPv6).
    UnsupportedFamily,
    /// The operation is not defined for the packet's IP protocol.
    UnsupportedProtocol,
    /// The resulting packet would exceed the 65535-byte IPv4 limit.
    TooBig,
}

/// Reads a big-endian `u16` at `off`.
#[inline]
pub(crate) fn rd16(buf: &[u8], off: usize) -> Option<u16> {
    let b = buf.get(off..off.checked_add(2)?)?;
    match *b {
        [hi, lo] => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// Reads four bytes at `off`.
#[inline]
pub(crate) fn rd4(buf: &[u8], off: usize) -> Option<[u8; 4]> {
    let b = buf.get(off..off.checked_add(4)?)?;
    match *b {
        [a, b, c, d] => Some([a, b, c, d]),
        _ => None,
    }
}

/// Reads the byte at `off`.
#[inline]
pub(crate) fn rd8(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

/// Writes a big-endian `u16` at `off`.
#[inline]
pub(crate) fn wr16(buf: &mut [u8], off: usize, v: u16) -> Result<(), PacketError> {
    wr(buf, off, &v.to_be_bytes())
}

/// Writes `v` at `off`.
#[inline]
pub(crate) fn wr(buf: &mut [u8], off: usize, v: &[u8]) -> Result<(), PacketError> {
    let end = off.checked_add(v.len()).ok_or(PacketError::Truncated)?;
    buf.get_mut(off..end)
        .ok_or(PacketError::Truncated)?
        .copy_from_slice(v);
    Ok(())
}
