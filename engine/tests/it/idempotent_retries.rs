//! Idempotent retries: an event whose client id was appended lately gets its
//! original receipt back and is not stored twice — within a batch, across
//! batches, under concurrent retries, across a reopen — and only within the
//! configured window and count.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use stele_engine::{DedupOptions, Event, FsyncPolicy, ManualClock, Store, StoreOptions};

/// Store options remembering ids for `window` (at most `max_ids` a log),
/// on `clock`.
fn dedup(window: Duration, max_ids: usize, clock: Arc<ManualClock>) -> StoreOptions {
    StoreOptions {
        clock,
        dedup: DedupOptions { window, max_ids },
        ..StoreOptions::default()
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_790_000_000_000_000_000))
}

fn with_id(i: u64, id: &str) -> Event {
    Event {
        id: id.into(),
        ..common::event(i)
    }
}

#[test]
fn a_retried_batch_gets_its_original_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 50))
        .unwrap();
    let first = log.append_batch(&common::events(0, 30)).unwrap();
    assert_eq!(first.duplicates, vec![false; 30]);
    // The retry overlaps: 10 old events and 10 new ones.
    let retry = log.append_batch(&common::events(20, 40)).unwrap();
    assert_eq!(&retry.receipts[..10], &first.receipts[20..30]);
    assert_eq!(retry.duplicates[..10], [true; 10]);
    assert_eq!(retry.duplicates[10..], [false; 10]);
    assert_eq!(
        retry.receipts[10..]
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        (30..40).collect::<Vec<_>>()
    );
    assert_eq!(log.visible_seq(), 40);
    // The same id twice in one batch: stored once, both get its receipt.
    let twice = log
        .append_batch(&[with_id(1, "dup"), with_id(2, "other"), with_id(3, "dup")])
        .unwrap();
    assert_eq!(twice.duplicates, [false, false, true]);
    assert_eq!(twice.receipts[2], twice.receipts[0]);
    assert_eq!(log.visible_seq(), 42);
    // Events without an id are never retries.
    let mut anonymous = common::event(5);
    anonymous.id.clear();
    log.append(&[anonymous.clone(), anonymous]).unwrap();
    assert_eq!(log.visible_seq(), 44);
    // After a seal the original is read back from the sealed segment.
    log.seal().unwrap();
    let again = log.append_batch(&common::events(0, 1)).unwrap();
    assert_eq!(again.receipts[0], first.receipts[0]);
    assert!(again.duplicates[0]);
    assert!(
        log.verify(0..u64::MAX, &store.public_key())
            .unwrap()
            .is_ok()
    );
}

#[test]
fn an_invalid_batch_is_refused_even_when_it_holds_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 1000))
        .unwrap();
    log.append(&common::events(0, 3)).unwrap();
    let mut bad = common::events(0, 4);
    bad[3].action.clear();
    assert!(log.append(&bad).is_err());
    assert_eq!(log.visible_seq(), 3);
}

#[test]
fn concurrent_retries_store_an_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 500))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200u64)
                    .step_by(10)
                    .flat_map(|i| log.append(&common::events(i, i + 10)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(log.visible_seq(), 200, "each of the 200 ids stored once");
    for other in &answers[1..] {
        assert_eq!(other, &answers[0], "every thread got the same receipts");
    }
    let mut seqs: Vec<u64> = answers[0].iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
}

#[test]
fn ids_are_remembered_across_a_reopen_within_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let options = dedup(Duration::from_secs(60), 1000, clock.clone());
    let first = {
        let store = Store::open_with(dir.path(), options.clone()).unwrap();
        let log = store
            .create_log("audit", common::small_policy(FsyncPolicy::Always, 25))
            .unwrap();
        let receipts = log.append(&common::events(0, 40)).unwrap();
        store.close().unwrap();
        receipts
    };
    clock.advance(Duration::from_secs(30));
    {
        let store = Store::open_with(dir.path(), options.clone()).unwrap();
        let log = store.log("audit").unwrap();
        let retry = log.append_batch(&common::events(0, 40)).unwrap();
        assert_eq!(retry.receipts, first);
        assert!(retry.duplicates.iter().all(|d| *d));
        assert_eq!(log.visible_seq(), 40);
        store.close().unwrap();
    }
    clock.advance(Duration::from_secs(60));
    let store = Store::open_with(dir.path(), options).unwrap();
    let log = store.log("audit").unwrap();
    let late = log.append_batch(&common::events(0, 1)).unwrap();
    assert!(!late.duplicates[0], "outside the window an id is new again");
    assert_eq!(late.receipts[0].seq, 40);
}

#[test]
fn the_count_bound_forgets_the_oldest_and_zero_turns_retries_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), dedup(Duration::from_secs(600), 10, clock())).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Never, 1000))
        .unwrap();
    log.append(&common::events(0, 20)).unwrap();
    let retry = log.append_batch(&common::events(0, 20)).unwrap();
    assert_eq!(
        retry.duplicates[..10],
        [false; 10],
        "forgotten: over the count"
    );
    assert_eq!(retry.duplicates[10..], [true; 10]);
    drop(log);
    store.close().unwrap();

    let off = tempfile::tempdir().unwrap();
    let store = Store::open_with(off.path(), dedup(Duration::ZERO, 10, clock())).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Never, 1000))
        .unwrap();
    log.append(&common::events(0, 5)).unwrap();
    log.append(&common::events(0, 5)).unwrap();
    assert_eq!(log.visible_seq(), 10);
}

#[test]
fn the_visible_head_can_be_watched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 1000))
        .unwrap();
    let mut watch = log.watch_visible();
    assert_eq!(*watch.borrow_and_update(), 0);
    log.append(&common::events(0, 3)).unwrap();
    assert!(watch.has_changed().unwrap());
    assert_eq!(*watch.borrow_and_update(), 3);
    assert!(!watch.has_changed().unwrap());
}

#[test]
fn an_id_out_of_the_window_is_new_even_on_an_idle_log() {
    // Nothing else is appended, so the stale entry is still in the table:
    // it must neither answer the retry nor block the append.
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let store = Store::open_with(
        dir.path(),
        dedup(Duration::from_secs(60), 1000, clock.clone()),
    )
    .unwrap();
    let log = store
        .create_log("audit", common::small_policy(FsyncPolicy::Always, 1000))
        .unwrap();
    log.append(&[with_id(1, "late")]).unwrap();
    clock.advance(Duration::from_secs(61));
    let again = log.append_batch(&[with_id(1, "late")]).unwrap();
    assert_eq!(again.duplicates, [false]);
    assert_eq!(again.receipts[0].seq, 1);
    let third = log.append_batch(&[with_id(1, "late")]).unwrap();
    assert_eq!(
        third.duplicates,
        [true],
        "the new record answers retries now"
    );
    assert_eq!(third.receipts[0].seq, 1);
}
