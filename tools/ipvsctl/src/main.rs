// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl`: control tool for `ipvs_rs`, speaking the upstream IPVS generic
//! netlink ABI (the one `ipvsadm` uses).
//!
//! This file holds the command line and the dispatch; `client` talks to the
//! kernel, `output` renders results, `error` says what went wrong.

mod client;
mod error;
mod output;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::IpvsClient;
use crate::error::Error;
use crate::output::{render, Format, InfoView, TimeoutsView};

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
    /// Show the global connection timeouts.
    #[command(subcommand)]
    Timeout(TimeoutCommand),
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum TimeoutCommand {
    /// Show the tcp, tcpfin and udp timeouts, in seconds.
    Get,
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

/// Runs one command and returns what to print on stdout.
fn run(cli: &Cli) -> Result<String, Error> {
    let format = cli.format();
    match &cli.command {
        Command::Info => {
            let info = IpvsClient::connect()?.info()?;
            render(&InfoView::from(&info), format)
        }
        Command::Timeout(TimeoutCommand::Get) => {
            let timeouts = IpvsClient::connect()?.timeouts()?;
            render(&TimeoutsView::from(&timeouts), format)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(&cli).and_then(|text| {
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
        assert_eq!(kind(&["timeout", "set"]), ErrorKind::InvalidSubcommand);
        assert_eq!(kind(&["info", "extra"]), ErrorKind::UnknownArgument);
        assert_eq!(kind(&["info", "--yaml"]), ErrorKind::UnknownArgument);
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
    }
}
