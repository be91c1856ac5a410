//! Verification: recompute every body digest, leaf hash and chain hash from
//! the stored bytes, check that segments follow each other, and check every
//! recorded checkpoint against the recomputed chain, and the Merkle
//! tree's stored roots and signed head against the records ([`tree`]).
//!
//! It reads files only, never changes them, and needs no open [`Store`]: the
//! offline `steled verify` and a live [`Log::verify`] run the same code. The
//! result is a [`VerifyReport`] naming the first failure (seq, file, offset
//! and reason), not an early `Err`: damage is a finding, not a crash.
//!
//! [`Store`]: crate::Store

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use rayon::prelude::*;

use crate::cancel::Cancel;
use crate::chain::{self, Hash};
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::files::{SEGMENTS_DIR, SegmentKind, parse_segment_file_name, segment_file_name};
use crate::log::Log;
use crate::log::compact::{next_seq_of, same_chain};
use crate::log::open::check_follows;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::pools;
use crate::record::{RECORD_HEADER_LEN, RecordRef};
use crate::segment::SealedSegment;
use crate::wal::{TornTail, scan_wal};

mod tree;
use self::tree::TreeCheck;

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The log.
    pub log: String,
    /// Seqs whose records were hashed.
    pub range: Range<u64>,
    /// Records hashed.
    pub records: u64,
    /// Stored body bytes hashed.
    pub body_bytes: u64,
    /// Segment files checked.
    pub segments: usize,
    /// Checkpoints checked against the chain.
    pub checkpoints: usize,
    /// Stored Merkle tree roots (a chunk of 256 records each) found equal
    /// to the ones recomputed from the records.
    pub tree_chunks: u64,
    /// The size of the signed tree head checked against the tree, when
    /// there is one and the walk saw the records it needs.
    pub tree_head: Option<u64>,
    /// Seq after the last record found.
    pub next_seq: u64,
    /// Chain hash after the last record found.
    pub head: Hash,
    /// Where the local log starts when segments left it under the retention
    /// policy: the seq of the signed anchor the chain was started from.
    pub anchored_at: Option<u64>,
    /// A torn last batch in the active WAL, which recovery will drop.
    pub torn_tail: Option<(PathBuf, TornTail)>,
    /// The first failure, if any.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Where and why verification failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// The first seq affected, when known.
    pub seq: Option<u64>,
    /// The file at fault.
    pub file: PathBuf,
    /// Byte offset in that file, when known.
    pub offset: Option<u64>,
    /// What check failed.
    pub reason: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(seq) = self.seq {
            write!(f, "seq {seq}: ")?;
        }
        write!(f, "{}", self.file.display())?;
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl VerifyFailure {
    fn from_error(error: Error, seq: Option<u64>, fallback_file: &Path) -> VerifyFailure {
        match error {
            Error::Corrupted {
                file,
                offset,
                reason,
            } => VerifyFailure {
                seq,
                file,
                offset: Some(offset),
                reason,
            },
            other => VerifyFailure {
                seq,
                file: fallback_file.to_path_buf(),
                offset: None,
                reason: other.to_string(),
            },
        }
    }
}

impl Log {
    /// Verifies the records in `range` (clamped to what is visible) and the
    /// structure of the whole log, from the files on disk. Seals wait while
    /// it runs.
    ///
    /// # Errors
    /// Only when the log directory cannot be read at all; damage is reported
    /// in the [`VerifyReport`].
    pub fn verify(&self, range: Range<u64>, key: &VerifyingKey) -> Result<VerifyReport> {
        self.verify_with_progress(range, key, &mut |_| {}, &Cancel::default())
    }

