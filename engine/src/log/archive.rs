//! Copying a log's sealed segments to the archive target, and back.
//!
//! Archiving uploads the sealed file, its index files and its manifest entry
//! (with a checkpoint signed at its end), then reads the file and the entry
//! back and checks them. Only after that may [`Log::remove_front`] commit the
//! removal and delete the local copy, so a failure or crash at any step
//! leaves the local copy in place; the next attempt uploads again
//! (overwriting whatever a failed attempt left).
//!
//! Restoring copies archived segments back in front of the local log (the
//! newest archived one first, so the local log stays contiguous), checks each
//! file against its entry's SHA-256 and chain hashes, and moves the anchor
//! back. Restored segments are read-only and are kept for a while before
//! retention may remove them again.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Log, Segment};
use crate::archive::entry::ArchivedSegment;
use crate::archive::target::ObjectArchive;
use crate::archive::{entry_key, index_prefix, segment_key};
use crate::error::{Error, Result};
use crate::faults::Step;
use crate::files::{SEGMENTS_DIR, SegmentKind, fsync_dir, segment_file_name, write_atomically};
use crate::index::INDEX_DIR;
use crate::retention::Anchor;
use crate::segment::SealedSegment;

impl Log {
    /// Uploads the sealed segment starting at `first_seq` to `archive` and
    /// checks the copy; returns its manifest entry. Nothing local changes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no sealed segment starts there;
    /// [`Error::Archive`] naming the object that failed or differs.
    pub fn archive_segment(
        &self,
        archive: &ObjectArchive,
        first_seq: u64,
    ) -> Result<ArchivedSegment> {
        // Read the file and its index under the seal lock, so that a
        // compaction or erasure cannot swap them mid-read; upload without it.
        let (sealed, bytes, index_files) = {
            let _seal = self.seal_lock.lock();
            let sealed = self.sealed_segment(first_seq)?;
            let path = sealed.path();
            let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
            (sealed.clone(), bytes, self.index_files(first_seq)?)
        };
        let path = sealed.path().to_path_buf();
        let fault = |step| {
            self.ctx
                .faults
                .before(step)
                .map_err(Error::io("archive", &path))
        };
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let file_bytes = bytes.len() as u64;
        let seg_key = segment_key(&self.name, first_seq);

        fault(Step::UploadSegment)?;
        archive.put(&seg_key, bytes)?;

        fault(Step::UploadIndex)?;
        let mut index_keys = Vec::new();
        for (name, content) in index_files {
            let key = format!("{}{name}", index_prefix(&self.name, first_seq));
            archive.put(&key, content)?;
            index_keys.push(key);
        }
        index_keys.sort();

        let stats = sealed.stats();
        let now = self.ctx.clock.now_ns();
        let entry = ArchivedSegment {
            log: self.name.clone(),
            log_id: self.log_id,
            first_seq,
            next_seq: sealed.next_seq(),
            min_time: stats.min_time,
            max_time: stats.max_time,
            min_ingest: stats.min_ingest,
            max_ingest: stats.max_ingest,
            prev_chain_hash: sealed.prev_chain_hash(),
            last_chain_hash: sealed.last_chain_hash(),
            sha256,
            bytes: file_bytes,
            location: archive.location(&seg_key),
            segment_key: seg_key.clone(),
            index_keys,
            archived_ns: now,
            checkpoint: self.ctx.signer.sign(
                &self.name,
                self.log_id,
                sealed.next_seq(),
                sealed.last_chain_hash(),
                now,
            ),
        };
        let entry_json = serde_json::to_vec_pretty(&entry).expect("an entry always serialises");
        let ekey = entry_key(&self.name, first_seq);
        fault(Step::UploadEntry)?;
        archive.put(&ekey, entry_json)?;

        fault(Step::ReadBack)?;
        let copy = archive.get(&seg_key)?;
        if <[u8; 32]>::from(Sha256::digest(&copy)) != sha256 {
            return Err(Error::archive(
                archive.location(&seg_key),
                "the copy read back differs from the local file",
            ));
        }
        let entry_back: ArchivedSegment =
            serde_json::from_slice(&archive.get(&ekey)?).map_err(|e| {
                Error::archive(archive.location(&ekey), format!("not a valid entry: {e}"))
            })?;
        if entry_back != entry {
            return Err(Error::archive(
                archive.location(&ekey),
                "the entry read back differs from the one uploaded",
            ));
        }
        tracing::info!(log = %self.name, first_seq, location = %entry.location, "archived segment");
        Ok(entry)
    }

