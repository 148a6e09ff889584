// SPDX-License-Identifier: GPL-2.0
//! The IPv4 header: parsing and validation, header checksum, TTL.

use super::{csum, rd16, rd4, rd8, wr16, PacketError};
use crate::addr::Addr;

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HLEN: usize = 20;
/// Offset of the source address in the IPv4 header.
pub const SADDR_OFF: usize = 12;
/// Offset of the destination address in the IPv4 header.
pub const DADDR_OFF: usize = 16;
/// Offset of the header checksum in the IPv4 header.
pub const CHECK_OFF: usize = 10;
/// Offset of the TTL in the IPv4 header.
pub const TTL_OFF: usize = 8;

/// `IP_DF` in the flags/fragment-offset word.
const IP_DF: u16 = 0x4000;
/// `IP_MF` in the flags/fragment-offset word.
const IP_MF: u16 = 0x2000;
/// `IP_OFFSET` in the flags/fragment-offset word.
const IP_OFFSET: u16 = 0x1fff;

/// Where a packet sits in a fragmented datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fragment {
    /// Not a fragment (MF clear, offset 0).
    None,
    /// First fragment (MF set, offset 0): carries the transport header.
    First,
    /// A later fragment (offset not 0): no transport header.
    Later,
}

/// The fields of an IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Header {
    /// Header length in bytes (IHL * 4, 20..=60).
    pub header_len: usize,
    /// Type of service / DS field (DSCP and ECN).
    pub tos: u8,
    /// Total length from the header. May exceed the slice's length when the
    /// skb is non-linear.
    pub total_len: u16,
    /// Identification.
    pub id: u16,
    /// Don't-fragment flag.
    pub df: bool,
    /// More-fragments flag.
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number of the payload.
    pub protocol: u8,
    /// Header checksum as found (not verified; see [`header_checksum_ok`]).
    pub checksum: u16,
    /// Source address.
    pub saddr: Addr,
    /// Destination address.
    pub daddr: Addr,
}

impl Ipv4Header {
    /// Parses and validates the IPv4 header at the start of `buf`: at least
    /// 20 bytes, version 4, IHL >= 5 with the whole header (options
    /// included) in `buf`, total length >= header length. The total length
    /// may exceed `buf.len()` (non-linear skb); see [`Ipv4Header::end`].
    /// The header checksum is not verified (the kernel's `ip_rcv` has done
    /// so); use [`header_checksum_ok`] if needed.
    ///
    /// A total length of 0 (IPv4 BIG TCP GSO packets) is rejected as
    /// [`PacketError::BadTotalLength`].
    pub fn parse(buf: &[u8]) -> Result<Ipv4Header, PacketError> {
        let h = Ipv4Header::parse_quoted(buf)?;
        if usize::from(h.total_len) < h.header_len {
            return Err(PacketError::BadTotalLength);
        }
        Ok(h)
    }

    /// Like [`Ipv4Header::parse`] but without the total-length check, for
    /// headers quoted inside ICMP errors (upstream does not check it there
    /// either).
    pub(crate) fn parse_quoted(buf: &[u8]) -> Result<Ipv4Header, PacketError> {
        let vihl = rd8(buf, 0).ok_or(PacketError::Truncated)?;
        if buf.len() < IPV4_MIN_HLEN {
            return Err(PacketError::Truncated);
        }
        if vihl >> 4 != 4 {
            return Err(PacketError::BadVersion);
        }
        let header_len = usize::from(vihl & 0x0f) * 4;
        if header_len < IPV4_MIN_HLEN {
            return Err(PacketError::BadHeaderLength);
        }
        if header_len > buf.len() {
            return Err(PacketError::Truncated);
        }
        let t = PacketError::Truncated;
        let frag = rd16(buf, 6).ok_or(t)?;
        Ok(Ipv4Header {
            header_len,
            tos: rd8(buf, 1).ok_or(t)?,
            total_len: rd16(buf, 2).ok_or(t)?,
            id: rd16(buf, 4).ok_or(t)?,
            df: frag & IP_DF != 0,
            mf: frag & IP_MF != 0,
            frag_offset: frag & IP_OFFSET,
            ttl: rd8(buf, TTL_OFF).ok_or(t)?,
            protocol: rd8(buf, 9).ok_or(t)?,
            checksum: rd16(buf, CHECK_OFF).ok_or(t)?,
            saddr: Addr::v4(rd4(buf, SADDR_OFF).ok_or(t)?),
            daddr: Addr::v4(rd4(buf, DADDR_OFF).ok_or(t)?),
        })
    }

