//! Offline verification of a log that a running store seals meanwhile: the
//! WAL it listed turns into a sealed file under its feet, which is not
//! damage.

use crate::common;

use stele_engine::{FsyncPolicy, Store, verify_log_dir_with_progress};

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
    )
    .unwrap();
    assert!(sealed_meanwhile);
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, 500);
}
