//! The one place where failures become gRPC status codes.
//!
//! | engine error | code |
//! |---|---|
//! | `InvalidEvent`, `InvalidArgument`, `InvalidQuery` | `INVALID_ARGUMENT` |
//! | `LogNotFound` | `NOT_FOUND` |
//! | `LogExists` | `ALREADY_EXISTS` |
//! | `SeqOutOfRange` | `OUT_OF_RANGE` |
//! | `Corrupted` | `DATA_LOSS` |
//! | `Poisoned`, `Locked`, `Archive` | `UNAVAILABLE` |
//! | `BadCheckpoint`, `Refused` | `FAILED_PRECONDITION` |
//! | `Index`, `Io`, anything else | `INTERNAL` |
//!
//! Authentication and authorization codes come from [`crate::auth`]; a
//! request over the size limit is `RESOURCE_EXHAUSTED` ([`over_limit`]).

use stele_engine::Error;
use tonic::{Code, Status};

/// The status for an engine error; its message is the error's, which names
/// the field, log, seq or file.
pub fn to_status(error: Error) -> Status {
    // An invalid event is named as the request names it, `events[1].action`,
    // like the fields the server checks itself (`events[1].details_json`).
    if let Error::InvalidEvent {
        index,
        field,
        reason,
    } = &error
    {
        return invalid(&format!("events[{index}].{field}"), reason);
    }
    if let Error::Io { source, .. } = &error
        && matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    {
        return disk_full(&error);
    }
    let code = match &error {
        Error::InvalidEvent { .. } | Error::InvalidArgument { .. } | Error::InvalidQuery { .. } => {
            Code::InvalidArgument
        }
        Error::LogNotFound(_) => Code::NotFound,
        Error::LogExists(_) => Code::AlreadyExists,
        Error::SeqOutOfRange { .. } => Code::OutOfRange,
        Error::Corrupted { .. } => Code::DataLoss,
        Error::Poisoned { .. } | Error::Locked { .. } | Error::Archive { .. } => Code::Unavailable,
        Error::BadCheckpoint(_) | Error::Refused(_) => Code::FailedPrecondition,
        Error::Cancelled => Code::Cancelled,
        _ => Code::Internal,
    };
    if code == Code::Internal {
        tracing::error!(%error, "internal error");
    }
    Status::new(code, error.to_string())
}

/// Seconds a client is told to wait before retrying on a full disk.
const DISK_FULL_RETRY_SECS: u32 = 30;

/// The metadata key that tells two kinds of `RESOURCE_EXHAUSTED` apart
/// (the HTTP API answers them with different statuses).
const REASON: &str = "stele-reason";

/// Why a `RESOURCE_EXHAUSTED` was returned, where it matters to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The data disk or quota is full: retry later ([`retry_after`]).
    DiskFull,
    /// The request is over `limits.max_request_bytes`: send less.
    TooLarge,
}

impl Exhausted {
    fn tag(self) -> &'static str {
        match self {
            Exhausted::DiskFull => "disk-full",
            Exhausted::TooLarge => "too-large",
        }
    }

    /// Which one `status` is, if either.
    pub fn of(status: &Status) -> Option<Exhausted> {
        let tag = status.metadata().get(REASON)?.to_str().ok()?;
        [Exhausted::DiskFull, Exhausted::TooLarge]
            .into_iter()
            .find(|e| e.tag() == tag)
    }

    fn mark(self, mut status: Status) -> Status {
        status.metadata_mut().insert(
            REASON,
            tonic::metadata::MetadataValue::from_static(self.tag()),
        );
        status
    }
}

/// `RESOURCE_EXHAUSTED`, with a `retry-after` in seconds, for work refused
/// because the data disk (or the user's quota) is full: nothing
/// acknowledged is lost, reads go on, and the same call succeeds once space
/// is freed, so clients should back off and retry rather than alert on a
/// server bug.
fn disk_full(error: &Error) -> Status {
    tracing::error!(%error, "the data disk is full");
    let mut status = Exhausted::DiskFull.mark(Status::resource_exhausted(format!(
        "{error}: the data disk is full; retry after space is freed (retention, archival, a larger disk)"
    )));
    status
        .metadata_mut()
        .insert("retry-after", DISK_FULL_RETRY_SECS.into());
    status
}

/// The `retry-after` seconds a status carries; 0 for none.
pub fn retry_after(status: &Status) -> u32 {
    status
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// `RESOURCE_EXHAUSTED` for a request over the configured size limit.
pub fn over_limit(limit: usize) -> Status {
    Exhausted::TooLarge.mark(Status::resource_exhausted(format!(
        "the request is over the limit of {limit} bytes (limits.max_request_bytes)"
    )))
}

/// A status from the transport as the client should see it: a message over
/// the size limit (which tonic reports as `OUT_OF_RANGE`) becomes
/// [`over_limit`].
pub fn from_transport(status: Status, limit: usize) -> Status {
    if status.code() == Code::OutOfRange && status.message().contains("message length too large") {
        over_limit(limit)
    } else {
        status
    }
}

/// An invalid request field.
pub fn invalid(field: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

/// Runs blocking engine work on tokio's blocking pool and maps its error.
///
/// # Errors
/// The work's error as a status; `INTERNAL` if it panicked.
pub async fn blocking<T, F>(work: F) -> Result<T, Status>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(to_status),
        Err(join) => {
            tracing::error!(error = %join, "blocking task failed");
            Err(Status::internal("the request's work failed unexpectedly"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_resource_exhausted_with_a_retry_after() {
        for kind in [
            std::io::ErrorKind::StorageFull,
            std::io::ErrorKind::QuotaExceeded,
        ] {
            let status = to_status(Error::Io {
                op: "write",
                path: "/data/audit/segments/1.wal".into(),
                source: std::io::Error::from(kind),
            });
            assert_eq!(status.code(), Code::ResourceExhausted, "{kind:?}");
            assert_eq!(Exhausted::of(&status), Some(Exhausted::DiskFull));
            assert!(
                status.message().contains("the data disk is full"),
                "{status:?}"
            );
            assert_eq!(
                status
                    .metadata()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                Some("30")
            );
        }
        let other = to_status(Error::Io {
            op: "write",
            path: "/data".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(other.code(), Code::Internal);
        assert_eq!(retry_after(&other), 0);
    }

    #[test]
    fn codes() {
        assert_eq!(
            to_status(Error::LogNotFound("x".into())).code(),
            Code::NotFound
        );
        let s = to_status(Error::InvalidEvent {
            index: 2,
            field: "actor.ip".into(),
            reason: "bad".into(),
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("events[2].actor.ip: bad"), "{s:?}");
        assert_eq!(over_limit(5).code(), Code::ResourceExhausted);
        assert_eq!(Exhausted::of(&over_limit(5)), Some(Exhausted::TooLarge));
        let s = to_status(Error::Refused("retention lock of 7d".into()));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("retention lock"), "{s:?}");
    }
}
