//! A log's search index: one tantivy index per segment, in
//! `index/<first_seq:020>/`, all derived from the segments.
//!
//! - [`schema`]: the fields, and how an event becomes a document.
//! - [`segment_index`]: one segment's index and its commit payload.
//! - [`collect`]: collectors for top hits, counts and histograms.
//! - [`values`]: each document's value of an exact field, for counting.
//! - [`packed`]: the terms of request and correlation ids, hex packed to
//!   their bits.
//! - [`space`]: where the index's bytes go, per field and part.
//!
//! The store's indexing thread calls [`LogIndex::pass`] for each log: it
//! adds the records that became visible, in seq order, to the index of
//! their segment and commits at least every `commit_interval_ms` (after a
//! quarter of it once it has caught up with the head). Sealing a
//! segment finishes its index (catch up, merge into one tantivy segment)
//! before the WAL is deleted. Opening a log checks every segment's index
//! against the segment and rebuilds or catches up what is missing, damaged or
//! behind.
//!
//! # Invariants
//! - Records are indexed in seq order: a segment's index only grows once the
//!   indexes of all older segments are complete.
//! - [`LogIndex::watermark`]: every record below it is searchable, so a query
//!   pinned to a snapshot at or below it sees each of those records exactly
//!   once.

pub mod collect;
pub(crate) mod packed;
pub mod schema;
pub mod segment_index;
pub mod space;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use self::schema::Fields;
use self::segment_index::{Coverage, SegmentIndex, WriteState};
use self::space::IndexSpace;
use crate::chain::Hash;
use crate::error::{Error, Result};
use crate::log::{IndexPolicy, Segment};

/// Records read and added per step.
const STEP_RECORDS: u64 = 8192;
/// When the index has caught up with the head, it commits once this
/// fraction of the commit interval has passed (250 ms of the default 1 s).
const EAGER_COMMIT_DIVISOR: u32 = 4;
/// Records between progress messages of a rebuild.
const PROGRESS_RECORDS: u64 = 200_000;

/// Name of the index directory in a log's directory.
pub const INDEX_DIR: &str = "index";

/// The search index of one log.
#[derive(Debug)]
pub struct LogIndex {
    dir: PathBuf,
    log_id: [u8; 16],
    fields: Arc<Fields>,
    segments: RwLock<BTreeMap<u64, Arc<SegmentIndex>>>,
    /// Notified after every commit.
    committed: Condvar,
    commit_lock: Mutex<()>,
    /// Indexing failed since the last successful commit.
    failing: AtomicBool,
}

impl LogIndex {
    /// Opens the index of a log whose segments are `view`: checks each
    /// segment's index against it and rebuilds or catches up what needs it
    /// (logged, with progress).
    ///
    /// # Errors
    /// I/O and [`Error::Index`] errors; [`Error::Corrupted`] when a segment
    /// cannot be read to index it.
    pub fn open(log_dir: &Path, log_id: [u8; 16], view: &[Segment]) -> Result<LogIndex> {
        let dir = log_dir.join(INDEX_DIR);
        std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
        let index = LogIndex {
            dir,
            log_id,
            fields: Arc::new(Fields::new()),
            segments: RwLock::new(BTreeMap::new()),
            committed: Condvar::new(),
            commit_lock: Mutex::new(()),
            failing: AtomicBool::new(false),
        };
        let Some((active, older)) = view.split_last() else {
            return Ok(index);
        };
        for segment in older {
            index.load(segment)?;
        }
        index.load_active(active)?;
        Ok(index)
    }

    /// The schema's fields.
    pub(crate) fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Where the bytes of what is searchable now go, over every segment's
    /// index.
    ///
    /// # Errors
    /// [`Error::Index`] when an index cannot be measured.
    pub fn space(&self) -> Result<IndexSpace> {
        let mut space = IndexSpace::default();
        for (&first_seq, ix) in self.segments.read().iter() {
            space.add(&self.dir_of(first_seq), &ix.searcher())?;
        }
        Ok(space)
    }

    /// The index of the segment starting at `first_seq`, if it has one.
    pub(crate) fn segment(&self, first_seq: u64) -> Option<Arc<SegmentIndex>> {
        self.segments.read().get(&first_seq).cloned()
    }

    /// Drops the index of a segment that left the log (its directory is
    /// deleted by the caller).
    pub(crate) fn forget(&self, first_seq: u64) {
        self.segments.write().remove(&first_seq);
    }

    /// Puts `ix` in place as the index of the segment at `first_seq` and
    /// drops the indexes of the segments at `removed` (compaction and
    /// erasure). Callers hold the view's write lock, so that a search, which
    /// pins the indexes of the segments of its view under the read lock,
    /// never pairs a segment with another segment's index.
    pub(crate) fn replace(&self, removed: &[u64], first_seq: u64, ix: Arc<SegmentIndex>) {
        let mut segments = self.segments.write();
        for first in removed {
            segments.remove(first);
        }
        segments.insert(first_seq, ix);
    }

