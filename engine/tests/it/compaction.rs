//! Compaction checked against the log it compacts: a log of many small
//! sealed segments (event times out of order, some records already erased)
//! answers a fixed battery of reads, scans, receipts, searches and
//! aggregations identically before and after compaction, and after a
//! reopen; it has fewer segments, verifies, and its checkpoints still
//! verify. Held segments are left alone, a dry run changes nothing, readers
//! keep working during the merge, and a crash at each step of the swap
//! (simulated by leaving that step's files on disk) reopens as the log
//! before or after, with no file left over.

use crate::battery;
use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use battery::Answers;
use stele_engine::{
    CompactOptions, EraseOptions, ExactField, FsyncPolicy, Log, Order, Query, SegmentState, Store,
};

const LOG: &str = "c";

/// A store whose log `c` holds 610 records: 15 sealed segments of 40 and
/// 10 in the active WAL; with `erase`, the records of `user-7` erased first.
fn build(dir: &Path, erase: bool) -> (Store, Arc<Log>) {
    let store = common::open(dir);
    let log = store
        .create_log(LOG, common::small_policy(FsyncPolicy::Never, 40))
        .unwrap();
    for from in (0..600).step_by(10) {
        log.append(&common::events(from, from + 10)).unwrap();
    }
    log.finish_seals().unwrap();
    if erase {
        let query = Query::default().filter(ExactField::ActorId, &["user-7"]);
        let report = log
            .erase(&query, &EraseOptions::default(), &mut |_| {})
            .unwrap();
        let expected = (0..600).filter(|i| i % 11 == 7).count();
        assert_eq!(report.seqs.len(), expected);
    }
    log.append(&common::events(600, 610)).unwrap();
    // Everything searchable now, so that answers compared before and after
    // a compaction do not straddle an index commit.
    log.flush_index().unwrap();
    assert_eq!(sealed(&log).len(), 15);
    (store, log)
}

/// First seqs of the sealed segments.
fn sealed(log: &Log) -> Vec<u64> {
    log.segments()
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.first_seq)
        .collect()
}

/// Compares two runs of the battery part by part, for readable failures.
fn assert_same(before: &Answers, after: &Answers, when: &str) {
    assert_eq!(before.reads, after.reads, "{when}: reads and receipts");
    assert_eq!(before.forward, after.forward, "{when}: forward scan");
    assert_eq!(before.backward, after.backward, "{when}: backward scan");
    for (b, a) in before.queries.iter().zip(&after.queries) {
        assert_eq!(b, a, "{when}: query {}", b.name);
    }
    assert_eq!(before, after, "{when}");
}

fn assert_verifies(store: &Store, log: &Log) {
    let key = store.public_key();
    let report = log.verify(0..u64::MAX, &key).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, log.visible_seq());
    let checkpoints = log.checkpoints().unwrap();
    assert!(checkpoints.len() >= 15);
    for cp in &checkpoints {
        log.verify_checkpoint(cp, &key).unwrap();
    }
}

/// The segments directory holds exactly the log's segment files, and the
/// index directory only indexes of its segments.
fn assert_no_leftovers(data: &Path, log: &Log) {
    let dir = common::log_dir(data, LOG);
    let mut expected: Vec<String> = log
        .segments()
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    let files: Vec<String> = common::segment_files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, expected, "segment files");
    let firsts: BTreeSet<String> = log
        .segments()
        .iter()
        .map(|s| format!("{:020}", s.first_seq))
        .collect();
    for entry in std::fs::read_dir(dir.join("index")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            firsts.contains(&name),
            "index directory {name} is left over"
        );
    }
}

