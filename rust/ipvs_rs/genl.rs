// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family `IPVS` (upstream's ABI) and its handlers.
//!
//! Requests are decoded and replies encoded by `ipvs_core::netlink`; this
//! file maps commands to the namespace's state and errors to errno plus an
//! extended ack message.

use crate::kbind::bindings;
use crate::kbind::error::errno;
use crate::kbind::genl::{Dump, Request};
use crate::netns::NetState;
use core::ffi::{c_int, CStr};
use ipvs_core::netlink::ipvs::{cmd, encode_timeouts, Info};
use ipvs_core::netlink::AttrWriter;
use ipvs_core::version::IPVS_VERSION_CODE;
use kernel::error::{to_result, Error, Result};
use kernel::prelude::*;

/// The registered family.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the family is a static of the shim that outlives the
        // registration; unregistered in drop.
        let ret = unsafe {
            bindings::genl_register_family(core::ptr::addr_of_mut!(bindings::ipvs_rs_genl_family))
        };
        if ret == errno(bindings::EEXIST).to_errno() {
            pr_err!(
                "generic netlink family IPVS is already registered: upstream ip_vs is loaded; \
                 remove it first (modprobe -r ip_vs)\n"
            );
        }
        to_result(ret)?;
        Ok(Self)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in new(). Waits for running handlers.
        unsafe {
            bindings::genl_unregister_family(core::ptr::addr_of_mut!(bindings::ipvs_rs_genl_family))
        };
    }
}

/// A failed command: errno and the extended ack message naming the cause.
struct CmdError(Error, &'static CStr);

type CmdResult = core::result::Result<(), CmdError>;

impl From<Error> for CmdError {
    fn from(e: Error) -> Self {
        CmdError(e, c"ipvs_rs: internal error")
    }
}

/// Largest reply of a non-dump command.
const REPLY_MAX: usize = 128;

fn state<'a>(req: &'a Request<'_>) -> core::result::Result<&'a NetState, CmdError> {
    NetState::get(req.net()).ok_or(CmdError(
        errno(bindings::ENODEV),
        c"ipvs_rs is not set up in this network namespace",
    ))
}

fn doit(req: &mut Request<'_>) -> CmdResult {
    let mut buf = [0u8; REPLY_MAX];
    let mut w = AttrWriter::new(&mut buf);
    let too_big = || CmdError(errno(bindings::EMSGSIZE), c"ipvs_rs: reply too large");
    let reply_cmd = match req.cmd() {
        cmd::GET_INFO => {
            let info = Info {
                version: IPVS_VERSION_CODE,
                conn_tab_size: state(req)?.conn_tab_size,
            };
            info.encode(&mut w).map_err(|_| too_big())?;
            cmd::SET_INFO
        }
        cmd::GET_CONFIG => {
            encode_timeouts(&state(req)?.timeouts.get(), &mut w).map_err(|_| too_big())?;
            cmd::SET_CONFIG
        }
        _ => {
            return Err(CmdError(
                errno(bindings::EOPNOTSUPP),
                c"ipvs_rs: this IPVS command is not implemented yet",
            ))
        }
    };
    req.reply(reply_cmd, w.as_bytes())?;
    Ok(())
}

/// genetlink `doit` for every command of the family.
///
/// # Safety
///
/// Called by genetlink with a valid request and info.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_genl_doit(
    _skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
) -> c_int {
    // SAFETY: genetlink passes the info of this doit call.
    let mut req = unsafe { Request::from_raw(info) };
    match doit(&mut req) {
        Ok(()) => 0,
        Err(CmdError(e, msg)) => {
            req.set_err_msg(msg);
            e.to_errno()
        }
    }
}

/// genetlink `dumpit` for the table commands.
///
/// # Safety
///
/// Called by genetlink with a valid dump skb and callback.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_genl_dumpit(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> c_int {
    // SAFETY: genetlink passes the skb and callback of this dumpit call.
    let dump = unsafe { Dump::from_raw(skb, cb) };
    match dump.cmd() {
        // No services, real servers or sync daemons exist yet: the tables
        // are empty and the dump is complete.
        cmd::GET_SERVICE | cmd::GET_DEST | cmd::GET_DAEMON => dump.finish(true),
        _ => errno(bindings::EOPNOTSUPP).to_errno(),
    }
}
