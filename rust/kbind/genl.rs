// SPDX-License-Identifier: GPL-2.0
//! Safe views of the generic netlink objects a handler receives.
//!
//! The family is registered without an attribute policy, so a handler gets
//! the request's raw attribute bytes ([`Request::attrs`]) and validates them
//! with `ipvs_core::netlink`; replies are attribute bytes built by
//! `ipvs_core` and copied into a netlink message by the shim.

use super::bindings;
use super::error::errno;
use super::netns::NetRef;
use core::ffi::CStr;
use kernel::error::{to_result, Result};

/// `NLMSG_HDRLEN`: the aligned size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
/// `GENL_HDRLEN`: the aligned size of `struct genlmsghdr`.
const GENL_HDRLEN: usize = 4;

/// The bytes of a netlink message after the generic netlink header.
///
/// # Safety
///
/// `nlh` must point to a netlink message whose `nlmsg_len` bytes are
/// readable and stay valid for `'a`.
unsafe fn genl_payload<'a>(nlh: *const bindings::nlmsghdr) -> (u8, &'a [u8]) {
    // SAFETY: per the function contract the header is readable.
    let len = unsafe { (*nlh).nlmsg_len } as usize;
    // SAFETY: netlink core checked that nlmsg_len bytes are in the (linear)
    // request skb before calling the handler; they outlive the handler call.
    let msg = unsafe { core::slice::from_raw_parts(nlh.cast::<u8>(), len) };
    // genetlink only dispatches messages at least NLMSG_HDRLEN + GENL_HDRLEN
    // long, but stay defensive: a short message has no command and no attrs.
    let cmd = msg.get(NLMSG_HDRLEN).copied().unwrap_or(0);
    (cmd, msg.get(NLMSG_HDRLEN + GENL_HDRLEN..).unwrap_or(&[]))
}

/// A request being handled by a `doit` callback.
pub struct Request<'a> {
    info: &'a mut bindings::genl_info,
    cmd: u8,
    attrs: &'a [u8],
}

impl<'a> Request<'a> {
    /// Wraps the `genl_info` genetlink passes to `doit`.
    ///
    /// # Safety
    ///
    /// `info` must be the pointer a genetlink `doit` callback received, used
    /// only during that callback.
    pub unsafe fn from_raw(info: *mut bindings::genl_info) -> Self {
        // SAFETY: genetlink passes a valid, exclusive genl_info to doit.
        let info = unsafe { &mut *info };
        // SAFETY: info->nlhdr is the request, valid during the callback.
        let (cmd, attrs) = unsafe { genl_payload(info.nlhdr) };
        Self { info, cmd, attrs }
    }

    /// The generic netlink command.
    pub fn cmd(&self) -> u8 {
        self.cmd
    }

    /// The request's attribute bytes (after the generic netlink header).
    pub fn attrs(&self) -> &'a [u8] {
        self.attrs
    }

    /// The network namespace of the requesting socket.
    pub fn net(&self) -> NetRef<'a> {
        // SAFETY: info is valid and the shim reads info->_net; the socket
        // that sent the request pins its namespace for the whole call.
        unsafe { NetRef::new(bindings::ipvs_rs_genl_info_net(&*self.info)) }
    }

    /// Sets the extended ack message returned with an error.
    pub fn set_err_msg(&mut self, msg: &'static CStr) {
        // SAFETY: info->extack is valid for the call (or NULL, which the
        // macro behind the shim tolerates); msg is 'static as required since
        // the ack is built after the handler returns.
        unsafe { bindings::ipvs_rs_extack_set_msg(self.info.extack, msg.as_ptr().cast()) }
    }

    /// Sends a unicast reply with command `cmd` and the given attributes.
    pub fn reply(&mut self, cmd: u8, attrs: &[u8]) -> Result {
        let len = u32::try_from(attrs.len()).map_err(|_| errno(bindings::EMSGSIZE))?;
        // SAFETY: info is valid; attrs is readable for len bytes and only
        // copied during the call.
        to_result(unsafe {
            bindings::ipvs_rs_genl_reply(self.info, cmd, attrs.as_ptr().cast(), len)
        })
    }
}

/// One round of a dump (`dumpit` callback): append entries until full.
pub struct Dump<'a> {
    skb: *mut bindings::sk_buff,
    cb: &'a mut bindings::netlink_callback,
    cmd: u8,
    attrs: &'a [u8],
    added: bool,
}

/// The dump message has no room for another entry.
#[derive(Debug)]
pub struct Full;

impl<'a> Dump<'a> {
    /// Wraps the arguments of a `dumpit` callback.
    ///
    /// # Safety
    ///
    /// `skb` and `cb` must be the pointers a genetlink `dumpit` callback
    /// received, used only during that callback.
    pub unsafe fn from_raw(
        skb: *mut bindings::sk_buff,
        cb: *mut bindings::netlink_callback,
    ) -> Self {
        // SAFETY: netlink passes a valid callback, exclusively ours for the call.
        let cb = unsafe { &mut *cb };
        // SAFETY: cb->nlh is the dump request, kept by netlink for the dump.
        let (cmd, attrs) = unsafe { genl_payload(cb.nlh) };
        Self {
            skb,
            cb,
            cmd,
            attrs,
            added: false,
        }
    }

    /// The generic netlink command of the dump request.
    pub fn cmd(&self) -> u8 {
        self.cmd
    }

    /// The dump request's attribute bytes.
    pub fn attrs(&self) -> &'a [u8] {
        self.attrs
    }

    /// The network namespace of the requesting socket.
    pub fn net(&self) -> NetRef<'a> {
        // SAFETY: cb is valid and the shim reads sock_net(cb->skb->sk); the
        // dumping socket pins its namespace for the whole dump.
        unsafe { NetRef::new(bindings::ipvs_rs_cb_net(&*self.cb)) }
    }

    /// Cursor kept across rounds of this dump (`cb->args`), all zero at start.
    pub fn cursor(&mut self) -> &mut [kernel::ffi::c_long; 6] {
        // SAFETY: `args` and `ctx` alias the same zero-initialised bytes;
        // this family uses the `args` view only.
        unsafe { &mut self.cb.__bindgen_anon_1.args }
    }

    /// Appends one entry with command `cmd`.
    pub fn put(&mut self, cmd: u8, attrs: &[u8]) -> core::result::Result<(), Full> {
        let len = u32::try_from(attrs.len()).map_err(|_| Full)?;
        // SAFETY: skb and cb are valid for the callback; attrs is readable
        // for len bytes and only copied.
        let ret = unsafe {
            bindings::ipvs_rs_genl_dump_put(self.skb, self.cb, cmd, attrs.as_ptr().cast(), len)
        };
        if ret == 0 {
            self.added = true;
            Ok(())
        } else {
            Err(Full)
        }
    }

    /// The `dumpit` return value: positive while entries were added this
    /// round (call again), 0 when the dump is complete, or an error when
    /// not even one entry fit.
    pub fn finish(self, complete: bool) -> core::ffi::c_int {
        match (complete, self.added) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => errno(bindings::EMSGSIZE).to_errno(),
        }
    }
}
