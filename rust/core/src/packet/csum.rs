// SPDX-License-Identifier: GPL-2.0
//! Internet checksums (RFC 1071), incremental updates (RFC 1624) and the
//! SCTP CRC32c (RFC 4960 appendix B).
//!
//! Sums are over big-endian 16-bit words; a trailing odd byte is padded
//! with a zero byte. A *partial sum* (`u32`) is an unfolded ones' complement
//! sum like the kernel's `__wsum`; [`fold`] reduces it to 16 bits and
//! [`finish`] also complements it (the kernel's `csum_fold`). Checksum
//! values (`u16`) are in host order: write them with `to_be_bytes`.
//!
//! Representation of zero: a ones' complement sum has two zeros, `0x0000`
//! (+0) and `0xffff` (-0). Like the kernel, the incremental updates here
//! never return `0xffff` for a final checksum (the kernel starts from
//! `~csum_unfold(check)`, which is never +0), so the result is the same
//! value a from-scratch computation gives, and applying an update followed
//! by its inverse restores the original bytes.

/// Adds two partial sums with end-around carry.
#[inline]
pub fn add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(u32::from(carry))
}

/// Folds a 64-bit accumulator into a 32-bit partial sum (end-around carry,
/// so a non-zero accumulator never becomes zero).
fn fold64(mut acc: u64) -> u32 {
    while acc > u64::from(u32::MAX) {
        acc = (acc & u64::from(u32::MAX)) + (acc >> 32);
    }
    // The loop leaves acc <= u32::MAX.
    u32::try_from(acc).unwrap_or(u32::MAX)
}

/// RFC 1071: adds `data` (big-endian 16-bit words, odd tail padded with
/// zero) to the partial sum `initial`. Like the kernel's `csum_partial`.
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in words.by_ref() {
        if let [hi, lo] = *w {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let [last] = *words.remainder() {
        acc += u64::from(u16::from_be_bytes([last, 0]));
    }
    fold64(acc)
}

/// Folds a partial sum to 16 bits without complementing it. The result is
/// zero only if `sum` is zero.
#[inline]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    // Two folds of a u32 always fit in 16 bits.
    u16::try_from(s).unwrap_or(0xffff)
}

/// Folds and complements a partial sum: the checksum to store (the kernel's
/// `csum_fold`).
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// The Internet checksum of `data` (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// The IPv4 pseudo-header partial sum for TCP/UDP: source, destination,
/// protocol and L4 length (the kernel's `csum_tcpudp_nofold` with sum 0).
pub fn pseudo_header_sum_v4(saddr: [u8; 4], daddr: [u8; 4], proto: u8, len: u16) -> u32 {
    let [s0, s1, s2, s3] = saddr;
    let [d0, d1, d2, d3] = daddr;
    u32::from(u16::from_be_bytes([s0, s1]))
        + u32::from(u16::from_be_bytes([s2, s3]))
        + u32::from(u16::from_be_bytes([d0, d1]))
        + u32::from(u16::from_be_bytes([d2, d3]))
        + u32::from(proto)
        + u32::from(len)
}

/// What the kernel stores in the TCP/UDP checksum field of a
/// `CHECKSUM_PARTIAL` skb: the folded, *uncomplemented* pseudo-header sum,
/// `~csum_tcpudp_magic(saddr, daddr, len, proto, 0)`. Hardware (or
/// `skb_checksum_help`) later adds the L4 bytes and complements.
pub fn partial_seed_v4(saddr: [u8; 4], daddr: [u8; 4], proto: u8, len: u16) -> u16 {
    fold(pseudo_header_sum_v4(saddr, daddr, proto, len))
}

/// Completes a `CHECKSUM_PARTIAL` TCP/UDP checksum the way the device or
/// `skb_checksum_help` does: sums the L4 bytes (the checksum field holding
/// the seed) and complements. `l4` is the whole L4 segment. UDP callers map
/// a zero result to `0xffff`.
pub fn complete_partial(l4: &[u8]) -> u16 {
    finish(sum(l4, 0))
}

/// The IPv4 header checksum of `hdr` (the checksum field at bytes 10..12
/// is treated as zero), like the kernel's `ip_fast_csum` on a header being
/// sent (`ip_send_check`).
pub fn ipv4_header_checksum(hdr: &[u8]) -> u16 {
    let head = hdr.get(..10).unwrap_or(hdr);
    let tail = hdr.get(12..).unwrap_or(&[]);
    finish(sum(tail, sum(head, 0)))
}

/// An accumulated set of 16-bit word replacements inside a checksummed
/// region, to update a checksum incrementally (RFC 1624). All replaced
/// words must sit at even offsets of the checksummed region (true for every
/// address, port and checksum field of IPv4, TCP, UDP and ICMP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsumDiff {
    acc: u32,
}

impl CsumDiff {
    /// No change.
    pub const fn new() -> CsumDiff {
        CsumDiff { acc: 0 }
    }

    /// A 16-bit word changes from `old` to `new` (adds `~old + new`, like
    /// the kernel's `ip_vs_check_diff2`).
    #[inline]
    pub fn replace16(&mut self, old: u16, new: u16) {
        self.acc = add(self.acc, u32::from(!old));
        self.acc = add(self.acc, u32::from(new));
    }

    /// A 32-bit field (e.g. an IPv4 address) changes from `old` to `new`
    /// (like the kernel's `ip_vs_check_diff4`).
    #[inline]
    pub fn replace4(&mut self, old: [u8; 4], new: [u8; 4]) {
        let [o0, o1, o2, o3] = old;
        let [n0, n1, n2, n3] = new;
        self.replace16(u16::from_be_bytes([o0, o1]), u16::from_be_bytes([n0, n1]));
        self.replace16(u16::from_be_bytes([o2, o3]), u16::from_be_bytes([n2, n3]));
    }

