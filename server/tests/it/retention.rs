//! Retention, the retention lock, legal holds, archival, compaction and
//! erasure through the real gRPC API of an in-process server whose engine
//! runs on a manual clock: what each call answers, what it changes, what it
//! refuses whatever the token, and what it leaves in `_system`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{Bearer, TestServer, event, eventually, token, verify};
use stele_engine::{ArchiveTarget, ManualClock};
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, apply_retention_response, restore_segment_response};
use stele_server::auth::Role;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Admin = AdminClient<InterceptedService<Channel, Bearer>>;
type Client = SteleClient<InterceptedService<Channel, Bearer>>;

const START: i64 = 1_800_000_000_000_000_000;
const DAY_MS: u64 = 86_400_000;
const DAY: Duration = Duration::from_secs(86_400);
const WAIT: Duration = Duration::from_secs(15);
const ADMIN: &str = "admin-secret-0123456789";
const READER: &str = "reader-secret-0123456789";

/// A server on a manual clock reading [`START`], with no retention
/// scheduler, the archive target `archive` and `tokens` (none: open).
async fn server(archive: ArchiveTarget, tokens: bool) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let engine_clock = clock.clone();
    let server = TestServer::with_store(
        |config| {
            config.archive = archive;
            config.retention_interval = None;
            if tokens {
                config.tokens = vec![
                    token(
                        "ops",
                        ADMIN,
                        &[Role::Admin, Role::Read, Role::Append],
                        &["*"],
                    ),
                    token("auditor", READER, &[Role::Read], &["*"]),
                ];
            }
        },
        |options| options.clock = engine_clock,
    )
    .await;
    (server, clock)
}

