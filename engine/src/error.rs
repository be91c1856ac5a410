//! The engine's error type.
//!
//! One enum for the whole library, `#[non_exhaustive]`, so that callers (the
//! gRPC layer maps these to status codes in one place) can match on the kind
//! of failure. Messages are lowercase, without a trailing period, and name the
//! thing that failed: the field, the file, the seq.

use std::path::{Path, PathBuf};

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event of a batch failed validation; the batch was not appended.
    #[error("event {index}: field `{field}`: {reason}")]
    InvalidEvent {
        /// Position of the event in its batch.
        index: usize,
        /// Dotted path of the offending field, for example `actor.ip`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A caller-supplied argument (log name, policy, range, ...) is invalid.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument, for example `log name` or `policy.fsync`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No log of that name exists.
    #[error("log `{0}` does not exist")]
    LogNotFound(String),
    /// A log of that name already exists.
    #[error("log `{0}` already exists")]
    LogExists(String),
    /// The record at that seq does not exist (yet, or any more).
    #[error("log `{log}` has no record at seq {seq} (its records are {first}..{next})")]
    SeqOutOfRange {
        /// The log.
        log: String,
        /// The seq asked for.
        seq: u64,
        /// First seq still stored.
        first: u64,
        /// Seq the next append will get.
        next: u64,
    },
    /// Another process (or another `Store` in this one) holds the data directory.
    #[error("data directory {} is in use by another process (lock file {})", dir.display(), lock.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// Stored data failed a check: a checksum, a hash, a structural rule.
    #[error("corrupted {} at offset {offset}: {reason}", file.display())]
    Corrupted {
        /// The file holding the bad bytes.
        file: PathBuf,
        /// Byte offset in that file where the problem was found.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A previous write or fsync failed; the log refuses writes until reopened.
    #[error("log `{log}` stopped accepting writes after an I/O failure: {reason}")]
    Poisoned {
        /// The log.
        log: String,
        /// The failure that poisoned it.
        reason: String,
    },
    /// An operating system I/O error on a named file.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done, for example `write` or `fsync`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A search index failed to open, write or search. The index is derived
    /// data: rebuilding it from the segments repairs it.
    #[error("index {}: {reason}", dir.display())]
    Index {
        /// The segment index's directory.
        dir: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A query is malformed; `what` names the part (`text`, `limit`, `cursor`,
    /// a filter's field) and `reason` says what is wrong and where.
    #[error("invalid query {what}: {reason}")]
    InvalidQuery {
        /// The part of the query at fault.
        what: String,
        /// What is wrong with it, with a position for text.
        reason: String,
    },
    /// A checkpoint's signature or contents do not check out.
    #[error("checkpoint rejected: {0}")]
    BadCheckpoint(String),
    /// The request breaks a rule that protects stored data: the retention
    /// lock, a legal hold.
    #[error("refused: {0}")]
    Refused(String),
    /// An archive target failed or refused a request: the object is missing,
    /// the store is unreachable, the credentials are wrong, the key is bad.
    #[error("archive {location}: {reason}")]
    Archive {
        /// The object or target, `s3://bucket/prefix/key` or `/abs/dir/key`.
        location: String,
        /// What went wrong; `no such object` for a missing one.
        reason: String,
    },
    /// The caller called the work off ([`crate::Cancel`]) before it ended.
    #[error("cancelled: the caller stopped waiting")]
    Cancelled,
}

impl Error {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { op, path, source }
    }

    /// A corruption report for `file` at `offset`.
    pub(crate) fn corrupted(file: &Path, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corrupted {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// A tantivy failure on the index in `dir`.
    pub(crate) fn index(dir: &Path) -> impl FnOnce(tantivy::TantivyError) -> Error {
        let dir = dir.to_path_buf();
        move |e| Error::Index {
            dir,
            reason: e.to_string(),
        }
    }

    /// A malformed query part `what`.
    pub(crate) fn query(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidQuery {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// A failed archive request on `location`.
    pub(crate) fn archive(location: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Archive {
            location: location.into(),
            reason: reason.into(),
        }
    }

    /// An invalid argument named `what`.
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
