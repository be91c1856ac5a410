//! The read routes: search, aggregations, one record with its receipt, the
//! latest checkpoint, and a verification streamed as JSON Lines. Each needs
//! the `read` role on the log.
//!
//! Times in parameters are RFC 3339, or a duration (`15m`, `24h`, `7d`)
//! meaning that long before now; times in answers are RFC 3339; hashes
//! are hex.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use stele_engine::event::{format_time, parse_time};
use stele_engine::query::{DEFAULT_LIMIT, DEFAULT_TOP, Histogram, SearchStats, Terms};
use stele_engine::{Event, Order, Query, Record};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::Role;
use crate::calls::{self, Verified};
use crate::context::Context;
use crate::convert::field_from_name;
use crate::http::error::{ApiError, ErrorBody, error_json};
use crate::http::ingest::ReceiptJson;
use crate::http::{LogName, Params, PathParams, admit};
use crate::status::{blocking, invalid};
use stele_engine::query::{Aggregated, Aggregation};

/// A record as the HTTP API shows it: the event's JSON form with `seq` and
/// `ingest_time` beside its fields, and `redacted: true` once erased (the
/// same form as `stele query --output json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordJson {
    /// Position in the log.
    pub seq: u64,
    /// When the server received it, RFC 3339.
    pub ingest_time: String,
    /// True when the body was erased.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// The event's fields (docs/api.md#event), beside `seq` and
    /// `ingest_time`; absent once redacted.
    #[serde(flatten)]
    #[schema(value_type = Option<Object>)]
    pub event: Option<Event>,
}

impl RecordJson {
    /// From a record and its decoded event.
    pub fn new(record: &Record, event: Option<Event>) -> RecordJson {
        RecordJson {
            seq: record.seq,
            ingest_time: format_time(record.ingest_time),
            redacted: event.is_none(),
            event,
        }
    }
}

/// What a search or aggregation touched.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct StatsJson {
    snapshot: u64,
    segments_searched: usize,
    segments_skipped: usize,
}

impl From<&SearchStats> for StatsJson {
    fn from(s: &SearchStats) -> StatsJson {
        StatsJson {
            snapshot: s.snapshot,
            segments_searched: s.segments_searched,
            segments_skipped: s.segments_skipped,
        }
    }
}

/// The selection every read route takes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The query language of `docs/query.md`.
    #[serde(default)]
    q: String,
    /// Earliest event time, inclusive.
    since: Option<String>,
    /// Latest event time, exclusive.
    until: Option<String>,
    /// Page size, 1 to 10,000 (100).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `newest` (the default) or `oldest` first.
    order: Option<String>,
}

/// A time parameter: RFC 3339, or a duration before `now`.
fn time_param(name: &str, value: &str, now: i64) -> Result<i64, Status> {
    if let Ok(ns) = parse_time(value) {
        return Ok(ns);
    }
    let ago = humantime::parse_duration(value).map_err(|_| {
        invalid(
            name,
            format!("`{value}` is neither an RFC 3339 time nor a duration such as 24h"),
        )
    })?;
    let ago = i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX);
    Ok(now.saturating_sub(ago))
}

impl SearchParams {
    /// Only a selection: text and time range.
    pub fn selection(q: String, since: Option<String>, until: Option<String>) -> SearchParams {
        SearchParams {
            q,
            since,
            until,
            ..SearchParams::default()
        }
    }

    /// The same, in `order` (`newest` or `oldest`; newest when `None`).
    pub fn ordered(self, order: Option<String>) -> SearchParams {
        SearchParams { order, ..self }
    }

    /// The engine query.
    pub fn query(self, ctx: &Context) -> Result<Query, Status> {
        let now = ctx.store.now_ns();
        let time = |name, v: Option<String>| v.map(|v| time_param(name, &v, now)).transpose();
        Ok(Query {
            from: time("since", self.since)?,
            to: time("until", self.until)?,
            text: self.q,
            order: match self.order.as_deref() {
                None | Some("newest") => Order::NewestFirst,
                Some("oldest") => Order::OldestFirst,
                Some(other) => {
                    return Err(invalid(
                        "order",
                        format!("`{other}` is not `newest` or `oldest`"),
                    ));
                }
            },
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
            cursor: self.cursor.filter(|c| !c.is_empty()),
            ..Query::default()
        })
    }
}

