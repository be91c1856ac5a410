//! [`Appender`]: batches events, keeps several batches in flight over one
//! `AppendStream`, pushes back when the server is slower, and retries
//! safely on transient errors and reconnects.
//!
//! # Invariants
//! - Every submitted event gets exactly one answer: its receipt, or the
//!   error that stopped it.
//! - Retrying never stores an event twice: each event carries an id (a
//!   UUIDv7 is assigned when empty) and the server answers a retried id
//!   with the original receipt (`duplicate: true`), within its dedup window
//!   (10 minutes by default; the default retry schedule gives up after 5).
//! - Memory is bounded: at most `queue` events wait to be batched and
//!   `max_in_flight` batches wait for their answer; `submit` waits for room.
//! - A batch refused for one bad event (`INVALID_ARGUMENT` naming
//!   `events[i]`) fails that event only; the others are sent again.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use stele_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::client::{Client, SteleRpc};
use crate::error::{Error, Result, is_transient_code};
use crate::event::{Event, Receipt};
use crate::retry::{Backoff, Retry};

/// How an [`Appender`] batches and retries.
#[derive(Debug, Clone, Copy)]
pub struct AppenderOptions {
    /// Most events per batch (the server's default limit is 10,000).
    pub batch_size: usize,
    /// How long a batch waits for more events once it has one.
    pub linger: Duration,
    /// Batches sent and not yet answered.
    pub max_in_flight: usize,
    /// Events waiting to be batched before `submit` waits.
    pub queue: usize,
    /// What to do on transient errors; gives up after 5 minutes by default.
    pub retry: Retry,
}

impl Default for AppenderOptions {
    fn default() -> AppenderOptions {
        AppenderOptions {
            batch_size: 500,
            linger: Duration::from_millis(5),
            max_in_flight: 8,
            queue: 10_000,
            retry: Retry {
                give_up_after: Some(Duration::from_secs(300)),
                ..Retry::FOREVER
            },
        }
    }
}

/// An event waiting for its receipt.
struct Submission {
    event: v1::Event,
    reply: oneshot::Sender<Result<Receipt>>,
}

/// The receipt of a submitted event, once the server has answered.
#[derive(Debug)]
pub struct PendingReceipt(oneshot::Receiver<Result<Receipt>>);

impl Future for PendingReceipt {
    type Output = Result<Receipt>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Receipt>> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.unwrap_or_else(|_| Err(closed())))
    }
}

fn closed() -> Error {
    Error::Closed("the appender stopped before answering".into())
}

/// Appends to one log through a pipelined, retrying stream. It is not
/// `Clone`: share one behind an `Arc`. [`Appender::close`] flushes.
///
/// ```no_run
/// # async fn demo(client: stele_client::Client) -> stele_client::Result<()> {
/// use stele_client::{Actor, AppenderOptions, Event};
/// let appender = client.appender("audit", AppenderOptions::default());
/// let receipt = appender
///     .append(Event::new("user.login").actor(Actor::user("alice")))
///     .await?;
/// println!("stored at seq {}", receipt.seq);
/// appender.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Appender {
    submissions: mpsc::Sender<Submission>,
    worker: JoinHandle<()>,
}

impl Client {
    /// An [`Appender`] for `log`.
    pub fn appender(&self, log: &str, options: AppenderOptions) -> Appender {
        let (submissions, queue) = mpsc::channel(options.queue.max(1));
        let worker = Worker {
            rpc: self.stele_rpc(),
            log: log.to_string(),
            options,
            queue,
            queue_open: true,
            backlog: VecDeque::new(),
            in_flight: VecDeque::new(),
            stream: None,
            next_batch_id: 0,
        };
        Appender {
            submissions,
            worker: tokio::spawn(worker.run()),
        }
    }
}

impl Appender {
    /// Queues `event`, waiting while the queue is full (backpressure), and
    /// returns a future of its receipt.
    ///
    /// # Errors
    /// [`Error::Closed`] when the appender has stopped.
    pub async fn submit(&self, mut event: Event) -> Result<PendingReceipt> {
        if event.id.is_empty() {
            event.id = uuid::Uuid::now_v7().to_string();
        }
        let (reply, answer) = oneshot::channel();
        self.submissions
            .send(Submission {
                event: event.to_proto(),
                reply,
            })
            .await
            .map_err(|_| closed())?;
        Ok(PendingReceipt(answer))
    }

