//! The layer and its service: each captured call becomes one event, built
//! when the inner service answers and handed to the [`Recorder`], which
//! never waits. Calls that are not captured pass through untouched.
//!
//! The request gets `x-request-id` (a UUIDv7) and `x-correlation-id` (the
//! request id) when it has none, so that the service's own logs can name
//! them; the response carries the request id back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;
use stele_client::{Actor, Event, Outcome};
use tower::{Layer, Service};

use crate::change::Change;
use crate::config::{Builder, Config};
use crate::recorder::Recorder;
use crate::route::{self, Named, Template};
use crate::source::client_ip;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");
/// The actor of a call whose request names none.
const ANONYMOUS: &str = "anonymous";

/// The tower layer that audits a service's calls. Build it with
/// [`AuditLayer::builder`]; clone it freely.
#[derive(Debug, Clone)]
pub struct AuditLayer {
    config: Arc<Config>,
    recorder: Recorder,
}

impl AuditLayer {
    /// Starts configuring a layer that records through `recorder`.
    #[must_use]
    pub fn builder(recorder: Recorder) -> Builder {
        Builder::new(recorder)
    }

    pub(crate) fn new(config: Arc<Config>, recorder: Recorder) -> AuditLayer {
        AuditLayer { config, recorder }
    }

    /// The recorder's counters ([`Recorder::stats`]).
    #[must_use]
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audit<S>;

    fn layer(&self, inner: S) -> Audit<S> {
        Audit {
            inner,
            config: self.config.clone(),
            recorder: self.recorder.clone(),
        }
    }
}

/// A service wrapped by [`AuditLayer`].
#[derive(Debug, Clone)]
pub struct Audit<S> {
    inner: S,
    config: Arc<Config>,
    recorder: Recorder,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Audit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone is the ready one's stand-in; the ready one is called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        let (mut parts, body) = request.into_parts();
        let Some(call) = Call::begin(&self.config, &mut parts) else {
            return Box::pin(inner.call(Request::from_parts(parts, body)));
        };
        let recorder = self.recorder.clone();
        let config = self.config.clone();
        let answer = inner.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let mut result = answer.await;
            let status = match &mut result {
                Ok(response) => {
                    let headers = response.headers_mut();
                    if !headers.contains_key(REQUEST_ID)
                        && let Ok(v) = HeaderValue::from_str(&call.request_id)
                    {
                        headers.insert(REQUEST_ID, v);
                    }
                    Status::of(response.status(), response.headers())
                }
                Err(_) => Status::Failed,
            };
            recorder.record(call.finish(&config, status, started));
            result
        })
    }
}

/// What the layer learnt of a captured call before the inner service ran.
struct Call {
    method: Method,
    path: String,
    route: String,
    named: Named,
    actor: Option<String>,
    tenant: Option<String>,
    ip: Option<String>,
    user_agent: String,
    request_id: String,
    correlation_id: String,
    change: Change,
}

impl Call {
    /// `None` when the call is not captured; otherwise notes the call and
    /// adds its ids and the [`Change`] hook to the request.
    fn begin(config: &Config, parts: &mut http::request::Parts) -> Option<Call> {
        let path = parts.uri.path().to_string();
        let matched = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| Template::parse(m.as_str()));
        let configured = config.route(&parts.method, &path);
        let template = matched
            .or_else(|| configured.map(|r| r.template.clone()))
            .unwrap_or_else(|| Template::infer(&path));
        if !config.captures(&parts.method, template.as_str(), &path) {
            return None;
        }
        let mut named = route::name(&parts.method, &template, &path);
        if let Some(action) = configured.and_then(|r| r.action.clone()) {
            named.action = action;
        }
        let request_id = header_or(&mut parts.headers, REQUEST_ID, || {
            uuid::Uuid::now_v7().to_string()
        });
        let correlation_id = header_or(&mut parts.headers, CORRELATION_ID, || request_id.clone());
        let change = Change::default();
        parts.extensions.insert(change.clone());
        Some(Call {
            actor: config.actor.read(parts),
            tenant: config.tenant.as_ref().and_then(|t| t.read(parts)),
            ip: client_ip(parts, &config.trusted_proxies).map(|ip| ip.to_string()),
            user_agent: parts
                .headers
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            method: parts.method.clone(),
            route: template.as_str().to_string(),
            path,
            named,
            request_id,
            correlation_id,
            change,
        })
    }

    /// The event of the finished call.
    fn finish(self, config: &Config, status: Status, started: Instant) -> Event {
        let elapsed = started.elapsed();
        let mut actor = Actor::user(self.actor.as_deref().unwrap_or(ANONYMOUS));
        if let Some(ip) = &self.ip {
            actor = actor.ip(ip);
        }
        if !self.user_agent.is_empty() {
            actor = actor.user_agent(&self.user_agent);
        }
        let mut http = json!({
            "method": self.method.as_str(),
            "path": self.path,
            "route": self.route,
            "duration_us": u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        });
        if let Status::Http(code, grpc) = status {
            http["status"] = code.as_u16().into();
            if let Some(grpc) = grpc {
                http["grpc_status"] = grpc.into();
            }
        }
        let mut event = Event::new(self.named.action.clone())
            .actor(actor)
            .outcome(status.outcome())
            .request_id(&self.request_id)
            .correlation_id(&self.correlation_id)
            .duration_ms(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .message(message(self.actor.as_deref(), &self.named, status))
            .detail("http", http);
        if let Some(change) = self.change.take() {
            event = event.detail("change", change);
        }
        if !self.named.kind.is_empty() {
            event = event.resource(&self.named.kind, &self.named.id);
        }
        if let Some(tenant) = &self.tenant {
            event = event.tenant(tenant);
        }
        if !config.source.is_empty() {
            event = event.source(&config.source);
        }
        if status.outcome() != Outcome::Success
            && let Some(code) = status.code()
        {
            event = event.reason(code.to_string());
        }
        event
    }
}

/// The request's header `name`, added from `make` when missing or not text.
fn header_or(headers: &mut HeaderMap, name: HeaderName, make: impl FnOnce() -> String) -> String {
    if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok())
        && !v.is_empty()
    {
        return v.to_string();
    }
    let value = make();
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
    value
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// An HTTP status (for gRPC, with the `grpc-status` it carried).
    Http(StatusCode, Option<i32>),
    /// The inner service failed without a response.
    Failed,
}

impl Status {
    fn of(code: StatusCode, headers: &HeaderMap) -> Status {
        let grpc = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Status::Http(code, grpc)
    }

    /// 2xx and 3xx (gRPC `OK`) succeed; 401 and 403 (gRPC
    /// `UNAUTHENTICATED`, `PERMISSION_DENIED`) are denied; the rest failed.
    fn outcome(self) -> Outcome {
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
    fn code(self) -> Option<String> {
        match self {
            Status::Http(_, Some(grpc)) => Some(format!("grpc {grpc}")),
            Status::Http(code, None) => Some(code.as_u16().to_string()),
            Status::Failed => None,
        }
    }
}

/// "alice updated workflow 42", "alice was denied delete of workflow 42
/// (403)", "anonymous failed to create workflow (500)".
fn message(actor: Option<&str>, named: &Named, status: Status) -> String {
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
