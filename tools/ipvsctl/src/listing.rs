// SPDX-License-Identifier: GPL-2.0
//! The service table as `ipvsctl service list` and `ipvsctl stats` show it:
//! text in the layout of `ipvsadm -L -n` (the address columns grow for long
//! IPv6 addresses instead of being cut), and JSON with every field. What
//! only ipvs_rs has (TOA, FULLNAT local addresses and their counters) is
//! added where it does not disturb that layout: flags at the end of a
//! service line, a second table after the counters of `stats`, and
//! `ipvsctl laddr list`'s own table.

use std::fmt::Write as _;

use ipvs_core::addr::Af;
use ipvs_core::service::{svc_flags, FwdMethod, ServiceKey, TunType};
use ipvs_core::stats::Stats;
use serde::Serialize;

use ipvs_core::netlink::ext::LaddrEntry;

use crate::ops::{DestEntry, ServiceEntry, ServiceExt};
use crate::output::Render;
use crate::values::{
    default_netmask, fmt_addr, fmt_addr_port, fmt_netmask, fwd_json_name, is_persistent,
    proxy_name, sched_flag_names, tun_csum_name, tun_type_name,
};

/// Which columns the text shows (the JSON always has everything).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Columns {
    /// Forwarding method, weight, active and inactive connections
    /// (`ipvsadm -L -n`).
    #[default]
    Default,
    /// Connections, packets and bytes (`ipvsadm -L -n --stats`).
    Stats,
    /// Rates (`ipvsadm -L -n --rate`).
    Rate,
    /// Connection thresholds (`ipvsadm -L -n --thresholds`).
    Thresholds,
    /// Tunnel settings (`ipvsadm -L -n --tun-info`).
    TunInfo,
    /// Counters and rates together (`ipvsctl stats`).
    Counters,
}

/// The counters and rates of a service or real server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatsView {
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
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second to clients.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second to clients.
    pub outbps: u64,
}

impl From<&Stats> for StatsView {
    fn from(s: &Stats) -> Self {
        StatsView {
            conns: s.conns,
            inpkts: s.inpkts,
            outpkts: s.outpkts,
            inbytes: s.inbytes,
            outbytes: s.outbytes,
            cps: s.cps,
            inpps: s.inpps,
            outpps: s.outpps,
            inbps: s.inbps,
            outbps: s.outbps,
        }
    }
}

/// Tunnel settings of a real server with tunnel forwarding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelView {
    /// `ipip`, `gue` or `gre`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Destination port of GUE tunnels.
    pub port: Option<u16>,
    /// Checksum mode of GUE and GRE tunnels: `nocsum`, `csum`, `remcsum`.
    pub checksum: Option<&'static str>,
}

/// A real server, for JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DestView {
    /// Address.
    pub address: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Port.
    pub port: u16,
    /// `masq`, `route`, `tunnel`, `local` or `bypass`.
    pub forward: &'static str,
    /// Weight (0: quiescent).
    pub weight: i32,
    /// Upper connection threshold (0: none).
    pub upper_threshold: u32,
    /// Lower connection threshold.
    pub lower_threshold: u32,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistence templates.
    pub persistent_conns: u32,
    /// Tunnel settings, for tunnel forwarding.
    pub tunnel: Option<TunnelView>,
    /// Counters and rates.
    pub stats: StatsView,
}

/// What identifies a virtual service, for JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceIdView {
    /// `tcp`, `udp`, `sctp` or `fwmark`.
    pub protocol: &'static str,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Virtual address (not for fwmark services).
    pub address: Option<String>,
    /// Virtual port (not for fwmark services).
    pub port: Option<u16>,
    /// The mark of a fwmark service.
    pub fwmark: Option<u32>,
}

impl From<&ServiceKey> for ServiceIdView {
    fn from(key: &ServiceKey) -> Self {
        let (protocol, address, port, fwmark) = match key {
            ServiceKey::Addr { proto, addr, port } => {
                let p = match proto {
                    ipvs_core::service::Protocol::Tcp => "tcp",
                    ipvs_core::service::Protocol::Udp => "udp",
                    ipvs_core::service::Protocol::Sctp => "sctp",
                };
                (p, Some(fmt_addr(addr)), Some(*port), None)
            }
            ServiceKey::Fwmark { mark, .. } => ("fwmark", None, None, Some(*mark)),
        };
        ServiceIdView {
            protocol,
            family: family(key.af()),
            address,
            port,
            fwmark,
        }
    }
}

/// A FULLNAT local address, for JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaddrView {
    /// Address.
    pub address: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// Connections using it as their source now.
    pub conns: u32,
    /// Connections refused because its source ports were all in use.
    pub exhausted: u64,
}

impl From<&LaddrEntry> for LaddrView {
    fn from(l: &LaddrEntry) -> Self {
        LaddrView {
            address: fmt_addr(&l.addr),
            family: family(l.addr.af()),
            conns: l.conns,
            exhausted: l.exhausted,
        }
    }
}

