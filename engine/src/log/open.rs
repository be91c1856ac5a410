//! Creating a log, and opening one: recovery.
//!
//! Opening a log directory:
//! 1. reads the manifest and removes `*.tmp` files left by interrupted writes;
//! 2. finishes interrupted seals: a WAL whose sealed file exists and ends at
//!    the same chain head is deleted; a sealed file that does not match its
//!    WAL is deleted and the WAL sealed again;
//! 3. finishes interrupted removals: segments wholly before the manifest's
//!    anchor (committed as removed) are deleted with their indexes;
//! 4. opens every other sealed segment and checks that they follow each other
//!    (seqs and chain hashes), from the anchor or the genesis hash;
//! 5. seals every WAL but the last (a crash between rotation and seal);
//! 6. scans the last WAL: a torn last frame is cut off and logged, damage
//!    anywhere else is an error naming file and offset;
//! 7. opens each segment's search index, rebuilding or catching up the ones
//!    that are missing, damaged or behind ([`LogIndex::open`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use super::compact::remove_leftovers;
use super::dedup::Dedup;
use super::seal::{remove_wal, seal_wal};
use super::sync::SyncState;
use super::visible::Visible;
use super::{Log, LogContext, Policy, Segment, Writer};
use crate::chain::{self, Hash};
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::files::{
    SEGMENTS_DIR, SegmentKind, TMP_SUFFIX, fsync_dir, parse_segment_file_name, segment_file_name,
};
use crate::format::{FILE_HEADER_LEN, FileHeader, WAL_MAGIC, WAL_VERSION};
use crate::index::LogIndex;
use crate::manifest::{MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest};
use crate::segment::SealedSegment;
use crate::wal::{WalSegment, file, scan_wal};

impl Log {
    /// Creates the log `name` in the new directory `dir` and opens it.
    ///
    /// The directory is assembled under a temporary name and renamed into
    /// place, so a crash never leaves a half-created log.
    pub(crate) fn create(dir: &Path, name: &str, policy: Policy, ctx: LogContext) -> Result<Log> {
        policy.validate()?;
        let parent = dir.parent().expect("a log directory has a parent");
        let staging = parent.join(format!(".{name}{TMP_SUFFIX}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(Error::io("remove", &staging))?;
        }
        let segments = staging.join(SEGMENTS_DIR);
        std::fs::create_dir_all(&segments).map_err(Error::io("create directory", &segments))?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            name: name.to_string(),
            log_id: rand::random(),
            created_ns: ctx.clock.now_ns(),
            policy,
            holds: Vec::new(),
            anchor: None,
            archived: Vec::new(),
            restored: Default::default(),
        };
        manifest.save(&staging.join(MANIFEST_FILE))?;
        fsync_dir(&staging)?;
        std::fs::rename(&staging, dir).map_err(Error::io("rename", &staging))?;
        fsync_dir(parent)?;
        tracing::info!(log = name, log_id = %hex::encode(manifest.log_id), "created log");
        Log::open(dir, ctx)
    }

