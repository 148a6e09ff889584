// SPDX-License-Identifier: GPL-2.0
//! TCP options: a robust option walker and the MSS clamp a FULLNAT director
//! applies to the real server's SYN-ACK, so that the client's segments leave
//! room for the 8-byte TOA option the director adds (see
//! [`super::toa_write`]).
//!
//! Upstream IPVS has no FULLNAT; the behaviour follows the LVS ecosystem
//! (Alibaba LVS `tcp_opt_adjust_mss`, DPVS `tcp_in_adjust_mss`): the MSS
//! option of a SYN is lowered in place and the TCP checksum updated
//! incrementally.

use super::csum::{self, CsumDiff};
use super::ipv4::{Fragment, Ipv4Header};
use super::l4::{self, tcp_flags, TCP_CHECK_OFF, TCP_MIN_HLEN};
use super::nat::CsumMode;
use super::{rd16, rd8, wr16, PacketError, IPPROTO_TCP};

/// TCP option kind: end of option list.
pub const TCPOPT_EOL: u8 = 0;
/// TCP option kind: no-operation (padding).
pub const TCPOPT_NOP: u8 = 1;
/// TCP option kind: maximum segment size.
pub const TCPOPT_MSS: u8 = 2;
/// Length of the MSS option, kind and length bytes included.
pub const TCPOLEN_MSS: u8 = 4;
/// Largest TCP header (data offset 15): 20 fixed bytes and 40 of options.
pub const TCP_MAX_HLEN: usize = 60;
/// Offset of the data-offset byte (high nibble) in the TCP header.
pub(crate) const TCP_DOFF_OFF: usize = 12;

/// The lowest MSS [`mss_reduce`] writes: the kernel's `TCP_MIN_MSS` (88).
/// An announced MSS at or below it is left as it is, and a reduction never
/// goes below it (a sender clamps tiny values anyway, see the
/// `net.ipv4.tcp_min_snd_mss` sysctl).
pub const MSS_FLOOR: u16 = 88;

/// A TCP packet whose whole header (options included) lies in the slice.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpHeader {
    /// The IPv4 header.
    pub(crate) ip: Ipv4Header,
    /// Offset of the TCP header (the IP header length).
    pub(crate) l4_off: usize,
    /// TCP header length in bytes (data offset * 4, 20..=60).
    pub(crate) hlen: usize,
    /// TCP flags.
    pub(crate) flags: u8,
}

impl TcpHeader {
    /// Parses a TCP packet starting at its IPv4 header with
    /// [`l4::parse_packet`]'s validation, and also requires the TCP options
    /// to be in `buf`. Errors: anything [`l4::parse_packet`] reports,
    /// [`PacketError::UnsupportedProtocol`] for other protocols,
    /// [`PacketError::Fragment`] for later fragments (no TCP header),
    /// [`PacketError::Truncated`] if the options are not all in `buf`.
    pub(crate) fn parse(buf: &[u8]) -> Result<TcpHeader, PacketError> {
        let (ip, info) = l4::parse_with_header(buf)?;
        if info.proto != IPPROTO_TCP {
            return Err(PacketError::UnsupportedProtocol);
        }
        if info.fragment == Fragment::Later {
            return Err(PacketError::Fragment);
        }
        let t = PacketError::Truncated;
        let doff = rd8(buf, info.l4_off + TCP_DOFF_OFF).ok_or(t)?;
        // parse_with_header checked 20 <= doff * 4 <= IP payload.
        let hlen = usize::from(doff >> 4) * 4;
        let end = info.l4_off.checked_add(hlen).ok_or(t)?;
        if end > buf.len() {
            return Err(t);
        }
        Ok(TcpHeader {
            ip,
            l4_off: info.l4_off,
            hlen,
            flags: info.tcp_flags,
        })
    }

    /// Offset of the first option byte in the slice.
    pub(crate) fn opts_off(&self) -> usize {
        self.l4_off + TCP_MIN_HLEN
    }

