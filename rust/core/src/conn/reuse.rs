// SPDX-License-Identifier: GPL-2.0
//! What a packet does to an existing connection before it is forwarded
//! (`ip_vs_in_hook`): whether a new connection attempt on a finished
//! connection's tuple is scheduled afresh (`conn_reuse_mode`), and what
//! happens to connections whose real server went away
//! (`expire_nodest_conn`). Also the real servers' overload hysteresis
//! (`ip_vs_bind_dest` / `ip_vs_unbind_dest`).

use super::flags;
use super::proto::ConnState;
use super::sctp::SctpState;
use super::tcp::TcpState;

/// `is_new_conn`: the packet opens a connection (TCP SYN, SCTP INIT).
/// `tcp_flags` is the TCP flags byte, `sctp_chunk` the first chunk type.
#[inline]
pub fn is_new_conn(state: ConnState, tcp_flags: u8, sctp_chunk: Option<u8>) -> bool {
    const SYN: u8 = 0x02;
    const SCTP_CID_INIT: u8 = 1;
    match state {
        ConnState::Tcp(_) => tcp_flags & SYN != 0,
        ConnState::Sctp(_) => sctp_chunk == Some(SCTP_CID_INIT),
        ConnState::Udp(_) => false,
    }
}

/// `is_new_conn_expected`: a new connection on this finished one's tuple
/// is expected, so it may be rescheduled. Controlled connections
/// (persistence) never are. Bit 1 of `conn_reuse_mode` also reschedules
/// a FIN_WAIT connection of a method without output (DR, TUN), where the
/// director never sees the server's FIN.
#[inline]
pub fn new_conn_expected(
    state: ConnState,
    conn_flags: u32,
    controlled: bool,
    conn_reuse_mode: i32,
) -> bool {
    if controlled {
        return false;
    }
    match state {
        ConnState::Tcp(s) => {
            matches!(s, TcpState::TimeWait | TcpState::Close)
                || (conn_reuse_mode & 2 != 0
                    && s == TcpState::FinWait
                    && conn_flags & flags::NOOUTPUT != 0)
        }
        ConnState::Sctp(s) => s == SctpState::Closed,
        ConnState::Udp(_) => false,
    }
}

/// What `ip_vs_in_hook` does with a packet that found a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Use the connection.
    Use,
    /// Expire the connection now and schedule the packet afresh.
    Reschedule,
    /// Drop the packet (the real server is gone and
    /// `expire_nodest_conn` is off).
    Drop,
}

/// The facts [`existing`] decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExistingConn {
    /// The packet opens a connection ([`is_new_conn`]).
    pub new_conn: bool,
    /// [`new_conn_expected`] for the connection.
    pub expected: bool,
    /// The connection controls others (a persistence template's users
    /// never do in this implementation: only templates control).
    pub controls_others: bool,
    /// The connection's real server still belongs to its service.
    pub dest_available: bool,
    /// The real server's weight.
    pub dest_weight: i32,
    /// `conn_reuse_mode` sysctl.
    pub conn_reuse_mode: i32,
    /// `expire_nodest_conn` sysctl.
    pub expire_nodest_conn: bool,
}

/// `ip_vs_in_hook`'s handling of an existing connection, without
/// netfilter conntrack (this director never shares conntrack entries).
#[inline]
pub fn existing(c: &ExistingConn) -> Existing {
    if c.new_conn {
        let resched = if c.expire_nodest_conn && c.dest_weight == 0 {
            true
        } else {
            c.conn_reuse_mode != 0 && c.expected && !c.controls_others
        };
        if resched {
            return Existing::Reschedule;
        }
    }
    if !c.dest_available {
        return if c.expire_nodest_conn {
            Existing::Reschedule
        } else {
            Existing::Drop
        };
    }
    Existing::Use
}

/// Whether a real server is overloaded after a connection was bound to
/// it: `total` its active plus inactive connections after binding,
/// `u_thresh` its upper threshold, `was` its previous state.
#[inline]
pub fn overloaded_after_bind(total: u64, u_thresh: u32, was: bool) -> bool {
    was || (u_thresh != 0 && total >= u64::from(u_thresh))
}

