//! The tantivy index of one segment, in `index/<first_seq:020>/`.
//!
//! Documents are added in seq order from `first_seq` (a redacted record has
//! none: erased events are not searchable at all); a commit makes them
//! searchable and records, in tantivy's commit payload, which log and segment
//! the index belongs to, how many records it holds and the chain hash after
//! the last of them. That payload is how an index found on disk is checked
//! against its segment at open: a mismatch (another log, records the WAL lost
//! in a crash, a different chain) means it is rebuilt.
//!
//! # Invariants
//! - `searchable` is the seq after the last committed record, and the
//!   reader has been reloaded to see it; every document below it is the
//!   record at its seq in this segment.
//! - Once `finished`, the index is merged into one tantivy segment, has no
//!   writer, and covers the whole (sealed) segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use tantivy::directory::error::LockError;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy, NoMergePolicy, UserOperation};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, TantivyError,
};

use super::schema::{Fields, tokenizers};
use crate::chain::Hash;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::record::{Receipt, Record};

/// Tantivy segments with at least this many documents are left alone until
/// the seal merges them all.
const SMALL_SEGMENT_DOCS: usize = 20_000;

/// Memory each indexing worker of a writer buffers before it flushes.
const WRITER_MEMORY: usize = 64 << 20;
/// Documents handed to tantivy at a time. A batch goes to one of its
/// indexing workers, so the few documents of a slow trickle make one
/// tantivy segment per commit instead of one per worker (each costs its
/// files and a writer's zeroed term table whatever it holds), while a
/// pass of thousands still spreads over every worker.
const DOCS_PER_BATCH: usize = 1_000;

/// How long opening a writer waits for tantivy's writer lock to be free.
///
/// Only one writer per index exists at a time (the write state's mutex
/// ensures it, and the log's lock file keeps other processes out), so a
/// busy lock is never another writer: it is the lock of the writer just
/// dropped, still held by a copy of its file descriptor in a child process
/// this process is spawning (between fork and exec every descriptor is
/// duplicated, and the `flock` lives until the last copy closes). That
/// lasts microseconds to milliseconds; waiting turns a spurious failure of
/// an erasure, compaction or seal into a short pause.
const WRITER_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The settings of a new index. Nothing is stored, but tantivy's document
/// store still keeps a position per document (4 bytes an event with lz4,
/// its default); zstd over large blocks makes that next to nothing.
fn settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
        docstore_blocksize: DOCSTORE_BLOCK,
        ..IndexSettings::default()
    }
}

/// Bytes of (empty) documents per compressed block of the document store.
const DOCSTORE_BLOCK: usize = 1 << 20;

/// Tantivy indexing workers per writer: one per core, up to four (the
/// store's indexing thread feeds them decoded documents).
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The commit payload: what the index covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Coverage {
    /// Payload format, [`COVERAGE_FORMAT`].
    pub format: u32,
    /// The log's id, hex.
    #[serde(with = "crate::serde_hex")]
    pub log_id: [u8; 16],
    /// The segment's first seq.
    pub first_seq: u64,
    /// Seq after the last indexed record.
    pub indexed: u64,
    /// Chain hash after record `indexed - 1` (the segment's previous chain
    /// hash when empty).
    #[serde(with = "crate::serde_hex")]
    pub chain_hash: Hash,
    /// Merged into one tantivy segment; nothing more will be added.
    pub finished: bool,
}

/// 3 since term dictionaries are tantivy's sstables (issue 24), which a
/// build of this version reads and an FST dictionary (format 2) it cannot;
/// 2 since issue 23 packs the terms of request and correlation ids
/// (`packed.rs`). An index whose payload is not this version's is rebuilt
/// at open.
const COVERAGE_FORMAT: u32 = 3;

/// The writing side, held while documents are added or committed.
pub(crate) struct WriteState {
    writer: Option<IndexWriter>,
    /// Seq after the last document added, committed or not.
    pub added: u64,
    /// Chain hash after `added - 1`.
    chain_hash: Hash,
    /// When the last commit happened.
    pub last_commit: Instant,
}