/// One page of a search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageJson {
    records: Vec<RecordJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    stats: StatsJson,
}

/// `GET /v1/logs/{log}/events`: the matching events, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/events",
    tag = "events",
    summary = "Search: full text and exact fields (docs/query.md), newest first",
    params(("log" = String, Path, description = "The log"), SearchParams),
    responses(
        (status = 200, body = PageJson),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn search(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<SearchParams>,
    parts: Parts,
) -> Result<Json<PageJson>, ApiError> {
    let session = admit(&ctx, &parts, "Query", Role::Read, Some(&log))?;
    let mut query = params.query(&ctx)?;
    session.principal.narrow(&mut query);
    let log = ctx.log(&log).await?;
    let page = blocking(move || log.search(&query)).await?;
    Ok(Json(PageJson {
        stats: StatsJson::from(&page.stats),
        next_cursor: page.next_cursor,
        records: page
            .hits
            .into_iter()
            .map(|hit| RecordJson::new(&hit.record, hit.event))
            .collect(),
    }))
}

/// The parameters of `GET /v1/logs/{log}/aggregate`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AggregateParams {
    #[serde(default)]
    q: String,
    since: Option<String>,
    until: Option<String>,
    /// Count by this field's values.
    count_by: Option<String>,
    /// How many values (10).
    top: Option<usize>,
    /// A date histogram of this bucket width (`1h`, `1d`).
    interval: Option<String>,
    /// Split each bucket by this field's top values.
    split: Option<String>,
    /// How many split values (10).
    split_top: Option<usize>,
}

impl AggregateParams {
    /// The aggregation asked for.
    fn aggregation(&self) -> Result<Aggregation, Status> {
        let field = |name: &Option<String>, at: &str| {
            name.as_deref().map(|n| field_from_name(n, at)).transpose()
        };
        let count_by = field(&self.count_by, "count_by")?;
        let split = field(&self.split, "split")?;
        let what = match (count_by, &self.interval) {
            (Some(_), Some(_)) => {
                return Err(invalid("count_by", "give count_by or interval, not both"));
            }
            (Some(field), None) => Aggregation::CountBy {
                field,
                top: self.top.unwrap_or(DEFAULT_TOP),
            },
            (None, Some(interval)) => {
                let width = humantime::parse_duration(interval).map_err(|e| {
                    invalid("interval", format!("`{interval}` is not a duration: {e}"))
                })?;
                Aggregation::Histogram {
                    interval_ns: i64::try_from(width.as_nanos()).unwrap_or(i64::MAX),
                    split: split.map(|f| (f, self.split_top.unwrap_or(DEFAULT_TOP))),
                }
            }
            (None, None) => Aggregation::Count,
        };
        if split.is_some() && !matches!(what, Aggregation::Histogram { .. }) {
            return Err(invalid("split", "only splits a histogram (interval)"));
        }
        Ok(what)
    }

    /// The events to aggregate.
    fn selection(self) -> SearchParams {
        SearchParams::selection(self.q, self.since, self.until)
    }
}

/// Top values of a field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TermsJson {
    top: Vec<TermCount>,
    other: u64,
    missing: u64,
    total: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TermCount {
    value: String,
    count: u64,
}

impl From<Terms> for TermsJson {
    fn from(t: Terms) -> TermsJson {
        TermsJson {
            top: t
                .top
                .into_iter()
                .map(|(value, count)| TermCount { value, count })
                .collect(),
            other: t.other,
            missing: t.missing,
            total: t.total,
        }
    }
}

/// Counts over time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct HistogramJson {
    interval_ns: i64,
    buckets: Vec<BucketJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    split_values: Vec<String>,
    total: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BucketJson {
    start: String,
    count: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    split: Vec<u64>,
}

impl From<Histogram> for HistogramJson {
    fn from(h: Histogram) -> HistogramJson {
        HistogramJson {
            interval_ns: h.interval,
            buckets: h
                .buckets
                .into_iter()
                .map(|b| BucketJson {
                    start: format_time(b.start),
                    count: b.count,
                    split: b.split,
                })
                .collect(),
            split_values: h.split_values,
            total: h.total,
        }
    }
}

/// An aggregation's answer: exactly one of `count`, `terms`, `histogram`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AggregateJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    terms: Option<TermsJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    histogram: Option<HistogramJson>,
    stats: StatsJson,
}

