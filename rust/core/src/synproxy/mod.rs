// SPDX-License-Identifier: GPL-2.0
//! SYNPROXY: the director answers a client's SYN itself with a SYN cookie
//! and opens the connection to the real server only once the client has
//! completed the handshake, so that spoofed SYN floods never reach the real
//! servers nor fill the connection table (issue 5; the LVS ecosystem's
//! SYNPROXY, Linux's `SYNPROXY` target in `net/netfilter/nf_synproxy_core.c`).
//!
//! - [`siphash`]: SipHash-2-4, the cookie's hash.
//! - [`cookie`]: making and checking cookies, carrying the client's options.
//! - [`synack`]: the handshake packets and the translation that follows.
//! - [`crate::packet::seqadj`]: applying that translation to every segment.
//!
//! # How the glue drives it
//!
//! Per namespace: a [`cookie::CookieSecret`] (random key at start,
//! [`cookie::CookieSecret::rotate`] every few minutes), a minute counter
//! (`jiffies / (60 * HZ)`), a timestamp clock (milliseconds), a
//! [`synack::SynProxyConfig`] per service. First, for every TCP segment,
//! drop invalid flag combinations
//! ([`crate::packet::tcpflags::tcp_flags_invalid`]).
//!
//! 1. Client SYN to a SYNPROXY service, no connection: [`synack::build_synack`]
//!    into a fresh skb, send it back to the client, drop the SYN. No state.
//! 2. Client ACK (or data) to the service, no connection:
//!    [`synack::check_ack`]. On error drop it (count `BadCookie`). On
//!    success create the connection entry in a "synproxy: waiting for
//!    server" state, keep the [`synack::ClientAck`] and hold the packet
//!    (a pure ACK or the first data); build [`synack::backend_syn`] with
//!    [`synack::build_segment`] and send it through the usual new-connection
//!    path (schedule, NAT/FULLNAT/DR/TUN). Retransmit it on a timer if the
//!    server does not answer; while waiting, further client segments
//!    (retransmissions, window probes with `seq` = ISN) match the entry
//!    and are dropped or held.
//! 3. The real server's SYN-ACK: [`synack::parse_server_synack`] with the
//!    kept client ISN (a RST instead: reset the client, `seq` = cookie + 1,
//!    and expire the entry). Keep [`synack::translation`] in the entry
//!    (its [`crate::packet::seqadj::ConnAdjust`]). Send the client
//!    [`synack::client_window_update`]; forward the held client packet
//!    translated with `to_server` (that completes the server's handshake;
//!    without a held packet, send [`synack::server_ack`]). Drop the
//!    SYN-ACK.
//! 4. For the rest of the connection: every client segment gets
//!    [`crate::packet::seqadj::tcp_adjust`] with `to_server`, every server
//!    segment with `to_client`, in the same place as the forwarding
//!    method's address rewriting (same `CsumMode`). A retransmitted server
//!    SYN-ACK (our ACK was lost) is answered with [`synack::server_ack`]
//!    again, not forwarded.
//!
//! With a PROXY protocol header ([`crate::proxy_protocol`]) the client
//! segments go on to [`crate::proxy_protocol::ProxyStream`] after this
//! translation (the held ACK or [`synack::server_ack`] is the segment the
//! header rides in front of), and the server's acknowledgments come back
//! through its [`crate::packet::seqadj::InsertGap`].
//!
//! Per connection the glue keeps: the [`synack::ClientAck`] (tuple, client
//! ISN, cookie, options, the client's TSval/TSecr and window) until the
//! server answers, then the `ConnAdjust` (two `TcpAdjust`s: four deltas and
//! two window-shift pairs each) for the connection's life.

pub mod cookie;
pub mod siphash;
pub mod synack;
pub mod wait;
