// SPDX-License-Identifier: GPL-2.0
//! The packets of a SYNPROXY handshake: reading a client's SYN options,
//! answering the SYN with a cookie SYN-ACK ([`build_synack`]), validating
//! the client's ACK ([`check_ack`]), opening the connection to the real
//! server ([`backend_syn`], [`parse_server_synack`], [`server_ack`]),
//! opening the client's window ([`client_window_update`]) and the
//! translation for the rest of the connection ([`translation`]). The whole
//! sequence is in the [parent module's documentation](super).
//!
//! All packets are IPv4 with a 20-byte header (ID 0, DF, TOS 0) and a TCP
//! header whose options are laid out as Linux's SYNPROXY
//! (`synproxy_build_options`) lays them out: MSS; then SACK-permitted
//! sharing a word with the timestamp, or NOP NOP before the timestamp, or
//! NOP NOP SACK-permitted without a timestamp; then NOP and the window
//! scale. Both checksums are complete ([`crate::packet::CsumMode::Full`]).

use super::cookie::{
    cookie_check, cookie_make, cookie_tsval, mss_index, CookieOpts, CookieSecret, CookieTuple,
    MAX_WSCALE,
};
use crate::addr::Addr;
use crate::packet::csum;
use crate::packet::ipv4::require_v4;
use crate::packet::l4::{tcp_flags, TCP_CHECK_OFF, TCP_MIN_HLEN};
use crate::packet::mss::{tcp_options, TcpHeader, TCPOLEN_MSS, TCPOPT_MSS, TCPOPT_NOP};
use crate::packet::seqadj::{ConnAdjust, TcpAdjust, TCPOLEN_TIMESTAMP, TCPOPT_TIMESTAMP};
use crate::packet::{rd16, rd4, wr, wr16, PacketError, IPPROTO_TCP};

/// TCP option kind: window scale (RFC 7323).
pub const TCPOPT_WINDOW: u8 = 3;
/// Length of the window scale option.
pub const TCPOLEN_WINDOW: u8 = 3;
/// TCP option kind: SACK permitted (RFC 2018).
pub const TCPOPT_SACK_PERM: u8 = 4;
/// Length of the SACK-permitted option.
pub const TCPOLEN_SACK_PERM: u8 = 2;

/// Length of the IPv4 header of the packets built here.
const IP_HLEN: usize = 20;
/// Most option bytes [`build_segment`] writes.
const MAX_OPTS: usize = 20;
/// The longest packet [`build_segment`] writes: IPv4 and TCP headers with
/// every option (60 bytes). A buffer this long always suffices.
pub const SEGMENT_MAX_LEN: usize = IP_HLEN + TCP_MIN_HLEN + MAX_OPTS;

/// Why a handshake packet was not accepted or built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SynProxyError {
    /// The packet is malformed, not TCP, a fragment, or its headers are
    /// not all in the slice; or an output buffer is too short
    /// ([`PacketError::Truncated`]) or an address is IPv6
    /// ([`PacketError::UnsupportedFamily`]).
    Packet(PacketError),
    /// [`build_synack`]: not a connection request (SYN must be set, ACK,
    /// RST and FIN clear).
    NotSyn,
    /// [`check_ack`]: not an acknowledgment that can complete a handshake
    /// (ACK must be set, SYN and RST clear).
    NotAck,
    /// [`check_ack`]: the acknowledgment number is not one of our cookies
    /// (forged, for another connection, or expired). Count it and drop the
    /// packet.
    BadCookie,
    /// [`parse_server_synack`]: not a SYN-ACK (SYN and ACK set, RST and FIN
    /// clear).
    NotSynAck,
    /// [`parse_server_synack`]: a SYN-ACK that does not acknowledge our SYN
    /// (its acknowledgment number is not the client's ISN plus one).
    WrongAck,
}

impl From<PacketError> for SynProxyError {
    fn from(e: PacketError) -> SynProxyError {
        SynProxyError::Packet(e)
    }
}

/// The settings of a SYNPROXY service (what Linux's `SYNPROXY` target
/// takes as `--mss`, `--wscale`, `--sack-perm`, `--timestamp`, `--ecn`).
/// The options announced to clients should match what the real servers
/// do: the client learns the server's options from our SYN-ACK only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SynProxyConfig {
    /// The MSS announced to clients: at most the real servers' MSS.
    pub mss: u16,
    /// The window shift announced to clients that offer window scaling
    /// (0..=14; larger values are sent as 14). Set it to the real servers'
    /// shift (Linux picks 7 for a 6 MiB receive buffer, see
    /// `tcp_select_initial_window`); if they differ, [`translation`]
    /// rescales the window field of every segment, which costs precision.
    pub wscale: u8,
    /// The window of the SYN-ACK. 0, as Linux's SYNPROXY, keeps the client
    /// from sending data before the real server has answered
    /// ([`client_window_update`] opens the window then).
    pub window: u16,
    /// TTL of the packets built here.
    pub ttl: u8,
    /// Window scaling allowed.
    pub window_scaling: bool,
    /// SACK allowed.
    pub sack: bool,
    /// Timestamps allowed. Without timestamps there is nowhere to keep the
    /// client's window scale, SACK and ECN (see [`super::cookie`]), so
    /// those are off too.
    pub timestamps: bool,
    /// ECN allowed (answer a client's ECN setup with ECE, pass it on to
    /// the real server). Off by default: if the real server declines, the
    /// client sends ECN-capable packets whose congestion marks nobody
    /// reports back.
    pub ecn: bool,
}

impl Default for SynProxyConfig {
    /// MSS 1460, window shift 7, window 0, TTL 64, window scaling, SACK
    /// and timestamps on, ECN off.
    fn default() -> SynProxyConfig {
        SynProxyConfig {
            mss: 1460,
            wscale: 7,
            window: 0,
            ttl: 64,
            window_scaling: true,
            sack: true,
            timestamps: true,
            ecn: false,
        }
    }
}

/// The options of a TCP segment that a SYNPROXY uses (the kernel's
/// `synproxy_parse_options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SynOptions {
    /// MSS option value (kind 2, length 4).
    pub mss: Option<u16>,
    /// Window scale option value (kind 3, length 3), values above 14 taken
    /// as 14 (RFC 7323, as Linux).
    pub wscale: Option<u8>,
    /// SACK-permitted option present (kind 4, length 2).
    pub sack_ok: bool,
    /// Timestamp option present (kind 8, length 10).
    pub has_ts: bool,
    /// Its TSval (0 without one).
    pub tsval: u32,
    /// Its TSecr (0 without one).
    pub tsecr: u32,
}

/// Reads the options of the TCP header at the start of `tcp` (the bytes
/// from the TCP header on; its data offset says where the options end).
/// Never fails: garbage gives what could be read before it, as the
/// kernel's parser. Options of the wrong length are ignored; of repeated
/// options the last one counts. MSS, window scale and SACK-permitted mean
/// something only on a SYN; they are read on any segment.
pub fn parse_syn_options(tcp: &[u8]) -> SynOptions {
    let mut o = SynOptions::default();
    let Some(&doff) = tcp.get(12) else {
        return o;
    };
    let end = (usize::from(doff >> 4) * 4).min(tcp.len());
    let Some(opts) = tcp.get(TCP_MIN_HLEN..end) else {
        return o;
    };
    for opt in tcp_options(opts) {
        let Ok(opt) = opt else { break };
        let val = opt.off + 2;
        match (opt.kind, opt.len) {
            (TCPOPT_MSS, TCPOLEN_MSS) => o.mss = rd16(opts, val),
            (TCPOPT_WINDOW, TCPOLEN_WINDOW) => {
                o.wscale = opts.get(val).map(|&w| w.min(MAX_WSCALE));
            }
            (TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM) => o.sack_ok = true,
            (TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP) => {
                if let (Some(v), Some(e)) = (rd4(opts, val), rd4(opts, val + 4)) {
                    o.has_ts = true;
                    o.tsval = u32::from_be_bytes(v);
                    o.tsecr = u32::from_be_bytes(e);
                }
            }
            _ => {}
        }
    }
    o
}

