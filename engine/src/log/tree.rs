//! The log's Merkle tree (RFC 9162, `stele_chain::merkle`) over its leaf
//! hashes in seq order: tree heads, and inclusion and consistency proofs,
//! for any size up to the durable head.
//!
//! The tree is derived data, like the index. Its nodes are kept at one
//! level: the root of each complete aligned chunk of [`CHUNK`] leaves, in
//! memory and appended to `tree.chunks` in the log's directory (32 bytes a
//! chunk; no fsync: a lost tail is recomputed from the records at open).
//! The leaves of the last, incomplete chunk are kept in memory. A subtree
//! of whole chunks is combined from chunk roots; a part of one chunk is
//! hashed from its records' leaf hashes (one block read).
//!
//! When retention removes the oldest records, the chunk roots stay, and
//! the leaf hashes of the removed records of the chunk the local log now
//! starts in are kept in `tree.edge` (at most 255 of them), written before
//! the removal is committed: every proof stays available.
//!
//! # Invariants
//! - `chunks[i]` is the root of leaves `CHUNK·i .. CHUNK·(i+1)`, and
//!   `partial` holds the leaves after the last complete chunk, up to the
//!   writer's next seq: the writer pushes each batch's leaves under its
//!   lock, in seq order, after the batch was written.
//! - At open the file is cut to the chunks the recovered log holds whole
//!   (a chunk over records a crash lost is never kept) and what it lacks is
//!   recomputed from the records.
//! - Proofs are only made for sizes up to the visible (durable) head.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use stele_chain::merkle::{self, ProofError};

use super::{Direction, Log};
use crate::chain::Hash;
use crate::error::{Error, Result};

/// Leaves per stored node.
pub const CHUNK: u64 = 256;
/// The file of chunk roots, in the log's directory.
pub const TREE_FILE: &str = "tree.chunks";
/// The leaves of removed records in the chunk where the local log starts:
/// the first seq (u64, little-endian), then the hashes.
pub const EDGE_FILE: &str = "tree.edge";

/// The tree's state.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// Root of each complete chunk.
    chunks: Vec<Hash>,
    /// Leaves after the last complete chunk.
    partial: Vec<Hash>,
    /// Where new chunk roots are appended; `None` after a write failed
    /// (the roots stay in memory; the file is rebuilt at the next open).
    file: Option<File>,
    path: PathBuf,
    /// Leaves of removed records: `edge.1` starts at seq `edge.0`.
    edge: (u64, Vec<Hash>),
}

impl Tree {
    /// Leaves so far.
    fn size(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK + self.partial.len() as u64
    }

    /// Adds the next leaf.
    pub(crate) fn push(&mut self, leaf: Hash) {
        self.partial.push(leaf);
        if self.partial.len() as u64 == CHUNK {
            let root = merkle::root_of(&self.partial);
            self.partial.clear();
            self.chunks.push(root);
            if let Some(file) = &mut self.file
                && let Err(error) = file.write_all(&root)
            {
                tracing::warn!(file = %self.path.display(), %error, "cannot extend the tree file; it is rebuilt at the next open");
                self.file = None;
            }
        }
    }
}

/// What a proof is made from: a copy of the tree's state at one moment.
struct Snapshot {
    chunks: Vec<Hash>,
    partial: Vec<Hash>,
    edge: (u64, Vec<Hash>),
}

/// Reads `tree.edge` (empty when missing).
fn read_edge(path: &Path) -> Result<(u64, Vec<Hash>)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    if bytes.len() < 8 || (bytes.len() - 8) % 32 != 0 {
        return Err(Error::corrupted(path, 0, "not a seq and whole hashes"));
    }
    let start = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let hashes = bytes[8..]
        .chunks_exact(32)
        .map(|c| <Hash>::try_from(c).expect("32 bytes"))
        .collect();
    Ok((start, hashes))
}

impl From<ProofError> for Error {
    fn from(e: ProofError) -> Error {
        Error::invalid("tree size", e.to_string())
    }
}

/// Reads the chunk roots of `path` (none when it is missing), at most
/// `whole` of them.
fn read_chunks(path: &Path, whole: u64) -> Result<Vec<Hash>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(Error::io("read", path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("open", path)(e)),
    }
    Ok(bytes
        .chunks_exact(32)
        .take(usize::try_from(whole).unwrap_or(usize::MAX))
        .map(|c| <Hash>::try_from(c).expect("32 bytes"))
        .collect())
}