    /// Offset just past the TCP header (and its options) in the slice.
    pub(crate) fn end(&self) -> usize {
        self.l4_off + self.hlen
    }

    /// Whether SYN is set.
    pub(crate) fn is_syn(&self) -> bool {
        self.flags & tcp_flags::SYN != 0
    }
}

/// One step of the option walk: an option other than EOL and NOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOption {
    /// Offset of the option's kind byte within the option bytes.
    pub off: usize,
    /// Option kind.
    pub kind: u8,
    /// Option length from its length byte (kind and length included,
    /// at least 2).
    pub len: u8,
}

/// Iterates over the options in the TCP option bytes `opts` (the bytes
/// after the 20-byte fixed header, up to the data offset). NOP is skipped;
/// EOL ends the walk (what follows it is padding). Yields
/// `Err(PacketError::BadL4Header)` once, and then stops, for an option
/// without its length byte, with a length below 2 or one that runs past
/// the end of `opts`. The kernel's `tcp_parse_options` silently stops at
/// such an option instead; here the caller learns that the header is
/// malformed.
pub fn tcp_options(opts: &[u8]) -> TcpOptions<'_> {
    TcpOptions {
        opts,
        pos: 0,
        eol: None,
    }
}

/// The iterator returned by [`tcp_options`].
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    /// The option bytes.
    opts: &'a [u8],
    /// Offset of the next kind byte; `opts.len()` once finished.
    pos: usize,
    /// Offset of the EOL the walk stopped at.
    eol: Option<usize>,
}

impl TcpOptions<'_> {
    /// The offset of the EOL option that ended the walk, if it ended at
    /// one (the bytes from there on are padding). `None` while the walk is
    /// under way, and after a walk that ran to the end of the bytes or
    /// stopped at a malformed option.
    pub fn eol(&self) -> Option<usize> {
        self.eol
    }
}

impl Iterator for TcpOptions<'_> {
    type Item = Result<TcpOption, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let off = self.pos;
            let kind = rd8(self.opts, off)?;
            match kind {
                TCPOPT_EOL => {
                    self.eol = Some(off);
                    self.pos = self.opts.len();
                    return None;
                }
                TCPOPT_NOP => self.pos = off + 1,
                _ => {
                    let len = rd8(self.opts, off + 1).unwrap_or(0);
                    let end = off + usize::from(len);
                    if len < 2 || end > self.opts.len() {
                        self.pos = self.opts.len();
                        return Some(Err(PacketError::BadL4Header));
                    }
                    self.pos = end;
                    return Some(Ok(TcpOption { off, kind, len }));
                }
            }
        }
    }
}

/// Finds the first option with kind `kind` and length `len` in the TCP
/// option bytes `opts` and returns its offset within `opts`. Options of
/// that kind with another length are passed over (the kernel ignores an
/// MSS option whose length is not 4, for instance). A malformed option
/// before the match gives [`PacketError::BadL4Header`]; options after it
/// are not examined.
pub fn find_tcp_option(opts: &[u8], kind: u8, len: u8) -> Result<Option<usize>, PacketError> {
    for opt in tcp_options(opts) {
        let opt = opt?;
        if opt.kind == kind && opt.len == len {
            return Ok(Some(opt.off));
        }
    }
    Ok(None)
}

/// The checksum change when the bytes `old` become `new` (same length) at
/// an offset of the checksummed region that is odd if `odd`. A run of bytes
/// at an odd offset contributes its even-offset sum byte-swapped (RFC 1071,
/// byte order independence), and a byte swap is a multiplication by 256 in
/// ones' complement arithmetic, so the folded sums are swapped.
pub(crate) fn bytes_diff(old: &[u8], new: &[u8], odd: bool) -> CsumDiff {
    let o = csum::fold(csum::sum(old, 0));
    let n = csum::fold(csum::sum(new, 0));
    let mut d = CsumDiff::new();
    if odd {
        d.replace16(o.swap_bytes(), n.swap_bytes());
    } else {
        d.replace16(o, n);
    }
    d
}

