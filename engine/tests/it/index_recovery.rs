//! The index is derived data: deleted, damaged or behind after a crash, it
//! is rebuilt or caught up from the segments, and searches answer exactly
//! as before.
//!
//! The crash test's child is this test binary itself, re-run with
//! `STELE_INDEX_CRASH_CHILD` set.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{events, log_dir, small_policy};
use rand::Rng;
use stele_engine::query::ExactField;
use stele_engine::{Direction, FsyncPolicy, IndexPolicy, Log, Order, Policy, Query, Store};

const CHILD_ENV: &str = "STELE_INDEX_CRASH_CHILD";

/// Queries whose answers must survive any index loss.
fn queries() -> Vec<Query> {
    vec![
        Query {
            limit: 10_000,
            ..Query::default()
        },
        Query {
            limit: 10_000,
            order: Order::OldestFirst,
            ..Query::default()
        }
        .filter(ExactField::ActorId, &["user-3", "user-4"]),
        Query {
            limit: 50,
            text: "thing".into(),
            ..Query::default()
        }
        .filter(ExactField::Action, &["git.*"]),
        Query {
            limit: 10_000,
            text: "details.n:17 OR details.n:400".into(),
            ..Query::default()
        },
    ]
}

fn answers(log: &Log) -> Vec<Vec<u64>> {
    answers_to(log, &queries())
}

/// The seqs of each query's hits.
fn answers_to(log: &Log, queries: &[Query]) -> Vec<Vec<u64>> {
    queries
        .iter()
        .map(|q| {
            log.search(q)
                .unwrap()
                .hits
                .iter()
                .map(|h| h.record.seq)
                .collect()
        })
        .collect()
}

fn policy() -> Policy {
    small_policy(FsyncPolicy::Never, 250)
}

/// Creates log `audit` in `dir` with `n` events, seals and indexes it all,
/// closes the store and returns the log's [`answers`].
fn indexed_answers(dir: &Path, n: u64) -> Vec<Vec<u64>> {
    let store = Store::open(dir).unwrap();
    let log = store.create_log("audit", policy()).unwrap();
    for chunk in events(0, n).chunks(90) {
        log.append(chunk).unwrap();
    }
    log.finish_seals().unwrap();
    log.flush_index().unwrap();
    answers(&log)
}

#[test]
fn a_deleted_or_damaged_index_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = indexed_answers(dir.path(), 1100);
    assert_eq!(before[0].len(), 1100);
    let index = log_dir(dir.path(), "audit").join("index");

    std::fs::remove_dir_all(&index).unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        log.flush_index().unwrap();
        assert_eq!(answers(&log), before, "after deleting the whole index");
    }

    // Garbage in one sealed segment's index metadata, and a missing file in
    // the active segment's.
    let mut dirs: Vec<_> = std::fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 3, "{dirs:?}");
    std::fs::write(dirs[1].join("meta.json"), b"{ not json").unwrap();
    std::fs::remove_file(dirs.last().unwrap().join("meta.json")).unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        log.flush_index().unwrap();
        assert_eq!(answers(&log), before, "after damaging two indexes");
    }
}

/// An index written by an earlier version, whose schema differs (here: a
/// fast column on `request_id`, as before issue 23), is rebuilt at open.
#[test]
fn an_index_of_an_earlier_schema_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = indexed_answers(dir.path(), 600);
    let index = log_dir(dir.path(), "audit").join("index");
    for meta_path in metas(&index) {
        let mut meta = read_json(&meta_path);
        *request_id_fast(&mut meta) = serde_json::Value::Bool(true);
        std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("audit").unwrap();
    log.flush_index().unwrap();
    assert_eq!(answers(&log), before);
    assert_eq!(log.index_space().unwrap().docs, 600);
    for meta_path in metas(&index) {
        assert_eq!(
            *request_id_fast(&mut read_json(&meta_path)),
            serde_json::Value::Bool(false),
            "{} rebuilt with this version's schema",
            meta_path.display()
        );
    }
}

