//! The retention commands of `stele` end to end against a real `steled`:
//! `logs create` with a retention policy, `retention show|set|apply`, legal
//! holds, the lock's refusal and its exit status, `archive list`, `compact`
//! and `erase` with and without `--dry-run`.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Steled, describe};
use serde_json::Value;
use stele_client::{Client, Event, Selection};

/// How long anything may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", describe(out));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

/// Appends `n` events of alternating actors alice and bob to `log`, sealed
/// as one segment.
async fn segment(client: &Client, log: &str, n: usize) {
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let actor = if i % 2 == 0 { "alice" } else { "bob" };
            Event::new("doc.read").actor(stele_client::Actor::user(actor))
        })
        .collect();
    client.append(log, &events).await.unwrap();
    client.seal(log).await.unwrap();
}

async fn searchable(client: &Client, log: &str, count: u64) {
    let deadline = Instant::now() + DEADLINE;
    while client.count(log, &Selection::new()).await.unwrap() != count {
        assert!(Instant::now() < deadline, "{count} records not searchable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_holds_and_the_lock_from_the_command_line() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    let out = server.stele(
        &[
            "logs",
            "create",
            "audit",
            "--max-age",
            "90d",
            "--lock",
            "1d",
            "--json",
        ],
        None,
    );
    let created = json(&out);
    assert_eq!(
        created["policy"]["retention"]["max_age_ms"],
        90 * 86_400_000u64
    );
    assert_eq!(created["policy"]["retention"]["lock_ms"], 86_400_000);
    for _ in 0..3 {
        segment(&client, "audit", 4).await;
    }

    let shown = ok(&server.stele(&["retention", "show", "--log", "audit"], None));
    for line in [
        "max age  90d",
        "lock  1d",
        "archive  none",
        "holds  none",
        "due now  nothing",
    ] {
        assert!(shown.contains(line), "{line:?} in\n{shown}");
    }

    // Every sealed segment is due by size, and all stay under the lock.
    ok(&server.stele(
        &[
            "retention",
            "set",
            "--log",
            "audit",
            "--max-bytes",
            "1",
            "--max-age",
            "none",
        ],
        None,
    ));
    let dry = ok(&server.stele(&["retention", "apply", "--log", "audit", "--dry-run"], None));
    assert!(dry.contains("dry run: 0 segments"), "{dry}");
    assert!(
        dry.contains("blocked: segment 0..4") && dry.contains("retention lock"),
        "{dry}"
    );
    let applied = json(&server.stele(&["retention", "apply", "--log", "audit", "--json"], None));
    assert_eq!(applied["removed"].as_array().unwrap().len(), 0);
    assert_eq!(applied["first_seq"], 0);

    // Lowering the lock is refused: exit status 1, the reason on stderr.
    let out = server.stele(&["lock", "raise", "--log", "audit", "1h"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FAILED_PRECONDITION") && stderr.contains("retention lock"),
        "{stderr}"
    );
    let raised = json(&server.stele(&["lock", "raise", "--log", "audit", "2d", "--json"], None));
    assert_eq!(raised["lock_ms"], 2 * 86_400_000);

    // Holds: set with a reason, shown, lifted with a reason.
    let out = server.stele(
        &[
            "hold",
            "set",
            "--log",
            "audit",
            "--segment",
            "4",
            "--reason",
            "case 7",
        ],
        None,
    );
    assert!(ok(&out).contains("legal hold set on segment 4 of audit: case 7"));
    let shown = ok(&server.stele(&["retention", "show", "--log", "audit"], None));
    assert!(
        shown.contains("hold  segment 4: case 7 (set by anonymous"),
        "{shown}"
    );
    let out = server.stele(
        &[
            "hold",
            "set",
            "--log",
            "audit",
            "--segment",
            "999",
            "--reason",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let out = server.stele(&["hold", "lift", "--log", "audit", "--segment", "4"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--reason is required: {}",
        describe(&out)
    );
    let lifted = json(&server.stele(
        &[
            "hold",
            "lift",
            "--log",
            "audit",
            "--segment",
            "4",
            "--reason",
            "closed",
            "--json",
        ],
        None,
    ));
    assert_eq!(
        (lifted["segment"].as_u64(), lifted["reason"].as_str()),
        (Some(4), Some("case 7"))
    );

    let archived = ok(&server.stele(&["archive", "list", "--log", "audit"], None));
    assert!(archived.contains("archive: none configured"), "{archived}");
    let out = server.stele(
        &["archive", "restore", "--log", "audit", "--segment", "0"],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_apply_compact_and_erase_from_the_command_line() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    ok(&server.stele(
        &["logs", "create", "audit", "--index-commit-interval", "50ms"],
        None,
    ));
    for _ in 0..4 {
        segment(&client, "audit", 6).await;
    }
    searchable(&client, "audit", 24).await;

    // Compaction: planned, then done; every record still there.
    let dry = ok(&server.stele(&["compact", "--log", "audit", "--dry-run"], None));
    assert!(
        dry.contains("would merge 4 segments of audit into 1"),
        "{dry}"
    );
    let done = json(&server.stele(&["compact", "--log", "audit", "--json"], None));
    assert_eq!(
        done["merged"][0]["members"],
        serde_json::json!([0, 6, 12, 18])
    );
    searchable(&client, "audit", 24).await;

    // Erasure: refused without --yes or --dry-run, counted, then done.
    let erase = |extra: &[&str]| {
        let mut args = vec![
            "erase", "--log", "audit", "--actor", "alice", "--reason", "GDPR 117",
        ];
        args.extend_from_slice(extra);
        server.stele(&args, None)
    };
    let out = erase(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        describe(&out)
    );
    let out = server.stele(&["erase", "--log", "audit", "--reason", "x", "--yes"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no selection: {}",
        describe(&out)
    );
    let dry = ok(&erase(&["--dry-run"]));
    assert!(
        dry.contains("dry run: 12 records of audit in 1 segment would be erased"),
        "{dry}"
    );
    let done = json(&erase(&["--yes", "--json"]));
    assert_eq!(
        (done["records"].as_u64(), done["dry_run"].as_bool()),
        (Some(12), Some(false))
    );
    let (record, _) = client.get_record("audit", 0, false).await.unwrap();
    assert!(record.redacted, "{record:?}");

    // Size retention with no lock and no archive deletes the old segments.
    ok(&server.stele(
        &["retention", "set", "--log", "audit", "--max-bytes", "1"],
        None,
    ));
    segment(&client, "audit", 2).await;
    let dry = ok(&server.stele(&["retention", "apply", "--log", "audit", "--dry-run"], None));
    assert!(
        dry.contains("dry run: 2 segments of audit would leave local storage: deleted"),
        "{dry}"
    );
    let done = ok(&server.stele(&["retention", "apply", "--log", "audit"], None));
    assert!(
        done.contains("2 segments of audit left local storage (seqs 0..26"),
        "{done}"
    );
    assert!(done.contains("audit now starts at seq 26"), "{done}");

    // `stele verify` says where the chain starts now.
    let out = server.stele(&["verify", "--log", "audit"], None);
    let verified = ok(&out);
    assert!(
        verified.contains(
            "records before seq 26 were removed under the retention policy (signed anchor checked)"
        ),
        "{verified}"
    );
    assert!(verified.contains("log audit verifies"), "{verified}");
}