    /// Archives again a local segment that is already archived and was
    /// rewritten (erased): the new file, index and entry overwrite the old
    /// ones, index files of the old version are deleted from the archive,
    /// and the manifest's entry is replaced.
    ///
    /// # Errors
    /// As [`Log::archive_segment`].
    pub fn rearchive(&self, archive: &ObjectArchive, first_seq: u64) -> Result<ArchivedSegment> {
        let old = self
            .manifest()
            .archived
            .into_iter()
            .find(|a| a.first_seq == first_seq);
        let entry = self.archive_segment(archive, first_seq)?;
        if let Some(old) = old {
            for key in old
                .index_keys
                .iter()
                .filter(|k| !entry.index_keys.contains(k))
            {
                archive.delete(key)?;
            }
        }
        self.update_manifest(|m| {
            m.archived.retain(|a| a.first_seq != first_seq);
            m.archived.push(entry.clone());
            m.archived.sort_by_key(|a| a.first_seq);
            Ok(())
        })?;
        Ok(entry)
    }

    /// Restores the archived segment starting at `first_seq`, and every
    /// archived segment after it up to the local log's start, from
    /// `archive`; retention keeps them until `keep_until` (nanoseconds since
    /// the Unix epoch). Returns the entries restored, oldest first.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when it is not archived or is already
    /// local; [`Error::Archive`] when a copy is missing or differs from its
    /// entry (nothing of that segment is kept).
    pub fn restore(
        &self,
        archive: &ObjectArchive,
        first_seq: u64,
        keep_until: i64,
        progress: &mut dyn FnMut(&ArchivedSegment),
    ) -> Result<Vec<ArchivedSegment>> {
        let _seal = self.seal_lock.lock();
        let start = self.first_seq();
        if first_seq >= start {
            return Err(Error::invalid(
                "segment",
                format!(
                    "seq {first_seq} of log `{}` is stored locally (the local log starts at {start})",
                    self.name
                ),
            ));
        }
        let manifest = self.manifest();
        let mut wanted: Vec<ArchivedSegment> = manifest
            .archived
            .iter()
            .filter(|a| a.next_seq > first_seq && a.first_seq < start)
            .cloned()
            .collect();
        wanted.sort_by_key(|a| a.first_seq);
        let covers = wanted.first().is_some_and(|a| a.first_seq <= first_seq)
            && wanted.last().is_some_and(|a| a.next_seq == start)
            && wanted.windows(2).all(|w| w[0].next_seq == w[1].first_seq);
        if !covers {
            return Err(Error::invalid(
                "segment",
                format!(
                    "the archive of log `{}` does not hold every segment from seq {first_seq} to the local start {start}",
                    self.name
                ),
            ));
        }
        let mut restored = Vec::new();
        for entry in wanted.into_iter().rev() {
            self.restore_one(archive, &entry, keep_until)?;
            progress(&entry);
            restored.push(entry);
        }
        restored.reverse();
        Ok(restored)
    }

