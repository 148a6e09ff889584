// SPDX-License-Identifier: GPL-2.0
//! A socket buffer handed to a netfilter hook, and what the data path does
//! with it: read and write its headers, route it, send it, drop it.

use super::bindings;
use super::netns::NetRef;

/// `CHECKSUM_PARTIAL`: the L4 checksum field holds only the pseudo-header
/// sum; the rest is computed on transmit.
pub const CHECKSUM_PARTIAL: u8 = bindings::CHECKSUM_PARTIAL as u8;

/// A packet being processed by a hook. Owned by the hook's caller until a
/// consuming method (`send4`, `drop_packet`) takes it over.
pub struct SkBuff {
    ptr: *mut bindings::sk_buff,
}

impl SkBuff {
    /// Wraps the skb a netfilter hook received.
    ///
    /// # Safety
    ///
    /// `ptr` must be the valid skb of the running hook invocation, and the
    /// wrapper must not outlive it unless a consuming method took it.
    pub unsafe fn from_raw(ptr: *mut bindings::sk_buff) -> Self {
        Self { ptr }
    }

    /// Bytes from the network header to the end of the packet.
    pub fn len(&self) -> usize {
        // SAFETY: the skb is valid (type invariant).
        unsafe { bindings::ipvs_rs_skb_len(self.ptr) as usize }
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `len` bytes from the network header, pulled into the
    /// linear area, or `None` if the packet is shorter.
    pub fn header(&mut self, len: usize) -> Option<&[u8]> {
        let n = u32::try_from(len).ok()?;
        // SAFETY: the skb is valid; on success the shim guarantees `len`
        // linear bytes at the returned pointer, which stay valid until the
        // skb is modified, i.e. while `self` is borrowed.
        unsafe {
            let p = bindings::ipvs_rs_skb_header(self.ptr, n, false);
            (!p.is_null()).then(|| core::slice::from_raw_parts(p.cast_const(), len))
        }
    }

    /// A hook's first look, in one call: `None` for the director's own
    /// packets ([`Self::is_ipvs_property`]) and when the headers cannot be
    /// pulled; otherwise the first `min(max, len)` bytes from the network
    /// header (linear) and `len`, the bytes from the network header on
    /// ([`Self::len`]).
    pub fn first_look(&mut self, max: usize) -> Option<(&[u8], usize)> {
        let max = u32::try_from(max).ok()?;
        let mut len = 0u32;
        // SAFETY: the skb is valid; on success the shim guarantees
        // `min(max, len)` linear bytes at the returned pointer, which stay
        // valid until the skb is modified, i.e. while `self` is borrowed.
        unsafe {
            let p = bindings::ipvs_rs_skb_look(self.ptr, max, &mut len);
            (!p.is_null()).then(|| {
                (
                    core::slice::from_raw_parts(p.cast_const(), len.min(max) as usize),
                    len as usize,
                )
            })
        }
    }

    /// Like [`Self::header`], writable (unshared first if cloned).
    pub fn header_mut(&mut self, len: usize) -> Option<&mut [u8]> {
        let n = u32::try_from(len).ok()?;
        // SAFETY: as in `header`; skb_ensure_writable made the bytes private
        // to this skb, and `&mut self` makes the borrow exclusive.
        unsafe {
            let p = bindings::ipvs_rs_skb_header(self.ptr, n, true);
            (!p.is_null()).then(|| core::slice::from_raw_parts_mut(p, len))
        }
    }

    /// For rewriting headers in place with incremental checksum updates,
    /// in one call: the first `want` bytes from the network header (fewer
    /// if the packet is shorter), linear and writable (unshared first if
    /// cloned), and `skb->ip_summed` as it was before; the skb is marked
    /// as [`Self::csum_rewritten`] already. `None` (nothing changed) if
    /// memory is short.
    pub fn rewrite_header(&mut self, want: usize) -> Option<(&mut [u8], u8)> {
        let mut n = u32::try_from(want).ok()?;
        let mut summed = 0u8;
        // SAFETY: as in `header_mut`: on success the shim made `n` bytes
        // at the pointer linear and private to this skb, and `&mut self`
        // makes the borrow exclusive.
        unsafe {
            let p = bindings::ipvs_rs_skb_rewrite(self.ptr, &mut n, &mut summed);
            (!p.is_null()).then(|| (core::slice::from_raw_parts_mut(p, n as usize), summed))
        }
    }

    /// `skb->ip_summed`.
    pub fn ip_summed(&self) -> u8 {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_ip_summed(self.ptr) }
    }

