// SPDX-License-Identifier: GPL-2.0
//! Sending a request to its real server: NAT (rewrite the destination),
//! DR (keep the packet, route it to the real server's MAC), TUN (IPIP).
//! Upstream's `ip_vs_{nat,dr,tunnel}_xmit`, IPv4.

use crate::conn::Conn;
use crate::dataplane::{self, Pkt, Verdict};
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::route_cache::{ClientRoute, RouteCache};
use crate::kbind::skb::{CachedRoute, DstCache, Route, RouteInfo, SkBuff};
use crate::netns::NetState;
use crate::sysctl::Sysctl;
use core::sync::atomic::Ordering;
use ipvs_core::addr::Addr;
use ipvs_core::drops::DropReason;
use ipvs_core::packet::toa_write::{self, ToaSkip};
use ipvs_core::packet::{self, icmp, ipv4::Ttl, mss, tunnel, CsumMode, PacketInfo};
use ipvs_core::service::{FwdMethod, Protocol};
use ipvs_core::toa::ToaV4;

/// ICMP "time exceeded in transit".
const ICMP_TIME_EXCEEDED: u8 = 11;

fn v4(a: &Addr) -> [u8; 4] {
    let [a0, a1, a2, a3, ..] = a.inet();
    [a0, a1, a2, a3]
}

/// Sends the packet of `conn` to its real server.
pub(crate) fn forward(skb: SkBuff, net: NetRef<'_>, conn: &Conn, info: &PacketInfo) -> Verdict {
    match conn.fwd {
        FwdMethod::Masq => nat(skb, net, conn, info),
        FwdMethod::Droute => dr(skb, net, conn),
        FwdMethod::Tunnel => tun(skb, net, conn),
        // Local node: the real server is this host.
        FwdMethod::Local => Verdict::Accept,
        FwdMethod::Bypass => Verdict::Accept,
        FwdMethod::FullNat => fnat_request(skb, net, conn, info),
    }
}

/// A route to send with: looked up for this packet, or a real server's
/// cached one.
enum Rt {
    Owned(Route),
    Cached(CachedRoute),
}