    /// Brings one archived segment, which must end where the local log
    /// starts, back in front of it.
    fn restore_one(
        &self,
        archive: &ObjectArchive,
        entry: &ArchivedSegment,
        keep_until: i64,
    ) -> Result<()> {
        let bytes = archive.get(&entry.segment_key)?;
        let location = archive.location(&entry.segment_key);
        if <[u8; 32]>::from(Sha256::digest(&bytes)) != entry.sha256 {
            return Err(Error::archive(
                location,
                "the archived file's SHA-256 differs from its manifest entry",
            ));
        }
        let path = self
            .dir
            .join(SEGMENTS_DIR)
            .join(segment_file_name(entry.first_seq, SegmentKind::Sealed));
        write_atomically(&path, &bytes)?;
        crate::files::set_read_only(&path)?;
        let sealed = match SealedSegment::open(&path) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(Error::archive(
                    location,
                    format!("the archived file does not open: {e}"),
                ));
            }
        };
        let front_prev = self.view.read().first().map(Segment::prev_chain_hash);
        let matches = sealed.header().log_id == self.log_id
            && sealed.first_seq() == entry.first_seq
            && sealed.next_seq() == entry.next_seq
            && sealed.prev_chain_hash() == entry.prev_chain_hash
            && sealed.last_chain_hash() == entry.last_chain_hash
            && front_prev == Some(entry.last_chain_hash);
        if !matches {
            let _ = std::fs::remove_file(&path);
            return Err(Error::archive(
                location,
                "the archived file's seqs or chain hashes do not join the local log",
            ));
        }
        let index_dir = self
            .dir
            .join(INDEX_DIR)
            .join(format!("{:020}", entry.first_seq));
        self.download_index(archive, entry, &index_dir);
        let now = self.ctx.clock.now_ns();
        self.update_manifest(|m| {
            let removals = m.anchor.take().map(|a| a.removals).unwrap_or_default();
            m.anchor = Some(Anchor::sign(
                &self.ctx.signer,
                (&m.name, m.log_id),
                (entry.first_seq, entry.prev_chain_hash),
                removals,
                now,
            ));
            m.restored.insert(entry.first_seq, keep_until);
            Ok(())
        })?;
        let segment = Segment::Sealed(sealed);
        self.index.load(&segment)?;
        self.view.write().insert(0, segment);
        tracing::info!(log = %self.name, first_seq = entry.first_seq, from = %entry.location, "restored segment");
        Ok(())
    }

    /// Downloads a restored segment's index files; on any failure the
    /// directory is removed and the index is rebuilt from the segment.
    fn download_index(
        &self,
        archive: &ObjectArchive,
        entry: &ArchivedSegment,
        dir: &std::path::Path,
    ) {
        let result = (|| -> Result<()> {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(Error::io("remove", dir))?;
            }
            std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
            let prefix = index_prefix(&self.name, entry.first_seq);
            for key in &entry.index_keys {
                let name = key.strip_prefix(&prefix).unwrap_or(key);
                if name.contains('/') || name.starts_with('.') && name.len() <= 2 {
                    return Err(Error::archive(
                        archive.location(key),
                        "not an index file name",
                    ));
                }
                let file = dir.join(name);
                std::fs::write(&file, archive.get(key)?).map_err(Error::io("write", &file))?;
            }
            fsync_dir(dir)
        })();
        if let Err(error) = result {
            tracing::warn!(log = %self.name, first_seq = entry.first_seq, %error, "archived index not usable; rebuilding it from the segment");
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// The files of a sealed segment's index directory, by name (tantivy's
    /// lock files aside).
    fn index_files(&self, first_seq: u64) -> Result<Vec<(String, Vec<u8>)>> {
        let dir = self.dir.join(INDEX_DIR).join(format!("{first_seq:020}"));
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let file = entry.map_err(Error::io("list", &dir))?.path();
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if file.is_file() && !name.ends_with(".lock") {
                files.push((
                    name,
                    std::fs::read(&file).map_err(Error::io("read", &file))?,
                ));
            }
        }
        Ok(files)
    }

    /// The sealed segment starting at `first_seq`.
    fn sealed_segment(&self, first_seq: u64) -> Result<Arc<SealedSegment>> {
        self.view
            .read()
            .iter()
            .find_map(|s| match s {
                Segment::Sealed(sealed) if sealed.first_seq() == first_seq => Some(sealed.clone()),
                _ => None,
            })
            .ok_or_else(|| {
                Error::invalid(
                    "segment",
                    format!(
                        "log `{}` has no sealed segment starting at seq {first_seq}",
                        self.name
                    ),
                )
            })
    }
}
