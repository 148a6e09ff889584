// SPDX-License-Identifier: GPL-2.0
//! Inserting the TOA option (client address and port, see [`crate::toa`])
//! into the TCP header of a FULLNAT packet on its way to the real server,
//! as the LVS ecosystem's directors do on the SYN and the first ACK/data
//! segment (Alibaba LVS `tcp_opt_add_toa`, DPVS `tcp_in_add_toa`).
//!
//! The option goes at the end of the TCP options: at the end of the TCP
//! header or, if an end-of-option-list (EOL) option starts padding there,
//! before that EOL, since the real server stops reading options at EOL
//! (macOS, for one, ends its SYN options with EOL). The IP and TCP headers
//! grow by 8 bytes and the payload stays where it is. The work is split in
//! two so that the kernel glue does the one thing only it can, moving the
//! headers within the skb:
//!
//! 1. [`toa_room`] checks, on the unmodified packet, whether the option can
//!    be inserted and returns a [`ToaPlan`] (or why not: [`ToaSkip`]).
//! 2. The glue makes room: it makes the headers writable, pushes 8 bytes
//!    (`skb_push(skb, 8)`) and moves the first [`ToaPlan::insert_off`]
//!    bytes (IP and TCP headers) 8 bytes towards the front (`memmove`),
//!    then moves the header offsets (network and transport header and, for
//!    `CHECKSUM_PARTIAL`, `csum_start`) 8 bytes towards the front too.
//!    The 8 bytes at `insert_off..insert_off + 8` of the new data are now a
//!    gap between the TCP options (up to the EOL, if any) and what
//!    followed them (EOL and padding, if any, then the payload).
//! 3. [`toa_write`] fills the gap with the option and fixes the lengths and
//!    checksums.
//!
//! A packet that already carries a TOA option is not given a second one
//! ([`ToaSkip::AlreadyPresent`]); since such an option comes from the
//! client, [`toa_overwrite`] replaces it with the real client endpoint in
//! place, so that a client cannot claim another address to the real server.

use super::ipv4::{self, Ipv4Header};
use super::l4::{TCP_CHECK_OFF, TCP_MIN_HLEN};
use super::mss::{bytes_diff, tcp_options, TcpHeader, TCPOPT_EOL, TCP_DOFF_OFF, TCP_MAX_HLEN};
use super::nat::CsumMode;
use super::{csum::CsumDiff, rd16, rd8, wr, wr16, PacketError, IPPROTO_TCP};
use crate::toa::{ToaV4, TOA_KIND, TOA_LEN_V4};

/// How many bytes the TOA option adds to a packet.
pub const TOA_GROWTH: usize = TOA_LEN_V4 as usize;

/// Offset of the total length in the IPv4 header.
const TOT_LEN_OFF: usize = 2;

/// Why [`toa_room`] declines to insert a TOA option. The packet is then
/// forwarded without one (the real server sees the local address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToaSkip {
    /// The TCP header has less than 8 bytes of option space left (data
    /// offset above 13 words).
    NoRoom,
    /// The packet would exceed the MTU, or the 65535-byte IPv4 limit.
    TooBig,
    /// The packet already carries a TOA option (kind 254, length 8); see
    /// [`toa_overwrite`].
    AlreadyPresent,
    /// Not a TCP packet.
    NotTcp,
    /// An IP fragment (the option cannot be inserted without
    /// reassembling).
    Fragment,
    /// The IP or TCP header or the TCP options are malformed.
    Malformed,
    /// The slice does not hold the whole TCP header, options included:
    /// make more of the skb linear first.
    Truncated,
}

/// Where [`toa_write`] puts the option, from [`toa_room`]. Offsets are from
/// the start of the IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ToaPlan {
    /// Where the 8 option bytes go: the end of the TCP header (data offset)
    /// or, if the option list ends with EOL, the offset of that EOL (which
    /// then follows the new option, with the rest of the padding). It is
    /// also the number of bytes (IP header and TCP header up to there) the
    /// glue moves 8 bytes towards the front to make room. It may be odd.
    pub insert_off: usize,
    /// Offset of the TCP header (the IP header length).
    pub l4_off: usize,
}

