//! One appending connection: an `AppendStream` with up to `in_flight`
//! batches outstanding, fed by a generator thread, each batch timed from
//! the moment it is handed to the stream until its response arrives.
//!
//! Three parts run at once: a thread that generates and converts batches
//! ahead of time (so that generation never delays reading a response; or,
//! with batches made before the clock started, a task handing them over), a
//! sender task that stamps each batch with its send time and sends it when
//! the rate and the in-flight limit allow, and the receiver (the calling
//! task) that matches each response to the oldest outstanding batch —
//! responses come back in the order the batches were sent — and frees its
//! slot.

use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use hdrhistogram::Histogram;
use stele_proto::v1::{AppendRequest, AppendResponse, Event};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::{Instant, MissedTickBehavior, interval, timeout, timeout_at};
use tonic::Code;
use tonic::codec::Streaming;

use super::connect::SteleApi;
use stele_server::convert::event_to_proto;

use super::convert::{stamp_sent, unix_ns};
use super::freshness::Ack;
use super::{ANSWER_TIMEOUT, ErrorPrinter, histogram, micros, status_text};
use crate::{Generator, Profile};

/// What one connection sends.
#[derive(Debug, Clone)]
pub struct AppendPlan {
    /// Log to append to.
    pub log: String,
    /// Events per batch.
    pub batch: usize,
    /// Batches sent and not yet answered, at most.
    pub in_flight: usize,
    /// Events to send in all, when the run is bounded by a count.
    pub quota: Option<u64>,
    /// When to stop sending, when the run is bounded by time.
    pub deadline: Option<Instant>,
    /// Time between two batches, when the rate is limited.
    pub period: Option<Duration>,
    /// Seed of this connection's generator.
    pub seed: u64,
    /// Shape of the generated events.
    pub profile: Profile,
    /// Where each acknowledged batch is reported, for the freshness
    /// searcher.
    pub acks: Option<mpsc::UnboundedSender<Ack>>,
    /// Batches generated before the clock started (see [`generate`]), sent
    /// in order instead of generating along.
    pub ahead: Option<Vec<Vec<Event>>>,
}

/// What one connection, or several merged, achieved.
#[derive(Debug)]
pub struct AppendStats {
    /// Latency of each acknowledged batch, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Events acknowledged.
    pub events: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Batches refused or unanswered, and failed streams.
    pub errors: u64,
    /// Lowest and highest seq acknowledged.
    pub seqs: Option<(u64, u64)>,
}

impl AppendStats {
    /// Nothing yet.
    pub fn new() -> AppendStats {
        AppendStats {
            latency_us: histogram(),
            events: 0,
            batches: 0,
            errors: 0,
            seqs: None,
        }
    }

    /// Counts a batch of `events` records acknowledged with seqs
    /// `first..=last` after `latency`, and tells the freshness searcher.
    pub fn acknowledged(
        &mut self,
        events: usize,
        (first, last): (u64, u64),
        latency: Duration,
        acks: Option<&mpsc::UnboundedSender<Ack>>,
    ) {
        self.latency_us.saturating_record(micros(latency));
        self.events += events as u64;
        self.batches += 1;
        if let Some(acks) = acks {
            let _ = acks.send(Ack {
                last_seq: last,
                at: Instant::now(),
            });
        }
        self.seqs = Some(match self.seqs {
            Some((low, high)) => (low.min(first), high.max(last)),
            None => (first, last),
        });
    }

    /// Adds another connection's figures to these.
    pub fn merge(&mut self, other: &AppendStats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds add up");
        self.events += other.events;
        self.batches += other.batches;
        self.errors += other.errors;
        self.seqs = match (self.seqs, other.seqs) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (mine, theirs) => mine.or(theirs),
        };
    }
}

impl Default for AppendStats {
    fn default() -> AppendStats {
        AppendStats::new()
    }
}

/// A batch on the stream, waiting for its response.
#[derive(Debug)]
struct Pending {
    batch_id: u64,
    events: usize,
    sent: Instant,
}

