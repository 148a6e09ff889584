// SPDX-License-Identifier: GPL-2.0
//! Family-generic addresses, laid out like the kernel's `union nf_inet_addr`
//! (16 bytes, IPv4 in the first 4) plus an address family, so IPv6 needs no
//! redesign.

use core::fmt;

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// An address family this project handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Af {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Af {
    /// From an `AF_*` number.
    pub fn from_raw(af: u16) -> Option<Af> {
        match af {
            AF_INET => Some(Af::Inet),
            AF_INET6 => Some(Af::Inet6),
            _ => None,
        }
    }

    /// The `AF_*` number.
    pub fn raw(self) -> u16 {
        match self {
            Af::Inet => AF_INET,
            Af::Inet6 => AF_INET6,
        }
    }

    /// Address length in bytes.
    pub fn addr_len(self) -> usize {
        match self {
            Af::Inet => 4,
            Af::Inet6 => 16,
        }
    }

    /// Longest prefix length.
    pub fn max_prefix(self) -> u8 {
        match self {
            Af::Inet => 32,
            Af::Inet6 => 128,
        }
    }
}

/// An address of a given family; bytes past the family's length are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    af: Af,
    bytes: [u8; 16],
}

impl Addr {
    /// An IPv4 address from its octets.
    #[inline]
    pub const fn v4(octets: [u8; 4]) -> Addr {
        let [a, b, c, d] = octets;
        Addr {
            af: Af::Inet,
            bytes: [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        }
    }

    /// An IPv6 address from its octets.
    pub const fn v6(octets: [u8; 16]) -> Addr {
        Addr {
            af: Af::Inet6,
            bytes: octets,
        }
    }

    /// From an `nf_inet_addr` image; bytes beyond the family's length are
    /// cleared so equal addresses compare equal.
    pub fn from_inet(af: Af, raw: [u8; 16]) -> Addr {
        let mut bytes = [0u8; 16];
        let n = af.addr_len();
        if let (Some(dst), Some(src)) = (bytes.get_mut(..n), raw.get(..n)) {
            dst.copy_from_slice(src);
        }
        Addr { af, bytes }
    }

    /// The family.
    #[inline]
    pub fn af(&self) -> Af {
        self.af
    }

    /// The `nf_inet_addr` image (16 bytes).
    #[inline]
    pub fn inet(&self) -> [u8; 16] {
        self.bytes
    }

    /// The address bytes (4 or 16).
    pub fn octets(&self) -> &[u8] {
        self.bytes.get(..self.af.addr_len()).unwrap_or(&self.bytes)
    }

    /// The IPv4 address as a host-order integer (0 for IPv6).
    pub fn v4_u32(&self) -> u32 {
        match self.af {
            Af::Inet => {
                let [a, b, c, d, ..] = self.bytes;
                u32::from_be_bytes([a, b, c, d])
            }
            Af::Inet6 => 0,
        }
    }

    /// The address with only its first `prefix` bits kept.
    pub fn masked(&self, prefix: u8) -> Addr {
        let mut bytes = self.bytes;
        let keep = usize::from(prefix.min(self.af.max_prefix()));
        for (i, b) in bytes.iter_mut().enumerate() {
            let bit = i * 8;
            if bit >= keep {
                *b = 0;
            } else if keep - bit < 8 {
                *b &= 0xffu8 << (8 - (keep - bit));
            }
        }
        Addr { af: self.af, bytes }
    }

    /// Whether this is the all-zero address.
    pub fn is_unspecified(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.af {
            Af::Inet => {
                let [a, b, c, d, ..] = self.bytes;
                write!(f, "{a}.{b}.{c}.{d}")
            }
            Af::Inet6 => {
                // Full form with zero compression of the longest run, as
                // RFC 5952 and ipvsadm do.
                let mut w = [0u16; 8];
                for (i, x) in w.iter_mut().enumerate() {
                    let hi = self.bytes.get(2 * i).copied().unwrap_or(0);
                    let lo = self.bytes.get(2 * i + 1).copied().unwrap_or(0);
                    *x = u16::from_be_bytes([hi, lo]);
                }
                let (mut best, mut best_len, mut cur, mut cur_len) = (0, 0, 0, 0);
                for (i, &x) in w.iter().enumerate() {
                    if x == 0 {
                        if cur_len == 0 {
                            cur = i;
                        }
                        cur_len += 1;
                        if cur_len > best_len {
                            best = cur;
                            best_len = cur_len;
                        }
                    } else {
                        cur_len = 0;
                    }
                }
                let mut i = 0;
                while i < 8 {
                    if best_len > 1 && i == best {
                        f.write_str(if i == 0 { "::" } else { ":" })?;
                        i += best_len;
                        continue;
                    }
                    write!(f, "{:x}", w.get(i).copied().unwrap_or(0))?;
                    if i < 7 {
                        f.write_str(":")?;
                    }
                    i += 1;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_layout_and_display() {
        let a = Addr::v4([10, 0, 1, 100]);
        assert_eq!(a.inet()[..4], [10, 0, 1, 100]);
        assert_eq!(a.inet()[4..], [0; 12]);
        assert_eq!(a.to_string(), "10.0.1.100");
        assert_eq!(a.v4_u32(), 0x0a00_0164);
        assert_eq!(
            Addr::from_inet(
                Af::Inet,
                [10, 0, 1, 100, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]
            ),
            a
        );
    }

    #[test]
    fn masks() {
        let a = Addr::v4([192, 168, 77, 201]);
        assert_eq!(a.masked(24), Addr::v4([192, 168, 77, 0]));
        assert_eq!(a.masked(20), Addr::v4([192, 168, 64, 0]));
        assert_eq!(a.masked(0), Addr::v4([0, 0, 0, 0]));
        assert_eq!(a.masked(32), a);
        assert_eq!(a.masked(200), a);
    }

    #[test]
    fn v6_display() {
        let mut b = [0u8; 16];
        b[0] = 0x20;
        b[1] = 0x01;
        b[2] = 0x0d;
        b[3] = 0xb8;
        b[15] = 1;
        assert_eq!(Addr::v6(b).to_string(), "2001:db8::1");
        assert_eq!(Addr::v6([0; 16]).to_string(), "::");
    }
}
