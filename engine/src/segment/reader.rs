//! Reading a sealed segment through memmap2.
//!
//! Opening checks the header, the footer and the block index (magic, version,
//! checksums, contiguous seqs, offsets inside the file). Reading a block checks
//! its CRC, decompresses it with a bounded output size, and recomputes the
//! chain through it: the result must equal the next block's `prev_chain_hash`
//! (or the footer's last chain hash). A read therefore never returns bytes that
//! do not hash to the chain the file itself records.
//!
//! Once a block has passed that check on a read (for a search or a scan;
//! not in a verification, which the digest would slow by 8%), the SHA-256
//! of its compressed bytes is remembered; a later read of the block whose
//! compressed bytes have the same digest returns the same bytes, already
//! checked, and skips the chain (a hash of the compressed block is about a
//! tenth of the work: the chain hashes every record's body, twice the cost
//! of decompressing it). Bytes changed since fail the digest and are
//! checked in full. Such a read for a search also decodes the block only as
//! far as the record it wants (the block's columns come first, and the seal
//! cuts its zstd frame into zstd blocks of 32 KiB at most).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use sha2::{Digest, Sha256};
use zstd::dict::DecoderDictionary;
use zstd::zstd_safe::{InBuffer, OutBuffer};

use super::SegmentStats;
use super::block::{self, DecodedBlock, Extent};
use super::contexts;
use super::layout::{BLOCK_META_LEN, BlockMeta, FOOTER_LEN, Footer};
use crate::chain::Hash;
use crate::error::{Error, Result};
use crate::format::{FILE_HEADER_LEN, FileHeader, SEG_MAGIC, SEG_VERSION};
use crate::record::{Receipt, Record, RecordRef};

/// Largest block this reader accepts, far above what the writer produces.
const MAX_BLOCK_BYTES: u32 = 256 << 20;

/// Compressed bytes handed to zstd at a time when only the start of a
/// block is wanted: an eighth or so of a usual block's compressed size.
const PREFIX_STEP: usize = 2 << 10;

/// An open sealed segment.
pub struct SealedSegment {
    /// Unique in this process: names the segment in the block cache.
    uid: u64,
    path: PathBuf,
    map: Mmap,
    header: FileHeader,
    footer: Footer,
    blocks: Vec<BlockMeta>,
    /// The blocks' zstd dictionary (an empty one when there is none).
    dictionary: DecoderDictionary<'static>,
    /// Per block, the SHA-256 of its compressed bytes once they passed the
    /// chain check in this process.
    checked: Box<[OnceLock<Hash>]>,
}