    /// As [`Log::verify`], calling `progress` after each segment file, and
    /// stopping there once `cancel` is set.
    ///
    /// # Errors
    /// As [`Log::verify`]; [`Error::Cancelled`] once called off.
    pub fn verify_with_progress(
        &self,
        range: Range<u64>,
        key: &VerifyingKey,
        progress: &mut dyn FnMut(VerifyProgress),
        cancel: &Cancel,
    ) -> Result<VerifyReport> {
        let _seal = self.seal_lock.lock();
        let end = range.end.min(self.visible_seq());
        let mut report = verify_log_dir_with_progress(
            self.dir(),
            range.start..end,
            Some(key),
            progress,
            cancel,
        )?;
        report.torn_tail = None; // the live WAL's last frame may be mid-write
        Ok(report)
    }
}

/// Verifies the log directory `dir` offline: the records in `range`, the
/// structure of every segment, and every checkpoint (their signatures too,
/// when `key` is given).
///
/// # Errors
/// Only when the manifest cannot be read; damage is reported in the report.
pub fn verify_log_dir(
    dir: &Path,
    range: Range<u64>,
    key: Option<&VerifyingKey>,
) -> Result<VerifyReport> {
    verify_log_dir_with_progress(dir, range, key, &mut |_| {}, &Cancel::default())
}

/// How far a verification has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Segment files checked so far.
    pub segments_done: usize,
    /// Segment files to check.
    pub segments_total: usize,
    /// Records hashed so far.
    pub records: u64,
    /// Body bytes hashed so far.
    pub body_bytes: u64,
}

/// As [`verify_log_dir`], calling `progress` after each segment file, and
/// stopping there once `cancel` is set.
///
/// # Errors
/// As [`verify_log_dir`]; [`Error::Cancelled`] once called off.
pub fn verify_log_dir_with_progress(
    dir: &Path,
    range: Range<u64>,
    key: Option<&VerifyingKey>,
    progress: &mut dyn FnMut(VerifyProgress),
    cancel: &Cancel,
) -> Result<VerifyReport> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    let mut v = Verifier {
        range: range.clone(),
        expected_heads: BTreeMap::new(),
        tree: None,
        report: VerifyReport {
            log: manifest.name.clone(),
            range,
            records: 0,
            body_bytes: 0,
            segments: 0,
            checkpoints: 0,
            tree_chunks: 0,
            tree_head: None,
            next_seq: 0,
            head: chain::genesis(&manifest.log_id),
            anchored_at: None,
            torn_tail: None,
            failure: None,
        },
    };
    if let Some(anchor) = &manifest.anchor {
        v.start_at_anchor(&manifest, anchor, key, &dir.join(MANIFEST_FILE));
    }
    let checkpoints_path = checkpoint::path_in(dir);
    match checkpoint::read_all(&checkpoints_path) {
        Ok(cps) => v.load_checkpoints(&manifest, cps, key, &checkpoints_path),
        Err(e) => v.fail(VerifyFailure::from_error(e, None, &checkpoints_path)),
    }
    match TreeCheck::load(dir, &manifest, key) {
        Ok(tree) => v.tree = Some(tree),
        Err(failure) => v.fail(failure),
    }
    if v.report.failure.is_none()
        && let Some(anchor) = &manifest.anchor
        && v.expected_heads
            .get(&anchor.first_seq)
            .is_some_and(|h| *h != anchor.head)
    {
        v.fail(VerifyFailure {
            seq: anchor.first_seq.checked_sub(1),
            file: checkpoints_path.clone(),
            offset: None,
            reason: format!(
                "the retention anchor's chain hash at seq {} differs from the signed checkpoint at that size",
                anchor.first_seq
            ),
        });
    }
    if v.report.failure.is_none() {
        v.walk_segments(&dir.join(SEGMENTS_DIR), &manifest.log_id, progress, cancel);
        cancel.check()?;
    }
    if v.report.failure.is_none()
        && let Some(tree) = v.tree.take()
    {
        v.report.tree_chunks = tree.checked;
        match tree.finish() {
            Ok(size) => v.report.tree_head = size,
            Err(failure) => v.fail(failure),
        }
    }
    if v.report.failure.is_none()
        && let Some((&size, _)) = v.expected_heads.range(v.report.next_seq + 1..).next()
    {
        let next = v.report.next_seq;
        v.fail(VerifyFailure {
            seq: Some(next),
            file: checkpoints_path.clone(),
            offset: None,
            reason: format!(
                "a signed checkpoint covers {size} records but the log holds {next}: seqs {next}..{size} are missing"
            ),
        });
    }
    Ok(v.report)
}

