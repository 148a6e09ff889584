// SPDX-License-Identifier: GPL-2.0
//! ICMP errors that belong to connections (`ip_vs_out_icmp`,
//! `ip_vs_in_icmp`): destination unreachable (fragmentation needed, port
//! unreachable, ...), source quench and time exceeded.
//!
//! - From the real server's side (the server or a router before it) about
//!   a request the director forwarded, on the way to the client: for NAT
//!   the error is rewritten to come from the virtual service about the
//!   packet the client sent (`IcmpNatDir::Out`).
//! - From the client's side about a reply, to the virtual address: for
//!   NAT rewritten to concern the real server and sent to it
//!   (`IcmpNatDir::In`); for DR and TUN forwarded like the connection's
//!   packets.
//!
//! The packet work is `ipvs_core::packet::icmp`; this file finds the
//! connection and moves the packet.

use crate::dataplane::{schedule, Hook, Verdict};
use crate::kbind::netns::NetRef;
use crate::kbind::rcu::RcuGuard;
use crate::kbind::skb::Route;
use crate::kbind::skb::SkBuff;
use crate::netns::NetState;
use crate::sysctl::Sysctl;
use crate::xmit;
use core::sync::atomic::Ordering;
use ipvs_core::conn::key::{InKey, OutKey};
use ipvs_core::drops::DropReason;
use ipvs_core::packet::icmp::{
    icmp_checksum_ok, nat_icmp, parse_icmp_error, tunnel_quote, IcmpError, IcmpNatDir, ICMP_HLEN,
};
use ipvs_core::packet::tunnel::ipip_inner_frag_mtu;
use ipvs_core::packet::IPPROTO_IPIP;
use ipvs_core::service::FwdMethod;

/// Largest ICMP error handled (errors quote at most 576 bytes in all;
/// larger ones pass untranslated).
const MAX_ICMP: usize = 2048;

/// The parsed error of an ICMP packet that may belong to a connection
/// (`tunnel`: also errors quoting an IPIP packet).
fn parse(skb: &mut SkBuff, tunnel: bool) -> Option<(usize, IcmpError)> {
    if skb.is_ipvs_property() {
        return None;
    }
    let len = skb.len();
    if len > MAX_ICMP {
        return None;
    }
    let e = parse_icmp_error(skb.header(len)?).ok()?;
    let ours = (e.inner.has_ports && e.inner.protocol().is_some())
        || (tunnel && e.inner.proto == IPPROTO_IPIP);
    (e.upstream_related() && ours).then_some((len, e))
}

/// Verifies the ICMP checksum and rewrites the error for NAT.
fn translate(
    skb: &mut SkBuff,
    len: usize,
    dir: IcmpNatDir,
    addr: ipvs_core::addr::Addr,
    port: u16,
) -> Option<()> {
    let buf = skb.header_mut(len)?;
    if icmp_checksum_ok(buf) != Ok(true) {
        return None;
    }
    nat_icmp(buf, dir, addr, port).ok()?;
    skb.csum_rewritten();
    Some(())
}

/// An error from the real server's side, on the reply hooks (LOCAL_IN,
/// FORWARD).
pub(crate) fn from_server(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    let Some(st) = NetState::get(net) else {
        return Verdict::Accept;
    };
    let Some((len, e)) = parse(&mut skb, false) else {
        return Verdict::Accept;
    };
    let q = &e.inner;
    let Some(proto) = q.protocol() else {
        return Verdict::Accept;
    };
    let _rcu = RcuGuard::new();
    // The quoted packet is the request as forwarded: client -> server.
    let key = OutKey {
        protocol: proto.raw(),
        raddr: q.daddr,
        rport: q.dport,
        caddr: q.saddr,
        cport: q.sport,
    };
    if st.conns.fnat_count.load(Ordering::Relaxed) != 0 {
        // FULLNAT: the quoted request went LIP:lport -> RIP:rport.
        if let Some(conn) = st
            .conns
            .find_fnat(proto.raw(), &q.saddr, q.sport, &q.daddr, q.dport)
        {
            // To the client, from the virtual service, about its packet.
            if translate(
                &mut skb,
                len,
                IcmpNatDir::In,
                conn.tuple.caddr,
                conn.tuple.cport,
            )
            .is_none()
                || translate(
                    &mut skb,
                    len,
                    IcmpNatDir::Out,
                    conn.tuple.vaddr,
                    conn.tuple.vport,
                )
                .is_none()
                || !crate::proxy_protocol::quoted_seq(conn, &mut skb, len)
            {
                return Verdict::Drop(DropReason::Icmp);
            }
            conn.count_outbound(&st.total, len);
            return xmit::to_server(skb, net, &conn.tuple.caddr, true);
        }
    }
    let Some(conn) = st.conns.find_out(&key) else {
        return Verdict::Accept;
    };
    if conn.fwd == FwdMethod::Masq
        && (translate(
            &mut skb,
            len,
            IcmpNatDir::Out,
            conn.tuple.vaddr,
            conn.tuple.vport,
        )
        .is_none()
            || !crate::proxy_protocol::quoted_seq(conn, &mut skb, len))
    {
        return Verdict::Drop(DropReason::Icmp);
    }
    conn.count_outbound(&st.total, len);
    Verdict::Accept
}

