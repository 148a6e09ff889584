// SPDX-License-Identifier: GPL-2.0
//! Source-port allocation for FULLNAT: each connection to a real server
//! leaves the director from a local address (LIP) and a source port taken
//! from that address's pool, one pool per local address and protocol.
//!
//! [`PortPool`] is a FIFO ring of the free ports over caller-provided
//! storage, so it allocates nothing itself (the kernel sizes a buffer with
//! [`storage_len`]): [`PortPool::alloc`] takes the port at the head,
//! [`PortPool::free`] puts it back at the tail, both O(1). FIFO order means
//! that a port just given back is reused as late as possible, which keeps
//! the real server's TIME_WAIT entry for the previous LIP:lport - RIP:rport
//! connection out of the way of the next one (the reason upstream-style
//! FULLNAT directors use a FIFO of free ports rather than a free bitmap).
//!
//! Ports are handed out in ascending order at first, starting from an
//! offset the caller chooses ([`PortPool::new_at`]: the kernel passes a
//! random number, so a pool made after a module reload or a service
//! re-create does not start again with the ports the previous pool used
//! last, whose connections may still sit in a real server's TIME_WAIT):
//! `lo + off`, `lo + off + 1`, ..., `hi`, `lo`, ..., `lo + off - 1`; and in
//! the order they were given back afterwards. Given the offset, the order
//! is deterministic.
//!
//! Misuse does not corrupt the ring: next to the ring the storage holds a
//! bitmap of the ports in use, so a port that is not currently allocated
//! (freed twice, or never handed out) or that lies outside the pool's range
//! is refused by [`PortPool::free`] ([`FreeError`]) and counted
//! ([`PortPool::bad_frees`]), and the ring can never hold a port twice.
//!
//! The pool does no locking; the glue serialises calls (a spinlock per
//! pool).

/// Lowest port of the default range (the unprivileged ports).
pub const DEFAULT_LO: u16 = 1024;
/// Highest port of the default range.
pub const DEFAULT_HI: u16 = 65535;

/// Ports per bitmap word.
const BITS: usize = u16::BITS as usize;

/// The number of `u16` words of storage a pool for the ports `lo..=hi`
/// needs: one per port for the ring and one bit per port for the bitmap.
/// 0 for an invalid range (`lo` of 0, or `hi < lo`), which
/// [`PortPool::new`] refuses. Size the kernel buffer with it (the default
/// range needs [`DEFAULT_STORAGE_LEN`] words, about 134 KiB).
pub const fn storage_len(lo: u16, hi: u16) -> usize {
    if lo == 0 || hi < lo {
        return 0;
    }
    let n = (hi - lo) as usize + 1;
    n + n.div_ceil(BITS)
}

/// [`storage_len`] of the default range `1024..=65535`.
pub const DEFAULT_STORAGE_LEN: usize = storage_len(DEFAULT_LO, DEFAULT_HI);

/// Why [`PortPool::new`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolError {
    /// `lo` is 0 or `hi < lo`.
    BadRange,
    /// The storage holds fewer than [`storage_len`] words.
    StorageTooSmall,
}

/// Why [`PortPool::free`] refused a port (the pool is unchanged apart from
/// [`PortPool::bad_frees`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeError {
    /// The port is outside the pool's range.
    OutOfRange,
    /// The port is in range but not allocated: freed twice, or never
    /// handed out.
    NotAllocated,
}

/// A FIFO pool of the source ports `lo..=hi` of one local address and
/// protocol, over caller storage `S` of at least [`storage_len`] `u16`
/// words (an array, a slice, or a newtype around a kernel vector
/// implementing `AsRef<[u16]>` and `AsMut<[u16]>`). See the module
/// documentation.
#[derive(Debug)]
pub struct PortPool<S> {
    /// Words `0..cap`: the ring of free ports; then the in-use bitmap
    /// (bit `i % 16` of word `cap + i / 16` is set while port `lo + i` is
    /// allocated).
    storage: S,
    /// Lowest port.
    lo: u16,
    /// Number of ports in the range (`hi - lo + 1`, 1..=65535).
    cap: usize,
    /// Ring index of the next port to hand out.
    head: usize,
    /// Number of free ports in the ring.
    len: usize,
    /// Refused frees.
    bad_frees: u64,
}

