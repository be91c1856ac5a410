//! Calls that both front doors (gRPC and HTTP) make the same way, so that
//! they answer the same: an aggregation of either kind, and a verification
//! that reports its progress.

use std::ops::Range;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use stele_engine::query::{Histogram, Terms};
use stele_engine::verify::{VerifyProgress, VerifyReport};
use stele_engine::{ExactField, Log, Query};
use tokio::sync::mpsc;
use tonic::Status;

use crate::status::{blocking, to_status};

/// What an aggregation computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// How many events match.
    Count,
    /// The `top` most frequent values of `field` among them.
    CountBy {
        /// The field.
        field: ExactField,
        /// How many values.
        top: usize,
    },
    /// A date histogram of `interval_ns` buckets, optionally split by the
    /// top values of a field.
    Histogram {
        /// Bucket width.
        interval_ns: i64,
        /// The split field and how many of its values.
        split: Option<(ExactField, usize)>,
    },
}

/// An aggregation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aggregated {
    /// [`Aggregation::Count`], and the index snapshot it saw.
    Count {
        /// Matching events.
        count: u64,
        /// Seq below which it saw records.
        snapshot: u64,
    },
    /// [`Aggregation::CountBy`].
    Terms(Terms),
    /// [`Aggregation::Histogram`].
    Histogram(Histogram),
}

/// Runs `what` over the events of `log` that `query` matches.
///
/// # Errors
/// The engine's status (`INVALID_ARGUMENT` naming the query's fault).
pub async fn aggregate(
    log: Arc<Log>,
    query: Query,
    what: Aggregation,
) -> Result<Aggregated, Status> {
    blocking(move || {
        Ok(match what {
            Aggregation::Count => Aggregated::Count {
                count: log.count(&query)?,
                snapshot: log.index_watermark(),
            },
            Aggregation::CountBy { field, top } => {
                Aggregated::Terms(log.count_by(&query, field, top)?)
            }
            Aggregation::Histogram { interval_ns, split } => {
                Aggregated::Histogram(log.histogram(&query, interval_ns, split)?)
            }
        })
    })
    .await
}

/// One message of a verification.
#[derive(Debug)]
pub enum Verified {
    /// How far it has got.
    Progress(VerifyProgress),
    /// The verdict, the last message.
    Done {
        /// What was checked, and the first failure.
        report: Box<VerifyReport>,
        /// The chain hash the check started from when the log starts at a
        /// retention anchor, so that a client can recompute the rest of the
        /// chain itself.
        anchor_head: Option<[u8; 32]>,
    },
}

/// Verifies `range` of `log` against `key` on the blocking pool; the
/// receiver gets progress, then the verdict or the error that stopped it.
pub fn verify(
    log: Arc<Log>,
    range: Range<u64>,
    key: VerifyingKey,
) -> mpsc::Receiver<Result<Verified, Status>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        let progress_tx = tx.clone();
        let mut progress = |p: VerifyProgress| {
            let _ = progress_tx.blocking_send(Ok(Verified::Progress(p)));
        };
        let last = log
            .verify_with_progress(range, &key, &mut progress)
            .map(|report| {
                let anchor_head = report.anchored_at.and_then(|at| {
                    log.manifest()
                        .anchor
                        .filter(|a| a.first_seq == at)
                        .map(|a| a.head)
                });
                Verified::Done {
                    report: Box::new(report),
                    anchor_head,
                }
            })
            .map_err(to_status);
        let _ = tx.blocking_send(last);
    });
    rx
}
