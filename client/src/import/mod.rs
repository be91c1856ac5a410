//! Mapping other systems' audit records to Stele events, for
//! `stele import --format` (`docs/import.md`).
//!
//! Each source maps its native record to an [`Event`] and keeps the
//! original record whole in `details`, so nothing is lost in the mapping.
//!
//! - [`cloudtrail`]: AWS CloudTrail records and delivery files.
//!
//! Not built yet: Kubernetes audit events, GitHub audit log exports,
//! OCSF, and recognising the format from the first record.

pub mod cloudtrail;

use crate::Event;

/// The events of one line of input, each mapped or refused with why.
pub type Mapped = Vec<Result<Event, String>>;
