// SPDX-License-Identifier: GPL-2.0
//! The SCTP association state machine of upstream IPVS
//! (`ip_vs_proto_sctp.c`): states as the real server sees them, the
//! events derived from the first chunk of a packet, the three transition
//! tables and per-state timeouts. Only `ESTABLISHED` counts as active.

use super::{settle, ActiveChange, Direction, Transition};

/// SCTP connection states (`IP_VS_SCTP_S_*`), numbered as upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SctpState {
    /// 0: nothing seen yet.
    None,
    /// 1: first INIT from the client sent.
    Init1,
    /// 2: later INIT from the client sent.
    Init,
    /// 3: INIT ACK from the server sent.
    CookieSent,
    /// 4: COOKIE ECHO from the client sent.
    CookieReplied,
    /// 5: INIT from the server sent.
    CookieWait,
    /// 6: INIT ACK from the client sent.
    Cookie,
    /// 7: COOKIE ECHO from the server sent.
    CookieEchoed,
    /// 8: established.
    Established,
    /// 9: SHUTDOWN from the server sent.
    ShutdownSent,
    /// 10: SHUTDOWN from the client sent.
    ShutdownReceived,
    /// 11: SHUTDOWN ACK sent.
    ShutdownAckSent,
    /// 12: INIT answered with ABORT.
    Rejected,
    /// 13: closed.
    Closed,
}

use SctpState::{
    Closed as CL, Cookie as CO, CookieEchoed as CE, CookieReplied as CR, CookieSent as CS,
    CookieWait as CW, Established as ES, Init as IN, Init1 as I1, None as NO, Rejected as RJ,
    ShutdownAckSent as SA, ShutdownReceived as SR, ShutdownSent as SS,
};

/// `IP_VS_SCTP_MAX_RTO` in seconds.
const MAX_RTO: u32 = 60 + 1;

impl SctpState {
    /// Every state, in upstream's order.
    pub const ALL: [SctpState; 14] = [NO, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL];

    /// Upstream's number (`cp->state`).
    #[inline]
    pub fn raw(self) -> u16 {
        self as u16
    }

    /// From upstream's number.
    pub fn from_raw(raw: u16) -> Option<SctpState> {
        SctpState::ALL.get(usize::from(raw)).copied()
    }

    /// Upstream's name (`/proc/net/ip_vs_conn`).
    pub fn name(self) -> &'static str {
        match self {
            NO => "NONE",
            I1 => "INIT1",
            IN => "INIT",
            CS => "C-SENT",
            CR => "C-REPLIED",
            CW => "C-WAIT",
            CO => "COOKIE",
            CE => "C-ECHOED",
            ES => "ESTABLISHED",
            SS => "S-SENT",
            SR => "S-RECEIVED",
            SA => "S-ACK-SENT",
            RJ => "REJECTED",
            CL => "CLOSED",
        }
    }

    /// Whether the connection counts as active on its real server.
    pub fn is_active(self) -> bool {
        self == ES
    }

    /// Upstream's timeout of the state (`sctp_timeouts`), seconds.
    /// `ipvsadm --set` changes none of them.
    #[inline]
    pub fn timeout(self) -> u32 {
        match self {
            NO => 2,
            I1 | RJ => 3 + 1,
            ES => 15 * 60,
            _ => MAX_RTO,
        }
    }

    /// How moving from `old` to `new` changes the real server's counts,
    /// judged by the states' activity (see
    /// [`super::tcp::TcpState::activity_change`]).
    pub fn activity_change(old: SctpState, new: SctpState) -> ActiveChange {
        ActiveChange::between(old.is_active(), new.is_active())
    }
}

/// SCTP chunk types the state machine distinguishes (`SCTP_CID_*`).
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// SACK.
    pub const SACK: u8 = 3;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 4;
    /// HEARTBEAT ACK.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// ERROR.
    pub const ERROR: u8 = 9;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// ECNE.
    pub const ECN_ECNE: u8 = 12;
    /// CWR.
    pub const ECN_CWR: u8 = 13;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// Events of the SCTP state machine (`enum ipvs_sctp_event_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SctpEvent {
    /// DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR and unknown chunks.
    Data,
    /// INIT.
    Init,
    /// INIT ACK.
    InitAck,
    /// COOKIE ECHO.
    CookieEcho,
    /// COOKIE ACK.
    CookieAck,
    /// SHUTDOWN.
    Shutdown,
    /// SHUTDOWN ACK.
    ShutdownAck,
    /// SHUTDOWN COMPLETE.
    ShutdownComplete,
    /// ERROR.
    Error,
    /// ABORT.
    Abort,
}

