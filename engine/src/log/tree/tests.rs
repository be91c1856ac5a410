//! Proofs of the engine's tree checked against roots computed by definition.
use stele_chain::merkle::{root_of, verify_consistency, verify_inclusion};

use super::*;
use crate::{Error, Event, Policy, Store};

fn events(n: usize, from: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| Event {
            action: "doc.read".into(),
            message: format!("read {i}"),
            ..Event::default()
        })
        .collect()
}

fn leaves(log: &Log) -> Vec<Hash> {
    log.scan(.., Direction::Forward)
        .map(|r| r.unwrap().leaf_hash())
        .collect()
}

/// Every proof of a sample of sizes checks against the roots computed
/// by definition from the stored records.
fn check(log: &Log) {
    let all = leaves(log);
    let n = all.len() as u64;
    let sizes: Vec<u64> = [1, 2, 255, 256, 257, 511, 512, 513, 700, n - 1, n]
        .into_iter()
        .filter(|s| (1..=n).contains(s))
        .collect();
    for &size in &sizes {
        let root = log.tree_root(size).unwrap();
        assert_eq!(root, root_of(&all[..size as usize]), "size {size}");
        for seq in [0, size / 2, size - 1] {
            let proof = log.inclusion_proof(seq, size).unwrap();
            verify_inclusion(seq, size, &all[seq as usize], &proof, &root).unwrap();
        }
        for &old in sizes.iter().filter(|o| **o <= size) {
            let proof = log.consistency_proof(old, size).unwrap();
            verify_consistency(old, size, &log.tree_root(old).unwrap(), &root, &proof).unwrap();
        }
    }
}

#[test]
fn proofs_hold_across_appends_seals_reopens_and_a_lost_tree_file() {
    let dir = tempfile::tempdir().unwrap();
    let tree_file = {
        let store = Store::open(dir.path()).unwrap();
        let log = store.create_log("audit", Policy::default()).unwrap();
        for (i, size) in [1, 300, 17, 400].into_iter().enumerate() {
            log.append_batch(&events(size, i * 1000)).unwrap();
        }
        check(&log);
        log.seal().unwrap();
        log.append_batch(&events(50, 9000)).unwrap();
        check(&log);
        // Compaction copies records unchanged and erasure keeps their
        // leaf hashes: the same roots and proofs.
        let before = log.tree_root(768).unwrap();
        log.seal().unwrap();
        let compacted = log
            .compact(&crate::log::compact::CompactOptions::default(), &mut |_| {})
            .unwrap();
        assert!(!compacted.merged.is_empty(), "{compacted:?}");
        log.flush_index().unwrap();
        let erased = log
            .erase(
                &crate::Query {
                    text: "message:\"read 1005\"".into(),
                    ..crate::Query::default()
                },
                &crate::log::erase::EraseOptions {
                    dry_run: false,
                    reason: "GDPR 7".into(),
                    requested_by: "test".into(),
                },
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(erased.seqs, [6], "{erased:?}");
        assert_eq!(log.tree_root(768).unwrap(), before);
        check(&log);
        assert!(log.tree_root(769).is_err(), "past the head");
        assert!(log.inclusion_proof(5, 5).is_err());
        assert!(log.consistency_proof(6, 5).is_err());
        let note = log.signed_tree_head(700, "stele.test").unwrap();
        let text = stele_chain::note::open(&note, "stele.test", &store.public_key()).unwrap();
        let head = stele_chain::note::TreeHead::parse(text).unwrap();
        assert_eq!(
            (head.origin.as_str(), head.size, head.root),
            ("stele.test/audit", 700, log.tree_root(700).unwrap())
        );
        assert!(log.signed_tree_head(700, "not a name").is_err());
        let tree_file = log.dir().join(TREE_FILE);
        drop(log);
        store.close().unwrap();
        tree_file
    };
    assert_eq!(std::fs::metadata(&tree_file).unwrap().len(), 3 * 32);
    // Reopened: the stored chunks and the partial chunk from records.
    let root = {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        check(&log);
        let root = log.tree_root(768).unwrap();
        drop(log);
        store.close().unwrap();
        root
    };
    // A chunk past the log (records a crash lost) is dropped; a lost
    // file is rebuilt.
    let mut bytes = std::fs::read(&tree_file).unwrap();
    bytes.extend_from_slice(&[9; 64]);
    std::fs::write(&tree_file, &bytes).unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        assert_eq!(log.tree_root(768).unwrap(), root);
        log.append_batch(&events(300, 20_000)).unwrap();
        check(&log);
        drop(log);
        store.close().unwrap();
    }
    std::fs::remove_file(&tree_file).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("audit").unwrap();
    assert_eq!(log.tree_root(768).unwrap(), root);
    check(&log);
}

