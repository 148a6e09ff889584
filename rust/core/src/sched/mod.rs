// SPDX-License-Identifier: GPL-2.0
//! The connection schedulers: every scheduler of upstream Linux 6.12 IPVS
//! (`net/netfilter/ipvs/ip_vs_*.c`), one file each, with upstream's
//! semantics (which real servers are skipped, tie-breaking, table layouts,
//! hash functions), allocation-free and panic-free.
//!
//! | name    | file        | state                         | storage the caller allocates          |
//! |---------|-------------|-------------------------------|---------------------------------------|
//! | `rr`    | [`rr`]      | cursor                        | none                                  |
//! | `wrr`   | [`wrr`]     | cursor, cw/mw/gcd             | none                                  |
//! | `lc`    | [`lc`]      | none                          | none                                  |
//! | `wlc`   | [`wlc`]     | none                          | none                                  |
//! | `sed`   | [`sed`]     | none                          | none                                  |
//! | `nq`    | [`nq`]      | none                          | none                                  |
//! | `lblc`  | [`lblc`]    | destination-address cache     | [`lblc::LBLC_SLOTS`] (32768) [`lblc::LblcSlot`]s of 56 B: 1.75 MiB |
//! | `lblcr` | [`lblcr`]   | destination-address → server set cache | [`lblcr::LBLCR_SLOTS`] (32768) [`lblcr::LblcrSlot`]s of 232 B: 7.25 MiB |
//! | `dh`    | [`dh`]      | 256-bucket table              | [`dh::DH_TABLE_SIZE`] `u32`s (1 KiB)  |
//! | `sh`    | [`sh`]      | 256-bucket weighted table     | [`sh::SH_TABLE_SIZE`] `u32`s (1 KiB)  |
//! | `mh`    | [`mh`]      | Maglev lookup table           | [`mh::MH_TABLE_SIZE`] (4093) `u32`s (16 KiB); `update` needs one `u32` of scratch per real server |
//! | `fo`    | [`fo`]      | none                          | none                                  |
//! | `ovf`   | [`ovf`]     | none                          | none                                  |
//! | `twos`  | [`twos`]    | none (random number per call) | none                                  |
//!
//! [`SchedKind::storage_need`] gives the storage sizes programmatically.
//!
//! # How the kernel glue uses this module
//!
//! * **Real servers** stay in the glue's own objects. Schedulers see them
//!   through the [`Dests`] trait, a read-only, indexable snapshot producing
//!   a [`DestView`] (weight, counters, overload flag, address, port) per
//!   server. Scheduling returns the *index* of the chosen server in that
//!   view, or `None` ("no destination available" in upstream's log).
//!   To reproduce upstream's tie-breaking exactly, present servers in
//!   upstream's list order: `ip_vs_ctl.c` adds new servers at the *head*
//!   of `svc->destinations` (`list_add_rcu`), so the newest comes first.
//! * **Per-service state** is a [`SchedState`], owned by the service and
//!   protected by the caller's lock (upstream's `svc->sched_lock` plus the
//!   RCU read side). Build it with [`SchedState::new`] from the scheduler
//!   [`SchedKind`] and the [`Backing`] storage [`SchedKind::storage_need`]
//!   asks for. The storage types come from a [`Storage`] implementation
//!   (the kernel uses `KVec`s, host tests `Vec`s), so big tables are never
//!   on the stack.
//! * **Per packet**, call [`SchedState::schedule`] with the servers and a
//!   [`SchedInput`] (addresses, ports, service flags, the current time for
//!   `lblc`/`lblcr`, a random number for `twos`). Schedulers whose
//!   per-packet path is read-only upstream (all except `rr`, `wrr`,
//!   `lblc`, `lblcr`) can also run through [`SchedState::schedule_shared`]
//!   under a shared lock.
//! * **Control plane**: after adding, removing or editing a real server,
//!   with the same lock held and *before the next schedule call*, call
//!   [`SchedState::update`] with the new server list and a [`DestChange`]
//!   (upstream's `add_dest`/`del_dest`/`upd_dest` hooks). Table-based
//!   schedulers store server indices, so an update is mandatory whenever
//!   indices move. Updates rebuild tables (up to a few milliseconds for
//!   `mh`): never call them on the packet path.
//! * **Garbage collection**: every [`cache::CHECK_EXPIRE_INTERVAL_SECS`]
//!   (60 s) call [`SchedState::expire`] (upstream's per-service
//!   `periodic_timer` of `lblc`/`lblcr`; a no-op for the others).
//!
//! Weights are `i32` as in the kernel's `atomic_t`. Upstream's control
//! plane rejects negative weights; here a negative weight is treated as 0
//! everywhere, so such a server is never chosen.
//!
//! Connection counts in load comparisons are done in exact wide integer
//! arithmetic, so no input overflows (upstream computes them in `int`/`s64`
//! and can overflow with absurd counters; for realistic values the results
//! are identical).

pub mod cache;
pub mod dh;
pub mod fo;
mod hash;
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

use crate::addr::{Addr, Af};
use crate::errno::Errno;

