//! A data directory written by format version 1 is committed under
//! `tests/fixtures/v1/`: it must keep opening, reading and verifying with
//! every later version of the engine.
//!
//! To write it again (only when introducing a new format version, into a new
//! folder): `STELE_WRITE_FIXTURE=tests/fixtures/vN cargo test -p stele-engine
//! --test it format_fixture::write_fixture`.

use crate::common;

use std::path::{Path, PathBuf};

use stele_engine::{Direction, Event, FsyncPolicy, SegmentState, Store, verify_log_dir};

const WRITE_ENV: &str = "STELE_WRITE_FIXTURE";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn expected_events(dir: &Path) -> Vec<Event> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes the fixture when `STELE_WRITE_FIXTURE` names a folder.
#[test]
fn write_fixture() {
    let Ok(out) = std::env::var(WRITE_ENV) else {
        return;
    };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(out);
    let data = out.join("data");
    let store = Store::open(&data).unwrap();
    let log = store
        .create_log("fixture", common::small_policy(FsyncPolicy::Always, 300))
        .unwrap();
    let events = common::events(0, 650);
    for chunk in events.chunks(50) {
        log.append(chunk).unwrap();
    }
    log.checkpoint().unwrap();
    drop(log);
    store.close().unwrap();
    std::fs::remove_file(data.join("LOCK")).unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(out.join("events.jsonl"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn v1_fixture_verifies_offline_without_being_touched() {
    let report = verify_log_dir(&fixture().join("data/logs/fixture"), 0..u64::MAX, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, 650);
    assert_eq!(report.segments, 3, "two sealed segments and a WAL");
    for first in [0, 300] {
        let path = fixture().join(format!("data/logs/fixture/segments/{first:020}.seg"));
        let segment = stele_engine::segment::SealedSegment::open(&path).unwrap();
        assert!(
            segment.dictionary_len() > 0,
            "{} uses a dictionary",
            path.display()
        );
    }
    assert!(report.checkpoints >= 3);
}

#[test]
fn v1_fixture_opens_reads_verifies_and_takes_appends() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&fixture().join("data"), dir.path());
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("fixture").unwrap();
    let states: Vec<_> = log.segments().iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            SegmentState::Sealed,
            SegmentState::Sealed,
            SegmentState::Active
        ]
    );
    let events: Vec<Event> = log
        .scan(.., Direction::Forward)
        .map(|r| r.unwrap().event().unwrap().unwrap())
        .collect();
    assert_eq!(events, expected_events(&fixture()));
    for cp in log.checkpoints().unwrap() {
        log.verify_checkpoint(&cp, &store.public_key()).unwrap();
    }
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    let receipts = log.append(&common::events(650, 652)).unwrap();
    assert_eq!(receipts[0].seq, 650);
}
