// SPDX-License-Identifier: GPL-2.0
//! Connection identities, lookup keys and the connection-table hash, as
//! upstream (`ip_vs_conn.c`): Bob Jenkins' `jhash` exactly as
//! `include/linux/jhash.h` computes it, `ip_vs_conn_hashkey`, and the
//! matching rules of the input, output and template lookups.
//!
//! Upstream keeps every connection (and template) in one table, hashed by
//! protocol, client address and client port, so both lookups land in the
//! bucket of the client side:
//!
//! * input (client to director): [`InKey`], protocol + client address and
//!   port, matched on the virtual address and port too;
//! * output (NAT replies, real server to client): [`OutKey`], protocol +
//!   the reply's source (real server address and port) + its destination
//!   (client address and port). It is hashed by its *destination*, the
//!   client, and the source is only compared.
//!
//! A full-NAT mode would add a second, outbound entry per connection,
//! hashed by the local (director) address and port its replies come back
//! to; that would be a separate key type next to these, and needs nothing
//! from them to change.
//!
//! Ports are in host order everywhere; the hash converts them to the
//! kernel's network-order words itself.

use crate::addr::{Addr, Af};

use super::flags;

/// `IPPROTO_IP`: the protocol of firewall-mark persistence templates.
pub const IPPROTO_IP: u16 = 0;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u16 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u16 = 17;
/// `IPPROTO_SCTP`.
pub const IPPROTO_SCTP: u16 = 132;

/// `JHASH_INITVAL`.
pub const JHASH_INITVAL: u32 = 0xdead_beef;

#[inline]
fn mix(a: u32, b: u32, c: u32) -> (u32, u32, u32) {
    let (mut a, mut b, mut c) = (a, b, c);
    a = a.wrapping_sub(c);
    a ^= c.rotate_left(4);
    c = c.wrapping_add(b);
    b = b.wrapping_sub(a);
    b ^= a.rotate_left(6);
    a = a.wrapping_add(c);
    c = c.wrapping_sub(b);
    c ^= b.rotate_left(8);
    b = b.wrapping_add(a);
    a = a.wrapping_sub(c);
    a ^= c.rotate_left(16);
    c = c.wrapping_add(b);
    b = b.wrapping_sub(a);
    b ^= a.rotate_left(19);
    a = a.wrapping_add(c);
    c = c.wrapping_sub(b);
    c ^= b.rotate_left(4);
    b = b.wrapping_add(a);
    (a, b, c)
}

