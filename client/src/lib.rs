//! `stele-client`: the Rust client for Stele, the write-once audit log
//! store, and the library under the `stele` command line.
//!
//! - [`Client`] connects to a `steled` (endpoint, bearer token, optional
//!   TLS) and makes the plain calls: append a batch, aggregate, read a
//!   record, administer logs and segments.
//! - [`Event`] builds events in the DESIGN schema, with `details` from any
//!   `serde::Serialize`; [`Record`] is an event as stored.
//! - [`Appender`] batches, pipelines and retries appends safely.
//! - [`Client::query`] pages through search results with the cursor.
//! - [`Client::subscribe`] follows a log and resumes after disconnects.
//! - [`import`] maps other systems' audit records (AWS CloudTrail) to
//!   events.
//! - [`verify`] checks checkpoints against a pinned key and receipts
//!   against a later checkpoint.
//! - [`Client::retention`] and its neighbours run retention, archival,
//!   legal holds and the retention lock; [`Client::compact`] and
//!   [`Client::erase`] rewrite sealed segments.
//!
//! ```no_run
//! use stele_client::{Actor, Client, ClientConfig, Event, Outcome};
//! # async fn demo() -> stele_client::Result<()> {
//! let client = Client::connect(ClientConfig::new("http://127.0.0.1:7070")).await?;
//! let receipts = client
//!     .append("audit", &[Event::new("workflow.delete")
//!         .actor(Actor::user("alice").ip("203.0.113.7"))
//!         .resource("workflow", "42")
//!         .outcome(Outcome::Success)])
//!     .await?;
//! println!("seq {}", receipts[0].seq);
//! # Ok(()) }
//! ```

mod appender;
mod client;
mod error;
mod event;
pub mod import;
pub mod proof;
mod query;
mod retention;
mod retry;
mod rewrite;
mod scrub;
mod subscribe;
pub mod verify;

pub use appender::{Appender, AppenderOptions, PendingReceipt};
pub use client::{AdminRpc, Bearer, Client, ClientConfig, DEFAULT_ENDPOINT, SteleRpc};
pub use error::{Error, Result};
pub use event::{Actor, ActorKind, Event, Outcome, Receipt, Record, Resource};
pub use query::{Order, Page, Query, RecordStream, Selection};
pub use retention::Limit;
pub use retry::Retry;
pub use rewrite::CompactOptions;
pub use scrub::Scrubbed;
pub use stele_proto::v1 as proto;
pub use subscribe::{Item, Start, SubscribeOptions, Subscription};
