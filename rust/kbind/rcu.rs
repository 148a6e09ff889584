// SPDX-License-Identifier: GPL-2.0
//! RCU read-side sections, grace periods, bottom-half disabling, jiffies
//! and randomness.

use super::bindings;
use core::marker::PhantomData;

/// An RCU read-side critical section, ended on drop.
pub struct RcuGuard(PhantomData<*mut ()>);

impl RcuGuard {
    /// Enters a read-side section.
    pub fn new() -> Self {
        // SAFETY: balanced by the unlock in drop; the guard is !Send.
        unsafe { bindings::ipvs_rs_rcu_read_lock() };
        RcuGuard(PhantomData)
    }
}

impl Default for RcuGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RcuGuard {
    fn drop(&mut self) {
        // SAFETY: locked in new() on this CPU/task.
        unsafe { bindings::ipvs_rs_rcu_read_unlock() };
    }
}

/// Waits for every pre-existing RCU reader. Process context only.
pub fn synchronize_rcu() {
    // SAFETY: callers are in process context (control plane, netns exit).
    unsafe { bindings::synchronize_rcu() };
}

/// Waits for every pending `call_rcu` callback. Process context only.
pub fn rcu_barrier() {
    // SAFETY: callers are in process context.
    unsafe { bindings::rcu_barrier() };
}

/// Bottom halves disabled on this CPU until drop (so process context can
/// take a lock the packet path takes in softirq). In softirq context (the
/// packet path), or with bottom halves already off, nothing is done either
/// way: they stay off until the guard is gone.
pub struct BhGuard(bool, PhantomData<*mut ()>);

impl BhGuard {
    /// Disables bottom halves (if they are not already).
    pub fn new() -> Self {
        // SAFETY: balanced in drop when it disabled them; the guard is
        // !Send.
        let disabled = unsafe { bindings::ipvs_rs_local_bh_disable() };
        BhGuard(disabled, PhantomData)
    }
}

impl Default for BhGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BhGuard {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: disabled in new() on this CPU.
            unsafe { bindings::ipvs_rs_local_bh_enable() };
        }
    }
}

/// The current jiffies.
#[inline]
pub fn jiffies() -> u64 {
    // SAFETY: `jiffies` is the kernel's exported tick counter, always
    // mapped; a volatile word-sized read is the kernel's READ_ONCE.
    unsafe { core::ptr::read_volatile(&raw const kernel::bindings::jiffies) as u64 }
}

/// The kernel's HZ.
#[inline]
pub fn hz() -> u32 {
    kernel::bindings::CONFIG_HZ
}

/// A random u64 (`get_random_u64`).
pub fn random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { bindings::ipvs_rs_random_u64() }
}
