//! Subscriptions: matching records in seq order, replayed from storage and
//! then followed live, with heartbeats; for gRPC's `Subscribe` and the HTTP
//! tail alike (each turns a [`Delivery`] into its own message).
//!
//! One task per subscription walks the log by seq: it reads a chunk of
//! visible records (off the async threads), sends the matching ones into a
//! bounded channel, and when it reaches the visible head waits for the head
//! to move (the engine's watch), the heartbeat timer, or shutdown. A query
//! with full text is answered by the index ([`Log::search_window`]), so the
//! walk follows the index watermark instead of the visible head: its
//! records arrive once they are searchable, and match exactly as a search.
//!
//! # Invariants
//! - No gap and no drop: the task only advances past a seq after the record
//!   was examined and, if it matched, accepted by the channel. A slow client
//!   fills the channel, the task waits, and catches up later from the
//!   segments; the server holds at most one chunk plus the channel per
//!   subscription, whatever the client's speed.
//! - Seqs only increase, and a heartbeat's `resume_seq` is where the walk
//!   stands: every record below it was examined and delivered if it matched.
//! - The first message is a heartbeat at the start position.

use std::sync::Arc;
use std::time::Duration;

use stele_engine::query::matcher::matches;
use stele_engine::{Direction, Hit, Log, Query};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::status::blocking;

/// Heartbeat interval when the request leaves it at 0.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(1000);
/// Shortest heartbeat interval a request may ask for.
pub const MIN_HEARTBEAT: Duration = Duration::from_millis(50);

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this seq (clamped to the first stored one).
    Seq(u64),
    /// At the first record ingested at or after this time (ns).
    IngestTime(i64),
}

/// How often a walk that follows the index looks at its watermark while
/// it waits.
const INDEX_POLL: Duration = Duration::from_millis(50);

/// A subscription to run.
#[derive(Debug)]
pub struct Plan {
    /// The log followed.
    pub log: Arc<Log>,
    /// Where to start.
    pub start: Start,
    /// Time range, filters and text.
    pub query: Query,
    /// Heartbeat interval while nothing is sent.
    pub heartbeat: Duration,
    /// Records read per step.
    pub chunk: usize,
}

/// What a subscription delivers, in order.
#[derive(Debug)]
pub enum Delivery {
    /// A matching record and its decoded event (`None` once redacted).
    Record(Box<Hit>),
    /// Nothing to send for a while, or where the walk starts: every record
    /// below `resume_seq` was examined and delivered if it matched.
    Heartbeat {
        /// The visible head.
        head_seq: u64,
        /// Where to resume from.
        resume_seq: u64,
    },
}

/// What the client receives.
pub type Messages<M> = ReceiverStream<Result<M, Status>>;

/// Starts the subscription's task, which sends each delivery as
/// `message` makes it; the task holds `permit` until it ends.
pub fn spawn<M: Send + 'static>(
    plan: Plan,
    shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
    message: impl Fn(Delivery) -> M + Send + 'static,
) -> Messages<M> {
    let (tx, rx) = mpsc::channel(plan.chunk.max(16));
    tokio::spawn(async move {
        let _permit = permit;
        let mut out = Out {
            tx,
            shutdown,
            message,
        };
        if let Err(status) = run(plan, &mut out).await {
            // A client that stopped reading does not hold the task up.
            let _ = tokio::time::timeout(FINAL_SEND, out.tx.send(Err(status))).await;
        }
    });
    ReceiverStream::new(rx)
}

/// How long the closing status waits for room in the channel.
const FINAL_SEND: Duration = Duration::from_secs(1);

/// The subscription's side of the channel, the shutdown signal, and how a
/// delivery becomes a message.
struct Out<M, F> {
    tx: mpsc::Sender<Result<M, Status>>,
    shutdown: watch::Receiver<bool>,
    message: F,
}

impl<M, F: Fn(Delivery) -> M> Out<M, F> {
    /// Sends `item`, waiting for room. `Ok(false)` when the client went
    /// away; the shutdown status (resume at `resume_seq`) when the server
    /// stops first.
    async fn send(&mut self, item: Delivery, resume_seq: u64) -> Result<bool, Status> {
        let message = (self.message)(item);
        tokio::select! {
            sent = self.tx.send(Ok(message)) => Ok(sent.is_ok()),
            _ = self.shutdown.wait_for(|stop| *stop) => Err(shutting_down(resume_seq)),
        }
    }