/// Runs one connection's `AppendStream` until its quota or deadline and
/// every response are in, or the stream fails.
pub async fn run(
    mut client: SteleApi,
    mut plan: AppendPlan,
    errors: Arc<ErrorPrinter>,
) -> AppendStats {
    let batches = match plan.ahead.take() {
        Some(ready) => feed(ready, plan.in_flight),
        None => spawn_generator(plan.seed, plan.profile, plan.batch, plan.in_flight),
    };
    let (requests_tx, requests_rx) = mpsc::channel::<AppendRequest>(plan.in_flight);
    let (pending_tx, mut pending_rx) = mpsc::unbounded_channel();
    let acks = plan.acks.clone();
    let slots = Arc::new(Semaphore::new(plan.in_flight));
    let sender = tokio::spawn(send(
        plan,
        batches,
        requests_tx,
        pending_tx,
        Arc::clone(&slots),
    ));
    let requests = stream::unfold(requests_rx, |mut rx| async move {
        rx.recv().await.map(|request| (request, rx))
    });
    let mut stats = AppendStats::new();
    let failure = match timeout(ANSWER_TIMEOUT, client.append_stream(requests)).await {
        Ok(Ok(response)) => receive(
            response.into_inner(),
            &mut pending_rx,
            &slots,
            &mut stats,
            &errors,
            acks.as_ref(),
        )
        .await
        .err(),
        Ok(Err(status)) => Some(format!("AppendStream refused: {}", status_text(&status))),
        Err(_) => Some(format!(
            "AppendStream not answered within {} s",
            ANSWER_TIMEOUT.as_secs()
        )),
    };
    if let Some(message) = failure {
        stats.errors += 1;
        errors.report("append", &message);
    }
    slots.close();
    sender.abort();
    stats
}

