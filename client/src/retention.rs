//! The operators' retention calls: the policy and the lock, legal holds,
//! applying retention, archived segments and restoring them. Answers are
//! the protobuf messages (`docs/api.md` describes every field); the long
//! calls take a progress callback and return their final result.

use std::time::Duration;

use futures::{Stream, StreamExt};
use stele_proto::v1::{self, apply_retention_response, restore_segment_response};

use crate::client::Client;
use crate::error::{Error, Result};

/// A change to one retention limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Limit<T> {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Remove it: no limit.
    Remove,
    /// Set it to this.
    Set(T),
}

impl Client {
    /// `log`'s retention: policy and lock, holds, anchor, archived
    /// segments, what applying the policy now would do, archive target.
    ///
    /// # Errors
    /// `NOT_FOUND`; `PERMISSION_DENIED` without the `admin` role.
    pub async fn retention(&self, log: &str) -> Result<v1::RetentionInfo> {
        Ok(self
            .admin_rpc()
            .get_retention(v1::GetRetentionRequest {
                log: log.to_string(),
            })
            .await?
            .into_inner())
    }

    /// Changes `log`'s age and size limits (never the lock); returns the
    /// policy now in force.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero or too long age; `INVALID_ARGUMENT`
    /// for a zero size.
    pub async fn set_retention(
        &self,
        log: &str,
        max_age: Limit<Duration>,
        max_bytes: Limit<u64>,
    ) -> Result<v1::RetentionPolicy> {
        let (max_age_ms, clear_max_age) = match max_age {
            Limit::Keep => (None, false),
            Limit::Remove => (None, true),
            Limit::Set(age) => (Some(millis("max_age", age)?), false),
        };
        let (max_bytes, clear_max_bytes) = match max_bytes {
            Limit::Keep => (None, false),
            Limit::Remove => (None, true),
            Limit::Set(bytes) => (Some(bytes), false),
        };
        Ok(self
            .admin_rpc()
            .set_retention(v1::SetRetentionRequest {
                log: log.to_string(),
                max_age_ms,
                clear_max_age,
                max_bytes,
                clear_max_bytes,
            })
            .await?
            .into_inner())
    }

    /// Applies `log`'s retention policy now (or, with `dry_run`, only says
    /// what it would remove); `progress` hears before each segment.
    ///
    /// # Errors
    /// The server's status; segments removed before a failure stay removed.
    pub async fn apply_retention(
        &self,
        log: &str,
        dry_run: bool,
        mut progress: impl FnMut(&v1::RetentionProgress),
    ) -> Result<v1::ApplyRetentionResult> {
        use apply_retention_response::Item;
        let stream = self
            .admin_rpc()
            .apply_retention(v1::ApplyRetentionRequest {
                log: log.to_string(),
                dry_run,
            })
            .await?
            .into_inner();
        last_of(stream, "ApplyRetention", |message| match message.item {
            Some(Item::Progress(p)) => {
                progress(&p);
                None
            }
            Some(Item::Result(r)) => Some(r),
            None => None,
        })
        .await
    }

    /// Raises `log`'s retention lock to `lock`; returns the policy now in
    /// force.
    ///
    /// # Errors
    /// `FAILED_PRECONDITION` when `lock` is below the current lock (a lock
    /// is never lowered); [`Error::Invalid`] for zero.
    pub async fn raise_lock(&self, log: &str, lock: Duration) -> Result<v1::RetentionPolicy> {
        Ok(self
            .admin_rpc()
            .raise_lock(v1::RaiseLockRequest {
                log: log.to_string(),
                lock_ms: millis("lock", lock)?,
            })
            .await?
            .into_inner())
    }

    /// Sets a legal hold on `log` (`segment` `None`) or on the segment
    /// starting at `segment`, saying why.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for an empty reason or an unknown segment.
    pub async fn set_hold(
        &self,
        log: &str,
        segment: Option<u64>,
        reason: &str,
    ) -> Result<v1::Hold> {
        Ok(self
            .admin_rpc()
            .set_hold(v1::SetHoldRequest {
                log: log.to_string(),
                segment,
                reason: reason.to_string(),
            })
            .await?
            .into_inner())
    }

    /// Lifts the legal hold on `log` (`segment` `None`) or on a segment,
    /// saying why; returns the hold lifted.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for an empty reason or when there is no such hold.
    pub async fn lift_hold(
        &self,
        log: &str,
        segment: Option<u64>,
        reason: &str,
    ) -> Result<v1::Hold> {
        Ok(self
            .admin_rpc()
            .lift_hold(v1::LiftHoldRequest {
                log: log.to_string(),
                segment,
                reason: reason.to_string(),
            })
            .await?
            .into_inner())
    }

    /// `log`'s archived segments, oldest first, and the archive target.
    ///
    /// # Errors
    /// `NOT_FOUND`.
    pub async fn list_archived(&self, log: &str) -> Result<v1::ListArchivedResponse> {
        Ok(self
            .admin_rpc()
            .list_archived(v1::ListArchivedRequest {
                log: log.to_string(),
            })
            .await?
            .into_inner())
    }

    /// Restores the archived segment of `log` starting at `first_seq` (and
    /// every archived one after it, up to the local log), kept at least
    /// `keep_for` (the server's 7 days when `None`); `progress` hears after
    /// each segment.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` when it is not archived or no archive target is
    /// configured; `UNAVAILABLE` when the archive fails.
    pub async fn restore_segment(
        &self,
        log: &str,
        first_seq: u64,
        keep_for: Option<Duration>,
        mut progress: impl FnMut(&v1::RestoreProgress),
    ) -> Result<v1::RestoreSegmentResult> {
        use restore_segment_response::Item;
        let keep_for_ms = match keep_for {
            None => 0,
            Some(d) => millis("keep_for", d)?,
        };
        let stream = self
            .admin_rpc()
            .restore_segment(v1::RestoreSegmentRequest {
                log: log.to_string(),
                first_seq,
                keep_for_ms,
            })
            .await?
            .into_inner();
        last_of(stream, "RestoreSegment", |message| match message.item {
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

/// A duration in whole milliseconds, at least one.
pub(crate) fn millis(field: &str, d: Duration) -> Result<u64> {
    let ms = u64::try_from(d.as_millis()).map_err(|_| Error::invalid(field, "is too long"))?;
    if ms == 0 {
        return Err(Error::invalid(field, "must be at least 1 ms"));
    }
    Ok(ms)
}

/// Reads a progress-then-result stream to its end; `result` hands every
/// message's progress on and picks out the final result.
pub(crate) async fn last_of<M, R>(
    mut stream: impl Stream<Item = std::result::Result<M, tonic::Status>> + Unpin,
    call: &str,
    mut result: impl FnMut(M) -> Option<R>,
) -> Result<R> {
    let mut last = None;
    while let Some(message) = stream.next().await {
        if let Some(r) = result(message?) {
            last = Some(r);
        }
    }
    last.ok_or_else(|| Error::Protocol(format!("{call} ended without a result")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_whole_milliseconds() {
        assert_eq!(millis("lock", Duration::from_secs(2)).unwrap(), 2000);
        let err = millis("lock", Duration::from_micros(10)).unwrap_err();
        assert!(err.to_string().starts_with("lock: "), "{err}");
    }
}
