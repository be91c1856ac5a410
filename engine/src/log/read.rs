//! Reading records by seq, and scanning seq ranges forwards or backwards,
//! across sealed segments and the active WAL alike.
//!
//! Reads by seq go through the store's block cache; a scan reads a whole
//! block (sealed, bypassing the cache) or a run of records (WAL) at a time,
//! and looks the segment up again for each run, so a seal that swaps a WAL
//! for its sealed file in the middle of a scan is invisible to it.

use std::collections::{BTreeSet, VecDeque};
use std::ops::{Bound, RangeBounds};

use super::{Log, Segment};
use crate::error::{Error, Result};
use crate::record::{Receipt, Record};
use crate::segment::block::DecodedBlock;

/// Records read from a WAL per scan step.
const WAL_RUN: u64 = 512;

/// Scan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending seq.
    Forward,
    /// Descending seq.
    Backward,
}

impl Log {
    /// The record at `seq`.
    ///
    /// # Errors
    /// [`Error::SeqOutOfRange`] when it is not stored (yet or any more);
    /// [`Error::Corrupted`] when its stored bytes fail their checks.
    pub fn read(&self, seq: u64) -> Result<Record> {
        // No receipt asked for: a cached block need not walk its chain.
        self.read_at(
            seq,
            |block| block.record(seq).map(|record| record.to_owned()),
            |(record, _)| record,
        )
    }

    /// The record at `seq` with its receipt (leaf and chain hash).
    ///
    /// # Errors
    /// As [`Log::read`].
    pub fn read_with_receipt(&self, seq: u64) -> Result<(Record, Receipt)> {
        self.read_at(
            seq,
            |block| {
                block
                    .get(seq)
                    .map(|(record, receipt)| (record.to_owned(), *receipt))
            },
            |read| read,
        )
    }

    /// The record at `seq` as `from_block` takes it out of its sealed block
    /// (through the block cache), or as `from_wal` takes it from its WAL.
    fn read_at<T>(
        &self,
        seq: u64,
        from_block: impl FnOnce(&DecodedBlock) -> Option<T>,
        from_wal: impl FnOnce((Record, Receipt)) -> T,
    ) -> Result<T> {
        let found = match self.segment_of(seq)? {
            Segment::Sealed(sealed) => from_block(&*self.ctx.block_cache.block(
                &sealed,
                sealed.block_of(seq),
                seq,
            )?),
            wal => wal.read(seq, seq + 1)?.pop().map(from_wal),
        };
        found.ok_or_else(|| self.out_of_range(seq))
    }

    /// Records in `range`, in `direction`. The upper end is clamped to what
    /// is visible when the scan starts.
    pub fn scan(&self, range: impl RangeBounds<u64>, direction: Direction) -> Scan<'_> {
        let visible = self.visible_seq();
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first_seq());
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        }
        .min(visible);
        Scan {
            log: self,
            lo: start,
            hi: end.max(start),
            direction,
            buffer: VecDeque::new(),
            failed: false,
        }
    }

    /// How many sealed blocks reading the records `seqs` would decode: those
    /// the block cache lacks, or holds only the start of.
    pub(crate) fn blocks_to_decode(&self, seqs: impl IntoIterator<Item = u64>) -> usize {
        let mut cold = BTreeSet::new();
        for seq in seqs {
            let Ok(Segment::Sealed(sealed)) = self.segment_of(seq) else {
                continue;
            };
            let i = sealed.block_of(seq);
            if !self.ctx.block_cache.holds(&sealed, i, seq) {
                cold.insert((sealed.uid(), i));
            }
        }
        cold.len()
    }

    /// The segment holding the visible record `seq`.
    fn segment_of(&self, seq: u64) -> Result<Segment> {
        if seq >= self.visible_seq() {
            return Err(self.out_of_range(seq));
        }
        let view = self.view.read();
        let i = view.partition_point(|s| s.first_seq() <= seq);
        match i.checked_sub(1).map(|i| &view[i]) {
            Some(segment) if seq < segment.next_seq() => Ok(segment.clone()),
            _ => Err(self.out_of_range(seq)),
        }
    }

    fn out_of_range(&self, seq: u64) -> Error {
        Error::SeqOutOfRange {
            log: self.name.clone(),
            seq,
            first: self.first_seq(),
            next: self.visible_seq(),
        }
    }

    /// The run of records around `seq` that one segment read returns,
    /// clipped to `lo..hi`.
    fn run_containing(&self, seq: u64, lo: u64, hi: u64) -> Result<Vec<(Record, Receipt)>> {
        let segment = self.segment_of(seq)?;
        let (from, to) = match &segment {
            Segment::Sealed(s) => {
                let block = &s.blocks()[s.block_of(seq)];
                (block.first_seq, block.first_seq + u64::from(block.count))
            }
            Segment::Wal(w) => {
                let base = seq - (seq - w.first_seq()) % WAL_RUN;
                (base, (base + WAL_RUN).min(segment.next_seq()))
            }
        };
        segment.read(from.max(lo), to.min(hi))
    }
}