/// `IP_VS_SVC_F_SCHED1`: scheduler flag 1 of a service.
pub const SVC_F_SCHED1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2`: scheduler flag 2 of a service.
pub const SVC_F_SCHED2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED_SH_FALLBACK`: `sh` falls back to another server when
/// the hashed one is unavailable.
pub const SVC_F_SCHED_SH_FALLBACK: u32 = SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_SH_PORT`: `sh` hashes the client port too.
pub const SVC_F_SCHED_SH_PORT: u32 = SVC_F_SCHED2;
/// `IP_VS_SVC_F_SCHED_MH_FALLBACK`: `mh` falls back to another server when
/// the hashed one is unavailable.
pub const SVC_F_SCHED_MH_FALLBACK: u32 = SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_MH_PORT`: `mh` hashes the client port too.
pub const SVC_F_SCHED_MH_PORT: u32 = SVC_F_SCHED2;

/// Marks an empty bucket in the `dh`/`sh`/`mh` tables (upstream's NULL
/// `dest` pointer). Any other value is a server index.
pub const NO_DEST: u32 = u32::MAX;

/// What a scheduler may read of one real server (`struct ip_vs_dest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestView {
    /// Address (family included; may differ from the service's family).
    pub addr: Addr,
    /// Port, host order.
    pub port: u16,
    /// `dest->weight`; 0 (or negative) means quiesced: no new connections.
    pub weight: i32,
    /// `dest->last_weight`: the latest non-zero weight the control plane
    /// set (or the weight it was added with, even if 0). Only `mh` uses it,
    /// so that quiescing a server keeps its Maglev slots. Glue that does
    /// not track it may pass `weight`; `mh` then reshuffles on quiescing.
    pub last_weight: i32,
    /// `dest->activeconns`.
    pub active: u32,
    /// Inactive connections: `totalconns - activeconns` in 6.12's counters
    /// (upstream's `ip_vs_dest_inactconns`).
    pub inactive: u32,
    /// `dest->flags & IP_VS_DEST_F_OVERLOAD`: the upper connection
    /// threshold was reached.
    pub overloaded: bool,
}

impl DestView {
    /// A server with weight (and last weight) `weight`, no connections, not
    /// overloaded.
    pub const fn new(addr: Addr, port: u16, weight: i32) -> Self {
        DestView {
            addr,
            port,
            weight,
            last_weight: weight,
            active: 0,
            inactive: 0,
            overloaded: false,
        }
    }

    /// The weight, negative values read as 0.
    #[inline]
    pub fn weight(&self) -> u32 {
        u32::try_from(self.weight).unwrap_or(0)
    }

    /// Whether the server may take new connections in most schedulers:
    /// weight above 0 and not overloaded.
    #[inline]
    pub fn available(&self) -> bool {
        may_take(self.weight, self.overloaded)
    }

    /// `ip_vs_dest_conn_overhead()` of 6.12: `(activeconns << 8) +
    /// totalconns`, i.e. `257 * active + inactive` (older kernels used
    /// `256 * active + inactive`). Below 2^41, never overflows.
    #[inline]
    pub fn conn_overhead(&self) -> u64 {
        let active = u64::from(self.active);
        (active << 8) + active + u64::from(self.inactive)
    }

    /// Whether `other` is the same real server (same address and port,
    /// what identifies a server within its service).
    #[inline]
    pub fn same_server(&self, other: &DestView) -> bool {
        self.addr == other.addr && self.port == other.port
    }
}

/// A read-only, indexable view of a service's real servers, in list order.
pub trait Dests {
    /// Number of servers.
    fn len(&self) -> usize;
    /// The server at `index`, `None` past the end.
    fn get(&self, index: usize) -> Option<DestView>;
    /// Whether there are no servers.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The weight and the overload flag of the server at `index`, `None`
    /// past the end: `get(index).map(|d| (d.weight, d.overloaded))`, all
    /// that `rr`, `wrr`, `dh`, `sh`, `mh` and `fo` read of a server per
    /// decision. Implementations whose `get` assembles a [`DestView`] from
    /// several places (counters, address) should read just these two
    /// fields here: upstream's schedulers read just these.
    #[inline]
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        self.get(index).map(|d| (d.weight, d.overloaded))
    }
}

impl Dests for [DestView] {
    #[inline]
    fn len(&self) -> usize {
        <[DestView]>::len(self)
    }
    #[inline]
    fn get(&self, index: usize) -> Option<DestView> {
        <[DestView]>::get(self, index).copied()
    }
    #[inline]
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        <[DestView]>::get(self, index).map(|d| (d.weight, d.overloaded))
    }
}

impl<const N: usize> Dests for [DestView; N] {
    #[inline]
    fn len(&self) -> usize {
        N
    }
    #[inline]
    fn get(&self, index: usize) -> Option<DestView> {
        self.as_slice().get(index).copied()
    }
    #[inline]
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        self.as_slice().weight_overloaded(index)
    }
}

impl<D: Dests + ?Sized> Dests for &D {
    #[inline]
    fn len(&self) -> usize {
        (**self).len()
    }
    #[inline]
    fn get(&self, index: usize) -> Option<DestView> {
        (**self).get(index)
    }
    #[inline]
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        (**self).weight_overloaded(index)
    }
}

/// Whether the server at `index` may take new connections
/// ([`DestView::available`]: weight above 0, not overloaded), `None` past
/// the end. Reads only [`Dests::weight_overloaded`].
#[inline]
pub(crate) fn available_at<D: Dests + ?Sized>(dests: &D, index: usize) -> Option<bool> {
    dests
        .weight_overloaded(index)
        .map(|(weight, overloaded)| may_take(weight, overloaded))
}