    /// Builds the finished index of the sealed `segment` in `dir` (which is
    /// emptied first), for the caller to rename into place.
    ///
    /// # Errors
    /// As [`LogIndex::open`].
    pub(crate) fn build_detached(&self, segment: &Segment, dir: &Path) -> Result<()> {
        remove_dir(dir)?;
        let ix = SegmentIndex::create(
            dir,
            self.fields.clone(),
            self.log_id,
            segment.first_seq(),
            segment.prev_chain_hash(),
        )?;
        let mut state = ix.lock();
        self.catch_up(&ix, &mut state, segment, segment.next_seq())?;
        ix.finish(&mut state)
    }

    /// Opens the index just renamed into place for `segment` and checks
    /// that it covers the whole segment.
    ///
    /// # Errors
    /// [`Error::Index`] when it does not open or does not fit the segment.
    pub(crate) fn open_installed(&self, segment: &Segment) -> Result<Arc<SegmentIndex>> {
        let dir = self.dir_of(segment.first_seq());
        let (ix, coverage) = SegmentIndex::open(&dir, self.fields.clone())?;
        let problem = match self.check_coverage(segment, coverage.as_ref()) {
            Err(reason) => Some(reason),
            // Finished means it covers the whole segment (checked above).
            Ok(()) if !ix.is_finished() => Some("it is not finished".to_string()),
            Ok(()) => None,
        };
        match problem {
            Some(reason) => Err(Error::Index { dir, reason }),
            None => Ok(Arc::new(ix)),
        }
    }

    /// The directory of the index of the segment at `first_seq`.
    pub(crate) fn dir_of(&self, first_seq: u64) -> PathBuf {
        self.dir.join(format!("{first_seq:020}"))
    }

    /// Seq below which every record of `view` is searchable.
    pub fn watermark(&self, view: &[Segment]) -> u64 {
        let segments = self.segments.read();
        for segment in view {
            let searchable = segments
                .get(&segment.first_seq())
                .map_or(segment.first_seq(), |ix| ix.searchable());
            if searchable < segment.next_seq() {
                return searchable;
            }
        }
        view.last().map_or(0, Segment::next_seq)
    }

    /// Waits until a commit happens or `timeout` passes.
    pub fn wait_for_commit(&self, timeout: Duration) {
        let mut guard = self.commit_lock.lock();
        self.committed.wait_for(&mut guard, timeout);
    }

    fn notify_commit(&self) {
        self.failing.store(false, Ordering::Release);
        let _guard = self.commit_lock.lock();
        self.committed.notify_all();
    }

    /// Whether indexing failed since the last successful commit; appends
    /// are then not held back for the index (a broken index must not stall
    /// ingest; searches see what was indexed before the failure).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// One step of indexing: adds up to a step of records below `visible`
    /// to their segments' indexes, oldest first, and commits what is due.
    /// Returns whether records are left to index.
    ///
    /// # Errors
    /// Reading the segments or writing the index.
    pub fn pass(&self, view: &[Segment], visible: u64, policy: &IndexPolicy) -> Result<bool> {
        let result = self.step(view, visible, policy);
        if result.is_err() {
            self.failing.store(true, Ordering::Release);
        }
        result
    }