/// Creates `name`, searchable within 50 ms, with `retention`.
async fn create(admin: &mut Admin, name: &str, retention: v1::RetentionPolicy) {
    admin
        .create_log(v1::CreateLogRequest {
            name: name.into(),
            policy: Some(v1::Policy {
                index_commit_interval_ms: 50,
                retention: Some(retention),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
}

/// Appends `n` events (actors alternating alice and bob) and seals them
/// as one segment.
async fn segment(client: &mut Client, admin: &mut Admin, log: &str, n: usize) {
    let events = (0..n)
        .map(|i| {
            let actor = if i % 2 == 0 { "alice" } else { "bob" };
            event("user.login", actor, &format!("{actor} logged in"))
        })
        .collect();
    client
        .append(v1::AppendRequest {
            log: log.into(),
            events,
            batch_id: 0,
        })
        .await
        .unwrap();
    admin
        .seal(v1::SealRequest { log: log.into() })
        .await
        .unwrap();
}

/// Three sealed segments of 10 records ingested at START, then, 31 days
/// later, one more sealed segment of 10 and 3 records in the active one:
/// with a 30-day `max_age`, seqs 0..30 are due.
async fn fill(client: &mut Client, admin: &mut Admin, clock: &ManualClock, log: &str) {
    for _ in 0..3 {
        segment(client, admin, log, 10).await;
    }
    clock.advance(31 * DAY);
    segment(client, admin, log, 10).await;
    client
        .append(v1::AppendRequest {
            log: log.into(),
            events: (0..3)
                .map(|_| event("user.logout", "carol", "bye"))
                .collect(),
            batch_id: 0,
        })
        .await
        .unwrap();
}

fn max_age(days: u64) -> v1::RetentionPolicy {
    v1::RetentionPolicy {
        max_age_ms: Some(days * DAY_MS),
        ..Default::default()
    }
}

async fn retention(admin: &mut Admin, log: &str) -> v1::RetentionInfo {
    admin
        .get_retention(v1::GetRetentionRequest { log: log.into() })
        .await
        .unwrap()
        .into_inner()
}

/// Applies retention; the progress messages and the result.
async fn apply(
    admin: &mut Admin,
    log: &str,
    dry_run: bool,
) -> Result<(Vec<v1::RetentionProgress>, v1::ApplyRetentionResult), tonic::Status> {
    let mut stream = admin
        .apply_retention(v1::ApplyRetentionRequest {
            log: log.into(),
            dry_run,
        })
        .await?
        .into_inner();
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(message) = stream.message().await? {
        match message.item.unwrap() {
            apply_retention_response::Item::Progress(p) => progress.push(p),
            apply_retention_response::Item::Result(r) => result = Some(r),
        }
    }
    Ok((progress, result.expect("a result")))
}

/// The `_system` events with `action`, once `count` of them are searchable.
async fn system_events(client: &Client, action: &str, count: usize) -> Vec<v1::Event> {
    eventually(&format!("{count} {action} events"), WAIT, || {
        let mut client = client.clone();
        async move {
            let page = client
                .query(v1::QueryRequest {
                    log: "_system".into(),
                    selection: Some(v1::Selection {
                        filters: vec![v1::Filter {
                            field: "action".into(),
                            values: vec![action.into()],
                        }],
                        ..Default::default()
                    }),
                    order: v1::Order::OldestFirst.into(),
                    limit: 1000,
                    cursor: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            (page.records.len() >= count)
                .then(|| page.records.into_iter().map(|r| r.event.unwrap()).collect())
        }
    })
    .await
}

fn details(e: &v1::Event) -> serde_json::Value {
    serde_json::from_str(&e.details_json).unwrap()
}

async fn count(client: &mut Client, log: &str) -> u64 {
    let response = client
        .aggregate(v1::AggregateRequest {
            log: log.into(),
            selection: None,
            kind: Some(v1::aggregate_request::Kind::Count(v1::CountSpec {})),
        })
        .await
        .unwrap()
        .into_inner();
    match response.result.unwrap() {
        v1::aggregate_response::Result::Count(n) => n,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_past_max_age_leave_and_verify_starts_at_the_anchor() {
    let (server, clock) = server(ArchiveTarget::None, false).await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;
    create(&mut admin, "audit", max_age(30)).await;
    fill(&mut client, &mut admin, &clock, "audit").await;

    let info = retention(&mut admin, "audit").await;
    assert_eq!(info.policy.unwrap().max_age_ms, Some(30 * DAY_MS));
    assert_eq!(info.archive_target, "");
    assert!(info.anchor.is_none() && info.holds.is_empty() && info.archived.is_empty());
    let plan = info.plan.unwrap();
    assert_eq!(
        plan.remove
            .iter()
            .map(|r| (r.first_seq, r.next_seq))
            .collect::<Vec<_>>(),
        [(0, 10), (10, 20), (20, 30)]
    );
    assert!(
        plan.remove
            .iter()
            .all(|r| r.rule == v1::RetentionRule::MaxAge as i32)
    );
    assert_eq!(plan.blocked, None);

    // A dry run answers the plan and changes nothing.
    let (_, dry) = apply(&mut admin, "audit", true).await.unwrap();
    assert!(dry.dry_run && dry.removed.is_empty());
    assert_eq!(dry.plan.unwrap().remove.len(), 3);
    assert_eq!(dry.first_seq, 0);
    let segments = admin
        .list_segments(v1::ListSegmentsRequest {
            log: "audit".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .segments;
    assert_eq!(segments.len(), 5);

    let (progress, done) = apply(&mut admin, "audit", false).await.unwrap();
    assert_eq!(
        done.removed.iter().map(|r| r.first_seq).collect::<Vec<_>>(),
        [0, 10, 20]
    );
    assert!(done.removed.iter().all(|r| r.archived.is_empty()));
    assert_eq!(done.first_seq, 30);
    assert_eq!(progress.last().map(|p| (p.done, p.total)), Some((3, 3)));

    let info = retention(&mut admin, "audit").await;
    let anchor = info.anchor.unwrap();
    assert_eq!((anchor.first_seq, anchor.removals.len()), (30, 3));
    assert_eq!(anchor.head.len(), 32);
    assert!(info.plan.unwrap().remove.is_empty());
    let gone = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 5,
            include_body: false,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::OutOfRange);

    let deletes = system_events(&client, "retention.delete", 3).await;
    assert_eq!(deletes.len(), 3);
    assert!(
        deletes
            .iter()
            .all(|e| e.actor.as_ref().unwrap().id == "anonymous")
    );
    let applied = system_events(&client, "admin.apply_retention", 2).await;
    assert_eq!(details(&applied[1])["segments_removed"], 3);

    let verified = verify(&mut client, "audit", 0, None).await.1;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.anchored_at, Some(30));
    assert_eq!(verified.anchor_head, anchor.head);
    assert_eq!(verified.records, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_and_holds_stop_deletion_whatever_the_token() {
    let (server, clock) = server(ArchiveTarget::None, true).await;
    let mut admin = server.admin(Some(ADMIN)).await;
    let mut client = server.client(Some(ADMIN)).await;
    let mut reader = server.admin(Some(READER)).await;
    create(
        &mut admin,
        "audit",
        v1::RetentionPolicy {
            max_age_ms: Some(30 * DAY_MS),
            lock_ms: Some(60 * DAY_MS),
            ..Default::default()
        },
    )
    .await;

    // The lock only goes up, even for an admin.
    let lower = admin
        .raise_lock(v1::RaiseLockRequest {
            log: "audit".into(),
            lock_ms: 10 * DAY_MS,
        })
        .await
        .unwrap_err();
    assert_eq!(lower.code(), Code::FailedPrecondition);
    assert!(lower.message().contains("retention lock"), "{lower:?}");
    let raised = admin
        .raise_lock(v1::RaiseLockRequest {
            log: "audit".into(),
            lock_ms: 90 * DAY_MS,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(raised.lock_ms, Some(90 * DAY_MS));

    // Due by age, kept by the lock.
    fill(&mut client, &mut admin, &clock, "audit").await;
    let plan = retention(&mut admin, "audit").await.plan.unwrap();
    assert!(plan.remove.is_empty());
    let blocked = plan.blocked.unwrap();
    assert_eq!(blocked.first_seq, 0);
    assert!(blocked.reason.contains("retention lock"), "{blocked:?}");
    let (_, nothing) = apply(&mut admin, "audit", false).await.unwrap();
    assert!(nothing.removed.is_empty());
    assert_eq!(nothing.first_seq, 0);

    // Past the lock, a hold on the log keeps everything.
    clock.advance(60 * DAY);
    let empty = admin
        .set_hold(v1::SetHoldRequest {
            log: "audit".into(),
            segment: None,
            reason: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(empty.message().starts_with("reason: "), "{empty:?}");
    let hold = admin
        .set_hold(v1::SetHoldRequest {
            log: "audit".into(),
            segment: None,
            reason: "case 7".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (hold.segment, hold.reason.as_str(), hold.set_by.as_str()),
        (None, "case 7", "ops")
    );
    let info = retention(&mut admin, "audit").await;
    assert_eq!(info.holds, std::slice::from_ref(&hold));
    let blocked = info.plan.unwrap().blocked.unwrap();
    assert!(
        blocked.reason.contains("legal hold on the log (case 7"),
        "{blocked:?}"
    );
    let (_, held) = apply(&mut admin, "audit", false).await.unwrap();
    assert!(held.removed.is_empty());

    // Without the admin role, nothing.
    for status in [
        reader
            .get_retention(v1::GetRetentionRequest {
                log: "audit".into(),
            })
            .await
            .unwrap_err(),
        reader
            .lift_hold(v1::LiftHoldRequest {
                log: "audit".into(),
                segment: None,
                reason: "because".into(),
            })
            .await
            .unwrap_err(),
        apply(&mut reader, "audit", false).await.unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }

    // Lifted (with a reason), the segments past the lock leave; the newest
    // sealed one, 60 days old, stays under the 90-day lock.
    let lifted = admin
        .lift_hold(v1::LiftHoldRequest {
            log: "audit".into(),
            segment: None,
            reason: "case 7 closed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lifted, hold);
    let (_, done) = apply(&mut admin, "audit", false).await.unwrap();
    assert_eq!(done.removed.len(), 3, "{done:?}");
    let blocked = done.plan.unwrap().blocked.unwrap();
    assert_eq!(blocked.first_seq, 30);
    assert!(blocked.reason.contains("retention lock"), "{blocked:?}");

    let set = system_events(&client, "admin.set_hold", 2).await;
    let ok = set
        .iter()
        .find(|e| e.outcome == v1::Outcome::Success as i32)
        .unwrap();
    assert_eq!(ok.actor.as_ref().unwrap().id, "ops");
    assert_eq!(ok.reason, "case 7");
    assert_eq!(details(ok)["reason"], "case 7");
    let lift = system_events(&client, "admin.lift_hold", 1).await;
    assert_eq!(details(&lift[0])["reason"], "case 7 closed");
    assert_eq!(details(&lift[0])["hold_reason"], "case 7");
    let locks = system_events(&client, "admin.raise_lock", 2).await;
    assert_eq!(locks[0].outcome, v1::Outcome::Failure as i32);
    assert_eq!(details(&locks[0])["lock_ms"], 10 * DAY_MS);
    system_events(&client, "auth.denied", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_segments_are_listed_restored_queried_and_verified() {
    let archive_dir = tempfile::tempdir().unwrap();
    let (server, clock) = server(
        ArchiveTarget::Local {
            path: archive_dir.path().to_path_buf(),
        },
        false,
    )
    .await;
    let mut admin = server.admin(None).await;
    let mut client = server.client(None).await;
    create(&mut admin, "audit", max_age(30)).await;
    fill(&mut client, &mut admin, &clock, "audit").await;

    let (_, done) = apply(&mut admin, "audit", false).await.unwrap();
    assert!(done.archives);
    assert_eq!(done.removed.len(), 3);
    let root = std::fs::canonicalize(archive_dir.path()).unwrap();
    assert!(
        done.removed
            .iter()
            .all(|r| r.archived.starts_with(&root.display().to_string())),
        "{done:?}"
    );
    let listed = admin
        .list_archived(v1::ListArchivedRequest {
            log: "audit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.archive_target, root.display().to_string());
    assert_eq!(
        listed
            .segments
            .iter()
            .map(|a| (a.first_seq, a.local))
            .collect::<Vec<_>>(),
        [(0, false), (10, false), (20, false)]
    );
    assert!(
        listed
            .segments
            .iter()
            .all(|a| a.sha256.len() == 32 && a.bytes > 0)
    );
    system_events(&client, "retention.archive", 3).await;

    // The archive verifies on its own, as `steled verify --archive` runs it.
    let reports =
        stele_server::offline_verify::run_archive(&stele_server::offline_verify::ArchiveOptions {
            location: archive_dir.path().display().to_string(),
            s3: Default::default(),
            data_dir: Some(server.dir.path().to_path_buf()),
            log: Some("audit".into()),
            public_key: None,
            progress: false,
        })
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].segments, reports[0].records), (3, 30));
    assert!(reports[0].failures.is_empty(), "{reports:?}");

    // Restoring from seq 10 brings back 10..30, newest first.
    let mut stream = admin
        .restore_segment(v1::RestoreSegmentRequest {
            log: "audit".into(),
            first_seq: 10,
            keep_for_ms: DAY_MS,
        })
        .await
        .unwrap()
        .into_inner();
    let mut steps = Vec::new();
    let mut result = None;
    while let Some(message) = stream.message().await.unwrap() {
        match message.item.unwrap() {
            restore_segment_response::Item::Progress(p) => steps.push((p.done, p.total)),
            restore_segment_response::Item::Result(r) => result = Some(r),
        }
    }
    assert_eq!(steps, [(1, 2), (2, 2)]);
    let result = result.unwrap();
    assert_eq!(result.first_seq, 10);
    assert_eq!(
        result
            .restored
            .iter()
            .map(|a| a.first_seq)
            .collect::<Vec<_>>(),
        [10, 20]
    );
    assert!(result.kept_until_ns > START);
    let listed = admin
        .list_archived(v1::ListArchivedRequest {
            log: "audit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed
            .segments
            .iter()
            .map(|a| (a.first_seq, a.local, a.kept_until_ns.is_some()))
            .collect::<Vec<_>>(),
        [(0, false, false), (10, true, true), (20, true, true)]
    );
    system_events(&client, "retention.restore", 2).await;

    // Restored records read, search and verify like any other; the kept
    // segments do not leave while they are kept.
    let record = client
        .get_record(v1::GetRecordRequest {
            log: "audit".into(),
            seq: 10,
            include_body: false,
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(record.event.unwrap().action, "user.login");
    let mut counter = client.clone();
    eventually("restored records searchable", WAIT, || {
        let mut c = counter.clone();
        async move { (count(&mut c, "audit").await == 33).then_some(()) }
    })
    .await;
    assert_eq!(count(&mut counter, "audit").await, 33);
    let verified = verify(&mut client, "audit", 0, None).await.1;
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.anchored_at, Some(10));
    assert_eq!(verified.records, 33);
    let plan = retention(&mut admin, "audit").await.plan.unwrap();
    assert!(plan.blocked.unwrap().reason.contains("restored"));

    // A segment that is not archived, or no archive at all, is refused.
    let bad = admin
        .restore_segment(v1::RestoreSegmentRequest {
            log: "audit".into(),
            first_seq: 30,
            keep_for_ms: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");

    // `steled verify --archive`: ok, then FAILED once an archived file is
    // altered, and unusable for a missing directory.
    let archive = archive_dir.path().to_str().unwrap();
    let data = server.dir.path().to_str().unwrap();
    let (code, stderr) = steled(&["verify", "--archive", archive, "--data-dir", data]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("ok      audit: 3 segments, 30 records (seqs 0..30)"),
        "{stderr}"
    );
    let file = archive_dir.path().join("audit/00000000000000000000.seg");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let (code, stderr) = steled(&["verify", "--archive", archive]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("unpinned") && stderr.contains("FAILED  audit"),
        "{stderr}"
    );
    assert!(
        stderr.contains("00000000000000000000.seg: SHA-256 differs"),
        "{stderr}"
    );
    let (code, stderr) = steled(&["verify", "--archive", "/no/such/archive"]);
    assert_eq!(code, Some(2), "{stderr}");
}

/// Runs the `steled` binary; its exit code and stderr.
fn steled(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_steled"))
        .args(args)
        .env("STELE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_retention_changes_limits_and_names_bad_fields() {
    let (server, _clock) = server(ArchiveTarget::None, false).await;
    let mut admin = server.admin(None).await;
    create(&mut admin, "audit", max_age(30)).await;
    let set = |max_age_ms, clear_max_age, max_bytes, clear_max_bytes| v1::SetRetentionRequest {
        log: "audit".into(),
        max_age_ms,
        clear_max_age,
        max_bytes,
        clear_max_bytes,
    };
    let p = admin
        .set_retention(set(None, false, Some(1 << 30), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (p.max_age_ms, p.max_bytes),
        (Some(30 * DAY_MS), Some(1 << 30))
    );
    let p = admin
        .set_retention(set(None, true, None, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.max_age_ms, p.max_bytes), (None, Some(1 << 30)));
    for (request, field) in [
        (set(Some(0), false, None, false), "max_age_ms: "),
        (set(Some(5), true, None, false), "clear_max_age: "),
        (set(None, false, Some(0), false), "max_bytes: "),
    ] {
        let status = admin.set_retention(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{status:?}");
    }
    let info = admin
        .get_log(v1::GetLogRequest {
            name: "audit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let retention = info.policy.unwrap().retention.unwrap();
    assert_eq!(
        (retention.max_age_ms, retention.max_bytes),
        (None, Some(1 << 30))
    );
    let missing = admin
        .get_retention(v1::GetRetentionRequest { log: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
