// SPDX-License-Identifier: GPL-2.0
//! A Rust transcription of upstream Linux 6.12's IPVS schedulers
//! (`net/netfilter/ipvs/ip_vs_*.c`), the reference the benchmark compares
//! `ipvs_core`'s schedulers with.
//!
//! Each file follows its C file function by function: the same loops, the
//! same integer types (`int` is `i32`, `__s64` is `i64`), the same
//! arithmetic and hash functions. What a transcription to host Rust cannot
//! keep is modelled as follows, the same way for both sides of the
//! benchmark:
//!
//! * `svc->destinations` (a linked list) is a slice of [`Dest`] in list
//!   order; a list cursor (`struct list_head *` that may point at the list
//!   head) is an `Option<usize>`, `None` standing for the head. Upstream
//!   pays a dependent pointer load per step and its `ip_vs_dest` spans
//!   several cache lines; the slice of compact structs spares it both, so
//!   the reference is, if anything, faster than the kernel's code.
//! * `atomic_t` fields are `AtomicI32` read with `Relaxed` (`atomic_read`
//!   is a plain volatile load); `volatile unsigned int flags` is an
//!   `AtomicU32`.
//! * `jiffies`, the packet's headers, the service flags and the random
//!   numbers (`get_random_u32`) come in a [`Pkt`], prepared before the
//!   measurement as `ipvs_core`'s `SchedInput` is.
//! * Spinlocks (`svc->sched_lock`) are not taken: the `ipvs_rs` side takes
//!   none either (its kernel glue holds a per-service lock around every
//!   scheduling call).
//! * `kmalloc`/`kfree` of `lblc`/`lblcr` cache entries become an arena
//!   with a free list (only cache misses allocate).

pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod ovf;
pub mod rr;
pub mod sed;
pub mod sh;
pub mod twos;
pub mod wlc;
pub mod wrr;

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::Relaxed};

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_SCTP: u8 = 132;

/// `IP_VS_DEST_F_OVERLOAD` in `dest->flags`.
pub const IP_VS_DEST_F_OVERLOAD: u32 = 0x0002;
/// `IP_VS_DEST_CF_AVAILABLE` in `dest->cflags`.
pub const IP_VS_DEST_CF_AVAILABLE: u64 = 0x0001;
/// `IP_VS_HDR_INVERSE` in `iph->hdr_flags`.
pub const IP_VS_HDR_INVERSE: u16 = 1;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;

/// `union nf_inet_addr`: four `__be32` words (as stored, network order).
pub type NfInetAddr = [u32; 4];

/// `ntohl`.
pub fn ntohl(x: u32) -> u32 {
    u32::from_be(x)
}

/// `ntohs`.
pub fn ntohs(x: u16) -> u16 {
    u16::from_be(x)
}

/// The fields of `struct ip_vs_dest` (include/net/ip_vs.h) the schedulers
/// read, in upstream's order.
#[allow(dead_code)] // upstream's layout: some fields no scheduler reads
pub struct Dest {
    pub af: u16,
    /// `__be16`.
    pub port: u16,
    pub addr: NfInetAddr,
    pub flags: AtomicU32,
    pub conn_flags: AtomicI32,
    pub weight: AtomicI32,
    pub cflags: u64,
    pub last_weight: AtomicI32,
    pub activeconns: AtomicI32,
    pub totalconns: AtomicI32,
    pub persistconns: AtomicI32,
    pub u_threshold: u32,
    pub l_threshold: u32,
}

impl Dest {
    pub fn weight(&self) -> i32 {
        self.weight.load(Relaxed)
    }
    pub fn activeconns(&self) -> i32 {
        self.activeconns.load(Relaxed)
    }
    pub fn overloaded(&self) -> bool {
        self.flags.load(Relaxed) & IP_VS_DEST_F_OVERLOAD != 0
    }
}

/// `ip_vs_dest_conn_overhead()` of 6.12: `(activeconns << 8) + totalconns`.
#[inline]
pub fn ip_vs_dest_conn_overhead(dest: &Dest) -> i32 {
    (dest.activeconns.load(Relaxed) << 8) + dest.totalconns.load(Relaxed)
}

/// What the schedulers read of `struct ip_vs_service`.
pub struct Svc {
    pub af: u16,
    pub flags: u32,
    pub destinations: Vec<Dest>,
    /// `ipvs->sysctl_lblcr_expiration` (jiffies).
    pub sysctl_lblcr_expiration: i32,
}

