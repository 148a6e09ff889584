// SPDX-License-Identifier: GPL-2.0
//! The packet path: what the netfilter hooks do with a packet.
//!
//! Requests (client → virtual service, LOCAL_IN): find the connection, or
//! schedule a real server and create one, run the state machine, and send
//! the packet to the real server (`xmit.rs`). Replies (real server →
//! client through the director, FORWARD): find the NAT connection and
//! rewrite the source back to the virtual address.
//!
//! Persistence templates are in `persist.rs`, ICMP errors in `icmp.rs`.
//! IPv4, TCP/UDP/SCTP. Not yet: fragments (left to the stack), IPv6.

use crate::conn::{ClientHash, Conn};
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu;
use crate::kbind::skb::{SkBuff, CHECKSUM_PARTIAL};
use crate::netns::NetState;
use crate::persist;
use crate::services::{DestList, DestRt, SvcInner, SvcRt};
use crate::sysctl::Sysctl;
use crate::xmit;
use core::ffi::c_uint;
use core::sync::atomic::Ordering;
use ipvs_core::conn::key::{ConnTuple, InKey, OutKey};
use ipvs_core::conn::persist as persist_keys;
use ipvs_core::conn::proto::{ConnState, Event};
use ipvs_core::conn::reuse::{self, Existing, ExistingConn};
use ipvs_core::conn::tcp::TcpState;
use ipvs_core::conn::{bind_flags, dest_conn_flags, flags as conn_flags, Direction};
use ipvs_core::drops::DropReason;
use ipvs_core::packet::tcpflags::tcp_flags_invalid;
use ipvs_core::packet::{self, icmp, CsumMode, Fragment, PacketInfo};
use ipvs_core::sched::{SchedInput, SchedKind};
use ipvs_core::service::{svc_flags, DestConf, FwdMethod, Protocol, ServiceConf, ServiceKey};
use kernel::sync::Arc;

/// Header bytes the path needs linear: IPv4 header with options (60) plus
/// a TCP header with options (60).
const HEADERS: usize = 120;

/// A hook's answer.
pub(crate) enum Verdict {
    /// Let the packet continue.
    Accept,
    /// Drop it, for this reason (counted in the drop ledger).
    Drop(DropReason),
    /// We took it (sent or freed).
    Stolen,
}

impl Verdict {
    pub(crate) fn raw(self) -> c_uint {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
            Verdict::Drop(_) => bindings::NF_DROP,
            Verdict::Stolen => bindings::NF_STOLEN,
        }
    }
}

pub(crate) fn csum_mode(skb: &SkBuff) -> CsumMode {
    csum_mode_of(skb.ip_summed())
}

/// The checksum mode of an skb whose `ip_summed` is `summed`.
fn csum_mode_of(summed: u8) -> CsumMode {
    if summed == CHECKSUM_PARTIAL {
        CsumMode::Partial
    } else {
        CsumMode::Full
    }
}

/// The packet's IP and transport headers (as parsed in `info`) made
/// writable once for an in-place rewrite ([`SkBuff::rewrite_header`]),
/// with the checksum mode the rewrite must keep.
pub(crate) fn rewrite_headers<'a>(
    skb: &'a mut SkBuff,
    info: &PacketInfo,
) -> Option<(&'a mut [u8], CsumMode)> {
    let (buf, summed) = skb.rewrite_header(info.l4_off + l4_hdr_len(info))?;
    Some((buf, csum_mode_of(summed)))
}

/// A TCP/UDP/SCTP packet (not a fragment) as the hooks see it after one
/// look at its headers: everything later steps need, copied out, so the
/// headers are pulled and parsed once per hook.
pub(crate) struct Pkt {
    pub(crate) info: PacketInfo,
    pub(crate) proto: Protocol,
    /// What the packet means to the connection's state machine.
    pub(crate) event: Option<Event>,
    /// SCTP: the first chunk's type.
    pub(crate) chunk: Option<u8>,
    /// Bytes from the network header on.
    pub(crate) len: usize,
}

