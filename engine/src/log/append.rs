//! Appending a batch: set aside the events that retry a stored id
//! ([`super::dedup`]); validate, sanitise, encode and hash the rest outside
//! any lock (a large batch in one part per core); then, holding the writer,
//! assign seqs, extend the chain and write one frame; then wait for
//! durability as the fsync policy says. [`Log::start_append`] and
//! [`Log::finish_append`] are those two halves, for a caller that writes
//! batches in order and waits for several at once.
//!
//! # Invariants
//! - A batch is atomic: it is refused whole before anything is written, or
//!   written as one frame that recovery keeps or drops whole.
//! - Seqs are contiguous: the writer lock is held from seq assignment until
//!   the frame is written, and a failed write is cut back off the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use rayon::prelude::*;

use super::dedup::Resolution;
use super::{Direction, FsyncPolicy, Log};
use crate::chain::{self, Hash};
use crate::error::{Error, Result};
use crate::event::validate::{check_body_size, validate};
use crate::event::{Event, body, id};
use crate::record::{KIND_BODY, RECORD_HEADER_LEN, Receipt, RecordBody, record_header};
use crate::segment::SegmentStats;
use crate::wal::WalEntry;
use crate::wal::file::write_frame;
use crate::wal::frame::{CHAIN_HASH_LEN, FRAME_HEADER_LEN, seal_frame};

/// Frame buffers kept between batches. A batch of a thousand events needs
/// about 400 KB, which the allocator would otherwise map and unmap (and the
/// kernel fault in and zero) on every append.
#[derive(Debug, Default)]
pub(crate) struct FramePool(Mutex<Vec<Vec<u8>>>);

/// Events below which a batch is prepared on the calling thread alone; larger
/// batches are split in parts of at least this many.
const PARALLEL_CHUNK: usize = 128;

/// Buffers kept, and the largest one kept.
const POOLED_FRAMES: usize = 16;
const POOLED_FRAME_BYTES: usize = 8 << 20;

impl FramePool {
    fn take(&self) -> Vec<u8> {
        self.0.lock().pop().unwrap_or_default()
    }

    fn give(&self, mut frame: Vec<u8>) {
        if frame.capacity() <= POOLED_FRAME_BYTES {
            frame.clear();
            let mut pool = self.0.lock();
            if pool.len() < POOLED_FRAMES {
                pool.push(frame);
            }
        }
    }
}

/// A batch encoded into a frame whose seqs and chain hashes are still blank.
struct PreparedBatch {
    frame: Vec<u8>,
    slots: Vec<Slot>,
    stats: SegmentStats,
}

/// Where one record sits in the prepared frame.
#[derive(Clone, Copy)]
struct Slot {
    /// Offset of the record in the frame.
    at: usize,
    /// Encoded record length.
    len: usize,
    digest: Hash,
}

/// The receipts of an appended batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// One receipt per event, in the batch's order.
    pub receipts: Vec<Receipt>,
    /// Per event: true when its id was already stored (within the dedup
    /// window) or repeats an earlier event of the batch, so that no new
    /// record was written and its receipt is the original one.
    pub duplicates: Vec<bool>,
}

/// A batch written to the log and holding its seqs, which may not be
/// durable yet: [`Log::finish_append`] waits for that. Seqs are taken in
/// the order [`Log::start_append`] calls return, so a caller that starts
/// batches one after another and finishes them concurrently keeps their
/// order and shares their fsyncs.
#[derive(Debug)]
#[must_use = "the batch is not acknowledged until `Log::finish_append`"]
pub struct PendingAppend {
    appended: Appended,
    /// Durability target of the written frame (none when every event was a
    /// retry).
    target: Option<(u64, u64)>,
}

/// An event with a client id that is to be appended, and what the id table
/// said about its id when the batch was resolved.
#[derive(Debug, Clone, Copy)]
struct IdCheck {
    /// Position of the event (in the batch, then among the fresh events).
    index: usize,
    hash: u64,
    /// The seq the table named for the hash (a record with another id, or
    /// one out of the window), if any.
    seen: Option<u64>,
}