/// The TOA and FULLNAT counters of a service, for JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExtStatsView {
    /// TOA options written into FULLNAT TCP connections.
    pub toa_written: u64,
    /// TOA options not written (no room in the segment).
    pub toa_skipped: u64,
    /// FULLNAT connections refused for want of a local address and port.
    pub fnat_exhausted: u64,
    /// SYNPROXY: SYN-ACKs with a cookie sent.
    pub synproxy_cookies_sent: u64,
    /// SYNPROXY: client ACKs with a valid cookie.
    pub synproxy_ack_valid: u64,
    /// SYNPROXY: client ACKs with a forged or expired cookie.
    pub synproxy_ack_bad: u64,
    /// SYNPROXY: SYNs to real servers sent again.
    pub synproxy_syn_retrans: u64,
    /// SYNPROXY: duplicate ACKs dropped (ACK-storm guard).
    pub synproxy_ack_storm: u64,
    /// SYNPROXY: client packets dropped while waiting for the server.
    pub synproxy_held_drops: u64,
    /// PROXY protocol header segments sent to real servers.
    pub proxy_sent: u64,
    /// PROXY protocol header segments sent again.
    pub proxy_resent: u64,
}

/// A virtual service with its real servers, for JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    /// What identifies it.
    #[serde(flatten)]
    pub id: ServiceIdView,
    /// Scheduler.
    pub scheduler: String,
    /// `persistent`, `onepacket` and the scheduler flags by name.
    pub flags: Vec<&'static str>,
    /// Persistence timeout in seconds, for persistent services.
    pub persistent: Option<u32>,
    /// Persistence netmask: dotted for IPv4, prefix length for IPv6.
    pub netmask: String,
    /// Persistence engine.
    pub pe: Option<String>,
    /// Counters and rates.
    pub stats: StatsView,
    /// Real servers.
    pub dests: Vec<DestView>,
    /// Whether TOA is written on FULLNAT TCP connections; null without
    /// ipvs_rs's `IPVS_RS` family (upstream `ip_vs`).
    pub toa: Option<bool>,
    /// Whether SYNPROXY is on; null without the `IPVS_RS` family.
    pub synproxy: Option<bool>,
    /// PROXY protocol version sent to real servers ("v1", "v2" or "off");
    /// null without the `IPVS_RS` family.
    pub proxy_protocol: Option<&'static str>,
    /// The FULLNAT local addresses; null without the `IPVS_RS` family.
    pub laddrs: Option<Vec<LaddrView>>,
    /// TOA and FULLNAT counters; null without the `IPVS_RS` family.
    pub ext_stats: Option<ExtStatsView>,
}

fn family(af: Af) -> &'static str {
    match af {
        Af::Inet => "ipv4",
        Af::Inet6 => "ipv6",
    }
}

impl From<&DestEntry> for DestView {
    fn from(d: &DestEntry) -> Self {
        let tunnel = (d.conf.fwd == FwdMethod::Tunnel).then(|| TunnelView {
            kind: tun_type_name(d.conf.tun_type),
            port: (d.conf.tun_type == TunType::Gue).then_some(d.conf.tun_port),
            checksum: (d.conf.tun_type != TunType::Ipip).then(|| tun_csum_name(d.conf.tun_flags)),
        });
        DestView {
            address: fmt_addr(&d.key.addr),
            family: family(d.key.addr.af()),
            port: d.key.port,
            forward: fwd_json_name(d.conf.fwd),
            weight: d.conf.weight,
            upper_threshold: d.conf.u_thresh,
            lower_threshold: d.conf.l_thresh,
            active_conns: d.conns.active,
            inactive_conns: d.conns.inactive,
            persistent_conns: d.conns.persist,
            tunnel,
            stats: StatsView::from(&d.stats),
        }
    }
}

impl From<&ServiceEntry> for ServiceView {
    fn from(s: &ServiceEntry) -> Self {
        let mut flags = Vec::new();
        if is_persistent(&s.conf) {
            flags.push("persistent");
        }
        if s.conf.flags & svc_flags::ONEPACKET != 0 {
            flags.push("onepacket");
        }
        flags.extend(sched_flag_names(s.conf.sched.as_str(), s.conf.flags));
        let ext = s.ext.as_ref();
        ServiceView {
            id: ServiceIdView::from(&s.key),
            scheduler: s.conf.sched.as_str().to_owned(),
            flags,
            persistent: is_persistent(&s.conf).then_some(s.conf.timeout),
            netmask: fmt_netmask(s.conf.netmask, s.key.af()),
            pe: (!s.conf.pe.is_empty()).then(|| s.conf.pe.as_str().to_owned()),
            stats: StatsView::from(&s.stats),
            dests: s.dests.iter().map(DestView::from).collect(),
            toa: ext.map(|e| e.settings.toa),
            synproxy: ext.map(|e| e.settings.synproxy),
            proxy_protocol: ext.map(|e| proxy_name(e.settings.proxy).unwrap_or("off")),
            laddrs: ext.map(|e| e.laddrs.iter().map(LaddrView::from).collect()),
            ext_stats: ext.map(|e| ExtStatsView {
                toa_written: e.counters.toa_written,
                toa_skipped: e.counters.toa_skipped,
                fnat_exhausted: e.counters.fnat_exhausted,
                synproxy_cookies_sent: e.counters.synproxy.cookies,
                synproxy_ack_valid: e.counters.synproxy.ack_valid,
                synproxy_ack_bad: e.counters.synproxy.ack_bad,
                synproxy_syn_retrans: e.counters.synproxy.syn_retrans,
                synproxy_ack_storm: e.counters.synproxy.ack_storm,
                synproxy_held_drops: e.counters.synproxy.held_drops,
                proxy_sent: e.counters.proxy_sent,
                proxy_resent: e.counters.proxy_resent,
            }),
        }
    }
}

