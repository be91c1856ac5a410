//! Compaction: merging runs of small adjacent sealed segments into one, and
//! the rewrite-and-swap of sealed segments that compaction and erasure
//! ([`super::erase`]) share.
//!
//! Each segment costs a file, an index and a step of every search; a quiet
//! log sealed by age piles up small ones. [`Log::compact`] merges runs of
//! adjacent sealed segments, each smaller than `small_bytes`, into segments
//! of at most `target_bytes` (the members' file sizes added up). Records are
//! copied in order and unchanged (redacted ones stay redacted), so every
//! leaf and chain hash, receipt and checkpoint stays valid: only the blocks,
//! the zstd dictionary (trained again) and the index are new.
//!
//! Left alone: the active WAL and WALs waiting to be sealed, and segments
//! that must keep their identity: those under a legal hold of their own,
//! those restored from the archive, and those with an archived copy (the
//! hold, the restore and the archive entry name the segment by its seqs).
//!
//! # Steps, and crashes
//! One group at a time, under the seal lock (seals, verification and
//! retention wait):
//! 1. the new file is written as `<first>.seg.<what>.tmp` (write, fsync,
//!    rename, directory fsync), reopened and checked block by block: it must
//!    start at the first member's previous chain hash, end at the last
//!    member's chain head and hold exactly their records;
//! 2. its index is built, finished, in `index/<first>.<what>`;
//! 3. the members' index directories are deleted (erasure needs this before
//!    step 4: see [`super::erase`]);
//! 4. the new file is renamed over the first member, `<first>.seg`, and the
//!    directory fsynced: the commit point;
//! 5. `index/<first>.<what>` is renamed to `index/<first>`;
//! 6. readers are switched over: the view and the index map change together
//!    under the view's write lock (searches pin both under its read lock);
//!    the new file has a new block cache id;
//! 7. the other members' files are deleted.
//!
//! At open, the `*.tmp` files are removed by the listing, and
//! `remove_leftovers` removes staged index directories and the members a
//! crash after step 4 left behind: a sealed file whose seqs lie inside the
//! previous sealed file's, with the same chain hashes at both ends. A missing
//! index is rebuilt by [`crate::index::LogIndex::open`], as always. So a
//! crash before step 4 leaves the log as it was, and after it as it will be.
//!
//! # Locks
//! Seal lock, then the manifest (held from the last check of holds through
//! the swap, so that a hold set meanwhile is honoured), then the view, then
//! the index map.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Log, Segment};
use crate::error::{Error, Result};
use crate::files::{SEGMENTS_DIR, TMP_SUFFIX, fsync_dir};
use crate::format::{FileHeader, SEG_MAGIC, SEG_VERSION};
use crate::index::INDEX_DIR;
use crate::manifest::Manifest;
use crate::record::{BodyRef, Record, RecordBody};
use crate::segment::layout::{FOOTER_LEN, Footer};
use crate::segment::{SealedSegment, train_dictionary, write_sealed};

/// Names the staged file and index directory of a compaction.
const COMPACT: &str = "compact";
/// Names the staged file and index directory of an erasure.
pub(super) const ERASE: &str = "erase";

/// What to compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactOptions {
    /// Segments whose file is this big or bigger are left alone. Default: a
    /// quarter of the policy's `seal.max_bytes`.
    pub small_bytes: Option<u64>,
    /// Largest merged segment, estimated as its members' file sizes added
    /// up. Default: the policy's `seal.max_bytes`.
    pub target_bytes: Option<u64>,
    /// Only report what would be merged; change nothing.
    pub dry_run: bool,
}

/// A run of adjacent sealed segments to merge into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactGroup {
    /// Seq of its first record.
    pub first_seq: u64,
    /// Seq after its last record.
    pub next_seq: u64,
    /// First seqs of its members, oldest first (at least two).
    pub members: Vec<u64>,
    /// Its members' file sizes added up.
    pub bytes: u64,
}

/// A group that was merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedGroup {
    /// What was merged.
    pub group: CompactGroup,
    /// Size of the merged file.
    pub bytes_after: u64,
}

