//! Erasure checked against the log before it: after erasing `actor.id =
//! user-3` (some of those records still in the active WAL, so the log seals
//! first), every search and aggregation of a fixed battery answers as before
//! minus the erased seqs, reads and scans show the erased records redacted
//! with the digest of their old body, receipts and checkpoints still match,
//! verification passes, and a rebuilt index or a reopened store answers the
//! same. Holds refuse an erasure, a dry run changes nothing, a query that
//! names no records is refused, tampering with a redacted digest is caught,
//! and a crash at each step of the swap (simulated by leaving that step's
//! files on disk) reopens either unerased or erased, never with the erased
//! text still searchable.

use crate::battery;
use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stele_engine::segment::{SealOptions, SealedSegment, write_sealed};
use stele_engine::{
    EraseOptions, Error, ExactField, FsyncPolicy, Log, Query, Receipt, RecordBody, SegmentState,
    Store, verify_log_dir,
};

const LOG: &str = "e";

/// A store whose log `e` holds 610 records: 15 sealed segments of 40 and
/// 10 in the active WAL. Returns the append receipts too.
fn build(dir: &Path) -> (Store, Arc<Log>, Vec<Receipt>) {
    let store = common::open(dir);
    let log = store
        .create_log(LOG, common::small_policy(FsyncPolicy::Never, 40))
        .unwrap();
    let mut receipts = Vec::new();
    for from in (0..610).step_by(10) {
        receipts.extend(log.append(&common::events(from, from + 10)).unwrap());
    }
    log.finish_seals().unwrap();
    assert_eq!(sealed(&log).len(), 15);
    (store, log, receipts)
}

fn sealed(log: &Log) -> Vec<u64> {
    log.segments()
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.first_seq)
        .collect()
}

fn user_3() -> Query {
    Query::default().filter(ExactField::ActorId, &["user-3"])
}

/// Matches only seq 14: its message is "user-3 did thing 14".
fn text_14() -> Query {
    Query {
        text: "14".into(),
        ..Query::default()
    }
}

fn seqs(log: &Log, query: &Query) -> Vec<u64> {
    battery::walk(log, query, stele_engine::Order::OldestFirst, 1000)
        .into_iter()
        .flatten()
        .map(|r| r.seq)
        .collect()
}

/// Every file of the log's directory but its index, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if !path.to_string_lossy().contains(".lock") {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("segments"), &mut out);
    for name in ["manifest.json", "checkpoints.log"] {
        let path = dir.join(name);
        out.insert(path.clone(), std::fs::read(&path).unwrap());
    }
    out
}

fn assert_verifies(store: &Store, log: &Log) {
    let key = store.public_key();
    let report = log.verify(0..u64::MAX, &key).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    for cp in log.checkpoints().unwrap() {
        log.verify_checkpoint(&cp, &key).unwrap();
    }
}

