//! The HTTP/JSON API, served on the gRPC port (HTTP/1.1 and HTTP/2, with
//! the same TLS): routes, and what every route shares with the gRPC
//! services.
//!
//! Handlers admit callers with the same tokens ([`admit`], which records
//! failures in `_system` as gRPC does), call the same engine paths through
//! [`Context`], and fail with the same [`tonic::Status`], answered in one
//! JSON shape ([`error`]). `docs/api.md` lists the routes.
//!
//! - [`ingest`]: `POST /v1/logs/{log}/events`.
//! - [`github`]: `POST /v1/logs/{log}/github`, GitHub webhook deliveries.
//! - [`read`]: search, aggregations, records, checkpoints, verify.
//! - [`proofs`]: Merkle inclusion and consistency proofs.
//! - [`tail`]: the live tail, as server-sent events.
//! - [`tokens`]: minting, listing and revoking viewer tokens.
//! - [`admin`]: logs, segments, retention and holds, transcoded to the
//!   `Admin` service.
//! - [`openapi`]: the OpenAPI document, `GET /v1/openapi.json`.
//! - [`export`]: a search's whole result set as CSV or JSON Lines.
//! - [`console`]: the web console's files, at `/`.

pub mod admin;
pub mod console;
pub mod error;
pub mod export;
pub mod github;
pub mod ingest;
pub mod openapi;
pub mod proofs;
pub mod read;
pub mod tail;
pub mod tokens;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::auth::Role;
use crate::config::{ConsoleConfig, HttpConfig};
use crate::context::{Context, Session};
use error::ApiError;

/// The HTTP routes over the shared context, with the console as `console`
/// says, answering browsers of `http.cors_origins` (none when empty). A
/// request that matches none is answered 404 in the API's error shape, or,
/// when it is gRPC, with gRPC's `UNIMPLEMENTED`.
pub fn router(ctx: Context, http: &HttpConfig, console: &ConsoleConfig) -> Router {
    let routes = Router::new()
        .route("/v1/openapi.json", get(openapi::openapi_json))
        .route("/v1/logs", get(admin::list_logs).post(admin::create_log))
        .route("/v1/logs/{log}", get(admin::get_log))
        .route("/v1/logs/{log}/segments", get(admin::list_segments))
        .route("/v1/logs/{log}/seal", post(admin::seal))
        .route("/v1/logs/{log}/retention", get(admin::get_retention))
        .route("/v1/logs/{log}/archived", get(admin::list_archived))
        .route(
            "/v1/logs/{log}/holds",
            post(admin::set_hold).delete(admin::lift_hold),
        )
        .route("/v1/logs/{log}/scrub", put(admin::set_scrub))
        .route("/v1/logs/{log}/scrub/test", post(admin::test_scrub))
        .route(
            "/v1/logs/{log}/events",
            post(ingest::post_events).get(read::search),
        )
        .route("/v1/logs/{log}/events/{seq}", get(read::get_record))
        .route("/v1/logs/{log}/export", get(export::export))
        .route("/v1/logs/{log}/github", post(github::deliver))
        .route("/v1/logs/{log}/aggregate", get(read::aggregate))
        .route("/v1/logs/{log}/checkpoint", get(read::checkpoint))
        .route("/v1/logs/{log}/verify", get(read::verify))
        .route("/v1/logs/{log}/proofs/inclusion", get(proofs::inclusion))
        .route(
            "/v1/logs/{log}/proofs/consistency",
            get(proofs::consistency),
        )
        .route("/v1/logs/{log}/tail", get(tail::tail))
        .route("/v1/session", get(session))
        .route("/v1/tokens", post(tokens::mint).get(tokens::list))
        .route("/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .merge(console::routes(console))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(ctx);
    match cors(&http.cors_origins) {
        Some(layer) => routes.layer(layer),
        None => routes,
    }
}

/// The CORS answer for `origins` (checked by the configuration): the
/// routes' methods, and the headers a browser client sends.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                HeaderName::from_static("last-event-id"),
            ])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// A `tonic::Request` view of an HTTP request's headers and connection,
