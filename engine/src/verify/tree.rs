//! The Merkle tree's part of verification: every root in `tree.chunks`
//! whose records the walk hashed is recomputed from their leaf hashes and
//! compared, and the signed tree head (`tree.head`) is checked against the
//! roots (recomputed where the walk saw the records, as stored where
//! retention removed them). The tree is derived data, but a server signs
//! tree heads from it: a damaged root would be signed as if it were true.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use stele_chain::merkle::{Frontier, root_of};

use super::VerifyFailure;
use crate::chain::Hash;
use crate::log::tree::head::{HEAD_FILE, SignedHead};
use crate::log::tree::{CHUNK, TREE_FILE, read_chunks};
use crate::manifest::Manifest;

/// The state of the check while the walk feeds it leaves in seq order.
pub(super) struct TreeCheck {
    dir: PathBuf,
    /// Chunk roots: as stored, then those the file lacks, recomputed.
    roots: Vec<Hash>,
    head: Option<SignedHead>,
    /// The chunk being walked and its leaves so far, when the walk saw
    /// its first leaf.
    current: Option<(u64, Vec<Hash>)>,
    /// The leaves of the chunk the head's size ends in, up to that size.
    head_leaves: Option<Vec<Hash>>,
    /// Stored roots found equal to the recomputed ones.
    pub(super) checked: u64,
}

impl TreeCheck {
    /// Reads the log directory `dir`'s tree files; the head's signature is
    /// checked against `key`, or the key it names when none is pinned.
    pub(super) fn load(
        dir: &Path,
        manifest: &Manifest,
        key: Option<&VerifyingKey>,
    ) -> Result<TreeCheck, VerifyFailure> {
        let failure = |file: &str, reason: String| VerifyFailure {
            seq: None,
            file: dir.join(file),
            offset: None,
            reason,
        };
        let roots = read_chunks(&dir.join(TREE_FILE), u64::MAX)
            .map_err(|e| failure(TREE_FILE, e.to_string()))?;
        let head = SignedHead::read(&dir.join(HEAD_FILE))
            .map_err(|e| failure(HEAD_FILE, e.to_string()))?;
        if let Some(head) = &head {
            let trusted = key.map_or(head.public_key, VerifyingKey::to_bytes);
            head.verify(&manifest.name, &manifest.log_id, &trusted)
                .map_err(|e| failure(HEAD_FILE, e.to_string()))?;
        }
        Ok(TreeCheck {
            dir: dir.to_path_buf(),
            roots,
            head,
            current: None,
            head_leaves: None,
            checked: 0,
        })
    }

    /// The leaf hash of record `seq`, in seq order.
    ///
    /// # Errors
    /// When a chunk completed by it has a stored root that differs.
    pub(super) fn leaf(&mut self, seq: u64, leaf: Hash) -> Result<(), VerifyFailure> {
        let (chunk, at) = (seq / CHUNK, seq % CHUNK);
        let continues =
            matches!(&self.current, Some((c, l)) if *c == chunk && l.len() as u64 == at);
        if !continues {
            self.current = (at == 0).then(|| (chunk, Vec::with_capacity(CHUNK as usize)));
        }
        let Some((_, leaves)) = &mut self.current else {
            return Ok(());
        };
        leaves.push(leaf);
        if let Some(head) = &self.head
            && head.size / CHUNK == chunk
            && leaves.len() as u64 == head.size % CHUNK
        {
            self.head_leaves = Some(leaves.clone());
        }
        if leaves.len() as u64 == CHUNK {
            let root = root_of(leaves);
            self.current = None;
            let i = chunk as usize;
            if i == self.roots.len() {
                self.roots.push(root);
            } else if let Some(stored) = self.roots.get(i) {
                if *stored != root {
                    return Err(VerifyFailure {
                        seq: Some(chunk * CHUNK),
                        file: self.dir.join(TREE_FILE),
                        offset: Some(chunk * 32),
                        reason: format!(
                            "the root of leaves {}..{} differs from the one recomputed from the records",
                            chunk * CHUNK,
                            (chunk + 1) * CHUNK
                        ),
                    });
                }
                self.checked += 1;
            }
        }
        Ok(())
    }

    /// Checks the signed head against the roots, once the walk is done:
    /// the size it was checked at, or `None` when there is no head or the
    /// walk did not see the leaves it needs.
    ///
    /// # Errors
    /// When the roots do not reproduce the signed root.
    pub(super) fn finish(self) -> Result<Option<u64>, VerifyFailure> {
        let Some(head) = &self.head else {
            return Ok(None);
        };
        let whole = usize::try_from(head.size / CHUNK).unwrap_or(usize::MAX);
        let partial: &[Hash] = match &self.head_leaves {
            _ if head.size % CHUNK == 0 => &[],
            Some(leaves) => leaves,
            None => return Ok(None),
        };
        let Some(roots) = self.roots.get(..whole) else {
            return Ok(None);
        };
        let mut frontier = Frontier::new();
        for root in roots {
            frontier
                .push_subtree(CHUNK.trailing_zeros(), *root)
                .expect("chunks are aligned");
        }
        for leaf in partial {
            frontier.push(*leaf);
        }
        if frontier.root() != head.root {
            return Err(VerifyFailure {
                seq: None,
                file: self.dir.join(HEAD_FILE),
                offset: None,
                reason: format!(
                    "the signed tree head at size {} differs from the tree of the stored roots and records",
                    head.size
                ),
            });
        }
        Ok(Some(head.size))
    }
}
