//! The one error shape of the HTTP API, from the same [`Status`] the gRPC
//! services return (so both front doors say the same thing).
//!
//! Every error is `{"error": {"code": "INVALID_ARGUMENT", "message": "…",
//! "retry_after_secs": 30}}` (`retry_after_secs` only when a retry later
//! will succeed, and then also a `Retry-After` header). The gRPC code picks
//! the HTTP status:
//!
//! | gRPC code | HTTP |
//! |---|---|
//! | `INVALID_ARGUMENT` | 400 |
//! | `UNAUTHENTICATED` | 401, with `WWW-Authenticate: Bearer` |
//! | `PERMISSION_DENIED` | 403 |
//! | `NOT_FOUND`, `OUT_OF_RANGE` (a seq past the end) | 404 |
//! | `ALREADY_EXISTS`, `FAILED_PRECONDITION`, `ABORTED` | 409 |
//! | `RESOURCE_EXHAUSTED`: request too large | 413 |
//! | `RESOURCE_EXHAUSTED`: data disk full | 507 |
//! | `RESOURCE_EXHAUSTED`: other limits | 429 |
//! | `CANCELLED` | 499 |
//! | `UNIMPLEMENTED` | 501 |
//! | `UNAVAILABLE` | 503 |
//! | `DEADLINE_EXCEEDED` | 504 |
//! | `INTERNAL`, `DATA_LOSS`, `UNKNOWN` | 500 |

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::{Code, Status};

use crate::status::{Exhausted, retry_after};

/// A failed HTTP call: a gRPC status, answered in the HTTP shape.
#[derive(Debug)]
pub struct ApiError {
    status: Status,
    http: StatusCode,
}

impl From<Status> for ApiError {
    fn from(status: Status) -> ApiError {
        ApiError {
            http: http_status(&status),
            status,
        }
    }
}

impl ApiError {
    /// A body in a media type or encoding the route does not take
    /// (`INVALID_ARGUMENT`, answered 415).
    pub fn unsupported_media(message: String) -> ApiError {
        ApiError {
            status: Status::invalid_argument(message),
            http: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// No such route or method (`NOT_FOUND` or `UNIMPLEMENTED`, answered
    /// 404 or 405).
    pub fn no_route(message: String, http: StatusCode) -> ApiError {
        ApiError {
            status: Status::not_found(message),
            http,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong, and what to do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// The gRPC code (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …).
    code: &'static str,
    /// What is wrong, naming the field, log, limit or file.
    message: &'a str,
    /// Seconds to wait before retrying, when a retry later will succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u32>,
}

impl<'a> ErrorBody<'a> {
    fn new(status: &'a Status) -> ErrorBody<'a> {
        ErrorBody {
            error: ErrorDetail {
                code: stele_proto::code_name(status.code()),
                message: status.message(),
                retry_after_secs: Some(retry_after(status)).filter(|s| *s > 0),
            },
        }
    }
}

/// The error shape as a JSON value, for an error inside a streamed answer
/// (a line of JSON Lines, an event of a stream).
pub fn error_json(status: &Status) -> serde_json::Value {
    serde_json::to_value(ErrorBody::new(status)).unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = &self.status;
        let body = ErrorBody::new(status);
        let retry = body.error.retry_after_secs;
        let mut response = (self.http, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status.code() == Code::Unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The HTTP status for a gRPC status (the table of the module doc).
pub fn http_status(status: &Status) -> StatusCode {
    match status.code() {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound | Code::OutOfRange => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => match Exhausted::of(status) {
            Some(Exhausted::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Some(Exhausted::DiskFull) => StatusCode::INSUFFICIENT_STORAGE,
            None => StatusCode::TOO_MANY_REQUESTS,
        },
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Internal | Code::DataLoss | Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{over_limit, to_status};

    #[test]
    fn statuses() {
        assert_eq!(
            http_status(&Status::invalid_argument("x")),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(http_status(&over_limit(10)), StatusCode::PAYLOAD_TOO_LARGE);
        let full = to_status(stele_engine::Error::Io {
            op: "write",
            path: "/data/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        });
        assert_eq!(http_status(&full), StatusCode::INSUFFICIENT_STORAGE);
        let response = ApiError::from(full).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
        assert_eq!(
            http_status(&Status::resource_exhausted("subscribers")),
            StatusCode::TOO_MANY_REQUESTS
        );
        let response = ApiError::from(Status::unauthenticated("unknown token")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
