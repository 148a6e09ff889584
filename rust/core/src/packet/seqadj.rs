// SPDX-License-Identifier: GPL-2.0
//! Sequence-number translation of TCP segments: the fixed offsets a
//! director applies for the life of a connection when the two halves of it
//! do not share a sequence space, as Linux's `nf_conntrack_seqadj` and
//! SYNPROXY's `synproxy_tstamp_adjust` do.
//!
//! - SYNPROXY: the director answers the client's SYN itself, with a SYN
//!   cookie as its initial sequence number, and opens the connection to the
//!   real server afterwards, which picks another one. The server's sequence
//!   numbers are shifted by `cookie - server_isn` on the way to the client,
//!   and the client's acknowledgments of them by `server_isn - cookie` on
//!   the way to the server. Timestamps too: the client saw the director's
//!   timestamp clock in the SYN-ACK, the server has its own.
//! - Inserting bytes at the start of the client's stream (a PROXY protocol
//!   header, [`crate::proxy_protocol`]): the client's sequence numbers
//!   move by the header's length towards the server, and the server's
//!   acknowledgments of them back ([`InsertGap`], [`tcp_adjust_gap`]).
//!
//! One [`TcpAdjust`] describes the changes for one direction;
//! [`ConnAdjust`] holds both for a connection. [`tcp_adjust`] applies one
//! to a segment; [`seq_adjust`] is the sequence-only form.
//!
//! # Which delta applies to what
//!
//! A segment carries numbers of two sequence spaces: its own (the sender's:
//! `seq`, the timestamp value TSval) and its peer's (the receiver's: the
//! acknowledgment number `ack_seq`, the edges of the SACK blocks (option 5,
//! RFC 2018), which say which of the receiver's bytes arrived, and the
//! timestamp echo TSecr). So `ack_seq` and the SACK edges of a segment
//! move by the same delta (the *ack* delta), and that delta is the opposite
//! of the seq delta of the other direction.
//!
//! The peer-side values (`ack_seq`, SACK edges, TSecr) are only changed in
//! segments with ACK set: without it they carry no meaning (RFC 9293;
//! RFC 7323 has TSecr sent as zero), and a SYN's acknowledgment field may
//! hold anything (Linux's SYNPROXY parks its cookie there).
//!
//! Checksums: in [`CsumMode::Full`] the TCP checksum is updated
//! incrementally for every changed field, at whatever offset (options can
//! put a SACK edge or a timestamp at an odd offset), exactly equal to a
//! full recomputation. In [`CsumMode::Partial`] nothing is done: the field
//! holds only the pseudo-header sum, which none of these fields is part of.

use super::csum::CsumDiff;
use super::l4::{tcp_flags, TCP_CHECK_OFF};
use super::mss::{bytes_diff, tcp_options, TcpHeader, TCP_MAX_HLEN};
use super::nat::CsumMode;
use super::{rd16, rd4, wr, wr16, PacketError};

/// TCP option kind: SACK blocks (RFC 2018).
pub const TCPOPT_SACK: u8 = 5;
/// Length of one SACK block (two 32-bit edges).
pub const TCPOLEN_SACK_PERBLOCK: u8 = 8;
/// TCP option kind: timestamps (RFC 7323).
pub const TCPOPT_TIMESTAMP: u8 = 8;
/// Length of the timestamp option.
pub const TCPOLEN_TIMESTAMP: u8 = 10;
/// Largest window shift (RFC 7323).
const MAX_SHIFT: u8 = 14;

/// Offset of the sequence number in the TCP header.
const SEQ_OFF: usize = 4;
/// Offset of the acknowledgment number in the TCP header.
const ACK_OFF: usize = 8;
/// Offset of the window in the TCP header.
const WINDOW_OFF: usize = 14;

/// The changes for the segments of one direction of a connection. Deltas
/// are added with wrapping (a negative offset is its two's complement:
/// `0u32.wrapping_sub(n)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpAdjust {
    /// Added to `seq`.
    pub seq: u32,
    /// Added to `ack_seq` and to every SACK block edge (ACK set only).
    pub ack: u32,
    /// Added to the timestamp value (TSval).
    pub tsval: u32,
    /// Added to the timestamp echo (TSecr) (ACK set only).
    pub tsecr: u32,
    /// Window translation `(from, to)`: the window field, which the sender
    /// scaled by `from` bits, is rewritten for a receiver that scales it by
    /// `to` bits: `min(0xffff, (window << from) >> to)`. Shifts above 14 are
    /// taken as 14; equal shifts change nothing; never applied to a SYN
    /// (whose window is not scaled). Needed when the two halves of a
    /// SYNPROXY connection negotiated different window scaling.
    pub window: (u8, u8),
}

