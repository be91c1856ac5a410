//! Eight threads append many batches at once with fsync `always` (group
//! commit): every seq is handed out once, seqs are contiguous, every receipt
//! matches what is read back, and the chain verifies.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use stele_engine::FsyncPolicy;

#[test]
fn eight_threads_get_unique_contiguous_seqs_and_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let log = store
        .create_log("busy", common::small_policy(FsyncPolicy::Always, 700))
        .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut receipts = Vec::new();
                for b in 0..60u64 {
                    let n = 1 + (t * 7 + b * 3) % 20;
                    let base = t * 1_000_000 + b * 100;
                    let batch = log.append(&common::events(base, base + n)).unwrap();
                    let seqs: Vec<u64> = batch.iter().map(|r| r.seq).collect();
                    let expected: Vec<u64> = (seqs[0]..seqs[0] + n).collect();
                    assert_eq!(seqs, expected, "a batch's seqs are contiguous");
                    receipts.extend(batch);
                }
                receipts
            })
        })
        .collect();
    let receipts: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let seqs: BTreeSet<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs.len(), receipts.len(), "no seq handed out twice");
    assert_eq!(
        seqs.iter().copied().collect::<Vec<_>>(),
        (0..receipts.len() as u64).collect::<Vec<_>>(),
        "no gap"
    );
    for r in &receipts {
        let (_, stored) = log.read_with_receipt(r.seq).unwrap();
        assert_eq!(
            &stored, r,
            "receipt of seq {} matches the stored chain",
            r.seq
        );
    }
    assert!(log.segments().len() > 2, "seals happened during the run");
    let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, receipts.len() as u64);
}