/// One packet as the schedulers see it: `struct ip_vs_iphdr`, the ports
/// `skb_header_pointer` would return, `jiffies`, and the random numbers
/// `get_random_u32()` would return.
pub struct Pkt {
    pub protocol: u8,
    pub hdr_flags: u16,
    pub saddr: NfInetAddr,
    pub daddr: NfInetAddr,
    /// The first 4 bytes of the transport header (`__be16` ports).
    pub ports: [u16; 2],
    pub jiffies: u64,
    pub random: u64,
}

impl Pkt {
    /// `ip_vs_iph_inverse(iph)`.
    pub fn inverse(&self) -> bool {
        self.hdr_flags & IP_VS_HDR_INVERSE != 0
    }
}

/// `struct ip_vs_scheduler`'s `schedule` hook: an indirect call, as in
/// `ip_vs_schedule()`. Returns the index of the chosen dest.
pub trait Scheduler {
    fn schedule(&mut self, svc: &Svc, pkt: &Pkt) -> Option<usize>;
}

/// `init_service` of the scheduler called `name`.
pub fn init_service(name: &str, svc: &Svc) -> Box<dyn Scheduler> {
    match name {
        "rr" => Box::new(rr::Rr::init_svc(svc)),
        "wrr" => Box::new(wrr::Wrr::init_svc(svc)),
        "lc" => Box::new(lc::Lc),
        "wlc" => Box::new(wlc::Wlc),
        "sed" => Box::new(sed::Sed),
        "nq" => Box::new(nq::Nq),
        "lblc" => Box::new(lblc::Lblc::init_svc(svc)),
        "lblcr" => Box::new(lblcr::Lblcr::init_svc(svc)),
        "dh" => Box::new(dh::Dh::init_svc(svc)),
        "sh" => Box::new(sh::Sh::init_svc(svc)),
        "mh" => Box::new(mh::Mh::init_svc(svc)),
        "fo" => Box::new(fo::Fo),
        "ovf" => Box::new(ovf::Ovf),
        "twos" => Box::new(twos::Twos),
        _ => panic!("no scheduler {name}"),
    }
}

/// `include/linux/hash.h`.
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

#[inline]
pub fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// The `addr_fold` every hashing scheduler starts with: `addr->ip`, or
/// the XOR of the four words for IPv6; still `__be32`.
#[inline]
pub fn addr_fold(af: u16, addr: &NfInetAddr) -> u32 {
    if af == AF_INET6 {
        addr[0] ^ addr[1] ^ addr[2] ^ addr[3]
    } else {
        addr[0]
    }
}

/// `ip_vs_addr_equal()`.
#[inline]
pub fn ip_vs_addr_equal(af: u16, a: &NfInetAddr, b: &NfInetAddr) -> bool {
    if af == AF_INET6 {
        a == b
    } else {
        a[0] == b[0]
    }
}

/// `hsiphash_key_t` on 64-bit kernels.
pub type HsiphashKey = [u64; 2];

/// `lib/siphash.c`, 64-bit kernels: HSIPROUND is SIPROUND.
#[inline]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// `__hsiphash_unaligned()` (x86 has efficient unaligned access and
/// `CONFIG_DCACHE_WORD_ACCESS`): HPREAMBLE, 8-byte words, the tail as one
/// zero-padded word, HPOSTAMBLE.
pub fn hsiphash(data: &[u8], key: &HsiphashKey) -> u32 {
    let len = data.len();
    let mut v = [
        0x736f_6d65_7073_6575u64 ^ key[0],
        0x646f_7261_6e64_6f6du64 ^ key[1],
        0x6c79_6765_6e65_7261u64 ^ key[0],
        0x7465_6462_7974_6573u64 ^ key[1],
    ];
    let mut b = (len as u64) << 56;
    let end = len - (len % 8);
    let left = len & 7;
    let mut i = 0;
    while i != end {
        let m = u64::from_le_bytes(data[i..i + 8].try_into().unwrap());
        v[3] ^= m;
        sipround(&mut v);
        v[0] ^= m;
        i += 8;
    }
    if left != 0 {
        let mut w = [0u8; 8];
        w[..left].copy_from_slice(&data[end..]);
        b |= u64::from_le_bytes(w);
    }
    v[3] ^= b;
    sipround(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    sipround(&mut v);
    sipround(&mut v);
    sipround(&mut v);
    ((v[0] ^ v[1]) ^ (v[2] ^ v[3])) as u32
}

/// `time_after(a, b)` on `unsigned long` jiffies.
#[inline]
pub fn time_after(a: u64, b: u64) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

/// `lib/math/gcd.c` (the result; upstream uses the binary algorithm).
pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}