/// `ipvsctl service list`, `ipvsctl stats` and `ipvsctl --json save`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableView {
    /// The first line of a full listing (`IP Virtual Server version ...`).
    #[serde(skip)]
    pub header: Option<String>,
    /// The columns of the text.
    #[serde(skip)]
    pub columns: Columns,
    /// Numbers in full rather than with K/M/G/T suffixes.
    #[serde(skip)]
    pub exact: bool,
    /// The table, for the text.
    #[serde(skip)]
    pub entries: Vec<ServiceEntry>,
    /// The table, for JSON.
    pub services: Vec<ServiceView>,
}

impl TableView {
    /// A view of `entries` (already in listing order).
    pub fn new(
        entries: Vec<ServiceEntry>,
        header: Option<String>,
        columns: Columns,
        exact: bool,
    ) -> Self {
        TableView {
            header,
            columns,
            exact,
            services: entries.iter().map(ServiceView::from).collect(),
            entries,
        }
    }
}

/// `TCP  10.0.1.100:80`, `FWM  42`, `FWM  42 IPv6` (`ipvsadm`'s first
/// column).
pub fn svc_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            format!("{:<4} {}", proto.name(), fmt_addr_port(addr, *port))
        }
        ServiceKey::Fwmark { af: Af::Inet, mark } => format!("FWM  {mark}"),
        ServiceKey::Fwmark {
            af: Af::Inet6,
            mark,
        } => format!("FWM  {mark} IPv6"),
    }
}

/// The service line of the default listing: name, scheduler, flags,
/// persistence.
fn service_line(s: &ServiceEntry) -> String {
    let mut line = format!("{} {}", svc_name(&s.key), s.conf.sched.as_str());
    let names = sched_flag_names(s.conf.sched.as_str(), s.conf.flags);
    if !names.is_empty() {
        let _ = write!(line, " ({})", names.join(","));
    }
    if is_persistent(&s.conf) {
        let _ = write!(line, " persistent {}", s.conf.timeout);
        let af = s.key.af();
        if s.conf.netmask != default_netmask(af) {
            let _ = write!(line, " mask {}", fmt_netmask(s.conf.netmask, af));
        }
        if !s.conf.pe.is_empty() {
            let _ = write!(line, " pe {}", s.conf.pe.as_str());
        }
    }
    if s.conf.flags & svc_flags::ONEPACKET != 0 {
        line.push_str(" ops");
    }
    if let Some(e) = &s.ext {
        if e.settings.toa {
            line.push_str(" toa");
        }
        if e.settings.synproxy {
            line.push_str(" synproxy");
        }
        if let Some(v) = proxy_name(e.settings.proxy) {
            let _ = write!(line, " proxy-protocol {v}");
        }
        if !e.laddrs.is_empty() {
            let _ = write!(line, " laddrs {}", e.laddrs.len());
        }
    }
    line
}

/// Whether a service has anything of ipvs_rs's extensions to show: TOA
/// on, local addresses, FULLNAT real servers or non-zero counters.
fn has_ext_state(s: &ServiceEntry) -> Option<&ServiceExt> {
    let e = s.ext.as_ref()?;
    let c = &e.counters;
    let used = e.settings.toa
        || !e.laddrs.is_empty()
        || s.dests.iter().any(|d| d.conf.fwd == FwdMethod::FullNat)
        || c.toa_written != 0
        || c.toa_skipped != 0
        || c.fnat_exhausted != 0;
    used.then_some(e)
}

/// The third table of `ipvsctl stats`: the SYNPROXY counters of the
/// services that use it (on, or with counts from when it was). Empty when
/// none does.
fn synproxy_table(entries: &[ServiceEntry], sw: usize, exact: bool) -> String {
    let zero = ipvs_core::netlink::ext::SynproxyCounters::default();
    let used: Vec<(&ServiceEntry, &ServiceExt)> = entries
        .iter()
        .filter_map(|s| {
            let e = s.ext.as_ref()?;
            (e.settings.synproxy || e.counters.synproxy != zero).then_some((s, e))
        })
        .collect();
    if used.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<sw$} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "Prot LocalAddress:Port",
        "Cookies",
        "AckValid",
        "AckBad",
        "SynRetry",
        "AckStorm",
        "HeldDrop"
    );
    for (s, e) in used {
        let c = &e.counters.synproxy;
        let _ = writeln!(
            out,
            "{:<sw$}{}{}{}{}{}{}",
            svc_name(&s.key),
            num10(c.cookies, exact),
            num10(c.ack_valid, exact),
            num10(c.ack_bad, exact),
            num10(c.syn_retrans, exact),
            num10(c.ack_storm, exact),
            num10(c.held_drops, exact)
        );
    }
    out
}

