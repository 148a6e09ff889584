// SPDX-License-Identifier: GPL-2.0
//! Sending a request to its real server: NAT (rewrite the destination),
//! DR (keep the packet, route it to the real server's MAC), TUN (IPIP).
//! Upstream's `ip_vs_{nat,dr,tunnel}_xmit`, IPv4.

use crate::conn::Conn;
use crate::dataplane::{csum_mode, l4_hdr_len, Verdict};
use crate::kbind::netns::NetRef;
use crate::kbind::rcu;
use crate::kbind::skb::{Route, RouteInfo, SkBuff};
use crate::netns::NetState;
use crate::sysctl::Sysctl;
use ipvs_core::addr::Addr;
use ipvs_core::packet::{self, icmp, ipv4::Ttl, tunnel, PacketInfo};
use ipvs_core::service::FwdMethod;

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
    }
}

/// Routes to `nexthop`, decrements the TTL and checks the MTU (upstream's
/// `__ip_vs_get_out_rt` + `ensure_mtu_is_adequate`). `Err` is the verdict
/// when the packet must not be sent; `Ok(None)` means "deliver locally".
fn route(
    skb: &mut SkBuff,
    net: NetRef<'_>,
    nexthop: &Addr,
    known_nh: bool,
    overhead: u32,
    pmtu_disc: bool,
) -> Result<Option<(Route, [u8; 4])>, Verdict> {
    let RouteInfo {
        route,
        local,
        mtu,
        saddr,
    } = Route::output4(net, v4(nexthop), known_nh).ok_or(Verdict::Drop)?;
    if local {
        return Ok(None);
    }
    let hdr = skb
        .header_mut(packet::ipv4::IPV4_MIN_HLEN)
        .ok_or(Verdict::Drop)?;
    let df = packet::Ipv4Header::parse(hdr)
        .map(|h| h.df)
        .unwrap_or(false);
    match packet::ipv4::decrement_ttl(hdr) {
        Ok(Ttl::Decremented(_)) => {}
        Ok(Ttl::Expired) => {
            skb.icmp_send4(ICMP_TIME_EXCEEDED, 0, 0);
            return Err(Verdict::Drop);
        }
        Err(_) => return Err(Verdict::Drop),
    }
    let mtu = mtu.saturating_sub(overhead);
    if pmtu_disc && df && skb.exceeds_mtu(mtu) {
        skb.icmp_send4(icmp::ICMP_DEST_UNREACH, icmp::ICMP_FRAG_NEEDED, mtu.to_be());
        return Err(Verdict::Drop);
    }
    Ok(Some((route, saddr)))
}

/// Sends an already rewritten packet (a translated ICMP error) to a real
/// server; `local_ok`: a server on this host gets it through the stack.
pub(crate) fn to_server(mut skb: SkBuff, net: NetRef<'_>, daddr: &Addr, local_ok: bool) -> Verdict {
    match route(&mut skb, net, daddr, false, 0, true) {
        Ok(Some((rt, _))) => send(skb, net, rt),
        Ok(None) if local_ok => Verdict::Accept,
        Ok(None) => Verdict::Drop,
        Err(v) => v,
    }
}

fn send(mut skb: SkBuff, net: NetRef<'_>, rt: Route) -> Verdict {
    skb.set_route(rt);
    skb.send4(net);
    Verdict::Stolen
}

fn nat(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn, info: &PacketInfo) -> Verdict {
    let mode = csum_mode(&skb);
    let hdr_len = (info.l4_off + l4_hdr_len(info)).min(skb.len());
    let Some(buf) = skb.header_mut(hdr_len) else {
        return Verdict::Drop;
    };
    if packet::dnat(buf, conn.tuple.daddr, conn.tuple.dport, mode).is_err() {
        return Verdict::Drop;
    }
    skb.csum_rewritten();
    match route(&mut skb, net, &conn.tuple.daddr, false, 0, true) {
        Ok(Some((rt, _))) => send(skb, net, rt),
        Ok(None) => Verdict::Accept,
        Err(v) => v,
    }
}

fn dr(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn) -> Verdict {
    match route(&mut skb, net, &conn.tuple.daddr, true, 0, true) {
        Ok(Some((rt, _))) => send(skb, net, rt),
        Ok(None) => Verdict::Accept,
        Err(v) => v,
    }
}

fn tun(mut skb: SkBuff, net: NetRef<'_>, conn: &Conn) -> Verdict {
    // With pmtu_disc off the tunnel fragments rather than refusing
    // packets (upstream: no DF on the outer header, no frag-needed).
    let pmtu_disc = NetState::get(net).map_or(true, |st| st.sysctl.on(Sysctl::PmtuDisc));
    let (rt, saddr) = match route(
        &mut skb,
        net,
        &conn.tuple.daddr,
        false,
        tunnel::IPIP_HLEN as u32,
        pmtu_disc,
    ) {
        Ok(Some(r)) => r,
        Ok(None) => return Verdict::Accept,
        Err(v) => return v,
    };
    let inner_len = skb.len();
    let Some(inner) = skb.header(packet::ipv4::IPV4_MIN_HLEN) else {
        return Verdict::Drop;
    };
    let Ok(outer) = tunnel::ipip_header(
        inner,
        inner_len,
        Addr::v4(saddr),
        conn.tuple.daddr,
        (rcu::random_u64() & 0xffff) as u16,
        pmtu_disc,
    ) else {
        return Verdict::Drop;
    };
    skb.set_route(rt);
    let Some(hdr) = skb.push_outer(tunnel::IPIP_HLEN) else {
        return Verdict::Drop;
    };
    hdr.copy_from_slice(&outer);
    skb.send4(net);
    Verdict::Stolen
}