#[test]
fn compaction_keeps_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = build(dir.path(), true);
    let before = battery::run(&log);
    let segments = log.segments();
    let held = segments[5].clone();
    log.set_hold(Some(held.first_seq), "case 7", "legal")
        .unwrap();

    let plan = log.compaction_plan(&CompactOptions::default());
    let firsts = sealed(&log);
    assert_eq!(
        plan.iter().map(|g| g.members.clone()).collect::<Vec<_>>(),
        vec![firsts[..5].to_vec(), firsts[6..].to_vec()],
        "the held segment splits the run; the WAL is not touched"
    );
    assert_eq!(plan[1].next_seq, 600);

    let dry = log
        .compact(
            &CompactOptions {
                dry_run: true,
                ..CompactOptions::default()
            },
            &mut |_| panic!("a dry run merges nothing"),
        )
        .unwrap();
    assert_eq!(dry.planned, plan);
    assert!(dry.merged.is_empty());
    assert_eq!(log.segments(), segments, "a dry run changes nothing");

    let mut progress = Vec::new();
    let report = log
        .compact(&CompactOptions::default(), &mut |p| progress.push(p))
        .unwrap();
    assert_eq!(report.planned, plan);
    assert_eq!(report.merged.len(), 2);
    for (i, merged) in report.merged.iter().enumerate() {
        assert_eq!(merged.group, plan[i]);
        let done: Vec<_> = progress.iter().filter(|p| p.group == i).collect();
        assert!(done.len() > 2, "progress per block");
        let last = done.last().unwrap();
        assert!(last.done);
        assert_eq!(
            last.records_done,
            merged.group.next_seq - merged.group.first_seq
        );
    }
    let after_segments = log.segments();
    assert_eq!(after_segments.len(), segments.len() - 4 - 8);
    assert!(
        after_segments.contains(&held),
        "the held segment keeps its identity"
    );
    assert_same(&before, &battery::run(&log), "after compaction");
    assert_verifies(&store, &log);
    assert_no_leftovers(dir.path(), &log);

    // Lifted, the hold no longer splits the run: everything sealed merges.
    log.lift_hold(Some(held.first_seq)).unwrap();
    let report = log
        .compact(&CompactOptions::default(), &mut |_| {})
        .unwrap();
    assert_eq!(report.merged.len(), 1);
    assert_eq!(report.merged[0].group.members.len(), 3);
    assert_eq!(sealed(&log), vec![0]);
    assert_same(&before, &battery::run(&log), "after a second compaction");
    assert_verifies(&store, &log);
    assert!(
        log.compaction_plan(&CompactOptions::default()).is_empty(),
        "nothing left to merge"
    );

    drop(log);
    store.close().unwrap();
    let store = common::open(dir.path());
    let log = store.log(LOG).unwrap();
    assert_same(&before, &battery::run(&log), "after a reopen");
    assert_verifies(&store, &log);
    assert_no_leftovers(dir.path(), &log);
}

#[test]
fn groups_respect_the_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = build(dir.path(), false);
    let sizes: Vec<u64> = log
        .segments()
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.file_bytes)
        .collect();
    let largest = *sizes.iter().max().unwrap();
    let none = log.compaction_plan(&CompactOptions {
        small_bytes: Some(*sizes.iter().min().unwrap()),
        ..CompactOptions::default()
    });
    assert!(none.is_empty(), "no segment is smaller than the smallest");

    let target = 3 * largest;
    let options = CompactOptions {
        target_bytes: Some(target),
        ..CompactOptions::default()
    };
    let plan = log.compaction_plan(&options);
    assert!(plan.len() >= 5, "{plan:?}");
    for group in &plan {
        assert!(
            group.members.len() >= 2 && group.bytes <= target,
            "{group:?}"
        );
    }
    let before = battery::answer(
        &log,
        "actor",
        &Query::default().filter(ExactField::ActorId, &["user-3"]),
    );
    let report = log.compact(&options, &mut |_| {}).unwrap();
    assert_eq!(report.merged.len(), plan.len());
    for merged in &report.merged {
        assert!(merged.bytes_after > 0);
    }
    let after = battery::answer(
        &log,
        "actor",
        &Query::default().filter(ExactField::ActorId, &["user-3"]),
    );
    assert_eq!(before, after);
}

#[test]
fn readers_keep_working_during_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, log) = build(dir.path(), true);
    let query = Query::default().filter(ExactField::Tenant, &["tenant-2"]);
    log.flush_index().unwrap();
    let expected_pages = battery::walk(&log, &query, Order::NewestFirst, 9);
    let expected_count = log.count(&query).unwrap();
    let expected_reads: Vec<_> = (0..610).map(|seq| log.read(seq).unwrap()).collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut rounds = 0;
                    while !done.load(Ordering::Acquire) || rounds < 3 {
                        assert_eq!(
                            battery::walk(&log, &query, Order::NewestFirst, 9),
                            expected_pages
                        );
                        assert_eq!(log.count(&query).unwrap(), expected_count);
                        for seq in (rounds % 7..610).step_by(7) {
                            assert_eq!(log.read(seq).unwrap(), expected_reads[seq as usize]);
                        }
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        let report = log
            .compact(&CompactOptions::default(), &mut |_| {})
            .unwrap();
        assert_eq!(report.merged.len(), 1);
        done.store(true, Ordering::Release);
        for reader in readers {
            assert!(reader.join().unwrap() >= 3);
        }
    });
    assert_eq!(sealed(&log), vec![0]);
}

