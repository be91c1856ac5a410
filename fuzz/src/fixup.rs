//! Rewriting the checksums of a mutated file so that it gets past them.
//!
//! A CRC-32 stops libFuzzer: a mutation must change the checked bytes and the
//! stored checksum together, and its comparison tracing only learns the right
//! checksum after the mutated input is gone. Recomputing them lets the
//! `*_checksummed` targets reach the structural checks (lengths, counts, seqs,
//! offsets, decompression, record decoding) on arbitrary bytes. The SHA-256
//! chain still stands: altered records are still rejected, by the chain.

use stele_engine::format::{FILE_HEADER_CRC_AT, FILE_HEADER_LEN};
use stele_engine::segment::layout::{BLOCK_META_LEN, BlockMeta, FOOTER_CRC_AT, FOOTER_LEN};
use stele_engine::wal::frame::{FRAME_HEADER_LEN, FRAME_MAGIC, seal_frame};

/// Offset of the block index CRC-32 inside the footer, see
/// `stele_engine::segment::layout`.
const FOOTER_INDEX_CRC_AT: usize = 12;
/// Offsets of the dictionary's offset, length and CRC-32 inside the footer.
const FOOTER_DICTIONARY_AT: usize = 16;
const FOOTER_DICTIONARY_LEN_AT: usize = 24;
const FOOTER_DICTIONARY_CRC_AT: usize = 28;

fn fix_header(bytes: &mut [u8]) {
    if bytes.len() >= FILE_HEADER_LEN {
        let crc = crc32fast::hash(&bytes[..FILE_HEADER_CRC_AT]);
        put_crc(bytes, FILE_HEADER_CRC_AT, crc);
    }
}

/// Rewrites the header checksum of a WAL file and the checksum of every
/// frame, from the first, that starts with the frame magic and whose declared
/// payload fits in the file (with `seal_frame`, which also sets its type).
pub fn fix_wal(bytes: &mut [u8]) {
    fix_header(bytes);
    let Some(salt) = bytes.get(68..76) else {
        return;
    };
    let salt = u64::from_le_bytes(salt.try_into().expect("8 bytes"));
    let mut pos = FILE_HEADER_LEN;
    while let Some(header) = bytes.get(pos..pos + FRAME_HEADER_LEN) {
        if header[0..4] != FRAME_MAGIC {
            return;
        }
        let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        let end = pos + FRAME_HEADER_LEN + len;
        let Some(frame) = bytes.get_mut(pos..end) else {
            return;
        };
        seal_frame(frame, salt);
        pos = end;
    }
}

/// Rewrites the header checksum of a sealed segment file, the footer's, the
/// dictionary's when the footer places it inside the file, and, when the
/// footer places the block index right before it, the index's and that of
/// every block the index places inside the file.
pub fn fix_sealed(bytes: &mut [u8]) {
    fix_header(bytes);
    let len = bytes.len();
    let Some(footer_at) = len
        .checked_sub(FOOTER_LEN)
        .filter(|at| *at >= FILE_HEADER_LEN)
    else {
        return;
    };
    let footer = |bytes: &[u8], at: usize, n: usize| {
        let mut le = [0u8; 8];
        le[..n].copy_from_slice(&bytes[footer_at + at..footer_at + at + n]);
        u64::from_le_bytes(le) as usize
    };
    let (index_at, count) = (footer(bytes, 0, 8), footer(bytes, 8, 4));
    if index_at >= FILE_HEADER_LEN
        && index_at.checked_add(count * BLOCK_META_LEN) == Some(footer_at)
    {
        for at in (index_at..footer_at).step_by(BLOCK_META_LEN) {
            let mut meta = BlockMeta::decode(&bytes[at..at + BLOCK_META_LEN]);
            let start = meta.offset as usize;
            let Some(block) = start
                .checked_add(meta.compressed_len as usize)
                .and_then(|end| bytes.get(start..end))
            else {
                continue;
            };
            meta.crc32 = crc32fast::hash(block);
            let mut encoded = Vec::with_capacity(BLOCK_META_LEN);
            meta.encode_into(&mut encoded);
            bytes[at..at + BLOCK_META_LEN].copy_from_slice(&encoded);
        }
        let crc = crc32fast::hash(&bytes[index_at..footer_at]);
        put_crc(bytes, footer_at + FOOTER_INDEX_CRC_AT, crc);
    }
    let dictionary_at = footer(bytes, FOOTER_DICTIONARY_AT, 8);
    let dictionary_len = footer(bytes, FOOTER_DICTIONARY_LEN_AT, 4);
    if let Some(dictionary) = dictionary_at
        .checked_add(dictionary_len)
        .and_then(|end| bytes.get(dictionary_at..end))
    {
        let crc = crc32fast::hash(dictionary);
        put_crc(bytes, footer_at + FOOTER_DICTIONARY_CRC_AT, crc);
    }
    let crc = crc32fast::hash(&bytes[footer_at..footer_at + FOOTER_CRC_AT]);
    put_crc(bytes, footer_at + FOOTER_CRC_AT, crc);
}

