//! Tampering: one byte flipped in a sealed block, in a footer, in the WAL, a
//! stored body changed with its checksums fixed up, a middle segment deleted,
//! two segments swapped, a Merkle tree root or signed tree head altered.
//! Verification names the seq or the file and offset
//! every time, and no read returns the altered data as valid.

use crate::common;

use std::path::{Path, PathBuf};

use stele_engine::format::FILE_HEADER_LEN;
use stele_engine::segment::layout::FOOTER_LEN;
use stele_engine::segment::{SealOptions, SealedSegment, write_sealed};
use stele_engine::{Error, FsyncPolicy, RecordBody, Store, VerifyFailure, verify_log_dir};

/// 400 records in four sealed segments of 100 (several blocks each), and 50
/// in the WAL as five frames of ten.
fn build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let log = store
        .create_log("t", common::small_policy(FsyncPolicy::Never, 100))
        .unwrap();
    for b in 0..45 {
        log.append(&common::events(b * 10, b * 10 + 10)).unwrap();
    }
    assert_eq!(log.segments().len(), 5);
    store.close().unwrap();
    dir
}

fn seg(dir: &Path, first: u64, ext: &str) -> PathBuf {
    common::log_dir(dir, "t")
        .join("segments")
        .join(format!("{first:020}.{ext}"))
}

fn failure(dir: &Path) -> VerifyFailure {
    let report = verify_log_dir(&common::log_dir(dir, "t"), 0..u64::MAX, None).unwrap();
    report.failure.expect("verification must fail")
}

/// Offsets where the WAL's frames start.
fn frame_starts(wal: &Path) -> Vec<u64> {
    let bytes = std::fs::read(wal).unwrap();
    let mut at = FILE_HEADER_LEN;
    let mut starts = Vec::new();
    while at < bytes.len() {
        starts.push(at as u64);
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    starts
}

#[test]
fn untouched_log_verifies() {
    let dir = build();
    let report = verify_log_dir(&common::log_dir(dir.path(), "t"), 0..u64::MAX, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.failure);
    assert_eq!(report.records, 450);
    assert!(
        report.checkpoints >= 4,
        "the seals' checkpoints were checked"
    );
    assert_eq!(report.tree_chunks, 1, "the one whole chunk of 256 records");
    assert_eq!(report.tree_head, Some(400), "the last seal's tree head");
}

#[test]
fn an_altered_tree_root() {
    let dir = build();
    let path = common::log_dir(dir.path(), "t").join("tree.chunks");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let f = failure(dir.path());
    assert_eq!((f.file, f.seq, f.offset), (path, Some(0), Some(0)));
    assert!(f.reason.contains("leaves 0..256"), "{}", f.reason);
}

#[test]
fn a_signed_tree_head_forged_or_not_matching_the_records() {
    use stele_engine::checkpoint::Signer;
    use stele_engine::log::tree::head::SignedHead;
    let dir = build();
    let log_dir = common::log_dir(dir.path(), "t");
    let path = log_dir.join("tree.head");
    let head = SignedHead::read(&path).unwrap().unwrap();
    let forged = SignedHead {
        root: [7; 32],
        ..head.clone()
    };
    forged.write(&path).unwrap();
    let f = failure(dir.path());
    assert_eq!(f.file, path);
    assert!(f.reason.contains("signature"), "{}", f.reason);
    // Signed with the right key, over a root the records do not give.
    let signer = Signer::load_or_create(dir.path()).unwrap();
    let log_id = stele_engine::manifest::Manifest::load(&log_dir.join("manifest.json"))
        .unwrap()
        .log_id;
    SignedHead::sign(&signer, ("t", log_id), (head.size, [7; 32]), head.time)
        .write(&path)
        .unwrap();
    let f = failure(dir.path());
    assert_eq!(f.file, path);
    assert!(f.reason.contains("at size 400 differs"), "{}", f.reason);
}

#[test]
fn flipped_byte_in_a_compressed_block() {
    let dir = build();
    let file = seg(dir.path(), 100, "seg");
    common::flip_byte(&file, FILE_HEADER_LEN as u64 + 20);
    let f = failure(dir.path());
    assert_eq!(f.file, file);
    assert_eq!(
        f.offset,
        Some(FILE_HEADER_LEN as u64),
        "the first block's offset"
    );
    assert_eq!(f.seq, Some(100));
    assert!(f.reason.contains("checksum"), "{f}");

    let store = Store::open(dir.path()).unwrap();
    let log = store.log("t").unwrap();
    assert!(matches!(log.read(101), Err(Error::Corrupted { .. })));
    assert!(log.read(250).is_ok(), "other segments stay readable");
}

#[test]
fn flipped_byte_in_a_footer() {
    let dir = build();
    let file = seg(dir.path(), 200, "seg");
    let len = std::fs::metadata(&file).unwrap().len();
    let footer = len - FOOTER_LEN as u64;
    common::flip_byte(&file, footer + 40);
    let f = failure(dir.path());
    assert_eq!(f.file, file);
    assert_eq!(f.offset, Some(footer + 116), "the footer checksum");

    let store = Store::open(dir.path()).unwrap();
    match store.log("t") {
        Err(Error::Corrupted { file: bad, .. }) => assert_eq!(bad, file),
        other => panic!("expected the log to refuse to open, got {other:?}"),
    }
}

#[test]
fn flipped_byte_in_a_wal_frame_that_is_not_the_last() {
    let dir = build();
    let wal = seg(dir.path(), 400, "wal");
    let starts = frame_starts(&wal);
    assert_eq!(starts.len(), 5);
    common::flip_byte(&wal, starts[1] + 100);
    let f = failure(dir.path());
    assert_eq!(f.file, wal);
    assert_eq!(f.offset, Some(starts[1]));
    assert!(f.reason.contains("intact frame follows"), "{f}");

    let store = Store::open(dir.path()).unwrap();
    match store.log("t") {
        Err(Error::Corrupted { file, offset, .. }) => {
            assert_eq!((file, offset), (wal, starts[1]));
        }
        other => panic!("expected recovery to refuse the damaged WAL, got {other:?}"),
    }
}

#[test]
fn stored_body_changed_in_the_wal_with_its_checksum_fixed() {
    let dir = build();
    let wal = seg(dir.path(), 400, "wal");
    let start = frame_starts(&wal)[0] as usize;
    let mut bytes = std::fs::read(&wal).unwrap();
    let len = u32::from_le_bytes(bytes[start + 8..start + 12].try_into().unwrap()) as usize;
    // payload = count, then (record, chain hash)*; change the 4th record's body.
    let mut at = start + 16 + 4;
    for _ in 0..3 {
        let body_len = u32::from_le_bytes(bytes[at + 17..at + 21].try_into().unwrap()) as usize;
        at += 21 + body_len + 32;
    }
    let record_at = at;
    bytes[record_at + 21 + 5] ^= 0x20;
    // The frame checksum is seeded with the file's salt (header bytes 68..76).
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[68..76]);
    crc.update(&bytes[start + 4..start + 12]);
    crc.update(&bytes[start + 16..start + 16 + len]);
    bytes[start + 12..start + 16].copy_from_slice(&crc.finalize().to_le_bytes());
    common::patch_file(&wal, 0, &bytes);

    let f = failure(dir.path());
    assert_eq!(f.file, wal);
    assert_eq!(f.offset, Some(record_at as u64));
    assert!(f.reason.contains("seq 403"), "{f}");
    assert!(Store::open(dir.path()).unwrap().log("t").is_err());
}