#[test]
fn erasure_removes_exactly_the_matching_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log, receipts) = build(dir.path());
    let before = battery::run(&log);
    assert_eq!(seqs(&log, &text_14()), vec![14]);
    let expected: Vec<u64> = (0..610).filter(|i| i % 11 == 3).collect();
    let wal_first = 600;

    let log_dir = common::log_dir(dir.path(), LOG);
    let files_before = files(&log_dir);
    let segments_before = log.segments();
    let dry = log
        .erase(
            &user_3(),
            &EraseOptions {
                dry_run: true,
                ..EraseOptions::default()
            },
            &mut |_| panic!("a dry run rewrites nothing"),
        )
        .unwrap();
    assert_eq!(dry.seqs, expected);
    assert_eq!(dry.segments, (0..=15).map(|i| i * 40).collect::<Vec<u64>>());
    assert_eq!(dry.segments_rewritten, 0);
    assert_eq!(log.segments(), segments_before, "a dry run seals nothing");
    assert!(files(&log_dir) == files_before, "a dry run changes no file");

    let mut progress = Vec::new();
    let report = log
        .erase(
            &user_3(),
            &EraseOptions {
                reason: "request 12".into(),
                requested_by: "dpo".into(),
                ..EraseOptions::default()
            },
            &mut |p| progress.push(p),
        )
        .unwrap();
    assert_eq!(report.seqs, expected);
    assert_eq!(report.segments, dry.segments);
    assert_eq!(report.segments_rewritten, 16);
    assert_eq!(progress.len(), 17);
    assert_eq!(progress.last().unwrap().segment, None);
    assert_eq!(
        sealed(&log).last(),
        Some(&wal_first),
        "the WAL holding matches was sealed first"
    );

    let after = battery::run(&log);
    let erased: BTreeSet<u64> = expected.iter().copied().collect();
    battery::assert_erased(&before, &after, &erased);
    for &seq in &[3, 14, 25, 300, 608] {
        let record = log.read(seq).unwrap();
        let RecordBody::Stored(original) = &before.reads[seq as usize].0.body else {
            panic!("seq {seq} was stored before");
        };
        let digest: [u8; 32] = Sha256::digest(original).into();
        assert_eq!(record.body, RecordBody::Redacted(digest), "seq {seq}");
        assert_eq!(record.event(), Ok(None));
        assert_eq!(
            log.read_with_receipt(seq).unwrap().1,
            receipts[seq as usize]
        );
    }
    assert_eq!(log.read(4).unwrap(), before.reads[4].0, "others untouched");
    assert!(seqs(&log, &user_3()).is_empty());
    assert_eq!(log.count(&user_3()).unwrap(), 0);
    assert!(
        seqs(&log, &text_14()).is_empty(),
        "the erased words are gone"
    );
    let again = log
        .erase(&user_3(), &EraseOptions::default(), &mut |_| {})
        .unwrap();
    assert!(again.seqs.is_empty(), "erased records match nothing");
    assert_verifies(&store, &log);

    log.rebuild_index().unwrap();
    assert_eq!(
        battery::run(&log),
        after,
        "a rebuilt index answers the same"
    );

    drop(log);
    store.close().unwrap();
    let store = common::open(dir.path());
    let log = store.log(LOG).unwrap();
    assert_eq!(battery::run(&log), after, "after a reopen");
    assert_verifies(&store, &log);
}

