// SPDX-License-Identifier: GPL-2.0
//! The packet path: what the netfilter hooks do with a packet.
//!
//! Requests (client → virtual service, LOCAL_IN): find the connection, or
//! schedule a real server and create one, run the state machine, and send
//! the packet to the real server (`xmit.rs`). Replies (real server →
//! client through the director, FORWARD): find the NAT connection and
//! rewrite the source back to the virtual address.
//!
//! IPv4, TCP/UDP/SCTP. Not yet: ICMP errors for connections, persistence
//! templates, fragments (left to the stack), IPv6.

use crate::conn::Conn;
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu;
use crate::kbind::skb::{SkBuff, CHECKSUM_PARTIAL};
use crate::netns::NetState;
use crate::services::DestList;
use crate::xmit;
use core::ffi::c_uint;
use ipvs_core::conn::key::{ConnTuple, InKey, OutKey};
use ipvs_core::conn::{dest_conn_flags, Direction};
use ipvs_core::packet::{self, icmp, CsumMode, Fragment, PacketInfo};
use ipvs_core::sched::SchedInput;
use ipvs_core::service::{FwdMethod, Protocol, ServiceKey};

/// Header bytes the path needs linear: IPv4 header with options (60) plus
/// a TCP header with options (60).
const HEADERS: usize = 120;

/// A hook's answer.
pub(crate) enum Verdict {
    /// Let the packet continue.
    Accept,
    /// Drop it.
    Drop,
    /// We took it (sent or freed).
    Stolen,
}

impl Verdict {
    pub(crate) fn raw(self) -> c_uint {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
            Verdict::Drop => bindings::NF_DROP,
            Verdict::Stolen => bindings::NF_STOLEN,
        }
    }
}

pub(crate) fn csum_mode(skb: &SkBuff) -> CsumMode {
    if skb.ip_summed() == CHECKSUM_PARTIAL {
        CsumMode::Partial
    } else {
        CsumMode::Full
    }
}

/// Parses the headers; `None` for anything the director does not handle.
fn parse(skb: &mut SkBuff) -> Option<PacketInfo> {
    let len = skb.len().min(HEADERS);
    let buf = skb.header(len)?;
    let info = packet::parse_packet(buf).ok()?;
    (info.protocol().is_some() && info.has_ports && info.fragment == Fragment::None).then_some(info)
}

fn l4<'a>(skb: &'a mut SkBuff, info: &PacketInfo) -> &'a [u8] {
    let len = skb.len().min(HEADERS);
    skb.header(len)
        .and_then(|b| b.get(info.l4_off..))
        .unwrap_or(&[])
}

/// What both directions start from: the namespace's state and the parsed
/// headers, or `None` for packets the director leaves alone (its own, in a
/// namespace without ipvs_rs, or not TCP/UDP/SCTP first fragments).
fn classify<'a>(skb: &mut SkBuff, net: NetRef<'a>) -> Option<(&'a NetState, PacketInfo, Protocol)> {
    if skb.is_ipvs_property() {
        return None;
    }
    let st = NetState::get(net)?;
    let info = parse(skb)?;
    let proto = info.protocol()?;
    Some((st, info, proto))
}

/// LOCAL_IN requests to a virtual service.
pub(crate) fn request(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    let Some((st, info, proto)) = classify(&mut skb, net) else {
        return Verdict::Accept;
    };
    let _rcu = rcu::RcuGuard::new();
    let timeouts = st.timeouts.get();
    let key = InKey {
        protocol: proto.raw(),
        caddr: info.saddr,
        cport: info.sport,
        vaddr: info.daddr,
        vport: info.dport,
    };
    let conn = match st.conns.find_in(&key) {
        Some(c) => c,
        None => match schedule(st, &mut skb, &info) {
            Ok(c) => c,
            Err(v) => return v,
        },
    };
    let bytes = skb.len();
    let dir = Direction::Input;
    if !conn.packet(dir, l4(&mut skb, &info), &timeouts) {
        // Expiring under us: let the next packet schedule afresh.
        return Verdict::Drop;
    }
    conn.svc.stats.inbound(bytes);
    conn.dest.stats.inbound(bytes);
    st.total.inbound(bytes);
    xmit::forward(skb, net, conn, &info)
}

