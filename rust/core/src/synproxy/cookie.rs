// SPDX-License-Identifier: GPL-2.0
//! SYN cookies: the initial sequence number of the SYN-ACK a SYNPROXY
//! director answers a client's SYN with, from which it later recognises
//! the client's ACK as the answer to a SYN it really received, without
//! having kept any state.
//!
//! # Layout
//!
//! Exactly Linux's (`net/ipv4/syncookies.c`, `secure_tcp_syn_cookie`),
//! with SipHash-2-4 as the hash as there:
//!
//! ```text
//! cookie = H(k, tuple, 0, #0) + client_isn + (minute << 24)
//!        + ((H(k, tuple, minute, #1) + mss_index) mod 2^24)
//! ```
//!
//! - `H` is the low 32 bits of SipHash-2-4 ([`super::siphash`]) under the
//!   current key `k` of a [`CookieSecret`], over the [`CookieTuple`], a
//!   minute counter and a domain byte (`#0`, `#1`) that makes the two
//!   hashes independent (Linux uses two keys for that).
//! - `client_isn` is the sequence number of the client's SYN, so a cookie
//!   is only good for that SYN.
//! - The top 8 bits carry the minute counter (modulo 256) the cookie was
//!   made in; [`cookie_check`] accepts it for [`MAX_COOKIE_AGE`] minutes
//!   (the current and the previous counter value, as Linux's
//!   `MAX_SYNCOOKIE_AGE`).
//! - The low 24 bits carry 2 bits of data, the client's MSS as an index
//!   into [`MSS_TABLE`] (Linux's IPv4 `msstab`), hidden under the second
//!   hash. A forged cookie passes only if its top byte falls on one of the
//!   two valid minutes and its low 24 bits decode to one of the 4 valid
//!   indexes: a chance of about 2 * 4 / 2^32 = 2^-29 per try (twice that
//!   while a previous key is kept). Since the ISN and the index are both
//!   added, `cookie + 1` is the cookie of the same SYN with the next MSS
//!   index, or of ISN - 1 with the same index; only someone who has a valid
//!   cookie can use that, and only to change its own MSS within the table.
//!
//! # The other options: in the timestamp (Linux's trick)
//!
//! The 32 bits hold no room for the client's window scale, SACK-permitted
//! and ECN without weakening the cookie, so, like Linux's SYNPROXY
//! (`synproxy_init_timestamp_cookie`), they travel in the low
//! [`TS_OPT_BITS`] bits of the timestamp value (TSval) of our SYN-ACK,
//! which the client echoes in the TSecr of its ACK ([`cookie_tsval`],
//! [`CookieOpts::with_ts_echo`]):
//!
//! ```text
//! bits 0..=3  the client's window shift, 0..=14; 15 = no window scaling
//! bit  4      SACK permitted
//! bit  5      ECN
//! bits 6..    our timestamp clock, low 6 bits cleared
//! ```
//!
//! This only works when the client offered timestamps; without them the
//! SYN-ACK must offer no window scaling, no SACK and no ECN either (the
//! connection then runs without them, as with Linux's syncookies and
//! SYNPROXY). [`super::synack::negotiate`] applies that rule.
//!
//! The timestamp bits are not authenticated (as in Linux): a client can
//! only change its own connection's options with them.
//!
//! # Keys
//!
//! A [`CookieSecret`] holds the current key and the one before it. The
//! glue generates a random key at start (`get_random_bytes`) and rotates
//! every N minutes with [`CookieSecret::rotate`]; cookies are made with the
//! current key and checked against both, so a rotation never invalidates a
//! cookie younger than N minutes. Choose N >= [`MAX_COOKIE_AGE`] + 1 (a
//! cookie made at the end of one minute is accepted until the end of the
//! next) so that no valid cookie is ever refused because of a rotation.

use super::siphash::{siphash24, SipKey};
use crate::addr::Addr;

/// Minutes a cookie stays valid: made in minute `m`, it is accepted while
/// the counter reads `m` or `m + 1` (Linux's `MAX_SYNCOOKIE_AGE`).
pub const MAX_COOKIE_AGE: u32 = 2;