impl<S: AsMut<[u16]> + AsRef<[u16]>> PortPool<S> {
    /// A pool of the ports `lo..=hi`, all free, in `storage` (whose first
    /// [`storage_len`]`(lo, hi)` words it overwrites; any content is fine),
    /// handing out `lo` first. O(number of ports).
    pub fn new(storage: S, lo: u16, hi: u16) -> Result<Self, PoolError> {
        PortPool::new_at(storage, lo, hi, 0)
    }

    /// [`PortPool::new`], handing out `lo + start % (hi - lo + 1)` first and
    /// the rest in ascending order, wrapping from `hi` to `lo` (`start`: a
    /// random number, see the module documentation).
    pub fn new_at(mut storage: S, lo: u16, hi: u16, start: u32) -> Result<Self, PoolError> {
        let need = storage_len(lo, hi);
        if need == 0 {
            return Err(PoolError::BadRange);
        }
        let cap = usize::from(hi - lo) + 1;
        let words = storage
            .as_mut()
            .get_mut(..need)
            .ok_or(PoolError::StorageTooSmall)?;
        let (ring, bitmap) = words.split_at_mut(cap);
        // cap <= 65535, so the offset fits in u16 and lo + off <= hi.
        let off = u16::try_from(start as usize % cap).unwrap_or(0);
        let first = lo + off;
        let (tail, head) = ring.split_at_mut(cap - usize::from(off));
        for (slot, port) in tail.iter_mut().zip(first..=hi) {
            *slot = port;
        }
        for (slot, port) in head.iter_mut().zip(lo..first) {
            *slot = port;
        }
        bitmap.fill(0);
        Ok(PortPool {
            storage,
            lo,
            cap,
            head: 0,
            len: cap,
            bad_frees: 0,
        })
    }

    /// A pool of the default range `1024..=65535`.
    pub fn with_default_range(storage: S) -> Result<Self, PoolError> {
        PortPool::new(storage, DEFAULT_LO, DEFAULT_HI)
    }

    /// Takes the free port at the head of the ring and marks it in use;
    /// `None` when every port is in use (exhaustion: the caller counts it
    /// and refuses the connection). O(1).
    pub fn alloc(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let port = *self.storage.as_ref().get(self.head)?;
        let (word, mask) = self.bit(port)?;
        let w = self.storage.as_mut().get_mut(word)?;
        *w |= mask;
        self.head = self.wrap(self.head + 1);
        self.len -= 1;
        Some(port)
    }

    /// Gives `port` back: it goes to the tail of the ring, to be handed out
    /// again after every port that is free now. O(1). Refuses (and counts,
    /// see [`PortPool::bad_frees`]) a port outside the range or not
    /// currently allocated, leaving the pool as it was.
    pub fn free(&mut self, port: u16) -> Result<(), FreeError> {
        let r = self.try_free(port);
        if r.is_err() {
            self.bad_frees = self.bad_frees.saturating_add(1);
        }
        r
    }

    /// [`PortPool::free`] without the counting.
    fn try_free(&mut self, port: u16) -> Result<(), FreeError> {
        let (word, mask) = self.bit(port).ok_or(FreeError::OutOfRange)?;
        if !self.is_allocated(port) {
            return Err(FreeError::NotAllocated);
        }
        // An allocated port exists, so the ring is not full: len < cap.
        let tail = self.wrap(self.head + self.len);
        let words = self.storage.as_mut();
        let slot = words.get_mut(tail).ok_or(FreeError::NotAllocated)?;
        *slot = port;
        let w = words.get_mut(word).ok_or(FreeError::NotAllocated)?;
        *w &= !mask;
        self.len += 1;
        Ok(())
    }

    /// Whether `port` is currently allocated (false outside the range).
    pub fn is_allocated(&self, port: u16) -> bool {
        self.bit(port)
            .and_then(|(word, mask)| self.storage.as_ref().get(word).map(|w| w & mask != 0))
            .unwrap_or(false)
    }

    /// The number of free ports.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether every port is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of ports in the range, free or not.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The number of ports in use.
    pub fn in_use(&self) -> usize {
        self.cap - self.len
    }

    /// The range, `(lo, hi)`.
    pub fn range(&self) -> (u16, u16) {
        // cap - 1 = hi - lo fits in u16.
        let span = u16::try_from(self.cap - 1).unwrap_or(0);
        (self.lo, self.lo.saturating_add(span))
    }

