//! Reading a WAL file back: recovery and offline verification.
//!
//! # Invariants
//! - Every frame before `valid_len` passed its checksum, its records have
//!   contiguous seqs starting at the header's `first_seq`, and every stored
//!   chain hash equals the one recomputed from the stored bytes.
//! - A torn tail is only ever the last frame: a bad frame followed by any
//!   intact frame is corruption, reported with its offset, never dropped.

use std::path::Path;

use super::frame::{FRAME_HEADER_LEN, FRAME_MAGIC, check_frame, decode_payload};
use crate::chain::{self, Hash};
use crate::error::{Error, Result};
use crate::format::{FILE_HEADER_LEN, FileHeader, WAL_MAGIC, WAL_VERSION, u32_at};
use crate::segment::SegmentStats;

/// Where one record lives in a WAL file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalEntry {
    /// File offset of the encoded record.
    pub offset: u64,
    /// Encoded record length (without the chain hash that follows it).
    pub len: u32,
    /// Chain hash after this record.
    pub chain_hash: Hash,
}

/// A torn last frame that recovery drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// File offset where the torn frame starts; the file is cut here.
    pub offset: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// Why the frame is not intact.
    pub reason: String,
}

/// What a WAL file holds.
#[derive(Debug, Clone)]
pub struct WalScan {
    /// The file header.
    pub header: FileHeader,
    /// Every intact record, in seq order.
    pub entries: Vec<WalEntry>,
    /// Length of the intact prefix of the file.
    pub valid_len: u64,
    /// The torn last frame, if any.
    pub torn: Option<TornTail>,
    /// Record count, time bounds and body bytes of the intact records.
    pub stats: SegmentStats,
}

impl WalScan {
    /// Seq the next record appended after this file would get.
    pub fn next_seq(&self) -> u64 {
        self.header.first_seq + self.entries.len() as u64
    }

    /// Chain hash after the last intact record.
    pub fn last_chain_hash(&self) -> Hash {
        self.entries
            .last()
            .map_or(self.header.prev_chain_hash, |e| e.chain_hash)
    }
}

/// Scans the bytes of the WAL file `path`.
///
/// # Errors
/// [`Error::Corrupted`] with the offset of the first damage that is not a
/// torn tail.
pub fn scan_wal(bytes: &[u8], path: &Path) -> Result<WalScan> {
    let header = FileHeader::decode(bytes, WAL_MAGIC, WAL_VERSION)
        .map_err(|reason| Error::corrupted(path, 0, reason))?;
    let mut entries = Vec::new();
    let mut stats = SegmentStats::default();
    let mut prev = header.prev_chain_hash;
    let mut pos = FILE_HEADER_LEN;
    let mut torn = None;
    while pos < bytes.len() {
        let payload = match check_frame(&bytes[pos..], header.frame_salt) {
            Ok(payload) => payload,
            Err(reason) => {
                if let Some(following) = frame_after(bytes, pos + 1, header.frame_salt) {
                    return Err(Error::corrupted(
                        path,
                        pos as u64,
                        format!("{reason}, and {following}"),
                    ));
                }
                torn = Some(TornTail {
                    offset: pos as u64,
                    dropped_bytes: (bytes.len() - pos) as u64,
                    reason,
                });
                break;
            }
        };
        let payload_at = pos + FRAME_HEADER_LEN;
        let records = decode_payload(payload)
            .map_err(|(at, reason)| Error::corrupted(path, (payload_at + at) as u64, reason))?;
        for r in records {
            let offset = (payload_at + r.offset) as u64;
            let expected_seq = header
                .first_seq
                .checked_add(entries.len() as u64 + 1)
                .map(|after| after - 1)
                .ok_or_else(|| Error::corrupted(path, offset, "seqs run past the largest seq"))?;
            if r.record.seq != expected_seq {
                return Err(Error::corrupted(
                    path,
                    offset,
                    format!("record has seq {}, expected {expected_seq}", r.record.seq),
                ));
            }
            let chain_hash = chain::link(&prev, &r.record.leaf_hash());
            if chain_hash != r.chain_hash {
                return Err(Error::corrupted(
                    path,
                    offset,
                    format!(
                        "seq {expected_seq}: stored chain hash does not match the one recomputed from the stored bytes"
                    ),
                ));
            }
            stats.add(&r.record);
            prev = chain_hash;
            entries.push(WalEntry {
                offset,
                len: r.len as u32,
                chain_hash,
            });
        }
        pos = payload_at + payload.len();
    }
    Ok(WalScan {
        header,
        entries,
        valid_len: torn.as_ref().map_or(bytes.len() as u64, |t| t.offset),
        torn,
        stats,
    })
}

/// Describes the first intact frame at or after `from`, if there is one.
///
/// Checksumming every candidate could take quadratic time on crafted input
/// (many frame magics, each declaring a long payload), so the work is capped
/// at a few passes over the file; past that the answer is "cannot rule one
/// out", which the caller treats like an intact frame: refusing to drop data
/// is the safe side.
fn frame_after(bytes: &[u8], from: usize, salt: u64) -> Option<String> {
    let end = bytes.len().checked_sub(FRAME_HEADER_LEN)?;
    let mut budget = 4 * bytes.len() + (1 << 20);
    for p in from..=end {
        if bytes[p..p + 4] != FRAME_MAGIC {
            continue;
        }
        let declared = u32_at(bytes, p + 8) as usize;
        if declared > bytes.len() - p - FRAME_HEADER_LEN {
            continue; // its payload would run past the end: not intact
        }
        if declared > budget {
            return Some(format!(
                "frame-like bytes at offset {p} and after are too many to rule out an intact frame"
            ));
        }
        budget -= declared;
        if check_frame(&bytes[p..], salt).is_ok() {
            return Some(format!("an intact frame follows at offset {p}"));
        }
    }
    None
}
