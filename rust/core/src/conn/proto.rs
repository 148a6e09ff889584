// SPDX-License-Identifier: GPL-2.0
//! Per-protocol dispatch of connection states, events, transitions and
//! timeouts, and upstream's state names for any connection
//! (`ip_vs_state_name`), templates included.

use super::key::{IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use super::sctp::{self, SctpEvent, SctpState};
use super::tcp::{self, TcpEvent, TcpState, TcpTable};
use super::udp::{self, UdpState};
use super::{flags, Direction, Transition};
use crate::config::Timeouts;
use crate::errno::{Errno, Error, Result};
use crate::service::Protocol;

/// The state of a connection of any protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// A TCP connection.
    Tcp(TcpState),
    /// A UDP flow.
    Udp(UdpState),
    /// An SCTP association.
    Sctp(SctpState),
}

impl ConnState {
    /// The state of a new connection (`cp->state = 0`).
    #[inline]
    pub fn initial(protocol: Protocol) -> ConnState {
        match protocol {
            Protocol::Tcp => ConnState::Tcp(TcpState::None),
            Protocol::Udp => ConnState::Udp(UdpState::Normal),
            Protocol::Sctp => ConnState::Sctp(SctpState::None),
        }
    }

    /// From upstream's number for the protocol.
    #[inline]
    pub fn from_raw(protocol: Protocol, raw: u16) -> Option<ConnState> {
        match protocol {
            Protocol::Tcp => TcpState::from_raw(raw).map(ConnState::Tcp),
            Protocol::Udp => UdpState::from_raw(raw).map(ConnState::Udp),
            Protocol::Sctp => SctpState::from_raw(raw).map(ConnState::Sctp),
        }
    }

    /// Upstream's number (`cp->state`).
    #[inline]
    pub fn raw(self) -> u16 {
        match self {
            ConnState::Tcp(s) => s.raw(),
            ConnState::Udp(s) => s.raw(),
            ConnState::Sctp(s) => s.raw(),
        }
    }

    /// The protocol.
    pub fn protocol(self) -> Protocol {
        match self {
            ConnState::Tcp(_) => Protocol::Tcp,
            ConnState::Udp(_) => Protocol::Udp,
            ConnState::Sctp(_) => Protocol::Sctp,
        }
    }

    /// Upstream's name (`/proc/net/ip_vs_conn`, `ipvsadm -lc`).
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Tcp(s) => s.name(),
            ConnState::Udp(s) => s.name(),
            ConnState::Sctp(s) => s.name(),
        }
    }

    /// Whether the state counts as active on the real server.
    pub fn is_active(self) -> bool {
        match self {
            ConnState::Tcp(s) => s.is_active(),
            ConnState::Udp(s) => s.is_active(),
            ConnState::Sctp(s) => s.is_active(),
        }
    }

    /// The timeout of the state in a namespace whose `ipvsadm --set`
    /// values are `t`, seconds.
    #[inline]
    pub fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            ConnState::Tcp(s) => s.timeout(t),
            ConnState::Udp(s) => s.timeout(t),
            ConnState::Sctp(s) => s.timeout(),
        }
    }
}

/// What a packet means to its connection's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A TCP segment ([`TcpEvent::from_flags`]; `None`: no SYN, FIN, ACK
    /// or RST, which closes the connection).
    Tcp(Option<TcpEvent>),
    /// A UDP datagram.
    Udp,
    /// An SCTP packet with at least one chunk.
    Sctp(SctpEvent),
}

/// Size of a TCP header without options (`struct tcphdr`).
pub const TCP_HEADER_LEN: usize = 20;
/// Size of the SCTP common header (`struct sctphdr`).
pub const SCTP_HEADER_LEN: usize = 12;

