// SPDX-License-Identifier: GPL-2.0
//! Destination hashing (`ip_vs_dh.c`): a static table of 256 buckets maps
//! the packet's destination address (`iph->daddr`) to a server, for cache
//! clusters where each origin address should always hit the same cache.
//!
//! As upstream: bucket `b` holds server `b mod n` (the list, cycled in
//! order, weights ignored); the bucket of an address is `hash_32(fold(daddr),
//! 8)`; if that server is quiesced (weight 0) or overloaded there is no
//! fallback: no server. The table is rebuilt when servers are added or
//! removed (upstream has no `upd_dest` for `dh`).

use super::hash::{fold, hash_32_shr};
use super::{available_at, Dests, SchedError, SchedInput, NO_DEST};

/// Upstream's table size (`IP_VS_DH_TAB_BITS` = 8, not configurable).
pub const DH_TABLE_SIZE: usize = 256;

/// `log2(len)` if `len` is a power of two from 2 to 2^20 (the sizes the
/// hash-table schedulers accept).
pub(crate) fn table_bits(len: usize) -> Option<u32> {
    (len.is_power_of_two() && (2..=1 << 20).contains(&len)).then(|| len.trailing_zeros())
}

/// The server at table entry `v`, if any, and whether it is available
/// ([`super::DestView::available`]).
#[inline]
pub(crate) fn bucket_dest<D: Dests + ?Sized>(dests: &D, v: u32) -> Option<(usize, bool)> {
    // NO_DEST (u32::MAX) is no index of any list (a list's length fits
    // in a u32, see `update`), so the lookup itself says "none".
    let i = v as usize;
    available_at(dests, i).map(|a| (i, a))
}

/// The `dh` state: a bucket table over storage `T`.
pub struct Dh<T> {
    table: T,
    /// `32 - bits` of the table size (1..=20 bits, see [`table_bits`]).
    shift: u32,
}

impl<T: AsRef<[u32]> + AsMut<[u32]>> Dh<T> {
    /// A table over `table` (a power of two from 2 to 2^20 entries,
    /// upstream: [`DH_TABLE_SIZE`]), filled from `dests`.
    pub fn new<D: Dests + ?Sized>(table: T, dests: &D) -> Result<Self, SchedError> {
        let bits = table_bits(table.as_ref().len()).ok_or(SchedError::BadTableSize)?;
        let mut s = Dh {
            table,
            shift: 32 - bits,
        };
        s.update(dests);
        Ok(s)
    }

    /// Upstream's `ip_vs_dh_reassign`: bucket `b` gets server `b mod n`.
    pub fn update<D: Dests + ?Sized>(&mut self, dests: &D) {
        let n = dests.len();
        for (b, slot) in self.table.as_mut().iter_mut().enumerate() {
            *slot = match b.checked_rem(n) {
                Some(i) => u32::try_from(i).unwrap_or(NO_DEST),
                None => NO_DEST,
            };
        }
    }

    /// The server for the packet's destination address, if available.
    /// Small enough to inline into [`super::SchedState::schedule`].
    #[inline]
    pub fn schedule<D: Dests + ?Sized>(&self, dests: &D, input: &SchedInput) -> Option<usize> {
        let h = hash_32_shr(fold(input.daddr.af(), &input.daddr), self.shift) as usize;
        let (i, available) = bucket_dest(dests, *self.table.as_ref().get(h)?)?;
        available.then_some(i)
    }

    /// The bucket table (server indices, [`NO_DEST`] for none).
    pub fn table(&self) -> &[u32] {
        self.table.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::addr::Addr;
    use proptest::prelude::*;

    fn to(daddr: Addr, client: u32) -> SchedInput {
        let mut p = pkt(client);
        p.daddr = daddr;
        p
    }

    #[test]
    fn table_cycles_servers() {
        let dests = ws(&[1, 7, 1]);
        let dh = Dh::new(vec![0; 256], &dests[..]).unwrap();
        for (b, &v) in dh.table().iter().enumerate() {
            assert_eq!(v as usize, b % 3);
        }
        let dh = Dh::new(vec![0; 256], &ws(&[])[..]).unwrap();
        assert!(dh.table().iter().all(|&v| v == NO_DEST));
        assert!(Dh::new(vec![0; 255], &dests[..]).is_err());
        assert!(Dh::new(vec![0; 0], &dests[..]).is_err());
    }

    #[test]
    fn sticky_per_destination_address_like_upstream() {
        let dests = ws(&[1, 1, 1, 1, 1]);
        let dh = Dh::new(vec![0; 256], &dests[..]).unwrap();
        let target = Addr::v4([93, 184, 216, 34]);
        // hash_32(0x5db8d822, 8) computed by hand: (x * 0x61c88647) >> 24.
        let bucket = (0x5db8_d822u32.wrapping_mul(0x61c8_8647) >> 24) as usize;
        let want = bucket % 5;
        for c in 0..100 {
            assert_eq!(dh.schedule(&dests[..], &to(target, c)), Some(want));
        }
        // Different destinations spread over the servers.
        let mut seen = [false; 5];
        for x in 0..200u32 {
            let i = dh
                .schedule(&dests[..], &to(Addr::v4(x.to_be_bytes()), 0))
                .unwrap();
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn unavailable_means_no_server() {
        let mut dests = ws(&[1, 1]);
        let dh = Dh::new(vec![0; 256], &dests[..]).unwrap();
        let target = Addr::v4([1, 2, 3, 4]);
        let i = dh.schedule(&dests[..], &to(target, 1)).unwrap();
        dests[i].overloaded = true;
        assert_eq!(dh.schedule(&dests[..], &to(target, 1)), None);
        dests[i].overloaded = false;
        dests[i].weight = 0;
        assert_eq!(dh.schedule(&dests[..], &to(target, 1)), None);
    }

    #[test]
    fn ipv6_folds_words() {
        let dests = ws(&[1; 16]);
        let dh = Dh::new(vec![0; 256], &dests[..]).unwrap();
        let mut b = [0u8; 16];
        b[3] = 0x11;
        b[7] = 0x22;
        let a = Addr::v6(b);
        let bucket = ((0x11u32 ^ 0x22).wrapping_mul(0x61c8_8647) >> 24) as usize;
        assert_eq!(dh.schedule(&dests[..], &to(a, 0)), Some(bucket % 16));
    }

    proptest! {
        #[test]
        fn never_out_of_range(dests in arb_dests(), input in arb_input(), bits in 1u32..12) {
            let dh = Dh::new(vec![0; 1 << bits], &dests[..]).unwrap();
            if let Some(i) = dh.schedule(&dests[..], &input) {
                prop_assert!(dests[i].available());
            }
        }
    }
}