/// Lowers the MSS a TCP SYN (SYN or SYN-ACK) announces by `by` bytes, in
/// place. `buf` starts at the IPv4 header and must hold the whole TCP
/// header, options included.
///
/// Returns `Ok(Some((old, new)))` when the packet is a SYN with an MSS
/// option (kind 2, length 4), `Ok(None)` when it is not a SYN or carries
/// no MSS option (the receiver then assumes 536, which is left alone).
/// The new value is `old - by`, but never below [`MSS_FLOOR`]; an MSS
/// already at or below the floor is not changed (`new == old`, and
/// nothing is written).
///
/// Checksum, according to `mode`:
/// - [`CsumMode::Full`]: incremental update for the changed value (at
///   whatever offset the option sits, odd offsets included).
/// - [`CsumMode::Partial`]: nothing: the field holds only the pseudo-header
///   sum, which does not cover options (the device sums them later), as
///   [`super::nat`] leaves ports alone in that mode.
///
/// Errors (the packet is unchanged): anything [`l4::parse_packet`] reports,
/// [`PacketError::UnsupportedProtocol`] if it is not TCP,
/// [`PacketError::Fragment`] for a later fragment (a first fragment is
/// handled: the incremental update stays correct for the datagram),
/// [`PacketError::Truncated`] if the options are not all in `buf`,
/// [`PacketError::BadL4Header`] for malformed options before the MSS
/// option (see [`tcp_options`]). The caller then forwards the packet
/// unchanged or drops it.
pub fn mss_reduce(
    buf: &mut [u8],
    by: u16,
    mode: CsumMode,
) -> Result<Option<(u16, u16)>, PacketError> {
    let th = TcpHeader::parse(buf)?;
    if !th.is_syn() {
        return Ok(None);
    }
    let opts = buf
        .get(th.opts_off()..th.end())
        .ok_or(PacketError::Truncated)?;
    let Some(opt_off) = find_tcp_option(opts, TCPOPT_MSS, TCPOLEN_MSS)? else {
        return Ok(None);
    };
    // Offset of the value from the start of the TCP header.
    let rel = TCP_MIN_HLEN + opt_off + 2;
    let off = th.l4_off + rel;
    let old = rd16(buf, off).ok_or(PacketError::Truncated)?;
    let new = if old <= MSS_FLOOR {
        old
    } else {
        old.saturating_sub(by).max(MSS_FLOOR)
    };
    if new == old {
        return Ok(Some((old, new)));
    }
    let check_off = th.l4_off + TCP_CHECK_OFF;
    let check = rd16(buf, check_off).ok_or(PacketError::Truncated)?;
    wr16(buf, off, new)?;
    if mode == CsumMode::Full {
        let d = bytes_diff(&old.to_be_bytes(), &new.to_be_bytes(), rel % 2 == 1);
        wr16(buf, check_off, d.apply(check))?;
    }
    Ok(Some((old, new)))
}

#[cfg(test)]
mod tests {
    use super::super::l4::{fill_l4_checksum, l4_checksum_ok};
    use super::super::toa_write::testpkt::{
        build_tcp, check_off, ref_valid, seed_for, tcp_spec, TcpSpec,
    };
    use super::*;
    use proptest::prelude::*;

