// SPDX-License-Identifier: GPL-2.0
//! Errors the core reports, as Linux errno values with a message for the
//! netlink extended ack (static, as the kernel requires).

use core::ffi::CStr;

/// Linux errno values the core returns (numbers as on every Linux arch
/// this project targets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted.
    Eperm = 1,
    /// No such entry (destination, scheduler).
    Enoent = 2,
    /// No such service.
    Esrch = 3,
    /// Out of memory.
    Enomem = 12,
    /// Already exists.
    Eexist = 17,
    /// Invalid argument.
    Einval = 22,
    /// Out of range.
    Erange = 34,
    /// Message too long.
    Emsgsize = 90,
    /// Protocol not supported.
    Eprotonosupport = 93,
    /// Operation not supported.
    Eopnotsupp = 95,
    /// Address family not supported.
    Eafnosupport = 97,
}

impl Errno {
    /// The positive errno number.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error with the extended-ack message naming its cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// The errno.
    pub errno: Errno,
    /// What was wrong, naming the field or object.
    pub msg: &'static CStr,
}

impl Error {
    /// An error with a message.
    pub const fn new(errno: Errno, msg: &'static CStr) -> Self {
        Error { errno, msg }
    }
}

/// Result with a core [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