impl Log {
    /// Loads the tree at open: the stored chunk roots the log holds whole,
    /// the rest recomputed from the records.
    pub(super) fn recover_tree(&self) -> Result<()> {
        let path = self.dir.join(TREE_FILE);
        let next_seq = self.writer.lock().next_seq;
        let whole = next_seq / CHUNK;
        let mut chunks = read_chunks(&path, whole)?;
        let edge = read_edge(&self.dir.join(EDGE_FILE))?;
        let from = chunks.len() as u64 * CHUNK;
        let mut partial = Vec::new();
        match self.leaves(&edge, from..next_seq) {
            Ok(leaves) => {
                for leaf in leaves {
                    partial.push(leaf);
                    if partial.len() as u64 == CHUNK {
                        chunks.push(merkle::root_of(&partial));
                        partial.clear();
                    }
                }
            }
            Err(error) => {
                tracing::warn!(log = %self.name, file = %path.display(), %error, "the tree's nodes for records removed under retention are missing: proofs are not served until it is restored");
            }
        }
        let mut bytes = Vec::with_capacity(chunks.len() * 32);
        for c in &chunks {
            bytes.extend_from_slice(c);
        }
        crate::files::write_atomically(&path, &bytes)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        *self.tree.lock() = Tree {
            chunks,
            partial,
            file: Some(file),
            path,
            edge,
        };
        Ok(())
    }

    /// The leaf hashes of `range`: from `edge` where it holds them, from
    /// the records otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when records of the range are neither
    /// stored nor in the edge; read errors.
    fn leaves(&self, edge: &(u64, Vec<Hash>), range: Range<u64>) -> Result<Vec<Hash>> {
        let (start, hashes) = (edge.0, &edge.1);
        let edge_end = start + hashes.len() as u64;
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let mut next = range.start;
        if next >= start && next < edge_end {
            let upto = range.end.min(edge_end);
            out.extend_from_slice(&hashes[(next - start) as usize..(upto - start) as usize]);
            next = upto;
        }
        if next < range.end {
            if next < self.first_seq() {
                return Err(Error::invalid(
                    "tree",
                    format!(
                        "the leaves of records {next}..{} are no longer stored (removed under retention)",
                        range.end
                    ),
                ));
            }
            for record in self.scan(next..range.end, Direction::Forward) {
                out.push(record?.leaf_hash());
            }
        }
        if out.len() as u64 != range.end - range.start {
            return Err(Error::invalid(
                "tree",
                format!(
                    "the records {}..{} are not all stored",
                    range.start, range.end
                ),
            ));
        }
        Ok(out)
    }

    /// Before retention removes the records below `new_first`: keeps the
    /// leaf hashes of those in the chunk `new_first` falls in (written to
    /// `tree.edge` before the removal is committed), so that proofs of the
    /// records left stay available.
    ///
    /// # Errors
    /// When leaves of that chunk are neither stored nor kept (a restore
    /// brought back records after an earlier edge), or the file's error;
    /// the caller goes on with the removal (the tree is derived data).
    pub(crate) fn keep_tree_edge(&self, new_first: u64) -> Result<()> {
        let chunk_start = new_first - new_first % CHUNK;
        let current = self.tree.lock().edge.clone();
        let edge = if chunk_start == new_first {
            (new_first, Vec::new())
        } else {
            (chunk_start, self.leaves(&current, chunk_start..new_first)?)
        };
        let mut bytes = edge.0.to_le_bytes().to_vec();
        for leaf in &edge.1 {
            bytes.extend_from_slice(leaf);
        }
        crate::files::write_atomically(&self.dir.join(EDGE_FILE), &bytes)?;
        self.tree.lock().edge = edge;
        Ok(())
    }

    /// A copy of the tree covering at least `size` leaves.
    fn tree_snapshot(&self, size: u64) -> Result<Snapshot> {
        let visible = self.visible_seq();
        if size > visible {
            return Err(Error::invalid(
                "tree size",
                format!("{size} is past the {visible} records the log holds"),
            ));
        }
        let tree = self.tree.lock();
        if tree.size() < size {
            return Err(Error::invalid(
                "tree size",
                format!(
                    "the tree holds {} leaves, not {size}: it is incomplete (see the log's warnings)",
                    tree.size()
                ),
            ));
        }
        Ok(Snapshot {
            chunks: tree.chunks.clone(),
            partial: tree.partial.clone(),
            edge: tree.edge.clone(),
        })
    }