/// Decides whether an 8-byte TOA option can be added to the TCP packet in
/// `buf`, which starts at the IPv4 header and must hold at least the IP
/// header and the whole TCP header, options included (the payload may be
/// missing: non-linear skb).
///
/// Declines ([`ToaSkip`]) if the packet is not TCP, is a fragment, is
/// malformed (including malformed TCP options, see
/// [`super::mss::tcp_options`]), already carries a TOA option, has no
/// room for 8 more option bytes (`doff * 4 + 8 > 60`), or would be longer
/// than `mtu` (pass `u32::MAX` to ignore the MTU) or 65535 bytes with
/// them. Otherwise returns where to insert the option (see
/// [`ToaPlan::insert_off`]). The glue decides
/// which packets get one (the SYN and the first ACK or data segment of a
/// FULLNAT connection).
///
/// GSO packets: the length checked is the IP total length of `buf`; a GSO
/// skb (whose segments would each grow by 8 bytes) is for the glue to
/// handle, by skipping it or lowering `gso_size` by 8.
pub fn toa_room(buf: &[u8], mtu: u32) -> Result<ToaPlan, ToaSkip> {
    let ip = Ipv4Header::parse(buf).map_err(skip_reason)?;
    if ip.protocol != IPPROTO_TCP {
        return Err(ToaSkip::NotTcp);
    }
    if ip.is_fragment() {
        return Err(ToaSkip::Fragment);
    }
    let th = TcpHeader::parse(buf).map_err(skip_reason)?;
    let opts = buf.get(th.opts_off()..th.end()).ok_or(ToaSkip::Truncated)?;
    let mut walk = tcp_options(opts);
    for opt in walk.by_ref() {
        let opt = opt.map_err(|_| ToaSkip::Malformed)?;
        if opt.kind == TOA_KIND && opt.len == TOA_LEN_V4 {
            return Err(ToaSkip::AlreadyPresent);
        }
    }
    let opts_end = walk.eol().unwrap_or(opts.len());
    if th.hlen + TOA_GROWTH > TCP_MAX_HLEN {
        return Err(ToaSkip::NoRoom);
    }
    let new_len = u32::from(th.ip.total_len) + u32::from(TOA_LEN_V4);
    if new_len > mtu || new_len > u32::from(u16::MAX) {
        return Err(ToaSkip::TooBig);
    }
    Ok(ToaPlan {
        insert_off: th.opts_off() + opts_end,
        l4_off: th.l4_off,
    })
}

/// The [`ToaSkip`] for a parse error.
fn skip_reason(e: PacketError) -> ToaSkip {
    match e {
        PacketError::Truncated => ToaSkip::Truncated,
        PacketError::Fragment => ToaSkip::Fragment,
        PacketError::UnsupportedProtocol => ToaSkip::NotTcp,
        _ => ToaSkip::Malformed,
    }
}

/// Writes the TOA option `toa` into the gap the glue made after
/// [`toa_room`] returned `plan` (see the module documentation): `buf`
/// starts at the *moved* IPv4 header, still carrying the old lengths, and
/// `buf[plan.insert_off..plan.insert_off + 8]` is the gap (any content),
/// followed by the rest of the old TCP header (an EOL and padding, if the
/// plan put the option before them) and the payload (which may be missing
/// from `buf`: only the headers and the gap are touched).
///
/// Writes the option, raises the TCP data offset by 2 words and the IP
/// total length by 8, recomputes the IP header checksum and updates the
/// TCP checksum incrementally according to `mode`:
/// - [`CsumMode::Full`]: for the pseudo-header length (+8), the data
///   offset/flags word and the 8 option bytes (at an odd offset too: what
///   follows moves by 8 bytes, keeping its alignment); the result equals a
///   full recomputation. A `CHECKSUM_COMPLETE` skb must be downgraded to
///   `CHECKSUM_NONE` by the caller, as for NAT.
/// - [`CsumMode::Partial`]: for the pseudo-header length only (the field
///   holds the folded, uncomplemented pseudo-header sum, as after
///   [`super::nat`]'s address update); the device sums the TCP header,
///   option included, from `csum_start`, which the glue must have moved
///   along with the header.
///
/// Errors (the packet is unchanged): [`PacketError::BadL4Header`] if the
/// headers do not match `plan` (IP header length; `insert_off` within the
/// TCP options and, if before the end of the header, followed by an EOL
/// after the gap) or have no room left, [`PacketError::UnsupportedProtocol`]
/// if not TCP, [`PacketError::Fragment`] for a fragment,
/// [`PacketError::TooBig`] past 65535 bytes, [`PacketError::Truncated`] if
/// the TCP header and the gap are not all in `buf`, and anything
/// [`Ipv4Header::parse`] reports.
pub fn toa_write(
    buf: &mut [u8],
    plan: &ToaPlan,
    toa: &ToaV4,
    mode: CsumMode,
) -> Result<(), PacketError> {
    // Validate everything before the first write. The TCP header is checked
    // by hand: the bytes after it are the gap, not the payload.
    let ip = Ipv4Header::parse(buf)?;
    if ip.protocol != IPPROTO_TCP {
        return Err(PacketError::UnsupportedProtocol);
    }
    if ip.is_fragment() {
        return Err(PacketError::Fragment);
    }
    let bad = PacketError::BadL4Header;
    let t = PacketError::Truncated;
    if ip.header_len != plan.l4_off {
        return Err(bad);
    }
    let doff_off = plan.l4_off + TCP_DOFF_OFF;
    let doff = rd8(buf, doff_off).ok_or(t)?;
    let hlen = usize::from(doff >> 4) * 4;
    let tcp_len = u16::try_from(ip.header_len)
        .ok()
        .and_then(|h| ip.total_len.checked_sub(h))
        .ok_or(bad)?;
    let hdr_end = plan.l4_off + hlen;
    if hlen < TCP_MIN_HLEN
        || plan.insert_off < plan.l4_off + TCP_MIN_HLEN
        || plan.insert_off > hdr_end
        || hlen + TOA_GROWTH > TCP_MAX_HLEN
        || hlen > usize::from(tcp_len)
    {
        return Err(bad);
    }
    // The moved header and the gap.
    if hdr_end + TOA_GROWTH > buf.len() {
        return Err(t);
    }
    // Options cut at an EOL: it now follows the gap.
    if plan.insert_off < hdr_end && rd8(buf, plan.insert_off + TOA_GROWTH) != Some(TCPOPT_EOL) {
        return Err(bad);
    }
    let new_total = ip
        .total_len
        .checked_add(u16::from(TOA_LEN_V4))
        .ok_or(PacketError::TooBig)?;
    let new_tcp_len = tcp_len + u16::from(TOA_LEN_V4);
    let check_off = plan.l4_off + TCP_CHECK_OFF;
    let check = rd16(buf, check_off).ok_or(t)?;
    let old_word = rd16(buf, doff_off).ok_or(t)?;
    // doff + 2 <= 15, checked above.
    let new_word = old_word + (2 << 12);
    let opt = toa.encode();

    wr(buf, plan.insert_off, &opt)?;
    wr16(buf, doff_off, new_word)?;
    wr16(buf, TOT_LEN_OFF, new_total)?;
    ipv4::set_header_checksum(buf)?;

    let mut d = CsumDiff::new();
    d.replace16(tcp_len, new_tcp_len);
    let new_check = match mode {
        CsumMode::Partial => d.apply_partial(check),
        CsumMode::Full => {
            d.replace16(old_word, new_word);
            // What follows the option moves by 8 bytes and keeps its
            // alignment; the option adds its own sum, byte-swapped at an
            // odd offset.
            let odd = (plan.insert_off - plan.l4_off) % 2 == 1;
            d.merge(bytes_diff(&[0; TOA_GROWTH], &opt, odd));
            d.apply(check)
        }
    };
    wr16(buf, check_off, new_check)
}

