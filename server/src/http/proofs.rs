//! Merkle proofs over HTTP (`docs/proofs.md`): the inclusion proof of a
//! record and the consistency proof between two sizes, each with the C2SP
//! signed checkpoint it is checked against; the same [`crate::calls`] as
//! gRPC's `GetInclusionProof` and `GetConsistencyProof`. Hashes in hex.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::calls;
use crate::context::Context;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::{LogName, Params, admit};

/// The record and tree of an inclusion proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    /// The record's seq.
    seq: u64,
    /// The tree it is proved in; the log's current size when absent.
    #[serde(default)]
    tree_size: u64,
}

/// An inclusion proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionJson {
    seq: u64,
    tree_size: u64,
    leaf_hash: String,
    /// The audit path, leaf side first (RFC 9162 §2.1.3).
    hashes: Vec<String>,
    root: String,
    /// The C2SP signed note of (origin, tree_size, root).
    checkpoint: String,
}

/// `GET /v1/logs/{log}/proofs/inclusion`.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/proofs/inclusion",
    tag = "proofs",
    summary = "The Merkle inclusion proof of a record, with the signed checkpoint of its tree",
    params(("log" = String, Path, description = "The log"), InclusionParams),
    responses(
        (status = 200, body = InclusionJson),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn inclusion(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<InclusionParams>,
    parts: Parts,
) -> Result<Json<InclusionJson>, ApiError> {
    let session = admit(&ctx, &parts, "GetInclusionProof", Role::Read, Some(&log))?;
    let log = ctx.log(&log).await?;
    let p = calls::inclusion_proof(&ctx, &session, log, params.seq, params.tree_size).await?;
    Ok(Json(InclusionJson {
        seq: p.seq,
        tree_size: p.tree_size,
        leaf_hash: hex::encode(p.leaf_hash),
        hashes: p.hashes.iter().map(hex::encode).collect(),
        root: hex::encode(p.root),
        checkpoint: p.checkpoint,
    }))
}

/// The two sizes of a consistency proof.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The older size (a saved checkpoint's).
    old_size: u64,
    /// The newer size; the log's current size when absent.
    #[serde(default)]
    new_size: u64,
}

/// A consistency proof.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyJson {
    old_size: u64,
    new_size: u64,
    /// RFC 9162 §2.1.4.
    hashes: Vec<String>,
    old_root: String,
    new_root: String,
    /// The C2SP signed note of (origin, new_size, new_root).
    checkpoint: String,
}

/// `GET /v1/logs/{log}/proofs/consistency`.
#[utoipa::path(
    get,
    path = "/v1/logs/{log}/proofs/consistency",
    tag = "proofs",
    summary = "The proof that the log at new_size extends the log at old_size",
    params(("log" = String, Path, description = "The log"), ConsistencyParams),
    responses(
        (status = 200, body = ConsistencyJson),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
)]
pub async fn consistency(
    State(ctx): State<Context>,
    LogName(log): LogName,
    Params(params): Params<ConsistencyParams>,
    parts: Parts,
) -> Result<Json<ConsistencyJson>, ApiError> {
    admit(&ctx, &parts, "GetConsistencyProof", Role::Read, Some(&log))?;
    let log = ctx.log(&log).await?;
    let p = calls::consistency_proof(&ctx, log, params.old_size, params.new_size).await?;
    Ok(Json(ConsistencyJson {
        old_size: p.old_size,
        new_size: p.new_size,
        hashes: p.hashes.iter().map(hex::encode).collect(),
        old_root: hex::encode(p.old_root),
        new_root: hex::encode(p.new_root),
        checkpoint: p.checkpoint,
    }))
}