/// Receipts of a written frame and its durability target.
type Written = (Vec<Receipt>, (u64, u64));

impl Log {
    /// Appends `events` as one atomic batch and returns a receipt per event,
    /// once the batch is durable under the log's fsync policy. Events whose
    /// client id was appended lately get their original receipt and are not
    /// stored again (see [`Log::append_batch`]).
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] naming the event and field (nothing is
    /// written); [`Error::Poisoned`] or an I/O error when the write or fsync
    /// failed (the batch is not acknowledged).
    pub fn append(&self, events: &[Event]) -> Result<Vec<Receipt>> {
        self.append_batch(events).map(|a| a.receipts)
    }

    /// As [`Log::append`], also telling which events were retries: an event
    /// whose non-empty `id` is already stored in the log within the store's
    /// dedup window, or repeats an earlier event of the same batch, is not
    /// stored again and gets the original receipt.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_batch(&self, events: &[Event]) -> Result<Appended> {
        let pending = self.start_append(events)?;
        self.finish_append(pending)
    }

    /// The first half of [`Log::append_batch`]: resolves retries, writes the
    /// batch and takes its seqs, without waiting for durability.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn start_append(&self, events: &[Event]) -> Result<PendingAppend> {
        if events.is_empty() {
            return Ok(PendingAppend {
                appended: Appended::default(),
                target: None,
            });
        }
        let limits = &self.policy.limits;
        if events.len() > limits.max_batch_events {
            return Err(Error::invalid(
                "batch",
                format!(
                    "{} events is over the limit of {} per batch",
                    events.len(),
                    limits.max_batch_events
                ),
            ));
        }
        loop {
            let (resolutions, checks) = self.resolve_ids(events)?;
            let fresh: Cow<'_, [Event]> = if resolutions.iter().all(|r| *r == Resolution::Fresh) {
                Cow::Borrowed(events)
            } else {
                // Retries are answered only for a batch that is valid as a
                // whole, as it would be if nothing were a retry.
                for (i, event) in events.iter().enumerate() {
                    validate(event, i, limits)?;
                }
                Cow::Owned(
                    events
                        .iter()
                        .zip(&resolutions)
                        .filter(|(_, r)| **r == Resolution::Fresh)
                        .map(|(e, _)| e.clone())
                        .collect(),
                )
            };
            let (receipts, target) = if fresh.is_empty() {
                (Vec::new(), None)
            } else {
                // Renumbered as positions among the fresh events.
                let mut position = vec![0; events.len()];
                let mut next = 0;
                for (i, r) in resolutions.iter().enumerate() {
                    position[i] = next;
                    next += usize::from(*r == Resolution::Fresh);
                }
                let fresh_checks: Vec<IdCheck> = checks
                    .into_iter()
                    .filter(|c| resolutions[c.index] == Resolution::Fresh)
                    .map(|c| IdCheck {
                        index: position[c.index],
                        ..c
                    })
                    .collect();
                match self.append_fresh(&fresh, &fresh_checks)? {
                    Some((receipts, target)) => (receipts, Some(target)),
                    None => continue, // an id was stored concurrently: resolve again
                }
            };
            let mut receipts = receipts.into_iter();
            let mut out = Appended {
                receipts: Vec::with_capacity(events.len()),
                duplicates: Vec::with_capacity(events.len()),
            };
            for resolution in resolutions {
                let (receipt, duplicate) = match resolution {
                    Resolution::Fresh => {
                        (receipts.next().expect("one receipt per fresh event"), false)
                    }
                    Resolution::Stored(receipt) => (receipt, true),
                    Resolution::SameAs(i) => (out.receipts[i], true),
                };
                out.receipts.push(receipt);
                out.duplicates.push(duplicate);
            }
            return Ok(PendingAppend {
                appended: out,
                target,
            });
        }
    }

    /// The second half of [`Log::append_batch`]: returns the receipts once
    /// the batch is durable under the log's fsync policy.
    ///
    /// # Errors
    /// [`Error::Poisoned`] or the fsync error: the batch is not acknowledged.
    pub fn finish_append(&self, pending: PendingAppend) -> Result<Appended> {
        if let Some(target) = pending.target
            && self.policy.fsync == FsyncPolicy::Always
        {
            self.wait_durable(target)?;
        }
        Ok(pending.appended)
    }

    /// Writes events known to be new; returns their receipts and the
    /// durability target to wait for. `None` when one of their ids was
    /// stored by a concurrent append meanwhile (nothing was written).
    fn append_fresh(&self, events: &[Event], ids: &[IdCheck]) -> Result<Option<Written>> {
        let ingest_time = self.ctx.clock.now_ns();
        let batch = self.prepare(events, ingest_time)?;
        let Some((receipts, target)) = self.write_batch(batch, ingest_time, ids)? else {
            return Ok(None);
        };
        self.ctx.indexing.wake();
        self.throttle_for_index();
        if self.rotate_if_full()? {
            self.ctx.maintenance.wake();
        }
        Ok(Some((receipts, target)))
    }

    /// Which events of a batch are retries of stored ones or repeat an
    /// earlier event of the batch; and, for each event with a client id
    /// that is not, what the id table said about it (to detect, under the
    /// writer lock, an append of the same id meanwhile).
    fn resolve_ids(&self, events: &[Event]) -> Result<(Vec<Resolution>, Vec<IdCheck>)> {
        let mut resolutions = vec![Resolution::Fresh; events.len()];
        let mut checks = Vec::new();
        if self.dedup.options().is_disabled() {
            return Ok((resolutions, checks));
        }
        self.dedup.fill_once(|| self.stored_ids());
        let mut in_batch: HashMap<&str, usize> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            let id = event.id.as_str();
            if id.is_empty() {
                continue;
            }
            if let Some(&first) = in_batch.get(id) {
                resolutions[i] = Resolution::SameAs(first);
                continue;
            }
            let hash = self.dedup.hash(id);
            let seen = self.dedup.candidate(hash);
            match seen {
                Some(seq) if let Some(receipt) = self.stored_with_id(seq, id)? => {
                    resolutions[i] = Resolution::Stored(receipt);
                }
                _ => {
                    in_batch.insert(id, i);
                    checks.push(IdCheck {
                        index: i,
                        hash,
                        seen,
                    });
                }
            }
        }
        Ok((resolutions, checks))
    }

    /// The client ids of the newest records, within the dedup window and
    /// count, oldest first, and the time the window is relative to: what
    /// the id table is refilled with before the first append after the log
    /// is opened, so that retries are recognised across a restart.
    fn stored_ids(&self) -> (Vec<(u64, u64, i64)>, i64) {
        let started = Instant::now();
        let options = self.dedup.options();
        let now = self.ctx.clock.now_ns();
        let oldest =
            now.saturating_sub(i64::try_from(options.window.as_nanos()).unwrap_or(i64::MAX));
        let mut entries = Vec::new();
        for record in self.scan(.., Direction::Backward) {
            // Damage is reported where it is read (and by verify); it only
            // means older ids are not remembered.
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    tracing::warn!(log = %self.name, %error, "retries of events stored before this damage are not recognised");
                    break;
                }
            };
            if record.ingest_time < oldest || entries.len() >= options.max_ids {
                break;
            }
            if let RecordBody::Stored(body) = &record.body
                && let Some(id) = body::id_of(body)
            {
                entries.push((self.dedup.hash(id), record.seq, record.ingest_time));
            }
        }
        entries.reverse();
        tracing::info!(
            log = %self.name,
            ids = entries.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "read back the event ids of the dedup window"
        );
        (entries, now)
    }

    /// The receipt of the record at `seq`, which the id table names for
    /// `id`, if it holds that id and was ingested within the dedup window.
    /// The record is read back after waiting until it is durable (its own
    /// append may still be syncing).
    fn stored_with_id(&self, seq: u64, id: &str) -> Result<Option<Receipt>> {
        if seq >= self.visible_seq() {
            self.sync()?;
        }
        let (record, receipt) = match self.read_with_receipt(seq) {
            Ok(found) => found,
            Err(Error::SeqOutOfRange { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let window = i64::try_from(self.dedup.options().window.as_nanos()).unwrap_or(i64::MAX);
        if record.ingest_time < self.ctx.clock.now_ns().saturating_sub(window) {
            return Ok(None);
        }
        let same = match record.event() {
            Ok(Some(event)) => event.id == id,
            // A redacted record keeps its place: its retry is not stored again.
            Ok(None) => true,
            Err(reason) => {
                return Err(Error::Corrupted {
                    file: self.dir.clone(),
                    offset: seq,
                    reason: format!("record {seq} does not decode: {reason}"),
                });
            }
        };
        Ok(same.then_some(receipt))
    }

    /// Validates, sanitises and encodes the batch into a blank frame. Large
    /// batches are split into one part per core, prepared in parallel.
    fn prepare(&self, events: &[Event], ingest_time: i64) -> Result<PreparedBatch> {
        let count = events.len();
        let parts: Vec<Result<PreparedBatch>> = if count >= 2 * PARALLEL_CHUNK {
            let chunk = PARALLEL_CHUNK.max(count.div_ceil(rayon::current_num_threads()));
            events
                .par_chunks(chunk)
                .enumerate()
                .map(|(n, part)| self.prepare_part(n * chunk, part, ingest_time))
                .collect()
        } else {
            vec![self.prepare_part(0, events, ingest_time)]
        };
        let mut batch = PreparedBatch {
            frame: self.frames.take(),
            slots: Vec::with_capacity(count),
            stats: SegmentStats::default(),
        };
        batch.frame.resize(FRAME_HEADER_LEN, 0);
        batch.frame.extend_from_slice(&(count as u32).to_le_bytes());
        for part in parts {
            let part = part?;
            let base = batch.frame.len();
            batch.frame.extend_from_slice(&part.frame);
            batch.slots.extend(part.slots.iter().map(|s| Slot {
                at: base + s.at,
                ..*s
            }));
            batch.stats.merge(&part.stats);
            self.frames.give(part.frame);
            self.check_batch_bytes(batch.frame.len(), base)?;
        }
        Ok(batch)
    }

    /// Encodes consecutive events of a batch, the first at batch index
    /// `first`, as frame records at offsets relative to the part.
    fn prepare_part(
        &self,
        first: usize,
        events: &[Event],
        ingest_time: i64,
    ) -> Result<PreparedBatch> {
        let limits = &self.policy.limits;
        let mut part = PreparedBatch {
            frame: self.frames.take(),
            slots: Vec::new(),
            stats: SegmentStats::default(),
        };
        let scrubber = self.scrubber.read().clone();
        for (i, event) in (first..).zip(events) {
            validate(event, i, limits)?;
            let cleaned;
            let event = if self.sanitizer.is_empty() && scrubber.is_empty() {
                event
            } else {
                let mut copy = event.clone();
                self.sanitizer.apply(&mut copy);
                scrubber.apply(&mut copy);
                cleaned = copy;
                &cleaned
            };
            let mut assigned_id = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let id = if event.id.is_empty() {
                id::next_id(ingest_time)
                    .hyphenated()
                    .encode_lower(&mut assigned_id)
            } else {
                event.id.as_str()
            };
            let time = event.time.unwrap_or(ingest_time);
            // The body is encoded in place, after its record header; the
            // seq in that header is filled in under the writer lock.
            let at = part.frame.len();
            let body_at = at + RECORD_HEADER_LEN;
            part.frame.resize(body_at, 0);
            body::encode_into(event, id, time, &mut part.frame);
            let body_len = part.frame.len() - body_at;
            check_body_size(body_len, i, limits)?;
            self.check_batch_bytes(part.frame.len(), i)?;
            part.frame[at..body_at].copy_from_slice(&record_header(
                0,
                ingest_time,
                KIND_BODY,
                body_len,
            ));
            part.slots.push(Slot {
                at,
                len: RECORD_HEADER_LEN + body_len,
                digest: chain::body_digest(&part.frame[body_at..]),
            });
            part.frame.extend_from_slice(&[0; CHAIN_HASH_LEN]);
            part.stats.add_event(time, ingest_time, body_len);
        }
        Ok(part)
    }

    /// Refuses a batch whose frame has grown to `bytes` (at event `at`).
    fn check_batch_bytes(&self, bytes: usize, at: usize) -> Result<()> {
        let max = self.policy.limits.max_batch_bytes;
        if bytes > max {
            return Err(Error::invalid(
                "batch",
                format!(
                    "the encoded events exceed the limit of {max} bytes per batch (at event {at})"
                ),
            ));
        }
        Ok(())
    }

    /// Assigns seqs, extends the chain and writes the frame; returns the
    /// receipts and the durability target of the frame.
    fn write_batch(
        &self,
        mut batch: PreparedBatch,
        ingest_time: i64,
        ids: &[IdCheck],
    ) -> Result<Option<Written>> {
        let mut w = self.writer.lock();
        self.check_poison()?;
        if self.dedup.changed(ids.iter().map(|c| (c.hash, c.seen))) {
            return Ok(None);
        }
        let mut receipts = Vec::with_capacity(batch.slots.len());
        let mut entries = Vec::with_capacity(batch.slots.len());
        let mut prev = w.head;
        for (i, slot) in batch.slots.iter().enumerate() {
            let seq = w.next_seq + i as u64;
            batch.frame[slot.at..slot.at + 8].copy_from_slice(&seq.to_le_bytes());
            let leaf_hash = chain::leaf_hash(seq, ingest_time, &slot.digest);
            let chain_hash = chain::link(&prev, &leaf_hash);
            let hash_at = slot.at + slot.len;
            batch.frame[hash_at..hash_at + CHAIN_HASH_LEN].copy_from_slice(&chain_hash);
            receipts.push(Receipt {
                seq,
                leaf_hash,
                chain_hash,
            });
            entries.push(WalEntry {
                offset: w.offset + slot.at as u64,
                len: slot.len as u32,
                chain_hash,
            });
            prev = chain_hash;
        }
        seal_frame(&mut batch.frame, w.active.header().frame_salt);
        if let Err((error, clean)) =
            write_frame(w.active.file(), w.active.path(), w.offset, &batch.frame)
        {
            if !clean {
                self.set_poison(&error);
            }
            return Err(error);
        }
        w.offset += batch.frame.len() as u64;
        w.next_seq += batch.slots.len() as u64;
        w.head = prev;
        {
            let mut tree = self.tree.lock();
            for receipt in &receipts {
                tree.push(receipt.leaf_hash);
            }
        }
        w.active.push(&entries, &batch.stats, w.offset);
        if self.policy.fsync != FsyncPolicy::Always {
            self.visible.advance(w.next_seq);
        }
        self.dedup.insert(
            ids.iter()
                .map(|c| (c.hash, receipts[c.index].seq, ingest_time)),
            ingest_time,
        );
        let target = (w.generation, w.offset);
        drop(w);
        self.frames.give(batch.frame);
        Ok(Some((receipts, target)))
    }
}

#[cfg(test)]
mod tests {
    use crate::log::test_events;
    use crate::{Policy, Store};

    #[test]
    fn retry_ids_are_read_back_at_the_first_append_not_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = test_events(10);
        for (i, event) in events.iter_mut().enumerate() {
            event.id = format!("evt-{i}");
        }
        let first = {
            let store = Store::open(dir.path()).unwrap();
            let log = store.create_log("audit", Policy::default()).unwrap();
            let receipts = log.append(&events).unwrap();
            store.close().unwrap();
            receipts
        };
        let store = Store::open(dir.path()).unwrap();
        let log = store.log("audit").unwrap();
        assert_eq!(log.dedup.len(), 0, "opening reads no id back");
        let retry = log.append_batch(&events[3..5]).unwrap();
        assert_eq!(retry.duplicates, [true, true]);
        assert_eq!(retry.receipts, first[3..5]);
        assert_eq!(log.dedup.len(), 10);
        assert_eq!(log.visible_seq(), 10);
        drop(log);
        store.close().unwrap();
    }
}
