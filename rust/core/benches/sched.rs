// SPDX-License-Identifier: GPL-2.0
//! Cost of one scheduling decision with 1,000 real servers, for each of
//! the 14 schedulers: `ipvs_core`'s against a transcription of upstream
//! Linux 6.12's C code (`upstream/`, read its module docs for how it is
//! modelled). `scripts/bench-sched.sh` runs this and prints the table: its
//! ratios come from count mode (`SCHED_BENCH_COUNT`, see [`count`]) under
//! callgrind, deterministic; criterion's host times are information.
//!
//! The scenario (the same on both sides):
//!
//! * 1,000 IPv4 real servers (port 8080) in list order; weights 1..=100,
//!   2% quiesced (weight 0), 3% over their upper connection threshold
//!   (overloaded); every server has 1 or more active connections
//!   (roughly proportional to its weight, so `nq` never stops early) and
//!   0..4095 inactive ones. Counters stay fixed during the run.
//! * A stream of 65,536 TCP packets (cycled): random client addresses and
//!   ports, destination addresses drawn from 8,192 distinct ones (what
//!   `dh`, `lblc` and `lblcr` key on; the caches hold them all after the
//!   first pass), a random 64-bit number per packet (`twos`).
//! * `sh` and `mh` run with both scheduler flags (fallback and port), the
//!   others with none. Default table sizes everywhere (`lblc`/`lblcr`:
//!   `ipvs_core`'s 32,768 slots, upstream's 1,024 chained buckets; both
//!   cap at 24,576 entries).
//!
//! The `ipvs_rs` side reads servers through a [`Dests`] implementation
//! built like the kernel glue's (`DestList` in `rust/ipvs_rs/services.rs`:
//! a `DestView` made per access from the weight, the connection counters
//! and the overload flag, the last two atomics; `weight_overloaded` reads
//! just the weight and the overload flag) and calls
//! [`SchedState::schedule`]; the upstream side reads `struct ip_vs_dest`
//! fields (atomics and flags) and is called through a trait object (as
//! upstream's `svc->scheduler->schedule` pointer). Neither side models
//! pointer chasing (upstream's list links, the glue's `Arc<DestRt>`).
//!
//! Before measuring, both sides schedule the whole stream from fresh
//! state, and every decision must be the same server (this also checks the
//! transcription); the measurement then continues from that warm state.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::new_without_default,
    clippy::too_many_arguments,
    clippy::needless_range_loop,
    clippy::manual_range_contains,
    missing_docs
)]

mod upstream;

use criterion::{criterion_group, Criterion, SamplingMode};
use ipvs_core::addr::{Addr, Af};
use ipvs_core::sched::{
    lblc::LblcSlot, lblcr::LblcrSlot, Backing, DestView, Dests, SchedConfig, SchedInput, SchedKind,
    SchedState, Storage, StorageNeed, NO_DEST, SVC_F_SCHED1, SVC_F_SCHED2,
};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering::Relaxed};
use std::time::Duration;

const N_DESTS: usize = 1000;
const N_PKTS: usize = 1 << 16;
const N_DADDRS: u32 = 8192;
const HZ: u64 = 250;
const JIFFIES: u64 = 10_000_000;
const VPORT: u16 = 80;
const RPORT: u16 = 8080;

/// xorshift64*: deterministic inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One real server: what the generator decides, both sides are built
/// from it.
#[derive(Clone, Copy)]
struct Spec {
    addr: [u8; 4],
    weight: i32,
    active: u32,
    inactive: u32,
    overloaded: bool,
}

fn specs() -> Vec<Spec> {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..N_DESTS)
        .map(|i| {
            let weight = if rng.below(100) < 2 {
                0
            } else {
                1 + rng.below(100) as i32
            };
            let w = weight as u32;
            let active = (w / 2 + rng.below(u64::from(w) + 1) as u32).max(1);
            let inactive = rng.below(4096) as u32;
            Spec {
                addr: [10, 0, (i >> 8) as u8, (i & 0xff) as u8],
                weight,
                active,
                inactive,
                overloaded: rng.below(100) < 3,
            }
        })
        .collect()
}

/// A real server as the `ipvs_rs` kernel glue holds it (`DestEntry` and
/// its `DestRt`, without the `Arc`).
struct GlueDest {
    addr: Addr,
    port: u16,
    weight: i32,
    last_weight: i32,
    active: AtomicU32,
    inactive: AtomicU32,
    overloaded: AtomicBool,
}