/// The first look at a packet.
enum Look {
    /// Not IPv4, or too short to tell.
    Other,
    /// An IPv4 packet of this protocol the director does not parse here
    /// (ICMP, fragments, other protocols, malformed headers).
    Ip { proto: u8, fragment: bool },
    /// A packet the director may handle.
    Pkt(Pkt),
}

/// Pulls and parses the headers once. The director's own packets (already
/// handled, `ipvs_property`) are `Other`: every hook lets them pass.
///
/// Inlined into its callers: the parse lands in the caller's `Pkt`
/// without copies.
#[inline(always)]
fn look(skb: &mut SkBuff) -> Look {
    let Some((buf, len)) = skb.first_look(HEADERS) else {
        return Look::Other;
    };
    // The common case first: a whole TCP, UDP or SCTP packet.
    let info = match packet::parse_packet(buf) {
        Ok(info) if info.has_ports && info.fragment == Fragment::None => info,
        _ => return classify(buf),
    };
    let Some(proto) = info.protocol() else {
        return classify(buf);
    };
    let l4 = buf.get(info.l4_off..).unwrap_or(&[]);
    Look::Pkt(Pkt {
        info,
        proto,
        event: Event::parse(proto, l4),
        chunk: l4.get(packet::l4::SCTP_HLEN).copied(),
        len,
    })
}

/// What [`look`] says of a packet that is not a whole TCP, UDP or SCTP
/// packet with valid headers (`parse_packet` failed, a fragment, another
/// protocol).
#[cold]
fn classify(buf: &[u8]) -> Look {
    let (Some(&vihl), Some(&proto), Some(&f0), Some(&f1)) =
        (buf.first(), buf.get(9), buf.get(6), buf.get(7))
    else {
        return Look::Other;
    };
    if vihl >> 4 != 4 {
        return Look::Other;
    }
    let fragment = u16::from_be_bytes([f0, f1]) & 0x3fff != 0;
    Look::Ip { proto, fragment }
}

/// The transport header on of a packet parsed as `info` (as far as
/// linear; empty if not).
pub(crate) fn l4<'a>(skb: &'a mut SkBuff, info: &PacketInfo) -> &'a [u8] {
    let len = skb.len().min(HEADERS);
    skb.header(len)
        .and_then(|b| b.get(info.l4_off..))
        .unwrap_or(&[])
}

/// The state-machine event of a TCP packet parsed as `info`.
pub(crate) fn tcp_event(skb: &mut SkBuff, info: &PacketInfo) -> Option<Event> {
    Event::parse(Protocol::Tcp, l4(skb, info))
}

/// Protocol, source and destination of an IPv4 packet, from its fixed
/// header alone (the reply hooks' first glance).
struct IpGlance {
    proto: u8,
    saddr: [u8; 4],
    daddr: [u8; 4],
}