/// The weight of the server at `index` if it may take new connections
/// (as [`available_at`]), `None` if it may not or is past the end.
#[inline]
pub(crate) fn available_weight_at<D: Dests + ?Sized>(dests: &D, index: usize) -> Option<u64> {
    match dests.weight_overloaded(index) {
        Some((weight, overloaded)) if may_take(weight, overloaded) => {
            Some(weight.unsigned_abs().into())
        }
        _ => None,
    }
}

/// The one "may take new connections" rule: weight above 0, not overloaded.
#[inline(always)]
const fn may_take(weight: i32, overloaded: bool) -> bool {
    weight > 0 && !overloaded
}

/// Marks the branch that calls it as rarely taken (stable stand-in for
/// `core::hint::cold_path`): scans then keep a predicted branch for "new
/// best server" rather than a chain of conditional moves, which would make
/// every step wait for the previous one.
#[cold]
#[inline(always)]
pub(crate) fn cold_path() {}

/// The servers of `dests` with their indices, skipping holes.
#[inline]
pub(crate) fn iter<D: Dests + ?Sized>(dests: &D) -> impl Iterator<Item = (usize, DestView)> + '_ {
    (0..dests.len()).filter_map(move |i| dests.get(i).map(|d| (i, d)))
}

/// What a scheduler may look at for one packet (upstream's `skb` and
/// `struct ip_vs_iphdr`), plus what the core cannot obtain itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedInput {
    /// Source address of the packet (`iph->saddr`): the client.
    pub saddr: Addr,
    /// Source port, host order; 0 unless the protocol is TCP, UDP or SCTP
    /// and the ports are readable (as `ip_vs_{sh,mh}_get_port`).
    pub sport: u16,
    /// Destination address (`iph->daddr`): the virtual address, or for
    /// firewall-mark services the original destination (what `dh`, `lblc`
    /// and `lblcr` key on).
    pub daddr: Addr,
    /// Destination port, host order; 0 as for `sport`.
    pub dport: u16,
    /// `ip_vs_iph_inverse(iph)`: the packet travels from server to client
    /// (ICMP errors). `sh` and `mh` then hash `daddr`/`dport` instead of
    /// `saddr`/`sport`, as upstream.
    pub inverse: bool,
    /// The service's `IP_VS_SVC_F_*` flags (read per packet, as upstream).
    pub svc_flags: u32,
    /// Current time in ticks of the [`SchedConfig::hz`] the state was built
    /// with (the kernel passes `jiffies`); only `lblc`/`lblcr` read it.
    /// Compared with wrap-around (`time_before`/`time_after`) semantics.
    pub now: u64,
    /// The `lblcr_expiration` sysctl in ticks, `None` for its default
    /// (24 h). Only `lblcr` reads it on the packet path.
    pub expiration: Option<u64>,
    /// 64 random bits (the kernel passes `get_random_u64()`); only `twos`
    /// uses it, as its two random draws.
    pub random: u64,
}

impl SchedInput {
    /// A packet from `saddr:sport` to `daddr:dport`, not inverse, service
    /// flags 0, time 0, default expiration, random 0.
    pub const fn new(saddr: Addr, sport: u16, daddr: Addr, dport: u16) -> Self {
        SchedInput {
            saddr,
            sport,
            daddr,
            dport,
            inverse: false,
            svc_flags: 0,
            now: 0,
            expiration: None,
            random: 0,
        }
    }

    /// The client side as `sh`/`mh` hash it: source address and port, or
    /// destination ones for inverse packets.
    #[inline]
    pub fn client(&self) -> (Addr, u16) {
        let (addr, port) = self.client_ref();
        (*addr, port)
    }

    /// As [`SchedInput::client`], the address borrowed (no copy).
    #[inline]
    pub(crate) fn client_ref(&self) -> (&Addr, u16) {
        if self.inverse {
            (&self.daddr, self.dport)
        } else {
            (&self.saddr, self.sport)
        }
    }
}

/// Service parameters fixed when a scheduler is bound to a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedConfig {
    /// The service's address family (`svc->af`); `mh` folds real server
    /// addresses with it.
    pub af: Af,
    /// Ticks per second of [`SchedInput::now`] (the kernel's `HZ`).
    pub hz: u64,
    /// Seed of the `lblc`/`lblcr` cache hash (the kernel passes
    /// `get_random_u64()`, so remote hosts cannot predict collisions).
    pub hash_seed: u64,
}

/// How the real-server list changed, for [`SchedState::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestChange {
    /// A server was inserted at this index (upstream's `add_dest`; upstream
    /// inserts at index 0).
    Added(usize),
    /// The server at this index (in the old list) was removed (`del_dest`).
    Removed(usize),
    /// The server at this index was edited: weight, thresholds... (`upd_dest`).
    Updated(usize),
    /// Anything else (several changes at once, reordering): schedulers
    /// rebuild from scratch; `rr` restarts from the list head.
    Reset,
}

/// Why a scheduler could not be set up or updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// The [`Backing`] does not match what [`SchedKind::storage_need`]
    /// asks for.
    WrongStorage,
    /// The table length is not one the scheduler supports (power of two
    /// for `dh`/`sh`, one of [`mh::MH_PRIMES`] for `mh`).
    BadTableSize,
    /// More real servers than `mh` table slots (upstream: `-EINVAL`).
    TooManyDests,
    /// The `update` scratch is shorter than [`SchedKind::scratch_len`]
    /// (upstream's allocation failure: `-ENOMEM`).
    ScratchTooSmall,
}

