// SPDX-License-Identifier: GPL-2.0
//! SYNPROXY glue (issue 5): the director answers a client's SYN to a
//! SYNPROXY service itself with a cookie SYN-ACK (no connection entry, no
//! scheduler call), and opens the connection to a real server only when
//! the client's ACK validates the cookie. The decisions and the packet
//! maths are in `ipvs_core::synproxy` (host-tested); this file moves
//! packets.
//!
//! 1. Client SYN, no connection: `build_synack`, sent back to the client;
//!    the SYN is dropped.
//! 2. Client ACK (or data), no connection: `check_ack`. A bad cookie is
//!    dropped and counted. A good one: the SYN the client would have sent
//!    (`backend_syn`) goes through the usual new-connection path
//!    (`dataplane::schedule`, then NAT or FULLNAT with TOA in `xmit.rs`);
//!    the connection gets a [`ConnExt`] holding the client's packet. The
//!    SYN is sent again from the connection's timer (`synproxy_syn_retry`).
//! 3. While waiting, client packets are held or dropped
//!    (`ipvs_core::synproxy::wait`: ACK-storm guard, store threshold); a
//!    client RST goes to the server and closes the connection.
//! 4. The server's SYN-ACK (reply path) is consumed: the translation
//!    (`ConnAdjust`) is kept, the client gets the server's window, the
//!    held packet goes to the server translated (or our own ACK if none).
//!    A server RST resets the client.
//! 5. From then on every segment is translated (`tcp_adjust`) both ways;
//!    a retransmitted server SYN-ACK is answered with our ACK again.
//!
//! `ConnExt` is what a connection keeps beyond `struct Conn`: SYNPROXY's
//! wait and translation, and the PROXY protocol header of the stream
//! (`proxy_protocol.rs`), which applies after SYNPROXY's translation on
//! the way to the server and together with it on the way back.

use crate::conn::Conn;
use crate::dataplane::{self, Verdict};
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu::{self, BhGuard, RcuGuard};
use crate::kbind::skb::{Route, SkBuff};
use crate::netns::NetState;
use crate::proxy_protocol::{self as pp, ProxyConn};
use crate::services::SvcRt;
use crate::sysctl::Sysctl;
use crate::xmit;
use core::fmt::{self, Write};
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use ipvs_core::addr::Addr;
use ipvs_core::conn::Direction;
use ipvs_core::drops::DropReason;
use ipvs_core::errno::{Errno, Error};
use ipvs_core::netlink::ext::SynproxyCounters;
use ipvs_core::packet::l4::tcp_flags::{ACK, FIN, RST, SYN};
use ipvs_core::packet::seqadj::{tcp_adjust_gap, ConnAdjust, InsertGap, TcpAdjust};
use ipvs_core::packet::{self, PacketInfo};
use ipvs_core::service::{DestConf, FwdMethod, Protocol, ServiceKey};
use ipvs_core::synproxy::cookie::CookieSecret;
use ipvs_core::synproxy::synack::{
    backend_syn, build_segment, build_synack, check_ack, client_window_update, parse_server_synack,
    server_ack, translation, ClientAck, Segment, SegmentOptions, ServerSynAck, SynProxyConfig,
    SynProxyError, SEGMENT_MAX_LEN,
};
use ipvs_core::synproxy::wait::{ClientSegment, WaitAction, WaitDrop, WaitLimits, WaitState};
use kernel::alloc::flags::GFP_ATOMIC;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};

/// TTL of the SYNs and ACKs sent to real servers for the client (the
/// forwarding path decrements it once, as for the client's packets).
const BACKEND_TTL: u8 = 64;
/// Seconds between cookie key rotations (the previous key stays valid).
const ROTATE_SECS: u64 = 180;

// ---------------------------------------------------------------------------
// Settings

/// The sysctls' defaults: the LVS ecosystem's (Alibaba's FULLNAT/SYNPROXY
/// kernel): MSS 1452, SACK on, window scaling and timestamps off, TTL 63,
/// no defer, ACK storm at 10 duplicates, 3 packets stored, 3 SYN retries.
pub(crate) fn sysctl_defaults(mut set: impl FnMut(Sysctl, i32)) {
    set(Sysctl::SynproxyInitMss, 1452);
    set(Sysctl::SynproxySack, 1);
    set(Sysctl::SynproxyWscale, 0);
    set(Sysctl::SynproxyTimestamp, 0);
    set(Sysctl::SynproxySynackTtl, 63);
    set(Sysctl::SynproxyDefer, 0);
    set(Sysctl::SynproxyDupAckThresh, 10);
    set(Sysctl::SynproxySkbStoreThresh, 3);
    set(Sysctl::SynproxySynRetry, 3);
}