/// What a compaction did, or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The groups planned, oldest first.
    pub planned: Vec<CompactGroup>,
    /// The groups merged, oldest first (none in a dry run).
    pub merged: Vec<CompactedGroup>,
}

/// How far a compaction has got; sent per block copied and once per group
/// when it is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactProgress {
    /// Which group, from 0.
    pub group: usize,
    /// Groups planned.
    pub groups: usize,
    /// Seq of the group's first record.
    pub first_seq: u64,
    /// Seq after the group's last record.
    pub next_seq: u64,
    /// Records of the group copied so far.
    pub records_done: u64,
    /// Whether the group is merged and in place.
    pub done: bool,
}

impl Log {
    /// The groups [`Log::compact`] would merge now.
    pub fn compaction_plan(&self, options: &CompactOptions) -> Vec<CompactGroup> {
        let view = self.view.read().clone();
        let m = self.manifest.lock();
        let candidates: Vec<Candidate> = view
            .iter()
            .map_while(|s| match s {
                Segment::Sealed(s) => Some(s),
                Segment::Wal(_) => None,
            })
            .map(|s| Candidate {
                first_seq: s.first_seq(),
                next_seq: s.next_seq(),
                bytes: s.file_bytes(),
                movable: keeps_identity(&m, s.first_seq()).is_none(),
            })
            .collect();
        let small = options
            .small_bytes
            .unwrap_or(self.policy.seal.max_bytes / 4);
        let target = options.target_bytes.unwrap_or(self.policy.seal.max_bytes);
        plan_groups(&candidates, small, target)
    }

    /// Merges runs of small adjacent sealed segments (see the module
    /// documentation), one group at a time, calling `progress` as it goes.
    /// Readers go on meanwhile; seals, verification and retention wait.
    ///
    /// # Errors
    /// I/O errors naming the file; [`Error::Corrupted`] when a member does
    /// not read back or the merged file does not check out (the members are
    /// then left as they were); [`Error::Refused`] when a member was put
    /// under a hold meanwhile. Groups merged before the error stay merged.
    pub fn compact(
        &self,
        options: &CompactOptions,
        progress: &mut dyn FnMut(CompactProgress),
    ) -> Result<CompactReport> {
        let _seal = self.seal_lock.lock();
        let planned = self.compaction_plan(options);
        let mut report = CompactReport {
            dry_run: options.dry_run,
            planned: planned.clone(),
            merged: Vec::new(),
        };
        if options.dry_run {
            return Ok(report);
        }
        let groups = planned.len();
        for (i, group) in planned.into_iter().enumerate() {
            let members = self.sealed_run(&group)?;
            let mut report_progress = |records_done: u64, done: bool| {
                progress(CompactProgress {
                    group: i,
                    groups,
                    first_seq: group.first_seq,
                    next_seq: group.next_seq,
                    records_done,
                    done,
                });
            };
            let merged = self.rewrite_segments(
                &members,
                COMPACT,
                &|_| false,
                &|m| {
                    members
                        .iter()
                        .find_map(|s| keeps_identity(m, s.first_seq()))
                        .map(|why| format!("segment {why}"))
                },
                &mut |done| report_progress(done, false),
            )?;
            report_progress(group.next_seq - group.first_seq, true);
            tracing::info!(log = %self.name, first_seq = group.first_seq, next_seq = group.next_seq, members = group.members.len(), bytes_before = group.bytes, bytes_after = merged.file_bytes(), "compacted segments");
            report.merged.push(CompactedGroup {
                bytes_after: merged.file_bytes(),
                group,
            });
        }
        Ok(report)
    }

    /// The sealed segments of `group`, from the view, checked to follow
    /// each other.
    fn sealed_run(&self, group: &CompactGroup) -> Result<Vec<Arc<SealedSegment>>> {
        let view = self.view.read();
        let mut members: Vec<Arc<SealedSegment>> = Vec::with_capacity(group.members.len());
        for &first in &group.members {
            let found = view.iter().find_map(|s| match s {
                Segment::Sealed(s) if s.first_seq() == first => Some(s.clone()),
                _ => None,
            });
            let follows = |s: &SealedSegment| {
                members.last().is_none_or(|prev| {
                    prev.next_seq() == s.first_seq()
                        && prev.last_chain_hash() == s.prev_chain_hash()
                })
            };
            match found {
                Some(s) if follows(&s) => members.push(s),
                _ => {
                    return Err(Error::Refused(format!(
                        "segments {}..{} of log `{}` changed while being compacted (segment {first})",
                        group.first_seq, group.next_seq, self.name
                    )));
                }
            }
        }
        Ok(members)
    }