    /// Appends `event` and waits for its receipt.
    ///
    /// # Errors
    /// The server's refusal of the event (`INVALID_ARGUMENT` naming the
    /// field), or the last transient error once the retry schedule gives
    /// up.
    pub async fn append(&self, event: Event) -> Result<Receipt> {
        self.submit(event).await?.await
    }

    /// Sends everything queued, waits for every answer, and stops.
    pub async fn close(self) {
        drop(self.submissions);
        let _ = self.worker.await;
    }
}

/// Events sent together, with where their answers go.
struct Batch {
    id: u64,
    events: Vec<v1::Event>,
    replies: Vec<oneshot::Sender<Result<Receipt>>>,
}

impl Batch {
    fn fail(self, error: &Error) {
        for reply in self.replies {
            let _ = reply.send(Err(copy_error(error)));
        }
    }
}

/// One open `AppendStream`.
struct Stream {
    requests: mpsc::Sender<v1::AppendRequest>,
    responses: tonic::Streaming<v1::AppendResponse>,
}

/// The task behind an [`Appender`].
struct Worker {
    rpc: SteleRpc,
    log: String,
    options: AppenderOptions,
    queue: mpsc::Receiver<Submission>,
    queue_open: bool,
    /// Batches to send (again) before new ones, oldest first.
    backlog: VecDeque<Batch>,
    /// Batches sent on `stream` and not answered, in send order.
    in_flight: VecDeque<Batch>,
    stream: Option<Stream>,
    next_batch_id: u64,
}

impl Worker {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.options.retry);
        loop {
            if !self.queue_open && self.backlog.is_empty() && self.in_flight.is_empty() {
                return;
            }
            if let Err(error) = self.step(&mut backoff).await {
                self.connection_lost();
                match error.is_transient().then(|| backoff.failed()).flatten() {
                    Some(wait) => {
                        tracing::warn!(log = %self.log, %error, retry_in = ?wait, "append stream failed; retrying");
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        for batch in self.backlog.drain(..) {
                            batch.fail(&error);
                        }
                        backoff.progress();
                    }
                }
            }
        }
    }

    /// Sends what may be sent, then handles the next answer or submission.
    async fn step(&mut self, backoff: &mut Backoff) -> Result<()> {
        let room = self.in_flight.len() < self.options.max_in_flight.max(1);
        if room && let Some(batch) = self.backlog.pop_front() {
            return self.send(batch).await;
        }
        tokio::select! {
            submission = self.queue.recv(), if room && self.queue_open => {
                match submission {
                    Some(first) => {
                        let batch = self.gather(first).await;
                        self.send(batch).await
                    }
                    None => {
                        self.queue_open = false;
                        Ok(())
                    }
                }
            }
            answer = next_response(self.stream.as_mut()), if !self.in_flight.is_empty() => {
                self.answer(answer?, backoff)
            }
        }
    }

    /// A batch starting with `first`: everything already queued, then what
    /// arrives within `linger`, up to `batch_size`.
    async fn gather(&mut self, first: Submission) -> Batch {
        let id = self.next_batch_id;
        self.next_batch_id += 1;
        let mut batch = Batch {
            id,
            events: vec![first.event],
            replies: vec![first.reply],
        };
        let deadline = tokio::time::Instant::now() + self.options.linger;
        while batch.events.len() < self.options.batch_size {
            let next = match self.queue.try_recv() {
                Ok(next) => Some(next),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    tokio::time::timeout_at(deadline, self.queue.recv())
                        .await
                        .ok()
                        .flatten()
                }
            };
            let Some(next) = next else { break };
            batch.events.push(next.event);
            batch.replies.push(next.reply);
        }
        batch
    }

    /// Sends `batch` on the stream, opening one if needed.
    async fn send(&mut self, batch: Batch) -> Result<()> {
        if self.stream.is_none() {
            match self.open().await {
                Ok(stream) => self.stream = Some(stream),
                Err(e) => {
                    self.backlog.push_front(batch);
                    return Err(e);
                }
            }
        }
        let stream = self.stream.as_ref().expect("opened above");
        let request = v1::AppendRequest {
            log: self.log.clone(),
            events: batch.events.clone(),
            batch_id: batch.id,
        };
        let sent = stream.requests.send(request).await;
        self.in_flight.push_back(batch);
        sent.map_err(|_| Error::Status(tonic::Status::unavailable("the append stream closed")))
    }

    async fn open(&mut self) -> Result<Stream> {
        let (requests, outgoing) = mpsc::channel(self.options.max_in_flight.max(1));
        let responses = self
            .rpc
            .append_stream(ReceiverStream::new(outgoing))
            .await?
            .into_inner();
        Ok(Stream {
            requests,
            responses,
        })
    }

    /// Handles the answer to the oldest batch in flight.
    fn answer(&mut self, response: v1::AppendResponse, backoff: &mut Backoff) -> Result<()> {
        let batch = self
            .in_flight
            .pop_front()
            .expect("an answer implies a batch in flight");
        if response.batch_id != batch.id {
            let id = batch.id;
            self.in_flight.push_front(batch);
            return Err(Error::Protocol(format!(
                "answer for batch {} while batch {id} was the oldest in flight",
                response.batch_id
            )));
        }
        let Some(error) = response.error else {
            if response.receipts.len() != batch.replies.len() {
                let n = batch.replies.len();
                self.in_flight.push_front(batch);
                return Err(Error::Protocol(format!(
                    "{} receipts for a batch of {n}",
                    response.receipts.len()
                )));
            }
            backoff.progress();
            for (receipt, reply) in response.receipts.iter().zip(batch.replies) {
                let _ = reply.send(Receipt::from_proto(receipt));
            }
            return Ok(());
        };
        let retry = retryable(&error);
        let status = tonic::Status::new(Code::from_i32(error.code), error.message);
        if retry {
            self.in_flight.push_front(batch);
            return Err(status.into());
        }
        match bad_event(&status, batch.events.len()) {
            Some(index) if batch.events.len() > 1 => {
                let Batch {
                    id,
                    mut events,
                    mut replies,
                } = batch;
                events.remove(index);
                let reply = replies.remove(index);
                let _ = reply.send(Err(status.into()));
                self.backlog.push_front(Batch {
                    id,
                    events,
                    replies,
                });
            }
            _ => batch.fail(&status.into()),
        }
        Ok(())
    }

    /// Every batch in flight goes back to the front of the backlog, in
    /// order, and the stream is dropped.
    fn connection_lost(&mut self) {
        self.stream = None;
        while let Some(batch) = self.in_flight.pop_back() {
            self.backlog.push_front(batch);
        }
    }
}

