//! A WAL file as a readable segment: the active one, or one waiting to be
//! sealed.
//!
//! # Invariants
//! - `entries[i]` is the record at seq `first_seq + i`; entries are only ever
//!   pushed, by the single writer, after their frame is written.
//! - Every read recomputes the record's leaf and chain hash from the bytes it
//!   read and compares them with the chain hash computed at append or
//!   recovery, so a byte changed on disk afterwards is an error, never data.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use super::frame::CHAIN_HASH_LEN;
use super::scan::WalEntry;
use crate::chain::{self, Hash};
use crate::error::{Error, Result};
use crate::format::{FILE_HEADER_LEN, FileHeader};
use crate::record::{Receipt, Record};
use crate::segment::SegmentStats;

/// A readable WAL segment.
#[derive(Debug)]
pub struct WalSegment {
    path: PathBuf,
    file: File,
    header: FileHeader,
    state: RwLock<WalState>,
}

#[derive(Debug)]
struct WalState {
    entries: Vec<WalEntry>,
    stats: SegmentStats,
    file_len: u64,
}

impl WalSegment {
    /// Wraps an open WAL file whose intact content is `entries`.
    pub fn new(
        path: PathBuf,
        file: File,
        header: FileHeader,
        entries: Vec<WalEntry>,
        stats: SegmentStats,
        file_len: u64,
    ) -> WalSegment {
        WalSegment {
            path,
            file,
            header,
            state: RwLock::new(WalState {
                entries,
                stats,
                file_len,
            }),
        }
    }

    /// Creates the empty WAL file `path` (crash-safely, see
    /// [`super::file::create`]) holding only `header`.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn create(path: PathBuf, header: FileHeader) -> Result<WalSegment> {
        let file = super::file::create(&path, &header)?;
        Ok(WalSegment::new(
            path,
            file,
            header,
            Vec::new(),
            SegmentStats::default(),
            FILE_HEADER_LEN as u64,
        ))
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file handle (shared by the writer and readers).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Seq of the first record.
    pub fn first_seq(&self) -> u64 {
        self.header.first_seq
    }

    /// Chain hash before the first record.
    pub fn prev_chain_hash(&self) -> Hash {
        self.header.prev_chain_hash
    }

    /// Seq after the last written record.
    pub fn next_seq(&self) -> u64 {
        self.header.first_seq + self.state.read().entries.len() as u64
    }

    /// Record count, body bytes and time bounds of the written records.
    pub fn stats(&self) -> SegmentStats {
        self.state.read().stats
    }

    /// Bytes written to the file.
    pub fn file_len(&self) -> u64 {
        self.state.read().file_len
    }

    /// Chain hash after the last written record.
    pub fn last_chain_hash(&self) -> Hash {
        self.state
            .read()
            .entries
            .last()
            .map_or(self.header.prev_chain_hash, |e| e.chain_hash)
    }

    /// Records a written frame's records.
    pub fn push(&self, entries: &[WalEntry], stats: &SegmentStats, file_len: u64) {
        let mut state = self.state.write();
        state.entries.extend_from_slice(entries);
        state.stats.merge(stats);
        state.file_len = file_len;
    }

    /// Reads the records `from..to`, which must have been pushed.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when the bytes on disk no longer hash to the chain.
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<(Record, Receipt)>> {
        let loaded = self.load(from, to)?;
        let mut prev = loaded.prev;
        let mut out = Vec::with_capacity(loaded.entries.len());
        for i in 0..loaded.entries.len() {
            let record = loaded.record(i, &self.path)?;
            let entry = loaded.entries[i];
            let leaf_hash = record.leaf_hash();
            let chain_hash = chain::link(&prev, &leaf_hash);
            if chain_hash != entry.chain_hash {
                return Err(Error::corrupted(
                    &self.path,
                    entry.offset,
                    format!(
                        "seq {}: the stored record changed since it was appended",
                        record.seq
                    ),
                ));
            }
            prev = chain_hash;
            let seq = record.seq;
            out.push((
                record,
                Receipt {
                    seq,
                    leaf_hash,
                    chain_hash,
                },
            ));
        }
        Ok(out)
    }

    /// Reads the records `from..to` (which must have been pushed) without
    /// hashing them again: for sealing, which derives the chain from them
    /// anyway and compares its end with [`WalSegment::last_chain_hash`]
    /// before the sealed file takes the WAL's place (a changed record
    /// changes every chain hash after it); [`WalSegment::read`] then names
    /// the record.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when a record does not decode or is not at its
    /// seq.
    pub fn read_unhashed(&self, from: u64, to: u64) -> Result<Vec<Record>> {
        let loaded = self.load(from, to)?;
        (0..loaded.entries.len())
            .map(|i| loaded.record(i, &self.path))
            .collect()
    }

    /// The bytes of the records `from..to`, with their entries.
    fn load(&self, from: u64, to: u64) -> Result<Loaded> {
        if from >= to {
            return Ok(Loaded::default());
        }
        let (entries, prev) = {
            let state = self.state.read();
            let lo = (from - self.header.first_seq) as usize;
            let hi = (to - self.header.first_seq) as usize;
            let prev = if lo == 0 {
                self.header.prev_chain_hash
            } else {
                state.entries[lo - 1].chain_hash
            };
            (state.entries[lo..hi].to_vec(), prev)
        };
        let (first, last) = (entries[0], entries[entries.len() - 1]);
        let start = first.offset;
        let end = last.offset + u64::from(last.len) + CHAIN_HASH_LEN as u64;
        let mut bytes = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut bytes, start)
            .map_err(Error::io("read", &self.path))?;
        Ok(Loaded {
            from,
            entries,
            prev,
            bytes,
            start,
        })
    }
}

/// A run of records read from a WAL, not decoded yet.
#[derive(Default)]
struct Loaded {
    /// Seq of the first record.
    from: u64,
    entries: Vec<WalEntry>,
    /// Chain hash before the first.
    prev: Hash,
    /// The file's bytes from the first record's offset.
    bytes: Vec<u8>,
    /// Offset of `bytes` in the file.
    start: u64,
}

impl Loaded {
    /// The `i`th record, checked to be at its seq; `path` names the WAL in
    /// errors.
    fn record(&self, i: usize, path: &Path) -> Result<Record> {
        let entry = self.entries[i];
        let seq = self.from + i as u64;
        let at = (entry.offset - self.start) as usize;
        let damaged = |reason: String| Error::corrupted(path, entry.offset, reason);
        let (record, _) = Record::decode(&self.bytes[at..at + entry.len as usize])
            .map_err(|e| damaged(format!("seq {seq}: {e}")))?;
        if record.seq != seq {
            return Err(damaged(format!(
                "seq {seq}: the stored record changed since it was appended"
            )));
        }
        Ok(record)
    }
}