/// so that tokens and peer addresses are read exactly as for gRPC.
fn grpc_view(parts: &Parts) -> tonic::Request<()> {
    tonic::Request::from_parts(
        MetadataMap::from_headers(parts.headers.clone()),
        parts.extensions.clone(),
        (),
    )
}

/// Authenticates and authorizes an HTTP caller exactly as a gRPC one:
/// `authorization: Bearer` and the peer address are read from the request
/// the same way. `method` is the gRPC method the route stands for
/// (`Query`, `MintToken`), so that `_system` names a call the same way
/// whichever door it came through.
///
/// # Errors
/// `UNAUTHENTICATED` or `PERMISSION_DENIED`, recorded in `_system`.
pub fn admit(
    ctx: &Context,
    parts: &Parts,
    method: &'static str,
    role: Role,
    log: Option<&str>,
) -> Result<Session, Status> {
    ctx.admit(&grpc_view(parts), method, role, log)
}

/// `GET /v1/session`: who the caller is, for a client such as the console
/// to show what it may do: the token's name, its roles, the existing logs
/// it may use and the tenants it is limited to (`null`: every tenant).
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "tokens",
    summary = "Session: the caller's token name, roles, logs and tenants",
    responses(
        (status = 200, description = "`{\"name\", \"roles\", \"logs\", \"tenants\"}`", body = Object),
        (status = 401, body = error::ErrorBody),
    ),
)]
pub async fn session(
    axum::extract::State(ctx): axum::extract::State<Context>,
    parts: Parts,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let session = ctx.authenticate(&grpc_view(&parts), "Session")?;
    let principal = &session.principal;
    let store = ctx.store.clone();
    let mut logs = crate::status::blocking(move || store.list_logs()).await?;
    logs.retain(|name| principal.may_see(name));
    Ok(axum::Json(serde_json::json!({
        "name": principal.name,
        "roles": principal.roles().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "logs": logs,
        "tenants": principal.tenants(),
    })))
}

/// A route's path parameters, refused in the API's error shape.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| Status::invalid_argument(format!("path: {}", e.body_text())))?;
        Ok(PathParams(params))
    }
}

/// The `{log}` of a route's path.
#[derive(Debug)]
pub struct LogName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for LogName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        #[derive(serde::Deserialize)]
        struct Log {
            log: String,
        }
        let PathParams(Log { log }) = PathParams::from_request_parts(parts, state).await?;
        Ok(LogName(log))
    }
}

/// A route's query string, refused in the API's error shape (an unknown
/// parameter is an error, not ignored).
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(params) = axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map_err(|e| {
                let reason = e.body_text();
                let reason = reason
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&reason);
                Status::invalid_argument(format!("query string: {reason}"))
            })?;
        Ok(Params(params))
    }
}

/// A JSON request body, refused in the API's error shape (415 without a
/// JSON `Content-Type`, 400 naming what does not parse).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(body)) => Ok(JsonBody(body)),
            Err(JsonRejection::MissingJsonContentType(e)) => {
                Err(ApiError::unsupported_media(e.body_text()))
            }
            Err(e) => Err(Status::invalid_argument(format!("body: {}", e.body_text())).into()),
        }
    }
}

/// A request for no route.
async fn not_found(parts: Parts) -> Response {
    let grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        let (head, ()) = Status::unimplemented("").into_http::<()>().into_parts();
        return Response::from_parts(head, axum::body::Body::empty());
    }
    ApiError::no_route(
        format!(
            "no route for {} {}: docs/api.md lists the routes",
            parts.method,
            parts.uri.path()
        ),
        StatusCode::NOT_FOUND,
    )
    .into_response()
}

/// A route called with a method it does not take.
async fn method_not_allowed(parts: Parts) -> ApiError {
    ApiError::no_route(
        format!(
            "{} {} is not a route: the path takes other methods (docs/api.md)",
            parts.method,
            parts.uri.path()
        ),
        StatusCode::METHOD_NOT_ALLOWED,
    )
}