/// The options in effect for a connection, from the client's SYN options
/// and flags and the service's settings (Linux's SYNPROXY: the client's
/// offer masked by the allowed options; without timestamps, no window
/// scaling, SACK or ECN). The MSS index is the client's MSS rounded down
/// to [`super::cookie::MSS_TABLE`]. ECN needs ECE and CWR on the SYN.
pub fn negotiate(syn: &SynOptions, syn_flags: u8, cfg: &SynProxyConfig) -> CookieOpts {
    let ts_ok = cfg.timestamps && syn.has_ts;
    let ecn_setup = tcp_flags::ECE | tcp_flags::CWR;
    CookieOpts {
        mss_index: mss_index(syn.mss),
        wscale: if ts_ok && cfg.window_scaling {
            syn.wscale
        } else {
            None
        },
        sack_ok: ts_ok && cfg.sack && syn.sack_ok,
        ts_ok,
        ecn_ok: ts_ok && cfg.ecn && syn_flags & ecn_setup == ecn_setup,
    }
}

/// Options for [`build_segment`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SegmentOptions {
    /// MSS option.
    pub mss: Option<u16>,
    /// Window scale option (values above 14 are written as 14).
    pub wscale: Option<u8>,
    /// SACK-permitted option.
    pub sack_ok: bool,
    /// Timestamp option: (TSval, TSecr).
    pub ts: Option<(u32, u32)>,
}

/// A TCP segment to build with [`build_segment`]. Ports and numbers in
/// host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Source address (IPv4).
    pub saddr: Addr,
    /// Destination address (IPv4).
    pub daddr: Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack_seq: u32,
    /// TCP flags ([`tcp_flags`]).
    pub flags: u8,
    /// Window field.
    pub window: u16,
    /// IP TTL.
    pub ttl: u8,
    /// TCP options.
    pub opts: SegmentOptions,
}

/// Writes the option bytes of `o` into `dst` in Linux's layout and returns
/// their length (a multiple of 4, at most 20).
fn write_options(o: &SegmentOptions, dst: &mut [u8; MAX_OPTS]) -> usize {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if let Some(d) = dst.get_mut(n) {
                *d = b;
                n += 1;
            }
        }
    };
    if let Some(mss) = o.mss {
        put(&[TCPOPT_MSS, TCPOLEN_MSS]);
        put(&mss.to_be_bytes());
    }
    if let Some((tsval, tsecr)) = o.ts {
        if o.sack_ok {
            put(&[TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM]);
        } else {
            put(&[TCPOPT_NOP, TCPOPT_NOP]);
        }
        put(&[TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP]);
        put(&tsval.to_be_bytes());
        put(&tsecr.to_be_bytes());
    } else if o.sack_ok {
        put(&[TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM]);
    }
    if let Some(ws) = o.wscale {
        put(&[
            TCPOPT_NOP,
            TCPOPT_WINDOW,
            TCPOLEN_WINDOW,
            ws.min(MAX_WSCALE),
        ]);
    }
    n
}

/// Builds `seg` into `out` (IPv4 and TCP headers, no payload) with both
/// checksums computed, and returns its length (at most
/// [`SEGMENT_MAX_LEN`]). Errors: [`PacketError::UnsupportedFamily`] for an
/// IPv6 address, [`PacketError::Truncated`] if `out` is too short (`out`
/// is then unchanged).
pub fn build_segment(out: &mut [u8], seg: &Segment) -> Result<usize, PacketError> {
    build_segment_with_payload(out, seg, &[])
}

/// [`build_segment`] followed by `payload` (the checksum covers it), for a
/// segment the director sends with data of its own, such as a PROXY
/// protocol header ([`crate::proxy_protocol`]) injected as the first data
/// towards the real server. Returns the packet's length,
/// `SEGMENT_MAX_LEN + payload.len()` at most. Errors as [`build_segment`],
/// and [`PacketError::TooBig`] beyond 65535 bytes.
pub fn build_segment_with_payload(
    out: &mut [u8],
    seg: &Segment,
    payload: &[u8],
) -> Result<usize, PacketError> {
    let big = PacketError::TooBig;
    let s = require_v4(&seg.saddr)?;
    let d = require_v4(&seg.daddr)?;
    let mut opts = [0u8; MAX_OPTS];
    let olen = write_options(&seg.opts, &mut opts);
    let hlen = TCP_MIN_HLEN + olen;
    let tcp_len = hlen.checked_add(payload.len()).ok_or(big)?;
    let total = u16::try_from(IP_HLEN.checked_add(tcp_len).ok_or(big)?).map_err(|_| big)?;
    let tcp16 = u16::try_from(tcp_len).map_err(|_| big)?;
    // hlen is at most 40: the data offset fits the nibble.
    let doff = u8::try_from(hlen / 4).map_err(|_| big)? << 4;
    let pkt = out
        .get_mut(..usize::from(total))
        .ok_or(PacketError::Truncated)?;

    // IPv4: version 4, IHL 5, TOS 0, ID 0, DF, no options.
    wr(pkt, 0, &[0x45, 0])?;
    wr16(pkt, 2, total)?;
    wr(pkt, 4, &[0, 0, 0x40, 0, seg.ttl, IPPROTO_TCP, 0, 0])?;
    wr(pkt, 12, &s)?;
    wr(pkt, 16, &d)?;
    let ip_check = csum::ipv4_header_checksum(pkt.get(..IP_HLEN).ok_or(PacketError::Truncated)?);
    wr16(pkt, 10, ip_check)?;

    // TCP, checksum and urgent pointer zero for now.
    let t = IP_HLEN;
    wr16(pkt, t, seg.sport)?;
    wr16(pkt, t + 2, seg.dport)?;
    wr(pkt, t + 4, &seg.seq.to_be_bytes())?;
    wr(pkt, t + 8, &seg.ack_seq.to_be_bytes())?;
    wr(pkt, t + 12, &[doff, seg.flags])?;
    wr16(pkt, t + 14, seg.window)?;
    wr(pkt, t + 16, &[0, 0, 0, 0])?;
    wr(
        pkt,
        t + TCP_MIN_HLEN,
        opts.get(..olen).ok_or(PacketError::Truncated)?,
    )?;
    wr(pkt, t + hlen, payload)?;
    let seg_bytes = pkt.get(t..).ok_or(PacketError::Truncated)?;
    let check = csum::finish(csum::sum(
        seg_bytes,
        csum::pseudo_header_sum_v4(s, d, IPPROTO_TCP, tcp16),
    ));
    wr16(pkt, t + TCP_CHECK_OFF, check)?;
    Ok(usize::from(total))
}

/// A parsed TCP segment's header fields.
struct Parsed {
    /// Source, destination, ports.
    tuple: CookieTuple,
    /// Sequence number.
    seq: u32,
    /// Acknowledgment number.
    ack_seq: u32,
    /// Flags.
    flags: u8,
    /// Window field.
    window: u16,
    /// Options.
    opts: SynOptions,
    /// Payload bytes (from the IP total length).
    payload: usize,
}

/// Parses an unfragmented TCP packet whose headers (options included) are
/// all in `pkt`.
fn parse(pkt: &[u8]) -> Result<Parsed, PacketError> {
    let th = TcpHeader::parse(pkt)?;
    if th.ip.is_fragment() {
        return Err(PacketError::Fragment);
    }
    let t = PacketError::Truncated;
    let l4 = th.l4_off;
    let tcp = pkt.get(l4..th.end()).ok_or(t)?;
    Ok(Parsed {
        tuple: CookieTuple {
            saddr: th.ip.saddr,
            daddr: th.ip.daddr,
            sport: rd16(tcp, 0).ok_or(t)?,
            dport: rd16(tcp, 2).ok_or(t)?,
        },
        seq: u32::from_be_bytes(rd4(tcp, 4).ok_or(t)?),
        ack_seq: u32::from_be_bytes(rd4(tcp, 8).ok_or(t)?),
        flags: th.flags,
        window: rd16(tcp, 14).ok_or(t)?,
        opts: parse_syn_options(tcp),
        payload: usize::from(th.ip.total_len).saturating_sub(l4 + th.hlen),
    })
}