/// An index whose commit payload has an earlier format (format 1 held
/// request and correlation ids unpacked) is rebuilt at open.
#[test]
fn an_index_of_an_earlier_payload_format_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = indexed_answers(dir.path(), 600);
    let index = log_dir(dir.path(), "audit").join("index");
    let format = |meta: &serde_json::Value| -> u64 {
        let payload: serde_json::Value =
            serde_json::from_str(meta["payload"].as_str().unwrap()).unwrap();
        payload["format"].as_u64().unwrap()
    };
    for meta_path in metas(&index) {
        let mut meta = read_json(&meta_path);
        let current = format(&meta);
        let payload = meta["payload"]
            .as_str()
            .unwrap()
            .replace(&format!("\"format\":{current}"), "\"format\":1");
        meta["payload"] = serde_json::Value::String(payload);
        assert_eq!(format(&meta), 1);
        std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("audit").unwrap();
    log.flush_index().unwrap();
    assert_eq!(answers(&log), before);
    for meta_path in metas(&index) {
        assert!(
            format(&read_json(&meta_path)) > 1,
            "{} rebuilt",
            meta_path.display()
        );
    }
}

/// A store written before issue 24, whose index has tantivy's FST term
/// dictionaries (payload format 2): `steled` of that version took 200 rich
/// events from `stele-load --profile rich --events 200 --batch 50` into log
/// `fst`, and the directory was copied while it ran (as a crash leaves it:
/// nothing sealed, the index committed).
fn fst_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index-v2/data")
}

/// What the rich fixture's searches answer; the phrase searched is the
/// first two words of the first comment in `details`.
fn rich_answers(log: &Log) -> Vec<Vec<u64>> {
    let comment = log
        .scan(.., Direction::Forward)
        .find_map(|record| {
            let event = record.unwrap().event().unwrap()?;
            let comment = event.details?.get("comment")?.as_str()?.to_owned();
            let words: Vec<&str> = comment.split(' ').take(2).collect();
            (words.len() == 2).then(|| words.join(" "))
        })
        .expect("a comment of two words or more");
    let text = |text: &str| Query {
        limit: 1_000,
        text: text.into(),
        ..Query::default()
    };
    let queries = [
        text(""),
        text("terraform"),
        text(&format!("\"{comment}\"")),
        text("details.client.app:cli"),
        Query {
            limit: 1_000,
            ..Query::default()
        }
        .filter(ExactField::Outcome, &["denied"]),
    ];
    answers_to(log, &queries)
}

/// An index with FST term dictionaries is rebuilt with sstable ones at
/// open, and answers as an index built from nothing does.
#[test]
fn an_index_with_fst_term_dictionaries_is_rebuilt_at_open() {
    let opened = tempfile::tempdir().unwrap();
    common::copy_dir(&fst_fixture(), opened.path());
    let store = Store::open(opened.path()).unwrap();
    let log = store.log("fst").unwrap();
    log.flush_index().unwrap();
    let answers = rich_answers(&log);
    assert_eq!(answers[0].len(), 200, "every record is searchable");
    assert!(
        answers[1..].iter().all(|a| !a.is_empty()),
        "each query finds something: {answers:?}"
    );
    drop(log);
    store.close().unwrap();
    let index = log_dir(opened.path(), "fst").join("index");
    for meta_path in metas(&index) {
        let meta = read_json(&meta_path);
        let payload: serde_json::Value =
            serde_json::from_str(meta["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["format"], 3, "{} rebuilt", meta_path.display());
    }

    let fresh = tempfile::tempdir().unwrap();
    common::copy_dir(&fst_fixture(), fresh.path());
    std::fs::remove_dir_all(log_dir(fresh.path(), "fst").join("index")).unwrap();
    let store = Store::open(fresh.path()).unwrap();
    let log = store.log("fst").unwrap();
    log.flush_index().unwrap();
    assert_eq!(rich_answers(&log), answers);
}

/// The `meta.json` of every segment index under `index`.
fn metas(index: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(index)
        .unwrap()
        .map(|entry| entry.unwrap().path().join("meta.json"))
        .collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `fast` option of `request_id` in a tantivy `meta.json`'s schema.
fn request_id_fast(meta: &mut serde_json::Value) -> &mut serde_json::Value {
    let field = meta["schema"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["name"] == "request_id")
        .unwrap();
    &mut field["options"]["fast"]
}

#[test]
fn rebuild_index_keeps_the_answers_and_searches_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.create_log("audit", policy()).unwrap();
    for chunk in events(0, 900).chunks(100) {
        log.append(chunk).unwrap();
    }
    log.flush_index().unwrap();
    let before = answers(&log);
    let searcher = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for _ in 0..20 {
                let page = log
                    .search(&Query {
                        limit: 10_000,
                        ..Query::default()
                    })
                    .unwrap();
                assert_eq!(page.hits.len(), 900);
            }
        })
    };
    log.rebuild_index().unwrap();
    searcher.join().unwrap();
    assert_eq!(answers(&log), before);
    log.append(&events(900, 950)).unwrap();
    log.flush_index().unwrap();
    assert_eq!(log.count(&Query::default()).unwrap(), 950);
}

