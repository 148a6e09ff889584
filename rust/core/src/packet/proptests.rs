// SPDX-License-Identifier: GPL-2.0
//! Property tests of the packet module, against an independent, naive
//! checksum implementation.

use super::icmp::{icmp_checksum_ok, nat_icmp, parse_icmp_error, IcmpNatDir};
use super::ipv4::{self, decrement_ttl, header_checksum_ok, Ipv4Header};
use super::l4::{fill_l4_checksum, l4_checksum_ok, parse_packet};
use super::nat::{dnat, dnat_parsed, snat, snat_parsed, CsumMode};
use super::tunnel::ipip_header;
use super::{csum, fixtures, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use crate::addr::Addr;
use proptest::prelude::*;

/// RFC 1071 the slow way: the folded sum of big-endian words.
fn ref_sum(parts: &[&[u8]]) -> u16 {
    let mut bytes = Vec::new();
    for p in parts {
        assert!(bytes.len() % 2 == 0);
        bytes.extend_from_slice(p);
    }
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut s: u64 = 0;
    for w in bytes.chunks(2) {
        s += u64::from(w[0]) << 8 | u64::from(w[1]);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn pseudo(p: &[u8], proto: u8, len: usize) -> Vec<u8> {
    let mut v = p[12..20].to_vec();
    v.extend_from_slice(&[0, proto]);
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v
}

/// Independent verification of a TCP/UDP packet's checksums.
fn ref_valid(p: &[u8]) -> bool {
    let ihl = usize::from(p[0] & 0xf) * 4;
    if ref_sum(&[&p[..ihl]]) != 0xffff {
        return false;
    }
    let proto = p[9];
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let seg = &p[ihl..total];
    if proto == IPPROTO_UDP && seg[6..8] == [0, 0] {
        return true;
    }
    ref_sum(&[&pseudo(p, proto, seg.len()), seg]) == 0xffff
}

/// A TCP or UDP packet built from parts, with correct checksums computed
/// by the naive implementation.
#[derive(Clone, Debug)]
struct Spec {
    tcp: bool,
    saddr: [u8; 4],
    daddr: [u8; 4],
    sport: u16,
    dport: u16,
    ip_opt_words: usize,
    tcp_opt_words: usize,
    payload: Vec<u8>,
    udp_zero: bool,
    df: bool,
    ttl: u8,
    tos: u8,
    id: u16,
}

fn build(s: &Spec) -> Vec<u8> {
    let ihl = 5 + s.ip_opt_words;
    let l4_hlen = if s.tcp { 20 + 4 * s.tcp_opt_words } else { 8 };
    let total = ihl * 4 + l4_hlen + s.payload.len();
    let mut p = vec![0u8; ihl * 4];
    p[0] = 0x40 | ihl as u8;
    p[1] = s.tos;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&s.id.to_be_bytes());
    p[6] = if s.df { 0x40 } else { 0 };
    p[8] = s.ttl;
    p[9] = if s.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
    p[12..16].copy_from_slice(&s.saddr);
    p[16..20].copy_from_slice(&s.daddr);
    for b in &mut p[20..] {
        *b = 1; // NOP options
    }
    let c = !ref_sum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let l4 = p.len();
    p.extend_from_slice(&s.sport.to_be_bytes());
    p.extend_from_slice(&s.dport.to_be_bytes());
    if s.tcp {
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        p.push(((5 + s.tcp_opt_words) << 4) as u8);
        p.extend_from_slice(&[0x18, 0x01, 0x00, 0, 0, 0, 0]);
        p.extend(std::iter::repeat(1u8).take(4 * s.tcp_opt_words));
    } else {
        p.extend_from_slice(&((8 + s.payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    }
    p.extend_from_slice(&s.payload);
    let off = l4 + if s.tcp { 16 } else { 6 };
    if s.tcp || !s.udp_zero {
        let c = !ref_sum(&[&pseudo(&p, p[9], total - l4), &p[l4..]]);
        let c = if !s.tcp && c == 0 { 0xffff } else { c };
        p[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }
    assert!(ref_valid(&p));
    p
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            any::<bool>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<u16>(),
            0usize..=10,
            0usize..=10,
        ),
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
        ),
    )
        .prop_map(
            |(
                (tcp, saddr, daddr, sport, dport, ip_opt_words, tcp_opt_words),
                (payload, udp_zero, df, ttl, tos, id),
            )| Spec {
                tcp,
                saddr,
                daddr,
                sport,
                dport,
                ip_opt_words,
                tcp_opt_words,
                payload,
                udp_zero,
                df,
                ttl,
                tos,
                id,
            },
        )
}

/// The L4 checksum field offset of a built packet.
fn check_off(p: &[u8]) -> usize {
    usize::from(p[0] & 0xf) * 4 + if p[9] == IPPROTO_TCP { 16 } else { 6 }
}

/// Sets the transport checksum to the `CHECKSUM_PARTIAL` seed.
fn make_partial(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let seed = ref_sum(&[&pseudo(p, p[9], total - ihl)]);
    let off = check_off(p);
    p[off..off + 2].copy_from_slice(&seed.to_be_bytes());
}

/// Completes a `CHECKSUM_PARTIAL` packet as a device does.
fn complete(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let mut c = !ref_sum(&[&p[ihl..total]]);
    if p[9] == IPPROTO_UDP && c == 0 {
        c = 0xffff;
    }
    let off = check_off(p);
    p[off..off + 2].copy_from_slice(&c.to_be_bytes());
}

/// An ICMP error from `src` to `dst` quoting `quote`, with checksums.
fn icmp_error(src: [u8; 4], dst: [u8; 4], typ: u8, code: u8, quote: &[u8]) -> Vec<u8> {
    let total = 28 + quote.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 9, 0, 0, 64, IPPROTO_ICMP, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = !ref_sum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&[typ, code, 0, 0, 0, 0, 5, 0xdc]);
    p.extend_from_slice(quote);
    let c = !ref_sum(&[&p[20..]]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

/// Runs every parser and rewriter on `bytes`; rewriters that fail must
/// leave the bytes unchanged.
fn exercise(bytes: &[u8], addr: [u8; 4], port: u16) {
    let _ = Ipv4Header::parse(bytes);
    // The fast parser and the one through Ipv4Header agree, errors too.
    assert_eq!(
        parse_packet(bytes),
        super::l4::parse_with_header(bytes).map(|(_, i)| i)
    );
    let _ = parse_icmp_error(bytes);
    let _ = header_checksum_ok(bytes);
    let _ = l4_checksum_ok(bytes);
    let _ = icmp_checksum_ok(bytes);
    let _ = ipip_header(
        bytes,
        bytes.len(),
        Addr::v4(addr),
        Addr::v4(addr),
        port,
        true,
    );
    let a = Addr::v4(addr);
    type Rewrite = fn(&mut [u8], Addr, u16) -> Result<(), super::PacketError>;
    let rewrites: [Rewrite; 8] = [
        |b, a, p| dnat(b, a, p, CsumMode::Full),
        |b, a, p| dnat(b, a, p, CsumMode::Partial),
        |b, a, p| snat(b, a, p, CsumMode::Full),
        |b, a, p| snat(b, a, p, CsumMode::Partial),
        |b, a, p| nat_icmp(b, IcmpNatDir::In, a, p),
        |b, a, p| nat_icmp(b, IcmpNatDir::Out, a, p),
        |b, _, _| fill_l4_checksum(b),
        |b, _, _| decrement_ttl(b).map(|_| ()),
    ];
    for f in rewrites {
        let mut v = bytes.to_vec();
        if f(&mut v, a, port).is_err() {
            assert_eq!(v, bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
    ) {
        exercise(&bytes, addr, port);
    }

    #[test]
    fn ipv4_looking_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 20..120),
        ihl in 5u8..=15,
        proto in prop::sample::select(vec![1u8, 4, 6, 17, 132, 47]),
        total in any::<u16>(),
        frag in prop::sample::select(vec![0u16, 0x2000, 0x4000, 0x0001, 0x2003]),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
    ) {
        bytes[0] = 0x40 | ihl;
        bytes[9] = proto;
        let total = if total % 2 == 0 { bytes.len() as u16 } else { total % 160 };
        bytes[2..4].copy_from_slice(&total.to_be_bytes());
        bytes[6..8].copy_from_slice(&frag.to_be_bytes());
        exercise(&bytes, addr, port);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
    ) {
        let base: &[u8] = match which {
            0 => &fixtures::TCP_OPTS_DATA,
            1 => &fixtures::UDP_DNS,
            2 => &fixtures::SCTP_DATA,
            3 => &fixtures::ICMP_FRAG_NEEDED_FROM_RS_SIDE,
            4 => &fixtures::ICMP_TIME_EXCEEDED_TO_VIP,
            5 => &fixtures::ICMP_UDP_UNREACH_FROM_RS,
            6 => &fixtures::ICMP_FRAG_NEEDED_TO_VIP,
            _ => &fixtures::IPIP_SYN,
        };
        let mut v = base.to_vec();
        for (i, x) in flips {
            let i = i % v.len();
            v[i] ^= x;
        }
        v.truncate(cut % (v.len() + 1));
        exercise(&v, addr, port);
    }

    #[test]
    fn nat_keeps_checksums_valid(
        s in spec(),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
        dst in any::<bool>(),
    ) {
        let orig = build(&s);
        let mut p = orig.clone();
        if dst {
            dnat(&mut p, Addr::v4(addr), port, CsumMode::Full).unwrap();
        } else {
            snat(&mut p, Addr::v4(addr), port, CsumMode::Full).unwrap();
        }
        prop_assert!(ref_valid(&p));
        prop_assert!(header_checksum_ok(&p).unwrap());
        prop_assert!(l4_checksum_ok(&p).unwrap());
        let i = parse_packet(&p).unwrap();
        if dst {
            prop_assert_eq!((i.daddr, i.dport), (Addr::v4(addr), port));
            prop_assert_eq!((i.saddr, i.sport), (Addr::v4(s.saddr), s.sport));
        } else {
            prop_assert_eq!((i.saddr, i.sport), (Addr::v4(addr), port));
            prop_assert_eq!((i.daddr, i.dport), (Addr::v4(s.daddr), s.dport));
        }
        // The same as recomputing from scratch (UDP "no checksum" aside).
        if s.tcp || !s.udp_zero {
            let mut q = p.clone();
            fill_l4_checksum(&mut q).unwrap();
            prop_assert_eq!(&q, &p);
        } else {
            let off = check_off(&p);
            prop_assert_eq!(&p[off..off + 2], &[0u8, 0][..]);
        }
        // Only the headers in the slice: identical result.
        let hl = usize::from(orig[0] & 0xf) * 4 + if s.tcp { 20 } else { 8 };
        let mut h = orig.clone();
        if dst {
            dnat(&mut h[..hl], Addr::v4(addr), port, CsumMode::Full).unwrap();
        } else {
            snat(&mut h[..hl], Addr::v4(addr), port, CsumMode::Full).unwrap();
        }
        prop_assert_eq!(&h, &p);
        // The data path's variant, from the parse it already has: the same
        // bytes, and the IP header checksum the same as a full recompute.
        let mut q = orig.clone();
        let info = parse_packet(&q).unwrap();
        if dst {
            dnat_parsed(&mut q, &info, Addr::v4(addr), port, CsumMode::Full).unwrap();
        } else {
            snat_parsed(&mut q, &info, Addr::v4(addr), port, CsumMode::Full).unwrap();
        }
        prop_assert_eq!(&q, &p);
        let mut r = q.clone();
        ipv4::set_header_checksum(&mut r).unwrap();
        prop_assert_eq!(r, q);
    }

    #[test]
    fn decrement_ttl_is_a_full_recompute(s in spec(), ttl in 2u8..=255) {
        let mut p = build(&s);
        p[8] = ttl;
        ipv4::set_header_checksum(&mut p).unwrap();
        prop_assert_eq!(decrement_ttl(&mut p), Ok(ipv4::Ttl::Decremented(ttl - 1)));
        let mut q = p.clone();
        ipv4::set_header_checksum(&mut q).unwrap();
        prop_assert_eq!(q, p);
    }

    #[test]
    fn dnat_then_inverse_restores_bytes(
        s in spec(),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
        partial in any::<bool>(),
    ) {
        let mut orig = build(&s);
        let mode = if partial { CsumMode::Partial } else { CsumMode::Full };
        if partial {
            make_partial(&mut orig);
        }
        let mut p = orig.clone();
        dnat(&mut p, Addr::v4(addr), port, mode).unwrap();
        dnat(&mut p, Addr::v4(s.daddr), s.dport, mode).unwrap();
        prop_assert_eq!(&p, &orig);
        snat(&mut p, Addr::v4(addr), port, mode).unwrap();
        snat(&mut p, Addr::v4(s.saddr), s.sport, mode).unwrap();
        prop_assert_eq!(&p, &orig);
    }

    #[test]
    fn partial_completes_to_full_rewrite(
        s in spec(),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
        dst in any::<bool>(),
    ) {
        let orig = build(&s);
        let mut full = orig.clone();
        let mut part = orig.clone();
        make_partial(&mut part);
        if dst {
            dnat(&mut full, Addr::v4(addr), port, CsumMode::Full).unwrap();
            dnat(&mut part, Addr::v4(addr), port, CsumMode::Partial).unwrap();
        } else {
            snat(&mut full, Addr::v4(addr), port, CsumMode::Full).unwrap();
            snat(&mut part, Addr::v4(addr), port, CsumMode::Partial).unwrap();
        }
        complete(&mut part);
        if !s.tcp && s.udp_zero {
            // A zero UDP checksum stays zero in Full mode; the device fills
            // one in for a partial skb.
            let off = check_off(&full);
            full[off..off + 2].copy_from_slice(&part[off..off + 2]);
        }
        prop_assert_eq!(&part, &full);
        prop_assert!(ref_valid(&part));
    }

    #[test]
    fn icmp_nat_keeps_checksums_valid_and_roundtrips(
        s in spec(),
        addr in any::<[u8; 4]>(),
        port in any::<u16>(),
        quote_extra in 0usize..400,
        out in any::<bool>(),
        outer_src in any::<[u8; 4]>(),
        outer_dst in any::<[u8; 4]>(),
    ) {
        let inner = build(&s);
        let ihl = usize::from(inner[0] & 0xf) * 4;
        let qlen = (ihl + 8 + quote_extra).min(inner.len());
        let orig = icmp_error(outer_src, outer_dst, 3, 4, &inner[..qlen]);
        let e = parse_icmp_error(&orig).unwrap();
        prop_assert_eq!(e.frag_needed_mtu(), Some(1500));
        prop_assert_eq!((e.inner.sport, e.inner.dport), (s.sport, s.dport));
        let dir = if out { IcmpNatDir::Out } else { IcmpNatDir::In };
        let mut p = orig.clone();
        nat_icmp(&mut p, dir, Addr::v4(addr), port).unwrap();
        prop_assert!(ref_sum(&[&p[..20]]) == 0xffff);
        prop_assert!(ref_sum(&[&p[20..]]) == 0xffff);
        prop_assert!(ref_sum(&[&p[28..28 + ihl]]) == 0xffff);
        let e2 = parse_icmp_error(&p).unwrap();
        if out {
            prop_assert_eq!(e2.outer.saddr, Addr::v4(addr));
            prop_assert_eq!((e2.inner.daddr, e2.inner.dport), (Addr::v4(addr), port));
        } else {
            prop_assert_eq!(e2.outer.daddr, Addr::v4(addr));
            prop_assert_eq!((e2.inner.saddr, e2.inner.sport), (Addr::v4(addr), port));
        }
        // A full quote of the rewritten inner packet verifies like the
        // inner packet NATed directly.
        if qlen == inner.len() {
            let mut direct = inner.clone();
            if out {
                dnat(&mut direct, Addr::v4(addr), port, CsumMode::Full).unwrap();
            } else {
                snat(&mut direct, Addr::v4(addr), port, CsumMode::Full).unwrap();
            }
            prop_assert_eq!(&p[28..], &direct[..]);
        }
        // And back.
        let (a, pt) = if out {
            (Addr::v4(s.daddr), s.dport)
        } else {
            (Addr::v4(s.saddr), s.sport)
        };
        nat_icmp(&mut p, dir, a, pt).unwrap();
        let outer_off = if out { 12 } else { 16 };
        p[outer_off..outer_off + 4].copy_from_slice(&orig[outer_off..outer_off + 4]);
        ipv4::set_header_checksum(&mut p).unwrap();
        prop_assert_eq!(p, orig);
    }

    #[test]
    fn ipip_header_is_valid(
        s in spec(),
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        id in any::<u16>(),
        copy_df in any::<bool>(),
    ) {
        let inner = build(&s);
        let h = ipip_header(&inner, inner.len(), Addr::v4(src), Addr::v4(dst), id, copy_df)
            .unwrap();
        prop_assert!(ref_sum(&[&h]) == 0xffff);
        let mut whole = h.to_vec();
        whole.extend_from_slice(&inner);
        let o = Ipv4Header::parse(&whole).unwrap();
        prop_assert_eq!(usize::from(o.total_len), whole.len());
        prop_assert_eq!(o.protocol, 4);
        prop_assert_eq!(o.ttl, s.ttl);
        prop_assert_eq!(o.df, copy_df && s.df);
        prop_assert_eq!(o.tos >> 2, s.tos >> 2);
        prop_assert_eq!(o.id, id);
        prop_assert_eq!((o.saddr, o.daddr), (Addr::v4(src), Addr::v4(dst)));
    }

    #[test]
    fn incremental_equals_recompute(
        data in proptest::collection::vec(any::<u8>(), 2..200),
        word in any::<usize>(),
        new in any::<u16>(),
    ) {
        let mut data = data;
        if data.len() % 2 == 1 {
            data.pop();
        }
        let c = !ref_sum(&[&data]);
        let i = (word % (data.len() / 2)) * 2;
        let old = u16::from_be_bytes([data[i], data[i + 1]]);
        data[i..i + 2].copy_from_slice(&new.to_be_bytes());
        let want = !ref_sum(&[&data]);
        // A from-scratch checksum is 0xffff only for all-zero data, where
        // both representations of zero are correct.
        if want != 0xffff {
            prop_assert_eq!(csum::update16(c, old, new), want);
        }
        prop_assert_eq!(csum::checksum(&data), want);
    }
}

#[test]
fn tunnel_quote_finds_the_client_packet() {
    use super::icmp::{parse_icmp_error, tunnel_quote};
    use super::tunnel::ipip_header;
    // The client's request (UDP_DNS: DF set) inside our IPIP header, as a
    // router quotes it in a fragmentation-needed error to the director.
    let inner = super::fixtures::UDP_DNS;
    let outer = ipip_header(
        &inner,
        inner.len(),
        crate::addr::Addr::v4([10, 0, 3, 1]),
        crate::addr::Addr::v4([10, 0, 4, 10]),
        7,
        true,
    )
    .unwrap();
    let mut quote = outer.to_vec();
    quote.extend_from_slice(&inner[..40]);
    let pkt = icmp_error([10, 0, 3, 2], [10, 0, 3, 1], 3, 4, &quote);
    let e = parse_icmp_error(&pkt).unwrap();
    assert_eq!(e.inner.proto, super::IPPROTO_IPIP);
    let (orig, df) = tunnel_quote(&e, &pkt).unwrap();
    let want = super::parse_packet(&inner).unwrap();
    assert_eq!(
        (orig.saddr, orig.daddr, orig.sport, orig.dport),
        (want.saddr, want.daddr, want.sport, want.dport)
    );
    assert_eq!(orig.l3_off, 28 + 20);
    assert_eq!(df, super::Ipv4Header::parse(&inner).unwrap().df);
    // A quote cut inside the inner header is refused, never a panic.
    let short = icmp_error([10, 0, 3, 2], [10, 0, 3, 1], 3, 4, &quote[..30]);
    if let Ok(e) = parse_icmp_error(&short) {
        assert!(tunnel_quote(&e, &short).is_err());
    }
}
