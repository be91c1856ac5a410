//! Idempotent retries: the client event ids appended to a log lately, so that
//! an event sent again (a retry after a timeout or a reconnect) gets its
//! original receipt instead of a second record.
//!
//! The table maps a keyed 64-bit hash of each id to the seq that stored it.
//! A hit is only a candidate: the record is read back and its id and
//! ingest time compared, so a hash collision or an entry past the window
//! costs a read but never drops an event.
//!
//! Ids are remembered for [`DedupOptions::window`] of ingest time, and at
//! most [`DedupOptions::max_ids`] per log (the oldest go first). Before the
//! first append after a log is opened, the table is refilled from the
//! newest records within the same bounds ([`Dedup::fill_once`]): opening a
//! log for searches does not wait on it.
//!
//! # Invariants
//! - Ids are inserted under the log's writer lock, right after their frame
//!   is written. Before a batch is written, again under that lock, the
//!   table must still say for each of its ids what it said when the batch
//!   was resolved: two concurrent appends of one id store it once, and a
//!   stale entry (a collision, a record out of the window) never blocks an
//!   append.
//! - Only ids the client chose are inserted at append time; ids the engine
//!   assigned cannot be retried. The refill cannot tell them apart
//!   and takes both.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Once;
use std::time::Duration;

use parking_lot::Mutex;

use crate::record::Receipt;

/// How long and how many event ids a log remembers for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupOptions {
    /// Ingest-time window: a retry within it is recognised.
    pub window: Duration,
    /// Most ids remembered per log; past it the oldest are forgotten first
    /// (memory is about 40 bytes an id).
    pub max_ids: usize,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            window: Duration::from_secs(600),
            max_ids: 1_000_000,
        }
    }
}

impl DedupOptions {
    /// True when no id is ever remembered.
    pub fn is_disabled(&self) -> bool {
        self.window.is_zero() || self.max_ids == 0
    }
}

/// What becomes of one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Not seen before: to be appended.
    Fresh,
    /// Already stored, with this receipt.
    Stored(Receipt),
    /// Same id as the earlier event of this batch at this index.
    SameAs(usize),
}

/// A log's table of recent ids.
#[derive(Debug)]
pub(crate) struct Dedup {
    options: DedupOptions,
    hasher: RandomState,
    ids: Mutex<Ids>,
    /// Set once the ids stored before the log was opened are in the table.
    filled: Once,
}

#[derive(Debug, Default)]
struct Ids {
    by_hash: HashMap<u64, u64>,
    /// `(ingest_time, hash, seq)` in insertion order, for expiry.
    order: VecDeque<(i64, u64, u64)>,
}

impl Dedup {
    pub(crate) fn new(options: DedupOptions) -> Dedup {
        Dedup {
            options,
            hasher: RandomState::new(),
            ids: Mutex::new(Ids::default()),
            filled: Once::new(),
        }
    }

    /// Inserts what `read_back` returns (the ids stored before the log was
    /// opened, oldest first, and the time they are relative to) the first
    /// time it is called; later and concurrent callers wait for that.
    pub(crate) fn fill_once(&self, read_back: impl FnOnce() -> (Vec<(u64, u64, i64)>, i64)) {
        self.filled.call_once(|| {
            let (entries, now) = read_back();
            self.insert(entries, now);
        });
    }

    pub(crate) fn options(&self) -> DedupOptions {
        self.options
    }

    pub(crate) fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// The seq a candidate earlier record with this id hash was stored at.
    pub(crate) fn candidate(&self, hash: u64) -> Option<u64> {
        self.ids.lock().by_hash.get(&hash).copied()
    }

    /// True when the table names another seq for any of the hashes than it
    /// did when they were `seen`: an append of the same id happened since.
    pub(crate) fn changed(&self, seen: impl IntoIterator<Item = (u64, Option<u64>)>) -> bool {
        let ids = self.ids.lock();
        seen.into_iter()
            .any(|(hash, was)| ids.by_hash.get(&hash).copied() != was)
    }

    /// Remembers `(hash, seq, ingest_time)` entries, oldest first, and
    /// forgets what fell out of the window or over the count, relative to
    /// `now`.
    pub(crate) fn insert(&self, entries: impl IntoIterator<Item = (u64, u64, i64)>, now: i64) {
        if self.options.is_disabled() {
            return;
        }
        let mut ids = self.ids.lock();
        for (hash, seq, ingest_time) in entries {
            ids.by_hash.insert(hash, seq);
            ids.order.push_back((ingest_time, hash, seq));
        }
        let oldest =
            now.saturating_sub(i64::try_from(self.options.window.as_nanos()).unwrap_or(i64::MAX));
        while let Some(&(time, hash, seq)) = ids.order.front() {
            if time >= oldest && ids.order.len() <= self.options.max_ids {
                break;
            }
            ids.order.pop_front();
            if ids.by_hash.get(&hash) == Some(&seq) {
                ids.by_hash.remove(&hash);
            }
        }
    }

    /// Ids remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.lock().by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_by_age_and_by_count() {
        let d = Dedup::new(DedupOptions {
            window: Duration::from_nanos(100),
            max_ids: 3,
        });
        d.insert([(1, 10, 0), (2, 11, 0)], 0);
        assert_eq!(d.candidate(1), Some(10));
        d.insert([(3, 12, 50), (4, 13, 50)], 50);
        assert_eq!(d.candidate(1), None, "over the count, the oldest goes");
        assert_eq!(d.len(), 3);
        d.insert([(5, 14, 150)], 150);
        assert_eq!(d.candidate(2), None, "out of the window");
        assert_eq!(d.candidate(3), Some(12));
        assert!(d.changed([(9, None), (5, None)]), "5 was stored since");
        assert!(!d.changed([(9, None), (1, None), (3, Some(12))]));
        assert!(d.changed([(3, Some(11))]));
    }

    #[test]
    fn the_ids_stored_before_are_read_back_once() {
        let d = Dedup::new(DedupOptions {
            window: Duration::from_nanos(100),
            max_ids: 10,
        });
        let mut reads = 0;
        d.fill_once(|| {
            reads += 1;
            (vec![(1, 10, 0)], 0)
        });
        d.fill_once(|| {
            reads += 1;
            (vec![(2, 11, 0)], 0)
        });
        assert_eq!(reads, 1);
        assert_eq!(d.candidate(1), Some(10));
        assert_eq!(d.candidate(2), None);
    }

    #[test]
    fn a_newer_seq_for_the_same_hash_survives_the_older_expiring() {
        let d = Dedup::new(DedupOptions {
            window: Duration::from_nanos(100),
            max_ids: 10,
        });
        d.insert([(7, 1, 0)], 0);
        d.insert([(7, 2, 90)], 90);
        d.insert([], 150);
        assert_eq!(d.candidate(7), Some(2));
    }
}
