// SPDX-License-Identifier: GPL-2.0
//! Source hashing (`ip_vs_sh.c`): a static table of 256 buckets maps the
//! client address (and optionally port) to a server, so a client keeps
//! hitting the same server.
//!
//! As upstream:
//!
//! * the table is tiled with the servers in list order, each taking
//!   `weight` consecutive buckets (at least one, also when quiesced),
//!   cycling through the list until all buckets are filled; it is rebuilt
//!   on every add, remove or edit (so a weight change moves clients);
//! * the bucket of a packet is `hash_32(port + fold(addr), bits)` where
//!   `addr`/`port` are the client's ([`SchedInput::client`]; destination
//!   side for inverse packets) and `port` is 0 unless the service has
//!   [`super::SVC_F_SCHED_SH_PORT`];
//! * a quiesced or overloaded bucket server means no server, unless the
//!   service has [`super::SVC_F_SCHED_SH_FALLBACK`]: then buckets
//!   `(offset + 2 * bucket) mod 256` for `offset = 0..256` are tried in turn.
//!   (Upstream's fallback adds the start bucket twice: `roffset = offset +
//!   ihash`, then `hashkey(..., roffset) = roffset + ihash`. Kept as is.)

use super::dh::{bucket_dest, table_bits};
use super::hash::{fold, hash_32_shr};
use super::{
    DestView, Dests, SchedError, SchedInput, NO_DEST, SVC_F_SCHED_SH_FALLBACK, SVC_F_SCHED_SH_PORT,
};

/// Upstream's default table size (`CONFIG_IP_VS_SH_TAB_BITS` = 8; the
/// Kconfig range 4..20 is supported too: any power of two up to 2^20).
pub const SH_TABLE_SIZE: usize = 256;

/// The `sh` state: a weighted bucket table over storage `T`.
pub struct Sh<T> {
    table: T,
    /// `32 - bits` of the table size (1..=20 bits, see [`table_bits`]).
    shift: u32,
    /// Table size - 1.
    mask: u32,
}

impl<T: AsRef<[u32]> + AsMut<[u32]>> Sh<T> {
    /// A table over `table` (a power of two from 2 to 2^20 entries,
    /// upstream: [`SH_TABLE_SIZE`]), filled from `dests`.
    pub fn new<D: Dests + ?Sized>(table: T, dests: &D) -> Result<Self, SchedError> {
        let bits = table_bits(table.as_ref().len()).ok_or(SchedError::BadTableSize)?;
        let mut s = Sh {
            table,
            shift: 32 - bits,
            mask: (1 << bits) - 1,
        };
        s.update(dests);
        Ok(s)
    }

    /// Upstream's `ip_vs_sh_reassign`.
    pub fn update<D: Dests + ?Sized>(&mut self, dests: &D) {
        let n = dests.len();
        let mut cur = 0usize;
        let mut count = 0u64;
        for slot in self.table.as_mut().iter_mut() {
            if n == 0 {
                *slot = NO_DEST;
                continue;
            }
            *slot = u32::try_from(cur).unwrap_or(NO_DEST);
            count += 1;
            let weight = dests.get(cur).map_or(0, |d| DestView::weight(&d));
            if count >= u64::from(weight) {
                cur = (cur + 1) % n;
                count = 0;
            }
        }
    }

    fn bucket(&self, addr_fold: u32, port: u16, offset: u32) -> usize {
        let h = hash_32_shr(u32::from(port).wrapping_add(addr_fold), self.shift);
        (offset.wrapping_add(h) & self.mask) as usize
    }

    /// The server for the packet's client.
    #[inline(never)]
    pub fn schedule<D: Dests + ?Sized>(&self, dests: &D, input: &SchedInput) -> Option<usize> {
        let (addr, port) = input.client_ref();
        let port = if input.svc_flags & SVC_F_SCHED_SH_PORT != 0 {
            port
        } else {
            0
        };
        let f = fold(addr.af(), addr);
        let table = self.table.as_ref();
        let ihash = self.bucket(f, port, 0);
        let (i, available) = bucket_dest(dests, *table.get(ihash)?)?;
        if available {
            return Some(i);
        }
        if input.svc_flags & SVC_F_SCHED_SH_FALLBACK == 0 {
            return None;
        }
        self.fallback(dests, f, port, ihash)
    }

