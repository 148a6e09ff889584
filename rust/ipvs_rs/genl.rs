// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family `IPVS` (upstream's ABI) and its handlers.
//!
//! Requests are decoded and replies encoded by `ipvs_core::netlink`, write
//! commands executed by `ipvs_core::control` on the namespace's table
//! (`services.rs`); this file takes the locks, runs dumps, and maps errors
//! to errno plus an extended ack message.

use crate::kbind::bindings;
use crate::kbind::error::errno;
use crate::kbind::genl::{Dump, Request};
use crate::kbind::netns::NetRef;
use crate::netns::NetState;
use crate::services::ControlTable;
use core::ffi::{c_int, CStr};
use ipvs_core::control;
use ipvs_core::errno::{Errno, Error as CoreError};
use ipvs_core::netlink::ipvs::{cmd, encode_timeouts, Info};
use ipvs_core::netlink::service::{decode_service, encode_dest, encode_service, CmdAttrs};
use ipvs_core::netlink::{AttrWriter, WriteError};
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

impl From<CoreError> for CmdError {
    fn from(e: CoreError) -> Self {
        CmdError(errno_of(e.errno), e.msg)
    }
}

fn errno_of(e: Errno) -> Error {
    Error::from_errno(-e.code())
}

/// Largest reply of a non-dump command, and of one dump entry: a service
/// with both statistics nests is about 350 bytes.
const ENTRY_MAX: usize = 512;

fn too_big(_: WriteError) -> CmdError {
    CmdError(errno(bindings::EMSGSIZE), c"ipvs_rs: reply too large")
}

fn state<'a>(net: NetRef<'a>) -> core::result::Result<&'a NetState, CmdError> {
    NetState::get(net).ok_or(CmdError(
        errno(bindings::ENODEV),
        c"ipvs_rs is not set up in this network namespace",
    ))
}

fn doit(req: &mut Request<'_>) -> CmdResult {
    let st = state(req.net())?;
    let mut buf = [0u8; ENTRY_MAX];
    let mut w = AttrWriter::new(&mut buf);
    let reply_cmd = match req.cmd() {
        cmd::GET_INFO => {
            let info = Info {
                version: IPVS_VERSION_CODE,
                conn_tab_size: st.conn_tab_size,
            };
            info.encode(&mut w).map_err(too_big)?;
            cmd::SET_INFO
        }
        cmd::GET_CONFIG => {
            encode_timeouts(&st.timeouts.get(), &mut w).map_err(too_big)?;
            cmd::SET_CONFIG
        }
        cmd::GET_SERVICE => {
            let attrs = CmdAttrs::parse(req.attrs())?;
            let key = decode_service(attrs.service, false)?.key;
            let services = st.services.lock();
            let svc = services.find(&key).ok_or(CmdError(
                errno_of(Errno::Esrch),
                c"IPVS_CMD_ATTR_SERVICE: no such service",
            ))?;
            let conf = svc.with(|i| i.conf);
            encode_service(&mut w, &svc.key, &conf, &svc.stats.get()).map_err(too_big)?;
            cmd::NEW_SERVICE
        }
        cmd::GET_DEST | cmd::GET_DAEMON => {
            return Err(CmdError(
                errno(bindings::EOPNOTSUPP),
                c"ipvs_rs: this command is a dump (NLM_F_DUMP)",
            ))
        }
        command => {
            let mut services = st.services.lock();
            // The packet path starts with the namespace's first service.
            if command == cmd::NEW_SERVICE {
                crate::netns::ensure_hooks(req.net(), &mut services)
                    .map_err(|e| CmdError(e, c"ipvs_rs: cannot register the netfilter hooks"))?;
            }
            let mut table = ControlTable {
                services: &mut services,
                st,
            };
            control::execute(&mut table, command, req.attrs())?;
            services.purge_trash();
            return Ok(());
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

/// Dumps entries from `cursor[0]` on; `put` encodes entry `i` or says there
/// is none. Returns the `dumpit` value.
fn dump_from(
    dump: &mut Dump<'_>,
    reply_cmd: u8,
    mut put: impl FnMut(usize, &mut AttrWriter<'_>) -> Option<core::result::Result<(), WriteError>>,
) -> core::result::Result<bool, c_int> {
    let mut i = usize::try_from(dump.cursor()[0]).unwrap_or(0);
    loop {
        let mut buf = [0u8; ENTRY_MAX];
        let mut w = AttrWriter::new(&mut buf);
        match put(i, &mut w) {
            None => return Ok(true),
            Some(Err(_)) => return Err(errno(bindings::EMSGSIZE).to_errno()),
            Some(Ok(())) => {}
        }
        if dump.put(reply_cmd, w.as_bytes()).is_err() {
            dump.cursor()[0] = i as kernel::ffi::c_long;
            return Ok(false);
        }
        i += 1;
    }
}

fn dumpit(dump: &mut Dump<'_>) -> core::result::Result<bool, c_int> {
    let st = NetState::get(dump.net()).ok_or(errno(bindings::ENODEV).to_errno())?;
    match dump.cmd() {
        cmd::GET_SERVICE => {
            let services = st.services.lock();
            dump_from(dump, cmd::NEW_SERVICE, |i, w| {
                let s = services.list.get(i)?;
                let conf = s.with(|inner| inner.conf);
                Some(encode_service(w, &s.key, &conf, &s.stats.get()))
            })
        }
        cmd::GET_DEST => {
            // Like upstream: an unknown or missing service dumps nothing.
            let key = CmdAttrs::parse(dump.attrs())
                .and_then(|a| decode_service(a.service, false))
                .map(|r| r.key);
            let services = st.services.lock();
            let Some(svc) = key.ok().and_then(|k| services.find(&k)) else {
                return Ok(true);
            };
            dump_from(dump, cmd::NEW_DEST, |i, w| {
                svc.with(|inner| {
                    let d = inner.dests.get(i)?;
                    Some(encode_dest(
                        w,
                        &d.rt.key,
                        &d.conf,
                        &d.rt.conns(),
                        &d.rt.stats.get(),
                    ))
                })
            })
        }
        // No sync daemons run.
        cmd::GET_DAEMON => Ok(true),
        _ => Err(errno(bindings::EOPNOTSUPP).to_errno()),
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
    let mut dump = unsafe { Dump::from_raw(skb, cb) };
    match dumpit(&mut dump) {
        Ok(complete) => dump.finish(complete),
        Err(e) => e,
    }
}
