//! The library against a real `steled`: the appender's retries across
//! server restarts, subscriptions that resume, the query iterator,
//! aggregations and client-side verification.
//!
//! Every test runs its own server in a temporary directory. Waiting is done
//! with deadline polls, never with fixed sleeps.

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use stele_client::proto::{Policy, SegmentInfo, SegmentState};
use stele_client::{
    Actor, AppenderOptions, Client, Error, Event, Item, Order, Outcome, PendingReceipt, Query,
    Receipt, Record, Selection, Start, SubscribeOptions, Subscription,
};
use tempfile::tempdir;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Code;

use common::Steled;

/// How long anything a test waits for may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Small segments, so that the data spans sealed segments and the active
/// one, and a quick index commit.
fn policy() -> Policy {
    Policy {
        seal_max_records: 500,
        index_commit_interval_ms: 200,
        ..Policy::default()
    }
}

/// `future`, or a panic naming `what` after [`PATIENCE`].
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {PATIENCE:?} waiting for {what}"),
    }
}

/// Polls `check` until it returns `Some`, failing after [`PATIENCE`] with
/// the last thing `describe` says.
async fn poll_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the index counts exactly `expected` records in `log`.
async fn wait_for_index(client: &Client, log: &str, expected: u64) {
    poll_until(
        &format!("the index of {log} to hold {expected} records"),
        || async {
            match client.count(log, &Selection::new()).await {
                Ok(n) if n == expected => Ok(()),
                Ok(n) => Err(format!("count {n}")),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
}

/// Waits until `log` has at least `n` sealed segments (sealing finishes on
/// the server's maintenance thread after the append that fills a segment).
async fn wait_for_sealed(client: &Client, log: &str, n: usize) -> Vec<SegmentInfo> {
    poll_until(&format!("{n} sealed segments in {log}"), || async {
        let segments = client.segments(log).await.map_err(|e| e.to_string())?;
        let sealed = segments
            .iter()
            .filter(|s| s.state() == SegmentState::Sealed)
            .count();
        if sealed >= n {
            Ok(segments)
        } else {
            Err(format!("{sealed} sealed"))
        }
    })
    .await
}

/// Appends one batch, retrying transient errors (the server restarting).
/// Safe because every event carries an id: a retried batch that had been
/// stored is answered with its original receipts.
async fn append_retrying(client: &Client, log: &str, events: &[Event]) -> Vec<Receipt> {
    poll_until(&format!("an append to {log}"), || async {
        match client.append(log, events).await {
            Ok(receipts) => Ok(receipts),
            Err(e) if e.is_transient() => Err(e.to_string()),
            Err(e) => panic!("append to {log} failed: {e}"),
        }
    })
    .await
}

/// The next item of `sub`, failing on an error, an end or a stall.
async fn next_item(sub: &mut Subscription) -> Item {
    match within("the next subscription item", sub.try_next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("the subscription ended"),
        Err(e) => panic!("the subscription failed: {e}"),
    }
}

/// What a subscription delivered.
#[derive(Default)]
struct Followed {
    records: Vec<Record>,
    reconnects: usize,
}

impl Followed {
    /// Reads `sub` until it has delivered the record `last`.
    async fn until(&mut self, sub: &mut Subscription, last: u64) {
        while self.records.last().is_none_or(|r| r.seq < last) {
            match next_item(sub).await {
                Item::Record(record) => self.records.push(record),
                Item::Reconnecting { .. } => self.reconnects += 1,
                Item::Heartbeat { .. } => {}
            }
        }
    }

    fn seqs(&self) -> Vec<u64> {
        self.records.iter().map(|r| r.seq).collect()
    }
}

/// Every record of `log` from seq 0 to `next_seq - 1`, read with a
/// subscription.
async fn all_records(client: &Client, log: &str, next_seq: u64) -> Vec<Record> {
    let mut sub = client.subscribe(log, SubscribeOptions::new(Start::Seq(0)));
    let mut followed = Followed::default();
    if next_seq > 0 {
        followed.until(&mut sub, next_seq - 1).await;
    }
    followed.records
}

fn event_id(record: &Record) -> &str {
    &record.event.as_ref().expect("not redacted").id
}

/// `events` in batches of `size`, appended one after the other.
async fn append_all(client: &Client, log: &str, events: &[Event], size: usize) -> Vec<Receipt> {
    let mut receipts = Vec::with_capacity(events.len());
    for batch in events.chunks(size) {
        receipts.extend(append_retrying(client, log, batch).await);
    }
    receipts
}

// ---------------------------------------------------------------------------
// Appender
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appender_retries_across_restarts_without_duplicates() {
    const N: usize = 5_000;
    const LOG: &str = "burst";
    let dir = tempdir().unwrap();
    let mut server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, policy()).await.unwrap();
    let appender = client.appender(
        LOG,
        AppenderOptions {
            batch_size: 50,
            max_in_flight: 8,
            queue: 200,
            ..AppenderOptions::default()
        },
    );
    let event = |i: usize| {
        Event::new("load.test")
            .id(format!("ev-{i}"))
            .actor(Actor::service("loader"))
            .detail("i", i)
    };

    // The collector awaits the receipts in submission order and publishes
    // how many have come back.
    let (pending_tx, mut pending_rx) = mpsc::unbounded_channel::<(usize, PendingReceipt)>();
    let (acked_tx, mut acked) = watch::channel(0usize);
    let collector = tokio::spawn(async move {
        let mut answers = Vec::with_capacity(N);
        while let Some((i, pending)) = pending_rx.recv().await {
            answers.push((i, pending.await));
            acked_tx.send_replace(answers.len());
        }
        answers
    });
    // The producer submits everything, but waits at two gates so that
    // events are certainly submitted after each restart; `queue: 200`
    // keeps it just ahead of the appender.
    let (first_gate, first_open) = oneshot::channel::<()>();
    let (second_gate, second_open) = oneshot::channel::<()>();
    let producer = tokio::spawn(async move {
        let mut gates = [(2_000, first_open), (3_500, second_open)].into_iter();
        let mut next_gate = gates.next();
        for i in 0..N {
            if next_gate.as_ref().is_some_and(|(at, _)| *at == i) {
                let (_, open) = next_gate.take().unwrap();
                open.await.expect("the test opens the gate");
                next_gate = gates.next();
            }
            let pending = appender.submit(event(i)).await.unwrap();
            pending_tx.send((i, pending)).unwrap();
        }
        appender
    });

    // SIGKILL the server while batches are in flight, twice.
    for (acked_at_least, gate) in [(1_000, first_gate), (2_500, second_gate)] {
        within(
            "receipts before the restart",
            acked.wait_for(|n| *n >= acked_at_least),
        )
        .await
        .unwrap();
        server.restart().await;
        gate.send(()).unwrap();
    }
    let appender = within("the producer", producer).await.unwrap();
    let answers = within("every receipt", collector).await.unwrap();

    assert_eq!(answers.len(), N);
    let mut receipt_of = Vec::with_capacity(N);
    for (i, answer) in answers {
        match answer {
            Ok(receipt) => receipt_of.push(receipt),
            Err(e) => panic!("event ev-{i} failed: {e}"),
        }
    }
    let seqs: HashSet<u64> = receipt_of.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), N, "two events share a seq");
    assert_eq!(
        seqs,
        (0..N as u64).collect::<HashSet<u64>>(),
        "the seqs are not 0..{N}"
    );
    // Batches stored but not acknowledged when the server died come back
    // as duplicates; how many (if any) depends on where the kill landed.
    let duplicates = receipt_of.iter().filter(|r| r.duplicate).count();
    eprintln!("{duplicates} of {N} receipts were answered as duplicates after a restart");
    // A duplicate's receipt is the original one: the stored record's.
    for receipt in receipt_of.iter().filter(|r| r.duplicate) {
        let (_, stored) = client.get_record(LOG, receipt.seq, false).await.unwrap();
        assert_eq!(
            (stored.leaf_hash, stored.chain_hash),
            (receipt.leaf_hash, receipt.chain_hash),
            "seq {}",
            receipt.seq
        );
    }

    // Deterministically: ids stored before both restarts are still
    // known, and a retry gets the original receipt without a new record.
    for i in [0, 1_999, N - 1] {
        let again = within("a retried event", appender.append(event(i)))
            .await
            .unwrap();
        assert!(again.duplicate, "ev-{i} was stored twice: {again:?}");
        assert_eq!(
            Receipt {
                duplicate: false,
                ..again
            },
            Receipt {
                duplicate: false,
                ..receipt_of[i]
            },
            "ev-{i}"
        );
    }
    within("the appender to close", appender.close()).await;

    let info = client.log_info(LOG).await.unwrap();
    assert_eq!(info.next_seq, N as u64);
    assert_eq!(info.records, N as u64);

    // Every id exactly once, at the seq its receipt names.
    let records = all_records(&client, LOG, N as u64).await;
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..N as u64).collect::<Vec<_>>()
    );
    let mut seen = HashSet::new();
    for record in &records {
        let id = event_id(record);
        assert!(seen.insert(id.to_string()), "{id} is stored twice");
        let i: usize = id.strip_prefix("ev-").unwrap().parse().unwrap();
        assert_eq!(
            record.seq, receipt_of[i].seq,
            "{id} is not where its receipt says"
        );
    }
    assert_eq!(seen.len(), N);

    wait_for_index(&client, LOG, N as u64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appender_pins_a_bad_event_and_stores_the_others() {
    const LOG: &str = "pinned";
    let dir = tempdir().unwrap();
    let server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, policy()).await.unwrap();
    // 20 events make one batch: it is sent as soon as it is full.
    let appender = client.appender(
        LOG,
        AppenderOptions {
            batch_size: 20,
            linger: Duration::from_millis(300),
            ..AppenderOptions::default()
        },
    );
    let mut deep = serde_json::json!("bottom");
    for _ in 0..40 {
        deep = serde_json::json!({ "deeper": deep });
    }
    // (round, position of the bad event, the bad event, the field named)
    let rounds = [
        (0, 7, Event::new("a".repeat(5_000)), "action"),
        (1, 19, Event::new("x.y").details(&deep).unwrap(), "details"),
        (2, 0, Event::new(""), "action"),
    ];
    let mut stored = Vec::new();
    for (round, bad_at, bad, field) in rounds {
        let size = if round == 2 { 1 } else { 20 };
        let mut pending = Vec::new();
        for i in 0..size {
            let event = if i == bad_at {
                bad.clone()
            } else {
                Event::new("ok.event")
            };
            let event = event.id(format!("g-{round}-{i}"));
            pending.push(appender.submit(event).await.unwrap());
        }
        for (i, answer) in pending.into_iter().enumerate() {
            let answer = within("a receipt", answer).await;
            if i == bad_at {
                let err = answer.expect_err("the bad event was accepted");
                assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
                assert!(err.to_string().contains(field), "{err} should name {field}");
            } else {
                let receipt = answer.unwrap_or_else(|e| panic!("g-{round}-{i} failed: {e}"));
                assert!(!receipt.duplicate);
                stored.push((format!("g-{round}-{i}"), receipt.seq));
            }
        }
    }
    within("the appender to close", appender.close()).await;

    // 19 + 19 + 0 records, in submission order, nothing else.
    assert_eq!(stored.len(), 38);
    let info = client.log_info(LOG).await.unwrap();
    assert_eq!(info.next_seq, 38);
    let records = all_records(&client, LOG, 38).await;
    let found: Vec<(String, u64)> = records
        .iter()
        .map(|r| (event_id(r).to_string(), r.seq))
        .collect();
    assert_eq!(found, stored);
}

