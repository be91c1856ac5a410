//! `stele-engine`: the embedded storage engine of Stele, a write-once audit
//! log store. No networking here: the server and the tools sit on top.
//!
//! A [`Store`] is a data directory holding named [`Log`]s. Appending a batch
//! of [`Event`]s validates and sanitises them, gives each a contiguous seq,
//! commits it to the log's SHA-256 hash chain ([`chain`]), writes the batch as
//! one checksummed frame to the active segment ([`wal`]) and acknowledges it
//! once durable under the log's fsync policy, with [`Receipt`]s. Segments are
//! sealed into zstd-compressed, read-only files ([`segment`]); [`verify`]
//! recomputes the chain from the stored bytes, and signed [`Checkpoint`]s let
//! anyone holding one prove that history was not rewritten.
//!
//! ```
//! use stele_engine::{Direction, Event, Policy, Store};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path())?;
//! let log = store.create_log("audit", Policy::default())?;
//! let receipts = log.append(&[Event {
//!     action: "workflow.delete".into(),
//!     message: "alice deleted workflow 42".into(),
//!     ..Event::default()
//! }])?;
//! assert_eq!(receipts[0].seq, 0);
//! let newest = log.scan(.., Direction::Backward).next().expect("one record")?;
//! assert_eq!(newest.event()?.expect("not redacted").action, "workflow.delete");
//! assert!(log.verify(0..u64::MAX, &store.public_key())?.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/ARCHITECTURE.md` for the map and `docs/format.md` for every byte.

pub mod archive;
pub mod cancel;
pub mod chain;
pub mod checkpoint;
pub mod clock;
pub mod durability;
pub mod error;
pub mod event;
pub mod faults;
pub mod files;
pub mod format;
pub mod index;
pub mod log;
pub mod maintenance;
pub mod manifest;
mod pools;
pub mod query;
pub mod record;
pub mod retention;
pub mod segment;
mod serde_hex;
pub mod store;
pub mod verify;
pub mod wal;

pub use archive::entry::ArchivedSegment;
pub use archive::target::{ArchiveTarget, ObjectArchive};
pub use cancel::Cancel;
pub use checkpoint::Checkpoint;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use event::validate::Limits;
pub use event::{Actor, ActorKind, Event, Outcome, Resource};
pub use faults::{Faults, NoFaults, Step};
pub use log::{
    Appended, CompactGroup, CompactOptions, CompactProgress, CompactReport, CompactedGroup,
    DedupOptions, Direction, EraseOptions, EraseProgress, EraseReport, FsyncPolicy, Head,
    IndexPolicy, Log, PendingAppend, Policy, RetentionPolicy, SealPolicy, SegmentInfo,
    SegmentState,
};
pub use query::{ExactField, Filter, Hit, Order, Page, Query};
pub use record::{Receipt, Record, RecordBody};
pub use retention::{Anchor, Hold, Removal, RetentionPlan};
pub use segment::SealOptions;
pub use store::erase::StoreEraseReport;
pub use store::retention::{ApplyOptions, RetentionProgress, RetentionReport};
pub use store::{SYSTEM_LOG, Store, StoreOptions};
pub use verify::{
    VerifyFailure, VerifyProgress, VerifyReport, verify_log_dir, verify_log_dir_with_progress,
};
