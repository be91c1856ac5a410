//! Sealing: the active WAL is rotated out (a new, empty WAL takes the
//! appends), then written as a compressed sealed segment, its index
//! finished (merged into one tantivy segment), swapped in for readers, and
//! only then deleted (DESIGN guarantee 4).
//!
//! Rotation is quick: it holds the writer lock only to fdatasync the old file
//! and create the new one. An append that fills the active segment (by size or
//! count) rotates it and wakes the store's maintenance thread, which does the
//! compression, so appends never wait for it. Age is checked by that thread
//! too. [`Log::seal`] and [`Log::finish_seals`] seal on the caller's thread.
//!
//! # Invariants
//! Every WAL in the view but the last has been rotated out and waits to be
//! sealed; they are sealed oldest first, one seal at a time per log
//! (`seal_lock`).

use std::sync::Arc;

use super::{Log, Segment, SegmentInfo, SegmentState, Writer};
use crate::error::{Error, Result};
use crate::files::{SEGMENTS_DIR, SegmentKind, fsync_dir, segment_file_name};
use crate::format::{FILE_HEADER_LEN, FileHeader, SEG_MAGIC, SEG_VERSION, WAL_MAGIC, WAL_VERSION};
use crate::record::RecordBody;
use crate::segment::{SealOptions, SealedSegment, train_dictionary, write_sealed};
use crate::wal::WalSegment;

/// Records read from a WAL at a time while sealing.
const SEAL_CHUNK: u64 = 4096;

impl Log {
    /// Seals the active segment now (and any rotated out before it), if it
    /// holds any record; returns the segment that was active. A checkpoint
    /// covering each sealed segment is appended to the checkpoint log.
    ///
    /// # Errors
    /// I/O errors naming the file; what could not be sealed stays readable as
    /// a WAL and is sealed again later or at the next open.
    pub fn seal(&self) -> Result<Option<SegmentInfo>> {
        let _seal = self.seal_lock.lock();
        let rotated = self.rotate_when(|_| true)?;
        let last = self.seal_rotated()?;
        Ok(if rotated { last } else { None })
    }

    /// Seals every segment rotated out by size, count or age that the
    /// maintenance thread has not sealed yet.
    ///
    /// # Errors
    /// As [`Log::seal`].
    pub fn finish_seals(&self) -> Result<()> {
        let _seal = self.seal_lock.lock();
        self.seal_rotated().map(drop)
    }

    /// Rotates the active segment if it reached the policy's size or record
    /// count; returns whether it did.
    pub(crate) fn rotate_if_full(&self) -> Result<bool> {
        let limits = self.policy.seal;
        self.rotate_when(|w| {
            w.offset >= limits.max_bytes || w.next_seq - w.active.first_seq() >= limits.max_records
        })
    }

    /// Rotates the active segment if its oldest record is older than the
    /// policy's `max_age_ms`; returns whether it did.
    pub(crate) fn rotate_if_old(&self) -> Result<bool> {
        let max_age_ns = (self.policy.seal.max_age_ms as i64).saturating_mul(1_000_000);
        let now = self.ctx.clock.now_ns();
        self.rotate_when(|w| {
            let oldest = w.active.stats().min_ingest;
            oldest != i64::MAX && now.saturating_sub(oldest) >= max_age_ns
        })
    }

    /// Seals rotated WALs, oldest first; returns the last one sealed.
    fn seal_rotated(&self) -> Result<Option<SegmentInfo>> {
        let mut last = None;
        loop {
            let pending = {
                let view = self.view.read();
                view[..view.len() - 1].iter().find_map(|s| match s {
                    Segment::Wal(w) => Some(w.clone()),
                    Segment::Sealed(_) => None,
                })
            };
            let Some(old) = pending else {
                return Ok(last);
            };
            last = Some(self.seal_one(&old)?);
        }
    }