fn clamp(v: i32, lo: i32, hi: i32) -> i32 {
    v.max(lo).min(hi)
}

/// The SYN-ACK settings in effect.
fn config(st: &NetState) -> SynProxyConfig {
    let s = &st.sysctl;
    let mss = clamp(s.get(Sysctl::SynproxyInitMss), 536, 65535) as u16;
    let wscale = clamp(s.get(Sysctl::SynproxyWscale), 0, 14) as u8;
    SynProxyConfig {
        mss,
        wscale,
        // With defer the client must be able to send its first data
        // before the real server exists: one segment's worth.
        window: if s.on(Sysctl::SynproxyDefer) { mss } else { 0 },
        ttl: clamp(s.get(Sysctl::SynproxySynackTtl), 1, 255) as u8,
        window_scaling: wscale != 0,
        sack: s.on(Sysctl::SynproxySack),
        timestamps: s.on(Sysctl::SynproxyTimestamp),
        ecn: false,
    }
}

fn limits(st: &NetState) -> WaitLimits {
    let s = &st.sysctl;
    let get = |w| u32::try_from(s.get(w)).unwrap_or(0);
    WaitLimits {
        dup_ack_thresh: get(Sysctl::SynproxyDupAckThresh),
        store_thresh: get(Sysctl::SynproxySkbStoreThresh),
        syn_retry: get(Sysctl::SynproxySynRetry).min(10),
    }
}

fn minute() -> u32 {
    (rcu::jiffies() / (60 * u64::from(rcu::hz().max(1)))) as u32
}

fn ts_clock() -> u32 {
    (rcu::jiffies().wrapping_mul(1000) / u64::from(rcu::hz().max(1))) as u32
}

// ---------------------------------------------------------------------------
// Control plane checks

fn einval(msg: &'static core::ffi::CStr) -> Error {
    Error::new(Errno::Einval, msg)
}

fn direct(fwd: FwdMethod) -> bool {
    matches!(fwd, FwdMethod::Droute | FwdMethod::Tunnel)
}

/// SYNPROXY may be switched on for TCP services whose real servers are
/// all NAT or FULLNAT (DR and TUN servers answer the client directly: the
/// director could not translate their sequence numbers).
pub(crate) fn check_service(svc: &SvcRt) -> ipvs_core::errno::Result<()> {
    if !matches!(
        svc.key,
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            ..
        }
    ) {
        return Err(einval(
            c"IPVS_RS_SVC_ATTR_SYNPROXY: only TCP services (not UDP, SCTP or fwmark) can use SYNPROXY",
        ));
    }
    if svc.with(|i| i.dests.iter().any(|d| direct(d.conf.fwd))) {
        return Err(einval(
            c"IPVS_RS_SVC_ATTR_SYNPROXY: the service has DR or TUN real servers; SYNPROXY works with NAT and FULLNAT only",
        ));
    }
    Ok(())
}