fn glance(skb: &mut SkBuff) -> Option<IpGlance> {
    let h = skb.header(packet::ipv4::IPV4_MIN_HLEN)?;
    let ip = h.first_chunk::<20>()?;
    let [vihl, _, _, _, _, _, _, _, _, proto, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = *ip;
    (vihl >> 4 == 4).then_some(IpGlance {
        proto,
        saddr: [s0, s1, s2, s3],
        daddr: [d0, d1, d2, d3],
    })
}

/// The IP protocol of a packet, if it has a plausible IPv4 header.
pub(crate) fn ip_proto(skb: &mut SkBuff) -> Option<u8> {
    glance(skb).map(|g| g.proto)
}

/// LOCAL_IN: requests from remote clients to a virtual service.
pub(crate) fn remote_request(skb: SkBuff, net: NetRef<'_>) -> Verdict {
    request(skb, net, false)
}

/// LOCAL_OUT: requests from clients on the director. Most packets here
/// are the director's own, sent on by `xmit.rs` (`ipvs_property`): they
/// pass before the request path sets up.
pub(crate) fn local_request(skb: SkBuff, net: NetRef<'_>) -> Verdict {
    if skb.is_ipvs_property() {
        return Verdict::Accept;
    }
    request(skb, net, true)
}

/// Requests to a virtual service (`ip_vs_in_hook`).
fn request(mut skb: SkBuff, net: NetRef<'_>, local: bool) -> Verdict {
    // Our own packets (sent through LOCAL_OUT) are `Other` at once.
    let pkt = match look(&mut skb) {
        Look::Pkt(p) => p,
        Look::Ip {
            proto: packet::IPPROTO_ICMP,
            ..
        } => return crate::icmp::from_client(skb, net, Hook::LocalIn),
        _ => return Verdict::Accept,
    };
    let Some(st) = NetState::get(net) else {
        return Verdict::Accept;
    };
    let info = &pkt.info;
    let proto = pkt.proto;
    // RCU: netfilter runs every hook inside rcu_read_lock() (nf_hook()),
    // which keeps the connections and services found here alive.
    let key = InKey {
        protocol: proto.raw(),
        caddr: info.saddr,
        cport: info.sport,
        vaddr: info.daddr,
        vport: info.dport,
    };
    let (found, hash) = st.conns.find_in_hashed(&key);
    // Flag combinations no TCP sends are dropped for connections and
    // services alike (schedule() checks the latter).
    if proto == Protocol::Tcp && found.is_some() {
        if let Some(class) = tcp_flags_invalid(info.tcp_flags) {
            st.defence.invalid(class);
            return Verdict::Drop(DropReason::TcpFlags);
        }
    }
    let found = match found {
        Some(c) => match existing(st, c, &pkt) {
            Existing::Use => Some(c),
            Existing::Reschedule => {
                c.expire_now();
                None
            }
            Existing::Drop => return Verdict::Drop(DropReason::ConnBusy),
        },
        None => None,
    };
    let conn = match found {
        Some(c) => c,
        None => {
            // SYNPROXY (synproxy.rs): cookie SYN-ACKs, validated ACKs.
            if proto == Protocol::Tcp {
                skb = match crate::synproxy::no_conn(st, net, skb, info) {
                    Ok(s) => s,
                    Err(v) => return v,
                };
            }
            let c = match schedule(st, &mut skb, info, Some(pkt.chunk), Some(&hash)) {
                Ok(c) => c,
                Err(v) => return v,
            };
            // PROXY protocol (proxy_protocol.rs): the header's state.
            if proto == Protocol::Tcp && !crate::proxy_protocol::attach(net, c, &mut skb, info) {
                c.expire_now();
                return Verdict::Drop(DropReason::NoEntry);
            }
            c
        }
    };
    if local {
        conn.mark_local_client();
    }
    // SYNPROXY (synproxy.rs): held while waiting, or translated in place
    // (lengths and the parse stay as they were).
    if proto == Protocol::Tcp && conn.ext().is_some() {
        skb = match crate::synproxy::to_server(st, net, conn, skb, info) {
            Ok(s) => s,
            Err(v) => return v,
        };
    }
    let timeouts = st.timeouts.get();
    if !conn.packet(Direction::Input, pkt.event, &timeouts) {
        // Expiring under us: let the next packet schedule afresh.
        return Verdict::Drop(DropReason::ConnBusy);
    }
    conn.count_inbound(&st.total, pkt.len);
    let one_packet = conn.flags() & conn_flags::ONE_PACKET != 0;
    let v = xmit::forward(skb, net, conn, info);
    if one_packet {
        conn.expire_now();
    }
    v
}

/// What a packet does with the connection it found (`ip_vs_in_hook`):
/// new connection attempts on finished connections are scheduled afresh
/// (`conn_reuse_mode`), connections of removed real servers drop or
/// expire (`expire_nodest_conn`).
fn existing(st: &NetState, c: &Conn, pkt: &Pkt) -> Existing {
    // UDP never opens a connection on an existing one (`is_new_conn`):
    // only a removed real server changes anything.
    if c.proto == Protocol::Udp && c.dest.available.load(Ordering::Acquire) {
        return Existing::Use;
    }
    let (state, flags) = c.state();
    // A TCP connection that has not seen its first packet yet is still
    // being set up on another CPU (its SYNPROXY or PROXY protocol state
    // not attached yet): only a repeated SYN may pass meanwhile.
    if state == ConnState::Tcp(TcpState::None)
        && pkt.info.tcp_flags & packet::l4::tcp_flags::SYN == 0
    {
        return Existing::Drop;
    }
    let new_conn = reuse::is_new_conn(state, pkt.info.tcp_flags, pkt.chunk);
    let dest_available = c.dest.available.load(Ordering::Acquire);
    // The common case, decided without the sysctls: not a new connection
    // attempt, real server still there.
    if !new_conn && dest_available {
        return Existing::Use;
    }
    let reuse_mode = st.sysctl.get(Sysctl::ConnReuseMode);
    reuse::existing(&ExistingConn {
        new_conn,
        expected: reuse::new_conn_expected(state, flags, c.controlled(), reuse_mode),
        controls_others: false,
        dest_available,
        dest_weight: c.dest.weight.load(Ordering::Relaxed),
        conn_reuse_mode: reuse_mode,
        expire_nodest_conn: st.sysctl.on(Sysctl::ExpireNodestConn),
    })
}

/// Which hook a packet came through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    LocalIn,
    Forward,
}

