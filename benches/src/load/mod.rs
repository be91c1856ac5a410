//! The parts of `stele-load`, the load generator that drives a running
//! `steled` over gRPC: appenders streaming generated events, a querier
//! issuing selective searches at a fixed rate, and subscribers following the
//! log live and measuring how long each event took to reach them.
//!
//! - [`connect`]: channels to the server, TLS and the bearer token.
//! - [`convert`]: generated engine events as API events, stamped with the
//!   time they were sent.
//! - [`append`]: one `AppendStream` connection with batches in flight.
//! - [`query`]: the query mix and the task that issues it.
//! - [`freshness`]: the searcher that times ack → searchable.
//! - [`subscribe`]: one subscriber and its lag and seq checks.
//! - [`sizes`]: the log's bytes once sealed and indexed.
//! - [`report`]: the figures of a run as a table and as JSON.
//!
//! The binary (`src/bin/stele-load.rs`) parses the flags and runs these
//! together.

pub mod append;
pub mod connect;
pub mod convert;
pub mod freshness;
pub mod http_append;
pub mod query;
pub mod report;
pub mod sizes;
pub mod subscribe;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tonic::Status;

/// How long a call, or a batch on a stream, may wait for its answer before
/// it is counted as failed.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors printed to stderr as they happen; later ones are only counted.
const PRINTED_ERRORS: u64 = 10;

/// Where a run stands; the appenders' progress, as the querier and the
/// subscribers see it through a `tokio::sync::watch` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The appenders are sending.
    Appending,
    /// Every appender is done; subscribers finish once they have seen every
    /// record below `next_seq`.
    Draining {
        /// One past the highest seq acknowledged to the appenders (0 when
        /// nothing was).
        next_seq: u64,
    },
    /// Everything stops now.
    Stopped,
}

/// Prints the first few errors of a run to stderr as they happen; the
/// tasks count them in their own figures.
#[derive(Debug, Default)]
pub struct ErrorPrinter {
    seen: AtomicU64,
}

impl ErrorPrinter {
    /// Reports one error of `what` (an appender, the querier, a
    /// subscriber).
    pub fn report(&self, what: &str, message: &str) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if n < PRINTED_ERRORS {
            eprintln!("stele-load: {what}: {message}");
        } else if n == PRINTED_ERRORS {
            eprintln!("stele-load: more errors: counted, not printed");
        }
    }
}

/// A gRPC status as one line: its code and message.
pub fn status_text(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// The largest value a histogram tells apart: an hour, in microseconds.
/// Larger values are recorded as this (`saturating_record`).
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// An empty histogram of microseconds, from 0 to [`HISTOGRAM_MAX_US`], with
/// three significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("valid, constant bounds")
}

/// `duration` in whole microseconds, the unit every histogram here records.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
