//! Every RPC of `stele.v1.Stele` and `stele.v1.Admin`, end to end against a
//! server on an ephemeral port: receipts and the chain, bad input, retries
//! (also across a restart), append streams, queries, aggregations, records,
//! checkpoints, verification, admin calls and their `_system` trail, the
//! request size limit, health and reflection.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{Bearer, TestServer, create_log, event, events_until_caught_up, eventually, verify};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use stele_engine::chain;
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, aggregate_request, aggregate_response};
use stele_server::config::Config;
use stele_server::serve;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = SteleClient<InterceptedService<Channel, Bearer>>;
type Admin = AdminClient<InterceptedService<Channel, Bearer>>;

/// 2023-11-14T22:13:20Z, a multiple of 10 s: histogram buckets line up.
const T0: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;
/// How long anything asynchronous (indexing, `_system` writes) may take.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn append_request(log: &str, events: Vec<v1::Event>, batch_id: u64) -> v1::AppendRequest {
    v1::AppendRequest {
        log: log.into(),
        events,
        batch_id,
    }
}

async fn append(
    client: &mut Client,
    log: &str,
    events: Vec<v1::Event>,
    batch_id: u64,
) -> Result<v1::AppendResponse, tonic::Status> {
    client
        .append(append_request(log, events, batch_id))
        .await
        .map(tonic::Response::into_inner)
}

/// `n` simple events `prefix 0`, `prefix 1`, ...
fn events(n: usize, prefix: &str) -> Vec<v1::Event> {
    (0..n)
        .map(|i| event("test.append", "tester", &format!("{prefix} {i}")))
        .collect()
}

fn with_id(mut e: v1::Event, id: &str) -> v1::Event {
    e.id = id.into();
    e
}

fn seqs(receipts: &[v1::Receipt]) -> Vec<u64> {
    receipts.iter().map(|r| r.seq).collect()
}

async fn create_log_with(server: &TestServer, name: &str, policy: v1::Policy) -> v1::LogInfo {
    server
        .admin(None)
        .await
        .create_log(v1::CreateLogRequest {
            name: name.into(),
            policy: Some(policy),
        })
        .await
        .unwrap()
        .into_inner()
}

/// A policy whose index commits every 50 ms.
fn fast_index() -> v1::Policy {
    v1::Policy {
        index_commit_interval_ms: 50,
        ..v1::Policy::default()
    }
}

