//! The archive target layer against a local directory and against a real
//! S3-compatible server (moto, see `scripts/s3-test-server`): the same
//! put/get/exists/list/delete checks on both, a 5 MiB object, nested keys,
//! errors that name the object (missing object, missing bucket, wrong
//! credentials), a bounded failure on an unreachable endpoint, and calls from
//! inside tokio's `spawn_blocking`.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::s3::S3Server;
use stele_engine::Error;
use stele_engine::archive::target::{ArchiveOptions, ArchiveTarget, ObjectArchive};

fn open(target: &ArchiveTarget) -> ObjectArchive {
    ObjectArchive::open(target)
        .unwrap_or_else(|e| panic!("open {target:?}: {e}"))
        .expect("not ArchiveTarget::None")
}

/// 5 MiB of bytes that no compression or deduplication shortcut flattens.
fn big_object() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..5 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Asserts `err` is an archive error about `key` of `archive` whose reason
/// contains `needle`.
fn assert_archive_error(archive: &ObjectArchive, key: &str, err: &Error, needle: &str) {
    let Error::Archive { location, reason } = err else {
        panic!("not an archive error: {err}")
    };
    assert_eq!(location, &archive.location(key), "{err}");
    assert!(reason.contains(needle), "{needle:?} not in {err}");
    assert!(err.to_string().contains(&archive.location(key)), "{err}");
}

/// The behaviour every target must have; `archive` starts empty.
fn exercise(archive: &ObjectArchive) {
    let first = "audit/00000000000000000000.seg";
    let nested = "audit/sub/dir/00000000000000000100.seg";
    let other = "billing/00000000000000000000.seg";
    let big = "big/00000000000000000000.seg";
    let big_bytes = big_object();

    assert!(archive.list("").expect("list").is_empty(), "starts empty");
    archive.put(first, b"first".to_vec()).expect("put");
    archive.put(nested, vec![7; 1000]).expect("put nested");
    archive.put(other, Vec::new()).expect("put empty");
    archive.put(big, big_bytes.clone()).expect("put 5 MiB");

    assert_eq!(archive.get(first).expect("get"), b"first");
    assert_eq!(archive.get(nested).expect("get nested"), vec![7; 1000]);
    assert_eq!(archive.get(other).expect("get empty"), b"");
    assert!(
        archive.get(big).expect("get 5 MiB") == big_bytes,
        "5 MiB round trip"
    );

    // Replacing is allowed (a retried archive run rewrites the same key).
    archive.put(first, b"again".to_vec()).expect("put again");
    assert_eq!(archive.get(first).expect("get"), b"again");

    assert!(archive.exists(first).expect("exists"));
    assert!(archive.exists(nested).expect("exists"));
    assert!(
        !archive
            .exists("audit/00000000000000000200.seg")
            .expect("exists")
    );
    assert!(!archive.exists("nowhere/x.seg").expect("exists"));

    assert_eq!(archive.list("audit").expect("list"), [first, nested]);
    assert_eq!(archive.list("audit/").expect("list"), [first, nested]);
    assert_eq!(archive.list("audit/sub").expect("list"), [nested]);
    assert_eq!(archive.list("").expect("list"), [first, nested, big, other]);
    assert!(
        archive.list("aud").expect("list").is_empty(),
        "whole segments only"
    );
    assert!(archive.list("nowhere").expect("list").is_empty());

    let missing = "audit/00000000000000000200.seg";
    let err = archive.get(missing).expect_err("missing object");
    assert_archive_error(archive, missing, &err, "no such object");
    let err = archive
        .put("audit//x.seg", b"x".to_vec())
        .expect_err("bad key");
    assert_archive_error(archive, "audit//x.seg", &err, "invalid key");

    archive.delete(first).expect("delete");
    archive.delete(first).expect("delete again");
    archive.delete("never/there.seg").expect("delete missing");
    assert!(!archive.exists(first).expect("exists"));
    assert_eq!(archive.list("audit").expect("list"), [nested]);

    assert_eq!(
        archive.location(nested),
        format!("{}/{nested}", archive.describe())
    );
}

#[test]
fn local_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = open(&ArchiveTarget::Local {
        path: dir.path().join("archive"),
    });
    exercise(&archive);
    let abs = std::fs::canonicalize(dir.path().join("archive")).expect("canonicalize");
    assert_eq!(archive.describe(), abs.display().to_string());
}