    /// The packet's place in a fragmented datagram.
    pub fn fragment(&self) -> Fragment {
        if self.frag_offset != 0 {
            Fragment::Later
        } else if self.mf {
            Fragment::First
        } else {
            Fragment::None
        }
    }

    /// Whether the packet is a fragment (MF set or offset not 0; the
    /// kernel's `ip_is_fragment`).
    pub fn is_fragment(&self) -> bool {
        self.fragment() != Fragment::None
    }

    /// Whether the packet is the first fragment of a fragmented datagram
    /// (MF set, offset 0).
    pub fn is_first_fragment(&self) -> bool {
        self.fragment() == Fragment::First
    }

    /// The fragment offset in bytes.
    pub fn frag_offset_bytes(&self) -> usize {
        usize::from(self.frag_offset) * 8
    }

    /// The end of the packet's bytes within a slice of `buf_len` bytes: the
    /// smaller of the total length and `buf_len`.
    pub fn end(&self, buf_len: usize) -> usize {
        usize::from(self.total_len).min(buf_len)
    }

    /// The source address octets.
    pub(crate) fn saddr4(&self) -> [u8; 4] {
        octets4(&self.saddr)
    }

    /// The destination address octets.
    pub(crate) fn daddr4(&self) -> [u8; 4] {
        octets4(&self.daddr)
    }
}

/// The four octets of an IPv4 address (zeros for IPv6, which callers
/// reject before).
pub(crate) fn octets4(a: &Addr) -> [u8; 4] {
    let [a0, a1, a2, a3, ..] = a.inet();
    [a0, a1, a2, a3]
}

/// The IPv4 octets of `a`, or [`PacketError::UnsupportedFamily`].
#[inline]
pub(crate) fn require_v4(a: &Addr) -> Result<[u8; 4], PacketError> {
    match a.af() {
        crate::addr::Af::Inet => Ok(octets4(a)),
        crate::addr::Af::Inet6 => Err(PacketError::UnsupportedFamily),
    }
}

/// Whether the IPv4 header at the start of `buf` has a correct checksum.
pub fn header_checksum_ok(buf: &[u8]) -> Result<bool, PacketError> {
    let h = Ipv4Header::parse_quoted(buf)?;
    let hdr = buf.get(..h.header_len).ok_or(PacketError::Truncated)?;
    Ok(csum::fold(csum::sum(hdr, 0)) == 0xffff)
}

/// Recomputes the checksum of the IPv4 header at the start of `buf` (the
/// kernel's `ip_send_check`).
pub fn set_header_checksum(buf: &mut [u8]) -> Result<(), PacketError> {
    let h = Ipv4Header::parse_quoted(buf)?;
    let c = csum::ipv4_header_checksum(buf.get(..h.header_len).ok_or(PacketError::Truncated)?);
    wr16(buf, CHECK_OFF, c)
}

/// Outcome of [`decrement_ttl`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// The TTL was decremented to this value and the checksum updated.
    Decremented(u8),
    /// The TTL was 0 or 1: the packet must be dropped and an ICMP time
    /// exceeded (`ICMP_EXC_TTL`) sent; the packet is unchanged.
    Expired,
}

/// Decrements the TTL of the IPv4 packet at the start of `buf` and fixes
/// the header checksum, as upstream's `decrement_ttl` (`ip_vs_xmit.c`) does
/// before forwarding to a non-local destination. The checksum is updated
/// incrementally (the kernel's `ip_decrease_ttl`), so only the fixed
/// header needs to be in `buf`.
///
/// The update is the kernel's own arithmetic (the word holding the TTL
/// drops by `0x0100`, so the checksum rises by it, end-around carry, and
/// an all-ones result is stored as zero): the same value as the general
/// RFC 1624 update ([`csum::update16`]), which the tests check for every
/// checksum and TTL.
#[inline]
pub fn decrement_ttl(buf: &mut [u8]) -> Result<Ttl, PacketError> {
    let Some(&vihl) = buf.first() else {
        return Err(PacketError::Truncated);
    };
    if vihl >> 4 != 4 {
        return Err(PacketError::BadVersion);
    }
    let Some(h) = buf.first_chunk_mut::<IPV4_MIN_HLEN>() else {
        return Err(PacketError::Truncated);
    };
    let [_, _, _, _, _, _, _, _, ttl, _, c0, c1, ..] = h;
    if *ttl <= 1 {
        return Ok(Ttl::Expired);
    }
    *ttl -= 1;
    let new_ttl = *ttl;
    let w = u32::from(u16::from_be_bytes([*c0, *c1])) + 0x0100;
    let w = (w & 0xffff) + (w >> 16);
    // `w` fits 16 bits after the fold; all ones is stored as zero.
    let check = if w >= 0xffff { 0 } else { w as u16 };
    [*c0, *c1] = check.to_be_bytes();
    Ok(Ttl::Decremented(new_ttl))
}