/// The MSS values a cookie can carry, by index (Linux's IPv4 `msstab`). A
/// client's MSS is rounded down to the largest entry not above it; below
/// the first entry it becomes the first (536, the default MSS of RFC 879,
/// as Linux does).
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Low bits of the timestamp value that carry the options
/// ([`cookie_tsval`]).
pub const TS_OPT_BITS: u32 = 6;
/// The window-shift field of the timestamp bits.
const TS_WSCALE_MASK: u32 = 0xf;
/// Bit of the timestamp value: SACK permitted.
const TS_SACK: u32 = 1 << 4;
/// Bit of the timestamp value: ECN.
const TS_ECN: u32 = 1 << 5;
/// Largest window shift (RFC 7323: larger values are treated as 14).
pub const MAX_WSCALE: u8 = 14;

/// Bits of the cookie below the minute counter.
const COOKIE_BITS: u32 = 24;
/// Mask of the hashed part of the cookie.
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;

/// The secret behind the cookies: the current SipHash key and the previous
/// one. `Copy` so that the glue can publish a new value (RCU, seqlock)
/// without sharing a mutable one with the packet path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSecret {
    /// Cookies are made with this key.
    current: SipKey,
    /// Still accepted, for cookies made before the last rotation.
    previous: Option<SipKey>,
}

impl CookieSecret {
    /// A secret with one key (128 random bits, e.g. from
    /// `get_random_bytes`) and no previous one.
    pub const fn new(key: [u8; 16]) -> CookieSecret {
        CookieSecret {
            current: SipKey::from_bytes(key),
            previous: None,
        }
    }

    /// Makes `fresh` the current key; the current key becomes the previous
    /// one (still accepted) and the previous one is forgotten.
    pub fn rotate(&mut self, fresh: [u8; 16]) {
        self.previous = Some(self.current);
        self.current = SipKey::from_bytes(fresh);
    }

    /// The keys a cookie is checked against, current first.
    fn keys(&self) -> impl Iterator<Item = &SipKey> {
        core::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// The connection a cookie is bound to, as seen in the client's SYN (and
/// in its ACK): client address and port, virtual address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CookieTuple {
    /// Source address of the SYN: the client.
    pub saddr: Addr,
    /// Destination address of the SYN: the virtual service.
    pub daddr: Addr,
    /// Source port of the SYN, host order.
    pub sport: u16,
    /// Destination port of the SYN, host order.
    pub dport: u16,
}

/// The client options a SYNPROXY must remember from the SYN to replay them
/// to the real server. Only `mss_index` is in the cookie; the rest travels
/// in the timestamp (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CookieOpts {
    /// Index of the client's MSS in [`MSS_TABLE`] ([`mss_index`]); values
    /// above 3 are treated as 3.
    pub mss_index: u8,
    /// The client's window shift (0..=14), `None` without window scaling.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_ok: bool,
    /// Timestamps in use (the client offered them and we answered them).
    pub ts_ok: bool,
    /// ECN in use (the client's SYN had ECE and CWR and we answered ECE).
    pub ecn_ok: bool,
}

impl CookieOpts {
    /// Options with only an MSS (no window scaling, SACK, timestamps or
    /// ECN): what a cookie alone tells.
    pub const fn mss_only(mss_index: u8) -> CookieOpts {
        CookieOpts {
            mss_index,
            wscale: None,
            sack_ok: false,
            ts_ok: false,
            ecn_ok: false,
        }
    }

    /// The MSS value: the [`MSS_TABLE`] entry of `mss_index`.
    pub fn mss(&self) -> u16 {
        let i = usize::from(self.mss_index).min(MSS_TABLE.len() - 1);
        MSS_TABLE.get(i).copied().unwrap_or(MSS_TABLE[0])
    }