    // Generated with scapy 2.5 (python3-scapy):
    // IP(src="10.0.2.11", dst="10.0.2.1", id=0, flags="DF")/TCP(sport=8080,
    //   dport=5000, seq=1000, ack=2, flags="SA", window=65160,
    //   options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (777, 12345)),
    //            ("NOP", None), ("WScale", 7)])
    /// SYN-ACK from RS 10.0.2.11:8080 to LIP 10.0.2.1:5000, MSS 1460.
    const SYNACK: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x22, 0xb1, 0x0a, 0x00, 0x02,
        0x0b, 0x0a, 0x00, 0x02, 0x01, 0x1f, 0x90, 0x13, 0x88, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00,
        0x00, 0x02, 0xa0, 0x12, 0xfe, 0x88, 0xc7, 0x17, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x03, 0x09, 0x00, 0x00, 0x30, 0x39, 0x01, 0x03, 0x03, 0x07,
    ];
    /// The same with ("MSS", 1452).
    const SYNACK_MSS: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x22, 0xb1, 0x0a, 0x00, 0x02,
        0x0b, 0x0a, 0x00, 0x02, 0x01, 0x1f, 0x90, 0x13, 0x88, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00,
        0x00, 0x02, 0xa0, 0x12, 0xfe, 0x88, 0xc7, 0x1f, 0x00, 0x00, 0x02, 0x04, 0x05, 0xac, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x03, 0x09, 0x00, 0x00, 0x30, 0x39, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn synack_byte_exact() {
        let mut p = SYNACK;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Ok(Some((1460, 1452)))
        );
        assert_eq!(p, SYNACK_MSS);
        // Headers only in the slice: same result (incremental update).
        let mut p = SYNACK;
        assert_eq!(
            mss_reduce(&mut p[..60], 8, CsumMode::Full),
            Ok(Some((1460, 1452)))
        );
        assert_eq!(p, SYNACK_MSS);
    }

    #[test]
    fn partial_mode_leaves_check_alone() {
        let mut p = SYNACK;
        let seed = seed_for(&p);
        p[36..38].copy_from_slice(&seed.to_be_bytes());
        let before = p;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Partial),
            Ok(Some((1460, 1452)))
        );
        assert_eq!(p[36..38], before[36..38]);
        assert_eq!(p[42..44], [0x05, 0xac]);
        // Completing as the device does gives the full-mode result.
        let mut q = p;
        fill_l4_checksum(&mut q).unwrap();
        assert_eq!(q, SYNACK_MSS);
    }

    #[test]
    fn not_syn_or_no_mss() {
        let mut p = SYNACK;
        p[33] = tcp_flags::ACK;
        fill_l4_checksum(&mut p).unwrap();
        let before = p;
        assert_eq!(mss_reduce(&mut p, 8, CsumMode::Full), Ok(None));
        assert_eq!(p, before);
        // The MSS option replaced by NOPs.
        let mut p = SYNACK;
        p[40..44].copy_from_slice(&[1, 1, 1, 1]);
        fill_l4_checksum(&mut p).unwrap();
        let before = p;
        assert_eq!(mss_reduce(&mut p, 8, CsumMode::Full), Ok(None));
        assert_eq!(p, before);
        // An MSS option of the wrong length is not an MSS option.
        let mut p = SYNACK;
        p[40..44].copy_from_slice(&[2, 3, 5, 1]);
        fill_l4_checksum(&mut p).unwrap();
        assert_eq!(mss_reduce(&mut p, 8, CsumMode::Full), Ok(None));
        // After EOL nothing is an option.
        let mut p = SYNACK;
        p[40..44].copy_from_slice(&[0, 0, 0, 0]);
        p[44..48].copy_from_slice(&[2, 4, 5, 0xb4]);
        fill_l4_checksum(&mut p).unwrap();
        assert_eq!(mss_reduce(&mut p, 8, CsumMode::Full), Ok(None));
    }

    #[test]
    fn floor() {
        for (old, by, new) in [
            (1460, 0, 1460),
            (100, 8, 92),
            (95, 8, 88),
            (90, 8, 88),
            (88, 8, 88),
            (40, 8, 40),
            (0, 8, 0),
            (1460, 0xffff, 88),
        ] {
            let mut p = SYNACK;
            p[42..44].copy_from_slice(&u16::to_be_bytes(old));
            fill_l4_checksum(&mut p).unwrap();
            assert_eq!(mss_reduce(&mut p, by, CsumMode::Full), Ok(Some((old, new))));
            assert_eq!(rd16(&p, 42), Some(new));
            assert!(l4_checksum_ok(&p).unwrap());
        }
    }

    #[test]
    fn odd_offset_option() {
        // NOP, MSS at option offset 1: the value sits at an odd offset.
        let mut p = SYNACK;
        p[40..48].copy_from_slice(&[1, 2, 4, 0x05, 0xb4, 1, 1, 1]);
        fill_l4_checksum(&mut p).unwrap();
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Ok(Some((1460, 1452)))
        );
        assert_eq!(p[42..45], [4, 0x05, 0xac]);
        assert!(l4_checksum_ok(&p).unwrap());
    }

    #[test]
    fn errors_leave_packet_unchanged() {
        // Truncated option list: a kind without its length byte.
        let mut p = SYNACK;
        p[40..60].copy_from_slice(&[1; 20]);
        p[59] = 3;
        fill_l4_checksum(&mut p).unwrap();
        let before = p;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Err(PacketError::BadL4Header)
        );
        assert_eq!(p, before);
        // Length 0 and 1, and past the end.
        for bad in [[3, 0], [3, 1], [8, 30]] {
            let mut p = SYNACK;
            p[40..42].copy_from_slice(&bad);
            let before = p;
            assert_eq!(
                mss_reduce(&mut p, 8, CsumMode::Full),
                Err(PacketError::BadL4Header)
            );
            assert_eq!(p, before);
        }
        // Options cut off by the slice.
        let mut p = SYNACK;
        assert_eq!(
            mss_reduce(&mut p[..59], 8, CsumMode::Full),
            Err(PacketError::Truncated)
        );
        assert_eq!(p, SYNACK);
        // Not TCP, later fragment.
        let mut p = SYNACK;
        p[9] = 17;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Err(PacketError::BadL4Header)
        );
        p[9] = 47;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Err(PacketError::UnsupportedProtocol)
        );
        let mut p = SYNACK;
        p[7] = 1;
        assert_eq!(
            mss_reduce(&mut p, 8, CsumMode::Full),
            Err(PacketError::Fragment)
        );
    }

    #[test]
    fn option_walk() {
        let opts = [1, 2, 4, 5, 0xb4, 254, 8, 0, 0, 0, 0, 0, 0, 3, 5, 1];
        let mut walk = tcp_options(&opts);
        let all: Vec<_> = walk.by_ref().collect();
        assert_eq!(walk.eol(), None);
        assert_eq!(
            all,
            [
                Ok(TcpOption {
                    off: 1,
                    kind: 2,
                    len: 4
                }),
                Ok(TcpOption {
                    off: 5,
                    kind: 254,
                    len: 8
                }),
                Err(PacketError::BadL4Header),
            ]
        );
        assert_eq!(find_tcp_option(&opts, 254, 8), Ok(Some(5)));
        assert_eq!(
            find_tcp_option(&opts, 254, 6),
            Err(PacketError::BadL4Header)
        );
        assert_eq!(find_tcp_option(&[], 2, 4), Ok(None));
        assert_eq!(find_tcp_option(&[1, 1, 0, 9], 2, 4), Ok(None));
        let mut walk = tcp_options(&[3, 3, 0, 1, 0, 9]);
        assert_eq!(
            walk.next(),
            Some(Ok(TcpOption {
                off: 0,
                kind: 3,
                len: 3
            }))
        );
        assert_eq!(walk.next(), None);
        assert_eq!(walk.eol(), Some(4));
        assert_eq!(walk.next(), None);
        assert_eq!(find_tcp_option(&[9], 2, 4), Err(PacketError::BadL4Header));
    }

    /// A SYN or SYN-ACK, often with an MSS option first (after 0..=4 NOPs,
    /// so at odd offsets too), followed by random options (which may hold
    /// another MSS option).
    fn syn_spec() -> impl Strategy<Value = TcpSpec> {
        (
            tcp_spec(),
            0usize..=4,
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut s, nops, mss, has_mss, ack)| {
                s.flags = tcp_flags::SYN | if ack { tcp_flags::ACK } else { 0 };
                let mut opts = vec![TCPOPT_NOP; nops];
                if has_mss {
                    opts.extend_from_slice(&[TCPOPT_MSS, TCPOLEN_MSS]);
                    opts.extend_from_slice(&mss.to_be_bytes());
                }
                if opts.len() + s.opts.len() <= 40 {
                    opts.extend_from_slice(&s.opts);
                }
                s.opts = opts;
                s
            })
    }

    /// Offset of the first MSS value in well-formed option bytes, found
    /// the naive way.
    fn ref_find_mss(opts: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < opts.len() && opts[i] != TCPOPT_EOL {
            if opts[i] == TCPOPT_NOP {
                i += 1;
                continue;
            }
            if opts[i] == TCPOPT_MSS && opts[i + 1] == TCPOLEN_MSS {
                return Some(i + 2);
            }
            i += usize::from(opts[i + 1]);
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The incremental update equals a full recomputation, at even and
        /// odd offsets, for both checksum modes.
        #[test]
        fn matches_recompute(spec in syn_spec(), by in any::<u16>()) {
            let p = build_tcp(&spec);
            let at = ref_find_mss(&spec.opts);
            prop_assert!(ref_valid(&p));
            let mut q = p.clone();
            let r = mss_reduce(&mut q, by, CsumMode::Full).unwrap();
            match at {
                None => {
                    prop_assert_eq!(r, None);
                    prop_assert_eq!(&q, &p);
                }
                Some(rel) => {
                    let off = check_off(&p) + 4 + rel;
                    let old = u16::from_be_bytes([p[off], p[off + 1]]);
                    let new = if old <= MSS_FLOOR { old } else { old.saturating_sub(by).max(MSS_FLOOR) };
                    prop_assert_eq!(r, Some((old, new)));
                    let mut want = p.clone();
                    want[off..off + 2].copy_from_slice(&new.to_be_bytes());
                    fill_l4_checksum(&mut want).unwrap();
                    prop_assert_eq!(&q, &want);
                    prop_assert!(ref_valid(&q));

                    let mut part = p.clone();
                    let seed = seed_for(&part);
                    let c = check_off(&part);
                    part[c..c + 2].copy_from_slice(&seed.to_be_bytes());
                    prop_assert_eq!(mss_reduce(&mut part, by, CsumMode::Partial), Ok(Some((old, new))));
                    prop_assert_eq!(&part[c..c + 2], &seed.to_be_bytes()[..]);
                    fill_l4_checksum(&mut part).unwrap();
                    prop_assert_eq!(&part, &want);
                }
            }
        }

        /// Garbage never panics, and errors leave the bytes unchanged.
        #[test]
        fn garbage(mut p in proptest::collection::vec(any::<u8>(), 0..100), by in any::<u16>(), full in any::<bool>()) {
            if let Some(b) = p.get_mut(0) {
                *b = 0x45;
            }
            if let Some(b) = p.get_mut(9) {
                *b = IPPROTO_TCP;
            }
            let before = p.clone();
            let mode = if full { CsumMode::Full } else { CsumMode::Partial };
            if mss_reduce(&mut p, by, mode).is_err() {
                prop_assert_eq!(p, before);
            }
        }

        /// The walker never panics and its options tile the bytes.
        #[test]
        fn walker(opts in proptest::collection::vec(any::<u8>(), 0..48)) {
            let mut pos = 0;
            for o in tcp_options(&opts) {
                let Ok(o) = o else { break };
                prop_assert!(opts[pos..o.off].iter().all(|&b| b == TCPOPT_NOP));
                prop_assert!(o.len >= 2 && o.off + usize::from(o.len) <= opts.len());
                pos = o.off + usize::from(o.len);
            }
        }
    }
}
