// SPDX-License-Identifier: GPL-2.0
//! Run-time configuration of one network namespace that does not depend on
//! the service table: connection table sizing and the global timeouts.

/// Smallest accepted `conn_tab_bits` (upstream `CONFIG_IP_VS_TAB_BITS` range).
pub const CONN_TAB_BITS_MIN: u32 = 8;
/// Largest accepted `conn_tab_bits`.
pub const CONN_TAB_BITS_MAX: u32 = 20;
/// Default `conn_tab_bits`: 4096 buckets, as upstream.
pub const CONN_TAB_BITS_DEFAULT: u32 = 12;

/// Validates the `conn_tab_bits` module parameter.
///
/// Upstream silently falls back to the default when the value is out of
/// range; we do the same but tell the caller so it can log it.
pub fn conn_tab_bits(requested: u32) -> Result<u32, u32> {
    if (CONN_TAB_BITS_MIN..=CONN_TAB_BITS_MAX).contains(&requested) {
        Ok(requested)
    } else {
        Err(CONN_TAB_BITS_DEFAULT)
    }
}

/// Number of buckets of a connection table with `bits` hash bits.
pub const fn conn_tab_size(bits: u32) -> u32 {
    1 << bits
}

/// The three timeouts `ipvsadm --set` manages, in seconds.
///
/// Zero in a request means "leave unchanged", as upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after the client's FIN (`FIN_WAIT`).
    pub tcp_fin: u32,
    /// UDP flows.
    pub udp: u32,
}

impl Timeouts {
    /// Upstream IPVS defaults: 900 s, 120 s, 300 s.
    pub const DEFAULT: Timeouts = Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_bits_range() {
        assert_eq!(conn_tab_bits(12), Ok(12));
        assert_eq!(conn_tab_bits(8), Ok(8));
        assert_eq!(conn_tab_bits(20), Ok(20));
        assert_eq!(conn_tab_bits(7), Err(12));
        assert_eq!(conn_tab_bits(21), Err(12));
        assert_eq!(conn_tab_size(12), 4096);
    }

    #[test]
    fn default_timeouts_match_upstream() {
        assert_eq!(
            Timeouts::default(),
            Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            }
        );
    }
}
