//! Random appends, seals and reopens against an in-memory model: after every
//! step, everything read back (by seq, forwards, backwards) equals what was
//! written, and the log verifies.

use crate::common;

use proptest::prelude::*;
use stele_engine::{Direction, Event, FsyncPolicy, Store};

#[derive(Debug, Clone)]
enum Op {
    /// Append a batch of this many events.
    Append(u64),
    /// Seal the active segment on demand.
    Seal,
    /// Close the store and open it again.
    Reopen,
    /// Read one record by seq (taken modulo the log's size).
    Read(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..40).prop_map(Op::Append),
        1 => Just(Op::Seal),
        1 => Just(Op::Reopen),
        2 => any::<u64>().prop_map(Op::Read),
    ]
}

fn check_against_model(store: &Store, model: &[Event]) {
    let log = store.log("model").unwrap();
    let n = model.len() as u64;
    assert_eq!(log.visible_seq(), n);
    let forward: Vec<Event> = log
        .scan(.., Direction::Forward)
        .map(|r| r.unwrap().event().unwrap().unwrap())
        .collect();
    assert_eq!(forward, model);
    let mut backward: Vec<Event> = log
        .scan(.., Direction::Backward)
        .map(|r| r.unwrap().event().unwrap().unwrap())
        .collect();
    backward.reverse();
    assert_eq!(backward, model);
    if n > 2 {
        let middle: Vec<u64> = log
            .scan(n / 3..=n / 2, Direction::Backward)
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(middle, (n / 3..=n / 2).rev().collect::<Vec<_>>());
    }
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, n);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..40), seal_every in 20u64..200) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = common::open(dir.path());
        store.create_log("model", common::small_policy(FsyncPolicy::Never, seal_every)).unwrap();
        let mut model: Vec<Event> = Vec::new();
        for op in ops {
            match op {
                Op::Append(k) => {
                    let base = model.len() as u64;
                    let batch = common::events(base, base + k);
                    let receipts = store.log("model").unwrap().append(&batch).unwrap();
                    prop_assert_eq!(receipts.first().unwrap().seq, base);
                    model.extend(batch);
                }
                Op::Seal => {
                    store.log("model").unwrap().seal().unwrap();
                }
                Op::Reopen => {
                    store.close().unwrap();
                    store = common::open(dir.path());
                }
                Op::Read(seq) => {
                    let log = store.log("model").unwrap();
                    if model.is_empty() {
                        prop_assert!(log.read(seq).is_err());
                    } else {
                        let seq = seq % model.len() as u64;
                        let event = log.read(seq).unwrap().event().unwrap().unwrap();
                        prop_assert_eq!(&event, &model[seq as usize]);
                    }
                }
            }
        }
        check_against_model(&store, &model);
        store.close().unwrap();
        let store = common::open(dir.path());
        check_against_model(&store, &model);
    }
}