    /// Replaces the adjacent sealed segments `members` by one holding their
    /// records, each redacted when `redact(seq)` holds (steps 1 to 7 of the
    /// module documentation). `protected` is asked again, under the manifest
    /// lock, right before the commit point: a reason refuses the swap.
    /// `progress` gets the records copied so far. The caller holds the seal
    /// lock. Returns the new segment.
    ///
    /// # Errors
    /// As [`Log::compact`]; before the commit point, nothing has changed
    /// but the members' indexes (rebuilt at open when missing).
    pub(super) fn rewrite_segments(
        &self,
        members: &[Arc<SealedSegment>],
        what: &str,
        redact: &dyn Fn(u64) -> bool,
        protected: &dyn Fn(&Manifest) -> Option<String>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Arc<SealedSegment>> {
        let (Some(first), Some(last)) = (members.first(), members.last()) else {
            return Err(Error::invalid("segments to rewrite", "none given"));
        };
        let staged = first.path().with_file_name(format!(
            "{}.{what}{TMP_SUFFIX}",
            first
                .path()
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ));
        let staged_index = self.index.dir_of(first.first_seq()).with_extension(what);
        let prepared = self
            .write_rewritten(members, &staged, redact, progress)
            .and_then(|new| {
                self.index
                    .build_detached(&Segment::Sealed(new), &staged_index)
            });
        let manifest = self.manifest.lock();
        let committed = prepared
            .and_then(|()| match protected(&manifest) {
                Some(reason) => Err(Error::Refused(format!(
                    "segments {}..{} of log `{}` may not be rewritten: {reason}",
                    first.first_seq(),
                    last.next_seq(),
                    self.name
                ))),
                None => Ok(()),
            })
            .and_then(|()| self.commit_rewrite(members, &staged));
        if let Err(error) = committed {
            discard(&staged, &staged_index);
            return Err(error);
        }
        let new = self.install(members, &staged_index)?;
        drop(manifest);
        Ok(new)
    }

    /// Step 1: writes the records of `members` (redacted where `redact`
    /// says) as the sealed file `staged`, reopens it and checks it.
    fn write_rewritten(
        &self,
        members: &[Arc<SealedSegment>],
        staged: &Path,
        redact: &dyn Fn(u64) -> bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Arc<SealedSegment>> {
        let (Some(first), Some(last)) = (members.first(), members.last()) else {
            return Err(Error::invalid("segments to rewrite", "none given"));
        };
        let transform = |record: Record| match record.body {
            RecordBody::Stored(_) if redact(record.seq) => Record {
                body: RecordBody::Redacted(record.body_digest()),
                ..record
            },
            _ => record,
        };
        let options = &self.policy.compression;
        // A new dictionary, from the bodies kept: one trained on erased
        // bodies would keep pieces of them.
        let dictionary = if options.dictionary_bytes > 0 {
            train_dictionary(
                &dictionary_samples(members, options.dictionary_bytes, &transform)?,
                options.dictionary_bytes,
            )
        } else {
            None
        };
        let header = FileHeader {
            magic: SEG_MAGIC,
            version: SEG_VERSION,
            log_id: self.log_id,
            first_seq: first.first_seq(),
            prev_chain_hash: first.prev_chain_hash(),
            frame_salt: 0,
        };
        let mut copied = 0u64;
        let records = members
            .iter()
            .flat_map(|m| (0..m.blocks().len()).map(move |i| (m, i)))
            .flat_map(|(m, i)| -> Vec<Result<Record>> {
                match m.read_block(i) {
                    Ok(block) => {
                        copied += block.len() as u64;
                        progress(copied);
                        block.into_iter().map(|(r, _)| Ok(transform(r))).collect()
                    }
                    Err(e) => vec![Err(e)],
                }
            });
        let summary = write_sealed(
            staged,
            &header,
            records,
            options,
            dictionary.as_deref().unwrap_or_default(),
        )?;
        let records = last.next_seq() - first.first_seq();
        let what = format!("segments {}..{}", first.first_seq(), last.next_seq());
        if summary.last_chain_hash != last.last_chain_hash() || summary.stats.records != records {
            return Err(Error::corrupted(
                staged,
                0,
                format!("the rewritten file does not end at the chain head of {what}"),
            ));
        }
        let new = SealedSegment::open(staged)?;
        if new.first_seq() != first.first_seq()
            || new.next_seq() != last.next_seq()
            || new.prev_chain_hash() != first.prev_chain_hash()
            || new.last_chain_hash() != last.last_chain_hash()
        {
            return Err(Error::corrupted(
                staged,
                0,
                format!("the rewritten file does not span {what} and their chain"),
            ));
        }
        for i in 0..new.blocks().len() {
            let mut kept = None;
            new.check_block(i, |record, _| {
                if matches!(record.body, BodyRef::Stored(_)) && redact(record.seq) {
                    kept.get_or_insert(record.seq);
                }
            })?;
            if let Some(seq) = kept {
                return Err(Error::corrupted(
                    staged,
                    new.blocks()[i].offset,
                    format!("the rewritten file still holds the body of seq {seq}"),
                ));
            }
        }
        Ok(Arc::new(new))
    }

    /// Steps 3 and 4: deletes the members' indexes, then renames `staged`
    /// over the first member.
    fn commit_rewrite(&self, members: &[Arc<SealedSegment>], staged: &Path) -> Result<()> {
        let index_dir = self.dir.join(INDEX_DIR);
        for m in members {
            remove_dir(&self.index.dir_of(m.first_seq()))?;
        }
        fsync_dir(&index_dir)?;
        let target = members[0].path();
        std::fs::rename(staged, target).map_err(Error::io("rename", staged))?;
        fsync_dir(&self.dir.join(SEGMENTS_DIR))
    }

    /// Steps 5 to 7: puts the new index in place, switches readers over and
    /// deletes the other members.
    fn install(
        &self,
        members: &[Arc<SealedSegment>],
        staged_index: &Path,
    ) -> Result<Arc<SealedSegment>> {
        let first = &members[0];
        let index_path = self.index.dir_of(first.first_seq());
        std::fs::rename(staged_index, &index_path).map_err(Error::io("rename", staged_index))?;
        fsync_dir(&self.dir.join(INDEX_DIR))?;
        let new = Arc::new(SealedSegment::open(first.path())?);
        let ix = self.index.open_installed(&Segment::Sealed(new.clone()))?;
        let firsts: Vec<u64> = members.iter().map(|m| m.first_seq()).collect();
        {
            let mut view = self.view.write();
            let at = view
                .iter()
                .position(|s| matches!(s, Segment::Sealed(s) if Arc::ptr_eq(s, first)))
                .filter(|&at| {
                    view.len() >= at + members.len()
                        && members
                            .iter()
                            .zip(&view[at..])
                            .all(|(m, s)| matches!(s, Segment::Sealed(s) if Arc::ptr_eq(s, m)))
                })
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "segments {}..{} of log `{}` changed while being rewritten; reopen the log",
                        first.first_seq(),
                        new.next_seq(),
                        self.name
                    ))
                })?;
            view.splice(at..at + members.len(), [Segment::Sealed(new.clone())]);
            self.index.replace(&firsts, first.first_seq(), ix);
        }
        if members.len() > 1 {
            for m in &members[1..] {
                std::fs::remove_file(m.path()).map_err(Error::io("remove", m.path()))?;
            }
            fsync_dir(&self.dir.join(SEGMENTS_DIR))?;
        }
        Ok(new)
    }
}