/// `GET /v1/logs/{log}/aggregate`: a count, the top values of a field
/// (`count_by`), or a date histogram (`interval`, optionally `split`).
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/aggregate",
    tag = "events",
    summary = "Count, top values of a field, or a date histogram",
    params(("log" = String, Path, description = "The log"), AggregateParams),
    responses(
        (status = 200, body = AggregateJson),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn aggregate(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<AggregateParams>,
    parts: Parts,
) -> Result<Json<AggregateJson>, ApiError> {
    let session = admit(&ctx, &parts, "Aggregate", Role::Read, Some(&log))?;
    let what = params.aggregation()?;
    let mut query = params.selection().query(&ctx)?;
    session.principal.narrow(&mut query);
    let log = ctx.log(&log).await?;
    let empty = AggregateJson {
        count: None,
        terms: None,
        histogram: None,
        stats: StatsJson::from(&SearchStats::default()),
    };
    Ok(Json(match calls::aggregate(log, query, what).await? {
        Aggregated::Count { count, snapshot } => AggregateJson {
            count: Some(count),
            stats: StatsJson::from(&SearchStats {
                snapshot,
                ..SearchStats::default()
            }),
            ..empty
        },
        Aggregated::Terms(terms) => AggregateJson {
            stats: StatsJson::from(&terms.stats),
            terms: Some(terms.into()),
            ..empty
        },
        Aggregated::Histogram(histogram) => AggregateJson {
            stats: StatsJson::from(&histogram.stats),
            histogram: Some(histogram.into()),
            ..empty
        },
    }))
}

/// The path of one record.
#[derive(Debug, Deserialize)]
pub struct RecordPath {
    log: String,
    seq: String,
}

/// A record and its receipt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordWithReceipt {
    record: RecordJson,
    receipt: ReceiptJson,
}

/// `GET /v1/logs/{log}/events/{seq}`: one record, with its receipt.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/events/{seq}",
    tag = "events",
    summary = "One record and its receipt",
    params(
        ("log" = String, Path, description = "The log"),
        ("seq" = u64, Path, description = "The record's seq"),
    ),
    responses(
        (status = 200, body = RecordWithReceipt),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn get_record(
    State(ctx): State<Context>,
    PathParams(path): PathParams<RecordPath>,
    parts: Parts,
) -> Result<Json<RecordWithReceipt>, ApiError> {
    let session = admit(&ctx, &parts, "GetRecord", Role::Read, Some(&path.log))?;
    let seq: u64 = path
        .seq
        .parse()
        .map_err(|_| invalid("seq", format!("`{}` is not a record number", path.seq)))?;
    let log = ctx.log(&path.log).await?;
    let (record, event, receipt) = calls::record_for(&ctx, &session, log, seq).await?;
    Ok(Json(RecordWithReceipt {
        record: RecordJson::new(&record, event),
        receipt: ReceiptJson::new(&receipt, false),
    }))
}

/// The form of `GET /v1/logs/{log}/checkpoint`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointParams {
    /// `json` (the default): the chain-head checkpoint `stele checkpoint`
    /// saves; `note`: the C2SP tlog-checkpoint in a signed note (text),
    /// the Merkle tree head that witnesses and standard verifiers read.
    format: Option<String>,
}

