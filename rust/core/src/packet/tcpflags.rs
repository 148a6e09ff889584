// SPDX-License-Identifier: GPL-2.0
//! TCP flag-combination defence: the combinations of TCP flags no correct
//! stack sends, which scanners and attack tools do (NULL, FIN and Xmas
//! scans, SYN+FIN OS fingerprinting and filter evasion, ...). The director
//! drops such a segment before it looks up or creates a connection for it.
//!
//! The rule is Linux's, from `net/netfilter/nf_conntrack_proto_tcp.c`:
//! `tcp_error` marks a segment INVALID unless its flags, with PSH, ECE and
//! CWR masked off, are one of the nine entries of the `tcp_valid_flags`
//! table:
//!
//! ```text
//! SYN            SYN|URG        SYN|ACK
//! RST            RST|ACK
//! FIN|ACK        FIN|ACK|URG
//! ACK            ACK|URG
//! ```
//!
//! ("table of valid flag combinations - PUSH, ECE and CWR are always
//! valid"). So PSH, ECE and CWR never make a segment invalid (PSH on a SYN
//! is accepted, as is ECE|CWR, the ECN setup of RFC 3168), and neither do
//! the reserved bits of byte 12 (Linux ignores them too); URG is accepted on
//! a plain SYN. [`tcp_flags_invalid`] follows the table exactly and names
//! the reason for each of the 23 other combinations with an
//! [`InvalidFlags`] class, for counters.

use super::l4::tcp_flags::{ACK, CWR, ECE, FIN, PSH, RST, SYN, URG};

/// Why a TCP flag combination is invalid, for counters. Each invalid
/// combination has exactly one class: the first of the list below that
/// matches, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidFlags {
    /// None of SYN, FIN, RST, ACK and URG (only PSH, ECE, CWR, or nothing
    /// at all): the NULL scan (nmap `-sN`). Every segment but a SYN or a
    /// lone RST carries ACK; one without any of these has no meaning.
    Null,
    /// FIN, PSH and URG all set and the combination invalid: the Xmas scan
    /// (nmap `-sX` sends exactly FIN|PSH|URG), including a "christmas tree"
    /// with every flag lit.
    Xmas,
    /// SYN and FIN: opening and closing at once. Used to evade filters that
    /// look for a plain SYN and to fingerprint stacks.
    SynFin,
    /// SYN and RST (without FIN): opening and aborting at once.
    SynRst,
    /// FIN and RST (without SYN): closing and aborting at once.
    FinRst,
    /// FIN without ACK (and without SYN or RST): every FIN after the
    /// handshake carries ACK (RFC 9293); a lone FIN is the FIN scan
    /// (nmap `-sF`).
    FinNoAck,
    /// URG where the table does not allow it: without ACK on anything but
    /// a plain SYN (URG alone, RST|URG), or with RST|ACK, or on a SYN-ACK.
    BadUrg,
}

impl InvalidFlags {
    /// Every class, in [`InvalidFlags::index`] order.
    pub const ALL: [InvalidFlags; 7] = [
        InvalidFlags::Null,
        InvalidFlags::Xmas,
        InvalidFlags::SynFin,
        InvalidFlags::SynRst,
        InvalidFlags::FinRst,
        InvalidFlags::FinNoAck,
        InvalidFlags::BadUrg,
    ];

    /// The number of classes (for an array of counters).
    pub const COUNT: usize = InvalidFlags::ALL.len();

    /// A dense index `0..COUNT`, for an array of counters.
    pub fn index(self) -> usize {
        match self {
            InvalidFlags::Null => 0,
            InvalidFlags::Xmas => 1,
            InvalidFlags::SynFin => 2,
            InvalidFlags::SynRst => 3,
            InvalidFlags::FinRst => 4,
            InvalidFlags::FinNoAck => 5,
            InvalidFlags::BadUrg => 6,
        }
    }

    /// A short name for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            InvalidFlags::Null => "null",
            InvalidFlags::Xmas => "xmas",
            InvalidFlags::SynFin => "syn_fin",
            InvalidFlags::SynRst => "syn_rst",
            InvalidFlags::FinRst => "fin_rst",
            InvalidFlags::FinNoAck => "fin_no_ack",
            InvalidFlags::BadUrg => "bad_urg",
        }
    }
}

/// The flags that decide validity (Linux masks PSH, ECE and CWR off).
const DECIDING: u8 = !(PSH | ECE | CWR);

