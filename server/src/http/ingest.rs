//! `POST /v1/logs/{log}/events`: one event, an array, or JSON Lines,
//! gzip-encoded or not, appended as one atomic batch; the answer holds the
//! receipts in the batch's order.
//!
//! # Invariants
//! - The body is refused with 413 before it is buffered when its
//!   `Content-Length` is over `limits.max_request_bytes`, and while it is
//!   read otherwise; a gzip body is held to the same limit once decoded.
//! - Nothing of a refused batch is stored: every event is parsed before
//!   any is appended, and the engine checks the whole batch first.
//! - An error names the event as gRPC does, `events[3].actor.ip`, with the
//!   line for JSON Lines.

use std::io::Read;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use stele_engine::{Appended, Event};
use tonic::Status;

use crate::auth::Role;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{LogName, admit};
use crate::status::{invalid, over_limit};

/// How the events are written in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// One JSON object, or an array of them.
    Json,
    /// One JSON object per line.
    Lines,
}

/// The media types accepted, for the 415 message.
const ACCEPTED: &str = "application/json, or application/x-ndjson for JSON Lines";

impl Framing {
    /// The framing named by the `Content-Type` header (JSON when absent).
    fn of(headers: &HeaderMap) -> Result<Framing, ApiError> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return Ok(Framing::Json);
        };
        let essence = value
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "text/json" => Ok(Framing::Json),
            "application/x-ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Ok(Framing::Lines),
            other => Err(ApiError::unsupported_media(format!(
                "Content-Type: `{other}` is not accepted: send {ACCEPTED} (curl: -H 'Content-Type: application/json')"
            ))),
        }
    }
}

/// Whether the body is gzip-encoded, from `Content-Encoding`.
fn gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
            Ok(true)
        }
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => Ok(false),
        Some(v) => Err(ApiError::unsupported_media(format!(
            "Content-Encoding: `{}` is not accepted: send gzip or nothing",
            v.unwrap_or("?")
        ))),
    }
}

/// One receipt as the HTTP API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiptJson {
    /// The record's seq.
    pub seq: u64,
    /// Its leaf hash, hex.
    pub leaf_hash: String,
    /// The chain hash after it, hex.
    pub chain_hash: String,
    /// True when the event's id was already stored: this is the original
    /// receipt and nothing new was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl ReceiptJson {
    /// From the engine's receipt.
    pub fn new(r: &stele_engine::Receipt, duplicate: bool) -> ReceiptJson {
        ReceiptJson {
            seq: r.seq,
            leaf_hash: hex::encode(r.leaf_hash),
            chain_hash: hex::encode(r.chain_hash),
            duplicate,
        }
    }
}

/// The answer to an append.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipts {
    /// One per event, in the batch's order.
    pub receipts: Vec<ReceiptJson>,
}

impl From<&Appended> for Receipts {
    fn from(appended: &Appended) -> Receipts {
        Receipts {
            receipts: appended
                .receipts
                .iter()
                .zip(&appended.duplicates)
                .map(|(r, dup)| ReceiptJson::new(r, *dup))
                .collect(),
        }
    }
}

/// `POST /v1/logs/{log}/events`: parses the body and appends its events as one batch.
#[utoipa::path(
    post,
    path = "/v1/logs/{log}/events",
    tag = "events",
    summary = "Append one event, an array, or JSON Lines, as one atomic batch",
    params(("log" = String, Path, description = "The log")),
    request_body(
        content(
            (serde_json::Value = "application/json"),
            (String = "application/x-ndjson"),
        ),
        description = "One event or an array of events (application/json), or one event per line (application/x-ndjson), in the JSON form of docs/api.md#event; may be gzip-encoded (Content-Encoding: gzip)",
    ),
    responses(
        (status = 200, description = "Every event stored, durable", body = Receipts),
        (status = 400, description = "A bad event, naming its index and field; nothing stored", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, description = "Over limits.max_request_bytes", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 507, description = "The data disk is full; Retry-After", body = ErrorBody),
    ),
)]
pub async fn post_events(
    State(ctx): State<Context>,
    LogName(log): LogName,
    request: Request,
) -> Result<Json<Receipts>, ApiError> {
    let (parts, body) = request.into_parts();
    admit(&ctx, &parts, "Append", Role::Append, Some(&log))?;
    let framing = Framing::of(&parts.headers)?;
    let gzip = gzipped(&parts.headers)?;
    let limit = ctx.limits.max_request_bytes;
    let bytes = read_body(&parts.headers, body, limit).await?;
    let events = tokio::task::spawn_blocking(move || {
        let text = if gzip { gunzip(&bytes, limit)? } else { bytes };
        parse_events(&text, framing)
    })
    .await
    .map_err(|e| Status::internal(format!("parsing the body failed: {e}")))??;
    if events.is_empty() {
        return Err(invalid("events", "the body holds no event").into());
    }
    let appended = ctx.append(&log, events).await?;
    Ok(Json(Receipts::from(&appended)))
}