#[inline]
fn final_mix(a: u32, b: u32, c: u32) -> u32 {
    let (mut a, mut b, mut c) = (a, b, c);
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// `jhash(key, length, initval)`: the hash of a byte string. Whole 12-byte
/// blocks are read as native-endian words and the tail byte by byte, as
/// the kernel does, so results equal the kernel's on the same machine.
pub fn jhash(key: &[u8], initval: u32) -> u32 {
    // The kernel's length is a u32.
    let init = JHASH_INITVAL
        .wrapping_add(key.len() as u32)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = key;
    while rest.len() > 12 {
        let Some((block, tail)) = rest.split_first_chunk::<12>() else {
            break;
        };
        let [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11] = *block;
        a = a.wrapping_add(u32::from_ne_bytes([k0, k1, k2, k3]));
        b = b.wrapping_add(u32::from_ne_bytes([k4, k5, k6, k7]));
        c = c.wrapping_add(u32::from_ne_bytes([k8, k9, k10, k11]));
        (a, b, c) = mix(a, b, c);
        rest = tail;
    }
    if rest.is_empty() {
        return c;
    }
    let mut t = [0u8; 12];
    for (d, s) in t.iter_mut().zip(rest) {
        *d = *s;
    }
    let [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11] = t;
    a = a.wrapping_add(u32::from_le_bytes([k0, k1, k2, k3]));
    b = b.wrapping_add(u32::from_le_bytes([k4, k5, k6, k7]));
    c = c.wrapping_add(u32::from_le_bytes([k8, k9, k10, k11]));
    final_mix(a, b, c)
}

/// `jhash2(k, length, initval)`: the hash of a string of 32-bit words.
pub fn jhash2(key: &[u32], initval: u32) -> u32 {
    let init = JHASH_INITVAL
        .wrapping_add((key.len() as u32) << 2)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = key;
    while rest.len() > 3 {
        let Some(([k0, k1, k2], tail)) = rest.split_first_chunk::<3>() else {
            break;
        };
        a = a.wrapping_add(*k0);
        b = b.wrapping_add(*k1);
        c = c.wrapping_add(*k2);
        (a, b, c) = mix(a, b, c);
        rest = tail;
    }
    if rest.is_empty() {
        return c;
    }
    let mut t = [0u32; 3];
    for (d, s) in t.iter_mut().zip(rest) {
        *d = *s;
    }
    let [k0, k1, k2] = t;
    final_mix(a.wrapping_add(k0), b.wrapping_add(k1), c.wrapping_add(k2))
}

#[inline]
fn jhash_nwords(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    final_mix(
        a.wrapping_add(initval),
        b.wrapping_add(initval),
        c.wrapping_add(initval),
    )
}

/// `jhash_3words(a, b, c, initval)`.
#[inline]
pub fn jhash_3words(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    jhash_nwords(
        a,
        b,
        c,
        initval.wrapping_add(JHASH_INITVAL).wrapping_add(3 << 2),
    )
}

/// `jhash_2words(a, b, initval)`.
pub fn jhash_2words(a: u32, b: u32, initval: u32) -> u32 {
    jhash_nwords(
        a,
        b,
        0,
        initval.wrapping_add(JHASH_INITVAL).wrapping_add(2 << 2),
    )
}

/// `jhash_1word(a, initval)`.
pub fn jhash_1word(a: u32, initval: u32) -> u32 {
    jhash_nwords(
        a,
        0,
        0,
        initval.wrapping_add(JHASH_INITVAL).wrapping_add(1 << 2),
    )
}

/// `ip_vs_conn_hashkey` before its last two steps: the hash of protocol,
/// address and (host-order) port under the table's random seed `rnd`
/// (upstream draws it once, `get_random_bytes`). An IPv4 address enters as
/// its network-order word, an IPv6 address as `jhash` of its 16 bytes;
/// the port as its network-order 16 bits.
///
/// Upstream then XORs `(size_t)ipvs >> 8` (so namespaces sharing the one
/// table spread differently) and masks: a per-namespace table needs only
/// [`bucket`].
#[inline]
pub fn conn_hashkey(rnd: u32, protocol: u16, addr: &Addr, port: u16) -> u32 {
    let a = match addr.af() {
        Af::Inet6 => jhash_addr6(addr, rnd),
        Af::Inet => {
            let [b0, b1, b2, b3, ..] = addr.inet();
            u32::from_ne_bytes([b0, b1, b2, b3])
        }
    };
    let p = u32::from(u16::from_ne_bytes(port.to_be_bytes()));
    jhash_3words(a, p, u32::from(protocol), rnd)
}

/// `jhash` of an IPv6 address's 16 bytes, out of line (the IPv4 hash then
/// does not prepare them).
#[inline(never)]
fn jhash_addr6(addr: &Addr, rnd: u32) -> u32 {
    jhash(&addr.inet(), rnd)
}

/// The bucket of `hash` in a table of `2^bits` buckets (`hash & mask`).
#[inline]
pub fn bucket(hash: u32, bits: u32) -> usize {
    let mask = 1u32
        .checked_shl(bits)
        .map_or(u32::MAX, |n| n.wrapping_sub(1));
    (hash & mask) as usize
}

/// `ip_vs_addr_equal`: IPv6 compares all 16 bytes, anything else (IPv4,
/// or `AF_UNSPEC` for firewall marks) the first 4.
#[inline]
fn addr_equal(af: Option<Af>, a: &Addr, b: &Addr) -> bool {
    match af {
        Some(Af::Inet6) => addr_equal6(a, b),
        _ => {
            let [a0, a1, a2, a3, ..] = a.inet();
            let [b0, b1, b2, b3, ..] = b.inet();
            u32::from_ne_bytes([a0, a1, a2, a3]) == u32::from_ne_bytes([b0, b1, b2, b3])
        }
    }
}

/// The IPv6 case of [`addr_equal`], out of line: lookups in a loop then do
/// not prepare the 16-byte comparison for every (IPv4) key.
#[inline(never)]
fn addr_equal6(a: &Addr, b: &Addr) -> bool {
    u128::from_ne_bytes(a.inet()) == u128::from_ne_bytes(b.inet())
}

/// What identifies a connection or template in the table: the fields of
/// `struct ip_vs_conn` the lookups compare. The connection's family is
/// the client address's; the real server's (`daf`) is `daddr`'s own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnTuple {
    /// IP protocol number ([`IPPROTO_IP`] for firewall-mark templates).
    pub protocol: u16,
    /// Client address (for templates: masked by the persistence netmask).
    pub caddr: Addr,
    /// Client port (0 for templates and until known with `NO_CPORT`).
    pub cport: u16,
    /// Virtual address (firewall-mark templates: the mark, see
    /// [`super::persist`]).
    pub vaddr: Addr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address.
    pub daddr: Addr,
    /// Real server port.
    pub dport: u16,
}

