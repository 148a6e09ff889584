// SPDX-License-Identifier: GPL-2.0
//! Upstream's rate estimator (`ip_vs_est.c`) as a pure value: fed the
//! cumulative counters of a service, real server or the whole namespace
//! every [`TICK_SECS`] seconds, it keeps exponentially weighted moving
//! averages of the per-second rates,
//!
//! ```text
//! avg += (rate - avg) / 4        (W = 2^-2, per 2 s tick)
//! ```
//!
//! in upstream's fixed point: connection and packet rates scaled by 2^10,
//! byte rates by 2^5. Reading rounds as upstream (`ip_vs_read_estimator`),
//! so `ipvsadm --rate` (CPS, InPPS, OutPPS, InBPS, OutBPS) shows the same
//! numbers as with the C estimator.

use crate::stats::Stats;

/// Seconds between two [`Estimator::tick`]s.
pub const TICK_SECS: u32 = 2;

/// The cumulative counters the estimator follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients.
    pub outpkts: u64,
    /// Bytes from clients.
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
}

impl From<&Stats> for Counters {
    fn from(s: &Stats) -> Counters {
        Counters {
            conns: s.conns,
            inpkts: s.inpkts,
            outpkts: s.outpkts,
            inbytes: s.inbytes,
            outbytes: s.outbytes,
        }
    }
}

/// Rates per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second to clients.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second to clients.
    pub outbps: u64,
}

/// The state of one estimator (`struct ip_vs_estimator`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimator {
    last: Counters,
    /// The averages in fixed point: `cps`, `inpps`, `outpps` scaled by
    /// 2^10, `inbps`, `outbps` by 2^5.
    avg: Rates,
}

/// One average's step: `avg += (delta << shift - avg) >> 2`, with the
/// kernel's wrapping 64-bit arithmetic and arithmetic right shift.
fn step(avg: u64, last: &mut u64, now: u64, shift: u32) -> u64 {
    let rate = now.wrapping_sub(*last).wrapping_shl(shift);
    *last = now;
    let diff = (rate as i64).wrapping_sub(avg as i64) >> 2;
    avg.wrapping_add(diff as u64)
}

impl Estimator {
    /// An estimator with zero averages whose counters start at zero, as a
    /// new service's or real server's.
    pub const fn new() -> Estimator {
        Estimator {
            last: Counters {
                conns: 0,
                inpkts: 0,
                outpkts: 0,
                inbytes: 0,
                outbytes: 0,
            },
            avg: Rates {
                cps: 0,
                inpps: 0,
                outpps: 0,
                inbps: 0,
                outbps: 0,
            },
        }
    }

    /// An estimator with zero averages for counters that are at `now`
    /// already.
    pub fn starting_at(now: &Counters) -> Estimator {
        let mut e = Estimator::new();
        e.zero(now);
        e
    }

    /// One tick (`ip_vs_chain_estimation`), every [`TICK_SECS`] seconds,
    /// with the counters' current totals.
    pub fn tick(&mut self, now: &Counters) {
        // Scaled by 2^10 (resp. 2^5) and divided by the 2 s tick.
        let l = &mut self.last;
        let a = &mut self.avg;
        a.cps = step(a.cps, &mut l.conns, now.conns, 9);
        a.inpps = step(a.inpps, &mut l.inpkts, now.inpkts, 9);
        a.outpps = step(a.outpps, &mut l.outpkts, now.outpkts, 9);
        a.inbps = step(a.inbps, &mut l.inbytes, now.inbytes, 4);
        a.outbps = step(a.outbps, &mut l.outbytes, now.outbytes, 4);
    }

    /// Zeroes the averages and takes `now` as the counters' new base
    /// (`ip_vs_zero_estimator`, for `ipvsadm -Z`).
    pub fn zero(&mut self, now: &Counters) {
        self.last = *now;
        self.avg = Rates::default();
    }

    /// The rates per second, rounded as upstream (`ip_vs_read_estimator`).
    pub fn rates(&self) -> Rates {
        let a = &self.avg;
        Rates {
            cps: a.cps.wrapping_add(0x1ff) >> 10,
            inpps: a.inpps.wrapping_add(0x1ff) >> 10,
            outpps: a.outpps.wrapping_add(0x1ff) >> 10,
            inbps: a.inbps.wrapping_add(0xf) >> 5,
            outbps: a.outbps.wrapping_add(0xf) >> 5,
        }
    }

    /// The averages in their fixed-point form (see [`Estimator`]).
    pub fn raw(&self) -> Rates {
        self.avg
    }

    /// The state as ten words (last counters, then averages), for glue that
    /// keeps it in atomics.
    pub fn to_words(&self) -> [u64; 10] {
        let (l, a) = (&self.last, &self.avg);
        [
            l.conns, l.inpkts, l.outpkts, l.inbytes, l.outbytes, a.cps, a.inpps, a.outpps, a.inbps,
            a.outbps,
        ]
    }

    /// The inverse of [`Estimator::to_words`].
    pub fn from_words(w: [u64; 10]) -> Estimator {
        let [conns, inpkts, outpkts, inbytes, outbytes, cps, inpps, outpps, inbps, outbps] = w;
        Estimator {
            last: Counters {
                conns,
                inpkts,
                outpkts,
                inbytes,
                outbytes,
            },
            avg: Rates {
                cps,
                inpps,
                outpps,
                inbps,
                outbps,
            },
        }
    }