    /// `ip_vs_sh_get_fallback` past its first bucket: probe the table
    /// from `ihash` on. Out of line, so that the usual path stays small.
    #[cold]
    #[inline(never)]
    fn fallback<D: Dests + ?Sized>(
        &self,
        dests: &D,
        f: u32,
        port: u16,
        ihash: usize,
    ) -> Option<usize> {
        let table = self.table.as_ref();
        let size = table.len();
        for offset in 0..size {
            // The size is a power of two (see `new`).
            let roffset = (offset + ihash) & (size - 1);
            let h = self.bucket(f, port, roffset as u32);
            let (i, available) = bucket_dest(dests, *table.get(h)?)?;
            if available {
                return Some(i);
            }
        }
        None
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

    fn from(client: Addr, sport: u16, flags: u32) -> SchedInput {
        let mut p = SchedInput::new(client, sport, Addr::v4([192, 168, 0, 1]), 80);
        p.svc_flags = flags;
        p
    }

    #[test]
    fn weighted_tiling() {
        let dests = ws(&[2, 0, 3]);
        let sh = Sh::new(vec![0; 16], &dests[..]).unwrap();
        // 0 0 1 2 2 2 | 0 0 1 2 2 2 | 0 0 1 2
        assert_eq!(sh.table(), [0, 0, 1, 2, 2, 2, 0, 0, 1, 2, 2, 2, 0, 0, 1, 2]);
        // A weight larger than the table: the first server takes it all.
        let sh = Sh::new(vec![0; 16], &ws(&[100, 1])[..]).unwrap();
        assert!(sh.table().iter().all(|&v| v == 0));
        // Counts over the default table follow weights.
        let sh = Sh::new(vec![0; 256], &ws(&[1, 2, 5])[..]).unwrap();
        let count = |i| sh.table().iter().filter(|&&v| v == i).count();
        assert_eq!((count(0), count(1), count(2)), (32, 64, 160));
    }

    #[test]
    fn sticky_per_client_address() {
        let dests = ws(&[1, 1, 1, 1]);
        let sh = Sh::new(vec![0; 256], &dests[..]).unwrap();
        let c = Addr::v4([203, 0, 113, 9]);
        let want = sh.schedule(&dests[..], &from(c, 1000, 0)).unwrap();
        // Without the port flag the client port does not matter.
        for p in 0..500 {
            assert_eq!(sh.schedule(&dests[..], &from(c, p, 0)), Some(want));
        }
        // The bucket is hash_32(fold, 8).
        let b = (0xcb00_7109u32.wrapping_mul(0x61c8_8647) >> 24) as usize;
        assert_eq!(want, sh.table()[b] as usize);
        // Inverse packets hash the destination side.
        let mut inv = SchedInput::new(Addr::v4([192, 168, 0, 1]), 80, c, 1000);
        inv.inverse = true;
        assert_eq!(sh.schedule(&dests[..], &inv), Some(want));
    }

    #[test]
    fn port_flag_spreads_one_client() {
        let dests = ws(&[1, 1, 1, 1]);
        let sh = Sh::new(vec![0; 256], &dests[..]).unwrap();
        let c = Addr::v4([203, 0, 113, 9]);
        let mut seen = [0usize; 4];
        for p in 0..400u16 {
            let i = sh
                .schedule(&dests[..], &from(c, p, SVC_F_SCHED_SH_PORT))
                .unwrap();
            seen[i] += 1;
            // Same port: same server.
            assert_eq!(
                sh.schedule(&dests[..], &from(c, p, SVC_F_SCHED_SH_PORT)),
                Some(i)
            );
            let b = (((p as u32) + 0xcb00_7109).wrapping_mul(0x61c8_8647) >> 24) as usize;
            assert_eq!(i, sh.table()[b] as usize);
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn fallback_probes_like_upstream() {
        let mut dests = ws(&[1, 1, 1, 1]);
        let sh = Sh::new(vec![0; 256], &dests[..]).unwrap();
        let c = Addr::v4([198, 51, 100, 7]);
        let i = sh.schedule(&dests[..], &from(c, 0, 0)).unwrap();
        dests[i].weight = 0;
        assert_eq!(sh.schedule(&dests[..], &from(c, 0, 0)), None);
        let got = sh
            .schedule(&dests[..], &from(c, 0, SVC_F_SCHED_SH_FALLBACK))
            .unwrap();
        assert_ne!(got, i);
        // Upstream probes (offset + 2 * ihash) & 255 for offset = 0, 1, ...
        let ihash = (0xc633_6407u32.wrapping_mul(0x61c8_8647) >> 24) as usize;
        let want = (0..256)
            .map(|o| sh.table()[(o + 2 * ihash) & 255] as usize)
            .find(|&j| dests[j].available())
            .unwrap();
        assert_eq!(got, want);
        for d in &mut dests {
            d.overloaded = true;
        }
        assert_eq!(
            sh.schedule(&dests[..], &from(c, 0, SVC_F_SCHED_SH_FALLBACK)),
            None
        );
    }

    proptest! {
        #[test]
        fn never_out_of_range(dests in arb_dests(), input in arb_input(), bits in 1u32..12) {
            let sh = Sh::new(vec![0; 1 << bits], &dests[..]).unwrap();
            if let Some(i) = sh.schedule(&dests[..], &input) {
                prop_assert!(dests[i].available());
            }
        }
    }
}
