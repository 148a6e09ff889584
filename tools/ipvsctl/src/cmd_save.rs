// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl save` and `ipvsctl restore`: the table as `ipvsadm -S -n`
//! rules, and back; with ipvs_rs, its extensions too (`--toa`,
//! `--fullnat`, `-P` local addresses: see `savefile`).

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use ipvs_core::netlink::ext::SvcExtSet;
use ipvs_core::netlink::service::ServiceConfReq;
use ipvs_core::service::{FlagsUpdate, FwdMethod};

use crate::client::Kernel;
use crate::error::Error;
use crate::listing::{Columns, TableView};
use crate::ops;
use crate::output::{render, Format};
use crate::savefile::{self, Line, Rule};

/// `ipvsctl restore`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct RestoreArgs {
    /// Read the rules from FILE instead of standard input (`-` is
    /// standard input).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Delete every service first (once the whole input has been
    /// checked).
    #[arg(long)]
    pub flush: bool,
}

/// `ipvsctl save`: the table as `ipvsadm -S -n` prints it (plus ipvs_rs's
/// extensions, if any); with `--json`, as `service list --json` shows it.
pub fn save<K: Kernel>(k: &mut K, format: Format) -> Result<String, Error> {
    let entries = ops::services(k)?;
    match format {
        Format::Human => Ok(savefile::print(&entries)),
        Format::Json => render(
            &TableView::new(entries, None, Columns::Default, false),
            format,
        ),
    }
}

/// The input of `restore`.
pub fn read_input(args: &RestoreArgs) -> Result<String, Error> {
    let (context, result) = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            (path.display().to_string(), std::fs::read_to_string(path))
        }
        _ => {
            let mut s = String::new();
            (
                "standard input".to_owned(),
                std::io::stdin().lock().read_to_string(&mut s).map(|_| s),
            )
        }
    };
    result.map_err(|e| Error::Input {
        context,
        message: e.to_string(),
    })
}

/// What a rule needs ipvs_rs's `IPVS_RS` family for, if anything.
fn needs_ext(rule: &Rule) -> Option<&'static str> {
    match rule {
        Rule::Service { toa: true, .. } => Some("--toa"),
        Rule::Service { synproxy: true, .. } => Some("--synproxy"),
        Rule::Service { proxy, .. } if proxy.is_on() => Some("--proxy-protocol"),
        Rule::Laddr { .. } => Some("a local address (-P)"),
        Rule::Dest { conf, .. } if conf.fwd == FwdMethod::FullNat => {
            Some("FULLNAT forwarding (--fullnat)")
        }
        _ => None,
    }
}

/// Fails, naming the first line that needs it, if the input uses ipvs_rs's
/// extensions and the `IPVS_RS` family is not there.
fn check_ext<K: Kernel>(k: &mut K, lines: &[Line]) -> Result<(), Error> {
    let Some((line, what)) = lines
        .iter()
        .find_map(|l| needs_ext(&l.rule).map(|what| (l.number, what)))
    else {
        return Ok(());
    };
    if k.has_ext()? {
        Ok(())
    } else {
        Err(Error::ExtMissing { what: what.into() }.at_line(line, None))
    }
}

/// Sends one rule.
fn apply<K: Kernel>(k: &mut K, rule: &Rule) -> Result<(), Error> {
    match rule {
        Rule::Service {
            key,
            conf,
            toa,
            synproxy,
            proxy,
        } => {
            let req = ServiceConfReq {
                sched: conf.sched,
                pe: conf.pe,
                flags: FlagsUpdate {
                    flags: conf.flags,
                    mask: !0,
                },
                timeout: conf.timeout,
                netmask: conf.netmask,
            };
            ops::add_service(k, key, &req)?;
            let set = SvcExtSet {
                toa: toa.then_some(true),
                synproxy: synproxy.then_some(true),
                proxy: proxy.is_on().then_some(*proxy),
            };
            if !set.is_empty() {
                ops::set_svc_ext(k, key, &set)?;
            }
            Ok(())
        }
        Rule::Laddr { service, addr } => ops::add_laddr(k, service, addr),
        Rule::Dest { service, key, conf } => ops::add_dest(k, service, key, conf),
    }
}

