//! Retention, legal holds, the retention lock and archival, over time with
//! an injected clock: what leaves local storage and when, that protected
//! segments never leave whoever asks, that verification passes after policy
//! deletions and fails when a segment is removed by hand, and that archival
//! loses nothing when any step fails (local directory and a real
//! S3-compatible server).

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::s3::S3Server;
use common::{events, log_dir, small_policy};
use stele_engine::archive::check::check_archive;
use stele_engine::{
    ApplyOptions, ArchiveTarget, Direction, Error, Faults, FsyncPolicy, Log, ManualClock,
    ObjectArchive, Policy, RetentionPolicy, Step, Store, StoreOptions,
};

const START: i64 = 1_790_000_000_000_000_000;
const MIN: Duration = Duration::from_secs(60);
const HOUR: u64 = 3_600_000;

fn options(clock: &Arc<ManualClock>, archive: ArchiveTarget) -> StoreOptions {
    StoreOptions {
        clock: clock.clone(),
        archive,
        retention_interval: None,
        ..StoreOptions::default()
    }
}

/// A log sealed every 100 records, with `retention`.
fn policy(retention: RetentionPolicy) -> Policy {
    Policy {
        retention,
        ..small_policy(FsyncPolicy::Always, 100)
    }
}

/// Appends 600 records, 100 every 10 minutes, each 100 sealed as one
/// segment (the active one is left empty), so segment `k` (seqs
/// 100k..100k+100) is `60 - 10k` minutes old when the clock reads START + 1 h.
fn fill(log: &Log, clock: &ManualClock) {
    for k in 0..6 {
        log.append(&events(k * 100, k * 100 + 100)).unwrap();
        log.finish_seals().unwrap();
        clock.advance(10 * MIN);
    }
}

/// A store in `dir` holding the log `audit` with `retention`, filled.
fn filled(
    dir: &Path,
    options: StoreOptions,
    clock: &ManualClock,
    retention: RetentionPolicy,
) -> (Store, Arc<Log>) {
    let store = Store::open_with(dir, options).unwrap();
    let log = store.create_log("audit", policy(retention)).unwrap();
    fill(&log, clock);
    (store, log)
}

/// A policy with only `max_age_ms`.
fn max_age(ms: u64) -> RetentionPolicy {
    RetentionPolicy {
        max_age_ms: Some(ms),
        ..RetentionPolicy::default()
    }
}

/// Segments archived by the archival tests: those older than 25 minutes,
/// 0..400 of a freshly filled log.
const ARCHIVE_AGE: u64 = 25 * 60_000;

fn by(who: &str) -> ApplyOptions {
    ApplyOptions {
        dry_run: false,
        requested_by: who.into(),
    }
}

fn apply(store: &Store, log: &str) -> Vec<u64> {
    store
        .apply_retention(log, &by("ops"), &mut |_| {})
        .unwrap()
        .removed
        .iter()
        .map(|r| r.first_seq)
        .collect()
}

/// The `_system` events with `action`.
fn system_actions(store: &Store, action: &str) -> usize {
    store
        .system_log()
        .unwrap()
        .scan(.., Direction::Forward)
        .filter(|r| r.as_ref().unwrap().event().unwrap().unwrap().action == action)
        .count()
}

fn assert_verifies(store: &Store, log: &Log, anchored_at: Option<u64>) {
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.anchored_at, anchored_at);
}