impl SchedError {
    /// The errno upstream returns in the same situation.
    pub fn errno(self) -> Errno {
        match self {
            SchedError::WrongStorage | SchedError::BadTableSize | SchedError::TooManyDests => {
                Errno::Einval
            }
            SchedError::ScratchTooSmall => Errno::Enomem,
        }
    }
}

/// One of upstream's schedulers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SchedKind {
    /// Round robin (`ip_vs_rr.c`).
    Rr,
    /// Weighted round robin (`ip_vs_wrr.c`).
    Wrr,
    /// Least connection (`ip_vs_lc.c`).
    Lc,
    /// Weighted least connection (`ip_vs_wlc.c`), upstream's default.
    Wlc,
    /// Shortest expected delay (`ip_vs_sed.c`).
    Sed,
    /// Never queue (`ip_vs_nq.c`).
    Nq,
    /// Locality-based least connection (`ip_vs_lblc.c`).
    Lblc,
    /// Locality-based least connection with replication (`ip_vs_lblcr.c`).
    Lblcr,
    /// Destination hashing (`ip_vs_dh.c`).
    Dh,
    /// Source hashing (`ip_vs_sh.c`).
    Sh,
    /// Maglev hashing (`ip_vs_mh.c`).
    Mh,
    /// Weighted fail over (`ip_vs_fo.c`).
    Fo,
    /// Weighted overflow (`ip_vs_ovf.c`).
    Ovf,
    /// Power of two choices (`ip_vs_twos.c`).
    Twos,
}

/// What storage [`SchedState::new`] needs for a scheduler, with upstream's
/// default sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageNeed {
    /// Nothing: pass [`Backing::None`].
    None,
    /// A `u32` table ([`Backing::Table`]) of this length (`dh`: a power of
    /// two, `sh`: a power of two, `mh`: one of [`mh::MH_PRIMES`]).
    Table {
        /// Default (upstream's) length.
        len: usize,
    },
    /// [`lblc::LblcSlot`]s ([`Backing::Lblc`]); any length works, this one
    /// reproduces upstream's limits exactly.
    Lblc {
        /// Default number of slots.
        slots: usize,
    },
    /// [`lblcr::LblcrSlot`]s ([`Backing::Lblcr`]); any length works, this
    /// one reproduces upstream's limits exactly.
    Lblcr {
        /// Default number of slots.
        slots: usize,
    },
}

impl SchedKind {
    /// All fourteen schedulers.
    pub const ALL: [SchedKind; 14] = [
        SchedKind::Rr,
        SchedKind::Wrr,
        SchedKind::Lc,
        SchedKind::Wlc,
        SchedKind::Sed,
        SchedKind::Nq,
        SchedKind::Lblc,
        SchedKind::Lblcr,
        SchedKind::Dh,
        SchedKind::Sh,
        SchedKind::Mh,
        SchedKind::Fo,
        SchedKind::Ovf,
        SchedKind::Twos,
    ];

    /// The scheduler called `name` (as `ipvsadm -s` passes it), exact and
    /// case-sensitive like upstream's lookup.
    pub fn from_name(name: &str) -> Option<SchedKind> {
        SchedKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The scheduler's name.
    pub const fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Lblc => "lblc",
            SchedKind::Lblcr => "lblcr",
            SchedKind::Dh => "dh",
            SchedKind::Sh => "sh",
            SchedKind::Mh => "mh",
            SchedKind::Fo => "fo",
            SchedKind::Ovf => "ovf",
            SchedKind::Twos => "twos",
        }
    }

    /// The storage [`SchedState::new`] wants, with default sizes.
    pub const fn storage_need(self) -> StorageNeed {
        match self {
            SchedKind::Dh => StorageNeed::Table {
                len: dh::DH_TABLE_SIZE,
            },
            SchedKind::Sh => StorageNeed::Table {
                len: sh::SH_TABLE_SIZE,
            },
            SchedKind::Mh => StorageNeed::Table {
                len: mh::MH_TABLE_SIZE,
            },
            SchedKind::Lblc => StorageNeed::Lblc {
                slots: lblc::LBLC_SLOTS,
            },
            SchedKind::Lblcr => StorageNeed::Lblcr {
                slots: lblcr::LBLCR_SLOTS,
            },
            _ => StorageNeed::None,
        }
    }

    /// Length of the `u32` scratch [`SchedState::new`] and
    /// [`SchedState::update`] need with `n_dests` real servers (only `mh`
    /// needs any: one per server; pass `&mut []` for the others).
    pub const fn scratch_len(self, n_dests: usize) -> usize {
        match self {
            SchedKind::Mh => n_dests,
            _ => 0,
        }
    }

    /// Whether scheduling mutates the state, so that [`SchedState::schedule`]
    /// (exclusive) must be used rather than [`SchedState::schedule_shared`].
    pub const fn mutates_on_schedule(self) -> bool {
        matches!(
            self,
            SchedKind::Rr | SchedKind::Wrr | SchedKind::Lblc | SchedKind::Lblcr
        )
    }
}