    fn seal_one(&self, old: &Arc<WalSegment>) -> Result<SegmentInfo> {
        let sealed = seal_wal(old, self.log_id, &self.policy.compression)?;
        self.index.finish(&Segment::Wal(old.clone()))?;
        {
            let mut view = self.view.write();
            let slot = view
                .iter_mut()
                .find(|s| matches!(s, Segment::Wal(w) if Arc::ptr_eq(w, old)))
                .expect("a rotated WAL stays in the view until it is sealed");
            *slot = Segment::Sealed(sealed.clone());
        }
        remove_wal(old)?;
        self.write_checkpoint(sealed.next_seq(), sealed.last_chain_hash())?;
        tracing::info!(log = %self.name, first_seq = sealed.first_seq(), next_seq = sealed.next_seq(), bytes = sealed.file_bytes(), "sealed segment");
        Ok(SegmentInfo {
            first_seq: sealed.first_seq(),
            next_seq: sealed.next_seq(),
            state: SegmentState::Sealed,
            stats: sealed.stats(),
            file_bytes: sealed.file_bytes(),
            path: sealed.path().to_path_buf(),
        })
    }

    /// When `due` holds for a non-empty active WAL, swaps in a new, empty one
    /// (the old one is fdatasynced first and stays in the view, waiting to be
    /// sealed). Returns whether it rotated.
    fn rotate_when(&self, due: impl FnOnce(&Writer) -> bool) -> Result<bool> {
        let mut w = self.writer.lock();
        self.check_poison()?;
        if w.next_seq == w.active.first_seq() || !due(&w) {
            return Ok(false);
        }
        if let Err(e) = self.ctx.syncer.sync_data(w.active.file(), w.active.path()) {
            let error = Error::io("fdatasync", w.active.path())(e);
            self.set_poison(&error);
            return Err(error);
        }
        let header = FileHeader {
            magic: WAL_MAGIC,
            version: WAL_VERSION,
            log_id: self.log_id,
            first_seq: w.next_seq,
            prev_chain_hash: w.head,
            frame_salt: rand::random(),
        };
        let path = self
            .dir
            .join(SEGMENTS_DIR)
            .join(segment_file_name(w.next_seq, SegmentKind::Wal));
        let active = Arc::new(WalSegment::create(path, header)?);
        w.active = active.clone();
        w.generation += 1;
        w.offset = FILE_HEADER_LEN as u64;
        self.view.write().push(Segment::Wal(active));
        let mut sync = self.sync.lock();
        sync.durable = (w.generation, w.offset);
        self.visible.advance(w.next_seq);
        self.synced.notify_all();
        Ok(true)
    }
}