/// Whether the first packet of a connection may create it: TCP only on a
/// SYN without RST (any packet but RST with `sloppy_tcp`), SCTP on INIT
/// (any chunk but ABORT with `sloppy_sctp`), as upstream's
/// `*_conn_schedule`. ICMP errors (`schedule_icmp`) skip the check.
fn may_schedule(st: &NetState, proto: Protocol, info: &PacketInfo, chunk: Option<u8>) -> bool {
    use packet::l4::tcp_flags::{RST, SYN};
    const SCTP_CID_INIT: u8 = 1;
    const SCTP_CID_ABORT: u8 = 6;
    match proto {
        Protocol::Tcp => {
            info.tcp_flags & RST == 0
                && (info.tcp_flags & SYN != 0 || st.sysctl.on(Sysctl::SloppyTcp))
        }
        Protocol::Sctp => match chunk {
            Some(SCTP_CID_ABORT) | None => false,
            Some(SCTP_CID_INIT) => true,
            Some(_) => st.sysctl.on(Sysctl::SloppySctp),
        },
        Protocol::Udp => true,
    }
}

/// Schedules a real server for the first packet of a connection
/// (`ip_vs_try_to_schedule`). `info` is the packet's tuple (for an ICMP
/// error, the inverse of the quoted packet, and `chunk` is `None`; for a
/// packet, `Some` of its first SCTP chunk type, if any). `hint`: the
/// client-side hash of the packet's connection lookup.
pub(crate) fn schedule<'a>(
    st: &'a NetState,
    skb: &mut SkBuff,
    info: &PacketInfo,
    chunk: Option<Option<u8>>,
    hint: Option<&ClientHash>,
) -> Result<&'a Conn, Verdict> {
    let icmp = chunk.is_none();
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
    // TCP flag attacks and ACK/RST/FIN floods end here, counted, before
    // any connection exists (upstream would let the stack answer them with
    // resets). Other packets that may not open a connection (SCTP) go on
    // to the local stack.
    if !icmp && proto == Protocol::Tcp {
        if let Some(class) = tcp_flags_invalid(info.tcp_flags) {
            st.defence.invalid(class);
            return Err(Verdict::Drop(DropReason::TcpFlags));
        }
    }
    if !icmp && !may_schedule(st, proto, info, chunk.flatten()) {
        if proto == Protocol::Tcp {
            st.defence.no_conn();
            return Err(Verdict::Drop(DropReason::TcpNoConn));
        }
        return Err(Verdict::Accept);
    }
    let res = match conf_and_pick(svc, info) {
        Decision::Persistent(conf) => persist::schedule(st, svc, &conf, info),
        Decision::Picked(sflags, picked) => picked.and_then(|(dest, dconf)| {
            let tuple = ConnTuple {
                protocol: proto.raw(),
                caddr: info.saddr,
                cport: info.sport,
                vaddr: info.daddr,
                vport: info.dport,
                daddr: dest.key.addr,
                dport: persist_keys::conn_dport(info.dport, dest.key.port),
            };
            let flags = conn_flags_of(sflags, &dconf, proto);
            new_conn(st, svc, tuple, dest, &dconf, flags, None, hint)
        }),
    };
    match res {
        Ok(c) => Ok(c),
        Err(Unscheduled::NoDest) => {
            // No real server available: tell the client, as upstream does.
            if !icmp {
                skb.icmp_send4(icmp::ICMP_DEST_UNREACH, 3 /* port unreachable */, 0);
            }
            Err(Verdict::Drop(DropReason::NoDest))
        }
        Err(Unscheduled::NoMemory) => Err(Verdict::Drop(DropReason::NoEntry)),
    }
}