/// The on-disk states a crash can leave, each reopened: the answers are
/// the same, the log verifies and nothing is left over.
#[test]
fn a_crash_at_each_step_reopens_to_the_same_log() {
    let work = tempfile::tempdir().unwrap();
    let before_dir = work.path().join("before");
    let after_dir = work.path().join("after");
    let before = {
        let (store, log) = build(&before_dir, true);
        let answers = battery::run(&log);
        drop(log);
        store.close().unwrap();
        answers
    };
    common::copy_dir(&before_dir, &after_dir);
    {
        let store = common::open(&after_dir);
        let log = store.log(LOG).unwrap();
        log.compact(&CompactOptions::default(), &mut |_| {})
            .unwrap();
        drop(log);
        store.close().unwrap();
    }
    let new = common::log_dir(&after_dir, LOG);
    let members: Vec<u64> = (0..15).map(|i| i * 40).collect();
    let seg = |dir: &Path, first: u64| dir.join("segments").join(format!("{first:020}.seg"));
    let index = |dir: &Path, first: u64| dir.join("index").join(format!("{first:020}"));

    // Each step applied to a copy of the log before, cumulatively.
    type Step<'a> = Box<dyn Fn(&Path) + 'a>;
    let steps: Vec<(&str, Step)> = vec![
        (
            "merged file and index staged",
            Box::new(|d: &Path| {
                let staged = d
                    .join("segments")
                    .join(format!("{:020}.seg.compact.tmp", 0));
                std::fs::copy(seg(&new, 0), staged).unwrap();
                common::copy_dir(
                    &index(&new, 0),
                    &d.join("index").join(format!("{:020}.compact", 0)),
                );
            }),
        ),
        (
            "members' indexes deleted",
            Box::new(|d: &Path| {
                for &m in &members {
                    std::fs::remove_dir_all(index(d, m)).unwrap();
                }
            }),
        ),
        (
            "merged file renamed over the first member",
            Box::new(|d: &Path| {
                let staged = d
                    .join("segments")
                    .join(format!("{:020}.seg.compact.tmp", 0));
                std::fs::rename(staged, seg(d, 0)).unwrap();
            }),
        ),
        (
            "merged index renamed into place",
            Box::new(|d: &Path| {
                std::fs::rename(
                    d.join("index").join(format!("{:020}.compact", 0)),
                    index(d, 0),
                )
                .unwrap();
            }),
        ),
        (
            "some other members deleted",
            Box::new(|d: &Path| {
                for &m in &members[1..8] {
                    std::fs::remove_file(seg(d, m)).unwrap();
                }
            }),
        ),
    ];
    for n in 1..=steps.len() {
        let name = steps[n - 1].0;
        let data = work.path().join(format!("crash-{n}"));
        common::copy_dir(&before_dir, &data);
        for (_, step) in &steps[..n] {
            step(&common::log_dir(&data, LOG));
        }
        // Offline verification before any reopen: the leftover members are
        // recognised, not reported as overlapping segments.
        let offline =
            stele_engine::verify_log_dir(&common::log_dir(&data, LOG), 0..u64::MAX, None).unwrap();
        assert!(offline.is_ok(), "{name}: {:?}", offline.failure);
        let store = common::open(&data);
        let log = store.log(LOG).unwrap();
        assert_same(&before, &battery::run(&log), name);
        assert_verifies(&store, &log);
        assert_no_leftovers(&data, &log);
        let merged = n >= 3;
        assert_eq!(sealed(&log).len(), if merged { 1 } else { 15 }, "{name}");
        drop(log);
        store.close().unwrap();
        std::fs::remove_dir_all(&data).unwrap();
    }
}