/// Generates and converts batches of `size` events on a thread of its own,
/// `capacity` batches ahead; the thread ends once the receiver is dropped.
fn spawn_generator(
    seed: u64,
    profile: Profile,
    size: usize,
    capacity: usize,
) -> mpsc::Receiver<Vec<Event>> {
    let (tx, rx) = mpsc::channel(capacity);
    std::thread::spawn(move || {
        let mut generator = Generator::with_profile(seed, profile);
        loop {
            let batch = (0..size)
                .map(|_| event_to_proto(generator.next_event()))
                .collect();
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
    });
    rx
}

/// `count` events of the generator seeded with `seed`, converted and cut
/// into batches of `size` (the last one shorter): what a connection
/// generating along would send, made before the clock starts.
pub fn generate(seed: u64, profile: Profile, size: usize, count: u64) -> Vec<Vec<Event>> {
    let mut generator = Generator::with_profile(seed, profile);
    let mut left = count;
    let mut batches = Vec::with_capacity(usize::try_from(count.div_ceil(size as u64)).unwrap_or(0));
    while left > 0 {
        let n = usize::try_from(left).map_or(size, |left| left.min(size));
        batches.push(
            (0..n)
                .map(|_| event_to_proto(generator.next_event()))
                .collect(),
        );
        left -= n as u64;
    }
    batches
}

/// Hands the batches of `ready` to the sender, `capacity` ahead.
fn feed(ready: Vec<Vec<Event>>, capacity: usize) -> mpsc::Receiver<Vec<Event>> {
    let (tx, rx) = mpsc::channel(capacity);
    tokio::spawn(async move {
        for batch in ready {
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends batches until the plan's quota or deadline, or until the stream
/// goes away; each takes a slot of `slots`, which the receiver gives back.
async fn send(
    plan: AppendPlan,
    mut batches: mpsc::Receiver<Vec<Event>>,
    requests: mpsc::Sender<AppendRequest>,
    pending: mpsc::UnboundedSender<Pending>,
    slots: Arc<Semaphore>,
) {
    let mut ticks = plan.period.map(|period| {
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        ticks
    });
    let mut sent = 0u64;
    let mut batch_id = 0u64;
    loop {
        let size = plan.quota.map_or(plan.batch, |quota| {
            usize::try_from(quota - sent).map_or(plan.batch, |left| left.min(plan.batch))
        });
        if size == 0 {
            break;
        }
        let ready = async {
            if let Some(ticks) = ticks.as_mut() {
                ticks.tick().await;
            }
            slots.acquire().await.ok()?.forget();
            batches.recv().await
        };
        let next = match plan.deadline {
            Some(deadline) => timeout_at(deadline, ready).await.ok().flatten(),
            None => ready.await,
        };
        let Some(mut events) = next else {
            break;
        };
        events.truncate(size);
        let sent_ns = unix_ns();
        for event in &mut events {
            stamp_sent(event, sent_ns);
        }
        batch_id += 1;
        let count = events.len();
        let waiting = Pending {
            batch_id,
            events: count,
            sent: Instant::now(),
        };
        if pending.send(waiting).is_err() {
            break;
        }
        let request = AppendRequest {
            log: plan.log.clone(),
            events,
            batch_id,
        };
        if requests.send(request).await.is_err() {
            break;
        }
        sent += count as u64;
    }
}

/// Reads one response per batch sent, in order, until the sender is done
/// and the server has closed the stream. An `Err` is a failure of the
/// stream as a whole; refused batches are counted and reported here.
async fn receive(
    mut responses: Streaming<AppendResponse>,
    pending: &mut mpsc::UnboundedReceiver<Pending>,
    slots: &Semaphore,
    stats: &mut AppendStats,
    errors: &ErrorPrinter,
    acks: Option<&mpsc::UnboundedSender<Ack>>,
) -> Result<(), String> {
    while let Some(batch) = pending.recv().await {
        let response = match timeout(ANSWER_TIMEOUT, responses.message()).await {
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => {
                return Err(format!(
                    "the stream ended with batch {} unanswered",
                    batch.batch_id
                ));
            }
            Ok(Err(status)) => return Err(format!("stream failed: {}", status_text(&status))),
            Err(_) => {
                return Err(format!(
                    "no answer to batch {} within {} s",
                    batch.batch_id,
                    ANSWER_TIMEOUT.as_secs()
                ));
            }
        };
        let latency = batch.sent.elapsed();
        slots.add_permits(1);
        if let Err(message) = check(&batch, &response) {
            stats.errors += 1;
            errors.report("append", &message);
            continue;
        }
        let first = response.receipts.first().map_or(0, |r| r.seq);
        let last = response.receipts.last().map_or(0, |r| r.seq);
        stats.acknowledged(batch.events, (first, last), latency, acks);
    }
    match timeout(ANSWER_TIMEOUT, responses.message()).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(extra))) => Err(format!(
            "answer for batch {} that was never sent",
            extra.batch_id
        )),
        Ok(Err(status)) => Err(format!(
            "stream failed at its end: {}",
            status_text(&status)
        )),
        Err(_) => Err(format!(
            "the stream did not end within {} s of the last answer",
            ANSWER_TIMEOUT.as_secs()
        )),
    }
}

/// Whether `response` acknowledges `batch`: the same batch id, no error,
/// one receipt per event.
fn check(batch: &Pending, response: &AppendResponse) -> Result<(), String> {
    if response.batch_id != batch.batch_id {
        return Err(format!(
            "answer for batch {} where batch {} was next",
            response.batch_id, batch.batch_id
        ));
    }
    if let Some(error) = &response.error {
        return Err(format!(
            "batch {} refused: {:?}: {}",
            batch.batch_id,
            Code::from_i32(error.code),
            error.message
        ));
    }
    if response.receipts.len() != batch.events {
        return Err(format!(
            "batch {} of {} events got {} receipts",
            batch.batch_id,
            batch.events,
            response.receipts.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches made ahead are the events a connection generating along
    /// sends, in its order, cut into batches of the plan's size.
    #[test]
    fn batches_made_ahead_are_the_ones_generated_along() {
        let ahead = generate(7, Profile::Standard, 4, 10);
        let sizes: Vec<usize> = ahead.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let mut generator = Generator::with_profile(7, Profile::Standard);
        let along: Vec<Event> = (0..10)
            .map(|_| event_to_proto(generator.next_event()))
            .collect();
        assert_eq!(ahead.concat(), along);
        assert!(generate(7, Profile::Standard, 4, 0).is_empty());
    }
}