    /// The options the SYN-ACK's timestamp carried, from `tsecr`, the
    /// timestamp echo of the client's ACK (the first ACK, or the first data
    /// segment, after the SYN-ACK: whatever packet the cookie is checked
    /// on). Call it only if that packet carries a timestamp option; without
    /// one, the cookie's own [`CookieOpts`] (MSS only) are complete. Sets
    /// `ts_ok`; keeps `mss_index`.
    pub fn with_ts_echo(self, tsecr: u32) -> CookieOpts {
        let ws = tsecr & TS_WSCALE_MASK;
        CookieOpts {
            mss_index: self.mss_index,
            wscale: if ws == TS_WSCALE_MASK {
                None
            } else {
                // 0..=14 fits in u8; 15 was excluded above.
                u8::try_from(ws).ok()
            },
            sack_ok: tsecr & TS_SACK != 0,
            ts_ok: true,
            ecn_ok: tsecr & TS_ECN != 0,
        }
    }
}

/// The index in [`MSS_TABLE`] for a client's announced MSS (`None`: no MSS
/// option, 536 per RFC 879): the largest entry not above `mss`, or 0.
pub fn mss_index(mss: Option<u16>) -> u8 {
    let mss = mss.unwrap_or(MSS_TABLE[0]);
    let mut idx = 0u8;
    for (i, &m) in MSS_TABLE.iter().enumerate() {
        if mss >= m {
            idx = u8::try_from(i).unwrap_or(0);
        }
    }
    idx
}

/// The timestamp value (TSval) for our SYN-ACK: the low [`TS_OPT_BITS`]
/// bits of `clock` (our timestamp clock, e.g. milliseconds) replaced by
/// `opts`' window shift (15 for none), SACK and ECN bits. `opts.wscale`
/// above 14 is written as 14.
pub fn cookie_tsval(clock: u32, opts: &CookieOpts) -> u32 {
    let ws = opts
        .wscale
        .map_or(TS_WSCALE_MASK, |w| u32::from(w.min(MAX_WSCALE)));
    let mut bits = ws;
    if opts.sack_ok {
        bits |= TS_SACK;
    }
    if opts.ecn_ok {
        bits |= TS_ECN;
    }
    (clock & !((1 << TS_OPT_BITS) - 1)) | bits
}

/// The low 32 bits of SipHash-2-4 of the tuple, `count` and the domain
/// byte `which` under `key`.
fn cookie_hash(key: &SipKey, t: &CookieTuple, count: u32, which: u8) -> u32 {
    let mut msg = [0u8; 42];
    let fields: [&[u8]; 7] = [
        &t.saddr.inet(),
        &t.daddr.inet(),
        &t.sport.to_be_bytes(),
        &t.dport.to_be_bytes(),
        &count.to_le_bytes(),
        &[u8::from(t.saddr.af() == crate::addr::Af::Inet6)],
        &[which],
    ];
    let mut at = msg.iter_mut();
    for f in fields {
        // `f` first: zip stops at its end without taking from `at`.
        for (&b, d) in f.iter().zip(at.by_ref()) {
            *d = b;
        }
    }
    // Truncation to the low 32 bits is the point.
    (siphash24(key, &msg) & u64::from(u32::MAX)) as u32
}

/// The cookie made with `key` (see the module documentation).
fn make_with(key: &SipKey, t: &CookieTuple, client_isn: u32, minute: u32, data: u32) -> u32 {
    cookie_hash(key, t, 0, 0)
        .wrapping_add(client_isn)
        .wrapping_add(minute << COOKIE_BITS)
        .wrapping_add(cookie_hash(key, t, minute, 1).wrapping_add(data) & COOKIE_MASK)
}

/// The SYN cookie for a client SYN: the sequence number of our SYN-ACK.
///
/// - `t`: the SYN's addresses and ports (client, virtual service).
/// - `client_isn`: the SYN's sequence number.
/// - `minute`: a counter that increases by one every minute, the same on
///   every CPU (`jiffies / (60 * HZ)`, as Linux's `tcp_cookie_time`); it
///   may wrap.
/// - `opts`: only `opts.mss_index` goes into the cookie; put the rest into
///   the SYN-ACK's timestamp with [`cookie_tsval`].
pub fn cookie_make(
    secret: &CookieSecret,
    t: &CookieTuple,
    client_isn: u32,
    minute: u32,
    opts: &CookieOpts,
) -> u32 {
    let data = u32::from(opts.mss_index.min(3));
    make_with(&secret.current, t, client_isn, minute, data)
}

