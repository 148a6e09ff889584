// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl timeout get|set`: the global connection timeouts.

use clap::Subcommand;
use ipvs_core::config::Timeouts;

use crate::client::Kernel;
use crate::error::Error;
use crate::ops;
use crate::output::{render, Format, TimeoutsView};
use crate::values::{parse_number, MAX_TIMEOUT};

/// `ipvsctl timeout ...`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum TimeoutCommand {
    /// Show the tcp, tcpfin and udp timeouts, in seconds.
    Get,
    /// Set the tcp, tcpfin and udp timeouts, in seconds; 0 leaves one
    /// unchanged.
    Set {
        /// Established TCP connections.
        #[arg(value_name = "TCP", allow_negative_numbers = true)]
        tcp: String,
        /// TCP connections after the client's FIN.
        #[arg(value_name = "TCPFIN", allow_negative_numbers = true)]
        tcp_fin: String,
        /// UDP flows.
        #[arg(value_name = "UDP", allow_negative_numbers = true)]
        udp: String,
    },
}

/// The three values of `timeout set`.
pub fn parse_timeouts(tcp: &str, tcp_fin: &str, udp: &str) -> Result<Timeouts, Error> {
    let one = |what: &str, s: &str| parse_number(what, s, 0, MAX_TIMEOUT);
    Ok(Timeouts {
        tcp: one("tcp timeout", tcp)?,
        tcp_fin: one("tcpfin timeout", tcp_fin)?,
        udp: one("udp timeout", udp)?,
    })
}

/// Runs `timeout ...`; returns what to print.
pub fn run<K: Kernel>(
    k: &mut K,
    command: &TimeoutCommand,
    format: Format,
) -> Result<String, Error> {
    match command {
        TimeoutCommand::Get => render(&TimeoutsView::from(&ops::timeouts(k)?), format),
        TimeoutCommand::Set { tcp, tcp_fin, udp } => {
            let t = parse_timeouts(tcp, tcp_fin, udp)?;
            ops::set_timeouts(k, &t)?;
            Ok(String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;

    #[test]
    fn set_then_get() {
        let mut k = FakeKernel::default();
        let set = TimeoutCommand::Set {
            tcp: "60".into(),
            tcp_fin: "0".into(),
            udp: "30".into(),
        };
        assert_eq!(run(&mut k, &set, Format::Human).unwrap(), "");
        assert_eq!(
            run(&mut k, &TimeoutCommand::Get, Format::Human).unwrap(),
            "Timeout (tcp tcpfin udp): 60 120 30\n"
        );
        assert_eq!(
            run(&mut k, &TimeoutCommand::Get, Format::Json).unwrap(),
            "{\"tcp\":60,\"tcp_fin\":120,\"udp\":30}\n"
        );
    }

    #[test]
    fn bad_values_name_the_timeout() {
        assert_eq!(
            parse_timeouts("1", "-1", "2").unwrap_err().to_string(),
            "invalid tcpfin timeout \"-1\": must be 0..2678400"
        );
        assert_eq!(
            parse_timeouts("1", "1", "2678401").unwrap_err().to_string(),
            "invalid udp timeout \"2678401\": must be 0..2678400"
        );
        assert_eq!(
            parse_timeouts("x", "1", "1").unwrap_err().to_string(),
            "invalid tcp timeout \"x\": must be 0..2678400"
        );
    }
}