/// Size of a chunk header (`struct sctp_chunkhdr`).
pub const CHUNK_HEADER_LEN: usize = 4;

impl SctpEvent {
    /// Every event, in upstream's row order.
    pub const ALL: [SctpEvent; 10] = [
        SctpEvent::Data,
        SctpEvent::Init,
        SctpEvent::InitAck,
        SctpEvent::CookieEcho,
        SctpEvent::CookieAck,
        SctpEvent::Shutdown,
        SctpEvent::ShutdownAck,
        SctpEvent::ShutdownComplete,
        SctpEvent::Error,
        SctpEvent::Abort,
    ];

    /// The event of a chunk type (`sctp_events`; unknown types are data).
    pub fn from_chunk_type(t: u8) -> SctpEvent {
        match t {
            chunk::INIT => SctpEvent::Init,
            chunk::INIT_ACK => SctpEvent::InitAck,
            chunk::ABORT => SctpEvent::Abort,
            chunk::SHUTDOWN => SctpEvent::Shutdown,
            chunk::SHUTDOWN_ACK => SctpEvent::ShutdownAck,
            chunk::ERROR => SctpEvent::Error,
            chunk::COOKIE_ECHO => SctpEvent::CookieEcho,
            chunk::COOKIE_ACK => SctpEvent::CookieAck,
            chunk::SHUTDOWN_COMPLETE => SctpEvent::ShutdownComplete,
            _ => SctpEvent::Data,
        }
    }

    /// Where, relative to the first chunk, upstream looks for a bundled
    /// ABORT: after a COOKIE ECHO or COOKIE ACK whose length field is at
    /// least a chunk header, at the length rounded up to 4. `None`: no
    /// second look. `first_header` is the first chunk's header.
    pub fn second_chunk_offset(first_header: [u8; CHUNK_HEADER_LEN]) -> Option<usize> {
        let [t, _flags, l0, l1] = first_header;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if (t == chunk::COOKIE_ECHO || t == chunk::COOKIE_ACK) && len >= CHUNK_HEADER_LEN {
            Some((len + 3) & !3)
        } else {
            None
        }
    }

    /// The event of a packet from the type of its first chunk and, when
    /// [`SctpEvent::second_chunk_offset`] says to look, the type of the
    /// chunk header found there (`None` if the packet is too short): a
    /// bundled ABORT wins.
    pub fn from_chunks(first_type: u8, second_type: Option<u8>) -> SctpEvent {
        if second_type == Some(chunk::ABORT)
            && (first_type == chunk::COOKIE_ECHO || first_type == chunk::COOKIE_ACK)
        {
            SctpEvent::Abort
        } else {
            SctpEvent::from_chunk_type(first_type)
        }
    }

    /// The event of a packet from its chunks (the bytes after the 12-byte
    /// SCTP common header, as far as available). `None` if not even the
    /// first chunk header is there: upstream then leaves the connection
    /// alone (state and timeout).
    pub fn from_bytes(chunks: &[u8]) -> Option<SctpEvent> {
        let header = |off: usize| -> Option<[u8; CHUNK_HEADER_LEN]> {
            let end = off.checked_add(CHUNK_HEADER_LEN)?;
            chunks.get(off..end)?.try_into().ok()
        };
        let first = header(0)?;
        let [first_type, ..] = first;
        let second = SctpEvent::second_chunk_offset(first)
            .and_then(header)
            .map(|[t, ..]| t);
        Some(SctpEvent::from_chunks(first_type, second))
    }

    fn row(self) -> usize {
        self as usize
    }
}

type Row = [SctpState; 14];

