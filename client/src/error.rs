//! The client's error type: what went wrong, and whether trying again can
//! help.

use tonic::Code;

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint, token or certificate given is unusable.
    #[error("{what}: {reason}")]
    Config {
        /// The setting at fault (`endpoint`, `token`, `ca_cert`).
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// The server could not be reached.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// What the transport reported.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{}: {}", stele_proto::code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    /// Something the caller built is not valid (an event, a selection).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// The server sent something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Evidence does not check out: a signature, a chain link or a digest.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The appender or subscription was closed, or gave up retrying.
    #[error("{0}")]
    Closed(String),
}

impl Error {
    /// The gRPC status code of a server error.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Status(s) => Some(s.code()),
            _ => None,
        }
    }

    /// True when the same call may succeed later: the server is restarting,
    /// overloaded, its disk is full (`RESOURCE_EXHAUSTED` with a
    /// `retry-after`), or the connection dropped. Appends are safe to retry
    /// because events carry ids; subscriptions resume where they stood.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Status(s) => {
                is_transient_code(s.code())
                    || (s.code() == Code::ResourceExhausted
                        && s.metadata().contains_key("retry-after"))
            }
            _ => false,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Codes that a dropped connection, a restart or an overload produce.
/// `Internal` is among them because tonic reports a connection reset in the
/// middle of a stream as an HTTP/2 protocol error.
pub(crate) fn is_transient_code(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
    )
}

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_transient_an_oversized_request_is_not() {
        let mut full = tonic::Status::resource_exhausted("the data disk is full");
        full.metadata_mut()
            .insert("retry-after", "30".parse().unwrap());
        assert!(Error::Status(full).is_transient());
        let too_big = tonic::Status::resource_exhausted("over the limit of 16777216 bytes");
        assert!(!Error::Status(too_big).is_transient());
        assert!(Error::Status(tonic::Status::unavailable("restarting")).is_transient());
    }
}
