// SPDX-License-Identifier: GPL-2.0
//! `ipvsctl conn list`: the director's connections, read from
//! `/proc/net/ip_vs_conn`.
//!
//! The file is in upstream IPVS's format (`ip_vs_conn_seq_show`): a header
//! line, then one line per connection with the protocol name, the client,
//! virtual and real server addresses and ports, the state, the seconds
//! left, and optionally the persistence engine's name and data:
//!
//! ```text
//! Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//! TCP 0A000102 E3A6 0A000164 0050 0A00020B 0050 TIME_WAIT       115
//! ```
//!
//! IPv4 addresses are 8 upper-case hex digits of the host-order value,
//! IPv6 ones the kernel's `%pI6` (8 groups of 4 hex digits; brackets are
//! accepted too), ports 4 hex digits. The real server may be of another
//! family than the client and virtual address.

use std::fmt::Write as _;
use std::io;
use std::net::Ipv6Addr;
use std::path::Path;

use clap::Subcommand;
use ipvs_core::addr::Addr;
use serde::Serialize;

use crate::error::Error;
use crate::output::{render, Format, Render};
use crate::values::fmt_addr_port;

/// Where the kernel module lists its connections.
pub const CONN_PROC_PATH: &str = "/proc/net/ip_vs_conn";

/// `ipvsctl conn ...`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum ConnCommand {
    /// List the connections (`ipvsadm -L -n -c`).
    #[command(visible_alias = "ls")]
    List,
}

/// One connection, as parsed from a line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// The kernel's protocol name: `TCP`, `UDP`, `SCTP`, `IP`, ...
    pub protocol: String,
    /// Client address and port.
    pub client: (Addr, u16),
    /// Virtual address and port.
    pub virt: (Addr, u16),
    /// Real server address and port.
    pub real: (Addr, u16),
    /// State name, e.g. `ESTABLISHED`.
    pub state: String,
    /// Seconds left on the connection's timer.
    pub expires_secs: u32,
    /// Persistence engine name and data, if the connection has PE data.
    pub pe: Option<(String, String)>,
}

/// An IPv4 address as `%08X` or an IPv6 one as `%pI6` (optionally in
/// brackets).
fn parse_addr(s: &str) -> Option<Addr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if inner.contains(':') {
        inner.parse::<Ipv6Addr>().ok().map(|a| Addr::v6(a.octets()))
    } else if inner.len() == 8 && inner.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(inner, 16)
            .ok()
            .map(|v| Addr::v4(v.to_be_bytes()))
    } else {
        None
    }
}

/// A port as 1 to 4 hex digits.
fn parse_port(s: &str) -> Option<u16> {
    if (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u16::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// One connection line (without its number); the error says what is wrong.
fn parse_line(line: &str) -> Result<Conn, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [proto, caddr, cport, vaddr, vport, daddr, dport, state, expires, rest @ ..] =
        fields.as_slice()
    else {
        return Err(format!(
            "expected at least 9 fields, found {}",
            fields.len()
        ));
    };
    let endpoint = |what: &str, a: &str, p: &str| -> Result<(Addr, u16), String> {
        let addr = parse_addr(a).ok_or_else(|| format!("bad {what} address {a:?}"))?;
        let port = parse_port(p).ok_or_else(|| format!("bad {what} port {p:?}"))?;
        Ok((addr, port))
    };
    let client = endpoint("client", caddr, cport)?;
    let virt = endpoint("virtual", vaddr, vport)?;
    let real = endpoint("real server", daddr, dport)?;
    let expires_secs = Some(*expires)
        .filter(|e| e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse::<u32>().ok())
        .ok_or_else(|| format!("bad expiry {expires:?}"))?;
    let pe = match rest {
        [] => None,
        [name, data @ ..] => Some(((*name).to_owned(), data.join(" "))),
    };
    Ok(Conn {
        protocol: (*proto).to_owned(),
        client,
        virt,
        real,
        state: (*state).to_owned(),
        expires_secs,
        pe,
    })
}

/// The connections in the text of `/proc/net/ip_vs_conn` (`path` names it
/// in errors). An empty text has none; otherwise the first line must be
/// the header.
pub fn parse_conn_table(path: &str, text: &str) -> Result<Vec<Conn>, Error> {
    let bad = |line: usize, reason: String| Error::ProcFormat {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut conns = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if n == 1 {
            if !line.starts_with("Pro ") {
                return Err(bad(n, format!("unexpected header {line:?}")));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        conns.push(parse_line(line).map_err(|reason| bad(n, reason))?);
    }
    Ok(conns)
}

/// Reads and parses the connection file at `path`.
pub fn read_conn_table(path: &Path) -> Result<Vec<Conn>, Error> {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::ProcMissing(name)),
        Err(e) => {
            return Err(Error::Input {
                context: name,
                message: e.to_string(),
            })
        }
    };
    // PE data is whatever the engine wrote (SIP Call-IDs): not always UTF-8.
    parse_conn_table(&name, &String::from_utf8_lossy(&bytes))
}

/// A connection, for JSON and text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnView {
    /// The protocol in lower case: `tcp`, `udp`, `sctp`, ...
    pub protocol: String,
    /// Client `ADDRESS:PORT` (`[ADDRESS]:PORT` for IPv6).
    pub client: String,
    /// Virtual `ADDRESS:PORT`.
    #[serde(rename = "virtual")]
    pub virtual_: String,
    /// Real server `ADDRESS:PORT`.
    pub real_server: String,
    /// State name.
    pub state: String,
    /// Seconds left.
    pub expires_secs: u32,
    /// The kernel's spelling of the protocol, for the text.
    #[serde(skip)]
    pub proto_name: String,
}

