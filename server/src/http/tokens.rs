//! `/v1/tokens`: minting, listing and revoking viewer tokens, as the
//! `Admin` service's `MintToken`, `ListTokens` and `RevokeToken` do (the
//! same [`crate::calls`]).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use stele_engine::event::format_time;

use crate::auth::Role;
use crate::calls;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{JsonBody, PathParams, admit};
use crate::status::invalid;
use crate::tokens::{MintSpec, MintedToken};

/// What `POST /v1/tokens` takes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintBody {
    /// A name for the token.
    name: String,
    /// The logs it may read.
    logs: Vec<String>,
    /// The tenants it may see; absent or empty for all.
    #[serde(default)]
    tenants: Vec<String>,
    /// How long it is valid (`15m`, `24h`, `30d`); 24 hours when absent.
    ttl: Option<String>,
}

/// A minted token as the API shows it: never its secret or digest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenJson {
    id: String,
    name: String,
    logs: Vec<String>,
    tenants: Vec<String>,
    created: String,
    expires: String,
    created_by: String,
}

impl From<MintedToken> for TokenJson {
    fn from(t: MintedToken) -> TokenJson {
        TokenJson {
            id: t.id,
            name: t.name,
            logs: t.logs,
            tenants: t.tenants,
            created: format_time(t.created_ns),
            expires: format_time(t.expires_ns),
            created_by: t.created_by,
        }
    }
}

/// The answer to a mint: the token, and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Minted {
    token: TokenJson,
    secret: String,
}

/// `POST /v1/tokens`.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    summary = "Mint a read-only viewer token for some logs and tenants",
    request_body = MintBody,
    responses(
        (status = 201, description = "The token, and its secret (shown once)", body = Minted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
)]
pub async fn mint(
    State(ctx): State<Context>,
    parts: Parts,
    JsonBody(body): JsonBody<MintBody>,
) -> Result<(StatusCode, Json<Minted>), ApiError> {
    let session = admit(&ctx, &parts, "MintToken", Role::Admin, None)?;
    let ttl = body
        .ttl
        .map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| invalid("ttl", format!("`{t}` is not a duration: {e}")))
        })
        .transpose()?
        .map(|d: Duration| d.max(Duration::from_nanos(1)));
    let spec = MintSpec {
        name: body.name,
        logs: body.logs,
        tenants: body.tenants,
        ttl,
    };
    let (token, secret) = calls::mint_token(&ctx, &session, spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(Minted {
            token: token.into(),
            secret,
        }),
    ))
}

/// The answer to a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    tokens: Vec<TokenJson>,
}

/// `GET /v1/tokens`.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "tokens",
    summary = "The viewer tokens whose logs the caller administers",
    responses((status = 200, body = Tokens), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
)]
pub async fn list(State(ctx): State<Context>, parts: Parts) -> Result<Json<Tokens>, ApiError> {
    let session = admit(&ctx, &parts, "ListTokens", Role::Admin, None)?;
    let tokens = calls::list_tokens(&ctx, &session).await?;
    Ok(Json(Tokens {
        tokens: tokens.into_iter().map(TokenJson::from).collect(),
    }))
}

/// The path of one token.
#[derive(Debug, Deserialize)]
pub struct TokenPath {
    id: String,
}

/// `DELETE /v1/tokens/{id}`: revokes it at once; answers the token revoked.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "tokens",
    summary = "Revoke a viewer token at once",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 200, body = TokenJson),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn revoke(
    State(ctx): State<Context>,
    PathParams(path): PathParams<TokenPath>,
    parts: Parts,
) -> Result<Json<TokenJson>, ApiError> {
    let session = admit(&ctx, &parts, "RevokeToken", Role::Admin, None)?;
    let token = calls::revoke_token(&ctx, &session, &path.id).await?;
    Ok(Json(token.into()))
}
