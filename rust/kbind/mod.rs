// SPDX-License-Identifier: GPL-2.0
//! Kernel-facing glue: the bindgen output and the small safe types wrapping
//! it. `ipvs_rs` mounts this directory as its `kbind` module
//! (`#[path = "../kbind/mod.rs"]`). The wrappers reach the bindings as
//! `super::bindings`, so another module crate can mount just the files it
//! needs side by side.

pub mod bindings;
pub mod error;
pub mod genl;
pub mod kvec;
pub mod netns;
pub mod rcu;
pub mod route_cache;
pub mod skb;
