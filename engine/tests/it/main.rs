//! The engine's scenario tests, one module per scenario, linked into one
//! test binary so that the workspace builds a handful of test executables
//! rather than one per scenario (docs/development.md).
//!
//! The kill-9 scenarios (`crash_kill9`, `index_recovery`) re-run this same
//! binary as their child process, filtered to the child's test by its full
//! path (`crash_kill9::crash_child`).

mod battery;
mod common;

mod archive_target;
mod compaction;
mod concurrent_appends;
mod crash_kill9;
mod erasure;
mod format_fixture;
mod fsync_failure;
mod fuzz_regressions;
mod idempotent_retries;
mod index_recovery;
mod logs_and_policies;
mod model_proptest;
mod recover_torn_tail;
mod retention;
mod search_differential;
mod search_smoke;
mod tamper_detection;
mod verify_while_sealing;
