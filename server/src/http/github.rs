//! `POST /v1/logs/{log}/github`: GitHub webhook deliveries, appended as
//! audit events ([`crate::github`] maps them).
//!
//! The delivery's HMAC signature is its authentication: the route takes no
//! bearer token, and checks `X-Hub-Signature-256` against the secret
//! configured for the log (`[[github_webhooks]]`). A missing or wrong
//! signature is 401, recorded in `_system`; so is a delivery to a log that
//! takes none (403). `ping` (sent when a webhook is created) is answered
//! and not stored.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tonic::Status;

use crate::audit::Caller;
use crate::context::Context;
use crate::github::{self, Delivery, Refused};
use crate::http::LogName;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::ingest::{Receipts, read_body};
use crate::status::invalid;

/// The method deliveries are recorded under in `_system`.
const METHOD: &str = "GitHubWebhook";

/// A header's value as text (empty when absent or not text).
fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `POST /v1/logs/{log}/github`: verifies one delivery and appends its event.
#[utoipa::path(
    post,
    path = "/v1/logs/{log}/github",
    tag = "webhooks",
    summary = "A GitHub webhook delivery, authenticated by X-Hub-Signature-256",
    params(
        ("log" = String, Path, description = "A log with a [[github_webhooks]] secret"),
        ("X-GitHub-Event" = String, Header, description = "The event type"),
        ("X-GitHub-Delivery" = String, Header, description = "The delivery's GUID: the event id"),
        ("X-Hub-Signature-256" = String, Header, description = "sha256=<HMAC-SHA256 of the body with the log's secret>"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "GitHub's payload"),
    responses(
        (status = 200, description = "Stored (or, for `ping`, answered)", body = Receipts),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Missing or wrong signature; recorded in _system", body = ErrorBody),
        (status = 403, description = "The log takes no GitHub webhooks", body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(()),
)]
pub async fn deliver(
    State(ctx): State<Context>,
    LogName(log): LogName,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = Caller {
        name: format!(
            "github webhook {}",
            header(&parts.headers, "x-github-hook-id")
        ),
        peer: tonic::Request::from_parts(
            tonic::metadata::MetadataMap::new(),
            parts.extensions.clone(),
            (),
        )
        .remote_addr(),
    };
    let refuse = |status: Status| {
        ctx.audit.auth_failure(&caller, METHOD, &status);
        status
    };
    let Some(secret) = ctx.github_secrets.get(&log) else {
        return Err(refuse(Status::permission_denied(format!(
            "log `{log}` takes no GitHub webhooks: add a [[github_webhooks]] entry with its secret to the configuration"
        )))
        .into());
    };
    let content_type = header(&parts.headers, "content-type");
    if !content_type.is_empty() && !content_type.starts_with("application/json") {
        return Err(ApiError::unsupported_media(format!(
            "Content-Type: `{content_type}`: set the webhook's content type to application/json in GitHub"
        )));
    }
    let bytes = read_body(&parts.headers, body, ctx.limits.max_request_bytes).await?;
    github::check_signature(
        secret,
        parts
            .headers
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok()),
        &bytes,
    )
    .map_err(|e| refuse(Status::unauthenticated(e.to_string())))?;
    let event = header(&parts.headers, "x-github-event");
    if event == "ping" {
        return Ok(Json(json!({"pong": true})).into_response());
    }
    let payload: Value = serde_json::from_slice(&bytes).map_err(|e| invalid("body", e))?;
    let event = github::to_event(Delivery {
        event,
        id: header(&parts.headers, "x-github-delivery"),
        payload: &payload,
    })
    .map_err(|e| match e {
        Refused::Signature(m) | Refused::Payload(m) => Status::invalid_argument(m),
    })?;
    let appended = ctx.append(&log, vec![event]).await?;
    Ok(Json(Receipts::from(&appended)).into_response())
}