struct Verifier {
    range: Range<u64>,
    /// Chain hash each checkpoint expects after `size` records, by size.
    expected_heads: BTreeMap<u64, Hash>,
    /// The tree check, fed the leaves the walk hashes.
    tree: Option<TreeCheck>,
    report: VerifyReport,
}

impl Verifier {
    fn fail(&mut self, failure: VerifyFailure) {
        self.report.failure.get_or_insert(failure);
    }

    /// Hands the leaf hash of record `seq` to the tree check.
    fn tree_leaf(&mut self, seq: u64, leaf: Hash) -> bool {
        let Some(tree) = &mut self.tree else {
            return true;
        };
        match tree.leaf(seq, leaf) {
            Ok(()) => true,
            Err(failure) => {
                self.fail(failure);
                false
            }
        }
    }

    fn load_checkpoints(
        &mut self,
        manifest: &Manifest,
        cps: Vec<Checkpoint>,
        key: Option<&VerifyingKey>,
        path: &Path,
    ) {
        for cp in cps {
            let problem = if cp.log != manifest.name || cp.log_id != manifest.log_id {
                Some(format!(
                    "checkpoint at size {} is about another log (`{}`)",
                    cp.size, cp.log
                ))
            } else {
                key.and_then(|k| cp.verify_signature(k).err())
                    .map(|e| format!("checkpoint at size {}: {e}", cp.size))
            };
            if let Some(reason) = problem {
                self.fail(VerifyFailure {
                    seq: None,
                    file: path.to_path_buf(),
                    offset: None,
                    reason,
                });
                return;
            }
            if let Some(previous) = self.expected_heads.insert(cp.size, cp.head)
                && previous != cp.head
            {
                self.fail(VerifyFailure {
                    seq: cp.size.checked_sub(1),
                    file: path.to_path_buf(),
                    offset: None,
                    reason: format!("two checkpoints at size {} name different heads", cp.size),
                });
                return;
            }
        }
        if let Some(head) = self.expected_heads.get(&0)
            && *head != self.report.head
        {
            self.fail(VerifyFailure {
                seq: None,
                file: path.to_path_buf(),
                offset: None,
                reason: "a checkpoint at size 0 does not name the genesis hash".into(),
            });
        }
    }

    /// Starts the chain at the manifest's anchor (segments before it left
    /// under the retention policy) once its signature checks out against
    /// `key`, or against the key it names when no key is pinned.
    fn start_at_anchor(
        &mut self,
        manifest: &Manifest,
        anchor: &crate::retention::Anchor,
        key: Option<&VerifyingKey>,
        path: &Path,
    ) {
        let trusted = key.map_or(anchor.public_key, VerifyingKey::to_bytes);
        if let Err(e) = anchor.verify(&manifest.name, &manifest.log_id, &trusted) {
            return self.fail(VerifyFailure {
                seq: Some(anchor.first_seq),
                file: path.to_path_buf(),
                offset: None,
                reason: format!("the retention anchor does not verify: {e}"),
            });
        }
        self.report.next_seq = anchor.first_seq;
        self.report.head = anchor.head;
        self.report.anchored_at = Some(anchor.first_seq);
    }

    /// Checks a recomputed chain hash after `seq` against the checkpoints.
    fn check_head(&mut self, seq: u64, chain_hash: &Hash, file: &Path) -> bool {
        match self.expected_heads.get(&(seq + 1)) {
            Some(expected) if expected != chain_hash => {
                self.fail(VerifyFailure {
                    seq: Some(seq),
                    file: file.to_path_buf(),
                    offset: None,
                    reason: format!(
                        "the chain recomputed from the stored records differs from the signed checkpoint at size {}",
                        seq + 1
                    ),
                });
                false
            }
            Some(_) => {
                self.report.checkpoints += 1;
                true
            }
            None => true,
        }
    }

