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
//! Each checkpoint also signs the tree's root at its size (`tree.head`,
//! [`head`]); opening the log trusts stored chunk roots only once they
//! reproduce that root ([`recover`]). When retention removes the oldest
//! records, the chunk roots stay, and the nodes proofs still need are kept
//! first ([`kept`]).
//!
//! # Invariants
//! - `chunks[i]` is the root of leaves `CHUNK·i .. CHUNK·(i+1)`, and
//!   `partial` holds the leaves after the last complete chunk, up to the
//!   writer's next seq: the writer pushes each batch's leaves under its
//!   lock, in seq order, after the batch was written.
//! - Every stored root in use reproduced the last signed tree head, or was
//!   recomputed from the records, or (a log signed before tree heads
//!   existed, whose prefix was removed) was taken as stored, with a warning.
//! - Proofs are only made for sizes up to the visible (durable) head, and
//!   none at all from a tree that failed its check (`broken`).

pub mod head;
pub(crate) mod kept;
mod recover;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stele_chain::merkle::{self, ProofError};

use self::head::{HEAD_FILE, SignedHead};
use self::kept::Kept;
use super::{Direction, Log};
use crate::chain::Hash;
use crate::error::{Error, Result};

/// Leaves per stored node.
pub const CHUNK: u64 = 256;
/// The file of chunk roots, in the log's directory.
pub const TREE_FILE: &str = "tree.chunks";

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
    /// Nodes of removed records.
    kept: Arc<Kept>,
    /// The last size appended to `tree.sizes`.
    last_signed_size: Option<u64>,
    /// Why no proof may be made, when the stored nodes failed their check.
    broken: Option<String>,
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
    kept: Arc<Kept>,
    /// The first seq whose record is stored.
    first_seq: u64,
}

