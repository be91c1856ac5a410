//! Helpers shared by the scenario tests: deterministic events, stores with
//! small seal thresholds, and byte surgery on files.

pub mod s3;

use std::path::{Path, PathBuf};

use stele_engine::{
    Actor, ActorKind, Event, FsyncPolicy, Outcome, Policy, Resource, SealOptions, SealPolicy, Store,
};

/// A deterministic event; `time`s are deliberately out of order.
pub fn event(i: u64) -> Event {
    let actions = ["git.push", "workflow.delete", "user.login", "repo.create"];
    let outcomes = [Outcome::Success, Outcome::Failure, Outcome::Denied];
    Event {
        id: format!("ev-{i}"),
        time: Some(1_790_000_000_000_000_000 + ((i * 7919) % 1000) as i64 * 1_000_000_000),
        tenant: format!("tenant-{}", i % 3),
        actor: Actor {
            id: format!("user-{}", i % 11),
            kind: Some(ActorKind::User),
            ip: format!("203.0.113.{}", i % 250),
            ..Actor::default()
        },
        action: actions[(i % 4) as usize].into(),
        resource: Resource {
            kind: "workflow".into(),
            id: format!("{}", i % 97),
            name: String::new(),
        },
        outcome: Some(outcomes[(i % 3) as usize]),
        message: format!("user-{} did thing {i}", i % 11),
        details: serde_json::json!({"n": i, "nested": {"k": "v".repeat((i % 40) as usize)}})
            .as_object()
            .cloned(),
        ..Event::default()
    }
}

/// Events `from..to`.
pub fn events(from: u64, to: u64) -> Vec<Event> {
    (from..to).map(event).collect()
}

/// A policy that seals every `max_records` and uses small blocks, so tests
/// get several segments and several blocks per segment.
pub fn small_policy(fsync: FsyncPolicy, max_records: u64) -> Policy {
    Policy {
        fsync,
        seal: SealPolicy {
            max_records,
            ..SealPolicy::default()
        },
        compression: SealOptions {
            block_bytes: 4096,
            zstd_level: 3,
            ..SealOptions::default()
        },
        ..Policy::default()
    }
}

/// The log `name` of `store`, created with `policy` if it does not exist
/// (crash tests reopen the same directory round after round).
pub fn open_or_create(
    store: &Store,
    name: &str,
    policy: Policy,
) -> std::sync::Arc<stele_engine::Log> {
    match store.log(name) {
        Ok(log) => log,
        Err(_) => store.create_log(name, policy).unwrap(),
    }
}

/// The directory of log `name` in the data directory `data`.
pub fn log_dir(data: &Path, name: &str) -> PathBuf {
    data.join("logs").join(name)
}

/// Segment files of a log directory, sorted by name.
pub fn segment_files(log_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(log_dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Overwrites `bytes` at `offset` of a file, even a read-only one.
pub fn patch_file(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::{FileExt, PermissionsExt};
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// Flips the low bit of the byte at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let byte = std::fs::read(path).unwrap()[offset as usize];
    patch_file(path, offset, &[byte ^ 1]);
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Opens a store, panicking with the error.
pub fn open(dir: &Path) -> Store {
    Store::open(dir).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}