impl std::fmt::Debug for SealedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSegment")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("footer", &self.footer)
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl SealedSegment {
    /// Opens and structurally checks the sealed file `path`.
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the file and offset of the first failed check.
    pub fn open(path: &Path) -> Result<SealedSegment> {
        let file = File::open(path).map_err(Error::io("open", path))?;
        // SAFETY: sealed files are read-only (0444) and never written in place
        // by Stele; every byte read from the map is bounds- and CRC-checked.
        let map = unsafe { Mmap::map(&file) }.map_err(Error::io("mmap", path))?;
        Self::from_map(path, map)
    }

    /// Checks an already mapped sealed segment; `path` names it in errors.
    /// (Fuzzing maps arbitrary bytes anonymously and comes in here.)
    ///
    /// # Errors
    /// As [`SealedSegment::open`].
    pub fn from_map(path: &Path, map: Mmap) -> Result<SealedSegment> {
        let bad = |offset: usize, reason: String| Error::corrupted(path, offset as u64, reason);
        let len = map.len();
        if len < FILE_HEADER_LEN + FOOTER_LEN {
            return Err(bad(
                0,
                format!("{len} bytes is too short for a sealed segment"),
            ));
        }
        let header = FileHeader::decode(&map, SEG_MAGIC, SEG_VERSION).map_err(|r| bad(0, r))?;
        let footer_at = len - FOOTER_LEN;
        let footer = Footer::decode(&map[footer_at..]).map_err(|(at, r)| bad(footer_at + at, r))?;
        let index_at = footer.index_offset as usize;
        let index_len = footer.block_count as usize * BLOCK_META_LEN;
        if footer.index_offset < FILE_HEADER_LEN as u64
            || index_at.checked_add(index_len) != Some(footer_at)
        {
            return Err(bad(
                footer_at,
                format!(
                    "footer places {} blocks' index at offset {index_at}, which does not end at the footer",
                    footer.block_count
                ),
            ));
        }
        let index = &map[index_at..footer_at];
        if crc32fast::hash(index) != footer.index_crc {
            return Err(bad(index_at, "block index checksum mismatch".into()));
        }
        let blocks: Vec<BlockMeta> = index
            .chunks_exact(BLOCK_META_LEN)
            .map(BlockMeta::decode)
            .collect();
        let mut next_seq = header.first_seq;
        let mut next_offset = FILE_HEADER_LEN as u64;
        for (i, b) in blocks.iter().enumerate() {
            let at = index_at + i * BLOCK_META_LEN;
            if b.first_seq != next_seq || b.count == 0 {
                return Err(bad(
                    at,
                    format!(
                        "block {i} starts at seq {} with {} records, expected seq {next_seq}",
                        b.first_seq, b.count
                    ),
                ));
            }
            if b.offset != next_offset || b.uncompressed_len > MAX_BLOCK_BYTES {
                return Err(bad(
                    at,
                    format!("block {i} at offset {} is out of place", b.offset),
                ));
            }
            next_seq = next_seq
                .checked_add(u64::from(b.count))
                .ok_or_else(|| bad(at, format!("block {i}: seqs run past the largest seq")))?;
            next_offset += u64::from(b.compressed_len);
        }
        if next_offset != footer.dictionary_offset
            || footer.dictionary_offset + u64::from(footer.dictionary_len) != footer.index_offset
            || next_seq - header.first_seq != footer.stats.records
        {
            return Err(bad(
                footer_at,
                format!(
                    "footer says {} records ending before offset {} and a {}-byte dictionary before the index at {}; the blocks hold {} ending at {next_offset}",
                    footer.stats.records,
                    footer.dictionary_offset,
                    footer.dictionary_len,
                    footer.index_offset,
                    next_seq - header.first_seq
                ),
            ));
        }
        let dict_at = footer.dictionary_offset as usize;
        let dict_bytes = &map[dict_at..dict_at + footer.dictionary_len as usize];
        if crc32fast::hash(dict_bytes) != footer.dictionary_crc {
            return Err(bad(dict_at, "dictionary checksum mismatch".into()));
        }
        let dictionary = DecoderDictionary::try_copy(dict_bytes)
            .map_err(|_| bad(dict_at, "the dictionary is not one zstd can load".into()))?;
        static NEXT_UID: AtomicU64 = AtomicU64::new(0);
        let checked = blocks.iter().map(|_| OnceLock::new()).collect();
        Ok(SealedSegment {
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            path: path.to_path_buf(),
            map,
            header,
            footer,
            blocks,
            dictionary,
            checked,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// Seq of the first record.
    pub fn first_seq(&self) -> u64 {
        self.header.first_seq
    }

    /// Seq after the last record.
    pub fn next_seq(&self) -> u64 {
        self.header.first_seq + self.footer.stats.records
    }

    /// Chain hash before the first record.
    pub fn prev_chain_hash(&self) -> Hash {
        self.header.prev_chain_hash
    }

    /// Chain hash after the last record.
    pub fn last_chain_hash(&self) -> Hash {
        self.footer.last_chain_hash
    }

    /// Record count, body bytes and time bounds.
    pub fn stats(&self) -> SegmentStats {
        self.footer.stats
    }

    /// Size of the file.
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Size of the zstd dictionary stored in the file (0: none).
    pub fn dictionary_len(&self) -> u32 {
        self.footer.dictionary_len
    }

    /// The block index.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// An id no other segment opened by this process has.
    pub fn uid(&self) -> u64 {
        self.uid
    }

    /// Index of the block holding `seq`, which must be in this segment.
    pub fn block_of(&self, seq: u64) -> usize {
        self.blocks.partition_point(|b| b.first_seq <= seq) - 1
    }

    /// Decompresses block `i` and checks it against the chain; later reads
    /// of the same bytes skip the chain (module docs).
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the block's offset and seqs.
    pub fn read_block(&self, i: usize) -> Result<Vec<(Record, Receipt)>> {
        let compressed = self.compressed_block(i)?;
        let mut out = Vec::with_capacity(self.blocks[i].count as usize);
        self.check_compressed(i, &compressed, |record, receipt| {
            out.push((record.to_owned(), *receipt));
        })?;
        let _ = self.checked[i].set(Sha256::digest(&compressed).into());
        Ok(out)
    }

    /// Takes `digests` (one per block, from
    /// [`SealSummary::block_digests`](super::writer::SealSummary::block_digests))
    /// as the compressed bytes of blocks that hash to the chain, as a check
    /// would: for the writer of this file, once it has compared the chain it
    /// derived from the records with the chain head they came from. A read
    /// of a block whose bytes are not these is checked in full.
    pub fn trust_blocks(&self, digests: &[Hash]) {
        for (checked, digest) in self.checked.iter().zip(digests) {
            let _ = checked.set(*digest);
        }
    }

    /// Block `i` decompressed and checked against the chain, for the block
    /// cache: whole, with its receipts; or, when its compressed bytes are
    /// ones that passed the chain before (module docs), only as far as
    /// the record at `seq` (and whatever else the last zstd block decoded
    /// holds), receipts computed when first asked for.
    ///
    /// # Errors
    /// As [`SealedSegment::read_block`].
    pub fn decoded_block(&self, i: usize, seq: u64) -> Result<DecodedBlock> {
        let meta = &self.blocks[i];
        let compressed = self.compressed_block(i)?;
        let digest: Hash = Sha256::digest(&compressed).into();
        if self.checked[i].get() == Some(&digest) {
            let last = (seq.saturating_sub(meta.first_seq) as usize)
                .min(meta.count.saturating_sub(1) as usize);
            let raw = self.decompress_prefix(i, &compressed, last)?;
            let spans = block::spans(&raw, meta.first_seq, meta.count, Extent::Prefix)
                .map_err(|reason| self.block_error(i, reason))?;
            return Ok(DecodedBlock::new(raw, spans, meta.prev_chain_hash, None));
        }
        let raw = self.decompress_block(i, &compressed)?;
        let spans = block::spans(&raw, meta.first_seq, meta.count, Extent::Whole)
            .map_err(|reason| self.block_error(i, reason))?;
        let mut receipts = Vec::with_capacity(spans.len());
        self.check_chain(i, spans.iter().map(|s| s.record(&raw)), |_, receipt| {
            receipts.push(*receipt);
        })?;
        // Another thread may have set it meanwhile, to the same digest or
        // (had the file changed in between) to the one it checked.
        let _ = self.checked[i].set(digest);
        Ok(DecodedBlock::new(
            raw,
            spans,
            meta.prev_chain_hash,
            Some(receipts),
        ))
    }

    /// Decompresses block `i`, hands each record and its receipt to `visit`,
    /// and checks the block against the chain. What `visit` saw is only valid
    /// when this returns `Ok`.
    ///
    /// # Errors
    /// [`Error::Corrupted`] naming the block's offset and seqs.
    pub fn check_block(&self, i: usize, visit: impl FnMut(RecordRef<'_>, &Receipt)) -> Result<()> {
        self.check_compressed(i, &self.compressed_block(i)?, visit)
    }

    /// [`SealedSegment::check_block`] on block `i`'s `compressed` bytes,
    /// already read and checksummed.
    fn check_compressed(
        &self,
        i: usize,
        compressed: &[u8],
        visit: impl FnMut(RecordRef<'_>, &Receipt),
    ) -> Result<()> {
        let raw = self.decompress_block(i, compressed)?;
        let meta = &self.blocks[i];
        let records = block::decode(&raw, meta.first_seq, meta.count)
            .map_err(|reason| self.block_error(i, reason))?;
        self.check_chain(i, records.into_iter(), visit)
    }

    /// Block `i`'s compressed bytes, their checksum checked. They are
    /// copied out of the map first, so that the bytes checked (by checksum
    /// here, by digest in [`SealedSegment::decoded_block`]) are the bytes
    /// decompressed even if the file changes meanwhile.
    fn compressed_block(&self, i: usize) -> Result<Vec<u8>> {
        let meta = &self.blocks[i];
        let start = meta.offset as usize;
        let compressed = self.map[start..start + meta.compressed_len as usize].to_vec();
        if crc32fast::hash(&compressed) != meta.crc32 {
            return Err(self.block_error(i, "checksum mismatch".into()));
        }
        Ok(compressed)
    }

    /// Block `i`'s `compressed` bytes decompressed, to the length the block
    /// index gives.
    fn decompress_block(&self, i: usize, compressed: &[u8]) -> Result<Vec<u8>> {
        let meta = &self.blocks[i];
        let raw = contexts::with_context(&self.dictionary, |dctx| {
            let mut raw = Vec::with_capacity(meta.uncompressed_len as usize);
            dctx.decompress(&mut raw, compressed)?;
            Ok(raw)
        })
        .map_err(|e| self.decompress_error(i, e))?;
        if raw.len() != meta.uncompressed_len as usize {
            return Err(self.length_error(i, raw.len()));
        }
        Ok(raw)
    }

    /// Block `i` decompressed to `len` bytes, not to the length its index
    /// entry gives.
    fn length_error(&self, i: usize, len: usize) -> Error {
        self.block_error(
            i,
            format!(
                "decompresses to {len} bytes, the index says {}",
                self.blocks[i].uncompressed_len
            ),
        )
    }

    /// Block `i`'s `compressed` bytes decompressed from the start up to the
    /// end of its record at index `last` at least: zstd decodes into the
    /// output a zstd block at a time (at most [`super::writer::ZSTD_BLOCK_MAX`]
    /// for blocks sealed since that cap) as the input fed reaches each one's
    /// end, and the input is fed [`PREFIX_STEP`] bytes at a time, so the
    /// decoding stops within a zstd block of what is wanted.
    fn decompress_prefix(&self, i: usize, compressed: &[u8], last: usize) -> Result<Vec<u8>> {
        let meta = &self.blocks[i];
        let mut raw: Vec<u8> = Vec::with_capacity(meta.uncompressed_len as usize);
        let columns = block::columns_len(meta.count);
        let mut wanted = columns;
        let mut fed = 0;
        // zstd decodes into `raw` itself (a stable output buffer): `raw`
        // has its whole length reserved and is never moved or grown
        // between the calls of the frame.
        let ended = contexts::with_context(&self.dictionary, |dctx| {
            loop {
                let step = &compressed[fed..compressed.len().min(fed + PREFIX_STEP)];
                let mut input = InBuffer::around(step);
                let pos = raw.len();
                let mut output = OutBuffer::around_pos(&mut raw, pos);
                let remaining = dctx.decompress_stream(&mut output, &mut input)?;
                fed += input.pos();
                if wanted == columns && raw.len() >= columns {
                    wanted = block::prefix_len(&raw, meta.count, last);
                }
                if remaining == 0 || raw.len() >= wanted || fed == compressed.len() {
                    return Ok(remaining == 0);
                }
            }
        })
        .map_err(|e| self.decompress_error(i, e))?;
        if ended && raw.len() != meta.uncompressed_len as usize {
            return Err(self.length_error(i, raw.len()));
        }
        if !ended && raw.len() < wanted {
            return Err(self.block_error(i, "its zstd frame ends early".into()));
        }
        raw.shrink_to_fit();
        Ok(raw)
    }

    /// Block `i` that zstd failed to decompress with error code `code`.
    fn decompress_error(&self, i: usize, code: usize) -> Error {
        self.block_error(
            i,
            format!(
                "does not decompress: {}",
                zstd::zstd_safe::get_error_name(code)
            ),
        )
    }

    /// Recomputes the chain through `records` (block `i`'s, in seq order),
    /// handing each with its receipt to `visit`; the result must be the
    /// hash recorded after the block.
    fn check_chain<'a>(
        &self,
        i: usize,
        records: impl Iterator<Item = RecordRef<'a>>,
        mut visit: impl FnMut(RecordRef<'a>, &Receipt),
    ) -> Result<()> {
        let mut prev = self.blocks[i].prev_chain_hash;
        for (record, receipt) in block::receipts(prev, records) {
            prev = receipt.chain_hash;
            visit(record, &receipt);
        }
        let expected = self
            .blocks
            .get(i + 1)
            .map_or(self.footer.last_chain_hash, |b| b.prev_chain_hash);
        if prev != expected {
            return Err(self.block_error(
                i,
                "the chain recomputed from the stored records does not reach the hash recorded after the block"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A block that fails a check, named by its offset and seqs.
    fn block_error(&self, i: usize, reason: String) -> Error {
        let meta = &self.blocks[i];
        let last_seq = meta.first_seq + u64::from(meta.count) - 1;
        Error::corrupted(
            &self.path,
            meta.offset,
            format!("block {i} (seqs {}..={last_seq}): {reason}", meta.first_seq),
        )
    }

    /// Reads the records `from..to`, which must lie in this segment.
    ///
    /// # Errors
    /// See [`SealedSegment::read_block`].
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<(Record, Receipt)>> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for i in self.block_of(from)..=self.block_of(to - 1) {
            out.extend(
                self.read_block(i)?
                    .into_iter()
                    .filter(|(r, _)| (from..to).contains(&r.seq)),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBody;
    use crate::segment::writer::SealSummary;
    use crate::segment::{SealOptions, write_sealed};

    /// A sealed segment of 600 records in blocks of about 4 KiB, at `path`,
    /// and what writing it returned.
    fn write(path: &Path) -> (SealedSegment, SealSummary) {
        let header = crate::segment::test_header();
        let records = (0..600u64).map(|seq| {
            Ok(Record {
                seq,
                ingest_time: 1_000 + seq as i64,
                body: RecordBody::Stored(
                    format!("{{\"n\":{seq},\"who\":\"user-{}\"}}", seq % 7).into_bytes(),
                ),
            })
        });
        let options = SealOptions {
            block_bytes: 4096,
            zstd_level: 3,
            dictionary_bytes: 0,
        };
        let summary = write_sealed(path, &header, records, &options, &[]).unwrap();
        (SealedSegment::open(path).unwrap(), summary)
    }

    /// A block a scan checked is not walked again by the reads for
    /// searches.
    #[test]
    fn a_block_checked_whole_is_not_walked_again() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = write(&dir.path().join("a.seg"));
        let meta = segment.blocks()[1];
        let last_seq = meta.first_seq + u64::from(meta.count) - 1;
        let cold = segment.decoded_block(0, 0).unwrap();
        assert!(cold.has_receipts(), "block 0 was never checked");
        let scanned = segment.read(meta.first_seq, last_seq + 1).unwrap();
        assert_eq!(scanned.len(), meta.count as usize);
        let read = segment.decoded_block(1, last_seq).unwrap();
        assert!(!read.has_receipts(), "the scan checked block 1");
        for (record, receipt) in &scanned {
            assert_eq!(
                read.get(record.seq).map(|(r, c)| (r.to_owned(), *c)),
                Some((record.clone(), *receipt))
            );
        }
    }

    /// A block read again, its compressed bytes unchanged, skips the chain;
    /// the records and receipts it gives are the checked read's.
    #[test]
    fn a_block_read_again_skips_the_chain_and_gives_the_same_receipts() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = write(&dir.path().join("a.seg"));
        assert!(segment.blocks().len() > 2);
        let i = 1;
        let meta = segment.blocks()[i];
        let last_seq = meta.first_seq + u64::from(meta.count) - 1;
        let checked = segment.decoded_block(i, meta.first_seq).unwrap();
        assert!(checked.has_receipts(), "the first read walks the chain");
        let again = segment.decoded_block(i, last_seq).unwrap();
        assert!(!again.has_receipts(), "the second does not");
        for seq in meta.first_seq..meta.first_seq + u64::from(meta.count) {
            assert_eq!(again.record(seq), checked.record(seq));
            assert_eq!(again.get(seq), checked.get(seq), "seq {seq}");
        }
        assert!(again.has_receipts(), "computed when asked for");
    }

    /// Compressed bytes other than the ones that passed are checked in
    /// full: a block whose chain fails is refused whatever was checked
    /// before.
    #[test]
    fn bytes_other_than_the_checked_ones_are_checked_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.seg");
        let (segment, _) = write(&path);
        let last = segment.blocks().len() - 1;
        let first_seq = segment.blocks()[last].first_seq;
        segment.decoded_block(last, first_seq).unwrap();
        assert!(segment.checked[last].get().is_some());
        drop(segment);
        // The hash after the last block, as the footer records it, changed
        // (and the footer's checksum with it): the last block's records no
        // longer reach it.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - FOOTER_LEN;
        let mut footer = Footer::decode(&bytes[at..]).unwrap();
        footer.last_chain_hash[0] ^= 1;
        bytes[at..].copy_from_slice(&footer.encode());
        let changed = dir.path().join("b.seg");
        std::fs::write(&changed, &bytes).unwrap();
        let segment = SealedSegment::open(&changed).unwrap();
        // As if other bytes of this block had passed before.
        segment.checked[last].set([0xAA; 32]).unwrap();
        let error = segment.decoded_block(last, first_seq).unwrap_err();
        assert!(error.to_string().contains("does not reach"), "{error}");
    }

    /// The blocks its writer vouches for are read without walking the
    /// chain from the first read on, with the receipts a check gives.
    #[test]
    fn blocks_trusted_from_their_writer_skip_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.seg");
        let (checking, summary) = write(&path);
        assert_eq!(summary.block_digests.len(), checking.blocks().len());
        let trusting = SealedSegment::open(&path).unwrap();
        trusting.trust_blocks(&summary.block_digests);
        for i in 0..trusting.blocks().len() {
            let meta = trusting.blocks()[i];
            let last_seq = meta.first_seq + u64::from(meta.count) - 1;
            let trusted = trusting.decoded_block(i, last_seq).unwrap();
            assert!(!trusted.has_receipts(), "block {i} skipped the chain");
            let checked = checking.decoded_block(i, meta.first_seq).unwrap();
            assert!(checked.has_receipts());
            for seq in meta.first_seq..meta.first_seq + u64::from(meta.count) {
                assert_eq!(trusted.get(seq), checked.get(seq), "seq {seq}");
            }
        }
    }

    /// A sealed segment of 3,000 records that compress about half, in
    /// blocks of 128 KiB (each several zstd blocks) with a dictionary, at
    /// `path`, and what writing it returned.
    fn write_large(path: &Path) -> (SealedSegment, SealSummary) {
        let header = crate::segment::test_header();
        let bodies: Vec<Vec<u8>> = (0..3000u64)
            .map(|seq| {
                let noise: String = (1..=4u64)
                    .map(|k| format!("{:016x}", (seq * 4 + k).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
                    .collect();
                format!(
                    "{{\"n\":{seq},\"actor\":\"user-{}\",\"noise\":\"{noise}\"}}",
                    seq % 13
                )
                .into_bytes()
            })
            .collect();
        let dictionary = crate::segment::train_dictionary(&bodies, 16 << 10).unwrap();
        let records = bodies.into_iter().zip(0u64..).map(|(body, seq)| {
            Ok(Record {
                seq,
                ingest_time: 1_000 + seq as i64,
                body: RecordBody::Stored(body),
            })
        });
        let options = SealOptions {
            block_bytes: 128 << 10,
            zstd_level: 3,
            dictionary_bytes: 16 << 10,
        };
        let summary = write_sealed(path, &header, records, &options, &dictionary).unwrap();
        (SealedSegment::open(path).unwrap(), summary)
    }

    /// A block read again decodes only as far as the record wanted (and
    /// the rest of the zstd block it ends in), and what it holds is what
    /// the whole, checked read gives, receipts included. It also fails if
    /// the seal stops capping its zstd blocks: a frame of one zstd block
    /// decodes whole.
    #[test]
    fn a_block_read_again_decodes_only_as_far_as_the_record_wanted() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = write_large(&dir.path().join("a.seg"));
        assert!(segment.dictionary_len() > 0);
        let meta = segment.blocks()[0];
        assert!(meta.uncompressed_len > 100_000 && meta.compressed_len > 4 * PREFIX_STEP as u32);
        let last_seq = meta.first_seq + u64::from(meta.count) - 1;
        let whole = segment.decoded_block(0, meta.first_seq).unwrap();
        assert!(whole.has_receipts() && whole.holds(last_seq));
        let first = segment.decoded_block(0, meta.first_seq).unwrap();
        assert!(first.holds(meta.first_seq) && !first.holds(last_seq));
        assert!(
            first.weight() < whole.weight() / 2,
            "{} of {}",
            first.weight(),
            whole.weight()
        );
        for seq in (meta.first_seq..=last_seq).step_by(97).chain([last_seq]) {
            let part = segment.decoded_block(0, seq).unwrap();
            assert!(part.holds(seq) && !part.has_receipts());
            assert_eq!(part.get(seq), whole.get(seq), "seq {seq}");
            if seq > meta.first_seq {
                assert_eq!(part.record(seq - 1), whole.record(seq - 1), "seq {seq} - 1");
            }
        }
    }

    /// A frame cut short or garbled is refused by a read of a block's
    /// start, naming the block, whatever the digest let through.
    #[test]
    fn a_broken_frame_fails_a_read_of_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, _) = write_large(&dir.path().join("a.seg"));
        let compressed = segment.compressed_block(0).unwrap();
        let last = segment.blocks()[0].count as usize - 1;
        let whole = segment.decompress_prefix(0, &compressed, last).unwrap();
        assert_eq!(whole.len(), segment.blocks()[0].uncompressed_len as usize);
        let cut = segment
            .decompress_prefix(0, &compressed[..compressed.len() / 2], last)
            .unwrap_err()
            .to_string();
        assert!(
            cut.contains("block 0") && cut.contains("ends early"),
            "{cut}"
        );
        let mut garbled = compressed.clone();
        garbled[..8].fill(0xFF);
        let garbled = segment
            .decompress_prefix(0, &garbled, 0)
            .unwrap_err()
            .to_string();
        assert!(garbled.contains("does not decompress"), "{garbled}");
    }

    /// The block cache replaces a block's cached start with a longer one
    /// when a later record of the block is asked for.
    #[test]
    fn the_cache_reads_past_a_cached_start_of_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, summary) = write_large(&dir.path().join("a.seg"));
        segment.trust_blocks(&summary.block_digests);
        let meta = segment.blocks()[0];
        let last_seq = meta.first_seq + u64::from(meta.count) - 1;
        let cache = crate::segment::BlockCache::new(64 << 20);
        let start = cache.block(&segment, 0, meta.first_seq).unwrap();
        assert!(!start.holds(last_seq));
        let again = cache.block(&segment, 0, meta.first_seq + 1).unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&start, &again),
            "served from the cache"
        );
        let longer = cache.block(&segment, 0, last_seq).unwrap();
        assert!(longer.holds(last_seq) && longer.holds(meta.first_seq));
        let cached = cache.block(&segment, 0, meta.first_seq).unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&longer, &cached),
            "the longer one replaced it"
        );
    }
}
