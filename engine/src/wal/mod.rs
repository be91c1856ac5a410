//! The active segment: a write-ahead file of batch frames.
//!
//! - [`frame`]: the frame layout, one frame per appended batch.
//! - [`scan`]: recovery, reading a WAL file back and deciding where its valid
//!   prefix ends (torn tail) or where it is corrupted.
//! - [`file`]: creating, truncating and appending to a WAL file durably.
//! - [`segment`]: a WAL file as a readable segment, for reads by seq.

pub mod file;
pub mod frame;
pub mod scan;
pub mod segment;

pub use scan::{TornTail, WalEntry, WalScan, scan_wal};
pub use segment::WalSegment;
