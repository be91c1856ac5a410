//! The log's side of its search index: what the indexing thread calls,
//! what sealing and closing wait for, and the watermark searches pin to.
//! The index itself is in [`crate::index`].

use std::time::Duration;

use super::Log;
use crate::error::Result;
use crate::index::space::IndexSpace;

impl Log {
    /// Indexes the next step of records that became visible and commits
    /// what is due; returns whether records are left to index. The store's
    /// indexing thread calls this.
    ///
    /// # Errors
    /// Reading segments or writing the index. Until the index commits
    /// again, appends are not held back for it (a broken index must not
    /// stall ingest; searches see what was indexed before the failure).
    pub fn index_pass(&self) -> Result<bool> {
        let view = self.view.read().clone();
        self.index
            .pass(&view, self.visible_seq(), &self.policy.index)
    }

    /// Indexes and commits everything visible now, so that a search right
    /// after this returns sees every record acknowledged before it.
    ///
    /// # Errors
    /// As [`Log::index_pass`].
    pub fn flush_index(&self) -> Result<()> {
        while self.index_pass()? {}
        self.index.commit_all()
    }

    /// Rebuilds the index of every segment from the segment data. Searches
    /// go on against the old indexes meanwhile.
    ///
    /// # Errors
    /// Reading segments or writing the index.
    pub fn rebuild_index(&self) -> Result<()> {
        let _seal = self.seal_lock.lock();
        let view = self.view.read().clone();
        tracing::info!(log = %self.name, segments = view.len(), "rebuilding the index");
        self.index.rebuild(&view, self.visible_seq())
    }

    /// Where the index's bytes go, per field and part (term dictionary,
    /// postings, positions, fast columns), over every segment.
    ///
    /// # Errors
    /// [`Error::Index`](crate::Error::Index) when an index cannot be
    /// measured.
    pub fn index_space(&self) -> Result<IndexSpace> {
        self.index.space()
    }

    /// Seq below which every record is searchable.
    pub fn index_watermark(&self) -> u64 {
        let view = self.view.read();
        self.index.watermark(&view).min(self.visible_seq())
    }

    /// Holds an append back, for at most one commit interval, while the
    /// index lags more than the policy allows (unless it is failing).
    pub(crate) fn throttle_for_index(&self) {
        let policy = &self.policy.index;
        let visible = self.visible.get();
        if !self.index.is_failing()
            && visible.saturating_sub(self.index_watermark()) > policy.max_lag_records
        {
            self.ctx.indexing.wake();
            self.index
                .wait_for_commit(Duration::from_millis(policy.commit_interval_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::log::test_events as events;
    use crate::{Policy, Store};

    /// Waits until `done` holds, for at most `limit`; whether it did.
    fn eventually(limit: Duration, done: impl Fn() -> bool) -> bool {
        let started = Instant::now();
        while !done() {
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    #[test]
    fn a_seal_merging_its_index_does_not_hold_up_newer_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut policy = Policy::default();
        policy.seal.max_records = 10;
        let log = store.create_log("audit", policy).unwrap();
        // No seal runs meanwhile; the rotated segment waits in the view.
        let seal = log.seal_lock.lock();
        log.append(&events(10)).unwrap();
        assert!(
            eventually(Duration::from_secs(20), || log.index_watermark() >= 10),
            "the rotated segment is indexed"
        );
        // As a seal merging the rotated segment's index holds it.
        let rotated = log.index.segment(0).expect("its index");
        let merging = rotated.lock();
        log.append(&events(1)).unwrap();
        let fresh = eventually(Duration::from_secs(20), || log.index_watermark() >= 11);
        drop(merging);
        drop(seal);
        assert!(
            fresh,
            "the newer record is searchable while the seal merges"
        );
        drop(log);
        store.close().unwrap();
    }

    #[test]
    fn an_index_that_caught_up_commits_before_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut policy = Policy::default();
        policy.index.commit_interval_ms = 8_000;
        let log = store.create_log("audit", policy).unwrap();
        let started = Instant::now();
        log.append(&events(1)).unwrap();
        // A quarter of the interval (2 s) after the first commit, with
        // room to spare on a busy machine, and well before the interval.
        assert!(
            eventually(Duration::from_secs(6), || log.index_watermark() >= 1),
            "not searchable after {:?}",
            started.elapsed()
        );
        drop(log);
        store.close().unwrap();
    }
}
