//! `stele-benches`: the synthetic audit event generator, the fixtures that
//! the criterion benchmarks (`benches/`) and the `stele-sizes` and
//! `stele-search-bench` reports share, and the parts of the `stele-load`
//! gRPC load generator. Results and commands are in `docs/performance.md`.
//!
//! - [`generator`]: [`Generator`], deterministic, realistic audit events.
//! - [`rich`]: the nested `details` of the rich profile.
//! - [`catalog`]: the vocabulary it draws from (areas, verbs, names).
//! - [`fixture`]: logs in temporary directories, loaded with events.
//! - [`load`]: appenders, queriers and subscribers against a running server.

/// The allocator `steled` ships with, so that what the benchmarks measure
/// is what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod catalog;
pub mod fixture;
pub mod generator;
pub mod load;
pub mod rich;

pub use fixture::{TempLog, json_bytes};
pub use generator::{Generator, Profile};
