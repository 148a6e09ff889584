// SPDX-License-Identifier: GPL-2.0
//! Mutual exclusion with upstream `ip_vs`.
//!
//! Both implement the generic netlink family `IPVS`, so only one can be
//! loaded. Loading `ipvs_rs` while `ip_vs` is loaded fails when the family
//! is registered (see `genl.rs`). The reverse is refused here: a module
//! notifier vetoes `ip_vs` in `MODULE_STATE_COMING`, before its init runs,
//! so `modprobe ip_vs` fails cleanly with `EBUSY`.

use crate::kbind::bindings;
use core::ffi::{c_int, c_ulong, c_void, CStr};
use kernel::error::{code, to_result, Result};
use kernel::prelude::*;

/// Modules that must not load next to `ipvs_rs`.
const CONFLICTING: &[&CStr] = &[c"ip_vs"];

/// The registered module notifier.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the notifier block is a static of the shim that lives as
        // long as the module; it is unregistered in drop.
        to_result(unsafe {
            bindings::register_module_notifier(core::ptr::addr_of_mut!(bindings::ipvs_rs_module_nb))
        })?;
        Ok(Self)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in new().
        unsafe {
            bindings::unregister_module_notifier(core::ptr::addr_of_mut!(
                bindings::ipvs_rs_module_nb
            ))
        };
    }
}

/// `notifier_from_errno()`.
fn notifier_from_errno(err: kernel::error::Error) -> c_int {
    (bindings::NOTIFY_STOP_MASK as c_int) | (bindings::NOTIFY_OK as c_int - err.to_errno())
}

/// Module notifier callback: vetoes conflicting modules as they come.
///
/// # Safety
///
/// Called by the module loader with `data` pointing to the `struct module`
/// changing state.
#[no_mangle]
pub(crate) unsafe extern "C" fn ipvs_rs_module_notify(
    _nb: *mut bindings::notifier_block,
    action: c_ulong,
    data: *mut c_void,
) -> c_int {
    if action != c_ulong::from(bindings::module_state_MODULE_STATE_COMING) || data.is_null() {
        return bindings::NOTIFY_DONE as c_int;
    }
    // SAFETY: the loader passes the module being loaded; its name is a
    // NUL-terminated array inside it.
    let name = unsafe { CStr::from_ptr(bindings::ipvs_rs_module_name(data.cast()).cast()) };
    if CONFLICTING.contains(&name) {
        pr_err!(
            "refusing to load {:?}: ipvs_rs implements the same IPVS netlink ABI; rmmod ipvs_rs first\n",
            name
        );
        return notifier_from_errno(code::EBUSY);
    }
    bindings::NOTIFY_DONE as c_int
}
