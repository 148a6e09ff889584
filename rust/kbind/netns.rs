// SPDX-License-Identifier: GPL-2.0
//! Network namespaces: a handle and the per-namespace slot of a module.

use super::bindings;
use core::marker::PhantomData;

/// A network namespace the caller holds a reference to (a netfilter hook's
/// `state->net`, a netlink socket's namespace, a pernet callback's `net`).
#[derive(Clone, Copy)]
pub struct NetRef<'a>(*mut bindings::net, PhantomData<&'a bindings::net>);

impl NetRef<'_> {
    /// Wraps a `struct net` pointer obtained from the kernel.
    ///
    /// # Safety
    ///
    /// `net` must be a live namespace for the handle's lifetime.
    pub unsafe fn new(net: *mut bindings::net) -> Self {
        Self(net, PhantomData)
    }

    /// The raw pointer, for kernel calls.
    pub fn as_ptr(self) -> *mut bindings::net {
        self.0
    }

    /// The module's per-namespace pointer slot (`net_generic`), where the
    /// module keeps its state for this namespace.
    pub fn slot(self) -> *mut *mut core::ffi::c_void {
        // SAFETY: self.0 is a live namespace (see the type's contract), and
        // the pernet subsystem owning the slot is registered while the
        // module is loaded.
        unsafe { bindings::ipvs_rs_net_slot(self.0) }
    }
}
