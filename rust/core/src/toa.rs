// SPDX-License-Identifier: GPL-2.0
//! The TOA ("TCP option address") option a FULLNAT director writes so the
//! real server can learn the client's address, and the real server's side
//! of it (`toa_rs.ko`): finding the option in a segment, the table of
//! tagged sockets, rewriting the peer address `getpeername()`/`accept()`
//! report, and the statistics file.
//!
//! IPv4 layout, as used by the LVS ecosystem (Alibaba LVS, DPVS):
//! `kind u8 = 254 | len u8 = 8 | port be16 | address be32`.

use core::fmt;

/// TCP option kind of TOA.
pub const TOA_KIND: u8 = 254;
/// Length of the IPv4 TOA option, header included.
pub const TOA_LEN_V4: u8 = 8;

/// TCP option kind: end of the option list.
pub const TCPOPT_EOL: u8 = 0;
/// TCP option kind: no-operation (padding).
pub const TCPOPT_NOP: u8 = 1;

/// The client endpoint carried by a TOA option (and, in [`Tag`], any IPv4
/// endpoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToaV4 {
    /// Client IPv4 address, octets in network order.
    pub addr: [u8; 4],
    /// Client port, host order.
    pub port: u16,
}

impl ToaV4 {
    /// The option's wire bytes.
    pub fn encode(&self) -> [u8; TOA_LEN_V4 as usize] {
        let [p0, p1] = self.port.to_be_bytes();
        let [a0, a1, a2, a3] = self.addr;
        [TOA_KIND, TOA_LEN_V4, p0, p1, a0, a1, a2, a3]
    }

    /// Reads an option from its wire bytes (kind and length included).
    /// Returns `None` unless it is exactly an IPv4 TOA option.
    pub fn decode(opt: &[u8]) -> Option<Self> {
        match *opt {
            [TOA_KIND, TOA_LEN_V4, p0, p1, a0, a1, a2, a3] => Some(ToaV4 {
                addr: [a0, a1, a2, a3],
                port: u16::from_be_bytes([p0, p1]),
            }),
            _ => None,
        }
    }

    /// Whether this can be a TCP client's endpoint: neither the address
    /// nor the port is zero.
    pub fn plausible(&self) -> bool {
        self.port != 0 && self.addr != [0; 4]
    }
}

/// What a scan of a TCP option block found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// The first IPv4 TOA option.
    Found(ToaV4),
    /// No TOA option in a well-formed block.
    Absent,
    /// The block is malformed before any TOA option (an option length
    /// below 2 or running past the block, a truncated option), or the first
    /// TOA option carries address or port zero.
    Malformed,
}

/// Looks for the IPv4 TOA option in a TCP option block (the bytes after
/// the 20-byte fixed header, `doff * 4 - 20` of them).
///
/// Follows the kernel's `tcp_parse_options()`: `EOL` ends the list,
/// `NOP` is one byte, every other option has a length byte of at least 2
/// that must fit in the block. Kind 254 with another length is a different
/// experimental option (RFC 6994) and is skipped. The first TOA option
/// wins.
pub fn scan_options(opts: &[u8]) -> Scan {
    let mut rest = opts;
    loop {
        match *rest {
            [] | [TCPOPT_EOL, ..] => return Scan::Absent,
            [TCPOPT_NOP, ref tail @ ..] => rest = tail,
            [_] => return Scan::Malformed,
            [kind, len, ..] => {
                let len = usize::from(len);
                if len < 2 {
                    return Scan::Malformed;
                }
                let (Some(opt), Some(tail)) = (rest.get(..len), rest.get(len..)) else {
                    return Scan::Malformed;
                };
                if kind == TOA_KIND {
                    if let Some(toa) = ToaV4::decode(opt) {
                        return if toa.plausible() {
                            Scan::Found(toa)
                        } else {
                            Scan::Malformed
                        };
                    }
                }
                rest = tail;
            }
        }
    }
}