    /// Writes [`Estimator::rates`] into the rate fields of `stats`.
    pub fn fill(&self, stats: &mut Stats) {
        let r = self.rates();
        stats.cps = r.cps;
        stats.inpps = r.inpps;
        stats.outpps = r.outpps;
        stats.inbps = r.inbps;
        stats.outbps = r.outbps;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn words_round_trip() {
        let mut e = super::Estimator::new();
        let c = super::Counters {
            conns: 10,
            inpkts: 200,
            outpkts: 150,
            inbytes: 30_000,
            outbytes: 90_000,
        };
        e.tick(&c);
        assert_eq!(super::Estimator::from_words(e.to_words()), e);
        assert_ne!(e.to_words(), [0; 10]);
    }

    use super::*;

    fn c(v: [u64; 5]) -> Counters {
        let [conns, inpkts, outpkts, inbytes, outbytes] = v;
        Counters {
            conns,
            inpkts,
            outpkts,
            inbytes,
            outbytes,
        }
    }

    fn r(v: &[u64]) -> Rates {
        Rates {
            cps: v[0],
            inpps: v[1],
            outpps: v[2],
            inbps: v[3],
            outbps: v[4],
        }
    }

    /// Upstream's arithmetic compiled on the host (`conn/testdata/gen.sh`):
    /// per line scenario, tick, the 5 counter increments of the tick, the 5
    /// raw averages after it and the 5 rates read.
    #[test]
    fn matches_upstream_arithmetic() {
        let dump = include_str!("conn/testdata/estimator.txt");
        let mut e = Estimator::new();
        let mut tot = [0u64; 5];
        let mut scenario = u64::MAX;
        let mut n = 0;
        for line in dump.lines() {
            let v: Vec<u64> = line
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            if v[0] != scenario {
                scenario = v[0];
                e = Estimator::new();
                tot = [0; 5];
            }
            for (t, d) in tot.iter_mut().zip(&v[2..7]) {
                *t += d;
            }
            e.tick(&c(tot));
            assert_eq!(e.raw(), r(&v[7..12]), "{line}");
            assert_eq!(e.rates(), r(&v[12..17]), "{line}");
            n += 1;
        }
        assert_eq!(n, 4 * 40);
    }

    /// A constant rate converges to itself: the error shrinks by 3/4 per
    /// tick, and once the fixed-point remainder is below the rounding the
    /// rate reads exactly, for rates from 1/s to 10^9/s.
    #[test]
    fn constant_rate_converges() {
        for rate in [1u64, 3, 1000, 123_457, 1_000_000_000] {
            let mut e = Estimator::new();
            let mut tot = 0;
            for n in 1..=100 {
                tot += rate * u64::from(TICK_SECS);
                e.tick(&c([tot; 5]));
                let got = e.rates();
                // Never overshoots; within rate * (3/4)^n (+1 for rounding).
                let bound = (rate as f64 * 0.75f64.powi(n)) as u64 + 1;
                for x in [got.cps, got.inpps, got.outpps, got.inbps, got.outbps] {
                    assert!(x <= rate, "rate {rate} tick {n}: got {x}");
                    assert!(rate - x <= bound, "rate {rate} tick {n}: got {x}");
                }
            }
            let got = e.rates();
            assert_eq!(
                got,
                Rates {
                    cps: rate,
                    inpps: rate,
                    outpps: rate,
                    inbps: rate,
                    outbps: rate
                }
            );
        }
    }

    /// The first tick moves a quarter of the way (W = 1/4), as upstream.
    #[test]
    fn first_tick_weight() {
        let mut e = Estimator::new();
        e.tick(&c([2000, 2000, 2000, 2000, 2000]));
        assert_eq!(
            e.rates(),
            Rates {
                cps: 250,
                inpps: 250,
                outpps: 250,
                inbps: 250,
                outbps: 250
            }
        );
    }

    #[test]
    fn zero_traffic_stays_zero() {
        let mut e = Estimator::new();
        for _ in 0..100 {
            e.tick(&Counters::default());
            assert_eq!(e.rates(), Rates::default());
        }
        // Counters that stand still at any value read zero too.
        let base = c([5, 6, 7, 8, 9]);
        let mut e = Estimator::starting_at(&base);
        for _ in 0..10 {
            e.tick(&base);
        }
        assert_eq!(e.raw(), Rates::default());
    }

    /// After traffic stops the averages decay to exactly zero.
    #[test]
    fn decays_to_zero() {
        let mut e = Estimator::new();
        let mut tot = 0;
        for _ in 0..20 {
            tot += 2_000_000;
            e.tick(&c([tot; 5]));
        }
        assert!(e.rates().cps > 900_000);
        for _ in 0..200 {
            e.tick(&c([tot; 5]));
        }
        assert_eq!(e.raw(), Rates::default());
    }

    #[test]
    fn zero_and_fill() {
        let mut e = Estimator::new();
        e.tick(&c([2000, 4000, 6000, 8000, 10000]));
        let mut s = Stats::default();
        e.fill(&mut s);
        assert_eq!(
            (s.cps, s.inpps, s.outpps, s.inbps, s.outbps),
            (250, 500, 750, 1000, 1250)
        );
        let now = c([2000, 4000, 6000, 8000, 10000]);
        assert_eq!(
            Counters::from(&Stats {
                conns: 2000,
                inpkts: 4000,
                outpkts: 6000,
                inbytes: 8000,
                outbytes: 10000,
                ..s
            }),
            now
        );
        e.zero(&now);
        assert_eq!(e.rates(), Rates::default());
        // The next tick sees only what came after the zeroing.
        e.tick(&c([2008, 4000, 6000, 8000, 10000]));
        assert_eq!(e.rates().cps, 1);
        assert_eq!(e.raw().cps, 1024);
    }
}
