// SPDX-License-Identifier: GPL-2.0
//! Kernel-independent core of `ipvs_rs`.
//!
//! Everything here is `no_std` and allocation-free so that it compiles into
//! the kernel modules unchanged and is tested on the host with `cargo test`.
//! The kernel glue (`rust/ipvs_rs`, `rust/toa_rs`) only moves bytes between
//! kernel objects and the functions of this crate.
//!
//! Code in this crate must never panic on input: no `unwrap`, `expect` or
//! unchecked indexing (enforced by clippy, see the workspace `Cargo.toml`).

// kbuild adds `#![no_std]` itself (and `--cfg kbuild`, see Kbuild).
#![cfg_attr(not(any(test, kbuild)), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod addr;
pub mod config;
pub mod conn;
pub mod control;
pub mod drops;
pub mod errno;
pub mod estimator;
pub mod fnat_ports;
pub mod netlink;
pub mod packet;
pub mod procfs;
pub mod proxy_protocol;
pub mod sched;
pub mod service;
pub mod stats;
pub mod synproxy;
pub mod toa;
pub mod version;