/// Why the segment at `first_seq` must keep its identity (and so is not
/// compacted), if it must.
fn keeps_identity(m: &Manifest, first_seq: u64) -> Option<String> {
    if let Some(hold) = m.holds.iter().find(|h| h.segment == Some(first_seq)) {
        return Some(format!(
            "{first_seq} is under a legal hold ({}, set by {})",
            hold.reason, hold.set_by
        ));
    }
    if m.restored.contains_key(&first_seq) {
        return Some(format!("{first_seq} was restored from the archive"));
    }
    if m.archived.iter().any(|a| a.first_seq == first_seq) {
        return Some(format!("{first_seq} has an archived copy"));
    }
    None
}

/// A sealed segment as the planner sees it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    first_seq: u64,
    next_seq: u64,
    bytes: u64,
    /// Neither held, restored nor archived.
    movable: bool,
}

/// Runs of at least two adjacent movable segments each under `small` bytes,
/// cut so that none adds up to more than `target` bytes.
fn plan_groups(segments: &[Candidate], small: u64, target: u64) -> Vec<CompactGroup> {
    fn close(run: &mut Vec<Candidate>, groups: &mut Vec<CompactGroup>) {
        if let [first, .., last] = run.as_slice() {
            groups.push(CompactGroup {
                first_seq: first.first_seq,
                next_seq: last.next_seq,
                members: run.iter().map(|c| c.first_seq).collect(),
                bytes: run.iter().map(|c| c.bytes).sum(),
            });
        }
        run.clear();
    }
    let mut groups = Vec::new();
    let mut run: Vec<Candidate> = Vec::new();
    for &segment in segments {
        if !segment.movable || segment.bytes >= small {
            close(&mut run, &mut groups);
            continue;
        }
        let bytes: u64 = run.iter().map(|c| c.bytes).sum();
        if bytes.saturating_add(segment.bytes) > target {
            close(&mut run, &mut groups);
        }
        run.push(segment);
    }
    close(&mut run, &mut groups);
    groups
}