/// A DR or TUN real server cannot join a SYNPROXY service.
pub(crate) fn check_dest(svc: &SvcRt, conf: &DestConf) -> ipvs_core::errno::Result<()> {
    if svc.synproxy_on() && direct(conf.fwd) {
        return Err(einval(
            c"IPVS_DEST_ATTR_FWD_METHOD: the service uses SYNPROXY, which works with NAT and FULLNAT real servers only",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Counters and the cookie secret of a namespace

/// SYNPROXY counters (per service and per namespace).
pub(crate) struct Counters {
    cookies: AtomicU64,
    ack_valid: AtomicU64,
    ack_bad: AtomicU64,
    syn_retrans: AtomicU64,
    ack_storm: AtomicU64,
    held_drops: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy)]
enum Count {
    Cookie,
    AckValid,
    AckBad,
    SynRetrans,
    AckStorm,
    HeldDrop,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            cookies: AtomicU64::new(0),
            ack_valid: AtomicU64::new(0),
            ack_bad: AtomicU64::new(0),
            syn_retrans: AtomicU64::new(0),
            ack_storm: AtomicU64::new(0),
            held_drops: AtomicU64::new(0),
        }
    }

    fn cell(&self, c: Count) -> &AtomicU64 {
        match c {
            Count::Cookie => &self.cookies,
            Count::AckValid => &self.ack_valid,
            Count::AckBad => &self.ack_bad,
            Count::SynRetrans => &self.syn_retrans,
            Count::AckStorm => &self.ack_storm,
            Count::HeldDrop => &self.held_drops,
        }
    }

    pub(crate) fn get(&self) -> SynproxyCounters {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SynproxyCounters {
            cookies: l(&self.cookies),
            ack_valid: l(&self.ack_valid),
            ack_bad: l(&self.ack_bad),
            syn_retrans: l(&self.syn_retrans),
            ack_storm: l(&self.ack_storm),
            held_drops: l(&self.held_drops),
        }
    }
}

fn count(st: &NetState, svc: &SvcRt, c: Count) {
    st.synproxy.counters.cell(c).fetch_add(1, Ordering::Relaxed);
    svc.ext_counters
        .synproxy
        .cell(c)
        .fetch_add(1, Ordering::Relaxed);
}

/// The namespace's SYNPROXY state: the cookie secret (current and
/// previous SipHash key, published with a sequence counter so the packet
/// path reads a consistent pair without a lock) and the counters.
pub(crate) struct NetSynproxy {
    seq: AtomicU32,
    /// Current key (two words), previous key (two words).
    keys: [AtomicU64; 4],
    rotated: AtomicU64,
    pub(crate) counters: Counters,
}

fn key_bytes(lo: u64, hi: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    let (a, b) = k.split_at_mut(8);
    a.copy_from_slice(&lo.to_le_bytes());
    b.copy_from_slice(&hi.to_le_bytes());
    k
}

impl NetSynproxy {
    pub(crate) fn new() -> Self {
        NetSynproxy {
            seq: AtomicU32::new(0),
            keys: [
                AtomicU64::new(rcu::random_u64()),
                AtomicU64::new(rcu::random_u64()),
                AtomicU64::new(rcu::random_u64()),
                AtomicU64::new(rcu::random_u64()),
            ],
            rotated: AtomicU64::new(rcu::jiffies()),
            counters: Counters::new(),
        }
    }

    /// The secret now (any context).
    fn secret(&self) -> CookieSecret {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let [a, b, c, d] = &self.keys;
            let k = [a, b, c, d].map(|x| x.load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                let [cur_lo, cur_hi, prev_lo, prev_hi] = k;
                let mut s = CookieSecret::new(key_bytes(prev_lo, prev_hi));
                s.rotate(key_bytes(cur_lo, cur_hi));
                return s;
            }
        }
    }

    /// Rotates the key if it is older than [`ROTATE_SECS`] (the periodic
    /// work, the only writer).
    pub(crate) fn rotate_if_due(&self) {
        let now = rcu::jiffies();
        let last = self.rotated.load(Ordering::Relaxed);
        if now.wrapping_sub(last) < ROTATE_SECS * u64::from(rcu::hz()) {
            return;
        }
        let (lo, hi) = (rcu::random_u64(), rcu::random_u64());
        // Bottom halves (and preemption) off: a reader on this CPU must
        // not spin on a writer it interrupted.
        let _bh = BhGuard::new();
        let [a, b, c, d] = &self.keys;
        self.seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        c.store(a.load(Ordering::Relaxed), Ordering::Relaxed);
        d.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        a.store(lo, Ordering::Relaxed);
        b.store(hi, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
        self.rotated.store(now, Ordering::Relaxed);
    }

    /// Lines of `/proc/net/ip_vs_ext_stats`.
    pub(crate) fn show(&self, w: &mut impl Write) -> fmt::Result {
        let c = self.counters.get();
        writeln!(w, "synproxy_cookies_sent {}", c.cookies)?;
        writeln!(w, "synproxy_ack_valid {}", c.ack_valid)?;
        writeln!(w, "synproxy_ack_bad {}", c.ack_bad)?;
        writeln!(w, "synproxy_syn_retrans {}", c.syn_retrans)?;
        writeln!(w, "synproxy_ack_storm {}", c.ack_storm)?;
        writeln!(w, "synproxy_held_drops {}", c.held_drops)
    }
}

// ---------------------------------------------------------------------------
// Per-connection state

/// A client packet held while the real server answers; freed if dropped.
struct Held(SkBuff);

// SAFETY: an skb may be freed or sent from any CPU; it is only touched
// under the ConnExt lock or after being taken out of it.
unsafe impl Send for Held {}

impl Held {
    fn take(self) -> SkBuff {
        let raw = self.0.as_raw();
        core::mem::forget(self);
        // SAFETY: we owned the skb; ownership passes to the caller.
        unsafe { SkBuff::from_raw(raw) }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        free(self.0.as_raw());
    }
}

enum Phase {
    /// Waiting for the real server's SYN-ACK.
    Waiting {
        ca: ClientAck,
        cfg: SynProxyConfig,
        wait: WaitState,
        held: Option<Held>,
    },
    /// The server answered; `ExtState::adj` translates.
    Open { ca: ClientAck, server: ServerSynAck },
    /// Reset while waiting.
    Closed,
    /// Not a SYNPROXY connection (the client's own SYN opened it): only
    /// the PROXY protocol header.
    Direct,
}

struct ExtState {
    /// The sequence adjustment of every later segment.
    adj: Option<ConnAdjust>,
    phase: Phase,
}

/// What a connection keeps beyond `struct Conn` when it needs it (one
/// pointer in `Conn`, freed with it).
#[pin_data]
pub(crate) struct ConnExt {
    net: *mut bindings::net,
    /// The PROXY protocol header of the client's stream, if any (fixed at
    /// creation), and whether the server has acknowledged it.
    pub(crate) proxy: Option<ProxyConn>,
    #[pin]
    state: SpinLock<ExtState>,
}

// SAFETY: `net` is only used as the namespace of the connection, which
// outlives it; the rest is behind the lock.
unsafe impl Send for ConnExt {}
// SAFETY: as above.
unsafe impl Sync for ConnExt {}

impl ConnExt {
    /// A SYNPROXY connection waiting for its real server, holding `held`
    /// (freed with the state if allocation fails).
    fn waiting(
        net: NetRef<'_>,
        ca: ClientAck,
        cfg: SynProxyConfig,
        wait: WaitState,
        held: Held,
        proxy: Option<ProxyConn>,
    ) -> Option<*mut ConnExt> {
        let state = ExtState {
            adj: None,
            phase: Phase::Waiting {
                ca,
                cfg,
                wait,
                held: Some(held),
            },
        };
        Self::new(net, state, proxy)
    }

    /// A connection the client's own SYN opened, with a PROXY protocol
    /// header.
    pub(crate) fn direct(net: NetRef<'_>, proxy: ProxyConn) -> Option<*mut ConnExt> {
        let state = ExtState {
            adj: None,
            phase: Phase::Direct,
        };
        Self::new(net, state, Some(proxy))
    }

    fn new(net: NetRef<'_>, state: ExtState, proxy: Option<ProxyConn>) -> Option<*mut ConnExt> {
        let b = KBox::pin_init(
            pin_init!(ConnExt {
                net: net.as_ptr(),
                proxy,
                state <- new_spinlock!(state, "ipvs_rs::conn_ext"),
            }),
            GFP_ATOMIC,
        )
        .ok()?;
        // SAFETY: never moved out of its box: freed with free() only.
        Some(KBox::into_raw(unsafe {
            core::pin::Pin::into_inner_unchecked(b)
        }))
    }

    /// Frees a `ConnExt` (with its held packet).
    ///
    /// # Safety
    ///
    /// `p` comes from [`ConnExt::waiting`] and is not used afterwards.
    pub(crate) unsafe fn free(p: *mut ConnExt) {
        // SAFETY: per the contract.
        drop(unsafe { KBox::from_raw(p) });
    }

    fn lock(
        &self,
    ) -> (
        BhGuard,
        kernel::sync::lock::Guard<'_, ExtState, kernel::sync::lock::spinlock::SpinLockBackend>,
    ) {
        let bh = BhGuard::new();
        (bh, self.state.lock())
    }
}

// ---------------------------------------------------------------------------
// Packets

fn v4(a: &Addr) -> [u8; 4] {
    let [a0, a1, a2, a3, ..] = a.inet();
    [a0, a1, a2, a3]
}

pub(crate) fn free(raw: *mut bindings::sk_buff) {
    // SAFETY: callers pass an skb they own and do not use again.
    unsafe { bindings::ipvs_rs_kfree_skb(raw) }
}

/// A fresh skb holding `bytes` (an IPv4 packet).
pub(crate) fn alloc(bytes: &[u8]) -> Option<SkBuff> {
    let len = u32::try_from(bytes.len()).ok()?;
    // SAFETY: `bytes` is valid for `len` bytes; the shim copies them.
    let p = unsafe { bindings::ipvs_rs_skb_alloc4(bytes.as_ptr().cast(), len) };
    // SAFETY: a new skb that only we own.
    (!p.is_null()).then(|| unsafe { SkBuff::from_raw(p) })
}

/// Offset of the end of the TCP header (options included).
fn tcp_end(skb: &mut SkBuff, info: &PacketInfo) -> Option<usize> {
    let off = info.l4_off;
    let h = skb.header(off + packet::l4::TCP_MIN_HLEN)?;
    let doff = usize::from(*h.get(off + 12)? >> 4) * 4;
    (doff >= packet::l4::TCP_MIN_HLEN).then_some(off + doff)
}

/// The IPv4 and TCP headers, options included.
pub(crate) fn headers<'a>(skb: &'a mut SkBuff, info: &PacketInfo) -> Option<&'a [u8]> {
    let end = tcp_end(skb, info)?;
    skb.header(end)
}

