// SPDX-License-Identifier: GPL-2.0
//! The text of `/proc/net/ip_vs`, `/proc/net/ip_vs_stats` and the header of
//! `/proc/net/ip_vs_conn`, byte for byte as upstream prints them
//! (`ip_vs_info_seq_show`, `ip_vs_stats_show`, `ip_vs_conn_seq_show`), so
//! tools that parse them keep working.

use crate::addr::{Addr, Af};
use crate::conn::procfmt::ProcAddr;
use crate::service::{svc_flags, DestConf, DestKey, ServiceConf, ServiceKey};
use crate::stats::Stats;
use crate::version::version_triple;
use core::fmt::{self, Write};

/// An address as `/proc/net/ip_vs` prints it: `%08X`, or `[%pI6]`.
struct HexAddr<'a>(&'a Addr);

impl fmt::Display for HexAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let af = self.0.af();
        match af {
            Af::Inet => write!(f, "{}", ProcAddr(af, self.0)),
            Af::Inet6 => write!(f, "[{}]", ProcAddr(af, self.0)),
        }
    }
}

/// The header of `/proc/net/ip_vs`.
pub fn ip_vs_header(w: &mut impl Write, version: u32, conn_tab_size: u32) -> fmt::Result {
    let (a, b, c) = version_triple(version);
    writeln!(
        w,
        "IP Virtual Server version {a}.{b}.{c} (size={conn_tab_size})"
    )?;
    w.write_str("Prot LocalAddress:Port Scheduler Flags\n")?;
    w.write_str("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")
}

/// One service line of `/proc/net/ip_vs`; `hz` converts the persistence
/// timeout to jiffies, which is what upstream prints.
pub fn ip_vs_service(
    w: &mut impl Write,
    key: &ServiceKey,
    conf: &ServiceConf,
    hz: u32,
) -> fmt::Result {
    let sched = conf.sched.as_str();
    let ops = if conf.flags & svc_flags::ONEPACKET != 0 {
        "ops "
    } else {
        ""
    };
    match key {
        ServiceKey::Addr { proto, addr, port } => match addr.af() {
            Af::Inet => write!(
                w,
                "{}  {}:{:04X} {} {} ",
                proto.name(),
                HexAddr(addr),
                port,
                sched,
                ops
            )?,
            // Upstream omits the onepacket marker for IPv6.
            Af::Inet6 => write!(
                w,
                "{}  {}:{:04X} {} ",
                proto.name(),
                HexAddr(addr),
                port,
                sched
            )?,
        },
        ServiceKey::Fwmark { mark, .. } => write!(w, "FWM  {mark:08X} {sched} {ops}")?,
    }
    if conf.flags & svc_flags::PERSISTENT != 0 {
        let mask = u32::from_be_bytes(conf.netmask.to_ne_bytes());
        // %d of an int: the jiffies value as a signed 32-bit number.
        let jiffies = conf.timeout.wrapping_mul(hz) as i32;
        writeln!(w, "persistent {jiffies} {mask:08X}")
    } else {
        w.write_str("\n")
    }
}

/// One real-server line of `/proc/net/ip_vs`.
pub fn ip_vs_dest(
    w: &mut impl Write,
    key: &DestKey,
    conf: &DestConf,
    active: u32,
    inactive: u32,
) -> fmt::Result {
    writeln!(
        w,
        "  -> {}:{:04X}      {:<7} {:<6} {:<10} {:<10}",
        HexAddr(&key.addr),
        key.port,
        conf.fwd.name(),
        conf.weight,
        active as i32,
        inactive as i32
    )
}

/// `/proc/net/ip_vs_stats`.
pub fn ip_vs_stats(w: &mut impl Write, s: &Stats) -> fmt::Result {
    w.write_str("   Total Incoming Outgoing         Incoming         Outgoing\n")?;
    w.write_str("   Conns  Packets  Packets            Bytes            Bytes\n")?;
    writeln!(
        w,
        "{:8X} {:8X} {:8X} {:16X} {:16X}\n",
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes
    )?;
    w.write_str(" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n")?;
    writeln!(
        w,
        "{:8X} {:8X} {:8X} {:16X} {:16X}",
        s.cps, s.inpps, s.outpps, s.inbps, s.outbps
    )
}

/// The header line of `/proc/net/ip_vs_conn`.
pub const IP_VS_CONN_HEADER: &str =
    "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{FwdMethod, Name, Protocol, TunType};

    fn conf(sched: &str, flags: u32, timeout: u32, mask: [u8; 4]) -> ServiceConf {
        ServiceConf {
            sched: Name::new(sched).unwrap(),
            pe: Name::default(),
            flags,
            timeout,
            netmask: u32::from_ne_bytes(mask),
        }
    }

    #[test]
    fn matches_upstream_text() {
        // Captured from upstream ip_vs (HZ=250) after:
        //   ipvsadm -A -t 10.0.1.100:80 -s rr
        //   ipvsadm -a -t 10.0.1.100:80 -r 10.0.2.11:8080 -m -w 2
        //   ipvsadm -A -u 10.0.1.100:53 -s sh -p 120 -M 255.255.255.0 -o
        //   ipvsadm -A -f 42 -s mh
        let mut s = String::new();
        ip_vs_header(&mut s, 0x010201, 4096).unwrap();
        let tcp = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        };
        ip_vs_service(&mut s, &tcp, &conf("rr", 0, 0, [255; 4]), 250).unwrap();
        let dest = DestConf {
            fwd: FwdMethod::Masq,
            weight: 2,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        };
        let dkey = DestKey {
            addr: Addr::v4([10, 0, 2, 11]),
            port: 8080,
        };
        ip_vs_dest(&mut s, &dkey, &dest, 0, 0).unwrap();
        let udp = ServiceKey::Addr {
            proto: Protocol::Udp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 53,
        };
        let persistent = svc_flags::PERSISTENT | svc_flags::ONEPACKET;
        ip_vs_service(
            &mut s,
            &udp,
            &conf("sh", persistent, 120, [255, 255, 255, 0]),
            250,
        )
        .unwrap();
        let fwm = ServiceKey::Fwmark {
            af: Af::Inet,
            mark: 42,
        };
        ip_vs_service(&mut s, &fwm, &conf("mh", 0, 0, [255; 4]), 250).unwrap();
        assert_eq!(
            s,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
             TCP  0A000164:0050 rr  \n  \
             -> 0A00020B:1F90      Masq    2      0          0         \n\
             UDP  0A000164:0035 sh ops  persistent 30000 FFFFFF00\n\
             FWM  0000002A mh \n"
        );
    }

    #[test]
    fn stats_text() {
        let mut s = String::new();
        let st = Stats {
            conns: 1,
            inpkts: 0x1234,
            ..Stats::default()
        };
        ip_vs_stats(&mut s, &st).unwrap();
        assert_eq!(
            s,
            "   Total Incoming Outgoing         Incoming         Outgoing\n   \
             Conns  Packets  Packets            Bytes            Bytes\n       \
             1     1234        0                0                0\n\n \
             Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       \
             0        0        0                0                0\n"
        );
    }

    #[test]
    fn ipv6_address_form() {
        let mut b = [0u8; 16];
        b[0] = 0x20;
        b[1] = 0x01;
        b[15] = 1;
        assert_eq!(
            HexAddr(&Addr::v6(b)).to_string(),
            "[2001:0000:0000:0000:0000:0000:0000:0001]"
        );
    }
}
