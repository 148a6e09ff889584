// SPDX-License-Identifier: GPL-2.0
//! Connections: per-protocol state machines and timeouts, the connection
//! flags and the real-server accounting that goes with them, connection
//! keys and their hashes, persistence templates, and the
//! `/proc/net/ip_vs_conn` format, all with upstream's semantics
//! (`net/netfilter/ipvs/ip_vs_conn.c`, `ip_vs_proto_*.c`, `ip_vs_core.c`).
//!
//! Everything here is pure: the kernel glue owns the connection objects
//! and their locks, feeds packets' facts (direction, TCP flags, SCTP
//! chunk types) in and stores what comes out (state, flags, timeout,
//! counter changes).
//!
//! A packet's life, as upstream does it, in terms of this module:
//!
//! 1. New connection: [`bind_flags`] gives its flags (`INACTIVE` is
//!    always set at first, `NOOUTPUT` unless NAT), [`BindCounts::bind`]
//!    the real server's counter changes; state
//!    [`proto::ConnState::initial`], timeout [`INITIAL_TIMEOUT_SECS`].
//! 2. Every packet: [`proto::transition`] (or the per-protocol
//!    `transition`) gives the new state, the new flags, the change of the
//!    real server's active/inactive counts and whether the controlling
//!    template becomes assured; the timeout is then
//!    [`proto::ConnState::timeout`] of the new state.
//! 3. Expiry: [`BindCounts::unbind`].

pub mod key;
pub mod persist;
pub mod procfmt;
pub mod proto;
pub mod reuse;
pub mod sctp;
pub mod tcp;
pub mod udp;

use crate::service::{FwdMethod, FWD_MASK};

/// Connection flags (`IP_VS_CONN_F_*`, `include/uapi/linux/ip_vs.h`).
pub mod flags {
    /// Mask of the forwarding method.
    pub const FWD_MASK: u32 = 0x0007;
    /// Created by the sync daemon.
    pub const SYNC: u32 = 0x0020;
    /// Hashed in the connection table.
    pub const HASHED: u32 = 0x0040;
    /// No reply seen yet from a real server whose replies bypass the
    /// director (every method but NAT): the input-only table applies.
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not counted in the real server's active connections.
    pub const INACTIVE: u32 = 0x0100;
    /// Output sequence adjustment needed.
    pub const OUT_SEQ: u32 = 0x0200;
    /// Input sequence adjustment needed.
    pub const IN_SEQ: u32 = 0x0400;
    /// Client port not known yet (FTP data connections).
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// Forward only one packet (UDP one-packet scheduling).
    pub const ONE_PACKET: u32 = 0x2000;
    /// Use netfilter conntrack.
    pub const NFCT: u32 = 1 << 16;
    /// Flags of a real server that user space sets
    /// (`IP_VS_CONN_F_DEST_MASK`).
    pub const DEST_MASK: u32 = FWD_MASK | ONE_PACKET | NFCT;
}

/// What a new connection's timer starts with before its first state
/// transition (`ip_vs_conn_new`: `3*HZ`), in seconds.
pub const INITIAL_TIMEOUT_SECS: u32 = 3;

/// `IP_VS_DIR_*`: which way a packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to real server (through the director).
    Input,
    /// Real server to client (NAT replies through the director).
    Output,
    /// Client to real server when replies never pass the director. The
    /// state machines pick it themselves from the `NOOUTPUT` flag; callers
    /// pass `Input` or `Output`.
    InputOnly,
}

impl Direction {
    /// Upstream's numbering (`IP_VS_DIR_INPUT` = 0, ...).
    pub fn raw(self) -> u8 {
        match self {
            Direction::Input => 0,
            Direction::Output => 1,
            Direction::InputOnly => 2,
        }
    }

    /// The direction whose table applies and the updated flags, as the
    /// TCP and SCTP state machines compute them: with `NOOUTPUT` set, an
    /// output packet clears it, anything else uses the input-only table.
    #[inline]
    pub fn effective(self, conn_flags: u32) -> (Direction, u32) {
        if conn_flags & flags::NOOUTPUT == 0 {
            (self, conn_flags)
        } else if self == Direction::Output {
            (Direction::Output, conn_flags & !flags::NOOUTPUT)
        } else {
            (Direction::InputOnly, conn_flags)
        }
    }
}

/// How a state change moves a connection between its real server's active
/// and inactive connections.
///
/// Upstream (6.12) keeps `activeconns` and derives the inactive count as
/// `totalconns - activeconns`; older kernels kept `inactconns` too. Both
/// deltas are given so either bookkeeping works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActiveChange {
    /// No counter changes.
    Unchanged,
    /// Active count up by one, inactive down by one; `INACTIVE` cleared.
    Activate,
    /// Active count down by one, inactive up by one; `INACTIVE` set.
    Deactivate,
}

