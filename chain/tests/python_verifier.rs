//! Stele's Merkle proofs, checked by an independent verifier: a small
//! Python program written from RFC 9162 §2.1 for this test
//! (`tests/rfc9162.py`), which rebuilds the roots by the RFC's recursive
//! definitions. Valid proofs must pass it and tampered ones must not.

use std::io::Write;
use std::ops::Range;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use stele_chain::merkle::{Frontier, ProofError, consistency_proof, inclusion_proof, root_of};
use stele_chain::{Hash, body_digest, leaf_hash};

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            leaf_hash(
                i as u64,
                1_700_000_000 + i as i64,
                &body_digest(format!("event {i}").as_bytes()),
            )
        })
        .collect()
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// Runs the Python verifier on `cases`; its exit status and output.
fn python(cases: &Value) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rfc9162.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the independent verifier (Debian's python3)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn proofs_pass_an_independent_verifier_and_tampered_ones_do_not() {
    let all = leaves(130);
    let roots: Vec<Hash> = (0..=all.len()).map(|n| root_of(&all[..n])).collect();
    let subtree =
        |r: Range<u64>| Ok::<_, ProofError>(root_of(&all[r.start as usize..r.end as usize]));
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for size in 1..=130u64 {
        for index in (0..size).step_by(7).chain([size - 1]) {
            let proof = inclusion_proof(index, size, subtree).unwrap();
            inclusion.push(json!({
                "index": index, "size": size, "leaf": hex::encode(all[index as usize]),
                "proof": hexes(&proof), "root": hex::encode(roots[size as usize]),
            }));
            if proof.len() > 1 && index % 3 == 0 {
                let mut bad = proof.clone();
                bad.swap(0, 1);
                inclusion.push(json!({
                    "index": index, "size": size, "leaf": hex::encode(all[index as usize]),
                    "proof": hexes(&bad), "root": hex::encode(roots[size as usize]), "valid": false,
                }));
            }
        }
        for old in (0..=size).step_by(5).chain([size]) {
            let proof = consistency_proof(old, size, subtree).unwrap();
            consistency.push(json!({
                "old": old, "new": size, "old_root": hex::encode(roots[old as usize]),
                "new_root": hex::encode(roots[size as usize]), "proof": hexes(&proof),
            }));
            if let Some(first) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = all[0];
                if bad[0] != *first {
                    consistency.push(json!({
                        "old": old, "new": size, "old_root": hex::encode(roots[old as usize]),
                        "new_root": hex::encode(roots[size as usize]), "proof": hexes(&bad),
                        "valid": false,
                    }));
                }
            }
        }
    }
    // The frontier's root is the tree head the proofs lead to.
    let mut frontier = Frontier::new();
    for leaf in &all {
        frontier.push(*leaf);
    }
    assert_eq!(frontier.root(), roots[130]);
    let cases = json!({"inclusion": inclusion, "consistency": consistency});
    let (ok, out) = python(&cases);
    assert!(ok, "the independent verifier disagrees:\n{out}");
    assert!(inclusion.len() > 1000 && consistency.len() > 1000);
}
