// SPDX-License-Identifier: GPL-2.0
//! The TOA ("TCP option address") option a FULLNAT director writes so the
//! real server can learn the client's address.
//!
//! IPv4 layout, as used by the LVS ecosystem (Alibaba LVS, DPVS):
//! `kind u8 = 254 | len u8 = 8 | port be16 | address be32`.

/// TCP option kind of TOA.
pub const TOA_KIND: u8 = 254;
/// Length of the IPv4 TOA option, header included.
pub const TOA_LEN_V4: u8 = 8;

/// The client endpoint carried by a TOA option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToaV4 {
    /// Client IPv4 address, octets in network order.
    pub addr: [u8; 4],
    /// Client port, host order.
    pub port: u16,
}

impl ToaV4 {
    /// The option's wire bytes.
    pub fn encode(&self) -> [u8; TOA_LEN_V4 as usize] {
        let [p0, p1] = self.port.to_be_bytes();
        let [a0, a1, a2, a3] = self.addr;
        [TOA_KIND, TOA_LEN_V4, p0, p1, a0, a1, a2, a3]
    }

    /// Reads an option from its wire bytes (kind and length included).
    /// Returns `None` unless it is exactly an IPv4 TOA option.
    pub fn decode(opt: &[u8]) -> Option<Self> {
        match *opt {
            [TOA_KIND, TOA_LEN_V4, p0, p1, a0, a1, a2, a3] => Some(ToaV4 {
                addr: [a0, a1, a2, a3],
                port: u16::from_be_bytes([p0, p1]),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wire_layout() {
        let t = ToaV4 {
            addr: [10, 0, 0, 2],
            port: 40000,
        };
        assert_eq!(t.encode(), [254, 8, 0x9c, 0x40, 10, 0, 0, 2]);
        assert_eq!(ToaV4::decode(&t.encode()), Some(t));
    }

    #[test]
    fn rejects_other_options() {
        assert_eq!(ToaV4::decode(&[254, 8, 0, 0, 0, 0, 0]), None);
        assert_eq!(ToaV4::decode(&[253, 8, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(ToaV4::decode(&[254, 20, 0, 0, 0, 0, 0, 0]), None);
    }

    proptest! {
        #[test]
        fn roundtrip(addr in any::<[u8; 4]>(), port in any::<u16>()) {
            let t = ToaV4 { addr, port };
            prop_assert_eq!(ToaV4::decode(&t.encode()), Some(t));
        }
    }
}
