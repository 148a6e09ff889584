// SPDX-License-Identifier: GPL-2.0
//! The text of `/proc/net/ip_vs_conn` and `/proc/net/ip_vs_conn_sync`
//! (`ip_vs_conn_seq_show`, `ip_vs_conn_sync_seq_show`), byte for byte:
//! IPv4 addresses as 8 upper-case hex digits of the host-order value,
//! IPv6 addresses in the kernel's `%pI6` form (8 groups of 4 lower-case
//! hex digits), ports as 4 upper-case hex digits.

use core::fmt::{self, Write};

use super::flags;
use super::key::{ConnTuple, IPPROTO_IP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::addr::{Addr, Af};

/// The first line of `/proc/net/ip_vs_conn`.
pub const CONN_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

/// The first line of `/proc/net/ip_vs_conn_sync`.
pub const CONN_SYNC_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n";

/// Upstream's protocol name (`ip_vs_proto_name`) as a `Display` value:
/// `IP`, `UDP`, `TCP`, `SCTP`, `ICMP`, `ICMPv6`, else `IP_<number>`. It
/// honours width and alignment (`{:<3}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtoName(pub u16);

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            IPPROTO_IP => "IP",
            IPPROTO_UDP => "UDP",
            IPPROTO_TCP => "TCP",
            IPPROTO_SCTP => "SCTP",
            1 => "ICMP",
            58 => "ICMPv6",
            // At least 4 characters: wider than any padding used here.
            n => return write!(f, "IP_{n}"),
        };
        f.pad(name)
    }
}

/// An address as upstream's proc files print it, in family `af`: `%08X`
/// for IPv4, `%pI6` (full form, no brackets) for IPv6.
pub(crate) struct ProcAddr<'a>(pub(crate) Af, pub(crate) &'a Addr);

