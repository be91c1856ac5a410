//! No input makes the server fail: random events and random selections get
//! an answer (OK, or INVALID_ARGUMENT naming what is wrong), never an
//! internal error, and the server keeps serving.

use crate::common;

use common::{TestServer, create_log};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use stele_proto::v1;
use tonic::Code;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z.]{1,12}",
        "\\PC{0,40}",
        "[ (){}\\[\\]:*\"'\\\\^~+-]{1,12}",
        "[a-z]{300}",
    ]
}

fn event() -> impl Strategy<Value = v1::Event> {
    (
        (text(), text(), text(), text(), any::<i32>(), any::<i32>()),
        (
            prop::option::of(any::<i64>()),
            prop::option::of(any::<u64>()),
            prop_oneof![
                Just(String::new()),
                Just("{\"a\":{\"b\":[1,2,{\"c\":null}]}}".to_string()),
                "\\PC{0,30}",
                Just("[".repeat(40) + &"]".repeat(40)),
            ],
        ),
    )
        .prop_map(
            |((action, actor, ip, message, kind, outcome), (time, duration, details))| v1::Event {
                action,
                actor: Some(v1::Actor {
                    id: actor,
                    ip,
                    kind: kind % 6,
                    ..Default::default()
                }),
                outcome: outcome % 7,
                message,
                time_ns: time,
                duration_ms: duration,
                details_json: details,
                ..Default::default()
            },
        )
}

fn selection() -> impl Strategy<Value = v1::Selection> {
    (
        prop::option::of(any::<i64>()),
        prop::option::of(any::<i64>()),
        prop::collection::vec((text(), prop::collection::vec(text(), 0..3)), 0..3),
        text(),
    )
        .prop_map(|(from, to, filters, text)| v1::Selection {
            from_time_ns: from,
            to_time_ns: to,
            filters: filters
                .into_iter()
                .map(|(field, values)| v1::Filter { field, values })
                .collect(),
            text,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_events_and_selections_get_an_answer() {
    let mut server = TestServer::open().await;
    create_log(&server, None, "audit").await;
    let mut client = server.client(None).await;
    let mut runner = TestRunner::new(ProptestConfig::with_cases(48));
    let cases = prop::collection::vec((prop::collection::vec(event(), 1..4), selection()), 48);
    let inputs = cases.new_tree(&mut runner).unwrap().current();
    for (events, selection) in inputs {
        let appended = client
            .append(v1::AppendRequest {
                log: "audit".into(),
                events,
                batch_id: 0,
            })
            .await;
        if let Err(status) = &appended {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert!(status.message().contains("events["), "{status:?}");
        }
        for order in [0, 1, 2, 9] {
            let queried = client
                .query(v1::QueryRequest {
                    log: "audit".into(),
                    selection: Some(selection.clone()),
                    order,
                    limit: 5,
                    cursor: String::new(),
                })
                .await;
            if let Err(status) = &queried {
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            }
        }
        let counted = client
            .aggregate(v1::AggregateRequest {
                log: "audit".into(),
                selection: Some(selection.clone()),
                kind: Some(v1::aggregate_request::Kind::Histogram(v1::HistogramSpec {
                    interval_ns: selection.from_time_ns.unwrap_or(1),
                    split_field: String::new(),
                    split_top: 0,
                })),
            })
            .await;
        if let Err(status) = &counted {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        }
    }
    // Still serving, and what was stored verifies.
    let mut verified = client
        .verify(v1::VerifyRequest {
            log: "audit".into(),
            from_seq: 0,
            to_seq: None,
        })
        .await
        .unwrap()
        .into_inner();
    let mut ok = false;
    while let Some(item) = verified.message().await.unwrap() {
        if let Some(v1::verify_response::Item::Result(result)) = item.item {
            ok = result.ok;
        }
    }
    assert!(ok);
    server.stop().await;
}
