// SPDX-License-Identifier: GPL-2.0
//! A raw spinlock taken with interrupts off, usable from every context a
//! probe handler runs in.
//!
//! Probe handlers cannot nest on a CPU (the kprobe core skips a probe hit
//! while another handler runs there, counting it in `nmissed`), and the
//! lock is only taken inside handlers with interrupts off, so it can never
//! be contended by its own CPU. A kprobe hit through `int3` (before or
//! without jump optimization) runs in NMI context, where lockdep accepts
//! only try-locks: there the lock spins on `trylock`.

use crate::bindings;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use kernel::types::Opaque;

/// `T` behind a raw spinlock.
pub(crate) struct IrqSpinLock<T> {
    lock: Opaque<bindings::raw_spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which holds the lock.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}
// SAFETY: moving the lock moves the data with it (and the lock is not
// initialised before it reaches its final place, see `init`).
unsafe impl<T: Send> Send for IrqSpinLock<T> {}

impl<T> IrqSpinLock<T> {
    /// A lock that must be [`init`](Self::init)ialised where it will stay
    /// before it is taken.
    pub(crate) fn new(data: T) -> Self {
        IrqSpinLock {
            lock: Opaque::uninit(),
            data: UnsafeCell::new(data),
        }
    }

    /// Initialises the lock in place.
    ///
    /// # Safety
    ///
    /// `self` must not move afterwards, and `init` runs once, before any
    /// [`lock`](Self::lock).
    pub(crate) unsafe fn init(&self) {
        // SAFETY: the lock's memory is ours and not in use (see above).
        unsafe { bindings::toa_rs_lock_init(self.lock.get()) };
    }

    /// Takes the lock, with interrupts off until the guard drops.
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        // SAFETY: saves and disables the local interrupt state; restored
        // by the guard.
        let flags = unsafe { bindings::toa_rs_irq_save() };
        // SAFETY: reads the preempt count.
        if unsafe { bindings::toa_rs_in_nmi() } {
            // SAFETY: an initialised lock (the users initialise before
            // publishing); trylock never blocks.
            while !unsafe { bindings::toa_rs_raw_trylock(self.lock.get()) } {
                core::hint::spin_loop();
            }
        } else {
            // SAFETY: as above; never held by this CPU (see the module
            // doc), so this cannot deadlock.
            unsafe { bindings::toa_rs_raw_lock(self.lock.get()) };
        }
        Guard { lock: self, flags }
    }
}

/// The held lock.
pub(crate) struct Guard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    flags: kernel::ffi::c_ulong,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the
        // only reference through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock, taken by this CPU with
        // interrupts off; `flags` is what the save returned.
        unsafe {
            bindings::toa_rs_raw_unlock(self.lock.lock.get());
            bindings::toa_rs_irq_restore(self.flags);
        }
    }
}
