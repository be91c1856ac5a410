//! The visible head: the seq after the last record readers may see, and a
//! way to wait for it to move.
//!
//! # Invariants
//! - The head only moves forward: [`Visible::advance`] never lowers it.
//! - Every advance is published to watchers after the atomic is updated, so
//!   a watcher woken by a change reads a head at least as new as the one it
//!   was woken for.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// The visible head of a log.
#[derive(Debug)]
pub struct Visible {
    seq: AtomicU64,
    watch: watch::Sender<u64>,
}

impl Visible {
    /// A head at `seq`.
    pub fn new(seq: u64) -> Visible {
        Visible {
            seq: AtomicU64::new(seq),
            watch: watch::Sender::new(seq),
        }
    }

    /// The current head.
    pub fn get(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Moves the head to `seq` if that is further, and wakes the watchers.
    pub fn advance(&self, seq: u64) {
        if self.seq.fetch_max(seq, Ordering::AcqRel) < seq {
            self.watch.send_if_modified(|v| {
                let moved = seq > *v;
                *v = (*v).max(seq);
                moved
            });
        }
    }

    /// A receiver that sees every later head (coalesced: a slow watcher sees
    /// the newest value, never a stale one).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.watch.subscribe()
    }
}