/// The IPv4 TOA option of a TCP option block, if there is a well-formed
/// one (see [`scan_options`]).
pub fn find_toa(tcp_options: &[u8]) -> Option<ToaV4> {
    match scan_options(tcp_options) {
        Scan::Found(t) => Some(t),
        Scan::Absent | Scan::Malformed => None,
    }
}

/// What [`scan_tcp_header`] learnt about a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The SYN flag is set.
    pub syn: bool,
    /// The scan of its option block.
    pub scan: Scan,
}

/// Length of the TCP header without options.
pub const TCP_HDR_LEN: usize = 20;

/// Scans a TCP segment starting at its header (`hdr` holds at least the
/// header and its options; the payload may follow or be cut off). A data
/// offset below 5 or beyond `hdr` makes the scan [`Scan::Malformed`].
pub fn scan_tcp_header(hdr: &[u8]) -> Segment {
    let (doff, flags) = match *hdr {
        [_, _, _, _, _, _, _, _, _, _, _, _, off, flags, ..] => (usize::from(off >> 4) * 4, flags),
        _ => {
            return Segment {
                syn: false,
                scan: Scan::Malformed,
            }
        }
    };
    let syn = flags & 0x02 != 0;
    let scan = match hdr.get(TCP_HDR_LEN..doff) {
        Some(opts) => scan_options(opts),
        None => Scan::Malformed,
    };
    Segment { syn, scan }
}

/// Address family numbers as Linux defines them (`sa_family_t`, host
/// order).
pub const AF_INET: u16 = 2;
/// See [`AF_INET`].
pub const AF_INET6: u16 = 10;

/// The IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) of `addr`.
pub fn v4mapped(addr: [u8; 4]) -> [u8; 16] {
    let [a0, a1, a2, a3] = addr;
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a0, a1, a2, a3]
}

/// What [`rewrite_peer`] did to a socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// The address now holds the client's endpoint.
    Done,
    /// The address is not the peer the socket was tagged with (something
    /// else rewrote it, e.g. a BPF program); left alone.
    Mismatch,
    /// Not an IPv4 or v4-mapped IPv6 address of a length that holds one;
    /// left alone.
    Unsupported,
}

/// Rewrites the socket address `inet_getname()`/`inet6_getname()` wrote
/// (`sa`, the bytes of a `struct sockaddr_in` or `struct sockaddr_in6`,
/// as long as the length the function returned) from the peer the kernel
/// knows (`kernel_peer`, the director's local address) to the client's
/// endpoint. IPv6 sockets (dual-stack listeners) get the client as a
/// v4-mapped address. Only rewrites an address that is `kernel_peer`.
pub fn rewrite_peer(sa: &mut [u8], kernel_peer: ToaV4, client: ToaV4) -> Rewrite {
    let (fam, rest) = match sa.split_first_chunk_mut::<2>() {
        Some((fam, rest)) => (u16::from_ne_bytes(*fam), rest),
        None => return Rewrite::Unsupported,
    };
    let cport = client.port.to_be_bytes();
    let kport = kernel_peer.port.to_be_bytes();
    match (fam, rest) {
        // sockaddr_in: family, port, address, zero padding.
        (AF_INET, [p0, p1, a0, a1, a2, a3, ..]) => {
            if [*p0, *p1] != kport || [*a0, *a1, *a2, *a3] != kernel_peer.addr {
                return Rewrite::Mismatch;
            }
            [*p0, *p1] = cport;
            [*a0, *a1, *a2, *a3] = client.addr;
            Rewrite::Done
        }
        // sockaddr_in6: family, port, flow info, address, scope id.
        (AF_INET6, [p0, p1, _, _, _, _, addr @ ..]) => {
            let Some((addr, _)) = addr.split_first_chunk_mut::<16>() else {
                return Rewrite::Unsupported;
            };
            if [*p0, *p1] != kport || *addr != v4mapped(kernel_peer.addr) {
                return Rewrite::Mismatch;
            }
            [*p0, *p1] = cport;
            *addr = v4mapped(client.addr);
            Rewrite::Done
        }
        _ => Rewrite::Unsupported,
    }
}