    fn step(&self, view: &[Segment], visible: u64, policy: &IndexPolicy) -> Result<bool> {
        let interval = Duration::from_millis(policy.commit_interval_ms);
        for (i, segment) in view.iter().enumerate() {
            let ix = match segment {
                // A sealed segment's index is complete before the segment
                // enters the view; none means this view is stale (the
                // segment was compacted or removed since): nothing to add.
                Segment::Sealed(_) => match self.segment(segment.first_seq()) {
                    Some(ix) => ix,
                    None => continue,
                },
                Segment::Wal(_) => self.get_or_create(segment)?,
            };
            let rotated = i + 1 < view.len();
            // A rotated segment whose records are all searchable needs
            // nothing more from this pass; its seal may hold its lock for
            // seconds while merging it, which must not hold up the newer
            // segments' records.
            if ix.is_finished() || (rotated && ix.searchable() >= segment.next_seq()) {
                continue;
            }
            let end = segment.next_seq().min(visible);
            let mut state = ix.lock();
            if ix.is_finished() {
                continue;
            }
            if state.added < segment.first_seq() {
                return Err(Error::Index {
                    dir: ix.dir().to_path_buf(),
                    reason: format!(
                        "it continues at seq {} but its segment starts at {}; rebuild the index",
                        state.added,
                        segment.first_seq()
                    ),
                });
            }
            let to = end.min(state.added + STEP_RECORDS);
            if state.added < to {
                let records = segment.read(state.added, to)?;
                ix.add(&mut state, records)?;
            }
            let rotated_and_done = rotated && state.added == segment.next_seq();
            let since = state.last_commit.elapsed();
            // Caught up with the head: commit sooner, so that a steady load
            // is searchable in a fraction of the interval; a load the index
            // trails gets the interval's fewer, larger commits.
            let caught_up = !rotated && state.added >= visible;
            let due = since >= interval || (caught_up && since >= interval / EAGER_COMMIT_DIVISOR);
            if state.added > ix.searchable() && (rotated_and_done || due) {
                ix.commit(&mut state)?;
                self.notify_commit();
            }
            if state.added < end {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Commits every index with uncommitted records.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn commit_all(&self) -> Result<()> {
        let segments: Vec<_> = self.segments.read().values().cloned().collect();
        for ix in segments {
            let mut state = ix.lock();
            if !ix.is_finished() && state.added > ix.searchable() {
                ix.commit(&mut state)?;
            }
        }
        self.notify_commit();
        Ok(())
    }

    /// Completes the index of a segment that will not grow any more: adds
    /// what is missing, commits and merges it into one tantivy segment.
    ///
    /// # Errors
    /// As [`LogIndex::pass`].
    pub fn finish(&self, segment: &Segment) -> Result<()> {
        let ix = self.get_or_create(segment)?;
        let mut state = ix.lock();
        self.catch_up(&ix, &mut state, segment, segment.next_seq())?;
        ix.finish(&mut state)?;
        drop(state);
        self.notify_commit();
        Ok(())
    }

    /// Rebuilds the index of every segment of `view` (records below
    /// `visible`) from the segment data. Searches keep using the old indexes
    /// until each new one is in place.
    ///
    /// # Errors
    /// As [`LogIndex::open`].
    pub fn rebuild(&self, view: &[Segment], visible: u64) -> Result<()> {
        for (i, segment) in view.iter().enumerate() {
            let old = self.segment(segment.first_seq());
            // Hold the old index's writing side so the indexing thread
            // cannot add to it while it is replaced, then retire it.
            let mut guard = old.as_ref().map(|ix| ix.lock());
            if let (Some(ix), Some(state)) = (&old, guard.as_mut()) {
                ix.retire(state);
            }
            self.build(segment, i + 1 < view.len(), visible, "rebuild requested")?;
            drop(guard);
        }
        Ok(())
    }

    /// The index of `segment`, creating an empty one when it has none.
    fn get_or_create(&self, segment: &Segment) -> Result<Arc<SegmentIndex>> {
        if let Some(ix) = self.segment(segment.first_seq()) {
            return Ok(ix);
        }
        let mut segments = self.segments.write();
        if let Some(ix) = segments.get(&segment.first_seq()) {
            return Ok(ix.clone());
        }
        let ix = Arc::new(SegmentIndex::create(
            &self.dir_of(segment.first_seq()),
            self.fields.clone(),
            self.log_id,
            segment.first_seq(),
            segment.prev_chain_hash(),
        )?);
        segments.insert(segment.first_seq(), ix.clone());
        Ok(ix)
    }

    /// Opens the index of the active segment at log open. One that is
    /// behind is left to the indexing thread to catch up; one that does not
    /// fit the segment is removed, and that thread builds it again.
    fn load_active(&self, segment: &Segment) -> Result<()> {
        let dir = self.dir_of(segment.first_seq());
        if !dir.exists() {
            return Ok(());
        }
        let problem = match SegmentIndex::open(&dir, self.fields.clone()) {
            Ok((ix, coverage)) => match self.check_coverage(segment, coverage.as_ref()) {
                Ok(()) => {
                    let behind = segment.next_seq() - ix.searchable();
                    if behind > 0 {
                        tracing::info!(index = %dir.display(), records = behind, "the active segment's index is behind; the indexing thread catches it up");
                    }
                    self.segments
                        .write()
                        .insert(segment.first_seq(), Arc::new(ix));
                    return Ok(());
                }
                Err(reason) => reason,
            },
            Err(error) => error.to_string(),
        };
        tracing::warn!(index = %dir.display(), reason = %problem, "removing the active segment's index; the indexing thread builds it again");
        remove_dir(&dir)
    }

    /// Opens the index of a segment that will not grow at log open,
    /// finishing it if needed, or rebuilds it.
    pub(crate) fn load(&self, segment: &Segment) -> Result<()> {
        let dir = self.dir_of(segment.first_seq());
        if !dir.exists() {
            return self.build(segment, true, segment.next_seq(), "it is missing");
        }
        let (ix, coverage) = match SegmentIndex::open(&dir, self.fields.clone()) {
            Ok(opened) => opened,
            Err(error) => {
                return self.build(segment, true, segment.next_seq(), &error.to_string());
            }
        };
        if let Err(reason) = self.check_coverage(segment, coverage.as_ref()) {
            drop(ix);
            return self.build(segment, true, segment.next_seq(), &reason);
        }
        let ix = Arc::new(ix);
        self.segments
            .write()
            .insert(segment.first_seq(), ix.clone());
        if !ix.is_finished() {
            let mut state = ix.lock();
            tracing::info!(index = %dir.display(), from = state.added, to = segment.next_seq(), "catching up and finishing the index");
            self.catch_up(&ix, &mut state, segment, segment.next_seq())?;
            ix.finish(&mut state)?;
        }
        Ok(())
    }

    /// Whether an index's recorded coverage fits `segment`.
    fn check_coverage(
        &self,
        segment: &Segment,
        coverage: Option<&Coverage>,
    ) -> std::result::Result<(), String> {
        let c = coverage.ok_or("it has no commit of this version")?;
        if c.log_id != self.log_id || c.first_seq != segment.first_seq() {
            return Err(format!(
                "it belongs to log {} segment {}",
                hex::encode(c.log_id),
                c.first_seq
            ));
        }
        if c.indexed > segment.next_seq() || c.indexed < c.first_seq {
            return Err(format!(
                "it covers records up to seq {} but the segment ends at {}",
                c.indexed,
                segment.next_seq()
            ));
        }
        if c.finished && c.indexed != segment.next_seq() {
            return Err("it is finished but does not cover the whole segment".into());
        }
        let chain = chain_hash_at(segment, c.indexed).map_err(|e| e.to_string())?;
        if chain != c.chain_hash {
            return Err(format!(
                "its records up to seq {} are not the segment's (chain hash differs)",
                c.indexed
            ));
        }
        Ok(())
    }

    /// Builds the index of `segment` (its records below `visible`) from
    /// scratch in a new directory, then puts it in place of any old one.
    fn build(&self, segment: &Segment, rotated: bool, visible: u64, why: &str) -> Result<()> {
        let first = segment.first_seq();
        let dir = self.dir_of(first);
        let fresh = dir.with_extension("new");
        remove_dir(&fresh)?;
        tracing::warn!(index = %dir.display(), reason = why, records = segment.next_seq() - first, "building the index of a segment");
        {
            let ix = SegmentIndex::create(
                &fresh,
                self.fields.clone(),
                self.log_id,
                first,
                segment.prev_chain_hash(),
            )?;
            let mut state = ix.lock();
            self.catch_up(&ix, &mut state, segment, visible.min(segment.next_seq()))?;
            if matches!(segment, Segment::Sealed(_)) || rotated {
                ix.finish(&mut state)?;
            } else {
                ix.commit(&mut state)?;
            }
        }
        let old = dir.with_extension("old");
        remove_dir(&old)?;
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(Error::io("rename", &dir))?;
        }
        std::fs::rename(&fresh, &dir).map_err(Error::io("rename", &fresh))?;
        remove_dir(&old)?;
        let (ix, _) = SegmentIndex::open(&dir, self.fields.clone())?;
        self.segments.write().insert(first, Arc::new(ix));
        self.notify_commit();
        Ok(())
    }

    /// Adds the records of `segment` below `end` that the index is missing.
    fn catch_up(
        &self,
        ix: &SegmentIndex,
        state: &mut WriteState,
        segment: &Segment,
        end: u64,
    ) -> Result<()> {
        let started = Instant::now();
        let mut next_report = state.added + PROGRESS_RECORDS;
        while state.added < end {
            let to = end.min(state.added + STEP_RECORDS);
            let records = segment.read(state.added, to)?;
            ix.add(state, records)?;
            if state.added >= next_report {
                next_report += PROGRESS_RECORDS;
                tracing::info!(index = %ix.dir().display(), indexed = state.added - segment.first_seq(), of = end - segment.first_seq(), elapsed_ms = started.elapsed().as_millis() as u64, "indexing");
            }
        }
        Ok(())
    }
}

/// The chain hash after the first `size - first_seq` records of `segment`.
fn chain_hash_at(segment: &Segment, size: u64) -> Result<Hash> {
    if size == segment.first_seq() {
        return Ok(segment.prev_chain_hash());
    }
    let records = segment.read(size - 1, size)?;
    Ok(records
        .last()
        .map_or(segment.prev_chain_hash(), |(_, receipt)| receipt.chain_hash))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", dir)(e)),
        _ => Ok(()),
    }
}
