//! Crash test: a child process appends from several threads with fsync
//! `always` and prints each acknowledgement; the parent kills it with SIGKILL
//! at a random moment, reopens the data directory and finds every
//! acknowledged record, with the acknowledged chain hash, and a valid chain.
//! Repeated on the same directory, so recovery also runs over earlier crashes.
//!
//! The child is this test binary itself, re-run with `STELE_CRASH_CHILD` set
//! and filtered to `crash_kill9::crash_child`.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use stele_engine::{Direction, FsyncPolicy, Store};

const CHILD_ENV: &str = "STELE_CRASH_CHILD";
const ROUNDS: usize = 6;

/// The child's body: append until killed, printing `ack <seq> <chain hex>`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    let log = common::open_or_create(
        &store,
        "crash",
        common::small_policy(FsyncPolicy::Always, 300),
    );
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut i = 0u64;
                loop {
                    let n = 1 + (i + t) % 17;
                    // Ids unique to this child and thread: the same id twice
                    // would be a retry, answered with the first receipt.
                    let mut batch = common::events(i, i + n);
                    for (k, e) in (i..).zip(&mut batch) {
                        e.id = format!("{}-{t}-{k}", std::process::id());
                    }
                    let receipts = match log.append(&batch) {
                        Ok(receipts) => receipts,
                        Err(e) => return eprintln!("append failed: {e}"),
                    };
                    let mut out = String::new();
                    for r in receipts {
                        out.push_str(&format!("ack {} {}\n", r.seq, hex(&r.chain_hash)));
                    }
                    print!("{out}");
                    i += n;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_acknowledged_record_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::thread_rng();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_kill9::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack, acking) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // A line cut short by the kill has no newline: it was never a
            // complete acknowledgement.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                if let Some(rest) = line.trim_end().strip_prefix("ack ") {
                    let (seq, hash) = rest.split_once(' ').unwrap();
                    lines.push((seq.parse::<u64>().unwrap(), hash.to_string()));
                    let _ = first_ack.send(());
                }
                line.clear();
            }
            lines
        });
        // Kill at a random moment once the child is appending (opening the
        // store takes longer on a loaded machine).
        acking
            .recv_timeout(Duration::from_secs(60))
            .expect("the child starts acknowledging appends");
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..700)));
        child.kill().unwrap();
        child.wait().unwrap();
        let round_acks = reader.join().unwrap();
        assert!(
            !round_acks.is_empty(),
            "round {round}: the child acknowledged something"
        );
        for (seq, hash) in round_acks {
            if let Some(previous) = acked.insert(seq, hash.clone()) {
                panic!("round {round}: seq {seq} acknowledged twice ({previous} and {hash})");
            }
        }

        let store = Store::open(dir.path()).unwrap();
        let log = store.log("crash").unwrap();
        let (&last, _) = acked.last_key_value().unwrap();
        assert!(
            log.visible_seq() > last,
            "round {round}: acknowledged seq {last} is missing"
        );
        let mut stored = log.scan(.., Direction::Forward);
        while let Some(item) = stored.next_with_receipt() {
            let (_, receipt) = item.unwrap();
            if let Some(hash) = acked.get(&receipt.seq) {
                assert_eq!(
                    &hex(&receipt.chain_hash),
                    hash,
                    "round {round}: seq {}",
                    receipt.seq
                );
            }
        }
        let report = log.verify(0..u64::MAX, &store.public_key()).unwrap();
        assert!(report.is_ok(), "round {round}: {:?}", report.failure);
        // Records written but never acknowledged may survive; they get no ack
        // line, so the next round's child continues after them.
        acked.retain(|&seq, _| seq < log.visible_seq());
    }
}