/// Where [`route`] gets its route from.
enum Via<'a> {
    /// A lookup for this packet.
    Lookup,
    /// A real server's cached route.
    Dest(&'a DstCache),
    /// The namespace's routes by client address (FULLNAT replies).
    Client(&'a RouteCache),
}

/// Routes to `nexthop` (as `via` says), decrements the TTL and checks the
/// MTU (upstream's `__ip_vs_get_out_rt` and `ensure_mtu_is_adequate`).
/// `Err` is the verdict when the packet must not be sent; `Ok(None)` means
/// "deliver locally".
fn route(
    skb: &mut SkBuff,
    net: NetRef<'_>,
    nexthop: &Addr,
    known_nh: bool,
    overhead: u32,
    pmtu_disc: bool,
    via: Via<'_>,
) -> Result<Option<(Rt, [u8; 4], u32)>, Verdict> {
    let Some((rt, saddr, mtu)) = lookup(net, nexthop, known_nh, via)? else {
        return Ok(None);
    };
    let hdr = skb
        .header_mut(packet::ipv4::IPV4_MIN_HLEN)
        .ok_or(Verdict::Drop(DropReason::Header))?;
    let df = hop(hdr).map_err(|e| hop_failed(skb, e))?;
    let mtu = mtu.saturating_sub(overhead);
    mtu_ok(skb, mtu, df, pmtu_disc)?;
    Ok(Some((rt, saddr, mtu)))
}

/// Why [`hop`] refused a packet.
enum HopError {
    /// The TTL ran out.
    Expired,
    /// Not a valid IPv4 header.
    Header,
}

/// Decrements the TTL of the writable IPv4 header at the start of `hdr`
/// (the IP header checksum updated incrementally); returns its DF bit.
#[inline(always)]
fn hop(hdr: &mut [u8]) -> Result<bool, HopError> {
    let df = packet::ipv4::dont_fragment(hdr);
    match packet::ipv4::decrement_ttl(hdr) {
        Ok(Ttl::Decremented(_)) => Ok(df),
        Ok(Ttl::Expired) => Err(HopError::Expired),
        Err(_) => Err(HopError::Header),
    }
}

/// The verdict on a packet [`hop`] refused (time exceeded is reported to
/// its source).
#[cold]
fn hop_failed(skb: &mut SkBuff, e: HopError) -> Verdict {
    match e {
        HopError::Expired => {
            skb.icmp_send4(ICMP_TIME_EXCEEDED, 0, 0);
            Verdict::Drop(DropReason::TtlExpired)
        }
        HopError::Header => Verdict::Drop(DropReason::Header),
    }
}

/// Path MTU discovery: a DF packet longer than `mtu` is refused and its
/// source told how much fits.
fn mtu_ok(skb: &mut SkBuff, mtu: u32, df: bool, pmtu_disc: bool) -> Result<(), Verdict> {
    if pmtu_disc && df && skb.exceeds_mtu(mtu) {
        skb.icmp_send4(icmp::ICMP_DEST_UNREACH, icmp::ICMP_FRAG_NEEDED, mtu.to_be());
        return Err(Verdict::Drop(DropReason::FragNeeded));
    }
    Ok(())
}

/// The route to `nexthop` as `via` says, with the source address it
/// selects and its MTU: `Err` without one, `Ok(None)` for "deliver
/// locally".
fn lookup(
    net: NetRef<'_>,
    nexthop: &Addr,
    known_nh: bool,
    via: Via<'_>,
) -> Result<Option<(Rt, [u8; 4], u32)>, Verdict> {
    let (rt, local, mtu, saddr) = match via {
        Via::Dest(c) => {
            let r = c
                .get(net, v4(nexthop), known_nh)
                .ok_or(Verdict::Drop(DropReason::NoRoute))?;
            let (local, mtu, saddr) = (r.local, r.mtu, r.saddr);
            (Rt::Cached(r), local, mtu, saddr)
        }
        Via::Client(c) => {
            let (r, local, mtu, saddr) = c
                .get(net, v4(nexthop))
                .ok_or(Verdict::Drop(DropReason::NoRoute))?;
            let rt = match r {
                ClientRoute::Cached(r) => Rt::Cached(r),
                ClientRoute::Owned(r) => Rt::Owned(r),
            };
            (rt, local, mtu, saddr)
        }
        Via::Lookup => {
            let RouteInfo {
                route,
                local,
                mtu,
                saddr,
            } = Route::output4(net, v4(nexthop), known_nh)
                .ok_or(Verdict::Drop(DropReason::NoRoute))?;
            (Rt::Owned(route), local, mtu, saddr)
        }
    };
    if local {
        return Ok(None);
    }
    Ok(Some((rt, saddr, mtu)))
}

/// Sends an already rewritten packet (a translated ICMP error) to `daddr`;
/// `local_ok`: an address on this host gets it through the stack.
pub(crate) fn to_server(mut skb: SkBuff, net: NetRef<'_>, daddr: &Addr, local_ok: bool) -> Verdict {
    match route(&mut skb, net, daddr, false, 0, true, Via::Lookup) {
        Ok(Some((rt, _, _))) => send(skb, net, rt),
        Ok(None) if local_ok => Verdict::Accept,
        Ok(None) => Verdict::Drop(DropReason::NoRoute),
        Err(v) => v,
    }
}

fn set_rt(skb: &mut SkBuff, rt: Rt) {
    match rt {
        Rt::Owned(r) => skb.set_route(r),
        Rt::Cached(r) => skb.set_route_noref(&r),
    }
}

fn send(mut skb: SkBuff, net: NetRef<'_>, rt: Rt) -> Verdict {
    match rt {
        Rt::Cached(r) => skb.send4_noref(net, &r),
        Rt::Owned(r) => {
            skb.set_route(r);
            skb.send4(net);
        }
    }
    Verdict::Stolen
}

fn nat(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn, info: &PacketInfo) -> Verdict {
    // The headers are made writable once, for the rewrite and the TTL.
    let Some((buf, mode)) = dataplane::rewrite_headers(&mut skb, info) else {
        return Verdict::Drop(DropReason::Header);
    };
    if packet::dnat_parsed(buf, info, conn.tuple.daddr, conn.tuple.dport, mode).is_err() {
        return Verdict::Drop(DropReason::Header);
    }
    // As route(), on the header already at hand.
    let (rt, mtu) = match lookup(net, &conn.tuple.daddr, false, Via::Dest(&conn.dest.dst)) {
        Ok(Some((rt, _, mtu))) => (rt, mtu),
        Ok(None) => return Verdict::Accept,
        Err(v) => return v,
    };
    let df = match hop(buf) {
        Ok(df) => df,
        Err(e) => return hop_failed(&mut skb, e),
    };
    if let Err(v) = mtu_ok(&mut skb, mtu, df, true) {
        return v;
    }
    send(skb, net, rt)
}

fn dr(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn) -> Verdict {
    match route(
        &mut skb,
        net,
        &conn.tuple.daddr,
        true,
        0,
        true,
        Via::Dest(&conn.dest.dst),
    ) {
        Ok(Some((rt, _, _))) => send(skb, net, rt),
        Ok(None) => Verdict::Accept,
        Err(v) => v,
    }
}

fn tun(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn) -> Verdict {
    // With pmtu_disc off the tunnel fragments rather than refusing
    // packets (upstream: no DF on the outer header, no frag-needed).
    let pmtu_disc = NetState::get(net).map_or(true, |st| st.sysctl.on(Sysctl::PmtuDisc));
    let (rt, saddr, _) = match route(
        &mut skb,
        net,
        &conn.tuple.daddr,
        false,
        tunnel::IPIP_HLEN as u32,
        pmtu_disc,
        Via::Dest(&conn.dest.dst),
    ) {
        Ok(Some(r)) => r,
        Ok(None) => return Verdict::Accept,
        Err(v) => return v,
    };
    let inner_len = skb.len();
    let Some(inner) = skb.header(packet::ipv4::IPV4_MIN_HLEN) else {
        return Verdict::Drop(DropReason::Header);
    };
    let Ok(outer) = tunnel::ipip_header(
        inner,
        inner_len,
        Addr::v4(saddr),
        conn.tuple.daddr,
        // As upstream's ip_select_ident (a hashed per-destination counter).
        // SAFETY: net is alive; plain values.
        unsafe {
            bindings::ipvs_rs_ip_ident(
                net.as_ptr(),
                u32::from_ne_bytes(saddr),
                u32::from_ne_bytes(v4(&conn.tuple.daddr)),
            )
        },
        pmtu_disc,
    ) else {
        return Verdict::Drop(DropReason::Header);
    };
    set_rt(&mut skb, rt);
    let Some(hdr) = skb.push_outer(tunnel::IPIP_HLEN) else {
        return Verdict::Drop(DropReason::Header);
    };
    hdr.copy_from_slice(&outer);
    skb.send4(net);
    Verdict::Stolen
}

/// FULLNAT, client to server: `client:cport -> VIP:vport` becomes
/// `LIP:lport -> RIP:rport`, routed to the real server.
fn fnat_request(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn, info: &PacketInfo) -> Verdict {
    let Some(f) = &conn.fnat else {
        return Verdict::Drop(DropReason::NoEntry);
    };
    let Some((buf, mode)) = dataplane::rewrite_headers(&mut skb, info) else {
        return Verdict::Drop(DropReason::Header);
    };
    // The source fields `info` names are still the packet's after the
    // destination rewrite.
    if packet::dnat_parsed(buf, info, conn.tuple.daddr, conn.tuple.dport, mode).is_err()
        || packet::snat_parsed(buf, info, f.laddr.addr, f.lport, mode).is_err()
    {
        return Verdict::Drop(DropReason::Header);
    }
    let (rt, mtu) = match route(
        &mut skb,
        net,
        &conn.tuple.daddr,
        false,
        0,
        true,
        Via::Dest(&conn.dest.dst),
    ) {
        Ok(Some((rt, _, mtu))) => (rt, mtu),
        // A real server on the director itself is not a FULLNAT target.
        Ok(None) => return Verdict::Drop(DropReason::NoRoute),
        Err(v) => return v,
    };
    if conn.proto == Protocol::Tcp && conn.svc.toa_on() {
        add_toa(&mut skb, conn, info, mtu, mode);
    }
    send(skb, net, rt)
}

/// Writes the client's address into a TOA option on the SYN and on the
/// first segment after it; counts what was written or skipped (a segment
/// without room, or too big for the path, goes without: never corrupted).
fn add_toa(skb: &mut SkBuff, conn: &Conn, info: &PacketInfo, mtu: u32, mode: CsumMode) {
    let syn = info.tcp_flags & packet::l4::tcp_flags::SYN != 0;
    if !syn && conn.toa_sent.load(Ordering::Relaxed) {
        return;
    }
    let [a, b, c, d, ..] = conn.tuple.caddr.inet();
    let toa = ToaV4 {
        addr: [a, b, c, d],
        port: conn.tuple.cport,
    };
    let counters = &conn.svc.ext_counters;
    let hdr = (info.l4_off + mss::TCP_MAX_HLEN).min(skb.len());
    let plan = if skb.is_gso() {
        Err(ToaSkip::NoRoom)
    } else {
        match skb.header(hdr) {
            Some(buf) => toa_write::toa_room(buf, mtu),
            None => Err(ToaSkip::Truncated),
        }
    };
    let written = match plan {
        Ok(plan) => skb
            .insert_room(plan.insert_off, toa_write::TOA_GROWTH)
            .is_some_and(|buf| toa_write::toa_write(buf, &plan, &toa, mode).is_ok()),
        // The client sent a TOA of its own: replace it with the truth.
        Err(ToaSkip::AlreadyPresent) => skb
            .header_mut(hdr)
            .is_some_and(|buf| toa_write::toa_overwrite(buf, &toa, mode).is_ok_and(|n| n > 0)),
        Err(_) => false,
    };
    if written {
        counters.toa_written.fetch_add(1, Ordering::Relaxed);
        if !syn {
            conn.toa_sent.store(true, Ordering::Relaxed);
        }
    } else {
        counters.toa_skipped.fetch_add(1, Ordering::Relaxed);
    }
}

/// FULLNAT, server to client (caught at LOCAL_IN: addressed to the local
/// address): `RIP:rport -> LIP:lport` becomes `VIP:vport -> client:cport`,
/// routed to the client.
pub(crate) fn fnat_reply(
    st: &NetState,
    mut skb: SkBuff,
    net: NetRef<'_>,
    conn: &Conn,
    pkt: &Pkt,
) -> Verdict {
    let info = &pkt.info;
    let timeouts = st.timeouts.get();
    let bytes = pkt.len;
    conn.packet(ipvs_core::conn::Direction::Output, pkt.event, &timeouts);
    let Some((buf, mode)) = dataplane::rewrite_headers(&mut skb, info) else {
        return Verdict::Drop(DropReason::Header);
    };
    if packet::snat_parsed(buf, info, conn.tuple.vaddr, conn.tuple.vport, mode).is_err()
        || packet::dnat_parsed(buf, info, conn.tuple.caddr, conn.tuple.cport, mode).is_err()
    {
        return Verdict::Drop(DropReason::Header);
    }
    // With TOA, the server's SYN-ACK announces 8 bytes less MSS, so the
    // client's segments leave room for the option.
    if conn.proto == Protocol::Tcp
        && info.tcp_flags & packet::l4::tcp_flags::SYN != 0
        && conn.svc.toa_on()
    {
        let hdr = (info.l4_off + mss::TCP_MAX_HLEN).min(skb.len());
        if let Some(buf) = skb.header_mut(hdr) {
            let _ = mss::mss_reduce(buf, toa_write::TOA_GROWTH as u16, mode);
        }
    }
    conn.count_outbound(&st.total, bytes);
    // The route to the client, from the namespace's table (upstream's NAT
    // replies are forwarded with their input route; these arrived for
    // this host, so they need an output route).
    match route(
        &mut skb,
        net,
        &conn.tuple.caddr,
        false,
        0,
        true,
        Via::Client(&st.client_routes),
    ) {
        Ok(Some((rt, _, _))) => send(skb, net, rt),
        // A client on the director itself: deliver here.
        Ok(None) => Verdict::Accept,
        Err(v) => v,
    }
}