    /// How many [`PortPool::free`] calls were refused since the pool was
    /// made (a bug in the caller's bookkeeping if not 0).
    pub fn bad_frees(&self) -> u64 {
        self.bad_frees
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The bitmap word index and mask of `port`, `None` outside the range.
    fn bit(&self, port: u16) -> Option<(usize, u16)> {
        let i = usize::from(port.checked_sub(self.lo)?);
        if i >= self.cap {
            return None;
        }
        Some((self.cap + i / BITS, 1 << (i % BITS)))
    }

    /// Reduces a ring index below `2 * cap` into the ring.
    fn wrap(&self, i: usize) -> usize {
        if i >= self.cap {
            i - self.cap
        } else {
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashSet, VecDeque};

    #[test]
    fn sizes() {
        assert_eq!(storage_len(1, 1), 2);
        assert_eq!(storage_len(1, 16), 17);
        assert_eq!(storage_len(1, 17), 19);
        assert_eq!(storage_len(0, 10), 0);
        assert_eq!(storage_len(10, 9), 0);
        assert_eq!(DEFAULT_STORAGE_LEN, 64512 + 4032);
        assert_eq!(storage_len(1, 65535), 65535 + 4096);
        let mut s = [0u16; 4];
        assert_eq!(
            PortPool::new(&mut s[..], 10, 9).err(),
            Some(PoolError::BadRange)
        );
        assert_eq!(
            PortPool::new(&mut s[..], 0, 2).err(),
            Some(PoolError::BadRange)
        );
        assert_eq!(
            PortPool::new(&mut s[..], 1, 4).err(),
            Some(PoolError::StorageTooSmall)
        );
        assert!(PortPool::new(&mut s[..], 1, 3).is_ok());
    }

    #[test]
    fn default_range_exhausts() {
        let mut pool = PortPool::with_default_range(vec![0xffffu16; DEFAULT_STORAGE_LEN]).unwrap();
        assert_eq!(pool.capacity(), 64512);
        assert_eq!(pool.range(), (1024, 65535));
        let mut seen = HashSet::new();
        for want in 1024..=65535u16 {
            assert_eq!(pool.alloc(), Some(want));
            assert!(seen.insert(want));
        }
        assert_eq!(pool.alloc(), None);
        assert!(pool.is_empty());
        assert_eq!((pool.len(), pool.in_use()), (0, 64512));
        assert_eq!(pool.free(65535), Ok(()));
        assert_eq!(pool.alloc(), Some(65535));
        assert_eq!(pool.alloc(), None);
    }

    #[test]
    fn fifo_reuse() {
        let mut s = [0u16; 8];
        let mut pool = PortPool::new(&mut s, 100, 104).unwrap();
        assert_eq!(pool.alloc(), Some(100));
        assert_eq!(pool.alloc(), Some(101));
        assert_eq!(pool.free(100), Ok(()));
        // 100 comes back only after the three never-used ports.
        assert_eq!(pool.alloc(), Some(102));
        assert_eq!(pool.alloc(), Some(103));
        assert_eq!(pool.alloc(), Some(104));
        assert_eq!(pool.alloc(), Some(100));
        assert_eq!(pool.alloc(), None);
        assert_eq!(pool.free(104), Ok(()));
        assert_eq!(pool.free(101), Ok(()));
        assert_eq!(pool.alloc(), Some(104));
        assert_eq!(pool.alloc(), Some(101));
        assert_eq!(pool.in_use(), 5);
    }

    #[test]
    fn bad_frees_are_ignored() {
        let mut pool = PortPool::new([0u16; 5], 1, 4).unwrap();
        let a = pool.alloc().unwrap();
        assert_eq!(pool.free(a), Ok(()));
        assert_eq!(pool.free(a), Err(FreeError::NotAllocated));
        assert_eq!(pool.free(3), Err(FreeError::NotAllocated));
        assert_eq!(pool.free(0), Err(FreeError::OutOfRange));
        assert_eq!(pool.free(5), Err(FreeError::OutOfRange));
        assert_eq!(pool.bad_frees(), 4);
        assert_eq!(pool.len(), 4);
        // The ring still holds each port once.
        let got: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        assert_eq!(got, [2, 3, 4, 1]);
        assert!(!pool.is_allocated(0) && pool.is_allocated(1));
    }

    #[test]
    fn single_port_and_top_of_range() {
        let mut pool = PortPool::new([0u16; 2], 65535, 65535).unwrap();
        assert_eq!(pool.range(), (65535, 65535));
        assert_eq!(pool.alloc(), Some(65535));
        assert_eq!(pool.alloc(), None);
        assert_eq!(pool.free(65535), Ok(()));
        assert_eq!(pool.free(65535), Err(FreeError::NotAllocated));
        assert_eq!(pool.alloc(), Some(65535));
        let s = pool.into_storage();
        assert_eq!(s, [65535, 1]);
    }

    #[test]
    fn start_offset() {
        let mut pool = PortPool::new_at([0u16; 6], 100, 104, 3).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| pool.alloc()).collect();
        assert_eq!(got, [103, 104, 100, 101, 102]);
        // The offset is taken modulo the number of ports.
        let mut pool = PortPool::new_at([0u16; 6], 100, 104, 5 * 1000 + 4).unwrap();
        assert_eq!(pool.alloc(), Some(104));
        assert_eq!(pool.alloc(), Some(100));
        let mut pool = PortPool::new_at([0u16; 6], 100, 104, u32::MAX).unwrap();
        // u32::MAX % 5 == 0.
        assert_eq!(pool.alloc(), Some(100));
        let mut pool = PortPool::new_at([0u16; 2], 65535, 65535, 12345).unwrap();
        assert_eq!(pool.alloc(), Some(65535));
        assert_eq!(pool.alloc(), None);
        // The default range from a high offset: every port once.
        let mut pool = PortPool::new_at(
            vec![0u16; DEFAULT_STORAGE_LEN],
            DEFAULT_LO,
            DEFAULT_HI,
            64000,
        )
        .unwrap();
        assert_eq!(pool.alloc(), Some(1024 + 64000));
        let mut seen = HashSet::from([1024 + 64000]);
        while let Some(p) = pool.alloc() {
            assert!(seen.insert(p));
        }
        assert_eq!(seen.len(), 64512);
    }

    /// An operation of the model test.
    #[derive(Clone, Debug)]
    enum Op {
        Alloc,
        /// Free the allocated port at this index of the model's list
        /// (modulo its length).
        FreeOwned(prop::sample::Index),
        /// Free any port (often a bad free).
        FreeAny(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Alloc),
            2 => any::<prop::sample::Index>().prop_map(Op::FreeOwned),
            1 => (990u16..1030).prop_map(Op::FreeAny),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Against a model (a queue of free ports and a set of allocated
        /// ones): same ports in the same order, no duplicates, refusals
        /// exactly for ports not allocated.
        #[test]
        fn model(lo in 995u16..1010, span in 0u16..20, start in any::<u32>(), ops in proptest::collection::vec(op(), 0..300)) {
            let hi = lo + span;
            let mut pool = PortPool::new_at(vec![0u16; storage_len(lo, hi) + 3], lo, hi, start).unwrap();
            let mut free: VecDeque<u16> = (lo..=hi).collect();
            // The first port handed out is lo + start mod the pool's size.
            free.rotate_left(start as usize % free.len());
            let mut used: HashSet<u16> = HashSet::new();
            let mut owned: Vec<u16> = Vec::new();
            let mut bad = 0;
            for op in ops {
                match op {
                    Op::Alloc => {
                        let want = free.pop_front();
                        prop_assert_eq!(pool.alloc(), want);
                        if let Some(p) = want {
                            prop_assert!(used.insert(p));
                            owned.push(p);
                        }
                    }
                    Op::FreeOwned(i) => {
                        if owned.is_empty() {
                            continue;
                        }
                        let p = owned.swap_remove(i.index(owned.len()));
                        prop_assert_eq!(pool.free(p), Ok(()));
                        used.remove(&p);
                        free.push_back(p);
                    }
                    Op::FreeAny(p) => {
                        let r = pool.free(p);
                        if used.remove(&p) {
                            prop_assert_eq!(r, Ok(()));
                            owned.retain(|&q| q != p);
                            free.push_back(p);
                        } else {
                            let want = if (lo..=hi).contains(&p) { FreeError::NotAllocated } else { FreeError::OutOfRange };
                            prop_assert_eq!(r, Err(want));
                            bad += 1;
                        }
                    }
                }
                prop_assert_eq!(pool.len(), free.len());
                prop_assert_eq!(pool.in_use(), used.len());
                prop_assert_eq!(pool.capacity(), usize::from(span) + 1);
                prop_assert_eq!(pool.bad_frees(), bad);
            }
            for p in lo.saturating_sub(2)..=hi.saturating_add(2) {
                prop_assert_eq!(pool.is_allocated(p), used.contains(&p));
            }
            // Draining gives the model's queue.
            let rest: Vec<u16> = std::iter::from_fn(|| pool.alloc()).collect();
            prop_assert_eq!(rest, free.into_iter().collect::<Vec<_>>());
        }
    }
}