    /// The root of leaves `range` (a range the RFC's recursion asks for).
    fn subtree(&self, snap: &Snapshot, range: Range<u64>) -> Result<Hash> {
        let (lo, hi) = (range.start, range.end);
        if hi - lo == CHUNK && lo % CHUNK == 0 && lo / CHUNK < snap.chunks.len() as u64 {
            return Ok(snap.chunks[(lo / CHUNK) as usize]);
        }
        if lo / CHUNK == (hi - 1) / CHUNK {
            let stored = snap.chunks.len() as u64 * CHUNK;
            let leaves: Vec<Hash> = if lo >= stored {
                snap.partial[(lo - stored) as usize..(hi - stored) as usize].to_vec()
            } else {
                self.leaves(&snap.edge, lo..hi)?
            };
            return Ok(merkle::root_of(&leaves));
        }
        let k = merkle::split(hi - lo);
        Ok(merkle::node_hash(
            &self.subtree(snap, lo..lo + k)?,
            &self.subtree(snap, lo + k..hi)?,
        ))
    }

    /// The tree head of the first `size` records (RFC 9162 `MTH`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `size` is past the durable head;
    /// read errors.
    pub fn tree_root(&self, size: u64) -> Result<Hash> {
        let snap = self.tree_snapshot(size)?;
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        self.subtree(&snap, 0..size)
    }

    /// The C2SP checkpoint of the first `size` records, signed with the
    /// store's key as `server` (a key name such as `stele.example.com`):
    /// origin `<server>/<log>`, the size, the tree head in base64.
    ///
    /// # Errors
    /// As [`Log::tree_root`]; [`Error::InvalidArgument`] when `server` is
    /// not a key name (no spaces or `+`).
    pub fn signed_tree_head(&self, size: u64, server: &str) -> Result<String> {
        let head = stele_chain::note::TreeHead {
            origin: format!("{server}/{}", self.name),
            size,
            root: self.tree_root(size)?,
        };
        let text = head
            .text()
            .map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
        self.ctx.signer.sign_note(&text, server)
    }

    /// The audit path of record `seq` in the tree of the first `size`
    /// records (RFC 9162 §2.1.3), leaf side first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `seq` is not below `size` or `size`
    /// is past the durable head; read errors.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        let snap = self.tree_snapshot(size)?;
        merkle::inclusion_proof(seq, size, |r| self.subtree(&snap, r))
    }

    /// The proof that the first `old` records are a prefix of the first
    /// `new` (RFC 9162 §2.1.4).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `old` is past `new` or `new` past the
    /// durable head; read errors.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        let snap = self.tree_snapshot(new)?;
        merkle::consistency_proof(old, new, |r| self.subtree(&snap, r))
    }
}

#[cfg(test)]
mod tests {
    use stele_chain::merkle::{root_of, verify_consistency, verify_inclusion};

    use super::*;
    use crate::{Event, Policy, Store};

    fn events(n: usize, from: usize) -> Vec<Event> {
        (from..from + n)
            .map(|i| Event {
                action: "doc.read".into(),
                message: format!("read {i}"),
                ..Event::default()
            })
            .collect()
    }

    fn leaves(log: &Log) -> Vec<Hash> {
        log.scan(.., Direction::Forward)
            .map(|r| r.unwrap().leaf_hash())
            .collect()
    }

