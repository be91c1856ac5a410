//! The admin routes: the `Admin` service's calls that a console needs
//! (logs, segments, sealing, retention, holds, archived segments,
//! scrubbing rules), over
//! HTTP by transcoding: the JSON body and the path become the gRPC request,
//! the very `Admin` handler runs (its checks, its `_system` record), and
//! its answer is written in proto3's JSON mapping (field names as in the
//! `.proto`, 64-bit integers as numbers, enums by name, bytes in base64).
//! Nothing is implemented twice.

use std::future::Future;
use std::sync::LazyLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use prost::Message;
use prost_reflect::{DescriptorPool, DeserializeOptions, DynamicMessage, SerializeOptions};
use serde_json::Value;
use stele_proto::v1::{self, admin_server::Admin};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::admin_service::AdminService;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{LogName, Params};
use crate::status::invalid;

/// The messages of `stele.v1`, for transcoding.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(stele_proto::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set is valid")
});

/// A JSON object as the gRPC request `Req` (`stele.v1.<name>`).
fn request_from_json<Req: Message + Default>(name: &str, json: Value) -> Result<Req, Status> {
    let desc = POOL
        .get_message_by_name(&format!("stele.v1.{name}"))
        .ok_or_else(|| Status::internal(format!("no message stele.v1.{name}")))?;
    let dynamic = DynamicMessage::deserialize_with_options(
        desc,
        json,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| invalid("body", e))?;
    Req::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| Status::internal(e.to_string()))
}

/// A gRPC answer `Resp` (`stele.v1.<name>`) in proto3's JSON mapping.
fn answer_to_json<Resp: Message>(name: &str, answer: &Resp) -> Result<Value, Status> {
    let desc = POOL
        .get_message_by_name(&format!("stele.v1.{name}"))
        .ok_or_else(|| Status::internal(format!("no message stele.v1.{name}")))?;
    let dynamic = DynamicMessage::decode(desc, answer.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(e.to_string()))?;
    dynamic
        .serialize_with_options(
            serde_json::value::Serializer,
            &SerializeOptions::new()
                .use_proto_field_name(true)
                .stringify_64_bit_integers(false)
                .skip_default_fields(false),
        )
        .map_err(|e| Status::internal(e.to_string()))
}

/// The request body as a JSON object (`{}` when empty), with `extra`
/// fields (from the path) set.
fn body_object(body: &Bytes, extra: &[(&str, &str)]) -> Result<Value, Status> {
    let mut json = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| invalid("body", e))?
    };
    let object = json
        .as_object_mut()
        .ok_or_else(|| invalid("body", "is not a JSON object"))?;
    for (key, value) in extra {
        object.insert((*key).to_string(), Value::String((*value).to_string()));
    }
    Ok(json)
}

/// Runs an `Admin` call for an HTTP request: `json` as the request
/// `req_name`, the caller's headers and connection as its metadata, the
/// answer as `resp_name` in JSON.
async fn transcode<Req, Resp, F, Fut>(
    ctx: Context,
    parts: &Parts,
    (req_name, resp_name): (&str, &str),
    json: Value,
    call: F,
) -> Result<Json<Value>, ApiError>
where
    Req: Message + Default,
    Resp: Message,
    F: FnOnce(AdminService, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let message = request_from_json::<Req>(req_name, json)?;
    let request = tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers.clone()),
        parts.extensions.clone(),
        message,
    );
    let answer = call(AdminService::new(ctx), request).await?.into_inner();
    Ok(Json(answer_to_json(resp_name, &answer)?))
}

