//! `wal_checksummed`: `wal_recovery` with the header checksum and every frame
//! checksum rewritten first (`stele_fuzz::fixup::fix_wal`), so that mutations
//! reach what lies behind them: record counts and lengths inside frames,
//! record decoding, seq checks, and the chain check on altered records.
//!
//! Checks the same as `wal_recovery` (`stele_fuzz::checks::check_wal`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stele_fuzz::{checks, fixup};

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    fixup::fix_wal(&mut bytes);
    checks::check_wal(&bytes);
});