impl fmt::Display for ProcAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.1.inet();
        match self.0 {
            Af::Inet => {
                let [a0, a1, a2, a3, ..] = b;
                write!(f, "{:08X}", u32::from_be_bytes([a0, a1, a2, a3]))
            }
            Af::Inet6 => {
                for (i, pair) in b.chunks_exact(2).enumerate() {
                    if i != 0 {
                        f.write_char(':')?;
                    }
                    for byte in pair {
                        write!(f, "{byte:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The common part: protocol, client, virtual, real server, state.
fn write_tuple<W: Write>(w: &mut W, c: &ConnTuple, state: &str) -> fmt::Result {
    let af = c.af();
    write!(
        w,
        "{:<3} {} {:04X} {} {:04X} {} {:04X} {:<11}",
        ProtoName(c.protocol),
        ProcAddr(af, &c.caddr),
        c.cport,
        ProcAddr(af, &c.vaddr),
        c.vport,
        ProcAddr(c.daddr.af(), &c.daddr),
        c.dport,
        state,
    )
}

/// One line of `/proc/net/ip_vs_conn` (newline included): `state` is
/// [`super::proto::state_name`] of the connection, `expires_secs` the
/// seconds left on its timer (upstream: `jiffies_delta_to_msecs(expires -
/// jiffies) / 1000`, 0 once due), `pe` the persistence engine's name and
/// its rendering of the connection's data, if it has any.
pub fn write_conn<W: Write>(
    w: &mut W,
    c: &ConnTuple,
    state: &str,
    expires_secs: u32,
    pe: Option<(&str, &str)>,
) -> fmt::Result {
    write_tuple(w, c, state)?;
    write!(w, " {expires_secs:>7}")?;
    if let Some((name, data)) = pe {
        write!(w, " {name} {data}")?;
    }
    w.write_char('\n')
}

/// One line of `/proc/net/ip_vs_conn_sync` (newline included): like
/// [`write_conn`], with the origin (`SYNC` if the connection was created
/// by the sync daemon, else `LOCAL`) before the expiry.
pub fn write_conn_sync<W: Write>(
    w: &mut W,
    c: &ConnTuple,
    state: &str,
    conn_flags: u32,
    expires_secs: u32,
) -> fmt::Result {
    write_tuple(w, c, state)?;
    let origin = if conn_flags & flags::SYNC != 0 {
        "SYNC"
    } else {
        "LOCAL"
    };
    writeln!(w, " {origin:<6} {expires_secs:>7}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(last: u8) -> Addr {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        b[15] = last;
        Addr::v6(b)
    }

    /// Expected lines printed by the kernel's format strings through C's
    /// printf on this host (the `%pI6` strings written out by hand).
    #[test]
    fn lines_match_upstream_format() {
        let mut s = String::new();
        s.push_str(CONN_HEADER);
        let tcp = ConnTuple {
            protocol: IPPROTO_TCP,
            caddr: Addr::v4([198, 51, 100, 7]),
            cport: 40000,
            vaddr: Addr::v4([192, 0, 2, 1]),
            vport: 80,
            daddr: Addr::v4([10, 0, 1, 100]),
            dport: 8080,
        };
        write_conn(&mut s, &tcp, "ESTABLISHED", 899, None).unwrap();
        let tpl = ConnTuple {
            protocol: IPPROTO_IP,
            caddr: Addr::v4([198, 51, 100, 0]),
            cport: 0,
            vaddr: Addr::v4([0, 0, 0, 7]),
            vport: 0,
            daddr: Addr::v4([10, 0, 1, 100]),
            dport: 0,
        };
        write_conn(&mut s, &tpl, "ASSURED", 300, None).unwrap();
        let udp = ConnTuple {
            protocol: IPPROTO_UDP,
            caddr: Addr::v4([10, 0, 0, 1]),
            cport: 53,
            vaddr: Addr::v4([10, 0, 0, 254]),
            vport: 53,
            daddr: v6(1),
            dport: 53,
        };
        write_conn(&mut s, &udp, "UDP", 12, Some(("sip", "abc"))).unwrap();
        let sctp = ConnTuple {
            protocol: IPPROTO_SCTP,
            caddr: v6(0xaa),
            cport: 65535,
            vaddr: v6(1),
            vport: 36412,
            daddr: Addr::v4([10, 0, 1, 100]),
            dport: 36412,
        };
        write_conn(&mut s, &sctp, "C-REPLIED", 61, None).unwrap();
        assert_eq!(
            s,
            "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
             TCP C6336407 9C40 C0000201 0050 0A000164 1F90 ESTABLISHED     899\n\
             IP  C6336400 0000 00000007 0000 0A000164 0000 ASSURED         300\n\
             UDP 0A000001 0035 0A0000FE 0035 2001:0db8:0000:0000:0000:0000:0000:0001 0035 UDP              12 sip abc\n\
             SCTP 2001:0db8:0000:0000:0000:0000:0000:00aa FFFF 2001:0db8:0000:0000:0000:0000:0000:0001 8E3C 0A000164 8E3C C-REPLIED        61\n"
        );

        let mut s = String::new();
        s.push_str(CONN_SYNC_HEADER);
        write_conn_sync(&mut s, &tcp, "SYN_RECV", 0, 59).unwrap();
        write_conn_sync(&mut s, &tcp, "SYN_RECV", flags::SYNC, 1234567).unwrap();
        assert_eq!(
            s,
            "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n\
             TCP C6336407 9C40 C0000201 0050 0A000164 1F90 SYN_RECV    LOCAL       59\n\
             TCP C6336407 9C40 C0000201 0050 0A000164 1F90 SYN_RECV    SYNC   1234567\n"
        );
    }

    #[test]
    fn proto_names() {
        assert_eq!(format!("{:<3}|", ProtoName(0)), "IP |");
        assert_eq!(format!("{:<3}|", ProtoName(1)), "ICMP|");
        assert_eq!(format!("{:<3}|", ProtoName(58)), "ICMPv6|");
        assert_eq!(format!("{:<3}|", ProtoName(50)), "IP_50|");
    }

    /// A fixed-size writer fails cleanly when the line does not fit.
    #[test]
    fn short_buffer_errors() {
        struct Buf<'a>(&'a mut [u8], usize);
        impl Write for Buf<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                let dst = self.0.get_mut(self.1..end).ok_or(fmt::Error)?;
                dst.copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let c = ConnTuple {
            protocol: IPPROTO_TCP,
            caddr: Addr::v4([1, 2, 3, 4]),
            cport: 1,
            vaddr: Addr::v4([1, 2, 3, 5]),
            vport: 2,
            daddr: Addr::v4([1, 2, 3, 6]),
            dport: 3,
        };
        let mut small = [0u8; 20];
        assert!(write_conn(&mut Buf(&mut small, 0), &c, "NONE", 1, None).is_err());
        let mut big = [0u8; 128];
        let mut b = Buf(&mut big, 0);
        write_conn(&mut b, &c, "NONE", 1, None).unwrap();
        let n = b.1;
        assert_eq!(
            core::str::from_utf8(&big[..n]).unwrap(),
            "TCP 01020304 0001 01020305 0002 01020306 0003 NONE              1\n"
        );
    }
}
