//! `sealed_checksummed`: `sealed_segment` with the header, footer, block
//! index and block checksums rewritten first (`stele_fuzz::fixup::fix_sealed`),
//! so that mutations reach what lies behind them: the index's seqs, counts and
//! offsets, the footer's totals, zstd decompression of arbitrary blocks with
//! arbitrary declared sizes, record decoding, and the chain check.
//!
//! Checks the same as `sealed_segment` (`stele_fuzz::checks::check_sealed`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_fuzz::{checks, fixup};

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    fixup::fix_sealed(&mut bytes);
    checks::check_sealed(&bytes);
});