    /// Sends a heartbeat.
    async fn heartbeat(&mut self, log: &Log, resume_seq: u64) -> Result<bool, Status> {
        let beat = Delivery::Heartbeat {
            head_seq: log.visible_seq(),
            resume_seq,
        };
        self.send(beat, resume_seq).await
    }
}

fn shutting_down(resume_seq: u64) -> Status {
    Status::unavailable(format!(
        "the server is shutting down; resume from seq {resume_seq}"
    ))
}

/// The walk. Returns `Ok` when the client went away; an error status is
/// sent to the client as the stream's end.
async fn run<M, F: Fn(Delivery) -> M>(plan: Plan, out: &mut Out<M, F>) -> Result<(), Status> {
    let log = plan.log.clone();
    let mut head = log.watch_visible();
    let follows_index = !plan.query.text.trim().is_empty();
    let query = Arc::new(plan.query);
    let mut next = match plan.start {
        Start::Seq(seq) => seq,
        Start::IngestTime(t) => {
            let log = log.clone();
            blocking(move || first_ingested_at(&log, t)).await?
        }
    };
    // The first message says where the walk starts, so that a client that
    // asked for "now" or an ingest time can resume from a seq.
    next = next.max(log.first_seq());
    if !out.heartbeat(&log, next).await? {
        return Ok(());
    }
    let mut last_sent = Instant::now();
    loop {
        if *out.shutdown.borrow() {
            return Err(shutting_down(next));
        }
        head.borrow_and_update();
        next = next.max(log.first_seq());
        let ready = if follows_index {
            log.index_watermark()
        } else {
            log.visible_seq()
        };
        if next < ready {
            let window = next..ready.min(next + plan.chunk as u64);
            let (reader, query) = (log.clone(), query.clone());
            let (records, end) = blocking(move || {
                if follows_index {
                    reader.search_window(&query, window)
                } else {
                    let end = window.end;
                    Ok((read_matching(&reader, window, &query)?, end))
                }
            })
            .await?;
            let sent_any = !records.is_empty();
            for hit in records {
                let seq = hit.record.seq;
                if !out.send(Delivery::Record(Box::new(hit)), seq).await? {
                    return Ok(());
                }
            }
            next = end;
            if sent_any {
                last_sent = Instant::now();
            } else if last_sent.elapsed() >= plan.heartbeat {
                if !out.heartbeat(&log, next).await? {
                    return Ok(());
                }
                last_sent = Instant::now();
            }
            continue;
        }
        tokio::select! {
            changed = out.shutdown.changed() => {
                if changed.is_err() {
                    return Err(shutting_down(next));
                }
            }
            () = out.tx.closed() => return Ok(()),
            changed = head.changed() => {
                if changed.is_err() {
                    return Err(Status::unavailable("the log was closed"));
                }
            }
            () = sleep_until(last_sent + plan.heartbeat) => {
                if !out.heartbeat(&log, next).await? {
                    return Ok(());
                }
                last_sent = Instant::now();
            }
            () = sleep(INDEX_POLL), if follows_index => {}
        }
    }
}

/// The records of `range` that match `query` (its time range and
/// filters), in seq order, with their events.
fn read_matching(
    log: &Log,
    range: std::ops::Range<u64>,
    query: &Query,
) -> stele_engine::Result<Vec<Hit>> {
    let mut out = Vec::new();
    for record in log.scan(range, Direction::Forward) {
        let record = record?;
        let event = record
            .event()
            .map_err(|reason| stele_engine::Error::Corrupted {
                file: log.dir().to_path_buf(),
                offset: record.seq,
                reason: format!("record {} does not decode: {reason}", record.seq),
            })?;
        let time = event
            .as_ref()
            .and_then(|e| e.time)
            .unwrap_or(record.ingest_time);
        if matches(query, time, event.as_ref()) {
            out.push(Hit { record, event });
        }
    }
    Ok(out)
}

/// Seq of the first record ingested at or after `time`; the visible head if
/// none is.
fn first_ingested_at(log: &Log, time: i64) -> stele_engine::Result<u64> {
    let visible = log.visible_seq();
    let Some(segment) = log
        .segments()
        .into_iter()
        .find(|s| s.stats.records > 0 && s.stats.max_ingest >= time)
    else {
        return Ok(visible);
    };
    for record in log.scan(segment.first_seq..visible, Direction::Forward) {
        let record = record?;
        if record.ingest_time >= time {
            return Ok(record.seq);
        }
    }
    Ok(visible)
}