/// Reads the body, refusing it past `limit` bytes (before reading, when
/// `Content-Length` says so).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Status> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(over_limit(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(over_limit(limit)),
        Err(e) => Err(Status::invalid_argument(format!(
            "the body could not be read: {e}"
        ))),
    }
}

/// Decodes a gzip body, refusing it when it decodes past `limit` bytes.
fn gunzip(bytes: &[u8], limit: usize) -> Result<Bytes, Status> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Status::invalid_argument(format!(
                "the body is not valid gzip (Content-Encoding): {e}"
            ))
        })?;
    if out.len() > limit {
        return Err(over_limit(limit));
    }
    Ok(out.into())
}

/// The events of a body.
fn parse_events(text: &[u8], framing: Framing) -> Result<Vec<Event>, Status> {
    match framing {
        Framing::Json => {
            let first = text.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'[') {
                from_json::<Vec<Event>>(text).map_err(|(path, e)| {
                    let at = if path == "." { String::new() } else { path };
                    invalid(&format!("events{at}"), e)
                })
            } else {
                from_json::<Event>(text)
                    .map(|event| vec![event])
                    .map_err(|(path, e)| invalid(&event_field(0, &path), e))
            }
        }
        Framing::Lines => {
            let mut events = Vec::new();
            for (n, line) in text.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let event = from_json::<Event>(line).map_err(|(path, e)| {
                    invalid(
                        &event_field(events.len(), &path),
                        format!("(line {}) {e}", n + 1),
                    )
                })?;
                events.push(event);
            }
            Ok(events)
        }
    }
}

/// `events[i]` and the path inside it (`.` for the event itself).
fn event_field(index: usize, path: &str) -> String {
    match path {
        "." => format!("events[{index}]"),
        path => format!("events[{index}].{path}"),
    }
}

/// Parses JSON, keeping the path of a failure.
fn from_json<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, (String, String)> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner().to_string()))?;
    de.end().map_err(|e| (".".to_string(), e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str, framing: Framing) -> String {
        parse_events(body.as_bytes(), framing)
            .unwrap_err()
            .message()
            .to_string()
    }

    #[test]
    fn forms_and_errors() {
        let one = parse_events(br#" {"action":"a.b"} "#, Framing::Json).unwrap();
        assert_eq!(one.len(), 1);
        let many = parse_events(br#"[{"action":"a"},{"action":"b"}]"#, Framing::Json).unwrap();
        assert_eq!(many[1].action, "b");
        let lines = parse_events(
            b"{\"action\":\"a\"}\r\n\n{\"action\":\"b\"}\n",
            Framing::Lines,
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        let e = err(
            r#"[{"action":"a"},{"action":"b","actor":{"idd":"x"}}]"#,
            Framing::Json,
        );
        assert!(
            e.starts_with("events[1].actor.idd: unknown field `idd`"),
            "{e}"
        );
        let e = err(r#"{"action":"a","time":"yesterday"}"#, Framing::Json);
        assert!(e.starts_with("events[0].time: `yesterday`"), "{e}");
        let e = err(
            "{\"action\":\"a\"}\n{\"action\":\"b\",\"outcome\":\"meh\"}",
            Framing::Lines,
        );
        assert!(e.starts_with("events[1].outcome: (line 2)"), "{e}");
        let e = err(r#"{"action":"a"} trailing"#, Framing::Json);
        assert!(e.starts_with("events[0]: trailing characters"), "{e}");
    }

    #[test]
    fn content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            Framing::of(&h)
        };
        assert_eq!(Framing::of(&HeaderMap::new()).unwrap(), Framing::Json);
        assert_eq!(
            with("application/json; charset=utf-8").unwrap(),
            Framing::Json
        );
        assert_eq!(with("application/x-ndjson").unwrap(), Framing::Lines);
        let refused = with("application/x-www-form-urlencoded").unwrap_err();
        assert!(
            format!("{refused:?}").contains("Content-Type"),
            "{refused:?}"
        );
    }

    #[test]
    fn gzip_is_held_to_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b' '; 10_000]).unwrap();
        let packed = gz.finish().unwrap();
        assert_eq!(gunzip(&packed, 10_000).unwrap().len(), 10_000);
        let e = gunzip(&packed, 9_999).unwrap_err();
        assert_eq!(
            crate::status::Exhausted::of(&e),
            Some(crate::status::Exhausted::TooLarge)
        );
        assert!(gunzip(b"not gzip", 100).is_err());
    }
}
