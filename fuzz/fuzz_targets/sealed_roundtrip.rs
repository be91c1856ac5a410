//! `sealed_roundtrip`: fuzz-chosen records written as a real sealed segment
//! with `write_sealed` (4 KiB blocks, zstd level 1, with no dictionary or a
//! trained one, as the fuzzer chooses) in a temporary directory, read back,
//! then read again from a copy with one fuzz-chosen byte flipped.
//!
//! Checks that:
//! - the writer accepts contiguous records and reports their statistics and
//!   final chain hash;
//! - `SealedSegment::open` and `read_block` of every block return exactly the
//!   records written, with receipts carrying the chain recomputed from the
//!   normative definition, and `read` of the whole range agrees;
//! - on the damaged copy (mapped anonymously, through `from_map`), any record
//!   a block read returns equals the original at that seq, with the original
//!   receipt: a read never passes altered data as valid; and since every byte
//!   of a sealed file is under a checksum, the flip is always reported, by
//!   `from_map` or by the read of some block.
//!
//! Writing fsyncs the file and its directory: run with `TMPDIR=/dev/shm` (or
//! another tmpfs) to keep the fuzzer fast.
#![no_main]

use std::num::NonZeroU8;
use std::path::Path;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use memmap2::MmapMut;
use stele_engine::format::{SEG_MAGIC, SEG_VERSION};
use stele_engine::segment::{SealOptions, SealedSegment, write_sealed};
use stele_engine::{Receipt, Record};
use stele_fuzz::build::{
    FuzzHeader, FuzzRecord, chain_hashes, expected_stats, records_from, trained_dictionary,
};

/// The fuzzer's description of a segment and of the damage to its copy.
#[derive(Arbitrary, Debug)]
struct Input {
    header: FuzzHeader,
    records: Vec<FuzzRecord>,
    /// Compress with `stele_fuzz::build::trained_dictionary`, else with none.
    dictionary: bool,
    /// The byte at `flip_at % len` of the copy is XORed with `flip_xor`.
    flip_at: u32,
    flip_xor: NonZeroU8,
}

/// Small blocks, so that a few KiB of input make several of them;
/// `dictionary_bytes` is only read by the log's sealing, not `write_sealed`.
const OPTIONS: SealOptions = SealOptions {
    block_bytes: 4096,
    zstd_level: 1,
    dictionary_bytes: 4 << 10,
};

fuzz_target!(|input: Input| {
    let header = input
        .header
        .header(SEG_MAGIC, SEG_VERSION, input.records.len());
    let records = records_from(header.first_seq, &input.records);
    let hashes = chain_hashes(&header.prev_chain_hash, &records);
    let expected: Vec<(Record, Receipt)> = records
        .iter()
        .zip(&hashes)
        .map(|(r, chain_hash)| {
            let receipt = Receipt {
                seq: r.seq,
                leaf_hash: r.leaf_hash(),
                chain_hash: *chain_hash,
            };
            (r.clone(), receipt)
        })
        .collect();
    let last_chain_hash = hashes.last().copied().unwrap_or(header.prev_chain_hash);

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("fuzz.seg");
    let dictionary = if input.dictionary {
        trained_dictionary()
    } else {
        &[]
    };
    let summary = write_sealed(
        &path,
        &header,
        records.iter().cloned().map(Ok),
        &OPTIONS,
        dictionary,
    )
    .expect("write_sealed of contiguous records");
    assert_eq!(summary.stats, expected_stats(&records), "written stats");
    assert_eq!(summary.last_chain_hash, last_chain_hash, "written chain");

    let segment = SealedSegment::open(&path).expect("open what was just sealed");
    assert_eq!(segment.header(), &header, "header");
    assert_eq!(segment.next_seq(), header.first_seq + records.len() as u64);
    assert_eq!(
        segment.last_chain_hash(),
        last_chain_hash,
        "last chain hash"
    );
    let mut read_back = Vec::with_capacity(records.len());
    for i in 0..segment.blocks().len() {
        read_back.extend(segment.read_block(i).expect("read an intact block"));
    }
    assert!(
        read_back == expected,
        "blocks read back differ from the input"
    );
    let ranged = segment
        .read(segment.first_seq(), segment.next_seq())
        .expect("read the intact range");
    assert!(ranged == expected, "range read differs from the input");

    let mut bytes = std::fs::read(&path).expect("read the sealed file");
    let at = input.flip_at as usize % bytes.len();
    bytes[at] ^= input.flip_xor.get();
    let mut map = MmapMut::map_anon(bytes.len()).expect("anonymous map");
    map.copy_from_slice(&bytes);
    let map = map.make_read_only().expect("read-only map");
    let Ok(damaged) = SealedSegment::from_map(Path::new("damaged.seg"), map) else {
        return;
    };
    let mut detected = false;
    for i in 0..damaged.blocks().len() {
        match damaged.read_block(i) {
            Ok(block) => {
                for (record, receipt) in &block {
                    let original = record
                        .seq
                        .checked_sub(header.first_seq)
                        .and_then(|k| expected.get(k as usize));
                    assert_eq!(
                        Some(&(record.clone(), *receipt)),
                        original,
                        "flip at {at}: a read returned altered data as valid"
                    );
                }
            }
            Err(_) => detected = true,
        }
    }
    assert!(detected, "flip at {at} went unnoticed");
});