impl ActiveChange {
    /// The change between two activity levels (e.g. `old.is_active()`,
    /// `new.is_active()` of the state machine's states).
    pub fn between(old_active: bool, new_active: bool) -> ActiveChange {
        match (old_active, new_active) {
            (false, true) => ActiveChange::Activate,
            (true, false) => ActiveChange::Deactivate,
            _ => ActiveChange::Unchanged,
        }
    }

    /// Upstream's rule on a state change, which looks at the connection's
    /// `INACTIVE` flag rather than at its old state: a connection not
    /// flagged inactive entering an inactive state is deactivated, one
    /// flagged inactive entering an active state is activated.
    pub fn for_flags(conn_flags: u32, new_active: bool) -> ActiveChange {
        ActiveChange::between(conn_flags & flags::INACTIVE == 0, new_active)
    }

    /// Change of the real server's active connection count.
    pub fn active_delta(self) -> i32 {
        match self {
            ActiveChange::Unchanged => 0,
            ActiveChange::Activate => 1,
            ActiveChange::Deactivate => -1,
        }
    }

    /// Change of the real server's inactive connection count.
    pub fn inactive_delta(self) -> i32 {
        -self.active_delta()
    }

    /// The connection flags after the change (`INACTIVE` set or cleared).
    #[inline]
    pub fn apply(self, conn_flags: u32) -> u32 {
        match self {
            ActiveChange::Unchanged => conn_flags,
            ActiveChange::Activate => conn_flags & !flags::INACTIVE,
            ActiveChange::Deactivate => conn_flags | flags::INACTIVE,
        }
    }
}

/// The outcome of one packet on a connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition<S> {
    /// The new state (`cp->state`). Its timeout, from the namespace's
    /// timeout table, becomes the connection's timeout.
    pub state: S,
    /// The new connection flags (`NOOUTPUT` and `INACTIVE` may change).
    pub flags: u32,
    /// What to do to the real server's counters.
    pub active: ActiveChange,
    /// Whether the controlling persistence template (if any) becomes
    /// assured (`ip_vs_control_assure_ct`).
    pub assure_template: bool,
}

impl<S> Transition<S> {
    /// The same transition with the state converted (e.g. into
    /// [`proto::ConnState`]).
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Transition<T> {
        Transition {
            state: f(self.state),
            flags: self.flags,
            active: self.active,
            assure_template: self.assure_template,
        }
    }
}

/// The end of upstream's `set_tcp_state`/`set_sctp_state`: on a state
/// change and with a real server bound, the activity bookkeeping.
pub(crate) fn settle<S: PartialEq + Copy>(
    old: S,
    new: S,
    conn_flags: u32,
    has_dest: bool,
    new_active: bool,
    assure: bool,
) -> Transition<S> {
    let changed = old != new;
    let active = if changed && has_dest {
        ActiveChange::for_flags(conn_flags, new_active)
    } else {
        ActiveChange::Unchanged
    };
    Transition {
        state: new,
        flags: active.apply(conn_flags),
        active,
        assure_template: changed && assure,
    }
}

/// The connection flags a real server hands to its new connections
/// (`dest->conn_flags`, `__ip_vs_update_dest`): the user's flags
/// (`DEST_MASK` part, e.g. the forwarding method and `ONE_PACKET`),
/// `INACTIVE`, and `NOOUTPUT` unless the method is NAT.
#[inline]
pub fn dest_conn_flags(fwd: FwdMethod, user_flags: u32) -> u32 {
    let f = (((user_flags & !FWD_MASK) | fwd.raw()) & flags::DEST_MASK) | flags::INACTIVE;
    // NAT and FULLNAT see both directions.
    if matches!(fwd, FwdMethod::Masq | FwdMethod::FullNat) {
        f
    } else {
        f | flags::NOOUTPUT
    }
}

/// The flags of a connection bound to a real server (`ip_vs_bind_dest`):
/// `conn_flags` are the flags it was created with (`TEMPLATE`,
/// `ONE_PACKET`, `SYNC`, ...), `dest_flags` the server's
/// [`dest_conn_flags`], `protocol` the IP protocol number.
#[inline]
pub fn bind_flags(conn_flags: u32, dest_flags: u32, protocol: u16) -> u32 {
    let mut dest_flags = dest_flags;
    let mut conn_flags = conn_flags;
    if protocol != key::IPPROTO_UDP || conn_flags & flags::TEMPLATE != 0 {
        dest_flags &= !flags::ONE_PACKET;
    }
    if conn_flags & flags::SYNC != 0 {
        dest_flags &= !flags::ONE_PACKET;
        if conn_flags & flags::TEMPLATE == 0 {
            // A synced connection keeps the activity its master reported.
            dest_flags &= !flags::INACTIVE;
        }
        conn_flags &= !(flags::FWD_MASK | flags::NOOUTPUT);
    }
    conn_flags | dest_flags
}

