// SPDX-License-Identifier: GPL-2.0
//! NAT rewrites of IPv4 packets: destination (request direction, towards
//! the real server) and source (reply direction, back to the client), as
//! upstream's `tcp_dnat_handler`/`tcp_snat_handler`,
//! `udp_dnat_handler`/`udp_snat_handler`, `sctp_*_handler` plus the address
//! rewrite and `ip_send_check` of `ip_vs_nat_xmit`.

use super::csum::{self, CsumDiff};
use super::ipv4::{self, require_v4, DADDR_OFF, SADDR_OFF};
use super::l4::{self, PacketInfo, SCTP_CHECK_OFF, TCP_CHECK_OFF, UDP_CHECK_OFF};
use super::{rd16, wr, wr16, PacketError, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::addr::Addr;

/// The skb's checksum state (`skb->ip_summed`) as far as the transport
/// checksum field is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CsumMode {
    /// The field holds the final checksum over pseudo-header, header and
    /// payload: `CHECKSUM_NONE`, `CHECKSUM_UNNECESSARY` and
    /// `CHECKSUM_COMPLETE` (after the rewrite the caller downgrades
    /// `CHECKSUM_COMPLETE` to `CHECKSUM_NONE`, as upstream does, since
    /// `skb->csum` no longer matches). Address and port changes are folded
    /// in incrementally.
    Full,
    /// `CHECKSUM_PARTIAL`: the field holds only the folded, uncomplemented
    /// pseudo-header sum and the device (or `skb_checksum_help`) adds the
    /// transport bytes later. Only the address change is folded in, not the
    /// port (which the later pass covers), exactly as upstream's
    /// `tcp_partial_csum_update`/`udp_partial_csum_update`. For SCTP the
    /// CRC32c is left alone (it is computed later too).
    Partial,
}

/// Which end of the packet a NAT rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// Source address and port.
    Src,
    /// Destination address and port.
    Dst,
}

/// DNAT: rewrites the destination address to `new_daddr` and, for TCP, UDP
/// and SCTP, the destination port to `new_dport` (host order), fixing the IP
/// header checksum and updating the transport checksum according to `mode`.
/// This is the request direction of a VS/NAT connection (virtual
/// address/port to real server), upstream's `*_dnat_handler` plus
/// `ip_vs_nat_xmit`.
///
/// Checksums (see [`CsumMode`]):
/// - TCP, `Full`: incremental update for address and port
///   (`tcp_fast_csum_update`); `Partial`: for the address only.
/// - UDP: as TCP, except that in `Full` mode a zero checksum ("none") stays
///   zero and an updated checksum of 0 is stored as 0xffff
///   (`CSUM_MANGLED_0`). Upstream instead computes a full checksum over the
///   whole datagram when it finds 0; call [`l4::fill_l4_checksum`]
///   afterwards if that is wanted (needs the whole packet).
/// - SCTP: the CRC32c does not cover addresses; if the port changes and
///   `mode` is `Full`, the CRC is recomputed, which needs the whole
///   unfragmented packet in `buf` ([`PacketError::Incomplete`] /
///   [`PacketError::Fragment`] otherwise).
/// - Other protocols, and later fragments: only the address (and the IP
///   header checksum) changes; `new_dport` is ignored. A first fragment's
///   transport checksum is updated incrementally, which stays correct for
///   the reassembled datagram.
///
/// `new_daddr` must be IPv4 ([`PacketError::UnsupportedFamily`]). The
/// packet is validated with [`l4::parse_packet`]; on error it is unchanged.
pub fn dnat(
    buf: &mut [u8],
    new_daddr: Addr,
    new_dport: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    parse_nat(buf, Side::Dst, new_daddr, new_dport, mode)
}

/// SNAT: rewrites the source address to `new_saddr` and, for TCP, UDP and
/// SCTP, the source port to `new_sport` (host order). This is the reply
/// direction of a VS/NAT connection (real server back to virtual
/// address/port), upstream's `*_snat_handler` plus the rewrite in
/// `handle_response`. Checksums and errors exactly as for [`dnat`].
pub fn snat(
    buf: &mut [u8],
    new_saddr: Addr,
    new_sport: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    parse_nat(buf, Side::Src, new_saddr, new_sport, mode)
}

