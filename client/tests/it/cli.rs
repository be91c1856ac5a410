//! The `stele` command line end to end against a real `steled`: import and
//! query back, bad lines, tail across a restart, agg against hand counts,
//! verify before and after a flipped byte, append, settings and exit codes,
//! and hostile text stored exactly but shown escaped.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Steled, describe, run_stele, stele_command};
use serde_json::Value;
use stele_client::{Client, Event, Selection, proto};

/// The sample file the README's quick start imports.
const SAMPLE: &str = include_str!("../../examples/events.jsonl");
/// How long anything may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn sample() -> Vec<Value> {
    SAMPLE
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn create_log(client: &Client, name: &str, seal_max_records: u64) {
    client
        .create_log(
            name,
            proto::Policy {
                seal_max_records,
                ..proto::Policy::default()
            },
        )
        .await
        .unwrap();
}

/// Waits until `count` records of `log` are searchable.
async fn searchable(client: &Client, log: &str, count: u64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let n = client.count(log, &Selection::new()).await.unwrap();
        if n == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {count} records searchable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stdout_json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_a_file_and_query_every_event_back() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 200).await;
    let file = work.path().join("events.jsonl");
    std::fs::write(&file, SAMPLE).unwrap();

    let out = server.stele(
        &[
            "import",
            "--log",
            "audit",
            "--batch",
            "64",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("imported 500 events"), "{stderr}");

    let expected = sample();
    searchable(&client, "audit", expected.len() as u64).await;
    let out = server.stele(
        &[
            "query",
            "--log",
            "audit",
            "--all",
            "--oldest-first",
            "-o",
            "jsonl",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let records = stdout_json_lines(&out);
    assert_eq!(records.len(), expected.len());
    let by_id: BTreeMap<&str, &Value> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_id.len(), expected.len(), "every id exactly once");
    for event in &expected {
        let record = by_id[event["id"].as_str().unwrap()];
        for (key, value) in event.as_object().unwrap() {
            assert_eq!(&record[key], value, "{key} of {}", event["id"]);
        }
        assert!(
            record["seq"].is_u64() && record["ingest_time"].is_string(),
            "{record}"
        );
    }

    // Importing the same file again stores nothing new: the ids are known.
    let out = server.stele(&["import", "--log", "audit", file.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("500 already stored"),
        "{}",
        describe(&out)
    );

    // Filters as flags, in the table and as JSON.
    let alice_denied = expected
        .iter()
        .filter(|e| e["actor"]["id"] == "alice" && e["outcome"] == "denied")
        .count();
    let out = server.stele(
        &[
            "query",
            "--log",
            "audit",
            "--actor",
            "alice",
            "--outcome",
            "denied",
            "-n",
            "1000",
            "-o",
            "json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let page: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page.len(), alice_denied);
    let out = server.stele(
        &[
            "query", "--log", "audit", "--action", "git.*", "--since", "1h",
        ],
        None,
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("ACTION") && table.contains("git."),
        "{}",
        describe(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_reported_with_their_numbers() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 0).await;
    let long = "x".repeat(5000);
    let lines = [
        r#"{"action":"ok.one"}"#.to_string(),
        "this is not json".to_string(),
        r#"{"action":"ok.two","outcome":"maybe"}"#.to_string(),
        String::new(),
        r#"{"actor":{"id":"nobody"}}"#.to_string(),
        format!(r#"{{"action":"too.long","message":"{long}"}}"#),
        r#"{"action":"ok.three","details":{"a":1}}"#.to_string(),
    ];
    let input = lines.join("\n");

    let out = server.stele(&["import", "--log", "audit", "-"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, why) in [(2, "expected"), (3, "maybe"), (5, "action"), (6, "message")] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("stdin: line {line}: ")) && l.contains(why)),
            "line {line} ({why}) not reported:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("line 1:") && !stderr.contains("line 4:") && !stderr.contains("line 7:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("imported 2 events") || stderr.contains("imported 3 events"),
        "{stderr}"
    );
    searchable(&client, "audit", 2).await;

    // --on-error fail stops at the first bad line.
    let out = server.stele(
        &["import", "--log", "audit", "--on-error", "fail", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2:") && stderr.contains("stopped at line 2"),
        "{stderr}"
    );
    assert!(!stderr.contains("line 3:"), "{stderr}");
}

/// A `stele tail -f` child whose stdout lines arrive on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(endpoint: &str, work: &Path, args: &[&str]) -> Tail {
        let mut child = stele_command(endpoint, work, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Tail { child, lines }
    }

    /// The next `n` records printed.
    fn records(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        (0..n)
            .map(|i| {
                let wait = deadline.saturating_duration_since(Instant::now());
                let line = self
                    .lines
                    .recv_timeout(wait)
                    .unwrap_or_else(|_| panic!("tail printed {i} of {n} records"));
                serde_json::from_str(&line).unwrap()
            })
            .collect()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn append_many(client: &Client, prefix: &str, n: usize) {
    let events: Vec<Event> = (0..n)
        .map(|i| Event::new("tail.test").id(format!("{prefix}-{i}")))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    // Right after a restart the first calls may find the port closed.
    while let Err(e) = client.append("audit", &events).await {
        assert!(e.is_transient() && Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_new_events_and_resumes_after_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let mut server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 0).await;
    append_many(&client, "before", 5).await;
    searchable(&client, "audit", 5).await;

    let tail = Tail::start(
        &server.endpoint(),
        work.path(),
        &["tail", "--log", "audit", "-f", "-n", "2", "-o", "jsonl"],
    );
    let first = tail.records(2);
    assert_eq!(
        first
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [3, 4]
    );

    append_many(&client, "live", 10).await;
    let live = tail.records(10);
    server.restart().await;
    append_many(&client, "after", 10).await;
    let after = tail.records(10);

    let seqs: Vec<u64> = live
        .iter()
        .chain(&after)
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (5..25).collect::<Vec<_>>(),
        "every seq once, in order, across the restart"
    );
    let ids: Vec<&str> = after.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids[0], "after-0");
    assert!(
        tail.lines.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing more"
    );

    // Without -f: from a seq to the head, then exit.
    let out = server.stele(
        &["tail", "--log", "audit", "--from-seq", "20", "-o", "jsonl"],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let seqs: Vec<u64> = stdout_json_lines(&out)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (20..25).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agg_matches_a_count_by_hand() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 0).await;
    let out = server.stele(&["import", "--log", "audit", "-"], Some(SAMPLE.as_bytes()));
    assert!(out.status.success(), "{}", describe(&out));
    let events = sample();
    searchable(&client, "audit", events.len() as u64).await;

    let mut by_hand: BTreeMap<String, u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e["outcome"] != "success") {
        *by_hand
            .entry(e["actor"]["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let out = server.stele(
        &[
            "agg",
            "--log",
            "audit",
            "--by",
            "actor.id",
            "--outcome",
            "failure",
            "--outcome",
            "denied",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counted: BTreeMap<String, u64> = json["top"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(counted, by_hand);
    assert_eq!(
        json["total"].as_u64().unwrap(),
        by_hand.values().sum::<u64>()
    );

    // The table shows the same numbers, with bars.
    let out = server.stele(&["agg", "--log", "audit", "--by", "action"], None);
    let table = String::from_utf8_lossy(&out.stdout);
    let pushes = events.iter().filter(|e| e["action"] == "git.push").count();
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("git.push "))
        .unwrap();
    assert!(
        row.contains(&format!(" {pushes} ")) && row.contains('█'),
        "{table}"
    );

    let out = server.stele(
        &["agg", "--log", "audit", "--histogram", "1h", "--json"],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum: u64 = json["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, events.len() as u64);
}

/// The sealed segment files of `log`.
fn sealed_segments(data: &Path, log: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data.join("logs").join(log).join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_then_fails_after_a_byte_of_a_sealed_segment_is_flipped() {
    let work = tempfile::tempdir().unwrap();
    let mut server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 100).await;
    let out = server.stele(
        &["import", "--log", "audit", "--batch", "50", "-"],
        Some(SAMPLE.as_bytes()),
    );
    assert!(out.status.success(), "{}", describe(&out));
    client.seal("audit").await.unwrap();
    let key = hex::encode(client.public_key().await.unwrap());

    let out = server.stele(&["verify", "--log", "audit", "--public-key", &key], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("OK log audit verifies") && stdout.contains("(pinned)"),
        "{stdout}"
    );
    assert!(stdout.contains("500 records"), "{stdout}");

    // A key that is not the server's is refused.
    let other = "11".repeat(32);
    let out = server.stele(&["verify", "--log", "audit", "--public-key", &other], None);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));

    // Offline, a byte in the middle of a sealed segment flips.
    server.stop().await;
    let segment = sealed_segments(server.data_dir(), "audit")[1].clone();
    std::fs::set_permissions(&segment, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .unwrap();
    let middle = file.metadata().unwrap().len() / 2;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, middle).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], middle).unwrap();
    drop(file);
    server.restart().await;

    let out = server.stele(&["verify", "--log", "audit", "--public-key", &key], None);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED log audit does not verify"),
        "{}",
        describe(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merkle_proofs_of_one_record_offline_and_since_a_saved_checkpoint() {
    let work = tempfile::tempdir().unwrap();
    let mut server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 100).await;
    let out = server.stele(
        &["import", "--log", "audit", "--batch", "50", "-"],
        Some(SAMPLE.as_bytes()),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let key = hex::encode(client.public_key().await.unwrap());

    let out = server.stele(
        &[
            "verify",
            "--log",
            "audit",
            "--seq",
            "42",
            "--public-key",
            &key,
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("record 42 is in the tree of 500 records"),
        "{stdout}"
    );

    // A checkpoint saved, more appended, then checked to extend it.
    let saved = work.path().join("audit.checkpoint");
    let since = |server: &Steled| {
        server.stele(
            &[
                "verify",
                "--log",
                "audit",
                "--since-checkpoint",
                saved.to_str().unwrap(),
                "--public-key",
                &key,
            ],
            None,
        )
    };
    let out = since(&server);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(std::fs::read_to_string(&saved).unwrap().contains("\n500\n"));
    let out = server.stele(
        &[
            "append", "--log", "audit", "--action", "doc.read", "--actor", "bob",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = since(&server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("the log of 501 records extends the saved one of 500"),
        "{stdout}"
    );
    assert!(std::fs::read_to_string(&saved).unwrap().contains("\n501\n"));
    // A saved checkpoint that was not signed by the key is refused.
    let forged = std::fs::read_to_string(&saved)
        .unwrap()
        .replace("\n501\n", "\n499\n");
    std::fs::write(&saved, forged).unwrap();
    assert_eq!(since(&server).status.code(), Some(4));

    // A self-contained proof, checked with no server.
    let out = server.stele(&["proof", "--log", "audit", "--seq", "42"], None);
    assert!(out.status.success(), "{}", describe(&out));
    let proof_file = work.path().join("record-42.proof.json");
    std::fs::write(&proof_file, &out.stdout).unwrap();
    let proof: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(proof["seq"], 42);
    assert!(proof["event"]["action"].is_string(), "{proof}");
    server.stop().await;
    let out = server.stele(
        &[
            "verify-proof",
            proof_file.to_str().unwrap(),
            "--public-key",
            &key,
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout.contains("OK record 42 of log audit verifies"),
        "{stdout}"
    );
    let mut tampered = proof.clone();
    tampered["seq"] = 43.into();
    std::fs::write(&proof_file, tampered.to_string()).unwrap();
    let out = server.stele(
        &[
            "verify-proof",
            proof_file.to_str().unwrap(),
            "--public-key",
            &key,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAILED"),
        "{}",
        describe(&out)
    );
    let out = server.stele(&["verify-proof", proof_file.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "no key: {}", describe(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_settings_and_exit_codes() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let out = server.stele(&["logs", "create", "audit"], None);
    assert!(out.status.success(), "{}", describe(&out));

    let out = server.stele(
        &[
            "append",
            "--log",
            "audit",
            "--action",
            "workflow.delete",
            "--actor",
            "alice",
            "--ip",
            "203.0.113.7",
            "--resource",
            "workflow:42",
            "--outcome",
            "success",
            "--message",
            "alice deleted workflow 42",
            "--detail",
            "reason=cleanup",
            "--detail",
            "steps=3",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["seq"], 0);
    assert_eq!(receipt["chain_hash"].as_str().unwrap().len(), 64);
    let client = server.client().await;
    let (record, stored) = client.get_record("audit", 0, false).await.unwrap();
    assert_eq!(
        hex::encode(stored.chain_hash),
        receipt["chain_hash"].as_str().unwrap()
    );
    let event = record.event.unwrap();
    assert_eq!(event.id, receipt["id"].as_str().unwrap());
    assert_eq!(event.details.unwrap()["steps"], 3);
    assert_eq!(event.resource.unwrap().id, "42");

    // The same id again: the original receipt.
    let id = receipt["id"].as_str().unwrap();
    let out = server.stele(
        &[
            "append",
            "--log",
            "audit",
            "--action",
            "workflow.delete",
            "--id",
            id,
        ],
        None,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("seq 0 (duplicate"),
        "{}",
        describe(&out)
    );

    // Refusals: 1 from the server, 2 for usage, 3 for no server.
    let out = server.stele(&["append", "--log", "nope", "--action", "a.b"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT_FOUND"),
        "{}",
        describe(&out)
    );
    let out = server.stele(
        &[
            "append",
            "--log",
            "audit",
            "--action",
            "a.b",
            "--resource",
            "no-colon",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--resource"),
        "{}",
        describe(&out)
    );
    let out = server.stele(&["query", "--log", "audit", "--from", "last tuesday"], None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let out = run_stele(&closed, work.path(), &["logs", "list"], None);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot connect"),
        "{}",
        describe(&out)
    );

    // The configuration file supplies the endpoint when no flag or variable does.
    let config = work.path().join("config.toml");
    std::fs::write(&config, format!("endpoint = \"{}\"\n", server.endpoint())).unwrap();
    let mut cmd = stele_command("unused", work.path(), &["logs", "list", "--json"]);
    let out = cmd
        .env_remove("STELE_ENDPOINT")
        .env("STELE_CONFIG", &config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let logs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: HashSet<&str> = logs.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(names.contains("audit"), "{names:?}");
    std::fs::write(&config, "endpoint = 7\n").unwrap();
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("config.toml"),
        "{}",
        describe(&out)
    );

    // Every command has help with examples.
    for command in [
        "append",
        "import",
        "query",
        "tail",
        "agg",
        "verify",
        "logs create",
        "segments list",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let out = server.stele(&args, None);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Example"),
            "{command}: {}",
            describe(&out)
        );
    }
}

/// Text that would drive a terminal: clear the screen and home the cursor,
/// set the window title, forge a line, reverse what follows.
const HOSTILE_ACTOR: &str = "mallory\u{1b}[2J\u{1b}[1;1Hroot";
const HOSTILE_MESSAGE: &str = "\u{1b}]0;pwned\u{7} done\r\nFAKE LINE success \u{202e}txt.exe";

/// Whether `s` holds a character that must not reach a terminal raw.
fn drives_a_terminal(s: &str) -> bool {
    s.chars()
        .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_stored_exactly_and_shown_escaped() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "audit", 0).await;
    let event = serde_json::json!({
        "action": "user.login",
        "actor": {"id": HOSTILE_ACTOR, "ip": "AWS Internal"},
        "resource": {"kind": "repo", "id": "r\u{9b}1"},
        "outcome": "success",
        "message": HOSTILE_MESSAGE,
    });
    let line = format!("{event}\n");
    let out = server.stele(&["import", "--log", "audit", "-"], Some(line.as_bytes()));
    assert!(out.status.success(), "{}", describe(&out));
    searchable(&client, "audit", 1).await;

    // JSON is the evidence: exact.
    let out = server.stele(&["query", "--log", "audit", "-o", "jsonl"], None);
    assert!(out.status.success(), "{}", describe(&out));
    let records = stdout_json_lines(&out);
    assert_eq!(records[0]["actor"]["id"], HOSTILE_ACTOR);
    assert_eq!(records[0]["message"], HOSTILE_MESSAGE);

    // Everything for people: escaped.
    for args in [
        vec!["query", "--log", "audit"],
        vec!["tail", "--log", "audit", "--from-seq", "0"],
        vec!["agg", "--log", "audit", "--by", "actor.id"],
        vec!["agg", "--log", "audit", "--by", "resource.id"],
    ] {
        let out = server.stele(&args, None);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        let shown = String::from_utf8(out.stdout).unwrap();
        assert!(!drives_a_terminal(&shown), "{args:?} printed {shown:?}");
        assert!(
            !shown
                .lines()
                .any(|l| l.trim_start().starts_with("FAKE LINE")),
            "{args:?} printed a forged line: {shown:?}"
        );
        let expected = if args[0] == "agg" && args[4] == "resource.id" {
            "r\\u009b1"
        } else {
            "mallory\\x1b[2J\\x1b[1;1Hroot"
        };
        assert!(shown.contains(expected), "{args:?} printed {shown:?}");
    }
    let out = server.stele(&["query", "--log", "audit"], None);
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("\\x1b]0;pwned\\x07") && shown.contains("\\u202etxt.exe"),
        "{shown:?}"
    );

    // An error that quotes the input.
    let out = server.stele(
        &["query", "--log", "audit", "--ip", "10.0.0.0/3\u{1b}[2J"],
        None,
    );
    assert!(!out.status.success());
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(error.contains("not a network"), "{error:?}");
    assert!(!drives_a_terminal(&error), "{error:?}");
    assert!(error.contains("10.0.0.0/3\\x1b[2J"), "{error:?}");
}

/// Starts a `steled` in `work`, creates `log` and imports `sample` into it
/// with `stele import --format FORMAT`, which must say it imported
/// `events`; returns once they are all searchable.
async fn imported(work: &Path, log: &str, format: &str, sample: &str, events: u64) -> Steled {
    let server = Steled::start(work).await;
    let client = server.client().await;
    create_log(&client, log, 0).await;
    let out = server.stele(
        &["import", "--log", log, "--format", format, "-"],
        Some(sample.as_bytes()),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("imported {events} events")),
        "{format}: {}",
        describe(&out)
    );
    searchable(&client, log, events).await;
    server
}

/// The records of `log` that `stele query ARGS` finds, oldest first.
fn oldest_first(server: &Steled, log: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["query", "--log", log, "-o", "jsonl", "--oldest-first"];
    all.extend_from_slice(args);
    let out = server.stele(&all, None);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    stdout_json_lines(&out)
}

/// The actions of `records`, in order.
fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

/// AWS CloudTrail delivery file written for the tests (every identity
/// type, denials, errors, sources that are not addresses).
const CLOUDTRAIL: &str = include_str!("../data/cloudtrail-delivery.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_records_import_and_are_found_by_actor_action_and_outcome() {
    let work = tempfile::tempdir().unwrap();
    let server = imported(work.path(), "aws", "cloudtrail", CLOUDTRAIL, 9).await;
    let again = server.stele(
        &["import", "--log", "aws", "-"],
        Some(CLOUDTRAIL.as_bytes()),
    );
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("stdin: read as cloudtrail") && said.contains("9 already stored"),
        "a re-import, the format recognised, stores nothing twice: {}",
        describe(&again)
    );

    let query = |args: &[&str]| oldest_first(&server, "aws", args);
    assert_eq!(
        actions(&query(&["--actor", "arn:aws:iam::123456789012:user/alice"])),
        ["aws.signin.ConsoleLogin", "aws.ec2.RunInstances"]
    );
    assert_eq!(
        actions(&query(&["--outcome", "denied"])),
        [
            "aws.s3.DeleteObject",
            "aws.s3.GetObject",
            "aws.ec2.RunInstances"
        ]
    );
    assert_eq!(query(&["--action", "aws.s3.*"]).len(), 2);
    assert_eq!(
        actions(&query(&["--ip", "AWS Internal"])),
        ["aws.sts.GetCallerIdentity"]
    );
    assert_eq!(query(&["--ip", "10.0.0.0/8"]).len(), 2);
    assert_eq!(
        query(&["actor.ip:10.0.0.0/8 OR outcome:denied"]).len(),
        4,
        "exact fields in the text, with OR"
    );
    let bucket = query(&["acme-artifacts"]);
    assert_eq!(
        actions(&bucket),
        ["aws.s3.DeleteObject"],
        "details are searchable"
    );
    assert_eq!(
        bucket[0]["details"]["requestParameters"]["key"],
        "builds/4711.tar.gz"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_gzip_pretty_json_and_csv_import_with_counts_per_file() {
    use std::io::Write;

    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in");
    let day = |d: &str| {
        let dir = input.join("AWSLogs/2025/12").join(d);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(CLOUDTRAIL.as_bytes()).unwrap();
    std::fs::write(day("01").join("trail.json.gz"), gz.finish().unwrap()).unwrap();
    let delivery: Value = serde_json::from_str(CLOUDTRAIL.lines().next().unwrap()).unwrap();
    std::fs::write(
        day("02").join("trail.json"),
        serde_json::to_string_pretty(&delivery).unwrap(),
    )
    .unwrap();
    std::fs::write(input.join("notes.txt"), "not an event\n").unwrap();
    let csv = work.path().join("github-export.csv");
    std::fs::write(&csv, include_str!("../data/github-audit.csv")).unwrap();

    let server = Steled::start(work.path()).await;
    let client = server.client().await;
    create_log(&client, "mixed", 0).await;
    let out = server.stele(
        &[
            "import",
            "--log",
            "mixed",
            input.to_str().unwrap(),
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "a bad line: {}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    let name = |p: &Path| p.display().to_string();
    let gz_name = name(&input.join("AWSLogs/2025/12/01/trail.json.gz"));
    let pretty_name = name(&input.join("AWSLogs/2025/12/02/trail.json"));
    let notes = name(&input.join("notes.txt"));
    for expected in [
        format!("{gz_name}: read as cloudtrail"),
        format!("{gz_name}: 9 imported\n"),
        format!("{pretty_name}: 9 imported; 9 already stored (same id)"),
        format!("{notes}: line 1: "),
        format!("{notes}: 0 imported; 1 bad line"),
        format!("{}: read as github-audit", name(&csv)),
        format!("{}: 6 imported\n", name(&csv)),
        "imported 24 events from 4 files".to_string(),
    ] {
        assert!(said.contains(&expected), "{expected:?} in {said}");
    }
    searchable(&client, "mixed", 15).await;
    let query = |args: &[&str]| actions(&oldest_first(&server, "mixed", args));
    assert_eq!(
        query(&["--actor", "bob", "--action", "github.*"]),
        ["github.protected_branch.destroy"]
    );
    assert_eq!(
        query(&["details.data.reason:ticket"]),
        ["github.protected_branch.destroy"],
        "a CSV cell spanning lines is kept whole"
    );
    assert_eq!(query(&["--outcome", "denied"]).len(), 4);

    let missing = work.path().join("no-such-export.csv");
    let out = server.stele(
        &["import", "--log", "mixed", missing.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-export.csv: no such file"),
        "{}",
        describe(&out)
    );
}

/// A Kubernetes API server audit log written for the tests.
const K8S_AUDIT: &str = include_str!("../data/k8s-audit.jsonl");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_audit_events_import_and_are_found_by_actor_action_and_outcome() {
    let work = tempfile::tempdir().unwrap();
    // 9 records: the final stage of each of 7 requests is imported.
    let server = imported(work.path(), "k8s", "k8s-audit", K8S_AUDIT, 7).await;
    let query = |args: &[&str]| actions(&oldest_first(&server, "k8s", args));
    assert_eq!(
        query(&["--actor", "alice@example.com"]),
        ["k8s.pods.delete"]
    );
    assert_eq!(
        query(&["--outcome", "denied"]),
        ["k8s.secrets.get", "k8s.nonresource.get"]
    );
    assert_eq!(query(&["--action", "k8s.pods.*"]).len(), 2);
    assert_eq!(query(&["--ip", "10.244.0.0/16"]), ["k8s.secrets.get"]);
    assert_eq!(query(&["admin-token"]), ["k8s.secrets.get"]);
}

/// A GitHub organisation audit log written for the tests: an export
/// followed by streamed events.
const GITHUB_AUDIT: &str = include_str!("../data/github-audit.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_audit_events_import_and_are_found_by_actor_action_and_outcome() {
    let work = tempfile::tempdir().unwrap();
    let server = imported(work.path(), "gh", "github-audit", GITHUB_AUDIT, 6).await;
    let query = |args: &[&str]| actions(&oldest_first(&server, "gh", args));
    assert_eq!(
        query(&["--actor", "bob"]),
        ["github.protected_branch.destroy"]
    );
    assert_eq!(
        query(&["--outcome", "denied"]),
        ["github.oauth_application.access_denied"]
    );
    assert_eq!(
        query(&["--resource", "repository:acme/api"]),
        ["github.repo.create", "github.protected_branch.destroy"]
    );
    assert_eq!(
        query(&["details.branch:main"]),
        ["github.protected_branch.destroy"]
    );
}

/// OCSF events written for the tests.
const OCSF: &str = include_str!("../data/ocsf.jsonl");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_events_import_and_are_found_by_actor_action_and_outcome() {
    let work = tempfile::tempdir().unwrap();
    let server = imported(work.path(), "ocsf", "ocsf", OCSF, 4).await;
    let query = |args: &[&str]| actions(&oldest_first(&server, "ocsf", args));
    assert_eq!(query(&["--actor", "alice"]), ["s3.DeleteBucket"]);
    assert_eq!(query(&["--outcome", "denied"]), ["s3.DeleteBucket"]);
    assert_eq!(
        query(&["--action", "auth.*"]),
        ["auth.logon", "auth.logoff"]
    );
    assert_eq!(query(&["--ip", "backup01.internal"]), ["auth.logoff"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrubbing_rules_are_set_and_tried_from_the_command_line() {
    let work = tempfile::tempdir().unwrap();
    let server = Steled::start(work.path()).await;
    let out = server.stele(
        &[
            "logs",
            "create",
            "audit",
            "--scrub",
            "all",
            "--scrub-custom",
            "ticket=TS-[0-9]{6}",
        ],
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let info = server.stele(&["logs", "info", "audit", "--json"], None);
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info["policy"]["scrub"]["builtin"],
        serde_json::json!(["all"])
    );
    assert_eq!(info["policy"]["scrub"]["custom"][0]["name"], "ticket");

    let samples = work.path().join("samples.jsonl");
    std::fs::write(
        &samples,
        concat!(
            r#"{"action":"user.login","details":{"password":"hunter2"}}"#,
            "\n",
            r#"{"action":"deploy","message":"deployed v1.2.3"}"#,
            "\n",
            r#"{"action":"ticket.open","message":"ticket TS-123456 for postgres://u:pw@db/x"}"#,
            "\n",
        ),
    )
    .unwrap();
    let tried = server.stele(
        &["scrub", "test", "--log", "audit", samples.to_str().unwrap()],
        None,
    );
    assert!(tried.status.success(), "{}", describe(&tried));
    let text = String::from_utf8_lossy(&tried.stdout);
    assert!(
        text.contains("event 1 (user.login): key_value ×1"),
        "{text}"
    );
    assert!(text.contains(r#"details.password: "hunter2""#), "{text}");
    assert!(
        text.contains("event 3 (ticket.open): ticket ×1, url_password ×1"),
        "{text}"
    );
    assert!(!text.contains("event 2"), "{text}");
    assert!(
        text.ends_with("2 of 3 events would change: key_value 1, ticket 1, url_password 1\n"),
        "{text}"
    );
    // Rules being tried instead of the log's.
    let tried = server.stele(
        &[
            "scrub",
            "test",
            "--log",
            "audit",
            "--builtin",
            "jwt",
            samples.to_str().unwrap(),
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&tried.stdout).ends_with("0 of 3 events would change\n"));
    // Nothing was stored by the dry runs.
    let info = server.stele(&["logs", "info", "audit", "--json"], None);
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["records"], 0);

    // A bad rule is refused by name; then the rules are narrowed.
    let bad = server.stele(
        &["scrub", "set", "--log", "audit", "--custom", "broken=("],
        None,
    );
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("policy.scrub.custom[0].pattern"),
        "{}",
        describe(&bad)
    );
    let no_eq = server.stele(
        &["scrub", "set", "--log", "audit", "--custom", "nameonly"],
        None,
    );
    assert!(
        String::from_utf8_lossy(&no_eq.stderr).contains("expected NAME=REGEX"),
        "{}",
        describe(&no_eq)
    );
    let set = server.stele(
        &["scrub", "set", "--log", "audit", "--builtin", "jwt"],
        None,
    );
    assert!(set.status.success(), "{}", describe(&set));
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "scrubbing rules of audit: jwt\n"
    );
    let off = server.stele(&["scrub", "set", "--log", "audit", "--none"], None);
    assert_eq!(
        String::from_utf8_lossy(&off.stdout),
        "scrubbing rules of audit: none\n"
    );
}