/// What [`build_synack`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SynAck {
    /// Length of the SYN-ACK written at the start of the output buffer.
    pub len: usize,
    /// The SYN's addresses and ports (client, virtual service).
    pub tuple: CookieTuple,
    /// The client's initial sequence number (the SYN's `seq`).
    pub client_isn: u32,
    /// Our initial sequence number: the cookie.
    pub cookie: u32,
    /// The options in effect ([`negotiate`]): what the SYN-ACK announced
    /// and what the real server will be offered.
    pub opts: CookieOpts,
}

/// Answers a client's SYN (`syn`, from its IPv4 header, with the whole TCP
/// header) with our SYN-ACK, written into `out` (at least
/// [`SEGMENT_MAX_LEN`] bytes always suffice):
///
/// - addresses and ports swapped (from the virtual service to the client);
/// - `seq` = the cookie ([`cookie_make`] under `secret` in minute
///   `minute`), `ack_seq` = the client's ISN + 1, flags SYN|ACK (and ECE
///   for an ECN setup, when allowed), window `cfg.window`;
/// - options ([`negotiate`]): MSS `cfg.mss`; if the client offered
///   timestamps (and they are allowed): the timestamp with TSval =
///   [`cookie_tsval`]`(ts_clock, opts)` and TSecr = the client's TSval,
///   SACK-permitted if offered, window scale `cfg.wscale` if offered;
/// - IPv4 ID 0, DF, TTL `cfg.ttl`; both checksums complete.
///
/// `ts_clock` is our timestamp clock (e.g. milliseconds); its low 6 bits
/// are replaced. A payload in the SYN (TCP Fast Open) is not acknowledged:
/// the client sends it again after the handshake. Nothing is kept: the
/// SYN can be dropped (consumed) once the SYN-ACK is sent.
///
/// Errors: [`SynProxyError::NotSyn`], [`SynProxyError::Packet`] for
/// malformed packets, fragments ([`PacketError::Fragment`]), headers not
/// all in `syn` ([`PacketError::Truncated`]), `out` too short
/// ([`PacketError::Truncated`] too).
pub fn build_synack(
    syn: &[u8],
    out: &mut [u8],
    secret: &CookieSecret,
    minute: u32,
    ts_clock: u32,
    cfg: &SynProxyConfig,
) -> Result<SynAck, SynProxyError> {
    let p = parse(syn)?;
    let mask = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
    if p.flags & mask != tcp_flags::SYN {
        return Err(SynProxyError::NotSyn);
    }
    let opts = negotiate(&p.opts, p.flags, cfg);
    let cookie = cookie_make(secret, &p.tuple, p.seq, minute, &opts);
    let seg = Segment {
        saddr: p.tuple.daddr,
        daddr: p.tuple.saddr,
        sport: p.tuple.dport,
        dport: p.tuple.sport,
        seq: cookie,
        ack_seq: p.seq.wrapping_add(1),
        flags: tcp_flags::SYN | tcp_flags::ACK | if opts.ecn_ok { tcp_flags::ECE } else { 0 },
        window: cfg.window,
        ttl: cfg.ttl,
        opts: SegmentOptions {
            mss: Some(cfg.mss),
            wscale: opts.wscale.map(|_| cfg.wscale),
            sack_ok: opts.sack_ok,
            ts: opts
                .ts_ok
                .then(|| (cookie_tsval(ts_clock, &opts), p.opts.tsval)),
        },
    };
    let len = build_segment(out, &seg)?;
    Ok(SynAck {
        len,
        tuple: p.tuple,
        client_isn: p.seq,
        cookie,
        opts,
    })
}

/// A client's ACK that carried a valid cookie: everything needed to open
/// the connection to the real server. Keep it (or the fields the glue
/// needs) with the connection until the real server has answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAck {
    /// Its addresses and ports (client, virtual service).
    pub tuple: CookieTuple,
    /// The client's ISN (`seq - 1`).
    pub client_isn: u32,
    /// Our ISN towards the client, the cookie (`ack_seq - 1`).
    pub cookie: u32,
    /// The options in effect: MSS from the cookie, the rest from the
    /// timestamp echo.
    pub opts: CookieOpts,
    /// Its TSval (if `opts.ts_ok`).
    pub tsval: u32,
    /// Its TSecr (if `opts.ts_ok`): the TSval of our SYN-ACK.
    pub tsecr: u32,
    /// Its window field (scaled by the client's shift `opts.wscale`, if
    /// any).
    pub window: u16,
    /// Its flags (FIN and PSH may be set; the packet may carry data).
    pub flags: u8,
    /// It is a zero-window probe (`seq` = ISN, no data): the handshake ACK
    /// was lost, and our SYN-ACK's zero window keeps the client probing
    /// with this until a window opens. The glue turns it into the lost
    /// ACK (`seq` + 1) before using it.
    pub probe: bool,
}

/// Validates a client's ACK (`ack`, from its IPv4 header, with the whole
/// TCP header): the third packet of the handshake, or, if that was lost,
/// any later segment of the client before the connection exists (all carry
/// `seq` = ISN + 1 and `ack_seq` = cookie + 1), or the zero-window probes
/// a client sends after losing it (a pure ACK with `seq` = ISN; see
/// [`ClientAck::probe`]).
///
/// Checks: ACK set, SYN and RST clear ([`SynProxyError::NotAck`]); the
/// cookie ([`cookie_check`] with `client_isn = seq - 1`, `cookie = ack_seq
/// - 1`, at `now_minute`) ([`SynProxyError::BadCookie`]). Then reads the
/// options: with a timestamp option (and timestamps allowed by `cfg`),
/// the window scale, SACK and ECN bits from its TSecr
/// ([`CookieOpts::with_ts_echo`]), masked by `cfg`.
///
/// The packet is not changed; the glue holds it (it completes the real
/// server's handshake later, see [`translation`]) or drops it.
pub fn check_ack(
    ack: &[u8],
    secret: &CookieSecret,
    now_minute: u32,
    cfg: &SynProxyConfig,
) -> Result<ClientAck, SynProxyError> {
    let p = parse(ack)?;
    if p.flags & (tcp_flags::ACK | tcp_flags::SYN | tcp_flags::RST) != tcp_flags::ACK {
        return Err(SynProxyError::NotAck);
    }
    let cookie = p.ack_seq.wrapping_sub(1);
    let check = |isn| cookie_check(secret, &p.tuple, isn, cookie, now_minute);
    // A pure ACK one below the expected sequence number is the client's
    // zero-window probe after its handshake ACK was lost: without taking
    // it the client would probe for minutes and never be served.
    let is_pure_ack = p.payload == 0 && p.flags & tcp_flags::FIN == 0;
    let (client_isn, o, probe) = match check(p.seq.wrapping_sub(1)) {
        Some(o) => (p.seq.wrapping_sub(1), o, false),
        None if is_pure_ack => (p.seq, check(p.seq).ok_or(SynProxyError::BadCookie)?, true),
        None => return Err(SynProxyError::BadCookie),
    };
    let opts = if p.opts.has_ts && cfg.timestamps {
        let full = o.with_ts_echo(p.opts.tsecr);
        CookieOpts {
            wscale: full.wscale.filter(|_| cfg.window_scaling),
            sack_ok: full.sack_ok && cfg.sack,
            ecn_ok: full.ecn_ok && cfg.ecn,
            ..full
        }
    } else {
        o
    };
    Ok(ClientAck {
        tuple: p.tuple,
        client_isn,
        cookie,
        opts,
        tsval: p.opts.tsval,
        tsecr: p.opts.tsecr,
        window: p.window,
        flags: p.flags,
        probe,
    })
}

