// SPDX-License-Identifier: GPL-2.0
//! `toa_rs`: runs on real servers behind a FULLNAT director and gives
//! applications the client address the director wrote into the TCP option
//! (kind 254, see `ipvs_core::toa`).

// Module code never panics on input (checked by clippy-driver: the module
// build runs with CLIPPY=1), and every unsafe block says why it is sound.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::undocumented_unsafe_blocks
)]

use kernel::prelude::*;

module! {
    type: ToaRs,
    name: "toa_rs",
    author: "ipvs_rs developers",
    description: "TCP option address (TOA) for real servers behind ipvs_rs FULLNAT",
    license: "GPL",
}

struct ToaRs;

impl kernel::Module for ToaRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!(
            "loaded (TOA option kind {}, length {})\n",
            ipvs_core::toa::TOA_KIND,
            ipvs_core::toa::TOA_LEN_V4
        );
        Ok(ToaRs)
    }
}

impl Drop for ToaRs {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