/// An error from the client's side about a reply (LOCAL_IN for errors to
/// the virtual address, FORWARD for the others).
pub(crate) fn from_client(mut skb: SkBuff, net: NetRef<'_>, hook: Hook) -> Verdict {
    let Some(st) = NetState::get(net) else {
        return Verdict::Accept;
    };
    let Some((len, e)) = parse(&mut skb, hook == Hook::LocalIn) else {
        return Verdict::Accept;
    };
    if e.inner.proto == IPPROTO_IPIP {
        return tunnel_error(st, skb, net, len, &e);
    }
    let q = e.inner;
    let Some(proto) = q.protocol() else {
        return Verdict::Accept;
    };
    let _rcu = RcuGuard::new();
    // The quoted packet is the reply as sent: virtual address -> client.
    let key = InKey {
        protocol: proto.raw(),
        caddr: q.daddr,
        cport: q.dport,
        vaddr: q.saddr,
        vport: q.sport,
    };
    let conn = match st.conns.find_in(&key) {
        Some(c) => c,
        None if st.sysctl.on(Sysctl::ScheduleIcmp) => {
            match schedule(st, &mut skb, &q.inverse(), None, None) {
                Ok(c) => c,
                Err(v) => return v,
            }
        }
        None => return Verdict::Accept,
    };
    conn.count_inbound(&st.total, len);
    if conn.fwd == FwdMethod::FullNat {
        // To the real server, from the local address, about its reply.
        let Some(f) = &conn.fnat else {
            return Verdict::Drop(DropReason::Icmp);
        };
        if translate(
            &mut skb,
            len,
            IcmpNatDir::In,
            conn.tuple.daddr,
            conn.tuple.dport,
        )
        .is_none()
            || translate(&mut skb, len, IcmpNatDir::Out, f.laddr.addr, f.lport).is_none()
        {
            return Verdict::Drop(DropReason::Icmp);
        }
        return xmit::to_server(skb, net, &conn.tuple.daddr, false);
    }
    if conn.fwd != FwdMethod::Masq {
        // DR, TUN: the server gets the error as it is.
        return xmit::forward(skb, net, conn, &q);
    }
    if translate(
        &mut skb,
        len,
        IcmpNatDir::In,
        conn.tuple.daddr,
        conn.tuple.dport,
    )
    .is_none()
    {
        return Verdict::Drop(DropReason::Icmp);
    }
    xmit::to_server(skb, net, &conn.tuple.daddr, hook == Hook::LocalIn)
}

/// An error about one of the director's IPIP packets to a TUN real
/// server, from a router on the way (the tunnel case of `ip_vs_in_icmp`):
/// for fragmentation needed the route to the server learns the MTU, and
/// the client, if its packet had DF set, gets the error for its own packet
/// with the MTU left inside the tunnel; other errors are passed on to the
/// client as they are.
fn tunnel_error(
    st: &NetState,
    mut skb: SkBuff,
    net: NetRef<'_>,
    len: usize,
    e: &IcmpError,
) -> Verdict {
    let Some(buf) = skb.header(len) else {
        return Verdict::Accept;
    };
    let Ok((orig, df)) = tunnel_quote(e, buf) else {
        return Verdict::Accept;
    };
    let Some(proto) = orig.protocol() else {
        return Verdict::Accept;
    };
    let checksum_ok = icmp_checksum_ok(buf) == Ok(true);
    let rest = buf
        .get(e.icmp_off + 4..e.icmp_off + ICMP_HLEN)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_ne_bytes);
    let _rcu = RcuGuard::new();
    let key = InKey {
        protocol: proto.raw(),
        caddr: orig.saddr,
        cport: orig.sport,
        vaddr: orig.daddr,
        vport: orig.dport,
    };
    let Some(conn) = st.conns.find_in(&key) else {
        return Verdict::Accept;
    };
    if conn.fwd != FwdMethod::Tunnel || conn.tuple.daddr != e.inner.daddr {
        return Verdict::Accept;
    }
    if !checksum_ok {
        return Verdict::Drop(DropReason::Icmp);
    }
    let ipip_off = e.inner.l3_off;
    let ipip_hlen = e.inner.l4_off - e.inner.l3_off;
    let orig_hlen = orig.l4_off - orig.l3_off;
    let mut info = rest;
    let mut off = orig.l3_off;
    if let Some(mtu) = e.frag_needed_mtu() {
        if !skb.ipip_update_pmtu(net, ipip_off, ipip_hlen, u32::from(mtu)) {
            return Verdict::Drop(DropReason::Icmp);
        }
        off -= ipip_off;
        if !df {
            // The client does not do path MTU discovery: the stack
            // fragments its next packets inside the tunnel.
            skb.drop_packet();
            return Verdict::Stolen;
        }
        // Prefer the route's resulting path MTU, as upstream.
        let [a, b, c, d, ..] = conn.tuple.daddr.inet();
        let route_mtu = Route::output4(net, [a, b, c, d], false).map_or(u32::from(mtu), |r| r.mtu);
        info = ipip_inner_frag_mtu(route_mtu).to_be();
    }
    conn.count_outbound(&st.total, len);
    skb.icmp_send_inner(off, orig_hlen, e.icmp_type, e.code, info);
    Verdict::Stolen
}
