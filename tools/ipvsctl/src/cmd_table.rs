// SPDX-License-Identifier: GPL-2.0
//! Commands on the whole table: `ipvsctl stats`, `zero` and `flush`.

use clap::Args;
use ipvs_core::service::ServiceKey;

use crate::client::Kernel;
use crate::cmd_service::table_view;
use crate::error::Error;
use crate::listing::Columns;
use crate::ops;
use crate::output::{render, Format};
use crate::values::{parse_service, parse_service_kind};

/// An optional service: every service when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct MaybeService {
    /// Service type: tcp, udp, sctp or fwmark.
    #[arg(value_name = "TYPE", requires = "target")]
    pub kind: Option<String>,
    /// ADDRESS[:PORT] or mark of the service.
    #[arg(value_name = "SERVICE", allow_negative_numbers = true)]
    pub target: Option<String>,
    /// The fwmark service is an IPv6 one.
    #[arg(long, short = '6', requires = "target")]
    pub ipv6: bool,
}

impl MaybeService {
    /// The service key, if one was given.
    pub fn key(&self) -> Result<Option<ServiceKey>, Error> {
        match (&self.kind, &self.target) {
            (Some(kind), Some(target)) => Ok(Some(parse_service(
                parse_service_kind(kind)?,
                target,
                self.ipv6,
            )?)),
            _ => Ok(None),
        }
    }
}

/// `ipvsctl stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub service: MaybeService,
    /// Show numbers in full (no K, M, G, T).
    #[arg(long, short = 'X')]
    pub exact: bool,
}

/// `ipvsctl stats`: counters and rates of every service and real server,
/// or of one service.
pub fn stats<K: Kernel>(k: &mut K, args: &StatsArgs, format: Format) -> Result<String, Error> {
    let one = args.service.key()?;
    let view = table_view(k, one.as_ref(), Columns::Counters, args.exact, format)?;
    render(&view, format)
}

/// `ipvsctl zero`: resets the counters of one service or of all.
pub fn zero<K: Kernel>(k: &mut K, service: &MaybeService) -> Result<String, Error> {
    let one = service.key()?;
    ops::zero(k, one.as_ref())?;
    Ok(String::new())
}

/// `ipvsctl flush`: deletes every service.
pub fn flush<K: Kernel>(k: &mut K) -> Result<String, Error> {
    ops::flush(k)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeKernel;
    use ipvs_core::addr::Addr;
    use ipvs_core::netlink::service::ServiceConfReq;
    use ipvs_core::service::{DestConf, DestKey, FlagsUpdate, FwdMethod, Name, Protocol, TunType};

    fn setup() -> (FakeKernel, ServiceKey) {
        let mut k = FakeKernel::default();
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 1, 100]),
            port: 80,
        };
        let conf = ServiceConfReq {
            sched: Name::new("rr").unwrap(),
            pe: Name::default(),
            flags: FlagsUpdate { flags: 0, mask: !0 },
            timeout: 0,
            netmask: u32::MAX,
        };
        ops::add_service(&mut k, &key, &conf).unwrap();
        let d = DestConf {
            fwd: FwdMethod::Masq,
            weight: 1,
            u_thresh: 0,
            l_thresh: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        };
        for last in [11, 12] {
            let dk = DestKey {
                addr: Addr::v4([10, 0, 2, last]),
                port: 80,
            };
            ops::add_dest(&mut k, &key, &dk, &d).unwrap();
        }
        k.set_stats(&key, 2_000_000_000);
        (k, key)
    }

    fn one() -> MaybeService {
        MaybeService {
            kind: Some("tcp".into()),
            target: Some("10.0.1.100:80".into()),
            ipv6: false,
        }
    }

    #[test]
    fn stats_text_and_json() {
        let (mut k, _) = setup();
        let text = stats(&mut k, &StatsArgs::default(), Format::Human).unwrap();
        assert_eq!(
            text,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes      CPS    InPPS   OutPPS    InBPS   OutBPS\n\
             \x20 -> RemoteAddress:Port\n\
             TCP  10.0.1.100:80                   2000M   20000M   18000M    2000G   18000G    2000M    4000M    6000M     800G    1000G\n\
             \x20 -> 10.0.2.11:80                    2000M   20000M   18000M    2000G   18000G    2000M    4000M    6000M     800G    1000G\n\
             \x20 -> 10.0.2.12:80                    2000M   20000M   18000M    2000G   18000G    2000M    4000M    6000M     800G    1000G\n"
        );
        let args = StatsArgs {
            service: one(),
            exact: true,
        };
        let text = stats(&mut k, &args, Format::Human).unwrap();
        assert!(text.starts_with("Prot LocalAddress:Port"), "{text}");
        assert!(text.contains(" 2000000000 20000000000"), "{text}");
        let json = stats(&mut k, &args, Format::Json).unwrap();
        let j: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(j["services"][0]["stats"]["conns"], 2_000_000_000u64);
        assert_eq!(
            j["services"][0]["dests"][1]["stats"]["conns"],
            2_000_000_002u64
        );
        assert_eq!(j["services"][0]["dests"][1]["active_conns"], 3);
    }

    #[test]
    fn zero_one_or_all_and_flush() {
        let (mut k, key) = setup();
        zero(&mut k, &one()).unwrap();
        assert_eq!(k.services[0].stats.conns, 0);
        assert_eq!(k.services[0].dests[0].stats.conns, 0);
        k.set_stats(&key, 5);
        zero(&mut k, &MaybeService::default()).unwrap();
        assert_eq!(k.services[0].stats.conns, 0);
        let missing = MaybeService {
            kind: Some("udp".into()),
            target: Some("10.0.1.100:80".into()),
            ipv6: false,
        };
        assert_eq!(
            zero(&mut k, &missing).unwrap_err().to_string(),
            "IPVS_CMD_ZERO failed: No such process (ESRCH): IPVS_CMD_ATTR_SERVICE: no such service"
        );
        flush(&mut k).unwrap();
        assert!(k.services.is_empty());
    }
}
