// SPDX-License-Identifier: GPL-2.0
//! Netfilter hook entry points, at upstream IPVS's places and priorities
//! (the table is `ipvs_rs_nf_ops` in the shim).
//!
//! Each entry point wraps the raw arguments and hands them to
//! `dataplane.rs`, and counts a drop in the namespace's drop ledger
//! (`drops.rs`) under the reason the verdict carries.

use crate::dataplane::{self, Verdict};
use crate::kbind::bindings;
use crate::kbind::netns::NetRef;
use crate::kbind::skb::SkBuff;
use crate::netns::NetState;
use core::ffi::{c_uint, c_void};

macro_rules! hook {
    ($(#[$doc:meta])* $name:ident => $f:path) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// Called by netfilter with a valid skb and hook state.
        #[no_mangle]
        pub(crate) unsafe extern "C" fn $name(
            _priv: *mut c_void,
            skb: *mut bindings::sk_buff,
            state: *const bindings::nf_hook_state,
        ) -> c_uint {
            // SAFETY: netfilter passes the skb it is running the hook on,
            // and the hook state (read here, a plain struct) whose namespace
            // holds a reference for the duration of the hook.
            let (skb, net) = unsafe { (SkBuff::from_raw(skb), NetRef::new((*state).net)) };
            let verdict = $f(skb, net);
            if let Verdict::Drop(why) = verdict {
                if let Some(st) = NetState::get(net) {
                    st.drops.count(why);
                }
            }
            verdict.raw()
        }
    };
}

hook!(
    /// FORWARD: replies from real servers (NAT).
    ipvs_rs_reply4 => dataplane::forward_reply
);
hook!(
    /// LOCAL_IN: replies to local clients and FULLNAT local addresses.
    ipvs_rs_local_in_reply4 => dataplane::local_in_reply
);
hook!(
    /// LOCAL_IN: requests from remote clients to a virtual service.
    ipvs_rs_remote_request4 => dataplane::remote_request
);
hook!(
    /// LOCAL_OUT: requests from clients on the director itself.
    ipvs_rs_local_request4 => dataplane::local_request
);
hook!(
    /// FORWARD: ICMP errors from clients about connections whose virtual
    /// address is not local (`ip_vs_forward_icmp`).
    ipvs_rs_forward_icmp4 => forward_icmp
);

fn forward_icmp(mut skb: SkBuff, net: NetRef<'_>) -> Verdict {
    if dataplane::ip_proto(&mut skb) != Some(ipvs_core::packet::IPPROTO_ICMP) {
        return Verdict::Accept;
    }
    crate::icmp::from_client(skb, net, dataplane::Hook::Forward)
}
