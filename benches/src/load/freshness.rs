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

use std::collections::VecDeque;
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
    let mut waiting: VecDeque<Ack> = VecDeque::new();
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
                    waiting.push_back(ack);
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
        // Acks from several connections interleave; a batch is searchable
        // when its own last seq is below the snapshot.
        waiting.retain(|ack| {
            if ack.last_seq < snapshot {
                stats
                    .latency_us
                    .saturating_record(micros(now.duration_since(ack.at)));
                stats.batches += 1;
                false
            } else {
                true
            }
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