    fn walk_segments(
        &mut self,
        seg_dir: &Path,
        log_id: &[u8; 16],
        progress: &mut dyn FnMut(VerifyProgress),
        cancel: &Cancel,
    ) {
        // Files before the anchor are removals committed to the manifest that
        // a crash interrupted; the next open deletes them.
        let start = self.report.next_seq;
        let mut files: BTreeMap<u64, (PathBuf, SegmentKind)> = BTreeMap::new();
        let entries = match std::fs::read_dir(seg_dir) {
            Ok(entries) => entries,
            Err(e) => {
                return self.fail(VerifyFailure::from_error(
                    Error::io("list", seg_dir)(e),
                    None,
                    seg_dir,
                ));
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Some((first, kind)) =
                parse_segment_file_name(&entry.file_name().to_string_lossy())
                    .filter(|(first, _)| *first >= start)
            {
                // A WAL beside a sealed file of the same seq is an unfinished
                // seal; the WAL is the original and is what recovery keeps.
                let keep = files
                    .get(&first)
                    .is_none_or(|(_, k)| *k == SegmentKind::Sealed && kind == SegmentKind::Wal);
                if keep {
                    files.insert(first, (path, kind));
                }
            }
        }
        let last = files.keys().next_back().copied();
        let segments_total = files.len();
        // The last sealed file walked and the seq after it: a sealed file
        // inside it with the same chain is a member of a compaction that
        // was interrupted (or is running), redundant and not checked.
        let mut container: Option<(PathBuf, u64)> = None;
        for (first, (path, kind)) in files {
            if kind == SegmentKind::Sealed {
                let next = next_seq_of(first, &path);
                if let (Some((outer, end)), Some(next)) = (&container, next)
                    && first < *end
                    && next <= *end
                    && same_chain(outer, &path)
                {
                    continue;
                }
                container = next.map(|n| (path.clone(), n));
            }
            self.report.segments += 1;
            // A WAL sealed by a running server since the listing: the WAL is
            // removed only once its sealed file is durable.
            let sealed_since = seg_dir.join(segment_file_name(first, SegmentKind::Sealed));
            match kind {
                SegmentKind::Sealed => self.check_sealed(&path, log_id),
                SegmentKind::Wal if !path.exists() && sealed_since.exists() => {
                    self.check_sealed(&sealed_since, log_id);
                }
                SegmentKind::Wal => self.check_wal(&path, log_id, Some(first) == last),
            }
            progress(VerifyProgress {
                segments_done: self.report.segments,
                segments_total,
                records: self.report.records,
                body_bytes: self.report.body_bytes,
            });
            if self.report.failure.is_some() || cancel.is_cancelled() {
                return;
            }
        }
    }

    fn check_sealed(&mut self, path: &Path, log_id: &[u8; 16]) {
        let next = self.report.next_seq;
        let segment = match SealedSegment::open(path) {
            Ok(s) => s,
            Err(e) => return self.fail(VerifyFailure::from_error(e, Some(next), path)),
        };
        if let Err(e) = check_follows(path, segment.header(), log_id, next, &self.report.head) {
            return self.fail(VerifyFailure::from_error(e, Some(next), path));
        }
        let wanted: Vec<usize> = (0..segment.blocks().len())
            .filter(|&i| {
                let b = &segment.blocks()[i];
                b.first_seq < self.range.end && b.first_seq + u64::from(b.count) > self.range.start
            })
            .collect();
        let results =
            check_blocks_in_parallel(&segment, &wanted, &self.range, &self.expected_heads);
        for result in results {
            match result {
                Ok(found) => {
                    self.report.records += found.records;
                    self.report.body_bytes += found.body_bytes;
                    for (seq, hash) in found.heads {
                        if !self.check_head(seq, &hash, path) {
                            return;
                        }
                    }
                    for (seq, leaf) in found.leaves {
                        if !self.tree_leaf(seq, leaf) {
                            return;
                        }
                    }
                }
                Err((seq, e)) => return self.fail(VerifyFailure::from_error(e, Some(seq), path)),
            }
        }
        self.report.next_seq = segment.next_seq();
        self.report.head = segment.last_chain_hash();
    }

    fn check_wal(&mut self, path: &Path, log_id: &[u8; 16], is_last: bool) {
        let next = self.report.next_seq;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                return self.fail(VerifyFailure::from_error(
                    Error::io("read", path)(e),
                    Some(next),
                    path,
                ));
            }
        };
        let scan = match scan_wal(&bytes, path) {
            Ok(scan) => scan,
            Err(e) => return self.fail(VerifyFailure::from_error(e, None, path)),
        };
        if let Err(e) = check_follows(path, &scan.header, log_id, next, &self.report.head) {
            return self.fail(VerifyFailure::from_error(e, Some(next), path));
        }
        for (i, entry) in scan.entries.iter().enumerate() {
            let seq = scan.header.first_seq + i as u64;
            if !self.range.contains(&seq) {
                continue;
            }
            self.report.records += 1;
            self.report.body_bytes += u64::from(entry.len) - RECORD_HEADER_LEN as u64;
            if !self.check_head(seq, &entry.chain_hash, path) {
                return;
            }
            let leaf = match RecordRef::decode(&bytes[entry.offset as usize..]) {
                Ok((record, _)) => record.leaf_hash(),
                Err(reason) => {
                    return self.fail(VerifyFailure {
                        seq: Some(seq),
                        file: path.to_path_buf(),
                        offset: Some(entry.offset),
                        reason,
                    });
                }
            };
            if !self.tree_leaf(seq, leaf) {
                return;
            }
        }
        if let Some(torn) = scan.torn.clone() {
            if is_last {
                self.report.torn_tail = Some((path.to_path_buf(), torn));
            } else {
                return self.fail(VerifyFailure {
                    seq: Some(scan.next_seq()),
                    file: path.to_path_buf(),
                    offset: Some(torn.offset),
                    reason: format!("{}, in a WAL that is not the last one", torn.reason),
                });
            }
        }
        self.report.next_seq = scan.next_seq();
        self.report.head = scan.last_chain_hash();
    }
}