/// What the real server records for a socket whose handshake carried TOA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    /// The client endpoint from the TOA option.
    pub client: ToaV4,
    /// The peer the kernel knows for the socket (the director's local
    /// address and port): only an address that still says this is
    /// rewritten.
    pub kernel_peer: ToaV4,
}

/// The table of tagged sockets: open addressing with linear probing and
/// backward-shift deletion over caller-provided slots, keyed by a non-zero
/// `u64` (the socket's address). Fixed capacity (at most three quarters of
/// the slots are used), no allocation; the caller locks.
pub mod table {
    use super::Tag;
    use core::ops::DerefMut;

    /// One slot; key 0 marks it empty.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Slot {
        key: u64,
        tag: Tag,
    }

    /// A 64-bit mix of a key (murmur3's finalizer): the table uses the low
    /// bits, callers sharding over several tables should use the high ones.
    pub fn mix(key: u64) -> u64 {
        let mut x = key;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    /// The result of [`TagTable::insert`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Insert {
        /// A new entry.
        New,
        /// The key was there (a socket freed without the table hearing of
        /// it, whose address was reused); its tag was replaced.
        Replaced,
        /// The table is at capacity; nothing changed.
        Full,
        /// Key 0 cannot be stored.
        Invalid,
    }

    /// A table over the slots `S` (a power-of-two count; only the largest
    /// power-of-two prefix is used otherwise).
    pub struct TagTable<S> {
        slots: S,
        mask: usize,
        used: usize,
    }

    impl<S: DerefMut<Target = [Slot]>> TagTable<S> {
        /// A table over `slots`, which must be empty (all default).
        pub fn new(mut slots: S) -> Self {
            let n = slots.len();
            let size = match n {
                0 => 0,
                n => 1usize << (usize::BITS - 1 - n.leading_zeros()),
            };
            slots.fill(Slot::default());
            TagTable {
                slots,
                mask: size.wrapping_sub(1),
                used: 0,
            }
        }

        fn size(&self) -> usize {
            self.mask.wrapping_add(1)
        }

        /// The most entries it holds.
        pub fn capacity(&self) -> usize {
            let size = self.size();
            size - size / 4
        }

        /// Entries held.
        pub fn len(&self) -> usize {
            self.used
        }

        /// Whether it holds no entry.
        pub fn is_empty(&self) -> bool {
            self.used == 0
        }

        fn home(&self, key: u64) -> usize {
            (mix(key) as usize) & self.mask
        }

        fn key_at(&self, i: usize) -> u64 {
            self.slots.get(i).map_or(0, |s| s.key)
        }

        /// `Ok(slot of key)` or `Err(first empty slot on its probe path)`
        /// (`Err(None)` if there is none).
        fn find(&self, key: u64) -> Result<usize, Option<usize>> {
            let mut i = self.home(key);
            for _ in 0..self.size() {
                match self.key_at(i) {
                    0 => return Err(Some(i)),
                    k if k == key => return Ok(i),
                    _ => i = (i + 1) & self.mask,
                }
            }
            Err(None)
        }

        /// The tag of `key`.
        pub fn get(&self, key: u64) -> Option<Tag> {
            if key == 0 {
                return None;
            }
            let i = self.find(key).ok()?;
            self.slots.get(i).map(|s| s.tag)
        }

        /// Tags `key` (replacing an existing tag).
        pub fn insert(&mut self, key: u64, tag: Tag) -> Insert {
            if key == 0 {
                return Insert::Invalid;
            }
            match self.find(key) {
                Ok(i) => match self.slots.get_mut(i) {
                    Some(s) => {
                        s.tag = tag;
                        Insert::Replaced
                    }
                    None => Insert::Full,
                },
                Err(Some(i)) if self.used < self.capacity() => match self.slots.get_mut(i) {
                    Some(s) => {
                        *s = Slot { key, tag };
                        self.used += 1;
                        Insert::New
                    }
                    None => Insert::Full,
                },
                Err(_) => Insert::Full,
            }
        }

        /// Removes `key`, returning its tag.
        pub fn remove(&mut self, key: u64) -> Option<Tag> {
            if key == 0 {
                return None;
            }
            let mut hole = self.find(key).ok()?;
            let tag = self.slots.get(hole)?.tag;
            // Backward shift: pull later entries of the cluster into the
            // hole when the hole lies on their probe path.
            let mut j = hole;
            for _ in 0..self.size() {
                j = (j + 1) & self.mask;
                let Some(&s) = self.slots.get(j) else { break };
                if s.key == 0 {
                    break;
                }
                let from_home = j.wrapping_sub(self.home(s.key)) & self.mask;
                let from_hole = j.wrapping_sub(hole) & self.mask;
                if from_home >= from_hole {
                    if let Some(h) = self.slots.get_mut(hole) {
                        *h = s;
                    }
                    hole = j;
                }
            }
            if let Some(h) = self.slots.get_mut(hole) {
                *h = Slot::default();
            }
            self.used = self.used.saturating_sub(1);
            Some(tag)
        }

        /// Empties the table, returning how many entries it held.
        pub fn clear(&mut self) -> usize {
            self.slots.fill(Slot::default());
            core::mem::replace(&mut self.used, 0)
        }
    }
}

