//! The freshness searcher: how long an acknowledged event takes to become
//! searchable.
//!
//! Every appender reports each acknowledged batch (its last seq and when the
//! acknowledgement arrived) on a channel. The searcher sends a `Query`
//! every [`POLL`] and reads the answer's `stats.snapshot`, the seq below
//! which the server's search saw every record; each batch whose last seq is
//! below it is searchable, and its ack → searchable time is recorded (the
//! poll period bounds the error, a few milliseconds). The query selects
//! nothing (an actor id no generator draws), so the poll costs the server
//! little and measures the index, not the query.
//!
//! Once the appenders are done and every acknowledged batch is searchable,
//! the searcher records when the last one became so: the end of "ingest to
//! searchable".

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use stele_proto::v1::{Filter, QueryRequest, Selection};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout};

use super::connect::SteleApi;
use super::{ANSWER_TIMEOUT, ErrorPrinter, histogram, micros, status_text};

/// Time between two polls.
pub const POLL: Duration = Duration::from_millis(10);

/// How long after the last acknowledgement the searcher waits for it to
/// become searchable before giving up.
const GIVE_UP: Duration = Duration::from_secs(120);

/// One acknowledged batch.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    /// Its last seq.
    pub last_seq: u64,
    /// When the appender got the acknowledgement.
    pub at: Instant,
}

/// Acknowledged batches not yet searchable, by their last seq and ack
/// time: what both this searcher and `stele-search-bench` track.
#[derive(Debug, Default)]
pub struct Waiting(Vec<(u64, std::time::Instant)>);

impl Waiting {
    /// A batch whose last seq is `last_seq` was acknowledged at `acked`.
    pub fn push(&mut self, last_seq: u64, acked: std::time::Instant) {
        self.0.push((last_seq, acked));
    }

    /// Batches still waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every record below `searchable_below` was searchable at `now`:
    /// removes the batches that end below it (acks from several appenders
    /// interleave, so each batch is judged by its own last seq) and calls
    /// `searchable` with each one's ack → searchable time.
    pub fn settle(
        &mut self,
        searchable_below: u64,
        now: std::time::Instant,
        mut searchable: impl FnMut(Duration),
    ) {
        self.0.retain(|&(last_seq, acked)| {
            let done = last_seq < searchable_below;
            if done {
                searchable(now.duration_since(acked));
            }
            !done
        });
    }
}

/// What the searcher measured.
#[derive(Debug)]
pub struct FreshnessStats {
    /// Ack → searchable time of each batch, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Batches that became searchable.
    pub batches: u64,
    /// Acknowledged batches still not searchable when it gave up.
    pub unsearchable: u64,
    /// When the last acknowledged batch was acknowledged, and when it
    /// became searchable.
    pub last_ack: Option<Instant>,
    /// When every acknowledged batch was searchable.
    pub all_searchable: Option<Instant>,
    /// Polls that failed.
    pub errors: u64,
}

/// Polls `log` until `acks` is closed (every appender is done) and every
/// batch it carried is searchable, or [`GIVE_UP`] has passed since.
pub async fn run(
    mut client: SteleApi,
    log: String,
    mut acks: mpsc::UnboundedReceiver<Ack>,
    errors: Arc<ErrorPrinter>,
) -> FreshnessStats {
    let mut stats = FreshnessStats {
        latency_us: histogram(),
        batches: 0,
        unsearchable: 0,
        last_ack: None,
        all_searchable: None,
        errors: 0,
    };
    let mut waiting = Waiting::default();
    let mut open = true;
    let mut closed_at = None;
    let mut ticks = interval(POLL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        while open {
            match acks.try_recv() {
                Ok(ack) => {
                    stats.last_ack = Some(stats.last_ack.map_or(ack.at, |t| t.max(ack.at)));
                    waiting.push(ack.last_seq, ack.at.into_std());
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    closed_at = Some(Instant::now());
                }
            }
        }
        if !open && waiting.is_empty() {
            break;
        }
        if closed_at.is_some_and(|t| t.elapsed() > GIVE_UP) {
            stats.unsearchable = waiting.len() as u64;
            break;
        }
        if waiting.is_empty() {
            continue;
        }
        let snapshot = match timeout(ANSWER_TIMEOUT, client.query(probe(&log))).await {
            Ok(Ok(response)) => response.into_inner().stats.map_or(0, |s| s.snapshot),
            Ok(Err(status)) => {
                stats.errors += 1;
                errors.report("freshness", &status_text(&status));
                continue;
            }
            Err(_) => {
                stats.errors += 1;
                errors.report("freshness", "poll not answered");
                continue;
            }
        };
        let now = Instant::now();
        waiting.settle(snapshot, now.into_std(), |latency| {
            stats.latency_us.saturating_record(micros(latency));
            stats.batches += 1;
        });
        if !open && waiting.is_empty() {
            stats.all_searchable = Some(now);
        }
    }
    stats
}

/// The poll: a query that matches nothing, answered with its snapshot.
fn probe(log: &str) -> QueryRequest {
    QueryRequest {
        log: log.to_string(),
        selection: Some(Selection {
            from_time_ns: None,
            to_time_ns: None,
            filters: vec![Filter {
                field: "actor.id".into(),
                values: vec!["stele-load freshness probe".into()],
            }],
            text: String::new(),
        }),
        order: 0,
        limit: 1,
        cursor: String::new(),
    }
}

impl FreshnessStats {
    /// Seconds from the last acknowledgement until everything acknowledged
    /// was searchable.
    pub fn settle_s(&self) -> Option<f64> {
        Some(
            self.all_searchable?
                .duration_since(self.last_ack?)
                .as_secs_f64(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_settle_by_their_own_last_seq() {
        let t0 = std::time::Instant::now();
        let mut waiting = Waiting::default();
        waiting.push(99, t0);
        waiting.push(49, t0 + Duration::from_millis(5));
        waiting.push(149, t0);
        let mut seen = Vec::new();
        waiting.settle(100, t0 + Duration::from_millis(20), |d| seen.push(d));
        assert_eq!(seen, [Duration::from_millis(20), Duration::from_millis(15)]);
        assert_eq!(waiting.len(), 1);
        waiting.settle(150, t0 + Duration::from_millis(30), |d| seen.push(d));
        assert!(waiting.is_empty());
        assert_eq!(seen.len(), 3);
    }
}
