//! A crash in the middle of writing the last batch: the WAL is cut at every
//! byte offset inside that batch's frame (and, separately, one of its bytes is
//! damaged). Reopening keeps every earlier batch, drops that one whole, logs
//! it, and new appends continue the chain.

use crate::common;

use std::path::Path;

use stele_engine::{Direction, FsyncPolicy, Store};

const KEPT: u64 = 7;

/// Builds a log with two kept batches (seqs 0..KEPT) and a last batch of two
/// events; returns the WAL file and the offsets where the last frame starts
/// and ends.
fn build(data: &Path) -> (std::path::PathBuf, u64, u64) {
    let store = common::open(data);
    let log = store
        .create_log("torn", common::small_policy(FsyncPolicy::Always, 1_000_000))
        .unwrap();
    log.append(&common::events(0, 4)).unwrap();
    log.append(&common::events(4, KEPT)).unwrap();
    let start = log.segments().last().unwrap().file_bytes;
    log.append(&common::events(KEPT, KEPT + 2)).unwrap();
    let info = log.segments().last().unwrap().clone();
    (info.path, start, info.file_bytes)
}

fn check_recovered(data: &Path) {
    let store = Store::open(data).unwrap();
    let log = store.log("torn").unwrap();
    assert_eq!(log.visible_seq(), KEPT, "the torn batch is dropped whole");
    let kept: Vec<_> = log
        .scan(.., Direction::Forward)
        .map(|r| r.unwrap().event().unwrap().unwrap())
        .collect();
    assert_eq!(kept, common::events(0, KEPT));
    let receipts = log.append(&common::events(100, 103)).unwrap();
    assert_eq!(receipts[0].seq, KEPT, "new appends continue the seqs");
    assert_eq!(
        log.read(KEPT).unwrap().event().unwrap().unwrap(),
        common::event(100)
    );
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, KEPT + 3);
}

#[test]
fn truncation_at_every_offset_of_the_last_batch_drops_only_it() {
    let pristine = tempfile::tempdir().unwrap();
    let (wal, start, end) = build(pristine.path());
    let wal_rel = wal.strip_prefix(pristine.path()).unwrap().to_path_buf();
    assert!(end - start > 100, "the last frame spans many bytes");
    for cut in start..end {
        let trial = tempfile::tempdir().unwrap();
        common::copy_dir(pristine.path(), trial.path());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(trial.path().join(&wal_rel))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        check_recovered(trial.path());
    }
}

#[test]
fn a_checksum_failing_last_batch_is_dropped_whole() {
    let pristine = tempfile::tempdir().unwrap();
    let (wal, start, end) = build(pristine.path());
    let wal_rel = wal.strip_prefix(pristine.path()).unwrap().to_path_buf();
    for offset in [start, start + 12, start + 20, (start + end) / 2, end - 1] {
        let trial = tempfile::tempdir().unwrap();
        common::copy_dir(pristine.path(), trial.path());
        common::flip_byte(&trial.path().join(&wal_rel), offset);
        check_recovered(trial.path());
    }
}

#[test]
fn offline_verify_reports_a_torn_tail_without_failing() {
    let data = tempfile::tempdir().unwrap();
    let (wal, start, end) = build(data.path());
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(end - 5).unwrap();
    let report =
        stele_engine::verify_log_dir(&common::log_dir(data.path(), "torn"), 0..u64::MAX, None)
            .unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    let (file, torn) = report.torn_tail.expect("torn tail reported");
    assert_eq!(file, wal);
    assert_eq!(torn.offset, start);
    assert_eq!(report.next_seq, KEPT);
}

/// Found by fuzzing: an event whose text is the bytes of a whole frame. Were
/// frame checksums not salted per file, a crash while writing its batch
/// would make recovery see "an intact frame after a damaged one" and refuse
/// to open the log. Now the embedded bytes are never an intact frame.
#[test]
fn an_event_embedding_frame_bytes_cannot_block_recovery() {
    let data = tempfile::tempdir().unwrap();
    let (wal, _, _) = build(data.path());
    {
        let store = common::open(data.path());
        let log = store.log("torn").unwrap();
        let mut crafted = common::event(50);
        // A frame of 8 payload bytes whose unsalted CRC is valid.
        crafted.message = "SBAT\u{1}\0\0\0\u{8}\0\0\0Xt,)00000080".into();
        log.append(&[crafted]).unwrap();
    }
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 1).unwrap();
    drop(f);
    let store = Store::open(data.path()).unwrap();
    let log = store.log("torn").unwrap();
    assert_eq!(
        log.visible_seq(),
        KEPT + 2,
        "only the torn batch is dropped"
    );
}
