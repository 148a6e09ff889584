// SPDX-License-Identifier: GPL-2.0
//! The TCP connection state machine of upstream IPVS
//! (`ip_vs_proto_tcp.c`): states as the director sees them, the three
//! transition tables (input, output, input-only), the `secure_tcp`
//! variant, per-state timeouts and the active/inactive rule.

use super::{settle, ActiveChange, Direction, Transition};
use crate::config::Timeouts;

/// TCP connection states (`IP_VS_TCP_S_*`), numbered as upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// 0: nothing seen yet.
    None,
    /// 1: established.
    Established,
    /// 2: SYN from the real server seen.
    SynSent,
    /// 3: SYN from the client seen.
    SynRecv,
    /// 4: FIN from the real server seen (or client, input-only).
    FinWait,
    /// 5: FINs from both sides seen.
    TimeWait,
    /// 6: closed (RST, or a packet with none of SYN/FIN/ACK/RST).
    Close,
    /// 7: FIN from the client seen.
    CloseWait,
    /// 8: last ACK awaited.
    LastAck,
    /// 9: listening (FTP data connections, `ip_vs_tcp_conn_listen`).
    Listen,
    /// 10: SYN+ACK seen.
    SynAck,
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    None as NO, SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

impl TcpState {
    /// Every state, in upstream's order.
    pub const ALL: [TcpState; 11] = [NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA];

    /// Upstream's number (`cp->state`).
    #[inline]
    pub fn raw(self) -> u16 {
        self as u16
    }

    /// From upstream's number.
    #[inline]
    pub fn from_raw(raw: u16) -> Option<TcpState> {
        TcpState::ALL.get(usize::from(raw)).copied()
    }

    /// Upstream's name, as `/proc/net/ip_vs_conn` and `ipvsadm -lc` show
    /// it.
    pub fn name(self) -> &'static str {
        match self {
            NO => "NONE",
            ES => "ESTABLISHED",
            SS => "SYN_SENT",
            SR => "SYN_RECV",
            FW => "FIN_WAIT",
            TW => "TIME_WAIT",
            CL => "CLOSE",
            CW => "CLOSE_WAIT",
            LA => "LAST_ACK",
            LI => "LISTEN",
            SA => "SYNACK",
        }
    }

    /// Whether a connection in this state counts as active on its real
    /// server (`tcp_state_active_table`).
    pub fn is_active(self) -> bool {
        matches!(self, ES | SS | SR | SA)
    }

    /// Upstream's default timeout of the state (`tcp_timeouts`), seconds.
    pub fn default_timeout(self) -> u32 {
        match self {
            NO => 2,
            ES => 15 * 60,
            SS => 2 * 60,
            SR => 60,
            FW => 2 * 60,
            TW => 2 * 60,
            CL => 10,
            CW => 60,
            LA => 30,
            LI => 2 * 60,
            SA => 120,
        }
    }

    /// The timeout of the state in a namespace, seconds: `ipvsadm --set`
    /// (`ip_vs_set_timeout`) changes `ESTABLISHED` (`tcp`) and `FIN_WAIT`
    /// (`tcpfin`) only; every other state keeps its default.
    #[inline]
    pub fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            ES => t.tcp,
            FW => t.tcp_fin,
            s => s.default_timeout(),
        }
    }

    /// How moving from `old` to `new` changes the real server's counts,
    /// judged by the states' activity. Upstream judges by the connection's
    /// `INACTIVE` flag ([`ActiveChange::for_flags`], what [`transition`]
    /// does), which agrees with this whenever the flag tracks the state,
    /// i.e. for every connection not created by the sync daemon.
    pub fn activity_change(old: TcpState, new: TcpState) -> ActiveChange {
        ActiveChange::between(old.is_active(), new.is_active())
    }
}

/// TCP header flags (byte 13 of the header).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// What a TCP segment means to the state machine (`tcp_state_idx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpEvent {
    /// SYN set (and not RST).
    Syn,
    /// FIN set (and not RST or SYN).
    Fin,
    /// ACK set (and none of RST, SYN, FIN).
    Ack,
    /// RST set.
    Rst,
}