/// The client segment's numbers, for the wait.
pub(crate) fn segment(skb: &mut SkBuff, info: &PacketInfo) -> Option<ClientSegment> {
    let end = tcp_end(skb, info)?;
    let h = skb.header(end)?;
    let rd = |o: usize| -> Option<u32> {
        let b = h.get(info.l4_off + o..info.l4_off + o + 4)?;
        Some(u32::from_be_bytes([
            *b.first()?,
            *b.get(1)?,
            *b.get(2)?,
            *b.get(3)?,
        ]))
    };
    Some(ClientSegment {
        seq: rd(4)?,
        ack_seq: rd(8)?,
        flags: info.tcp_flags,
        payload: u32::from(info.total_len).saturating_sub(end as u32),
    })
}

/// Applies `adj` to the segment in `skb`, its acknowledgments first taken
/// out of `gap` (a PROXY protocol header's bytes) if given.
pub(crate) fn adjust(
    skb: &mut SkBuff,
    info: &PacketInfo,
    adj: &TcpAdjust,
    gap: Option<InsertGap>,
) -> bool {
    if adj.is_identity() && gap.is_none() {
        return true;
    }
    let mode = dataplane::csum_mode(skb);
    let Some(end) = tcp_end(skb, info) else {
        return false;
    };
    let Some(buf) = skb.header_mut(end) else {
        return false;
    };
    if tcp_adjust_gap(buf, adj, gap, mode).is_err() {
        return false;
    }
    skb.csum_rewritten();
    true
}