/// `GET /v1/logs/{log}/checkpoint`: a checkpoint of the log as it is now,
/// signed by the server's key: the chain head as JSON, or with
/// `?format=note` the C2SP signed note of the Merkle tree head.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/checkpoint",
    tag = "proofs",
    summary = "A signed checkpoint of the log as it is now (JSON chain head, or C2SP note)",
    params(("log" = String, Path, description = "The log"), CheckpointParams),
    responses(
        (status = 200, description = "JSON: log, log_id, size, head, time, public_key, signature (hex); note: text/plain C2SP signed note", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn checkpoint(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<CheckpointParams>,
    parts: Parts,
) -> Result<Response, ApiError> {
    admit(&ctx, &parts, "GetCheckpoint", Role::Read, Some(&log))?;
    let log = ctx.log(&log).await?;
    match params.format.as_deref() {
        None | Some("json") => {
            let checkpoint = blocking(move || log.checkpoint()).await?;
            Ok(Json(checkpoint).into_response())
        }
        Some("note") => {
            let origin = ctx.origin.clone();
            let note = blocking(move || log.signed_tree_head(log.visible_seq(), &origin)).await?;
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
        }
        Some(other) => Err(invalid("format", format!("`{other}` is not `json` or `note`")).into()),
    }
}

/// The range `GET /v1/logs/{log}/verify` checks.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// First seq (0).
    #[serde(default)]
    from_seq: u64,
    /// Seq after the last (the end of the log).
    to_seq: Option<u64>,
}

/// `GET /v1/logs/{log}/verify`: checks the hash chain, the segment files
/// and the signed checkpoints, streaming JSON Lines: `{"progress": …}` as
/// segments are done, then `{"result": …}` (or `{"error": …}`).
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/verify",
    tag = "proofs",
    summary = "Verify the chain, segments and checkpoints, streamed as JSON Lines",
    params(("log" = String, Path, description = "The log"), VerifyParams),
    responses(
        (status = 200, description = "`progress` lines, then one `result` (or `error`) line", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn verify(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<VerifyParams>,
    parts: Parts,
) -> Result<Response, ApiError> {
    admit(&ctx, &parts, "Verify", Role::Read, Some(&log))?;
    let range = params.from_seq..params.to_seq.unwrap_or(u64::MAX);
    if range.start > range.end {
        return Err(invalid("to_seq", "is before from_seq").into());
    }
    let log = ctx.log(&log).await?;
    let log_dir = log.dir().to_path_buf();
    let key = ctx.store.public_key();
    let lines = ReceiverStream::new(calls::verify(log, range, key)).map(move |item| {
        let value = match item {
            Ok(Verified::Progress(p)) => serde_json::json!({"progress": {
                "segments_done": p.segments_done,
                "segments_total": p.segments_total,
                "records": p.records,
                "body_bytes": p.body_bytes,
            }}),
            Ok(Verified::Done {
                report,
                anchor_head,
            }) => {
                let failure = report.failure.as_ref().map(|f| {
                    serde_json::json!({
                        "seq": f.seq,
                        "file": f.file.strip_prefix(&log_dir).unwrap_or(&f.file),
                        "offset": f.offset,
                        "reason": f.reason,
                    })
                });
                serde_json::json!({"result": {
                    "ok": report.is_ok(),
                    "records": report.records,
                    "body_bytes": report.body_bytes,
                    "segments": report.segments,
                    "checkpoints": report.checkpoints,
                    "tree_chunks": report.tree_chunks,
                    "tree_head": report.tree_head,
                    "next_seq": report.next_seq,
                    "head": hex::encode(report.head),
                    "anchored_at": report.anchored_at,
                    "anchor_head": anchor_head.map(hex::encode),
                    "failure": failure,
                }})
            }
            Err(status) => error_json(&status),
        };
        let mut line = value.to_string();
        line.push('\n');
        Ok::<_, Infallible>(Bytes::from(line))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_engine::ExactField;

    #[test]
    fn times_are_rfc3339_or_a_duration_before_now() {
        let now = 1_800_000_000_000_000_000;
        assert_eq!(
            time_param("since", "2026-12-01T00:00:00Z", now).unwrap(),
            parse_time("2026-12-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            time_param("since", "1h", now).unwrap(),
            now - 3_600_000_000_000
        );
        let e = time_param("until", "tomorrow", now).unwrap_err();
        assert!(e.message().starts_with("until: `tomorrow`"), "{e:?}");
    }

    #[test]
    fn aggregate_parameters() {
        let parse = |q: &str| {
            let uri: axum::http::Uri = format!("/?{q}").parse().unwrap();
            axum::extract::Query::<AggregateParams>::try_from_uri(&uri)
                .unwrap()
                .0
        };
        let e = parse("count_by=action&interval=1h")
            .aggregation()
            .unwrap_err();
        assert!(e.message().contains("not both"), "{e:?}");
        let e = parse("split=action").aggregation().unwrap_err();
        assert!(e.message().starts_with("split:"), "{e:?}");
        let e = parse("count_by=colour").aggregation().unwrap_err();
        assert!(e.message().starts_with("count_by: `colour`"), "{e:?}");
        assert!(matches!(
            parse("interval=1h&split=outcome&split_top=3")
                .aggregation()
                .unwrap(),
            Aggregation::Histogram {
                interval_ns: 3_600_000_000_000,
                split: Some((ExactField::Outcome, 3))
            }
        ));
    }
}