/// The storage types the caller backs schedulers with.
pub trait Storage {
    /// `dh`/`sh`/`mh` tables (`KVec<u32>` in the kernel).
    type Table: AsRef<[u32]> + AsMut<[u32]>;
    /// `lblc` cache slots.
    type Lblc: AsRef<[lblc::LblcSlot]> + AsMut<[lblc::LblcSlot]>;
    /// `lblcr` cache slots.
    type Lblcr: AsRef<[lblcr::LblcrSlot]> + AsMut<[lblcr::LblcrSlot]>;
}

/// Storage handed to [`SchedState::new`], as [`SchedKind::storage_need`]
/// asks. Contents are overwritten; fill it with anything (e.g. [`NO_DEST`],
/// [`lblc::LblcSlot::EMPTY`]).
pub enum Backing<S: Storage> {
    /// For schedulers without storage.
    None,
    /// For `dh`, `sh`, `mh`.
    Table(S::Table),
    /// For `lblc`.
    Lblc(S::Lblc),
    /// For `lblcr`.
    Lblcr(S::Lblcr),
}

/// Returned by [`SchedState::schedule_shared`] for schedulers that must
/// mutate their state to schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedsExclusive;

/// The scheduler state of one service: any scheduler, over storage `S`.
pub enum SchedState<S: Storage> {
    /// `rr`.
    Rr(rr::Rr),
    /// `wrr`.
    Wrr(wrr::Wrr),
    /// `lc`.
    Lc,
    /// `wlc`.
    Wlc,
    /// `sed`.
    Sed,
    /// `nq`.
    Nq,
    /// `lblc`.
    Lblc(lblc::Lblc<S::Lblc>),
    /// `lblcr`.
    Lblcr(lblcr::Lblcr<S::Lblcr>),
    /// `dh`.
    Dh(dh::Dh<S::Table>),
    /// `sh`.
    Sh(sh::Sh<S::Table>),
    /// `mh`.
    Mh(mh::Mh<S::Table>),
    /// `fo`.
    Fo,
    /// `ovf`.
    Ovf,
    /// `twos`.
    Twos,
}

impl<S: Storage> SchedState<S> {
    /// Binds scheduler `kind` to a service whose servers are `dests`
    /// (upstream's `init_service`). `backing` must match
    /// [`SchedKind::storage_need`]; `scratch` must hold at least
    /// [`SchedKind::scratch_len`] elements. On error the backing is
    /// dropped.
    pub fn new<D: Dests + ?Sized>(
        kind: SchedKind,
        backing: Backing<S>,
        cfg: &SchedConfig,
        dests: &D,
        scratch: &mut [u32],
    ) -> Result<Self, SchedError> {
        Ok(match (kind, backing) {
            (SchedKind::Rr, Backing::None) => SchedState::Rr(rr::Rr::new()),
            (SchedKind::Wrr, Backing::None) => SchedState::Wrr(wrr::Wrr::new(dests)),
            (SchedKind::Lc, Backing::None) => SchedState::Lc,
            (SchedKind::Wlc, Backing::None) => SchedState::Wlc,
            (SchedKind::Sed, Backing::None) => SchedState::Sed,
            (SchedKind::Nq, Backing::None) => SchedState::Nq,
            (SchedKind::Fo, Backing::None) => SchedState::Fo,
            (SchedKind::Ovf, Backing::None) => SchedState::Ovf,
            (SchedKind::Twos, Backing::None) => SchedState::Twos,
            (SchedKind::Dh, Backing::Table(t)) => SchedState::Dh(dh::Dh::new(t, dests)?),
            (SchedKind::Sh, Backing::Table(t)) => SchedState::Sh(sh::Sh::new(t, dests)?),
            (SchedKind::Mh, Backing::Table(t)) => {
                SchedState::Mh(mh::Mh::new(t, cfg.af, dests, scratch)?)
            }
            (SchedKind::Lblc, Backing::Lblc(t)) => SchedState::Lblc(lblc::Lblc::new(t, cfg)),
            (SchedKind::Lblcr, Backing::Lblcr(t)) => SchedState::Lblcr(lblcr::Lblcr::new(t, cfg)),
            _ => return Err(SchedError::WrongStorage),
        })
    }

    /// Which scheduler this is.
    pub fn kind(&self) -> SchedKind {
        match self {
            SchedState::Rr(_) => SchedKind::Rr,
            SchedState::Wrr(_) => SchedKind::Wrr,
            SchedState::Lc => SchedKind::Lc,
            SchedState::Wlc => SchedKind::Wlc,
            SchedState::Sed => SchedKind::Sed,
            SchedState::Nq => SchedKind::Nq,
            SchedState::Lblc(_) => SchedKind::Lblc,
            SchedState::Lblcr(_) => SchedKind::Lblcr,
            SchedState::Dh(_) => SchedKind::Dh,
            SchedState::Sh(_) => SchedKind::Sh,
            SchedState::Mh(_) => SchedKind::Mh,
            SchedState::Fo => SchedKind::Fo,
            SchedState::Ovf => SchedKind::Ovf,
            SchedState::Twos => SchedKind::Twos,
        }
    }