/// [`dnat`] for a packet the caller has parsed already: `info` must be
/// [`l4::parse_packet`]'s result for `buf` (the data path parses each
/// packet once). Bounds are still checked: a mismatched `info` gives an
/// error or a wrong rewrite, never a panic.
#[inline]
pub fn dnat_parsed(
    buf: &mut [u8],
    info: &PacketInfo,
    new_daddr: Addr,
    new_dport: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    nat(buf, info, Side::Dst, new_daddr, new_dport, mode)
}

/// [`snat`] for a packet the caller has parsed already (see
/// [`dnat_parsed`]).
#[inline]
pub fn snat_parsed(
    buf: &mut [u8],
    info: &PacketInfo,
    new_saddr: Addr,
    new_sport: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    nat(buf, info, Side::Src, new_saddr, new_sport, mode)
}

/// The common part of [`dnat`] and [`snat`]: parses, then rewrites.
fn parse_nat(
    buf: &mut [u8],
    side: Side,
    addr: Addr,
    port: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    let info = l4::parse_packet(buf)?;
    nat(buf, &info, side, addr, port, mode)
}

/// The rewrite. The IP header checksum is updated incrementally (the
/// kernel verified it on receive), like the transport checksum. Inlined:
/// each caller's side is a constant there.
#[inline(always)]
fn nat(
    buf: &mut [u8],
    info: &PacketInfo,
    side: Side,
    addr: Addr,
    port: u16,
    mode: CsumMode,
) -> Result<(), PacketError> {
    let new_addr = require_v4(&addr)?;
    let (addr_off, old_addr, port_off, old_port) = match side {
        Side::Src => (SADDR_OFF, require_v4(&info.saddr)?, info.l4_off, info.sport),
        Side::Dst => (
            DADDR_OFF,
            require_v4(&info.daddr)?,
            info.l4_off + 2,
            info.dport,
        ),
    };

    // Everything that can fail is checked before the first write.
    let ip_check = rd16(buf, ipv4::CHECK_OFF).ok_or(PacketError::Truncated)?;
    if buf.len() < addr_off + 4 || (info.has_ports && buf.len() < port_off + 2) {
        return Err(PacketError::Truncated);
    }
    let sctp_crc =
        info.has_ports && info.proto == IPPROTO_SCTP && mode == CsumMode::Full && old_port != port;
    if sctp_crc {
        if info.fragment != ipv4::Fragment::None {
            return Err(PacketError::Fragment);
        }
        if usize::from(info.total_len) > buf.len() {
            return Err(PacketError::Incomplete);
        }
    }

    let mut addr_diff = CsumDiff::new();
    addr_diff.replace4(old_addr, new_addr);
    wr(buf, addr_off, &new_addr)?;
    wr16(buf, ipv4::CHECK_OFF, addr_diff.apply(ip_check))?;
    if !info.has_ports {
        return Ok(());
    }
    wr16(buf, port_off, port)?;

    let mut full_diff = addr_diff;
    full_diff.replace16(old_port, port);
    match info.proto {
        IPPROTO_TCP | IPPROTO_UDP => {
            let off = info.l4_off
                + if info.proto == IPPROTO_TCP {
                    TCP_CHECK_OFF
                } else {
                    UDP_CHECK_OFF
                };
            let check = rd16(buf, off).ok_or(PacketError::Truncated)?;
            let new = match mode {
                CsumMode::Partial => addr_diff.apply_partial(check),
                CsumMode::Full if info.proto == IPPROTO_UDP && check == 0 => 0,
                CsumMode::Full => mangle0(info.proto, full_diff.apply(check)),
            };
            wr16(buf, off, new)
        }
        IPPROTO_SCTP if sctp_crc => sctp_refresh(buf, info, usize::from(info.total_len)),
        _ => Ok(()),
    }
}

/// `CSUM_MANGLED_0`: a computed UDP checksum of 0 is sent as 0xffff.
#[inline]
fn mangle0(proto: u8, check: u16) -> u16 {
    if proto == IPPROTO_UDP && check == 0 {
        0xffff
    } else {
        check
    }
}