/// Replaces every TOA option (kind 254, length 8) in the TCP packet in
/// `buf` with `toa`, in place, and returns how many there were (0: the
/// packet is unchanged). For a packet [`toa_room`] declined with
/// [`ToaSkip::AlreadyPresent`]: a TOA option from the client would
/// otherwise reach the real server as if the director had written it.
///
/// `buf` starts at the IPv4 header and holds the whole TCP header. The TCP
/// checksum is updated incrementally in [`CsumMode::Full`] (any option
/// offset, odd ones included) and left alone in [`CsumMode::Partial`]
/// (options are not in the pseudo-header). Errors (the packet is
/// unchanged) as [`super::mss::mss_reduce`], with malformed options
/// anywhere in the header giving [`PacketError::BadL4Header`].
pub fn toa_overwrite(buf: &mut [u8], toa: &ToaV4, mode: CsumMode) -> Result<usize, PacketError> {
    let th = TcpHeader::parse(buf)?;
    let opts_off = th.opts_off();
    // A copy of the options, so that the walk does not borrow `buf`.
    let mut opts = [0u8; TCP_MAX_HLEN - TCP_MIN_HLEN];
    let src = buf.get(opts_off..th.end()).ok_or(PacketError::Truncated)?;
    let copy = opts.get_mut(..src.len()).ok_or(PacketError::BadL4Header)?;
    copy.copy_from_slice(src);
    let opts: &[u8] = copy;
    // Validate the whole option list before the first write.
    for opt in tcp_options(opts) {
        opt?;
    }
    let new = toa.encode();
    let check_off = th.l4_off + TCP_CHECK_OFF;
    let mut check = rd16(buf, check_off).ok_or(PacketError::Truncated)?;
    let mut n = 0;
    for opt in tcp_options(opts).flatten() {
        if opt.kind != TOA_KIND || opt.len != TOA_LEN_V4 {
            continue;
        }
        let end = opt.off + TOA_GROWTH;
        let old = opts.get(opt.off..end).ok_or(PacketError::Truncated)?;
        wr(buf, opts_off + opt.off, &new)?;
        if mode == CsumMode::Full {
            // Odd offsets from the TCP header: the fixed header is 20 bytes.
            check = bytes_diff(old, &new, opt.off % 2 == 1).apply(check);
        }
        n += 1;
    }
    if n > 0 {
        wr16(buf, check_off, check)?;
    }
    Ok(n)
}

/// Test helpers shared with the other packet modules' tests: a TCP packet
/// builder with random options and an independent checksum reference.
#[cfg(test)]
pub(crate) mod testpkt {
    use super::super::IPPROTO_TCP;
    use proptest::prelude::*;