impl TcpEvent {
    /// Every event, in upstream's row order.
    pub const ALL: [TcpEvent; 4] = [TcpEvent::Syn, TcpEvent::Fin, TcpEvent::Ack, TcpEvent::Rst];

    /// From the TCP header's flags byte, with upstream's priority RST >
    /// SYN > FIN > ACK; `None` if none is set (upstream then moves the
    /// connection to `CLOSE`).
    #[inline]
    pub fn from_flags(tcp_flags: u8) -> Option<TcpEvent> {
        if tcp_flags & tcp_flags::RST != 0 {
            Some(TcpEvent::Rst)
        } else if tcp_flags & tcp_flags::SYN != 0 {
            Some(TcpEvent::Syn)
        } else if tcp_flags & tcp_flags::FIN != 0 {
            Some(TcpEvent::Fin)
        } else if tcp_flags & tcp_flags::ACK != 0 {
            Some(TcpEvent::Ack)
        } else {
            None
        }
    }

    fn row(self) -> usize {
        match self {
            TcpEvent::Syn => 0,
            TcpEvent::Fin => 1,
            TcpEvent::Ack => 2,
            TcpEvent::Rst => 3,
        }
    }
}

/// Which set of tables applies (`tcp_timeout_change`): the normal one, or
/// the stricter one of the `secure_tcp` defense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TcpTable {
    /// `tcp_states`.
    #[default]
    Normal,
    /// `tcp_states_dos`, used while `secure_tcp` is on.
    Secure,
}

type Row = [TcpState; 11];
type DirTable = [Row; 4];