impl TcpAdjust {
    /// Whether applying it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.seq == 0
            && self.ack == 0
            && self.tsval == 0
            && self.tsecr == 0
            && self.window.0.min(MAX_SHIFT) == self.window.1.min(MAX_SHIFT)
    }
}

/// The changes for both directions of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnAdjust {
    /// For the client's segments, on their way to the real server.
    pub to_server: TcpAdjust,
    /// For the real server's segments, on their way to the client.
    pub to_client: TcpAdjust,
}

/// Bytes the director inserted at the start of the client's stream to the
/// server (a PROXY protocol header, [`crate::proxy_protocol`]): in the
/// server's sequence space they are `start .. start + len`, where `start`
/// is the client's first sequence number (its ISN + 1).
///
/// The client's segments after its SYN move `len` further towards the
/// server (a constant `seq` delta of `len`); the server's acknowledgments
/// and SACK edges come back through [`InsertGap::map`], which is not a
/// constant: a value that does not yet cover the inserted bytes is the
/// client's first byte, not acknowledged (so the SYN-ACK's acknowledgment
/// of the SYN stays as it is, and a partial acknowledgment never becomes
/// one below what the client already had acknowledged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InsertGap {
    /// The client's first sequence number (ISN + 1).
    pub start: u32,
    /// Bytes inserted.
    pub len: u32,
}

impl InsertGap {
    /// The gap for `len` bytes before the first byte of a client whose SYN
    /// had sequence number `client_isn`.
    pub fn new(client_isn: u32, len: u32) -> InsertGap {
        InsertGap {
            start: client_isn.wrapping_add(1),
            len,
        }
    }

    /// Whether `ack` (server space) covers all the inserted bytes.
    pub fn covered_by(&self, ack: u32) -> bool {
        after_eq(ack, self.start.wrapping_add(self.len))
    }

    /// An acknowledgment number or SACK edge of the server (server space)
    /// in the client's space: up to `start` unchanged, inside the gap
    /// `start`, beyond it `len` less (sequence arithmetic, RFC 1982).
    pub fn map(&self, ack: u32) -> u32 {
        if self.covered_by(ack) {
            ack.wrapping_sub(self.len)
        } else if after_eq(ack, self.start) {
            self.start
        } else {
            ack
        }
    }
}

/// Whether `a` is at or after `b` in sequence space.
fn after_eq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// Shifts a TCP segment's sequence numbers in place: `seq_delta` is added
/// to `seq`, `ack_delta` to `ack_seq` and to the edges of every SACK block
/// (the latter two only if ACK is set), with wrapping. See the module
/// documentation for which delta belongs where; [`tcp_adjust`] also
/// translates timestamps and windows.
///
/// `buf` starts at the IPv4 header and holds the whole TCP header, options
/// included (the payload may be missing: the checksum is updated
/// incrementally). Checksum per `mode`: [`CsumMode::Full`] incremental,
/// [`CsumMode::Partial`] untouched.
///
/// The options are walked (even when only `seq` changes, so that the
/// outcome does not depend on the deltas): a SACK option whose length is
/// not 2 plus a multiple of 8 is left alone, as Linux's
/// `nf_ct_sack_adjust` does, but a malformed option list (an option
/// without its length byte, a length below 2 or past the header) is an
/// error, as there (Linux drops the packet).
///
/// Errors (the packet is unchanged): anything [`super::l4::parse_packet`]
/// reports, [`PacketError::UnsupportedProtocol`] if it is not TCP,
/// [`PacketError::Fragment`] for a later fragment,
/// [`PacketError::Truncated`] if the options are not all in `buf`,
/// [`PacketError::BadL4Header`] for malformed options.
pub fn seq_adjust(
    buf: &mut [u8],
    seq_delta: u32,
    ack_delta: u32,
    mode: CsumMode,
) -> Result<(), PacketError> {
    let adj = TcpAdjust {
        seq: seq_delta,
        ack: ack_delta,
        ..TcpAdjust::default()
    };
    tcp_adjust(buf, &adj, mode)
}

