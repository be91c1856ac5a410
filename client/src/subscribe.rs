//! [`Subscription`]: matching records in seq order, replayed then live,
//! that reconnects and resumes by itself.
//!
//! # Invariants
//! - The caller sees every matching record once, in seq order, across
//!   disconnects and server restarts: after a failure the subscription
//!   resumes from the seq after the last record it delivered, or from a
//!   later heartbeat's `resume_seq`.
//! - A start at "now" or at an ingest time becomes a seq with the server's
//!   first heartbeat; a failure before that retries the original start.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use stele_proto::v1::{self, subscribe_request, subscribe_response};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{Client, SteleRpc};
use crate::error::{Error, Result};
use crate::event::Record;
use crate::query::{Selection, nanos};
use crate::retry::{Backoff, Retry};

/// Where a subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this seq.
    Seq(u64),
    /// At the first record ingested at or after this time.
    IngestTime(DateTime<Utc>),
    /// With the records appended from now on.
    Now,
}

/// What to follow and how.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// Where to start.
    pub start: Start,
    /// Which records (time range and filters; full text is refused).
    pub selection: Selection,
    /// Heartbeat interval while nothing matches (at least 50 ms).
    pub heartbeat: Duration,
    /// Also receive each record's stored body bytes.
    pub include_body: bool,
    /// Reconnection schedule; forever by default.
    pub retry: Retry,
}

impl SubscribeOptions {
    /// From `start`, every record, a heartbeat a second, retrying forever.
    pub fn new(start: Start) -> SubscribeOptions {
        SubscribeOptions {
            start,
            selection: Selection::new(),
            heartbeat: Duration::from_secs(1),
            include_body: false,
            retry: Retry::FOREVER,
        }
    }

    /// Sets the selection.
    #[must_use]
    pub fn selection(mut self, selection: Selection) -> SubscribeOptions {
        self.selection = selection;
        self
    }
}

/// One item of a subscription.
// Records are nearly every item; boxing them would allocate per record to
// shrink the rare heartbeat.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// The next matching record.
    Record(Record),
    /// Where the subscription stands while nothing matches.
    Heartbeat {
        /// Seq the log's next record will get.
        head_seq: u64,
        /// Every record below this seq was examined and, if it matched,
        /// delivered.
        resume_seq: u64,
    },
    /// The connection dropped; the subscription reconnects and resumes at
    /// `resume_seq` (unknown before the first heartbeat) after `retry_in`.
    Reconnecting {
        /// What went wrong.
        reason: String,
        /// Where it resumes.
        resume_seq: Option<u64>,
        /// How long it waits first.
        retry_in: Duration,
    },
}

/// A live subscription: a stream of [`Item`]s that ends only with an error
/// that retrying cannot fix (or when the retry schedule gives up). Dropping
/// it ends the subscription.
#[derive(Debug)]
pub struct Subscription {
    items: mpsc::Receiver<Result<Item>>,
    task: JoinHandle<()>,
}

impl Stream for Subscription {
    type Item = Result<Item>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Item>>> {
        self.items.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Follows `log`: matching records in seq order, replayed from storage
    /// and then live. See [`Subscription`].
    ///
    /// ```no_run
    /// # async fn demo(client: stele_client::Client) -> stele_client::Result<()> {
    /// use futures::TryStreamExt;
    /// use stele_client::{Item, Start, SubscribeOptions};
    /// let mut sub = client.subscribe("audit", SubscribeOptions::new(Start::Now));
    /// while let Some(item) = sub.try_next().await? {
    ///     if let Item::Record(record) = item {
    ///         println!("{}", serde_json::to_string(&record).unwrap());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, log: &str, options: SubscribeOptions) -> Subscription {
        let (tx, items) = mpsc::channel(256);
        let follow = Follow {
            rpc: self.stele_rpc(),
            log: log.to_string(),
            options,
            tx,
        };
        Subscription {
            items,
            task: tokio::spawn(follow.run()),
        }
    }
}