/// `sctp_states`: [direction][event][state].
const STATES: [[Row; 10]; 3] = [
    // INPUT
    [
        /*        sNO sI1 sIN sCS sCR sCW sCO sCE sES sSS sSR sSA sRJ sCL */
        /* d   */
        [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* i   */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_a */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
        /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
        /* s_c */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
        /* err */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
        /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    // OUTPUT
    [
        /* d   */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* i   */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
        /* i_a */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* s   */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
        /* s_a */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
        /* s_c */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* err */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* ab  */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /* d   */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* i   */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
        /* i_a */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_e */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* c_a */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
        /* s   */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
        /* s_a */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
        /* s_c */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
        /* err */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
        /* ab  */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
    ],
];

/// The table lookup alone (no `NOOUTPUT` handling).
pub fn next_state(dir: Direction, event: SctpEvent, state: SctpState) -> SctpState {
    STATES
        .get(usize::from(dir.raw()))
        .and_then(|t| t.get(event.row()))
        .and_then(|row| row.get(state as usize))
        .copied()
        .unwrap_or(state)
}

/// One packet on an association (`set_sctp_state`); see
/// [`super::tcp::transition`] for the arguments. Call it only when
/// [`SctpEvent::from_bytes`] (or the header reads it stands for) found a
/// chunk; otherwise upstream changes nothing, not even the timeout.
pub fn transition(
    state: SctpState,
    conn_flags: u32,
    dir: Direction,
    event: SctpEvent,
    has_dest: bool,
) -> Transition<SctpState> {
    let (dir, conn_flags) = dir.effective(conn_flags);
    let new = next_state(dir, event, state);
    settle(state, new, conn_flags, has_dest, new.is_active(), new == ES)
}

#[cfg(test)]
mod tests {
    use super::super::flags;
    use super::*;

    /// Upstream's `set_sctp_state` dumped by `testdata/gen.sh`: one line
    /// per (direction, NOOUTPUT, INACTIVE, has dest, state), then for each
    /// event (a packet whose single chunk is DATA, INIT, INIT ACK, COOKIE
    /// ECHO, COOKIE ACK, SHUTDOWN, SHUTDOWN ACK, SHUTDOWN COMPLETE, ERROR,
    /// ABORT) and a packet without chunk: new state, NOOUTPUT, INACTIVE,
    /// activeconns change, template assured, and `t`/`u` for timeout
    /// set/untouched.
    const DUMP: &str = include_str!("testdata/sctp_set_state.txt");
    const CHUNK_OF_EVENT: [u8; 10] = [0, 1, 2, 10, 11, 7, 8, 14, 9, 6];

    #[test]
    fn matches_upstream_set_sctp_state_exhaustively() {
        let mut n = 0;
        for line in DUMP.lines() {
            let (head, results) = line.split_once(':').unwrap();
            let h: Vec<u16> = head
                .split_whitespace()
                .map(|x| u16::from_str_radix(x, 16).unwrap())
                .collect();
            let [dir, noout, inact, hd, st] = h[..] else {
                panic!("{line}")
            };
            let dir = [Direction::Input, Direction::Output, Direction::InputOnly][dir as usize];
            let mut cf = 2;
            if noout == 1 {
                cf |= flags::NOOUTPUT;
            }
            if inact == 1 {
                cf |= flags::INACTIVE;
            }
            let state = SctpState::from_raw(st).unwrap();
            let results: Vec<&str> = results.split_whitespace().collect();
            assert_eq!(results.len(), 11);
            for (i, want) in results.iter().enumerate() {
                let b = want.as_bytes();
                let packet: Vec<u8> = match CHUNK_OF_EVENT.get(i) {
                    Some(&t) => vec![t, 0, 0, 4],
                    None => vec![],
                };
                let Some(ev) = SctpEvent::from_bytes(&packet) else {
                    assert_eq!(b[5], b'u', "{line}");
                    n += 1;
                    continue;
                };
                assert_eq!(ev, SctpEvent::ALL[i]);
                assert_eq!(b[5], b't');
                let t = transition(state, cf, dir, ev, hd == 1);
                let ctx = format!("{line} / event {i}");
                assert_eq!(
                    t.state.raw(),
                    u16::from_str_radix(&want[0..1], 16).unwrap(),
                    "{ctx}"
                );
                assert_eq!(t.flags & flags::NOOUTPUT != 0, b[1] == b'1', "{ctx}");
                assert_eq!(t.flags & flags::INACTIVE != 0, b[2] == b'1', "{ctx}");
                assert_eq!(t.flags & 7, 2);
                let delta = match b[3] {
                    b'-' => -1,
                    b'+' => 1,
                    _ => 0,
                };
                assert_eq!(t.active.active_delta(), delta, "{ctx}");
                assert_eq!(t.assure_template, b[4] == b'1', "{ctx}");
                n += 1;
            }
        }
        assert_eq!(n, 3 * 2 * 2 * 2 * 14 * 11);
    }

    #[test]
    fn chunk_type_events() {
        let dump = include_str!("testdata/sctp_events.txt");
        let mut n = 0;
        for line in dump.lines() {
            let (t, e) = line.split_once(' ').unwrap();
            let t: u8 = t.parse().unwrap();
            let e: usize = e.parse().unwrap();
            assert_eq!(SctpEvent::from_chunk_type(t), SctpEvent::ALL[e], "{t}");
            n += 1;
        }
        assert_eq!(n, 256);
    }

    /// Bundled ABORT after COOKIE ECHO/ACK, compared with upstream's
    /// packet parsing on the same bytes.
    #[test]
    fn bundled_abort_like_upstream() {
        let dump = include_str!("testdata/sctp_bundle.txt");
        let mut n = 0;
        for line in dump.lines() {
            let v: Vec<&str> = line.split_whitespace().collect();
            let t1: u8 = v[1].parse().unwrap();
            let clen: usize = v[2].parse().unwrap();
            let t2: i32 = v[3].parse().unwrap();
            let want = u16::from_str_radix(v[4], 16).unwrap();
            // The harness's packet: chunk header, then the second chunk's
            // type at the aligned length (which may overwrite the first).
            let mut pkt = [0u8; 64];
            let mut len = 4;
            pkt[0] = t1;
            pkt[2..4].copy_from_slice(&(clen as u16).to_be_bytes());
            if t2 >= 0 {
                let o = (clen + 3) & !3;
                pkt[o] = t2 as u8;
                len = o + 4;
            }
            let ev = SctpEvent::from_bytes(&pkt[..len]).unwrap();
            let t = transition(CW, 0, Direction::Input, ev, true);
            assert_eq!(t.state.raw(), want, "{line}");
            n += 1;
        }
        assert_eq!(n, 16 * 10 * 9);
        // And directly.
        assert_eq!(
            SctpEvent::from_bytes(&[10, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 4]),
            Some(SctpEvent::Abort)
        );
        assert_eq!(
            SctpEvent::from_bytes(&[10, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 6]),
            Some(SctpEvent::CookieEcho)
        );
        assert_eq!(SctpEvent::from_bytes(&[10, 0, 0]), None);
        assert_eq!(SctpEvent::second_chunk_offset([11, 0, 0, 4]), Some(4));
        assert_eq!(SctpEvent::second_chunk_offset([11, 0, 0, 3]), None);
        assert_eq!(
            SctpEvent::second_chunk_offset([10, 0, 0xff, 0xff]),
            Some(0x10000)
        );
        assert_eq!(SctpEvent::second_chunk_offset([0, 0, 0, 8]), None);
    }

    #[test]
    fn names_and_timeouts() {
        let dump = include_str!("testdata/sctp_states.txt");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 15);
        for (line, s) in lines.iter().zip(SctpState::ALL) {
            let (name, t) = line.split_once(' ').unwrap();
            assert_eq!(name, s.name());
            assert_eq!(t.parse::<u32>().unwrap(), s.timeout());
            assert_eq!(SctpState::from_raw(s.raw()), Some(s));
        }
        assert_eq!(SctpState::from_raw(14), None);
        for old in SctpState::ALL {
            for new in SctpState::ALL {
                let c = SctpState::activity_change(old, new);
                assert_eq!(
                    c.active_delta(),
                    i32::from(new == ES) - i32::from(old == ES)
                );
            }
        }
    }
}