#[test]
fn proofs_of_the_records_left_survive_retention_removing_a_prefix() {
    use crate::retention::{PlannedRemoval, Rule};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.create_log("audit", Policy::default()).unwrap();
    for (from, n) in [(0, 300), (300, 300), (600, 400)] {
        log.append_batch(&events(n, from)).unwrap();
        log.seal().unwrap();
    }
    let all = leaves(&log);
    let roots: Vec<Hash> = (0..=1000).map(|n| root_of(&all[..n])).collect();
    // Heads an auditor keeps: inside the chunk the first removal empties,
    // inside the one it starts in (emptied by the second), and inside the
    // chunk the second starts in.
    let signed = [7, 290, 513];
    for size in signed {
        log.signed_tree_head(size, "stele.test").unwrap();
    }
    let remove = |first: u64, next: u64| {
        let front = log.segments()[0].clone();
        assert_eq!((front.first_seq, front.next_seq), (first, next));
        log.remove_front(
            &PlannedRemoval {
                first_seq: first,
                next_seq: next,
                bytes: front.file_bytes,
                max_ingest: front.stats.max_ingest,
                rule: Rule::MaxAge,
            },
            None,
        )
        .unwrap();
    };
    let check_left = |log: &Log, first: u64| {
        for size in [first + 1, 513, 768, 999, 1000] {
            assert_eq!(
                log.tree_root(size).unwrap(),
                roots[size as usize],
                "size {size}"
            );
            for seq in [first, first + 1, first + 13, size - 1]
                .into_iter()
                .filter(|s| *s < size)
            {
                let proof = log.inclusion_proof(seq, size).unwrap();
                verify_inclusion(seq, size, &all[seq as usize], &proof, &roots[size as usize])
                    .unwrap();
            }
            // Sizes at chunk edges inside the removed prefix and signed
            // sizes still have their nodes; others inside it do not.
            for old in [256, first, first + 7, size]
                .into_iter()
                .chain(signed)
                .filter(|o| *o <= size)
            {
                let proof = log.consistency_proof(old, size).unwrap();
                verify_consistency(
                    old,
                    size,
                    &roots[old as usize],
                    &roots[size as usize],
                    &proof,
                )
                .unwrap();
            }
        }
    };
    remove(0, 300);
    check_left(&log, 300);
    let refused = log.consistency_proof(1, 1000).unwrap_err().to_string();
    assert!(refused.contains("removed under retention"), "{refused}");
    remove(300, 600);
    check_left(&log, 600);
    drop(log);
    store.close().unwrap();
    // Reopened: the kept nodes are read back.
    let tree_file = {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        check_left(&log, 600);
        let tree_file = log.dir().join(TREE_FILE);
        drop(log);
        store.close().unwrap();
        tree_file
    };
    // A removed chunk's root altered: its records are gone, so nothing can
    // repair it, and no proof is made from it.
    let good = std::fs::read(&tree_file).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(&tree_file, &bad).unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        let refused = log.tree_root(1000).unwrap_err();
        assert!(matches!(refused, Error::Corrupted { .. }), "{refused}");
        assert!(
            refused.to_string().contains("signed tree head"),
            "{refused}"
        );
        assert!(log.inclusion_proof(700, 1000).is_err());
        drop(log);
        store.close().unwrap();
    }
    std::fs::write(&tree_file, &good).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.log("audit").unwrap();
    check_left(&log, 600);
}

#[test]
fn stored_roots_are_used_only_once_they_reproduce_the_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = store.create_log("audit", Policy::default()).unwrap();
    log.append_batch(&events(600, 0)).unwrap();
    log.seal().unwrap(); // signs the tree head at 600
    log.append_batch(&events(500, 600)).unwrap();
    let all = leaves(&log);
    let tree_file = log.dir().join(TREE_FILE);
    let head_file = log.dir().join(head::HEAD_FILE);
    let head = head::SignedHead::read(&head_file).unwrap().unwrap();
    assert_eq!((head.size, head.root), (600, root_of(&all[..600])));
    drop(log);
    store.close().unwrap();
    let reopen = |change: &dyn Fn()| {
        change();
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        assert_eq!(
            log.tree_root(1100).unwrap(),
            root_of(&all),
            "after a change"
        );
        check(&log);
        drop(log);
        store.close().unwrap();
    };
    let good = std::fs::read(&tree_file).unwrap();
    assert_eq!(good.len(), 4 * 32);
    let flip = |chunk: usize| {
        let mut bad = good.clone();
        bad[chunk * 32] ^= 1;
        std::fs::write(&tree_file, bad).unwrap();
    };
    // A root past the signed size is recomputed; one inside it fails the
    // check and everything is recomputed; so with a head that does not
    // verify, or none at all (a head is signed again at open).
    reopen(&|| flip(3));
    reopen(&|| flip(0));
    let mut forged = head.clone();
    forged.root = [0; 32];
    reopen(&|| {
        flip(1);
        forged.write(&head_file).unwrap();
    });
    reopen(&|| {
        flip(2);
        std::fs::remove_file(&head_file).unwrap();
    });
    let resigned = head::SignedHead::read(&head_file).unwrap().unwrap();
    assert_eq!((resigned.size, resigned.root), (1100, root_of(&all)));
}
