//! Subscriptions: matching records in seq order, replayed from storage and
//! then followed live, with heartbeats.
//!
//! One task per subscription walks the log by seq: it reads a chunk of
//! visible records (off the async threads), sends the matching ones into a
//! bounded channel, and when it reaches the visible head waits for the head
//! to move (the engine's watch), the heartbeat timer, or shutdown.
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
use stele_engine::{Direction, Log, Query};
use stele_proto::v1::{self, subscribe_response::Item};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::{Instant, sleep_until};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::convert::record_parts_to_proto;
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

/// A subscription to run.
#[derive(Debug)]
pub struct Plan {
    /// The log followed.
    pub log: Arc<Log>,
    /// Where to start.
    pub start: Start,
    /// Time range and filters (no text).
    pub query: Query,
    /// Heartbeat interval while nothing is sent.
    pub heartbeat: Duration,
    /// Records read per step.
    pub chunk: usize,
    /// Send each record's stored body bytes.
    pub include_body: bool,
}

/// What the client receives.
pub type Messages = ReceiverStream<Result<v1::SubscribeResponse, Status>>;

/// Starts the subscription's task; it holds `permit` until it ends.
pub fn spawn(
    plan: Plan,
    shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) -> Messages {
    let (tx, rx) = mpsc::channel(plan.chunk.max(16));
    tokio::spawn(async move {
        let _permit = permit;
        let mut out = Out { tx, shutdown };
        if let Err(status) = run(plan, &mut out).await {
            // A client that stopped reading does not hold the task up.
            let _ = tokio::time::timeout(FINAL_SEND, out.tx.send(Err(status))).await;
        }
    });
    ReceiverStream::new(rx)
}

/// How long the closing status waits for room in the channel.
const FINAL_SEND: Duration = Duration::from_secs(1);

/// The subscription's side of the channel, and the shutdown signal.
struct Out {
    tx: mpsc::Sender<Result<v1::SubscribeResponse, Status>>,
    shutdown: watch::Receiver<bool>,
}

impl Out {
    /// Sends `item`, waiting for room. `Ok(false)` when the client went
    /// away; the shutdown status (resume at `resume_seq`) when the server
    /// stops first.
    async fn send(&mut self, item: Item, resume_seq: u64) -> Result<bool, Status> {
        let message = v1::SubscribeResponse { item: Some(item) };
        tokio::select! {
            sent = self.tx.send(Ok(message)) => Ok(sent.is_ok()),
            _ = self.shutdown.wait_for(|stop| *stop) => Err(shutting_down(resume_seq)),
        }
    }

    /// Sends a heartbeat.
    async fn heartbeat(&mut self, log: &Log, resume_seq: u64) -> Result<bool, Status> {
        let beat = Item::Heartbeat(v1::Heartbeat {
            head_seq: log.visible_seq(),
            resume_seq,
        });
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
async fn run(plan: Plan, out: &mut Out) -> Result<(), Status> {
    let log = plan.log.clone();
    let mut head = log.watch_visible();
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
        let visible = log.visible_seq();
        if next < visible {
            let end = visible.min(next + plan.chunk as u64);
            let (reader, query) = (log.clone(), query.clone());
            let include_body = plan.include_body;
            let records =
                blocking(move || read_matching(&reader, next..end, &query, include_body)).await?;
            let sent_any = !records.is_empty();
            for record in records {
                let seq = record.seq;
                if !out.send(Item::Record(record), seq).await? {
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
        }
    }
}

/// The records of `range` that match `query`, in seq order.
fn read_matching(
    log: &Log,
    range: std::ops::Range<u64>,
    query: &Query,
    include_body: bool,
) -> stele_engine::Result<Vec<v1::Record>> {
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
            out.push(record_parts_to_proto(record, event, include_body));
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