/// Whether a real server is still overloaded after a connection was
/// unbound: below the lower threshold clears it, or without one below
/// three quarters of the upper threshold; without thresholds never.
#[inline]
pub fn overloaded_after_unbind(total: u64, u_thresh: u32, l_thresh: u32, was: bool) -> bool {
    if l_thresh != 0 {
        was && total >= u64::from(l_thresh)
    } else if u_thresh != 0 {
        was && total * 4 >= u64::from(u_thresh) * 3
    } else {
        false
    }
}

/// Whether editing a real server's upper threshold to `new_u` (from
/// `old_u`) clears its overload flag (`__ip_vs_update_dest`).
pub fn overload_cleared_by_edit(old_u: u32, new_u: u32) -> bool {
    new_u == 0 || new_u > old_u
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::udp::UdpState;

    fn base() -> ExistingConn {
        ExistingConn {
            new_conn: false,
            expected: false,
            controls_others: false,
            dest_available: true,
            dest_weight: 1,
            conn_reuse_mode: 1,
            expire_nodest_conn: false,
        }
    }

    #[test]
    fn reuse_of_time_wait() {
        let tw = ConnState::Tcp(TcpState::TimeWait);
        assert!(is_new_conn(tw, 0x02, None));
        assert!(!is_new_conn(tw, 0x10, None));
        assert!(new_conn_expected(tw, 0, false, 1));
        assert!(!new_conn_expected(tw, 0, true, 1));
        let est = ConnState::Tcp(TcpState::Established);
        assert!(!new_conn_expected(est, 0, false, 3));
        let fw = ConnState::Tcp(TcpState::FinWait);
        assert!(!new_conn_expected(fw, flags::NOOUTPUT, false, 1));
        assert!(new_conn_expected(fw, flags::NOOUTPUT, false, 2));
        assert!(!new_conn_expected(fw, 0, false, 2));
        let udp = ConnState::Udp(UdpState::Normal);
        assert!(!is_new_conn(udp, 0x02, None));
        let sctp = ConnState::Sctp(SctpState::Closed);
        assert!(is_new_conn(sctp, 0, Some(1)));
        assert!(new_conn_expected(sctp, 0, false, 1));

        let c = ExistingConn {
            new_conn: true,
            expected: true,
            ..base()
        };
        assert_eq!(existing(&c), Existing::Reschedule);
        let off = ExistingConn {
            conn_reuse_mode: 0,
            ..c
        };
        assert_eq!(existing(&off), Existing::Use);
        let ctl = ExistingConn {
            controls_others: true,
            ..c
        };
        assert_eq!(existing(&ctl), Existing::Use);
        assert_eq!(existing(&base()), Existing::Use);
    }

    #[test]
    fn nodest() {
        let gone = ExistingConn {
            dest_available: false,
            ..base()
        };
        assert_eq!(existing(&gone), Existing::Drop);
        let expire = ExistingConn {
            expire_nodest_conn: true,
            ..gone
        };
        assert_eq!(existing(&expire), Existing::Reschedule);
        // A SYN to a quiesced server's connection is rescheduled only with
        // expire_nodest_conn.
        let quiesced = ExistingConn {
            new_conn: true,
            dest_weight: 0,
            ..base()
        };
        assert_eq!(existing(&quiesced), Existing::Use);
        let q2 = ExistingConn {
            expire_nodest_conn: true,
            ..quiesced
        };
        assert_eq!(existing(&q2), Existing::Reschedule);
    }

    #[test]
    fn overload_hysteresis() {
        // u=10, no l: set at 10, cleared below 7.5.
        let mut o = false;
        for t in 1..=10 {
            o = overloaded_after_bind(t, 10, o);
        }
        assert!(o);
        assert!(overloaded_after_unbind(8, 10, 0, o));
        assert!(!overloaded_after_unbind(7, 10, 0, o));
        // u=10, l=3: stays until below 3.
        assert!(overloaded_after_unbind(3, 10, 3, true));
        assert!(!overloaded_after_unbind(2, 10, 3, true));
        // Never set without thresholds; never set again by unbinding.
        assert!(!overloaded_after_bind(1000, 0, false));
        assert!(!overloaded_after_unbind(9, 10, 3, false));
        assert!(!overloaded_after_unbind(100, 0, 0, true));
        assert!(overload_cleared_by_edit(10, 0));
        assert!(overload_cleared_by_edit(10, 11));
        assert!(!overload_cleared_by_edit(10, 10));
    }
}
