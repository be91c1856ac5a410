//! One log: its chain, its segments, its writer and its readers.
//!
//! - [`open`]: creating a log and recovering it at open.
//! - [`append`]: validating, hashing and writing batches.
//! - [`sync`]: group commit, the fsync that acknowledgements wait for.
//! - [`seal`]: rotating the active segment and sealing the old one.
//! - [`read`]: reads by seq and range scans.
//! - [`indexing`]: keeping the search index up with appends and seals.
//! - [`search`]: queries and aggregations over the index.
//! - [`policy`]: what is configurable per log.
//! - [`retention`]: the retention policy, lock and holds, and removing
//!   segments from the front.
//! - [`archive`]: uploading segments to the archive target, checking the
//!   copy, archiving rewritten ones again, and restoring them.
//! - [`compact`]: merging small sealed segments, and the crash-safe rewrite
//!   of sealed segments it shares with [`erase`].
//! - [`erase`]: erasing the bodies of matching records (GDPR), keeping
//!   their digests.
//!
//! # Invariants
//! - Seqs are contiguous, from 0 or from the manifest's retention anchor;
//!   the segments in `view` cover `first_seq..next_seq` with no gap and no
//!   overlap, in order, and the last one is the active WAL.
//! - Only the holder of `writer` writes to the active WAL or changes the chain
//!   head. Lock order: `seal_lock`, then `writer` or `manifest`, then `view`
//!   or `sync`. Everything that replaces or removes segment files (seals,
//!   retention, restore, compaction, erasure, verification) holds
//!   `seal_lock`.
//! - `visible` is the seq after the last record readers may see: for the
//!   `always` policy, the last one made durable.

pub mod append;
pub mod archive;
pub mod checkpoints;
pub mod compact;
pub mod dedup;
pub mod erase;
pub mod follow;
pub mod indexing;
pub mod open;
pub mod policy;
pub mod read;
pub mod retention;
pub mod seal;
pub mod search;
pub mod sync;
pub mod tree;
pub mod visible;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use self::append::{Appended, PendingAppend};
pub use self::compact::{
    CompactGroup, CompactOptions, CompactProgress, CompactReport, CompactedGroup,
};
use self::dedup::Dedup;
pub use self::dedup::DedupOptions;
pub use self::erase::{EraseOptions, EraseProgress, EraseReport};
pub use self::policy::{FsyncPolicy, IndexPolicy, Policy, RetentionPolicy, SealPolicy};
pub use self::read::{Direction, Scan};
use self::sync::SyncState;
use self::visible::Visible;
use crate::chain::{self, Hash};
use crate::checkpoint::Signer;
use crate::clock::Clock;
use crate::durability::Syncer;
use crate::error::{Error, Result};
use crate::event::sanitize::Sanitizer;
use crate::event::scrub::Scrubber;
use crate::index::LogIndex;
use crate::maintenance::Signal;
use crate::record::{Receipt, Record};
use crate::segment::{BlockCache, SealedSegment, SegmentStats};
use crate::wal::WalSegment;

/// What a log needs from the store that holds it.
#[derive(Debug, Clone)]
pub struct LogContext {
    /// Signs checkpoints.
    pub signer: Arc<Signer>,
    /// Gives ingest times and ages.
    pub clock: Arc<dyn Clock>,
    /// Wakes the thread that seals rotated segments.
    pub maintenance: Arc<Signal>,
    /// Makes WAL writes durable.
    pub syncer: Arc<dyn Syncer>,
    /// Wakes the thread that indexes appended records.
    pub indexing: Arc<Signal>,
    /// Decoded sealed blocks, shared by the store's logs.
    pub block_cache: Arc<BlockCache>,
    /// How long client event ids are remembered for retries.
    pub dedup: DedupOptions,
    /// Fails archival and removal steps on purpose (tests).
    pub faults: Arc<dyn crate::faults::Faults>,
}

/// A segment as readers see it.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Sealed and compressed.
    Sealed(Arc<SealedSegment>),
    /// The active WAL, or one waiting to be sealed.
    Wal(Arc<WalSegment>),
}

impl Segment {
    /// Seq of the first record.
    pub fn first_seq(&self) -> u64 {
        match self {
            Segment::Sealed(s) => s.first_seq(),
            Segment::Wal(w) => w.first_seq(),
        }
    }

    /// Seq after the last written record.
    pub fn next_seq(&self) -> u64 {
        match self {
            Segment::Sealed(s) => s.next_seq(),
            Segment::Wal(w) => w.next_seq(),
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        match self {
            Segment::Sealed(s) => s.path(),
            Segment::Wal(w) => w.path(),
        }
    }

    /// Chain hash before its first record.
    pub fn prev_chain_hash(&self) -> Hash {
        match self {
            Segment::Sealed(s) => s.prev_chain_hash(),
            Segment::Wal(w) => w.prev_chain_hash(),
        }
    }

    /// Record count, body bytes and time bounds.
    pub fn stats(&self) -> SegmentStats {
        match self {
            Segment::Sealed(s) => s.stats(),
            Segment::Wal(w) => w.stats(),
        }
    }

    /// Reads `from..to`, which must lie inside the segment.
    pub(crate) fn read(&self, from: u64, to: u64) -> Result<Vec<(Record, Receipt)>> {
        match self {
            Segment::Sealed(s) => s.read(from, to),
            Segment::Wal(w) => w.read(from, to),
        }
    }
}

/// Whether a segment is still written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentState {
    /// Receiving appends.
    Active,
    /// Rotated out, being sealed.
    Sealing,
    /// Sealed and read-only.
    Sealed,
}