/// Why no connection was made.
pub(crate) enum Unscheduled {
    /// The scheduler found no available real server.
    NoDest,
    /// The table is full or memory is short.
    NoMemory,
}

/// A real server chosen by a scheduler, with its settings.
pub(crate) type Picked = Result<(Arc<DestRt>, DestConf), Unscheduled>;

/// Asks the service's scheduler for a real server.
pub(crate) fn pick(svc: &SvcRt, info: &PacketInfo) -> Picked {
    svc.with(|inner| pick_locked(inner, info))
        .ok_or(Unscheduled::NoDest)
}

/// What [`conf_and_pick`] decided.
enum Decision {
    /// A persistent service (templates decide first): its configuration.
    Persistent(ServiceConf),
    /// The service's flags and its scheduler's choice.
    Picked(u32, Picked),
}

/// The service's configuration if it is persistent (templates decide
/// first), otherwise its flags and its scheduler's choice: one trip
/// through the lock.
fn conf_and_pick(svc: &SvcRt, info: &PacketInfo) -> Decision {
    svc.with(|inner| {
        let flags = inner.conf.flags;
        if flags & svc_flags::PERSISTENT != 0 {
            return Decision::Persistent(inner.conf);
        }
        Decision::Picked(flags, pick_locked(inner, info).ok_or(Unscheduled::NoDest))
    })
}

fn pick_locked(inner: &mut SvcInner, info: &PacketInfo) -> Option<(Arc<DestRt>, DestConf)> {
    let sched = inner.sched.as_mut()?;
    let mut input = SchedInput::new(info.saddr, info.sport, info.daddr, info.dport);
    input.svc_flags = inner.conf.flags;
    input.now = rcu::jiffies();
    // Only twos draws at random: no random number for the others.
    if sched.kind() == SchedKind::Twos {
        input.random = rcu::random_u64();
    }
    let i = sched.schedule(&DestList(&inner.dests), &input)?;
    let d = inner.dests.get(i)?;
    Some((d.rt.clone(), d.conf))
}

/// The flags of a new connection to a real server with `dconf`.
pub(crate) fn conn_flags_for(conf: &ServiceConf, dconf: &DestConf, proto: Protocol) -> u32 {
    conn_flags_of(conf.flags, dconf, proto)
}

/// [`conn_flags_for`] from the service's flags alone.
fn conn_flags_of(sflags: u32, dconf: &DestConf, proto: Protocol) -> u32 {
    let one_packet = if sflags & svc_flags::ONEPACKET != 0 && proto == Protocol::Udp {
        conn_flags::ONE_PACKET
    } else {
        0
    };
    bind_flags(one_packet, dest_conn_flags(dconf.fwd, 0), proto.raw())
}

