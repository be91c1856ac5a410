//! Writing a sealed segment (DESIGN guarantee 4).
//!
//! The file is written under a temporary name, fsynced, renamed into place,
//! the directory fsynced, and only then made read-only. A crash at any point
//! leaves either no sealed file (a stray `.tmp` that the next open removes) or
//! a complete, durable one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zstd::dict::EncoderDictionary;

use super::SegmentStats;
use super::block::BlockBuilder;
use super::layout::{BlockMeta, Footer};
use crate::chain::{self, Hash};
use crate::error::{Error, Result};
use crate::files::{fsync_dir, set_read_only, tmp_path};
use crate::format::FileHeader;
use crate::pools;
use crate::record::Record;

/// Largest zstd block inside a sealed block's frame: a read that wants one
/// record decodes the frame only up to the zstd block that ends past it.
/// Against zstd's own 128 KiB, it costs under 1% of size (docs/decisions.md,
/// "Reads decode a block only as far as the record wanted").
pub const ZSTD_BLOCK_MAX: u32 = 32 << 10;

/// How sealed segments are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SealOptions {
    /// Uncompressed bytes per block: larger compresses better, smaller reads
    /// a single record faster.
    pub block_bytes: usize,
    /// zstd compression level.
    pub zstd_level: i32,
    /// Largest zstd dictionary trained from a segment's bodies and stored in
    /// it (0: none). A dictionary lets small blocks compress like big ones.
    pub dictionary_bytes: usize,
}

impl Default for SealOptions {
    fn default() -> Self {
        SealOptions {
            block_bytes: 128 << 10,
            zstd_level: 9,
            dictionary_bytes: 1 << 20,
        }
    }
}

/// Trains a zstd dictionary of at most `max_bytes` from sample bodies, or
/// `None` when there is too little to learn from (training needs many
/// samples, and a dictionary larger than a fraction of the data never pays).
pub fn train_dictionary(samples: &[Vec<u8>], max_bytes: usize) -> Option<Vec<u8>> {
    let total: usize = samples.iter().map(Vec::len).sum();
    let size = max_bytes.min(total / 16);
    if size < 1024 || samples.len() < 256 {
        return None;
    }
    match fast_cover(samples, size) {
        Ok(dictionary) => Some(dictionary),
        Err(error) => {
            tracing::debug!(%error, samples = samples.len(), "no dictionary trained");
            None
        }
    }
}

/// zstd's fastCover training at fixed parameters: segment size `k` 1024,
/// dmer size `d` 8, acceleration 4 (frequencies counted at one position in
/// four, the entropy tables finished on a quarter of the samples), the rest
/// zstd's defaults.
///
/// zstd's default entry point (`ZDICT_trainFromBuffer`, what
/// `zstd::dict::from_samples` calls) tries four values of `k`, training and
/// test-compressing a dictionary for each, which took four times as long
/// for no smaller segment: on both event profiles it picks 1024 to 2000,
/// and 1024 alone compresses as well (docs/decisions.md, "Seal
/// dictionaries trained at fixed parameters").
fn fast_cover(samples: &[Vec<u8>], size: usize) -> Result<Vec<u8>, String> {
    use zstd_sys::{
        ZDICT_fastCover_params_t, ZDICT_getErrorName, ZDICT_isError, ZDICT_params_t,
        ZDICT_trainFromBuffer_fastCover,
    };
    let count = u32::try_from(samples.len()).map_err(|_| "too many samples".to_string())?;
    let data = samples.concat();
    let sizes: Vec<usize> = samples.iter().map(Vec::len).collect();
    let mut out = vec![0u8; size];
    let params = ZDICT_fastCover_params_t {
        k: 1024,
        d: 8,
        f: 20,
        steps: 0,
        nbThreads: 0,
        splitPoint: 0.0,
        accel: 4,
        shrinkDict: 0,
        shrinkDictMaxRegression: 0,
        zParams: ZDICT_params_t {
            compressionLevel: 0,
            notificationLevel: 0,
            dictID: 0,
        },
    };
    // SAFETY: `out` is writable for `out.len()` bytes, `data` readable for
    // the sum of `sizes`, and `sizes` holds `count` lengths; zstd keeps no
    // pointer past the call.
    let written = unsafe {
        ZDICT_trainFromBuffer_fastCover(
            out.as_mut_ptr().cast(),
            out.len(),
            data.as_ptr().cast(),
            sizes.as_ptr(),
            count,
            params,
        )
    };
    // SAFETY: both take a return code and only read it; the error name is a
    // static C string.
    if unsafe { ZDICT_isError(written) } != 0 {
        let name = unsafe { std::ffi::CStr::from_ptr(ZDICT_getErrorName(written)) };
        return Err(name.to_string_lossy().into_owned());
    }
    out.truncate(written);
    Ok(out)
}