async fn get_log(admin: &mut Admin, name: &str) -> v1::LogInfo {
    admin
        .get_log(v1::GetLogRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn next_seq(server: &TestServer, log: &str) -> u64 {
    get_log(&mut server.admin(None).await, log).await.next_seq
}

async fn list_segments(admin: &mut Admin, log: &str) -> Vec<v1::SegmentInfo> {
    admin
        .list_segments(v1::ListSegmentsRequest { log: log.into() })
        .await
        .unwrap()
        .into_inner()
        .segments
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{} bytes is not a 32-byte hash", bytes.len()))
}

/// Checks that each receipt links to the previous chain hash: receipt `i`'s
/// chain hash is `SHA-256(0x02 || prev || leaf_i)`. Returns the last one.
fn check_chain(prev: [u8; 32], receipts: &[v1::Receipt]) -> [u8; 32] {
    let mut prev = prev;
    for r in receipts {
        let leaf = hash(&r.leaf_hash);
        let chain = hash(&r.chain_hash);
        let mut input = vec![0x02];
        input.extend_from_slice(&prev);
        input.extend_from_slice(&leaf);
        let by_hand: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(chain, by_hand, "chain hash of seq {}", r.seq);
        assert_eq!(chain, chain::link(&prev, &leaf), "seq {}", r.seq);
        prev = chain;
    }
    prev
}

fn genesis(info: &v1::LogInfo) -> [u8; 32] {
    let log_id: [u8; 16] = info.log_id.as_slice().try_into().expect("16-byte log id");
    chain::genesis(&log_id)
}

/// Starts a new server on the directory of `server`, after stopping it.
async fn restart(server: &mut TestServer) {
    server.stop().await;
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: server.dir.path().to_path_buf(),
        ..Config::default()
    };
    let running = serve::start(config).await.unwrap();
    server.endpoint = format!("http://{}", running.addr());
    server.running = Some(running);
}

/// Every event of `_system` visible now: subscribes from seq 0 and reads
/// until a heartbeat says the subscription is caught up.
async fn system_events(client: &mut Client) -> Vec<v1::Event> {
    let stream = client
        .subscribe(v1::SubscribeRequest {
            log: "_system".into(),
            start: Some(v1::subscribe_request::Start::FromSeq(0)),
            selection: None,
            heartbeat_ms: 50,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner();
    events_until_caught_up(stream, DEADLINE).await
}

fn status_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Status {
    result.expect_err("the call should fail")
}

/// Asserts the code of a failed call and that its message mentions `names`.
fn assert_status<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, names: &str) {
    let status = status_of(result);
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(names),
        "the message should name `{names}`: {status:?}"
    );
}

// ---------------------------------------------------------------------------
// Append
// ---------------------------------------------------------------------------

#[tokio::test]
async fn append_returns_contiguous_chained_receipts() {
    let mut server = TestServer::open().await;
    let info = create_log(&server, None, "audit").await;
    assert_eq!(info.log_id.len(), 16);
    assert_eq!(info.head, genesis(&info), "an empty log's head is genesis");
    let mut client = server.client(None).await;

    let first = append(&mut client, "audit", events(3, "first"), 7)
        .await
        .unwrap();
    assert_eq!(first.batch_id, 7);
    assert!(first.error.is_none());
    assert_eq!(seqs(&first.receipts), [0, 1, 2]);
    for r in &first.receipts {
        assert_eq!(r.leaf_hash.len(), 32);
        assert_eq!(r.chain_hash.len(), 32);
        assert!(!r.duplicate);
    }
    let head = check_chain(genesis(&info), &first.receipts);

    let second = append(&mut client, "audit", events(2, "second"), u64::MAX)
        .await
        .unwrap();
    assert_eq!(second.batch_id, u64::MAX);
    assert_eq!(seqs(&second.receipts), [3, 4]);
    let head = check_chain(head, &second.receipts);

    let info = get_log(&mut server.admin(None).await, "audit").await;
    assert_eq!(info.next_seq, 5);
    assert_eq!(
        info.head, head,
        "GetLog's head is the last receipt's chain hash"
    );

    // GetRecord gives back the same receipt and a body whose digest and leaf
    // hash we recompute.
    for r in first.receipts.iter().chain(&second.receipts) {
        let got = client
            .get_record(v1::GetRecordRequest {
                log: "audit".into(),
                seq: r.seq,
                include_body: true,
            })
            .await
            .unwrap()
            .into_inner();
        let record = got.record.unwrap();
        assert_eq!(got.receipt.as_ref(), Some(r), "receipt of seq {}", r.seq);
        assert_eq!(record.seq, r.seq);
        assert!(!record.redacted);
        assert!(!record.body.is_empty());
        let digest: [u8; 32] = Sha256::digest(&record.body).into();
        assert_eq!(record.body_digest, digest, "body_digest = SHA-256(body)");
        assert_eq!(
            r.leaf_hash,
            chain::leaf_hash(record.seq, record.ingest_time_ns, &digest),
            "leaf hash of seq {}",
            r.seq
        );
        let expected = if r.seq < 3 {
            format!("first {}", r.seq)
        } else {
            format!("second {}", r.seq - 3)
        };
        let event = record.event.unwrap();
        assert_eq!(event.message, expected);
        assert_eq!(event.action, "test.append");
        assert!(!event.id.is_empty(), "the server assigns an id");
    }
    // Without include_body the body is left out, the digest is not.
    let record = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 0,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(record.body.is_empty());
    assert_eq!(record.body_digest.len(), 32);
    let past_head = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 5,
            include_body: false,
        })
        .await;
    assert_eq!(status_of(past_head).code(), Code::OutOfRange);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn bad_batches_are_refused_naming_the_field_and_store_nothing() {
    let mut server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    append(&mut client, "audit", events(2, "ok"), 1)
        .await
        .unwrap();

    let good = || event("user.login", "alice", "alice logged in");
    let no_action = v1::Event {
        action: String::new(),
        ..good()
    };
    let array_details = v1::Event {
        details_json: "[1, 2]".into(),
        ..good()
    };
    let broken_details = v1::Event {
        details_json: "{\"a\":".into(),
        ..good()
    };
    let bad_outcome = v1::Event {
        outcome: 42,
        ..good()
    };
    let bad_actor_kind = v1::Event {
        actor: Some(v1::Actor {
            id: "alice".into(),
            kind: 9,
            ..Default::default()
        }),
        ..good()
    };
    for (bad, field) in [
        (no_action, "events[1].action"),
        (array_details, "events[1].details_json"),
        (broken_details, "events[1].details_json"),
        (bad_outcome, "events[1].outcome"),
        (bad_actor_kind, "events[1].actor.kind"),
    ] {
        let result = append(&mut client, "audit", vec![good(), bad, good()], 2).await;
        assert_status(result, Code::InvalidArgument, field);
        assert_eq!(
            next_seq(&server, "audit").await,
            2,
            "a batch with a bad event ({field}) stores nothing"
        );
    }

    assert_status(
        append(&mut client, "nope", vec![good()], 3).await,
        Code::NotFound,
        "nope",
    );
    assert_status(
        append(&mut client, "_system", vec![good()], 4).await,
        Code::PermissionDenied,
        "_system",
    );
    // The log still takes good batches, right after the last good one.
    let ok = append(&mut client, "audit", vec![good()], 5).await.unwrap();
    assert_eq!(seqs(&ok.receipts), [2]);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn retries_with_client_ids_get_the_original_receipts() {
    let mut server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let batch = || {
        vec![
            with_id(event("git.push", "alice", "push 1"), "evt-1"),
            with_id(event("git.push", "alice", "push 2"), "evt-2"),
        ]
    };
    let original = append(&mut client, "audit", batch(), 1).await.unwrap();
    assert_eq!(seqs(&original.receipts), [0, 1]);
    assert!(original.receipts.iter().all(|r| !r.duplicate));

    // The same batch again, in a second call.
    let retry = append(&mut client, "audit", batch(), 2).await.unwrap();
    assert_eq!(retry.batch_id, 2);
    assert_eq!(retry.receipts.len(), 2);
    for (again, first) in retry.receipts.iter().zip(&original.receipts) {
        assert!(again.duplicate, "{again:?}");
        assert_eq!(
            v1::Receipt {
                duplicate: false,
                ..again.clone()
            },
            *first
        );
    }
    assert_eq!(next_seq(&server, "audit").await, 2);

    // A duplicate inside one batch, next to an old id and a new one.
    let mixed = append(
        &mut client,
        "audit",
        vec![
            with_id(event("git.push", "bob", "push 3"), "evt-3"),
            with_id(event("git.push", "bob", "push 3"), "evt-3"),
            with_id(event("git.push", "alice", "push 1"), "evt-1"),
            event("git.push", "carol", "no id: always new"),
        ],
        3,
    )
    .await
    .unwrap();
    let r = &mixed.receipts;
    assert_eq!(seqs(r), [2, 2, 0, 3]);
    assert_eq!(
        r.iter().map(|r| r.duplicate).collect::<Vec<_>>(),
        [false, true, true, false]
    );
    assert_eq!(r[1].chain_hash, r[0].chain_hash);
    assert_eq!(r[1].leaf_hash, r[0].leaf_hash);
    assert_eq!(r[2].chain_hash, original.receipts[0].chain_hash);
    assert_eq!(next_seq(&server, "audit").await, 4);

    // Across a restart.
    drop(client);
    restart(&mut server).await;
    let mut client = server.client(None).await;
    let after = append(&mut client, "audit", batch(), 4).await.unwrap();
    for (again, first) in after.receipts.iter().zip(&original.receipts) {
        assert!(again.duplicate, "after a restart: {again:?}");
        assert_eq!(again.seq, first.seq);
        assert_eq!(again.leaf_hash, first.leaf_hash);
        assert_eq!(again.chain_hash, first.chain_hash);
    }
    assert_eq!(next_seq(&server, "audit").await, 4);
    let fresh = append(&mut client, "audit", events(1, "after restart"), 5)
        .await
        .unwrap();
    assert_eq!(seqs(&fresh.receipts), [4]);
    assert!(!fresh.receipts[0].duplicate);
    drop(client);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// AppendStream
// ---------------------------------------------------------------------------

/// Sends 50 batches of 2 events on one stream without waiting and reads the
/// 50 answers; returns them with the log's genesis hash.
async fn stream_50_batches(server: &TestServer) -> (Vec<v1::AppendResponse>, [u8; 32]) {
    let info = create_log(server, None, "audit").await;
    let mut client = server.client(None).await;
    let requests: Vec<_> = (0..50u64)
        .map(|b| append_request("audit", events(2, &format!("batch {b}")), 1000 + b))
        .collect();
    let mut responses = client
        .append_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(response) = responses.message().await.unwrap() {
        got.push(response);
    }
    assert_eq!(got.len(), 50, "one answer per batch");
    for (b, response) in got.iter().enumerate() {
        assert_eq!(
            response.batch_id,
            1000 + b as u64,
            "answers come in batch order"
        );
        assert!(response.error.is_none(), "{response:?}");
        let s = seqs(&response.receipts);
        assert_eq!(s.len(), 2);
        assert_eq!(s[1], s[0] + 1, "a batch's seqs are contiguous");
    }
    (got, genesis(&info))
}

#[tokio::test]
async fn append_stream_appends_in_send_order_and_answers_in_order() {
    let mut server = TestServer::open().await;
    let (got, genesis) = stream_50_batches(&server).await;
    // Batches wait for durability together, but their seqs follow the
    // stream: batch b holds seqs 2b and 2b + 1, and the receipts chain.
    let mut head = genesis;
    for (b, response) in got.iter().enumerate() {
        let b = b as u64;
        assert_eq!(seqs(&response.receipts), [2 * b, 2 * b + 1]);
        head = check_chain(head, &response.receipts);
    }
    let info = get_log(&mut server.admin(None).await, "audit").await;
    assert_eq!(info.next_seq, 100);
    assert_eq!(info.head, head);
    // Each answer's receipts are those of its own batch's events.
    let mut client = server.client(None).await;
    for response in [&got[0], &got[17], &got[49]] {
        let b = response.batch_id - 1000;
        for (i, r) in response.receipts.iter().enumerate() {
            let record = client
                .get_record(v1::GetRecordRequest {
                    log: "audit".into(),
                    seq: r.seq,
                    include_body: false,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(record.receipt.as_ref(), Some(r));
            let message = record.record.unwrap().event.unwrap().message;
            assert_eq!(message, format!("batch {b} {i}"));
        }
    }
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn append_stream_reports_failed_batches_in_band_and_goes_on() {
    let mut server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let bad = v1::Event {
        details_json: "\"not an object\"".into(),
        ..event("user.login", "alice", "bad")
    };
    let requests = vec![
        append_request("audit", events(2, "one"), 1),
        append_request("audit", vec![event("x.y", "a", "fine"), bad], 2),
        append_request("audit", events(1, "three"), 3),
        append_request("_system", events(1, "four"), 4),
        append_request("missing", events(1, "five"), 5),
        append_request("audit", vec![event("", "a", "no action")], 6),
        append_request("audit", events(3, "seven"), 7),
    ];
    let mut responses = client
        .append_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(response) = responses.message().await.unwrap() {
        got.push(response);
    }
    let summary: Vec<(u64, usize, Option<i32>)> = got
        .iter()
        .map(|r| {
            (
                r.batch_id,
                r.receipts.len(),
                r.error.as_ref().map(|e| e.code),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, 2, None),
            (2, 0, Some(Code::InvalidArgument as i32)),
            (3, 1, None),
            (4, 0, Some(Code::PermissionDenied as i32)),
            (5, 0, Some(Code::NotFound as i32)),
            (6, 0, Some(Code::InvalidArgument as i32)),
            (7, 3, None),
        ]
    );
    // The failed batches stored nothing: the good ones used seqs 0..6.
    let mut stored: Vec<u64> = got.iter().flat_map(|r| seqs(&r.receipts)).collect();
    stored.sort_unstable();
    assert_eq!(stored, [0, 1, 2, 3, 4, 5]);
    assert_eq!(Code::InvalidArgument as i32, 3);
    assert_eq!(Code::PermissionDenied as i32, 7);
    let message = |i: usize| got[i].error.as_ref().unwrap().message.clone();
    assert!(
        message(1).contains("events[1].details_json"),
        "{}",
        message(1)
    );
    assert!(message(3).contains("_system"), "{}", message(3));
    assert!(message(5).contains("events[0].action"), "{}", message(5));
    assert_eq!(next_seq(&server, "audit").await, 6);
    drop(client);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Query and Aggregate
// ---------------------------------------------------------------------------

/// One event of the search corpus, as the test knows it.
#[derive(Debug, Clone)]
struct Spec {
    seq: u64,
    time: i64,
    action: &'static str,
    actor: &'static str,
    tenant: &'static str,
    outcome: v1::Outcome,
    message: String,
    branch: &'static str,
}

const CORPUS: usize = 30;

/// 30 events whose event times are a permutation of T0 + 0..30 s (so time
/// order differs from seq order), with uneven action counts.
fn corpus() -> Vec<Spec> {
    (0..CORPUS)
        .map(|i| {
            let action = match i {
                0..12 => "git.push",
                12..20 => "git.clone",
                20..26 => "workflow.delete",
                26..29 => "user.login",
                _ => "github.sync",
            };
            let actor = ["alice", "bob", "carol"][i % 3];
            let message = if action == "workflow.delete" {
                format!("{actor} deleted workflow {i}")
            } else {
                format!("{actor} performed {action} number {i}")
            };
            Spec {
                seq: i as u64,
                time: T0 + ((i as i64 * 7) % CORPUS as i64) * SECOND,
                action,
                actor,
                tenant: ["", "acme", "acme", "globex"][i % 4],
                outcome: if i % 2 == 0 {
                    v1::Outcome::Success
                } else {
                    v1::Outcome::Failure
                },
                message,
                branch: if i % 3 == 0 { "main" } else { "dev" },
            }
        })
        .collect()
}

fn spec_event(s: &Spec) -> v1::Event {
    v1::Event {
        time_ns: Some(s.time),
        tenant: s.tenant.into(),
        outcome: s.outcome.into(),
        details_json: format!("{{\"branch\":\"{}\"}}", s.branch),
        ..event(s.action, s.actor, &s.message)
    }
}

/// A log holding the corpus, fully searchable.
async fn corpus_server() -> (TestServer, Client, Vec<Spec>) {
    let server = TestServer::open().await;
    create_log_with(&server, "search", fast_index()).await;
    let mut client = server.client(None).await;
    let specs = corpus();
    // Three batches, so the index commits more than once along the way.
    for (b, chunk) in specs.chunks(10).enumerate() {
        let response = append(
            &mut client,
            "search",
            chunk.iter().map(spec_event).collect(),
            b as u64,
        )
        .await
        .unwrap();
        assert_eq!(
            seqs(&response.receipts),
            chunk.iter().map(|s| s.seq).collect::<Vec<_>>()
        );
    }
    let probe = client.clone();
    eventually("every record to be searchable", DEADLINE, move || {
        let mut c = probe.clone();
        async move {
            let count = count(&mut c, "search", None).await.unwrap();
            (count == CORPUS as u64).then_some(())
        }
    })
    .await;
    (server, client, specs)
}

fn filter(field: &str, values: &[&str]) -> v1::Filter {
    v1::Filter {
        field: field.into(),
        values: values.iter().map(|v| (*v).to_string()).collect(),
    }
}

/// Every page of a query, following cursors; returns the seqs in order.
async fn query_all(
    client: &mut Client,
    selection: &v1::Selection,
    order: v1::Order,
    limit: u32,
) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..=CORPUS + 1 {
        let page = client
            .query(v1::QueryRequest {
                log: "search".into(),
                selection: Some(selection.clone()),
                order: order.into(),
                limit,
                cursor: cursor.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(limit == 0 || page.records.len() <= limit as usize);
        assert_eq!(page.stats.unwrap().snapshot, CORPUS as u64);
        out.extend(page.records.iter().map(|r| r.seq));
        if page.next_cursor.is_empty() {
            return out;
        }
        cursor = page.next_cursor;
    }
    panic!("paging does not end: {out:?}");
}

/// The seqs of `specs` matching `keep`, in `order`.
fn expected(specs: &[Spec], order: v1::Order, keep: impl Fn(&Spec) -> bool) -> Vec<u64> {
    let mut matching: Vec<&Spec> = specs.iter().filter(|s| keep(s)).collect();
    matching.sort_by_key(|s| (s.time, s.seq));
    if order != v1::Order::OldestFirst {
        matching.reverse();
    }
    matching.iter().map(|s| s.seq).collect()
}

#[tokio::test]
async fn query_filters_time_text_order_and_pages() {
    let (mut server, mut client, specs) = corpus_server().await;
    type Keep = Box<dyn Fn(&Spec) -> bool>;
    let cases: Vec<(&str, v1::Selection, Keep)> = vec![
        ("everything", v1::Selection::default(), Box::new(|_| true)),
        (
            "action = git.push",
            v1::Selection {
                filters: vec![filter("action", &["git.push"])],
                ..Default::default()
            },
            Box::new(|s| s.action == "git.push"),
        ),
        (
            "action = git.* (a prefix, not github.*)",
            v1::Selection {
                filters: vec![filter("action", &["git.*"])],
                ..Default::default()
            },
            Box::new(|s| s.action.starts_with("git.")),
        ),
        (
            "actor in (alice, bob) and action git.*",
            v1::Selection {
                filters: vec![
                    filter("actor.id", &["alice", "bob"]),
                    filter("action", &["git.*"]),
                ],
                ..Default::default()
            },
            Box::new(|s| s.actor != "carol" && s.action.starts_with("git.")),
        ),
        (
            "outcome = failure, tenant = acme",
            v1::Selection {
                filters: vec![filter("outcome", &["failure"]), filter("tenant", &["acme"])],
                ..Default::default()
            },
            Box::new(|s| s.outcome == v1::Outcome::Failure && s.tenant == "acme"),
        ),
        (
            "time in [T0+5s, T0+12s)",
            v1::Selection {
                from_time_ns: Some(T0 + 5 * SECOND),
                to_time_ns: Some(T0 + 12 * SECOND),
                ..Default::default()
            },
            Box::new(|s| (T0 + 5 * SECOND..T0 + 12 * SECOND).contains(&s.time)),
        ),
        (
            "text: deleted",
            v1::Selection {
                text: "deleted".into(),
                ..Default::default()
            },
            Box::new(|s| s.action == "workflow.delete"),
        ),
        (
            "text: details.branch:main, from T0+10s",
            v1::Selection {
                text: "details.branch:main".into(),
                from_time_ns: Some(T0 + 10 * SECOND),
                ..Default::default()
            },
            Box::new(|s| s.branch == "main" && s.time >= T0 + 10 * SECOND),
        ),
        (
            "text: deleted, actor alice",
            v1::Selection {
                text: "deleted".into(),
                filters: vec![filter("actor.id", &["alice"])],
                ..Default::default()
            },
            Box::new(|s| s.action == "workflow.delete" && s.actor == "alice"),
        ),
        (
            "nothing: action = none.such",
            v1::Selection {
                filters: vec![filter("action", &["none.such"])],
                ..Default::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (name, selection, keep) in &cases {
        for order in [
            v1::Order::Unspecified,
            v1::Order::NewestFirst,
            v1::Order::OldestFirst,
        ] {
            let want = expected(&specs, order, keep);
            // One page, then pages of 4 and of 1: every match exactly once,
            // in order.
            for limit in [0, 4, 1] {
                let got = query_all(&mut client, selection, order, limit).await;
                assert_eq!(got, want, "{name}, {order:?}, limit {limit}");
            }
        }
    }
    // Records come back whole.
    let page = client
        .query(v1::QueryRequest {
            log: "search".into(),
            selection: Some(v1::Selection {
                filters: vec![filter("action", &["github.sync"])],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.records.len(), 1);
    let record = &page.records[0];
    let event = record.event.as_ref().unwrap();
    assert_eq!(event.message, specs[29].message);
    assert_eq!(event.time_ns, Some(specs[29].time));
    assert_eq!(event.details_json, "{\"branch\":\"dev\"}");
    assert_eq!(record.body_digest.len(), 32);
    assert!(record.body.is_empty());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn query_refuses_bad_selections() {
    let mut server = TestServer::open().await;
    create_log_with(&server, "search", fast_index()).await;
    let mut client = server.client(None).await;
    let on = |log: &str| v1::QueryRequest {
        log: log.into(),
        ..Default::default()
    };
    let selecting = |selection: v1::Selection| v1::QueryRequest {
        selection: Some(selection),
        ..on("search")
    };
    let text = |text: &str| {
        selecting(v1::Selection {
            text: text.into(),
            ..Default::default()
        })
    };
    // (request, code, what the message must name; "" for nothing in particular)
    let refusals = [
        (
            selecting(v1::Selection {
                filters: vec![filter("colour", &["red"])],
                ..Default::default()
            }),
            Code::InvalidArgument,
            "selection.filters[0].field",
        ),
        (
            selecting(v1::Selection {
                filters: vec![filter("action", &["x"]), filter("actor", &["alice"])],
                ..Default::default()
            }),
            Code::InvalidArgument,
            "selection.filters[1].field",
        ),
        (text("(deleted"), Code::InvalidArgument, "text"),
        (text("tenant_id:acme"), Code::InvalidArgument, "text"),
        (text("message:"), Code::InvalidArgument, "text"),
        (
            selecting(v1::Selection {
                from_time_ns: Some(T0 + SECOND),
                to_time_ns: Some(T0),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "",
        ),
        (
            v1::QueryRequest {
                cursor: "not-a-cursor".into(),
                ..on("search")
            },
            Code::InvalidArgument,
            "cursor",
        ),
        (
            v1::QueryRequest {
                limit: 10_001,
                ..on("search")
            },
            Code::InvalidArgument,
            "limit",
        ),
        (
            v1::QueryRequest {
                order: 9,
                ..on("search")
            },
            Code::InvalidArgument,
            "order",
        ),
        (on("nope"), Code::NotFound, ""),
    ];
    for (request, code, names) in refusals {
        assert_status(client.query(request).await, code, names);
    }
    drop(client);
    server.stop().await;
}

async fn aggregate(
    client: &mut Client,
    log: &str,
    selection: Option<v1::Selection>,
    kind: aggregate_request::Kind,
) -> Result<aggregate_response::Result, tonic::Status> {
    client
        .aggregate(v1::AggregateRequest {
            log: log.into(),
            selection,
            kind: Some(kind),
        })
        .await
        .map(|r| r.into_inner().result.unwrap())
}

async fn count(
    client: &mut Client,
    log: &str,
    selection: Option<v1::Selection>,
) -> Result<u64, tonic::Status> {
    match aggregate(
        client,
        log,
        selection,
        aggregate_request::Kind::Count(v1::CountSpec {}),
    )
    .await?
    {
        aggregate_response::Result::Count(n) => Ok(n),
        other => panic!("not a count: {other:?}"),
    }
}

/// Top values by hand: most frequent first, ties by value.
fn top_values<'a>(values: impl Iterator<Item = &'a str>, top: usize) -> Vec<(String, u64)> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for v in values.filter(|v| !v.is_empty()) {
        *counts.entry(v).or_default() += 1;
    }
    let mut sorted: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(v, n)| (v.to_string(), n))
        .collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(top);
    sorted
}

#[tokio::test]
async fn aggregate_counts_terms_and_histograms() {
    use aggregate_request::Kind;
    use aggregate_response::Result as Answer;
    let (mut server, mut client, specs) = corpus_server().await;

    // count
    assert_eq!(
        count(&mut client, "search", None).await.unwrap(),
        CORPUS as u64
    );
    let failures = v1::Selection {
        filters: vec![filter("outcome", &["failure"])],
        ..Default::default()
    };
    let by_hand = specs
        .iter()
        .filter(|s| s.outcome == v1::Outcome::Failure)
        .count() as u64;
    assert_eq!(
        count(&mut client, "search", Some(failures.clone()))
            .await
            .unwrap(),
        by_hand
    );
    let deleted = v1::Selection {
        text: "deleted".into(),
        ..Default::default()
    };
    assert_eq!(
        count(&mut client, "search", Some(deleted)).await.unwrap(),
        6
    );

    // count_by, with and without a selection, with "other" and "missing"
    for (selection, keep, field, top) in [
        (None, (|_: &Spec| true) as fn(&Spec) -> bool, "action", 3u32),
        (None, |_| true, "action", 0),
        (
            Some(failures.clone()),
            |s| s.outcome == v1::Outcome::Failure,
            "action",
            2,
        ),
        (None, |_| true, "tenant", 1),
        (None, |_| true, "actor.id", 10),
    ] {
        let matching: Vec<&Spec> = specs.iter().filter(|s| keep(s)).collect();
        let value = |s: &Spec| -> &'static str {
            match field {
                "action" => s.action,
                "tenant" => s.tenant,
                _ => s.actor,
            }
        };
        let want_top = top_values(
            matching.iter().map(|s| value(s)),
            if top == 0 { 10 } else { top as usize },
        );
        let missing = matching.iter().filter(|s| value(s).is_empty()).count() as u64;
        let total = matching.len() as u64;
        let listed: u64 = want_top.iter().map(|(_, n)| n).sum();
        let answer = aggregate(
            &mut client,
            "search",
            selection,
            Kind::CountBy(v1::CountBySpec {
                field: field.into(),
                top,
            }),
        )
        .await
        .unwrap();
        let Answer::Terms(terms) = answer else {
            panic!("not terms: {answer:?}")
        };
        let got_top: Vec<(String, u64)> =
            terms.top.into_iter().map(|t| (t.value, t.count)).collect();
        assert_eq!(got_top, want_top, "count_by {field} top {top}");
        assert_eq!(terms.missing, missing, "count_by {field}: missing");
        assert_eq!(terms.total, total, "count_by {field}: total");
        assert_eq!(
            terms.other,
            total - missing - listed,
            "count_by {field}: other"
        );
    }
    // The tenant case really has all three parts.
    assert!(specs.iter().any(|s| s.tenant.is_empty()));

    // histogram: 10 s buckets over the records' own range
    let bucket_of = |t: i64| t.div_euclid(10 * SECOND) * 10 * SECOND;
    let answer = aggregate(
        &mut client,
        "search",
        None,
        Kind::Histogram(v1::HistogramSpec {
            interval_ns: 10 * SECOND,
            split_field: String::new(),
            split_top: 0,
        }),
    )
    .await
    .unwrap();
    let Answer::Histogram(h) = answer else {
        panic!("not a histogram: {answer:?}")
    };
    assert_eq!(h.interval_ns, 10 * SECOND);
    assert_eq!(h.total, CORPUS as u64);
    assert!(h.split_values.is_empty());
    let starts: Vec<i64> = h.buckets.iter().map(|b| b.start_ns).collect();
    assert_eq!(starts, [T0, T0 + 10 * SECOND, T0 + 20 * SECOND]);
    for b in &h.buckets {
        let want = specs
            .iter()
            .filter(|s| bucket_of(s.time) == b.start_ns)
            .count() as u64;
        assert_eq!(b.count, want, "bucket {}", b.start_ns);
        assert!(b.split.is_empty());
    }

    // histogram over an explicit range, split by the top 2 actions, failures
    // only: empty buckets at both ends are included.
    let range = v1::Selection {
        from_time_ns: Some(T0 - 20 * SECOND),
        to_time_ns: Some(T0 + 40 * SECOND),
        ..failures.clone()
    };
    let answer = aggregate(
        &mut client,
        "search",
        Some(range),
        Kind::Histogram(v1::HistogramSpec {
            interval_ns: 10 * SECOND,
            split_field: "action".into(),
            split_top: 2,
        }),
    )
    .await
    .unwrap();
    let Answer::Histogram(h) = answer else {
        panic!("not a histogram: {answer:?}")
    };
    let failed: Vec<&Spec> = specs
        .iter()
        .filter(|s| s.outcome == v1::Outcome::Failure)
        .collect();
    let split: Vec<String> = top_values(failed.iter().map(|s| s.action), 2)
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(h.split_values, split);
    assert_eq!(h.total, failed.len() as u64);
    let starts: Vec<i64> = h.buckets.iter().map(|b| b.start_ns).collect();
    let want_starts: Vec<i64> = (-2..4).map(|k| T0 + k * 10 * SECOND).collect();
    assert_eq!(starts, want_starts);
    for b in &h.buckets {
        let inside: Vec<&&Spec> = failed
            .iter()
            .filter(|s| bucket_of(s.time) == b.start_ns)
            .collect();
        assert_eq!(b.count, inside.len() as u64, "bucket {}", b.start_ns);
        let want_split: Vec<u64> = split
            .iter()
            .map(|v| inside.iter().filter(|s| s.action == v.as_str()).count() as u64)
            .collect();
        assert_eq!(b.split, want_split, "bucket {}", b.start_ns);
    }
    assert_eq!(
        h.buckets[0].count + h.buckets[1].count + h.buckets[5].count,
        0
    );

    // Bad requests name the field.
    let r = aggregate(
        &mut client,
        "search",
        None,
        Kind::CountBy(v1::CountBySpec {
            field: "colour".into(),
            top: 0,
        }),
    )
    .await;
    assert_status(r, Code::InvalidArgument, "count_by.field");
    let r = aggregate(
        &mut client,
        "search",
        None,
        Kind::Histogram(v1::HistogramSpec {
            interval_ns: 10 * SECOND,
            split_field: "colour".into(),
            split_top: 0,
        }),
    )
    .await;
    assert_status(r, Code::InvalidArgument, "histogram.split_field");
    let r = aggregate(
        &mut client,
        "search",
        None,
        Kind::Histogram(v1::HistogramSpec {
            interval_ns: 0,
            ..Default::default()
        }),
    )
    .await;
    assert_status(r, Code::InvalidArgument, "interval");
    let r = aggregate(
        &mut client,
        "search",
        Some(v1::Selection {
            filters: vec![filter("bogus", &["x"])],
            ..Default::default()
        }),
        Kind::Count(v1::CountSpec {}),
    )
    .await;
    assert_status(r, Code::InvalidArgument, "selection.filters[0].field");
    drop(client);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Checkpoints, keys, verification
// ---------------------------------------------------------------------------

fn checkpoint_from_proto(c: &v1::Checkpoint) -> stele_engine::Checkpoint {
    stele_engine::Checkpoint {
        log: c.log.clone(),
        log_id: c.log_id.as_slice().try_into().expect("16-byte log id"),
        size: c.size,
        head: hash(&c.head),
        time: c.time_ns,
        public_key: c.public_key.as_slice().try_into().expect("32-byte key"),
        signature: c
            .signature
            .as_slice()
            .try_into()
            .expect("64-byte signature"),
    }
}

async fn get_checkpoint(client: &mut Client, log: &str) -> v1::Checkpoint {
    client
        .get_checkpoint(v1::GetCheckpointRequest { log: log.into() })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn checkpoints_are_signed_and_verify_checks_the_chain() {
    let mut server = TestServer::open().await;
    let info = create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let mut admin = server.admin(None).await;

    let key = client
        .get_public_key(v1::GetPublicKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(key.algorithm, "ed25519");
    let key_bytes: [u8; 32] = key.public_key.as_slice().try_into().expect("32-byte key");
    let verifying_key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes).unwrap();

    // An empty log's checkpoint: size 0 at genesis.
    let empty = get_checkpoint(&mut client, "audit").await;
    assert_eq!(empty.size, 0);
    assert_eq!(empty.head, genesis(&info));
    checkpoint_from_proto(&empty)
        .verify_signature(&verifying_key)
        .unwrap();

    // Two segments: 20 records sealed, then 5 in the active one.
    append(&mut client, "audit", events(20, "sealed"), 1)
        .await
        .unwrap();
    admin
        .seal(v1::SealRequest {
            log: "audit".into(),
        })
        .await
        .unwrap();
    append(&mut client, "audit", events(5, "active"), 2)
        .await
        .unwrap();

    let cp = get_checkpoint(&mut client, "audit").await;
    let info = get_log(&mut admin, "audit").await;
    assert_eq!(cp.log, "audit");
    assert_eq!(cp.log_id, info.log_id);
    assert_eq!(cp.size, info.next_seq);
    assert_eq!(cp.size, 25);
    assert_eq!(cp.head, info.head);
    assert_eq!(cp.public_key, key.public_key);
    assert_eq!(cp.signature.len(), 64);
    let engine_cp = checkpoint_from_proto(&cp);
    engine_cp.verify_signature(&verifying_key).unwrap();
    // The signature covers exactly Checkpoint::message.
    let signature = ed25519_dalek::Signature::from_bytes(&engine_cp.signature);
    verifying_key
        .verify_strict(&engine_cp.message(), &signature)
        .unwrap();
    let tampers: [fn(&mut stele_engine::Checkpoint); 4] = [
        |c| c.size += 1,
        |c| c.head[0] ^= 1,
        |c| c.log.push('x'),
        |c| c.time += 1,
    ];
    for tamper in tampers {
        let mut forged = engine_cp.clone();
        tamper(&mut forged);
        assert!(forged.verify_signature(&verifying_key).is_err());
    }

    // The whole log.
    let (progress, result) = verify(&mut client, "audit", 0, None).await;
    assert!(result.ok, "{result:?}");
    assert!(result.failure.is_none());
    assert_eq!(result.records, 25);
    assert_eq!(result.next_seq, 25);
    assert_eq!(result.head, info.head);
    assert_eq!(result.segments, 2);
    assert!(result.body_bytes > 0);
    assert!(
        result.checkpoints >= 2,
        "both checkpoints were checked: {result:?}"
    );
    assert!(!progress.is_empty(), "progress comes before the result");
    for p in &progress {
        assert!(p.segments_done <= p.segments_total, "{p:?}");
    }
    let last = progress.last().unwrap();
    assert_eq!(last.segments_done, last.segments_total);

    // A range.
    let (_, part) = verify(&mut client, "audit", 18, Some(22)).await;
    assert!(part.ok, "{part:?}");
    assert_eq!(part.records, 4);

    let bad = client
        .verify(v1::VerifyRequest {
            log: "audit".into(),
            from_seq: 10,
            to_seq: Some(5),
        })
        .await;
    assert_status(bad, Code::InvalidArgument, "to_seq");
    let missing = client
        .verify(v1::VerifyRequest {
            log: "nope".into(),
            from_seq: 0,
            to_seq: None,
        })
        .await;
    assert_eq!(status_of(missing).code(), Code::NotFound);
    let missing = client
        .get_checkpoint(v1::GetCheckpointRequest { log: "nope".into() })
        .await;
    assert_eq!(status_of(missing).code(), Code::NotFound);
    drop((client, admin));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------

#[tokio::test]
async fn admin_calls_work_and_are_recorded_in_system() {
    let mut server = TestServer::open().await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;

    // Every policy field round-trips.
    let policy = v1::Policy {
        fsync: "interval:100".into(),
        seal_max_bytes: 8 << 20,
        seal_max_records: 5000,
        seal_max_age_ms: 600_000,
        sanitize: vec!["details.password".into(), "actor.ip".into()],
        index_commit_interval_ms: 50,
        max_body_bytes: 65_536,
        max_string_bytes: 2048,
        max_details_depth: 8,
        max_batch_events: 500,
        retention: Some(v1::RetentionPolicy {
            max_age_ms: Some(90 * 86_400_000),
            max_bytes: None,
            lock_ms: Some(86_400_000),
        }),
        scrub: Some(v1::ScrubPolicy {
            builtin: vec!["jwt".into(), "credit_card".into()],
            custom: vec![v1::ScrubRule {
                name: "ticket".into(),
                pattern: r"TS-\d{6}".into(),
            }],
        }),
    };
    let created = admin
        .create_log(v1::CreateLogRequest {
            name: "tuned".into(),
            policy: Some(policy.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "tuned");
    assert_eq!(created.policy.as_ref(), Some(&policy));
    assert_eq!(created.log_id.len(), 16);
    assert_eq!(
        (created.first_seq, created.next_seq, created.records),
        (0, 0, 0)
    );

    // No policy: every field filled in with the defaults.
    let plain = create_log(&server, None, "plain").await;
    let defaults = plain.policy.unwrap();
    assert_eq!(defaults.fsync, "always");
    assert_eq!(defaults.index_commit_interval_ms, 1000);
    assert_eq!(defaults.max_batch_events, 10_000);
    assert_eq!(defaults.max_body_bytes, 1 << 20);
    assert_eq!(defaults.max_string_bytes, 4 << 10);
    assert_eq!(defaults.max_details_depth, 32);
    assert_eq!(defaults.seal_max_records, 1_000_000);
    assert_eq!(defaults.seal_max_bytes, 128 << 20);
    assert_eq!(defaults.seal_max_age_ms, 3_600_000);
    assert!(defaults.sanitize.is_empty());
    assert_ne!(plain.log_id, created.log_id);

    // Refusals.
    let create = |name: &str, policy: Option<v1::Policy>| v1::CreateLogRequest {
        name: name.into(),
        policy,
    };
    let r = admin
        .create_log(create(
            "other",
            Some(v1::Policy {
                fsync: "sometimes".into(),
                ..Default::default()
            }),
        ))
        .await;
    assert_status(r, Code::InvalidArgument, "policy.fsync");
    assert_status(
        admin.create_log(create("tuned", None)).await,
        Code::AlreadyExists,
        "tuned",
    );
    assert_status(
        admin.create_log(create("_x", None)).await,
        Code::InvalidArgument,
        "_x",
    );
    assert_status(
        admin.create_log(create("_system", None)).await,
        Code::InvalidArgument,
        "_system",
    );
    assert_eq!(
        status_of(admin.create_log(create("Bad Name", None)).await).code(),
        Code::InvalidArgument
    );
    assert_eq!(
        status_of(admin.create_log(create("", None)).await).code(),
        Code::InvalidArgument
    );

    // The policy applies: sanitised fields and the batch limit.
    let secret = v1::Event {
        details_json: r#"{"password":"hunter2","user":"alice"}"#.into(),
        actor: Some(v1::Actor {
            id: "alice".into(),
            ip: "203.0.113.7".into(),
            ..Default::default()
        }),
        ..event("user.login", "alice", "alice logged in")
    };
    append(&mut client, "tuned", vec![secret], 1).await.unwrap();
    let stored = client
        .get_record(v1::GetRecordRequest {
            log: "tuned".into(),
            seq: 0,
            include_body: true,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let stored_event = stored.event.unwrap();
    let details: serde_json::Value = serde_json::from_str(&stored_event.details_json).unwrap();
    assert_eq!(details["password"], "[redacted]");
    assert_eq!(details["user"], "alice");
    assert_eq!(stored_event.actor.unwrap().ip, "[redacted]");
    assert!(!String::from_utf8_lossy(&stored.body).contains("hunter2"));
    let too_many = append(&mut client, "tuned", events(501, "many"), 2).await;
    assert_eq!(status_of(too_many).code(), Code::InvalidArgument);

    // GetLog, ListSegments, Seal.
    append(&mut client, "plain", events(10, "plain"), 1)
        .await
        .unwrap();
    let info = get_log(&mut admin, "plain").await;
    assert_eq!(info.name, "plain");
    assert_eq!((info.first_seq, info.next_seq, info.records), (0, 10, 10));
    assert_eq!(info.segments, 1);
    assert!(info.segment_bytes > 0);
    assert_eq!(info.head.len(), 32);
    let segments = list_segments(&mut admin, "plain").await;
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].state, v1::SegmentState::Active as i32);
    assert_eq!((segments[0].first_seq, segments[0].next_seq), (0, 10));
    assert_eq!(segments[0].records, 10);
    assert!(segments[0].body_bytes > 0);
    assert!(segments[0].min_ingest_time_ns > 0);
    assert!(segments[0].min_time_ns <= segments[0].max_time_ns);
    assert!(!segments[0].file.is_empty());

    let sealed = admin
        .seal(v1::SealRequest {
            log: "plain".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .sealed
        .expect("the active segment held records");
    assert_eq!(sealed.state, v1::SegmentState::Sealed as i32);
    assert_eq!((sealed.first_seq, sealed.next_seq), (0, 10));
    assert_eq!(sealed.records, 10);
    let segments = list_segments(&mut admin, "plain").await;
    let states: Vec<i32> = segments.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            v1::SegmentState::Sealed as i32,
            v1::SegmentState::Active as i32
        ]
    );
    assert_eq!(segments[0], sealed);
    assert_eq!(segments[1].first_seq, 10);
    assert_eq!(segments[1].records, 0);
    // Nothing to seal now.
    let nothing = admin
        .seal(v1::SealRequest {
            log: "plain".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(nothing.sealed.is_none());
    // Appends go on after the seal; reads reach into the sealed segment.
    let more = append(&mut client, "plain", events(2, "more"), 2)
        .await
        .unwrap();
    assert_eq!(seqs(&more.receipts), [10, 11]);
    let info = get_log(&mut admin, "plain").await;
    assert_eq!((info.next_seq, info.records, info.segments), (12, 12, 2));
    let record = client
        .get_record(v1::GetRecordRequest {
            log: "plain".into(),
            seq: 3,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(record.record.unwrap().event.unwrap().message, "plain 3");

    // ListLogs: sorted, with the facts of each.
    let logs = admin
        .list_logs(v1::ListLogsRequest {})
        .await
        .unwrap()
        .into_inner()
        .logs;
    let names: Vec<&str> = logs.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(
        names.contains(&"plain") && names.contains(&"tuned"),
        "{names:?}"
    );
    let listed = logs.iter().find(|l| l.name == "plain").unwrap();
    assert_eq!(listed.next_seq, 12);
    assert_eq!(listed.log_id, info.log_id);

    // Missing logs.
    let r = admin
        .get_log(v1::GetLogRequest {
            name: "nope".into(),
        })
        .await;
    assert_eq!(status_of(r).code(), Code::NotFound);
    let r = admin
        .list_segments(v1::ListSegmentsRequest { log: "nope".into() })
        .await;
    assert_eq!(status_of(r).code(), Code::NotFound);
    let r = admin.seal(v1::SealRequest { log: "nope".into() }).await;
    assert_eq!(status_of(r).code(), Code::NotFound);

    // Every call above is in `_system`, with its outcome.
    let probe = client.clone();
    let trail = eventually("the admin calls in _system", DEADLINE, move || {
        let mut c = probe.clone();
        async move {
            let events = system_events(&mut c).await;
            let admin_events: Vec<v1::Event> = events
                .into_iter()
                .filter(|e| e.action.starts_with("admin."))
                .collect();
            (admin_events.len() >= 18).then_some(admin_events)
        }
    })
    .await;
    let summary: Vec<(String, String, i32)> = trail
        .iter()
        .map(|e| {
            (
                e.action.clone(),
                e.resource
                    .as_ref()
                    .map(|r| r.id.clone())
                    .unwrap_or_default(),
                e.outcome,
            )
        })
        .collect();
    let ok = v1::Outcome::Success as i32;
    let failed = v1::Outcome::Failure as i32;
    let entry = |a: &str, log: &str, outcome: i32| (a.to_string(), log.to_string(), outcome);
    assert_eq!(
        summary,
        [
            entry("admin.create_log", "tuned", ok),
            entry("admin.create_log", "plain", ok),
            entry("admin.create_log", "other", failed),
            entry("admin.create_log", "tuned", failed),
            entry("admin.create_log", "_x", failed),
            entry("admin.create_log", "_system", failed),
            entry("admin.create_log", "Bad Name", failed),
            entry("admin.create_log", "", failed),
            entry("admin.get_log", "plain", ok),
            entry("admin.list_segments", "plain", ok),
            entry("admin.seal", "plain", ok),
            entry("admin.list_segments", "plain", ok),
            entry("admin.seal", "plain", ok),
            entry("admin.get_log", "plain", ok),
            entry("admin.list_logs", "", ok),
            entry("admin.get_log", "nope", failed),
            entry("admin.list_segments", "nope", failed),
            entry("admin.seal", "nope", failed),
        ][..],
        "{trail:#?}"
    );
    for e in &trail {
        assert_eq!(e.actor.as_ref().unwrap().id, "anonymous");
        assert_eq!(e.source, "steled");
    }
    let refused = &trail[2];
    assert!(refused.reason.contains("policy.fsync"), "{refused:?}");
    drop((client, admin));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Limits, health, reflection
// ---------------------------------------------------------------------------

#[tokio::test]
async fn requests_over_the_size_limit_are_resource_exhausted() {
    const LIMIT: usize = 64 << 10;
    let mut server = TestServer::with(|config| config.limits.max_request_bytes = LIMIT).await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let kib = "x".repeat(1000);
    let sized = |n: usize| -> Vec<v1::Event> {
        (0..n)
            .map(|i| event("bulk.load", "loader", &format!("{i} {kib}")))
            .collect()
    };
    // Under the limit: fine.
    let ok = append(&mut client, "audit", sized(30), 1).await.unwrap();
    assert_eq!(ok.receipts.len(), 30);
    // Over it (about 100 KB): refused, naming the setting.
    let big = append(&mut client, "audit", sized(100), 2).await;
    let status = status_of(big);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("limits.max_request_bytes"),
        "{status:?}"
    );
    assert_eq!(next_seq(&server, "audit").await, 30);

    // AppendStream: the batch before the big one is answered, then the
    // stream ends with the same status.
    let requests = vec![
        append_request("audit", sized(5), 10),
        append_request("audit", sized(100), 11),
    ];
    let mut responses = client
        .append_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = responses.message().await.unwrap().expect("a first answer");
    assert_eq!(first.batch_id, 10);
    assert!(first.error.is_none(), "{first:?}");
    assert_eq!(seqs(&first.receipts), (30..35).collect::<Vec<_>>());
    let end = responses.message().await;
    let status = status_of(end);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("limits.max_request_bytes"),
        "{status:?}"
    );
    assert_eq!(next_seq(&server, "audit").await, 35);
    // The server is fine afterwards.
    let ok = append(&mut client, "audit", sized(1), 3).await.unwrap();
    assert_eq!(seqs(&ok.receipts), [35]);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let mut server = TestServer::open().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["stele.v1.Stele", "stele.v1.Admin"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{service}");
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await;
    assert_eq!(status_of(unknown).code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let answers: Vec<ServerReflectionResponse> = reflection
        .server_reflection_info(futures::stream::iter(vec![
            ask(MessageRequest::ListServices(String::new())),
            ask(MessageRequest::FileContainingSymbol(
                "stele.v1.Admin".into(),
            )),
        ]))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(answers.len(), 2);
    let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
        panic!("not a service list: {:?}", answers[0]);
    };
    let names: HashSet<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for name in ["stele.v1.Stele", "stele.v1.Admin", "grpc.health.v1.Health"] {
        assert!(names.contains(name), "{name} is not in {names:?}");
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) = &answers[1].message_response else {
        panic!("not a file descriptor: {:?}", answers[1]);
    };
    assert!(!files.file_descriptor_proto.is_empty());
    assert!(
        files
            .file_descriptor_proto
            .iter()
            .any(|f| f.windows(b"CreateLog".len()).any(|w| w == b"CreateLog"))
    );
    drop((health, reflection));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Scrubbing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scrubbing_rules_are_set_tried_and_recorded() {
    let server = TestServer::open().await;
    create_log(&server, None, "leaky").await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;
    let set = |builtin: &[&str], custom: Vec<v1::ScrubRule>| v1::SetScrubRequest {
        log: "leaky".into(),
        scrub: Some(v1::ScrubPolicy {
            builtin: builtin.iter().map(|b| (*b).to_string()).collect(),
            custom,
        }),
    };
    assert_status(
        admin.set_scrub(set(&["passwords"], Vec::new())).await,
        Code::InvalidArgument,
        "policy.scrub.builtin[0]",
    );
    let rules = admin
        .set_scrub(set(&["all"], Vec::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rules.builtin, ["all"]);
    let info = admin
        .get_log(v1::GetLogRequest {
            name: "leaky".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.policy.unwrap().scrub.unwrap().builtin, ["all"]);

    // Appends are scrubbed before they are stored.
    let leak = event(
        "db.connect",
        "app",
        "connected to postgres://app:hunter2@db/prod",
    );
    let receipts = append(&mut client, "leaky", vec![leak.clone()], 1)
        .await
        .unwrap()
        .receipts;
    let stored = client
        .get_record(v1::GetRecordRequest {
            log: "leaky".into(),
            seq: receipts[0].seq,
            include_body: true,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        stored.event.unwrap().message,
        "connected to postgres://app:[redacted:url_password]@db/prod"
    );
    assert!(!stored.body.windows(7).any(|w| w == b"hunter2"));

    // A dry run, with the log's rules and with rules being tried; nothing stored.
    let mut ticket = event(
        "ticket.open",
        "alice",
        "ticket TS-123456, card 4111 1111 1111 1111",
    );
    ticket.reason = "ok".into();
    let dry = |scrub: Option<v1::ScrubPolicy>| v1::TestScrubRequest {
        log: "leaky".into(),
        events: vec![leak.clone(), ticket.clone()],
        scrub,
    };
    let tried = admin
        .test_scrub(dry(None))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(tried.len(), 2);
    assert_eq!(
        tried[0].fired,
        [("url_password".to_string(), 1)].into_iter().collect()
    );
    assert_eq!(
        tried[1].event.as_ref().unwrap().message,
        "ticket TS-123456, card [redacted:credit_card]"
    );
    let only = |name: &str, pattern: &str| v1::ScrubPolicy {
        builtin: Vec::new(),
        custom: vec![v1::ScrubRule {
            name: name.into(),
            pattern: pattern.into(),
        }],
    };
    let tried = admin
        .test_scrub(dry(Some(only("ticket", r"TS-\d{6}"))))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(tried[0].fired.is_empty());
    assert_eq!(
        tried[1].event.as_ref().unwrap().message,
        "ticket [redacted:ticket], card 4111 1111 1111 1111"
    );
    assert_status(
        admin.test_scrub(dry(Some(only("broken", "(")))).await,
        Code::InvalidArgument,
        "policy.scrub.custom[0].pattern",
    );
    let head = admin
        .get_log(v1::GetLogRequest {
            name: "leaky".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(head.records, 1, "a dry run stores nothing");

    // Each change, refused or made, is in `_system` with the rules.
    let probe = client.clone();
    let changes = eventually("the scrubbing changes in _system", DEADLINE, move || {
        let mut c = probe.clone();
        async move {
            let events: Vec<v1::Event> = system_events(&mut c)
                .await
                .into_iter()
                .filter(|e| e.action == "admin.set_scrub")
                .collect();
            (events.len() >= 2).then_some(events)
        }
    })
    .await;
    let outcomes: Vec<i32> = changes.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [v1::Outcome::Failure as i32, v1::Outcome::Success as i32]
    );
    assert!(
        changes[1].details_json.contains(r#""builtin":["all"]"#),
        "{}",
        changes[1].details_json
    );
}
