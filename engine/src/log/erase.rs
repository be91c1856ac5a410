//! Erasure (GDPR): the records a query matches keep their seq, ingest time
//! and body digest, and lose their body. The chain commits to a body only
//! through its digest (DESIGN, "The chain"), so every leaf and chain hash,
//! receipt and checkpoint stays valid, and verification still passes.
//!
//! [`Log::erase`] finds the matches through the index, confirms each against
//! its stored record, seals first when one is still in a WAL, and rewrites
//! each affected sealed segment with those bodies replaced by their digests
//! (records already redacted stay as they are), with a zstd dictionary
//! trained again from the bodies kept. Its index is rebuilt from the new
//! file, where a redacted record has no document: no word, field or time of
//! an erased event stays searchable. Reads after the swap go to the new file
//! (a new block cache id). The `_system` record of the erasure is the
//! caller's to write.
//!
//! # Order of the steps, and crashes
//! Per affected segment, under the seal lock, the steps of
//! [`super::compact`]:
//! 1. the rewritten file is written as `<first>.seg.erase.tmp` and checked
//!    (same seqs, same chain, no matched record still holding its body);
//! 2. its index is built in `index/<first>.erase`;
//! 3. the old index directory `index/<first>` is deleted, and only then
//! 4. the rewritten file is renamed over `<first>.seg`: the commit point;
//! 5. `index/<first>.erase` is renamed to `index/<first>`;
//! 6. readers are switched over.
//!
//! Step 3 comes before 4 because the old index covers the same seqs with
//! the same chain hashes as the rewritten segment: after a crash it would
//! pass the open's check and keep the erased words searchable. A crash before
//! step 4 leaves the segment unerased (its index is rebuilt at open from the
//! bodies still there); after it, the segment is erased and, without step 5,
//! its index is rebuilt at open from the rewritten file. Segments are done
//! one at a time: a crash between two leaves some erased and some not, and
//! running the same erasure again finishes it (erased records match nothing).
//!
//! # Refusals
//! A query with no filter, no text and no time bound (it would erase
//! everything), and a legal hold on the log or on an affected segment (a
//! hold preserves evidence). The retention lock does not stop an erasure:
//! the record and its digest stay.

use std::sync::Arc;

use super::compact::ERASE;
use super::{Log, Segment};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::query::{MAX_LIMIT, Order, Query, matcher};
use crate::segment::SealedSegment;

/// How to erase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseOptions {
    /// Only report the seqs that would be erased; change nothing.
    pub dry_run: bool,
    /// Why (a request number); logged.
    pub reason: String,
    /// Who asked; logged.
    pub requested_by: String,
}

/// What an erasure did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Seqs of the records matched (and erased unless a dry run), ascending.
    pub seqs: Vec<u64>,
    /// First seqs of the segments holding them, ascending: the segments
    /// rewritten, whose archived copies need the same erasure.
    pub segments: Vec<u64>,
    /// Segments rewritten (0 in a dry run).
    pub segments_rewritten: usize,
}

/// How far an erasure has got; sent before each segment is rewritten and
/// once at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseProgress {
    /// Segments rewritten so far.
    pub segments_done: usize,
    /// Segments to rewrite.
    pub segments_total: usize,
    /// First seq of the segment being rewritten, `None` at the end.
    pub segment: Option<u64>,
    /// Records of that segment being erased.
    pub records: usize,
}