/// The counters of `/proc/net/toa_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The `enabled` module parameter.
    pub enabled: bool,
    /// The `max_entries` module parameter (after range checks).
    pub max_entries: u64,
    /// Tagged sockets not yet freed.
    pub entries_live: u64,
    /// Handshake-completing SYNs (TCP Fast Open) with a TOA option.
    pub syn_toa: u64,
    /// Handshake-completing ACKs with a TOA option.
    pub ack_toa: u64,
    /// Handshakes completed without a TOA option.
    pub no_toa: u64,
    /// Handshake segments with a malformed TCP header or option block.
    pub parse_errors: u64,
    /// Handshakes with TOA that produced no socket (refused, lost a race).
    pub no_child: u64,
    /// Sockets tagged.
    pub tagged: u64,
    /// Sockets not tagged because the table was full.
    pub table_full: u64,
    /// Tags dropped when their socket was freed.
    pub untagged: u64,
    /// `accept()`/`getpeername()` answers rewritten to the client.
    pub getname_rewrites: u64,
    /// Answers of tagged sockets left alone: not the expected peer.
    pub getname_mismatch: u64,
    /// Probe hits the kernel skipped (`nmissed`), by probe.
    pub missed_syn_recv: u64,
    /// See [`Stats::missed_syn_recv`].
    pub missed_getname: u64,
    /// See [`Stats::missed_syn_recv`].
    pub missed_getname6: u64,
    /// See [`Stats::missed_syn_recv`].
    pub missed_sock_destruct: u64,
}

impl Stats {
    /// Writes `/proc/net/toa_stats`: one `name value` line per counter.
    pub fn write(&self, w: &mut impl fmt::Write) -> fmt::Result {
        let lines: [(&str, u64); 17] = [
            ("enabled", u64::from(self.enabled)),
            ("max_entries", self.max_entries),
            ("entries_live", self.entries_live),
            ("syn_toa", self.syn_toa),
            ("ack_toa", self.ack_toa),
            ("no_toa", self.no_toa),
            ("parse_errors", self.parse_errors),
            ("no_child", self.no_child),
            ("tagged", self.tagged),
            ("table_full", self.table_full),
            ("untagged", self.untagged),
            ("getname_rewrites", self.getname_rewrites),
            ("getname_mismatch", self.getname_mismatch),
            ("missed_syn_recv", self.missed_syn_recv),
            ("missed_getname", self.missed_getname),
            ("missed_getname6", self.missed_getname6),
            ("missed_sock_destruct", self.missed_sock_destruct),
        ];
        for (name, v) in lines {
            writeln!(w, "{name} {v}")?;
        }
        Ok(())
    }
}