/// The task behind a [`Subscription`].
struct Follow {
    rpc: SteleRpc,
    log: String,
    options: SubscribeOptions,
    tx: mpsc::Sender<Result<Item>>,
}

/// How one connection ended.
enum Ended {
    /// The caller dropped the subscription.
    Dropped,
    /// A failure; [`Error::is_transient`] says whether to retry.
    Failed(Error),
}

impl Follow {
    async fn run(mut self) {
        let mut resume = match self.options.start {
            Start::Seq(seq) => Some(seq),
            Start::IngestTime(_) | Start::Now => None,
        };
        let mut backoff = Backoff::new(self.options.retry);
        loop {
            let error = match self.connection(&mut resume, &mut backoff).await {
                Ended::Dropped => return,
                Ended::Failed(error) => error,
            };
            let wait = if error.is_transient() {
                backoff.failed()
            } else {
                None
            };
            let Some(retry_in) = wait else {
                let _ = self.tx.send(Err(error)).await;
                return;
            };
            let note = Item::Reconnecting {
                reason: error.to_string(),
                resume_seq: resume,
                retry_in,
            };
            if self.tx.send(Ok(note)).await.is_err() {
                return;
            }
            tokio::time::sleep(retry_in).await;
        }
    }

    /// One connection: subscribes at `resume` (or the original start) and
    /// forwards items, moving `resume` forward, until it fails.
    async fn connection(&mut self, resume: &mut Option<u64>, backoff: &mut Backoff) -> Ended {
        let request = match self.request(*resume) {
            Ok(request) => request,
            Err(e) => return Ended::Failed(e),
        };
        let mut stream = match self.rpc.subscribe(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return Ended::Failed(status.into()),
        };
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                () = self.tx.closed() => return Ended::Dropped,
            };
            let item = match message {
                Ok(Some(v1::SubscribeResponse { item: Some(item) })) => item,
                Ok(Some(_)) => {
                    return Ended::Failed(Error::Protocol("empty subscription message".into()));
                }
                Ok(None) => {
                    return Ended::Failed(Error::Status(tonic::Status::unavailable(
                        "the server ended the subscription",
                    )));
                }
                Err(status) => return Ended::Failed(status.into()),
            };
            backoff.progress();
            let item = match item {
                subscribe_response::Item::Record(record) => {
                    let record = match Record::from_proto(record) {
                        Ok(record) => record,
                        Err(e) => return Ended::Failed(e),
                    };
                    if resume.is_some_and(|next| record.seq < next) {
                        return Ended::Failed(Error::Protocol(format!(
                            "record {} came after seq {} had been passed",
                            record.seq,
                            resume.unwrap_or_default()
                        )));
                    }
                    *resume = Some(record.seq + 1);
                    Item::Record(record)
                }
                subscribe_response::Item::Heartbeat(beat) => {
                    *resume = Some(resume.map_or(beat.resume_seq, |r| r.max(beat.resume_seq)));
                    Item::Heartbeat {
                        head_seq: beat.head_seq,
                        resume_seq: beat.resume_seq,
                    }
                }
            };
            if self.tx.send(Ok(item)).await.is_err() {
                return Ended::Dropped;
            }
        }
    }

    fn request(&self, resume: Option<u64>) -> Result<v1::SubscribeRequest> {
        use subscribe_request::Start as From;
        let start = match (resume, self.options.start) {
            (Some(seq), _) => From::FromSeq(seq),
            (None, Start::Seq(seq)) => From::FromSeq(seq),
            (None, Start::IngestTime(t)) => From::FromIngestTimeNs(nanos("start", t)?),
            (None, Start::Now) => From::FromNow(true),
        };
        Ok(v1::SubscribeRequest {
            log: self.log.clone(),
            start: Some(start),
            selection: Some(self.options.selection.to_proto()?),
            heartbeat_ms: u32::try_from(self.options.heartbeat.as_millis()).unwrap_or(u32::MAX),
            include_body: self.options.include_body,
        })
    }
}
