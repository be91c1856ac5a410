//! `GET /v1/logs/{log}/tail`: a live tail as server-sent events, the HTTP
//! face of gRPC's `Subscribe` (the same walk, [`crate::subscribe`]).
//!
//! Each event's `id` is the seq to resume from: a record's seq plus one,
//! a heartbeat's `resume_seq`. A client that reconnects with the last id
//! it saw in `Last-Event-ID` (browsers' `EventSource` does this itself)
//! continues with the next record, with no gap and no repeat.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::request::Parts;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tonic::Status;

use crate::auth::Role;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody, error_json};
use crate::http::read::{RecordJson, SearchParams};
use crate::http::{LogName, Params, admit};
use crate::status::{invalid, to_status};
use crate::subscribe::{self, DEFAULT_HEARTBEAT, Delivery, MIN_HEARTBEAT, Plan, Start};

/// The parameters of the tail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TailParams {
    /// The query language of `docs/query.md`; with full text, records
    /// arrive once they are searchable.
    #[serde(default)]
    q: String,
    /// Event time range, as for search.
    since: Option<String>,
    until: Option<String>,
    /// Start at this seq; without it (and without `Last-Event-ID`), at the
    /// head: only what is appended from now on.
    from_seq: Option<u64>,
    /// Heartbeat interval in ms while nothing matches (1000, at least 50).
    heartbeat_ms: Option<u64>,
}

/// `GET /v1/logs/{log}/tail`: starts the subscription and streams it as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/tail",
    tag = "events",
    summary = "Live tail as server-sent events; resumes from Last-Event-ID",
    params(
        ("log" = String, Path, description = "The log"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last id received: resume after it"),
        TailParams,
    ),
    responses(
        (status = 200, description = "`record`, `heartbeat` and `error` events; each id is the seq to resume from", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, description = "limits.max_subscribers tails and subscriptions are open", body = ErrorBody),
    ),
)]
pub async fn tail(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<TailParams>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let session = admit(&ctx, &parts, "Subscribe", Role::Read, Some(&log))?;
    let resume = match parts.headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| invalid("Last-Event-ID", "is not an id this tail sent"))?,
        ),
    };
    let heartbeat = params
        .heartbeat_ms
        .map_or(DEFAULT_HEARTBEAT, Duration::from_millis);
    if heartbeat < MIN_HEARTBEAT {
        return Err(invalid(
            "heartbeat_ms",
            format!("must be at least {}", MIN_HEARTBEAT.as_millis()),
        )
        .into());
    }
    let mut query = SearchParams::selection(params.q, params.since, params.until).query(&ctx)?;
    session.principal.narrow(&mut query);
    let log = ctx.log(&log).await?;
    log.check_query(&query).map_err(to_status)?;
    let permit = ctx.subscribers.clone().try_acquire_owned().map_err(|_| {
        Status::resource_exhausted(format!(
            "{} subscriptions are open, the limit (limits.max_subscribers)",
            ctx.limits.max_subscribers
        ))
    })?;
    let start = Start::Seq(
        resume
            .or(params.from_seq)
            .unwrap_or_else(|| log.visible_seq()),
    );
    let plan = Plan {
        log,
        start,
        query,
        heartbeat,
        chunk: ctx.limits.subscribe_chunk,
    };
    let events = subscribe::spawn(plan, ctx.shutdown.clone(), permit, sse_event).map(|item| {
        Ok::<_, Infallible>(match item {
            Ok(event) => event,
            Err(status) => SseEvent::default()
                .event("error")
                .data(error_json(&status).to_string()),
        })
    });
    Ok(Sse::new(events).into_response())
}

/// The server-sent event for a delivery.
fn sse_event(delivery: Delivery) -> SseEvent {
    match delivery {
        Delivery::Record(hit) => {
            let next = hit.record.seq + 1;
            let json = RecordJson::new(&hit.record, hit.event);
            SseEvent::default()
                .event("record")
                .id(next.to_string())
                .data(serde_json::to_string(&json).unwrap_or_default())
        }
        Delivery::Heartbeat {
            head_seq,
            resume_seq,
        } => SseEvent::default()
            .event("heartbeat")
            .id(resume_seq.to_string())
            .data(serde_json::json!({"head_seq": head_seq, "resume_seq": resume_seq}).to_string()),
    }
}
