//! Stopping a long read whose caller has gone away.
//!
//! A front door hands a [`Cancel`] to a long call (an aggregation over a
//! whole log) and keeps a [`CancelOnDrop`] in the request's future: when the
//! client disconnects or gives up, the future is dropped, the flag is set,
//! and the call stops at its next check with [`Error::Cancelled`] instead of
//! spending the cores and memory on an answer nobody reads. Checks are
//! coarse (one a segment), so a cancelled call ends within one segment's
//! work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A flag shared between a call and whoever may call it off. The default is
/// never set unless [`Cancel::cancel`] is called.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Calls the work off.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the work was called off.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that calls the work off when dropped.
    #[must_use]
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }

    /// `Err(Error::Cancelled)` once called off.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Calls its [`Cancel`] off when dropped (see [`Cancel::on_drop`]).
#[derive(Debug)]
pub struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_calls_the_work_off() {
        let cancel = Cancel::default();
        assert!(cancel.check().is_ok());
        drop(cancel.on_drop());
        assert!(cancel.is_cancelled());
        assert!(matches!(cancel.check(), Err(Error::Cancelled)));
    }
}
