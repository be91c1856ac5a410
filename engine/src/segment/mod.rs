//! Sealed segments: immutable, zstd-compressed, read through memmap2.
//!
//! - [`block`]: the column layout of a block's records.
//! - [`cache`]: the store-wide cache of decoded blocks.
//! - [`contexts`]: zstd decompression contexts, reused by every read.
//! - [`layout`]: the block index entry and footer layouts.
//! - [`writer`]: turning a run of records into a sealed file, crash-safely.
//! - [`reader`]: opening a sealed file and reading records by seq.

pub mod block;
pub mod cache;
mod contexts;
pub mod layout;
pub mod reader;
pub mod writer;

pub use cache::BlockCache;
pub use reader::SealedSegment;
pub use writer::{SealOptions, train_dictionary, write_sealed};

use crate::record::RecordRef;

/// The header of the sealed segments the unit tests write: log `[3; 16]`,
/// from seq 0, after chain hash `[4; 32]`.
#[cfg(test)]
pub(crate) fn test_header() -> crate::format::FileHeader {
    crate::format::FileHeader {
        magic: crate::format::SEG_MAGIC,
        version: crate::format::SEG_VERSION,
        log_id: [3; 16],
        first_seq: 0,
        prev_chain_hash: [4; 32],
        frame_salt: 0,
    }
}

/// Record count, body bytes and time bounds of a run of records.
///
/// `min_time`/`max_time` bound the events' `time` (the ingest time stands in
/// for a record whose body is redacted); `min_ingest`/`max_ingest` bound the
/// ingest times. With no records the minimums are `i64::MAX` and the maximums
/// `i64::MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    /// Number of records.
    pub records: u64,
    /// Sum of the stored body lengths.
    pub body_bytes: u64,
    /// Earliest event time.
    pub min_time: i64,
    /// Latest event time.
    pub max_time: i64,
    /// Earliest ingest time.
    pub min_ingest: i64,
    /// Latest ingest time.
    pub max_ingest: i64,
}

impl Default for SegmentStats {
    fn default() -> Self {
        SegmentStats {
            records: 0,
            body_bytes: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            min_ingest: i64::MAX,
            max_ingest: i64::MIN,
        }
    }
}

impl SegmentStats {
    /// Counts one record.
    pub fn add(&mut self, record: &RecordRef<'_>) {
        self.add_event(record.time(), record.ingest_time, record.body_len());
    }

    /// Counts one record given its event time, ingest time and body length.
    pub fn add_event(&mut self, time: i64, ingest: i64, body_len: usize) {
        self.records += 1;
        self.body_bytes += body_len as u64;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
        self.min_ingest = self.min_ingest.min(ingest);
        self.max_ingest = self.max_ingest.max(ingest);
    }

    /// Adds the records counted by `other`.
    pub fn merge(&mut self, other: &SegmentStats) {
        self.records += other.records;
        self.body_bytes += other.body_bytes;
        self.min_time = self.min_time.min(other.min_time);
        self.max_time = self.max_time.max(other.max_time);
        self.min_ingest = self.min_ingest.min(other.min_ingest);
        self.max_ingest = self.max_ingest.max(other.max_ingest);
    }
}
