//! Handing captured events to Stele off the request path.
//!
//! The layer gives each event to [`Recorder::record`], which never waits:
//! it puts the event in a bounded buffer, or counts it as dropped when the
//! buffer is full. A background task moves events from the buffer into the
//! client's [`Appender`], which batches them, retries transient failures
//! for as long as it takes (with the same event ids, so a retry is never
//! stored twice) and waits while its own bounded queue is full. So while
//! Stele is slow or down, events wait in memory up to the two bounds, then
//! new ones are dropped and counted; requests are never slowed or failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stele_client::{Appender, AppenderOptions, Client, Event, Retry};
use tokio::sync::mpsc;

/// Events waiting for the background task, by default.
pub const DEFAULT_BUFFER: usize = 10_000;

#[derive(Debug, Default)]
struct Counters {
    captured: AtomicU64,
    dropped: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
}

/// What a [`Recorder`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events the layer captured.
    pub captured: u64,
    /// Events dropped because both buffers were full (Stele slow or down).
    pub dropped: u64,
    /// Events Stele acknowledged.
    pub stored: u64,
    /// Events Stele refused (an invalid event), logged with the reason.
    pub rejected: u64,
}

impl Stats {
    /// Events captured and not yet stored, refused or dropped.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.captured - self.dropped - self.stored - self.rejected
    }
}

/// Sends captured events to one log in the background. Cheap to clone;
/// clones share the buffer, the task and the counters.
#[derive(Debug, Clone)]
pub struct Recorder {
    buffer: mpsc::Sender<Event>,
    counters: Arc<Counters>,
}

impl Recorder {
    /// A recorder appending to `log` through `client` (which may be
    /// connected lazily, [`Client::connect_lazy`], so that the service starts
    /// while Stele is down), buffering up to `buffer` events. The appender
    /// behind it queues as many again and keeps up to 8 batches of at most
    /// `min(buffer, 500)` in flight, so at most `2 × buffer + 8 × min(buffer,
    /// 500)` events wait in memory. Starts its task on the current tokio
    /// runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[must_use]
    pub fn new(client: &Client, log: &str, buffer: usize) -> Recorder {
        let appender = client.appender(
            log,
            AppenderOptions {
                queue: buffer.max(1),
                batch_size: buffer.clamp(1, 500),
                retry: Retry::FOREVER,
                ..AppenderOptions::default()
            },
        );
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(forward(rx, appender, counters.clone()));
        Recorder {
            buffer: tx,
            counters,
        }
    }

    /// Queues `event` without waiting; drops and counts it when the buffer
    /// is full or the task has stopped.
    pub fn record(&self, event: Event) {
        self.counters.captured.fetch_add(1, Ordering::Relaxed);
        if self.buffer.try_send(event).is_err() {
            let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // 1, 10, 100, ...: a warning per order of magnitude, not per event.
            if power_of_ten(dropped) {
                tracing::warn!(
                    dropped,
                    "audit buffer full: Stele is slow or unreachable; events dropped"
                );
            }
        }
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            captured: c.captured.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            stored: c.stored.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }

    /// Waits until every captured event is stored, refused or dropped, for
    /// at most `within` (for a graceful shutdown); whether it got there.
    pub async fn drained(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.stats().pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// 1, 10, 100, ...
fn power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Moves events from the buffer into the appender, and counts answers.
async fn forward(mut buffer: mpsc::Receiver<Event>, appender: Appender, counters: Arc<Counters>) {
    while let Some(event) = buffer.recv().await {
        let Ok(receipt) = appender.submit(event).await else {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!("the audit appender stopped; events are no longer sent");
            continue;
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            match receipt.await {
                Ok(_) => counters.stored.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    tracing::error!(%error, "Stele refused an audit event");
                    counters.rejected.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
    }
    appender.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_come_once_per_order_of_magnitude() {
        let warned: Vec<u64> = (1..=20_000).filter(|n| power_of_ten(*n)).collect();
        assert_eq!(warned, vec![1, 10, 100, 1000, 10_000]);
    }
}
