//! Writes the hand-made reproducers under `fuzz/regressions/` of engine
//! findings that libFuzzer did not reach by itself in minutes (see
//! `docs/fuzzing.md`, "Findings"), with the engine's own encoders so that they
//! follow the format as it changes. All are fixed; the engine's test suite
//! replays them (`engine/tests/it/fuzz_regressions.rs`).
//!
//! - `wal_recovery/first-seq-overflow`: a WAL whose header starts at seq
//!   `u64::MAX` and whose one frame holds two records (seqs `u64::MAX`, 0) with
//!   correct chain hashes: `scan_wal` overflowed computing the second seq.
//! - `wal_recovery/quadratic-frame-search`: a 1 MiB WAL whose first frame is
//!   torn and whose rest is fake frame headers, each declaring a payload that
//!   fits: the search for a following intact frame checksummed each one, so
//!   the scan was quadratic in the file size (libFuzzer `-timeout=1` flags it).
//! - `sealed_segment/first-seq-overflow`: a sealed segment starting at seq
//!   `u64::MAX` with one (empty) block of one record: `from_map` overflowed
//!   summing the blocks' counts.
//! - `sealed_segment/malformed-dictionary`: a sealed segment whose dictionary
//!   starts with the zstd dictionary magic and is not a dictionary: `from_map`
//!   panicked in zstd-safe creating the decoder dictionary.
//!
//! All checksums in them are correct, so the `*_checksummed` targets see the
//! same bytes. Run with `cargo run --example craft_reproducers` from `fuzz/`.

use std::fs;
use std::path::Path;

use stele_engine::format::{
    FILE_HEADER_LEN, FileHeader, SEG_MAGIC, SEG_VERSION, WAL_MAGIC, WAL_VERSION,
};
use stele_engine::record::{Record, RecordBody};
use stele_engine::segment::SegmentStats;
use stele_engine::segment::layout::{BlockMeta, Footer};
use stele_engine::wal::frame::{FRAME_HEADER_LEN, FRAME_MAGIC, FRAME_TYPE_BATCH};
use stele_fuzz::build::build_wal;

/// Magic that starts a zstd dictionary (little-endian 0xEC30A437).
const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = out.join(target);
        fs::create_dir_all(&dir).expect("create the regressions directory");
        fs::write(dir.join(name), bytes).expect("write a reproducer");
    };

    let wal_header = FileHeader {
        magic: WAL_MAGIC,
        version: WAL_VERSION,
        log_id: [0; 16],
        first_seq: u64::MAX,
        prev_chain_hash: [0; 32],
        frame_salt: 0,
    };
    let records = [u64::MAX, 0].map(|seq| Record {
        seq,
        ingest_time: 0,
        body: RecordBody::Stored(Vec::new()),
    });
    let wal = build_wal(&wal_header, &[records.to_vec()]);
    write("wal_recovery", "first-seq-overflow", &wal.bytes);

    let mut wal = FileHeader {
        first_seq: 0,
        ..wal_header
    }
    .encode()
    .to_vec();
    let size = 1 << 20;
    let mut fake_header = |declared: u32| {
        wal.extend_from_slice(&FRAME_MAGIC);
        wal.extend_from_slice(&[FRAME_TYPE_BATCH, 0, 0, 0]);
        wal.extend_from_slice(&declared.to_le_bytes());
        wal.extend_from_slice(b"XXXX");
    };
    fake_header(u32::MAX >> 1);
    for _ in 1..(size - FILE_HEADER_LEN) / FRAME_HEADER_LEN {
        fake_header(size as u32 / 2);
    }
    write("wal_recovery", "quadratic-frame-search", &wal);

    let seg_header = FileHeader {
        magic: SEG_MAGIC,
        version: SEG_VERSION,
        ..wal_header
    };
    let block = BlockMeta {
        first_seq: u64::MAX,
        count: 1,
        offset: FILE_HEADER_LEN as u64,
        compressed_len: 0,
        uncompressed_len: 0,
        crc32: crc32fast::hash(&[]),
        min_time: 0,
        max_time: 0,
        prev_chain_hash: [0; 32],
    };
    let mut index = Vec::new();
    block.encode_into(&mut index);
    let footer = Footer {
        index_offset: FILE_HEADER_LEN as u64,
        block_count: 1,
        index_crc: crc32fast::hash(&index),
        dictionary_offset: FILE_HEADER_LEN as u64,
        dictionary_len: 0,
        dictionary_crc: crc32fast::hash(&[]),
        stats: SegmentStats {
            records: 1,
            ..SegmentStats::default()
        },
        last_chain_hash: [0; 32],
    };
    let seg = [&seg_header.encode()[..], &index, &footer.encode()].concat();
    write("sealed_segment", "first-seq-overflow", &seg);

    let dictionary = [&ZSTD_DICT_MAGIC[..], &[1, 0, 0, 0], &[0; 8]].concat();
    let footer = Footer {
        index_offset: (FILE_HEADER_LEN + dictionary.len()) as u64,
        block_count: 0,
        index_crc: crc32fast::hash(&[]),
        dictionary_len: dictionary.len() as u32,
        dictionary_crc: crc32fast::hash(&dictionary),
        stats: SegmentStats::default(),
        ..footer
    };
    let header = FileHeader {
        first_seq: 0,
        ..seg_header
    };
    let seg = [&header.encode()[..], &dictionary, &footer.encode()].concat();
    write("sealed_segment", "malformed-dictionary", &seg);
}