/// One segment's index.
pub(crate) struct SegmentIndex {
    dir: PathBuf,
    log_id: [u8; 16],
    first_seq: u64,
    index: Index,
    reader: IndexReader,
    fields: Arc<Fields>,
    state: Mutex<WriteState>,
    searchable: AtomicU64,
    finished: AtomicBool,
}

impl std::fmt::Debug for SegmentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentIndex")
            .field("dir", &self.dir)
            .field("searchable", &self.searchable)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SegmentIndex {
    /// Opens the index in `dir` and returns it with the coverage its last
    /// commit recorded (`None` when it has none or it is not readable as
    /// ours, in which case the caller rebuilds it).
    ///
    /// # Errors
    /// [`Error::Index`] when tantivy cannot open it.
    pub fn open(dir: &Path, fields: Arc<Fields>) -> Result<(SegmentIndex, Option<Coverage>)> {
        let mut index = Index::open_in_dir(dir).map_err(Error::index(dir))?;
        index.set_tokenizers(tokenizers());
        if index.schema() != fields.schema {
            return Err(Error::Index {
                dir: dir.to_path_buf(),
                reason: "its schema is not this version's".into(),
            });
        }
        let metas = index.load_metas().map_err(Error::index(dir))?;
        let coverage = metas
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Coverage>(p).ok())
            .filter(|c| c.format == COVERAGE_FORMAT);
        let reader = reader(&index, dir)?;
        let recorded = coverage.clone().unwrap_or(Coverage {
            format: COVERAGE_FORMAT,
            log_id: [0; 16],
            first_seq: 0,
            indexed: 0,
            chain_hash: [0; 32],
            finished: false,
        });
        Ok((
            SegmentIndex::assemble(dir, index, reader, fields, &recorded),
            coverage,
        ))
    }

    /// Creates an empty index in `dir` (which must not exist) for the
    /// segment starting at `first_seq` after chain hash `prev_chain_hash`,
    /// and commits it, so that every index on disk records its coverage.
    ///
    /// # Errors
    /// I/O or [`Error::Index`] errors.
    pub fn create(
        dir: &Path,
        fields: Arc<Fields>,
        log_id: [u8; 16],
        first_seq: u64,
        prev_chain_hash: Hash,
    ) -> Result<SegmentIndex> {
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let mut index = Index::builder()
            .schema(fields.schema.clone())
            .settings(settings())
            .create_in_dir(dir)
            .map_err(Error::index(dir))?;
        index.set_tokenizers(tokenizers());
        let reader = reader(&index, dir)?;
        let coverage = Coverage {
            format: COVERAGE_FORMAT,
            log_id,
            first_seq,
            indexed: first_seq,
            chain_hash: prev_chain_hash,
            finished: false,
        };
        let ix = SegmentIndex::assemble(dir, index, reader, fields, &coverage);
        {
            let mut state = ix.state.lock();
            state.writer = Some(ix.writer(worker_threads(), WRITER_MEMORY)?);
            ix.commit_with(&mut state, false)?;
            // The writer that adds documents is started by the indexing
            // thread, whose (lower) priority its threads inherit.
            state.writer = None;
        }
        Ok(ix)
    }

    /// The index's state as `coverage` describes it.
    fn assemble(
        dir: &Path,
        index: Index,
        reader: IndexReader,
        fields: Arc<Fields>,
        coverage: &Coverage,
    ) -> SegmentIndex {
        SegmentIndex {
            dir: dir.to_path_buf(),
            log_id: coverage.log_id,
            first_seq: coverage.first_seq,
            index,
            reader,
            fields,
            state: Mutex::new(WriteState {
                writer: None,
                added: coverage.indexed,
                chain_hash: coverage.chain_hash,
                last_commit: Instant::now(),
            }),
            searchable: AtomicU64::new(coverage.indexed),
            finished: AtomicBool::new(coverage.finished),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Seq after the last searchable document.
    pub fn searchable(&self) -> u64 {
        self.searchable.load(Ordering::Acquire)
    }

    /// Whether it is merged and complete.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Stops all writing to this index (it is being replaced).
    pub fn retire(&self, state: &mut WriteState) {
        state.writer = None;
        self.finished.store(true, Ordering::Release);
    }

    /// A searcher over what is searchable now.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// The writing side.
    pub fn lock(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock()
    }

    /// Adds the records (which must continue at `state.added`, in order),
    /// [`DOCS_PER_BATCH`] documents at a time; `state` moves past a batch's
    /// records once tantivy has taken it.
    ///
    /// # Errors
    /// [`Error::Index`] when tantivy refuses a document.
    pub fn add(&self, state: &mut WriteState, records: Vec<(Record, Receipt)>) -> Result<()> {
        if state.writer.is_none() {
            state.writer = Some(self.writer(worker_threads(), WRITER_MEMORY)?);
        }
        let writer = state.writer.as_ref().expect("created above");
        let mut batch = Vec::with_capacity(records.len().min(DOCS_PER_BATCH));
        let mut next = state.added;
        let total = records.len();
        for (i, (record, receipt)) in records.into_iter().enumerate() {
            debug_assert_eq!(record.seq, next);
            next = record.seq + 1;
            let event = match record.event() {
                Ok(Some(event)) => Some(event),
                // A redacted record has no document at all: nothing of an
                // erased event, not even its time, may be found.
                Ok(None) => None,
                // A body that does not decode is indexed by its seq and
                // ingest time only: it cannot match anything else.
                Err(_) => Some(Event {
                    time: Some(record.ingest_time),
                    ..Event::default()
                }),
            };
            if let Some(event) = event {
                batch.push(UserOperation::Add(self.fields.document(record.seq, event)));
            }
            if batch.len() == DOCS_PER_BATCH || i + 1 == total {
                writer
                    .run(std::mem::take(&mut batch))
                    .map_err(Error::index(&self.dir))?;
                state.added = next;
                state.chain_hash = receipt.chain_hash;
            }
        }
        Ok(())
    }

    /// Commits what was added, if anything, and makes it searchable.
    ///
    /// # Errors
    /// [`Error::Index`] when the commit fails (what was added since the last
    /// commit is added again by the caller after a reopen).
    pub fn commit(&self, state: &mut WriteState) -> Result<()> {
        state.last_commit = Instant::now();
        if state.added == self.searchable() {
            return Ok(());
        }
        self.commit_with(state, false)
    }

    /// Commits, merges everything into one tantivy segment and drops the
    /// writer: the index of a segment that will not grow any more.
    ///
    /// # Errors
    /// [`Error::Index`].
    pub fn finish(&self, state: &mut WriteState) -> Result<()> {
        if self.is_finished() {
            return Ok(());
        }
        if state.writer.is_none() {
            state.writer = Some(self.writer(worker_threads(), WRITER_MEMORY)?);
        }
        self.commit_with(state, false)?;
        let writer = state.writer.take().expect("created above");
        writer
            .wait_merging_threads()
            .map_err(Error::index(&self.dir))?;
        let mut writer = self.writer(1, 15 << 20)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let ids = self
            .index
            .searchable_segment_ids()
            .map_err(Error::index(&self.dir))?;
        if ids.len() > 1 {
            writer.merge(&ids).wait().map_err(Error::index(&self.dir))?;
        }
        state.writer = Some(writer);
        self.commit_with(state, true)?;
        if let Some(writer) = state.writer.take() {
            writer
                .wait_merging_threads()
                .map_err(Error::index(&self.dir))?;
        }
        self.finished.store(true, Ordering::Release);
        Ok(())
    }

    fn commit_with(&self, state: &mut WriteState, finished: bool) -> Result<()> {
        let coverage = Coverage {
            format: COVERAGE_FORMAT,
            log_id: self.log_id,
            first_seq: self.first_seq,
            indexed: state.added,
            chain_hash: state.chain_hash,
            finished,
        };
        let payload = serde_json::to_string(&coverage).expect("coverage serialises");
        let writer = state
            .writer
            .as_mut()
            .expect("a writer exists while documents are added");
        let mut prepared = writer.prepare_commit().map_err(Error::index(&self.dir))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(Error::index(&self.dir))?;
        self.reader.reload().map_err(Error::index(&self.dir))?;
        self.searchable.store(state.added, Ordering::Release);
        Ok(())
    }

    fn writer(&self, threads: usize, memory: usize) -> Result<IndexWriter> {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .num_merge_threads(1)
            .memory_budget_per_thread(memory)
            .build();
        let deadline = Instant::now() + WRITER_LOCK_WAIT;
        let mut pause = Duration::from_millis(1);
        let writer = loop {
            match self.index.writer_with_options(options.clone()) {
                Err(TantivyError::LockFailure(LockError::LockBusy, _))
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => break other.map_err(Error::index(&self.dir))?,
            }
        };
        // Sealing merges everything into one tantivy segment anyway; before
        // that, only the small segments of slow commits are merged (so a
        // quiet log's active index does not pile up thousands of them),
        // not the large ones of a busy log, which would be rewritten twice.
        let mut policy = LogMergePolicy::default();
        policy.set_max_docs_before_merge(SMALL_SEGMENT_DOCS);
        writer.set_merge_policy(Box::new(policy));
        Ok(writer)
    }
}

fn reader(index: &Index, dir: &Path) -> Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(Error::index(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBody;

    /// A writer lock held elsewhere for a moment (as a child process's copy
    /// of a just-closed descriptor holds it) delays a write; it does not
    /// fail it.
    #[test]
    fn a_briefly_busy_writer_lock_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ix");
        let ix = SegmentIndex::create(&path, Arc::new(Fields::new()), [7; 16], 0, [0; 32]).unwrap();
        let holder = Index::open_in_dir(&path)
            .unwrap()
            .writer::<tantivy::TantivyDocument>(15 << 20)
            .unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(holder);
        });
        let mut state = ix.lock();
        ix.finish(&mut state).unwrap();
        assert!(ix.is_finished());
        released.join().unwrap();
    }

    /// The few records of a trickle, committed together, make one tantivy
    /// segment however many indexing workers the writer has; a pass of
    /// several batches is added whole, its place in the chain kept.
    #[test]
    fn a_trickle_commits_one_segment_and_a_pass_is_added_whole() {
        let dir = tempfile::tempdir().unwrap();
        let ix =
            SegmentIndex::create(dir.path(), Arc::new(Fields::new()), [7; 16], 0, [0; 32]).unwrap();
        let records = |from: u64, to: u64| -> Vec<(Record, Receipt)> {
            (from..to)
                .map(|seq| {
                    let event = Event {
                        action: "doc.read".into(),
                        time: Some(1_700_000_000_000_000_000 + seq as i64),
                        ..Event::default()
                    };
                    let record = Record {
                        seq,
                        ingest_time: 1,
                        body: RecordBody::Stored(crate::event::body::encode(&event)),
                    };
                    let receipt = Receipt {
                        seq,
                        leaf_hash: [0; 32],
                        chain_hash: [seq as u8; 32],
                    };
                    (record, receipt)
                })
                .collect()
        };
        let mut state = ix.lock();
        ix.add(&mut state, records(0, 10)).unwrap();
        assert_eq!((state.added, state.chain_hash), (10, [9; 32]));
        ix.commit(&mut state).unwrap();
        let searcher = ix.searcher();
        assert_eq!(searcher.segment_readers().len(), 1);
        assert_eq!(searcher.num_docs(), 10);

        let pass = 4 * DOCS_PER_BATCH as u64;
        ix.add(&mut state, records(10, 10 + pass)).unwrap();
        assert_eq!(state.chain_hash, [(9 + pass) as u8; 32]);
        ix.commit(&mut state).unwrap();
        let searcher = ix.searcher();
        assert_eq!(searcher.num_docs(), 10 + pass);
        assert_eq!(ix.searchable(), 10 + pass);
    }
}
