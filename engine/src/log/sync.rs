//! Group commit: acknowledgements wait here until their frame is durable.
//!
//! A durability target is `(generation, offset)`: the WAL file (bumped at each
//! rotation) and the end of the frame in it. The first waiter that finds no
//! sync in progress becomes the leader: it snapshots what has been written,
//! runs one fdatasync for everyone, publishes the new durable point and wakes
//! the others. Whoever arrives during that sync waits for the next one, which
//! covers all of them at once.
//!
//! # Invariants
//! `durable` only grows, and everything before it has been fdatasynced.
//! After a failed fdatasync the log is poisoned: the kernel may have dropped
//! the dirty pages, so retrying could acknowledge lost data.

use super::Log;
use crate::error::{Error, Result};

/// Durability progress, guarded by `Log::sync`.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    /// `(generation, offset)` known durable.
    pub(crate) durable: (u64, u64),
    /// A leader is inside fdatasync.
    syncing: bool,
}

impl SyncState {
    /// Starting state for a WAL whose content up to `offset` is durable.
    pub(crate) fn new(generation: u64, offset: u64) -> SyncState {
        SyncState {
            durable: (generation, offset),
            syncing: false,
        }
    }
}

impl Log {
    /// Returns once everything up to `target` is durable.
    ///
    /// # Errors
    /// [`Error::Poisoned`] (or the fsync error itself) when a sync failed.
    pub(crate) fn wait_durable(&self, target: (u64, u64)) -> Result<()> {
        let mut state = self.sync.lock();
        loop {
            if state.durable >= target {
                return Ok(());
            }
            self.check_poison()?;
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            state.syncing = true;
            drop(state);
            let result = self.sync_written();
            state = self.sync.lock();
            state.syncing = false;
            if let Ok(point) = &result
                && *point > state.durable
            {
                state.durable = *point;
            }
            self.synced.notify_all();
            result?;
        }
    }

    /// fdatasyncs what has been written so far; returns the durable point.
    fn sync_written(&self) -> Result<(u64, u64)> {
        let (active, point, next_seq) = {
            let w = self.writer.lock();
            (w.active.clone(), (w.generation, w.offset), w.next_seq)
        };
        if let Err(e) = self.ctx.syncer.sync_data(active.file(), active.path()) {
            let error = Error::io("fdatasync", active.path())(e);
            self.set_poison(&error);
            return Err(error);
        }
        self.visible.advance(next_seq);
        Ok(point)
    }

    /// Makes everything written so far durable, whatever the fsync policy:
    /// used by the interval policy's timer, by checkpoints and at close.
    ///
    /// # Errors
    /// As [`Log::wait_durable`].
    pub fn sync(&self) -> Result<()> {
        let target = {
            let w = self.writer.lock();
            (w.generation, w.offset)
        };
        self.wait_durable(target)
    }
}