    /// Opens and recovers the log in `dir`.
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the file and offset of damage that is not
    /// a torn tail; I/O errors naming the file.
    pub(crate) fn open(dir: &Path, ctx: LogContext) -> Result<Log> {
        let started = Instant::now();
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest = Manifest::load(&manifest_path)?;
        let (sanitizer, scrubber) = manifest
            .policy
            .validate()
            .map_err(|e| Error::corrupted(&manifest_path, 0, e.to_string()))?;
        let seg_dir = dir.join(SEGMENTS_DIR);
        checkpoint::drop_torn_line(&checkpoint::path_in(dir))?;
        let (mut sealed_files, wal_files) = list_segment_files(&seg_dir)?;
        remove_leftovers(dir, &mut sealed_files)?;
        let log_id = manifest.log_id;

        let mut wals = Vec::new();
        for (first, path) in wal_files {
            let wal = open_wal(&path)?;
            if let Some(seg_path) = sealed_files.get(&first) {
                if sealed_matches(seg_path, &wal) {
                    tracing::info!(file = %path.display(), "removing WAL whose seal completed before a crash");
                    remove_wal(&wal)?;
                    continue;
                }
                tracing::warn!(file = %seg_path.display(), "removing sealed file that does not match its WAL; sealing again");
                std::fs::remove_file(seg_path).map_err(Error::io("remove", seg_path))?;
                sealed_files.remove(&first);
            }
            wals.push(wal);
        }

        let (mut next_seq, mut prev) = match &manifest.anchor {
            Some(anchor) => (anchor.first_seq, anchor.head),
            None => (0, chain::genesis(&log_id)),
        };
        finish_removals(dir, &mut sealed_files, next_seq)?;
        let mut segments = Vec::new();
        for path in sealed_files.values() {
            let sealed = SealedSegment::open(path)?;
            check_follows(path, sealed.header(), &log_id, next_seq, &prev)?;
            next_seq = sealed.next_seq();
            prev = sealed.last_chain_hash();
            segments.push(Segment::Sealed(Arc::new(sealed)));
        }
        let active = wals.pop();
        for wal in wals {
            check_follows(wal.path(), wal.header(), &log_id, next_seq, &prev)?;
            tracing::info!(file = %wal.path().display(), "sealing WAL left behind by a crash during rotation");
            let sealed = seal_wal(&wal, log_id, &manifest.policy.compression)?;
            remove_wal(&wal)?;
            next_seq = sealed.next_seq();
            prev = sealed.last_chain_hash();
            segments.push(Segment::Sealed(sealed));
        }
        let active = match active {
            Some(wal) => {
                check_follows(wal.path(), wal.header(), &log_id, next_seq, &prev)?;
                next_seq = wal.next_seq();
                prev = wal.last_chain_hash();
                Arc::new(wal)
            }
            None => {
                let header = FileHeader {
                    magic: WAL_MAGIC,
                    version: WAL_VERSION,
                    log_id,
                    first_seq: next_seq,
                    prev_chain_hash: prev,
                    frame_salt: rand::random(),
                };
                let path = seg_dir.join(segment_file_name(next_seq, SegmentKind::Wal));
                let f = file::create(&path, &header)?;
                Arc::new(WalSegment::new(
                    path,
                    f,
                    header,
                    Vec::new(),
                    Default::default(),
                    FILE_HEADER_LEN as u64,
                ))
            }
        };
        segments.push(Segment::Wal(active.clone()));
        let index = LogIndex::open(dir, log_id, &segments)?;
        let offset = active.file_len();
        let dedup = Dedup::new(ctx.dedup);
        let log = Log {
            name: manifest.name.clone(),
            dir: dir.to_path_buf(),
            log_id,
            policy: manifest.policy.clone(),
            manifest: Mutex::new(manifest),
            sanitizer,
            scrubber: RwLock::new(Arc::new(scrubber)),
            ctx,
            writer: Mutex::new(Writer {
                active,
                generation: 0,
                offset,
                next_seq,
                head: prev,
            }),
            sync: Mutex::new(SyncState::new(0, offset)),
            synced: Condvar::new(),
            view: RwLock::new(segments),
            visible: Visible::new(next_seq),
            seal_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(None),
            poison: Mutex::new(None),
            frames: Default::default(),
            index,
            dedup,
            tree: Mutex::new(Default::default()),
        };
        log.recover_tree()?;
        tracing::info!(
            log = %log.name,
            segments = log.view.read().len(),
            next_seq,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "opened log"
        );
        Ok(log)
    }
}

/// Sealed and WAL files of a segments directory by first seq; removes
/// `*.tmp` leftovers.
fn list_segment_files(seg_dir: &Path) -> Result<(BTreeMap<u64, PathBuf>, BTreeMap<u64, PathBuf>)> {
    std::fs::create_dir_all(seg_dir).map_err(Error::io("create directory", seg_dir))?;
    let mut sealed = BTreeMap::new();
    let mut wals = BTreeMap::new();
    let entries = std::fs::read_dir(seg_dir).map_err(Error::io("list", seg_dir))?;
    for entry in entries {
        let path = entry.map_err(Error::io("list", seg_dir))?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(TMP_SUFFIX) {
            tracing::info!(file = %path.display(), "removing file left by an interrupted write");
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            continue;
        }
        match parse_segment_file_name(&name) {
            Some((first, SegmentKind::Sealed)) => {
                sealed.insert(first, path);
            }
            Some((first, SegmentKind::Wal)) => {
                wals.insert(first, path);
            }
            None => {
                tracing::warn!(file = %path.display(), "ignoring unknown file in segments directory")
            }
        }
    }
    Ok((sealed, wals))
}

