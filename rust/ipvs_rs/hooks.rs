// SPDX-License-Identifier: GPL-2.0
//! Netfilter hook entry points, at upstream IPVS's places and priorities
//! (the table is `ipvs_rs_nf_ops` in the shim).
//!
//! With no virtual services configured every packet is accepted unchanged;
//! the director's data plane plugs in here.

use crate::kbind::bindings;
use core::ffi::{c_uint, c_void};

macro_rules! hook {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// Called by netfilter with a valid skb and hook state.
        #[no_mangle]
        pub(crate) unsafe extern "C" fn $name(
            _priv: *mut c_void,
            _skb: *mut bindings::sk_buff,
            _state: *const bindings::nf_hook_state,
        ) -> c_uint {
            bindings::NF_ACCEPT
        }
    };
}

hook!(
    /// LOCAL_IN and FORWARD: replies from real servers (NAT).
    ipvs_rs_reply4
);
hook!(
    /// LOCAL_IN: requests from remote clients to a virtual service.
    ipvs_rs_remote_request4
);
hook!(
    /// LOCAL_OUT: replies to local clients.
    ipvs_rs_local_reply4
);
hook!(
    /// LOCAL_OUT: requests from local clients to a virtual service.
    ipvs_rs_local_request4
);
hook!(
    /// FORWARD: ICMP errors about forwarded connections.
    ipvs_rs_forward_icmp4
);
