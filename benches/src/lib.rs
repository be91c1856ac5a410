//! `stele-benches`: the synthetic audit event generator, the fixtures that
//! the criterion benchmarks (`benches/`) and the `stele-sizes` and
//! `stele-search-bench` reports share, and nothing else. Results and
//! commands are in `docs/performance.md`.
//!
//! - [`generator`]: [`Generator`], deterministic, realistic audit events.
//! - [`catalog`]: the vocabulary it draws from (areas, verbs, names).
//! - [`fixture`]: logs in temporary directories, loaded with events.

pub mod catalog;
pub mod fixture;
pub mod generator;

pub use fixture::{TempLog, json_bytes};
pub use generator::Generator;