/// Builds `seg` and routes it to its destination (the client).
fn send_to_client(net: NetRef<'_>, seg: &Segment) -> bool {
    let mut buf = [0u8; SEGMENT_MAX_LEN];
    let Some(bytes) = build_segment(&mut buf, seg).ok().and_then(|n| buf.get(..n)) else {
        return false;
    };
    let Some(mut skb) = alloc(bytes) else {
        return false;
    };
    let Some(ri) = Route::output4(net, v4(&seg.daddr), false) else {
        skb.drop_packet();
        return false;
    };
    skb.set_route(ri.route);
    skb.send4(net);
    true
}

/// Sends `skb` (client to virtual service, parsed as `info`) to the real
/// server of `conn` through the forwarding method; frees it if that did
/// not take it.
pub(crate) fn forward(skb: SkBuff, net: NetRef<'_>, conn: &Conn, info: &PacketInfo) -> bool {
    let raw = skb.as_raw();
    match xmit::forward(skb, net, conn, info) {
        Verdict::Stolen => true,
        _ => {
            free(raw);
            false
        }
    }
}

/// Builds `seg` (client to virtual service) and sends it to the real
/// server of `conn`.
fn send_to_server(net: NetRef<'_>, conn: &Conn, seg: &Segment) -> bool {
    let Some((skb, info)) = segment_skb(seg) else {
        return false;
    };
    forward(skb, net, conn, &info)
}

/// `seg` built into a fresh skb (client to virtual service), with its
/// parse.
fn segment_skb(seg: &Segment) -> Option<(SkBuff, PacketInfo)> {
    let mut buf = [0u8; SEGMENT_MAX_LEN];
    let bytes = build_segment(&mut buf, seg)
        .ok()
        .and_then(|n| buf.get(..n))?;
    let info = packet::parse_packet(bytes).ok()?;
    Some((alloc(bytes)?, info))
}

/// The SYNPROXY service a packet is addressed to, if any.
fn service(st: &NetState, info: &PacketInfo) -> Option<Arc<SvcRt>> {
    let snap = st.published.get()?;
    let svc = snap.find(&ServiceKey::Addr {
        proto: Protocol::Tcp,
        addr: info.daddr,
        port: info.dport,
    })?;
    svc.synproxy_on().then(|| svc.clone())
}

