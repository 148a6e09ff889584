// SPDX-License-Identifier: GPL-2.0
//! genlfuzz: a generic netlink fuzzer for ipvs_rs's control plane (the
//! `IPVS` and `IPVS_RS` families). See `selftests/test_genl_fuzz.sh` and
//! Documentation/testing.rst.
//!
//! ```text
//! genlfuzz fuzz   [--seed S] [--count N] [--record FILE] [--unpriv]
//! genlfuzz replay FILE
//! genlfuzz model  [--seed S] [--count N] [--check-every K]
//! genlfuzz table
//! ```
//!
//! `fuzz` sends N random, mostly mutated requests and records those the
//! kernel accepted; `replay` sends a recording to another namespace;
//! `model` runs requests whose outcome a model of the table knows and
//! compares the kernel's table with it; `table` prints the table as both
//! families report it. The seed is printed; the same seed sends the same
//! requests. Exit status 0 when every check held, 1 otherwise.

mod fuzz;
mod gen;
mod model;
mod mutate;
mod nl;
mod rng;
mod table;

use std::process::ExitCode;

use gen::Fams;
use nl::Sock;

fn usage() -> ExitCode {
    eprintln!(
        "usage: genlfuzz fuzz [--seed S] [--count N] [--record FILE] [--unpriv]\n\
         \x20      genlfuzz replay FILE\n\
         \x20      genlfuzz model [--seed S] [--count N] [--check-every K]\n\
         \x20      genlfuzz table"
    );
    ExitCode::from(2)
}

struct Opts {
    seed: u64,
    count: u64,
    record: Option<String>,
    unpriv: bool,
    check_every: u64,
    file: Option<String>,
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse(args: &[String]) -> Option<Opts> {
    let mut o = Opts {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        count: 10_000,
        record: None,
        unpriv: false,
        check_every: 250,
        file: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => o.seed = parse_num(it.next()?)?,
            "--count" => o.count = parse_num(it.next()?)?,
            "--check-every" => o.check_every = parse_num(it.next()?)?.max(1),
            "--record" => o.record = Some(it.next()?.clone()),
            "--unpriv" => o.unpriv = true,
            f if !f.starts_with('-') && o.file.is_none() => o.file = Some(f.to_string()),
            _ => return None,
        }
    }
    Some(o)
}

fn families(sock: &mut Sock) -> std::io::Result<Option<Fams>> {
    let Some(ipvs) = sock.family(ipvs_core::netlink::ipvs::GENL_NAME)? else {
        return Ok(None);
    };
    let ext = sock.family(ipvs_core::netlink::ext::GENL_NAME)?;
    Ok(Some(Fams { ipvs, ext }))
}

fn run(cmd: &str, o: &Opts) -> std::io::Result<bool> {
    let mut sock = Sock::open()?;
    let Some(fams) = families(&mut sock)? else {
        eprintln!("genlfuzz: generic netlink family IPVS is not registered");
        return Ok(false);
    };
    let start = std::time::Instant::now();
    let ok = dispatch(cmd, o, &mut sock, &fams)?;
    let secs = start.elapsed().as_secs_f64();
    if cmd != "table" {
        eprintln!("genlfuzz {cmd}: {secs:.1} s");
    }
    Ok(ok)
}

fn dispatch(cmd: &str, o: &Opts, sock: &mut Sock, fams: &Fams) -> std::io::Result<bool> {
    match cmd {
        "fuzz" => {
            let who = if o.unpriv {
                "unprivileged"
            } else {
                "privileged"
            };
            println!("genlfuzz fuzz: seed {:#x} count {} {who}", o.seed, o.count);
            let (st, rec) = fuzz::run(sock, fams, o.seed, o.count, o.unpriv)?;
            let errnos: Vec<String> = st.errnos.iter().map(|(e, n)| format!("{e}:{n}")).collect();
            println!(
                "genlfuzz fuzz: sent {} accepted {} rejected {} dumps {} mutated {} errnos {}",
                st.sent,
                st.accepted,
                st.rejected,
                st.dumps,
                st.mutated,
                errnos.join(",")
            );
            if let Some(path) = &o.record {
                let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
                rec.save(&mut f)?;
            }
            for f in &st.failures {
                println!("genlfuzz fuzz: FAIL: {f}");
            }
            if st.failed > 0 {
                println!(
                    "genlfuzz fuzz: {} check failures (seed {:#x})",
                    st.failed, o.seed
                );
            }
            Ok(st.failed == 0)
        }
        "replay" => {
            let Some(path) = &o.file else {
                return Ok(false);
            };
            let rec = fuzz::Recording::load(&mut std::fs::File::open(path)?)?;
            match fuzz::replay(sock, fams, &rec)? {
                Ok(n) => {
                    println!("genlfuzz replay: {n} requests accepted again");
                    Ok(true)
                }
                Err(e) => {
                    println!("genlfuzz replay: FAIL: {e}");
                    Ok(false)
                }
            }
        }
        "model" => {
            println!("genlfuzz model: seed {:#x} count {}", o.seed, o.count);
            match model::run(sock, fams, o.seed, o.count, o.check_every)? {
                Ok(st) => {
                    println!(
                        "genlfuzz model: sent {} valid {} (all accepted) invalid {} (all rejected) table checks {}",
                        st.sent, st.valid, st.invalid, st.compared
                    );
                    Ok(true)
                }
                Err(e) => {
                    println!("genlfuzz model: FAIL (seed {:#x}): {e}", o.seed);
                    Ok(false)
                }
            }
        }
        "table" => {
            print!("{}", table::read(sock, fams)?.render());
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        return usage();
    };
    if !matches!(cmd.as_str(), "fuzz" | "replay" | "model" | "table") {
        return usage();
    }
    let Some(o) = parse(rest) else {
        return usage();
    };
    match run(cmd, &o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("genlfuzz {cmd}: {e}");
            ExitCode::from(1)
        }
    }
}