    /// Every proof of a sample of sizes checks against the roots computed
    /// by definition from the stored records.
    fn check(log: &Log) {
        let all = leaves(log);
        let n = all.len() as u64;
        let sizes: Vec<u64> = [1, 2, 255, 256, 257, 511, 512, 513, 700, n - 1, n]
            .into_iter()
            .filter(|s| (1..=n).contains(s))
            .collect();
        for &size in &sizes {
            let root = log.tree_root(size).unwrap();
            assert_eq!(root, root_of(&all[..size as usize]), "size {size}");
            for seq in [0, size / 2, size - 1] {
                let proof = log.inclusion_proof(seq, size).unwrap();
                verify_inclusion(seq, size, &all[seq as usize], &proof, &root).unwrap();
            }
            for &old in sizes.iter().filter(|o| **o <= size) {
                let proof = log.consistency_proof(old, size).unwrap();
                verify_consistency(old, size, &log.tree_root(old).unwrap(), &root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn proofs_hold_across_appends_seals_reopens_and_a_lost_tree_file() {
        let dir = tempfile::tempdir().unwrap();
        let tree_file = {
            let store = Store::open(dir.path()).unwrap();
            let log = store.create_log("audit", Policy::default()).unwrap();
            for (i, size) in [1, 300, 17, 400].into_iter().enumerate() {
                log.append_batch(&events(size, i * 1000)).unwrap();
            }
            check(&log);
            log.seal().unwrap();
            log.append_batch(&events(50, 9000)).unwrap();
            check(&log);
            // Compaction copies records unchanged and erasure keeps their
            // leaf hashes: the same roots and proofs.
            let before = log.tree_root(768).unwrap();
            log.seal().unwrap();
            let compacted = log
                .compact(&crate::log::compact::CompactOptions::default(), &mut |_| {})
                .unwrap();
            assert!(!compacted.merged.is_empty(), "{compacted:?}");
            log.flush_index().unwrap();
            let erased = log
                .erase(
                    &crate::Query {
                        text: "message:\"read 1005\"".into(),
                        ..crate::Query::default()
                    },
                    &crate::log::erase::EraseOptions {
                        dry_run: false,
                        reason: "GDPR 7".into(),
                        requested_by: "test".into(),
                    },
                    &mut |_| {},
                )
                .unwrap();
            assert_eq!(erased.seqs, [6], "{erased:?}");
            assert_eq!(log.tree_root(768).unwrap(), before);
            check(&log);
            assert!(log.tree_root(769).is_err(), "past the head");
            assert!(log.inclusion_proof(5, 5).is_err());
            assert!(log.consistency_proof(6, 5).is_err());
            let note = log.signed_tree_head(700, "stele.test").unwrap();
            let text = stele_chain::note::open(&note, "stele.test", &store.public_key()).unwrap();
            let head = stele_chain::note::TreeHead::parse(text).unwrap();
            assert_eq!(
                (head.origin.as_str(), head.size, head.root),
                ("stele.test/audit", 700, log.tree_root(700).unwrap())
            );
            assert!(log.signed_tree_head(700, "not a name").is_err());
            let tree_file = log.dir().join(TREE_FILE);
            drop(log);
            store.close().unwrap();
            tree_file
        };
        assert_eq!(std::fs::metadata(&tree_file).unwrap().len(), 3 * 32);
        // Reopened: the stored chunks and the partial chunk from records.
        let root = {
            let store = Store::open(dir.path()).unwrap();
            let log = store.log("audit").unwrap();
            check(&log);
            let root = log.tree_root(768).unwrap();
            drop(log);
            store.close().unwrap();
            root
        };
        // A chunk past the log (records a crash lost) is dropped; a lost
        // file is rebuilt.
        let mut bytes = std::fs::read(&tree_file).unwrap();
        bytes.extend_from_slice(&[9; 64]);
        std::fs::write(&tree_file, &bytes).unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let log = store.log("audit").unwrap();
            assert_eq!(log.tree_root(768).unwrap(), root);
            log.append_batch(&events(300, 20_000)).unwrap();
            check(&log);
            drop(log);
            store.close().unwrap();
        }
        std::fs::remove_file(&tree_file).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        assert_eq!(log.tree_root(768).unwrap(), root);
        check(&log);
    }

    #[test]
    fn proofs_of_the_records_left_survive_retention_removing_a_prefix() {
        use crate::retention::{PlannedRemoval, Rule};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let log = store.create_log("audit", Policy::default()).unwrap();
        for (from, n) in [(0, 300), (300, 300), (600, 400)] {
            log.append_batch(&events(n, from)).unwrap();
            log.seal().unwrap();
        }
        let all = leaves(&log);
        let roots: Vec<Hash> = (0..=1000).map(|n| root_of(&all[..n])).collect();
        let remove = |first: u64, next: u64| {
            let front = log.segments()[0].clone();
            assert_eq!((front.first_seq, front.next_seq), (first, next));
            log.remove_front(
                &PlannedRemoval {
                    first_seq: first,
                    next_seq: next,
                    bytes: front.file_bytes,
                    max_ingest: front.stats.max_ingest,
                    rule: Rule::MaxAge,
                },
                None,
            )
            .unwrap();
        };
        let check_left = |log: &Log, first: u64| {
            for size in [first + 1, 513, 768, 999, 1000] {
                assert_eq!(
                    log.tree_root(size).unwrap(),
                    roots[size as usize],
                    "size {size}"
                );
                for seq in [first, first + 1, first + 13, size - 1]
                    .into_iter()
                    .filter(|s| *s < size)
                {
                    let proof = log.inclusion_proof(seq, size).unwrap();
                    verify_inclusion(seq, size, &all[seq as usize], &proof, &roots[size as usize])
                        .unwrap();
                }
                // Sizes at chunk edges inside the removed prefix still
                // have their nodes; others inside it do not.
                for old in [256, first, first + 7, size]
                    .into_iter()
                    .filter(|o| *o <= size)
                {
                    let proof = log.consistency_proof(old, size).unwrap();
                    verify_consistency(
                        old,
                        size,
                        &roots[old as usize],
                        &roots[size as usize],
                        &proof,
                    )
                    .unwrap();
                }
            }
        };
        remove(0, 300);
        check_left(&log, 300);
        let refused = log.consistency_proof(1, 1000).unwrap_err().to_string();
        assert!(refused.contains("removed under retention"), "{refused}");
        remove(300, 600);
        check_left(&log, 600);
        drop(log);
        store.close().unwrap();
        // Reopened: the edge is read back.
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        check_left(&log, 600);
    }
}