/// Whether the IPv4 header at the start of `buf` has DF set (false if
/// `buf` is too short to tell).
#[inline]
pub fn dont_fragment(buf: &[u8]) -> bool {
    rd16(buf, 6).is_some_and(|f| f & IP_DF != 0)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn parses_syn() {
        let h = Ipv4Header::parse(&TCP_SYN).unwrap();
        assert_eq!(h.header_len, 20);
        assert_eq!(h.total_len, 40);
        assert_eq!(h.id, 1);
        assert!(h.df);
        assert!(!h.mf);
        assert_eq!(h.fragment(), Fragment::None);
        assert_eq!(h.ttl, 64);
        assert_eq!(h.protocol, 6);
        assert_eq!(h.saddr, Addr::v4([10, 0, 0, 2]));
        assert_eq!(h.daddr, Addr::v4([10, 0, 1, 100]));
        assert!(header_checksum_ok(&TCP_SYN).unwrap());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Ipv4Header::parse(&[]), Err(PacketError::Truncated));
        assert_eq!(
            Ipv4Header::parse(&TCP_SYN[..19]),
            Err(PacketError::Truncated)
        );
        let mut p = TCP_SYN;
        p[0] = 0x65;
        assert_eq!(Ipv4Header::parse(&p), Err(PacketError::BadVersion));
        p[0] = 0x44;
        assert_eq!(Ipv4Header::parse(&p), Err(PacketError::BadHeaderLength));
        p[0] = 0x4f;
        assert_eq!(Ipv4Header::parse(&p), Err(PacketError::Truncated));
        let mut p = TCP_SYN;
        p[2] = 0;
        p[3] = 19;
        assert_eq!(Ipv4Header::parse(&p), Err(PacketError::BadTotalLength));
    }

    #[test]
    fn fragments() {
        let mut p = TCP_SYN;
        p[6] = 0x20; // MF
        p[7] = 0;
        let h = Ipv4Header::parse(&p).unwrap();
        assert_eq!(h.fragment(), Fragment::First);
        assert!(h.is_fragment() && h.is_first_fragment() && !h.df);
        p[6] = 0x00;
        p[7] = 0x03;
        let h = Ipv4Header::parse(&p).unwrap();
        assert_eq!(h.fragment(), Fragment::Later);
        assert_eq!(h.frag_offset_bytes(), 24);
        assert!(h.is_fragment() && !h.is_first_fragment());
    }

    #[test]
    fn ttl() {
        let mut p = TCP_SYN;
        assert_eq!(decrement_ttl(&mut p), Ok(Ttl::Decremented(63)));
        assert!(header_checksum_ok(&p).unwrap());
        p[TTL_OFF] = 1;
        set_header_checksum(&mut p).unwrap();
        let before = p;
        assert_eq!(decrement_ttl(&mut p), Ok(Ttl::Expired));
        assert_eq!(p, before);
    }

    /// The kernel's TTL arithmetic gives what the general incremental
    /// update gives, for every checksum and TTL (and the protocols the
    /// data path sees).
    #[test]
    fn decrement_ttl_matches_update16() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        let ttls = [2u8, 3, 64, 128, 254, 255];
        for proto in [6u8, 17] {
            for ttl in 2u8..=255 {
                // Every checksum for some TTLs, every 97th for the rest.
                let step = if ttls.contains(&ttl) { 1 } else { 97 };
                for check in (0u16..=0xffff).step_by(step) {
                    p[8] = ttl;
                    p[9] = proto;
                    p[10..12].copy_from_slice(&check.to_be_bytes());
                    assert_eq!(decrement_ttl(&mut p), Ok(Ttl::Decremented(ttl - 1)));
                    let want = csum::update16(
                        check,
                        u16::from_be_bytes([ttl, proto]),
                        u16::from_be_bytes([ttl - 1, proto]),
                    );
                    assert_eq!(
                        u16::from_be_bytes([p[10], p[11]]),
                        want,
                        "check {check:#x} ttl {ttl}"
                    );
                }
            }
        }
    }
}
