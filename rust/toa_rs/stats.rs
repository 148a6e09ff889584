// SPDX-License-Identifier: GPL-2.0
//! The counters and `/proc/net/toa_stats` (the text comes from
//! `ipvs_core::toa::Stats`; the shim registers the file in the initial
//! network namespace, the counters cover all namespaces).

use crate::bindings;
use crate::params;
use crate::table::LIVE;
use core::ffi::{c_int, c_void};
use core::fmt;
use core::ptr::addr_of;
use core::sync::atomic::{AtomicU64, Ordering};
use ipvs_core::toa::Stats;

/// The event counters (module-wide, lock-free).
pub(crate) struct Counters {
    pub(crate) syn_toa: AtomicU64,
    pub(crate) ack_toa: AtomicU64,
    pub(crate) no_toa: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) no_child: AtomicU64,
    pub(crate) tagged: AtomicU64,
    pub(crate) table_full: AtomicU64,
    pub(crate) untagged: AtomicU64,
    pub(crate) getname_rewrites: AtomicU64,
    pub(crate) getname_mismatch: AtomicU64,
}

/// The counters, zero at load.
pub(crate) static COUNTERS: Counters = Counters {
    syn_toa: AtomicU64::new(0),
    ack_toa: AtomicU64::new(0),
    no_toa: AtomicU64::new(0),
    parse_errors: AtomicU64::new(0),
    no_child: AtomicU64::new(0),
    tagged: AtomicU64::new(0),
    table_full: AtomicU64::new(0),
    untagged: AtomicU64::new(0),
    getname_rewrites: AtomicU64::new(0),
    getname_mismatch: AtomicU64::new(0),
};

/// Counts one event.
pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A snapshot of everything the file shows.
fn snapshot() -> Stats {
    let c = &COUNTERS;
    // SAFETY: the probe objects are statics of the shim; the shim reads
    // their miss counters with READ_ONCE.
    let (syn_recv, getname, getname6, destruct) = unsafe {
        (
            bindings::toa_rs_rprobe_missed(addr_of!(bindings::toa_rs_krp_syn_recv)),
            bindings::toa_rs_rprobe_missed(addr_of!(bindings::toa_rs_krp_getname)),
            bindings::toa_rs_rprobe_missed(addr_of!(bindings::toa_rs_krp_getname6)),
            bindings::toa_rs_probe_missed(addr_of!(bindings::toa_rs_kp_sock_destruct)),
        )
    };
    Stats {
        enabled: params::enabled(),
        max_entries: u64::from(params::max_entries()),
        entries_live: LIVE.load(Ordering::Relaxed) as u64,
        syn_toa: get(&c.syn_toa),
        ack_toa: get(&c.ack_toa),
        no_toa: get(&c.no_toa),
        parse_errors: get(&c.parse_errors),
        no_child: get(&c.no_child),
        tagged: get(&c.tagged),
        table_full: get(&c.table_full),
        untagged: get(&c.untagged),
        getname_rewrites: get(&c.getname_rewrites),
        getname_mismatch: get(&c.getname_mismatch),
        missed_syn_recv: syn_recv as u64,
        missed_getname: getname as u64,
        missed_getname6: getname6 as u64,
        missed_sock_destruct: destruct as u64,
    }
}

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

/// The show callback of `/proc/net/toa_stats`.
///
/// # Safety
///
/// Called by the shim's seq_file show callback with its seq_file.
#[no_mangle]
pub(crate) unsafe extern "C" fn toa_rs_proc_show(seq: *mut bindings::seq_file) -> c_int {
    // An overflowing write is retried by seq_file; nothing to report.
    let _ = snapshot().write(&mut SeqWriter(seq));
    0
}