/// Recomputes the SCTP CRC32c of a complete packet (upstream's
/// `sctp_nat_csum`).
fn sctp_refresh(buf: &mut [u8], info: &PacketInfo, total: usize) -> Result<(), PacketError> {
    let seg = buf.get(info.l4_off..total).ok_or(PacketError::Truncated)?;
    let crc = csum::sctp_checksum(seg);
    wr(buf, info.l4_off + SCTP_CHECK_OFF, &crc.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::csum;
    use super::super::fixtures::*;
    use super::super::ipv4::{self, Ipv4Header};
    use super::super::l4::{fill_l4_checksum, l4_checksum_ok, parse_packet};
    use super::*;

    const VIP: Addr = Addr::v4([10, 0, 1, 100]);
    const RS: Addr = Addr::v4([10, 0, 2, 11]);

    fn assert_valid(p: &[u8]) {
        assert!(ipv4::header_checksum_ok(p).unwrap(), "IP header checksum");
        assert!(l4_checksum_ok(p).unwrap(), "L4 checksum");
    }

    #[test]
    fn tcp_dnat_byte_exact() {
        let mut p = TCP_SYN;
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p, TCP_SYN_DNAT);
        assert_valid(&p);
        // And back (the inverse DNAT restores the original bytes).
        dnat(&mut p, VIP, 80, CsumMode::Full).unwrap();
        assert_eq!(p, TCP_SYN);
    }

    #[test]
    fn tcp_snat_byte_exact() {
        let mut p = TCP_SYNACK_RS;
        snat(&mut p, VIP, 80, CsumMode::Full).unwrap();
        assert_eq!(p, TCP_SYNACK_SNAT);
        assert_valid(&p);
    }

    #[test]
    fn tcp_with_options_byte_exact() {
        let mut p = TCP_OPTS_DATA;
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p, TCP_OPTS_DATA_DNAT);
        assert_valid(&p);
        // Only the headers in the slice (non-linear skb): same bytes.
        let mut p = TCP_OPTS_DATA;
        dnat(&mut p[..44], RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p, TCP_OPTS_DATA_DNAT);
    }

    #[test]
    fn udp_byte_exact() {
        let mut p = UDP_DNS;
        dnat(&mut p, RS, 5353, CsumMode::Full).unwrap();
        assert_eq!(p, UDP_DNS_DNAT);
        assert_valid(&p);
        let mut p = UDP_REPLY_RS;
        snat(&mut p, VIP, 53, CsumMode::Full).unwrap();
        assert_eq!(p, UDP_REPLY_SNAT);
        assert_valid(&p);
    }

    #[test]
    fn udp_zero_checksum_stays_zero() {
        let mut p = UDP_DNS;
        p[26..28].copy_from_slice(&[0, 0]);
        dnat(&mut p, RS, 5353, CsumMode::Full).unwrap();
        let mut want = UDP_DNS_DNAT;
        want[26..28].copy_from_slice(&[0, 0]);
        assert_eq!(p, want);
        assert_valid(&p);
    }

    #[test]
    fn udp_result_zero_becomes_ffff() {
        // Find a source port for which the rewritten checksum is 0 by
        // construction: pick the new port so the sum works out.
        let mut p = UDP_REPLY_RS;
        let c = u16::from_be_bytes([p[26], p[27]]);
        // With the address unchanged, the new checksum is
        // ~(~c + ~old_port + new_port); for it to be 0 the sum must be
        // 0xffff, i.e. new_port = c + old_port (ones' complement).
        let old_port = 5353u16;
        let new_port = csum::fold(csum::add(u32::from(c), u32::from(old_port)));
        snat(&mut p, Addr::v4([10, 0, 2, 11]), new_port, CsumMode::Full).unwrap();
        assert_eq!(u16::from_be_bytes([p[26], p[27]]), 0xffff);
        assert_valid(&p);
        // The from-scratch computation agrees.
        let mut q = p;
        fill_l4_checksum(&mut q).unwrap();
        assert_eq!(p, q);
    }

    /// Puts the packet into the state of a `CHECKSUM_PARTIAL` skb: the
    /// transport checksum field holds
    /// `~csum_tcpudp_magic(saddr, daddr, len, proto, 0)`.
    fn make_partial(p: &mut [u8]) {
        let h = Ipv4Header::parse(p).unwrap();
        let i = parse_packet(p).unwrap();
        let len = h.total_len - u16::try_from(h.header_len).unwrap();
        let seed = !csum::finish(csum::pseudo_header_sum_v4(
            h.saddr4(),
            h.daddr4(),
            h.protocol,
            len,
        ));
        assert_eq!(
            seed,
            csum::partial_seed_v4(h.saddr4(), h.daddr4(), h.protocol, len)
        );
        let off = i.l4_off + if i.proto == IPPROTO_TCP { 16 } else { 6 };
        p[off..off + 2].copy_from_slice(&seed.to_be_bytes());
    }

    /// Completes a `CHECKSUM_PARTIAL` packet as the device would.
    fn complete(p: &mut [u8]) {
        let i = parse_packet(p).unwrap();
        let off = i.l4_off + if i.proto == IPPROTO_TCP { 16 } else { 6 };
        let c = csum::complete_partial(&p[i.l4_off..usize::from(i.total_len)]);
        let c = mangle0(i.proto, c);
        p[off..off + 2].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn partial_tcp_and_udp_complete_to_full_result() {
        for (orig, want, new_addr, new_port, dst) in [
            (&TCP_SYN[..], &TCP_SYN_DNAT[..], RS, 8080, true),
            (&TCP_OPTS_DATA[..], &TCP_OPTS_DATA_DNAT[..], RS, 8080, true),
            (&TCP_SYNACK_RS[..], &TCP_SYNACK_SNAT[..], VIP, 80, false),
            (&UDP_DNS[..], &UDP_DNS_DNAT[..], RS, 5353, true),
            (&UDP_REPLY_RS[..], &UDP_REPLY_SNAT[..], VIP, 53, false),
        ] {
            let mut p = orig.to_vec();
            make_partial(&mut p);
            let before = p.clone();
            if dst {
                dnat(&mut p, new_addr, new_port, CsumMode::Partial).unwrap();
            } else {
                snat(&mut p, new_addr, new_port, CsumMode::Partial).unwrap();
            }
            // The partial field now holds the seed for the new addresses,
            // unaffected by the port change.
            let mut expect_seed = want.to_vec();
            make_partial(&mut expect_seed);
            assert_eq!(p, expect_seed);
            // Completing gives exactly the full rewrite.
            complete(&mut p);
            assert_eq!(p, want);
            assert_valid(&p);
            // A full-mode update of the partial field would be wrong.
            let mut wrong = before;
            if dst {
                dnat(&mut wrong, new_addr, new_port, CsumMode::Full).unwrap();
            } else {
                snat(&mut wrong, new_addr, new_port, CsumMode::Full).unwrap();
            }
            assert_ne!(wrong, expect_seed);
        }
    }

    #[test]
    fn sctp_recomputes_crc() {
        let mut p = SCTP_DATA;
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p, SCTP_DATA_DNAT);
        assert_valid(&p);
        // Same port: the CRC is left alone (it does not cover addresses).
        let mut p = SCTP_DATA;
        dnat(&mut p, RS, 80, CsumMode::Full).unwrap();
        assert_eq!(p[20..], SCTP_DATA[20..]);
        assert_valid(&p);
        // Headers only: the CRC needs the whole packet.
        let mut p = SCTP_DATA;
        assert_eq!(
            dnat(&mut p[..40], RS, 8080, CsumMode::Full),
            Err(PacketError::Incomplete)
        );
        assert_eq!(p, SCTP_DATA);
        // Partial (CRC offload pending): port only.
        dnat(&mut p[..40], RS, 8080, CsumMode::Partial).unwrap();
        assert_eq!(p[..28], SCTP_DATA_DNAT[..28]);
        assert_eq!(p[28..], SCTP_DATA[28..]);
    }

    #[test]
    fn other_protocols_and_fragments_change_address_only() {
        let mut p = ICMP_ECHO;
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p[16..20], [10, 0, 2, 11]);
        assert_eq!(p[20..], ICMP_ECHO[20..]);
        assert_valid(&p);

        let mut p = TCP_SYN;
        p[7] = 2; // later fragment: the bytes after the header are payload
        ipv4::set_header_checksum(&mut p).unwrap();
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p[20..], TCP_SYN[20..]);
        assert!(ipv4::header_checksum_ok(&p).unwrap());
    }

    #[test]
    fn first_fragment_checksum_updated() {
        let mut p = TCP_SYN;
        p[6] |= 0x20; // MF
        ipv4::set_header_checksum(&mut p).unwrap();
        dnat(&mut p, RS, 8080, CsumMode::Full).unwrap();
        assert_eq!(p[20..], TCP_SYN_DNAT[20..]);
    }

    #[test]
    fn errors_leave_packet_unchanged() {
        let mut p = TCP_SYN;
        assert_eq!(
            dnat(&mut p, Addr::v6([0; 16]), 1, CsumMode::Full),
            Err(PacketError::UnsupportedFamily)
        );
        assert_eq!(p, TCP_SYN);
        let mut p = TCP_SYN;
        assert_eq!(
            dnat(&mut p[..30], RS, 1, CsumMode::Full),
            Err(PacketError::Truncated)
        );
        assert_eq!(p, TCP_SYN);
    }
}
