// SPDX-License-Identifier: GPL-2.0
//! The probes (registration objects in the shim) and their handlers.
//!
//! - `tcp_v4_syn_recv_sock` (kretprobe): on entry, the segment completing
//!   the handshake (the ACK; the SYN with Fast Open; the cookie ACK with
//!   syncookies: all three paths create the child here, IPv6 listeners'
//!   v4-mapped children too) is scanned for TOA; on return the new socket
//!   is tagged with the client endpoint and the peer the kernel knows.
//! - `inet_getname`, `inet6_getname` (kretprobes): `accept()` and
//!   `getpeername()` (`peer != 0`); on return a tagged socket's peer
//!   address is rewritten to the client.
//! - `inet_sock_destruct` (kprobe): every IPv4/IPv6 socket passes here
//!   once (from `__sk_destruct`, through `sk->sk_destruct`) before its
//!   memory is released; its tag goes.

use crate::bindings;
use crate::params;
use crate::stats::{inc, COUNTERS};
use crate::table::{Table, LIVE};
use core::ffi::{c_int, c_void};
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::{AtomicPtr, Ordering};
use ipvs_core::toa::{rewrite_peer, scan_tcp_header, Rewrite, Scan, Tag, ToaV4};
use kernel::error::{to_result, Result};
use kernel::prelude::*;

/// The table the handlers use: set before the first probe is registered,
/// cleared after the last is unregistered (which waits for running
/// handlers).
static TABLE: AtomicPtr<Table> = AtomicPtr::new(null_mut());

fn table() -> Option<&'static Table> {
    let p = TABLE.load(Ordering::Acquire);
    // SAFETY: non-null only while probes are registered (see `TABLE`), and
    // the table is freed only after they are all unregistered, which waits
    // for running handlers; handlers do not keep the reference.
    unsafe { p.as_ref() }
}

/// The saved registers of a probe hit.
struct Regs(*mut bindings::pt_regs);

impl Regs {
    /// Argument `n` (0-based) of the probed function, at its entry.
    fn arg(&self, n: u32) -> usize {
        // SAFETY: the kprobe core passes the live register frame.
        unsafe { bindings::toa_rs_regs_arg(self.0, n) }
    }

    /// The return value, in a return handler.
    fn ret(&self) -> usize {
        // SAFETY: as above.
        unsafe { bindings::toa_rs_regs_ret(self.0) }
    }
}

/// The per-call data of a kretprobe instance, of type `D` (what the
/// shim's `data_size` was set from).
struct Instance<D>(*mut D);

impl<D> Instance<D> {
    /// # Safety
    ///
    /// `ri` is the instance the kprobe core passed to a handler of a
    /// kretprobe whose `data_size` is `size_of::<D>()`.
    unsafe fn new(ri: *mut bindings::kretprobe_instance) -> Self {
        // SAFETY: see above.
        Instance(unsafe { bindings::toa_rs_ri_data(ri) }.cast::<D>())
    }

    fn put(&self, d: D) {
        // SAFETY: the instance's data area holds a D and belongs to this
        // call until its return handler has run; no alignment assumed.
        unsafe { self.0.write_unaligned(d) }
    }

    fn take(&self) -> D
    where
        D: Copy,
    {
        // SAFETY: written by the entry handler of the same call (the
        // return handler only runs if the entry handler returned 0 after
        // `put`).
        unsafe { self.0.read_unaligned() }
    }
}

/// The TCP header and what follows it in the linear area of `skb`.
///
/// # Safety
///
/// `skb` is a live packet that stays unchanged while the slice is used.
unsafe fn tcp_bytes<'a>(skb: *const bindings::sk_buff) -> Option<&'a [u8]> {
    if skb.is_null() {
        return None;
    }
    let mut len: u32 = 0;
    // SAFETY: skb is live (see above); the shim only reads its offsets.
    let p = unsafe { bindings::toa_rs_skb_transport(skb, &mut len) };
    if p.is_null() {
        return None;
    }
    // SAFETY: the shim returned `len` bytes of the linear area, between the
    // transport header and the tail, which live as long as the skb.
    Some(unsafe { core::slice::from_raw_parts(p, len as usize) })
}