    /// Merges another diff into this one.
    pub fn merge(&mut self, other: CsumDiff) {
        self.acc = add(self.acc, other.acc);
    }

    /// The updated value of a final checksum field `check` (RFC 1624
    /// eqn. 3, `HC' = ~(~HC + ~m + m')`), exactly as the kernel's
    /// `tcp_fast_csum_update`: `csum_fold(diff + ~csum_unfold(check))`.
    /// Never returns `0xffff`.
    #[inline]
    pub fn apply(&self, check: u16) -> u16 {
        // ~csum_unfold(check): the 32-bit complement, never zero.
        let seed = 0xffff_0000 | u32::from(!check);
        finish(add(seed, self.acc))
    }

    /// The updated value of a `CHECKSUM_PARTIAL` field, which holds an
    /// uncomplemented pseudo-header sum: `fold(field + diff)`, exactly as the
    /// kernel's `tcp_partial_csum_update`:
    /// `~csum_fold(diff + csum_unfold(check))`.
    #[inline]
    pub fn apply_partial(&self, field: u16) -> u16 {
        fold(add(u32::from(field), self.acc))
    }
}

/// RFC 1624: a final checksum after one 16-bit word of the covered data
/// changed from `old` to `new`.
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let mut d = CsumDiff::new();
    d.replace16(old, new);
    d.apply(check)
}

/// RFC 1624: a final checksum after a 32-bit field (at an even offset) of
/// the covered data changed from `old` to `new`.
pub fn update32(check: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    let mut d = CsumDiff::new();
    d.replace4(old, new);
    d.apply(check)
}

/// CRC32c (Castagnoli, reflected polynomial `0x82f63b78`) of `data`,
/// continuing from `crc` (start with `!0`; complement the final value).
pub fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = 0u32.wrapping_sub(crc & 1);
            crc = (crc >> 1) ^ (0x82f6_3b78 & mask);
        }
    }
    crc
}

/// The SCTP checksum of a whole SCTP packet `sctp` (common header and
/// chunks) with its checksum field (bytes 8..12) taken as zero. Store it
/// with `to_le_bytes()` (the kernel's `sctp_compute_cksum` returns a
/// `__le32`).
pub fn sctp_checksum(sctp: &[u8]) -> u32 {
    let head = sctp.get(..8).unwrap_or(sctp);
    let tail = sctp.get(12..).unwrap_or(&[]);
    let crc = crc32c_update(!0, head);
    let crc = if sctp.len() >= 12 {
        crc32c_update(crc, &[0; 4])
    } else {
        crc
    };
    !crc32c_update(crc, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
        // Odd length: trailing byte padded.
        assert_eq!(fold(sum(&[0x12], 0)), 0x1200);
        assert_eq!(fold(sum(&[], 0)), 0);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn sum_is_split_invariant_at_even_offsets() {
        let d: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let whole = fold(sum(&d, 0));
        for split in (0..d.len()).step_by(2) {
            let (a, b) = d.split_at(split);
            assert_eq!(fold(sum(b, sum(a, 0))), whole);
        }
    }

    #[test]
    fn ip_header_checksum_known() {
        // scapy: IP(src="10.0.0.2", dst="10.0.1.100", id=1, flags="DF")/TCP()
        let h = [
            0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x25, 0x6a, 0x0a, 0x00,
            0x00, 0x02, 0x0a, 0x00, 0x01, 0x64,
        ];
        assert_eq!(ipv4_header_checksum(&h), 0x256a);
        assert_eq!(fold(sum(&h, 0)), 0xffff);
    }

    #[test]
    fn rfc1624_minus_zero_case() {
        // RFC 1624 section 3 example: header sum 0xcd7a before, m changes
        // from 0x5555 to 0x3285; HC = 0xdd2f, HC' must be 0x0000, not 0xffff.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
        // And back.
        assert_eq!(update16(0x0000, 0x3285, 0x5555), 0xdd2f);
    }

    #[test]
    fn incremental_matches_recompute_exhaustively_on_one_word() {
        let mut data = [0x45u8, 0x00, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x00];
        let c0 = checksum(&data);
        for new in (0..=0xffffu32).step_by(7) {
            let new = u16::try_from(new).unwrap();
            let old = u16::from_be_bytes([data[2], data[3]]);
            data[2..4].copy_from_slice(&new.to_be_bytes());
            let c = checksum(&data);
            assert_eq!(update16(c0, old, new), c, "new={new:#x}");
            data[2..4].copy_from_slice(&old.to_be_bytes());
        }
    }

    #[test]
    fn never_returns_minus_zero() {
        assert_eq!(update16(0xffff, 0, 0), 0);
        assert_eq!(update16(0x0000, 0, 0), 0);
        assert_eq!(update16(0x0000, 0xffff, 0xffff), 0);
        assert_eq!(update32(0x1234, [1, 2, 3, 4], [1, 2, 3, 4]), 0x1234);
    }

    #[test]
    fn partial_update_is_uncomplemented() {
        let s = [10, 0, 0, 2];
        let d = [10, 0, 1, 100];
        let n = [10, 0, 2, 11];
        let seed = partial_seed_v4(s, d, 6, 40);
        let mut diff = CsumDiff::new();
        diff.replace4(d, n);
        assert_eq!(diff.apply_partial(seed), partial_seed_v4(s, n, 6, 40));
    }

    #[test]
    fn crc32c_known() {
        // RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa.
        assert_eq!(!crc32c_update(!0, &[0u8; 32]), 0x8a91_36aa);
        // "123456789" -> 0xe3069283.
        assert_eq!(!crc32c_update(!0, b"123456789"), 0xe306_9283);
    }
}
