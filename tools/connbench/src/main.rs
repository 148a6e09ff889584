// SPDX-License-Identifier: GPL-2.0
//! `connbench`: new TCP connections per second, for `make bench`.
//!
//! ```text
//! connbench server ADDR:PORT [THREADS]
//! connbench client ADDR:PORT THREADS SECONDS
//! ```
//!
//! The server accepts connections on THREADS threads (default 2), writes
//! one byte and closes each at once. The client runs THREADS threads, each
//! in a loop for SECONDS: connect, read until the server closes, check
//! that exactly the one byte arrived, close. It prints one line:
//!
//! ```text
//! connections 12345 errors 0 seconds 3.001 conns_per_sec 4113.6
//! ```
//!
//! Only complete exchanges count: a connection that fails, times out or
//! returns anything but the one byte counts as an error. The exit status is
//! 1 if no connection completed. Standard library only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What the server sends on every connection.
const GREETING: &[u8] = b"x";

/// Connect and read timeout of the client.
const TIMEOUT: Duration = Duration::from_secs(2);

const USAGE: &str = "usage: connbench server ADDR:PORT [THREADS]\n       connbench client ADDR:PORT THREADS SECONDS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("connbench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mode = args.first().ok_or(USAGE)?;
    let addr: SocketAddr = args
        .get(1)
        .ok_or(USAGE)?
        .parse()
        .map_err(|e| format!("bad address: {e}"))?;
    match mode.as_str() {
        "server" => {
            let threads = number(args.get(2).map(String::as_str).unwrap_or("2"))?;
            server(addr, threads)?;
            Ok(ExitCode::SUCCESS)
        }
        "client" => {
            let threads = number(args.get(2).ok_or(USAGE)?)?;
            let seconds = number(args.get(3).ok_or(USAGE)?)?;
            client(addr, threads, Duration::from_secs(seconds))
        }
        _ => Err(USAGE.to_string()),
    }
}

fn number(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("not a positive number: {s}")),
    }
}

/// Accepts, greets and closes, forever, on `threads` threads.
fn server(addr: SocketAddr, threads: u64) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let mut handles = Vec::new();
    for _ in 0..threads {
        let l = listener.try_clone().map_err(|e| format!("listener: {e}"))?;
        handles.push(thread::spawn(move || loop {
            if let Ok((mut s, _)) = l.accept() {
                // A client that went away is its own problem.
                let _ = s.write_all(GREETING);
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// One complete exchange: connect, read the greeting until EOF, close.
fn exchange(addr: &SocketAddr) -> std::io::Result<bool> {
    let mut s = TcpStream::connect_timeout(addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let mut got = Vec::with_capacity(GREETING.len());
    s.read_to_end(&mut got)?;
    Ok(got == GREETING)
}

/// Connect loops on `threads` threads for `dur`; prints the rate.
fn client(addr: SocketAddr, threads: u64, dur: Duration) -> Result<ExitCode, String> {
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + dur;
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (ok, errors) = (ok.clone(), errors.clone());
        handles.push(thread::spawn(move || {
            while Instant::now() < deadline {
                match exchange(&addr) {
                    Ok(true) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for h in handles {
        h.join()
            .map_err(|_| "a client thread panicked".to_string())?;
    }
    let secs = start.elapsed().as_secs_f64();
    let (n, e) = (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    // Connections completed after the deadline still count: divide by the
    // time actually taken.
    println!(
        "connections {n} errors {e} seconds {secs:.3} conns_per_sec {:.1}",
        n as f64 / secs
    );
    Ok(if n > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
