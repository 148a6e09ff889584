// SPDX-License-Identifier: GPL-2.0
//! Netlink attribute encoding and the IPVS generic netlink ABI.
//!
//! The kernel glue registers the family without an attribute policy and
//! hands the raw request payload to this module, so all validation of
//! control-plane input happens here, in host-tested code.

pub mod attr;
pub mod ext;
pub mod ipvs;
pub mod service;

pub use attr::{Attr, AttrError, AttrWriter, Attrs, WriteError};