/// Creates a connection and counts it (`hint`: see [`schedule`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_conn<'a>(
    st: &'a NetState,
    svc: &Arc<SvcRt>,
    tuple: ConnTuple,
    dest: Arc<DestRt>,
    dconf: &DestConf,
    flags: u32,
    control: Option<&Conn>,
    hint: Option<&ClientHash>,
) -> Result<&'a Conn, Unscheduled> {
    let proto = Protocol::from_raw(tuple.protocol).ok_or(Unscheduled::NoMemory)?;
    let fnat = if dconf.fwd == FwdMethod::FullNat {
        // No local port: counted per address and service, the packet is
        // dropped (the client retries).
        let Some(f) = svc.fnat_alloc(proto) else {
            if let Some(t) = control {
                t.release_control();
            }
            return Err(Unscheduled::NoMemory);
        };
        Some(f)
    } else {
        None
    };
    let c = st
        .conns
        .create(
            tuple,
            proto,
            dconf.fwd,
            flags,
            dest,
            svc.clone(),
            control,
            0,
            fnat,
            hint,
        )
        .ok_or(Unscheduled::NoMemory)?;
    svc.stats.conn3(&c.dest.stats, &st.total);
    Ok(c)
}

/// LOCAL_IN: replies to clients on the director (NAT connections made at
/// LOCAL_OUT) and to FULLNAT local addresses, ICMP errors to the director.
/// Every request to a virtual service passes here first, so while no
/// client on the director has a connection, only ICMP and packets to an
/// address some FULLNAT connection uses as its local address (bucketed)
/// are looked at.
pub(crate) fn local_in_reply(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    let Some(st) = NetState::get(net) else {
        return Verdict::Accept;
    };
    if st.conns.local_clients.load(Ordering::Relaxed) == 0 {
        match glance(&mut skb) {
            Some(g) if g.proto == packet::IPPROTO_ICMP => {
                return crate::icmp::from_server(skb, net)
            }
            Some(g) if !st.conns.may_fnat_reply_to(g.daddr) => return Verdict::Accept,
            None => return Verdict::Accept,
            Some(_) => {}
        }
    }
    reply(skb, net)
}

/// FORWARD: replies from real servers of NAT connections. Most forwarded
/// traffic is not: a packet from an address no NAT or FULLNAT real server
/// of a connection has passes after one look at its IP header (unless
/// `nat_icmp_send` wants a word with real servers sending without a
/// connection).
pub(crate) fn forward_reply(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    if let Some(st) = NetState::get(net) {
        if !st.sysctl.on(Sysctl::NatIcmpSend) {
            let passes = glance(&mut skb).is_some_and(|g| {
                g.proto != packet::IPPROTO_ICMP && !st.conns.may_reply_from(g.saddr)
            });
            if passes {
                return Verdict::Accept;
            }
        }
    }
    reply(skb, net)
}