/// Writes the sealed segment of `wal` next to it and opens it. The WAL is
/// left in place for the caller to remove.
///
/// # Errors
/// I/O errors, or [`Error::Corrupted`] when the sealed result does not end at
/// the WAL's chain head.
pub(crate) fn seal_wal(
    wal: &WalSegment,
    log_id: [u8; 16],
    options: &SealOptions,
) -> Result<Arc<SealedSegment>> {
    let first = wal.first_seq();
    let next = wal.next_seq();
    let path = wal
        .path()
        .with_file_name(segment_file_name(first, SegmentKind::Sealed));
    let header = FileHeader {
        magic: SEG_MAGIC,
        version: SEG_VERSION,
        log_id,
        first_seq: first,
        prev_chain_hash: wal.prev_chain_hash(),
        frame_salt: 0,
    };
    let dictionary = if options.dictionary_bytes > 0 {
        train_dictionary(
            &dictionary_samples(wal, options.dictionary_bytes)?,
            options.dictionary_bytes,
        )
    } else {
        None
    };
    // `write_sealed` derives the chain from the records, so they are read
    // without hashing them twice; its end is compared with the WAL's below,
    // before the sealed file is opened and can take the WAL's place.
    let records = (first..next).step_by(SEAL_CHUNK as usize).flat_map(|from| {
        let chunk = wal.read_unhashed(from, (from + SEAL_CHUNK).min(next));
        let items: Vec<Result<_>> = match chunk {
            Ok(records) => records.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        items
    });
    let summary = write_sealed(
        &path,
        &header,
        records,
        options,
        dictionary.as_deref().unwrap_or_default(),
    )?;
    if summary.last_chain_hash != wal.last_chain_hash() || summary.stats.records != next - first {
        std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        return Err(changed_record(wal).unwrap_or_else(|| {
            Error::corrupted(
                &path,
                0,
                "the sealed segment does not end at the chain head of the WAL it was made from",
            )
        }));
    }
    let sealed = SealedSegment::open(&path)?;
    sealed.trust_blocks(&summary.block_digests);
    Ok(Arc::new(sealed))
}

/// The error naming the first record of `wal` whose bytes no longer hash
/// to the chain, if one does not.
fn changed_record(wal: &WalSegment) -> Option<Error> {
    let (first, next) = (wal.first_seq(), wal.next_seq());
    (first..next)
        .step_by(SEAL_CHUNK as usize)
        .find_map(|from| wal.read(from, (from + SEAL_CHUNK).min(next)).err())
}

/// Bodies to train a dictionary of `dictionary_bytes` on: evenly spaced runs
/// of records adding up to about 25 times the dictionary's size, read from
/// the WAL. (zstd advises a hundred times; measured on the benchmark events,
/// 25 times keeps 99% of the gain, 8.07 vs 8.16 for raw JSON / sealed, and
/// seals 1.8 times faster. With training at fixed parameters, 50 and 100
/// times gain 0.2% and 0.4% for twice and four times the training.)
fn dictionary_samples(wal: &WalSegment, dictionary_bytes: usize) -> Result<Vec<Vec<u8>>> {
    const RUN: u64 = 64;
    let (first, next) = (wal.first_seq(), wal.next_seq());
    let wanted = 25 * dictionary_bytes as u64;
    // Read one run of every `stride` records: all of them when the WAL holds
    // less than `wanted`.
    let stride = (RUN * wal.stats().body_bytes / wanted.max(1)).max(RUN);
    let mut samples = Vec::new();
    for from in (first..next).step_by(stride as usize) {
        for (record, _) in wal.read(from, (from + RUN).min(next))? {
            if let RecordBody::Stored(body) = record.body {
                samples.push(body);
            }
        }
    }
    Ok(samples)
}

/// Deletes a WAL whose sealed segment is durable.
pub(crate) fn remove_wal(wal: &WalSegment) -> Result<()> {
    std::fs::remove_file(wal.path()).map_err(Error::io("remove", wal.path()))?;
    fsync_dir(
        wal.path()
            .parent()
            .expect("segment files live in a directory"),
    )
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::{Error, Event, Policy, Store};

    fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
        let segments = dir.join("logs/audit/segments");
        let mut found: Vec<PathBuf> = std::fs::read_dir(segments)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        found.sort();
        found
    }

    /// Sealing reads the WAL without hashing it again, so a record changed
    /// on disk after it was appended is caught by the chain's end: the seal
    /// fails naming the record, and leaves no sealed file to replace the WAL.
    #[test]
    fn a_record_changed_in_the_wal_before_its_seal_fails_the_seal_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut policy = Policy::default();
        policy.seal.max_records = u64::MAX;
        policy.seal.max_bytes = u64::MAX;
        let log = store.create_log("audit", policy).unwrap();
        let events: Vec<Event> = (0..300)
            .map(|i| Event {
                action: "user.login".into(),
                message: format!("login number {i:04}"),
                ..Event::default()
            })
            .collect();
        for batch in events.chunks(100) {
            log.append(batch).unwrap();
        }
        let [wal] = &files(dir.path(), "wal")[..] else {
            panic!("one WAL")
        };
        let mut bytes = std::fs::read(wal).unwrap();
        let needle = b"login number 0123";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the message is stored as it was sent");
        bytes[at] = b'L';
        std::fs::write(wal, &bytes).unwrap();

        match log.seal() {
            Err(Error::Corrupted { file, reason, .. }) => {
                assert_eq!(&file, wal);
                assert!(reason.contains("seq 123"), "{reason}");
            }
            other => panic!("expected the seal to fail, got {other:?}"),
        }
        assert!(files(dir.path(), "seg").is_empty(), "no sealed file left");
        assert!(wal.exists(), "the WAL stays");
    }
}