    /// RFC 1071 the slow way: the folded sum of big-endian words.
    pub(crate) fn ref_sum(parts: &[&[u8]]) -> u16 {
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

    fn ihl(p: &[u8]) -> usize {
        usize::from(p[0] & 0xf) * 4
    }

    fn total(p: &[u8]) -> usize {
        usize::from(u16::from_be_bytes([p[2], p[3]]))
    }

    /// The pseudo-header bytes for a TCP segment of `len` bytes.
    fn pseudo(p: &[u8], len: usize) -> Vec<u8> {
        let mut v = p[12..20].to_vec();
        v.extend_from_slice(&[0, IPPROTO_TCP]);
        v.extend_from_slice(&(len as u16).to_be_bytes());
        v
    }

    /// Offset of the TCP checksum field.
    pub(crate) fn check_off(p: &[u8]) -> usize {
        ihl(p) + 16
    }

    /// Whether both checksums of a complete TCP packet verify.
    pub(crate) fn ref_valid(p: &[u8]) -> bool {
        let h = ihl(p);
        let t = total(p);
        ref_sum(&[&p[..h]]) == 0xffff && ref_sum(&[&pseudo(p, t - h), &p[h..t]]) == 0xffff
    }

    /// The correct TCP checksum of a complete packet.
    pub(crate) fn ref_tcp_check(p: &[u8]) -> u16 {
        let h = ihl(p);
        let t = total(p);
        let mut q = p[h..t].to_vec();
        q[16] = 0;
        q[17] = 0;
        !ref_sum(&[&pseudo(p, t - h), &q])
    }

    /// The `CHECKSUM_PARTIAL` seed for the packet's current addresses and
    /// length.
    pub(crate) fn seed_for(p: &[u8]) -> u16 {
        ref_sum(&[&pseudo(p, total(p) - ihl(p))])
    }

    /// A TCP packet's parts. `opts` are the option bytes, at most 40; the
    /// builder pads them with zeros (EOL) to a multiple of 4.
    #[derive(Clone, Debug)]
    pub(crate) struct TcpSpec {
        pub saddr: [u8; 4],
        pub daddr: [u8; 4],
        pub sport: u16,
        pub dport: u16,
        pub seq: u32,
        pub ack: u32,
        pub flags: u8,
        pub window: u16,
        pub ip_opt_words: usize,
        pub opts: Vec<u8>,
        pub payload: Vec<u8>,
        pub id: u16,
        pub df: bool,
    }

    /// Builds the packet with correct checksums (reference implementation).
    pub(crate) fn build_tcp(s: &TcpSpec) -> Vec<u8> {
        let mut opts = s.opts.clone();
        assert!(opts.len() <= 40);
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let ihl = 5 + s.ip_opt_words;
        let total = ihl * 4 + 20 + opts.len() + s.payload.len();
        let mut p = vec![0u8; ihl * 4];
        p[0] = 0x40 | ihl as u8;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&s.id.to_be_bytes());
        p[6] = if s.df { 0x40 } else { 0 };
        p[8] = 64;
        p[9] = IPPROTO_TCP;
        p[12..16].copy_from_slice(&s.saddr);
        p[16..20].copy_from_slice(&s.daddr);
        for b in &mut p[20..] {
            *b = 1; // NOP options
        }
        let c = !ref_sum(&[&p]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&s.sport.to_be_bytes());
        p.extend_from_slice(&s.dport.to_be_bytes());
        p.extend_from_slice(&s.seq.to_be_bytes());
        p.extend_from_slice(&s.ack.to_be_bytes());
        p.push(((5 + opts.len() / 4) << 4) as u8);
        p.push(s.flags);
        p.extend_from_slice(&s.window.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0]);
        p.extend_from_slice(&opts);
        p.extend_from_slice(&s.payload);
        let c = ref_tcp_check(&p);
        let off = check_off(&p);
        p[off..off + 2].copy_from_slice(&c.to_be_bytes());
        assert!(ref_valid(&p));
        p
    }

    /// One well-formed TCP option (never a TOA option).
    fn option() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![1]),
            any::<u16>().prop_map(|m| { vec![2, 4, (m >> 8) as u8, m as u8] }),
            Just(vec![4, 2]),
            any::<u8>().prop_map(|w| vec![3, 3, w]),
            any::<[u8; 8]>().prop_map(|t| {
                let mut v = vec![8, 10];
                v.extend_from_slice(&t);
                v
            }),
            // Unknown kinds, and experimental kind 254 with another length.
            (
                prop_oneof![5u8..=253, Just(254u8)],
                proptest::collection::vec(any::<u8>(), 0..=8)
            )
                .prop_filter_map("a TOA option", |(k, d)| {
                    if k == 254 && d.len() == 6 {
                        return None;
                    }
                    let mut v = vec![k, d.len() as u8 + 2];
                    v.extend_from_slice(&d);
                    Some(v)
                }),
        ]
    }

    /// Well-formed option bytes, 0..=40 of them, never a TOA option. Some
    /// end with an explicit EOL followed by junk.
    pub(crate) fn options() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(option(), 0..12),
            any::<bool>(),
            any::<[u8; 3]>(),
        )
            .prop_map(|(list, eol, junk)| {
                let mut v = Vec::new();
                for o in list {
                    if v.len() + o.len() <= 40 {
                        v.extend_from_slice(&o);
                    }
                }
                if eol && v.len() < 40 {
                    v.push(0);
                    let room = (40 - v.len()).min(3);
                    v.extend_from_slice(&junk[..room]);
                }
                v
            })
    }

    /// Random TCP packets with random options and payload.
    pub(crate) fn tcp_spec() -> impl Strategy<Value = TcpSpec> {
        (
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>(),
                any::<u32>(),
                any::<u32>(),
                any::<u8>(),
            ),
            (
                any::<u16>(),
                0usize..=10,
                options(),
                proptest::collection::vec(any::<u8>(), 0..200),
                any::<u16>(),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (saddr, daddr, sport, dport, seq, ack, flags),
                    (window, ip_opt_words, opts, payload, id, df),
                )| TcpSpec {
                    saddr,
                    daddr,
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    window,
                    ip_opt_words,
                    opts,
                    payload,
                    id,
                    df,
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::super::ipv4::header_checksum_ok;
    use super::super::l4::{fill_l4_checksum, l4_checksum_ok};
    use super::testpkt::*;
    use super::*;
    use proptest::prelude::*;

    const CLIENT: ToaV4 = ToaV4 {
        addr: [10, 0, 0, 2],
        port: 40000,
    };

    // Generated with scapy 2.5 (python3-scapy), TOA as the raw option
    // (254, struct.pack("!H4s", 40000, bytes([10, 0, 0, 2]))):
    // IP(src="10.0.2.1", dst="10.0.2.11", id=1, flags="DF")/TCP(sport=5000,
    //   dport=8080, seq=1, flags="S", window=64240,
    //   options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)),
    //            ("NOP", None), ("WScale", 7)])
    /// FULLNAT SYN LIP 10.0.2.1:5000 -> RS 10.0.2.11:8080.
    const SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x22, 0xb0, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x88, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xd1, 0xb1, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x30, 0x39, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];
    /// SYN with the TOA option for 10.0.0.2:40000 after the others.
    const SYN_TOA: [u8; 68] = [
        0x45, 0x00, 0x00, 0x44, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x22, 0xa8, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x88, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0xc0, 0x02, 0xfa, 0xf0, 0x0d, 0x5e, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x30, 0x39, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
        0xfe, 0x08, 0x9c, 0x40, 0x0a, 0x00, 0x00, 0x02,
    ];
    // IP(src="10.0.2.1", dst="10.0.2.11", id=2, flags="DF")/TCP(sport=5000,
    //   dport=8080, seq=2, ack=1001, flags="PA", window=502,
    //   options=[("NOP", None), ("NOP", None), ("Timestamp", (12346, 777))])
    //   /Raw(b"GET / HTTP/1.0\r\n\r\n")
    /// First data segment of the connection.
    const ACK_DATA: [u8; 70] = [
        0x45, 0x00, 0x00, 0x46, 0x00, 0x02, 0x40, 0x00, 0x40, 0x06, 0x22, 0xa5, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x88, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x03, 0xe9, 0x80, 0x18, 0x01, 0xf6, 0x13, 0xbc, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00,
        0x00, 0x30, 0x3a, 0x00, 0x00, 0x03, 0x09, 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54,
        0x54, 0x50, 0x2f, 0x31, 0x2e, 0x30, 0x0d, 0x0a, 0x0d, 0x0a,
    ];
    /// ACK_DATA with the TOA option after the others.
    const ACK_DATA_TOA: [u8; 78] = [
        0x45, 0x00, 0x00, 0x4e, 0x00, 0x02, 0x40, 0x00, 0x40, 0x06, 0x22, 0x9d, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x88, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x03, 0xe9, 0xa0, 0x18, 0x01, 0xf6, 0x4f, 0x68, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x00,
        0x00, 0x30, 0x3a, 0x00, 0x00, 0x03, 0x09, 0xfe, 0x08, 0x9c, 0x40, 0x0a, 0x00, 0x00, 0x02,
        0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x30, 0x0d,
        0x0a, 0x0d, 0x0a,
    ];

    // IP(src="10.0.2.1", dst="10.0.2.11", id=3, flags="DF")/TCP(sport=5001,
    //   dport=8080, seq=7, flags="S", window=65535,
    //   options=[("MSS", 1460), ("WScale", 6)])
    /// A SYN whose options end with EOL padding (scapy pads as FreeBSD).
    const SYN_EOL: [u8; 48] = [
        0x45, 0x00, 0x00, 0x30, 0x00, 0x03, 0x40, 0x00, 0x40, 0x06, 0x22, 0xba, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x89, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
        0x00, 0x00, 0x70, 0x02, 0xff, 0xff, 0x33, 0xf4, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x03,
        0x03, 0x06, 0x00,
    ];
    /// The same with options [("MSS", 1460), ("WScale", 6), TOA,
    /// ("EOL", None)]: the TOA option at an odd offset, before the EOL.
    const SYN_EOL_TOA: [u8; 56] = [
        0x45, 0x00, 0x00, 0x38, 0x00, 0x03, 0x40, 0x00, 0x40, 0x06, 0x22, 0xb2, 0x0a, 0x00, 0x02,
        0x01, 0x0a, 0x00, 0x02, 0x0b, 0x13, 0x89, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00,
        0x00, 0x00, 0x90, 0x02, 0xff, 0xff, 0xc8, 0x47, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x03,
        0x03, 0x06, 0xfe, 0x08, 0x9c, 0x40, 0x0a, 0x00, 0x00, 0x02, 0x00,
    ];

    /// What the glue does between `toa_room` and `toa_write`: `skb_push`
    /// of 8 bytes (their content is junk) and a move of the headers to the
    /// new front, leaving junk in the gap.
    fn make_room(p: &[u8], plan: &ToaPlan, junk: u8) -> Vec<u8> {
        let mut q = vec![junk; TOA_GROWTH];
        q.extend_from_slice(p);
        q.copy_within(TOA_GROWTH..TOA_GROWTH + plan.insert_off, 0);
        q
    }

    /// The whole operation on a copy of `p`.
    fn insert(p: &[u8], mode: CsumMode) -> Vec<u8> {
        let plan = toa_room(p, u32::MAX).unwrap();
        let mut q = make_room(p, &plan, 0xa5);
        toa_write(&mut q, &plan, &CLIENT, mode).unwrap();
        q
    }

    #[test]
    fn syn_byte_exact() {
        let plan = toa_room(&SYN, 1500).unwrap();
        assert_eq!(
            plan,
            ToaPlan {
                insert_off: 60,
                l4_off: 20
            }
        );
        assert_eq!(insert(&SYN, CsumMode::Full), SYN_TOA);
        assert!(header_checksum_ok(&SYN_TOA).unwrap());
        assert!(l4_checksum_ok(&SYN_TOA).unwrap());
    }

    #[test]
    fn before_eol_byte_exact() {
        assert_eq!(
            toa_room(&SYN_EOL, 1500),
            Ok(ToaPlan {
                insert_off: 47,
                l4_off: 20
            })
        );
        assert_eq!(insert(&SYN_EOL, CsumMode::Full), SYN_EOL_TOA);
        assert!(l4_checksum_ok(&SYN_EOL_TOA).unwrap());
        // The plan must leave the EOL right after the gap.
        let plan = ToaPlan {
            insert_off: 44,
            l4_off: 20,
        };
        let mut q = make_room(&SYN_EOL, &plan, 0);
        let before = q.clone();
        assert_eq!(
            toa_write(&mut q, &plan, &CLIENT, CsumMode::Full),
            Err(PacketError::BadL4Header)
        );
        assert_eq!(q, before);
    }

    #[test]
    fn data_byte_exact() {
        assert_eq!(
            toa_room(&ACK_DATA, 1500),
            Ok(ToaPlan {
                insert_off: 52,
                l4_off: 20
            })
        );
        assert_eq!(insert(&ACK_DATA, CsumMode::Full), ACK_DATA_TOA);
        // Only the headers in the slice (payload in page fragments): the
        // headers come out the same.
        let plan = toa_room(&ACK_DATA[..52], 1500).unwrap();
        let mut q = make_room(&ACK_DATA[..52], &plan, 0);
        q.truncate(60);
        toa_write(&mut q, &plan, &CLIENT, CsumMode::Full).unwrap();
        assert_eq!(q, ACK_DATA_TOA[..60]);
    }

    #[test]
    fn partial_mode() {
        let mut p = ACK_DATA;
        let seed = seed_for(&p);
        p[36..38].copy_from_slice(&seed.to_be_bytes());
        let mut q = insert(&p, CsumMode::Partial);
        // The field holds the seed for the new length...
        assert_eq!(rd16(&q, 36), Some(seed_for(&ACK_DATA_TOA)));
        assert_ne!(rd16(&q, 36), Some(seed));
        // ...and everything else is the full-mode result.
        assert_eq!(q[..36], ACK_DATA_TOA[..36]);
        assert_eq!(q[38..], ACK_DATA_TOA[38..]);
        // Completing as the device does gives the full-mode result.
        fill_l4_checksum(&mut q).unwrap();
        assert_eq!(q, ACK_DATA_TOA);
    }

    #[test]
    fn skips() {
        // Already there.
        assert_eq!(toa_room(&SYN_TOA, 1500), Err(ToaSkip::AlreadyPresent));
        // MTU: 60 + 8 = 68.
        assert_eq!(toa_room(&SYN, 67), Err(ToaSkip::TooBig));
        assert!(toa_room(&SYN, 68).is_ok());
        // Beyond 65535 bytes.
        let mut p = SYN;
        p[2..4].copy_from_slice(&65530u16.to_be_bytes());
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::TooBig));
        // No room: data offset 14 (56 bytes).
        let mut p = vec![0u8; 76];
        p[..60].copy_from_slice(&SYN);
        p[2..4].copy_from_slice(&76u16.to_be_bytes());
        p[32] = 0xe2;
        p[60..76].fill(1);
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::NoRoom));
        p[32] = 0xd2; // 52 bytes: 8 more fit
        assert_eq!(
            toa_room(&p, u32::MAX),
            Ok(ToaPlan {
                insert_off: 72,
                l4_off: 20
            })
        );
        // Not TCP, fragments.
        let mut p = SYN;
        p[9] = 17;
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::NotTcp));
        let mut p = SYN;
        p[6] = 0x20; // MF
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::Fragment));
        p[6] = 0;
        p[7] = 1;
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::Fragment));
        // Malformed options, headers.
        let mut p = SYN;
        p[44] = 4;
        p[45] = 30;
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::Malformed));
        let mut p = SYN;
        p[0] = 0x65;
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::Malformed));
        let mut p = SYN;
        p[32] = 0x40;
        assert_eq!(toa_room(&p, u32::MAX), Err(ToaSkip::Malformed));
        // Options not in the slice.
        assert_eq!(toa_room(&SYN[..59], u32::MAX), Err(ToaSkip::Truncated));
        assert_eq!(toa_room(&SYN[..10], u32::MAX), Err(ToaSkip::Truncated));
        // An experimental option 254 of another length is not TOA.
        let mut p = SYN;
        p[56..60].copy_from_slice(&[254, 4, 0xf9, 0x89]);
        assert!(toa_room(&p, u32::MAX).is_ok());
    }

    #[test]
    fn write_checks_plan() {
        let plan = toa_room(&SYN, u32::MAX).unwrap();
        let room = make_room(&SYN, &plan, 0);
        for bad in [
            ToaPlan {
                insert_off: 56,
                l4_off: 20,
            },
            ToaPlan {
                insert_off: 60,
                l4_off: 24,
            },
            ToaPlan {
                insert_off: usize::MAX,
                l4_off: 20,
            },
        ] {
            let mut q = room.clone();
            assert_eq!(
                toa_write(&mut q, &bad, &CLIENT, CsumMode::Full),
                Err(PacketError::BadL4Header)
            );
            assert_eq!(q, room);
        }
        // The gap must be in the slice.
        let mut q = room.clone();
        assert_eq!(
            toa_write(&mut q[..67], &plan, &CLIENT, CsumMode::Full),
            Err(PacketError::Truncated)
        );
        assert_eq!(q, room);
        // A second write on the result (doff moved on, no room made) is
        // refused.
        let mut q = SYN_TOA;
        assert_eq!(
            toa_write(&mut q, &plan, &CLIENT, CsumMode::Full),
            Err(PacketError::Truncated)
        );
        assert_eq!(q, SYN_TOA);
        let mut q = SYN_TOA.to_vec();
        q.extend_from_slice(&[1; 8]);
        let before = q.clone();
        assert_eq!(
            toa_write(&mut q, &plan, &CLIENT, CsumMode::Full),
            Err(PacketError::BadL4Header)
        );
        assert_eq!(q, before);
    }

    #[test]
    fn overwrite() {
        let evil = ToaV4 {
            addr: [1, 2, 3, 4],
            port: 666,
        };
        let mut p = SYN_TOA;
        p[60..68].copy_from_slice(&evil.encode());
        fill_l4_checksum(&mut p).unwrap();
        assert_eq!(toa_overwrite(&mut p, &CLIENT, CsumMode::Full), Ok(1));
        assert_eq!(p, SYN_TOA);
        // None there: unchanged.
        let mut p = SYN;
        assert_eq!(toa_overwrite(&mut p, &CLIENT, CsumMode::Full), Ok(0));
        assert_eq!(p, SYN);
        // At an odd offset, twice, in both modes.
        let mut opts = vec![1u8];
        opts.extend_from_slice(&evil.encode());
        opts.extend_from_slice(&[1, 1, 1]);
        opts.extend_from_slice(&evil.encode());
        let spec = TcpSpec {
            saddr: [10, 0, 2, 1],
            daddr: [10, 0, 2, 11],
            sport: 5000,
            dport: 8080,
            seq: 1,
            ack: 0,
            flags: 2,
            window: 1000,
            ip_opt_words: 1,
            opts,
            payload: b"abc".to_vec(),
            id: 0,
            df: true,
        };
        let mut p = build_tcp(&spec);
        let mut want_spec = spec.clone();
        want_spec.opts[1..9].copy_from_slice(&CLIENT.encode());
        want_spec.opts[12..20].copy_from_slice(&CLIENT.encode());
        let want = build_tcp(&want_spec);
        let mut part = p.clone();
        assert_eq!(toa_overwrite(&mut p, &CLIENT, CsumMode::Full), Ok(2));
        assert_eq!(p, want);
        let off = check_off(&part);
        assert_eq!(toa_overwrite(&mut part, &CLIENT, CsumMode::Partial), Ok(2));
        assert_eq!(part[..off], want[..off]);
        assert_eq!(part[off + 2..], want[off + 2..]);
        // Malformed options: refused, unchanged.
        let mut p = SYN_TOA;
        p[56] = 9;
        assert_eq!(
            toa_overwrite(&mut p, &CLIENT, CsumMode::Full),
            Err(PacketError::BadL4Header)
        );
        p[56] = 1;
        assert_eq!(toa_overwrite(&mut p, &CLIENT, CsumMode::Full), Ok(1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Inserting equals building the packet with the option from
        /// scratch, in both checksum modes, and headers-only slices give
        /// the same headers.
        #[test]
        fn matches_recompute(spec in tcp_spec(), toa_addr in any::<[u8; 4]>(), toa_port in any::<u16>(), junk in any::<u8>()) {
            let toa = ToaV4 { addr: toa_addr, port: toa_port };
            let p = build_tcp(&spec);
            let mut padded = spec.opts.clone();
            while padded.len() % 4 != 0 {
                padded.push(0);
            }
            let plan = match toa_room(&p, u32::MAX) {
                Err(ToaSkip::NoRoom) => {
                    prop_assert!(padded.len() > 32);
                    return Ok(());
                }
                r => r.unwrap(),
            };
            prop_assert!(padded.len() <= 32);
            prop_assert_eq!(plan.l4_off, 20 + 4 * spec.ip_opt_words);
            let hdr_end = plan.l4_off + 20 + padded.len();
            // Before the first EOL, if any.
            let mut cut = 0;
            while cut < padded.len() && padded[cut] != 0 {
                cut += if padded[cut] == 1 { 1 } else { usize::from(padded[cut + 1]) };
            }
            prop_assert_eq!(plan.insert_off, plan.l4_off + 20 + cut);
            let mut want_spec = spec.clone();
            want_spec.opts = padded[..cut].to_vec();
            want_spec.opts.extend_from_slice(&toa.encode());
            want_spec.opts.extend_from_slice(&padded[cut..]);
            let want = build_tcp(&want_spec);

            let mut q = make_room(&p, &plan, junk);
            toa_write(&mut q, &plan, &toa, CsumMode::Full).unwrap();
            prop_assert_eq!(&q, &want);
            prop_assert!(ref_valid(&q));
            prop_assert_eq!(toa_room(&q, u32::MAX), Err(ToaSkip::AlreadyPresent));

            let mut h = make_room(&p[..hdr_end], &plan, junk);
            toa_write(&mut h, &plan, &toa, CsumMode::Full).unwrap();
            prop_assert_eq!(&h[..], &want[..hdr_end + TOA_GROWTH]);

            // CHECKSUM_PARTIAL: the seed follows the length.
            let mut part = p.clone();
            let off = check_off(&part);
            let seed = seed_for(&part);
            part[off..off + 2].copy_from_slice(&seed.to_be_bytes());
            let mut q = make_room(&part, &plan, junk);
            toa_write(&mut q, &plan, &toa, CsumMode::Partial).unwrap();
            prop_assert_eq!(rd16(&q, off), Some(seed_for(&want)));
            prop_assert_eq!(&q[..off], &want[..off]);
            prop_assert_eq!(&q[off + 2..], &want[off + 2..]);
            fill_l4_checksum(&mut q).unwrap();
            prop_assert_eq!(&q, &want);
        }

        /// The MTU check is exact.
        #[test]
        fn mtu(spec in tcp_spec(), mtu in 0u32..400) {
            let p = build_tcp(&spec);
            let fits = p.len() + TOA_GROWTH <= mtu as usize;
            match toa_room(&p, mtu) {
                Err(ToaSkip::TooBig) => prop_assert!(!fits),
                Err(ToaSkip::NoRoom) => {}
                r => {
                    prop_assert!(fits);
                    prop_assert!(r.is_ok());
                }
            }
        }

        /// Overwriting a TOA option placed at any option boundary (odd
        /// offsets included) equals building the packet with the new one.
        #[test]
        fn overwrite_matches_recompute(spec in tcp_spec(), at in any::<prop::sample::Index>(), old in any::<[u8; 6]>()) {
            let mut spec = spec;
            if spec.opts.len() + TOA_GROWTH > 40 {
                return Ok(());
            }
            // Option boundaries up to the first EOL.
            let mut bounds = vec![0];
            let mut i = 0;
            while i < spec.opts.len() && spec.opts[i] != 0 {
                i += if spec.opts[i] == 1 { 1 } else { usize::from(spec.opts[i + 1]) };
                bounds.push(i);
            }
            let cut = *at.get(&bounds);
            let mut opts = spec.opts[..cut].to_vec();
            opts.extend_from_slice(&[TOA_KIND, TOA_LEN_V4]);
            opts.extend_from_slice(&old);
            opts.extend_from_slice(&spec.opts[cut..]);
            spec.opts = opts;
            let p = build_tcp(&spec);
            let mut want_spec = spec.clone();
            want_spec.opts[cut..cut + TOA_GROWTH].copy_from_slice(&CLIENT.encode());
            let want = build_tcp(&want_spec);
            let mut q = p.clone();
            prop_assert_eq!(toa_overwrite(&mut q, &CLIENT, CsumMode::Full), Ok(1));
            prop_assert_eq!(&q, &want);
            prop_assert!(ref_valid(&q));
            let mut q = p.clone();
            prop_assert_eq!(toa_overwrite(&mut q, &CLIENT, CsumMode::Partial), Ok(1));
            let off = check_off(&q);
            prop_assert_eq!(&q[..off], &want[..off]);
            prop_assert_eq!(&q[off + 2..], &want[off + 2..]);
        }

        /// Garbage never panics; errors leave the bytes unchanged.
        #[test]
        fn garbage(mut p in proptest::collection::vec(any::<u8>(), 0..120), io in 0usize..120, l4 in 0usize..60, full in any::<bool>()) {
            if let Some(b) = p.get_mut(0) {
                *b = 0x45;
            }
            if let Some(b) = p.get_mut(9) {
                *b = IPPROTO_TCP;
            }
            let _ = toa_room(&p, u32::MAX);
            let mode = if full { CsumMode::Full } else { CsumMode::Partial };
            let before = p.clone();
            if toa_write(&mut p, &ToaPlan { insert_off: io, l4_off: l4 }, &CLIENT, mode).is_err() {
                prop_assert_eq!(&p, &before);
            }
            let before = p.clone();
            if toa_overwrite(&mut p, &CLIENT, mode).is_err() {
                prop_assert_eq!(&p, &before);
            }
        }
    }
}
