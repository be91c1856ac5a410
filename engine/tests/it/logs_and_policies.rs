//! What a user of the library does with a data directory: create, list and
//! open logs; the lock against a second opener; atomic, validated batches;
//! sanitising and scrubbing; sealing by age, count and on demand; checkpoints.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use stele_engine::event::scrub::{CustomRule, ScrubPolicy};
use stele_engine::{
    Error, Event, FsyncPolicy, ManualClock, Policy, SegmentState, Store, StoreOptions,
};

#[test]
fn logs_are_created_listed_and_reopened_with_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let a = store.create_log("audit", Policy::default()).unwrap();
    store.create_log("billing-2026", Policy::default()).unwrap();
    let id = a.log_id();
    assert!(matches!(
        store.create_log("audit", Policy::default()),
        Err(Error::LogExists(_))
    ));
    assert!(matches!(
        store.create_log("_mine", Policy::default()),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        store.create_log("Bad Name", Policy::default()),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(store.log("nope"), Err(Error::LogNotFound(_))));
    store.system_log().unwrap();
    assert_eq!(
        store.list_logs().unwrap(),
        ["_system", "audit", "billing-2026"]
    );
    drop(a);
    store.close().unwrap();
    let store = common::open(dir.path());
    assert_eq!(store.log("audit").unwrap().log_id(), id);
    assert_ne!(store.log("billing-2026").unwrap().log_id(), id);
}

#[test]
fn a_second_opener_gets_a_clear_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    match Store::open(dir.path()) {
        Err(Error::Locked { lock, .. }) => assert_eq!(lock, dir.path().join("LOCK")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(store);
    common::open(dir.path());
}

#[test]
fn a_batch_with_one_bad_event_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let log = store.create_log("l", Policy::default()).unwrap();
    log.append(&common::events(0, 3)).unwrap();
    let mut batch = common::events(3, 8);
    batch[2].actor.ip = "x".repeat(256);
    match log.append(&batch) {
        Err(Error::InvalidEvent { index, field, .. }) => {
            assert_eq!((index, field.as_str()), (2, "actor.ip"))
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
    assert_eq!(
        log.visible_seq(),
        3,
        "nothing of the bad batch was appended"
    );
    let receipts = log.append(&common::events(3, 5)).unwrap();
    assert_eq!(receipts[0].seq, 3);

    // Large batches are prepared in parallel parts: the error still names the
    // first bad event, and nothing is appended.
    let mut large = common::events(5, 1005);
    large[900].action = String::new();
    large[700].action = "no spaces allowed".into();
    match log.append(&large) {
        Err(Error::InvalidEvent { index, field, .. }) => {
            assert_eq!((index, field.as_str()), (700, "action"))
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
    assert_eq!(log.visible_seq(), 5);
    let receipts = log.append(&common::events(5, 1005)).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (5..1005).collect::<Vec<_>>()
    );
    assert_eq!(
        log.read(900).unwrap().event().unwrap().unwrap(),
        common::event(900)
    );
    let too_many = vec![common::event(0); Policy::default().limits.max_batch_events + 1];
    assert!(matches!(
        log.append(&too_many),
        Err(Error::InvalidArgument { .. })
    ));
    let mut big = common::event(0);
    big.id.clear(); // not a retry of event 0
    big.message = "m".repeat(4000);
    big.reason = "r".repeat(4000);
    match log.append(&vec![big; 5000]) {
        Err(e @ Error::InvalidArgument { .. }) => {
            assert!(e.to_string().contains("bytes per batch"), "{e}")
        }
        other => panic!("expected the batch byte limit, got {other:?}"),
    }
    assert_eq!(log.visible_seq(), 1005);
}

#[test]
fn ids_and_times_are_filled_in_and_fields_sanitised_before_hashing() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000_000_000));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let policy = Policy {
        sanitize: vec!["details.password".into(), "actor.user_agent".into()],
        ..Policy::default()
    };
    let log = store.create_log("l", policy).unwrap();
    let mut event = Event {
        action: "user.login".into(),
        ..Event::default()
    };
    event.actor.user_agent = "curl/8".into();
    event.details = serde_json::json!({"password": "hunter2", "user": "bob"})
        .as_object()
        .cloned();
    log.append(&[event]).unwrap();
    let record = log.read(0).unwrap();
    let stored = record.event().unwrap().unwrap();
    assert_eq!(stored.time, Some(1_800_000_000_000_000_000));
    assert_eq!(record.ingest_time, 1_800_000_000_000_000_000);
    assert!(uuid::Uuid::parse_str(&stored.id).is_ok_and(|u| u.get_version_num() == 7));
    assert_eq!(stored.actor.user_agent, "[redacted]");
    assert_eq!(stored.details.unwrap()["password"], "[redacted]");
    let RecordBodyBytes(bytes) = RecordBodyBytes::of(&record);
    assert!(
        !bytes.windows(7).any(|w| w == b"hunter2"),
        "the secret never reaches the disk"
    );
}