impl ConnTuple {
    /// The connection's family (`cp->af`).
    #[inline]
    pub fn af(&self) -> Af {
        self.caddr.af()
    }

    /// The hash it is stored under (`ip_vs_conn_hashkey_conn`): protocol,
    /// client address and port.
    #[inline]
    pub fn hash(&self, rnd: u32) -> u32 {
        conn_hashkey(rnd, self.protocol, &self.caddr, self.cport)
    }

    /// The input key that finds it.
    pub fn in_key(&self) -> InKey {
        InKey {
            protocol: self.protocol,
            caddr: self.caddr,
            cport: self.cport,
            vaddr: self.vaddr,
            vport: self.vport,
        }
    }
}

/// An input lookup (`struct ip_vs_conn_param` for `ip_vs_conn_in_get` and
/// `ip_vs_ct_in_get`): a packet from the client, or a template key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InKey {
    /// IP protocol number.
    pub protocol: u16,
    /// Client address (the family of the lookup).
    pub caddr: Addr,
    /// Client port.
    pub cport: u16,
    /// Virtual address.
    pub vaddr: Addr,
    /// Virtual port.
    pub vport: u16,
}

impl InKey {
    /// The lookup's family.
    #[inline]
    pub fn af(&self) -> Af {
        self.caddr.af()
    }

    /// The hash of the bucket to search.
    #[inline]
    pub fn hash(&self, rnd: u32) -> u32 {
        conn_hashkey(rnd, self.protocol, &self.caddr, self.cport)
    }

    /// The same key with client port 0: upstream's second try
    /// (`ip_vs_conn_in_get`) while connections without a client port
    /// exist for the protocol.
    pub fn without_cport(&self) -> InKey {
        InKey { cport: 0, ..*self }
    }

    /// Whether connection `c` with flags `conn_flags` is a hit
    /// (`__ip_vs_conn_in_get`). A key with client port 0 only finds
    /// connections flagged `NO_CPORT`, a key with a port only those not.
    #[inline]
    pub fn matches(&self, c: &ConnTuple, conn_flags: u32) -> bool {
        let af = Some(self.af());
        self.cport == c.cport
            && self.vport == c.vport
            && c.af() == self.af()
            && addr_equal(af, &self.caddr, &c.caddr)
            && addr_equal(af, &self.vaddr, &c.vaddr)
            && ((self.cport == 0) == (conn_flags & flags::NO_CPORT != 0))
            && self.protocol == c.protocol
    }

    /// Whether `c` is the template this key names (`ip_vs_ct_in_get`):
    /// flagged `TEMPLATE`, all five fields equal; with protocol
    /// [`IPPROTO_IP`] (firewall marks) only the first 4 bytes of the
    /// virtual address count.
    pub fn matches_template(&self, c: &ConnTuple, conn_flags: u32) -> bool {
        let af = Some(self.af());
        let vaf = if self.protocol == IPPROTO_IP {
            None
        } else {
            af
        };
        c.af() == self.af()
            && addr_equal(af, &self.caddr, &c.caddr)
            && addr_equal(vaf, &self.vaddr, &c.vaddr)
            && self.vport == c.vport
            && self.cport == c.cport
            && conn_flags & flags::TEMPLATE != 0
            && self.protocol == c.protocol
    }
}