impl Log {
    /// Erases the bodies of the records matching `query` (its time range,
    /// filters and text; its order, limit and cursor are ignored), keeping
    /// their digests. See the module documentation.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a query that names no records;
    /// [`Error::InvalidQuery`] as [`Log::search`]; [`Error::Refused`]
    /// naming the legal hold in the way; I/O errors naming the file, or
    /// [`Error::Corrupted`] when a segment does not read back or its rewrite
    /// does not check out (that segment is then left as it was). Segments
    /// erased before an error stay erased.
    pub fn erase(
        &self,
        query: &Query,
        options: &EraseOptions,
        progress: &mut dyn FnMut(EraseProgress),
    ) -> Result<EraseReport> {
        if query.filters.is_empty()
            && query.text.trim().is_empty()
            && query.from.is_none()
            && query.to.is_none()
        {
            return Err(Error::invalid(
                "erase query",
                "it has no filter, no text and no time bound, so it would erase every record",
            ));
        }
        self.flush_index()?;
        let seqs = self.matching_seqs(query)?;
        if !options.dry_run && seqs.last().is_some_and(|&seq| seq >= self.sealed_end()) {
            self.seal()?;
        }
        let _seal = self.seal_lock.lock();
        let by_segment = self.group_by_segment(&seqs);
        let mut report = EraseReport {
            dry_run: options.dry_run,
            seqs: by_segment
                .iter()
                .flat_map(|(_, s)| s.iter().copied())
                .collect(),
            segments: by_segment.iter().map(|(s, _)| s.first_seq()).collect(),
            segments_rewritten: 0,
        };
        if let Some(reason) = erasure_blocked(&self.manifest.lock(), &report.segments) {
            return Err(Error::Refused(format!(
                "records of log `{}` may not be erased: {reason}",
                self.name
            )));
        }
        if options.dry_run || report.seqs.is_empty() {
            return Ok(report);
        }
        tracing::info!(log = %self.name, reason = %options.reason, requested_by = %options.requested_by, records = report.seqs.len(), segments = report.segments.len(), "erasing records");
        let total = by_segment.len();
        for (i, (segment, seqs)) in by_segment.iter().enumerate() {
            progress(EraseProgress {
                segments_done: i,
                segments_total: total,
                segment: Some(segment.first_seq()),
                records: seqs.len(),
            });
            let Segment::Sealed(sealed) = segment else {
                return Err(Error::Refused(format!(
                    "seq {} of log `{}` is still in a segment that is not sealed",
                    seqs[0], self.name
                )));
            };
            self.erase_in(sealed, seqs)?;
            report.segments_rewritten += 1;
        }
        progress(EraseProgress {
            segments_done: total,
            segments_total: total,
            segment: None,
            records: 0,
        });
        tracing::info!(log = %self.name, reason = %options.reason, requested_by = %options.requested_by, records = report.seqs.len(), segments = ?report.segments, "erased records");
        Ok(report)
    }

    /// Seqs of the records matching `query`, ascending: every page of the
    /// search, each hit confirmed against its stored record.
    fn matching_seqs(&self, query: &Query) -> Result<Vec<u64>> {
        let mut page_query = Query {
            order: Order::OldestFirst,
            limit: MAX_LIMIT,
            cursor: None,
            ..query.clone()
        };
        let mut seqs = Vec::new();
        loop {
            let page = self.search(&page_query)?;
            for hit in &page.hits {
                // The search checked the time range and filters already;
                // checked here again so that this never rests on the index.
                let Some(event) = &hit.event else { continue };
                let time = event.time.unwrap_or(hit.record.ingest_time);
                if matcher::matches(query, time, Some(event)) {
                    seqs.push(hit.record.seq);
                }
            }
            match page.next_cursor {
                Some(cursor) => page_query.cursor = Some(cursor),
                None => break,
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }

    /// First seq of the first segment that is not sealed.
    fn sealed_end(&self) -> u64 {
        let view = self.view.read();
        view.iter()
            .find_map(|s| match s {
                Segment::Wal(w) => Some(w.first_seq()),
                Segment::Sealed(_) => None,
            })
            .unwrap_or(u64::MAX)
    }

    /// `seqs` (ascending) by the segment now holding them, oldest first;
    /// seqs no longer stored (removed by retention meanwhile) are left out.
    fn group_by_segment(&self, seqs: &[u64]) -> Vec<(Segment, Vec<u64>)> {
        let view = self.view.read().clone();
        let mut out: Vec<(Segment, Vec<u64>)> = Vec::new();
        for segment in view {
            let from = seqs.partition_point(|&s| s < segment.first_seq());
            let to = seqs.partition_point(|&s| s < segment.next_seq());
            if from < to {
                out.push((segment, seqs[from..to].to_vec()));
            }
        }
        out
    }

    /// Rewrites `sealed` with the bodies of `seqs` (ascending) erased.
    fn erase_in(&self, sealed: &Arc<SealedSegment>, seqs: &[u64]) -> Result<()> {
        let first = sealed.first_seq();
        let new = self.rewrite_segments(
            std::slice::from_ref(sealed),
            ERASE,
            &|seq| seqs.binary_search(&seq).is_ok(),
            &|m| erasure_blocked(m, &[first]),
            &mut |_| {},
        )?;
        tracing::info!(log = %self.name, first_seq = first, next_seq = new.next_seq(), records = seqs.len(), "erased records in segment");
        Ok(())
    }
}

/// Why erasing in the segments starting at `segments` is refused, if it
/// is: a legal hold on the log or on one of them.
fn erasure_blocked(m: &Manifest, segments: &[u64]) -> Option<String> {
    let hold = m
        .holds
        .iter()
        .find(|h| h.segment.is_none_or(|first| segments.contains(&first)))?;
    Some(format!(
        "{} is under a legal hold ({}, set by {})",
        hold.scope(),
        hold.reason,
        hold.set_by
    ))
}
