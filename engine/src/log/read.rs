//! Reading records by seq, and scanning seq ranges forwards or backwards,
//! across sealed segments and the active WAL alike.
//!
//! Reads by seq go through the store's block cache, and records wanted
//! together (a search's page) are read in runs, so that a sealed block
//! holding several of them is decoded once; a scan reads a whole
//! block (sealed, bypassing the cache) or a run of records (WAL) at a time,
//! and looks the segment up again for each run, so a seal that swaps a WAL
//! for its sealed file in the middle of a scan is invisible to it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use super::{Log, Segment};
use crate::error::{Error, Result};
use crate::record::{Receipt, Record};
use crate::segment::SealedSegment;
use crate::segment::block::DecodedBlock;

/// Records read from a WAL per scan step.
const WAL_RUN: u64 = 512;

/// Records read together from one place; see [`Log::read_runs`].
#[derive(Debug)]
pub(crate) struct ReadRun {
    source: RunSource,
    /// Each record's place among the seqs wanted, and its seq.
    seqs: Vec<(usize, u64)>,
    /// The highest of those seqs.
    last: u64,
}

/// Where a [`ReadRun`] is read from.
#[derive(Debug)]
enum RunSource {
    /// A sealed segment's block, by number.
    Block(Arc<SealedSegment>, usize),
    /// A WAL, one record.
    Record(Segment),
}

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

    /// The records `seqs` (visible ones) grouped by where they are read:
    /// one run per sealed block holding any of them, one per WAL record.
    ///
    /// # Errors
    /// [`Error::SeqOutOfRange`] for a seq not stored.
    pub(crate) fn read_runs(&self, seqs: impl IntoIterator<Item = u64>) -> Result<Vec<ReadRun>> {
        let mut runs: Vec<ReadRun> = Vec::new();
        let mut run_of_block = HashMap::new();
        for (at, seq) in seqs.into_iter().enumerate() {
            let source = match self.segment_of(seq)? {
                Segment::Sealed(sealed) => {
                    let block = sealed.block_of(seq);
                    match run_of_block.entry((sealed.uid(), block)) {
                        Entry::Occupied(run) => {
                            let run: &mut ReadRun = &mut runs[*run.get()];
                            run.seqs.push((at, seq));
                            run.last = run.last.max(seq);
                            continue;
                        }
                        Entry::Vacant(run) => {
                            run.insert(runs.len());
                            RunSource::Block(sealed, block)
                        }
                    }
                }
                wal => RunSource::Record(wal),
            };
            runs.push(ReadRun {
                source,
                seqs: vec![(at, seq)],
                last: seq,
            });
        }
        Ok(runs)
    }

    /// Whether reading `run` decodes a sealed block: the block cache lacks
    /// it, or holds only a start that ends before the run's last record.
    pub(crate) fn decodes(&self, run: &ReadRun) -> bool {
        match &run.source {
            RunSource::Block(sealed, i) => !self.ctx.block_cache.holds(sealed, *i, run.last),
            RunSource::Record(_) => false,
        }
    }

    /// The records of `run`, each with its place among the seqs
    /// [`Log::read_runs`] was given; a block is decoded at most once, as far
    /// as the run's last record.
    ///
    /// # Errors
    /// As [`Log::read`].
    pub(crate) fn read_run(&self, run: &ReadRun) -> Result<Vec<(usize, Record)>> {
        match &run.source {
            RunSource::Block(sealed, i) => {
                let block = self.ctx.block_cache.block(sealed, *i, run.last)?;
                run.seqs
                    .iter()
                    .map(|&(at, seq)| match block.record(seq) {
                        Some(record) => Ok((at, record.to_owned())),
                        None => Err(self.out_of_range(seq)),
                    })
                    .collect()
            }
            RunSource::Record(segment) => run
                .seqs
                .iter()
                .map(|&(at, seq)| match segment.read(seq, seq + 1)?.pop() {
                    Some((record, _)) => Ok((at, record)),
                    None => Err(self.out_of_range(seq)),
                })
                .collect(),
        }
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
    fn read_runs_read_each_block_once_and_say_what_decodes() {
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
        let decoding = |seqs: &[u64]| {
            let runs = log.read_runs(seqs.iter().copied()).unwrap();
            runs.iter().filter(|run| log.decodes(run)).count()
        };
        let all: Vec<u64> = (0..300).collect();
        assert_eq!(
            log.read_runs(0..300).unwrap().len(),
            blocks + 100,
            "a run per block, one per WAL record"
        );
        assert_eq!(decoding(&all), blocks);
        assert_eq!(decoding(&all[200..]), 0, "WAL records");

        // Any order of seqs: each record comes back with its place.
        let first_block: Vec<u64> = (0..200).filter(|&s| sealed.block_of(s) == 0).collect();
        let wanted = [250, first_block[1], 0, 199, first_block[0]];
        let mut read = Vec::new();
        for run in log.read_runs(wanted).unwrap() {
            read.extend(log.read_run(&run).unwrap());
        }
        read.sort_by_key(|&(at, _)| at);
        let seqs: Vec<u64> = read.iter().map(|(_, record)| record.seq).collect();
        assert_eq!(seqs, wanted);
        for (_, record) in &read {
            assert_eq!(*record, log.read(record.seq).unwrap());
        }
        // The first block was decoded as far as the furthest record wanted
        // of it.
        assert_eq!(decoding(&first_block[..2]), 0);
        for &seq in &first_block {
            log.read(seq).unwrap();
        }
        assert_eq!(decoding(&first_block), 0);
        assert_eq!(
            decoding(&all[..200]),
            blocks - 2,
            "blocks 0 and the last are cached"
        );
        drop((sealed, log));
        store.close().unwrap();
    }
}