// ---------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------

fn numbered(prefix: &str, range: std::ops::Range<u64>) -> Vec<Event> {
    range
        .map(|i| {
            Event::new("sub.test")
                .id(format!("{prefix}-{i}"))
                .actor(Actor::user(format!("u{}", i % 3)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_resumes_across_a_restart() {
    const LOG: &str = "follow";
    let dir = tempdir().unwrap();
    let mut server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, policy()).await.unwrap();
    let mut options = SubscribeOptions::new(Start::Seq(0));
    options.heartbeat = Duration::from_millis(100);
    let mut sub = client.subscribe(LOG, options);

    append_all(&client, LOG, &numbered("b", 0..1_000), 100).await;
    let mut followed = Followed::default();
    followed.until(&mut sub, 499).await;
    server.restart().await;
    // A fresh client call after the restart; the channel reconnects.
    let receipts = append_all(&client, LOG, &numbered("b", 1_000..2_000), 100).await;
    assert_eq!(receipts.last().unwrap().seq, 1_999);
    followed.until(&mut sub, 1_999).await;

    assert_eq!(followed.seqs(), (0..2_000).collect::<Vec<_>>());
    for record in &followed.records {
        assert_eq!(event_id(record), format!("b-{}", record.seq));
    }
    assert!(followed.reconnects > 0, "no Reconnecting note was seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_from_now_keeps_its_place_across_restarts() {
    const LOG: &str = "now";
    let dir = tempdir().unwrap();
    let mut server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, policy()).await.unwrap();
    append_all(&client, LOG, &numbered("c", 0..100), 100).await;

    let mut options = SubscribeOptions::new(Start::Now);
    options.heartbeat = Duration::from_millis(100);
    let mut sub = client.subscribe(LOG, options);
    // The first heartbeat fixes "now" as a seq.
    match next_item(&mut sub).await {
        Item::Heartbeat {
            head_seq,
            resume_seq,
        } => assert_eq!((head_seq, resume_seq), (100, 100)),
        other => panic!("expected a heartbeat first, got {other:?}"),
    }
    // A clean stop right away: the subscription must resume at seq 100,
    // not at the head it finds after the restart.
    server.stop().await;
    server.restart().await;
    append_all(&client, LOG, &numbered("c", 100..300), 100).await;
    let mut followed = Followed::default();
    followed.until(&mut sub, 199).await;
    // And a SIGKILL in the middle.
    server.restart().await;
    append_all(&client, LOG, &numbered("c", 300..500), 100).await;
    followed.until(&mut sub, 499).await;

    assert_eq!(followed.seqs(), (100..500).collect::<Vec<_>>());
    for record in &followed.records {
        assert_eq!(event_id(record), format!("c-{}", record.seq));
    }
    assert!(followed.reconnects > 0, "no Reconnecting note was seen");
}

// ---------------------------------------------------------------------------
// Queries and aggregations
// ---------------------------------------------------------------------------

/// Events of the search tests.
const SEARCH_EVENTS: usize = 1_050;
/// 2026-05-28T20:26:40Z, in seconds.
const BASE: i64 = 1_780_000_000;
const ACTIONS: [&str; 5] = [
    "git.push",
    "git.clone",
    "workflow.delete",
    "user.login",
    "git.fetch",
];
const ACTORS: [&str; 13] = [
    "alice", "alice", "alice", "alice", "alice", "bob", "bob", "bob", "bob", "carol", "carol",
    "dave", "erin",
];

/// Event `i` of the search tests. Times are a permutation of 350 minutes,
/// three events a minute, so that times arrive out of order, segments'
/// time ranges overlap, and ties are broken by seq.
fn search_event(i: usize) -> Event {
    let slot = (i * 389) % SEARCH_EVENTS;
    let time = DateTime::from_timestamp(BASE + (slot / 3) as i64 * 60, 0).unwrap();
    let mut event = Event::new(ACTIONS[(i / 3) % ACTIONS.len()])
        .id(format!("q-{i}"))
        .time(time)
        .outcome(if i.is_multiple_of(4) {
            Outcome::Failure
        } else {
            Outcome::Success
        })
        .message(format!("event number {i}"));
    if !i.is_multiple_of(17) {
        event = event.actor(Actor::user(ACTORS[i % ACTORS.len()]));
    }
    event
}

/// A server with a log `search` holding the search events, fully indexed;
/// event `i` is at seq `i`.
async fn search_server(dir: &std::path::Path) -> (Steled, Client, Vec<Event>) {
    let server = Steled::start(dir).await;
    let client = server.client().await;
    client.create_log("search", policy()).await.unwrap();
    let events: Vec<Event> = (0..SEARCH_EVENTS).map(search_event).collect();
    let receipts = append_all(&client, "search", &events, 100).await;
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt.seq, i as u64);
    }
    wait_for_index(&client, "search", SEARCH_EVENTS as u64).await;
    (server, client, events)
}

fn time_of(event: &Event) -> DateTime<Utc> {
    event.time.unwrap()
}

fn actor_of(event: &Event) -> Option<&str> {
    event.actor.as_ref().map(|a| a.id.as_str())
}

/// The seqs of the events `keep` selects, in `order`.
fn expected_order(events: &[Event], order: Order, keep: impl Fn(&Event) -> bool) -> Vec<u64> {
    let mut keys: Vec<(DateTime<Utc>, u64)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| keep(e))
        .map(|(seq, e)| (time_of(e), seq as u64))
        .collect();
    keys.sort();
    if order == Order::NewestFirst {
        keys.reverse();
    }
    keys.into_iter().map(|(_, seq)| seq).collect()
}

async fn query_seqs(client: &Client, query: Query, events: &[Event]) -> Vec<u64> {
    let records: Vec<Record> = within("a query", client.query("search", query).try_collect())
        .await
        .unwrap();
    for record in &records {
        let event = record.event.as_ref().unwrap();
        assert_eq!(event, &events[record.seq as usize], "seq {}", record.seq);
        assert_eq!(record.time(), time_of(event));
    }
    records.iter().map(|r| r.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_iterator_walks_every_page_in_order() {
    let dir = tempdir().unwrap();
    let (server, client, events) = search_server(dir.path()).await;
    // Two sealed segments and the active one, whose time ranges overlap.
    let segments = wait_for_sealed(&client, "search", 2).await;
    assert!(
        segments
            .windows(2)
            .any(|w| w[1].min_time_ns <= w[0].max_time_ns),
        "the segments' time ranges do not overlap: {segments:?}"
    );

    // Everything, newest first, over eleven pages.
    let all = Query::new(Selection::new()).page_size(100);
    let got = query_seqs(&client, all.clone(), &events).await;
    assert_eq!(got, expected_order(&events, Order::NewestFirst, |_| true));

    // Everything, oldest first.
    let got = query_seqs(&client, all.order(Order::OldestFirst), &events).await;
    assert_eq!(got, expected_order(&events, Order::OldestFirst, |_| true));

    // Filters, a prefix and a time range, with pages that end inside a
    // run of equal times.
    let from = DateTime::from_timestamp(BASE + 60 * 60, 0).unwrap();
    let to = DateTime::from_timestamp(BASE + 250 * 60, 0).unwrap();
    let selection = Selection::new()
        .from(from)
        .to(to)
        .filter("actor.id", ["bob", "carol"])
        .filter("action", ["git.*"]);
    let keep = |e: &Event| {
        (from..to).contains(&time_of(e))
            && matches!(actor_of(e), Some("bob" | "carol"))
            && e.action.starts_with("git.")
    };
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let query = Query::new(selection.clone()).order(order).page_size(7);
        let got = query_seqs(&client, query, &events).await;
        let expected = expected_order(&events, order, keep);
        assert!(expected.len() > 50, "the selection is too small to page");
        assert_eq!(got, expected, "{order:?}");
    }

    // Nothing matches: no record, no error.
    let none = Query::new(Selection::new().filter("actor.id", ["nobody"]));
    assert!(query_seqs(&client, none, &events).await.is_empty());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregations_match_hand_counts() {
    let dir = tempdir().unwrap();
    let (server, client, events) = search_server(dir.path()).await;
    let all = Selection::new();

    // count
    assert_eq!(
        client.count("search", &all).await.unwrap(),
        SEARCH_EVENTS as u64
    );
    let failures = Selection::new().filter("outcome", ["failure"]);
    let hand = events
        .iter()
        .filter(|e| e.outcome == Some(Outcome::Failure))
        .count();
    assert_eq!(
        client.count("search", &failures).await.unwrap(),
        hand as u64
    );

    // count_by actor.id: most frequent first, ties by value.
    let mut by_actor: HashMap<&str, u64> = HashMap::new();
    for event in &events {
        if let Some(actor) = actor_of(event) {
            *by_actor.entry(actor).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, u64)> = by_actor
        .iter()
        .map(|(value, n)| (value.to_string(), *n))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let missing = events.iter().filter(|e| actor_of(e).is_none()).count() as u64;
    for top in [3u32, 10] {
        let terms = client
            .count_by("search", &all, "actor.id", top)
            .await
            .unwrap();
        let got: Vec<(String, u64)> = terms
            .top
            .iter()
            .map(|t| (t.value.clone(), t.count))
            .collect();
        let expected: Vec<(String, u64)> = ranked.iter().take(top as usize).cloned().collect();
        assert_eq!(got, expected, "top {top}");
        assert_eq!(terms.missing, missing);
        assert_eq!(terms.total, SEARCH_EVENTS as u64);
        let listed: u64 = expected.iter().map(|(_, n)| n).sum();
        assert_eq!(terms.other, SEARCH_EVENTS as u64 - missing - listed);
    }

    // count_by action among one actor's failures.
    let alice_failed = failures.clone().filter("actor.id", ["alice"]);
    let mut by_action: BTreeMap<&str, u64> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.outcome == Some(Outcome::Failure) && actor_of(e) == Some("alice"))
    {
        *by_action.entry(event.action.as_str()).or_default() += 1;
    }
    let terms = client
        .count_by("search", &alice_failed, "action", 10)
        .await
        .unwrap();
    let got: BTreeMap<&str, u64> = terms
        .top
        .iter()
        .map(|t| (t.value.as_str(), t.count))
        .collect();
    assert_eq!(got, by_action);
    assert_eq!(terms.total, by_action.values().sum::<u64>());
    assert_eq!((terms.other, terms.missing), (0, 0));

    // Hourly histogram, buckets aligned on the epoch, from the first
    // match to the last, empty ones included.
    let hour = Duration::from_secs(3_600);
    let hour_ns = 3_600_000_000_000i64;
    let bucket_of = |e: &Event| {
        time_of(e)
            .timestamp_nanos_opt()
            .unwrap()
            .div_euclid(hour_ns)
            * hour_ns
    };
    let mut per_hour: BTreeMap<i64, u64> = BTreeMap::new();
    for event in &events {
        *per_hour.entry(bucket_of(event)).or_default() += 1;
    }
    let histogram = client.histogram("search", &all, hour, None).await.unwrap();
    assert_eq!(histogram.interval_ns, hour_ns);
    assert_eq!(histogram.total, SEARCH_EVENTS as u64);
    let (first, last) = (
        *per_hour.keys().next().unwrap(),
        *per_hour.keys().last().unwrap(),
    );
    let expected: Vec<(i64, u64)> = (first..=last)
        .step_by(hour_ns as usize)
        .map(|start| (start, per_hour.get(&start).copied().unwrap_or(0)))
        .collect();
    let got: Vec<(i64, u64)> = histogram
        .buckets
        .iter()
        .map(|b| (b.start_ns, b.count))
        .collect();
    assert_eq!(got, expected);

    // Split by outcome over a time range: buckets cover the range, and each
    // bucket counts each of the top outcomes.
    let from = DateTime::from_timestamp(BASE + 3_600, 0).unwrap();
    let to = DateTime::from_timestamp(BASE + 4 * 3_600, 0).unwrap();
    let ranged = Selection::new().from(from).to(to);
    let histogram = client
        .histogram("search", &ranged, hour, Some(("outcome", 2)))
        .await
        .unwrap();
    assert_eq!(histogram.split_values, ["success", "failure"]);
    let in_range: Vec<&Event> = events
        .iter()
        .filter(|e| (from..to).contains(&time_of(e)))
        .collect();
    assert_eq!(histogram.total, in_range.len() as u64);
    let first = from.timestamp_nanos_opt().unwrap().div_euclid(hour_ns) * hour_ns;
    let last = (to.timestamp_nanos_opt().unwrap() - 1).div_euclid(hour_ns) * hour_ns;
    let expected: Vec<(i64, u64, Vec<u64>)> = (first..=last)
        .step_by(hour_ns as usize)
        .map(|start| {
            let bucket: Vec<&&Event> = in_range.iter().filter(|e| bucket_of(e) == start).collect();
            let with = |o: Outcome| bucket.iter().filter(|e| e.outcome == Some(o)).count() as u64;
            (
                start,
                bucket.len() as u64,
                vec![with(Outcome::Success), with(Outcome::Failure)],
            )
        })
        .collect();
    let got: Vec<(i64, u64, Vec<u64>)> = histogram
        .buckets
        .iter()
        .map(|b| (b.start_ns, b.count, b.split.clone()))
        .collect();
    assert_eq!(got, expected);
    drop(server);
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn assert_verification<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) -> String {
    match result {
        Err(Error::Verification(reason)) => reason,
        other => panic!("{what}: expected a verification failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_the_chain_verify_against_a_pinned_key() {
    const LOG: &str = "evidence";
    const N: u64 = 1_200;
    let dir = tempdir().unwrap();
    let server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, policy()).await.unwrap();
    let receipts = append_all(&client, LOG, &numbered("v", 0..N), 150).await;
    wait_for_sealed(&client, LOG, 2).await;

    let key = client.public_key().await.unwrap();
    let checkpoint = client.verified_checkpoint(LOG, &key).await.unwrap();
    assert_eq!((checkpoint.log.as_str(), checkpoint.size), (LOG, N));
    assert_eq!(checkpoint.public_key, key);
    assert_eq!(checkpoint.head, receipts.last().unwrap().chain_hash);

    // Another key, and a checkpoint whose signed facts were altered.
    assert_verification(
        client.verified_checkpoint(LOG, &[7u8; 32]).await,
        "a checkpoint checked with another key",
    );
    let mut shrunk = checkpoint.clone();
    shrunk.size -= 1;
    assert_verification(shrunk.verify_signature(&key), "an altered checkpoint");

    // Receipts of a sealed segment's first record, the middle and the head.
    for seq in [0, 3, 700, N - 1] {
        let report = client
            .verify_receipt(LOG, &receipts[seq as usize], &checkpoint)
            .await
            .unwrap_or_else(|e| panic!("receipt of seq {seq}: {e}"));
        assert_eq!((report.from_seq, report.records), (seq, N - seq));
    }

    // The whole chain from genesis, and from a later seq.
    let mut progress = Vec::new();
    let report = client
        .verify_chain(LOG, 0, &checkpoint, |n| progress.push(n))
        .await
        .unwrap();
    assert_eq!(report.records, checkpoint.size);
    assert_eq!((report.from_seq, report.redacted), (0, 0));
    assert!(report.body_bytes > 0);
    assert_eq!(progress.last(), Some(&N));
    let report = client
        .verify_chain(LOG, 600, &checkpoint, |_| {})
        .await
        .unwrap();
    assert_eq!(report.records, N - 600);

    // Tampered receipts.
    for seq in [3, N - 1] {
        let mut chain = receipts[seq as usize];
        chain.chain_hash[0] ^= 1;
        assert_verification(
            client.verify_receipt(LOG, &chain, &checkpoint).await,
            "a receipt with a flipped chain hash",
        );
        let mut leaf = receipts[seq as usize];
        leaf.leaf_hash[31] ^= 0x80;
        assert_verification(
            client.verify_receipt(LOG, &leaf, &checkpoint).await,
            "a receipt with a flipped leaf hash",
        );
        let mut moved = receipts[seq as usize];
        moved.seq -= 1;
        assert_verification(
            client.verify_receipt(LOG, &moved, &checkpoint).await,
            "a receipt naming another seq",
        );
    }

    // A receipt the checkpoint cannot cover is refused, and a later
    // checkpoint covers it and the old ones.
    let later = append_all(&client, LOG, &numbered("v", N..N + 5), 5).await;
    let reason = assert_verification(
        client.verify_receipt(LOG, &later[0], &checkpoint).await,
        "a receipt past the checkpoint",
    );
    assert!(reason.contains(&N.to_string()), "{reason}");
    let newer = client.verified_checkpoint(LOG, &key).await.unwrap();
    assert_eq!(newer.size, N + 5);
    for receipt in [&receipts[10], &later[4]] {
        client.verify_receipt(LOG, receipt, &newer).await.unwrap();
    }
    drop(server);
}