/// Schedules a real server for the first packet of a connection.
fn schedule<'a>(
    st: &'a NetState,
    skb: &mut SkBuff,
    info: &PacketInfo,
) -> Result<&'a Conn, Verdict> {
    let proto = info.protocol().ok_or(Verdict::Accept)?;
    let snap = st.published.get().ok_or(Verdict::Accept)?;
    let by_addr = ServiceKey::Addr {
        proto,
        addr: info.daddr,
        port: info.dport,
    };
    let svc = match snap.find(&by_addr) {
        Some(s) => s,
        None => {
            let mark = skb.mark();
            if mark == 0 {
                return Err(Verdict::Accept);
            }
            let by_mark = ServiceKey::Fwmark { af: info.af, mark };
            snap.find(&by_mark).ok_or(Verdict::Accept)?
        }
    };
    // Upstream schedules TCP only on a SYN (without RST); other packets
    // without a connection go on to the local stack, which resets them.
    if proto == Protocol::Tcp
        && (info.tcp_flags & packet::l4::tcp_flags::SYN == 0
            || info.tcp_flags & packet::l4::tcp_flags::RST != 0)
    {
        return Err(Verdict::Accept);
    }
    let chosen = svc.with(|inner| {
        let sched = inner.sched.as_mut()?;
        let mut input = SchedInput::new(info.saddr, info.sport, info.daddr, info.dport);
        input.svc_flags = inner.conf.flags;
        input.now = rcu::jiffies();
        input.random = rcu::random_u64();
        let i = sched.schedule(&DestList(&inner.dests), &input)?;
        let d = inner.dests.get(i)?;
        Some((d.rt.clone(), d.conf))
    });
    let Some((dest, conf)) = chosen else {
        // No real server available: tell the client, as upstream does.
        skb.icmp_send4(icmp::ICMP_DEST_UNREACH, 3 /* port unreachable */, 0);
        return Err(Verdict::Drop);
    };
    let dport = if dest.key.port == 0 {
        info.dport
    } else {
        dest.key.port
    };
    let tuple = ConnTuple {
        protocol: proto.raw(),
        caddr: info.saddr,
        cport: info.sport,
        vaddr: info.daddr,
        vport: info.dport,
        daddr: dest.key.addr,
        dport,
    };
    let flags = dest_conn_flags(conf.fwd, 0);
    svc.stats.conn();
    dest.stats.conn();
    st.total.conn();
    st.conns
        .create(tuple, proto, conf.fwd, flags, dest, svc.clone())
        .ok_or(Verdict::Drop)
}

/// FORWARD (and LOCAL_IN) replies from real servers of NAT connections.
pub(crate) fn reply(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    let Some((st, info, proto)) = classify(&mut skb, net) else {
        return Verdict::Accept;
    };
    let _rcu = rcu::RcuGuard::new();
    let key = OutKey {
        protocol: proto.raw(),
        raddr: info.saddr,
        rport: info.sport,
        caddr: info.daddr,
        cport: info.dport,
    };
    let Some(conn) = st.conns.find_out(&key) else {
        return Verdict::Accept;
    };
    if conn.fwd != FwdMethod::Masq {
        return Verdict::Accept;
    }
    let timeouts = st.timeouts.get();
    let bytes = skb.len();
    conn.packet(Direction::Output, l4(&mut skb, &info), &timeouts);
    let mode = csum_mode(&skb);
    let hdr_len = (info.l4_off + l4_hdr_len(&info)).min(skb.len());
    let Some(buf) = skb.header_mut(hdr_len) else {
        return Verdict::Drop;
    };
    if packet::snat(buf, conn.tuple.vaddr, conn.tuple.vport, mode).is_err() {
        return Verdict::Drop;
    }
    skb.csum_rewritten();
    conn.svc.stats.outbound(bytes);
    conn.dest.stats.outbound(bytes);
    st.total.outbound(bytes);
    Verdict::Accept
}

/// Length of the transport header fields NAT rewrites (ports, checksum).
pub(crate) fn l4_hdr_len(info: &PacketInfo) -> usize {
    match info.proto {
        packet::IPPROTO_TCP => packet::l4::TCP_MIN_HLEN,
        packet::IPPROTO_UDP => packet::l4::UDP_HLEN,
        _ => packet::l4::SCTP_HLEN,
    }
}
