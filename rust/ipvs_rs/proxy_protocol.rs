// SPDX-License-Identifier: GPL-2.0
//! PROXY protocol glue (issue 5): a service with `proxy_protocol` v1 or v2
//! starts every TCP connection to a NAT or FULLNAT real server with a
//! PROXY protocol header naming the client, so that stock servers (nginx
//! `listen ... proxy_protocol`, haproxy, envoy) learn the client's address
//! without a kernel module. The header, the decisions and the sequence
//! arithmetic are in `ipvs_core::proxy_protocol` and
//! `ipvs_core::packet::seqadj::InsertGap` (host-tested); this file moves
//! packets.
//!
//! - The client's SYN creates the connection; [`attach`] gives it a
//!   `ConnExt` (`synproxy.rs`) holding a [`ProxyConn`]. With SYNPROXY the
//!   connection gets it when the client's ACK validates.
//! - Client segments ([`to_server`], after SYNPROXY's translation): the
//!   segment at the client's first sequence number is preceded by a
//!   header segment of the director's (the handshake ACK is replaced by
//!   it) until the server acknowledges the header; every other segment
//!   moves by the header's length.
//! - Server segments ([`from_server`]): acknowledgments and SACK edges
//!   come back out of the header's bytes; one covering them marks the
//!   header acknowledged.
//!
//! ICMP errors from the server's side about a client segment get the
//! client's sequence number back in their quote ([`quoted_seq`]).

use crate::conn::Conn;
use crate::dataplane::{self, Verdict};
use crate::kbind::netns::NetRef;
use crate::kbind::skb::SkBuff;
use crate::netns::NetState;
use crate::services::SvcRt;
use crate::synproxy::{self, ConnExt};
use core::sync::atomic::{AtomicBool, Ordering};
use ipvs_core::conn::Direction;
use ipvs_core::drops::DropReason;
use ipvs_core::errno::{Errno, Error};
use ipvs_core::packet::icmp::icmp_quoted_tcp_seq;
use ipvs_core::packet::l4::tcp_flags::{ACK, SYN};
use ipvs_core::packet::nat::CsumMode;
use ipvs_core::packet::seqadj::{tcp_adjust, TcpAdjust};
use ipvs_core::packet::{self, PacketInfo};
use ipvs_core::proxy_protocol::{
    header_segment, proxy_header, ClientAction, ProxyStream, ProxyVersion, HEADER_MAX_LEN,
    HEADER_SEGMENT_MAX_LEN,
};
use ipvs_core::service::{DestConf, FwdMethod, Protocol, ServiceKey};

/// The PROXY protocol state of one connection.
pub(crate) struct ProxyConn {
    version: ProxyVersion,
    stream: ProxyStream,
    /// The server has acknowledged the header.
    acked: AtomicBool,
    /// A header segment went out (the next one is a repeat).
    sent: AtomicBool,
}

/// Whether real servers with this forwarding method can get the header:
/// their replies come back through the director (NAT, FULLNAT).
fn translatable(fwd: FwdMethod) -> bool {
    matches!(fwd, FwdMethod::Masq | FwdMethod::FullNat)
}

fn einval(msg: &'static core::ffi::CStr) -> Error {
    Error::new(Errno::Einval, msg)
}

/// The PROXY protocol may be switched on for TCP services whose real
/// servers are all NAT or FULLNAT (the director must see the replies to
/// translate their acknowledgments).
pub(crate) fn check_service(svc: &SvcRt) -> ipvs_core::errno::Result<()> {
    if !matches!(
        svc.key,
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            ..
        }
    ) {
        return Err(einval(
            c"IPVS_RS_SVC_ATTR_PROXY_PROTOCOL: only TCP services (not UDP, SCTP or fwmark) can send a PROXY protocol header",
        ));
    }
    if svc.with(|i| i.dests.iter().any(|d| !translatable(d.conf.fwd))) {
        return Err(einval(
            c"IPVS_RS_SVC_ATTR_PROXY_PROTOCOL: the service has DR or TUN real servers; the PROXY protocol works with NAT and FULLNAT only",
        ));
    }
    Ok(())
}

/// A DR or TUN real server cannot join a service that sends the header.
pub(crate) fn check_dest(svc: &SvcRt, conf: &DestConf) -> ipvs_core::errno::Result<()> {
    if svc.proxy_version().is_on() && !translatable(conf.fwd) {
        return Err(einval(
            c"IPVS_DEST_ATTR_FWD_METHOD: the service sends a PROXY protocol header, which works with NAT and FULLNAT real servers only",
        ));
    }
    Ok(())
}

/// The header of `conn` in `buf`: client address and port to virtual
/// address and port.
fn header(conn: &Conn, version: ProxyVersion, buf: &mut [u8; HEADER_MAX_LEN]) -> Option<usize> {
    let t = &conn.tuple;
    proxy_header(buf, version, (t.caddr, t.cport), (t.vaddr, t.vport)).ok()
}

/// The PROXY protocol state for a new TCP connection whose client's SYN
/// had sequence number `client_isn`, if its service sends the header.
pub(crate) fn new_conn(conn: &Conn, client_isn: u32) -> Option<ProxyConn> {
    let version = conn.svc.proxy_version();
    if !version.is_on() || conn.proto != Protocol::Tcp || !translatable(conn.fwd) {
        return None;
    }
    let mut buf = [0u8; HEADER_MAX_LEN];
    let len = header(conn, version, &mut buf)?;
    Some(ProxyConn {
        version,
        stream: ProxyStream::new(client_isn, u32::try_from(len).ok()?),
        acked: AtomicBool::new(false),
        sent: AtomicBool::new(false),
    })
}

