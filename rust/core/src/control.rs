// SPDX-License-Identifier: GPL-2.0
//! The write commands of the IPVS family, with upstream's semantics
//! (`ip_vs_genl_set_cmd`): which attributes each command needs, which
//! object must or must not exist, and which errno each failure returns.
//!
//! The caller owns the service table and exposes it through [`Table`];
//! [`execute`] validates everything before it calls a mutating method, so a
//! rejected request changes nothing.

use crate::addr::Af;
use crate::errno::{Errno, Error, Result};
use crate::netlink::ipvs::cmd;
use crate::netlink::service::{decode_dest, decode_service, decode_set_timeouts, CmdAttrs};
use crate::service::{DestConf, DestKey, ServiceConf, ServiceKey};

/// The service table of one network namespace, as the control plane sees
/// it. Handles (`Svc`) stay valid for the duration of one [`execute`] call.
pub trait Table {
    /// A handle to one service.
    type Svc: Copy;

    /// Finds a service.
    fn find_service(&self, key: &ServiceKey) -> Option<Self::Svc>;
    /// The configuration of a service.
    fn service_conf(&self, svc: Self::Svc) -> ServiceConf;
    /// Whether `name` is a scheduler this implementation provides.
    fn sched_known(&self, name: &str) -> bool;
    /// Adds a service (validated, not present). May fail only for lack of
    /// resources.
    fn add_service(&mut self, key: ServiceKey, conf: ServiceConf) -> Result<()>;
    /// Replaces a service's configuration (validated).
    fn edit_service(&mut self, svc: Self::Svc, conf: ServiceConf) -> Result<()>;
    /// Deletes a service and its real servers.
    fn del_service(&mut self, svc: Self::Svc);
    /// Whether the service has this real server.
    fn has_dest(&self, svc: Self::Svc, key: &DestKey) -> bool;
    /// Adds a real server (validated, not present).
    fn add_dest(&mut self, svc: Self::Svc, key: DestKey, conf: DestConf) -> Result<()>;
    /// Replaces a real server's configuration (validated, present).
    fn edit_dest(&mut self, svc: Self::Svc, key: DestKey, conf: DestConf) -> Result<()>;
    /// Deletes a real server (present).
    fn del_dest(&mut self, svc: Self::Svc, key: DestKey);
    /// Zeroes a service's counters and its real servers'.
    fn zero_service(&mut self, svc: Self::Svc);
    /// Zeroes every counter.
    fn zero_all(&mut self);
    /// Deletes every service.
    fn flush(&mut self);
    /// Sets the tcp, tcpfin and udp timeouts (`None`: unchanged).
    fn set_timeouts(&mut self, timeouts: [Option<u32>; 3]);
}

const ESRCH: Error = Error::new(Errno::Esrch, c"IPVS_CMD_ATTR_SERVICE: no such service");

/// Executes a write command on `table`.
pub fn execute<T: Table>(table: &mut T, command: u8, attrs: &[u8]) -> Result<()> {
    let a = CmdAttrs::parse(attrs)?;
    match command {
        cmd::FLUSH => {
            table.flush();
            return Ok(());
        }
        cmd::SET_CONFIG => {
            let t = decode_set_timeouts(&a)?;
            table.set_timeouts(t);
            return Ok(());
        }
        cmd::ZERO if a.service.is_none() => {
            table.zero_all();
            return Ok(());
        }
        cmd::NEW_DAEMON | cmd::DEL_DAEMON => {
            return Err(Error::new(
                Errno::Eopnotsupp,
                c"IPVS_CMD_ATTR_DAEMON: connection sync daemons are not supported yet",
            ));
        }
        cmd::NEW_SERVICE
        | cmd::SET_SERVICE
        | cmd::DEL_SERVICE
        | cmd::NEW_DEST
        | cmd::SET_DEST
        | cmd::DEL_DEST
        | cmd::ZERO => {}
        _ => return Err(Error::new(Errno::Einval, c"IPVS: not a write command")),
    }

    let full_svc = matches!(command, cmd::NEW_SERVICE | cmd::SET_SERVICE);
    let req = decode_service(a.service, full_svc)?;
    let af = req.key.af();
    let svc = table.find_service(&req.key);

    if command == cmd::NEW_SERVICE {
        if svc.is_some() {
            return Err(Error::new(
                Errno::Eexist,
                c"IPVS_CMD_ATTR_SERVICE: service already exists",
            ));
        }
        let conf = resolve_service(table, &req.conf, 0, af)?;
        return table.add_service(req.key, conf);
    }
    let svc = svc.ok_or(ESRCH)?;

    match command {
        cmd::SET_SERVICE => {
            let old = table.service_conf(svc).flags;
            let conf = resolve_service(table, &req.conf, old, af)?;
            table.edit_service(svc, conf)
        }
        cmd::DEL_SERVICE => {
            table.del_service(svc);
            Ok(())
        }
        cmd::ZERO => {
            table.zero_service(svc);
            Ok(())
        }
        _ => dest_command(table, command, svc, &a, af),
    }
}