    /// `skb->mark` (the firewall mark).
    pub fn mark(&self) -> u32 {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_mark(self.ptr) }
    }

    /// Whether the director itself already handled this packet.
    pub fn is_ipvs_property(&self) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_ipvs_property(self.ptr) }
    }

    /// Whether the packet (each segment, if GSO) is longer than `mtu`.
    pub fn exceeds_mtu(&self, mtu: u32) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_exceeds_mtu(self.ptr, mtu) }
    }

    /// Tells the skb its L4 checksum was rewritten in place.
    pub fn csum_rewritten(&mut self) {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_csum_rewritten(self.ptr) }
    }

    /// Attaches a route.
    pub fn set_route(&mut self, rt: Route) {
        // SAFETY: the skb is valid; the route's reference passes to the skb.
        unsafe { bindings::ipvs_rs_skb_set_route(self.ptr, rt.into_raw()) }
    }

    /// Prepends `len` bytes of outer header (tunnels) and returns them; the
    /// skb must have a route. `None` if memory is short.
    pub fn push_outer(&mut self, len: usize) -> Option<&mut [u8]> {
        let n = u32::try_from(len).ok()?;
        // SAFETY: the skb is valid and routed (callers set the route
        // first); on success `len` writable bytes start at the pointer.
        unsafe {
            let p = bindings::ipvs_rs_skb_push_outer4(self.ptr, n);
            (!p.is_null()).then(|| core::slice::from_raw_parts_mut(p, len))
        }
    }

    /// Sends an ICMP error about this packet (`icmp_send`).
    pub fn icmp_send4(&mut self, icmp_type: u8, code: u8, info_be: u32) {
        // SAFETY: the skb is valid; icmp_send only reads it.
        unsafe { bindings::ipvs_rs_icmp_send4(self.ptr, icmp_type.into(), code.into(), info_be) }
    }

    /// For an ICMP error about one of our IPIP packets: strips the first
    /// `off` bytes (outer IP and ICMP headers) so the data starts at our
    /// IPIP header of `hlen` bytes, and updates the path MTU towards its
    /// destination to `mtu`. False if the headers are not there.
    pub fn ipip_update_pmtu(&mut self, net: NetRef<'_>, off: usize, hlen: usize, mtu: u32) -> bool {
        let (Ok(off), Ok(hlen)) = (u32::try_from(off), u32::try_from(hlen)) else {
            return false;
        };
        // SAFETY: the skb is valid and ours; the shim checks every length.
        unsafe {
            bindings::ipvs_rs_skb_ipip_update_pmtu(net.as_ptr(), self.ptr, off, hlen, mtu) == 0
        }
    }

    /// Sends an ICMP error (`icmp_send`) about the packet `off` bytes into
    /// the data, whose IP header is `hlen` bytes, and frees the skb.
    pub fn icmp_send_inner(self, off: usize, hlen: usize, icmp_type: u8, code: u8, info_be: u32) {
        let (Ok(off), Ok(hlen)) = (u32::try_from(off), u32::try_from(hlen)) else {
            self.drop_packet();
            return;
        };
        // SAFETY: the skb is valid and ours; ownership passes to the shim,
        // which checks every length and frees it.
        unsafe {
            bindings::ipvs_rs_skb_icmp_send_inner(
                self.ptr,
                off,
                hlen,
                icmp_type.into(),
                code.into(),
                info_be,
            )
        }
    }

    /// Reassembles a forwarded IPv4 fragment: the whole datagram once the
    /// last fragment is in, `None` while fragments are queued (or were
    /// dropped): the stack owns the skb then.
    pub fn defrag4(self, net: NetRef<'_>) -> Option<SkBuff> {
        // SAFETY: the skb is valid and ours; on a non-zero return the
        // fragment queue owns (or freed) it and we never touch it again.
        (unsafe { bindings::ipvs_rs_skb_defrag4(net.as_ptr(), self.ptr) } == 0).then_some(self)
    }

    /// Whether the skb is a GSO super-packet.
    pub fn is_gso(&self) -> bool {
        // SAFETY: the skb is valid.
        unsafe { bindings::ipvs_rs_skb_is_gso(self.ptr) }
    }

    /// Opens a gap of `len` bytes after the first `hdr_len` bytes (IP and
    /// TCP headers), which move towards the head; returns the `hdr_len +
    /// len` bytes from the (new) IP header: headers, then the gap. `None`
    /// (skb unchanged) if memory is short or the headers are not there.
    pub fn insert_room(&mut self, hdr_len: usize, len: usize) -> Option<&mut [u8]> {
        let (Ok(h), Ok(l)) = (u32::try_from(hdr_len), u32::try_from(len)) else {
            return None;
        };
        if hdr_len > self.len() {
            return None;
        }
        // SAFETY: the skb is valid and ours; on success the first
        // hdr_len + len bytes from the returned pointer are linear and
        // writable (skb_ensure_writable over the headers, the gap pushed
        // into the head).
        unsafe {
            let p = bindings::ipvs_rs_skb_insert_room(self.ptr, h, l);
            (!p.is_null()).then(|| core::slice::from_raw_parts_mut(p, hdr_len + len))
        }
    }

    /// Sends the routed packet out (LOCAL_OUT, then the route's output).
    pub fn send4(self, net: NetRef<'_>) {
        // SAFETY: the skb is valid and routed; ownership passes to the stack.
        unsafe { bindings::ipvs_rs_send4(net.as_ptr(), self.ptr) }
    }

    /// Frees the packet.
    pub fn drop_packet(self) {
        // SAFETY: the skb is valid and ours to free.
        unsafe { bindings::ipvs_rs_kfree_skb(self.ptr) }
    }
}

