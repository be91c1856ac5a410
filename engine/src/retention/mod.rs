//! Retention: which sealed segments leave local storage, the holds that
//! stop them, and the signed anchor that keeps verification honest after
//! they have left.
//!
//! - [`plan`]: the pure rule that picks the segments to remove.
//! - [`anchor`]: the signed record of where the remaining log starts and
//!   what was removed.
//!
//! # Invariants
//! - Segments only ever leave from the front: the local log is always one
//!   contiguous run `anchor.first_seq..next_seq`, so the anchor (seq and chain
//!   hash before the first local record) is all a verifier needs to start.
//! - A segment younger than the retention lock, or under a legal hold (its
//!   own or the log's), never leaves; the engine checks this at the moment of
//!   removal, not only when planning.

pub mod anchor;
pub mod plan;

use serde::{Deserialize, Serialize};

pub use self::anchor::{Anchor, Removal};
pub use self::plan::{Blocked, PlannedRemoval, RetentionPlan, Rule, plan};

/// A legal hold: nothing it covers may be deleted until it is lifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// The segment it holds, by first seq; `None` holds the whole log.
    pub segment: Option<u64>,
    /// Why (a case number, a ticket).
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When, nanoseconds since the Unix epoch.
    pub set_ns: i64,
}

impl Hold {
    /// "the log" or "segment N", for messages.
    pub fn scope(&self) -> String {
        scope_name(self.segment)
    }
}

/// "the log" or "segment N".
pub fn scope_name(segment: Option<u64>) -> String {
    match segment {
        None => "the log".into(),
        Some(first) => format!("segment {first}"),
    }
}
