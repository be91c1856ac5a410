//! Offline verification of a log that a running store seals meanwhile: the
//! WAL it listed turns into a sealed file under its feet, which is not
//! damage; and a verification called off, which stops at the next segment.

use crate::common;

use stele_engine::{Cancel, FsyncPolicy, Store, verify_log_dir_with_progress};

#[test]
fn a_wal_sealed_during_verification_is_checked_as_its_sealed_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 100_000))
        .unwrap();
    log.append(&common::events(0, 300)).unwrap();
    log.seal().unwrap();
    log.append(&common::events(300, 500)).unwrap();
    // Listed now: one sealed file and the active WAL.
    let mut sealed_meanwhile = false;
    let report = verify_log_dir_with_progress(
        log.dir(),
        0..u64::MAX,
        Some(&store.public_key()),
        &mut |p| {
            if p.segments_done == 1 && !sealed_meanwhile {
                sealed_meanwhile = true;
                log.seal().unwrap().expect("the WAL held records");
            }
        },
        &Cancel::default(),
    )
    .unwrap();
    assert!(sealed_meanwhile);
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, 500);
}

#[test]
fn a_verify_called_off_stops_at_the_next_segment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Never, 100))
        .unwrap();
    for chunk in common::events(0, 500).chunks(100) {
        log.append(chunk).unwrap();
        log.seal().unwrap();
    }
    let cancel = Cancel::default();
    let mut seen = 0;
    let result = log.verify_with_progress(
        0..u64::MAX,
        &store.public_key(),
        &mut |_| {
            seen += 1;
            cancel.cancel();
        },
        &cancel,
    );
    assert!(
        matches!(result, Err(stele_engine::Error::Cancelled)),
        "{result:?}"
    );
    assert_eq!(seen, 1, "stopped after the first segment");
    // Not called off: the same walk runs to the end.
    assert!(
        log.verify(0..u64::MAX, &store.public_key())
            .unwrap()
            .is_ok()
    );
}
