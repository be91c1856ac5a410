//! One appending connection over the HTTP/JSON API: up to `in_flight`
//! `POST /v1/logs/{log}/events` requests outstanding (each a JSON array of
//! one batch), fed by a generator thread that serialises batches ahead of
//! time, each timed from the moment it is sent until its receipts arrive.
//! Counterpart of [`super::append`] (gRPC `AppendStream`), so that the two
//! front doors can be compared with everything else equal.
//!
//! Unlike the gRPC path, batches carry no send-time stamp (subscribers'
//! lag is not measured over HTTP), and a run bounded by `--events` sends
//! whole batches.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval, timeout_at};

use super::append::{AppendPlan, AppendStats};
use super::freshness::Ack;
use super::{ANSWER_TIMEOUT, ErrorPrinter};
use crate::Generator;

/// Where to post, and with which token.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// A client of its own per connection (its own connection pool).
    pub client: reqwest::Client,
    /// `http://host:port`.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

/// The part of an answer this reads.
#[derive(Deserialize)]
struct Receipts {
    receipts: Vec<Seq>,
}

#[derive(Deserialize)]
struct Seq {
    seq: u64,
}

/// Runs one connection until its quota or deadline and every answer are
/// in.
pub async fn run(target: HttpTarget, plan: AppendPlan, errors: Arc<ErrorPrinter>) -> AppendStats {
    let mut bodies = spawn_generator(plan.seed, plan.profile, plan.batch, plan.in_flight);
    let url = format!("{}/v1/logs/{}/events", target.endpoint, plan.log);
    let mut ticks = plan.period.map(|period| {
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        ticks
    });
    let mut stats = AppendStats::new();
    let mut outstanding = FuturesUnordered::new();
    let mut sent = 0u64;
    let mut sending = true;
    loop {
        let quota_left = plan.quota.is_none_or(|quota| sent < quota);
        let may_send = sending && quota_left && outstanding.len() < plan.in_flight;
        tokio::select! {
            biased;
            Some(done) = outstanding.next(), if !outstanding.is_empty() => {
                record(done, plan.batch, &mut stats, &errors, plan.acks.as_ref());
            }
            next = next_body(&mut ticks, &mut bodies, plan.deadline), if may_send => match next {
                Some(body) => {
                    let mut request = target.client.post(&url)
                        .header("content-type", "application/json")
                        .timeout(ANSWER_TIMEOUT)
                        .body(body);
                    if let Some(token) = &target.token {
                        request = request.bearer_auth(token);
                    }
                    let started = Instant::now();
                    outstanding.push(async move { (started, answer(request).await) });
                    sent += plan.batch as u64;
                }
                None => sending = false,
            },
            else => break,
        }
    }
    stats
}

/// The next batch's body, when the rate allows and before the deadline.
async fn next_body(
    ticks: &mut Option<tokio::time::Interval>,
    bodies: &mut mpsc::Receiver<Vec<u8>>,
    deadline: Option<Instant>,
) -> Option<Vec<u8>> {
    let ready = async {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        bodies.recv().await
    };
    match deadline {
        Some(deadline) => timeout_at(deadline, ready).await.ok().flatten(),
        None => ready.await,
    }
}

/// Sends a request; its first and last seq, or what went wrong.
async fn answer(request: reqwest::RequestBuilder) -> Result<(u64, u64, usize), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let receipts: Receipts = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    match (receipts.receipts.first(), receipts.receipts.last()) {
        (Some(first), Some(last)) => Ok((first.seq, last.seq, receipts.receipts.len())),
        _ => Err("an answer with no receipt".into()),
    }
}

/// Adds one answered batch to `stats`.
fn record(
    (started, answer): (Instant, Result<(u64, u64, usize), String>),
    batch: usize,
    stats: &mut AppendStats,
    errors: &ErrorPrinter,
    acks: Option<&mpsc::UnboundedSender<Ack>>,
) {
    match answer {
        Ok((first, last, receipts)) if receipts == batch => {
            stats.acknowledged(receipts, (first, last), started.elapsed(), acks);
        }
        Ok((_, _, receipts)) => {
            stats.errors += 1;
            errors.report(
                "append",
                &format!("a batch of {batch} events got {receipts} receipts"),
            );
        }
        Err(message) => {
            stats.errors += 1;
            errors.report("append", &message);
        }
    }
}

/// Generates batches of `size` events as JSON array bodies on a thread of
/// its own, `capacity` batches ahead; the thread ends once the receiver is
/// dropped.
fn spawn_generator(
    seed: u64,
    profile: crate::Profile,
    size: usize,
    capacity: usize,
) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(capacity);
    std::thread::spawn(move || {
        let mut generator = Generator::with_profile(seed, profile);
        loop {
            let events: Vec<_> = (0..size).map(|_| generator.next_event()).collect();
            let body = serde_json::to_vec(&events).expect("events serialise");
            if tx.blocking_send(body).is_err() {
                break;
            }
        }
    });
    rx
}