/// Reads the chunk roots of `path` (none when it is missing), at most
/// `whole` of them.
pub(crate) fn read_chunks(path: &Path, whole: u64) -> Result<Vec<Hash>> {
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

impl From<ProofError> for Error {
    fn from(e: ProofError) -> Error {
        Error::invalid("tree size", e.to_string())
    }
}

impl Log {
    /// The leaf hashes of `range`: kept ones (level 0) below the first
    /// stored record, the records' otherwise.
    ///
    /// # Errors
    /// As [`Log::for_each_leaf`].
    fn leaves(&self, snap: &Snapshot, range: Range<u64>) -> Result<Vec<Hash>> {
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        self.for_each_leaf(snap, range, |leaf| out.push(leaf))?;
        Ok(out)
    }

    /// Calls `f` with each leaf hash of `range`, in order, as
    /// [`Log::leaves`] finds them.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when leaves of the range are neither
    /// stored nor kept; read errors.
    fn for_each_leaf(
        &self,
        snap: &Snapshot,
        range: Range<u64>,
        mut f: impl FnMut(Hash),
    ) -> Result<()> {
        let mut next = range.start;
        while next < range.end.min(snap.first_seq) {
            let Some(leaf) = snap.kept.get(&(next, 0)) else {
                return Err(Error::invalid(
                    "tree",
                    format!(
                        "the leaves of records {next}..{} are no longer stored (removed under retention)",
                        range.end.min(snap.first_seq)
                    ),
                ));
            };
            f(*leaf);
            next += 1;
        }
        if next < range.end {
            for record in self.scan(next..range.end, Direction::Forward) {
                let record = record?;
                if record.seq != next {
                    break;
                }
                f(record.leaf_hash());
                next += 1;
            }
        }
        if next != range.end {
            return Err(Error::invalid(
                "tree",
                format!("the records {next}..{} are not all stored", range.end),
            ));
        }
        Ok(())
    }

    /// The root of leaves `range` (a range the RFC's recursion asks for):
    /// a stored chunk root or kept node when there is one, else hashed
    /// from the leaves when they lie in one chunk, else combined from the
    /// RFC's two halves.
    fn subtree(&self, snap: &Snapshot, range: Range<u64>) -> Result<Hash> {
        let (lo, hi) = (range.start, range.end);
        let n = hi - lo;
        if n.is_power_of_two() && lo % n == 0 {
            if n == CHUNK && lo / CHUNK < snap.chunks.len() as u64 {
                return Ok(snap.chunks[(lo / CHUNK) as usize]);
            }
            if let Some(node) = snap.kept.get(&(lo, n.trailing_zeros() as u8)) {
                return Ok(*node);
            }
        }
        if lo / CHUNK == (hi - 1) / CHUNK {
            let stored = snap.chunks.len() as u64 * CHUNK;
            if lo >= stored {
                let part = &snap.partial[(lo - stored) as usize..(hi - stored) as usize];
                return Ok(merkle::root_of(part));
            }
            match self.leaves(snap, range) {
                Ok(leaves) => return Ok(merkle::root_of(&leaves)),
                Err(e) if n == 1 => return Err(e),
                Err(_) => {}
            }
        }
        let k = merkle::split(n);
        Ok(merkle::node_hash(
            &self.subtree(snap, lo..lo + k)?,
            &self.subtree(snap, lo + k..hi)?,
        ))
    }

    /// A copy of the tree as it is.
    fn snapshot_now(&self) -> Snapshot {
        let first_seq = self.first_seq();
        let tree = self.tree.lock();
        Snapshot {
            chunks: tree.chunks.clone(),
            partial: tree.partial.clone(),
            kept: tree.kept.clone(),
            first_seq,
        }
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
        {
            let tree = self.tree.lock();
            if let Some(why) = &tree.broken {
                return Err(Error::Corrupted {
                    file: self.dir.join(TREE_FILE),
                    offset: 0,
                    reason: why.clone(),
                });
            }
            if tree.size() < size {
                return Err(Error::invalid(
                    "tree size",
                    format!(
                        "the tree holds {} leaves, not {size}: it is incomplete (see the log's warnings)",
                        tree.size()
                    ),
                ));
            }
        }
        Ok(self.snapshot_now())
    }

    /// The tree head of the first `size` records (RFC 9162 `MTH`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `size` is past the durable head;
    /// [`Error::Corrupted`] when the stored tree failed its check; read
    /// errors.
    pub fn tree_root(&self, size: u64) -> Result<Hash> {
        let snap = self.tree_snapshot(size)?;
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        self.subtree(&snap, 0..size)
    }

    /// The C2SP checkpoint of the first `size` records, signed with the
    /// store's key as `server` (a key name such as `stele.example.com`):
    /// origin `<server>/<log>`, the size, the tree head in base64. The size
    /// is recorded (`tree.sizes`), so that a consistency proof from it
    /// stays possible once retention removes its records.
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
        let note = self.ctx.signer.sign_note(&text, server)?;
        let mut tree = self.tree.lock();
        if tree.last_signed_size != Some(size) {
            kept::append_size(&self.dir, size)?;
            tree.last_signed_size = Some(size);
        }
        Ok(note)
    }

    /// Signs the tree's root at `size` into `tree.head`, as each checkpoint
    /// does. Derived data: a failure is logged, never returned.
    pub(crate) fn sign_tree_head(&self, size: u64) {
        let signed = self.tree_root(size).and_then(|root| {
            SignedHead::sign(
                &self.ctx.signer,
                (&self.name, self.log_id),
                (size, root),
                self.ctx.clock.now_ns(),
            )
            .write(&self.dir.join(HEAD_FILE))
        });
        if let Err(error) = signed {
            tracing::warn!(log = %self.name, size, %error, "cannot sign the tree head; the next open recomputes more of the tree from the records");
        }
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

    /// Before retention removes the records below `new_first`: keeps in
    /// `tree.kept` (written before the removal is committed) the leaves of
    /// the removed records of the chunk `new_first` falls in, which proofs
    /// of the records left need, and for every signed size inside a chunk
    /// that loses records, the nodes a consistency proof from it needs.
    ///
    /// # Errors
    /// When a node cannot be computed (its records were neither stored nor
    /// kept), or the file's error; the caller goes on with the removal (the
    /// tree is derived data).
    pub(crate) fn keep_removed_nodes(&self, new_first: u64) -> Result<()> {
        let snap = self.snapshot_now();
        let edge = new_first - new_first % CHUNK;
        let mut kept = (*snap.kept).clone();
        let before = kept.len();
        for (seq, leaf) in (edge..).zip(self.leaves(&snap, edge..new_first)?) {
            kept.insert((seq, 0), leaf);
        }
        let mut wanted = Vec::new();
        for size in kept::read_sizes(&self.dir)? {
            let start = size - size % CHUNK;
            let loses_records = start + CHUNK > snap.first_seq && start < new_first;
            if size % CHUNK != 0 && size < new_first && start != edge && loses_records {
                wanted.extend(kept::aligned_cover(start..size));
                wanted.extend(kept::aligned_cover(size..start + CHUNK));
            }
        }
        for (first, level) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = kept.entry((first, level)) {
                slot.insert(self.subtree(&snap, first..first + (1 << level))?);
            }
        }
        if kept.len() != before {
            kept::write(&self.dir, &kept)?;
            self.tree.lock().kept = Arc::new(kept);
        }
        // The next open checks the roots of what is removed against a
        // head that covers them.
        self.sign_tree_head(self.visible_seq());
        Ok(())
    }
}
