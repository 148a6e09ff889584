// SPDX-License-Identifier: GPL-2.0
//! The hash functions upstream's schedulers use, bit for bit: `hash_32`
//! (`include/linux/hash.h`), the IPv6 address fold of the `ip_vs_*_hashkey`
//! helpers, and `hsiphash` as 64-bit kernels compute it (`lib/siphash.c`).

use crate::addr::{Addr, Af};

/// A keyed hash of an address (its family and 16 address bytes) for
/// ipvs_rs's own tables: the folded multiply of foldhash/wyhash, the two
/// halves of the address each XORed with a 64-bit key word, multiplied to
/// 128 bits, the product's halves XORed. One multiplication: a few
/// instructions where SipHash-1-3 takes about a hundred. Not a PRF, but
/// keyed per table with random words, so which addresses collide cannot be
/// worked out in advance (upstream's `lblc`/`lblcr` hash is unkeyed).
/// The second key word should have its top bit set: an IPv4 address's
/// upper half is just its family, so its factor is then never 0.
#[inline]
pub(crate) fn addr_fold_mul(key: [u64; 2], addr: &Addr) -> u64 {
    let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = addr.inet();
    let lo = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
    let hi = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) ^ u64::from(addr.af().raw());
    let [k0, k1] = key;
    let p = u128::from(lo ^ k0) * u128::from(hi ^ k1);
    (p as u64) ^ ((p >> 64) as u64)
}

/// `GOLDEN_RATIO_32` of `include/linux/hash.h`.
const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// `hash_32(val, bits)` (the top `bits` bits of `val * GOLDEN_RATIO_32`)
/// with `shift = 32 - bits` precomputed by the caller; `bits` in 1..=32
/// means a shift below 32 (larger shifts are taken modulo 32, never a
/// panic).
#[inline]
pub(crate) fn hash_32_shr(val: u32, shift: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32).wrapping_shr(shift)
}

/// `ntohl(addr_fold)` as the `ip_vs_*_hashkey` helpers compute it for a
/// service of family `af`: the first 32-bit word for IPv4, the XOR of the
/// four words for IPv6. The address bytes are read as the 16-byte
/// `nf_inet_addr` image whatever `addr`'s own family, as upstream does
/// (it folds a real server's address with the *service's* family).
#[inline]
pub(crate) fn fold(af: Af, addr: &Addr) -> u32 {
    let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3] = addr.inet();
    let w0 = u32::from_be_bytes([a0, a1, a2, a3]);
    match af {
        Af::Inet => w0,
        Af::Inet6 => {
            w0 ^ u32::from_be_bytes([b0, b1, b2, b3])
                ^ u32::from_be_bytes([c0, c1, c2, c3])
                ^ u32::from_be_bytes([d0, d1, d2, d3])
        }
    }
}

const SIP_C0: u64 = 0x736f_6d65_7073_6575;
const SIP_C1: u64 = 0x646f_7261_6e64_6f6d;
const SIP_C2: u64 = 0x6c79_6765_6e65_7261;
const SIP_C3: u64 = 0x7465_6462_7974_6573;

struct Sip([u64; 4]);

impl Sip {
    #[inline]
    fn round(&mut self) {
        let [mut v0, mut v1, mut v2, mut v3] = self.0;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        self.0 = [v0, v1, v2, v3];
    }
}

/// SipHash-1-3 of `data` under `key`, the full 64-bit result. This is what
/// the kernel's `hsiphash()` computes on 64-bit architectures before it
/// truncates to 32 bits (on 32-bit ones it is HalfSipHash-1-3 instead).
#[inline]
pub(crate) fn siphash13(key: [u64; 2], data: &[u8]) -> u64 {
    let [k0, k1] = key;
    let mut s = Sip([SIP_C0 ^ k0, SIP_C1 ^ k1, SIP_C2 ^ k0, SIP_C3 ^ k1]);
    // Only the low byte of the length matters (len << 56).
    let mut b = (data.len() as u64) << 56;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut m = [0u8; 8];
        m.copy_from_slice(chunk);
        let m = u64::from_le_bytes(m);
        s.0[3] ^= m;
        s.round();
        s.0[0] ^= m;
    }
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        b |= u64::from(byte) << (8 * i);
    }
    s.0[3] ^= b;
    s.round();
    s.0[0] ^= b;
    s.0[2] ^= 0xff;
    s.round();
    s.round();
    s.round();
    let [v0, v1, v2, v3] = s.0;
    v0 ^ v1 ^ v2 ^ v3
}

