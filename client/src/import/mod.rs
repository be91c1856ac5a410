//! Mapping other systems' audit records to Stele events, for
//! `stele import --format` (`docs/import.md`).
//!
//! Each source maps its native record to an [`Event`] and keeps the
//! original record whole in `details`, so nothing is lost in the mapping.
//!
//! - [`cloudtrail`]: AWS CloudTrail records and delivery files.
//! - [`k8s_audit`]: Kubernetes audit events.
//! - [`github_audit`]: GitHub audit log events (JSON).
//! - [`ocsf`]: OCSF 1.x API Activity and Authentication events.
//!
//! Not built yet: GitHub's CSV export, other OCSF classes, and recognising
//! the format from the first record.

pub mod cloudtrail;
pub mod github_audit;
pub mod k8s_audit;
pub mod ocsf;

use crate::Event;

/// The events of one line of input, each mapped or refused with why.
pub type Mapped = Vec<Result<Event, String>>;

/// `s` as one segment of a dotted verb (`action`): letters, digits, `_`
/// and `-` kept, anything else (dots included) as `-`.
pub(crate) fn verb_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