/// An iterator over a seq range; see [`Log::scan`]. It stops after the first
/// error it yields.
#[derive(Debug)]
pub struct Scan<'a> {
    log: &'a Log,
    /// Lowest seq not yet buffered or returned.
    lo: u64,
    /// Seq after the highest not yet buffered or returned.
    hi: u64,
    direction: Direction,
    buffer: VecDeque<(Record, Receipt)>,
    failed: bool,
}

impl Scan<'_> {
    /// The next record with its receipt.
    pub fn next_with_receipt(&mut self) -> Option<Result<(Record, Receipt)>> {
        if self.buffer.is_empty() && !self.failed && self.lo < self.hi {
            let at = match self.direction {
                Direction::Forward => self.lo,
                Direction::Backward => self.hi - 1,
            };
            match self.log.run_containing(at, self.lo, self.hi) {
                Ok(run) => {
                    let (Some(first), Some(last)) = (run.first(), run.last()) else {
                        self.failed = true;
                        return Some(Err(self.log.out_of_range(at)));
                    };
                    match self.direction {
                        Direction::Forward => self.lo = last.0.seq + 1,
                        Direction::Backward => self.hi = first.0.seq,
                    }
                    self.buffer = run.into();
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        match self.direction {
            Direction::Forward => self.buffer.pop_front(),
            Direction::Backward => self.buffer.pop_back(),
        }
        .map(Ok)
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        self.next_with_receipt()
            .map(|r| r.map(|(record, _)| record))
    }
}

#[cfg(test)]
mod tests {
    use super::Segment;
    use crate::log::test_events;
    use crate::{Policy, Store};

    #[test]
    fn blocks_to_decode_counts_the_sealed_blocks_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut policy = Policy::default();
        policy.seal.max_records = 200;
        policy.compression.block_bytes = 4096;
        let log = store.create_log("audit", policy).unwrap();
        let events = test_events(300);
        log.append(&events[..200]).unwrap();
        log.append(&events[200..]).unwrap();
        log.finish_seals().unwrap();
        let Segment::Sealed(sealed) = log.segment_of(0).unwrap() else {
            panic!("seqs 0..200 are sealed");
        };
        let blocks = sealed.block_of(199) + 1;
        assert!(blocks >= 3, "{blocks} blocks");
        assert_eq!(log.blocks_to_decode(0..300), blocks);
        assert_eq!(log.blocks_to_decode(200..300), 0, "WAL records");
        let first_block: Vec<u64> = (0..200).filter(|&s| sealed.block_of(s) == 0).collect();
        for &seq in &first_block {
            log.read(seq).unwrap();
        }
        assert_eq!(log.blocks_to_decode(first_block.iter().copied()), 0);
        assert_eq!(log.blocks_to_decode(0..200), blocks - 1);
        for seq in 0..200 {
            log.read(seq).unwrap();
        }
        assert_eq!(log.blocks_to_decode(0..300), 0);
        drop((sealed, log));
        store.close().unwrap();
    }
}