/// The client's receive window in bytes as an unscaled 16-bit field
/// (saturating), from the window field of its ACK.
fn unscaled_window(a: &ClientAck) -> u16 {
    let shift = a.opts.wscale.unwrap_or(0).min(MAX_WSCALE);
    u16::try_from(u32::from(a.window) << shift).unwrap_or(u16::MAX)
}

/// The SYN that opens the connection to the real server on behalf of the
/// client, as the client would have sent it: from the client's address and
/// port to the virtual service's (`a.tuple`), so that the director's usual
/// new-connection path (scheduling, connection entry, NAT/FULLNAT/DR/TUN
/// transmission) handles it; change the fields first to send it elsewhere.
///
/// `seq` = the client's ISN, flags SYN (ECE|CWR for ECN), window = the
/// client's window in bytes (unscaled, as a SYN's, saturating at 65535),
/// options: MSS from the cookie (the client's MSS rounded down to
/// [`super::cookie::MSS_TABLE`]), the client's window scale and
/// SACK-permitted if in effect, the timestamp with the client's latest
/// TSval and TSecr 0 if in effect. Build it with [`build_segment`].
pub fn backend_syn(a: &ClientAck, ttl: u8) -> Segment {
    Segment {
        saddr: a.tuple.saddr,
        daddr: a.tuple.daddr,
        sport: a.tuple.sport,
        dport: a.tuple.dport,
        seq: a.client_isn,
        ack_seq: 0,
        flags: tcp_flags::SYN
            | if a.opts.ecn_ok {
                tcp_flags::ECE | tcp_flags::CWR
            } else {
                0
            },
        window: unscaled_window(a),
        ttl,
        opts: SegmentOptions {
            mss: Some(a.opts.mss()),
            wscale: a.opts.wscale,
            sack_ok: a.opts.sack_ok,
            ts: a.opts.ts_ok.then_some((a.tsval, 0)),
        },
    }
}

/// The real server's answer to [`backend_syn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerSynAck {
    /// The server's initial sequence number.
    pub server_isn: u32,
    /// Its window field (unscaled, as in any SYN).
    pub window: u16,
    /// Its options (the server's window scale, timestamps, ...).
    pub opts: SynOptions,
    /// ECE set (the server accepted ECN).
    pub ecn: bool,
}

/// Reads the real server's SYN-ACK (`pkt`, from its IPv4 header, with the
/// whole TCP header; the glue may parse it before or after the reply
/// direction's address translation, only the TCP header is read). Errors:
/// [`SynProxyError::NotSynAck`] unless SYN and ACK are set and RST and FIN
/// clear (a RST from the server: the glue resets the client, with `seq` =
/// cookie + 1), [`SynProxyError::WrongAck`] unless it acknowledges
/// `client_isn` + 1, [`SynProxyError::Packet`] for malformed packets.
pub fn parse_server_synack(pkt: &[u8], client_isn: u32) -> Result<ServerSynAck, SynProxyError> {
    let p = parse(pkt)?;
    let mask = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
    if p.flags & mask != tcp_flags::SYN | tcp_flags::ACK {
        return Err(SynProxyError::NotSynAck);
    }
    if p.ack_seq != client_isn.wrapping_add(1) {
        return Err(SynProxyError::WrongAck);
    }
    Ok(ServerSynAck {
        server_isn: p.seq,
        window: p.window,
        opts: p.opts,
        ecn: p.flags & tcp_flags::ECE != 0,
    })
}

/// Whether window scaling is on between the director and the real server
/// (offered in [`backend_syn`] and answered).
fn server_ws(a: &ClientAck, s: &ServerSynAck) -> bool {
    a.opts.wscale.is_some() && s.opts.wscale.is_some()
}

/// Whether timestamps are on between the director and the real server.
fn server_ts(a: &ClientAck, s: &ServerSynAck) -> bool {
    a.opts.ts_ok && s.opts.has_ts
}

/// The window shift the client applies to the windows it receives: the
/// one our SYN-ACK announced, if window scaling is on with the client.
fn client_rcv_shift(a: &ClientAck, cfg: &SynProxyConfig) -> u8 {
    if a.opts.wscale.is_some() {
        cfg.wscale.min(MAX_WSCALE)
    } else {
        0
    }
}

/// The translation for the rest of the connection, once the real server's
/// SYN-ACK `s` has arrived:
///
/// - `to_client` (the server's segments): `seq += cookie - server_isn`;
///   TSval `+= our_tsval - server_tsval` (our_tsval being the TSval of our
///   SYN-ACK, which the client echoed: `a.tsecr`) when both sides use
///   timestamps; window field from the server's shift to the one our
///   SYN-ACK announced.
/// - `to_server` (the client's segments): `ack_seq` and SACK edges
///   `+= server_isn - cookie`; TSecr `+= server_tsval - our_tsval`; window
///   field from the client's shift to the one the server applies (0 if the
///   server declined window scaling).
///
/// Apply it with [`crate::packet::seqadj::tcp_adjust`] to every later
/// segment of the connection, including the client's held ACK, which,
/// translated, completes the server's handshake (it acknowledges
/// `server_isn + 1`). A PROXY protocol header adds its own shift
/// ([`crate::proxy_protocol::ProxyStream`]).
pub fn translation(a: &ClientAck, s: &ServerSynAck, cfg: &SynProxyConfig) -> ConnAdjust {
    let ws = server_ws(a, s);
    let ts = server_ts(a, s);
    let client_shift = a.opts.wscale.unwrap_or(0).min(MAX_WSCALE);
    let server_shift = if ws {
        s.opts.wscale.unwrap_or(0).min(MAX_WSCALE)
    } else {
        0
    };
    ConnAdjust {
        to_server: TcpAdjust {
            seq: 0,
            ack: s.server_isn.wrapping_sub(a.cookie),
            tsval: 0,
            tsecr: if ts {
                s.opts.tsval.wrapping_sub(a.tsecr)
            } else {
                0
            },
            window: (client_shift, if ws { client_shift } else { 0 }),
        },
        to_client: TcpAdjust {
            seq: a.cookie.wrapping_sub(s.server_isn),
            ack: 0,
            tsval: if ts {
                a.tsecr.wrapping_sub(s.opts.tsval)
            } else {
                0
            },
            tsecr: 0,
            window: (server_shift, client_rcv_shift(a, cfg)),
        },
    }
}

/// The ACK that completes the real server's handshake, when the glue did
/// not keep the client's ACK to forward it translated: as the client would
/// send it (client to virtual service, like [`backend_syn`]), `seq` =
/// client ISN + 1, `ack_seq` = server ISN + 1, flags ACK, the client's
/// window as the server reads it, the timestamp (client's TSval, server's
/// TSval) if the server uses timestamps.
pub fn server_ack(a: &ClientAck, s: &ServerSynAck, ttl: u8) -> Segment {
    Segment {
        saddr: a.tuple.saddr,
        daddr: a.tuple.daddr,
        sport: a.tuple.sport,
        dport: a.tuple.dport,
        seq: a.client_isn.wrapping_add(1),
        ack_seq: s.server_isn.wrapping_add(1),
        flags: tcp_flags::ACK,
        window: if server_ws(a, s) {
            a.window
        } else {
            unscaled_window(a)
        },
        ttl,
        opts: SegmentOptions {
            ts: server_ts(a, s).then_some((a.tsval, s.opts.tsval)),
            ..SegmentOptions::default()
        },
    }
}