/// The fourth table of `ipvsctl stats`: PROXY protocol header segments
/// sent by the services that send them (on, or with counts from when they
/// did). Empty when none does.
fn proxy_table(entries: &[ServiceEntry], sw: usize, exact: bool) -> String {
    let used: Vec<(&ServiceEntry, &ServiceExt)> = entries
        .iter()
        .filter_map(|s| {
            let e = s.ext.as_ref()?;
            let c = &e.counters;
            (e.settings.proxy.is_on() || c.proxy_sent != 0 || c.proxy_resent != 0).then_some((s, e))
        })
        .collect();
    if used.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<sw$} {:>10} {:>10} {:>10}",
        "Prot LocalAddress:Port", "Proxy", "HdrSent", "HdrResent"
    );
    for (s, e) in used {
        let c = &e.counters;
        let _ = writeln!(
            out,
            "{:<sw$} {:>10}{}{}",
            svc_name(&s.key),
            proxy_name(e.settings.proxy).unwrap_or("off"),
            num10(c.proxy_sent, exact),
            num10(c.proxy_resent, exact)
        );
    }
    out
}

/// A counter in a 10-character column (the extension table).
fn num10(n: u64, exact: bool) -> String {
    format!(" {:>10}", largenum(n, exact).trim_start())
}

/// The second table of `ipvsctl stats`: TOA and FULLNAT counters of the
/// services that use them, and the counters of their local addresses.
/// Empty when no service does (or without the `IPVS_RS` family).
fn ext_counters_table(entries: &[ServiceEntry], sw: usize, exact: bool) -> String {
    let used: Vec<(&ServiceEntry, &ServiceExt)> = entries
        .iter()
        .filter_map(|s| has_ext_state(s).map(|e| (s, e)))
        .collect();
    if used.is_empty() {
        return String::new();
    }
    let ndw = sw - 5;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<sw$} {:>10} {:>10} {:>10}",
        "Prot LocalAddress:Port", "TOAWritten", "TOASkipped", "Exhausted"
    );
    let _ = writeln!(
        out,
        "  -> {:<ndw$} {:>10} {:>10} {:>10}",
        "LocalAddress", "InUseConn", "", "Exhausted"
    );
    for (s, e) in used {
        let c = &e.counters;
        let _ = writeln!(
            out,
            "{:<sw$}{}{}{}",
            svc_name(&s.key),
            num10(c.toa_written, exact),
            num10(c.toa_skipped, exact),
            num10(c.fnat_exhausted, exact)
        );
        for l in &e.laddrs {
            let _ = writeln!(
                out,
                "  -> {:<ndw$}{} {:>10}{}",
                fmt_addr(&l.addr),
                num10(u64::from(l.conns), exact),
                "",
                num10(l.exhausted, exact)
            );
        }
    }
    out
}

/// A counter as `ipvsadm` prints it: 9 columns, with K, M, G or T beyond
/// 8 digits unless `exact`.
pub fn largenum(n: u64, exact: bool) -> String {
    if exact {
        let s = n.to_string();
        let width = if s.len() <= 8 { 9 } else { s.len() + 1 };
        return format!("{s:>width$}");
    }
    match n {
        0..=99_999_999 => format!("{n:>9}"),
        100_000_000..=999_999_999 => format!("{:>8}K", n / 1_000),
        1_000_000_000..=99_999_999_999 => format!("{:>8}M", n / 1_000_000),
        100_000_000_000..=99_999_999_999_999 => format!("{:>8}G", n / 1_000_000_000),
        _ => format!("{:>8}T", n / 1_000_000_000_000),
    }
}