/// A TCP packet to a virtual service that matched no connection
/// (`dataplane::request`, RCU held). `Ok(skb)`: not a SYNPROXY matter,
/// carry on; `Err(verdict)`: done with it.
pub(crate) fn no_conn(
    st: &NetState,
    net: NetRef<'_>,
    mut skb: SkBuff,
    info: &PacketInfo,
) -> Result<SkBuff, Verdict> {
    let Some(svc) = service(st, info) else {
        return Ok(skb);
    };
    let flags = info.tcp_flags;
    // Invalid combinations, RSTs, FINs without ACK...: the defence
    // (dataplane::schedule) counts and drops them.
    if ipvs_core::packet::tcpflags::tcp_flags_invalid(flags).is_some() || flags & RST != 0 {
        return Ok(skb);
    }
    let cfg = config(st);
    if flags & (SYN | ACK) == SYN {
        return Err(answer_syn(st, net, &svc, &mut skb, info, &cfg));
    }
    if flags & (SYN | ACK) != ACK {
        return Ok(skb);
    }
    let secret = st.synproxy.secret();
    let Some(hdr) = headers(&mut skb, info) else {
        return Err(Verdict::Drop(DropReason::Header));
    };
    let ca = match check_ack(hdr, &secret, minute(), &cfg) {
        Ok(ca) => ca,
        Err(SynProxyError::BadCookie) => {
            count(st, &svc, Count::AckBad);
            return Err(Verdict::Drop(DropReason::SynproxyBadAck));
        }
        Err(_) => return Err(Verdict::Drop(DropReason::SynproxyBadAck)),
    };
    // A zero-window probe after a lost handshake ACK: from here on it is
    // that ACK (seq + 1), held and handed to the server like one.
    if ca.probe {
        let one_more = TcpAdjust {
            seq: 1,
            ..TcpAdjust::default()
        };
        if !adjust(&mut skb, info, &one_more, None) {
            return Err(Verdict::Drop(DropReason::Header));
        }
    }
    let Some(first) = segment(&mut skb, info) else {
        return Err(Verdict::Drop(DropReason::Header));
    };
    if st.sysctl.on(Sysctl::SynproxyDefer) && first.payload == 0 && flags & FIN == 0 {
        // Defer: no real server until the client sends data (its data
        // segment carries the same cookie).
        return Err(Verdict::Drop(DropReason::SynproxyWait));
    }
    Err(open(st, net, &svc, skb, ca, cfg, first))
}

/// Answers a client's SYN with a cookie SYN-ACK.
fn answer_syn(
    st: &NetState,
    net: NetRef<'_>,
    svc: &SvcRt,
    skb: &mut SkBuff,
    info: &PacketInfo,
    cfg: &SynProxyConfig,
) -> Verdict {
    let secret = st.synproxy.secret();
    let Some(hdr) = headers(skb, info) else {
        return Verdict::Drop(DropReason::Header);
    };
    let mut out = [0u8; SEGMENT_MAX_LEN];
    let Ok(sa) = build_synack(hdr, &mut out, &secret, minute(), ts_clock(), cfg) else {
        return Verdict::Drop(DropReason::Header);
    };
    let Some(bytes) = out.get(..sa.len) else {
        return Verdict::Drop(DropReason::Header);
    };
    let Some(mut reply) = alloc(bytes) else {
        return Verdict::Drop(DropReason::NoEntry);
    };
    let Some(ri) = Route::output4(net, v4(&sa.tuple.saddr), false) else {
        reply.drop_packet();
        return Verdict::Drop(DropReason::NoRoute);
    };
    reply.set_route(ri.route);
    reply.send4(net);
    count(st, svc, Count::Cookie);
    Verdict::Drop(DropReason::SynproxySyn)
}

/// The client's ACK validated: schedule a real server with the SYN the
/// client would have sent, hold the ACK, send the SYN.
fn open(
    st: &NetState,
    net: NetRef<'_>,
    svc: &SvcRt,
    skb: SkBuff,
    ca: ClientAck,
    cfg: SynProxyConfig,
    first: ClientSegment,
) -> Verdict {
    let held = {
        // SAFETY: the skb is ours (the hook's) and is kept past the hook.
        unsafe { bindings::ipvs_rs_skb_detach(skb.as_raw()) };
        Held(skb)
    };
    let Some((mut syn, sinfo)) = segment_skb(&backend_syn(&ca, BACKEND_TTL)) else {
        return Verdict::Stolen;
    };
    let conn = match dataplane::schedule(st, &mut syn, &sinfo, Some(None), None) {
        Ok(c) => c,
        Err(_) => {
            free(syn.as_raw());
            return Verdict::Stolen;
        }
    };
    if !matches!(conn.fwd, FwdMethod::Masq | FwdMethod::FullNat) {
        conn.expire_now();
        free(syn.as_raw());
        return Verdict::Stolen;
    }
    let proxy = pp::new_conn(conn, ca.client_isn);
    let Some(ext) = ConnExt::waiting(net, ca, cfg, WaitState::holding(&first), held, proxy) else {
        conn.expire_now();
        free(syn.as_raw());
        return Verdict::Stolen;
    };
    // SAFETY: fresh from ConnExt::waiting, handed over.
    if !unsafe { conn.set_ext(ext) } {
        free(syn.as_raw());
        return Verdict::Stolen;
    }
    count(st, svc, Count::AckValid);
    let timeouts = st.timeouts.get();
    conn.packet(
        Direction::Input,
        dataplane::tcp_event(&mut syn, &sinfo),
        &timeouts,
    );
    forward(syn, net, conn, &sinfo);
    conn.retimer(1);
    Verdict::Stolen
}

