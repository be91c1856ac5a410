//! The operators' calls that rewrite sealed segments: compaction (merge
//! small segments) and erasure (remove the bodies of matching records,
//! keeping their digests). Both stream progress to a callback and return
//! their final result, as the protobuf message (`docs/api.md`).

use stele_proto::v1::{self, compact_response, erase_response};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::Selection;
use crate::retention::last_of;

/// What to compact; zeros take the server's defaults (a quarter of the
/// log's seal size, and its seal size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactOptions {
    /// Segments whose file is this big or bigger are left alone.
    pub small_bytes: u64,
    /// Largest merged segment, as its members' file sizes added up.
    pub target_bytes: u64,
    /// Only plan: change nothing.
    pub dry_run: bool,
}

impl Client {
    /// Merges runs of `log`'s small adjacent sealed segments (or, with
    /// `dry_run`, only says which); `progress` hears as records are copied.
    ///
    /// # Errors
    /// The server's status; groups merged before a failure stay merged.
    pub async fn compact(
        &self,
        log: &str,
        options: CompactOptions,
        mut progress: impl FnMut(&v1::CompactProgress),
    ) -> Result<v1::CompactResult> {
        use compact_response::Item;
        let stream = self
            .admin_rpc()
            .compact(v1::CompactRequest {
                log: log.to_string(),
                small_bytes: options.small_bytes,
                target_bytes: options.target_bytes,
                dry_run: options.dry_run,
            })
            .await?
            .into_inner();
        last_of(stream, "Compact", |message| match message.item {
            Some(Item::Progress(p)) => {
                progress(&p);
                None
            }
            Some(Item::Result(r)) => Some(r),
            None => None,
        })
        .await
    }

    /// Erases the bodies of `log`'s records that `selection` matches (or,
    /// with `dry_run`, only counts them), saying why; `progress` hears
    /// before each segment is rewritten. Erased records keep their seq,
    /// ingest time and digest, and read back as redacted.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty reason; `INVALID_ARGUMENT` for a
    /// selection naming no records; `FAILED_PRECONDITION` under a legal
    /// hold. Segments erased before a failure stay erased.
    pub async fn erase(
        &self,
        log: &str,
        selection: &Selection,
        reason: &str,
        dry_run: bool,
        mut progress: impl FnMut(&v1::EraseProgress),
    ) -> Result<v1::EraseResult> {
        use erase_response::Item;
        if reason.trim().is_empty() {
            return Err(Error::invalid("reason", "is required: say why"));
        }
        let stream = self
            .admin_rpc()
            .erase(v1::EraseRequest {
                log: log.to_string(),
                selection: Some(selection.to_proto()?),
                reason: reason.to_string(),
                dry_run,
            })
            .await?
            .into_inner();
        last_of(stream, "Erase", |message| match message.item {
            Some(Item::Progress(p)) => {
                progress(&p);
                None
            }
            Some(Item::Result(r)) => Some(r),
            None => None,
        })
        .await
    }
}