/// Bodies to train a dictionary of `dictionary_bytes` on: every record of
/// evenly spaced blocks, about 25 times the dictionary's size in all (as
/// sealing does, see `seal.rs`), after `transform`.
fn dictionary_samples(
    members: &[Arc<SealedSegment>],
    dictionary_bytes: usize,
    transform: &dyn Fn(Record) -> Record,
) -> Result<Vec<Vec<u8>>> {
    let wanted = 25 * dictionary_bytes as u64;
    let total: u64 = members.iter().map(|m| m.stats().body_bytes).sum();
    let stride = total.div_ceil(wanted.max(1)).max(1);
    let mut samples = Vec::new();
    let mut n = 0u64;
    for m in members {
        for i in 0..m.blocks().len() {
            if n.is_multiple_of(stride) {
                for (record, _) in m.read_block(i)? {
                    if let RecordBody::Stored(body) = transform(record).body {
                        samples.push(body);
                    }
                }
            }
            n += 1;
        }
    }
    Ok(samples)
}

/// Removes what a failed rewrite staged; failures are only logged (the
/// next open removes what is left).
fn discard(staged: &Path, staged_index: &Path) {
    let file = match std::fs::remove_file(staged) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    let dir = match std::fs::remove_dir_all(staged_index) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    if let Err(error) = file.and(dir) {
        tracing::warn!(file = %staged.display(), index = %staged_index.display(), %error, "could not remove what a failed rewrite staged; the next open removes it");
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", dir)(e)),
        _ => Ok(()),
    }
}