/// The child's body: append and seal until killed, with the index
/// committing every 20 ms.
#[test]
fn index_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    let policy = Policy {
        index: IndexPolicy {
            commit_interval_ms: 20,
            ..IndexPolicy::default()
        },
        ..policy()
    };
    let log = common::open_or_create(&store, "crash", policy);
    let mut i = log.visible_seq();
    loop {
        log.append(&events(i, i + 37)).unwrap();
        i += 37;
    }
}

#[test]
fn after_a_kill_during_indexing_the_index_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "index_recovery::index_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(400..1200)));
        child.kill().unwrap();
        child.wait().unwrap();

        let store = Store::open(dir.path()).unwrap();
        let log = store.log("crash").unwrap();
        let records = log.visible_seq();
        assert!(records > 0, "round {round}: the child appended");
        log.flush_index().unwrap();
        assert_eq!(log.index_watermark(), records, "round {round}");
        assert_eq!(
            log.count(&Query::default()).unwrap(),
            records,
            "round {round}"
        );
        let q = Query {
            limit: 10_000,
            ..Query::default()
        }
        .filter(ExactField::ActorId, &["user-5"]);
        let mut expected: Vec<(i64, u64)> = log
            .scan(.., Direction::Forward)
            .map(|r| r.unwrap())
            .filter_map(|r| {
                let e = r.event().unwrap()?;
                (e.actor.id == "user-5").then(|| (e.time.unwrap(), r.seq))
            })
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        expected.truncate(10_000);
        let got: Vec<u64> = log
            .search(&q)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.record.seq)
            .collect();
        assert_eq!(
            got,
            expected.iter().map(|e| e.1).collect::<Vec<_>>(),
            "round {round}"
        );
    }
}

/// An index that cannot be written (here its directory was removed under
/// the writer) does not hold appends back, however far it lags: appends go
/// on at full speed, searches answer from what was indexed, and reopening
/// rebuilds it.
#[test]
fn a_broken_index_does_not_stall_appends() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy {
        index: IndexPolicy {
            commit_interval_ms: 100,
            max_lag_records: 10,
        },
        ..small_policy(FsyncPolicy::Never, 100_000)
    };
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store.create_log("audit", policy).unwrap();
        log.append(&events(0, 50)).unwrap();
        log.flush_index().unwrap();
        std::fs::remove_dir_all(log_dir(dir.path(), "audit").join("index")).unwrap();
        // The first appends wait (at most a commit interval each) until a
        // commit fails; from then on none waits. Throttled, these 80
        // appends would take 80 × 100 ms.
        let started = std::time::Instant::now();
        for i in 0..80u64 {
            log.append(&events(50 + i * 10, 60 + i * 10)).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_millis(3000),
            "{:?}",
            started.elapsed()
        );
        assert!(log.flush_index().is_err());
        assert_eq!(log.count(&Query::default()).unwrap(), 50);
    }
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("audit").unwrap();
    log.flush_index().unwrap();
    assert_eq!(log.count(&Query::default()).unwrap(), 850);
}