/// `hsiphash(&v, sizeof(v), key)` for a `u32` `v` on a 64-bit
/// little-endian kernel (equal to `hsiphash_1u32(v, key)` there).
#[inline]
pub(crate) fn hsiphash_u32(key: [u64; 2], v: u32) -> u32 {
    siphash13(key, &v.to_le_bytes()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `test_vectors_hsiphash` (BITS_PER_LONG == 64) of the kernel's
    /// `lib/siphash_kunit.c`: hsiphash of the bytes 0, 1, ... i-1.
    const VECTORS: [u32; 64] = [
        0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7,
        0x9bb11140, 0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7,
        0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c, 0xb473e63e, 0x8d297d1c, 0xa6cce040,
        0x2b45f844, 0xa320872e, 0xdae6c123, 0x67349c8c, 0x705b0979, 0xca9913a5, 0x4ade3b35,
        0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc, 0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e,
        0xbf186b91, 0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392, 0x99e41531, 0x3f1ad944,
        0xc8138825, 0xc28949a6, 0xfaf8876b, 0x9f042196, 0x68b1d623, 0x8b5114fd, 0xdf074c46,
        0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0, 0x73f0bce6, 0x70a7e980,
        0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0,
        0xb7bbb3a8,
    ];
    const KEY: [u64; 2] = [0x0706050403020100, 0x0f0e0d0c0b0a0908];

    #[test]
    fn hsiphash_kernel_vectors() {
        let input: Vec<u8> = (0u8..64).collect();
        for (i, &want) in VECTORS.iter().enumerate() {
            assert_eq!(siphash13(KEY, &input[..i]) as u32, want, "len {i}");
        }
        // hsiphash_1u32(0x03020100) == vector 4, as the kunit test checks.
        assert_eq!(hsiphash_u32(KEY, 0x0302_0100), VECTORS[4]);
    }

    #[test]
    fn addr_fold_mul_keyed_and_spread() {
        let a = Addr::v4([10, 0, 0, 1]);
        let k1 = 1 << 63 | 2;
        assert_eq!(addr_fold_mul([1, k1], &a), addr_fold_mul([1, k1], &a));
        assert_ne!(addr_fold_mul([1, k1], &a), addr_fold_mul([3, k1], &a));
        assert_ne!(
            addr_fold_mul([1, k1], &a),
            addr_fold_mul([1, k1], &Addr::v4([10, 0, 0, 2]))
        );
        // Consecutive addresses spread over the top bits (what the
        // tables scale by): 4096 of them into 256 buckets, none above
        // 3 times the even share (a multiplication spreads them evenly,
        // leaving some buckets empty rather than crowding others).
        let mut buckets = [0u32; 256];
        for i in 0..4096u32 {
            let h = addr_fold_mul(
                [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210],
                &Addr::v4(i.to_be_bytes()),
            );
            buckets[(h >> 56) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 48), "{buckets:?}");
    }

    #[test]
    fn hash_32_matches_definition() {
        let hash_32 = |val: u32, bits: u32| hash_32_shr(val, 32 - bits);
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(1, 32), GOLDEN_RATIO_32);
        assert_eq!(hash_32(1, 8), GOLDEN_RATIO_32 >> 24);
        assert_eq!(
            hash_32(0xdead_beef, 10),
            0xdead_beefu32.wrapping_mul(GOLDEN_RATIO_32) >> 22
        );
    }

    #[test]
    fn folds() {
        let v4 = Addr::v4([10, 1, 2, 3]);
        assert_eq!(fold(Af::Inet, &v4), 0x0a01_0203);
        let mut b = [0u8; 16];
        b[3] = 1;
        b[7] = 2;
        b[15] = 8;
        assert_eq!(fold(Af::Inet6, &Addr::v6(b)), 1 ^ 2 ^ 8);
        // A v6 real server folded with an IPv4 service's family: first word.
        b[0] = 0x20;
        assert_eq!(fold(Af::Inet, &Addr::v6(b)), 0x2000_0001);
    }
}