/// `tcp_states`: [direction][event][state].
const NORMAL: [DirTable; 3] = [
    // INPUT
    [
        /*       sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA */
        /*syn*/
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// `tcp_states_dos`: [direction][event][state].
const SECURE: [DirTable; 3] = [
    // INPUT
    [
        /*       sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA */
        /*syn*/
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    // OUTPUT
    [
        /*syn*/ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /*syn*/ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The table lookup alone: the state after `event` in `state`, with the
/// table of direction `dir` (no `NOOUTPUT` handling; see [`transition`]).
/// No event (none of SYN/FIN/ACK/RST) gives `CLOSE`, as upstream.
pub fn next_state(
    table: TcpTable,
    dir: Direction,
    event: Option<TcpEvent>,
    state: TcpState,
) -> TcpState {
    let Some(event) = event else {
        return CL;
    };
    let tables = match table {
        TcpTable::Normal => &NORMAL,
        TcpTable::Secure => &SECURE,
    };
    tables
        .get(usize::from(dir.raw()))
        .and_then(|t| t.get(event.row()))
        .and_then(|row| row.get(state as usize))
        .copied()
        .unwrap_or(CL)
}

/// One segment on a connection (`set_tcp_state`): `conn_flags` are the
/// connection's flags, `dir` the packet's direction (`Input` or
/// `Output`; with `NOOUTPUT` set, input packets use the input-only table
/// and the first output packet clears the flag), `event` from
/// [`TcpEvent::from_flags`], `has_dest` whether a real server is bound
/// (only then do the counters and `INACTIVE` change).
///
/// The connection's new timeout is `result.state.timeout(..)`, set on
/// every segment whether the state changed or not.
pub fn transition(
    table: TcpTable,
    state: TcpState,
    conn_flags: u32,
    dir: Direction,
    event: Option<TcpEvent>,
    has_dest: bool,
) -> Transition<TcpState> {
    let (dir, conn_flags) = dir.effective(conn_flags);
    let new = next_state(table, dir, event, state);
    settle(state, new, conn_flags, has_dest, new.is_active(), new == ES)
}

#[cfg(test)]
mod tests {
    use super::super::flags;
    use super::*;

    /// The behaviour of upstream's `set_tcp_state`, dumped by
    /// `testdata/gen.sh` from the C code compiled on the host: one line per
    /// (secure, direction, NOOUTPUT, INACTIVE, has dest, state) and, for
    /// each of the 16 combinations of the flags (bit 0 FIN, 1 SYN, 2 RST,
    /// 3 ACK), the new state (hex), NOOUTPUT, INACTIVE, the change of
    /// `activeconns` (`-`, `0`, `+`) and whether the template is assured.
    const DUMP: &str = include_str!("testdata/tcp_set_state.txt");

    fn flags_byte(bits: u32) -> u8 {
        let mut f = 0;
        if bits & 1 != 0 {
            f |= tcp_flags::FIN;
        }
        if bits & 2 != 0 {
            f |= tcp_flags::SYN;
        }
        if bits & 4 != 0 {
            f |= tcp_flags::RST;
        }
        if bits & 8 != 0 {
            f |= tcp_flags::ACK;
        }
        f
    }

    #[test]
    fn matches_upstream_set_tcp_state_exhaustively() {
        let mut lines = 0;
        for line in DUMP.lines() {
            let (head, results) = line.split_once(':').unwrap();
            let h: Vec<u32> = head
                .split_whitespace()
                .map(|x| u32::from_str_radix(x, 16).unwrap())
                .collect();
            let [secure, dir, noout, inact, hd, st] = h[..] else {
                panic!("bad line {line}")
            };
            let table = if secure == 1 {
                TcpTable::Secure
            } else {
                TcpTable::Normal
            };
            let dir = [Direction::Input, Direction::Output, Direction::InputOnly][dir as usize];
            let mut cf = 0x3; // a forwarding method, to check it is kept
            if noout == 1 {
                cf |= flags::NOOUTPUT;
            }
            if inact == 1 {
                cf |= flags::INACTIVE;
            }
            let state = TcpState::from_raw(st as u16).unwrap();
            let results: Vec<&str> = results.split_whitespace().collect();
            assert_eq!(results.len(), 16);
            for (bits, want) in results.iter().enumerate() {
                let ev = TcpEvent::from_flags(flags_byte(bits as u32));
                // PSH alone changes nothing about the event.
                assert_eq!(
                    ev,
                    TcpEvent::from_flags(flags_byte(bits as u32) | tcp_flags::PSH)
                );
                let t = transition(table, state, cf, dir, ev, hd == 1);
                let b = want.as_bytes();
                let ctx = format!("{line} / flags {bits:x}");
                assert_eq!(
                    t.state.raw(),
                    u16::from_str_radix(&want[0..1], 16).unwrap(),
                    "{ctx}"
                );
                assert_eq!(t.flags & flags::NOOUTPUT != 0, b[1] == b'1', "{ctx}");
                assert_eq!(t.flags & flags::INACTIVE != 0, b[2] == b'1', "{ctx}");
                assert_eq!(t.flags & 0x7, 0x3);
                let delta = match b[3] {
                    b'-' => -1,
                    b'+' => 1,
                    _ => 0,
                };
                assert_eq!(t.active.active_delta(), delta, "{ctx}");
                assert_eq!(t.assure_template, b[4] == b'1', "{ctx}");
                lines += 1;
            }
        }
        // 2 tables x 3 directions x 2 x 2 x 2 x 11 states x 16 flag sets.
        assert_eq!(lines, 2 * 3 * 2 * 2 * 2 * 11 * 16);
    }

    /// Table-driven copy of upstream's normal `tcp_states` for the input
    /// direction, written as transitions (state, event) -> state.
    #[test]
    fn normal_input_examples() {
        let t = |s, e| next_state(TcpTable::Normal, Direction::Input, Some(e), s);
        use TcpEvent::*;
        assert_eq!(t(NO, Syn), SR);
        assert_eq!(t(SR, Ack), ES);
        assert_eq!(t(ES, Fin), CW);
        assert_eq!(t(CW, Ack), CW);
        assert_eq!(t(LA, Ack), CL);
        assert_eq!(t(ES, Rst), CL);
        assert_eq!(t(SA, Rst), SR);
        let o = |s, e| next_state(TcpTable::Normal, Direction::Output, Some(e), s);
        assert_eq!(o(SR, Syn), SR);
        assert_eq!(o(ES, Fin), FW);
        assert_eq!(o(LI, Ack), ES);
        let i = |s, e| next_state(TcpTable::Normal, Direction::InputOnly, Some(e), s);
        assert_eq!(i(ES, Fin), FW);
        assert_eq!(i(SA, Rst), CL);
        assert_eq!(next_state(TcpTable::Normal, Direction::Input, None, ES), CL);
    }

    #[test]
    fn names_timeouts_activity() {
        let dump = include_str!("testdata/tcp_states.txt");
        let mut n = 0;
        for (line, s) in dump.lines().zip(TcpState::ALL) {
            let v: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(v[0], s.name());
            assert_eq!(v[1].parse::<u32>().unwrap(), s.default_timeout());
            assert_eq!(v[2] == "1", s.is_active());
            assert_eq!(TcpState::from_raw(s.raw()), Some(s));
            n += 1;
        }
        assert_eq!(n, 11);
        assert_eq!(TcpState::from_raw(11), None);
    }

    #[test]
    fn set_changes_established_and_fin_wait_only() {
        let t = Timeouts {
            tcp: 7200,
            tcp_fin: 30,
            udp: 10,
        };
        for s in TcpState::ALL {
            let want = match s {
                ES => 7200,
                FW => 30,
                _ => s.default_timeout(),
            };
            assert_eq!(s.timeout(&t), want, "{s:?}");
            assert_eq!(s.timeout(&Timeouts::DEFAULT), s.default_timeout());
        }
    }

    #[test]
    fn accounting_rule() {
        for old in TcpState::ALL {
            for new in TcpState::ALL {
                let c = TcpState::activity_change(old, new);
                let want = match (old.is_active(), new.is_active()) {
                    (false, true) => (1, -1),
                    (true, false) => (-1, 1),
                    _ => (0, 0),
                };
                assert_eq!((c.active_delta(), c.inactive_delta()), want);
                // The flag-based rule agrees while the flag tracks the state.
                let f = if old.is_active() { 0 } else { flags::INACTIVE };
                if old != new {
                    assert_eq!(ActiveChange::for_flags(f, new.is_active()), c);
                }
            }
        }
    }

    /// A NAT connection through its handshake and close, as a kernel would
    /// drive it: the counters must balance.
    #[test]
    fn nat_lifecycle_balances_counters() {
        use super::super::{bind_flags, dest_conn_flags, BindCounts};
        use crate::service::FwdMethod;
        let mut cf = bind_flags(0, dest_conn_flags(FwdMethod::Masq, 0), 6);
        let mut active = BindCounts::bind(cf).active;
        let mut state = NO;
        let steps = [
            (Direction::Input, tcp_flags::SYN, SR),
            (Direction::Output, tcp_flags::SYN | tcp_flags::ACK, SR),
            (Direction::Input, tcp_flags::ACK, ES),
            (Direction::Input, tcp_flags::FIN | tcp_flags::ACK, CW),
            (Direction::Output, tcp_flags::FIN | tcp_flags::ACK, TW),
            (Direction::Input, tcp_flags::ACK, TW),
        ];
        for (dir, f, want) in steps {
            let t = transition(
                TcpTable::Normal,
                state,
                cf,
                dir,
                TcpEvent::from_flags(f),
                true,
            );
            assert_eq!(t.state, want);
            state = t.state;
            cf = t.flags;
            active += t.active.active_delta();
            assert_eq!(active, i32::from(state.is_active()));
        }
        assert_eq!(state.timeout(&Timeouts::DEFAULT), 120);
        active += BindCounts::unbind(cf).active;
        assert_eq!(active, 0);
    }

    /// Direct routing: input only until the director sees an output
    /// packet, which it never does.
    #[test]
    fn dr_uses_input_only_table() {
        use super::super::{bind_flags, dest_conn_flags};
        use crate::service::FwdMethod;
        let cf = bind_flags(0, dest_conn_flags(FwdMethod::Droute, 0), 6);
        let t = transition(
            TcpTable::Normal,
            ES,
            cf & !flags::INACTIVE,
            Direction::Input,
            Some(TcpEvent::Fin),
            true,
        );
        // Input table says CLOSE_WAIT, input-only says FIN_WAIT.
        assert_eq!(t.state, FW);
        assert_eq!(t.active, ActiveChange::Deactivate);
        assert!(t.flags & flags::NOOUTPUT != 0);
        assert_eq!(t.state.timeout(&Timeouts::DEFAULT), 120);
    }
}