/// Recovery at open, before the sealed files are opened: removes the index
/// directories a compaction or erasure staged, and the sealed files (with
/// their index directories) a crashed compaction left behind: a file whose
/// seqs lie inside the previous file's, whose chain hashes at both ends
/// are that file's. Anything else that overlaps is left for the open to
/// report.
///
/// # Errors
/// I/O errors naming the file or directory.
pub(crate) fn remove_leftovers(dir: &Path, sealed: &mut BTreeMap<u64, PathBuf>) -> Result<()> {
    let index_dir = dir.join(INDEX_DIR);
    if index_dir.is_dir() {
        let mut removed = false;
        for entry in std::fs::read_dir(&index_dir).map_err(Error::io("list", &index_dir))? {
            let path = entry.map_err(Error::io("list", &index_dir))?.path();
            let staged = path
                .extension()
                .is_some_and(|ext| ext == COMPACT || ext == ERASE);
            if staged && path.is_dir() {
                tracing::info!(index = %path.display(), "removing an index staged by an interrupted compaction or erasure");
                remove_dir(&path)?;
                removed = true;
            }
        }
        if removed {
            fsync_dir(&index_dir)?;
        }
    }
    // Only footers are read to find candidates: opening a sealed file
    // loads its dictionary, and the open that follows does that anyway.
    let mut container: Option<(&PathBuf, u64)> = None;
    let mut leftovers = Vec::new();
    for (&first, path) in sealed.iter() {
        // A file whose footer does not read is reported by the open that
        // follows.
        let Some(next) = next_seq_of(first, path) else {
            container = None;
            continue;
        };
        if let Some((outer, end)) = container
            && first < end
            && next <= end
        {
            if same_chain(outer, path) {
                leftovers.push((first, path.clone()));
                continue;
            }
            tracing::warn!(file = %path.display(), inside = %outer.display(), "a sealed file lies inside another whose chain differs; not removed");
        }
        container = Some((path, next));
    }
    for (first, path) in leftovers {
        tracing::info!(file = %path.display(), "removing a segment merged into the previous one by a compaction interrupted by a crash");
        super::open::remove_segment_files(dir, first, &path)?;
        sealed.remove(&first);
    }
    Ok(())
}

/// The seq after the last record of the sealed file `path` named after
/// `first`, from its footer alone.
pub(crate) fn next_seq_of(first: u64, path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::End(-(FOOTER_LEN as i64))).ok()?;
    let mut footer = [0u8; FOOTER_LEN];
    file.read_exact(&mut footer).ok()?;
    let records = Footer::decode(&footer).ok()?.stats.records;
    first.checked_add(records)
}

/// Whether the sealed file `inner`, whose seqs lie inside those of the
/// sealed file `outer`, has the chain hashes `outer` has around them.
pub(crate) fn same_chain(outer: &Path, inner: &Path) -> bool {
    let (Ok(outer), Ok(inner)) = (SealedSegment::open(outer), SealedSegment::open(inner)) else {
        return false;
    };
    let chain_after = |seq: u64| {
        outer
            .read(seq, seq + 1)
            .ok()
            .and_then(|records| records.first().map(|(_, receipt)| receipt.chain_hash))
    };
    inner.header().log_id == outer.header().log_id
        && inner.first_seq() > outer.first_seq()
        && inner.next_seq() > inner.first_seq()
        && chain_after(inner.first_seq() - 1) == Some(inner.prev_chain_hash())
        && chain_after(inner.next_seq() - 1) == Some(inner.last_chain_hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(sizes: &[(u64, bool)]) -> Vec<Candidate> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &(bytes, movable))| Candidate {
                first_seq: i as u64 * 10,
                next_seq: i as u64 * 10 + 10,
                bytes,
                movable,
            })
            .collect()
    }

    fn members(groups: &[CompactGroup]) -> Vec<Vec<u64>> {
        groups.iter().map(|g| g.members.clone()).collect()
    }

    #[test]
    fn groups_are_runs_of_small_movable_segments_up_to_the_target() {
        let s = segments(&[
            (10, true),
            (10, true),
            (50, true), // not small
            (10, true),
            (10, false), // held
            (10, true),
            (10, true),
            (10, true),
            (10, true),
            (10, true),
        ]);
        let groups = plan_groups(&s, 20, 30);
        assert_eq!(
            members(&groups),
            vec![vec![0, 10], vec![50, 60, 70], vec![80, 90]]
        );
        assert_eq!(groups[1].first_seq, 50);
        assert_eq!(groups[1].next_seq, 80);
        assert_eq!(groups[1].bytes, 30);
    }

    #[test]
    fn a_lone_small_segment_is_no_group() {
        assert!(plan_groups(&segments(&[(10, true), (50, true), (10, true)]), 20, 100).is_empty());
        assert!(plan_groups(&segments(&[(10, true), (10, true)]), 20, 15).is_empty());
        assert!(plan_groups(&segments(&[(10, true), (10, true)]), 0, 100).is_empty());
    }
}