struct RecordBodyBytes(Vec<u8>);

impl RecordBodyBytes {
    fn of(record: &stele_engine::Record) -> RecordBodyBytes {
        match &record.body {
            stele_engine::RecordBody::Stored(b) => RecordBodyBytes(b.clone()),
            stele_engine::RecordBody::Redacted(_) => panic!("not redacted"),
        }
    }
}

#[test]
fn segments_seal_by_count_by_age_and_on_demand_and_are_read_only() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000_000_000));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            clock: clock.clone(),
            maintenance_interval: Duration::from_millis(5),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut policy = common::small_policy(FsyncPolicy::Always, 50);
    policy.seal.max_age_ms = 60_000;
    let log = store.create_log("l", policy).unwrap();

    log.append(&common::events(0, 50)).unwrap();
    assert_eq!(log.segments().len(), 2, "rotated at 50 records");
    log.finish_seals().unwrap();
    let segments = log.segments();
    assert_eq!(
        segments[0].state,
        SegmentState::Sealed,
        "sealed at 50 records"
    );
    assert_eq!((segments[0].first_seq, segments[0].next_seq), (0, 50));
    let mode = std::fs::metadata(&segments[0].path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);

    log.append(&common::events(50, 60)).unwrap();
    clock.advance(Duration::from_secs(59));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(log.segments().len(), 2, "not old enough yet");
    clock.advance(Duration::from_secs(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sealed_by_age = || {
        log.segments()
            .get(1)
            .is_some_and(|s| s.state == SegmentState::Sealed)
    };
    while !sealed_by_age() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        log.segments()[1].state,
        SegmentState::Sealed,
        "sealed by age"
    );

    log.append(&common::events(60, 61)).unwrap();
    let sealed = log.seal().unwrap().unwrap();
    assert_eq!((sealed.first_seq, sealed.next_seq), (60, 61));
    assert!(
        log.seal().unwrap().is_none(),
        "an empty active segment is not sealed"
    );
    assert_eq!(
        log.read(60).unwrap().event().unwrap().unwrap(),
        common::event(60)
    );
}

#[test]
fn interval_and_never_policies_acknowledge_and_persist_across_close() {
    for fsync in ["interval:5", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let store = common::open(dir.path());
        let policy = Policy {
            fsync: fsync.parse().unwrap(),
            ..Policy::default()
        };
        let log = store.create_log("l", policy).unwrap();
        log.append(&common::events(0, 10)).unwrap();
        assert_eq!(log.visible_seq(), 10);
        drop(log);
        store.close().unwrap();
        assert_eq!(
            common::open(dir.path()).log("l").unwrap().visible_seq(),
            10,
            "{fsync}"
        );
    }
}

