//! Byte layout of a sealed segment file (format version 1).
//!
//! ```text
//! Format: sealed segment = {
//!   file header (80 bytes, see format.rs, magic "STELESEG")
//!   blocks: zstd frames, each one block of records (block.rs)
//!   dictionary: the zstd dictionary the blocks were compressed with (may be empty)
//!   block index: BLOCK_META_LEN bytes per block
//!   footer: FOOTER_LEN bytes }
//!
//! block meta (80 bytes) = { first_seq: u64 | count: u32 | offset: u64
//!   | compressed_len: u32 | uncompressed_len: u32 | crc32: u32 of the
//!   compressed bytes | min_time: i64 | max_time: i64 | prev_chain_hash: [u8; 32] }
//!
//! footer (128 bytes) = { index_offset: u64 | block_count: u32 | index_crc: u32
//!   | dictionary_offset: u64 | dictionary_len: u32 | dictionary_crc: u32
//!   | record_count: u64 | body_bytes: u64 | min_time: i64 | max_time: i64
//!   | min_ingest: i64 | max_ingest: i64 | last_chain_hash: [u8; 32]
//!   | version: u16 | reserved: u16 | crc32: u32 of footer bytes 0..116
//!   | magic: [u8; 8] = "STELESEG" }
//! ```

use crate::chain::Hash;
use crate::format::{SEG_MAGIC, SEG_VERSION, hash_at, i64_at, u32_at, u64_at};
use crate::segment::SegmentStats;

/// Length of one block index entry.
pub const BLOCK_META_LEN: usize = 80;
/// Length of the footer.
pub const FOOTER_LEN: usize = 128;
/// Offset of the footer checksum inside the footer.
pub const FOOTER_CRC_AT: usize = 116;

/// Where a block is and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// Seq of its first record.
    pub first_seq: u64,
    /// Number of records.
    pub count: u32,
    /// File offset of the compressed bytes.
    pub offset: u64,
    /// Length of the compressed bytes.
    pub compressed_len: u32,
    /// Length once decompressed.
    pub uncompressed_len: u32,
    /// CRC-32 of the compressed bytes.
    pub crc32: u32,
    /// Earliest event time in the block.
    pub min_time: i64,
    /// Latest event time in the block.
    pub max_time: i64,
    /// Chain hash before the block's first record.
    pub prev_chain_hash: Hash,
}

impl BlockMeta {
    /// Appends the encoded entry.
    // Format: { first_seq | count | offset | compressed_len | uncompressed_len | crc32 | min_time | max_time | prev_chain_hash }
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first_seq.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.compressed_len.to_le_bytes());
        out.extend_from_slice(&self.uncompressed_len.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(&self.min_time.to_le_bytes());
        out.extend_from_slice(&self.max_time.to_le_bytes());
        out.extend_from_slice(&self.prev_chain_hash);
    }

    /// Decodes an entry from exactly [`BLOCK_META_LEN`] bytes.
    pub fn decode(buf: &[u8]) -> BlockMeta {
        BlockMeta {
            first_seq: u64_at(buf, 0),
            count: u32_at(buf, 8),
            offset: u64_at(buf, 12),
            compressed_len: u32_at(buf, 20),
            uncompressed_len: u32_at(buf, 24),
            crc32: u32_at(buf, 28),
            min_time: i64_at(buf, 32),
            max_time: i64_at(buf, 40),
            prev_chain_hash: hash_at(buf, 48),
        }
    }
}

/// The footer: where the index is, and what the whole segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// File offset of the block index.
    pub index_offset: u64,
    /// Number of blocks.
    pub block_count: u32,
    /// CRC-32 of the block index.
    pub index_crc: u32,
    /// File offset of the zstd dictionary (right after the last block).
    pub dictionary_offset: u64,
    /// Its length; 0 when blocks were compressed without one.
    pub dictionary_len: u32,
    /// CRC-32 of the dictionary.
    pub dictionary_crc: u32,
    /// Record count, body bytes, time bounds.
    pub stats: SegmentStats,
    /// Chain hash after the last record.
    pub last_chain_hash: Hash,
}

impl Footer {
    /// The encoded footer.
    // Format: { index_offset | block_count | index_crc | dictionary_offset | dictionary_len | dictionary_crc | record_count | body_bytes | min_time | max_time | min_ingest | max_ingest | last_chain_hash | version | reserved | crc32 | magic }
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut out = [0u8; FOOTER_LEN];
        out[0..8].copy_from_slice(&self.index_offset.to_le_bytes());
        out[8..12].copy_from_slice(&self.block_count.to_le_bytes());
        out[12..16].copy_from_slice(&self.index_crc.to_le_bytes());
        out[16..24].copy_from_slice(&self.dictionary_offset.to_le_bytes());
        out[24..28].copy_from_slice(&self.dictionary_len.to_le_bytes());
        out[28..32].copy_from_slice(&self.dictionary_crc.to_le_bytes());
        out[32..40].copy_from_slice(&self.stats.records.to_le_bytes());
        out[40..48].copy_from_slice(&self.stats.body_bytes.to_le_bytes());
        out[48..56].copy_from_slice(&self.stats.min_time.to_le_bytes());
        out[56..64].copy_from_slice(&self.stats.max_time.to_le_bytes());
        out[64..72].copy_from_slice(&self.stats.min_ingest.to_le_bytes());
        out[72..80].copy_from_slice(&self.stats.max_ingest.to_le_bytes());
        out[80..112].copy_from_slice(&self.last_chain_hash);
        out[112..114].copy_from_slice(&SEG_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&out[..FOOTER_CRC_AT]);
        out[FOOTER_CRC_AT..120].copy_from_slice(&crc.to_le_bytes());
        out[120..128].copy_from_slice(&SEG_MAGIC);
        out
    }

    /// Decodes and checks a footer.
    ///
    /// # Errors
    /// The first failed check, as a reason and an offset inside the footer.
    pub fn decode(buf: &[u8]) -> Result<Footer, (usize, String)> {
        if buf[120..128] != SEG_MAGIC {
            return Err((120, "bad footer magic".into()));
        }
        if crc32fast::hash(&buf[..FOOTER_CRC_AT]) != u32_at(buf, FOOTER_CRC_AT) {
            return Err((FOOTER_CRC_AT, "footer checksum mismatch".into()));
        }
        let version = u16::from_le_bytes([buf[112], buf[113]]);
        if version == 0 || version > SEG_VERSION {
            return Err((112, format!("footer version {version} is not supported")));
        }
        Ok(Footer {
            index_offset: u64_at(buf, 0),
            block_count: u32_at(buf, 8),
            index_crc: u32_at(buf, 12),
            dictionary_offset: u64_at(buf, 16),
            dictionary_len: u32_at(buf, 24),
            dictionary_crc: u32_at(buf, 28),
            stats: SegmentStats {
                records: u64_at(buf, 32),
                body_bytes: u64_at(buf, 40),
                min_time: i64_at(buf, 48),
                max_time: i64_at(buf, 56),
                min_ingest: i64_at(buf, 64),
                max_ingest: i64_at(buf, 72),
            },
            last_chain_hash: hash_at(buf, 80),
        })
    }
}
