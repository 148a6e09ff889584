// SPDX-License-Identifier: GPL-2.0
//! Why the director dropped a packet it had taken on: the reasons of the
//! drop ledger.
//!
//! Every packet a hook of the director drops (netfilter `NF_DROP`) is
//! counted under exactly one reason, per network namespace, and shown in
//! `/proc/net/ip_vs_ext_stats` as `drop_<name> <count>` plus `drop_total`.
//! Some reasons are not errors: a SYN answered with a cookie, a handshake
//! segment the director answers itself. With the packet counters of the
//! services this gives the ledger "packets in = packets out + counted
//! drops" (Documentation/reliability.rst).

/// One reason for a drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// A TCP flag combination no TCP sends (the defence counters have the
    /// class).
    TcpFlags,
    /// A non-SYN TCP segment to a service matching no connection (ACK, RST
    /// and FIN floods; late segments of expired connections).
    TcpNoConn,
    /// The scheduler found no available real server (the client gets a
    /// port unreachable, as upstream).
    NoDest,
    /// No connection entry could be made: table at its cap, FULLNAT local
    /// ports exhausted, or memory short.
    NoEntry,
    /// The connection is expiring, or is being set up on another CPU and
    /// only its SYN may pass yet.
    ConnBusy,
    /// Headers could not be read or rewritten (truncated, not writable, a
    /// rewrite that did not fit).
    Header,
    /// No route to the next hop, or the route leads back to this host where
    /// it must not.
    NoRoute,
    /// TTL expired on the way through (time exceeded sent).
    TtlExpired,
    /// Larger than the path MTU with DF set (fragmentation needed sent).
    FragNeeded,
    /// A real server's packet that matches no connection, with
    /// `nat_icmp_send` on (the server is told port unreachable, as
    /// upstream).
    ReplyNoConn,
    /// An ICMP error about a connection that could not be translated or
    /// has a bad checksum.
    Icmp,
    /// SYNPROXY: a client SYN answered with a cookie SYN-ACK (not an
    /// error).
    SynproxySyn,
    /// SYNPROXY: an ACK whose cookie did not validate.
    SynproxyBadAck,
    /// SYNPROXY: a handshake ACK without data absorbed (defer mode), or a
    /// client segment held back or refused while the real server is being
    /// opened (duplicates, ACK storms, store full).
    SynproxyWait,
    /// SYNPROXY: a real server's handshake segment the director answered
    /// itself, or refused (not an error when answered).
    SynproxyServer,
    /// PROXY protocol: the client's handshake ACK replaced by the header
    /// segment (not an error).
    ProxyHeader,
}

impl DropReason {
    /// Every reason, in [`DropReason::index`] order.
    pub const ALL: [DropReason; 16] = [
        DropReason::TcpFlags,
        DropReason::TcpNoConn,
        DropReason::NoDest,
        DropReason::NoEntry,
        DropReason::ConnBusy,
        DropReason::Header,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::FragNeeded,
        DropReason::ReplyNoConn,
        DropReason::Icmp,
        DropReason::SynproxySyn,
        DropReason::SynproxyBadAck,
        DropReason::SynproxyWait,
        DropReason::SynproxyServer,
        DropReason::ProxyHeader,
    ];

    /// The number of reasons (for an array of counters).
    pub const COUNT: usize = DropReason::ALL.len();

    /// A dense index `0..COUNT`, for an array of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The counter's name in `/proc/net/ip_vs_ext_stats` (after `drop_`).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::TcpFlags => "tcp_flags",
            DropReason::TcpNoConn => "tcp_no_conn",
            DropReason::NoDest => "no_dest",
            DropReason::NoEntry => "no_entry",
            DropReason::ConnBusy => "conn_busy",
            DropReason::Header => "header",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::FragNeeded => "frag_needed",
            DropReason::ReplyNoConn => "reply_no_conn",
            DropReason::Icmp => "icmp",
            DropReason::SynproxySyn => "synproxy_syn",
            DropReason::SynproxyBadAck => "synproxy_bad_ack",
            DropReason::SynproxyWait => "synproxy_wait",
            DropReason::SynproxyServer => "synproxy_server",
            DropReason::ProxyHeader => "proxy_header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_position_in_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
    }

    #[test]
    fn names_unique_and_lowercase() {
        let names: std::collections::BTreeSet<_> =
            DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), DropReason::COUNT);
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
    }
}