impl GlueDest {
    /// As `DestEntry::view`: the counters schedulers read (active,
    /// inactive, overload), not the persistent count.
    fn view(&self) -> DestView {
        let active = self.active.load(Relaxed);
        let inactive = self.inactive.load(Relaxed);
        DestView {
            addr: self.addr,
            port: self.port,
            weight: self.weight,
            last_weight: self.last_weight,
            active,
            inactive,
            overloaded: self.overloaded.load(Relaxed),
        }
    }
}

/// As the glue's `DestList`.
struct GlueList<'a>(&'a [GlueDest]);

impl Dests for GlueList<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, index: usize) -> Option<DestView> {
        self.0.get(index).map(GlueDest::view)
    }
    fn weight_overloaded(&self, index: usize) -> Option<(i32, bool)> {
        self.0
            .get(index)
            .map(|d| (d.weight, d.overloaded.load(Relaxed)))
    }
}

fn glue_dests(specs: &[Spec]) -> Vec<GlueDest> {
    specs
        .iter()
        .map(|s| GlueDest {
            addr: Addr::v4(s.addr),
            port: RPORT,
            weight: s.weight,
            last_weight: s.weight,
            active: AtomicU32::new(s.active),
            inactive: AtomicU32::new(s.inactive),
            overloaded: AtomicBool::new(s.overloaded),
        })
        .collect()
}

fn upstream_svc(specs: &[Spec], flags: u32) -> upstream::Svc {
    let destinations = specs
        .iter()
        .map(|s| upstream::Dest {
            af: upstream::AF_INET,
            port: RPORT.to_be(),
            addr: [u32::from_ne_bytes(s.addr), 0, 0, 0],
            flags: AtomicU32::new(if s.overloaded {
                upstream::IP_VS_DEST_F_OVERLOAD
            } else {
                0
            }),
            conn_flags: AtomicI32::new(0),
            weight: AtomicI32::new(s.weight),
            cflags: upstream::IP_VS_DEST_CF_AVAILABLE,
            last_weight: AtomicI32::new(s.weight),
            activeconns: AtomicI32::new(s.active as i32),
            totalconns: AtomicI32::new((s.active + s.inactive) as i32),
            persistconns: AtomicI32::new(0),
            u_threshold: if s.overloaded {
                s.active + s.inactive
            } else {
                0
            },
            l_threshold: 0,
        })
        .collect();
    upstream::Svc {
        af: upstream::AF_INET,
        flags,
        destinations,
        sysctl_lblcr_expiration: (24 * 60 * 60 * HZ) as i32,
    }
}

/// One packet: addresses and ports, and the random number.
#[derive(Clone, Copy)]
struct Packet {
    saddr: [u8; 4],
    sport: u16,
    daddr: [u8; 4],
    random: u64,
}

fn packets(specs: &[Spec]) -> Vec<Packet> {
    let mut rng = Rng(0x0bad_cafe_dead_beef);
    // twos draws below the total available weight + 1; keep to random
    // numbers upstream's get_random_u32_below() takes without rejection
    // sampling (all but about 1 in 100,000), so both sides see the same
    // two draws.
    let ceil = specs
        .iter()
        .filter(|s| s.weight > 0 && !s.overloaded)
        .map(|s| s.weight as u32)
        .sum::<u32>()
        + 1;
    let bound = ceil.wrapping_neg() % ceil;
    let rejected = |r: u32| ((u64::from(ceil) * u64::from(r)) as u32) < bound;
    (0..N_PKTS)
        .map(|_| {
            let saddr = (rng.next() as u32 | 0x0100_0000).to_be_bytes();
            let sport = 1024 + rng.below(64512) as u16;
            // A bijection of 0..N_DADDRS: distinct destination addresses.
            let k = rng.below(u64::from(N_DADDRS)) as u32;
            let daddr = k.wrapping_mul(0x9e37_79b1).to_be_bytes();
            let mut random = rng.next();
            while rejected(random as u32) || rejected((random >> 32) as u32) {
                random = rng.next();
            }
            Packet {
                saddr,
                sport,
                daddr,
                random,
            }
        })
        .collect()
}