#[test]
fn checkpoints_are_signed_on_seal_and_on_request_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let key = store.public_key();
    let log = store
        .create_log("l", common::small_policy(FsyncPolicy::Always, 20))
        .unwrap();
    for b in 0..9 {
        log.append(&common::events(b * 5, b * 5 + 5)).unwrap();
    }
    log.finish_seals().unwrap();
    let on_request = log.checkpoint().unwrap();
    assert_eq!(on_request.size, 45);
    // Asking again with the head unmoved records nothing new.
    assert_eq!(log.checkpoint().unwrap(), on_request);
    let all = log.checkpoints().unwrap();
    assert_eq!(all.iter().map(|c| c.size).collect::<Vec<_>>(), [20, 40, 45]);
    log.append(&common::events(45, 46)).unwrap();
    assert_eq!(log.checkpoint().unwrap().size, 46);
    assert_eq!(log.checkpoints().unwrap().len(), 4);
    for cp in &all {
        log.verify_checkpoint(cp, &key).unwrap();
    }

    let mut wrong_head = on_request.clone();
    wrong_head.head[0] ^= 1;
    assert!(matches!(
        log.verify_checkpoint(&wrong_head, &key),
        Err(Error::BadCheckpoint(_))
    ));
    let other = Store::open(tempfile::tempdir().unwrap().path())
        .unwrap()
        .public_key();
    assert!(
        log.verify_checkpoint(&on_request, &other).is_err(),
        "pinned key differs"
    );
    let mut future = on_request.clone();
    future.size = 1000;
    assert!(log.verify_checkpoint(&future, &key).is_err());

    let key_mode = std::fs::metadata(dir.path().join("keys/checkpoint.ed25519"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
}

#[test]
fn scrubbing_keeps_secrets_off_the_disk_and_its_rules_change_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let policy = Policy {
        scrub: ScrubPolicy {
            builtin: vec!["all".into()],
            custom: vec![CustomRule {
                name: "ticket_secret".into(),
                pattern: r"TS-[0-9]{6}".into(),
            }],
        },
        ..Policy::default()
    };
    let log = store.create_log("l", policy).unwrap();
    let leaky = |message: &str| Event {
        action: "db.connect".into(),
        message: message.into(),
        details: serde_json::json!({"dsn": "postgres://app:hunter2@db/prod", "api_key": "k-77"})
            .as_object()
            .cloned(),
        ..Event::default()
    };
    log.append(&[leaky("ticket TS-123456 opened")]).unwrap();
    let record = log.read(0).unwrap();
    let stored = record.event().unwrap().unwrap();
    assert_eq!(stored.message, "ticket [redacted:ticket_secret] opened");
    let details = stored.details.unwrap();
    assert_eq!(
        details["dsn"],
        "postgres://app:[redacted:url_password]@db/prod"
    );
    assert_eq!(details["api_key"], "[redacted:key_value]");
    assert_eq!(
        details["_scrubbed"]["rules"],
        serde_json::json!(["key_value", "ticket_secret", "url_password"])
    );
    let RecordBodyBytes(bytes) = RecordBodyBytes::of(&record);
    for secret in [&b"hunter2"[..], b"k-77", b"TS-123456"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "a secret reached the disk"
        );
    }

    // A bad rule is refused by name, and changes nothing.
    let err = log
        .set_scrub(ScrubPolicy {
            builtin: vec!["jwt".into()],
            custom: vec![CustomRule {
                name: "broken".into(),
                pattern: "(".into(),
            }],
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("policy.scrub.custom[0].pattern"),
        "{err}"
    );
    assert_eq!(log.manifest().policy.scrub.builtin, vec!["all".to_string()]);

    // Narrowed to JWTs: the URL password is now kept, and the change
    // survives a reopen.
    log.set_scrub(ScrubPolicy {
        builtin: vec!["jwt".into()],
        custom: Vec::new(),
    })
    .unwrap();
    log.append(&[leaky("ticket TS-123456 opened")]).unwrap();
    let stored = log.read(1).unwrap().event().unwrap().unwrap();
    assert_eq!(stored.message, "ticket TS-123456 opened");
    assert!(stored.details.unwrap().get("_scrubbed").is_none());
    drop(log);
    store.close().unwrap();
    let store = common::open(dir.path());
    let log = store.log("l").unwrap();
    assert_eq!(log.manifest().policy.scrub.builtin, vec!["jwt".to_string()]);
    log.append(&[Event {
        action: "x".into(),
        message: "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln".into(),
        ..Event::default()
    }])
    .unwrap();
    let stored = log.read(2).unwrap().event().unwrap().unwrap();
    assert_eq!(stored.message, "token [redacted:jwt]");
}
