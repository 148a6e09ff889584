// SPDX-License-Identifier: GPL-2.0
//! Round robin (`ip_vs_rr.c`): servers in list order, one connection each,
//! skipping quiesced (weight 0) and overloaded ones.
//!
//! Upstream keeps a pointer to the last chosen server (initially the list
//! head) and scans from the one after it, wrapping once, up to and
//! including the last chosen one itself. Here the pointer is an index,
//! kept pointing at the same server across list changes
//! ([`Rr::update`]): when that server is removed, upstream moves the
//! pointer to the previous list entry (`ip_vs_rr_del_dest`), so scheduling
//! continues with the server that followed the removed one; this is
//! reproduced.

use super::{available_at, DestChange, Dests};

/// Upstream's "list head" as a cursor value: nothing chosen yet. Never
/// an index (a list would need `usize::MAX + 1` servers), and the one
/// after it is index 0, as the one after the list head is the first
/// server.
const HEAD: usize = usize::MAX;

/// The round-robin cursor: the index of the last chosen server, or
/// upstream's "list head" (nothing chosen yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rr {
    /// The last chosen server's index, or [`HEAD`].
    last: usize,
}

impl Default for Rr {
    fn default() -> Self {
        Rr::new()
    }
}

impl Rr {
    /// A fresh cursor at the list head (upstream's `init_service`).
    pub const fn new() -> Self {
        Rr { last: HEAD }
    }

    /// The next available server after the last chosen one.
    #[inline(never)]
    pub fn schedule<D: Dests + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        // The usual case: an available server after the cursor (from
        // index 0 at the head: HEAD + 1 wraps to 0).
        let start = self.last.wrapping_add(1);
        if let Some(i) = (start..dests.len()).find(|&i| available_at(dests, i) == Some(true)) {
            self.last = i;
            return Some(i);
        }
        self.schedule_wrapping(dests)
    }

    /// As [`Rr::schedule`], all cases (wrapping around the end of the
    /// list, a cursor past it).
    #[cold]
    #[inline(never)]
    fn schedule_wrapping<D: Dests + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        let start = match self.cursor() {
            None => 0,
            Some(c) => match c.saturating_add(1) {
                s if s < n => s,
                s => s % n,
            },
        };
        // From the one after the cursor to the end, then from the start up
        // to the cursor itself.
        let available = |i: &usize| available_at(dests, *i) == Some(true);
        let found = (start..n)
            .find(available)
            .or_else(|| (0..start).find(available));
        if let Some(i) = found {
            self.last = i;
        }
        found
    }

    /// Keeps the cursor on the same server across a list change.
    pub fn update(&mut self, change: DestChange) {
        let Some(c) = self.cursor() else {
            return;
        };
        let cursor = match change {
            // Upstream rr has no add_dest: the pointer stays on its
            // server, whose index moves up if the new one went before it.
            DestChange::Added(i) if i <= c => c.checked_add(1),
            DestChange::Removed(i) if i < c => Some(c - 1),
            // The last chosen server went: back to its predecessor (or
            // the head).
            DestChange::Removed(i) if i == c => c.checked_sub(1),
            DestChange::Reset => None,
            _ => Some(c),
        };
        self.last = cursor.unwrap_or(HEAD);
    }

    /// The index of the last chosen server, `None` at the list head.
    pub fn cursor(&self) -> Option<usize> {
        (self.last != HEAD).then_some(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use proptest::prelude::*;

    fn run(rr: &mut Rr, dests: &[super::super::DestView], n: usize) -> Vec<Option<usize>> {
        (0..n).map(|_| rr.schedule(dests)).collect()
    }

    #[test]
    fn cycles_in_list_order() {
        let dests = ws(&[1, 5, 1]);
        let mut rr = Rr::new();
        assert_eq!(run(&mut rr, &dests, 7), [0, 1, 2, 0, 1, 2, 0].map(Some));
    }

    #[test]
    fn skips_quiesced_and_overloaded() {
        let mut dests = ws(&[1, 0, 1, 1]);
        dests[2].overloaded = true;
        let mut rr = Rr::new();
        assert_eq!(run(&mut rr, &dests, 5), [0, 3, 0, 3, 0].map(Some));
        dests[0].overloaded = true;
        dests[3].weight = 0;
        assert_eq!(rr.schedule(&dests[..]), None);
        // A failed scan leaves the cursor where it was.
        assert_eq!(rr.cursor(), Some(0));
        dests[2].overloaded = false;
        assert_eq!(run(&mut rr, &dests, 2), [Some(2), Some(2)]);
        assert_eq!(Rr::new().schedule(&ws(&[])[..]), None);
    }

    #[test]
    fn removal_of_last_chosen_continues_with_its_successor() {
        let dests = ws(&[1, 1, 1, 1]);
        let mut rr = Rr::new();
        assert_eq!(run(&mut rr, &dests, 2), [Some(0), Some(1)]);
        // Remove server 1 (the last chosen): next is old server 2.
        let mut after = dests.clone();
        after.remove(1);
        rr.update(DestChange::Removed(1));
        assert_eq!(rr.schedule(&after[..]), Some(1));
        assert!(after[1].same_server(&dests[2]));
        // Remove a server before the cursor: the cursor follows its server.
        let mut after2 = after.clone();
        after2.remove(0);
        rr.update(DestChange::Removed(0));
        assert_eq!(rr.cursor(), Some(0));
        assert_eq!(rr.schedule(&after2[..]), Some(1));
        assert!(after2[1].same_server(&dests[3]));
        // Removing the first server while it is the cursor: back to head.
        let mut rr = Rr::new();
        rr.schedule(&dests[..]);
        rr.update(DestChange::Removed(0));
        assert_eq!(rr.cursor(), None);
        assert_eq!(rr.schedule(&dests[1..]), Some(0));
    }

    #[test]
    fn addition_at_head_keeps_position() {
        let dests = ws(&[1, 1, 1]);
        let mut rr = Rr::new();
        assert_eq!(run(&mut rr, &dests, 2), [Some(0), Some(1)]);
        // Upstream adds at the head: the new server becomes index 0.
        let mut after = vec![d(9, 1)];
        after.extend_from_slice(&dests);
        rr.update(DestChange::Added(0));
        assert_eq!(rr.schedule(&after[..]), Some(3));
        assert_eq!(rr.schedule(&after[..]), Some(0));
        rr.update(DestChange::Reset);
        assert_eq!(rr.cursor(), None);
    }

    proptest! {
        /// Every available server is chosen exactly once per `n` calls.
        #[test]
        fn fair_over_a_cycle(dests in arb_dests(), rounds in 1usize..4) {
            let mut rr = Rr::new();
            let avail = dests.iter().filter(|d| d.available()).count();
            let mut count = vec![0usize; dests.len()];
            for _ in 0..avail * rounds {
                let i = rr.schedule(&dests[..]).unwrap();
                prop_assert!(dests[i].available());
                count[i] += 1;
            }
            for (i, d) in dests.iter().enumerate() {
                prop_assert_eq!(count[i], if d.available() { rounds } else { 0 });
            }
            if avail == 0 {
                prop_assert_eq!(rr.schedule(&dests[..]), None);
            }
        }
    }
}
