// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl`: control tool for `ipvs_rs`, speaking the upstream IPVS generic
//! netlink ABI (the one `ipvsadm` uses).
//!
//! This file holds the command line and the dispatch. `cmd_*` run the
//! commands (`cmd_service`, `cmd_dest`, `cmd_laddr`: FULLNAT local
//! addresses; `cmd_table`: stats, zero, flush; `cmd_timeout`;
//! `cmd_save`: save and restore; `cmd_conn`: the connection list from
//! `/proc`); `values` parses and formats what operators type; `savefile`
//! is the `ipvsadm -S` rule format (with ipvs_rs's extensions); `ops` are
//! the typed requests of the `IPVS` family and of ipvs_rs's `IPVS_RS`
//! family, which `client` sends to the kernel; `listing` and `output`
//! render results; `error` says what went wrong.

mod client;
mod cmd_conn;
mod cmd_dest;
mod cmd_laddr;
mod cmd_save;
mod cmd_service;
mod cmd_table;
mod cmd_timeout;
mod error;
#[cfg(test)]
mod fake;
mod listing;
mod ops;
mod output;
mod savefile;
mod values;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Kernel, LazyClient};
use crate::cmd_conn::ConnCommand;
use crate::cmd_dest::DestCommand;
use crate::cmd_laddr::LaddrCommand;
use crate::cmd_save::RestoreArgs;
use crate::cmd_service::ServiceCommand;
use crate::cmd_table::{MaybeService, StatsArgs};
use crate::cmd_timeout::TimeoutCommand;
use crate::error::Error;
use crate::output::{render, Format, InfoView};

/// Manage the ipvs_rs load balancer over the IPVS generic netlink interface.
#[derive(Debug, Parser)]
#[command(name = "ipvsctl", version)]
struct Cli {
    /// Print results as JSON (one object per command) instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Show the IPVS version and the connection table size.
    Info,
    /// Show or set the global connection timeouts.
    #[command(subcommand)]
    Timeout(TimeoutCommand),
    /// Add, edit, delete or list virtual services.
    #[command(subcommand, visible_alias = "svc")]
    Service(ServiceCommand),
    /// Add, edit or delete real servers of a virtual service.
    #[command(subcommand, visible_alias = "server")]
    Dest(DestCommand),
    /// Add, delete or list the local addresses of FULLNAT services
    /// (ipvs_rs only).
    #[command(subcommand)]
    Laddr(LaddrCommand),
    /// Show the counters and rates of every service and real server, or of
    /// one service.
    Stats(StatsArgs),
    /// Reset the counters of every service, or of one.
    Zero(MaybeService),
    /// Delete every virtual service.
    Flush,
    /// Print the table as rules `restore` reads (ipvsadm -S -n format).
    Save,
    /// Add the services and real servers of rules (ipvsadm -S format)
    /// read from standard input or FILE.
    Restore(RestoreArgs),
    /// List the director's connections (from /proc/net/ip_vs_conn).
    #[command(subcommand)]
    Conn(ConnCommand),
}

impl Cli {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Human
        }
    }
}