fn counters(s: &Stats, exact: bool) -> String {
    [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
        .iter()
        .map(|&n| largenum(n, exact))
        .collect()
}

fn rates(s: &Stats, exact: bool) -> String {
    [s.cps, s.inpps, s.outpps, s.inbps, s.outbps]
        .iter()
        .map(|&n| largenum(n, exact))
        .collect()
}

/// The `TunnelInfo` column of `ipvsadm --tun-info`.
fn tun_info(d: &DestEntry) -> String {
    if d.conf.fwd != FwdMethod::Tunnel {
        return "n/a".into();
    }
    let csum = match tun_csum_name(d.conf.tun_flags) {
        "remcsum" => "r+c",
        "csum" => "+c",
        _ => "-c",
    };
    match d.conf.tun_type {
        TunType::Ipip => "ipip".into(),
        TunType::Gue => format!("gue:{}:{csum}", d.conf.tun_port),
        TunType::Gre => format!("gre:{csum}"),
    }
}

impl Render for TableView {
    fn human(&self) -> String {
        let mut out = String::new();
        if let Some(h) = &self.header {
            out.push_str(h);
            out.push('\n');
        }
        let dnames = |s: &ServiceEntry| -> Vec<String> {
            s.dests
                .iter()
                .map(|d| fmt_addr_port(&d.key.addr, d.key.port))
                .collect()
        };
        let longest_dest = self
            .entries
            .iter()
            .flat_map(dnames)
            .map(|n| n.len())
            .max()
            .unwrap_or(0);
        let longest_svc = self
            .entries
            .iter()
            .map(|s| svc_name(&s.key).len())
            .max()
            .unwrap_or(0);
        let longest_laddr = self
            .entries
            .iter()
            .filter_map(|s| s.ext.as_ref())
            .flat_map(|e| e.laddrs.iter().map(|l| fmt_addr(&l.addr).len()))
            .max()
            .unwrap_or(0);
        let longest_dest = longest_dest.max(longest_laddr);
        // Real server column, and the first column of the numeric layouts.
        let dw = longest_dest.max(28);
        let sw = longest_svc.max(33).max(dw + 5);
        let x = self.exact;
        let c = self.columns;
        match c {
            Columns::Default => {
                let _ = writeln!(out, "Prot LocalAddress:Port Scheduler Flags");
                let _ = writeln!(
                    out,
                    "  -> {:<dw$} Forward Weight ActiveConn InActConn",
                    "RemoteAddress:Port"
                );
            }
            Columns::TunInfo => {
                let _ = writeln!(out, "Prot LocalAddress:Port Scheduler Flags");
                let _ = writeln!(
                    out,
                    "  -> {:<dw$} Forward TunnelInfo    Weight ActiveConn InActConn",
                    "RemoteAddress:Port"
                );
            }
            Columns::Stats | Columns::Rate | Columns::Counters => {
                let mut names: Vec<&str> = Vec::new();
                if c != Columns::Rate {
                    names.extend(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
                }
                if c != Columns::Stats {
                    names.extend(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
                }
                let _ = write!(out, "{:<sw$}", "Prot LocalAddress:Port");
                for n in names {
                    let _ = write!(out, " {n:>8}");
                }
                let _ = writeln!(out, "\n  -> RemoteAddress:Port");
            }
            Columns::Thresholds => {
                let _ = writeln!(
                    out,
                    "{:<sw$} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port",
                    "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
                );
            }
        }
        let ndw = sw - 5;
        for s in &self.entries {
            match c {
                Columns::Stats => {
                    let _ = writeln!(out, "{:<sw$}{}", svc_name(&s.key), counters(&s.stats, x));
                }
                Columns::Rate => {
                    let _ = writeln!(out, "{:<sw$}{}", svc_name(&s.key), rates(&s.stats, x));
                }
                Columns::Counters => {
                    let _ = writeln!(
                        out,
                        "{:<sw$}{}{}",
                        svc_name(&s.key),
                        counters(&s.stats, x),
                        rates(&s.stats, x)
                    );
                }
                _ => {
                    let _ = writeln!(out, "{}", service_line(s));
                }
            }
            for (d, name) in s.dests.iter().zip(dnames(s)) {
                let _ = match c {
                    Columns::Default => writeln!(
                        out,
                        "  -> {name:<dw$} {:<7} {:<6} {:<10} {:<10}",
                        d.conf.fwd.name(),
                        d.conf.weight,
                        d.conns.active,
                        d.conns.inactive
                    ),
                    Columns::TunInfo => writeln!(
                        out,
                        "  -> {name:<dw$} {:<7} {:<13} {:<6} {:<10} {:<10}",
                        d.conf.fwd.name(),
                        tun_info(d),
                        d.conf.weight,
                        d.conns.active,
                        d.conns.inactive
                    ),
                    Columns::Stats => {
                        writeln!(out, "  -> {name:<ndw$}{}", counters(&d.stats, x))
                    }
                    Columns::Rate => {
                        // ipvsadm prints the three small rates unscaled.
                        writeln!(
                            out,
                            "  -> {name:<ndw$} {:>8} {:>8} {:>8}{}{}",
                            d.stats.cps,
                            d.stats.inpps,
                            d.stats.outpps,
                            largenum(d.stats.inbps, x),
                            largenum(d.stats.outbps, x)
                        )
                    }
                    Columns::Counters => writeln!(
                        out,
                        "  -> {name:<ndw$}{}{}",
                        counters(&d.stats, x),
                        rates(&d.stats, x)
                    ),
                    Columns::Thresholds => writeln!(
                        out,
                        "  -> {name:<ndw$} {:<10} {:<10} {:<10} {:<10}",
                        d.conf.u_thresh, d.conf.l_thresh, d.conns.active, d.conns.inactive
                    ),
                };
            }
        }
        if c == Columns::Counters {
            out.push_str(&ext_counters_table(&self.entries, sw, x));
            out.push_str(&synproxy_table(&self.entries, sw, x));
            out.push_str(&proxy_table(&self.entries, sw, x));
        }
        // ipvsadm pads the last column; trailing blanks only get in the way.
        let mut trimmed = String::with_capacity(out.len());
        for line in out.lines() {
            trimmed.push_str(line.trim_end());
            trimmed.push('\n');
        }
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{render, Format};
    use ipvs_core::addr::Addr;
    use ipvs_core::netlink::service::DestConns;
    use ipvs_core::service::{DestConf, DestKey, Name, Protocol, ServiceConf};

    fn dest(addr: Addr, port: u16, fwd: FwdMethod, weight: i32) -> DestEntry {
        DestEntry {
            key: DestKey { addr, port },
            conf: DestConf {
                fwd,
                weight,
                u_thresh: 0,
                l_thresh: 0,
                tun_type: TunType::Ipip,
                tun_port: 0,
                tun_flags: 0,
            },
            conns: DestConns {
                active: 12,
                inactive: 3,
                persist: 1,
            },
            stats: Stats::default(),
        }
    }

    fn table() -> Vec<ServiceEntry> {
        let mut web = ServiceEntry {
            key: ServiceKey::Addr {
                proto: Protocol::Tcp,
                addr: Addr::v4([10, 0, 1, 100]),
                port: 80,
            },
            conf: ServiceConf {
                sched: Name::new("wlc").unwrap(),
                pe: Name::default(),
                flags: svc_flags::PERSISTENT | svc_flags::HASHED,
                timeout: 600,
                netmask: u32::from_ne_bytes([255, 255, 255, 0]),
            },
            stats: Stats {
                conns: 123_456_789_012,
                inpkts: 5,
                ..Stats::default()
            },
            ext: None,
            dests: vec![
                dest(Addr::v4([10, 0, 2, 11]), 80, FwdMethod::Masq, 1),
                dest(Addr::v4([10, 0, 2, 12]), 80, FwdMethod::Masq, 0),
            ],
        };
        web.dests[0].stats.inbytes = 1_500_000_000;
        let mut tun = dest(Addr::v4([192, 168, 0, 2]), 0, FwdMethod::Tunnel, 2);
        tun.conf.tun_type = TunType::Gue;
        tun.conf.tun_port = 6080;
        tun.conf.tun_flags = 1;
        let fw = ServiceEntry {
            key: ServiceKey::Fwmark {
                af: Af::Inet,
                mark: 42,
            },
            conf: ServiceConf {
                sched: Name::new("sh").unwrap(),
                pe: Name::default(),
                flags: svc_flags::SCHED2 | svc_flags::ONEPACKET,
                timeout: 0,
                netmask: u32::MAX,
            },
            stats: Stats::default(),
            dests: vec![tun],
            ext: None,
        };
        vec![web, fw]
    }

    #[test]
    fn default_listing_like_ipvsadm() {
        let v = TableView::new(
            table(),
            Some("IP Virtual Server version 1.2.1 (size=4096)".into()),
            Columns::Default,
            false,
        );
        assert_eq!(
            render(&v, Format::Human).unwrap(),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.100:80 wlc persistent 600 mask 255.255.255.0\n\
             \x20 -> 10.0.2.11:80                 Masq    1      12         3\n\
             \x20 -> 10.0.2.12:80                 Masq    0      12         3\n\
             FWM  42 sh (sh-port) ops\n\
             \x20 -> 192.168.0.2:0                Tunnel  2      12         3\n"
        );
    }

    #[test]
    fn long_ipv6_addresses_widen_the_column() {
        let mut t = table();
        let long = Addr::v6([
            0x20, 1, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56,
            0x78,
        ]);
        t[0].dests.push(dest(long, 8080, FwdMethod::Tunnel, 1));
        let v = TableView::new(t, None, Columns::Default, false);
        let text = render(&v, Format::Human).unwrap();
        let name = "[2001:db8:1234:5678:9abc:def0:1234:5678]:8080";
        assert!(text.contains(&format!("  -> {name} Tunnel  1")), "{text}");
        assert!(
            text.contains(&format!("  -> {:<w$} Masq", "10.0.2.11:80", w = name.len())),
            "{text}"
        );
    }

    #[test]
    fn stats_rate_thresholds_tun_info() {
        let v = TableView::new(table(), None, Columns::Stats, false);
        let text = render(&v, Format::Human).unwrap();
        assert_eq!(
            text.lines().take(4).collect::<Vec<_>>(),
            [
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
                "  -> RemoteAddress:Port",
                "TCP  10.0.1.100:80                    123G        5        0        0        0",
                "  -> 10.0.2.11:80                        0        0        0    1500M        0",
            ]
        );
        let v = TableView::new(table(), None, Columns::Stats, true);
        let text = render(&v, Format::Human).unwrap();
        let row = format!("{:<33} 123456789012        5", "TCP  10.0.1.100:80");
        assert!(text.contains(&row), "{text}");
        let v = TableView::new(table(), None, Columns::Rate, false);
        let text = render(&v, Format::Human).unwrap();
        assert!(text.starts_with(
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
        ));
        let v = TableView::new(table(), None, Columns::Thresholds, false);
        let text = render(&v, Format::Human).unwrap();
        assert!(text.starts_with(
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n"
        ));
        assert!(
            text.contains("  -> 10.0.2.11:80                 0          0          12         3\n")
        );
        let v = TableView::new(table(), None, Columns::TunInfo, false);
        let text = render(&v, Format::Human).unwrap();
        assert!(
            text.contains("  -> 10.0.2.11:80                 Masq    n/a           1      12"),
            "{text}"
        );
        assert!(
            text.contains("  -> 192.168.0.2:0                Tunnel  gue:6080:+c   2"),
            "{text}"
        );
        let v = TableView::new(table(), None, Columns::Counters, false);
        let text = render(&v, Format::Human).unwrap();
        assert!(text.starts_with(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes      CPS"
        ));
        assert!(text.lines().all(|l| l == l.trim_end()));
    }

    #[test]
    fn largenums() {
        assert_eq!(largenum(0, false), "        0");
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(1_000_000_000, false), "    1000M");
        assert_eq!(largenum(100_000_000_000, false), "     100G");
        assert_eq!(largenum(u64::MAX, false), "18446744T");
        assert_eq!(largenum(123_456_789, true), " 123456789");
        assert_eq!(largenum(5, true), "        5");
    }

    #[test]
    fn json_has_every_field() {
        let v = TableView::new(table(), Some("hidden".into()), Columns::Stats, false);
        let json = render(&v, Format::Json).unwrap();
        assert!(json.ends_with("}\n") && json.lines().count() == 1);
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        let web = &j["services"][0];
        assert_eq!(web["protocol"], "tcp");
        assert_eq!(web["family"], "ipv4");
        assert_eq!(web["address"], "10.0.1.100");
        assert_eq!(web["port"], 80);
        assert_eq!(web["fwmark"], serde_json::Value::Null);
        assert_eq!(web["scheduler"], "wlc");
        assert_eq!(web["flags"], serde_json::json!(["persistent"]));
        assert_eq!(web["persistent"], 600);
        assert_eq!(web["netmask"], "255.255.255.0");
        assert_eq!(web["pe"], serde_json::Value::Null);
        assert_eq!(web["stats"]["conns"], 123_456_789_012u64);
        let d = &web["dests"][0];
        assert_eq!(d["address"], "10.0.2.11");
        assert_eq!(d["forward"], "masq");
        assert_eq!(d["weight"], 1);
        assert_eq!(d["active_conns"], 12);
        assert_eq!(d["persistent_conns"], 1);
        assert_eq!(d["tunnel"], serde_json::Value::Null);
        assert_eq!(d["stats"]["inbytes"], 1_500_000_000u64);
        let fw = &j["services"][1];
        assert_eq!(fw["protocol"], "fwmark");
        assert_eq!(fw["fwmark"], 42);
        assert_eq!(fw["address"], serde_json::Value::Null);
        assert_eq!(fw["flags"], serde_json::json!(["onepacket", "sh-port"]));
        assert_eq!(fw["persistent"], serde_json::Value::Null);
        assert_eq!(
            fw["dests"][0]["tunnel"],
            serde_json::json!({"type": "gue", "port": 6080, "checksum": "csum"})
        );
        assert!(!json.contains("hidden"));
    }

    #[test]
    fn empty_table() {
        let v = TableView::new(Vec::new(), None, Columns::Default, false);
        assert_eq!(
            render(&v, Format::Human).unwrap(),
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        );
        assert_eq!(render(&v, Format::Json).unwrap(), "{\"services\":[]}\n");
    }

    /// [`table`] with ipvs_rs's extensions: the web service has FULLNAT
    /// real servers, TOA and two local addresses; the fwmark service
    /// nothing of them.
    fn ext_table() -> Vec<ServiceEntry> {
        let mut t = table();
        t[0].dests[1].conf.fwd = FwdMethod::FullNat;
        t[0].ext = Some(ServiceExt {
            settings: ipvs_core::netlink::ext::SvcExt {
                toa: true,
                synproxy: false,
                proxy: Default::default(),
            },
            counters: ipvs_core::netlink::ext::SvcExtCounters {
                toa_written: 1_234,
                toa_skipped: 2,
                fnat_exhausted: 3,
                laddrs: 2,
                ..Default::default()
            },
            laddrs: vec![
                LaddrEntry {
                    addr: Addr::v4([10, 0, 5, 1]),
                    conns: 7,
                    exhausted: 0,
                },
                LaddrEntry {
                    addr: Addr::v4([10, 0, 5, 2]),
                    conns: 8,
                    exhausted: 300_000_000_000,
                },
            ],
        });
        t[1].ext = Some(ServiceExt::default());
        t
    }

    #[test]
    fn ext_in_the_default_listing() {
        let v = TableView::new(ext_table(), None, Columns::Default, false);
        assert_eq!(
            render(&v, Format::Human).unwrap(),
            "Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.100:80 wlc persistent 600 mask 255.255.255.0 toa laddrs 2\n\
             \x20 -> 10.0.2.11:80                 Masq    1      12         3\n\
             \x20 -> 10.0.2.12:80                 FullNat 0      12         3\n\
             FWM  42 sh (sh-port) ops\n\
             \x20 -> 192.168.0.2:0                Tunnel  2      12         3\n"
        );
    }

    #[test]
    fn synproxy_counters_table() {
        let mut t = ext_table();
        if let Some(e) = t[0].ext.as_mut() {
            e.settings.synproxy = true;
            e.counters.synproxy = ipvs_core::netlink::ext::SynproxyCounters {
                cookies: 123_456,
                ack_valid: 50,
                ack_bad: 7,
                syn_retrans: 1,
                ack_storm: 2,
                held_drops: 3,
            };
        }
        let v = TableView::new(t.clone(), None, Columns::Counters, false);
        let text = render(&v, Format::Human).unwrap();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        assert_eq!(
            tail,
            [
                "TCP  10.0.1.100:80                    123456         50          7          1          2          3",
                "Prot LocalAddress:Port               Cookies   AckValid     AckBad   SynRetry   AckStorm   HeldDrop",
                "",
            ],
            "{text}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&render(&v, Format::Json).unwrap()).unwrap();
        assert_eq!(j["services"][0]["synproxy"], true);
        assert_eq!(
            j["services"][0]["ext_stats"]["synproxy_cookies_sent"],
            123_456
        );
        assert_eq!(j["services"][0]["ext_stats"]["synproxy_ack_bad"], 7);
        // No SYNPROXY table without a SYNPROXY service.
        let v = TableView::new(ext_table(), None, Columns::Counters, false);
        assert!(!render(&v, Format::Human).unwrap().contains("AckValid"));
    }

    #[test]
    fn ext_counters_after_the_stats() {
        let v = TableView::new(ext_table(), None, Columns::Counters, false);
        let text = render(&v, Format::Human).unwrap();
        let tail: Vec<&str> = text.lines().skip_while(|l| !l.is_empty()).collect();
        assert_eq!(
            tail,
            [
                "",
                "Prot LocalAddress:Port            TOAWritten TOASkipped  Exhausted",
                "  -> LocalAddress                  InUseConn             Exhausted",
                "TCP  10.0.1.100:80                      1234          2          3",
                "  -> 10.0.5.1                              7                     0",
                "  -> 10.0.5.2                              8                  300G",
            ]
        );
        let v = TableView::new(ext_table(), None, Columns::Counters, true);
        let text = render(&v, Format::Human).unwrap();
        assert!(
            text.ends_with(
                "  -> 10.0.5.2                              8            300000000000\n"
            ),
            "{text}"
        );
        // Nothing extra without extension state, or without the family.
        let mut t = ext_table();
        t[0].ext = Some(ServiceExt::default());
        t[0].dests[1].conf.fwd = FwdMethod::Masq;
        let with = render(
            &TableView::new(t, None, Columns::Counters, false),
            Format::Human,
        );
        let without = render(
            &TableView::new(table(), None, Columns::Counters, false),
            Format::Human,
        );
        assert_eq!(with.unwrap(), without.unwrap());
        // Only `stats` has the second table.
        let v = TableView::new(ext_table(), None, Columns::Stats, false);
        assert!(!render(&v, Format::Human).unwrap().contains("TOAWritten"));
    }

    #[test]
    fn ext_in_json() {
        let v = TableView::new(ext_table(), None, Columns::Default, false);
        let j: serde_json::Value =
            serde_json::from_str(&render(&v, Format::Json).unwrap()).unwrap();
        let web = &j["services"][0];
        assert_eq!(web["toa"], true);
        assert_eq!(
            web["laddrs"],
            serde_json::json!([
                {"address": "10.0.5.1", "family": "ipv4", "conns": 7, "exhausted": 0},
                {"address": "10.0.5.2", "family": "ipv4", "conns": 8,
                 "exhausted": 300_000_000_000u64}
            ])
        );
        assert_eq!(
            web["ext_stats"],
            serde_json::json!({"toa_written": 1234, "toa_skipped": 2, "fnat_exhausted": 3,
                "synproxy_cookies_sent": 0, "synproxy_ack_valid": 0, "synproxy_ack_bad": 0,
                "synproxy_syn_retrans": 0, "synproxy_ack_storm": 0, "synproxy_held_drops": 0,
                "proxy_sent": 0, "proxy_resent": 0})
        );
        assert_eq!(web["proxy_protocol"], "off");
        assert_eq!(web["dests"][1]["forward"], "fullnat");
        assert_eq!(j["services"][1]["toa"], false);
        assert_eq!(j["services"][1]["laddrs"], serde_json::json!([]));
        // Without the IPVS_RS family: null, and the field order of the
        // identifying fields is unchanged.
        let v = TableView::new(table(), None, Columns::Default, false);
        let json = render(&v, Format::Json).unwrap();
        assert!(
            json.starts_with(
                "{\"services\":[{\"protocol\":\"tcp\",\"family\":\"ipv4\",\
                 \"address\":\"10.0.1.100\",\"port\":80,\"fwmark\":null,\"scheduler\":"
            ),
            "{json}"
        );
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["services"][0]["toa"], serde_json::Value::Null);
        assert_eq!(j["services"][0]["laddrs"], serde_json::Value::Null);
        assert_eq!(j["services"][0]["ext_stats"], serde_json::Value::Null);
    }
}