fn put_crc(bytes: &mut [u8], at: usize, crc: u32) {
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    //! The offsets above duplicate the engine's layout: these tests fail when
    //! the engine's format moves and `fix_*` would write to the wrong place.

    use std::path::Path;

    use memmap2::MmapMut;
    use stele_engine::format::{SEG_MAGIC, SEG_VERSION, WAL_MAGIC, WAL_VERSION};
    use stele_engine::segment::{SealOptions, SealedSegment, write_sealed};
    use stele_engine::wal::scan_wal;

    use super::*;
    use crate::build::{
        FuzzBody, FuzzHeader, FuzzRecord, build_wal, records_from, trained_dictionary,
    };

    const HEADER: FuzzHeader = FuzzHeader {
        log_id: 3,
        first_seq: 40,
        prev_chain_hash: 4,
    };

    fn descs(n: usize) -> Vec<FuzzRecord> {
        (0..n)
            .map(|i| FuzzRecord {
                ingest_time: i as i64,
                body: FuzzBody::Filler {
                    byte: i as u8,
                    len: 50 + i as u16,
                },
            })
            .collect()
    }

    fn sealed(dictionary: &[u8]) -> Vec<u8> {
        let header = HEADER.header(SEG_MAGIC, SEG_VERSION, 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.seg");
        let options = SealOptions {
            block_bytes: 300,
            zstd_level: 1,
            dictionary_bytes: dictionary.len(),
        };
        let records = records_from(header.first_seq, &descs(20));
        write_sealed(
            &path,
            &header,
            records.into_iter().map(Ok),
            &options,
            dictionary,
        )
        .unwrap();
        std::fs::read(&path).unwrap()
    }

    fn open(bytes: &[u8]) -> stele_engine::Result<SealedSegment> {
        let mut map = MmapMut::map_anon(bytes.len()).unwrap();
        map.copy_from_slice(bytes);
        SealedSegment::from_map(Path::new("t.seg"), map.make_read_only().unwrap())
    }

    #[test]
    fn intact_files_are_left_unchanged() {
        let header = HEADER.header(WAL_MAGIC, WAL_VERSION, 20);
        let all = records_from(header.first_seq, &descs(20));
        let wal = build_wal(&header, &[all[..5].to_vec(), all[5..].to_vec()]).bytes;
        let mut fixed = wal.clone();
        fix_wal(&mut fixed);
        assert_eq!(fixed, wal);
        for dictionary in [&[][..], trained_dictionary()] {
            let seg = sealed(dictionary);
            assert!(open(&seg).unwrap().blocks().len() > 1);
            let mut fixed = seg.clone();
            fix_sealed(&mut fixed);
            assert_eq!(fixed, seg);
        }
    }

    #[test]
    fn damage_behind_a_checksum_gets_past_it() {
        let header = HEADER.header(WAL_MAGIC, WAL_VERSION, 3);
        let wal = build_wal(&header, &[records_from(header.first_seq, &descs(3))]);
        let mut bytes = wal.bytes.clone();
        bytes[10] ^= 1; // reserved header byte
        bytes[wal.frames[0].end - 1] ^= 1; // last byte of the last chain hash
        assert!(scan_wal(&bytes, Path::new("t.wal")).is_err());
        fix_wal(&mut bytes);
        let err = scan_wal(&bytes, Path::new("t.wal"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("chain hash"), "{err}");

        let mut seg = sealed(trained_dictionary());
        let segment = open(&seg).unwrap();
        let index_at = seg.len() - FOOTER_LEN - segment.blocks().len() * BLOCK_META_LEN;
        let block_at = segment.blocks()[1].offset as usize;
        let last = segment.blocks().last().unwrap();
        // The last byte of the dictionary, in its raw content: a byte of its
        // entropy tables would make it unparsable.
        let dictionary_end =
            last.offset + u64::from(last.compressed_len) + u64::from(segment.dictionary_len());
        seg[10] ^= 1;
        seg[index_at + 32] ^= 1; // block 0's min_time
        seg[block_at + 5] ^= 1;
        seg[dictionary_end as usize - 1] ^= 1;
        let footer_at = seg.len() - FOOTER_LEN;
        seg[footer_at + 40] ^= 1; // somewhere in the footer's totals
        assert!(open(&seg).is_err());
        fix_sealed(&mut seg);
        let segment = open(&seg).unwrap();
        assert!(segment.read_block(1).is_err(), "block 1 was damaged");
    }
}