/// Runs one command against `k` and returns what to print on stdout.
fn run<K: Kernel>(cli: &Cli, k: &mut K) -> Result<String, Error> {
    let format = cli.format();
    match &cli.command {
        Command::Info => render(&InfoView::from(&ops::info(k)?), format),
        Command::Timeout(c) => cmd_timeout::run(k, c, format),
        Command::Service(c) => cmd_service::run(k, c, format),
        Command::Dest(c) => cmd_dest::run(k, c),
        Command::Laddr(c) => cmd_laddr::run(k, c, format),
        Command::Stats(args) => cmd_table::stats(k, args, format),
        Command::Zero(service) => cmd_table::zero(k, service),
        Command::Flush => cmd_table::flush(k),
        Command::Save => cmd_save::save(k, format),
        Command::Restore(args) => {
            let input = cmd_save::read_input(args)?;
            cmd_save::restore(k, args, &input)
        }
        Command::Conn(c) => cmd_conn::run(c, format),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(&cli, &mut LazyClient::default()).and_then(|text| {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`ipvsctl info | head -0`): nothing to report.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // Nothing better to do if stderr is gone too.
            let _ = writeln!(io::stderr(), "ipvsctl: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ipvsctl").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn info() {
        let cli = parse(&["info"]).unwrap();
        assert_eq!(cli.command, Command::Info);
        assert_eq!(cli.format(), Format::Human);
    }

    #[test]
    fn json_is_global() {
        for args in [&["--json", "info"][..], &["info", "--json"][..]] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.command, Command::Info);
            assert_eq!(cli.format(), Format::Json);
        }
        for args in [
            &["--json", "timeout", "get"][..],
            &["timeout", "--json", "get"][..],
            &["timeout", "get", "--json"][..],
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.command, Command::Timeout(TimeoutCommand::Get));
            assert_eq!(cli.format(), Format::Json);
        }
    }

    #[test]
    fn timeout_get() {
        let cli = parse(&["timeout", "get"]).unwrap();
        assert_eq!(cli.command, Command::Timeout(TimeoutCommand::Get));
        assert!(!cli.json);
    }

    #[test]
    fn usage_errors() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&[]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(
            kind(&["timeout"]),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
        assert_eq!(kind(&["bogus"]), ErrorKind::InvalidSubcommand);
        assert_eq!(
            kind(&["timeout", "set"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(kind(&["timeout", "bogus"]), ErrorKind::InvalidSubcommand);
        assert_eq!(kind(&["info", "extra"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["info", "--yaml"]), ErrorKind::UnknownArgument);
    }

    fn cmd(args: &[&str]) -> Command {
        match parse(args) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn svc_arg(kind: &str, target: &str, ipv6: bool) -> cmd_service::ServiceArg {
        cmd_service::ServiceArg {
            kind: kind.into(),
            target: target.into(),
            ipv6,
        }
    }

    #[test]
    fn service_add_every_option() {
        let c = cmd(&[
            "service",
            "add",
            "tcp",
            "10.0.1.100:80",
            "--sched",
            "sh",
            "--persistent",
            "600",
            "--netmask",
            "24",
            "--sched-flags",
            "sh-port",
            "--onepacket",
            "--pe",
            "sip",
        ]);
        assert_eq!(
            c,
            Command::Service(ServiceCommand::Add {
                service: svc_arg("tcp", "10.0.1.100:80", false),
                opts: cmd_service::ServiceOpts {
                    sched: Some("sh".into()),
                    persistent: Some(Some("600".into())),
                    netmask: Some("24".into()),
                    sched_flags: Some("sh-port".into()),
                    onepacket: true,
                    pe: Some("sip".into()),
                    toa: false,
                    synproxy: false,
                    proxy_protocol: None,
                },
            })
        );
        // Short forms, --persistent without a value, fwmark with --ipv6.
        let c = cmd(&["svc", "add", "fwmark", "42", "-6", "-s", "rr", "-p"]);
        let Command::Service(ServiceCommand::Add { service, opts }) = c else {
            panic!("{c:?}");
        };
        assert_eq!(service, svc_arg("fwmark", "42", true));
        assert_eq!(opts.persistent, Some(None));
        assert_eq!(opts.sched.as_deref(), Some("rr"));
        // --persistent before another option takes no value.
        let c = cmd(&[
            "service",
            "add",
            "udp",
            "10.0.0.1:53",
            "--persistent",
            "--onepacket",
        ]);
        let Command::Service(ServiceCommand::Add { opts, .. }) = c else {
            panic!("{c:?}");
        };
        assert_eq!((opts.persistent, opts.onepacket), (Some(None), true));
        // A negative value reaches ipvsctl's own check.
        let c = cmd(&["service", "add", "tcp", "10.0.0.1:80", "-p", "-5"]);
        let Command::Service(ServiceCommand::Add { opts, .. }) = c else {
            panic!("{c:?}");
        };
        assert_eq!(opts.persistent, Some(Some("-5".into())));
    }

    #[test]
    fn service_edit_del_list() {
        let c = cmd(&[
            "service",
            "edit",
            "udp",
            "[2001:db8::1]:53",
            "--no-persistent",
            "--no-onepacket",
            "--no-pe",
            "--sched",
            "rr",
        ]);
        let Command::Service(ServiceCommand::Edit {
            service,
            opts,
            clear,
        }) = c
        else {
            panic!("{c:?}");
        };
        assert_eq!(service.target, "[2001:db8::1]:53");
        assert_eq!(opts.sched.as_deref(), Some("rr"));
        assert!(clear.no_persistent && clear.no_onepacket && clear.no_pe);
        assert_eq!(
            cmd(&["service", "del", "sctp", "10.0.0.1:9"]),
            Command::Service(ServiceCommand::Del {
                service: svc_arg("sctp", "10.0.0.1:9", false)
            })
        );
        assert!(matches!(
            cmd(&["service", "delete", "fwmark", "1"]),
            Command::Service(ServiceCommand::Del { .. })
        ));
        assert_eq!(
            cmd(&["service", "list"]),
            Command::Service(ServiceCommand::List(cmd_service::ListArgs::default()))
        );
        let c = cmd(&[
            "--json",
            "service",
            "ls",
            "tcp",
            "10.0.0.1:80",
            "--stats",
            "-X",
        ]);
        let Command::Service(ServiceCommand::List(l)) = c else {
            panic!("{c:?}");
        };
        assert_eq!(
            (l.kind.as_deref(), l.target.as_deref(), l.stats, l.exact),
            (Some("tcp"), Some("10.0.0.1:80"), true, true)
        );
        for flag in ["--rate", "--thresholds", "--tun-info"] {
            assert!(matches!(
                cmd(&["service", "list", flag]),
                Command::Service(ServiceCommand::List(_))
            ));
        }
    }

    #[test]
    fn dest_commands() {
        let c = cmd(&[
            "dest",
            "add",
            "tcp",
            "10.0.1.100:80",
            "10.0.2.11:80",
            "--fwd",
            "tun",
            "--weight",
            "3",
            "--upper",
            "100",
            "--lower",
            "10",
            "--tun-type",
            "gue",
            "--tun-port",
            "6080",
            "--tun-remcsum",
        ]);
        assert_eq!(
            c,
            Command::Dest(DestCommand::Add {
                dest: cmd_dest::DestArg {
                    service: svc_arg("tcp", "10.0.1.100:80", false),
                    server: "10.0.2.11:80".into(),
                },
                opts: cmd_dest::DestOpts {
                    fwd: Some("tun".into()),
                    fullnat: false,
                    weight: Some("3".into()),
                    upper: Some("100".into()),
                    lower: Some("10".into()),
                    tun_type: Some("gue".into()),
                    tun_port: Some("6080".into()),
                    tun_nocsum: false,
                    tun_csum: false,
                    tun_remcsum: true,
                },
            })
        );
        let c = cmd(&[
            "server",
            "edit",
            "fwmark",
            "42",
            "--ipv6",
            "[2001:db8::2]",
            "-w",
            "-3",
            "-x",
            "5",
            "-y",
            "1",
            "--tun-csum",
        ]);
        let Command::Dest(DestCommand::Edit { dest, opts }) = c else {
            panic!("{c:?}");
        };
        assert!(dest.service.ipv6);
        assert_eq!(dest.server, "[2001:db8::2]");
        assert_eq!(opts.weight.as_deref(), Some("-3"));
        assert_eq!(opts.upper.as_deref(), Some("5"));
        assert!(opts.tun_csum);
        let c = cmd(&[
            "dest",
            "edit",
            "tcp",
            "1.1.1.1:80",
            "2.2.2.2",
            "--u-threshold",
            "7",
        ]);
        let Command::Dest(DestCommand::Edit { opts, .. }) = c else {
            panic!("{c:?}");
        };
        assert_eq!(opts.upper.as_deref(), Some("7"));
        assert!(matches!(
            cmd(&["dest", "del", "udp", "1.1.1.1:53", "2.2.2.2"]),
            Command::Dest(DestCommand::Del { .. })
        ));
    }

    #[test]
    fn table_commands() {
        assert_eq!(cmd(&["stats"]), Command::Stats(StatsArgs::default()));
        let c = cmd(&["stats", "tcp", "10.0.0.1:80", "--exact"]);
        let Command::Stats(a) = c else {
            panic!("{c:?}");
        };
        assert!(a.exact);
        assert_eq!(a.service.target.as_deref(), Some("10.0.0.1:80"));
        assert_eq!(cmd(&["zero"]), Command::Zero(MaybeService::default()));
        assert_eq!(
            cmd(&["zero", "fwmark", "3", "-6"]),
            Command::Zero(MaybeService {
                kind: Some("fwmark".into()),
                target: Some("3".into()),
                ipv6: true,
            })
        );
        assert_eq!(cmd(&["flush"]), Command::Flush);
        assert_eq!(cmd(&["conn", "list"]), Command::Conn(ConnCommand::List));
        assert_eq!(cmd(&["conn", "ls"]), Command::Conn(ConnCommand::List));
        let cli = parse(&["conn", "ls", "--json"]).unwrap();
        assert_eq!(cli.format(), Format::Json);
        assert_eq!(cmd(&["save"]), Command::Save);
        assert_eq!(cmd(&["restore"]), Command::Restore(RestoreArgs::default()));
        assert_eq!(
            cmd(&["restore", "--flush", "rules.txt"]),
            Command::Restore(RestoreArgs {
                file: Some("rules.txt".into()),
                flush: true,
            })
        );
        assert_eq!(
            cmd(&["timeout", "set", "900", "0", "-1"]),
            Command::Timeout(TimeoutCommand::Set {
                tcp: "900".into(),
                tcp_fin: "0".into(),
                udp: "-1".into(),
            })
        );
    }

    #[test]
    fn option_conflicts_are_usage_errors() {
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&["service", "list", "--stats", "--rate"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&[
                "dest",
                "add",
                "tcp",
                "1.1.1.1:80",
                "2.2.2.2",
                "--tun-csum",
                "--tun-nocsum"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&[
                "service",
                "edit",
                "tcp",
                "1.1.1.1:80",
                "--persistent",
                "--no-persistent"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["service", "add", "tcp", "1.1.1.1:80", "--no-persistent"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&["service", "list", "tcp"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["service", "add", "tcp"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["dest", "add", "tcp", "1.1.1.1:80"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(kind(&["flush", "now"]), ErrorKind::UnknownArgument);
    }

    /// Runs a command line against the kernel model.
    fn exec(k: &mut fake::FakeKernel, args: &[&str]) -> Result<String, Error> {
        let cli = parse(args).unwrap();
        run(&cli, k)
    }

    #[test]
    fn an_operator_session() {
        let mut k = fake::FakeKernel::default();
        let ok = |k: &mut fake::FakeKernel, args: &[&str]| {
            exec(k, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
        };
        ok(
            &mut k,
            &[
                "service",
                "add",
                "tcp",
                "10.0.1.100:80",
                "--sched",
                "wlc",
                "-p",
                "600",
            ],
        );
        ok(
            &mut k,
            &[
                "dest",
                "add",
                "tcp",
                "10.0.1.100:80",
                "10.0.2.11:80",
                "--fwd",
                "nat",
            ],
        );
        ok(
            &mut k,
            &[
                "dest",
                "add",
                "tcp",
                "10.0.1.100:80",
                "10.0.2.12",
                "--weight",
                "2",
            ],
        );
        ok(
            &mut k,
            &[
                "dest",
                "edit",
                "tcp",
                "10.0.1.100:80",
                "10.0.2.11",
                "-w",
                "5",
            ],
        );
        ok(
            &mut k,
            &[
                "service", "add", "fwmark", "42", "--ipv6", "-s", "sh", "-b", "sh-port",
            ],
        );
        ok(
            &mut k,
            &["service", "edit", "tcp", "10.0.1.100:80", "--sched", "rr"],
        );
        ok(&mut k, &["timeout", "set", "60", "0", "0"]);
        assert_eq!(
            ok(&mut k, &["service", "list"]),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.100:80 rr persistent 600\n\
             \x20 -> 10.0.2.11:80                 Masq    5      0          0\n\
             \x20 -> 10.0.2.12:80                 Route   2      0          0\n\
             FWM  42 IPv6 sh (sh-port)\n"
        );
        assert_eq!(
            ok(&mut k, &["save"]),
            "-A -t 10.0.1.100:80 -s rr -p 600\n\
             -a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 5\n\
             -a -t 10.0.1.100:80 -r 10.0.2.12:80 -g -w 2\n\
             -A -f 42 -6 -s sh -b sh-port\n"
        );
        assert_eq!(
            ok(&mut k, &["timeout", "get"]),
            "Timeout (tcp tcpfin udp): 60 120 300\n"
        );
        let info = ok(&mut k, &["info", "--json"]);
        assert!(info.starts_with("{\"version\":\"1.2.1\""), "{info}");
        let j: serde_json::Value =
            serde_json::from_str(&ok(&mut k, &["--json", "service", "list"])).unwrap();
        assert_eq!(j["services"][0]["dests"][1]["weight"], 2);
        ok(
            &mut k,
            &["dest", "del", "tcp", "10.0.1.100:80", "10.0.2.12"],
        );
        ok(&mut k, &["zero"]);
        ok(&mut k, &["service", "del", "fwmark", "42", "-6"]);
        let saved = ok(&mut k, &["save"]);
        ok(&mut k, &["flush"]);
        assert_eq!(ok(&mut k, &["save"]), "");
        let args = RestoreArgs::default();
        cmd_save::restore(&mut k, &args, &saved).unwrap();
        assert_eq!(ok(&mut k, &["save"]), saved);
        // A bad value: one line naming field and value, nothing sent.
        let sent = k.log.len();
        let e = exec(
            &mut k,
            &[
                "dest",
                "add",
                "tcp",
                "10.0.1.100:80",
                "10.0.2.13",
                "--weight",
                "-3",
            ],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid weight \"-3\": must be 0..2147483647"
        );
        assert_eq!(k.log.len(), sent);
    }

    #[test]
    fn fullnat_commands() {
        let c = cmd(&["laddr", "add", "tcp", "10.0.1.100:80", "10.0.5.1"]);
        let la = cmd_laddr::LaddrArg {
            service: svc_arg("tcp", "10.0.1.100:80", false),
            address: "10.0.5.1".into(),
        };
        assert_eq!(c, Command::Laddr(LaddrCommand::Add(la.clone())));
        assert_eq!(
            cmd(&["laddr", "delete", "tcp", "10.0.1.100:80", "10.0.5.1"]),
            Command::Laddr(LaddrCommand::Del(la))
        );
        assert_eq!(
            cmd(&["laddr", "ls"]),
            Command::Laddr(LaddrCommand::List(MaybeService::default()))
        );
        let c = cmd(&["laddr", "list", "fwmark", "7", "-6", "--json"]);
        let Command::Laddr(LaddrCommand::List(m)) = c else {
            panic!("{c:?}");
        };
        assert_eq!((m.target.as_deref(), m.ipv6), (Some("7"), true));
        let c = cmd(&["service", "add", "tcp", "10.0.1.100:80", "--toa"]);
        let Command::Service(ServiceCommand::Add { opts, .. }) = c else {
            panic!("{c:?}");
        };
        assert!(opts.toa);
        let c = cmd(&["service", "edit", "tcp", "10.0.1.100:80", "--no-toa"]);
        let Command::Service(ServiceCommand::Edit { clear, .. }) = c else {
            panic!("{c:?}");
        };
        assert!(clear.no_toa);
        let c = cmd(&[
            "dest",
            "add",
            "tcp",
            "10.0.1.100:80",
            "10.0.2.11",
            "--fullnat",
        ]);
        let Command::Dest(DestCommand::Add { opts, .. }) = c else {
            panic!("{c:?}");
        };
        assert!(opts.fullnat && opts.fwd.is_none());
        let kind = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            kind(&[
                "dest",
                "add",
                "tcp",
                "1.1.1.1:80",
                "2.2.2.2",
                "--fullnat",
                "--fwd",
                "nat"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["service", "edit", "tcp", "1.1.1.1:80", "--toa", "--no-toa"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&["service", "add", "tcp", "1.1.1.1:80", "--no-toa"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&["laddr", "add", "tcp", "1.1.1.1:80"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            kind(&["laddr", "list", "tcp"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn a_fullnat_session() {
        let mut k = fake::FakeKernel::default();
        let ok = |k: &mut fake::FakeKernel, args: &[&str]| {
            exec(k, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
        };
        let v = "10.0.1.100:80";
        ok(&mut k, &["service", "add", "tcp", v, "-s", "rr", "--toa"]);
        ok(&mut k, &["laddr", "add", "tcp", v, "10.0.5.1"]);
        ok(&mut k, &["laddr", "add", "tcp", v, "10.0.5.2"]);
        ok(
            &mut k,
            &["dest", "add", "tcp", v, "10.0.2.11:8080", "--fullnat"],
        );
        ok(
            &mut k,
            &[
                "dest",
                "add",
                "tcp",
                v,
                "10.0.2.12:8080",
                "--fwd",
                "fullnat",
                "-w",
                "2",
            ],
        );
        assert_eq!(
            ok(&mut k, &["service", "list"]),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.1.100:80 rr toa laddrs 2\n\
             \x20 -> 10.0.2.11:8080               FullNat 1      0          0\n\
             \x20 -> 10.0.2.12:8080               FullNat 2      0          0\n"
        );
        let saved = ok(&mut k, &["save"]);
        assert_eq!(
            saved,
            "-A -t 10.0.1.100:80 -s rr --toa\n\
             -P -t 10.0.1.100:80 -z 10.0.5.1\n\
             -P -t 10.0.1.100:80 -z 10.0.5.2\n\
             -a -t 10.0.1.100:80 -r 10.0.2.11:8080 --fullnat -w 1\n\
             -a -t 10.0.1.100:80 -r 10.0.2.12:8080 --fullnat -w 2\n"
        );
        let key = k.services[0].key;
        k.set_ext_stats(&key, 5);
        let stats = ok(&mut k, &["stats"]);
        assert!(
            stats
                .contains("\nTCP  10.0.1.100:80                         5          6          7\n"),
            "{stats}"
        );
        let j: serde_json::Value = serde_json::from_str(&ok(&mut k, &["--json", "stats"])).unwrap();
        assert_eq!(j["services"][0]["ext_stats"]["fnat_exhausted"], 7);
        assert_eq!(j["services"][0]["laddrs"][0]["conns"], 5);
        ok(&mut k, &["flush"]);
        assert_eq!(
            ok(&mut k, &["laddr", "list"]),
            "Prot LocalAddress:Port\n  -> LocalAddress                 InUseConn  Exhausted\n"
        );
        cmd_save::restore(&mut k, &RestoreArgs::default(), &saved).unwrap();
        assert_eq!(ok(&mut k, &["save"]), saved);
        // Bad values: named, nothing sent.
        let sent = k.sent();
        let e = exec(&mut k, &["laddr", "add", "tcp", v, "[2001:db8::5]"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid local address \"[2001:db8::5]\": IPv6, but service TCP 10.0.1.100:80 \
             is IPv4: local addresses are of the service's family"
        );
        assert_eq!(k.sent(), sent);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
        assert_eq!(
            parse(&["--version"]).unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("--json"), "{help}");
        assert!(help.contains("info"), "{help}");
        assert!(help.contains("timeout"), "{help}");
        for command in [
            "service", "dest", "laddr", "stats", "zero", "flush", "save", "restore",
        ] {
            assert!(help.contains(command), "{help}");
        }
    }
}