/// Changes of a real server's counters when a connection is bound to it
/// or unbound from it (`ip_vs_bind_dest`, `ip_vs_unbind_dest`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BindCounts {
    /// `activeconns`.
    pub active: i32,
    /// `totalconns` (connections, not templates). Upstream also checks
    /// the overload thresholds when this changes.
    pub total: i32,
    /// `persistconns` (templates).
    pub persist: i32,
}

impl BindCounts {
    /// Binding a connection with these (bound) flags.
    #[inline]
    pub fn bind(conn_flags: u32) -> BindCounts {
        if conn_flags & flags::TEMPLATE != 0 {
            BindCounts {
                persist: 1,
                ..BindCounts::default()
            }
        } else {
            BindCounts {
                active: i32::from(conn_flags & flags::INACTIVE == 0),
                total: 1,
                persist: 0,
            }
        }
    }

    /// Unbinding a connection with these (current) flags.
    #[inline]
    pub fn unbind(conn_flags: u32) -> BindCounts {
        let b = BindCounts::bind(conn_flags);
        BindCounts {
            active: -b.active,
            total: -b.total,
            persist: -b.persist,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_effective() {
        assert_eq!(Direction::Input.effective(0), (Direction::Input, 0));
        assert_eq!(Direction::Output.effective(0), (Direction::Output, 0));
        let f = flags::NOOUTPUT | flags::INACTIVE;
        assert_eq!(Direction::Input.effective(f), (Direction::InputOnly, f));
        assert_eq!(
            Direction::Output.effective(f),
            (Direction::Output, flags::INACTIVE)
        );
        assert_eq!(Direction::InputOnly.raw(), 2);
    }

    #[test]
    fn active_change() {
        assert_eq!(ActiveChange::between(false, true), ActiveChange::Activate);
        assert_eq!(ActiveChange::between(true, false), ActiveChange::Deactivate);
        assert_eq!(ActiveChange::between(true, true), ActiveChange::Unchanged);
        assert_eq!(ActiveChange::between(false, false), ActiveChange::Unchanged);
        assert_eq!(
            ActiveChange::for_flags(flags::INACTIVE, true),
            ActiveChange::Activate
        );
        assert_eq!(ActiveChange::for_flags(0, false), ActiveChange::Deactivate);
        assert_eq!(ActiveChange::Activate.active_delta(), 1);
        assert_eq!(ActiveChange::Activate.inactive_delta(), -1);
        assert_eq!(ActiveChange::Deactivate.active_delta(), -1);
        assert_eq!(ActiveChange::Deactivate.inactive_delta(), 1);
        assert_eq!(ActiveChange::Unchanged.inactive_delta(), 0);
        assert_eq!(ActiveChange::Activate.apply(flags::INACTIVE | 3), 3);
        assert_eq!(ActiveChange::Deactivate.apply(3), 3 | flags::INACTIVE);
    }

    #[test]
    fn dest_and_bind_flags() {
        let nat = dest_conn_flags(FwdMethod::Masq, 0);
        assert_eq!(nat, flags::INACTIVE);
        let dr = dest_conn_flags(FwdMethod::Droute, flags::ONE_PACKET | flags::SYNC);
        assert_eq!(
            dr,
            3 | flags::ONE_PACKET | flags::INACTIVE | flags::NOOUTPUT
        );
        // ONE_PACKET survives for UDP connections only.
        assert_eq!(bind_flags(0, dr, key::IPPROTO_UDP), dr);
        assert_eq!(bind_flags(0, dr, key::IPPROTO_TCP), dr & !flags::ONE_PACKET);
        assert_eq!(
            bind_flags(flags::TEMPLATE, dr, key::IPPROTO_UDP),
            (dr & !flags::ONE_PACKET) | flags::TEMPLATE
        );
        // Synced connections keep their activity, take the server's method.
        let synced = flags::SYNC | flags::NOOUTPUT | 1;
        assert_eq!(
            bind_flags(synced, dr, key::IPPROTO_TCP),
            flags::SYNC | 3 | flags::NOOUTPUT
        );
        assert_eq!(
            bind_flags(synced | flags::INACTIVE, nat, key::IPPROTO_TCP),
            flags::SYNC | flags::INACTIVE
        );
    }

    #[test]
    fn bind_counts() {
        assert_eq!(
            BindCounts::bind(flags::INACTIVE),
            BindCounts {
                active: 0,
                total: 1,
                persist: 0
            }
        );
        assert_eq!(
            BindCounts::bind(0),
            BindCounts {
                active: 1,
                total: 1,
                persist: 0
            }
        );
        assert_eq!(
            BindCounts::bind(flags::TEMPLATE),
            BindCounts {
                active: 0,
                total: 0,
                persist: 1
            }
        );
        assert_eq!(
            BindCounts::unbind(0),
            BindCounts {
                active: -1,
                total: -1,
                persist: 0
            }
        );
        assert_eq!(
            BindCounts::unbind(flags::TEMPLATE | flags::INACTIVE),
            BindCounts {
                active: 0,
                total: 0,
                persist: -1
            }
        );
    }
}
