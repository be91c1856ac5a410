//! Verifying an archive on its own, with no running server and no data
//! directory: what an auditor runs over the evidence (`steled verify
//! --archive`).
//!
//! For every log in the archive, every manifest entry is read, oldest first;
//! its sealed file is downloaded and must match the entry's SHA-256, open as
//! a sealed segment of that log, and recompute (every body digest, leaf and
//! chain hash) to the entry's chain hashes; the entry's checkpoint must be
//! signed by the trusted key and name the segment's end; and each segment
//! must start at the chain hash where the previous one ended (the first at
//! the genesis hash when it starts at seq 0). Gaps are failures.

use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;
use memmap2::MmapMut;
use sha2::{Digest, Sha256};

use super::entry::ArchivedSegment;
use super::target::ObjectArchive;
use crate::chain::{self, Hash};
use crate::error::{Error, Result};
use crate::segment::SealedSegment;

/// What checking one log's archived segments found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLogReport {
    /// The log.
    pub log: String,
    /// Segments checked.
    pub segments: usize,
    /// Records recomputed.
    pub records: u64,
    /// First seq archived.
    pub first_seq: u64,
    /// Seq after the last archived record.
    pub next_seq: u64,
    /// Every problem found, each naming the object.
    pub failures: Vec<String>,
}

/// How far a check has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveProgress {
    /// The log being checked.
    pub log: String,
    /// Segments of that log checked so far.
    pub done: usize,
    /// Segments of that log.
    pub total: usize,
}

/// Checks every log in `archive` (or only `only_log`). Checkpoints must be
/// signed by `key`; with no key, by the key each names (reported by the
/// caller as unpinned).
///
/// # Errors
/// Only when the archive cannot be listed; problems with objects are
/// reported per log.
pub fn check_archive(
    archive: &ObjectArchive,
    key: Option<&VerifyingKey>,
    only_log: Option<&str>,
    progress: &mut dyn FnMut(&ArchiveProgress),
) -> Result<Vec<ArchiveLogReport>> {
    let keys = archive.list("")?;
    let mut logs: Vec<String> = keys
        .iter()
        .filter(|k| k.ends_with(".json"))
        .filter_map(|k| k.split_once('/').map(|(log, _)| log.to_string()))
        .filter(|log| only_log.is_none_or(|only| only == log))
        .collect();
    logs.dedup();
    let mut reports = Vec::new();
    for log in logs {
        let entries: Vec<&String> = keys
            .iter()
            .filter(|k| {
                k.strip_prefix(&format!("{log}/"))
                    .is_some_and(|rest| rest.ends_with(".json") && !rest.contains('/'))
            })
            .collect();
        reports.push(check_log(archive, &log, &entries, key, progress));
    }
    Ok(reports)
}

fn check_log(
    archive: &ObjectArchive,
    log: &str,
    entry_keys: &[&String],
    key: Option<&VerifyingKey>,
    progress: &mut dyn FnMut(&ArchiveProgress),
) -> ArchiveLogReport {
    let mut report = ArchiveLogReport {
        log: log.to_string(),
        segments: 0,
        records: 0,
        first_seq: 0,
        next_seq: 0,
        failures: Vec::new(),
    };
    let mut entries = Vec::new();
    for k in entry_keys {
        match archive.get(k).and_then(|bytes| {
            serde_json::from_slice::<ArchivedSegment>(&bytes)
                .map_err(|e| Error::archive(archive.location(k), format!("not a valid entry: {e}")))
        }) {
            Ok(entry) => entries.push(entry),
            Err(e) => report.failures.push(e.to_string()),
        }
    }
    entries.sort_by_key(|e| e.first_seq);
    report.first_seq = entries.first().map_or(0, |e| e.first_seq);
    let mut previous: Option<(u64, Hash)> = None;
    let total = entries.len();
    for (i, entry) in entries.iter().enumerate() {
        let expected_prev = match previous {
            Some(p) => Some(p),
            None if entry.first_seq == 0 => Some((0, chain::genesis(&entry.log_id))),
            None => None,
        };
        if let Some((next, head)) = expected_prev {
            if entry.first_seq != next {
                report.failures.push(format!(
                    "{}: seqs {next}..{} are not in the archive",
                    archive.location(&entry.segment_key),
                    entry.first_seq
                ));
            } else if entry.prev_chain_hash != head {
                report.failures.push(format!(
                    "{}: does not start at the chain hash the previous segment ends at",
                    archive.location(&entry.segment_key)
                ));
            }
        }
        match check_segment(archive, log, entry, key) {
            Ok(records) => report.records += records,
            Err(reason) => report.failures.push(format!(
                "{}: {reason}",
                archive.location(&entry.segment_key)
            )),
        }
        report.segments += 1;
        report.next_seq = entry.next_seq;
        previous = Some((entry.next_seq, entry.last_chain_hash));
        progress(&ArchiveProgress {
            log: log.to_string(),
            done: i + 1,
            total,
        });
    }
    report
}

/// Checks one archived segment against its entry; returns its record count.
fn check_segment(
    archive: &ObjectArchive,
    log: &str,
    entry: &ArchivedSegment,
    key: Option<&VerifyingKey>,
) -> std::result::Result<u64, String> {
    if entry.log != log {
        return Err(format!("the entry names log `{}`", entry.log));
    }
    let cp = &entry.checkpoint;
    let trusted = key.map_or(cp.public_key, VerifyingKey::to_bytes);
    let trusted = VerifyingKey::from_bytes(&trusted).map_err(|e| format!("bad key: {e}"))?;
    cp.verify_signature(&trusted).map_err(|e| e.to_string())?;
    if cp.log != entry.log
        || cp.log_id != entry.log_id
        || cp.size != entry.next_seq
        || cp.head != entry.last_chain_hash
    {
        return Err("the entry's checkpoint does not name the segment's end".into());
    }
    let bytes = archive.get(&entry.segment_key).map_err(|e| e.to_string())?;
    if <[u8; 32]>::from(Sha256::digest(&bytes)) != entry.sha256 {
        return Err("SHA-256 differs from the manifest entry".into());
    }
    let mut map = MmapMut::map_anon(bytes.len()).map_err(|e| format!("map: {e}"))?;
    map.copy_from_slice(&bytes);
    let map = map.make_read_only().map_err(|e| format!("map: {e}"))?;
    let name = PathBuf::from(archive.location(&entry.segment_key));
    let segment = SealedSegment::from_map(&name, map).map_err(|e| e.to_string())?;
    let fits = segment.header().log_id == entry.log_id
        && segment.first_seq() == entry.first_seq
        && segment.next_seq() == entry.next_seq
        && segment.prev_chain_hash() == entry.prev_chain_hash
        && segment.last_chain_hash() == entry.last_chain_hash;
    if !fits {
        return Err("the file's seqs or chain hashes differ from its manifest entry".into());
    }
    let mut records = 0;
    for i in 0..segment.blocks().len() {
        segment
            .check_block(i, |_, _| records += 1)
            .map_err(|e| e.to_string())?;
    }
    Ok(records)
}
