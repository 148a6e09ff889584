// SPDX-License-Identifier: GPL-2.0
//! Persistent services (`ip_vs_sched_persist`): the first connection of a
//! client network schedules a real server and records it in a template
//! (`ipvs_core::conn::persist` says which key); later connections of the
//! same network go to the template's server while it is usable, and
//! restart its persistence timeout.

use crate::conn::Conn;
use crate::dataplane::{conn_flags_for, new_conn, pick, Unscheduled};
use crate::netns::NetState;
use crate::services::{DestRt, SvcRt};
use crate::sysctl::Sysctl;
use core::sync::atomic::Ordering;
use ipvs_core::conn::key::ConnTuple;
use ipvs_core::conn::persist::{persist_conn_dport, template_dport, template_key};
use ipvs_core::conn::{bind_flags, dest_conn_flags, flags};
use ipvs_core::packet::PacketInfo;
use ipvs_core::service::{DestConf, ServiceConf};
use kernel::sync::Arc;

/// Whether a template's real server may take its client's next
/// connection (`ip_vs_check_template`): still in the service, and not
/// quiesced when `expire_quiescent_template` is set. Returns the server's
/// current settings.
fn usable(st: &NetState, svc: &SvcRt, t: &Conn) -> Option<DestConf> {
    let d = &t.dest;
    if !d.available.load(Ordering::Acquire) {
        return None;
    }
    if st.sysctl.on(Sysctl::ExpireQuiescentTemplate) && d.weight.load(Ordering::Relaxed) == 0 {
        return None;
    }
    svc.with(|i| {
        i.dests
            .iter()
            .find(|e| Arc::ptr_eq(&e.rt, d))
            .map(|e| e.conf)
    })
}

/// Schedules the connection of `info` for the persistent service `svc`.
pub(crate) fn schedule<'a>(
    st: &'a NetState,
    svc: &Arc<SvcRt>,
    conf: &ServiceConf,
    info: &PacketInfo,
) -> Result<&'a Conn, Unscheduled> {
    let proto = info.protocol().ok_or(Unscheduled::NoDest)?;
    let key = template_key(
        &svc.key,
        conf.netmask,
        proto,
        &info.saddr,
        &info.daddr,
        info.dport,
    );
    let found = st.conns.find_template(&key).and_then(|t| {
        let Some(dconf) = usable(st, svc, t) else {
            t.invalidate();
            return None;
        };
        t.acquire_control().then_some((t, dconf))
    });
    let (template, dest, dconf): (&Conn, Arc<DestRt>, DestConf) = match found {
        Some((t, dconf)) => (t, t.dest.clone(), dconf),
        None => {
            let (dest, dconf) = pick(svc, info)?;
            let tuple = ConnTuple {
                protocol: key.protocol,
                caddr: key.caddr,
                cport: 0,
                vaddr: key.vaddr,
                vport: key.vport,
                daddr: dest.key.addr,
                dport: template_dport(&svc.key, info.dport, dest.key.port),
            };
            let tflags = bind_flags(flags::TEMPLATE, dest_conn_flags(dconf.fwd, 0), proto.raw());
            let t = st
                .conns
                .create(
                    tuple,
                    proto,
                    dconf.fwd,
                    tflags,
                    dest.clone(),
                    svc.clone(),
                    None,
                    conf.timeout,
                    None,
                    None,
                )
                .ok_or(Unscheduled::NoMemory)?;
            if !t.acquire_control() {
                return Err(Unscheduled::NoMemory);
            }
            (t, dest, dconf)
        }
    };
    let tuple = ConnTuple {
        protocol: proto.raw(),
        caddr: info.saddr,
        cport: info.sport,
        vaddr: info.daddr,
        vport: info.dport,
        daddr: dest.key.addr,
        dport: persist_conn_dport(&svc.key, info.dport, dest.key.port),
    };
    // The count taken on the template goes to the new connection (or is
    // released by create() if it fails).
    let flags = conn_flags_for(conf, &dconf, proto);
    new_conn(st, svc, tuple, dest, &dconf, flags, Some(template), None)
}
