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
