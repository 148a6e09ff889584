// SPDX-License-Identifier: GPL-2.0
//! UDP "connections" (`ip_vs_proto_udp.c`): one state, one timeout, no
//! activity changes. A UDP connection keeps the `INACTIVE` flag it was
//! created with, so upstream (and `ipvsadm -L`) counts UDP flows as
//! inactive connections of their real server.

use super::{flags, ActiveChange, Direction, Transition};
use crate::config::Timeouts;

/// The UDP state (`IP_VS_UDP_S_NORMAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum UdpState {
    /// 0: the only state.
    #[default]
    Normal,
}

impl UdpState {
    /// Upstream's number (`cp->state`).
    #[inline]
    pub fn raw(self) -> u16 {
        0
    }

    /// From upstream's number.
    #[inline]
    pub fn from_raw(raw: u16) -> Option<UdpState> {
        (raw == 0).then_some(UdpState::Normal)
    }

    /// Upstream's name (`/proc/net/ip_vs_conn`).
    pub fn name(self) -> &'static str {
        "UDP"
    }

    /// Upstream's default timeout, seconds (`udp_timeouts`: 5 minutes).
    pub fn default_timeout(self) -> u32 {
        5 * 60
    }

    /// The timeout in a namespace (`ipvsadm --set`'s third value).
    #[inline]
    pub fn timeout(self, t: &Timeouts) -> u32 {
        t.udp
    }

    /// Never active.
    pub fn is_active(self) -> bool {
        false
    }
}

/// One datagram (`udp_state_transition`): the state and flags stay, the
/// timeout is refreshed to [`UdpState::timeout`], and a reply (output)
/// assures the controlling template.
#[inline]
pub fn transition(conn_flags: u32, dir: Direction) -> Transition<UdpState> {
    Transition {
        state: UdpState::Normal,
        flags: conn_flags,
        active: ActiveChange::Unchanged,
        assure_template: dir == Direction::Output,
    }
}

/// Whether a datagram in direction `dir` leaves a UDP connection with
/// `conn_flags` (in its one state) exactly as it is: [`transition`] then
/// changes neither state nor flags (as computed through
/// [`Direction::effective`]) and only the timeout is refreshed. Everything
/// but a reply to a connection whose real server's replies were not seen
/// yet (`NOOUTPUT`, which the reply clears).
#[inline]
pub fn unchanged(conn_flags: u32, dir: Direction) -> bool {
    dir != Direction::Output || conn_flags & flags::NOOUTPUT == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp() {
        let s = UdpState::Normal;
        assert_eq!(s.name(), "UDP");
        assert_eq!(s.default_timeout(), Timeouts::DEFAULT.udp);
        let t = Timeouts {
            tcp: 1,
            tcp_fin: 2,
            udp: 42,
        };
        assert_eq!(s.timeout(&t), 42);
        assert_eq!(UdpState::from_raw(0), Some(s));
        assert_eq!(UdpState::from_raw(1), None);
        assert_eq!(s.raw(), 0);
        let i = transition(0x1100, Direction::Input);
        assert_eq!(i.flags, 0x1100);
        assert!(!i.assure_template);
        assert_eq!(i.active, ActiveChange::Unchanged);
        assert!(transition(0, Direction::Output).assure_template);
        assert!(!transition(0, Direction::InputOnly).assure_template);
    }

    /// `unchanged` says exactly when the state machine, fed through the
    /// flags' effective direction as the data path does, keeps the flags.
    #[test]
    fn unchanged_matches_transition() {
        let dirs = [Direction::Input, Direction::Output, Direction::InputOnly];
        for f in [
            0,
            flags::NOOUTPUT,
            flags::INACTIVE,
            flags::NOOUTPUT | flags::INACTIVE | 0x3,
        ] {
            for d in dirs {
                let (eff, eflags) = d.effective(f);
                let t = transition(eflags, eff);
                assert_eq!(unchanged(f, d), t.flags == f, "flags {f:#x} dir {d:?}");
                assert_eq!(t.state, UdpState::Normal);
                assert_eq!(t.active, ActiveChange::Unchanged);
            }
        }
    }
}