impl From<&Conn> for ConnView {
    fn from(c: &Conn) -> Self {
        ConnView {
            protocol: c.protocol.to_ascii_lowercase(),
            client: fmt_addr_port(&c.client.0, c.client.1),
            virtual_: fmt_addr_port(&c.virt.0, c.virt.1),
            real_server: fmt_addr_port(&c.real.0, c.real.1),
            state: c.state.clone(),
            expires_secs: c.expires_secs,
            proto_name: c.protocol.clone(),
        }
    }
}

/// `ipvsctl conn list`: a JSON array, or `ipvsadm -L -n -c`'s table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ConnListView(pub Vec<ConnView>);

impl Render for ConnListView {
    fn human(&self) -> String {
        let mut out = String::from("IPVS connection entries\n");
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
        for c in &self.0 {
            let expire = format!("{:02}:{:02}", c.expires_secs / 60, c.expires_secs % 60);
            let _ = writeln!(
                out,
                "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
                c.proto_name, expire, c.state, c.client, c.virtual_, c.real_server
            );
        }
        out
    }
}

/// Renders the connections `conns` in `format`.
pub fn list_view(conns: &[Conn], format: Format) -> Result<String, Error> {
    render(
        &ConnListView(conns.iter().map(ConnView::from).collect()),
        format,
    )
}

