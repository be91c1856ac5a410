//! Well-formed inputs built with the engine's own encoders: records and file
//! headers as the fuzzer describes them, the chain recomputed from its
//! normative definition, the statistics a reader must report, a WAL file image
//! that knows where every frame and record lies, and a zstd dictionary trained
//! the way sealing trains one.

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use stele_engine::chain::{self, Hash};
use stele_engine::event::{Event, body};
use stele_engine::format::{FileHeader, WAL_MAGIC};
use stele_engine::record::{Record, RecordBody};
use stele_engine::segment::{SegmentStats, train_dictionary};
use stele_engine::wal::WalEntry;
use stele_engine::wal::frame::{FRAME_HEADER_LEN, seal_frame};

/// A record body as the fuzzer describes it.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzBody {
    /// Arbitrary stored bytes.
    Raw(Vec<u8>),
    /// `len` copies of `byte`: large frames and multi-block segments from a
    /// few input bytes.
    Filler {
        /// The repeated byte.
        byte: u8,
        /// How many copies.
        len: u16,
    },
    /// A real encoded event, so that `time_of` finds its time.
    Event {
        /// The event time.
        time: i64,
        /// Its action.
        action: String,
    },
    /// A redacted record keeping only this digest.
    Redacted(Hash),
}

/// One record as the fuzzer describes it; its seq comes from its position.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzRecord {
    /// Ingest time.
    pub ingest_time: i64,
    /// Body.
    pub body: FuzzBody,
}

impl FuzzRecord {
    /// The record at `seq`.
    pub fn to_record(&self, seq: u64) -> Record {
        let body = match &self.body {
            FuzzBody::Raw(bytes) => RecordBody::Stored(bytes.clone()),
            FuzzBody::Filler { byte, len } => RecordBody::Stored(vec![*byte; usize::from(*len)]),
            FuzzBody::Event { time, action } => RecordBody::Stored(body::encode(&Event {
                id: "fuzz".into(),
                time: Some(*time),
                action: action.clone(),
                ..Event::default()
            })),
            FuzzBody::Redacted(digest) => RecordBody::Redacted(*digest),
        };
        Record {
            seq,
            ingest_time: self.ingest_time,
            body,
        }
    }
}

/// File header fields as the fuzzer describes them. The log id and the
/// previous chain hash only feed hashes, so one byte each, repeated, keeps the
/// smallest input (and the fuzzer's first inputs) short.
#[derive(Arbitrary, Debug, Clone)]
pub struct FuzzHeader {
    /// Every byte of the log id.
    pub log_id: u8,
    /// First seq, clamped by [`FuzzHeader::header`].
    pub first_seq: u64,
    /// Every byte of the chain hash before the first record, unless that is
    /// seq 0.
    pub prev_chain_hash: u8,
}

impl FuzzHeader {
    /// A header for a file of `count` records. `first_seq` is clamped so that
    /// every seq, and the seq after the last one, fits in a `u64`, as the
    /// writer guarantees; seq 0 follows the log's genesis hash.
    pub fn header(&self, magic: [u8; 8], version: u16, count: usize) -> FileHeader {
        let first_seq = self.first_seq.min(u64::MAX - count as u64);
        let log_id = [self.log_id; 16];
        FileHeader {
            magic,
            version,
            log_id,
            first_seq,
            prev_chain_hash: if first_seq == 0 {
                chain::genesis(&log_id)
            } else {
                [self.prev_chain_hash; 32]
            },
            frame_salt: if magic == WAL_MAGIC {
                u64::from(self.log_id) * 0x9e37_79b9
            } else {
                0
            },
        }
    }
}

/// `descs` as records with contiguous seqs from `first_seq`.
pub fn records_from(first_seq: u64, descs: &[FuzzRecord]) -> Vec<Record> {
    (first_seq..)
        .zip(descs)
        .map(|(seq, d)| d.to_record(seq))
        .collect()
}

