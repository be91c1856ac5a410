//! Loading the tree at open, and the check that makes stored nodes
//! trustworthy: the chunk roots of `tree.chunks` are used only once they
//! (with the kept nodes and the records) reproduce the root `tree.head`
//! signs; every root past that size is recomputed from the records.
//!
//! When they do not, everything the records still hold is recomputed, and
//! the result must reproduce the signed root: if the roots of records
//! retention removed are what differs, the tree is marked broken and no
//! proof is made (a signed answer would not match the records). A log
//! without a signed head (signed before tree heads existed) is recomputed
//! where it can be and its removed prefix taken as stored, with a warning;
//! a head is signed at once.

use std::fs::OpenOptions;
use std::sync::Arc;

use stele_chain::merkle;

use super::head::{HEAD_FILE, SignedHead};
use super::kept::{self, Kept};
use super::{CHUNK, Snapshot, TREE_FILE, Tree, read_chunks};
use crate::chain::Hash;
use crate::error::{Error, Result};
use crate::log::Log;

impl Log {
    /// Loads the tree at open (see the module's doc).
    pub(in crate::log) fn recover_tree(&self) -> Result<()> {
        let path = self.dir.join(TREE_FILE);
        let next_seq = self.writer.lock().next_seq;
        let first_seq = self.first_seq();
        let stored = read_chunks(&path, next_seq / CHUNK)?;
        let kept = Arc::new(kept::read(&self.dir)?);
        let head = self.read_signed_head(next_seq);
        // Chunks whose records are all removed cannot be recomputed.
        let removed = usize::try_from(first_seq / CHUNK)
            .unwrap_or(usize::MAX)
            .min(stored.len());
        if let Some(head) = &head {
            let covered = usize::try_from(head.size / CHUNK)
                .unwrap_or(usize::MAX)
                .clamp(removed, stored.len());
            match self.rebuild(&stored[..covered], &kept, first_seq, next_seq) {
                Ok(snap) if self.reproduces(&snap, head) => {
                    return self.install_tree(snap, None);
                }
                Ok(_) => {
                    tracing::warn!(log = %self.name, file = %path.display(), size = head.size, "the stored tree does not reproduce the signed tree head; recomputing it from the records");
                }
                Err(error) => {
                    tracing::warn!(log = %self.name, file = %path.display(), %error, "cannot check the stored tree against the signed tree head; recomputing it from the records");
                }
            }
        }
        let snap = match self.rebuild(&stored[..removed], &kept, first_seq, next_seq) {
            Ok(snap) => snap,
            Err(error) => {
                tracing::warn!(log = %self.name, file = %path.display(), %error, "the tree's nodes for records removed under retention are missing: proofs are not served until it is restored");
                Snapshot {
                    chunks: stored[..removed].to_vec(),
                    partial: Vec::new(),
                    kept,
                    first_seq,
                }
            }
        };
        let broken = match &head {
            Some(head) if !self.reproduces(&snap, head) => Some(format!(
                "the tree's nodes for records removed under retention do not reproduce the signed tree head at size {}: no proof is made until `tree.chunks` and `tree.kept` are restored",
                head.size
            )),
            Some(_) => None,
            None => {
                if removed > 0 {
                    tracing::warn!(log = %self.name, file = %path.display(), chunks = removed, "the tree's nodes for records removed under retention are taken as stored: no signed tree head covers them yet");
                }
                None
            }
        };
        if let Some(reason) = &broken {
            tracing::error!(log = %self.name, file = %path.display(), "{reason}");
        }
        let unsigned = head.is_none() && broken.is_none();
        self.install_tree(snap, broken)?;
        if unsigned {
            self.sign_tree_head(next_seq);
        }
        Ok(())
    }

    /// `tree.head`, when it is there, signed by this store's key for this
    /// log, and within the `next_seq` records the log holds; otherwise
    /// `None`, with a warning saying why.
    fn read_signed_head(&self, next_seq: u64) -> Option<SignedHead> {
        let path = self.dir.join(HEAD_FILE);
        let key = self.ctx.signer.public_key().to_bytes();
        let problem = match SignedHead::read(&path) {
            Ok(None) => return None,
            Ok(Some(head)) => match head.verify(&self.name, &self.log_id, &key) {
                Ok(()) if head.size <= next_seq => return Some(head),
                Ok(()) => format!("it covers {} records, the log holds {next_seq}", head.size),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        tracing::warn!(log = %self.name, file = %path.display(), problem, "the signed tree head is not usable; the tree is recomputed from the records");
        None
    }

    /// The tree made of `prefix` (chunk roots taken as they are) and the
    /// leaves after it, from `kept` below `first_seq` and from the records.
    fn rebuild(
        &self,
        prefix: &[Hash],
        kept: &Arc<Kept>,
        first_seq: u64,
        next_seq: u64,
    ) -> Result<Snapshot> {
        let mut snap = Snapshot {
            chunks: prefix.to_vec(),
            partial: Vec::new(),
            kept: kept.clone(),
            first_seq,
        };
        let from = prefix.len() as u64 * CHUNK;
        let mut chunks = Vec::new();
        let mut partial = Vec::new();
        self.for_each_leaf(&snap, from..next_seq, |leaf| {
            partial.push(leaf);
            if partial.len() as u64 == CHUNK {
                chunks.push(merkle::root_of(&partial));
                partial.clear();
            }
        })?;
        snap.chunks.extend(chunks);
        snap.partial = partial;
        Ok(snap)
    }

    /// True when `snap` gives the root `head` signs.
    fn reproduces(&self, snap: &Snapshot, head: &SignedHead) -> bool {
        let root = if head.size == 0 {
            Ok(merkle::empty_root())
        } else {
            self.subtree(snap, 0..head.size)
        };
        root.is_ok_and(|root| root == head.root)
    }

    /// Makes `snap` the tree, rewriting `tree.chunks` to match it.
    fn install_tree(&self, snap: Snapshot, broken: Option<String>) -> Result<()> {
        let path = self.dir.join(TREE_FILE);
        let mut bytes = Vec::with_capacity(snap.chunks.len() * 32);
        for c in &snap.chunks {
            bytes.extend_from_slice(c);
        }
        crate::files::write_atomically(&path, &bytes)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        *self.tree.lock() = Tree {
            chunks: snap.chunks,
            partial: snap.partial,
            file: Some(file),
            path,
            kept: snap.kept,
            last_signed_size: None,
            broken,
        };
        Ok(())
    }
}