    /// Picks the real server for a new connection (upstream's `schedule`):
    /// its index in `dests`, or `None` if no server is available.
    ///
    /// One flat `match` (one jump through a table, then a direct call),
    /// inlined into the caller: upstream pays one indirect call
    /// (`svc->scheduler->schedule`) here.
    #[inline(always)]
    pub fn schedule<D: Dests + ?Sized>(&mut self, dests: &D, input: &SchedInput) -> Option<usize> {
        match self {
            SchedState::Rr(s) => s.schedule(dests),
            SchedState::Wrr(s) => s.schedule(dests),
            SchedState::Lc => lc::schedule(dests),
            SchedState::Wlc => wlc::schedule(dests),
            SchedState::Sed => sed::schedule(dests),
            SchedState::Nq => nq::schedule(dests),
            SchedState::Lblc(s) => s.schedule(dests, input),
            SchedState::Lblcr(s) => s.schedule(dests, input),
            SchedState::Dh(s) => s.schedule(dests, input),
            SchedState::Sh(s) => s.schedule(dests, input),
            SchedState::Mh(s) => s.schedule(dests, input),
            SchedState::Fo => fo::schedule(dests),
            SchedState::Ovf => ovf::schedule(dests),
            SchedState::Twos => twos::schedule(dests, input.random),
        }
    }

    /// As [`SchedState::schedule`] for schedulers that only read their
    /// state ([`SchedKind::mutates_on_schedule`] false); `Err` for the
    /// others.
    #[inline]
    pub fn schedule_shared<D: Dests + ?Sized>(
        &self,
        dests: &D,
        input: &SchedInput,
    ) -> Result<Option<usize>, NeedsExclusive> {
        Ok(match self {
            SchedState::Rr(_) | SchedState::Wrr(_) | SchedState::Lblc(_) | SchedState::Lblcr(_) => {
                return Err(NeedsExclusive)
            }
            SchedState::Lc => lc::schedule(dests),
            SchedState::Wlc => wlc::schedule(dests),
            SchedState::Sed => sed::schedule(dests),
            SchedState::Nq => nq::schedule(dests),
            SchedState::Dh(s) => s.schedule(dests, input),
            SchedState::Sh(s) => s.schedule(dests, input),
            SchedState::Mh(s) => s.schedule(dests, input),
            SchedState::Fo => fo::schedule(dests),
            SchedState::Ovf => ovf::schedule(dests),
            SchedState::Twos => twos::schedule(dests, input.random),
        })
    }

    /// Tells the scheduler the server list changed (upstream's
    /// `add_dest`/`del_dest`/`upd_dest`). `dests` is the new list. Control
    /// plane only. `scratch` as for [`SchedState::new`], sized for the new
    /// list. On error the previous tables stay (as upstream).
    pub fn update<D: Dests + ?Sized>(
        &mut self,
        dests: &D,
        change: DestChange,
        scratch: &mut [u32],
    ) -> Result<(), SchedError> {
        match self {
            SchedState::Rr(s) => s.update(change),
            SchedState::Wrr(s) => s.update(dests),
            // Upstream has no upd_dest for dh; its table ignores weights,
            // so a rebuild would change nothing anyway.
            SchedState::Dh(_) if matches!(change, DestChange::Updated(_)) => {}
            SchedState::Dh(s) => s.update(dests),
            SchedState::Sh(s) => s.update(dests),
            SchedState::Mh(s) => return s.update(dests, scratch),
            // lc, wlc, sed, nq, fo, ovf, twos: stateless. lblc, lblcr: no
            // hooks upstream; their caches find servers by address.
            _ => {}
        }
        Ok(())
    }

    /// Periodic garbage collection (upstream's `lblc`/`lblcr`
    /// `periodic_timer`, every 60 s): drops stale cache entries. `now` as
    /// [`SchedInput::now`]; `expiration` is the `lblc_expiration` or
    /// `lblcr_expiration` sysctl in ticks (`None`: default 24 h). A no-op
    /// for the other schedulers.
    pub fn expire(&mut self, now: u64, expiration: Option<u64>) {
        match self {
            SchedState::Lblc(s) => s.expire(now, expiration),
            SchedState::Lblcr(s) => s.expire(now, expiration),
            _ => {}
        }
    }
}

/// `a * b` exactly, as `(a * b >> 32, a * b & 0xffff_ffff)`; comparing the
/// pairs compares the products. Avoids `u128` (the kernel's Rust has no
/// 128-bit multiplication intrinsics on every architecture).
#[inline]
pub(crate) fn mul_wide(a: u64, b: u32) -> (u64, u32) {
    let b = u64::from(b);
    // (2^32 - 1)^2 < 2^64: no product below overflows.
    let lo = (a & 0xffff_ffff) * b;
    // (2^32 - 1)^2 + (2^32 - 1) < 2^64.
    let hi = (a >> 32) * b + (lo >> 32);
    (hi, lo as u32)
}

/// Upstream's weighted load comparison `oh_a * w_b > oh_b * w_a`
/// (equivalent to `oh_a / w_a > oh_b / w_b` for positive weights), exact.
#[inline]
pub(crate) fn load_gt(oh_a: u64, w_a: u32, oh_b: u64, w_b: u32) -> bool {
    if (oh_a | oh_b) >> 32 == 0 {
        // Both overheads below 2^32 (any realistic counter): the products
        // fit in 64 bits, one multiplication each as upstream.
        oh_a * u64::from(w_b) > oh_b * u64::from(w_a)
    } else {
        mul_wide(oh_a, w_b) > mul_wide(oh_b, w_a)
    }
}

