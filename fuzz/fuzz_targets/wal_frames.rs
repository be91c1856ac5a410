//! `wal_frames`: a real WAL file, built with the engine's encoders from
//! fuzz-chosen batches of records, then left intact, truncated or given one
//! flipped byte at a fuzz-chosen position, through `scan_wal`.
//!
//! Checks recovery against a model of the file:
//! - intact: every record comes back, at the offsets and with the chain
//!   hashes written, with the right statistics and no torn tail;
//! - truncated inside the header: `Corrupted`; truncated at a frame boundary:
//!   exactly the whole frames' records and no torn tail; truncated inside a
//!   frame: exactly the earlier frames' records and a torn tail from that
//!   frame's start to the end;
//! - one byte flipped in the header: `Corrupted` at offset 0; in the last
//!   frame: the earlier frames' records and that frame as the torn tail; in
//!   any other frame: `Corrupted` at that frame's offset, never silently
//!   fewer records.
#![no_main]

use std::num::NonZeroU8;
use std::path::Path;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use stele_engine::format::{FILE_HEADER_LEN, WAL_MAGIC, WAL_VERSION};
use stele_engine::wal::{TornTail, WalScan, scan_wal};
use stele_engine::{Error, Record};
use stele_fuzz::build::{
    FuzzHeader, FuzzRecord, WalImage, build_wal, expected_stats, records_from,
};

/// The fuzzer's description of a WAL file, one frame per batch, and of what
/// happens to it before recovery.
#[derive(Arbitrary, Debug)]
struct Input {
    header: FuzzHeader,
    batches: Vec<Vec<FuzzRecord>>,
    damage: Damage,
}

/// What happens to the file before the scan.
#[derive(Arbitrary, Debug)]
enum Damage {
    /// Nothing.
    Intact,
    /// Cut the file to `at % len` bytes.
    Truncate { at: u32 },
    /// XOR the byte at `at % len` with `xor`.
    Flip { at: u32, xor: NonZeroU8 },
}

/// What the scan must return.
enum Expect {
    /// `Corrupted` at this offset.
    Corrupted(u64),
    /// The records of the first `frames` frames and this torn tail.
    Ok {
        frames: usize,
        torn: Option<(u64, u64)>,
    },
}

fuzz_target!(|input: Input| {
    let count = input.batches.iter().map(Vec::len).sum();
    let header = input.header.header(WAL_MAGIC, WAL_VERSION, count);
    let mut next = header.first_seq;
    let batches: Vec<_> = input
        .batches
        .iter()
        .map(|descs| {
            let batch = records_from(next, descs);
            next += descs.len() as u64;
            batch
        })
        .collect();
    let image = build_wal(&header, &batches);
    let mut bytes = image.bytes.clone();
    let len = bytes.len();
    let frame_of = |at: usize| image.frames.iter().position(|f| f.contains(&at));
    let expect = match input.damage {
        Damage::Intact => Expect::Ok {
            frames: image.frames.len(),
            torn: None,
        },
        Damage::Truncate { at } => {
            let cut = at as usize % len;
            bytes.truncate(cut);
            if cut < FILE_HEADER_LEN {
                Expect::Corrupted(0)
            } else {
                let k = frame_of(cut).expect("a cut past the header lies in a frame");
                let start = image.frames[k].start;
                Expect::Ok {
                    frames: k,
                    torn: (cut != start).then_some((start as u64, (cut - start) as u64)),
                }
            }
        }
        Damage::Flip { at, xor } => {
            let at = at as usize % len;
            bytes[at] ^= xor.get();
            match frame_of(at) {
                None => Expect::Corrupted(0),
                Some(k) if k + 1 == image.frames.len() => {
                    let start = image.frames[k].start;
                    Expect::Ok {
                        frames: k,
                        torn: Some((start as u64, (len - start) as u64)),
                    }
                }
                Some(k) => Expect::Corrupted(image.frames[k].start as u64),
            }
        }
    };
    let result = scan_wal(&bytes, Path::new("fuzz.wal"));
    match expect {
        Expect::Corrupted(offset) => match result {
            Err(Error::Corrupted { offset: got, .. }) => assert_eq!(got, offset),
            other => panic!("expected Corrupted at {offset}, got {other:?}"),
        },
        Expect::Ok { frames, torn } => match result {
            Ok(scan) => {
                assert_eq!(scan.header, header, "header");
                check_scan(&scan, &image, &batches, frames, torn);
            }
            Err(e) => panic!("expected the first {frames} frames, got {e}"),
        },
    }
});

/// Checks that `scan` holds exactly the first `frames` frames of `image`,
/// with the torn tail `torn` as `(offset, dropped_bytes)`.
fn check_scan(
    scan: &WalScan,
    image: &WalImage,
    batches: &[Vec<Record>],
    frames: usize,
    torn: Option<(u64, u64)>,
) {
    let kept = image.records_before[frames];
    assert_eq!(scan.entries, image.entries[..kept], "entries");
    let got_torn = scan.torn.as_ref().map(
        |TornTail {
             offset,
             dropped_bytes,
             ..
         }| (*offset, *dropped_bytes),
    );
    assert_eq!(got_torn, torn, "torn tail");
    let valid_len = image.frames[..frames]
        .last()
        .map_or(FILE_HEADER_LEN, |f| f.end);
    assert_eq!(scan.valid_len, valid_len as u64, "valid_len");
    let records: Vec<_> = batches[..frames].iter().flatten().cloned().collect();
    assert_eq!(scan.stats, expected_stats(&records), "stats");
    assert_eq!(scan.next_seq(), scan.header.first_seq + kept as u64);
}
