//! How a captured call ended, in the event's terms: its outcome (from the
//! HTTP status, or the `grpc-status` a gRPC answer carries in its
//! headers), the status as the `reason` of a call that did not succeed,
//! and a sentence a person reads ("alice updated workflow 42").

use http::{HeaderMap, StatusCode};
use stele_client::Outcome;

use crate::route::Named;

/// The actor of a call whose request names none.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// An HTTP status (for gRPC, with the `grpc-status` it carried).
    Http(StatusCode, Option<i32>),
    /// The inner service failed without a response.
    Failed,
}

impl Status {
    pub(crate) fn of(code: StatusCode, headers: &HeaderMap) -> Status {
        let grpc = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Status::Http(code, grpc)
    }

    /// 2xx and 3xx (gRPC `OK`) succeed; 401 and 403 (gRPC
    /// `UNAUTHENTICATED`, `PERMISSION_DENIED`) are denied; the rest failed.
    pub(crate) fn outcome(self) -> Outcome {
        match self {
            Status::Http(_, Some(0)) => Outcome::Success,
            Status::Http(_, Some(7 | 16)) => Outcome::Denied,
            Status::Http(_, Some(_)) | Status::Failed => Outcome::Failure,
            Status::Http(code, None)
                if code == StatusCode::UNAUTHORIZED || code == StatusCode::FORBIDDEN =>
            {
                Outcome::Denied
            }
            Status::Http(code, None) if code.is_success() || code.is_redirection() => {
                Outcome::Success
            }
            Status::Http(..) => Outcome::Failure,
        }
    }

    /// `403`, or `grpc 7`.
    pub(crate) fn code(self) -> Option<String> {
        match self {
            Status::Http(_, Some(grpc)) => Some(format!("grpc {grpc}")),
            Status::Http(code, None) => Some(code.as_u16().to_string()),
            Status::Failed => None,
        }
    }
}

/// "alice updated workflow 42", "alice was denied delete of workflow 42
/// (403)", "anonymous failed to create workflow (500)".
pub(crate) fn message(actor: Option<&str>, named: &Named, status: Status) -> String {
    let who = actor.unwrap_or(ANONYMOUS);
    let what = [named.kind.as_str(), named.id.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let what = if what.is_empty() {
        named.action.clone()
    } else {
        what
    };
    let code = status.code().map(|c| format!(" ({c})")).unwrap_or_default();
    match status.outcome() {
        Outcome::Success => match past(&named.verb) {
            Some(done) => format!("{who} {done} {what}"),
            None => format!("{who} called {} on {what}", named.verb),
        },
        Outcome::Denied => format!("{who} was denied {} of {what}{code}", named.verb),
        _ => format!("{who} failed to {} {what}{code}", named.verb),
    }
}

fn past(verb: &str) -> Option<&'static str> {
    Some(match verb {
        "create" => "created",
        "update" => "updated",
        "delete" => "deleted",
        "read" => "read",
        "trigger" => "triggered",
        "run" => "ran",
        "cancel" => "cancelled",
        "archive" => "archived",
        "restore" => "restored",
        "approve" => "approved",
        "reject" => "rejected",
        "enable" => "enabled",
        "disable" => "disabled",
        "invite" => "invited",
        "revoke" => "revoked",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(verb: &str, kind: &str, id: &str) -> Named {
        Named {
            action: format!("{kind}.{verb}"),
            verb: verb.into(),
            kind: kind.into(),
            id: id.into(),
        }
    }

    #[test]
    fn outcomes_follow_the_status() {
        let http = |c: u16| Status::Http(StatusCode::from_u16(c).unwrap(), None).outcome();
        assert_eq!(http(200), Outcome::Success);
        assert_eq!(http(204), Outcome::Success);
        assert_eq!(http(302), Outcome::Success);
        assert_eq!(http(401), Outcome::Denied);
        assert_eq!(http(403), Outcome::Denied);
        assert_eq!(http(404), Outcome::Failure);
        assert_eq!(http(409), Outcome::Failure);
        assert_eq!(http(500), Outcome::Failure);
        let grpc = |g: i32| Status::Http(StatusCode::OK, Some(g)).outcome();
        assert_eq!(grpc(0), Outcome::Success);
        assert_eq!(grpc(7), Outcome::Denied);
        assert_eq!(grpc(16), Outcome::Denied);
        assert_eq!(grpc(5), Outcome::Failure);
        assert_eq!(Status::Failed.outcome(), Outcome::Failure);
    }

    #[test]
    fn messages_read_as_sentences() {
        let ok = Status::Http(StatusCode::OK, None);
        let denied = Status::Http(StatusCode::FORBIDDEN, None);
        let failed = Status::Http(StatusCode::INTERNAL_SERVER_ERROR, None);
        let w = named("update", "workflow", "42");
        assert_eq!(message(Some("alice"), &w, ok), "alice updated workflow 42");
        assert_eq!(
            message(Some("alice"), &w, denied),
            "alice was denied update of workflow 42 (403)"
        );
        assert_eq!(
            message(None, &named("create", "workflow", ""), failed),
            "anonymous failed to create workflow (500)"
        );
        assert_eq!(
            message(Some("bob"), &named("rerun", "job", "7"), ok),
            "bob called rerun on job 7"
        );
    }
}