#[test]
fn segments_leave_by_age_and_size_and_verify_passes_after() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let (store, log) = filled(
        dir.path(),
        options(&clock, ArchiveTarget::None),
        &clock,
        max_age(HOUR),
    );
    // Now START+60m: segment 0 (newest record at START) is exactly 60 min old.
    let plan = log.retention_plan();
    assert_eq!(plan.remove.len(), 1, "{plan:?}");
    let dry = store
        .apply_retention(
            "audit",
            &ApplyOptions {
                dry_run: true,
                requested_by: "ops".into(),
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(dry.plan.remove.len(), 1);
    assert!(dry.removed.is_empty());
    assert_eq!(log.first_seq(), 0, "a dry run changes nothing");

    assert_eq!(apply(&store, "audit"), [0]);
    assert_eq!(log.first_seq(), 100);
    assert!(
        !log_dir(dir.path(), "audit")
            .join("segments/00000000000000000000.seg")
            .exists()
    );
    assert!(matches!(log.read(50), Err(Error::SeqOutOfRange { .. })));
    assert_eq!(log.read(100).unwrap().seq, 100);
    assert_verifies(&store, &log, Some(100));
    assert_eq!(system_actions(&store, "retention.delete"), 1);

    clock.advance(25 * MIN);
    assert_eq!(apply(&store, "audit"), [100, 200]);
    assert_verifies(&store, &log, Some(300));
    // Searches see only what is left.
    let page = log
        .search(&stele_engine::Query {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.hits.len(), 300);
    assert!(page.hits.iter().all(|h| h.record.seq >= 300));

    // Size: keep under two segments' worth of files.
    let sizes: Vec<u64> = log.segments().iter().map(|s| s.file_bytes).collect();
    let limit = sizes.iter().rev().take(2).sum::<u64>();
    log.set_retention(Some(None), Some(Some(limit))).unwrap();
    assert_eq!(apply(&store, "audit"), [300, 400]);
    assert_verifies(&store, &log, Some(500));
    assert_eq!(system_actions(&store, "retention.delete"), 5);

    // The anchor survives a restart, and the log goes on.
    drop(log);
    drop(store);
    let store = Store::open_with(dir.path(), options(&clock, ArchiveTarget::None)).unwrap();
    let log = store.log("audit").unwrap();
    assert_eq!(log.first_seq(), 500);
    log.append(&events(600, 610)).unwrap();
    assert_verifies(&store, &log, Some(500));
    let offline = stele_engine::verify_log_dir(
        &log_dir(dir.path(), "audit"),
        0..u64::MAX,
        Some(&store.public_key()),
    )
    .unwrap();
    assert!(offline.is_ok(), "{:?}", offline.failure);
}

#[test]
fn the_lock_and_holds_stop_removal_whoever_asks() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let (store, log) = filled(
        dir.path(),
        options(&clock, ArchiveTarget::None),
        &clock,
        RetentionPolicy {
            max_age_ms: Some(10 * 60_000),
            lock_ms: Some(HOUR / 2),
            ..RetentionPolicy::default()
        },
    );
    // At START+60m segments 0..=3 are 60, 50, 40, 30 min old (at or past
    // the 30 min lock); segment 4, 20 min old, is due by age but locked.
    let plan = log.retention_plan();
    assert_eq!(
        plan.remove.iter().map(|r| r.first_seq).collect::<Vec<_>>(),
        [0, 100, 200, 300]
    );

    // The lock can be raised, never lowered.
    log.raise_lock(HOUR).unwrap();
    let err = log.raise_lock(HOUR / 2).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert!(err.to_string().contains("never lowered"), "{err}");
    assert_eq!(log.policy().retention.lock_ms, Some(HOUR));

    let plan = log.retention_plan();
    assert_eq!(
        plan.remove.iter().map(|r| r.first_seq).collect::<Vec<_>>(),
        [0]
    );
    let blocked = plan.blocked.clone().unwrap();
    assert_eq!(blocked.first_seq, 100);
    assert!(
        blocked.reason.contains("retention lock of 1h"),
        "{}",
        blocked.reason
    );

    // The engine refuses a removal the lock forbids, even one planned
    // before the lock was raised.
    let mut early = plan.remove[0];
    early.first_seq = 0;
    log.raise_lock(2 * HOUR).unwrap();
    let err = log.remove_front(&early, None).unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert!(err.to_string().contains("retention lock"), "{err}");
    assert_eq!(log.first_seq(), 0);

    // A hold on the log blocks everything, even past the lock.
    log.set_hold(None, "case 2026-17", "legal").unwrap();
    clock.advance(Duration::from_secs(5 * 3600));
    let report = store
        .apply_retention("audit", &by("ops"), &mut |_| {})
        .unwrap();
    assert!(report.removed.is_empty());
    assert!(
        report
            .plan
            .blocked
            .unwrap()
            .reason
            .contains("legal hold on the log (case 2026-17")
    );
    assert_eq!(log.first_seq(), 0);

    // A hold on segment 200 lets 0 and 100 go, and stops there.
    log.set_hold(Some(200), "case 2026-18", "legal").unwrap();
    log.lift_hold(None).unwrap();
    assert!(log.lift_hold(None).is_err(), "no hold left on the log");
    assert!(
        log.set_hold(Some(201), "x", "legal").is_err(),
        "no such segment"
    );
    assert_eq!(apply(&store, "audit"), [0, 100]);
    assert_eq!(log.first_seq(), 200);
    log.lift_hold(Some(200)).unwrap();
    assert_eq!(apply(&store, "audit"), [200, 300, 400, 500]);
    assert_verifies(&store, &log, Some(600));

    // Holds and the lock are in the manifest: they survive a restart.
    log.set_hold(None, "case 9", "legal").unwrap();
    drop(log);
    drop(store);
    let store = Store::open_with(dir.path(), options(&clock, ArchiveTarget::None)).unwrap();
    let log = store.log("audit").unwrap();
    assert_eq!(log.manifest().holds.len(), 1);
    assert_eq!(log.policy().retention.lock_ms, Some(2 * HOUR));
}

#[test]
fn a_segment_removed_by_hand_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let (store, log) = filled(
        dir.path(),
        options(&clock, ArchiveTarget::None),
        &clock,
        max_age(HOUR),
    );
    assert_eq!(apply(&store, "audit"), [0]);
    let key = store.public_key();
    drop(log);
    drop(store);
    let audit = log_dir(dir.path(), "audit");

    // The oldest local segment removed by hand: no anchor covers it.
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(&audit, copy.path());
    std::fs::remove_file(copy.path().join("segments/00000000000000000100.seg")).unwrap();
    let report = stele_engine::verify_log_dir(copy.path(), 0..u64::MAX, Some(&key)).unwrap();
    let failure = report.failure.expect("a hand-removed segment is found");
    assert!(failure.reason.contains("missing"), "{failure}");

    // A segment in the middle removed by hand.
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(&audit, copy.path());
    std::fs::remove_file(copy.path().join("segments/00000000000000000300.seg")).unwrap();
    let report = stele_engine::verify_log_dir(copy.path(), 0..u64::MAX, Some(&key)).unwrap();
    let reason = report.failure.unwrap().reason;
    assert!(
        reason.contains("seqs 300..400: they are missing"),
        "{reason}"
    );

    // The anchor moved by hand (as if more had been removed) no longer
    // verifies against the key.
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(&audit, copy.path());
    std::fs::remove_file(copy.path().join("segments/00000000000000000100.seg")).unwrap();
    let manifest = copy.path().join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let next = std::fs::read(audit.join("segments/00000000000000000200.seg")).unwrap();
    json["anchor"]["first_seq"] = 200.into();
    json["anchor"]["head"] = hex::encode(&next[36..68]).into();
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let report = stele_engine::verify_log_dir(copy.path(), 0..u64::MAX, Some(&key)).unwrap();
    let failure = report.failure.expect("a forged anchor is found");
    assert!(
        failure.reason.contains("anchor does not verify"),
        "{failure}"
    );

    // And the untouched log verifies.
    let report = stele_engine::verify_log_dir(&audit, 0..u64::MAX, Some(&key)).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
}

