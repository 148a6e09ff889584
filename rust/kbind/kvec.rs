// SPDX-License-Identifier: GPL-2.0
//! What `KVec` lacks in this kernel version.

use kernel::alloc::KVec;

/// Removes and returns the element at `index`, shifting the rest down
/// (order kept), or `None` if out of range.
pub fn remove<T>(v: &mut KVec<T>, index: usize) -> Option<T> {
    let len = v.len();
    if index >= len {
        return None;
    }
    v.as_mut_slice().get_mut(index..)?.rotate_left(1);
    // SAFETY: len >= 1 (index < len). After the rotation the element to
    // remove is the last one; shrinking the length first means the vector
    // no longer owns it, and ptr::read moves it out exactly once.
    unsafe {
        v.set_len(len - 1);
        Some(core::ptr::read(v.as_ptr().add(len - 1)))
    }
}

/// Drops every element.
pub fn clear<T>(v: &mut KVec<T>) {
    while remove(v, v.len().wrapping_sub(1)).is_some() {}
}

/// Inserts `x` at the front, shifting the rest up (order kept).
pub fn push_front<T>(
    v: &mut KVec<T>,
    x: T,
    flags: kernel::alloc::Flags,
) -> Result<(), kernel::alloc::AllocError> {
    v.push(x, flags)?;
    v.as_mut_slice().rotate_right(1);
    Ok(())
}