/// Whether `f` (flags with PSH, ECE and CWR cleared) is in Linux's
/// `tcp_valid_flags` table.
fn in_linux_table(f: u8) -> bool {
    const VALID: [u8; 9] = [
        SYN,
        SYN | URG,
        SYN | ACK,
        RST,
        RST | ACK,
        FIN | ACK,
        FIN | ACK | URG,
        ACK,
        ACK | URG,
    ];
    VALID.contains(&f)
}

/// Classifies the TCP flags byte `flags` (byte 13 of the TCP header):
/// `None` if Linux's connection tracking accepts the combination (see the
/// module documentation), otherwise why not.
#[inline]
pub fn tcp_flags_invalid(flags: u8) -> Option<InvalidFlags> {
    let f = flags & DECIDING;
    if in_linux_table(f) {
        return None;
    }
    let has = |bits: u8| flags & bits == bits;
    Some(if f == 0 {
        InvalidFlags::Null
    } else if has(FIN | PSH | URG) {
        InvalidFlags::Xmas
    } else if has(SYN | FIN) {
        InvalidFlags::SynFin
    } else if has(SYN | RST) {
        InvalidFlags::SynRst
    } else if has(FIN | RST) {
        InvalidFlags::FinRst
    } else if has(FIN) {
        InvalidFlags::FinNoAck
    } else {
        // What is left of the 23 invalid combinations: URG alone, RST|URG,
        // RST|ACK|URG, SYN|ACK|URG (checked exhaustively in the tests).
        InvalidFlags::BadUrg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's table, transcribed as a 32-entry array indexed by the flags
    /// FIN|SYN|RST|ACK|URG (bit values 1, 2, 4, 16, 32; the index space is
    /// 0..=0x37).
    fn linux_valid(flags: u8) -> bool {
        let mut table = [false; 0x38];
        for i in [0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30] {
            table[i] = true;
        }
        table[usize::from(flags & !(0x08 | 0x40 | 0x80))]
    }

    #[test]
    fn exhaustive_against_linux_table() {
        let mut seen = [0usize; InvalidFlags::COUNT];
        let mut invalid_masked = std::collections::BTreeSet::new();
        for flags in 0..=255u8 {
            let r = tcp_flags_invalid(flags);
            assert_eq!(r.is_none(), linux_valid(flags), "flags {flags:#04x}");
            if let Some(c) = r {
                seen[c.index()] += 1;
                invalid_masked.insert(flags & DECIDING);
            }
        }
        // 9 of the 32 deciding combinations are valid.
        assert_eq!(invalid_masked.len(), 23);
        // Every class occurs.
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    }

    #[test]
    fn named_cases() {
        use InvalidFlags::*;
        for (flags, want) in [
            (SYN, None),
            (SYN | PSH, None),
            (SYN | ECE | CWR, None),
            (SYN | URG, None),
            (SYN | ACK, None),
            (SYN | ACK | ECE, None),
            (ACK, None),
            (ACK | PSH, None),
            (ACK | URG | PSH, None),
            (FIN | ACK, None),
            (FIN | ACK | PSH | URG, None),
            (RST, None),
            (RST | ACK, None),
            (RST | ACK | PSH, None),
            (0, Some(Null)),
            (PSH, Some(Null)),
            (ECE | CWR, Some(Null)),
            (FIN | PSH | URG, Some(Xmas)),
            (0xff, Some(Xmas)),
            (0x3f, Some(Xmas)),
            (SYN | FIN, Some(SynFin)),
            (SYN | FIN | ACK, Some(SynFin)),
            (SYN | FIN | RST, Some(SynFin)),
            (SYN | FIN | URG, Some(SynFin)),
            (SYN | RST, Some(SynRst)),
            (SYN | RST | ACK, Some(SynRst)),
            (FIN | RST, Some(FinRst)),
            (FIN | RST | ACK, Some(FinRst)),
            (FIN, Some(FinNoAck)),
            (FIN | PSH, Some(FinNoAck)),
            (FIN | URG, Some(FinNoAck)),
            (URG, Some(BadUrg)),
            (URG | PSH, Some(BadUrg)),
            (RST | URG, Some(BadUrg)),
            (RST | ACK | URG, Some(BadUrg)),
            (SYN | ACK | URG, Some(BadUrg)),
        ] {
            assert_eq!(tcp_flags_invalid(flags), want, "flags {flags:#04x}");
        }
    }

    #[test]
    fn counters() {
        for (i, c) in InvalidFlags::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        let names: std::collections::BTreeSet<_> =
            InvalidFlags::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), InvalidFlags::COUNT);
    }
}