fn sched_inputs(pkts: &[Packet], svc_flags: u32) -> Vec<SchedInput> {
    pkts.iter()
        .map(|p| {
            let mut i = SchedInput::new(Addr::v4(p.saddr), p.sport, Addr::v4(p.daddr), VPORT);
            i.svc_flags = svc_flags;
            i.now = JIFFIES;
            i.random = p.random;
            i
        })
        .collect()
}

fn upstream_pkts(pkts: &[Packet]) -> Vec<upstream::Pkt> {
    pkts.iter()
        .map(|p| upstream::Pkt {
            protocol: upstream::IPPROTO_TCP,
            hdr_flags: 0,
            saddr: [u32::from_ne_bytes(p.saddr), 0, 0, 0],
            daddr: [u32::from_ne_bytes(p.daddr), 0, 0, 0],
            ports: [p.sport.to_be(), VPORT.to_be()],
            jiffies: JIFFIES,
            random: p.random,
        })
        .collect()
}

/// Host storage for `ipvs_core`'s schedulers.
struct VecStorage;

impl Storage for VecStorage {
    type Table = Vec<u32>;
    type Lblc = Vec<LblcSlot>;
    type Lblcr = Vec<LblcrSlot>;
}

fn ipvs_state(kind: SchedKind, dests: &GlueList<'_>) -> SchedState<VecStorage> {
    let backing = match kind.storage_need() {
        StorageNeed::None => Backing::None,
        StorageNeed::Table { len } => Backing::Table(vec![NO_DEST; len]),
        StorageNeed::Lblc { slots } => Backing::Lblc(vec![LblcSlot::EMPTY; slots]),
        StorageNeed::Lblcr { slots } => Backing::Lblcr(vec![LblcrSlot::EMPTY; slots]),
    };
    let cfg = SchedConfig {
        af: Af::Inet,
        hz: HZ,
        hash_seed: 0x5eed_5eed_5eed_5eed,
    };
    let mut scratch = vec![0u32; kind.scratch_len(dests.len())];
    match SchedState::new(kind, backing, &cfg, dests, &mut scratch) {
        Ok(s) => s,
        Err(e) => panic!("{}: {e:?}", kind.name()),
    }
}

