// SPDX-License-Identifier: GPL-2.0
//! What a SYNPROXY connection does with the client's segments while it
//! waits for the real server's SYN-ACK (after the client's ACK validated
//! its cookie and the director sent [`super::synack::backend_syn`]), and
//! when it retransmits that SYN.
//!
//! The glue keeps one client packet to forward once the server has
//! answered (it completes the server's handshake): the first one, replaced
//! by the first segment with data (or FIN), which the server needs more
//! than a pure ACK. Everything else is dropped; the client retransmits it
//! once the connection is open. Bounds, as the LVS ecosystem's sysctls:
//!
//! - `synproxy_skb_store_thresh` (default 3): at most that many packets
//!   are taken to be held over the wait (a flood of data segments from a
//!   client that does not wait is dropped, counted);
//! - `synproxy_dup_ack_thresh` (default 10, 0 = off): that many identical
//!   pure ACKs in a row are an ACK storm: dropped, counted;
//! - `synproxy_syn_retry` (default 3): the SYN to the real server is sent
//!   again that many times (after 1, 2, 4, ... seconds) before the
//!   connection is given up.

use crate::packet::l4::tcp_flags;

/// The thresholds (sysctls) in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitLimits {
    /// Identical pure ACKs in a row that make an ACK storm (0: no guard).
    pub dup_ack_thresh: u32,
    /// Packets that may be taken to be held.
    pub store_thresh: u32,
    /// Retransmissions of the SYN to the real server.
    pub syn_retry: u32,
}

impl Default for WaitLimits {
    /// The ecosystem's defaults: 10, 3, 3.
    fn default() -> Self {
        WaitLimits {
            dup_ack_thresh: 10,
            store_thresh: 3,
            syn_retry: 3,
        }
    }
}

/// A client segment as the wait sees it (numbers in host order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSegment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack_seq: u32,
    /// TCP flags.
    pub flags: u8,
    /// Payload bytes.
    pub payload: u32,
}

impl ClientSegment {
    /// A segment with data or FIN (not a pure ACK).
    fn carries(&self) -> bool {
        self.payload > 0 || self.flags & tcp_flags::FIN != 0
    }
}

/// Why a client segment was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitDrop {
    /// Another pure ACK while one is held: nothing to add (not counted).
    Duplicate,
    /// The ACK-storm guard (count it).
    AckStorm,
    /// No room to hold it (count it).
    StoreFull,
}

/// What to do with a client segment while waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitAction {
    /// Hold it, freeing the one held before if any.
    Hold,
    /// Drop it.
    Drop(WaitDrop),
    /// A reset: forward it to the real server untranslated (it has only
    /// seen our SYN; the client's sequence numbers are its own) and let
    /// the connection close. Free the held packet.
    Reset,
}

/// The per-connection state of the wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitState {
    /// Packets taken to be held so far.
    stored: u32,
    /// Whether a packet is held, and whether it carries data or FIN.
    held: Option<bool>,
    /// The last pure ACK's numbers and how often it repeated.
    last: Option<(u32, u32)>,
    dups: u32,
    /// SYN retransmissions so far.
    retries: u32,
}

impl WaitState {
    /// A wait that holds the validating ACK `first` (which the glue keeps).
    pub fn holding(first: &ClientSegment) -> WaitState {
        WaitState {
            stored: 1,
            held: Some(first.carries()),
            last: (!first.carries()).then_some((first.seq, first.ack_seq)),
            dups: 0,
            retries: 0,
        }
    }

    /// Decides about a client segment that arrived while waiting.
    pub fn client_segment(&mut self, seg: &ClientSegment, lim: &WaitLimits) -> WaitAction {
        if seg.flags & tcp_flags::RST != 0 {
            self.held = None;
            return WaitAction::Reset;
        }
        if !seg.carries() {
            if self.last == Some((seg.seq, seg.ack_seq)) {
                self.dups = self.dups.saturating_add(1);
                if lim.dup_ack_thresh != 0 && self.dups >= lim.dup_ack_thresh {
                    return WaitAction::Drop(WaitDrop::AckStorm);
                }
            } else {
                self.last = Some((seg.seq, seg.ack_seq));
                self.dups = 0;
            }
            if self.held.is_some() {
                return WaitAction::Drop(WaitDrop::Duplicate);
            }
        } else if self.held == Some(true) {
            // One data segment is all the server's handshake needs.
            return WaitAction::Drop(WaitDrop::StoreFull);
        }
        if self.stored >= lim.store_thresh {
            return WaitAction::Drop(WaitDrop::StoreFull);
        }
        self.stored += 1;
        self.held = Some(seg.carries());
        WaitAction::Hold
    }

