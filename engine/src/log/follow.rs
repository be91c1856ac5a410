//! Following a log in seq order with a query only the index can answer
//! (full text): a window of seqs below the index watermark is searched, and
//! its matches come back in seq order. Subscriptions with text use it, so
//! that a live tail answers exactly as a search does.
//!
//! # Invariants
//! - Every seq of the window that was searched (below the returned end) was
//!   indexed: a record is never skipped because the index had not reached
//!   it yet.

use std::ops::Range;

use super::Log;
use crate::error::{Error, Result};
use crate::index::collect::TopHits;
use crate::query::compile::compile;
use crate::query::{Hit, Query};

impl Log {
    /// Checks `query` as [`Log::search`] would, without searching.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] naming the part at fault.
    pub fn check_query(&self, query: &Query) -> Result<()> {
        compile(query, self.index.fields()).map(drop)
    }

    /// The records of `seqs` that `query` matches (its time range, filters
    /// and text; its order, limit and cursor aside), in seq order, and the
    /// seq the answer covers up to: `seqs.end`, or the index watermark when
    /// that is lower (then only `seqs.start..watermark` was searched).
    /// Redacted records are left out, as [`Log::search`] leaves them out.
    ///
    /// # Errors
    /// As [`Log::search`].
    pub fn search_window(&self, query: &Query, seqs: Range<u64>) -> Result<(Vec<Hit>, u64)> {
        let end = seqs.end.min(self.index_watermark()).max(seqs.start);
        if seqs.start == end {
            return Ok((Vec::new(), end));
        }
        let compiled = compile(query, self.index.fields())?;
        // The window is kept by the collector, not by a seq range in the
        // query: tantivy 0.27 panics seeking a phrase scorer under an
        // exclusion when a fast-field range is intersected with them.
        let collector = TopHits {
            limit: usize::try_from(end - seqs.start).unwrap_or(usize::MAX),
            newest_first: false,
            after: None,
            from_seq: seqs.start,
            below_seq: end,
        };
        let segments: Vec<_> = {
            let view = self.view.read();
            view.iter()
                .filter(|s| s.first_seq() < end && s.next_seq() > seqs.start)
                .map(|s| (s.clone(), self.index.segment(s.first_seq())))
                .collect()
        };
        let mut keys = Vec::new();
        for (segment, ix) in &segments {
            let ix = self.pinned_index(segment, ix)?;
            keys.extend(
                ix.searcher()
                    .search(&*compiled, &collector)
                    .map_err(Error::index(ix.dir()))?,
            );
        }
        keys.sort_unstable_by_key(|&(_, seq)| seq);
        let (hits, _) = self.read_hits(query, &keys)?;
        Ok((hits, end))
    }
}