#[test]
fn holds_and_unscoped_queries_refuse_an_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log, _) = build(dir.path());
    let options = EraseOptions::default();

    for query in [
        Query::default(),
        Query {
            text: "  ".into(),
            limit: 5,
            ..Query::default()
        },
    ] {
        match log.erase(&query, &options, &mut |_| {}) {
            Err(Error::InvalidArgument { what, .. }) => assert_eq!(what, "erase query"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    log.set_hold(None, "case 9", "legal").unwrap();
    match log.erase(&text_14(), &options, &mut |_| {}) {
        Err(Error::Refused(reason)) => {
            assert!(
                reason.contains("the log is under a legal hold (case 9"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    log.lift_hold(None).unwrap();

    log.set_hold(Some(0), "case 10", "legal").unwrap();
    match log.erase(&text_14(), &options, &mut |_| {}) {
        Err(Error::Refused(reason)) => {
            assert!(
                reason.contains("segment 0 is under a legal hold (case 10"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        log.read(14).unwrap().event().unwrap().is_some(),
        "nothing erased"
    );
    log.lift_hold(Some(0)).unwrap();

    // A hold on a segment the erasure does not touch is no obstacle; the
    // retention lock is none either.
    log.set_hold(Some(40), "case 11", "legal").unwrap();
    log.raise_lock(365 * 24 * 3600 * 1000).unwrap();
    let report = log.erase(&text_14(), &options, &mut |_| {}).unwrap();
    assert_eq!(report.seqs, vec![14]);
    assert_eq!(report.segments, vec![0]);
    assert_eq!(report.segments_rewritten, 1);
    assert_eq!(log.read(14).unwrap().event(), Ok(None));
}

#[test]
fn tampering_with_a_redacted_digest_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log, _) = build(dir.path());
    log.erase(&user_3(), &EraseOptions::default(), &mut |_| {})
        .unwrap();
    drop(log);
    store.close().unwrap();
    let log_dir = common::log_dir(dir.path(), LOG);
    let report = verify_log_dir(&log_dir, 0..u64::MAX, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);

    // Rewrite segment 40 with one redacted digest changed and everything
    // else (blocks, chain, footer) recomputed from it.
    let file = log_dir.join("segments").join(format!("{:020}.seg", 40));
    let original = SealedSegment::open(&file).unwrap();
    let mut records: Vec<_> = original
        .read(40, 80)
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let target = records
        .iter_mut()
        .find(|r| matches!(r.body, RecordBody::Redacted(_)))
        .unwrap();
    let RecordBody::Redacted(digest) = &mut target.body else {
        unreachable!()
    };
    digest[7] ^= 1;
    let header = *original.header();
    drop(original);
    std::fs::remove_file(&file).unwrap();
    let options = SealOptions {
        dictionary_bytes: 0,
        ..SealOptions::default()
    };
    write_sealed(&file, &header, records.into_iter().map(Ok), &options, &[]).unwrap();
    let failure = verify_log_dir(&log_dir, 0..u64::MAX, None)
        .unwrap()
        .failure
        .expect("verification must fail");
    assert_eq!(failure.file, file, "{failure}");
    assert!((40..80).contains(&failure.seq.unwrap()), "{failure}");
}

/// The on-disk states a crash can leave while seq 14 (segment 0) is
/// erased, each reopened: before the rewritten file is renamed in, the log
/// is as it was; after, seq 14 is erased and its words are not searchable.
#[test]
fn a_crash_at_each_step_reopens_erased_or_not() {
    let work = tempfile::tempdir().unwrap();
    let before_dir = work.path().join("before");
    let after_dir = work.path().join("after");
    let before = {
        let (store, log, _) = build(&before_dir);
        log.seal().unwrap();
        let answers = battery::run(&log);
        drop(log);
        store.close().unwrap();
        answers
    };
    common::copy_dir(&before_dir, &after_dir);
    {
        let store = common::open(&after_dir);
        let log = store.log(LOG).unwrap();
        let report = log
            .erase(&text_14(), &EraseOptions::default(), &mut |_| {})
            .unwrap();
        assert_eq!(report.segments, vec![0]);
        drop(log);
        store.close().unwrap();
    }
    let new = common::log_dir(&after_dir, LOG);
    let seg = |dir: &Path| dir.join("segments").join(format!("{:020}.seg", 0));
    let staged = |dir: &Path| {
        dir.join("segments")
            .join(format!("{:020}.seg.erase.tmp", 0))
    };
    let index = |dir: &Path| dir.join("index").join(format!("{:020}", 0));
    let staged_index = |dir: &Path| dir.join("index").join(format!("{:020}.erase", 0));

    type Step<'a> = Box<dyn Fn(&Path) + 'a>;
    let steps: Vec<(&str, Step)> = vec![
        (
            "rewritten file and index staged",
            Box::new(|d: &Path| {
                std::fs::copy(seg(&new), staged(d)).unwrap();
                common::copy_dir(&index(&new), &staged_index(d));
            }),
        ),
        (
            "old index deleted",
            Box::new(|d: &Path| std::fs::remove_dir_all(index(d)).unwrap()),
        ),
        (
            "rewritten file renamed in",
            Box::new(|d: &Path| std::fs::rename(staged(d), seg(d)).unwrap()),
        ),
        (
            "new index renamed in",
            Box::new(|d: &Path| std::fs::rename(staged_index(d), index(d)).unwrap()),
        ),
    ];
    let erased = BTreeSet::from([14]);
    for n in 1..=steps.len() {
        let name = steps[n - 1].0;
        let data = work.path().join(format!("crash-{n}"));
        common::copy_dir(&before_dir, &data);
        for (_, step) in &steps[..n] {
            step(&common::log_dir(&data, LOG));
        }
        let store = common::open(&data);
        let log = store.log(LOG).unwrap();
        let answers = battery::run(&log);
        if n >= 3 {
            battery::assert_erased(&before, &answers, &erased);
            assert!(
                seqs(&log, &text_14()).is_empty(),
                "{name}: erased words searchable"
            );
        } else {
            assert_eq!(answers, before, "{name}");
            assert_eq!(seqs(&log, &text_14()), vec![14], "{name}");
        }
        assert_verifies(&store, &log);
        let dir = common::log_dir(&data, LOG);
        assert!(
            !staged(&dir).exists() && !staged_index(&dir).exists(),
            "{name}: leftovers"
        );
        drop(log);
        store.close().unwrap();
        std::fs::remove_dir_all(&data).unwrap();
    }
}