/// `tcp_v4_syn_recv_sock(sk, skb, req, dst, req_unhash, own_req, ...)`
/// entry: scan `skb` for TOA; keep it for the return handler, or skip it.
///
/// # Safety
///
/// Called by the kprobe core for `toa_rs_krp_syn_recv`.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_syn_recv_entry(
    ri: *mut bindings::kretprobe_instance,
    regs: *mut bindings::pt_regs,
) -> c_int {
    if !params::enabled() {
        return 1;
    }
    let regs = Regs(regs);
    // SAFETY: the segment being processed; the receive path holds it
    // (unchanged) for the whole call.
    let Some(bytes) = (unsafe { tcp_bytes(regs.arg(1) as *const bindings::sk_buff) }) else {
        inc(&COUNTERS.parse_errors);
        return 1;
    };
    let seg = scan_tcp_header(bytes);
    let toa = match seg.scan {
        Scan::Found(t) => t,
        Scan::Absent => {
            inc(&COUNTERS.no_toa);
            return 1;
        }
        Scan::Malformed => {
            inc(&COUNTERS.parse_errors);
            return 1;
        }
    };
    inc(if seg.syn {
        &COUNTERS.syn_toa
    } else {
        &COUNTERS.ack_toa
    });
    // SAFETY: this probe's data_size is that of toa_rs_syn_recv_data.
    let inst = unsafe { Instance::<bindings::toa_rs_syn_recv_data>::new(ri) };
    inst.put(bindings::toa_rs_syn_recv_data {
        own_req: regs.arg(5) as *mut bool,
        toa: toa.encode(),
    });
    0
}

/// `tcp_v4_syn_recv_sock` return: tag the new socket.
///
/// # Safety
///
/// Called by the kprobe core for `toa_rs_krp_syn_recv`.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_syn_recv_ret(
    ri: *mut bindings::kretprobe_instance,
    regs: *mut bindings::pt_regs,
) -> c_int {
    let regs = Regs(regs);
    // SAFETY: this probe's data_size is that of toa_rs_syn_recv_data.
    let d = unsafe { Instance::<bindings::toa_rs_syn_recv_data>::new(ri) }.take();
    let child = regs.ret() as *mut bindings::sock;
    let (Some(client), Some(t), false) = (ToaV4::decode(&d.toa), table(), child.is_null()) else {
        inc(&COUNTERS.no_child);
        return 0;
    };
    // A child is only returned after *own_req was set (read as a byte all
    // the same); a child it does not own (another CPU won the request) is
    // on its way out.
    // SAFETY: own_req points to the caller's flag, which outlives the call
    // we are returning from.
    let owned = d.own_req.is_null() || unsafe { d.own_req.cast::<u8>().read_volatile() } != 0;
    if !owned {
        inc(&COUNTERS.no_child);
        return 0;
    }
    let (mut addr, mut port) = (0u32, 0u16);
    // SAFETY: the child is alive: the caller holds a reference to it until
    // after this handler.
    unsafe { bindings::toa_rs_sk_peer4(child, &mut addr, &mut port) };
    let kernel_peer = ToaV4 {
        addr: addr.to_ne_bytes(),
        port: u16::from_be(port),
    };
    t.insert(
        child as u64,
        Tag {
            client,
            kernel_peer,
        },
    );
    0
}

/// `inet_getname(sock, uaddr, peer)` / `inet6_getname` entry: keep the
/// socket and the address buffer of peer lookups while anything is tagged.
///
/// # Safety
///
/// Called by the kprobe core for `toa_rs_krp_getname` or
/// `toa_rs_krp_getname6`.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_getname_entry(
    ri: *mut bindings::kretprobe_instance,
    regs: *mut bindings::pt_regs,
) -> c_int {
    let regs = Regs(regs);
    if regs.arg(2) as c_int == 0 || LIVE.load(Ordering::Relaxed) == 0 {
        return 1;
    }
    let sock = regs.arg(0) as *const bindings::socket;
    if sock.is_null() {
        return 1;
    }
    // SAFETY: the caller holds the socket (its file) for the call.
    let sk = unsafe { bindings::toa_rs_socket_sk(sock) };
    // SAFETY: both probes' data_size is that of toa_rs_getname_data.
    let inst = unsafe { Instance::<bindings::toa_rs_getname_data>::new(ri) };
    inst.put(bindings::toa_rs_getname_data {
        sk,
        uaddr: regs.arg(1) as *mut c_void,
    });
    0
}

/// Size of `struct sockaddr_storage`, the largest address `getname`
/// writes.
const SOCKADDR_STORAGE: usize = 128;

/// `inet_getname` / `inet6_getname` return: rewrite a tagged socket's peer.
///
/// # Safety
///
/// Called by the kprobe core for `toa_rs_krp_getname` or
/// `toa_rs_krp_getname6`.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_getname_ret(
    ri: *mut bindings::kretprobe_instance,
    regs: *mut bindings::pt_regs,
) -> c_int {
    let regs = Regs(regs);
    // SAFETY: both probes' data_size is that of toa_rs_getname_data.
    let d = unsafe { Instance::<bindings::toa_rs_getname_data>::new(ri) }.take();
    // The int return value: the address length written, or an error.
    let ret = regs.ret() as u32 as i32;
    let Ok(len) = usize::try_from(ret) else {
        return 0;
    };
    if len == 0 || d.uaddr.is_null() {
        return 0;
    }
    let Some(tag) = table().and_then(|t| t.get(d.sk as u64)) else {
        return 0;
    };
    // SAFETY: getname just wrote `len` bytes at uaddr, the caller's address
    // buffer (a sockaddr_storage or as large as the family's address),
    // which nothing else touches until the caller continues after this
    // handler.
    let sa =
        unsafe { core::slice::from_raw_parts_mut(d.uaddr.cast::<u8>(), len.min(SOCKADDR_STORAGE)) };
    match rewrite_peer(sa, tag.kernel_peer, tag.client) {
        Rewrite::Done => inc(&COUNTERS.getname_rewrites),
        Rewrite::Mismatch | Rewrite::Unsupported => inc(&COUNTERS.getname_mismatch),
    }
    0
}