/// The ACK that tells the client the real server's window (our SYN-ACK
/// announced `cfg.window`, 0 by default): from the virtual service to the
/// client, `seq` = cookie + 1, `ack_seq` = client ISN + 1, flags ACK,
/// window = the server's SYN-ACK window scaled by the shift our SYN-ACK
/// announced, the timestamp (our SYN-ACK's TSval, the client's TSval) if
/// the client uses timestamps. Send it when the server's SYN-ACK arrives
/// (a duplicate ACK does no harm if the window was not 0).
pub fn client_window_update(a: &ClientAck, s: &ServerSynAck, cfg: &SynProxyConfig) -> Segment {
    Segment {
        saddr: a.tuple.daddr,
        daddr: a.tuple.saddr,
        sport: a.tuple.dport,
        dport: a.tuple.sport,
        seq: a.cookie.wrapping_add(1),
        ack_seq: a.client_isn.wrapping_add(1),
        flags: tcp_flags::ACK,
        window: s.window >> client_rcv_shift(a, cfg),
        ttl: cfg.ttl,
        opts: SegmentOptions {
            ts: a.opts.ts_ok.then_some((a.tsecr, a.tsval)),
            ..SegmentOptions::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::cookie::{CookieOpts, TS_OPT_BITS};
    use super::*;
    use crate::packet::ipv4::header_checksum_ok;
    use crate::packet::l4::l4_checksum_ok;
    use crate::packet::parse_packet;
    use crate::packet::seqadj::tcp_adjust;
    use crate::packet::toa_write::testpkt::{build_tcp, ref_valid, tcp_spec, TcpSpec};
    use crate::packet::CsumMode;
    use proptest::prelude::*;

    const KEY: [u8; 16] = *b"synproxy test k1";
    const CLIENT: [u8; 4] = [10, 0, 0, 2];
    const VIP: [u8; 4] = [10, 0, 1, 100];

    // IP(src="10.0.0.2", dst="10.0.1.100", id=1, flags="DF")/TCP(sport=40000,
    //   dport=80, seq=1000, flags="S", window=64240,
    //   options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)),
    //            ("NOP", None), ("WScale", 7)]), the option layout of a Linux
    // client; checksums computed with an independent Python script (the IP
    // checksum is csum.rs's 0x256a fixture less the 20 extra length bytes).
    /// A Linux client's SYN.
    const SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x25, 0x56, 0x0a, 0x00, 0x00,
        0x02, 0x0a, 0x00, 0x01, 0x64, 0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00,
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x66, 0xf8, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x30, 0x39, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn secret() -> CookieSecret {
        CookieSecret::new(KEY)
    }

    fn be32(p: &[u8], off: usize) -> u32 {
        u32::from_be_bytes(p[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn fixture_is_valid() {
        assert!(ref_valid(&SYN));
        let o = parse_syn_options(&SYN[20..]);
        assert_eq!(
            o,
            SynOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_ok: true,
                has_ts: true,
                tsval: 12345,
                tsecr: 0,
            }
        );
    }

    #[test]
    fn synack_of_linux_syn() {
        let cfg = SynProxyConfig {
            wscale: 9,
            ..SynProxyConfig::default()
        };
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let r = build_synack(&SYN, &mut out, &secret(), 100, 0x0012_3456, &cfg).unwrap();
        let p = &out[..r.len];
        assert_eq!(r.len, 60);
        assert_eq!(r.client_isn, 1000);
        assert_eq!(
            r.opts,
            CookieOpts {
                mss_index: 3,
                wscale: Some(7),
                sack_ok: true,
                ts_ok: true,
                ecn_ok: false,
            }
        );
        // Parses, checksums verify.
        let i = parse_packet(p).unwrap();
        assert_eq!(
            (i.saddr, i.sport, i.daddr, i.dport),
            (Addr::v4(VIP), 80, Addr::v4(CLIENT), 40000)
        );
        assert_eq!(i.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);
        assert!(header_checksum_ok(p).unwrap());
        assert!(l4_checksum_ok(p).unwrap());
        assert!(ref_valid(p));
        // IP: ID 0, DF, TTL 64, TOS 0.
        assert_eq!(p[1], 0);
        assert_eq!(p[4..9], [0, 0, 0x40, 0, 64]);
        // seq = cookie, ack = ISN + 1, window 0.
        assert_eq!(be32(p, 24), r.cookie);
        assert_eq!(be32(p, 28), 1001);
        assert_eq!(rd16(p, 34), Some(0));
        assert_eq!(
            cookie_check(&secret(), &r.tuple, 1000, r.cookie, 101),
            Some(CookieOpts::mss_only(3))
        );
        // Linux's option layout: MSS, SACK-perm + TS, NOP WS.
        let tsval = (0x0012_3456 & !0x3f) | 7 | 0x10;
        let mut want = vec![2, 4, 0x05, 0xb4, 4, 2, 8, 10];
        want.extend_from_slice(&u32::to_be_bytes(tsval));
        want.extend_from_slice(&12345u32.to_be_bytes());
        want.extend_from_slice(&[1, 3, 3, 9]);
        assert_eq!(p[40..60], want[..]);
        assert_eq!(
            parse_syn_options(&p[20..]),
            SynOptions {
                mss: Some(1460),
                wscale: Some(9),
                sack_ok: true,
                has_ts: true,
                tsval,
                tsecr: 12345,
            }
        );
    }

    /// A SYN with the given options and flags.
    fn syn_with(opts: Vec<u8>, flags: u8) -> Vec<u8> {
        build_tcp(&TcpSpec {
            saddr: CLIENT,
            daddr: VIP,
            sport: 40000,
            dport: 80,
            seq: 0xffff_ffff,
            ack: 0,
            flags,
            window: 8192,
            ip_opt_words: 1,
            opts,
            payload: vec![],
            id: 7,
            df: false,
        })
    }

    #[test]
    fn options_follow_the_offer() {
        let cfg = SynProxyConfig {
            ecn: true,
            ..SynProxyConfig::default()
        };
        let mut out = [0u8; SEGMENT_MAX_LEN];
        // No options at all: MSS only, index 0 (536), no TS/WS/SACK.
        let syn = syn_with(vec![], tcp_flags::SYN);
        let r = build_synack(&syn, &mut out, &secret(), 0, 0, &cfg).unwrap();
        assert_eq!(r.len, 44);
        assert_eq!(r.opts, CookieOpts::mss_only(0));
        assert_eq!(out[40..44], [2, 4, 0x05, 0xb4]);
        assert_eq!(be32(&out, 28), 0); // ISN 0xffffffff + 1 wraps
        assert!(ref_valid(&out[..r.len]));
        // WS and SACK without timestamps: not offered back (nowhere to
        // keep them), as Linux.
        let syn = syn_with(vec![4, 2, 1, 3, 3, 5, 2, 4, 0x05, 0x14], tcp_flags::SYN);
        let r = build_synack(&syn, &mut out, &secret(), 0, 0, &cfg).unwrap();
        assert_eq!(r.opts, CookieOpts::mss_only(1));
        assert_eq!(r.len, 44);
        // Timestamps only, and ECN setup: NOP NOP TS, ECE.
        let mut ts = vec![8, 10];
        ts.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]);
        let syn = syn_with(ts, tcp_flags::SYN | tcp_flags::ECE | tcp_flags::CWR);
        let r = build_synack(&syn, &mut out, &secret(), 0, 0x40, &cfg).unwrap();
        assert_eq!(r.len, 56);
        assert!(r.opts.ts_ok && r.opts.ecn_ok && !r.opts.sack_ok);
        assert_eq!(r.opts.wscale, None);
        assert_eq!(out[33], tcp_flags::SYN | tcp_flags::ACK | tcp_flags::ECE);
        assert_eq!(out[44..48], [1, 1, 8, 10]);
        assert_eq!(be32(&out, 48), 0x40 | 0xf | 0x20);
        assert_eq!(be32(&out, 52), 9);
        assert!(ref_valid(&out[..r.len]));
        // ECN needs both ECE and CWR.
        let mut ts = vec![8, 10];
        ts.extend_from_slice(&[0; 8]);
        let syn = syn_with(ts.clone(), tcp_flags::SYN | tcp_flags::ECE);
        let r = build_synack(&syn, &mut out, &secret(), 0, 0, &cfg).unwrap();
        assert!(!r.opts.ecn_ok);
        // Everything disallowed: MSS only.
        let off = SynProxyConfig {
            timestamps: false,
            ..cfg
        };
        let syn = syn_with(SYN[40..60].to_vec(), tcp_flags::SYN);
        let r = build_synack(&syn, &mut out, &secret(), 0, 0, &off).unwrap();
        assert_eq!(r.opts, CookieOpts::mss_only(3));
        assert_eq!(r.len, 44);
        // WS and SACK disallowed, TS allowed.
        let part = SynProxyConfig {
            sack: false,
            window_scaling: false,
            ..cfg
        };
        let r = build_synack(&syn, &mut out, &secret(), 0, 0, &part).unwrap();
        assert_eq!(r.len, 56);
        assert_eq!(r.opts.wscale, None);
        assert!(!r.opts.sack_ok && r.opts.ts_ok);
    }

    #[test]
    fn synack_errors() {
        let cfg = SynProxyConfig::default();
        let mut out = [0u8; SEGMENT_MAX_LEN];
        for flags in [
            tcp_flags::SYN | tcp_flags::ACK,
            tcp_flags::SYN | tcp_flags::RST,
            tcp_flags::SYN | tcp_flags::FIN,
            tcp_flags::ACK,
            0,
        ] {
            let syn = syn_with(vec![], flags);
            assert_eq!(
                build_synack(&syn, &mut out, &secret(), 0, 0, &cfg),
                Err(SynProxyError::NotSyn)
            );
        }
        assert_eq!(
            build_synack(&SYN, &mut out[..59], &secret(), 0, 0, &cfg),
            Err(SynProxyError::Packet(PacketError::Truncated))
        );
        assert_eq!(
            build_synack(&SYN[..59], &mut out, &secret(), 0, 0, &cfg),
            Err(SynProxyError::Packet(PacketError::Truncated))
        );
        let mut frag = SYN;
        frag[6] |= 0x20; // MF
        assert_eq!(
            build_synack(&frag, &mut out, &secret(), 0, 0, &cfg),
            Err(SynProxyError::Packet(PacketError::Fragment))
        );
        let mut udp = SYN;
        udp[9] = 47;
        assert_eq!(
            build_synack(&udp, &mut out, &secret(), 0, 0, &cfg),
            Err(SynProxyError::Packet(PacketError::UnsupportedProtocol))
        );
        let seg = Segment {
            saddr: Addr::v6([0; 16]),
            ..backend_syn(&client_ack_fixture(), 64)
        };
        assert_eq!(
            build_segment(&mut out, &seg),
            Err(PacketError::UnsupportedFamily)
        );
    }

    #[test]
    fn parse_options_robust() {
        // Garbage after a valid MSS: what came before is kept.
        let mut tcp = [0u8; 32];
        tcp[12] = 0x80;
        tcp[20..32].copy_from_slice(&[2, 4, 1, 0, 3, 3, 20, 9, 0, 0, 0, 0]);
        let o = parse_syn_options(&tcp);
        assert_eq!(o.mss, Some(256));
        assert_eq!(o.wscale, Some(14)); // clamped
        assert!(!o.has_ts);
        // Data offset beyond the slice: the slice's options are read.
        tcp[12] = 0xf0;
        assert_eq!(parse_syn_options(&tcp).mss, Some(256));
        // Data offset below 5, short slices.
        tcp[12] = 0x40;
        assert_eq!(parse_syn_options(&tcp), SynOptions::default());
        assert_eq!(parse_syn_options(&tcp[..12]), SynOptions::default());
        assert_eq!(parse_syn_options(&[]), SynOptions::default());
        // Wrong lengths are ignored; the last of repeated options counts.
        let mut tcp = [0u8; 36];
        tcp[12] = 0x90;
        tcp[20..36].copy_from_slice(&[2, 3, 1, 2, 4, 1, 4, 4, 2, 2, 4, 0, 100, 0, 0, 0]);
        let o = parse_syn_options(&tcp);
        assert_eq!(o.mss, Some(100));
        assert!(o.sack_ok);
    }

    /// The client's third packet for the SYN fixture's SYN-ACK.
    fn client_ack_pkt(r: &SynAck, tsecr: u32, payload: &[u8]) -> Vec<u8> {
        let mut opts = vec![1, 1, 8, 10];
        opts.extend_from_slice(&12346u32.to_be_bytes());
        opts.extend_from_slice(&tsecr.to_be_bytes());
        build_tcp(&TcpSpec {
            saddr: CLIENT,
            daddr: VIP,
            sport: 40000,
            dport: 80,
            seq: r.client_isn.wrapping_add(1),
            ack: r.cookie.wrapping_add(1),
            flags: tcp_flags::ACK
                | if payload.is_empty() {
                    0
                } else {
                    tcp_flags::PSH
                },
            window: 502,
            ip_opt_words: 0,
            opts,
            payload: payload.to_vec(),
            id: 2,
            df: true,
        })
    }

    fn client_ack_fixture() -> ClientAck {
        let cfg = SynProxyConfig::default();
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let r = build_synack(&SYN, &mut out, &secret(), 100, 0x1000, &cfg).unwrap();
        let tsecr = be32(&out, 48);
        check_ack(&client_ack_pkt(&r, tsecr, b""), &secret(), 100, &cfg).unwrap()
    }

    #[test]
    fn ack_round_trip() {
        let cfg = SynProxyConfig::default();
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let r = build_synack(&SYN, &mut out, &secret(), 100, 0x1000, &cfg).unwrap();
        let our_tsval = be32(&out, 48);
        for (now, payload) in [(100, &b""[..]), (101, &b"GET / HTTP/1.0\r\n\r\n"[..])] {
            let ack = client_ack_pkt(&r, our_tsval, payload);
            let a = check_ack(&ack, &secret(), now, &cfg).unwrap();
            assert_eq!(a.tuple, r.tuple);
            assert_eq!(a.client_isn, 1000);
            assert_eq!(a.cookie, r.cookie);
            assert_eq!(a.opts, r.opts);
            assert_eq!((a.tsval, a.tsecr, a.window), (12346, our_tsval, 502));
        }
        // Expired, forged, other tuple, not an ACK.
        let ack = client_ack_pkt(&r, our_tsval, b"");
        assert_eq!(
            check_ack(&ack, &secret(), 102, &cfg),
            Err(SynProxyError::BadCookie)
        );
        let mut forged = ack.clone();
        forged[31] ^= 0x80;
        crate::packet::l4::fill_l4_checksum(&mut forged).unwrap();
        assert_eq!(
            check_ack(&forged, &secret(), 100, &cfg),
            Err(SynProxyError::BadCookie)
        );
        let mut other = ack.clone();
        other[15] = 3;
        assert_eq!(
            check_ack(&other, &secret(), 100, &cfg),
            Err(SynProxyError::BadCookie)
        );
        for flags in [
            0,
            tcp_flags::ACK | tcp_flags::RST,
            tcp_flags::SYN | tcp_flags::ACK,
        ] {
            let mut p = ack.clone();
            p[33] = flags;
            assert_eq!(
                check_ack(&p, &secret(), 100, &cfg),
                Err(SynProxyError::NotAck)
            );
        }
        // Without a timestamp option: MSS only.
        let mut p = ack.clone();
        p[40..44].copy_from_slice(&[1, 1, 1, 1]);
        p[44..52].fill(1);
        let a = check_ack(&p, &secret(), 100, &cfg).unwrap();
        assert_eq!(a.opts, CookieOpts::mss_only(3));
        // The timestamp echo decides WS/SACK/ECN, masked by the settings.
        let off = SynProxyConfig { sack: false, ..cfg };
        let a = check_ack(&ack, &secret(), 100, &off).unwrap();
        assert!(!a.opts.sack_ok);
        assert_eq!(a.opts.wscale, Some(7));
    }

    /// A client whose handshake ACK was lost probes our zero window with a
    /// pure ACK at `seq` = ISN: taken, marked as a probe, same ISN. With
    /// data or FIN at that sequence number it is not a probe (refused),
    /// nor is a probe with a bad cookie.
    #[test]
    fn zero_window_probe_validates() {
        let cfg = SynProxyConfig::default();
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let r = build_synack(&SYN, &mut out, &secret(), 100, 0x1000, &cfg).unwrap();
        let tsecr = be32(&out, 48);
        let ack = check_ack(&client_ack_pkt(&r, tsecr, b""), &secret(), 100, &cfg).unwrap();
        assert!(!ack.probe);
        let with_seq = |payload: &[u8], flags: Option<u8>, delta: u32| {
            let mut p = client_ack_pkt(&r, tsecr, payload);
            let seq = be32(&p, 24).wrapping_sub(delta);
            p[24..28].copy_from_slice(&seq.to_be_bytes());
            if let Some(f) = flags {
                p[33] = f;
            }
            crate::packet::l4::fill_l4_checksum(&mut p).unwrap();
            p
        };
        let probe = check_ack(&with_seq(b"", None, 1), &secret(), 100, &cfg).unwrap();
        assert!(probe.probe);
        assert_eq!(probe.client_isn, ack.client_isn);
        assert_eq!((probe.cookie, probe.opts), (ack.cookie, ack.opts));
        assert_eq!(
            check_ack(&with_seq(b"x", None, 1), &secret(), 100, &cfg),
            Err(SynProxyError::BadCookie)
        );
        let fin = Some(tcp_flags::FIN | tcp_flags::ACK);
        assert_eq!(
            check_ack(&with_seq(b"", fin, 1), &secret(), 100, &cfg),
            Err(SynProxyError::BadCookie)
        );
        assert_eq!(
            check_ack(&with_seq(b"", None, 2), &secret(), 100, &cfg),
            Err(SynProxyError::BadCookie)
        );
    }

    /// A server's SYN-ACK to `syn` (a backend_syn built packet).
    fn server_synack(a: &ClientAck, isn: u32, wscale: Option<u8>, ts: bool) -> Vec<u8> {
        let mut opts = vec![2, 4, 0x05, 0xb4];
        if ts {
            opts.extend_from_slice(&[4, 2, 8, 10]);
            opts.extend_from_slice(&555_000u32.to_be_bytes());
            opts.extend_from_slice(&a.tsval.to_be_bytes());
        }
        if let Some(w) = wscale {
            opts.extend_from_slice(&[1, 3, 3, w]);
        }
        build_tcp(&TcpSpec {
            saddr: VIP,
            daddr: CLIENT,
            sport: 80,
            dport: 40000,
            seq: isn,
            ack: a.client_isn.wrapping_add(1),
            flags: tcp_flags::SYN | tcp_flags::ACK,
            window: 65160,
            ip_opt_words: 0,
            opts,
            payload: vec![],
            id: 0,
            df: true,
        })
    }

    #[test]
    fn backend_handshake() {
        let cfg = SynProxyConfig::default();
        let a = client_ack_fixture();
        // The SYN to the server replays the client's options.
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let n = build_segment(&mut out, &backend_syn(&a, 64)).unwrap();
        let syn = &out[..n];
        assert!(ref_valid(syn));
        let i = parse_packet(syn).unwrap();
        assert_eq!(
            (i.saddr, i.sport, i.daddr, i.dport),
            (Addr::v4(CLIENT), 40000, Addr::v4(VIP), 80)
        );
        assert_eq!(i.tcp_flags, tcp_flags::SYN);
        assert_eq!(be32(syn, 24), 1000);
        assert_eq!(rd16(syn, 34), Some(502 << 7)); // bytes, unscaled
        assert_eq!(
            parse_syn_options(&syn[20..]),
            SynOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_ok: true,
                has_ts: true,
                tsval: 12346,
                tsecr: 0,
            }
        );

        // The server answers.
        let sa = server_synack(&a, 0x8000_0000, Some(7), true);
        let s = parse_server_synack(&sa, a.client_isn).unwrap();
        assert_eq!(s.server_isn, 0x8000_0000);
        assert_eq!(s.opts.tsval, 555_000);
        assert_eq!(
            parse_server_synack(&sa, a.client_isn.wrapping_add(1)),
            Err(SynProxyError::WrongAck)
        );
        let mut rst = sa.clone();
        rst[33] |= tcp_flags::RST;
        assert_eq!(
            parse_server_synack(&rst, a.client_isn),
            Err(SynProxyError::NotSynAck)
        );

        // Window update to the client.
        let n = build_segment(&mut out, &client_window_update(&a, &s, &cfg)).unwrap();
        let wu = &out[..n];
        assert!(ref_valid(wu));
        assert_eq!(be32(wu, 24), a.cookie.wrapping_add(1));
        assert_eq!(be32(wu, 28), 1001);
        assert_eq!(rd16(wu, 34), Some(65160 >> 7));
        assert_eq!(be32(wu, 44), a.tsecr);
        assert_eq!(be32(wu, 48), 12346);

        // The ACK to the server.
        let n = build_segment(&mut out, &server_ack(&a, &s, 64)).unwrap();
        let sack = &out[..n];
        assert!(ref_valid(sack));
        assert_eq!(be32(sack, 24), 1001);
        assert_eq!(be32(sack, 28), 0x8000_0001);
        assert_eq!(rd16(sack, 34), Some(502));
        assert_eq!(be32(sack, 44), 12346);
        assert_eq!(be32(sack, 48), 555_000);

        // The held client ACK, translated, is the same acknowledgment.
        let t = translation(&a, &s, &cfg);
        let mut held = client_ack_pkt(
            &SynAck {
                len: 0,
                tuple: a.tuple,
                client_isn: a.client_isn,
                cookie: a.cookie,
                opts: a.opts,
            },
            a.tsecr,
            b"",
        );
        tcp_adjust(&mut held, &t.to_server, CsumMode::Full).unwrap();
        assert!(ref_valid(&held));
        assert_eq!(be32(&held, 28), 0x8000_0001);
        assert_eq!(be32(&held, 48), 555_000); // TSecr now the server's clock
        assert_eq!(rd16(&held, 34), Some(502)); // same shift both sides

        // A server segment, translated for the client.
        let mut data = build_tcp(&TcpSpec {
            saddr: VIP,
            daddr: CLIENT,
            sport: 80,
            dport: 40000,
            seq: 0x8000_0001,
            ack: 1001,
            flags: tcp_flags::ACK | tcp_flags::PSH,
            window: 500,
            ip_opt_words: 0,
            opts: {
                let mut o = vec![1, 1, 8, 10];
                o.extend_from_slice(&555_010u32.to_be_bytes());
                o.extend_from_slice(&12346u32.to_be_bytes());
                o
            },
            payload: b"HTTP/1.0 200 OK\r\n".to_vec(),
            id: 9,
            df: true,
        });
        tcp_adjust(&mut data, &t.to_client, CsumMode::Full).unwrap();
        assert!(ref_valid(&data));
        assert_eq!(be32(&data, 24), a.cookie.wrapping_add(1));
        assert_eq!(be32(&data, 28), 1001);
        assert_eq!(be32(&data, 44), a.tsecr.wrapping_add(10));
        assert_eq!(rd16(&data, 34), Some(500));
    }

    #[test]
    fn translation_windows_and_timestamps() {
        let cfg = SynProxyConfig::default();
        let a = client_ack_fixture();
        // Server declines window scaling and timestamps.
        let sa = server_synack(&a, 5, None, false);
        let s = parse_server_synack(&sa, a.client_isn).unwrap();
        let t = translation(&a, &s, &cfg);
        assert_eq!(t.to_server.window, (7, 0));
        assert_eq!(t.to_client.window, (0, 7));
        assert_eq!((t.to_server.tsecr, t.to_client.tsval), (0, 0));
        assert_eq!(t.to_client.seq, a.cookie.wrapping_sub(5));
        assert_eq!(t.to_server.ack, 5u32.wrapping_sub(a.cookie));
        let sack = server_ack(&a, &s, 64);
        assert_eq!(sack.window, 502 << 7);
        assert_eq!(sack.opts.ts, None);
        // Server with another shift.
        let sa = server_synack(&a, 5, Some(10), true);
        let s = parse_server_synack(&sa, a.client_isn).unwrap();
        let t = translation(&a, &s, &cfg);
        assert_eq!(t.to_server.window, (7, 7));
        assert_eq!(t.to_client.window, (10, 7));
        // The sequence deltas cancel out.
        assert_eq!(t.to_client.seq.wrapping_add(t.to_server.ack), 0);
        assert_eq!(t.to_client.tsval.wrapping_add(t.to_server.tsecr), 0);
    }

    #[test]
    fn no_timestamps_end_to_end() {
        let cfg = SynProxyConfig::default();
        let syn = syn_with(vec![2, 4, 0x05, 0xa0, 1, 3, 3, 8], tcp_flags::SYN);
        let mut out = [0u8; SEGMENT_MAX_LEN];
        let r = build_synack(&syn, &mut out, &secret(), 7, 0, &cfg).unwrap();
        assert_eq!(r.opts, CookieOpts::mss_only(2));
        let ack = build_tcp(&TcpSpec {
            saddr: CLIENT,
            daddr: VIP,
            sport: 40000,
            dport: 80,
            seq: r.client_isn.wrapping_add(1),
            ack: r.cookie.wrapping_add(1),
            flags: tcp_flags::ACK,
            window: 1000,
            ip_opt_words: 0,
            opts: vec![],
            payload: vec![],
            id: 2,
            df: true,
        });
        let a = check_ack(&ack, &secret(), 8, &cfg).unwrap();
        assert_eq!(a.opts, CookieOpts::mss_only(2));
        let b = backend_syn(&a, 64);
        assert_eq!(b.opts.mss, Some(1440));
        assert_eq!(
            (b.opts.wscale, b.opts.sack_ok, b.opts.ts),
            (None, false, None)
        );
        assert_eq!(b.window, 1000);
        let s = ServerSynAck {
            server_isn: 1,
            window: 29200,
            opts: SynOptions::default(),
            ecn: false,
        };
        let wu = client_window_update(&a, &s, &cfg);
        assert_eq!(wu.window, 29200);
        assert_eq!(wu.opts, SegmentOptions::default());
        let t = translation(&a, &s, &cfg);
        assert_eq!(t.to_client.window, (0, 0));
        assert_eq!(t.to_server.window, (0, 0));
    }

    #[test]
    fn segment_layouts() {
        let base = backend_syn(&client_ack_fixture(), 1);
        let mut out = [0u8; SEGMENT_MAX_LEN];
        for (opts, want) in [
            (SegmentOptions::default(), vec![]),
            (
                SegmentOptions {
                    sack_ok: true,
                    ..SegmentOptions::default()
                },
                vec![1, 1, 4, 2],
            ),
            (
                SegmentOptions {
                    wscale: Some(200),
                    ..SegmentOptions::default()
                },
                vec![1, 3, 3, 14],
            ),
            (
                SegmentOptions {
                    ts: Some((1, 2)),
                    ..SegmentOptions::default()
                },
                vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            ),
        ] {
            let n = build_segment(&mut out, &Segment { opts, ..base }).unwrap();
            assert_eq!(out[40..n], want[..]);
            assert!(ref_valid(&out[..n]));
            assert_eq!(out[32] >> 4, u8::try_from(n - 20).unwrap() / 4);
        }
        // The largest fits SEGMENT_MAX_LEN exactly.
        let all = SegmentOptions {
            mss: Some(1),
            wscale: Some(1),
            sack_ok: true,
            ts: Some((1, 1)),
        };
        let n = build_segment(&mut out, &Segment { opts: all, ..base }).unwrap();
        assert_eq!(n, SEGMENT_MAX_LEN);
        assert_eq!(TS_OPT_BITS, 6);
        // With a payload (odd length, to exercise the padding).
        let mut big = [0u8; 200];
        let hdr = b"PROXY TCP4 10.0.0.2 10.0.1.100 40000 80\r\n";
        let seg = Segment {
            flags: tcp_flags::ACK | tcp_flags::PSH,
            opts: SegmentOptions::default(),
            ..base
        };
        let n = build_segment_with_payload(&mut big, &seg, hdr).unwrap();
        assert_eq!(n, 40 + hdr.len());
        assert_eq!(&big[40..n], hdr);
        assert!(ref_valid(&big[..n]));
        assert!(l4_checksum_ok(&big[..n]).unwrap());
        assert_eq!(
            build_segment_with_payload(&mut big[..n - 1], &seg, hdr),
            Err(PacketError::Truncated)
        );
        assert_eq!(
            build_segment_with_payload(&mut big, &seg, &[0; 65536 - 40]),
            Err(PacketError::TooBig)
        );
    }

    proptest! {
        /// Random SYNs (random options, flags, IP options, payload) never
        /// make the builder panic; every SYN-ACK it builds is valid and its
        /// cookie checks.
        #[test]
        fn random_syns(mut spec in tcp_spec(), syn_only in any::<bool>(), minute in any::<u32>(),
                       clock in any::<u32>(), garbage in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mask = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST | tcp_flags::FIN;
            if syn_only {
                spec.flags = (spec.flags & !mask) | tcp_flags::SYN;
            }
            let is_syn = spec.flags & mask == tcp_flags::SYN;
            let syn = build_tcp(&spec);
            let cfg = SynProxyConfig { ecn: true, ..SynProxyConfig::default() };
            let mut out = [0u8; SEGMENT_MAX_LEN];
            match build_synack(&syn, &mut out, &secret(), minute, clock, &cfg) {
                Ok(r) => {
                    prop_assert!(is_syn);
                    let p = &out[..r.len];
                    prop_assert!(ref_valid(p));
                    prop_assert!(parse_packet(p).is_ok());
                    prop_assert_eq!(be32(p, 28), spec.seq.wrapping_add(1));
                    prop_assert_eq!(
                        cookie_check(&secret(), &r.tuple, spec.seq, r.cookie, minute),
                        Some(CookieOpts::mss_only(r.opts.mss_index))
                    );
                    let o = parse_syn_options(&p[20..]);
                    prop_assert_eq!(o.has_ts, r.opts.ts_ok);
                    if o.has_ts {
                        prop_assert_eq!(CookieOpts::mss_only(r.opts.mss_index).with_ts_echo(o.tsval), r.opts);
                    }
                }
                Err(e) => {
                    prop_assert!(!is_syn);
                    prop_assert_eq!(e, SynProxyError::NotSyn);
                }
            }
            // Garbage: no panic, whatever the result.
            let mut g = garbage;
            if let Some(b) = g.get_mut(0) { *b = 0x45; }
            if let Some(b) = g.get_mut(9) { *b = 6; }
            let _ = build_synack(&g, &mut out, &secret(), minute, clock, &cfg);
            let _ = check_ack(&g, &secret(), minute, &cfg);
            let _ = parse_server_synack(&g, 0);
            let _ = parse_syn_options(&g);
        }
    }
}