/// The service flags each scheduler runs with.
fn svc_flags(kind: SchedKind) -> u32 {
    match kind {
        // Fallback and port hashing: the configuration that does the most.
        SchedKind::Sh | SchedKind::Mh => SVC_F_SCHED1 | SVC_F_SCHED2,
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let specs = specs();
    let glue = glue_dests(&specs);
    let list = GlueList(&glue);
    let pkts = packets(&specs);
    let upkts = upstream_pkts(&pkts);
    let mask = N_PKTS - 1;
    eprintln!(
        "sched bench: {} real servers ({} quiesced, {} overloaded), {} packets, {} destination addresses",
        N_DESTS,
        specs.iter().filter(|s| s.weight == 0).count(),
        specs.iter().filter(|s| s.overloaded).count(),
        N_PKTS,
        N_DADDRS,
    );

    // scripts/bench-sched.sh measures in rounds: one scheduler at a time
    // (SCHED_BENCH_ONLY), the two sides back to back, upstream first in
    // every other round (SCHED_BENCH_UPSTREAM_FIRST=1).
    let only = std::env::var("SCHED_BENCH_ONLY").ok();
    let upstream_first = std::env::var("SCHED_BENCH_UPSTREAM_FIRST").is_ok_and(|v| v == "1");
    for kind in SchedKind::ALL {
        let name = kind.name();
        if only
            .as_deref()
            .is_some_and(|o| o.split(',').all(|n| n != name))
        {
            continue;
        }
        let flags = svc_flags(kind);
        let inputs = sched_inputs(&pkts, flags);
        let svc = upstream_svc(&specs, flags);
        let mut ours = ipvs_state(kind, &list);
        let mut theirs = upstream::init_service(name, &svc);

        // Same decisions, packet by packet, from fresh state.
        let mut none = 0usize;
        for (k, (i, u)) in inputs.iter().zip(&upkts).enumerate() {
            let a = ours.schedule(&list, i);
            let b = theirs.schedule(&svc, u);
            assert_eq!(a, b, "{name}: packet {k}: ipvs_rs {a:?}, upstream {b:?}");
            none += usize::from(a.is_none());
        }
        eprintln!("{name}: {N_PKTS} decisions identical ({none} without a server)");

        let mut g = c.benchmark_group(name);
        g.sampling_mode(SamplingMode::Flat);
        for side in if upstream_first { [1, 0] } else { [0, 1] } {
            let mut k = 0usize;
            if side == 0 {
                g.bench_function("ipvs_rs", |b| {
                    b.iter(|| {
                        let input = &inputs[k & mask];
                        k = k.wrapping_add(1);
                        black_box(&mut ours).schedule(black_box(&list), black_box(input))
                    })
                });
            } else {
                g.bench_function("upstream", |b| {
                    b.iter(|| {
                        let pkt = &upkts[k & mask];
                        k = k.wrapping_add(1);
                        black_box(&mut *theirs).schedule(black_box(&svc), black_box(pkt))
                    })
                });
            }
        }
        g.finish();
    }
}

/// Many short samples of equal length: on a busy machine a sample is
/// either undisturbed or hit by a preemption, and the median is an
/// undisturbed one as long as fewer than half are hit (long samples would
/// all absorb part of the load instead). About 1.5 s per benchmark, 45 s
/// a round of all 14 schedulers plus the checks.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(500))
        .sample_size(400)
        .nresamples(10_000)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

/// Decisions measured in count mode (`SCHED_BENCH_COUNT`), after a warm
/// pass over the whole stream.
const N_COUNTED: usize = 8192;

/// The measured loop of count mode, `ipvs_rs` side: `scripts/bench-sched.sh`
/// runs the binary under callgrind with collection toggled on entry and
/// exit of this function, so its counts are these decisions and nothing
/// else (setup, the warm pass and process start are not collected).
#[inline(never)]
fn counted_ipvs_rs(
    state: &mut SchedState<VecStorage>,
    list: &GlueList<'_>,
    inputs: &[SchedInput],
) -> usize {
    let mut hits = 0usize;
    for input in inputs {
        hits += usize::from(
            black_box(&mut *state)
                .schedule(black_box(list), black_box(input))
                .is_some(),
        );
    }
    hits
}

/// The measured loop of count mode, upstream side (as `counted_ipvs_rs`).
#[inline(never)]
fn counted_upstream(
    sched: &mut dyn upstream::Scheduler,
    svc: &upstream::Svc,
    pkts: &[upstream::Pkt],
) -> usize {
    let mut hits = 0usize;
    for pkt in pkts {
        hits += usize::from(
            black_box(&mut *sched)
                .schedule(black_box(svc), black_box(pkt))
                .is_some(),
        );
    }
    hits
}

/// Count mode: `SCHED_BENCH_COUNT=ipvs_rs|upstream SCHED_BENCH_ONLY=NAME`.
/// One side of one scheduler: fresh state, one pass over the whole stream
/// (the state criterion measures from: caches filled, rotations under
/// way), then `N_COUNTED` decisions from the start of the stream in
/// `counted_*`. Prints the number of decisions that found a server.
fn count(side: &str, name: &str) {
    let Some(kind) = SchedKind::ALL.into_iter().find(|k| k.name() == name) else {
        panic!("SCHED_BENCH_ONLY={name}: no such scheduler");
    };
    let specs = specs();
    let pkts = packets(&specs);
    let flags = svc_flags(kind);
    let hits = match side {
        "ipvs_rs" => {
            let glue = glue_dests(&specs);
            let list = GlueList(&glue);
            let inputs = sched_inputs(&pkts, flags);
            let mut state = ipvs_state(kind, &list);
            for i in &inputs {
                black_box(state.schedule(&list, i));
            }
            counted_ipvs_rs(&mut state, &list, &inputs[..N_COUNTED])
        }
        "upstream" => {
            let svc = upstream_svc(&specs, flags);
            let upkts = upstream_pkts(&pkts);
            let mut sched = upstream::init_service(name, &svc);
            for p in &upkts {
                black_box(sched.schedule(&svc, p));
            }
            counted_upstream(&mut *sched, &svc, &upkts[..N_COUNTED])
        }
        _ => panic!("SCHED_BENCH_COUNT={side}: ipvs_rs or upstream"),
    };
    println!("{name} {side}: {N_COUNTED} decisions counted, {hits} found a server");
}

fn main() {
    if let Ok(side) = std::env::var("SCHED_BENCH_COUNT") {
        let name = std::env::var("SCHED_BENCH_ONLY").unwrap_or_default();
        count(&side, &name);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