/// What checking one block found.
#[derive(Default)]
struct BlockFindings {
    records: u64,
    body_bytes: u64,
    /// Chain hashes after the seqs that checkpoints name.
    heads: Vec<(u64, Hash)>,
    /// Leaf hashes of the records in range, in seq order.
    leaves: Vec<(u64, Hash)>,
}

/// Checks `blocks` of `segment` on every core ([`pools::scans`]); results come back in block
/// order, each an error tagged with the block's first seq.
fn check_blocks_in_parallel(
    segment: &SealedSegment,
    blocks: &[usize],
    range: &Range<u64>,
    expected_heads: &BTreeMap<u64, Hash>,
) -> Vec<std::result::Result<BlockFindings, (u64, Error)>> {
    pools::install(pools::scans(), || {
        blocks
            .par_iter()
            .map(|&i| {
                let mut found = BlockFindings::default();
                segment
                    .check_block(i, |record, receipt| {
                        if range.contains(&record.seq) {
                            found.records += 1;
                            found.body_bytes += record.body_len() as u64;
                            if expected_heads.contains_key(&(record.seq + 1)) {
                                found.heads.push((record.seq, receipt.chain_hash));
                            }
                            found.leaves.push((record.seq, receipt.leaf_hash));
                        }
                    })
                    .map(|()| found)
                    .map_err(|e| (segment.blocks()[i].first_seq, e))
            })
            .collect()
    })
}