/// Checks the cookie of a client's ACK and returns the options it carries
/// (the MSS only: `wscale` `None`, the flags false; add the timestamp's
/// with [`CookieOpts::with_ts_echo`] when the ACK carries a timestamp
/// option), or `None` for a cookie that was not made by `secret` (current
/// or previous key) for this tuple and ISN, or that is older than
/// [`MAX_COOKIE_AGE`] minutes.
///
/// From the client's ACK (the third packet of the handshake, or its first
/// data segment, both carry the same numbers):
/// - `t`: its source (client) and destination (virtual service) address
///   and port, the same orientation as for [`cookie_make`];
/// - `client_isn`: its sequence number minus 1 (`seq - 1`);
/// - `cookie`: its acknowledgment number minus 1 (`ack_seq - 1`);
/// - `now_minute`: the minute counter now.
pub fn cookie_check(
    secret: &CookieSecret,
    t: &CookieTuple,
    client_isn: u32,
    cookie: u32,
    now_minute: u32,
) -> Option<CookieOpts> {
    secret.keys().find_map(|key| {
        let c = cookie
            .wrapping_sub(cookie_hash(key, t, 0, 0))
            .wrapping_sub(client_isn);
        let diff = now_minute.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if diff >= MAX_COOKIE_AGE {
            return None;
        }
        let minute = now_minute.wrapping_sub(diff);
        let data = c.wrapping_sub(cookie_hash(key, t, minute, 1)) & COOKIE_MASK;
        let idx = u8::try_from(data)
            .ok()
            .filter(|&i| usize::from(i) < MSS_TABLE.len())?;
        Some(CookieOpts::mss_only(idx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const K1: [u8; 16] = *b"0123456789abcdef";
    const K2: [u8; 16] = *b"fedcba9876543210";
    const K3: [u8; 16] = *b"another key 3333";

    fn tuple() -> CookieTuple {
        CookieTuple {
            saddr: Addr::v4([10, 0, 0, 2]),
            daddr: Addr::v4([10, 0, 1, 100]),
            sport: 40000,
            dport: 80,
        }
    }

    #[test]
    fn round_trip_every_index_and_age() {
        let s = CookieSecret::new(K1);
        let t = tuple();
        for idx in 0..4u8 {
            for minute in [0u32, 1, 77, 255, 256, u32::MAX] {
                let o = CookieOpts::mss_only(idx);
                let c = cookie_make(&s, &t, 0x1234_5678, minute, &o);
                for age in 0..MAX_COOKIE_AGE {
                    assert_eq!(
                        cookie_check(&s, &t, 0x1234_5678, c, minute.wrapping_add(age)),
                        Some(o),
                        "idx {idx} minute {minute} age {age}"
                    );
                }
                // Expired, and from the future.
                for now in [
                    minute.wrapping_add(MAX_COOKIE_AGE),
                    minute.wrapping_add(3),
                    minute.wrapping_add(200),
                    minute.wrapping_sub(1),
                ] {
                    assert_eq!(cookie_check(&s, &t, 0x1234_5678, c, now), None);
                }
            }
        }
    }

    #[test]
    fn wrong_tuple_isn_or_key() {
        let s = CookieSecret::new(K1);
        let t = tuple();
        let c = cookie_make(&s, &t, 1000, 5, &CookieOpts::mss_only(3));
        assert!(cookie_check(&s, &t, 1000, c, 5).is_some());
        let others = [
            CookieTuple {
                saddr: Addr::v4([10, 0, 0, 3]),
                ..t
            },
            CookieTuple {
                daddr: Addr::v4([10, 0, 1, 101]),
                ..t
            },
            CookieTuple { sport: 40001, ..t },
            CookieTuple { dport: 443, ..t },
            CookieTuple {
                saddr: t.daddr,
                daddr: t.saddr,
                ..t
            },
            CookieTuple {
                sport: 80,
                dport: 40000,
                ..t
            },
        ];
        for o in others {
            assert_eq!(cookie_check(&s, &o, 1000, c, 5), None, "{o:?}");
        }
        // The ISN and the MSS index are both added (as in Linux), so ISN + 1
        // with index - 1 is the same cookie; beyond the index range it is not.
        assert_eq!(
            cookie_check(&s, &t, 1001, c, 5),
            Some(CookieOpts::mss_only(2))
        );
        assert_eq!(cookie_check(&s, &t, 1004, c, 5), None);
        assert_eq!(cookie_check(&s, &t, 999, c, 5), None);
        assert_eq!(cookie_check(&s, &t, 2000, c, 5), None);
        assert_eq!(cookie_check(&s, &t, 1000, c.wrapping_add(1), 5), None);
        assert_eq!(cookie_check(&CookieSecret::new(K2), &t, 1000, c, 5), None);
    }

    #[test]
    fn rotation() {
        let mut s = CookieSecret::new(K1);
        let t = tuple();
        let o = CookieOpts::mss_only(2);
        let c1 = cookie_make(&s, &t, 7, 10, &o);
        s.rotate(K2);
        // Made with the previous key: still good.
        assert_eq!(cookie_check(&s, &t, 7, c1, 11), Some(o));
        let c2 = cookie_make(&s, &t, 7, 11, &o);
        assert_ne!(c1, c2);
        assert_eq!(cookie_check(&s, &t, 7, c2, 11), Some(o));
        s.rotate(K3);
        // Two rotations later the first key is gone.
        assert_eq!(cookie_check(&s, &t, 7, c1, 11), None);
        assert_eq!(cookie_check(&s, &t, 7, c2, 11), Some(o));
        // A cookie of the new key is not accepted under an old secret.
        let c3 = cookie_make(&s, &t, 7, 11, &o);
        let mut old = CookieSecret::new(K1);
        old.rotate(K2);
        assert_eq!(cookie_check(&old, &t, 7, c3, 11), None);
    }

    #[test]
    fn linux_layout() {
        // The top byte is minute + (H0 + isn) carries: subtracting the
        // first hash and the ISN leaves the minute in the top byte.
        let s = CookieSecret::new(K1);
        let t = tuple();
        for minute in [0u32, 1, 0x1ff] {
            let c = cookie_make(&s, &t, 99, minute, &CookieOpts::mss_only(1));
            let rest = c
                .wrapping_sub(cookie_hash(&s.current, &t, 0, 0))
                .wrapping_sub(99);
            assert_eq!(rest >> 24, minute & 0xff);
            assert_eq!(
                rest.wrapping_sub(cookie_hash(&s.current, &t, minute, 1)) & COOKIE_MASK,
                1
            );
        }
    }

    #[test]
    fn v6_tuples_differ_from_v4() {
        let s = CookieSecret::new(K1);
        let t = tuple();
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[10, 0, 1, 100]);
        let t6 = CookieTuple {
            saddr: Addr::v6(a),
            daddr: Addr::v6(b),
            ..t
        };
        let c = cookie_make(&s, &t, 5, 5, &CookieOpts::mss_only(0));
        assert_eq!(cookie_check(&s, &t6, 5, c, 5), None);
        let c6 = cookie_make(&s, &t6, 5, 5, &CookieOpts::mss_only(0));
        assert!(cookie_check(&s, &t6, 5, c6, 5).is_some());
    }

    #[test]
    fn mss_table() {
        for (mss, idx) in [
            (None, 0),
            (Some(0), 0),
            (Some(100), 0),
            (Some(536), 0),
            (Some(1299), 0),
            (Some(1300), 1),
            (Some(1439), 1),
            (Some(1440), 2),
            (Some(1459), 2),
            (Some(1460), 3),
            (Some(9000), 3),
            (Some(u16::MAX), 3),
        ] {
            assert_eq!(mss_index(mss), idx, "{mss:?}");
            assert_eq!(CookieOpts::mss_only(idx).mss(), MSS_TABLE[usize::from(idx)]);
        }
        assert_eq!(CookieOpts::mss_only(200).mss(), 1460);
        // An out-of-range index is made as 3.
        let s = CookieSecret::new(K1);
        let c = cookie_make(&s, &tuple(), 1, 1, &CookieOpts::mss_only(9));
        assert_eq!(
            cookie_check(&s, &tuple(), 1, c, 1),
            Some(CookieOpts::mss_only(3))
        );
    }

    #[test]
    fn timestamp_bits() {
        // Linux's synproxy_init_timestamp_cookie: wscale 7, SACK, no ECN.
        let o = CookieOpts {
            mss_index: 3,
            wscale: Some(7),
            sack_ok: true,
            ts_ok: true,
            ecn_ok: false,
        };
        let ts = cookie_tsval(0x1234_56ff, &o);
        assert_eq!(ts, 0x1234_56c0 | 7 | 0x10);
        assert_eq!(CookieOpts::mss_only(3).with_ts_echo(ts), o);
        // No window scaling: 0xf; ECN: bit 5.
        let o = CookieOpts {
            mss_index: 1,
            wscale: None,
            sack_ok: false,
            ts_ok: true,
            ecn_ok: true,
        };
        let ts = cookie_tsval(0, &o);
        assert_eq!(ts, 0x2f);
        assert_eq!(CookieOpts::mss_only(1).with_ts_echo(ts), o);
        // Every field, every value.
        for ws in (0..=14).map(Some).chain([None]) {
            for sack_ok in [false, true] {
                for ecn_ok in [false, true] {
                    let o = CookieOpts {
                        mss_index: 2,
                        wscale: ws,
                        sack_ok,
                        ts_ok: true,
                        ecn_ok,
                    };
                    let ts = cookie_tsval(0xdead_beef, &o);
                    assert_eq!(ts >> TS_OPT_BITS, 0xdead_beef >> TS_OPT_BITS);
                    assert_eq!(CookieOpts::mss_only(2).with_ts_echo(ts), o);
                }
            }
        }
        // A shift above 14 is sent as 14.
        let o = CookieOpts {
            wscale: Some(15),
            ..CookieOpts::mss_only(0)
        };
        assert_eq!(cookie_tsval(0, &o) & 0xf, 14);
    }

    proptest! {
        /// A cookie round-trips for any tuple, ISN, minute and index; any
        /// other value is refused (the chance of a random value passing,
        /// about 2^-29, is below what 256 cases can hit).
        #[test]
        fn forged_rejected(
            saddr in any::<[u8; 4]>(), daddr in any::<[u8; 4]>(),
            sport in any::<u16>(), dport in any::<u16>(),
            key in any::<[u8; 16]>(), isn in any::<u32>(), minute in any::<u32>(),
            idx in 0u8..4, forged in any::<u32>(), age in 0..MAX_COOKIE_AGE,
        ) {
            let s = CookieSecret::new(key);
            let t = CookieTuple { saddr: Addr::v4(saddr), daddr: Addr::v4(daddr), sport, dport };
            let o = CookieOpts::mss_only(idx);
            let c = cookie_make(&s, &t, isn, minute, &o);
            let now = minute.wrapping_add(age);
            prop_assert_eq!(cookie_check(&s, &t, isn, c, now), Some(o));
            if forged != c {
                prop_assert_eq!(cookie_check(&s, &t, isn, forged, now), None);
            }
            // One bit flipped: above the data bits, refused. (Bits 0 and 1
            // move the data by 1 or 2, which may give another valid index:
            // the data is added, as in Linux, so c + 1 is the cookie of the
            // next MSS index. Knowing it takes a valid cookie already.)
            for bit in 2..32 {
                prop_assert_eq!(cookie_check(&s, &t, isn, c ^ (1 << bit), now), None);
            }
            for bit in 0..2 {
                let r = cookie_check(&s, &t, isn, c ^ (1 << bit), now);
                prop_assert!(r != Some(o));
            }
        }
    }
}