/// Applies `adj` to a TCP segment in place: [`seq_adjust`]'s sequence and
/// SACK changes, plus `adj.tsval` added to the TSval and `adj.tsecr` to the
/// TSecr (ACK set only) of every timestamp option (kind 8, length 10), plus
/// the window translation `adj.window` (not on a SYN). Everything else,
/// including the errors, as [`seq_adjust`].
pub fn tcp_adjust(buf: &mut [u8], adj: &TcpAdjust, mode: CsumMode) -> Result<(), PacketError> {
    tcp_adjust_gap(buf, adj, None, mode)
}

/// [`tcp_adjust`] for a server's segment of a connection whose client
/// stream has bytes inserted (`gap`, see [`InsertGap`]): the
/// acknowledgment number and the SACK edges (ACK set only) are first
/// mapped with [`InsertGap::map`], then `adj.ack` is added. With `gap`
/// `None` exactly [`tcp_adjust`].
pub fn tcp_adjust_gap(
    buf: &mut [u8],
    adj: &TcpAdjust,
    gap: Option<InsertGap>,
    mode: CsumMode,
) -> Result<(), PacketError> {
    let th = TcpHeader::parse(buf)?;
    let t = PacketError::Truncated;
    let l4 = th.l4_off;
    let opts_src = buf.get(th.opts_off()..th.end()).ok_or(t)?;
    // A copy of the options, so that the walk can go on while `buf` is
    // written.
    let mut opts = [0u8; TCP_MAX_HLEN];
    let opts = opts.get_mut(..opts_src.len()).ok_or(t)?;
    opts.copy_from_slice(opts_src);
    // Validate the whole list before the first write.
    for o in tcp_options(opts) {
        o?;
    }
    let ack = th.flags & tcp_flags::ACK != 0;
    let syn = th.flags & tcp_flags::SYN != 0;
    let mut diff = CsumDiff::new();

    // A 32-bit field at `rel` (from the TCP header) gets `delta` added,
    // after the gap's mapping if `peer` (a number of the receiver's space).
    let mut add32 =
        |buf: &mut [u8], rel: usize, delta: u32, peer: bool| -> Result<(), PacketError> {
            let gap = gap.filter(|_| peer);
            if delta == 0 && gap.is_none() {
                return Ok(());
            }
            let off = l4 + rel;
            let old = rd4(buf, off).ok_or(PacketError::Truncated)?;
            let v = u32::from_be_bytes(old);
            let v = gap.map_or(v, |g| g.map(v));
            let new = v.wrapping_add(delta).to_be_bytes();
            if new == old {
                return Ok(());
            }
            wr(buf, off, &new)?;
            diff.merge(bytes_diff(&old, &new, rel % 2 == 1));
            Ok(())
        };

    add32(buf, SEQ_OFF, adj.seq, false)?;
    if ack {
        add32(buf, ACK_OFF, adj.ack, true)?;
    }
    let opts_rel = th.opts_off() - l4;
    for o in tcp_options(opts) {
        let o = o?;
        let rel = opts_rel + o.off;
        match (o.kind, o.len) {
            (TCPOPT_SACK, len)
                if ack
                    && len >= 2 + TCPOLEN_SACK_PERBLOCK
                    && (len - 2) % TCPOLEN_SACK_PERBLOCK == 0 =>
            {
                for edge in 0..usize::from((len - 2) / 4) {
                    add32(buf, rel + 2 + 4 * edge, adj.ack, true)?;
                }
            }
            (TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP) => {
                add32(buf, rel + 2, adj.tsval, false)?;
                if ack {
                    add32(buf, rel + 6, adj.tsecr, false)?;
                }
            }
            _ => {}
        }
    }

    let (from, to) = (adj.window.0.min(MAX_SHIFT), adj.window.1.min(MAX_SHIFT));
    if !syn && from != to {
        let off = l4 + WINDOW_OFF;
        let old = rd16(buf, off).ok_or(t)?;
        let new = rescale(old, from, to);
        wr16(buf, off, new)?;
        diff.replace16(old, new);
    }

    if mode == CsumMode::Full {
        let off = l4 + TCP_CHECK_OFF;
        let check = rd16(buf, off).ok_or(t)?;
        wr16(buf, off, diff.apply(check))?;
    }
    Ok(())
}