/// Archives every due segment of a fresh log to `target`, then restores
/// them and checks that nothing changed: the shared scenario of the local
/// and S3 tests.
fn archive_and_restore(target: ArchiveTarget) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let (store, log) = filled(
        dir.path(),
        options(&clock, target),
        &clock,
        max_age(ARCHIVE_AGE),
    );
    let before: Vec<_> = log
        .scan(.., Direction::Forward)
        .map(Result::unwrap)
        .collect();
    let receipts: Vec<_> = (0..600)
        .map(|s| log.read_with_receipt(s).unwrap().1)
        .collect();
    let leaves: Vec<_> = receipts.iter().map(|r| r.leaf_hash).collect();
    // Tree heads an auditor keeps, inside chunks retention will empty.
    let signed = [150, 333];
    for size in signed {
        log.signed_tree_head(size, "stele.test").unwrap();
    }
    assert_proofs(&log, &leaves, &signed);

    let report = store
        .apply_retention("audit", &by("ops"), &mut |_| {})
        .unwrap();
    assert!(report.archives);
    assert_eq!(report.removed.len(), 4);
    assert!(report.removed.iter().all(|r| r.archived.is_some()));
    assert_eq!(log.first_seq(), 400);
    assert_eq!(system_actions(&store, "retention.archive"), 4);
    let manifest = log.manifest();
    assert_eq!(manifest.archived.len(), 4);
    assert_verifies(&store, &log, Some(400));
    assert_proofs(&log, &leaves, &signed);

    // The archive checks out on its own.
    let archive = store.archive().unwrap();
    let reports = check_archive(archive, Some(&store.public_key()), None, &mut |_| {}).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].failures, Vec::<String>::new());
    assert_eq!((reports[0].segments, reports[0].records), (4, 400));
    assert_eq!((reports[0].first_seq, reports[0].next_seq), (0, 400));

    // Restore from seq 150: segments 100..400 come back, read-only.
    let restored = store
        .restore_segment(
            "audit",
            150,
            Duration::from_secs(3600),
            "auditor",
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(
        restored.iter().map(|a| a.first_seq).collect::<Vec<_>>(),
        [100, 200, 300]
    );
    assert_eq!(log.first_seq(), 100);
    assert_eq!(system_actions(&store, "retention.restore"), 3);
    for seq in 100..600 {
        let (record, receipt) = log.read_with_receipt(seq).unwrap();
        assert_eq!(record, before[seq as usize]);
        assert_eq!(receipt, receipts[seq as usize]);
    }
    let page = log
        .search(&stele_engine::Query {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.hits.len(), 500);
    assert_verifies(&store, &log, Some(100));
    assert_proofs(&log, &leaves, &signed);
    // Kept for an hour: retention leaves the restored segments alone.
    assert!(
        store
            .apply_retention("audit", &by("ops"), &mut |_| {})
            .unwrap()
            .removed
            .is_empty()
    );
    clock.advance(Duration::from_secs(3601));
    let removed = store
        .apply_retention("audit", &by("ops"), &mut |_| {})
        .unwrap()
        .removed;
    assert_eq!(
        removed.len(),
        5,
        "100..600 minus the active one, all old now"
    );
    assert_verifies(&store, &log, Some(600));
    assert_proofs(&log, &leaves, &signed);
    // Restored segments survive a restart.
    let restored = store
        .restore_segment(
            "audit",
            0,
            Duration::from_secs(3600),
            "auditor",
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(restored.len(), 6);
    drop(log);
    drop(store);
    let store = Store::open_with(dir.path(), options(&clock, ArchiveTarget::None)).unwrap();
    let log = store.log("audit").unwrap();
    assert_eq!(log.first_seq(), 0);
    let after: Vec<_> = log
        .scan(..600, Direction::Forward)
        .map(Result::unwrap)
        .collect();
    assert_eq!(after, before);
    assert_verifies(&store, &log, Some(0));
    assert_proofs(&log, &leaves, &signed);
}

/// The log's Merkle tree gives the root computed by definition from
/// `leaves` (every record's leaf hash from seq 0), and its proofs check:
/// inclusion of records still stored, consistency from the signed sizes
/// `signed` and from the first stored seq.
fn assert_proofs(log: &Log, leaves: &[stele_engine::chain::Hash], signed: &[u64]) {
    use stele_chain::merkle::{root_of, verify_consistency, verify_inclusion};
    let size = log.visible_seq();
    assert_eq!(size, leaves.len() as u64);
    let root = root_of(leaves);
    assert_eq!(log.tree_root(size).unwrap(), root);
    let first = log.first_seq();
    for seq in [first, first + 1, size - 1]
        .into_iter()
        .filter(|s| *s < size)
    {
        let path = log.inclusion_proof(seq, size).unwrap();
        verify_inclusion(seq, size, &leaves[seq as usize], &path, &root).unwrap();
    }
    for &old in signed.iter().chain([&first]) {
        let proof = log.consistency_proof(old, size).unwrap();
        let old_root = root_of(&leaves[..old as usize]);
        verify_consistency(old, size, &old_root, &root, &proof)
            .unwrap_or_else(|e| panic!("from {old} (log starts at {first}): {e}"));
    }
}

#[test]
fn archival_to_a_local_directory() {
    let archive = tempfile::tempdir().unwrap();
    archive_and_restore(ArchiveTarget::Local {
        path: archive.path().to_path_buf(),
    });
}

#[test]
fn archival_to_a_real_s3_compatible_server() {
    let server = S3Server::start();
    archive_and_restore(server.target("stele-archive", "prod/eu"));
}

/// Fails one step, once.
#[derive(Debug)]
struct FailOnce {
    step: Step,
    armed: AtomicBool,
}

impl Faults for FailOnce {
    fn before(&self, step: Step) -> std::io::Result<()> {
        if step == self.step && self.armed.swap(false, Ordering::SeqCst) {
            return Err(std::io::Error::other(format!("injected failure at {step}")));
        }
        Ok(())
    }
}

/// Every seq of 0..600 whose record is readable locally or from the
/// archive's entries (checked against the local copy of the same seq when
/// both exist).
fn all_records_somewhere(data: &Path, archive: &Path, key: &ed25519_dalek::VerifyingKey) {
    let store = Store::open_with(
        data,
        StoreOptions {
            retention_interval: None,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let log = store.log("audit").unwrap();
    let mut seqs: HashSet<u64> = (log.first_seq()..log.visible_seq()).collect();
    let objects = ObjectArchive::open(&ArchiveTarget::Local {
        path: archive.to_path_buf(),
    })
    .unwrap()
    .unwrap();
    for report in check_archive(&objects, Some(key), None, &mut |_| {}).unwrap() {
        assert_eq!(report.failures, Vec::<String>::new());
        seqs.extend(report.first_seq..report.next_seq);
    }
    assert_eq!(seqs.len(), 600, "no record lost");
    let verified = log.verify(0..u64::MAX, key).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.failure);
}

#[test]
fn a_failure_at_any_archival_step_loses_nothing() {
    for step in [
        Step::UploadSegment,
        Step::UploadIndex,
        Step::UploadEntry,
        Step::ReadBack,
        Step::Commit,
        Step::DeleteLocal,
    ] {
        let data = tempfile::tempdir().unwrap();
        let archive = tempfile::tempdir().unwrap();
        let target = ArchiveTarget::Local {
            path: archive.path().to_path_buf(),
        };
        let clock = Arc::new(ManualClock::new(START));
        let faults = Arc::new(FailOnce {
            step,
            armed: AtomicBool::new(true),
        });
        let (store, log) = filled(
            data.path(),
            StoreOptions {
                faults: faults.clone(),
                ..options(&clock, target.clone())
            },
            &clock,
            max_age(ARCHIVE_AGE),
        );
        let key = store.public_key();
        let err = store
            .apply_retention("audit", &by("ops"), &mut |_| {})
            .unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "{step}: {err}"
        );
        let committed = matches!(step, Step::DeleteLocal);
        assert_eq!(log.first_seq(), if committed { 100 } else { 0 }, "{step}");
        // The segment's file is still there: only a committed removal
        // deletes it, and that one is finished at the next open.
        let first = log_dir(data.path(), "audit").join("segments/00000000000000000000.seg");
        assert!(
            first.exists(),
            "{step}: the only local copy stays until the removal is committed"
        );
        drop(log);
        drop(store);
        // A crash here: reopen, check nothing is lost, then finish the job.
        all_records_somewhere(data.path(), archive.path(), &key);
        assert_eq!(
            first.exists(),
            !committed,
            "{step}: recovery finishes a committed removal only"
        );
        let store = Store::open_with(data.path(), options(&clock, target)).unwrap();
        let report = store
            .apply_retention("audit", &by("ops"), &mut |_| {})
            .unwrap();
        assert_eq!(
            report.removed.len(),
            if committed { 3 } else { 4 },
            "{step}: the next pass archives the rest"
        );
        drop(store);
        all_records_somewhere(data.path(), archive.path(), &key);
    }
}

#[test]
fn erasure_reaches_archived_copies() {
    use stele_engine::segment::SealedSegment;
    use stele_engine::{EraseOptions, ExactField, Filter, Query, RecordBody};

    let data = tempfile::tempdir().unwrap();
    let archive_dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let target = ArchiveTarget::Local {
        path: archive_dir.path().to_path_buf(),
    };
    let (store, log) = filled(
        data.path(),
        options(&clock, target),
        &clock,
        max_age(ARCHIVE_AGE),
    );
    let before: Vec<_> = log
        .scan(.., Direction::Forward)
        .map(Result::unwrap)
        .collect();
    assert_eq!(apply(&store, "audit"), [0, 100, 200, 300]);

    let query = Query {
        filters: vec![Filter {
            field: ExactField::ActorId,
            values: vec!["user-3".into()],
        }],
        ..Query::default()
    };
    let erase = |dry_run| EraseOptions {
        dry_run,
        reason: "GDPR request 311".into(),
        requested_by: "dpo".into(),
    };
    let dry = store
        .erase("audit", &query, &erase(true), &mut |_| {})
        .unwrap();
    assert_eq!(dry.archived_in_range, [0, 100, 200, 300]);
    assert!(dry.restored.is_empty());
    assert_eq!(log.first_seq(), 400, "a dry run restores nothing");

    let report = store
        .erase("audit", &query, &erase(false), &mut |_| {})
        .unwrap();
    let expected: Vec<u64> = (0..600).filter(|i| i % 11 == 3).collect();
    assert_eq!(report.local.seqs, expected);
    assert_eq!(report.restored, [0, 100, 200, 300]);
    assert_eq!(report.rearchived, [0, 100, 200, 300]);
    for record in &before {
        let now = log.read(record.seq).unwrap();
        if expected.contains(&record.seq) {
            assert_eq!(now.body, RecordBody::Redacted(record.body_digest()));
        } else {
            assert_eq!(&now, record);
        }
    }
    assert_verifies(&store, &log, Some(0));

    // The archived copies hold the erased version, with no stale index
    // files, and the archive checks out on its own.
    let archive = store.archive().unwrap();
    for entry in &log.manifest().archived {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), archive.get(&entry.segment_key).unwrap()).unwrap();
        let segment = SealedSegment::open(file.path()).unwrap();
        for (record, _) in segment.read(entry.first_seq, entry.next_seq).unwrap() {
            let erased = matches!(record.body, RecordBody::Redacted(_));
            assert_eq!(erased, expected.contains(&record.seq), "seq {}", record.seq);
        }
        let prefix = format!("audit/{:020}.index/", entry.first_seq);
        assert_eq!(archive.list(&prefix).unwrap(), entry.index_keys);
    }
    let reports = check_archive(archive, Some(&store.public_key()), None, &mut |_| {}).unwrap();
    assert_eq!(reports[0].failures, Vec::<String>::new());

    // Recorded with who asked and why.
    let system = store.system_log().unwrap();
    let erased: Vec<_> = system
        .scan(.., Direction::Forward)
        .map(|r| r.unwrap().event().unwrap().unwrap())
        .filter(|e| e.action == "retention.erase")
        .collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].actor.id, "dpo");
    assert!(erased[0].message.contains("GDPR request 311"));
    assert_eq!(
        erased[0].details.as_ref().unwrap()["records"],
        expected.len()
    );

    // The restored segments were kept for no time: retention takes them again.
    assert_eq!(apply(&store, "audit"), [0, 100, 200, 300]);
    assert_verifies(&store, &log, Some(400));
}

#[test]
fn the_system_log_is_never_erased() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open_with(dir.path(), options(&clock, ArchiveTarget::None)).unwrap();
    store.system_log().unwrap().append(&events(0, 3)).unwrap();
    let query = stele_engine::Query {
        from: Some(0),
        ..Default::default()
    };
    let err = store
        .erase("_system", &query, &Default::default(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
}

#[test]
fn the_scheduler_applies_policies_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let (store, log) = filled(
        dir.path(),
        StoreOptions {
            retention_interval: Some(Duration::from_millis(20)),
            ..options(&clock, ArchiveTarget::None)
        },
        &clock,
        max_age(HOUR),
    );
    clock.advance(25 * MIN);
    // Each removal is recorded in `_system` right after it: wait for both.
    let system = store.system_log().unwrap();
    let by_scheduler = || {
        system
            .scan(.., Direction::Forward)
            .map(|r| r.unwrap().event().unwrap().unwrap())
            .filter(|e| e.action == "retention.delete" && e.actor.id == "retention-scheduler")
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while log.first_seq() < 300 || by_scheduler() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler did not remove segments 0..300"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(log.first_seq(), 300);
    assert_eq!(by_scheduler(), 3);
    assert_verifies(&store, &log, Some(300));
}