/// A held IPv4 route.
pub struct Route(*mut bindings::rtable);

/// What a route lookup found.
pub struct RouteInfo {
    /// The route.
    pub route: Route,
    /// The destination is this host.
    pub local: bool,
    /// The path MTU.
    pub mtu: u32,
    /// The source address the route selects (network order octets).
    pub saddr: [u8; 4],
}

impl Route {
    /// Looks up the route to `daddr` (network order). With `known_nh`,
    /// `daddr` is used as the next hop only (direct routing, tunnels keep
    /// their own destination).
    pub fn output4(net: NetRef<'_>, daddr: [u8; 4], known_nh: bool) -> Option<RouteInfo> {
        let mut local = false;
        let mut mtu = 0u32;
        let mut saddr = 0u32;
        // SAFETY: net is alive; the out-parameters are valid locals.
        let rt = unsafe {
            bindings::ipvs_rs_route4(
                net.as_ptr(),
                u32::from_ne_bytes(daddr),
                known_nh,
                &mut local,
                &mut mtu,
                &mut saddr,
            )
        };
        (!rt.is_null()).then_some(RouteInfo {
            route: Route(rt),
            local,
            mtu,
            saddr: saddr.to_ne_bytes(),
        })
    }

    /// A route whose reference the caller hands over.
    ///
    /// # Safety
    ///
    /// `rt` is a valid route holding a reference that nothing else will
    /// release.
    pub(crate) unsafe fn from_raw(rt: *mut bindings::rtable) -> Route {
        Route(rt)
    }

    fn into_raw(self) -> *mut bindings::rtable {
        let p = self.0;
        core::mem::forget(self);
        p
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        // SAFETY: we hold a reference from the lookup.
        unsafe { bindings::ipvs_rs_rt_put(self.0) }
    }
}

/// A real server's cached route (upstream's `dest->dest_dst`): looked up
/// once, used without a reference under RCU, replaced when stale.
pub struct DstCache(kernel::types::Opaque<bindings::ipvs_rs_dst_cache>);