/// Facts about one segment, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Seq of the first record.
    pub first_seq: u64,
    /// Seq after the last record.
    pub next_seq: u64,
    /// Active, sealing or sealed.
    pub state: SegmentState,
    /// Record count, body bytes and time bounds.
    pub stats: SegmentStats,
    /// Size of its file.
    pub file_bytes: u64,
    /// Its file.
    pub path: PathBuf,
}

/// The head of a log: how many records it has and the chain hash after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// First seq still stored.
    pub first_seq: u64,
    /// Seq the next record will get; also the number of records ever appended.
    pub next_seq: u64,
    /// Chain hash after seq `next_seq - 1`.
    pub chain_hash: Hash,
}

/// State owned by the single writer.
#[derive(Debug)]
struct Writer {
    active: Arc<WalSegment>,
    /// Bumped at each rotation; orders durability targets across WAL files.
    generation: u64,
    /// End of the active WAL file.
    offset: u64,
    next_seq: u64,
    head: Hash,
}

/// One open log.
#[derive(Debug)]
pub struct Log {
    name: String,
    dir: PathBuf,
    log_id: [u8; 16],
    /// The policy as created; its `retention` part is stale once changed:
    /// read that from `manifest`.
    policy: Policy,
    /// The manifest as last saved: the live retention policy, holds,
    /// anchor and archived segments. Held while it is changed and saved.
    manifest: Mutex<crate::manifest::Manifest>,
    sanitizer: Sanitizer,
    /// The scrubber of the policy in `manifest`, swapped when it changes.
    scrubber: RwLock<Arc<Scrubber>>,
    ctx: LogContext,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: parking_lot::Condvar,
    view: RwLock<Vec<Segment>>,
    visible: Visible,
    pub(crate) seal_lock: Mutex<()>,
    /// Held while `checkpoints.log` is read or appended to; the last
    /// checkpoint this process recorded.
    checkpoint_lock: Mutex<Option<crate::checkpoint::Checkpoint>>,
    poison: Mutex<Option<String>>,
    frames: append::FramePool,
    index: LogIndex,
    dedup: Dedup,
    /// The Merkle tree over the leaf hashes; the writer extends it.
    tree: Mutex<tree::Tree>,
}

impl Log {
    /// The log's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's random id.
    pub fn log_id(&self) -> [u8; 16] {
        self.log_id
    }

    /// The log's policy, with its current retention settings.
    pub fn policy(&self) -> Policy {
        self.manifest.lock().policy.clone()
    }

    /// The chain hash before seq 0.
    pub fn genesis(&self) -> Hash {
        chain::genesis(&self.log_id)
    }

    /// Seq after the last record readers can see.
    pub fn visible_seq(&self) -> u64 {
        self.visible.get()
    }

    /// Watches the visible head: the receiver wakes whenever records become
    /// readable (what subscribers wait on).
    pub fn watch_visible(&self) -> tokio::sync::watch::Receiver<u64> {
        self.visible.watch()
    }

    /// First seq, next seq and chain head of what readers can see.
    ///
    /// # Errors
    /// When the record before the head cannot be read back.
    pub fn head(&self) -> Result<Head> {
        let next_seq = self.visible_seq();
        Ok(Head {
            first_seq: self.first_seq(),
            next_seq,
            chain_hash: self.chain_hash_at(next_seq)?,
        })
    }

    /// First seq still stored.
    pub fn first_seq(&self) -> u64 {
        self.view.read().first().map_or(0, Segment::first_seq)
    }

    /// The chain hash after the first `size` records (genesis for 0).
    ///
    /// # Errors
    /// [`Error::SeqOutOfRange`] past the visible head.
    pub fn chain_hash_at(&self, size: u64) -> Result<Hash> {
        if size == 0 {
            return Ok(self.genesis());
        }
        if let Some(first) = self.view.read().first()
            && first.first_seq() == size
        {
            return Ok(first.prev_chain_hash());
        }
        Ok(self.read_with_receipt(size - 1)?.1.chain_hash)
    }

    /// Every segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let view = self.view.read().clone();
        let active_first = view.last().map(Segment::first_seq);
        view.iter()
            .map(|seg| match seg {
                Segment::Sealed(s) => SegmentInfo {
                    first_seq: s.first_seq(),
                    next_seq: s.next_seq(),
                    state: SegmentState::Sealed,
                    stats: s.stats(),
                    file_bytes: s.file_bytes(),
                    path: s.path().to_path_buf(),
                },
                Segment::Wal(w) => SegmentInfo {
                    first_seq: w.first_seq(),
                    next_seq: w.next_seq(),
                    state: if Some(w.first_seq()) == active_first {
                        SegmentState::Active
                    } else {
                        SegmentState::Sealing
                    },
                    stats: w.stats(),
                    file_bytes: w.file_len(),
                    path: w.path().to_path_buf(),
                },
            })
            .collect()
    }

    /// The error to return once a write or fsync has failed.
    fn check_poison(&self) -> Result<()> {
        match &*self.poison.lock() {
            Some(reason) => Err(Error::Poisoned {
                log: self.name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Stops all further writes: after a failed fsync the page cache state
    /// is unknown, so nothing more may be acknowledged until a reopen.
    fn set_poison(&self, error: &Error) {
        tracing::error!(log = %self.name, %error, "log stops accepting writes");
        self.poison.lock().get_or_insert_with(|| error.to_string());
    }
}

/// `n` logins, `login 0` to `login {n-1}`: the events of the log module's
/// unit tests.
#[cfg(test)]
pub(crate) fn test_events(n: usize) -> Vec<crate::Event> {
    (0..n)
        .map(|i| crate::Event {
            action: "user.login".into(),
            message: format!("login {i}"),
            ..crate::Event::default()
        })
        .collect()
}