/// Replies from real servers (NAT and FULLNAT connections), at FORWARD
/// and LOCAL_IN.
fn reply(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    // Packets the director sent itself are final (`Other`).
    let mut first = look(&mut skb);
    if let Look::Ip {
        proto:
            packet::IPPROTO_TCP | packet::IPPROTO_UDP | packet::IPPROTO_SCTP | packet::IPPROTO_ICMP,
        fragment: true,
    } = first
    {
        // Fragments of replies through the director are reassembled first
        // (LOCAL_IN ones already were by the stack), as upstream does; the
        // output path fragments the translated datagram again. Like
        // upstream, only once a service exists (`ipvs->enable`) and for
        // the protocols it translates.
        let enabled = NetState::get(net)
            .and_then(|st| st.published.get())
            .is_some_and(|snap| !snap.list.is_empty());
        if enabled {
            match skb.defrag4(net) {
                Some(whole) => skb = whole,
                None => return Verdict::Stolen,
            }
            first = look(&mut skb);
        }
    }
    let pkt = match first {
        Look::Pkt(p) => p,
        Look::Ip {
            proto: packet::IPPROTO_ICMP,
            ..
        } => return crate::icmp::from_server(skb, net),
        _ => return Verdict::Accept,
    };
    let Some(st) = NetState::get(net) else {
        return Verdict::Accept;
    };
    let info = &pkt.info;
    let proto = pkt.proto;
    // RCU: netfilter runs every hook inside rcu_read_lock() (nf_hook()),
    // which keeps the connections and services found here alive.
    if st.conns.fnat_count.load(Ordering::Relaxed) != 0 {
        if let Some(c) = st.conns.find_fnat(
            proto.raw(),
            &info.daddr,
            info.dport,
            &info.saddr,
            info.sport,
        ) {
            // SYNPROXY (synproxy.rs): the server's SYN-ACK, translation.
            if proto == Protocol::Tcp && c.ext().is_some() {
                if let Some(v) = crate::synproxy::from_server(st, net, c, &mut skb, info) {
                    return v;
                }
            }
            return xmit::fnat_reply(st, skb, net, c, &pkt);
        }
    }
    let key = OutKey {
        protocol: proto.raw(),
        raddr: info.saddr,
        rport: info.sport,
        caddr: info.daddr,
        cport: info.dport,
    };
    let Some(conn) = st.conns.find_out(&key) else {
        return no_conn_reply(st, skb, &pkt);
    };
    if conn.fwd != FwdMethod::Masq {
        return Verdict::Accept;
    }
    // SYNPROXY (synproxy.rs): the server's SYN-ACK, translation.
    if proto == Protocol::Tcp && conn.ext().is_some() {
        if let Some(v) = crate::synproxy::from_server(st, net, conn, &mut skb, info) {
            return v;
        }
    }
    let timeouts = st.timeouts.get();
    conn.packet(Direction::Output, pkt.event, &timeouts);
    let Some((buf, mode)) = rewrite_headers(&mut skb, info) else {
        return Verdict::Drop(DropReason::Header);
    };
    if packet::snat_parsed(buf, info, conn.tuple.vaddr, conn.tuple.vport, mode).is_err() {
        return Verdict::Drop(DropReason::Header);
    }
    conn.count_outbound(&st.total, pkt.len);
    Verdict::Accept
}

/// A packet from a NAT real server's address and port without a
/// connection: with `nat_icmp_send`, the server is told (port unreachable,
/// except for resets) and the packet dropped, as upstream's
/// `ip_vs_out_hook`; otherwise it passes.
fn no_conn_reply(st: &NetState, mut skb: SkBuff, pkt: &Pkt) -> Verdict {
    let (info, proto) = (&pkt.info, pkt.proto);
    if !st.sysctl.on(Sysctl::NatIcmpSend) {
        return Verdict::Accept;
    }
    let Some(snap) = st.published.get() else {
        return Verdict::Accept;
    };
    let is_real = snap.list.iter().any(|s| {
        let svc_proto = match s.key {
            ServiceKey::Addr { proto: p, .. } => Some(p),
            ServiceKey::Fwmark { .. } => None,
        };
        svc_proto.map_or(true, |p| p == proto)
            && s.with(|i| {
                i.dests.iter().any(|d| {
                    d.conf.fwd == FwdMethod::Masq
                        && d.rt.key.addr == info.saddr
                        && d.rt.key.port == info.sport
                })
            })
    });
    if !is_real {
        return Verdict::Accept;
    }
    let reset = match proto {
        Protocol::Tcp => info.tcp_flags & packet::l4::tcp_flags::RST != 0,
        // SCTP ABORT.
        Protocol::Sctp => pkt.chunk == Some(6),
        Protocol::Udp => false,
    };
    if reset {
        return Verdict::Accept;
    }
    skb.icmp_send4(icmp::ICMP_DEST_UNREACH, 3 /* port unreachable */, 0);
    Verdict::Drop(DropReason::ReplyNoConn)
}

/// Length of the transport header fields NAT rewrites (ports, checksum).
pub(crate) fn l4_hdr_len(info: &PacketInfo) -> usize {
    match info.proto {
        packet::IPPROTO_TCP => packet::l4::TCP_MIN_HLEN,
        packet::IPPROTO_UDP => packet::l4::UDP_HLEN,
        _ => packet::l4::SCTP_HLEN,
    }
}
