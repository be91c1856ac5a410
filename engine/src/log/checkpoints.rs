//! A log's checkpoints: signed on every seal and on request, appended to
//! `checkpoints.log`, and checked against the log's own chain.

use super::Log;
use crate::chain::Hash;
use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use ed25519_dalek::VerifyingKey;

impl Log {
    /// Makes everything written durable, then returns a signed checkpoint
    /// of the log's current size and head: the last one this log recorded
    /// when the head has not moved since, else a new one, signed and
    /// recorded (so that asking often does not grow `checkpoints.log`).
    ///
    /// # Errors
    /// I/O errors; [`Error::Poisoned`].
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (size, head, target) = {
            let w = self.writer.lock();
            (w.next_seq, w.head, (w.generation, w.offset))
        };
        self.wait_durable(target)?;
        if let Some(last) = &*self.checkpoint_lock.lock()
            && last.size == size
            && last.head == head
        {
            return Ok(last.clone());
        }
        self.write_checkpoint(size, head)
    }

    /// Every checkpoint recorded for this log, oldest first.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when the checkpoint log is damaged.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let _guard = self.checkpoint_lock.lock();
        checkpoint::read_all(&checkpoint::path_in(&self.dir))
    }

    /// Checks that `cp` is signed by `key`, is about this log, and that this
    /// log's chain passes through `cp.head` after `cp.size` records.
    ///
    /// # Errors
    /// [`Error::BadCheckpoint`] saying which check failed.
    pub fn verify_checkpoint(&self, cp: &Checkpoint, key: &VerifyingKey) -> Result<()> {
        cp.verify_signature(key)?;
        if cp.log != self.name || cp.log_id != self.log_id {
            return Err(Error::BadCheckpoint(format!(
                "it is about log `{}` ({}), not `{}` ({})",
                cp.log,
                hex::encode(cp.log_id),
                self.name,
                hex::encode(self.log_id)
            )));
        }
        let size = self.visible_seq();
        if cp.size > size {
            return Err(Error::BadCheckpoint(format!(
                "it covers {} records, the log holds {size}",
                cp.size
            )));
        }
        let head = self.chain_hash_at(cp.size)?;
        if head != cp.head {
            return Err(Error::BadCheckpoint(format!(
                "the log's chain hash after {} records is {}, the checkpoint says {}",
                cp.size,
                hex::encode(head),
                hex::encode(cp.head)
            )));
        }
        Ok(())
    }

    /// Signs a checkpoint at `size`/`head` and appends it to the log's
    /// checkpoint log; signs the tree's root at `size` too (`tree.head`).
    pub(crate) fn write_checkpoint(&self, size: u64, head: Hash) -> Result<Checkpoint> {
        let cp = self
            .ctx
            .signer
            .sign(&self.name, self.log_id, size, head, self.ctx.clock.now_ns());
        let mut last = self.checkpoint_lock.lock();
        checkpoint::append(&checkpoint::path_in(&self.dir), &cp)?;
        *last = Some(cp.clone());
        drop(last);
        self.sign_tree_head(size);
        Ok(cp)
    }
}