impl Event {
    /// The event of a packet from its transport header on (`l4`, as far
    /// as available). `None` when upstream cannot read what it needs (a
    /// TCP header shorter than 20 bytes, an SCTP packet without a chunk
    /// header): it then leaves the connection untouched.
    #[inline]
    pub fn parse(protocol: Protocol, l4: &[u8]) -> Option<Event> {
        match protocol {
            Protocol::Tcp => {
                if l4.len() < TCP_HEADER_LEN {
                    return None;
                }
                let f = l4.get(13).copied()?;
                Some(Event::Tcp(TcpEvent::from_flags(f)))
            }
            Protocol::Udp => Some(Event::Udp),
            Protocol::Sctp => SctpEvent::from_bytes(l4.get(SCTP_HEADER_LEN..)?).map(Event::Sctp),
        }
    }
}

/// One packet on a connection, dispatched to its protocol's state
/// machine (`ip_vs_set_state`): `tcp_table` is the namespace's choice
/// (`secure_tcp`), the other arguments as for [`tcp::transition`]. `None`
/// if `event` is not of the state's protocol (nothing to change).
///
/// On `Some(t)`, store `t.state` and `t.flags`, apply `t.active` to the
/// real server, assure the template if asked, and set the connection's
/// timeout to `t.state.timeout(..)`.
pub fn transition(
    tcp_table: TcpTable,
    state: ConnState,
    conn_flags: u32,
    dir: Direction,
    event: Event,
    has_dest: bool,
) -> Option<Transition<ConnState>> {
    match (state, event) {
        (ConnState::Tcp(s), Event::Tcp(e)) => {
            Some(tcp::transition(tcp_table, s, conn_flags, dir, e, has_dest).map(ConnState::Tcp))
        }
        (ConnState::Udp(_), Event::Udp) => {
            Some(udp::transition(conn_flags, dir).map(ConnState::Udp))
        }
        (ConnState::Sctp(s), Event::Sctp(e)) => {
            Some(sctp::transition(s, conn_flags, dir, e, has_dest).map(ConnState::Sctp))
        }
        _ => None,
    }
}

/// States of persistence templates (`IP_VS_CTPL_S_*`).
pub mod template_state {
    /// Not assured yet.
    pub const NONE: u16 = 0;
    /// A connection it controls reached ESTABLISHED (or a UDP reply was
    /// seen); unassured templates may be dropped under memory pressure.
    pub const ASSURED: u16 = 1;
}

/// Upstream's state name of any connection or template
/// (`ip_vs_state_name`), from its IP protocol number, flags and raw state.
pub fn state_name(protocol: u16, conn_flags: u32, raw_state: u16) -> &'static str {
    if conn_flags & flags::TEMPLATE != 0 {
        return match raw_state {
            template_state::NONE => "NONE",
            template_state::ASSURED => "ASSURED",
            _ => "ERR!",
        };
    }
    let proto = match protocol {
        IPPROTO_TCP => Protocol::Tcp,
        IPPROTO_UDP => Protocol::Udp,
        IPPROTO_SCTP => Protocol::Sctp,
        IPPROTO_IP => return "NONE",
        _ => return "ERR!",
    };
    ConnState::from_raw(proto, raw_state).map_or("ERR!", ConnState::name)
}