/// A window field scaled by `from` bits re-expressed for `to` bits
/// (both at most 14), saturating at 0xffff and rounding down.
fn rescale(window: u16, from: u8, to: u8) -> u16 {
    let bytes = u32::from(window) << from;
    u16::try_from(bytes >> to).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::l4::{fill_l4_checksum, l4_checksum_ok};
    use super::super::mss::TCPOPT_NOP;
    use super::super::toa_write::testpkt::{
        build_tcp, check_off, ref_tcp_check, ref_valid, seed_for, tcp_spec, TcpSpec,
    };
    use super::*;
    use proptest::prelude::*;

    /// An ACK with a SACK option at an odd offset (after one NOP) and a
    /// timestamp after it, and 10 bytes of payload.
    fn sack_packet(opts: Vec<u8>) -> Vec<u8> {
        build_tcp(&TcpSpec {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 1, 100],
            sport: 40000,
            dport: 80,
            seq: 0xffff_fff0,
            ack: 1000,
            flags: tcp_flags::ACK,
            window: 502,
            ip_opt_words: 0,
            opts,
            payload: b"0123456789".to_vec(),
            id: 1,
            df: true,
        })
    }

    fn sack_opts() -> Vec<u8> {
        let mut o = vec![TCPOPT_NOP, TCPOPT_SACK, 18];
        for e in [2000u32, 3000, 0xffff_fff0, 5] {
            o.extend_from_slice(&e.to_be_bytes());
        }
        o.extend_from_slice(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_NOP]);
        o.extend_from_slice(&[TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP]);
        o.extend_from_slice(&777u32.to_be_bytes());
        o.extend_from_slice(&12345u32.to_be_bytes());
        o
    }

    fn be32(p: &[u8], off: usize) -> u32 {
        u32::from_be_bytes(p[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn sack_at_odd_offset() {
        let p = sack_packet(sack_opts());
        let mut q = p.clone();
        seq_adjust(&mut q, 0x20, 0u32.wrapping_sub(1000), CsumMode::Full).unwrap();
        assert_eq!(be32(&q, 24), 0x10); // wrapped
        assert_eq!(be32(&q, 28), 0);
        // SACK edges at TCP offsets 23, 27, 31, 35 (odd).
        assert_eq!(be32(&q, 20 + 23), 1000);
        assert_eq!(be32(&q, 20 + 27), 2000);
        assert_eq!(be32(&q, 20 + 31), 0xffff_fff0u32.wrapping_sub(1000));
        assert_eq!(be32(&q, 20 + 35), 5u32.wrapping_sub(1000));
        // Timestamps untouched by seq_adjust.
        assert_eq!(q[20 + 44..20 + 52], p[20 + 44..20 + 52]);
        assert!(l4_checksum_ok(&q).unwrap());
        assert!(ref_valid(&q));
        // And back.
        seq_adjust(&mut q, 0u32.wrapping_sub(0x20), 1000, CsumMode::Full).unwrap();
        assert_eq!(q, p);
    }

    #[test]
    fn timestamps_and_window() {
        let p = sack_packet(sack_opts());
        let mut q = p.clone();
        let adj = TcpAdjust {
            seq: 1,
            ack: 2,
            tsval: 100,
            tsecr: 0u32.wrapping_sub(345),
            window: (7, 9),
        };
        tcp_adjust(&mut q, &adj, CsumMode::Full).unwrap();
        assert_eq!(be32(&q, 24), 0xffff_fff1);
        assert_eq!(be32(&q, 28), 1002);
        assert_eq!(be32(&q, 20 + 44), 877); // TSval at TCP offset 44
        assert_eq!(be32(&q, 20 + 48), 12000);
        assert_eq!(rd16(&q, 34), Some(502 >> 2));
        assert!(ref_valid(&q));
        // Growing shift saturates.
        let mut q = p.clone();
        let adj = TcpAdjust {
            window: (14, 0),
            ..TcpAdjust::default()
        };
        tcp_adjust(&mut q, &adj, CsumMode::Full).unwrap();
        assert_eq!(rd16(&q, 34), Some(0xffff));
        assert!(ref_valid(&q));
        // Shifts above 14 are 14: (20, 14) changes nothing.
        let mut q = p.clone();
        let adj = TcpAdjust {
            window: (20, 14),
            ..TcpAdjust::default()
        };
        assert!(adj.is_identity());
        tcp_adjust(&mut q, &adj, CsumMode::Full).unwrap();
        assert_eq!(q, p);
    }

    #[test]
    fn no_ack_flag_leaves_ack_side_alone() {
        let mut p = sack_packet(sack_opts());
        p[33] = tcp_flags::SYN;
        fill_l4_checksum(&mut p).unwrap();
        let mut q = p.clone();
        let adj = TcpAdjust {
            seq: 5,
            ack: 6,
            tsval: 7,
            tsecr: 8,
            window: (0, 3),
        };
        tcp_adjust(&mut q, &adj, CsumMode::Full).unwrap();
        let mut want = p.clone();
        want[24..28].copy_from_slice(&0xffff_fff5u32.to_be_bytes());
        want[20 + 44..20 + 48].copy_from_slice(&784u32.to_be_bytes());
        fill_l4_checksum(&mut want).unwrap();
        assert_eq!(q, want);
    }

    #[test]
    fn no_options_and_bad_sack_lengths() {
        let p = sack_packet(vec![]);
        let mut q = p.clone();
        seq_adjust(&mut q, 7, 9, CsumMode::Full).unwrap();
        assert_eq!(be32(&q, 24), 0xffff_fff7);
        assert_eq!(be32(&q, 28), 1009);
        assert!(ref_valid(&q));
        // SACK options of length 2, 9 and 11 are not adjusted.
        for len in [2u8, 9, 11] {
            let mut o = vec![TCPOPT_SACK, len];
            o.extend(std::iter::repeat(0xaa).take(usize::from(len) - 2));
            let p = sack_packet(o);
            let mut q = p.clone();
            seq_adjust(&mut q, 0, 9, CsumMode::Full).unwrap();
            assert_eq!(q[40..], p[40..], "len {len}");
            assert_eq!(be32(&q, 28), 1009);
            assert!(ref_valid(&q));
        }
    }

    #[test]
    fn malformed_options_leave_packet_unchanged() {
        for bad in [
            vec![TCPOPT_NOP, 3],
            vec![3, 0],
            vec![3, 1],
            vec![TCPOPT_SACK, 30],
            vec![TCPOPT_SACK, 10, 0, 0, 0, 0, 0, 0, 0, 0, 9],
        ] {
            // The builder pads with zeros (EOL) to 4 bytes; put the bad
            // option at the very end of the header.
            let mut o = vec![TCPOPT_NOP; (4 - bad.len() % 4) % 4];
            o.extend_from_slice(&bad);
            let p = sack_packet(o);
            let mut q = p.clone();
            assert_eq!(
                seq_adjust(&mut q, 1, 1, CsumMode::Full),
                Err(PacketError::BadL4Header),
                "{bad:?}"
            );
            assert_eq!(q, p);
        }
        // Options cut off by the slice.
        let p = sack_packet(sack_opts());
        let mut q = p.clone();
        assert_eq!(
            seq_adjust(&mut q[..60], 1, 1, CsumMode::Full),
            Err(PacketError::Truncated)
        );
        assert_eq!(q, p);
        // Not TCP; later fragment.
        let mut q = p.clone();
        q[9] = 47;
        let before = q.clone();
        assert_eq!(
            seq_adjust(&mut q, 1, 1, CsumMode::Full),
            Err(PacketError::UnsupportedProtocol)
        );
        assert_eq!(q, before);
        let mut q = p.clone();
        q[7] = 1;
        assert_eq!(
            seq_adjust(&mut q, 1, 1, CsumMode::Full),
            Err(PacketError::Fragment)
        );
    }

    #[test]
    fn headers_only_slice() {
        let p = sack_packet(sack_opts());
        let hdr = 20 + 20 + sack_opts().len().next_multiple_of(4);
        let mut q = p.clone();
        seq_adjust(&mut q[..hdr], 3, 4, CsumMode::Full).unwrap();
        let mut r = p.clone();
        seq_adjust(&mut r, 3, 4, CsumMode::Full).unwrap();
        assert_eq!(q, r);
    }

    #[test]
    fn insert_gap_map() {
        // Client ISN 0xffff_fff0: first byte 0xffff_fff1, 28 bytes
        // inserted (the gap wraps).
        let g = InsertGap::new(0xffff_fff0, 28);
        assert_eq!(g.start, 0xffff_fff1);
        // The SYN-ACK acknowledges the SYN: unchanged.
        assert_eq!(g.map(0xffff_fff1), 0xffff_fff1);
        assert!(!g.covered_by(0xffff_fff1));
        // Inside the gap: the client's first byte.
        assert_eq!(g.map(0xffff_fff1 + 1), 0xffff_fff1);
        assert_eq!(g.map(0xffff_fff1u32.wrapping_add(27)), 0xffff_fff1);
        // Covered: moved back by 28.
        let end = 0xffff_fff1u32.wrapping_add(28);
        assert!(g.covered_by(end));
        assert_eq!(g.map(end), 0xffff_fff1);
        assert_eq!(
            g.map(end.wrapping_add(1000)),
            0xffff_fff1u32.wrapping_add(1000)
        );
        // Older than the stream (a stale acknowledgment): unchanged.
        assert_eq!(g.map(0xffff_ff00), 0xffff_ff00);
    }

    #[test]
    fn adjust_with_gap() {
        // ack 1000 and SACK edges 2000, 3000, 0xffff_fff0, 5 (sack_opts);
        // the gap starts at 990, 20 bytes: 1000 is inside it.
        let p = sack_packet(sack_opts());
        let gap = InsertGap {
            start: 990,
            len: 20,
        };
        let adj = TcpAdjust {
            tsval: 7,
            ..TcpAdjust::default()
        };
        let mut q = p.clone();
        tcp_adjust_gap(&mut q, &adj, Some(gap), CsumMode::Full).unwrap();
        assert_eq!(be32(&q, 28), 990);
        assert_eq!(be32(&q, 20 + 23), 1980);
        assert_eq!(be32(&q, 20 + 27), 2980);
        // Before the stream (sequence arithmetic): unchanged.
        assert_eq!(be32(&q, 20 + 31), 0xffff_fff0);
        assert_eq!(be32(&q, 20 + 35), 5);
        assert_eq!(be32(&q, 20 + 44), 777 + 7);
        assert!(l4_checksum_ok(&q).unwrap());
        assert!(ref_valid(&q));
        // Without a gap: tcp_adjust.
        let (mut a, mut b) = (p.clone(), p.clone());
        tcp_adjust_gap(&mut a, &adj, None, CsumMode::Full).unwrap();
        tcp_adjust(&mut b, &adj, CsumMode::Full).unwrap();
        assert_eq!(a, b);
    }

    /// The reference: every field rewritten the naive way, then both
    /// checksums recomputed from scratch.
    fn reference(p: &[u8], adj: &TcpAdjust) -> Vec<u8> {
        let mut q = p.to_vec();
        let l4 = usize::from(q[0] & 0xf) * 4;
        let hlen = usize::from(q[l4 + 12] >> 4) * 4;
        let flags = q[l4 + 13];
        let ack = flags & tcp_flags::ACK != 0;
        let add = |q: &mut Vec<u8>, off: usize, d: u32| {
            let v = be32(q, off).wrapping_add(d);
            q[off..off + 4].copy_from_slice(&v.to_be_bytes());
        };
        add(&mut q, l4 + 4, adj.seq);
        if ack {
            add(&mut q, l4 + 8, adj.ack);
        }
        let mut i = 20;
        while i < hlen {
            let kind = q[l4 + i];
            if kind == 0 {
                break;
            }
            if kind == 1 {
                i += 1;
                continue;
            }
            let len = usize::from(q[l4 + i + 1]);
            if kind == 5 && ack && len >= 10 && (len - 2) % 8 == 0 {
                for e in 0..(len - 2) / 4 {
                    add(&mut q, l4 + i + 2 + 4 * e, adj.ack);
                }
            }
            if kind == 8 && len == 10 {
                add(&mut q, l4 + i + 2, adj.tsval);
                if ack {
                    add(&mut q, l4 + i + 6, adj.tsecr);
                }
            }
            i += len;
        }
        let (from, to) = (adj.window.0.min(14), adj.window.1.min(14));
        if flags & tcp_flags::SYN == 0 && from != to {
            let w = u64::from(u16::from_be_bytes([q[l4 + 14], q[l4 + 15]]));
            let n = ((w << from) >> to).min(0xffff) as u16;
            q[l4 + 14..l4 + 16].copy_from_slice(&n.to_be_bytes());
        }
        let c = ref_tcp_check(&q);
        let off = check_off(&q);
        q[off..off + 2].copy_from_slice(&c.to_be_bytes());
        q
    }

    /// Random options with SACK blocks (of valid and invalid lengths) and
    /// timestamps mixed in, at any offset.
    fn adj_spec() -> impl Strategy<Value = TcpSpec> {
        (
            tcp_spec(),
            0usize..=3,
            proptest::collection::vec(any::<u32>(), 0..=4),
            proptest::option::of(any::<[u8; 8]>()),
            any::<bool>(),
        )
            .prop_map(|(mut s, nops, edges, ts, sack_first)| {
                let mut sack = vec![TCPOPT_SACK, 2 + 4 * edges.len() as u8];
                for e in &edges {
                    sack.extend_from_slice(&e.to_be_bytes());
                }
                let mut tso = vec![];
                if let Some(t) = ts {
                    tso = vec![TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP];
                    tso.extend_from_slice(&t);
                }
                let mut o = vec![TCPOPT_NOP; nops];
                if sack_first {
                    o.extend_from_slice(&sack);
                    o.extend_from_slice(&tso);
                } else {
                    o.extend_from_slice(&tso);
                    o.extend_from_slice(&sack);
                }
                if o.len() + s.opts.len() <= 40 {
                    o.extend_from_slice(&s.opts);
                }
                o.truncate(40);
                if o.len() <= 40 && valid_opts(&o) {
                    s.opts = o;
                }
                s
            })
    }

    /// Whether option bytes walk without error.
    fn valid_opts(o: &[u8]) -> bool {
        tcp_options(o).all(|x| x.is_ok())
    }

    fn adjust() -> impl Strategy<Value = TcpAdjust> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            (0u8..=16, 0u8..=16),
        )
            .prop_map(|(seq, ack, tsval, tsecr, window)| TcpAdjust {
                seq,
                ack,
                tsval,
                tsecr,
                window,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Full mode equals a full recomputation; Partial mode leaves the
        /// field alone and completes to the same packet; the inverse
        /// adjustment (without window changes, which lose bits) restores
        /// the original.
        #[test]
        fn matches_reference(spec in adj_spec(), adj in adjust()) {
            let p = build_tcp(&spec);
            prop_assert!(ref_valid(&p));
            let want = reference(&p, &adj);
            let mut q = p.clone();
            tcp_adjust(&mut q, &adj, CsumMode::Full).unwrap();
            prop_assert_eq!(&q, &want);
            prop_assert!(ref_valid(&q));

            let mut part = p.clone();
            let seed = seed_for(&part);
            let c = check_off(&part);
            part[c..c + 2].copy_from_slice(&seed.to_be_bytes());
            tcp_adjust(&mut part, &adj, CsumMode::Partial).unwrap();
            prop_assert_eq!(&part[c..c + 2], &seed.to_be_bytes()[..]);
            fill_l4_checksum(&mut part).unwrap();
            prop_assert_eq!(&part, &want);

            let inv = TcpAdjust {
                seq: 0u32.wrapping_sub(adj.seq),
                ack: 0u32.wrapping_sub(adj.ack),
                tsval: 0u32.wrapping_sub(adj.tsval),
                tsecr: 0u32.wrapping_sub(adj.tsecr),
                window: (0, 0),
            };
            let fwd = TcpAdjust { window: (0, 0), ..adj };
            let mut r = p.clone();
            tcp_adjust(&mut r, &fwd, CsumMode::Full).unwrap();
            tcp_adjust(&mut r, &inv, CsumMode::Full).unwrap();
            prop_assert_eq!(&r, &p);
        }

        /// Garbage never panics, and errors leave the bytes unchanged.
        #[test]
        fn garbage(mut p in proptest::collection::vec(any::<u8>(), 0..100), adj in adjust(), full in any::<bool>()) {
            if let Some(b) = p.get_mut(0) {
                *b = 0x45;
            }
            if let Some(b) = p.get_mut(9) {
                *b = 6;
            }
            let before = p.clone();
            let mode = if full { CsumMode::Full } else { CsumMode::Partial };
            if tcp_adjust(&mut p, &adj, mode).is_err() {
                prop_assert_eq!(p, before);
            }
        }
    }
}