/// A client packet of a connection (`dataplane::request`, before the
/// state machine and the forwarding method). `Ok(skb)`: forward it (now
/// translated); `Err(verdict)`: held, dropped, or (a reset while
/// waiting) sent and the connection expired.
pub(crate) fn to_server(
    st: &NetState,
    net: NetRef<'_>,
    conn: &Conn,
    mut skb: SkBuff,
    info: &PacketInfo,
) -> Result<SkBuff, Verdict> {
    let Some(ext) = conn.ext() else {
        return Ok(skb);
    };
    let (_bh, mut g) = ext.lock();
    let adj = match &mut g.phase {
        Phase::Waiting { wait, held, .. } => {
            if info.tcp_flags & SYN != 0 {
                return Err(Verdict::Drop(DropReason::SynproxyWait));
            }
            let Some(seg) = segment(&mut skb, info) else {
                return Err(Verdict::Drop(DropReason::Header));
            };
            match wait.client_segment(&seg, &limits(st)) {
                WaitAction::Hold => {
                    // SAFETY: the hook's skb, kept past the hook.
                    unsafe { bindings::ipvs_rs_skb_detach(skb.as_raw()) };
                    // The packet held before, if any, is freed.
                    *held = Some(Held(skb));
                    return Err(Verdict::Stolen);
                }
                WaitAction::Drop(why) => {
                    drop(g);
                    match why {
                        WaitDrop::AckStorm => count(st, &conn.svc, Count::AckStorm),
                        WaitDrop::StoreFull => count(st, &conn.svc, Count::HeldDrop),
                        WaitDrop::Duplicate => {}
                    }
                    return Err(Verdict::Drop(DropReason::SynproxyWait));
                }
                WaitAction::Reset => {
                    // The server saw only our SYN, with the client's own
                    // numbers: the reset goes as it is, and the entry
                    // goes now (the held packet with it).
                    g.phase = Phase::Closed;
                    drop(g);
                    forward(skb, net, conn, info);
                    conn.expire_now();
                    return Err(Verdict::Stolen);
                }
            }
        }
        Phase::Open { .. } | Phase::Closed | Phase::Direct => g.adj,
    };
    drop(g);
    let adj = adj.map_or(TcpAdjust::default(), |a| a.to_server);
    if let Some(p) = &ext.proxy {
        return pp::to_server(st, net, conn, p, skb, info, &adj);
    }
    if adjust(&mut skb, info, &adj, None) {
        Ok(skb)
    } else {
        Err(Verdict::Drop(DropReason::Header))
    }
}

/// A real server's packet of a connection (reply path, NAT or FULLNAT,
/// before the address translation). `None`: carry on (translated);
/// `Some(verdict)`: consumed.
pub(crate) fn from_server(
    st: &NetState,
    net: NetRef<'_>,
    conn: &Conn,
    skb: &mut SkBuff,
    info: &PacketInfo,
) -> Option<Verdict> {
    let ext = conn.ext()?;
    let flags = info.tcp_flags;
    let (_bh, mut g) = ext.lock();
    match &g.phase {
        Phase::Waiting { ca, cfg, .. } => {
            let (ca, cfg) = (*ca, *cfg);
            if flags & RST != 0 {
                g.phase = Phase::Closed;
                drop(g);
                let rst = Segment {
                    saddr: ca.tuple.daddr,
                    daddr: ca.tuple.saddr,
                    sport: ca.tuple.dport,
                    dport: ca.tuple.sport,
                    seq: ca.cookie.wrapping_add(1),
                    ack_seq: 0,
                    flags: RST,
                    window: 0,
                    ttl: cfg.ttl,
                    opts: SegmentOptions::default(),
                };
                send_to_client(net, &rst);
                conn.expire_now();
                return Some(Verdict::Drop(DropReason::SynproxyServer));
            }
            let s = match headers(skb, info).map(|h| parse_server_synack(h, ca.client_isn)) {
                Some(Ok(s)) => s,
                _ => return Some(Verdict::Drop(DropReason::SynproxyServer)),
            };
            let adj = translation(&ca, &s, &cfg);
            g.adj = Some(adj);
            let old = core::mem::replace(&mut g.phase, Phase::Open { ca, server: s });
            drop(g);
            let held = match old {
                Phase::Waiting { held, .. } => held,
                _ => None,
            };
            let timeouts = st.timeouts.get();
            conn.packet(
                Direction::Output,
                dataplane::tcp_event(skb, info),
                &timeouts,
            );
            send_to_client(net, &client_window_update(&ca, &s, &cfg));
            match held {
                Some(h) => forward_held(st, net, conn, ext, h.take(), &adj.to_server),
                None => ack_server(st, net, conn, ext, &server_ack(&ca, &s, BACKEND_TTL)),
            }
            Some(Verdict::Drop(DropReason::SynproxyServer))
        }
        Phase::Open { ca, server } => {
            if flags & (SYN | ACK) == SYN | ACK {
                // Our ACK was lost: the server repeats its SYN-ACK.
                let (ca, s) = (*ca, *server);
                drop(g);
                ack_server(st, net, conn, ext, &server_ack(&ca, &s, BACKEND_TTL));
                return Some(Verdict::Drop(DropReason::SynproxyServer));
            }
            let adj = g.adj.map_or(TcpAdjust::default(), |a| a.to_client);
            drop(g);
            from_server_adjust(skb, info, ext, &adj)
        }
        Phase::Direct => {
            drop(g);
            from_server_adjust(skb, info, ext, &TcpAdjust::default())
        }
        Phase::Closed => None,
    }
}