    /// The SYN-retransmission timer fired: `Some(seconds)` until the next
    /// one after sending the SYN again, `None` when the retries are spent
    /// (give the connection up).
    pub fn retry(&mut self, lim: &WaitLimits) -> Option<u32> {
        if self.retries >= lim.syn_retry {
            return None;
        }
        self.retries += 1;
        Some(1u32 << self.retries.min(6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u32, ack_seq: u32) -> ClientSegment {
        ClientSegment {
            seq,
            ack_seq,
            flags: tcp_flags::ACK,
            payload: 0,
        }
    }

    fn data(seq: u32, ack_seq: u32, n: u32) -> ClientSegment {
        ClientSegment {
            payload: n,
            flags: tcp_flags::ACK | tcp_flags::PSH,
            ..ack(seq, ack_seq)
        }
    }

    #[test]
    fn data_replaces_the_held_ack_once() {
        let lim = WaitLimits::default();
        let mut w = WaitState::holding(&ack(1, 2));
        assert_eq!(
            w.client_segment(&ack(1, 2), &lim),
            WaitAction::Drop(WaitDrop::Duplicate)
        );
        assert_eq!(w.client_segment(&data(1, 2, 100), &lim), WaitAction::Hold);
        assert_eq!(
            w.client_segment(&data(101, 2, 100), &lim),
            WaitAction::Drop(WaitDrop::StoreFull)
        );
        // A FIN counts as data.
        let mut w = WaitState::holding(&ack(1, 2));
        let fin = ClientSegment {
            flags: tcp_flags::ACK | tcp_flags::FIN,
            ..ack(1, 2)
        };
        assert_eq!(w.client_segment(&fin, &lim), WaitAction::Hold);
    }

    #[test]
    fn ack_storm_after_threshold() {
        let lim = WaitLimits::default();
        let mut w = WaitState::holding(&ack(1, 2));
        let mut storm = 0;
        for _ in 0..20 {
            if w.client_segment(&ack(1, 2), &lim) == WaitAction::Drop(WaitDrop::AckStorm) {
                storm += 1;
            }
        }
        // Repeats 10..=20 are the storm.
        assert_eq!(storm, 11);
        // Guard off.
        let off = WaitLimits {
            dup_ack_thresh: 0,
            ..lim
        };
        let mut w = WaitState::holding(&ack(1, 2));
        for _ in 0..50 {
            assert_eq!(
                w.client_segment(&ack(1, 2), &off),
                WaitAction::Drop(WaitDrop::Duplicate)
            );
        }
    }

    #[test]
    fn store_threshold_bounds_holds() {
        let lim = WaitLimits {
            store_thresh: 1,
            ..WaitLimits::default()
        };
        let mut w = WaitState::holding(&ack(1, 2));
        assert_eq!(
            w.client_segment(&data(1, 2, 10), &lim),
            WaitAction::Drop(WaitDrop::StoreFull)
        );
    }

    #[test]
    fn reset_frees_and_forwards() {
        let lim = WaitLimits::default();
        let mut w = WaitState::holding(&data(1, 2, 5));
        let rst = ClientSegment {
            flags: tcp_flags::RST,
            ..ack(1, 0)
        };
        assert_eq!(w.client_segment(&rst, &lim), WaitAction::Reset);
    }

    #[test]
    fn syn_retries_back_off_and_end() {
        let lim = WaitLimits::default();
        let mut w = WaitState::holding(&ack(1, 2));
        assert_eq!(w.retry(&lim), Some(2));
        assert_eq!(w.retry(&lim), Some(4));
        assert_eq!(w.retry(&lim), Some(8));
        assert_eq!(w.retry(&lim), None);
        let none = WaitLimits {
            syn_retry: 0,
            ..lim
        };
        assert_eq!(WaitState::holding(&ack(1, 2)).retry(&none), None);
    }
}