/// Deletes the sealed files (and their indexes) that end at or before
/// `start`, the anchor's first seq: their removal was committed to the
/// manifest before a crash stopped it.
fn finish_removals(dir: &Path, sealed: &mut BTreeMap<u64, PathBuf>, start: u64) -> Result<()> {
    let mut removed = Vec::new();
    for (&first, path) in sealed.iter() {
        let ends_before = SealedSegment::open(path).is_ok_and(|s| s.next_seq() <= start);
        if first >= start || !ends_before {
            break;
        }
        tracing::info!(file = %path.display(), anchor = start, "finishing the removal of a segment before the anchor");
        remove_segment_files(dir, first, path)?;
        removed.push(first);
    }
    for first in removed {
        sealed.remove(&first);
    }
    Ok(())
}

/// Deletes a sealed segment's file and its index directory, durably.
pub(crate) fn remove_segment_files(dir: &Path, first_seq: u64, path: &Path) -> Result<()> {
    // A read-only (0444) file can be unlinked: removal needs write
    // permission on the directory only.
    std::fs::remove_file(path).map_err(Error::io("remove", path))?;
    fsync_dir(&dir.join(SEGMENTS_DIR))?;
    let index = dir
        .join(crate::index::INDEX_DIR)
        .join(format!("{first_seq:020}"));
    if index.exists() {
        std::fs::remove_dir_all(&index).map_err(Error::io("remove", &index))?;
        fsync_dir(&dir.join(crate::index::INDEX_DIR))?;
    }
    Ok(())
}

/// Scans the WAL `path`, cuts a torn tail, and wraps it as a segment.
fn open_wal(path: &Path) -> Result<WalSegment> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let scan = scan_wal(&bytes, path)?;
    if let Some(torn) = &scan.torn {
        tracing::warn!(file = %path.display(), offset = torn.offset, dropped_bytes = torn.dropped_bytes, reason = %torn.reason, "dropping torn last batch");
    }
    let f = file::open_for_append(path, scan.valid_len)?;
    Ok(WalSegment::new(
        path.to_path_buf(),
        f,
        scan.header,
        scan.entries,
        scan.stats,
        scan.valid_len,
    ))
}

/// True when the sealed file `seg_path` holds exactly the WAL's records.
fn sealed_matches(seg_path: &Path, wal: &WalSegment) -> bool {
    SealedSegment::open(seg_path).is_ok_and(|s| {
        s.first_seq() == wal.first_seq()
            && s.next_seq() == wal.next_seq()
            && s.prev_chain_hash() == wal.prev_chain_hash()
            && s.last_chain_hash() == wal.last_chain_hash()
    })
}

/// Checks that the segment file `path` continues the log at `next_seq` after
/// chain hash `prev`.
pub(crate) fn check_follows(
    path: &Path,
    header: &FileHeader,
    log_id: &[u8; 16],
    next_seq: u64,
    prev: &Hash,
) -> Result<()> {
    if header.log_id != *log_id {
        return Err(Error::corrupted(
            path,
            12,
            "belongs to another log (log_id differs)",
        ));
    }
    let named = path
        .file_name()
        .and_then(|n| parse_segment_file_name(&n.to_string_lossy()))
        .map(|(first, _)| first);
    if named != Some(header.first_seq) {
        return Err(Error::corrupted(
            path,
            28,
            format!(
                "header says first seq {}, the file name says otherwise",
                header.first_seq
            ),
        ));
    }
    if header.first_seq > next_seq {
        return Err(Error::corrupted(
            path,
            28,
            format!(
                "starts at seq {}, but no segment holds seqs {next_seq}..{}: they are missing",
                header.first_seq, header.first_seq
            ),
        ));
    }
    if header.first_seq < next_seq {
        return Err(Error::corrupted(
            path,
            28,
            format!(
                "starts at seq {}, inside the previous segment, which ends before seq {next_seq}",
                header.first_seq
            ),
        ));
    }
    if header.prev_chain_hash != *prev {
        return Err(Error::corrupted(
            path,
            36,
            format!(
                "seq {next_seq}: the chain hash this segment starts from is not the one the log reached before it (segments reordered, replaced or altered)"
            ),
        ));
    }
    Ok(())
}
