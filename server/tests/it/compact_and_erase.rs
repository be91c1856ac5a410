//! Compaction and erasure through the real gRPC API of an in-process
//! server: compaction changes no answer and no proof; erasure takes the
//! bodies of exactly the matching records, keeps the chain verifying, is
//! refused under a legal hold, and is recorded in `_system` with who asked,
//! why and how many records.

use crate::common;

use std::time::Duration;

use common::{Bearer, TestServer, event, eventually, verify};
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, compact_response, erase_response};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Admin = AdminClient<InterceptedService<Channel, Bearer>>;
type Client = SteleClient<InterceptedService<Channel, Bearer>>;

const WAIT: Duration = Duration::from_secs(15);

/// A log of four sealed segments of 6 records and 2 in the active one;
/// actors alternate alice and bob, so 13 of the 26 are alice's.
async fn fill(client: &mut Client, admin: &mut Admin) {
    admin
        .create_log(v1::CreateLogRequest {
            name: "audit".into(),
            policy: Some(v1::Policy {
                index_commit_interval_ms: 50,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    for n in [6, 6, 6, 6, 2] {
        let events = (0..n)
            .map(|i| {
                let actor = if i % 2 == 0 { "alice" } else { "bob" };
                event("doc.read", actor, &format!("{actor} read doc {i}"))
            })
            .collect();
        client
            .append(v1::AppendRequest {
                log: "audit".into(),
                events,
                batch_id: 0,
            })
            .await
            .unwrap();
        if n == 6 {
            admin
                .seal(v1::SealRequest {
                    log: "audit".into(),
                })
                .await
                .unwrap();
        }
    }
}

/// Every record matching `filters`, oldest first, once `expect` of them are
/// searchable.
async fn records(client: &Client, filters: Vec<v1::Filter>, expect: usize) -> Vec<v1::Record> {
    eventually(&format!("{expect} records"), WAIT, || {
        let mut client = client.clone();
        let filters = filters.clone();
        async move {
            let page = client
                .query(v1::QueryRequest {
                    log: "audit".into(),
                    selection: Some(v1::Selection {
                        filters,
                        ..Default::default()
                    }),
                    order: v1::Order::OldestFirst.into(),
                    limit: 1000,
                    cursor: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            (page.records.len() == expect).then_some(page.records)
        }
    })
    .await
}

fn actor(id: &str) -> Vec<v1::Filter> {
    vec![v1::Filter {
        field: "actor.id".into(),
        values: vec![id.into()],
    }]
}

async fn compact(admin: &mut Admin, dry_run: bool) -> (usize, v1::CompactResult) {
    let mut stream = admin
        .compact(v1::CompactRequest {
            log: "audit".into(),
            small_bytes: 0,
            target_bytes: 0,
            dry_run,
        })
        .await
        .unwrap()
        .into_inner();
    let (mut progress, mut result) = (0, None);
    while let Some(message) = stream.message().await.unwrap() {
        match message.item.unwrap() {
            compact_response::Item::Progress(_) => progress += 1,
            compact_response::Item::Result(r) => result = Some(r),
        }
    }
    (progress, result.unwrap())
}

async fn erase(
    admin: &mut Admin,
    filters: Vec<v1::Filter>,
    reason: &str,
    dry_run: bool,
) -> Result<v1::EraseResult, tonic::Status> {
    let mut stream = admin
        .erase(v1::EraseRequest {
            log: "audit".into(),
            selection: Some(v1::Selection {
                filters,
                ..Default::default()
            }),
            reason: reason.into(),
            dry_run,
        })
        .await?
        .into_inner();
    let mut result = None;
    while let Some(message) = stream.message().await? {
        if let Some(erase_response::Item::Result(r)) = message.item {
            result = Some(r);
        }
    }
    Ok(result.unwrap())
}

async fn segments(admin: &mut Admin) -> usize {
    admin
        .list_segments(v1::ListSegmentsRequest {
            log: "audit".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .segments
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_segments_and_changes_no_answer() {
    let server = TestServer::open().await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;
    fill(&mut client, &mut admin).await;
    let before = records(&client, Vec::new(), 26).await;
    let alice = records(&client, actor("alice"), 13).await;
    assert_eq!(segments(&mut admin).await, 5);

    let (_, plan) = compact(&mut admin, true).await;
    assert!(plan.dry_run && plan.merged.is_empty());
    assert_eq!(plan.planned.len(), 1, "{plan:?}");
    assert_eq!(plan.planned[0].members, [0, 6, 12, 18]);
    assert_eq!(segments(&mut admin).await, 5);

    let (progress, done) = compact(&mut admin, false).await;
    assert!(progress > 0);
    assert_eq!(done.merged.len(), 1);
    assert_eq!((done.merged[0].first_seq, done.merged[0].next_seq), (0, 24));
    assert!(done.merged[0].bytes_after > 0);
    assert_eq!(segments(&mut admin).await, 2);

    assert_eq!(records(&client, Vec::new(), 26).await, before);
    assert_eq!(records(&client, actor("alice"), 13).await, alice);
    let verified = verify(&mut client, "audit", 0, None).await.1;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records, 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_redacts_the_matches_keeps_the_chain_and_is_recorded() {
    let server = TestServer::open().await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;
    fill(&mut client, &mut admin).await;
    records(&client, Vec::new(), 26).await;

    // A reason and a selection are required.
    let no_reason = erase(&mut admin, actor("alice"), " ", true)
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert!(no_reason.message().starts_with("reason: "), "{no_reason:?}");
    let everything = erase(&mut admin, Vec::new(), "oops", true)
        .await
        .unwrap_err();
    assert_eq!(everything.code(), Code::InvalidArgument, "{everything:?}");

    let dry = erase(&mut admin, actor("alice"), "GDPR 117", true)
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.records, 13);
    assert_eq!(dry.seqs, (0..26).step_by(2).collect::<Vec<u64>>());
    assert_eq!(records(&client, actor("alice"), 13).await.len(), 13);

    // A legal hold preserves evidence: no erasure under it.
    admin
        .set_hold(v1::SetHoldRequest {
            log: "audit".into(),
            segment: None,
            reason: "case 9".into(),
        })
        .await
        .unwrap();
    let held = erase(&mut admin, actor("alice"), "GDPR 117", false)
        .await
        .unwrap_err();
    assert_eq!(held.code(), Code::FailedPrecondition, "{held:?}");
    assert!(held.message().contains("case 9"), "{held:?}");
    admin
        .lift_hold(v1::LiftHoldRequest {
            log: "audit".into(),
            segment: None,
            reason: "case 9 closed".into(),
        })
        .await
        .unwrap();

    let done = erase(&mut admin, actor("alice"), "GDPR 117", false)
        .await
        .unwrap();
    assert!(!done.dry_run);
    assert_eq!(done.records, 13);
    assert!(done.segments_rewritten >= 4, "{done:?}");

    let erased = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 0,
            include_body: true,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(erased.redacted && erased.event.is_none() && erased.body.is_empty());
    assert_eq!(erased.body_digest.len(), 32);
    assert!(records(&client, actor("alice"), 0).await.is_empty());
    assert_eq!(records(&client, actor("bob"), 13).await.len(), 13);
    let verified = verify(&mut client, "audit", 0, None).await.1;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.records, 26);

    let recorded = eventually("admin.erase events", WAIT, || {
        let mut client = client.clone();
        async move {
            let page = client
                .query(v1::QueryRequest {
                    log: "_system".into(),
                    selection: Some(v1::Selection {
                        filters: vec![v1::Filter {
                            field: "action".into(),
                            values: vec!["admin.erase".into(), "retention.erase".into()],
                        }],
                        ..Default::default()
                    }),
                    order: v1::Order::OldestFirst.into(),
                    limit: 100,
                    cursor: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            (page.records.len() >= 6).then_some(page.records)
        }
    })
    .await;
    let events: Vec<v1::Event> = recorded.into_iter().map(|r| r.event.unwrap()).collect();
    let done = events
        .iter()
        .find(|e| {
            e.action == "admin.erase"
                && e.outcome == v1::Outcome::Success as i32
                && e.details_json.contains("\"dry_run\":false")
        })
        .expect("the erasure's admin record");
    assert_eq!(done.actor.as_ref().unwrap().id, "anonymous");
    assert_eq!(done.reason, "GDPR 117");
    let details: serde_json::Value = serde_json::from_str(&done.details_json).unwrap();
    assert_eq!(details["records"], 13);
    assert_eq!(details["reason"], "GDPR 117");
    assert!(events.iter().any(|e| e.action == "retention.erase"));
    assert!(
        events
            .iter()
            .any(|e| e.action == "admin.erase" && e.outcome == v1::Outcome::Failure as i32),
        "refused erasures are recorded too"
    );
}
