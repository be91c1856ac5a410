//! A failed fdatasync (injected through `StoreOptions::syncer`): the batch
//! waiting for it is not acknowledged, never becomes visible, and the log
//! refuses every later write until it is reopened; what was acknowledged
//! before stays readable, and the reopened log verifies and takes appends.

use crate::common;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use stele_engine::durability::Syncer;
use stele_engine::{Error, FsyncPolicy, Policy, Store, StoreOptions};

#[derive(Debug, Default)]
struct FailingSyncer {
    fail: AtomicBool,
}

impl Syncer for FailingSyncer {
    fn sync_data(&self, file: &File, path: &Path) -> std::io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other(format!(
                "injected EIO on {}",
                path.display()
            )));
        }
        file.sync_data()
    }
}

#[test]
fn a_failed_fdatasync_is_never_acknowledged_and_stops_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let syncer = Arc::new(FailingSyncer::default());
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            syncer: syncer.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let policy = Policy {
        fsync: FsyncPolicy::Always,
        ..Policy::default()
    };
    let log = store.create_log("l", policy).unwrap();
    log.append(&common::events(0, 10)).unwrap();

    syncer.fail.store(true, Ordering::SeqCst);
    match log.append(&common::events(10, 20)) {
        Err(Error::Io { op, .. }) => assert_eq!(op, "fdatasync"),
        other => panic!("expected the injected fdatasync error, got {other:?}"),
    }
    assert_eq!(log.visible_seq(), 10, "the unsynced batch is not visible");
    syncer.fail.store(false, Ordering::SeqCst);
    assert!(matches!(
        log.append(&common::events(20, 21)),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(log.seal(), Err(Error::Poisoned { .. })));
    assert_eq!(
        log.read(9).unwrap().event().unwrap().unwrap(),
        common::event(9)
    );
    drop(log);
    drop(store);

    let store = common::open(dir.path());
    let log = store.log("l").unwrap();
    let next = log.visible_seq();
    assert!(
        next == 10 || next == 20,
        "the unacknowledged batch is there whole or not at all: {next}"
    );
    let receipts = log.append(&common::events(100, 101)).unwrap();
    assert_eq!(receipts[0].seq, next);
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
}
