// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family `IPVS_RS` (ipvs_rs's extension ABI): FULLNAT
//! local address pools and per-service TOA, with their counters. The wire
//! format is `ipvs_core::netlink::ext`; see `Documentation/extension.rst`.

use crate::kbind::bindings;
use crate::kbind::error::errno;
use crate::kbind::genl::{Dump, Request};
use crate::netns::NetState;
use core::ffi::{c_int, CStr};
use ipvs_core::errno::Errno;
use ipvs_core::netlink::ext::{
    cmd, decode_laddr, decode_svc_ext, encode_laddr_entry, encode_svc_ext, ExtAttrs,
};
use ipvs_core::netlink::{AttrWriter, WriteError};
use kernel::error::{to_result, Error, Result};

/// The registered family.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the family is a static of the shim that outlives the
        // registration; unregistered in drop.
        to_result(unsafe {
            bindings::genl_register_family(core::ptr::addr_of_mut!(
                bindings::ipvs_rs_ext_genl_family
            ))
        })?;
        Ok(Self)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in new(). Waits for running handlers.
        unsafe {
            bindings::genl_unregister_family(core::ptr::addr_of_mut!(
                bindings::ipvs_rs_ext_genl_family
            ))
        };
    }
}

/// A failed command: errno and the extended ack message.
struct CmdError(Error, &'static CStr);

impl From<ipvs_core::errno::Error> for CmdError {
    fn from(e: ipvs_core::errno::Error) -> Self {
        CmdError(Error::from_errno(-e.errno.code()), e.msg)
    }
}

fn core_err(e: Errno, msg: &'static CStr) -> CmdError {
    CmdError(Error::from_errno(-e.code()), msg)
}

fn too_big(_: WriteError) -> CmdError {
    CmdError(errno(bindings::EMSGSIZE), c"ipvs_rs: reply too large")
}

const ENTRY_MAX: usize = 512;

fn doit(req: &mut Request<'_>) -> core::result::Result<(), CmdError> {
    let st = NetState::get(req.net()).ok_or(CmdError(
        errno(bindings::ENODEV),
        c"ipvs_rs is not set up in this network namespace",
    ))?;
    let a = ExtAttrs::parse(req.attrs())?;
    let key = a.service_key()?;
    let mut services = st.services.lock();
    let svc = services
        .find(&key)
        .ok_or(core_err(
            Errno::Esrch,
            c"IPVS_RS_ATTR_SERVICE: no such service",
        ))?
        .clone();
    match req.cmd() {
        cmd::NEW_LADDR => {
            let addr = decode_laddr(a.laddr, key.af())?;
            svc.add_laddr(&mut services.laddr_pools, addr)
                .map_err(CmdError::from)?;
        }
        cmd::DEL_LADDR => {
            let addr = decode_laddr(a.laddr, key.af())?;
            svc.del_laddr(&mut services.laddr_pools, &addr)
                .map_err(CmdError::from)?;
        }
        cmd::SET_SVC => {
            let ext = decode_svc_ext(a.svc_ext, svc.ext())?;
            if ext.synproxy {
                crate::synproxy::check_service(&svc)?;
            }
            if ext.proxy.is_on() {
                crate::proxy_protocol::check_service(&svc)?;
            }
            svc.set_ext(ext);
        }
        cmd::GET_SVC => {
            drop(services);
            let mut buf = [0u8; ENTRY_MAX];
            let mut w = AttrWriter::new(&mut buf);
            encode_svc_ext(&mut w, &key, &svc.ext(), &svc.ext_counters()).map_err(too_big)?;
            req.reply(cmd::SET_SVC, w.as_bytes())
                .map_err(|e| CmdError(e, c"ipvs_rs: cannot send the reply"))?;
            return Ok(());
        }
        _ => {
            return Err(CmdError(
                errno(bindings::EOPNOTSUPP),
                c"IPVS_RS: unknown command",
            ))
        }
    }
    services.purge_trash();
    Ok(())
}

/// genetlink `doit` of the IPVS_RS family.
///
/// # Safety
///
/// Called by genetlink with a valid request and info.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_ext_doit(
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

fn dumpit(dump: &mut Dump<'_>) -> core::result::Result<bool, c_int> {
    let st = NetState::get(dump.net()).ok_or(errno(bindings::ENODEV).to_errno())?;
    if dump.cmd() != cmd::GET_LADDR {
        return Err(errno(bindings::EOPNOTSUPP).to_errno());
    }
    // Like GET_DEST: an unknown or missing service dumps nothing.
    let Ok(key) = ExtAttrs::parse(dump.attrs()).and_then(|a| a.service_key()) else {
        return Ok(true);
    };
    let services = st.services.lock();
    let Some(svc) = services.find(&key) else {
        return Ok(true);
    };
    let mut i = usize::try_from(dump.cursor()[0]).unwrap_or(0);
    loop {
        let mut buf = [0u8; ENTRY_MAX];
        let mut w = AttrWriter::new(&mut buf);
        let Some(l) = svc.laddr_at(i) else {
            return Ok(true);
        };
        encode_laddr_entry(&mut w, &key, &l.addr, l.conns(), l.exhausted())
            .map_err(|_| errno(bindings::EMSGSIZE).to_errno())?;
        if dump.put(cmd::NEW_LADDR, w.as_bytes()).is_err() {
            dump.cursor()[0] = i as kernel::ffi::c_long;
            return Ok(false);
        }
        i += 1;
    }
}

/// genetlink `dumpit` of the IPVS_RS family.
///
/// # Safety
///
/// Called by genetlink with a valid dump skb and callback.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_ext_dumpit(
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