/// The chain hash after each of `records`, starting from `prev`, computed
/// from the normative definition rather than through `Record::leaf_hash`.
pub fn chain_hashes(prev: &Hash, records: &[Record]) -> Vec<Hash> {
    let mut prev = *prev;
    records
        .iter()
        .map(|r| {
            let digest = match &r.body {
                RecordBody::Stored(bytes) => chain::body_digest(bytes),
                RecordBody::Redacted(digest) => *digest,
            };
            prev = chain::link(&prev, &chain::leaf_hash(r.seq, r.ingest_time, &digest));
            prev
        })
        .collect()
}

/// The statistics the engine must report for `records`: the event time comes
/// from the stored body when it has one, else the ingest time stands in.
pub fn expected_stats(records: &[Record]) -> SegmentStats {
    let mut stats = SegmentStats::default();
    for r in records {
        let (time, len) = match &r.body {
            RecordBody::Stored(bytes) => {
                (body::time_of(bytes).unwrap_or(r.ingest_time), bytes.len())
            }
            RecordBody::Redacted(_) => (r.ingest_time, 0),
        };
        stats.add_event(time, r.ingest_time, len);
    }
    stats
}

/// A WAL file built from batches of records, and where everything lies in it.
#[derive(Debug)]
pub struct WalImage {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Byte range of each frame.
    pub frames: Vec<std::ops::Range<usize>>,
    /// Number of records in the frames before each frame and after the last
    /// one: `records_before[k]..records_before[k + 1]` are frame `k`'s.
    pub records_before: Vec<usize>,
    /// What a scan of the intact file must return for each record.
    pub entries: Vec<WalEntry>,
}

/// Builds a WAL file holding `batches`, one frame each, whose records must
/// have contiguous seqs from `header.first_seq`.
pub fn build_wal(header: &FileHeader, batches: &[Vec<Record>]) -> WalImage {
    let all: Vec<Record> = batches.iter().flatten().cloned().collect();
    let hashes = chain_hashes(&header.prev_chain_hash, &all);
    let mut image = WalImage {
        bytes: header.encode().to_vec(),
        frames: Vec::with_capacity(batches.len()),
        records_before: vec![0],
        entries: Vec::with_capacity(all.len()),
    };
    let mut hashes = hashes.into_iter();
    for batch in batches {
        let start = image.bytes.len();
        let mut frame = vec![0u8; FRAME_HEADER_LEN];
        frame.extend_from_slice(&(batch.len() as u32).to_le_bytes());
        for record in batch {
            let offset = start + frame.len();
            record.encode_into(&mut frame);
            let chain_hash = hashes.next().expect("one hash per record");
            image.entries.push(WalEntry {
                offset: offset as u64,
                len: (start + frame.len() - offset) as u32,
                chain_hash,
            });
            frame.extend_from_slice(&chain_hash);
        }
        seal_frame(&mut frame, header.frame_salt);
        image.bytes.extend_from_slice(&frame);
        image.frames.push(start..image.bytes.len());
        image.records_before.push(image.entries.len());
    }
    image
}

/// A zstd dictionary trained with `train_dictionary`, as sealing trains one,
/// from 512 bodies of varied events; trained once per process.
pub fn trained_dictionary() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let actions = ["git.push", "workflow.delete", "user.login", "repo.create"];
        let samples: Vec<Vec<u8>> = (0..512i64)
            .map(|i| {
                body::encode(&Event {
                    id: format!("ev-{i}"),
                    time: Some(1_790_000_000_000_000_000 + i * 7919),
                    tenant: format!("tenant-{}", i % 3),
                    action: actions[i as usize % actions.len()].into(),
                    message: format!("user-{} did thing {i}", i % 11),
                    ..Event::default()
                })
            })
            .collect();
        train_dictionary(&samples, 4 << 10).expect("enough samples to train a dictionary")
    })
}
