//! `sealed_segment`: arbitrary bytes as a sealed segment file, mapped
//! anonymously (`memmap2::MmapMut::map_anon`, made read-only) and opened with
//! `SealedSegment::from_map`, the path every sealed file takes through
//! `SealedSegment::open`.
//!
//! Checks that opening, `read_block` of every block and `read` of the whole
//! seq range never panic, whatever the bytes, and that what an `Ok` returns
//! agrees with the index: block `i` holds `count` records with contiguous
//! seqs from its `first_seq`, and `read(first, next)` returns one record per
//! seq, in order (`stele_fuzz::checks`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stele_fuzz::checks::check_sealed(data));