/// [`load_gt`] for overheads of at most 2^32 (`sed`/`nq`'s `active + 1`):
/// with weights below 2^32 the products stay below 2^64, so one 64-bit
/// multiplication each is exact. (Larger overheads would wrap, never
/// panic; no caller passes any.)
#[inline]
pub(crate) fn delay_gt(oh_a: u64, w_a: u32, oh_b: u64, w_b: u32) -> bool {
    oh_a.wrapping_mul(u64::from(w_b)) > oh_b.wrapping_mul(u64::from(w_a))
}

/// `time_before(a, b)` of `include/linux/jiffies.h`, on 64-bit ticks.
#[inline]
pub(crate) fn time_before(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

/// `time_after(a, b)`.
#[inline]
pub(crate) fn time_after(a: u64, b: u64) -> bool {
    time_before(b, a)
}

/// Greatest common divisor (`lib/math/gcd.c`'s result).
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers shared by the schedulers' tests.
    use super::*;
    use proptest::prelude::*;

    /// Host storage: `Vec`s.
    pub struct VecStorage;
    impl Storage for VecStorage {
        type Table = Vec<u32>;
        type Lblc = Vec<lblc::LblcSlot>;
        type Lblcr = Vec<lblcr::LblcrSlot>;
    }

    /// Server `10.0.0.<i+1>:80`, weight `w`.
    pub fn d(i: usize, w: i32) -> DestView {
        DestView::new(
            Addr::v4([10, 0, (i >> 8) as u8, (i & 0xff) as u8 + 1]),
            80,
            w,
        )
    }

    /// Servers with these weights.
    pub fn ws(weights: &[i32]) -> Vec<DestView> {
        weights.iter().enumerate().map(|(i, &w)| d(i, w)).collect()
    }

    /// A packet from `c` (client index) to the VIP.
    pub fn pkt(c: u32) -> SchedInput {
        SchedInput::new(
            Addr::v4(c.to_be_bytes()),
            1024 + (c % 50000) as u16,
            Addr::v4([192, 168, 0, 1]),
            80,
        )
    }

    /// Any server: weights including 0, negative and huge ones, counters
    /// up to `u32::MAX`, overload flags; a few distinct addresses so that
    /// some share one.
    pub fn arb_dest() -> impl Strategy<Value = DestView> {
        (
            prop_oneof![
                Just(0i32),
                1i32..5,
                Just(i32::MAX),
                Just(i32::MIN),
                any::<i32>()
            ],
            prop_oneof![Just(0i32), 1i32..5, any::<i32>()],
            prop_oneof![Just(0u32), 0u32..10, Just(u32::MAX), any::<u32>()],
            prop_oneof![Just(0u32), 0u32..10, Just(u32::MAX), any::<u32>()],
            any::<bool>(),
            0u8..40,
            prop_oneof![Just(80u16), any::<u16>()],
            any::<bool>(),
        )
            .prop_map(|(weight, lw, active, inactive, ovl, a, port, v6)| {
                let addr = if v6 {
                    let mut b = [0u8; 16];
                    b[0] = 0x20;
                    b[15] = a;
                    Addr::v6(b)
                } else {
                    Addr::v4([10, 0, 0, a])
                };
                DestView {
                    addr,
                    port,
                    weight,
                    last_weight: lw,
                    active,
                    inactive,
                    overloaded: ovl,
                }
            })
    }

    /// Any server list, empty included.
    pub fn arb_dests() -> impl Strategy<Value = Vec<DestView>> {
        proptest::collection::vec(arb_dest(), 0..12)
    }

    /// Any packet input.
    pub fn arb_input() -> impl Strategy<Value = SchedInput> {
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            0u8..8,
            any::<u16>(),
            any::<bool>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(s, sport, dl, dport, inverse, flags, now, random)| {
                let mut i = SchedInput::new(Addr::v4(s), sport, Addr::v4([1, 1, 1, dl]), dport);
                i.inverse = inverse;
                i.svc_flags = flags;
                i.now = now;
                i.random = random;
                i
            })
    }

    /// Config for tests.
    pub const CFG: SchedConfig = SchedConfig {
        af: Af::Inet,
        hz: 100,
        hash_seed: 42,
    };

    /// A state for `kind` with its default-size storage.
    pub fn state(kind: SchedKind, dests: &[DestView]) -> SchedState<VecStorage> {
        let backing = match kind.storage_need() {
            StorageNeed::None => Backing::None,
            StorageNeed::Table { len } => Backing::Table(vec![0; len]),
            StorageNeed::Lblc { .. } => Backing::Lblc(vec![lblc::LblcSlot::EMPTY; 1024]),
            StorageNeed::Lblcr { .. } => Backing::Lblcr(vec![lblcr::LblcrSlot::EMPTY; 1024]),
        };
        let mut scratch = vec![0; kind.scratch_len(dests.len())];
        SchedState::new(kind, backing, &CFG, dests, &mut scratch).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    /// The per-slot sizes the module docs promise the kernel (64-bit).
    #[test]
    fn storage_sizes_as_documented() {
        assert!(core::mem::size_of::<lblc::LblcSlot>() <= 56);
        assert!(core::mem::size_of::<lblcr::LblcrSlot>() <= 232);
    }

    #[test]
    fn names_round_trip() {
        let names = [
            "rr", "wrr", "lc", "wlc", "sed", "nq", "lblc", "lblcr", "dh", "sh", "mh", "fo", "ovf",
            "twos",
        ];
        assert_eq!(SchedKind::ALL.len(), names.len());
        for (k, n) in SchedKind::ALL.iter().zip(names) {
            assert_eq!(k.name(), n);
            assert_eq!(SchedKind::from_name(n), Some(*k));
        }
        assert_eq!(SchedKind::from_name("WLC"), None);
        assert_eq!(SchedKind::from_name(""), None);
        assert_eq!(SchedKind::from_name("rr "), None);
    }

    #[test]
    fn flags_match_uapi() {
        assert_eq!(SVC_F_SCHED_SH_FALLBACK, 0x0008);
        assert_eq!(SVC_F_SCHED_SH_PORT, 0x0010);
        assert_eq!(SVC_F_SCHED_MH_FALLBACK, 0x0008);
        assert_eq!(SVC_F_SCHED_MH_PORT, 0x0010);
    }

    #[test]
    fn wrong_storage_is_refused() {
        let dests = ws(&[1]);
        let r =
            SchedState::<VecStorage>::new(SchedKind::Mh, Backing::None, &CFG, &dests[..], &mut []);
        assert_eq!(r.err(), Some(SchedError::WrongStorage));
        let r = SchedState::<VecStorage>::new(
            SchedKind::Rr,
            Backing::Table(vec![0; 256]),
            &CFG,
            &dests[..],
            &mut [],
        );
        assert_eq!(r.err(), Some(SchedError::WrongStorage));
        assert_eq!(SchedError::ScratchTooSmall.errno(), Errno::Enomem);
        assert_eq!(SchedError::TooManyDests.errno(), Errno::Einval);
    }

    #[test]
    fn every_kind_builds_and_dispatches() {
        let dests = ws(&[1, 2, 3]);
        for k in SchedKind::ALL {
            let mut s = state(k, &dests);
            assert_eq!(s.kind(), k);
            assert_eq!(
                s.schedule_shared(&dests[..], &pkt(1)).is_err(),
                k.mutates_on_schedule()
            );
            let i = s.schedule(&dests[..], &pkt(1));
            assert!(i.is_some_and(|i| i < 3), "{k:?}");
            let mut scratch = vec![0; k.scratch_len(2)];
            s.update(&dests[..2], DestChange::Removed(2), &mut scratch)
                .unwrap();
            assert!(
                s.schedule(&dests[..2], &pkt(1)).is_some_and(|i| i < 2),
                "{k:?}"
            );
            s.expire(1_000_000, None);
            let mut scratch = vec![0; k.scratch_len(0)];
            s.update(&dests[..0], DestChange::Reset, &mut scratch)
                .unwrap();
            assert_eq!(s.schedule(&dests[..0], &pkt(1)), None, "{k:?}");
        }
    }

    #[test]
    fn overhead_and_wide_compare() {
        let mut v = DestView::new(Addr::v4([1, 2, 3, 4]), 1, 1);
        v.active = 2;
        v.inactive = 5;
        assert_eq!(v.conn_overhead(), 2 * 256 + 7);
        v.active = u32::MAX;
        v.inactive = u32::MAX;
        assert_eq!(v.conn_overhead(), 258 * u64::from(u32::MAX));
        for (a, b) in [
            (0u64, 0u32),
            (u64::MAX, u32::MAX),
            (1 << 41, 1 << 31),
            (12345, 678),
        ] {
            let (hi, lo) = mul_wide(a, b);
            let exact = u128::from(a) * u128::from(b);
            assert_eq!((u128::from(hi) << 32) | u128::from(lo), exact);
        }
        assert!(load_gt(3, 1, 5, 2)); // 3/1 > 5/2
        assert!(!load_gt(5, 2, 5, 2));
        assert!(time_before(u64::MAX, 1));
        assert!(time_after(1, u64::MAX));
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(gcd(7, 0), 7);
    }

    /// Whether upstream may return server `d` for a new connection from
    /// this scheduler (all skip quiesced servers; all but the `lblc` cache
    /// hit path skip overloaded ones).
    fn allowed(kind: SchedKind, d: &DestView) -> bool {
        match kind {
            SchedKind::Lblc => d.weight > 0,
            _ => d.available(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any scheduler, any server list (empty, huge weights and
        /// counters), any packets, with list changes in between: never a
        /// panic, never an index out of range, never a server upstream
        /// would skip.
        #[test]
        fn any_scheduler_any_input(
            k in 0usize..14,
            first in arb_dests(),
            second in arb_dests(),
            inputs in proptest::collection::vec(arb_input(), 1..24),
        ) {
            let kind = SchedKind::ALL[k];
            let mut s = state(kind, &first);
            for (n, input) in inputs.iter().enumerate() {
                let dests = if n < inputs.len() / 2 { &first } else { &second };
                if n == inputs.len() / 2 {
                    let mut scratch = vec![0; kind.scratch_len(second.len())];
                    s.update(&second[..], DestChange::Reset, &mut scratch).unwrap();
                }
                if let Some(i) = s.schedule(&dests[..], input) {
                    prop_assert!(i < dests.len());
                    prop_assert!(allowed(kind, &dests[i]), "{:?} chose {:?}", kind, dests[i]);
                }
                if n % 5 == 4 {
                    s.expire(input.now, Some(input.random % 1000));
                }
            }
        }
    }
}
