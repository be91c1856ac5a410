//! What a reader must do with any bytes: never panic, hang or allocate without
//! bound, and return only results consistent with themselves. The raw targets
//! and their `*_checksummed` variants share these checks.

use std::path::Path;

use memmap2::MmapMut;
use stele_engine::segment::SealedSegment;
use stele_engine::wal::scan_wal;

/// Scans `data` as a WAL file. On `Ok`, checks that the valid prefix lies
/// inside the file and ends where the torn tail (if any) starts, entries lie
/// inside that prefix at strictly increasing offsets, `next_seq()` is
/// `first_seq + entries.len()`, the last chain hash is the last entry's, and
/// the statistics count the entries.
pub fn check_wal(data: &[u8]) {
    let Ok(scan) = scan_wal(data, Path::new("fuzz.wal")) else {
        return;
    };
    let len = data.len() as u64;
    assert!(scan.valid_len <= len, "valid_len past the end of the file");
    match &scan.torn {
        Some(torn) => {
            assert_eq!(torn.offset, scan.valid_len, "torn tail not at valid_len");
            assert_eq!(
                torn.offset + torn.dropped_bytes,
                len,
                "torn tail not to EOF"
            );
        }
        None => assert_eq!(scan.valid_len, len, "no torn tail, yet bytes dropped"),
    }
    let mut end = 0;
    for entry in &scan.entries {
        assert!(entry.offset >= end, "entries overlap or go backwards");
        end = entry.offset + u64::from(entry.len);
        assert!(end <= scan.valid_len, "entry past valid_len");
    }
    let expected_next = scan.header.first_seq.checked_add(scan.entries.len() as u64);
    assert_eq!(Some(scan.next_seq()), expected_next);
    assert_eq!(
        scan.last_chain_hash(),
        scan.entries
            .last()
            .map_or(scan.header.prev_chain_hash, |e| e.chain_hash)
    );
    assert_eq!(scan.stats.records, scan.entries.len() as u64);
}

/// Maps `data` anonymously and opens it as a sealed segment with
/// `SealedSegment::from_map`; on `Ok`, reads every block and the whole seq
/// range. Checks that what a read returns agrees with the index: block `i`
/// holds `count` records with contiguous seqs from its `first_seq`, and
/// `read(first, next)` returns one record per seq, in order.
pub fn check_sealed(data: &[u8]) {
    // An empty input maps one zero byte, which no check accepts either.
    let mut map = MmapMut::map_anon(data.len().max(1)).expect("anonymous map");
    map[..data.len()].copy_from_slice(data);
    let map = map.make_read_only().expect("read-only map");
    let Ok(segment) = SealedSegment::from_map(Path::new("fuzz.seg"), map) else {
        return;
    };
    for (i, meta) in segment.blocks().iter().enumerate() {
        if let Ok(records) = segment.read_block(i) {
            assert_eq!(records.len(), meta.count as usize, "block {i} count");
            for (seq, (record, receipt)) in (meta.first_seq..).zip(&records) {
                assert_eq!(record.seq, seq, "block {i} seqs");
                assert_eq!(receipt.seq, seq, "block {i} receipt seqs");
            }
        }
    }
    let (first, next) = (segment.first_seq(), segment.next_seq());
    if let Ok(records) = segment.read(first, next) {
        assert_eq!(records.len() as u64, next - first, "read count");
        for (seq, (record, _)) in (first..).zip(&records) {
            assert_eq!(record.seq, seq, "read seqs");
        }
    }
}
