//! Subscriptions end to end: a slow reader that falls behind and catches up
//! from sealed segments, resuming after a disconnect, live filtered events,
//! heartbeats, start positions, refusals, and shutdown.
//!
//! No sleep is an assertion here: waits are polls or reads with deadlines of
//! several seconds; the only sleeps pace the slow reader and the appenders.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Bearer, TestServer, event, eventually};
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::subscribe_request::Start;
use stele_proto::v1::subscribe_response::Item;
use stele_proto::v1::{self, SubscribeResponse};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

type Client = SteleClient<InterceptedService<Channel, Bearer>>;
type Stream = Streaming<SubscribeResponse>;

/// The log every test follows.
const LOG: &str = "audit";
/// How long any single expected thing may take to happen.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Creates `name` with `policy` (defaults when `None`).
async fn create(server: &TestServer, name: &str, policy: Option<v1::Policy>) {
    server
        .admin(None)
        .await
        .create_log(v1::CreateLogRequest {
            name: name.into(),
            policy,
        })
        .await
        .unwrap();
}

/// Appends one batch to `LOG`; returns the seqs.
async fn append(client: &mut Client, events: Vec<v1::Event>) -> Vec<u64> {
    client
        .append(v1::AppendRequest {
            log: LOG.into(),
            events,
            batch_id: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .receipts
        .iter()
        .map(|r| r.seq)
        .collect()
}

/// `n` events by alice, messages `"{prefix} {i}"`.
fn events(prefix: &str, n: usize) -> Vec<v1::Event> {
    (0..n)
        .map(|i| event("test.event", "alice", &format!("{prefix} {i}")))
        .collect()
}

/// A subscription request on `LOG`.
fn request(start: Option<Start>) -> v1::SubscribeRequest {
    v1::SubscribeRequest {
        log: LOG.into(),
        start,
        selection: None,
        heartbeat_ms: 0,
        include_body: false,
    }
}

/// A selection of exact filters.
fn filters(filters: &[(&str, &[&str])]) -> Option<v1::Selection> {
    Some(v1::Selection {
        filters: filters
            .iter()
            .map(|(field, values)| v1::Filter {
                field: (*field).into(),
                values: values.iter().map(|v| (*v).to_string()).collect(),
            })
            .collect(),
        ..Default::default()
    })
}

/// Opens a subscription.
/// Subscribes and takes the first message, which must be a heartbeat at
/// the start position (clamped to the log's first seq).
async fn subscribe(client: &mut Client, request: v1::SubscribeRequest) -> Stream {
    let start = request.start;
    let mut stream = client.subscribe(request).await.unwrap().into_inner();
    match next_item(&mut stream).await {
        Item::Heartbeat(beat) => {
            if let Some(Start::FromSeq(seq)) = start {
                assert_eq!(
                    beat.resume_seq, seq,
                    "the first heartbeat stands at the start"
                );
            }
        }
        Item::Record(record) => panic!(
            "the first message was record {}, not a heartbeat",
            record.seq
        ),
    }
    stream
}

/// The next item; fails the test if the stream fails, ends, or nothing
/// arrives before `deadline`.
async fn next_item_by(stream: &mut Stream, deadline: Instant) -> Item {
    let wait = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(wait, stream.message()).await {
        Err(_) => panic!("nothing arrived within the deadline"),
        Ok(Err(status)) => panic!("the subscription failed: {status:?}"),
        Ok(Ok(None)) => panic!("the subscription ended"),
        Ok(Ok(Some(response))) => response.item.expect("a response carries an item"),
    }
}

/// The next item within [`DEADLINE`].
async fn next_item(stream: &mut Stream) -> Item {
    next_item_by(stream, Instant::now() + DEADLINE).await
}

/// The next record within [`DEADLINE`], skipping heartbeats.
async fn next_record(stream: &mut Stream) -> v1::Record {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Item::Record(record) = next_item_by(stream, deadline).await {
            return record;
        }
    }
}

/// The next heartbeat within [`DEADLINE`]; fails on a record.
async fn next_heartbeat(stream: &mut Stream) -> v1::Heartbeat {
    match next_item(stream).await {
        Item::Heartbeat(beat) => beat,
        Item::Record(record) => panic!("expected a heartbeat, got record {}", record.seq),
    }
}

/// The message of a record's event.
fn message(record: &v1::Record) -> &str {
    &record.event.as_ref().expect("not redacted").message
}

/// The log's next seq, as the admin API reports it.
async fn next_seq(server: &TestServer) -> u64 {
    server
        .admin(None)
        .await
        .get_log(v1::GetLogRequest { name: LOG.into() })
        .await
        .unwrap()
        .into_inner()
        .next_seq
}

fn now_ns() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------
// 1. A slow subscriber falls far behind and catches up from sealed segments
// ---------------------------------------------------------------------------

/// Where the slow reader stalls until told to go fast.
const SLOW_UNTIL: u64 = 10_000;

/// Reads `total` records, checking each seq is the next one; slowly until
/// `fast` is set. Heartbeats must stand exactly after the last record (every
/// record matches).
async fn read_slowly(
    mut stream: Stream,
    total: u64,
    fast: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
) -> Vec<String> {
    let mut messages = Vec::with_capacity(usize::try_from(total).unwrap());
    let mut seen = 0u64;
    while seen < total {
        match next_item(&mut stream).await {
            Item::Record(record) => {
                assert_eq!(
                    record.seq, seen,
                    "after {seen} records in order, got seq {} (a gap or a duplicate)",
                    record.seq
                );
                messages.push(message(&record).to_string());
                seen += 1;
                received.store(seen, Ordering::SeqCst);
                // Slow: a pause every 100 records, and a stall at
                // `SLOW_UNTIL` (however slow the appends are on this machine).
                while seen.is_multiple_of(100) && !fast.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if seen < SLOW_UNTIL {
                        break;
                    }
                }
            }
            Item::Heartbeat(beat) => {
                assert_eq!(
                    beat.resume_seq, seen,
                    "heartbeat {beat:?} after {seen} records"
                );
                assert!(beat.head_seq >= beat.resume_seq, "{beat:?}");
            }
        }
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_gets_100k_events_in_order_catching_up_from_sealed_segments() {
    const TOTAL: u64 = 100_000;
    const BATCH: u64 = 1_000;
    const SEAL_AT: u64 = 20_000;
    let t0 = Instant::now();
    // A small read step: the subscription holds at most 64 records plus its
    // 64-slot channel, so the lag below is far beyond anything it buffers.
    let mut server = TestServer::with(|config| config.limits.subscribe_chunk = 64).await;
    create(
        &server,
        LOG,
        Some(v1::Policy {
            seal_max_records: SEAL_AT,
            ..Default::default()
        }),
    )
    .await;

    // Subscribed before the first append: it starts live and falls behind.
    let mut reader_client = server.client(None).await;
    let stream = subscribe(&mut reader_client, request(Some(Start::FromSeq(0)))).await;
    let fast = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(read_slowly(stream, TOTAL, fast.clone(), received.clone()));

    // 100 batches of 1,000 over one AppendStream (its own connection).
    let mut writer = server.client(None).await;
    let batches: Vec<v1::AppendRequest> = (0..TOTAL / BATCH)
        .map(|b| v1::AppendRequest {
            log: LOG.into(),
            events: (0..BATCH)
                .map(|i| event("load.test", "alice", &format!("event {}", b * BATCH + i)))
                .collect(),
            batch_id: b,
        })
        .collect();
    let mut answers = writer
        .append_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    // The message each seq must carry, from the receipts.
    let mut expected = vec![String::new(); usize::try_from(TOTAL).unwrap()];
    let mut answered = 0;
    while let Some(answer) = answers.message().await.unwrap() {
        assert!(answer.error.is_none(), "batch failed: {:?}", answer.error);
        assert_eq!(answer.receipts.len() as u64, BATCH);
        for (i, receipt) in answer.receipts.iter().enumerate() {
            let slot = &mut expected[usize::try_from(receipt.seq).unwrap()];
            assert!(slot.is_empty(), "seq {} given twice", receipt.seq);
            *slot = format!("event {}", answer.batch_id * BATCH + i as u64);
        }
        answered += 1;
    }
    assert_eq!(answered, TOTAL / BATCH);
    let appended_in = t0.elapsed();

    // Sealing happens in the background: wait until the first 80,000
    // records are in sealed segments.
    let admin = server.admin(None).await;
    let sealed = eventually("segments sealed", Duration::from_secs(30), || {
        let mut admin = admin.clone();
        async move {
            let segments = admin
                .list_segments(v1::ListSegmentsRequest { log: LOG.into() })
                .await
                .unwrap()
                .into_inner()
                .segments;
            let sealed: Vec<_> = segments
                .into_iter()
                .filter(|s| s.state == v1::SegmentState::Sealed as i32)
                .collect();
            (sealed.len() >= 4).then_some(sealed)
        }
    })
    .await;
    let behind_at = received.load(Ordering::SeqCst);
    let sealed_in = t0.elapsed();
    let last_sealed = sealed.last().unwrap();
    assert!(
        last_sealed.first_seq >= behind_at,
        "the reader had {behind_at} records when segment {}..{} was sealed: \
         it must replay it from the sealed file",
        last_sealed.first_seq,
        last_sealed.next_seq
    );
    // Far more than the subscription holds (a 64-record chunk and a
    // 64-slot channel).
    assert!(
        TOTAL - behind_at > 100 * (64 + 64),
        "the reader is only {} records behind",
        TOTAL - behind_at
    );

    // Now let it read at full speed: it catches up from storage.
    fast.store(true, Ordering::SeqCst);
    let messages = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader catches up within 60 s")
        .unwrap();
    assert_eq!(messages.len() as u64, TOTAL);
    for (seq, (got, want)) in messages.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "the record at seq {seq}");
    }
    eprintln!(
        "100k: appended in {appended_in:?}, sealed ({} sealed segments) at {sealed_in:?} with the \
         reader {} behind, all read at {:?}",
        sealed.len(),
        TOTAL - behind_at,
        t0.elapsed()
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 2. Disconnect and resume
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_a_disconnect_sees_every_seq_exactly_once() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    for b in 0..5 {
        append(&mut writer, events(&format!("initial {b}"), 100)).await;
    }
    // An appender that goes on until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let appender = tokio::spawn({
        let stop = stop.clone();
        let mut writer = writer.clone();
        async move {
            let mut batches = 0;
            while !stop.load(Ordering::SeqCst) {
                append(&mut writer, events(&format!("live {batches}"), 50)).await;
                batches += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let mut client = server.client(None).await;
    let mut seen: Vec<u64> = Vec::new();
    let mut first = subscribe(&mut client, request(Some(Start::FromSeq(0)))).await;
    while seen.len() < 700 {
        seen.push(next_record(&mut first).await.seq);
    }
    drop(first);
    // Appends go on while nobody is subscribed.
    let head_at_drop = next_seq(&server).await;
    eventually("appends while disconnected", DEADLINE, || {
        let server = &server;
        async move { (next_seq(server).await >= head_at_drop + 300).then_some(()) }
    })
    .await;

    let resume = seen.last().unwrap() + 1;
    let mut second = subscribe(&mut client, request(Some(Start::FromSeq(resume)))).await;
    // Some records live, then the appender stops.
    let target = seen.len() + 500;
    while seen.len() < target {
        seen.push(next_record(&mut second).await.seq);
    }
    stop.store(true, Ordering::SeqCst);
    appender.await.unwrap();
    let total = next_seq(&server).await;
    while (seen.len() as u64) < total {
        seen.push(next_record(&mut second).await.seq);
    }
    assert_eq!(seen, (0..total).collect::<Vec<_>>());
    // And nothing else was pending: the next record is the next append.
    let sentinel = append(&mut writer, events("sentinel", 1)).await;
    assert_eq!(next_record(&mut second).await.seq, sentinel[0]);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 3. Live events with filters
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_filtered_events_arrive_in_order_without_further_appends() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    // Matching, but before the subscription: not delivered.
    append(&mut writer, vec![event("git.push", "alice", "before")]).await;

    let mut client = server.client(None).await;
    let mut stream = subscribe(
        &mut client,
        v1::SubscribeRequest {
            selection: filters(&[("actor.id", &["alice"]), ("action", &["git.*"])]),
            ..request(Some(Start::FromNow(true)))
        },
    )
    .await;

    let no_actor = v1::Event {
        action: "git.push".into(),
        message: "nobody pushed".into(),
        ..Default::default()
    };
    let first = vec![
        event("git.push", "alice", "m1"),
        event("git.push", "bob", "bob pushed"),
        event("gitlab.push", "alice", "not the git. prefix"),
        event("git.clone", "alice", "m2"),
        event("user.login", "alice", "alice logged in"),
        no_actor,
        event("git.push", "alicia", "another actor"),
    ];
    let second = vec![
        event("repo.delete", "alice", "alice deleted"),
        event("git.push.force", "alice", "m3"),
        event("git.push", "carol", "carol pushed"),
        event("git.tag", "alice", "m4"),
    ];
    let first_seqs = append(&mut writer, first).await;
    let second_seqs = append(&mut writer, second).await;
    let want = [
        (first_seqs[0], "m1"),
        (first_seqs[3], "m2"),
        (second_seqs[1], "m3"),
        (second_seqs[3], "m4"),
    ];
    // They arrive with no further append.
    for (seq, text) in want {
        let record = next_record(&mut stream).await;
        assert_eq!((record.seq, message(&record)), (seq, text));
        let event = record.event.as_ref().unwrap();
        assert_eq!(event.actor.as_ref().unwrap().id, "alice");
        assert!(event.action.starts_with("git."));
    }
    // Nothing else was delivered in between or is pending: the next record
    // is the next matching append.
    let sentinel = append(
        &mut writer,
        vec![
            event("git.push", "bob", "no"),
            event("git.fetch", "alice", "sentinel"),
        ],
    )
    .await;
    let record = next_record(&mut stream).await;
    assert_eq!((record.seq, message(&record)), (sentinel[1], "sentinel"));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 4. Heartbeats
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_report_the_head_and_where_the_subscription_stands() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    append(&mut writer, events("first", 10)).await;
    let mut client = server.client(None).await;

    // Caught up and idle: heartbeats every 100 ms at the head.
    let mut stream = subscribe(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 100,
            ..request(Some(Start::FromSeq(0)))
        },
    )
    .await;
    for seq in 0..10 {
        assert_eq!(next_record(&mut stream).await.seq, seq);
    }
    let head = next_seq(&server).await;
    assert_eq!(head, 10);
    let started = Instant::now();
    for _ in 0..5 {
        let beat = next_heartbeat(&mut stream).await;
        assert_eq!((beat.head_seq, beat.resume_seq), (head, head));
    }
    // Five beats at 100 ms, not at the 1 s default.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "five heartbeats took {:?}",
        started.elapsed()
    );
    drop(stream);

    // A filter that matches nothing: no record, but the heartbeats move
    // resume_seq past the records examined.
    let mut stream = subscribe(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 100,
            selection: filters(&[("actor.id", &["nobody"])]),
            ..request(Some(Start::FromSeq(0)))
        },
    )
    .await;
    let beat = next_heartbeat(&mut stream).await;
    assert_eq!((beat.head_seq, beat.resume_seq), (10, 10));
    append(&mut writer, events("more", 20)).await;
    let head = next_seq(&server).await;
    assert_eq!(head, 30);
    let deadline = Instant::now() + DEADLINE;
    loop {
        match next_item_by(&mut stream, deadline).await {
            Item::Record(record) => panic!("record {} does not match", record.seq),
            Item::Heartbeat(beat) => {
                assert!(beat.resume_seq <= beat.head_seq, "{beat:?}");
                assert!(beat.resume_seq >= 10, "{beat:?}");
                if beat.resume_seq == head {
                    assert_eq!(beat.head_seq, head);
                    break;
                }
            }
        }
    }
    drop(stream);

    // Resuming there does not rescan: the first record delivered is the
    // next one that matches.
    let matching = append(&mut writer, vec![event("x.y", "nobody", "at last")]).await;
    let mut stream = subscribe(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 100,
            selection: filters(&[("actor.id", &["nobody"])]),
            ..request(Some(Start::FromSeq(head)))
        },
    )
    .await;
    let record = next_record(&mut stream).await;
    assert_eq!((record.seq, message(&record)), (matching[0], "at last"));
    let beat = next_heartbeat(&mut stream).await;
    assert_eq!((beat.head_seq, beat.resume_seq), (31, 31));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 5. Start positions
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_from_an_ingest_time() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    let before_all = now_ns();
    let a = append(&mut writer, events("a", 10)).await;
    // A sits in a sealed segment, B in the active one.
    server
        .admin(None)
        .await
        .seal(v1::SealRequest { log: LOG.into() })
        .await
        .unwrap();
    let between = now_ns();
    let b = append(&mut writer, events("b", 10)).await;
    let mut client = server.client(None).await;

    let mut stream = subscribe(&mut client, request(Some(Start::FromIngestTimeNs(between)))).await;
    for &seq in &b {
        let record = next_record(&mut stream).await;
        assert_eq!(record.seq, seq);
        assert!(record.ingest_time_ns >= between);
    }

    // Before everything: from the first record.
    let mut stream = subscribe(
        &mut client,
        request(Some(Start::FromIngestTimeNs(before_all))),
    )
    .await;
    for &seq in a.iter().chain(&b) {
        assert_eq!(next_record(&mut stream).await.seq, seq);
    }

    // After everything: like "now", the next append comes first.
    let mut stream = subscribe(
        &mut client,
        request(Some(Start::FromIngestTimeNs(now_ns()))),
    )
    .await;
    let c = append(&mut writer, events("c", 3)).await;
    for &seq in &c {
        assert_eq!(next_record(&mut stream).await.seq, seq);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_from_a_seq_beyond_the_head_waits_for_it() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    append(&mut writer, events("a", 20)).await;
    let mut client = server.client(None).await;
    let mut stream = subscribe(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 100,
            ..request(Some(Start::FromSeq(25)))
        },
    )
    .await;
    // Waiting: heartbeats, no record.
    let beat = next_heartbeat(&mut stream).await;
    assert_eq!((beat.head_seq, beat.resume_seq), (20, 25));
    let seqs = append(&mut writer, events("b", 10)).await;
    assert_eq!(seqs, (20..30).collect::<Vec<_>>());
    for seq in 25..30 {
        let record = next_record(&mut stream).await;
        assert_eq!(record.seq, seq);
        assert_eq!(message(&record), format!("b {}", seq - 20));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_start_means_from_now() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    append(&mut writer, events("old", 20)).await;
    let mut client = server.client(None).await;
    for start in [None, Some(Start::FromNow(true))] {
        let mut stream = subscribe(&mut client, request(start)).await;
        let new = append(&mut writer, events("new", 2)).await;
        for &seq in &new {
            let record = next_record(&mut stream).await;
            assert_eq!(record.seq, seq, "start {start:?}");
            assert!(message(&record).starts_with("new"));
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 6. Refusals
// ---------------------------------------------------------------------------

/// The status a subscription request is refused with.
async fn refused(client: &mut Client, request: v1::SubscribeRequest) -> Status {
    match client.subscribe(request).await {
        Ok(_) => panic!("the subscription was accepted"),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused() {
    let mut server = TestServer::open().await;
    create(&server, LOG, None).await;
    let mut client = server.client(None).await;

    let status = refused(
        &mut client,
        v1::SubscribeRequest {
            selection: Some(v1::Selection {
                text: "actor:(alice".into(),
                ..Default::default()
            }),
            ..request(None)
        },
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("text"), "{status:?}");

    let status = refused(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 10,
            ..request(None)
        },
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("heartbeat_ms"), "{status:?}");

    let status = refused(
        &mut client,
        v1::SubscribeRequest {
            log: "nope".into(),
            ..request(None)
        },
    )
    .await;
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("nope"), "{status:?}");

    let status = refused(
        &mut client,
        v1::SubscribeRequest {
            selection: filters(&[("color", &["red"])]),
            ..request(None)
        },
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("selection.filters[0].field"),
        "{status:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_limit_is_enforced_and_slots_free_on_disconnect() {
    let mut server = TestServer::with(|config| config.limits.max_subscribers = 2).await;
    create(&server, LOG, None).await;
    let mut client = server.client(None).await;
    // Refused requests do not hold a slot.
    for _ in 0..3 {
        let status = refused(
            &mut client,
            v1::SubscribeRequest {
                log: "nope".into(),
                ..request(None)
            },
        )
        .await;
        assert_eq!(status.code(), Code::NotFound);
    }
    let first = subscribe(&mut client, request(None)).await;
    let mut second = subscribe(&mut client, request(Some(Start::FromSeq(0)))).await;
    let status = refused(&mut client, request(None)).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("limits.max_subscribers"),
        "{status:?}"
    );

    // The first goes away: its slot frees once the server notices.
    drop(first);
    let mut third = eventually("a slot frees", DEADLINE, || {
        let mut client = client.clone();
        async move {
            match client.subscribe(request(Some(Start::FromSeq(0)))).await {
                Ok(stream) => Some(stream.into_inner()),
                Err(status) => {
                    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    None
                }
            }
        }
    })
    .await;
    // Full again.
    let status = refused(&mut client, request(None)).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // Both open subscriptions work.
    let mut writer = server.client(None).await;
    let seqs = append(&mut writer, events("x", 1)).await;
    assert_eq!(next_record(&mut second).await.seq, seqs[0]);
    assert_eq!(next_record(&mut third).await.seq, seqs[0]);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// 7. Shutdown
// ---------------------------------------------------------------------------

/// Reads records until the stream ends; returns their seqs and the status
/// it ended with.
async fn until_end(mut stream: Stream) -> (Vec<u64>, Option<Status>) {
    let mut seqs = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(SubscribeResponse {
                item: Some(Item::Record(record)),
            })) => seqs.push(record.seq),
            Ok(Some(_)) => {}
            Ok(None) => return (seqs, None),
            Err(status) => return (seqs, Some(status)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_subscriptions_with_unavailable_and_the_resume_seq() {
    // A long grace: the stop below must not wait for it.
    let mut server =
        TestServer::with(|config| config.shutdown_grace = Duration::from_secs(30)).await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    append(&mut writer, events("a", 20)).await;
    let mut client = server.client(None).await;

    // Caught up at the head.
    let mut at_head = subscribe(&mut client, request(Some(Start::FromSeq(0)))).await;
    for seq in 0..20 {
        assert_eq!(next_record(&mut at_head).await.seq, seq);
    }
    // Filtered, matching nothing: examined everything, delivered nothing.
    let mut filtered = subscribe(
        &mut client,
        v1::SubscribeRequest {
            heartbeat_ms: 50,
            selection: filters(&[("actor.id", &["nobody"])]),
            ..request(Some(Start::FromSeq(0)))
        },
    )
    .await;
    let beat = next_heartbeat(&mut filtered).await;
    assert_eq!(beat.resume_seq, 20);
    // Waiting beyond the head.
    let ahead = subscribe(&mut client, request(Some(Start::FromSeq(25)))).await;
    // Far behind, in the middle of a replay (on another log).
    create(&server, "backlog", None).await;
    for b in 0..10 {
        writer
            .append(v1::AppendRequest {
                log: "backlog".into(),
                events: events(&format!("backlog {b}"), 2_000),
                batch_id: b,
            })
            .await
            .unwrap();
    }
    let mut behind = subscribe(
        &mut client,
        v1::SubscribeRequest {
            log: "backlog".into(),
            ..request(Some(Start::FromSeq(0)))
        },
    )
    .await;
    assert_eq!(next_record(&mut behind).await.seq, 0);

    let readers = [
        tokio::spawn(until_end(at_head)),
        tokio::spawn(until_end(filtered)),
        tokio::spawn(until_end(ahead)),
    ];
    let behind = tokio::spawn(until_end(behind));
    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(8), server.stop())
        .await
        .expect("shutdown does not wait for the subscriptions' grace period");
    // The one replaying got a contiguous run, and the seq to resume from is
    // right after it, whenever the shutdown caught it.
    let (seqs, status) = tokio::time::timeout(DEADLINE, behind)
        .await
        .expect("the stream ends")
        .unwrap();
    let status = status.expect("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let resume = seqs.len() as u64 + 1;
    assert_eq!(seqs, (1..resume).collect::<Vec<_>>());
    assert!(
        status
            .message()
            .contains(&format!("resume from seq {resume}")),
        "after {} records: {status:?}",
        seqs.len() + 1
    );
    for (reader, resume) in readers.into_iter().zip([20, 20, 25]) {
        let (seqs, status) = tokio::time::timeout(DEADLINE, reader)
            .await
            .expect("the stream ends")
            .unwrap();
        assert!(seqs.is_empty(), "records after shutdown: {seqs:?}");
        let status = status.expect("the stream ends with a status");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(
            status
                .message()
                .contains(&format!("resume from seq {resume}")),
            "{status:?}"
        );
    }
    eprintln!("shutdown took {:?}", stopping.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stopped_reading_does_not_hold_up_shutdown() {
    let mut server = TestServer::with(|config| {
        config.shutdown_grace = Duration::from_secs(30);
        config.limits.subscribe_chunk = 16;
    })
    .await;
    create(&server, LOG, None).await;
    let mut writer = server.client(None).await;
    let mut client = server.client(None).await;
    // Subscribed, then never read: the server's side fills up and waits.
    let stuck = subscribe(&mut client, request(Some(Start::FromSeq(0)))).await;
    for _ in 0..5 {
        append(&mut writer, events("backlog", 2_000)).await;
    }
    tokio::time::timeout(Duration::from_secs(8), server.stop())
        .await
        .expect("shutdown does not wait for a subscriber that stopped reading");
    drop(stuck);
}
