//! Shared pieces of the `stele-fuzz` targets (see `docs/fuzzing.md`).
//!
//! - [`build`]: well-formed WAL files and records from fuzz-described inputs,
//!   for the structured targets and the seed generator
//!   (`examples/gen_seeds.rs`), so the fuzzer reaches the states behind the
//!   checksums and hashes that random bytes never get past.
//! - [`fixup`]: rewriting the checksums of mutated files, for the
//!   `*_checksummed` targets.
//! - [`checks`]: what the raw targets assert about any bytes.

pub mod build;
pub mod checks;
pub mod fixup;
