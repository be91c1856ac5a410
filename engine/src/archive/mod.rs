//! Archival: where archived segments live and how an archive is checked on
//! its own.
//!
//! - [`target`]: archive targets (none, a local directory, S3) and the
//!   synchronous object client.
//! - [`entry`]: the manifest entry of an archived segment.
//! - [`check`]: verifying an archive with no running server.
//!
//! Archiving and restoring a log's segments is in [`crate::Log`]
//! (`log/archive.rs`). Layout of a target, per log:
//!
//! ```text
//! <log>/<first_seq:020>.seg          the sealed file, byte for byte
//! <log>/<first_seq:020>.index/<file> its tantivy index files
//! <log>/<first_seq:020>.json         its ArchivedSegment entry
//! ```

pub mod check;
pub mod entry;
pub mod target;

/// Key of an archived sealed file.
pub fn segment_key(log: &str, first_seq: u64) -> String {
    format!("{log}/{first_seq:020}.seg")
}

/// Key of an archived segment's manifest entry.
pub fn entry_key(log: &str, first_seq: u64) -> String {
    format!("{log}/{first_seq:020}.json")
}

/// Prefix of an archived segment's index files.
pub fn index_prefix(log: &str, first_seq: u64) -> String {
    format!("{log}/{first_seq:020}.index/")
}