/// `ipvsctl restore`: checks every line of `input` (and that the kernel
/// has ipvs_rs's extensions if a line uses them), then (after a flush if
/// asked) applies them in order, stopping at the first the kernel
/// refuses.
pub fn restore<K: Kernel>(k: &mut K, args: &RestoreArgs, input: &str) -> Result<String, Error> {
    let lines = savefile::parse(input)?;
    check_ext(k, &lines)?;
    if args.flush {
        ops::flush(k)?;
    }
    for (applied, line) in lines.iter().enumerate() {
        apply(k, &line.rule).map_err(|e| e.at_line(line.number, Some(applied)))?;
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use ipvs_core::netlink::ipvs::cmd;

    /// A table with every feature the kernel model accepts (ipvs_rs has no
    /// persistence engines, so no --pe).
    const RULES: &str = "\
-A -t 10.0.1.100:80 -s rr -p 600 -M 255.255.255.0
-a -t 10.0.1.100:80 -r 10.0.2.11:80 -m -w 1
-a -t 10.0.1.100:80 -r 10.0.2.12:8080 -m -w 3 -x 100 -y 10
-a -t 10.0.1.100:80 -r 10.0.2.13:80 -g -w 0
-a -t 10.0.1.100:80 -r 10.0.2.15:80 -i -w 2 --tun-type gre --tun-csum
-a -t 10.0.1.100:80 -r [2001:db8::9]:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-A -u 10.0.1.100:0 -s sh -p 30 -o -b sh-fallback,sh-port
-A --sctp-service [2001:db8::1]:9 -s wlc -p 360
-a --sctp-service [2001:db8::1]:9 -r [2001:db8::2]:9 -g -w 1
-A -f 42 -s mh -b mh-port
-a -f 42 -r 10.0.2.20:0 -g -w 1
-a -f 42 -r 10.0.2.21:0 -i -w 1 --tun-type ipip
-A -f 43 -6 -s wrr -p 100 -M 64 -b flag-3
-a -f 43 -6 -r [2001:db8::3]:443 -m -w 7
";

    fn args(flush: bool) -> RestoreArgs {
        RestoreArgs { file: None, flush }
    }

    #[test]
    fn restore_then_save_is_identical() {
        let mut k = FakeKernel::default();
        restore(&mut k, &args(false), RULES).unwrap();
        let saved = save(&mut k, Format::Human).unwrap();
        assert_eq!(saved, RULES);
        let table = ops::services(&mut k).unwrap();
        // Restoring the saved rules into an empty table gives it back.
        let mut k2 = FakeKernel::default();
        restore(&mut k2, &args(false), &saved).unwrap();
        assert_eq!(ops::services(&mut k2).unwrap(), table);
        // ... and so does restoring with --flush over a changed table.
        restore(&mut k, &args(true), "-A -t 10.9.9.9:1 -s rr\n").unwrap();
        restore(&mut k, &args(true), &saved).unwrap();
        assert_eq!(ops::services(&mut k).unwrap(), table);
    }

    #[test]
    fn restore_accepts_unsorted_ipvsadm_input() {
        let input = "\
# Generated by ipvsadm-save
ipvsadm -A -f 42 -s rr
ipvsadm -a -f 42 -r 10.0.2.2 -g
-A --tcp-service=10.0.1.1:80 --scheduler=wlc --persistent
-a --tcp-service 10.0.1.1:80 --real-server 10.0.2.1:8080 --gatewaying -w 2
";
        let mut k = FakeKernel::default();
        restore(&mut k, &args(false), input).unwrap();
        assert_eq!(
            save(&mut k, Format::Human).unwrap(),
            "-A -t 10.0.1.1:80 -s wlc -p 360\n\
             -a -t 10.0.1.1:80 -r 10.0.2.1:80 -g -w 2\n\
             -A -f 42 -s rr\n\
             -a -f 42 -r 10.0.2.2:0 -g -w 1\n"
        );
    }

    #[test]
    fn bad_input_sends_nothing() {
        let mut k = FakeKernel::default();
        let input = "-A -t 10.0.1.1:80\n-a -t 10.0.1.1:80 -r 10.0.2.1 --weight=heavy\n";
        let e = restore(&mut k, &args(true), input).unwrap_err();
        assert_eq!(
            e.to_string(),
            "restore: line 2: invalid weight \"heavy\": must be 0..2147483647 \
             (nothing was applied)"
        );
        assert!(k.log.is_empty(), "{:?}", k.log);
    }

    #[test]
    fn kernel_error_stops_at_its_line() {
        let mut k = FakeKernel::default();
        let input = "\
-A -t 10.0.1.1:80 -s rr

-a -t 10.0.1.1:80 -r 10.0.2.1 -m
-a -t 10.0.1.2:80 -r 10.0.2.1 -m
-A -t 10.0.1.3:80 -s rr
";
        let e = restore(&mut k, &args(false), input).unwrap_err();
        assert_eq!(
            e.to_string(),
            "restore: line 4: IPVS_CMD_NEW_DEST failed: No such process (ESRCH): \
             IPVS_CMD_ATTR_SERVICE: no such service (stopped; the 2 lines before it were \
             applied)"
        );
        assert_eq!(e.errno(), Some(libc::ESRCH));
        assert_eq!(k.services.len(), 1);
        assert_eq!(k.services[0].dests.len(), 1);
        // A persistence engine ipvs_rs does not have.
        let mut k = FakeKernel::default();
        let e = restore(
            &mut k,
            &args(false),
            "-A -u 10.0.1.1:5060 -s rr -p --pe sip\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "restore: line 1: IPVS_CMD_NEW_SERVICE failed: No such file or directory \
             (ENOENT): IPVS_SVC_ATTR_PE_NAME: unknown persistence engine (stopped; nothing \
             was applied)"
        );
        // A failure injected after a flush.
        let mut k = FakeKernel::default();
        k.fail_write = Some(2);
        let e = restore(&mut k, &args(true), "-A -f 1\n-A -f 2\n-A -f 3\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("restore: line 2: IPVS_CMD_NEW_SERVICE failed"));
        assert!(e
            .to_string()
            .ends_with("(stopped; the line before it was applied)"));
        assert_eq!(k.log.first().map(|l| l.0), Some(cmd::FLUSH));
    }

    /// The first example after `heading` in Documentation/ipvsctl.8.
    fn man_example(heading: &str) -> String {
        let man = include_str!("../../../Documentation/ipvsctl.8");
        let start = man
            .find(heading)
            .and_then(|i| man[i..].find(".nf\n").map(|j| i + j + 4))
            .unwrap();
        let end = start + man[start..].find(".fi\n").unwrap();
        man[start..end].replace("\\-", "-")
    }

    /// The examples of Documentation/ipvsctl.8 (SAVE FILE FORMAT).
    #[test]
    fn man_page_example_roundtrips() {
        for heading in [".SH SAVE FILE FORMAT", ".SS \"Extensions (ipvs_rs)\""] {
            let example = man_example(heading);
            assert!(example.starts_with("-A -t 10.0.1.100:80"), "{example}");
            let mut k = FakeKernel::default();
            restore(&mut k, &args(false), &example).unwrap();
            assert_eq!(save(&mut k, Format::Human).unwrap(), example);
        }
    }

    #[test]
    fn save_json_and_empty_table() {
        let mut k = FakeKernel::default();
        assert_eq!(save(&mut k, Format::Human).unwrap(), "");
        assert_eq!(save(&mut k, Format::Json).unwrap(), "{\"services\":[]}\n");
        restore(&mut k, &args(false), "-A -f 7 -s rr\n").unwrap();
        let j: serde_json::Value =
            serde_json::from_str(&save(&mut k, Format::Json).unwrap()).unwrap();
        assert_eq!(j["services"][0]["fwmark"], 7);
    }

    #[test]
    fn input_from_a_file() {
        let dir = std::env::temp_dir().join(format!("ipvsctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rules");
        std::fs::write(&path, "-A -f 9 -s rr\n").unwrap();
        let a = RestoreArgs {
            file: Some(path.clone()),
            flush: false,
        };
        assert_eq!(read_input(&a).unwrap(), "-A -f 9 -s rr\n");
        let missing = RestoreArgs {
            file: Some(dir.join("missing")),
            flush: false,
        };
        let e = read_input(&missing).unwrap_err().to_string();
        assert!(e.starts_with("reading "), "{e}");
        assert!(
            e.ends_with("missing: No such file or directory (os error 2)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// ipvs_rs's extensions: TOA, local addresses, FULLNAT real servers.
    const EXT_RULES: &str = "\
-A -t 10.0.1.100:80 -s rr --toa
-P -t 10.0.1.100:80 -z 10.0.5.1
-P -t 10.0.1.100:80 -z 10.0.5.2
-a -t 10.0.1.100:80 -r 10.0.2.11:8080 --fullnat -w 1
-a -t 10.0.1.100:80 -r 10.0.2.12:8080 --fullnat -w 2
-A -t 10.0.1.100:443 -s wlc
-P -t 10.0.1.100:443 -z 10.0.5.1
-a -t 10.0.1.100:443 -r 10.0.2.11:443 -m -w 1
-A -u 10.0.1.100:53 -s rr
-a -u 10.0.1.100:53 -r 10.0.2.11:53 -g -w 1
";

    #[test]
    fn extensions_round_trip() {
        let mut k = FakeKernel::default();
        restore(&mut k, &args(false), EXT_RULES).unwrap();
        assert!(k.services[0].ext.toa);
        assert_eq!(k.services[0].laddrs.len(), 2);
        assert_eq!(save(&mut k, Format::Human).unwrap(), EXT_RULES);
        // save | flush; restore gives the identical table back.
        let saved = save(&mut k, Format::Human).unwrap();
        let table = ops::services(&mut k).unwrap();
        crate::cmd_table::flush(&mut k).unwrap();
        assert_eq!(save(&mut k, Format::Human).unwrap(), "");
        restore(&mut k, &args(false), &saved).unwrap();
        assert_eq!(save(&mut k, Format::Human).unwrap(), saved);
        assert_eq!(ops::services(&mut k).unwrap(), table);
        // Local addresses are added before the real servers.
        let order: Vec<&str> = saved
            .lines()
            .filter(|l| l.contains("10.0.1.100:80 "))
            .map(|l| &l[..2])
            .collect();
        assert_eq!(order, ["-A", "-P", "-P", "-a", "-a"]);
        // JSON save has them too.
        let j: serde_json::Value =
            serde_json::from_str(&save(&mut k, Format::Json).unwrap()).unwrap();
        assert_eq!(j["services"][0]["toa"], true);
        assert_eq!(j["services"][0]["laddrs"][1]["address"], "10.0.5.2");
        assert_eq!(j["services"][0]["dests"][0]["forward"], "fullnat");
    }

    #[test]
    fn without_the_ipvs_rs_family() {
        // Extension lines: refused before anything is sent, naming the
        // first line that needs ipvs_rs.
        let mut k = FakeKernel::default();
        k.ext = false;
        let e = restore(&mut k, &args(true), EXT_RULES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "restore: line 1: --toa needs ipvs_rs: the IPVS_RS generic netlink family is not \
             registered (upstream ip_vs has no FULLNAT, local addresses or TOA) (nothing was \
             applied)"
        );
        assert_eq!(k.sent(), 0);
        let e = restore(
            &mut k,
            &args(false),
            "-A -t 10.0.1.1:80\n-a -t 10.0.1.1:80 -r 10.0.2.1 --fullnat\n",
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("restore: line 2: FULLNAT forwarding (--fullnat) needs ipvs_rs"));
        // Plain rules restore and save as before, with no extension lines.
        restore(&mut k, &args(false), RULES).unwrap();
        assert_eq!(save(&mut k, Format::Human).unwrap(), RULES);
        assert!(k.ext_log.is_empty());
    }

    #[test]
    fn extension_kernel_errors_stop_at_their_line() {
        let mut k = FakeKernel::default();
        let input = "\
-A -t 10.0.1.1:80 -s rr
-P -t 10.0.1.1:80 -z 10.0.5.1
-P -t 10.0.1.2:80 -z 10.0.5.1
";
        let e = restore(&mut k, &args(false), input).unwrap_err();
        assert_eq!(
            e.to_string(),
            "restore: line 3: IPVS_RS_CMD_NEW_LADDR failed: No such process (ESRCH): \
             IPVS_RS_ATTR_SERVICE: no such service (stopped; the 2 lines before it were \
             applied)"
        );
        assert_eq!(k.services[0].laddrs.len(), 1);
    }
}