/// Runs `conn ...`; returns what to print.
pub fn run(command: &ConnCommand, format: Format) -> Result<String, Error> {
    match command {
        ConnCommand::List => list_view(&read_conn_table(Path::new(CONN_PROC_PATH))?, format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

    fn sample() -> String {
        let mut s = String::from(HEADER);
        s.push_str("TCP 0A000102 E3A6 0A000164 0050 0A00020B 0050 TIME_WAIT       115\n");
        s.push_str(
            "UDP 2001:0db8:0000:0000:0000:0000:0000:0007 9C40 \
             2001:0db8:0000:0000:0000:0000:0000:0001 0035 \
             2001:0db8:0000:0000:0000:0000:0000:000b 0035 UDP             298\n",
        );
        s.push_str(
            "UDP [2001:0db8:0000:0000:0000:0000:0000:0007] 13C4 \
             [2001:0db8:0000:0000:0000:0000:0000:0001] 13C4 0A00020C 13C4 \
             UDP            3725 sip abc@10.0.0.2\n",
        );
        s
    }

    fn parse(text: &str) -> Result<Vec<Conn>, Error> {
        parse_conn_table(CONN_PROC_PATH, text)
    }

    #[test]
    fn parses_ipv4_ipv6_and_pe_lines() {
        let conns = parse(&sample()).unwrap();
        assert_eq!(conns.len(), 3);
        let c = &conns[0];
        assert_eq!(c.protocol, "TCP");
        assert_eq!(c.client, (Addr::v4([10, 0, 1, 2]), 0xE3A6));
        assert_eq!(c.virt, (Addr::v4([10, 0, 1, 100]), 80));
        assert_eq!(c.real, (Addr::v4([10, 0, 2, 11]), 80));
        assert_eq!((c.state.as_str(), c.expires_secs), ("TIME_WAIT", 115));
        assert_eq!(c.pe, None);

        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 7;
        let c = &conns[1];
        assert_eq!(c.client, (Addr::v6(v6), 40000));
        assert_eq!(c.real.1, 53);
        assert_eq!((c.state.as_str(), c.expires_secs), ("UDP", 298));

        let c = &conns[2];
        assert_eq!(c.client, (Addr::v6(v6), 5060));
        assert_eq!(c.real, (Addr::v4([10, 0, 2, 12]), 5060));
        assert_eq!(c.expires_secs, 3725);
        assert_eq!(c.pe, Some(("sip".into(), "abc@10.0.0.2".into())));
    }

    /// What the module's own formatter writes parses back to the same
    /// connection.
    #[test]
    fn round_trips_the_module_format() {
        use ipvs_core::conn::key::{ConnTuple, IPPROTO_TCP, IPPROTO_UDP};
        use ipvs_core::conn::procfmt::{write_conn, CONN_HEADER};
        let mut v6 = [0u8; 16];
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6[15] = 0xab;
        let tuples = [
            ConnTuple {
                protocol: IPPROTO_TCP,
                caddr: Addr::v4([198, 51, 100, 7]),
                cport: 40000,
                vaddr: Addr::v4([192, 0, 2, 1]),
                vport: 80,
                daddr: Addr::v4([10, 0, 1, 100]),
                dport: 8080,
            },
            ConnTuple {
                protocol: IPPROTO_UDP,
                caddr: Addr::v6(v6),
                cport: 5060,
                vaddr: Addr::v6(v6),
                vport: 5060,
                daddr: Addr::v4([10, 0, 2, 1]),
                dport: 5060,
            },
        ];
        let mut text = String::from(CONN_HEADER);
        write_conn(&mut text, &tuples[0], "ESTABLISHED", 899, None).unwrap();
        write_conn(&mut text, &tuples[1], "UDP", 7, Some(("sip", "call-1"))).unwrap();
        let conns = parse(&text).unwrap();
        assert_eq!(conns.len(), 2);
        for (c, t) in conns.iter().zip(&tuples) {
            assert_eq!(c.client, (t.caddr, t.cport));
            assert_eq!(c.virt, (t.vaddr, t.vport));
            assert_eq!(c.real, (t.daddr, t.dport));
        }
        assert_eq!(conns[0].protocol, "TCP");
        assert_eq!(
            (conns[0].state.as_str(), conns[0].expires_secs),
            ("ESTABLISHED", 899)
        );
        assert_eq!(conns[1].pe, Some(("sip".into(), "call-1".into())));
    }

    #[test]
    fn empty_and_header_only() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse(HEADER).unwrap().is_empty());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let err = |text: String| parse(&text).unwrap_err().to_string();
        let with = |line: &str| {
            format!(
                "{HEADER}TCP 0A000102 E3A6 0A000164 0050 0A00020B 0050 ESTABLISHED 10\n{line}\n"
            )
        };
        assert_eq!(
            err(with("TCP 0A000102 E3A6 0A000164")),
            "/proc/net/ip_vs_conn: line 3: expected at least 9 fields, found 4"
        );
        assert_eq!(
            err(with("TCP 0A0001 E3A6 0A000164 0050 0A00020B 0050 NONE 1")),
            "/proc/net/ip_vs_conn: line 3: bad client address \"0A0001\""
        );
        assert_eq!(
            err(with("TCP 0A000102 E3A6 0A000164 +050 0A00020B 0050 NONE 1")),
            "/proc/net/ip_vs_conn: line 3: bad virtual port \"+050\""
        );
        assert_eq!(
            err(with(
                "TCP 0A000102 E3A6 0A000164 0050 2001:db8::zz 0050 NONE 1"
            )),
            "/proc/net/ip_vs_conn: line 3: bad real server address \"2001:db8::zz\""
        );
        assert_eq!(
            err(with(
                "TCP 0A000102 E3A6 0A000164 0050 0A00020B 0050 NONE -1"
            )),
            "/proc/net/ip_vs_conn: line 3: bad expiry \"-1\""
        );
        assert_eq!(
            err("garbage\n".into()),
            "/proc/net/ip_vs_conn: line 1: unexpected header \"garbage\""
        );
    }

    #[test]
    fn human_table_like_ipvsadm() {
        let conns = parse(&sample()).unwrap();
        assert_eq!(
            list_view(&conns, Format::Human).unwrap(),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             TCP 01:55  TIME_WAIT   10.0.1.2:58278     10.0.1.100:80      10.0.2.11:80\n\
             UDP 04:58  UDP         [2001:db8::7]:40000 [2001:db8::1]:53   [2001:db8::b]:53\n\
             UDP 62:05  UDP         [2001:db8::7]:5060 [2001:db8::1]:5060 10.0.2.12:5060\n"
        );
        assert_eq!(
            list_view(&[], Format::Human).unwrap(),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n"
        );
    }

    #[test]
    fn json_array() {
        let conns = parse(&sample()).unwrap();
        let json = list_view(&conns[..1], Format::Json).unwrap();
        assert_eq!(
            json,
            "[{\"protocol\":\"tcp\",\"client\":\"10.0.1.2:58278\",\
             \"virtual\":\"10.0.1.100:80\",\"real_server\":\"10.0.2.11:80\",\
             \"state\":\"TIME_WAIT\",\"expires_secs\":115}]\n"
        );
        let j: serde_json::Value =
            serde_json::from_str(&list_view(&conns, Format::Json).unwrap()).unwrap();
        assert_eq!(j[1]["client"], "[2001:db8::7]:40000");
        assert_eq!(j[2]["real_server"], "10.0.2.12:5060");
        assert_eq!(list_view(&[], Format::Json).unwrap(), "[]\n");
    }

    #[test]
    fn missing_file_says_load_the_module() {
        let e = read_conn_table(Path::new("/nonexistent/ip_vs_conn")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/ip_vs_conn not found: is ipvs_rs loaded?"
        );
        assert_eq!(
            Error::ProcMissing(CONN_PROC_PATH.into()).to_string(),
            "/proc/net/ip_vs_conn not found: is ipvs_rs loaded?"
        );
    }

    #[test]
    fn reads_a_file() {
        let dir = std::env::temp_dir().join(format!("ipvsctl-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ip_vs_conn");
        std::fs::write(&path, sample()).unwrap();
        let conns = read_conn_table(&path);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(conns.unwrap().len(), 3);
    }
}