/// Upstream's checks of `ipvsadm --set` values (`ip_vs_set_timeout`):
/// each must fit an `int` of jiffies (at most `INT_MAX / HZ` seconds),
/// else `EINVAL` and nothing changes. `hz` is the kernel's `HZ`.
pub fn check_set_timeouts(t: &[Option<u32>; 3], hz: u32) -> Result<()> {
    let max = (i32::MAX as u32) / hz.max(1);
    if t.iter().flatten().any(|&v| v > max) {
        return Err(Error::new(
            Errno::Einval,
            c"IPVS_CMD_ATTR_TIMEOUT_*: timeout too large",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::ActiveChange;

    #[test]
    fn dispatch() {
        let s = ConnState::initial(Protocol::Tcp);
        assert_eq!(s, ConnState::Tcp(TcpState::None));
        let t = transition(
            TcpTable::Normal,
            s,
            flags::INACTIVE,
            Direction::Input,
            Event::Tcp(Some(TcpEvent::Syn)),
            true,
        )
        .unwrap();
        assert_eq!(t.state, ConnState::Tcp(TcpState::SynRecv));
        assert_eq!(t.active, ActiveChange::Activate);
        assert_eq!(t.flags, 0);
        assert_eq!(t.state.timeout(&Timeouts::DEFAULT), 60);
        assert_eq!(t.state.name(), "SYN_RECV");
        assert!(t.state.is_active());
        assert_eq!(t.state.protocol(), Protocol::Tcp);

        let u = ConnState::initial(Protocol::Udp);
        let t = transition(
            TcpTable::Normal,
            u,
            flags::INACTIVE,
            Direction::Output,
            Event::Udp,
            true,
        )
        .unwrap();
        assert_eq!(t.state, u);
        assert!(t.assure_template);
        assert_eq!(t.state.timeout(&Timeouts::DEFAULT), 300);

        let c = ConnState::initial(Protocol::Sctp);
        let t = transition(
            TcpTable::Normal,
            c,
            flags::INACTIVE,
            Direction::Input,
            Event::Sctp(SctpEvent::Init),
            true,
        )
        .unwrap();
        assert_eq!(t.state, ConnState::Sctp(SctpState::Init1));
        assert_eq!(t.state.timeout(&Timeouts::DEFAULT), 4);
        assert_eq!(t.active, ActiveChange::Unchanged);

        assert!(transition(TcpTable::Normal, c, 0, Direction::Input, Event::Udp, true).is_none());
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            let s = ConnState::initial(p);
            assert_eq!(s.raw(), 0);
            assert_eq!(ConnState::from_raw(p, 0), Some(s));
            assert_eq!(s.protocol(), p);
        }
        assert_eq!(ConnState::from_raw(Protocol::Udp, 1), None);
    }

    #[test]
    fn parse_events() {
        let mut th = [0u8; 20];
        th[13] = 0x12; // SYN+ACK
        assert_eq!(
            Event::parse(Protocol::Tcp, &th),
            Some(Event::Tcp(Some(TcpEvent::Syn)))
        );
        th[13] = 0x08; // PSH only
        assert_eq!(Event::parse(Protocol::Tcp, &th), Some(Event::Tcp(None)));
        assert_eq!(Event::parse(Protocol::Tcp, &th[..19]), None);
        assert_eq!(Event::parse(Protocol::Udp, &[]), Some(Event::Udp));
        let mut sctp = [0u8; 16];
        sctp[12] = 7;
        assert_eq!(
            Event::parse(Protocol::Sctp, &sctp),
            Some(Event::Sctp(SctpEvent::Shutdown))
        );
        assert_eq!(Event::parse(Protocol::Sctp, &sctp[..15]), None);
        assert_eq!(Event::parse(Protocol::Sctp, &sctp[..3]), None);
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(IPPROTO_TCP, 0, 1), "ESTABLISHED");
        assert_eq!(state_name(IPPROTO_TCP, 0, 11), "ERR!");
        assert_eq!(state_name(IPPROTO_UDP, 0, 0), "UDP");
        assert_eq!(state_name(IPPROTO_SCTP, 0, 4), "C-REPLIED");
        assert_eq!(state_name(IPPROTO_IP, 0, 0), "NONE");
        assert_eq!(state_name(IPPROTO_TCP, flags::TEMPLATE, 0), "NONE");
        assert_eq!(state_name(IPPROTO_IP, flags::TEMPLATE, 1), "ASSURED");
        assert_eq!(state_name(IPPROTO_UDP, flags::TEMPLATE, 2), "ERR!");
        assert_eq!(state_name(50, 0, 0), "ERR!");
    }

    #[test]
    fn set_timeout_limits() {
        assert!(check_set_timeouts(&[Some(900), None, Some(300)], 250).is_ok());
        let max = i32::MAX as u32 / 1000;
        assert!(check_set_timeouts(&[None, Some(max), None], 1000).is_ok());
        assert_eq!(
            check_set_timeouts(&[None, Some(max + 1), None], 1000)
                .unwrap_err()
                .errno,
            Errno::Einval
        );
        assert!(check_set_timeouts(&[None, None, Some(u32::MAX)], 100).is_err());
    }
}