/// What a sealed file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealSummary {
    /// Record count, body bytes and time bounds.
    pub stats: SegmentStats,
    /// Chain hash after the last record.
    pub last_chain_hash: Hash,
    /// Size of the file.
    pub file_bytes: u64,
    /// SHA-256 of each block's compressed bytes as written, for
    /// [`SealedSegment::trust_blocks`](super::SealedSegment::trust_blocks)
    /// once the caller has checked the chain's end.
    pub block_digests: Vec<Hash>,
}

/// Writes `records` (contiguous seqs from `header.first_seq`) as the sealed
/// segment `path`, compressing blocks with `dictionary` (empty: none), which
/// is stored in the file.
///
/// # Errors
/// I/O errors naming the file, or [`Error::InvalidArgument`] when the records
/// are not contiguous.
pub fn write_sealed(
    path: &Path,
    header: &FileHeader,
    records: impl IntoIterator<Item = Result<Record>>,
    options: &SealOptions,
    dictionary: &[u8],
) -> Result<SealSummary> {
    let tmp = tmp_path(path);
    let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    let mut builder = Builder {
        out: BufWriter::with_capacity(1 << 20, file),
        path: &tmp,
        pos: 0,
        dictionary: EncoderDictionary::copy(dictionary, options.zstd_level),
        blocks: Vec::new(),
        digests: Vec::new(),
        pending: Vec::new(),
        block: BlockBuilder::default(),
        block_stats: SegmentStats::default(),
        block_prev: header.prev_chain_hash,
    };
    builder.write(&header.encode())?;
    let mut stats = SegmentStats::default();
    let mut chain_hash = header.prev_chain_hash;
    for record in records {
        let record = record?;
        let expected = header.first_seq + stats.records;
        if record.seq != expected {
            return Err(Error::invalid(
                "records to seal",
                format!("got seq {}, expected {expected}", record.seq),
            ));
        }
        chain_hash = chain::link(&chain_hash, &record.leaf_hash());
        stats.add(&record.view());
        builder.block_stats.add(&record.view());
        builder.block.push(&record.view());
        if builder.block.encoded_len() >= options.block_bytes {
            builder.finish_block(header.first_seq + stats.records, chain_hash)?;
        }
    }
    builder.finish_block(header.first_seq + stats.records, chain_hash)?;
    builder.write_pending()?;
    let dictionary_offset = builder.pos;
    builder.write(dictionary)?;

    let mut index = Vec::with_capacity(builder.blocks.len() * super::layout::BLOCK_META_LEN);
    for meta in &builder.blocks {
        meta.encode_into(&mut index);
    }
    let footer = Footer {
        index_offset: builder.pos,
        block_count: builder.blocks.len() as u32,
        index_crc: crc32fast::hash(&index),
        dictionary_offset,
        dictionary_len: dictionary.len() as u32,
        dictionary_crc: crc32fast::hash(dictionary),
        stats,
        last_chain_hash: chain_hash,
    };
    builder.write(&index)?;
    builder.write(&footer.encode())?;
    let file_bytes = builder.pos;
    let file = builder
        .out
        .into_inner()
        .map_err(|e| Error::io("write", &tmp)(e.into_error()))?;
    file.sync_all().map_err(Error::io("fsync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
    set_read_only(path)?;
    Ok(SealSummary {
        stats,
        last_chain_hash: chain_hash,
        file_bytes,
        block_digests: builder.digests,
    })
}

/// Blocks compressed together, in parallel, before being written in order.
const PARALLEL_BLOCKS: usize = 16;

struct Builder<'a> {
    out: BufWriter<File>,
    path: &'a Path,
    pos: u64,
    dictionary: EncoderDictionary<'static>,
    /// Blocks written so far.
    blocks: Vec<BlockMeta>,
    /// SHA-256 of each of their compressed bytes.
    digests: Vec<Hash>,
    /// Finished blocks waiting to be compressed and written; their metas
    /// lack offset, compressed length and CRC.
    pending: Vec<(Vec<u8>, BlockMeta)>,
    block: BlockBuilder,
    block_stats: SegmentStats,
    block_prev: Hash,
}

impl Builder<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(Error::io("write", self.path))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Ends the block being built, if any; `next_seq` and `chain_hash` are
    /// the seq and chain hash after its last record.
    fn finish_block(&mut self, next_seq: u64, chain_hash: Hash) -> Result<()> {
        if self.block.count() == 0 {
            return Ok(());
        }
        let raw = self.block.take();
        let count = self.block_stats.records as u32;
        let meta = BlockMeta {
            first_seq: next_seq - u64::from(count),
            count,
            offset: 0,
            compressed_len: 0,
            uncompressed_len: raw.len() as u32,
            crc32: 0,
            min_time: self.block_stats.min_time,
            max_time: self.block_stats.max_time,
            prev_chain_hash: self.block_prev,
        };
        self.pending.push((raw, meta));
        self.block_stats = SegmentStats::default();
        self.block_prev = chain_hash;
        if self.pending.len() >= PARALLEL_BLOCKS {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Compresses the pending blocks on every core ([`pools::compression`]),
    /// then writes them in order.
    fn write_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let dictionary = &self.dictionary;
        let compress = || {
            let per_thread = pending.len().div_ceil(rayon::current_num_threads()).max(1);
            pending
                .par_chunks(per_thread)
                .map(|chunk| {
                    let mut compressor =
                        zstd::bulk::Compressor::with_prepared_dictionary(dictionary)?;
                    // Search the dictionary where it is: for a block larger
                    // than 32 KiB zstd would otherwise copy the dictionary's
                    // match tables (about 10 MiB at level 9) into the context
                    // for every block (docs/decisions.md).
                    compressor.set_parameter(zstd::stream::raw::CParameter::ForceAttachDict(
                        zstd::zstd_safe::DictAttachPref::ForceAttach,
                    ))?;
                    // Frames of several zstd blocks ([`ZSTD_BLOCK_MAX`]).
                    compressor.set_parameter(zstd::stream::raw::CParameter::MaxBlockSize(
                        ZSTD_BLOCK_MAX,
                    ))?;
                    chunk
                        .iter()
                        .map(|(raw, _)| compressor.compress(raw))
                        .collect()
                })
                .collect::<Vec<std::io::Result<Vec<Vec<u8>>>>>()
        };
        let compressed = pools::install(pools::compression(), compress);
        let mut metas = pending.into_iter().map(|(_, meta)| meta);
        for chunk in compressed {
            for bytes in chunk.map_err(Error::io("compress block for", self.path))? {
                let mut meta = metas.next().expect("one meta per compressed block");
                meta.offset = self.pos;
                meta.compressed_len = bytes.len() as u32;
                meta.crc32 = crc32fast::hash(&bytes);
                self.digests.push(Sha256::digest(&bytes).into());
                self.write(&bytes)?;
                self.blocks.push(meta);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBody;
    use crate::segment::SealedSegment;

    fn records() -> Vec<Record> {
        (0..3000u64)
            .map(|seq| Record {
                seq,
                ingest_time: 1_000 + (seq / 100) as i64,
                body: RecordBody::Stored(
                    format!(
                        "{{\"actor\":\"user-{}\",\"action\":\"repo.{}\",\"n\":{seq}}}",
                        seq % 37,
                        ["push", "clone", "delete"][(seq % 3) as usize]
                    )
                    .into_bytes(),
                ),
            })
            .collect()
    }

    /// The bodies of [`records`], as dictionary samples.
    fn bodies() -> Vec<Vec<u8>> {
        records()
            .into_iter()
            .map(|r| match r.body {
                RecordBody::Stored(b) => b,
                RecordBody::Redacted(_) => unreachable!(),
            })
            .collect()
    }

    fn seal(dir: &Path, name: &str, dictionary: &[u8]) -> (SealSummary, SealedSegment) {
        let path = dir.join(name);
        let header = crate::segment::test_header();
        // Small blocks: where a dictionary matters most.
        let options = SealOptions {
            block_bytes: 512,
            ..SealOptions::default()
        };
        let summary = write_sealed(
            &path,
            &header,
            records().into_iter().map(Ok),
            &options,
            dictionary,
        )
        .unwrap();
        (summary, SealedSegment::open(&path).unwrap())
    }

    #[test]
    fn a_trained_dictionary_is_stored_used_and_pays_for_itself() {
        let dir = tempfile::tempdir().unwrap();
        let samples = bodies();
        let dictionary = train_dictionary(&samples, 2 << 10).expect("enough samples");
        let (plain, _) = seal(dir.path(), "plain.seg", &[]);
        let (with_dict, segment) = seal(dir.path(), "dict.seg", &dictionary);
        assert!(
            with_dict.file_bytes < plain.file_bytes,
            "{} vs {}",
            with_dict.file_bytes,
            plain.file_bytes
        );
        assert_eq!(with_dict.last_chain_hash, plain.last_chain_hash);
        let back: Vec<Record> = segment
            .read(0, 3000)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(back, records());
    }

    /// Training at fixed parameters loses nothing measurable against zstd's
    /// own search over them (which `zstd::dict::from_samples` runs).
    #[test]
    fn fixed_parameters_compress_like_zstds_search() {
        let samples = bodies();
        let compressed = |dictionary: &[u8]| -> usize {
            let mut c = zstd::bulk::Compressor::with_dictionary(9, dictionary).unwrap();
            samples
                .chunks(16)
                .map(|chunk| c.compress(&chunk.concat()).unwrap().len())
                .sum()
        };
        let fixed = train_dictionary(&samples, 4 << 10).expect("enough samples");
        let searched = zstd::dict::from_samples(&samples, fixed.len()).unwrap();
        let (fixed, searched) = (compressed(&fixed), compressed(&searched));
        assert!(
            fixed as f64 <= searched as f64 * 1.03,
            "fixed parameters: {fixed} bytes; zstd's search: {searched}"
        );
    }

    #[test]
    fn too_few_samples_train_no_dictionary() {
        assert!(train_dictionary(&vec![b"tiny".to_vec(); 10], 1 << 20).is_none());
    }
}