/// A server segment of an open connection, translated for the client
/// (with the PROXY protocol header's gap, if any): `None` to carry on,
/// `Some(Drop)` if it could not be.
fn from_server_adjust(
    skb: &mut SkBuff,
    info: &PacketInfo,
    ext: &ConnExt,
    adj: &TcpAdjust,
) -> Option<Verdict> {
    let ok = match &ext.proxy {
        Some(p) => pp::from_server(skb, info, p, adj),
        None => adjust(skb, info, adj, None),
    };
    (!ok).then_some(Verdict::Drop(DropReason::Header))
}

/// Sends `seg`, our ACK completing the server's handshake (in the
/// server's sequence space already), to the server; with a PROXY protocol
/// header the header segment goes in its place.
fn ack_server(st: &NetState, net: NetRef<'_>, conn: &Conn, ext: &ConnExt, seg: &Segment) {
    let Some(p) = &ext.proxy else {
        send_to_server(net, conn, seg);
        return;
    };
    let Some((skb, info)) = segment_skb(seg) else {
        return;
    };
    let raw = skb.as_raw();
    match pp::to_server(st, net, conn, p, skb, &info, &TcpAdjust::default()) {
        Ok(skb) => {
            forward(skb, net, conn, &info);
        }
        Err(Verdict::Stolen) => {}
        Err(_) => free(raw),
    }
}

/// Sends the client packet held over the wait to the server, translated.
fn forward_held(
    st: &NetState,
    net: NetRef<'_>,
    conn: &Conn,
    ext: &ConnExt,
    skb: SkBuff,
    adj: &TcpAdjust,
) {
    let raw = skb.as_raw();
    let mut skb = skb;
    let len = skb.len().min(120);
    let info = match skb.header(len).map(packet::parse_packet) {
        Some(Ok(i)) => i,
        _ => {
            free(raw);
            return;
        }
    };
    let mut skb = match &ext.proxy {
        Some(p) => match pp::to_server(st, net, conn, p, skb, &info, adj) {
            Ok(s) => s,
            Err(Verdict::Stolen) => return,
            Err(_) => {
                free(raw);
                return;
            }
        },
        None => {
            if !adjust(&mut skb, &info, adj, None) {
                free(raw);
                return;
            }
            skb
        }
    };
    let timeouts = st.timeouts.get();
    let bytes = skb.len();
    conn.packet(
        Direction::Input,
        dataplane::tcp_event(&mut skb, &info),
        &timeouts,
    );
    conn.count_inbound(&st.total, bytes);
    forward(skb, net, conn, &info);
}

/// The connection timer fired (`conn.rs`): true if the connection still
/// waits for its real server and the SYN went again (the timer is
/// re-armed), false to let it expire.
pub(crate) fn timer(conn: &Conn) -> bool {
    let Some(ext) = conn.ext() else {
        return false;
    };
    if !conn.live() {
        return false;
    }
    let _rcu = RcuGuard::new();
    // SAFETY: a namespace outlives its connections (namespace exit
    // flushes them before the namespace goes).
    let net = unsafe { NetRef::new(ext.net) };
    let Some(st) = NetState::get(net) else {
        return false;
    };
    if st.stopping.load(Ordering::SeqCst) {
        return false;
    }
    let lim = limits(st);
    let (ca, secs) = {
        let (_bh, mut g) = ext.lock();
        match &mut g.phase {
            Phase::Waiting { ca, wait, .. } => match wait.retry(&lim) {
                Some(secs) => (*ca, secs),
                None => return false,
            },
            _ => return false,
        }
    };
    if send_to_server(net, conn, &backend_syn(&ca, BACKEND_TTL)) {
        count(st, &conn.svc, Count::SynRetrans);
    }
    conn.retimer(secs);
    true
}
