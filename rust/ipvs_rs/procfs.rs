// SPDX-License-Identifier: GPL-2.0
//! `/proc/net/ip_vs`, `/proc/net/ip_vs_stats` and `/proc/net/ip_vs_conn`
//! of a namespace, in upstream's text format (`ipvs_core::procfs`). The
//! shim registers the files; this fills them.

use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::rcu::RcuGuard;
use crate::netns::NetState;
use core::ffi::{c_int, c_void};
use core::fmt;
use ipvs_core::conn::procfmt::write_conn;
use ipvs_core::conn::proto::state_name;
use ipvs_core::procfs;
use ipvs_core::version::IPVS_VERSION_CODE;

/// `fmt::Write` into a seq_file.
struct SeqWriter(*mut bindings::seq_file);

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: self.0 is the seq_file of the running show callback; the
        // bytes are only copied.
        let ret = unsafe { bindings::seq_write(self.0, s.as_ptr().cast::<c_void>(), s.len()) };
        // On overflow seq_file retries the show with a larger buffer.
        if ret == 0 {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

fn show(w: &mut SeqWriter, st: &NetState, which: u32) -> fmt::Result {
    match which {
        bindings::ipvs_rs_proc_file_IPVS_RS_PROC_INFO => {
            let hz = crate::kbind::rcu::hz();
            procfs::ip_vs_header(w, IPVS_VERSION_CODE, st.conn_tab_size)?;
            let services = st.services.lock();
            for svc in services.list.iter() {
                svc.with(|i| {
                    procfs::ip_vs_service(w, &svc.key, &i.conf, hz)?;
                    for d in i.dests.iter() {
                        let c = d.rt.conns();
                        procfs::ip_vs_dest(w, &d.rt.key, &d.conf, c.active, c.inactive)?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        }
        bindings::ipvs_rs_proc_file_IPVS_RS_PROC_STATS => procfs::ip_vs_stats(w, &st.total.get()),
        bindings::ipvs_rs_proc_file_IPVS_RS_PROC_EXT => {
            st.defence.show(w)?;
            st.drops.show(w)?;
            st.synproxy.show(w)?;
            st.conns.show(w)
        }
        _ => {
            fmt::Write::write_str(w, procfs::IP_VS_CONN_HEADER)?;
            let _rcu = RcuGuard::new();
            let mut res = Ok(());
            st.conns.for_each(|c| {
                let (state, flags) = c.state();
                let name = state_name(c.tuple.protocol, flags, state.raw());
                res = write_conn(w, &c.tuple, name, c.expires_secs(), None);
                res.is_ok()
            });
            res
        }
    }
}

/// The show callback of the three files.
///
/// # Safety
///
/// Called by the shim's seq_file show callbacks with their seq_file and the
/// namespace the file belongs to.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_proc_show(
    seq: *mut bindings::seq_file,
    net: *mut bindings::net,
    which: c_int,
) -> c_int {
    // SAFETY: an open proc file of a namespace keeps the namespace alive.
    let net = unsafe { NetRef::new(net) };
    if let Some(st) = NetState::get(net) {
        // An overflowing write is retried by seq_file; nothing to report.
        let _ = show(&mut SeqWriter(seq), st, which as u32);
    }
    0
}