/// `GET /v1/logs`: every log the token may see, with its facts.
#[utoipa::path(
    get,
    path = "/v1/logs",
    tag = "admin",
    summary = "ListLogs: every log the token may see",
    responses(
        (status = 200, description = "The Admin call's answer in proto3 JSON", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn list_logs(State(ctx): State<Context>, parts: Parts) -> Result<Json<Value>, ApiError> {
    let json = body_object(&Bytes::new(), &[])?;
    transcode(
        ctx,
        &parts,
        ("ListLogsRequest", "ListLogsResponse"),
        json,
        |s, r| async move { s.list_logs(r).await },
    )
    .await
}

/// `POST /v1/logs`: creates a log; the body is a `CreateLogRequest`
/// (`{"name": "audit", "policy": {…}}`).
#[utoipa::path(
    post,
    path = "/v1/logs",
    tag = "admin",
    summary = "CreateLog: a log with a policy",
    request_body(content = serde_json::Value, content_type = "application/json", description = "The gRPC request in proto3 JSON (field names as in the .proto)"),
    responses(
        (status = 200, description = "The Admin call's answer in proto3 JSON", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn create_log(
    State(ctx): State<Context>,
    parts: Parts,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let json = body_object(&body, &[])?;
    transcode(
        ctx,
        &parts,
        ("CreateLogRequest", "LogInfo"),
        json,
        |s, r| async move { s.create_log(r).await },
    )
    .await
}

/// An `Admin` call on one log that takes no body: the path's `{log}` becomes
/// the request's `$field`, and the handler is named after the call.
macro_rules! log_call {
    ($(#[doc = $doc:literal])* $name:ident: $method:ident $path:literal, $summary:literal, $field:literal, $req:literal => $resp:literal) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            $method,
            path = $path,
            tag = "admin",
            summary = $summary,
            params(("log" = String, Path, description = "The log")),
            responses(
                (status = 200, description = "The Admin call's answer in proto3 JSON", body = Object),
                (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
                (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
            ),
        )]
        pub async fn $name(
            State(ctx): State<Context>,
            LogName(log): LogName,
            parts: Parts,
        ) -> Result<Json<Value>, ApiError> {
            let json = body_object(&Bytes::new(), &[($field, &log)])?;
            transcode(ctx, &parts, ($req, $resp), json, |s, r| async move {
                s.$name(r).await
            })
            .await
        }
    };
}

log_call!(
    /// `GET /v1/logs/{log}`: one log's facts.
    get_log: get "/v1/logs/{log}", "GetLog: one log's facts", "name", "GetLogRequest" => "LogInfo"
);
log_call!(
    /// `GET /v1/logs/{log}/segments`: its segments, oldest first.
    list_segments: get "/v1/logs/{log}/segments", "ListSegments: its segments, oldest first",
    "log", "ListSegmentsRequest" => "ListSegmentsResponse"
);
log_call!(
    /// `POST /v1/logs/{log}/seal`: seals the active segment now.
    seal: post "/v1/logs/{log}/seal", "Seal: seal the active segment now",
    "log", "SealRequest" => "SealResponse"
);
log_call!(
    /// `GET /v1/logs/{log}/retention`: policy, lock, holds, anchor, archived
    /// segments and what applying the policy now would do.
    get_retention: get "/v1/logs/{log}/retention", "GetRetention: policy, lock, holds, anchor, plan",
    "log", "GetRetentionRequest" => "RetentionInfo"
);
log_call!(
    /// `GET /v1/logs/{log}/archived`: its archived segments.
    list_archived: get "/v1/logs/{log}/archived", "ListArchived: its archived segments",
    "log", "ListArchivedRequest" => "ListArchivedResponse"
);

/// An `Admin` call on one log with a JSON body: the body is the request in
/// proto3 JSON, the path's `{log}` its `log` field.
macro_rules! log_body_call {
    ($(#[doc = $doc:literal])* $name:ident: $method:ident $path:literal, $summary:literal, $req:literal => $resp:literal) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            $method,
            path = $path,
            tag = "admin",
            summary = $summary,
            params(("log" = String, Path, description = "The log")),
            request_body(content = serde_json::Value, content_type = "application/json", description = "The gRPC request in proto3 JSON (field names as in the .proto)"),
            responses(
                (status = 200, description = "The Admin call's answer in proto3 JSON", body = Object),
                (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
                (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
            ),
        )]
        pub async fn $name(
            State(ctx): State<Context>,
            LogName(log): LogName,
            parts: Parts,
            body: Bytes,
        ) -> Result<Json<Value>, ApiError> {
            let json = body_object(&body, &[("log", &log)])?;
            transcode(ctx, &parts, ($req, $resp), json, |s, r| async move {
                s.$name(r).await
            })
            .await
        }
    };
}

log_body_call!(
    /// `POST /v1/logs/{log}/holds`: sets a legal hold; the body is
    /// `{"reason": "…"}`, with `"segment": <first seq>` for one segment.
    set_hold: post "/v1/logs/{log}/holds", "SetHold: a legal hold on the log or a segment",
    "SetHoldRequest" => "Hold"
);
log_body_call!(
    /// `PUT /v1/logs/{log}/scrub`: replaces the log's scrubbing rules; the
    /// body is `{"scrub": {"builtin": ["all"], "custom": [{"name": "…",
    /// "pattern": "…"}]}}`.
    set_scrub: put "/v1/logs/{log}/scrub", "SetScrub: replace the log's scrubbing rules",
    "SetScrubRequest" => "ScrubPolicy"
);
log_body_call!(
    /// `POST /v1/logs/{log}/scrub/test`: what the log's scrubbing rules (or
    /// `scrub`, rules being tried) would do to `events`; nothing is stored.
    test_scrub: post "/v1/logs/{log}/scrub/test", "TestScrub: scrub sample events without storing them",
    "TestScrubRequest" => "TestScrubResponse"
);

/// The hold `DELETE /v1/logs/{log}/holds` lifts.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LiftParams {
    /// The segment's first seq; absent for the log's hold.
    segment: Option<u64>,
    /// Why it is lifted (required).
    #[serde(default)]
    reason: String,
}

/// `DELETE /v1/logs/{log}/holds?reason=…[&segment=…]`: lifts a legal hold.
#[utoipa::path(
    delete,
    path = "/v1/logs/{log}/holds",
    tag = "admin",
    summary = "LiftHold: lift a legal hold",
    params(("log" = String, Path, description = "The log"), LiftParams),
    responses(
        (status = 200, description = "The Admin call's answer in proto3 JSON", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn lift_hold(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<LiftParams>,
    parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let request = v1::LiftHoldRequest {
        log,
        segment: params.segment,
        reason: params.reason,
    };
    let request = tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers.clone()),
        parts.extensions.clone(),
        request,
    );
    let hold = AdminService::new(ctx)
        .lift_hold(request)
        .await?
        .into_inner();
    Ok(Json(answer_to_json("Hold", &hold)?))
}
