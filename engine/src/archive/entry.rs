//! The manifest entry of an archived segment: what an auditor needs to check
//! the archived file on its own. It is uploaded beside the file
//! (`<log>/<first_seq:020>.json`) and kept in the log's manifest.

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::checkpoint::Checkpoint;

/// One archived segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedSegment {
    /// The log's name.
    pub log: String,
    /// The log's id.
    #[serde(with = "crate::serde_hex")]
    pub log_id: [u8; 16],
    /// Its first seq.
    pub first_seq: u64,
    /// Seq after its last record.
    pub next_seq: u64,
    /// Earliest event time.
    pub min_time: i64,
    /// Latest event time.
    pub max_time: i64,
    /// Earliest ingest time.
    pub min_ingest: i64,
    /// Latest ingest time.
    pub max_ingest: i64,
    /// Chain hash before its first record.
    #[serde(with = "crate::serde_hex")]
    pub prev_chain_hash: Hash,
    /// Chain hash after its last record.
    #[serde(with = "crate::serde_hex")]
    pub last_chain_hash: Hash,
    /// SHA-256 of the sealed file.
    #[serde(with = "crate::serde_hex")]
    pub sha256: Hash,
    /// Size of the sealed file.
    pub bytes: u64,
    /// Key of the sealed file in the archive target.
    pub segment_key: String,
    /// Keys of its search index files in the archive target.
    pub index_keys: Vec<String>,
    /// Where the sealed file is, for people (`s3://…` or a path).
    pub location: String,
    /// When it was archived, nanoseconds since the Unix epoch.
    pub archived_ns: i64,
    /// A signed checkpoint at its end: `size == next_seq`,
    /// `head == last_chain_hash`.
    pub checkpoint: Checkpoint,
}