fn resolve_service<T: Table>(
    table: &T,
    conf: &Option<crate::netlink::service::ServiceConfReq>,
    old_flags: u32,
    af: Af,
) -> Result<ServiceConf> {
    let conf = conf.ok_or(Error::new(
        Errno::Einval,
        c"IPVS_CMD_ATTR_SERVICE: settings missing",
    ))?;
    let conf = conf.resolve(old_flags);
    conf.validate(af, table.sched_known(conf.sched.as_str()))?;
    Ok(conf)
}

fn dest_command<T: Table>(
    table: &mut T,
    command: u8,
    svc: T::Svc,
    a: &CmdAttrs<'_>,
    svc_af: Af,
) -> Result<()> {
    let full = command != cmd::DEL_DEST;
    let req = decode_dest(a.dest, full, svc_af)?;
    let exists = table.has_dest(svc, &req.key);
    if command == cmd::DEL_DEST {
        if !exists {
            return Err(Error::new(
                Errno::Enoent,
                c"IPVS_CMD_ATTR_DEST: no such destination",
            ));
        }
        table.del_dest(svc, req.key);
        return Ok(());
    }
    let conf = req.conf.ok_or(Error::new(
        Errno::Einval,
        c"IPVS_CMD_ATTR_DEST: settings missing",
    ))?;
    conf.validate(svc_af, req.key.addr.af())?;
    match (command, exists) {
        (cmd::NEW_DEST, true) => Err(Error::new(
            Errno::Eexist,
            c"IPVS_CMD_ATTR_DEST: destination already exists",
        )),
        (cmd::NEW_DEST, false) => table.add_dest(svc, req.key, conf),
        (_, false) => Err(Error::new(
            Errno::Enoent,
            c"IPVS_CMD_ATTR_DEST: no such destination",
        )),
        (_, true) => table.edit_dest(svc, req.key, conf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Addr;
    use crate::netlink::attr::AttrWriter;
    use crate::netlink::ipvs::{cmd_attr, dest_attr, svc_attr};
    use crate::service::{svc_flags, FwdMethod, Protocol};

    type Entry = (ServiceKey, ServiceConf, Vec<(DestKey, DestConf)>);

    #[derive(Default)]
    struct VecTable {
        svcs: Vec<Entry>,
        timeouts: [u32; 3],
        zeroed: usize,
    }

    impl Table for VecTable {
        type Svc = usize;
        fn find_service(&self, key: &ServiceKey) -> Option<usize> {
            self.svcs.iter().position(|s| s.0 == *key)
        }
        fn service_conf(&self, svc: usize) -> ServiceConf {
            self.svcs[svc].1
        }
        fn sched_known(&self, name: &str) -> bool {
            ["rr", "wlc"].contains(&name)
        }
        fn add_service(&mut self, key: ServiceKey, conf: ServiceConf) -> Result<()> {
            self.svcs.push((key, conf, Vec::new()));
            Ok(())
        }
        fn edit_service(&mut self, svc: usize, conf: ServiceConf) -> Result<()> {
            self.svcs[svc].1 = conf;
            Ok(())
        }
        fn del_service(&mut self, svc: usize) {
            self.svcs.remove(svc);
        }
        fn has_dest(&self, svc: usize, key: &DestKey) -> bool {
            self.svcs[svc].2.iter().any(|d| d.0 == *key)
        }
        fn add_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
            self.svcs[svc].2.push((key, conf));
            Ok(())
        }
        fn edit_dest(&mut self, svc: usize, key: DestKey, conf: DestConf) -> Result<()> {
            let d = self.svcs[svc].2.iter_mut().find(|d| d.0 == key).unwrap();
            d.1 = conf;
            Ok(())
        }
        fn del_dest(&mut self, svc: usize, key: DestKey) {
            self.svcs[svc].2.retain(|d| d.0 != key);
        }
        fn zero_service(&mut self, _svc: usize) {
            self.zeroed += 1;
        }
        fn zero_all(&mut self) {
            self.zeroed += 100;
        }
        fn flush(&mut self) {
            self.svcs.clear();
        }
        fn set_timeouts(&mut self, t: [Option<u32>; 3]) {
            for (cur, new) in self.timeouts.iter_mut().zip(t) {
                if let Some(v) = new {
                    *cur = v;
                }
            }
        }
    }

    /// What ipvsadm sends for `-A -t 10.0.0.1:80 -s <sched> [-p]`.
    fn svc_msg(sched: Option<&str>, flags: u32, port: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut w = AttrWriter::new(&mut buf);
        let n = w.nest_start(cmd_attr::SERVICE).unwrap();
        w.put_u16(svc_attr::AF, 2).unwrap();
        w.put_u16(svc_attr::PROTOCOL, 6).unwrap();
        w.put(
            svc_attr::ADDR,
            &[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        )
        .unwrap();
        w.put_be16(svc_attr::PORT, port).unwrap();
        if let Some(s) = sched {
            w.put_str(svc_attr::SCHED_NAME, s).unwrap();
            let mut f = [0u8; 8];
            f[..4].copy_from_slice(&flags.to_ne_bytes());
            f[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
            w.put(svc_attr::FLAGS, &f).unwrap();
            w.put_u32(svc_attr::TIMEOUT, 300).unwrap();
            w.put_u32(svc_attr::NETMASK, u32::MAX).unwrap();
        }
        w.nest_end(n).unwrap();
        let len = w.len();
        buf.truncate(len);
        buf
    }

    fn with_dest(mut svc: Vec<u8>, weight: Option<u32>, last: u8) -> Vec<u8> {
        let mut buf = vec![0u8; 256];
        let mut w = AttrWriter::new(&mut buf);
        let n = w.nest_start(cmd_attr::DEST).unwrap();
        w.put(
            dest_attr::ADDR,
            &[10, 0, 2, last, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        )
        .unwrap();
        w.put_be16(dest_attr::PORT, 80).unwrap();
        if let Some(wt) = weight {
            w.put_u32(dest_attr::FWD_METHOD, 0).unwrap();
            w.put_u32(dest_attr::WEIGHT, wt).unwrap();
            w.put_u32(dest_attr::U_THRESH, 0).unwrap();
            w.put_u32(dest_attr::L_THRESH, 0).unwrap();
        }
        w.nest_end(n).unwrap();
        svc.extend_from_slice(w.as_bytes());
        svc
    }

    fn key80() -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: Addr::v4([10, 0, 0, 1]),
            port: 80,
        }
    }

    #[test]
    fn service_lifecycle_like_ipvsadm() {
        let mut t = VecTable::default();
        execute(&mut t, cmd::NEW_SERVICE, &svc_msg(Some("rr"), 0, 80)).unwrap();
        assert_eq!(t.svcs.len(), 1);
        assert_eq!(t.svcs[0].0, key80());
        assert_eq!(t.svcs[0].1.sched.as_str(), "rr");
        // -A again: EEXIST, nothing changes.
        let e = execute(&mut t, cmd::NEW_SERVICE, &svc_msg(Some("wlc"), 0, 80)).unwrap_err();
        assert_eq!(e.errno, Errno::Eexist);
        assert_eq!(t.svcs[0].1.sched.as_str(), "rr");
        // -E: scheduler and persistence.
        execute(
            &mut t,
            cmd::SET_SERVICE,
            &svc_msg(Some("wlc"), svc_flags::PERSISTENT, 80),
        )
        .unwrap();
        assert_eq!(t.svcs[0].1.sched.as_str(), "wlc");
        assert_eq!(t.svcs[0].1.flags, svc_flags::PERSISTENT);
        // -E with an unknown scheduler: ENOENT, nothing changes.
        let e = execute(&mut t, cmd::SET_SERVICE, &svc_msg(Some("nope"), 0, 80)).unwrap_err();
        assert_eq!(e.errno, Errno::Enoent);
        assert_eq!(t.svcs[0].1.sched.as_str(), "wlc");
        // -D of another service: ESRCH.
        let e = execute(&mut t, cmd::DEL_SERVICE, &svc_msg(None, 0, 81)).unwrap_err();
        assert_eq!(e.errno, Errno::Esrch);
        execute(&mut t, cmd::DEL_SERVICE, &svc_msg(None, 0, 80)).unwrap();
        assert!(t.svcs.is_empty());
    }

    #[test]
    fn dest_lifecycle_like_ipvsadm() {
        let mut t = VecTable::default();
        execute(&mut t, cmd::NEW_SERVICE, &svc_msg(Some("rr"), 0, 80)).unwrap();
        let svc = || svc_msg(None, 0, 80);
        execute(&mut t, cmd::NEW_DEST, &with_dest(svc(), Some(1), 11)).unwrap();
        let e = execute(&mut t, cmd::NEW_DEST, &with_dest(svc(), Some(1), 11)).unwrap_err();
        assert_eq!(e.errno, Errno::Eexist);
        execute(&mut t, cmd::SET_DEST, &with_dest(svc(), Some(5), 11)).unwrap();
        assert_eq!(t.svcs[0].2[0].1.weight, 5);
        assert_eq!(t.svcs[0].2[0].1.fwd, FwdMethod::Masq);
        let e = execute(&mut t, cmd::SET_DEST, &with_dest(svc(), Some(5), 12)).unwrap_err();
        assert_eq!(e.errno, Errno::Enoent);
        // Weight above INT_MAX is negative upstream: ERANGE, no change.
        let e = execute(&mut t, cmd::SET_DEST, &with_dest(svc(), Some(u32::MAX), 11)).unwrap_err();
        assert_eq!(e.errno, Errno::Erange);
        assert_eq!(t.svcs[0].2[0].1.weight, 5);
        // Missing settings on -a: EINVAL naming the field.
        let e = execute(&mut t, cmd::NEW_DEST, &with_dest(svc(), None, 12)).unwrap_err();
        assert_eq!(e.errno, Errno::Einval);
        assert_eq!(e.msg, c"IPVS_DEST_ATTR_FWD_METHOD: missing");
        let e = execute(&mut t, cmd::DEL_DEST, &with_dest(svc(), None, 12)).unwrap_err();
        assert_eq!(e.errno, Errno::Enoent);
        execute(&mut t, cmd::DEL_DEST, &with_dest(svc(), None, 11)).unwrap();
        assert!(t.svcs[0].2.is_empty());
        // Destination command on a missing service: ESRCH.
        let e = execute(
            &mut t,
            cmd::NEW_DEST,
            &with_dest(svc_msg(None, 0, 99), Some(1), 11),
        )
        .unwrap_err();
        assert_eq!(e.errno, Errno::Esrch);
    }

    #[test]
    fn missing_and_malformed_attributes_name_the_field() {
        let mut t = VecTable::default();
        let e = execute(&mut t, cmd::NEW_SERVICE, &[]).unwrap_err();
        assert_eq!(e.msg, c"IPVS_CMD_ATTR_SERVICE: missing");
        let mut msg = svc_msg(Some("rr"), 0, 80);
        msg.push(1); // trailing garbage
        let e = execute(&mut t, cmd::NEW_SERVICE, &msg).unwrap_err();
        assert_eq!(e.errno, Errno::Einval);
        let e = execute(&mut t, cmd::NEW_SERVICE, &svc_msg(None, 0, 80)).unwrap_err();
        assert_eq!(e.msg, c"IPVS_SVC_ATTR_SCHED_NAME: missing");
        assert!(t.svcs.is_empty());
    }

    #[test]
    fn config_zero_flush() {
        let mut t = VecTable::default();
        let mut buf = [0u8; 64];
        let mut w = AttrWriter::new(&mut buf);
        w.put_u32(cmd_attr::TIMEOUT_TCP, 60).unwrap();
        w.put_u32(cmd_attr::TIMEOUT_UDP, 0).unwrap();
        execute(&mut t, cmd::SET_CONFIG, w.as_bytes()).unwrap();
        assert_eq!(t.timeouts, [60, 0, 0]);
        execute(&mut t, cmd::ZERO, &[]).unwrap();
        assert_eq!(t.zeroed, 100);
        execute(&mut t, cmd::NEW_SERVICE, &svc_msg(Some("rr"), 0, 80)).unwrap();
        execute(&mut t, cmd::ZERO, &svc_msg(None, 0, 80)).unwrap();
        assert_eq!(t.zeroed, 101);
        execute(&mut t, cmd::FLUSH, &[]).unwrap();
        assert!(t.svcs.is_empty());
    }
}