// SAFETY: the C side serialises writers with its lock and publishes the
// route with RCU; readers only load it.
unsafe impl Send for DstCache {}
// SAFETY: as above.
unsafe impl Sync for DstCache {}

/// A route from a [`DstCache`], valid for the caller's RCU read-side
/// section (no reference is held).
pub struct CachedRoute {
    rt: *mut bindings::rtable,
    /// The destination is this host.
    pub local: bool,
    /// The path MTU.
    pub mtu: u32,
    /// The source address the route selects (network order octets).
    pub saddr: [u8; 4],
}

impl CachedRoute {
    /// A route used without a reference.
    ///
    /// # Safety
    ///
    /// `rt` is a valid route that stays alive for the caller's RCU
    /// read-side section, in which the result is used.
    pub(crate) unsafe fn from_raw(
        rt: *mut bindings::rtable,
        local: bool,
        mtu: u32,
        saddr: [u8; 4],
    ) -> CachedRoute {
        CachedRoute {
            rt,
            local,
            mtu,
            saddr,
        }
    }
}

impl Default for DstCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DstCache {
    /// An uninitialised cache; [`DstCache::init`] it at its final address.
    pub const fn new() -> Self {
        Self(kernel::types::Opaque::uninit())
    }

    /// Initialises the cache in place.
    ///
    /// # Safety
    ///
    /// Called once, before any other use, and the cache never moves
    /// afterwards (it lives in an `Arc`).
    pub unsafe fn init(&self) {
        // SAFETY: per the contract, the memory is ours and stays put.
        unsafe { bindings::ipvs_rs_dst_cache_init(self.0.get()) }
    }

    /// The route to `daddr` (network order octets; with `known_nh` as the
    /// next hop only), refreshed if stale. The caller must be in an RCU
    /// read-side section (netfilter hooks are) and use the route within it.
    pub fn get(&self, net: NetRef<'_>, daddr: [u8; 4], known_nh: bool) -> Option<CachedRoute> {
        let mut local = false;
        let mut mtu = 0u32;
        let mut saddr = 0u32;
        // SAFETY: the cache was initialised (DestRt construction); net is
        // alive; the out-parameters are valid locals.
        let rt = unsafe {
            bindings::ipvs_rs_dst_cache_get(
                self.0.get(),
                net.as_ptr(),
                u32::from_ne_bytes(daddr),
                known_nh,
                &mut local,
                &mut mtu,
                &mut saddr,
            )
        };
        (!rt.is_null()).then_some(CachedRoute {
            rt,
            local,
            mtu,
            saddr: saddr.to_ne_bytes(),
        })
    }

    /// Drops the cached route (the real server goes away).
    pub fn reset(&self) {
        // SAFETY: initialised; the C side takes its lock.
        unsafe { bindings::ipvs_rs_dst_cache_reset(self.0.get()) }
    }
}

impl SkBuff {
    /// [`Self::set_route_noref`] and [`Self::send4`] in one call.
    pub fn send4_noref(self, net: NetRef<'_>, rt: &CachedRoute) {
        // SAFETY: the skb is valid and ours, ownership passes to the stack;
        // the route is alive for the caller's RCU section, in which the
        // skb is sent (the stack takes a reference if it queues it).
        unsafe { bindings::ipvs_rs_send4_noref(net.as_ptr(), self.ptr, rt.rt) }
    }

    /// Routes the skb with a cached route, without taking a reference
    /// (`skb_dst_set_noref`: the stack takes one if it queues the skb).
    pub fn set_route_noref(&mut self, rt: &CachedRoute) {
        // SAFETY: the skb is valid; the route is alive for the caller's
        // RCU section, in which the skb is sent.
        unsafe { bindings::ipvs_rs_skb_set_route_noref(self.ptr, rt.rt) }
    }
}

impl SkBuff {
    /// The raw skb (SYNPROXY: to free one after a hand-off that did not
    /// take it, or to hold it past its hook).
    pub fn as_raw(&self) -> *mut bindings::sk_buff {
        self.ptr
    }
}
