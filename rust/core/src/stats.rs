// SPDX-License-Identifier: GPL-2.0
//! Counters and rates of a service or real server, as upstream reports
//! them (`struct ip_vs_kstats`).

/// A snapshot of the statistics of a service or real server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets to clients.
    pub outpkts: u64,
    /// Bytes from clients.
    pub inbytes: u64,
    /// Bytes to clients.
    pub outbytes: u64,
    /// Connections per second (estimate).
    pub cps: u64,
    /// Packets per second from clients (estimate).
    pub inpps: u64,
    /// Packets per second to clients (estimate).
    pub outpps: u64,
    /// Bytes per second from clients (estimate).
    pub inbps: u64,
    /// Bytes per second to clients (estimate).
    pub outbps: u64,
}