/// `inet_sock_destruct(sk)` entry: the socket's memory is about to be
/// released; forget its tag.
///
/// # Safety
///
/// Called by the kprobe core for `toa_rs_kp_sock_destruct`.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_sock_destruct_pre(
    _p: *mut bindings::kprobe,
    regs: *mut bindings::pt_regs,
) -> c_int {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    if let Some(t) = table() {
        t.remove(Regs(regs).arg(0) as u64);
    }
    0
}

/// One registered probe, unregistered on drop.
enum Probe {
    K(*mut bindings::kprobe),
    Ret(*mut bindings::kretprobe),
}

impl Probe {
    /// # Safety
    ///
    /// `p` is one of the shim's probe objects, not registered.
    unsafe fn register(p: Probe) -> Result<Probe> {
        // SAFETY: see above; the object is a static of this module.
        to_result(unsafe {
            match p {
                Probe::K(k) => bindings::register_kprobe(k),
                Probe::Ret(r) => bindings::register_kretprobe(r),
            }
        })?;
        Ok(p)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: registered by `register`; unregistering waits for
        // running handlers.
        unsafe {
            match *self {
                Probe::K(k) => bindings::unregister_kprobe(k),
                Probe::Ret(r) => bindings::unregister_kretprobe(r),
            }
        }
    }
}

/// The registered probes. Fields drop in declaration order: the probe
/// that creates tags first, the destructor probe last.
struct Registered {
    _syn_recv: Probe,
    _getname6: Option<Probe>,
    _getname: Probe,
    _sock_destruct: Probe,
}

impl Registered {
    /// Registers the destructor probe first, so no tagged socket is freed
    /// unseen, and the tagging one last. On failure, what was registered is
    /// unregistered again.
    fn new() -> Result<Self> {
        // SAFETY: the shim's probe object, registered once.
        let sock_destruct =
            unsafe { Probe::register(Probe::K(addr_of_mut!(bindings::toa_rs_kp_sock_destruct))) }
                .inspect_err(|e| pr_err!("cannot probe inet_sock_destruct: {:?}\n", e))?;
        // SAFETY: as above.
        let getname =
            unsafe { Probe::register(Probe::Ret(addr_of_mut!(bindings::toa_rs_krp_getname))) }
                .inspect_err(|e| pr_err!("cannot probe inet_getname: {:?}\n", e))?;
        // Without IPv6 there are no dual-stack listeners to serve.
        // SAFETY: as above.
        let getname6 =
            unsafe { Probe::register(Probe::Ret(addr_of_mut!(bindings::toa_rs_krp_getname6))) }
                .inspect_err(|e| pr_info!("no inet6_getname probe ({:?}): IPv4 sockets only\n", e))
                .ok();
        // SAFETY: as above.
        let syn_recv =
            unsafe { Probe::register(Probe::Ret(addr_of_mut!(bindings::toa_rs_krp_syn_recv))) }
                .inspect_err(|e| pr_err!("cannot probe tcp_v4_syn_recv_sock: {:?}\n", e))?;
        Ok(Registered {
            _syn_recv: syn_recv,
            _getname6: getname6,
            _getname: getname,
            _sock_destruct: sock_destruct,
        })
    }
}

/// The probes and the table they share.
pub(crate) struct Probes {
    probes: Option<Registered>,
    table: KBox<Table>,
}

// SAFETY: the raw pointers are to the shim's static probe objects, which
// are only registered and unregistered through this value.
unsafe impl Send for Probes {}
// SAFETY: as above; shared references do nothing with them.
unsafe impl Sync for Probes {}

impl Probes {
    /// Publishes `table` to the handlers and registers the probes.
    pub(crate) fn new(table: KBox<Table>) -> Result<Self> {
        table.init_locks();
        let mut me = Probes {
            probes: None,
            table,
        };
        TABLE.store((&*me.table as *const Table).cast_mut(), Ordering::Release);
        // On failure `me` drops: the table is unpublished and freed.
        me.probes = Some(Registered::new()?);
        Ok(me)
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        // Unregistering waits for running handlers: after this nothing
        // uses the table.
        drop(self.probes.take());
        TABLE.store(null_mut(), Ordering::Release);
        let n = self.table.clear();
        if n > 0 {
            pr_info!("dropped the tags of {} open connections\n", n);
        }
    }
}