/// The next answer on `stream`; a closed stream is an error.
async fn next_response(stream: Option<&mut Stream>) -> Result<v1::AppendResponse> {
    let Some(stream) = stream else {
        return Err(Error::Status(tonic::Status::unavailable(
            "no append stream",
        )));
    };
    match stream.responses.message().await {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(Error::Status(tonic::Status::unavailable(
            "the server closed the append stream",
        ))),
        Err(status) => Err(status.into()),
    }
}

/// The index `i` of an `INVALID_ARGUMENT` naming `events[i]...`.
fn bad_event(status: &tonic::Status, len: usize) -> Option<usize> {
    if status.code() != Code::InvalidArgument {
        return None;
    }
    let rest = status.message().strip_prefix("events[")?;
    let index: usize = rest[..rest.find(']')?].parse().ok()?;
    (index < len).then_some(index)
}

/// Errors are not `Clone` (a status carries metadata); every event of a
/// failed batch gets the same code and message.
fn copy_error(error: &Error) -> Error {
    match error {
        Error::Status(s) => Error::Status(tonic::Status::new(s.code(), s.message())),
        other => Error::Closed(other.to_string()),
    }
}

/// Whether a batch refused in-band may succeed if sent again: a transient
/// code, or a refusal that says when to retry (a full server disk).
fn retryable(error: &v1::Error) -> bool {
    is_transient_code(Code::from_i32(error.code)) || error.retry_after_secs > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_retried_a_bad_event_is_not() {
        let error = |code: Code, retry_after_secs| v1::Error {
            code: code as i32,
            message: String::new(),
            retry_after_secs,
        };
        assert!(retryable(&error(Code::ResourceExhausted, 30)));
        assert!(retryable(&error(Code::Unavailable, 0)));
        assert!(!retryable(&error(Code::ResourceExhausted, 0)));
        assert!(!retryable(&error(Code::InvalidArgument, 0)));
    }

    #[test]
    fn a_refusal_naming_one_event_is_pinned_to_it() {
        let status = tonic::Status::invalid_argument("events[3].action: is required");
        assert_eq!(bad_event(&status, 5), Some(3));
        assert_eq!(bad_event(&status, 3), None);
        let other = tonic::Status::invalid_argument("log: unknown");
        assert_eq!(bad_event(&other, 5), None);
        let denied = tonic::Status::permission_denied("events[0]");
        assert_eq!(bad_event(&denied, 5), None);
    }
}