/// Range of the `max_entries` module parameter.
pub const MAX_ENTRIES_RANGE: core::ops::RangeInclusive<u32> = 1..=(1 << 22);
/// Default of the `max_entries` module parameter.
pub const MAX_ENTRIES_DEFAULT: u32 = 65536;

/// The table geometry for `max_entries` spread over `shards` tables:
/// slots per shard, a power of two at least twice a shard's even share (so
/// a shard holds 1.5 times its share at the table's load limit of 3/4, and
/// is at most half full on average when all `max_entries` are used).
pub fn shard_slots(max_entries: u32, shards: u32) -> usize {
    let share = max_entries.div_ceil(shards.max(1)).max(1) as usize;
    share
        .saturating_mul(2)
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
        .max(4)
}

#[cfg(test)]
mod tests {
    use super::table::{Insert, Slot, TagTable};
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const T: ToaV4 = ToaV4 {
        addr: [10, 0, 0, 2],
        port: 40000,
    };

    #[test]
    fn wire_layout() {
        assert_eq!(T.encode(), [254, 8, 0x9c, 0x40, 10, 0, 0, 2]);
        assert_eq!(ToaV4::decode(&T.encode()), Some(T));
    }

    #[test]
    fn rejects_other_options() {
        assert_eq!(ToaV4::decode(&[254, 8, 0, 0, 0, 0, 0]), None);
        assert_eq!(ToaV4::decode(&[253, 8, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(ToaV4::decode(&[254, 20, 0, 0, 0, 0, 0, 0]), None);
    }

    fn opts(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn finds_toa_among_options() {
        let mss: &[u8] = &[2, 4, 0x05, 0xb4];
        let sack_ok: &[u8] = &[4, 2];
        let ts: &[u8] = &[8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        let wscale: &[u8] = &[3, 3, 7];
        let toa = T.encode();
        for block in [
            opts(&[&toa]),
            opts(&[mss, &toa]),
            opts(&[&[1, 1], ts, &toa, &[1, 1]]),
            opts(&[mss, sack_ok, ts, &[1], wscale, &toa]),
            opts(&[&toa, &[0, 0, 0, 0]]),
        ] {
            assert_eq!(scan_options(&block), Scan::Found(T), "{block:?}");
            assert_eq!(find_toa(&block), Some(T));
        }
    }

    #[test]
    fn absent_and_malformed() {
        assert_eq!(scan_options(&[]), Scan::Absent);
        assert_eq!(scan_options(&[1, 1, 1, 1]), Scan::Absent);
        assert_eq!(scan_options(&[2, 4, 5, 0xb4]), Scan::Absent);
        // After EOL nothing counts, not even a TOA option.
        let mut b = vec![0];
        b.extend_from_slice(&T.encode());
        assert_eq!(scan_options(&b), Scan::Absent);
        // Kind 254 of another length: an RFC 6994 experiment, skipped.
        assert_eq!(scan_options(&[254, 4, 0xf9, 0x89]), Scan::Absent);
        let mut b = vec![254, 4, 0xf9, 0x89];
        b.extend_from_slice(&T.encode());
        assert_eq!(scan_options(&b), Scan::Found(T));
        // Lengths below 2, past the end, a lone kind byte.
        assert_eq!(scan_options(&[3, 0, 1, 1]), Scan::Malformed);
        assert_eq!(scan_options(&[3, 1, 1, 1]), Scan::Malformed);
        assert_eq!(scan_options(&[1, 1, 1, 254]), Scan::Malformed);
        assert_eq!(scan_options(&[254, 8, 1, 2, 10, 0]), Scan::Malformed);
        assert_eq!(scan_options(&[8, 10, 1, 2, 3, 4]), Scan::Malformed);
        // The kernel would ignore what follows a bad length; so do we.
        let mut b = vec![3, 1];
        b.extend_from_slice(&T.encode());
        assert_eq!(scan_options(&b), Scan::Malformed);
        // Zero address or port: no client has those.
        assert_eq!(scan_options(&[254, 8, 0, 0, 10, 0, 0, 2]), Scan::Malformed);
        assert_eq!(scan_options(&[254, 8, 0, 80, 0, 0, 0, 0]), Scan::Malformed);
        // The first TOA option wins.
        let other = ToaV4 {
            addr: [192, 0, 2, 1],
            port: 1,
        };
        let b = opts(&[&T.encode(), &other.encode()]);
        assert_eq!(scan_options(&b), Scan::Found(T));
    }

    fn tcp_header(flags: u8, options: &[u8], doff_words: Option<u8>) -> Vec<u8> {
        let words = doff_words.unwrap_or(((20 + options.len()) / 4) as u8);
        let mut h = vec![
            0x9c,
            0x40,
            0,
            80,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            2,
            words << 4,
            flags,
            0xff,
            0xff,
        ];
        h.extend_from_slice(&[0, 0, 0, 0]);
        h.extend_from_slice(options);
        h
    }

    #[test]
    fn tcp_headers() {
        let toa = T.encode();
        let ack = tcp_header(0x10, &toa, None);
        assert_eq!(
            scan_tcp_header(&ack),
            Segment {
                syn: false,
                scan: Scan::Found(T)
            }
        );
        let mut syn_opts = vec![2, 4, 5, 0xb4];
        syn_opts.extend_from_slice(&toa);
        let syn = tcp_header(0x02, &syn_opts, None);
        assert_eq!(
            scan_tcp_header(&syn),
            Segment {
                syn: true,
                scan: Scan::Found(T)
            }
        );
        // Payload after the options is not looked at.
        let mut with_data = tcp_header(0x18, &[], None);
        with_data.extend_from_slice(&toa);
        assert_eq!(scan_tcp_header(&with_data).scan, Scan::Absent);
        // doff below 5, beyond the bytes available, short headers.
        assert_eq!(
            scan_tcp_header(&tcp_header(0x10, &[], Some(4))).scan,
            Scan::Malformed
        );
        assert_eq!(
            scan_tcp_header(&tcp_header(0x10, &toa, Some(8))).scan,
            Scan::Malformed
        );
        assert_eq!(scan_tcp_header(&ack[..13]).scan, Scan::Malformed);
        assert_eq!(scan_tcp_header(&[]).scan, Scan::Malformed);
        // doff 5 with a short buffer: 14 bytes hold doff but not the header.
        assert_eq!(scan_tcp_header(&ack[..19]).scan, Scan::Malformed);
    }

    const LIP: ToaV4 = ToaV4 {
        addr: [10, 1, 0, 1],
        port: 5001,
    };

    fn sockaddr_in(e: ToaV4) -> [u8; 16] {
        let mut sa = [0u8; 16];
        sa[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        sa[2..4].copy_from_slice(&e.port.to_be_bytes());
        sa[4..8].copy_from_slice(&e.addr);
        sa
    }

    fn sockaddr_in6(e: ToaV4) -> [u8; 28] {
        let mut sa = [0u8; 28];
        sa[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        sa[2..4].copy_from_slice(&e.port.to_be_bytes());
        sa[8..24].copy_from_slice(&v4mapped(e.addr));
        sa
    }

    #[test]
    fn rewrites_peer() {
        let mut sa = sockaddr_in(LIP);
        assert_eq!(rewrite_peer(&mut sa, LIP, T), Rewrite::Done);
        assert_eq!(sa, sockaddr_in(T));
        // Already something else: left alone.
        assert_eq!(rewrite_peer(&mut sa, LIP, T), Rewrite::Mismatch);
        assert_eq!(sa, sockaddr_in(T));

        let mut sa6 = sockaddr_in6(LIP);
        assert_eq!(rewrite_peer(&mut sa6, LIP, T), Rewrite::Done);
        assert_eq!(sa6, sockaddr_in6(T));
        let mut native6 = sockaddr_in6(LIP);
        native6[8..24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let before = native6;
        assert_eq!(rewrite_peer(&mut native6, LIP, T), Rewrite::Mismatch);
        assert_eq!(native6, before);

        // Too short for the family, unknown families.
        assert_eq!(
            rewrite_peer(&mut sockaddr_in(LIP)[..7], LIP, T),
            Rewrite::Unsupported
        );
        assert_eq!(
            rewrite_peer(&mut sockaddr_in6(LIP)[..23], LIP, T),
            Rewrite::Unsupported
        );
        assert_eq!(
            rewrite_peer(&mut [1, 0, 0, 0, 0, 0, 0, 0], LIP, T),
            Rewrite::Unsupported
        );
        assert_eq!(rewrite_peer(&mut [], LIP, T), Rewrite::Unsupported);
    }

    fn tag(n: u16) -> Tag {
        Tag {
            client: ToaV4 {
                addr: [192, 0, 2, n as u8],
                port: n,
            },
            kernel_peer: LIP,
        }
    }

    #[test]
    fn table_basics() {
        let mut t = TagTable::new(vec![Slot::default(); 16]);
        assert_eq!(t.capacity(), 12);
        assert!(t.is_empty());
        assert_eq!(t.insert(0, tag(1)), Insert::Invalid);
        assert_eq!(t.get(0), None);
        assert_eq!(t.remove(0), None);
        for k in 1..=12u64 {
            assert_eq!(t.insert(k * 64, tag(k as u16)), Insert::New);
        }
        assert_eq!(t.insert(13 * 64, tag(13)), Insert::Full);
        assert_eq!(t.insert(5 * 64, tag(99)), Insert::Replaced);
        assert_eq!(t.get(5 * 64), Some(tag(99)));
        assert_eq!(t.len(), 12);
        assert_eq!(t.remove(5 * 64), Some(tag(99)));
        assert_eq!(t.remove(5 * 64), None);
        assert_eq!(t.insert(13 * 64, tag(13)), Insert::New);
        for k in (1..=13u64).filter(|&k| k != 5) {
            assert_eq!(t.get(k * 64), Some(tag(k as u16)));
        }
        assert_eq!(t.clear(), 12);
        assert!(t.is_empty());
        assert_eq!(t.get(64), None);

        // Degenerate slot counts never panic.
        let mut empty = TagTable::new(Vec::<Slot>::new());
        assert_eq!(empty.capacity(), 0);
        assert_eq!(empty.insert(1, tag(1)), Insert::Full);
        assert_eq!(empty.get(1), None);
        let mut odd = TagTable::new(vec![Slot::default(); 7]);
        assert_eq!(odd.capacity(), 3);
        for k in 1..=3 {
            assert_eq!(odd.insert(k, tag(1)), Insert::New);
        }
        assert_eq!(odd.insert(4, tag(1)), Insert::Full);
        let mut one = TagTable::new(vec![Slot::default(); 1]);
        assert_eq!(one.insert(9, tag(1)), Insert::New);
        assert_eq!(one.insert(10, tag(1)), Insert::Full);
        assert_eq!(one.remove(9), Some(tag(1)));
    }

    #[test]
    fn geometry() {
        assert_eq!(shard_slots(65536, 16), 8192);
        assert_eq!(shard_slots(1, 16), 4);
        assert_eq!(shard_slots(0, 0), 4);
        for max in [1u32, 7, 100, 4096, 65536, 1 << 22] {
            let slots = shard_slots(max, 16);
            assert!(slots.is_power_of_two());
            let cap = slots - slots / 4;
            assert!(2 * cap >= 3 * (max.div_ceil(16) as usize), "{max}");
            assert!(slots <= 4 * (max.div_ceil(16) as usize).max(1), "{max}");
        }
    }

    #[test]
    fn stats_text() {
        let s = Stats {
            enabled: true,
            max_entries: 65536,
            entries_live: 2,
            ack_toa: 3,
            tagged: 3,
            untagged: 1,
            ..Stats::default()
        };
        let mut out = String::new();
        s.write(&mut out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 17);
        assert_eq!(lines[0], "enabled 1");
        assert_eq!(lines[1], "max_entries 65536");
        assert_eq!(lines[2], "entries_live 2");
        assert!(lines.contains(&"ack_toa 3"));
        assert!(lines.contains(&"untagged 1"));
        assert!(lines.contains(&"missed_sock_destruct 0"));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u16),
        Remove(u64),
        Get(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so operations collide and clusters form;
        // multiples of 64 like slab-allocated sockets.
        let key = (0u64..40).prop_map(|k| k * 64);
        prop_oneof![
            (key.clone(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key.clone().prop_map(Op::Remove),
            key.prop_map(Op::Get),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(addr in any::<[u8; 4]>(), port in any::<u16>()) {
            let t = ToaV4 { addr, port };
            prop_assert_eq!(ToaV4::decode(&t.encode()), Some(t));
        }

        #[test]
        fn scan_never_panics(block in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = scan_options(&block);
            // A found option is a plausible one that is in the block.
            if let Scan::Found(t) = s {
                prop_assert!(t.plausible());
                prop_assert!(block.windows(8).any(|w| w == t.encode()));
            }
            let _ = scan_tcp_header(&block);
        }

        #[test]
        fn toa_found_behind_any_wellformed_options(
            pre in proptest::collection::vec(
                prop_oneof![
                    Just(vec![1u8]),
                    (2u8..=253, proptest::collection::vec(any::<u8>(), 0..10))
                        .prop_map(|(k, body)| {
                            let mut o = vec![k, (body.len() + 2) as u8];
                            o.extend(body);
                            o
                        }),
                ],
                0..5,
            ),
            addr in any::<[u8; 4]>(),
            port in 1u16..,
        ) {
            prop_assume!(addr != [0; 4]);
            let t = ToaV4 { addr, port };
            let mut block = pre.concat();
            block.extend_from_slice(&t.encode());
            prop_assert_eq!(scan_options(&block), Scan::Found(t));
            // Cut anywhere inside the TOA option: never found.
            for cut in block.len() - 7..block.len() {
                prop_assert_ne!(scan_options(&block[..cut]), Scan::Found(t));
            }
        }

        #[test]
        fn rewrite_only_touches_port_and_address(
            sa in proptest::collection::vec(any::<u8>(), 0..40),
            peer_addr in any::<[u8; 4]>(),
            peer_port in any::<u16>(),
        ) {
            let peer = ToaV4 { addr: peer_addr, port: peer_port };
            let mut out = sa.clone();
            match rewrite_peer(&mut out, peer, T) {
                Rewrite::Done => {
                    prop_assert_eq!(out.len(), sa.len());
                    prop_assert_eq!(&out[..2], &sa[..2]);
                }
                Rewrite::Mismatch | Rewrite::Unsupported => prop_assert_eq!(out, sa),
            }
        }

        #[test]
        fn table_matches_a_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut t = TagTable::new(vec![Slot::default(); 32]);
            let mut model: HashMap<u64, Tag> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let r = t.insert(k, tag(v));
                        let want = if k == 0 {
                            Insert::Invalid
                        } else if model.contains_key(&k) {
                            Insert::Replaced
                        } else if model.len() >= t.capacity() {
                            Insert::Full
                        } else {
                            Insert::New
                        };
                        prop_assert_eq!(r, want);
                        if matches!(r, Insert::New | Insert::Replaced) {
                            model.insert(k, tag(v));
                        }
                    }
                    Op::Remove(k) => prop_assert_eq!(t.remove(k), model.remove(&k)),
                    Op::Get(k) => prop_assert_eq!(t.get(k), model.get(&k).copied()),
                }
                prop_assert_eq!(t.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(t.get(*k), Some(*v));
            }
        }
    }
}
