// SPDX-License-Identifier: GPL-2.0
//! errno values as `kernel::error::Error`.

use kernel::error::Error;

/// The error for a positive errno constant from the bindings
/// (`errno(bindings::EMSGSIZE)`).
pub fn errno(positive: u32) -> Error {
    // errno constants are small positive numbers; from_errno maps anything
    // out of range to EINVAL.
    Error::from_errno(-(positive as core::ffi::c_int))
}
