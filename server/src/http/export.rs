//! `GET /v1/logs/{log}/export`: a search's whole result set, streamed as
//! CSV or JSON Lines, for auditors who want it in a spreadsheet. It reads
//! page after page of one search through its cursor (one snapshot), so an
//! export holds a page in memory, however large; a viewer's tenant limit
//! narrows it as it narrows every search. A failure after the first page
//! cuts the stream (the client sees an incomplete transfer, never a
//! truncated file that looks whole).
//!
//! CSV cells that a spreadsheet would read as a formula (starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return) get a leading `'`, as
//! OWASP advises against CSV injection.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stele_engine::{Event, Query, Record};
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Role;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::read::{RecordJson, SearchParams};
use crate::http::{LogName, Params, admit};
use crate::status::{blocking, invalid};

/// Records read per page of the underlying search.
const PAGE: usize = 1000;

/// The parameters of `GET /v1/logs/{log}/export`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// The query language of `docs/query.md`.
    #[serde(default)]
    q: String,
    /// Earliest event time, inclusive: RFC 3339 or a duration before now.
    since: Option<String>,
    /// Latest event time, exclusive.
    until: Option<String>,
    /// `newest` (the default) or `oldest` first.
    order: Option<String>,
    /// `csv` or `jsonl` (the default).
    format: Option<String>,
    /// At most this many records (all by default).
    limit: Option<u64>,
}

/// The two forms of an export.
#[derive(Clone, Copy)]
enum Format {
    Csv,
    JsonLines,
}

/// The CSV columns, in order.
const COLUMNS: [&str; 23] = [
    "seq",
    "time",
    "ingest_time",
    "tenant",
    "actor.id",
    "actor.kind",
    "actor.display_name",
    "actor.ip",
    "actor.user_agent",
    "actor.session_id",
    "action",
    "resource.kind",
    "resource.id",
    "resource.name",
    "outcome",
    "reason",
    "message",
    "source",
    "correlation_id",
    "request_id",
    "duration_ms",
    "details",
    "redacted",
];

/// `cell`, with a `'` before a leading character a spreadsheet would take
/// for the start of a formula.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// One CSV line (with its line break), the cells in [`COLUMNS`] order.
fn csv_line(cells: &[String]) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(cells)
        .expect("writing to memory cannot fail");
    Bytes::from(writer.into_inner().expect("writing to memory cannot fail"))
}

/// The cells of `record` (its event `event`, `None` once erased).
fn csv_cells(record: &Record, event: Option<&Event>) -> Vec<String> {
    let base = [
        record.seq.to_string(),
        String::new(),
        stele_engine::event::format_time(record.ingest_time),
    ];
    let Some(e) = event else {
        let mut cells = base.to_vec();
        cells.resize(COLUMNS.len() - 1, String::new());
        cells.push("true".into());
        return cells;
    };
    let kind = e
        .actor
        .kind
        .and_then(|k| serde_json::to_value(k).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let details = e
        .details
        .as_ref()
        .map(|d| serde_json::Value::Object(d.clone()).to_string())
        .unwrap_or_default();
    let mut cells = vec![
        base[0].clone(),
        e.time
            .map(stele_engine::event::format_time)
            .unwrap_or_default(),
        base[2].clone(),
    ];
    cells.extend(
        [
            &e.tenant,
            &e.actor.id,
            &kind,
            &e.actor.display_name,
            &e.actor.ip,
            &e.actor.user_agent,
            &e.actor.session_id,
            &e.action,
            &e.resource.kind,
            &e.resource.id,
            &e.resource.name,
            &e.outcome
                .map(|o| o.as_str().to_string())
                .unwrap_or_default(),
            &e.reason,
            &e.message,
            &e.source,
            &e.correlation_id,
            &e.request_id,
            &e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
            &details,
        ]
        .into_iter()
        .map(|cell| inert(cell.clone())),
    );
    cells.push("false".into());
    cells
}

/// One line of the export for `record`.
fn line(format: Format, record: &Record, event: Option<Event>) -> Bytes {
    match format {
        Format::Csv => csv_line(&csv_cells(record, event.as_ref())),
        Format::JsonLines => {
            let mut json = serde_json::to_vec(&RecordJson::new(record, event))
                .expect("a record always serialises");
            json.push(b'\n');
            Bytes::from(json)
        }
    }
}

/// `GET /v1/logs/{log}/export`: the search's matching events, streamed.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/export",
    tag = "events",
    summary = "Export: a search's whole result set as CSV or JSON Lines, streamed",
    params(("log" = String, Path, description = "The log"), ExportParams),
    responses(
        (status = 200, description = "CSV (a header row, then a record a line) or JSON Lines (records as search shows them)", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn export(
    State(ctx): State<Context>,
    LogName(name): LogName,
    Params(params): Params<ExportParams>,
    parts: Parts,
) -> Result<Response, ApiError> {
    let session = admit(&ctx, &parts, "Query", Role::Read, Some(&name))?;
    let format = match params.format.as_deref() {
        None | Some("jsonl") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(invalid("format", format!("`{other}` is not `csv` or `jsonl`")).into());
        }
    };
    let mut left = params.limit.unwrap_or(u64::MAX);
    let mut query: Query = SearchParams::selection(params.q, params.since, params.until)
        .ordered(params.order)
        .query(&ctx)?;
    query.limit = PAGE;
    session.principal.narrow(&mut query);
    let log = ctx.log(&name).await?;
    // The first page before answering, so that a bad query is a 400.
    let first = {
        let (log, query) = (log.clone(), query.clone());
        blocking(move || log.search(&query)).await?
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        if let Format::Csv = format
            && tx
                .blocking_send(Ok(csv_line(&COLUMNS.map(String::from))))
                .is_err()
        {
            return;
        }
        let mut page = first;
        loop {
            for hit in page.hits {
                if left == 0 {
                    return;
                }
                left -= 1;
                if tx
                    .blocking_send(Ok(line(format, &hit.record, hit.event)))
                    .is_err()
                {
                    return; // the client went away
                }
            }
            let Some(cursor) = page.next_cursor else {
                return;
            };
            query.cursor = Some(cursor);
            page = match log.search(&query) {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(log = %log.name(), %error, "export cut short");
                    let _ = tx.blocking_send(Err(std::io::Error::other(error.to_string())));
                    return;
                }
            };
        }
    });
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::JsonLines => ("application/x-ndjson", "jsonl"),
    };
    let mut response = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_made_inert() {
        for (cell, expected) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("alice", "alice"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(inert(cell.into()), expected);
        }
        let line = csv_line(&["a,b".into(), "say \"hi\"".into(), "x\ny".into()]);
        assert_eq!(&line[..], b"\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\n");
    }
}
