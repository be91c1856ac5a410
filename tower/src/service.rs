//! The layer and its service: each captured call becomes one event, built
//! when the inner service answers and handed to the [`Recorder`], which
//! never waits. Calls that are not captured pass through untouched.
//!
//! The request gets `x-request-id` (a UUIDv7) and `x-correlation-id` (the
//! request id) when it has none, so that the service's own logs can name
//! them; the response carries the request id back. How the call ended,
//! in the event's terms, is `outcome.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use serde_json::json;
use stele_client::{Actor, Event, Outcome};
use tower::{Layer, Service};

use crate::change::Change;
use crate::config::{Builder, Config};
use crate::outcome::{ANONYMOUS, Status, message};
use crate::recorder::Recorder;
use crate::route::{self, Named, Template};
use crate::source::client_ip;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

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