/// A connection just created by the client's SYN (`dataplane::request`):
/// gives it its PROXY protocol state if its service sends the header.
/// False if that was needed but could not be allocated (drop the SYN: a
/// connection without the header would be refused by the server).
pub(crate) fn attach(net: NetRef<'_>, conn: &Conn, skb: &mut SkBuff, info: &PacketInfo) -> bool {
    if !conn.svc.proxy_version().is_on() || info.tcp_flags & SYN == 0 || conn.ext().is_some() {
        return true;
    }
    let Some(seg) = synproxy::segment(skb, info) else {
        return true;
    };
    let Some(p) = new_conn(conn, seg.seq) else {
        return true;
    };
    let Some(ext) = ConnExt::direct(net, p) else {
        return false;
    };
    // SAFETY: fresh from ConnExt::direct, handed over (freed by set_ext
    // if the connection has one already).
    unsafe { conn.set_ext(ext) };
    true
}

/// Builds the header segment in front of the client segment in `skb`
/// (parsed as `info`), translates it with `adj` (SYNPROXY's) and sends it
/// to the real server.
fn send_header(
    st: &NetState,
    net: NetRef<'_>,
    conn: &Conn,
    p: &ProxyConn,
    skb: &mut SkBuff,
    info: &PacketInfo,
    adj: &TcpAdjust,
) -> bool {
    let mut hdr = [0u8; HEADER_MAX_LEN];
    let Some(hlen) = header(conn, p.version, &mut hdr) else {
        return false;
    };
    let Some(tmpl) = synproxy::headers(skb, info) else {
        return false;
    };
    let mut out = [0u8; HEADER_SEGMENT_MAX_LEN];
    let Some(n) = hdr
        .get(..hlen)
        .and_then(|h| header_segment(tmpl, h, &mut out).ok())
    else {
        return false;
    };
    let Some(seg) = out.get_mut(..n) else {
        return false;
    };
    if !adj.is_identity() && tcp_adjust(seg, adj, CsumMode::Full).is_err() {
        return false;
    }
    let Ok(sinfo) = packet::parse_packet(seg) else {
        return false;
    };
    let Some(mut hskb) = synproxy::alloc(seg) else {
        return false;
    };
    let c = &conn.svc.ext_counters;
    if p.sent.swap(true, Ordering::Relaxed) {
        c.proxy_resent.fetch_add(1, Ordering::Relaxed);
    }
    c.proxy_sent.fetch_add(1, Ordering::Relaxed);
    let timeouts = st.timeouts.get();
    conn.packet(
        Direction::Input,
        dataplane::tcp_event(&mut hskb, &sinfo),
        &timeouts,
    );
    conn.count_inbound(&st.total, n);
    synproxy::forward(hskb, net, conn, &sinfo)
}

/// A client segment of a connection with a header (`skb`, parsed as
/// `info`), with `adj` (SYNPROXY's translation, identity without it)
/// still to apply. `Ok(skb)`: forward it (now translated); `Err(Drop)`:
/// replaced by the header segment, or untranslatable.
pub(crate) fn to_server(
    st: &NetState,
    net: NetRef<'_>,
    conn: &Conn,
    p: &ProxyConn,
    mut skb: SkBuff,
    info: &PacketInfo,
    adj: &TcpAdjust,
) -> Result<SkBuff, Verdict> {
    let flags = info.tcp_flags;
    let Some(seg) = synproxy::segment(&mut skb, info) else {
        return Err(Verdict::Drop(DropReason::Header));
    };
    let acked = p.acked.load(Ordering::Relaxed);
    match p.stream.client_segment(acked, seg.seq, seg.payload, flags) {
        ClientAction::Forward => {}
        ClientAction::HeaderFirst => {
            send_header(st, net, conn, p, &mut skb, info, adj);
        }
        ClientAction::HeaderInstead => {
            send_header(st, net, conn, p, &mut skb, info, adj);
            return Err(Verdict::Drop(DropReason::ProxyHeader));
        }
    }
    let moved = TcpAdjust {
        seq: adj.seq.wrapping_add(p.stream.seq_delta(flags)),
        ..*adj
    };
    if synproxy::adjust(&mut skb, info, &moved, None) {
        Ok(skb)
    } else {
        Err(Verdict::Drop(DropReason::Header))
    }
}

/// An ICMP error about a client segment of `conn` (`len` bytes of `skb`,
/// addresses already translated for the client): the quoted sequence
/// number back in the client's space, so its TCP accepts the error (a
/// fragmentation-needed one especially). False if it could not be.
pub(crate) fn quoted_seq(conn: &Conn, skb: &mut SkBuff, len: usize) -> bool {
    let Some(p) = conn.ext().and_then(|e| e.proxy.as_ref()) else {
        return true;
    };
    let gap = p.stream.gap;
    let ok = skb
        .header_mut(len)
        .is_some_and(|buf| icmp_quoted_tcp_seq(buf, |s| gap.map(s)).is_ok());
    if ok {
        skb.csum_rewritten();
    }
    ok
}

/// A server segment of a connection with a header, translated for the
/// client: `adj` (SYNPROXY's, identity without it), acknowledgments out
/// of the header's bytes. Notes when the server has acknowledged the
/// header. False if the segment could not be translated.
pub(crate) fn from_server(
    skb: &mut SkBuff,
    info: &PacketInfo,
    p: &ProxyConn,
    adj: &TcpAdjust,
) -> bool {
    if info.tcp_flags & ACK != 0 && !p.acked.load(Ordering::Relaxed) {
        if let Some(seg) = synproxy::segment(skb, info) {
            if p.stream.gap.covered_by(seg.ack_seq) {
                p.acked.store(true, Ordering::Relaxed);
            }
        }
    }
    synproxy::adjust(skb, info, adj, Some(p.stream.gap))
}
