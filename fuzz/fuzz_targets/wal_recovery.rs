//! `wal_recovery`: arbitrary bytes as a WAL file through `scan_wal`, the
//! recovery scan run on every open.
//!
//! Checks that the scan never panics, hangs or allocates without bound,
//! whatever the bytes, and that an `Ok` scan is self-consistent: the valid
//! prefix lies inside the file and ends where the torn tail (if any) starts,
//! entries lie inside that prefix at strictly increasing offsets,
//! `next_seq() == first_seq + entries.len()`, the last chain hash is the last
//! entry's, and the statistics count the entries (`stele_fuzz::checks`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stele_fuzz::checks::check_wal(data));