/// An output lookup (`ip_vs_conn_out_get`): a packet from a real server
/// (NAT) or from the virtual address (other methods, e.g. local replies)
/// to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutKey {
    /// IP protocol number.
    pub protocol: u16,
    /// The packet's source address: the real server's for NAT.
    pub raddr: Addr,
    /// The packet's source port.
    pub rport: u16,
    /// The packet's destination: the client's address (lookup family).
    pub caddr: Addr,
    /// The client's port.
    pub cport: u16,
}

impl OutKey {
    /// The lookup's family.
    #[inline]
    pub fn af(&self) -> Af {
        self.caddr.af()
    }

    /// The hash of the bucket to search: by the client side, like the
    /// connections themselves (upstream's "inverse" parameter hash).
    #[inline]
    pub fn hash(&self, rnd: u32) -> u32 {
        conn_hashkey(rnd, self.protocol, &self.caddr, self.cport)
    }

    /// Whether connection `c` with flags `conn_flags` is a hit: the client
    /// side equal, and the source equal to the real server (NAT) or to
    /// the virtual address and port (every other method).
    #[inline]
    pub fn matches(&self, c: &ConnTuple, conn_flags: u32) -> bool {
        let af = Some(self.af());
        let (saddr, sport) = if conn_flags & flags::FWD_MASK != 0 {
            (&c.vaddr, c.vport)
        } else {
            (&c.daddr, c.dport)
        };
        self.cport == c.cport
            && self.rport == sport
            && c.af() == self.af()
            && addr_equal(af, &self.caddr, &c.caddr)
            && addr_equal(af, &self.raddr, saddr)
            && self.protocol == c.protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = include_str!("testdata/jhash.txt");

    fn hex(s: &str) -> u32 {
        u32::from_str_radix(s, 16).unwrap()
    }

    /// Vectors computed by `include/linux/jhash.h` compiled on this
    /// (little-endian) host, see `testdata/gen.sh`.
    #[cfg(target_endian = "little")]
    #[test]
    fn jhash_matches_kernel() {
        let buf: Vec<u8> = (0..64u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut w = Vec::new();
        let mut counts = [0; 4];
        for line in DUMP.lines() {
            let v: Vec<&str> = line.split_whitespace().collect();
            match v[0] {
                "jhash" => {
                    let len: usize = v[1].parse().unwrap();
                    assert_eq!(jhash(&buf[..len], 0), hex(v[2]), "{line}");
                    assert_eq!(jhash(&buf[..len], 0x9e37_79b9), hex(v[3]), "{line}");
                    counts[0] += 1;
                }
                "jhash2" => {
                    if w.is_empty() {
                        w = lcg_words(12);
                    }
                    let len: usize = v[1].parse().unwrap();
                    assert_eq!(jhash2(&w[..len], 0x1234_5678), hex(v[2]), "{line}");
                    counts[1] += 1;
                }
                "j3" => {
                    let x: Vec<u32> = v[1..].iter().map(|s| hex(s)).collect();
                    assert_eq!(jhash_3words(x[0], x[1], x[2], x[3]), x[4], "{line}");
                    assert_eq!(jhash_2words(x[0], x[1], x[3]), x[5], "{line}");
                    assert_eq!(jhash_1word(x[0], x[3]), x[6], "{line}");
                    counts[2] += 1;
                }
                "ck" => {
                    let (l, r) = line.split_once('|').unwrap();
                    let l: Vec<&str> = l.split_whitespace().collect();
                    let r: Vec<&str> = r.split_whitespace().collect();
                    let rnd = hex(l[1]);
                    let proto: u16 = l[2].parse().unwrap();
                    let port: u16 = l[3].parse().unwrap();
                    let a4: Vec<u8> = l[4..8].iter().map(|s| hex(s) as u8).collect();
                    let a4 = Addr::v4(a4.try_into().unwrap());
                    assert_eq!(conn_hashkey(rnd, proto, &a4, port), hex(l[8]), "{line}");
                    let a6: Vec<u8> = r[..16].iter().map(|s| hex(s) as u8).collect();
                    let a6 = Addr::v6(a6.try_into().unwrap());
                    assert_eq!(conn_hashkey(rnd, proto, &a6, port), hex(r[16]), "{line}");
                    counts[3] += 1;
                }
                _ => panic!("{line}"),
            }
        }
        assert_eq!(counts, [41, 13, 8, 8]);
    }

    /// The generator's word source: the same LCG as `testdata/gen.sh`'s
    /// `rnd32`, to rebuild its `jhash2` input.
    fn lcg_words(n: usize) -> Vec<u32> {
        let mut s: u32 = 12345;
        let mut next = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let a = s >> 16;
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (a << 16) | (s >> 16)
        };
        (0..n).map(|_| next()).collect()
    }

    #[test]
    fn jhash_reference_values() {
        // Endian-independent: empty input and the word variants.
        assert_eq!(jhash(&[], 0), JHASH_INITVAL);
        assert_eq!(jhash2(&[], 7), JHASH_INITVAL + 7);
        // Tails of up to 12 bytes are read byte by byte on any machine.
        assert_eq!(jhash(&[3, 10, 17], 0), {
            let init = JHASH_INITVAL + 3;
            final_mix(init + 3 + (10 << 8) + (17 << 16), init, init)
        });
    }

    #[test]
    fn bucket_masks() {
        assert_eq!(bucket(0xdead_beef, 12), 0xeef);
        assert_eq!(bucket(0xdead_beef, 0), 0);
        assert_eq!(bucket(0xdead_beef, 32), 0xdead_beef);
        assert_eq!(bucket(0xdead_beef, 40), 0xdead_beef);
    }

    fn chi2(counts: &[u32], n: f64) -> f64 {
        let e = n / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - e).powi(2) / e)
            .sum::<f64>()
    }

    /// Keys that differ little (one client's ports, a /16 of clients on
    /// one port, IPv6 clients in one /64) spread over the buckets like
    /// random ones: the chi-square statistic stays within a few standard
    /// deviations of its mean (= buckets - 1, sd = sqrt(2 (buckets - 1))).
    #[test]
    fn keys_spread_across_buckets() {
        let bits = 12;
        let nb = 1usize << bits;
        let limit = (nb - 1) as f64 + 6.0 * (2.0 * (nb - 1) as f64).sqrt();
        for rnd in [0u32, 0x1234_5678, 0xdead_beef] {
            let mut ports = vec![0u32; nb];
            for port in 0..=u16::MAX {
                let h = conn_hashkey(rnd, IPPROTO_TCP, &Addr::v4([10, 1, 2, 3]), port);
                ports[bucket(h, bits)] += 1;
            }
            let x = chi2(&ports, 65536.0);
            assert!(x < limit, "ports: chi2 {x} limit {limit}");

            let mut hosts = vec![0u32; nb];
            for i in 0..65536u32 {
                let [_, _, c, d] = i.to_be_bytes();
                let h = conn_hashkey(rnd, IPPROTO_UDP, &Addr::v4([192, 168, c, d]), 53);
                hosts[bucket(h, bits)] += 1;
            }
            let x = chi2(&hosts, 65536.0);
            assert!(x < limit, "hosts: chi2 {x} limit {limit}");

            let mut v6 = vec![0u32; nb];
            for i in 0..65536u32 {
                let mut b = [0u8; 16];
                b[0] = 0x20;
                b[1] = 0x01;
                b[12..].copy_from_slice(&i.to_be_bytes());
                let h = conn_hashkey(rnd, IPPROTO_TCP, &Addr::v6(b), 443);
                v6[bucket(h, bits)] += 1;
            }
            let x = chi2(&v6, 65536.0);
            assert!(x < limit, "v6: chi2 {x} limit {limit}");
        }
    }

    proptest::proptest! {
        #[test]
        fn bucket_in_range(h: u32, bits in 0u32..=20) {
            proptest::prop_assert!(bucket(h, bits) < (1usize << bits));
        }

        /// The seed matters: the same key under two seeds rarely shares a
        /// bucket, and the hash of a key is a function of it alone.
        #[test]
        fn seeded(a: [u8; 4], port: u16, r1: u32, r2: u32) {
            let addr = Addr::v4(a);
            let h1 = conn_hashkey(r1, IPPROTO_TCP, &addr, port);
            proptest::prop_assert_eq!(h1, conn_hashkey(r1, IPPROTO_TCP, &addr, port));
            if r1 != r2 {
                proptest::prop_assert_ne!(h1, conn_hashkey(r2, IPPROTO_TCP, &addr, port));
            }
        }
    }

    fn v4(d: u8) -> Addr {
        Addr::v4([10, 0, 0, d])
    }

    fn conn() -> ConnTuple {
        ConnTuple {
            protocol: IPPROTO_TCP,
            caddr: v4(1),
            cport: 40000,
            vaddr: v4(100),
            vport: 80,
            daddr: v4(200),
            dport: 8080,
        }
    }

    #[test]
    fn in_lookup() {
        let c = conn();
        let k = c.in_key();
        assert_eq!(k.hash(9), c.hash(9));
        assert!(k.matches(&c, 0));
        assert!(!k.matches(&c, flags::NO_CPORT));
        assert!(!InKey { vport: 81, ..k }.matches(&c, 0));
        assert!(!InKey {
            vaddr: v4(101),
            ..k
        }
        .matches(&c, 0));
        assert!(!InKey {
            protocol: IPPROTO_UDP,
            ..k
        }
        .matches(&c, 0));
        assert!(!InKey { caddr: v4(2), ..k }.matches(&c, 0));
        // A connection without client port is found by the port-0 retry.
        let nc = ConnTuple { cport: 0, ..c };
        assert!(k.without_cport().matches(&nc, flags::NO_CPORT));
        assert!(!k.without_cport().matches(&nc, 0));
        assert!(!k.matches(&nc, flags::NO_CPORT));
        // Families must agree.
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[10, 0, 0, 1]);
        assert!(!InKey {
            caddr: Addr::v6(b),
            ..k
        }
        .matches(&c, 0));
    }

    #[test]
    fn out_lookup() {
        let c = conn();
        // NAT reply: real server to client.
        let k = OutKey {
            protocol: IPPROTO_TCP,
            raddr: v4(200),
            rport: 8080,
            caddr: v4(1),
            cport: 40000,
        };
        assert_eq!(k.hash(5), c.hash(5));
        assert!(k.matches(&c, 0));
        assert!(!OutKey { rport: 80, ..k }.matches(&c, 0));
        // Other methods: the source is the virtual service.
        assert!(!k.matches(&c, 3));
        let v = OutKey {
            raddr: v4(100),
            rport: 80,
            ..k
        };
        assert!(v.matches(&c, 3));
        assert!(!v.matches(&c, 0));
        assert!(!OutKey { cport: 1, ..k }.matches(&c, 0));
        assert!(!OutKey { caddr: v4(9), ..k }.matches(&c, 0));
    }

    #[test]
    fn template_lookup() {
        let t = ConnTuple {
            protocol: IPPROTO_IP,
            caddr: Addr::v4([10, 0, 0, 0]),
            cport: 0,
            vaddr: Addr::v4([0, 0, 0, 7]),
            vport: 0,
            daddr: v4(200),
            dport: 0,
        };
        let k = t.in_key();
        assert!(k.matches_template(&t, flags::TEMPLATE));
        assert!(!k.matches_template(&t, 0));
        assert!(!InKey { vport: 1, ..k }.matches_template(&t, flags::TEMPLATE));
        // Firewall-mark templates compare only the mark word of vaddr.
        let mut m6 = [0u8; 16];
        m6[3] = 7;
        let mut c6 = [0u8; 16];
        c6[0] = 0x20;
        let t6 = ConnTuple {
            caddr: Addr::v6(c6),
            vaddr: Addr::v6(m6),
            ..t
        };
        let mut other = m6;
        other[15] = 1;
        let k6 = InKey {
            vaddr: Addr::v6(other),
            ..t6.in_key()
        };
        assert!(k6.matches_template(&t6, flags::TEMPLATE));
        let k6p = InKey {
            protocol: IPPROTO_TCP,
            ..k6
        };
        let t6p = ConnTuple {
            protocol: IPPROTO_TCP,
            ..t6
        };
        assert!(!k6p.matches_template(&t6p, flags::TEMPLATE));
        assert!(t6p.in_key().matches_template(&t6p, flags::TEMPLATE));
    }
}