#[test]
fn s3_target() {
    let server = S3Server::start();
    let archive = open(&server.target("stele-archive", "stele/test"));
    assert_eq!(archive.describe(), "s3://stele-archive/stele/test");
    exercise(&archive);

    // The prefix is really in the object keys, and invisible through it.
    let whole_bucket = open(&server.target("stele-archive-2", ""));
    assert!(whole_bucket.list("").expect("list").is_empty());
    let unprefixed = open(&server.existing_target("stele-archive", ""));
    assert_eq!(
        unprefixed.list("stele").expect("list"),
        [
            "stele/test/audit/sub/dir/00000000000000000100.seg",
            "stele/test/big/00000000000000000000.seg",
            "stele/test/billing/00000000000000000000.seg",
        ]
    );

    // A bucket that was never created.
    let nowhere = open(&server.existing_target("never-created", ""));
    let err = nowhere
        .put("a/b.seg", b"x".to_vec())
        .expect_err("no bucket");
    assert_archive_error(&nowhere, "a/b.seg", &err, "no such bucket");
    let err = nowhere.get("a/b.seg").expect_err("no bucket");
    assert_archive_error(&nowhere, "a/b.seg", &err, "no such bucket");
    let err = nowhere.list("a").expect_err("no bucket");
    assert_archive_error(&nowhere, "a", &err, "no such bucket");
}

#[test]
fn wrong_credentials_are_an_error() {
    let server = S3Server::start_rejecting_credentials();
    let archive = open(&server.existing_target("stele-archive", "p"));
    let err = archive
        .put("audit/0.seg", b"x".to_vec())
        .expect_err("refused");
    assert_archive_error(
        &archive,
        "audit/0.seg",
        &err,
        "403 Forbidden: InvalidAccessKeyId",
    );
    let err = archive.get("audit/0.seg").expect_err("refused");
    assert_archive_error(&archive, "audit/0.seg", &err, "InvalidAccessKeyId");
    let err = archive.list("").expect_err("refused");
    assert_archive_error(&archive, "", &err, "InvalidAccessKeyId");
}

#[test]
fn unreachable_endpoint_fails_in_bounded_time() {
    // A port that was free a moment ago: connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let target = ArchiveTarget::S3 {
        bucket: "stele-archive".into(),
        prefix: "p".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: None,
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: true,
    };
    let options = ArchiveOptions {
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        max_retries: 2,
        retry_timeout: Duration::from_secs(3),
    };
    let archive = ObjectArchive::open_with(&target, &options)
        .expect("opening makes no request")
        .expect("a target");
    let started = Instant::now();
    let err = archive
        .put("audit/0.seg", b"x".to_vec())
        .expect_err("refused");
    assert_archive_error(&archive, "audit/0.seg", &err, "");
    assert!(
        err.to_string()
            .starts_with("archive s3://stele-archive/p/audit/0.seg: "),
        "{err}"
    );
    let err = archive.exists("audit/0.seg").expect_err("refused");
    assert_archive_error(&archive, "audit/0.seg", &err, "");
    let err = archive.list("audit").expect_err("refused");
    assert_archive_error(&archive, "audit", &err, "");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "three refused requests took {:?}",
        started.elapsed()
    );
}

#[test]
fn calls_from_inside_spawn_blocking() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = [
        server.target("stele-blocking", "x"),
        ArchiveTarget::Local {
            path: dir.path().to_path_buf(),
        },
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        for target in targets {
            // Opened, used and dropped inside spawn_blocking, as the server
            // drives the engine.
            let inside = target.clone();
            tokio::task::spawn_blocking(move || {
                let archive = open(&inside);
                archive.put("audit/0.seg", vec![1; 4096]).expect("put");
                assert_eq!(archive.get("audit/0.seg").expect("get"), vec![1; 4096]);
                assert_eq!(archive.list("audit").expect("list"), ["audit/0.seg"]);
            })
            .await
            .expect("no panic inside spawn_blocking");

            // Opened outside, used by several blocking tasks at once, and
            // the last clone dropped in async code.
            let archive = tokio::task::spawn_blocking(move || open(&target))
                .await
                .expect("open");
            let tasks: Vec<_> = (0..4u8)
                .map(|i| {
                    let archive = archive.clone();
                    tokio::task::spawn_blocking(move || {
                        archive
                            .put(&format!("many/{i}.seg"), vec![i; 100])
                            .expect("put");
                        archive.exists(&format!("many/{i}.seg")).expect("exists")
                    })
                })
                .collect();
            for task in tasks {
                assert!(task.await.expect("no panic"));
            }
            drop(archive);
        }
    });
}