#[test]
fn stored_body_changed_in_a_sealed_segment_with_everything_recomputed() {
    let dir = build();
    let file = seg(dir.path(), 100, "seg");
    let original = SealedSegment::open(&file).unwrap();
    let mut records: Vec<_> = original
        .read(100, 200)
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let RecordBody::Stored(body) = &mut records[42].body else {
        unreachable!()
    };
    let last = body.len() - 3;
    body[last] ^= 0x01;
    let header = *original.header();
    drop(original);
    std::fs::remove_file(&file).unwrap();
    let options = SealOptions {
        block_bytes: 4096,
        zstd_level: 3,
        dictionary_bytes: 0,
    };
    write_sealed(&file, &header, records.into_iter().map(Ok), &options, &[]).unwrap();

    let f = failure(dir.path());
    assert_eq!(f.file, file, "{f}");
    assert!((100..200).contains(&f.seq.unwrap()), "{f}");
    assert!(f.reason.contains("checkpoint"), "{f}");
    assert!(
        Store::open(dir.path()).unwrap().log("t").is_err(),
        "the next segment no longer follows the chain"
    );
}

#[test]
fn a_deleted_middle_segment() {
    let dir = build();
    std::fs::remove_file(seg(dir.path(), 200, "seg")).unwrap();
    let f = failure(dir.path());
    assert_eq!(f.file, seg(dir.path(), 300, "seg"));
    assert_eq!(f.seq, Some(200));
    assert!(f.reason.contains("missing"), "{f}");
    assert!(Store::open(dir.path()).unwrap().log("t").is_err());
}

#[test]
fn two_swapped_segments() {
    let dir = build();
    let (a, b) = (seg(dir.path(), 100, "seg"), seg(dir.path(), 200, "seg"));
    let tmp = a.with_extension("swap");
    std::fs::rename(&a, &tmp).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    let f = failure(dir.path());
    assert_eq!(f.file, a);
    assert_eq!(f.offset, Some(28), "the header's first_seq");
    assert!(Store::open(dir.path()).unwrap().log("t").is_err());
}

#[test]
fn records_dropped_from_the_tail_are_caught_by_a_checkpoint() {
    let dir = build();
    {
        let store = common::open(dir.path());
        store.log("t").unwrap().checkpoint().unwrap();
    }
    let wal = seg(dir.path(), 400, "wal");
    let starts = frame_starts(&wal);
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(starts[3]).unwrap();
    let failure = failure(dir.path());
    assert_eq!(failure.seq, Some(430));
    assert!(failure.reason.contains("missing"), "{failure}");
}

#[test]
fn a_range_verify_hashes_only_its_records_and_blocks() {
    let dir = build();
    common::flip_byte(&seg(dir.path(), 100, "seg"), FILE_HEADER_LEN as u64 + 20);
    let log_dir = common::log_dir(dir.path(), "t");
    let later = verify_log_dir(&log_dir, 300..450, None).unwrap();
    assert!(later.is_ok(), "{:?}", later.failure);
    assert_eq!(later.records, 150);
    let all = verify_log_dir(&log_dir, 0..450, None).unwrap();
    assert_eq!(all.failure.unwrap().seq, Some(100));
}
