//! The retention calls of the `Admin` service: the policy and the lock,
//! legal holds, applying retention, archived segments and restoring them.
//!
//! [`crate::admin_service`] delegates each call here. Every call needs the
//! `admin` role on its log and is recorded in `_system` as
//! `admin.<method>` with what the caller asked for (for holds, the reason);
//! the engine itself records each segment it removes or restores there too.
//! `ApplyRetention` and `RestoreSegment` run on the blocking pool and
//! stream progress ([`long_call`]).
//!
//! # Invariants
//! The server only forwards: the retention lock and the holds are checked
//! by the engine at the moment of each removal, whatever the token.

use std::time::Duration;

use serde_json::json;
use stele_engine::{ApplyOptions, Log};
use stele_proto::v1;
use tonic::{Request, Status};

use crate::admin_service::{ResponseStream, long_call, recorded};
use crate::audit::Note;
use crate::auth::Role;
use crate::context::Context;
use crate::convert::retention::{
    anchor_to_proto, apply_result_to_proto, archived_to_proto, hold_to_proto, plan_to_proto,
    retention_policy_to_proto,
};
use crate::status::{blocking, invalid, to_status};

/// How long a restored segment is kept when the request does not say.
pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// `GetRetention`.
///
/// # Errors
/// `NOT_FOUND`; auth errors.
pub async fn get_retention(
    ctx: &Context,
    request: Request<v1::GetRetentionRequest>,
) -> Result<v1::RetentionInfo, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "GetRetention", Role::Admin, Some(&name))?;
    let target = archive_target(ctx);
    let result = async {
        let log = ctx.log(&name).await?;
        blocking(move || Ok(retention_info(&log, target))).await
    }
    .await;
    recorded(ctx, &session, Some(&name), result, Note::default()).await
}

/// A log's retention as it stands.
fn retention_info(log: &Log, archive_target: String) -> v1::RetentionInfo {
    let manifest = log.manifest();
    let plan = log.retention_plan();
    let first_seq = log.first_seq();
    v1::RetentionInfo {
        log: log.name().to_string(),
        policy: Some(retention_policy_to_proto(&manifest.policy.retention)),
        holds: manifest.holds.iter().map(hold_to_proto).collect(),
        anchor: manifest.anchor.as_ref().map(anchor_to_proto),
        archived: manifest
            .archived
            .iter()
            .map(|a| archived_to_proto(a, first_seq, &manifest.restored))
            .collect(),
        plan: Some(plan_to_proto(&plan)),
        archive_target,
        first_seq,
    }
}

/// The archive target as people read it; empty when none is configured.
fn archive_target(ctx: &Context) -> String {
    ctx.store
        .archive()
        .map(|a| a.describe())
        .unwrap_or_default()
}

/// A limit of `SetRetention`: `None` leaves it, `Some(None)` removes it,
/// `Some(Some(v))` sets it.
fn limit(
    value: Option<u64>,
    clear: bool,
    field: &str,
    clear_field: &str,
) -> Result<Option<Option<u64>>, Status> {
    match (value, clear) {
        (Some(_), true) => Err(invalid(clear_field, format!("cannot be set with {field}"))),
        (Some(0), false) => Err(invalid(
            field,
            format!("must be greater than 0; set {clear_field} to remove the limit"),
        )),
        (Some(v), false) => Ok(Some(Some(v))),
        (None, true) => Ok(Some(None)),
        (None, false) => Ok(None),
    }
}

/// `SetRetention`.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the field; `NOT_FOUND`; auth errors.
pub async fn set_retention(
    ctx: &Context,
    request: Request<v1::SetRetentionRequest>,
) -> Result<v1::RetentionPolicy, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "SetRetention", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let result = async {
        let max_age = limit(
            req.max_age_ms,
            req.clear_max_age,
            "max_age_ms",
            "clear_max_age",
        )?;
        let max_bytes = limit(
            req.max_bytes,
            req.clear_max_bytes,
            "max_bytes",
            "clear_max_bytes",
        )?;
        let log = ctx.log(&name).await?;
        blocking(move || log.set_retention(max_age, max_bytes)).await
    }
    .await;
    let note = match &result {
        Ok(p) => Note::default()
            .with("max_age_ms", json!(p.max_age_ms))
            .with("max_bytes", json!(p.max_bytes)),
        Err(_) => Note::default(),
    };
    let policy = recorded(ctx, &session, Some(&name), result, note).await?;
    tracing::info!(log = %name, by = %session.caller.name, max_age_ms = ?policy.max_age_ms, max_bytes = ?policy.max_bytes, "retention changed");
    Ok(retention_policy_to_proto(&policy))
}

/// `RaiseLock`.
///
/// # Errors
/// `FAILED_PRECONDITION` when the lock would go down; `INVALID_ARGUMENT`
/// for 0; `NOT_FOUND`; auth errors.
pub async fn raise_lock(
    ctx: &Context,
    request: Request<v1::RaiseLockRequest>,
) -> Result<v1::RetentionPolicy, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "RaiseLock", Role::Admin, Some(&name))?;
    let lock_ms = request.into_inner().lock_ms;
    let result = async {
        if lock_ms == 0 {
            return Err(invalid("lock_ms", "must be greater than 0"));
        }
        let log = ctx.log(&name).await?;
        blocking(move || log.raise_lock(lock_ms)).await
    }
    .await;
    let note = Note::default().with("lock_ms", json!(lock_ms));
    let policy = recorded(ctx, &session, Some(&name), result, note).await?;
    tracing::info!(log = %name, by = %session.caller.name, lock_ms, "retention lock raised");
    Ok(retention_policy_to_proto(&policy))
}

/// The `reason` of a hold request, which must say something.
fn hold_reason(reason: &str) -> Result<&str, Status> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err(invalid(
            "reason",
            "is required: say why (a case number, a ticket)",
        ))
    } else {
        Ok(reason)
    }
}

/// `SetHold`.
///
/// # Errors
/// `INVALID_ARGUMENT` for an empty reason or an unknown segment;
/// `NOT_FOUND`; auth errors.
pub async fn set_hold(
    ctx: &Context,
    request: Request<v1::SetHoldRequest>,
) -> Result<v1::Hold, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "SetHold", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let by = session.caller.name.clone();
    let result = async {
        let reason = hold_reason(&req.reason)?.to_string();
        let log = ctx.log(&name).await?;
        blocking(move || log.set_hold(req.segment, &reason, &by)).await
    }
    .await;
    let note = Note::because(req.reason.trim()).with("segment", json!(req.segment));
    let hold = recorded(ctx, &session, Some(&name), result, note).await?;
    tracing::info!(log = %name, by = %session.caller.name, scope = %hold.scope(), reason = %hold.reason, "legal hold set");
    Ok(hold_to_proto(&hold))
}

/// `LiftHold`.
///
/// # Errors
/// `INVALID_ARGUMENT` for an empty reason or when there is no such hold;
/// `NOT_FOUND`; auth errors.
pub async fn lift_hold(
    ctx: &Context,
    request: Request<v1::LiftHoldRequest>,
) -> Result<v1::Hold, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "LiftHold", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let result = async {
        hold_reason(&req.reason)?;
        let log = ctx.log(&name).await?;
        blocking(move || log.lift_hold(req.segment)).await
    }
    .await;
    let mut note = Note::because(req.reason.trim()).with("segment", json!(req.segment));
    if let Ok(hold) = &result {
        note = note
            .with("hold_reason", json!(hold.reason))
            .with("hold_set_by", json!(hold.set_by));
    }
    let hold = recorded(ctx, &session, Some(&name), result, note).await?;
    tracing::info!(log = %name, by = %session.caller.name, scope = %hold.scope(), "legal hold lifted");
    Ok(hold_to_proto(&hold))
}

/// `ListArchived`.
///
/// # Errors
/// `NOT_FOUND`; auth errors.
pub async fn list_archived(
    ctx: &Context,
    request: Request<v1::ListArchivedRequest>,
) -> Result<v1::ListArchivedResponse, Status> {
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "ListArchived", Role::Admin, Some(&name))?;
    let archive_target = archive_target(ctx);
    let result = async {
        let log = ctx.log(&name).await?;
        blocking(move || {
            let manifest = log.manifest();
            let first_seq = log.first_seq();
            Ok(v1::ListArchivedResponse {
                segments: manifest
                    .archived
                    .iter()
                    .map(|a| archived_to_proto(a, first_seq, &manifest.restored))
                    .collect(),
                archive_target,
            })
        })
        .await
    }
    .await;
    recorded(ctx, &session, Some(&name), result, Note::default()).await
}

/// `ApplyRetention`: progress before each segment, then the result.
///
/// # Errors
/// Auth errors; everything else ends the stream (`NOT_FOUND`, archive
/// and I/O errors after the segments removed before them).
pub async fn apply_retention(
    ctx: &Context,
    request: Request<v1::ApplyRetentionRequest>,
) -> Result<ResponseStream<v1::ApplyRetentionResponse>, Status> {
    use v1::apply_retention_response::Item;
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "ApplyRetention", Role::Admin, Some(&name))?;
    let dry_run = request.get_ref().dry_run;
    let store = ctx.store.clone();
    let options = ApplyOptions {
        dry_run,
        requested_by: session.caller.name.clone(),
    };
    let note = Note::default().with("dry_run", json!(dry_run));
    let wrap = |item| v1::ApplyRetentionResponse { item: Some(item) };
    Ok(long_call(ctx, session, name.clone(), note, move |send| {
        let report = store
            .apply_retention(&name, &options, &mut |p| {
                send(wrap(Item::Progress(v1::RetentionProgress {
                    first_seq: p.first_seq,
                    done: saturating_u32(p.done),
                    total: saturating_u32(p.total),
                })));
            })
            .map_err(to_status)?;
        let first_seq = store.log(&name).map_err(to_status)?.first_seq();
        if !report.removed.is_empty() {
            tracing::info!(log = %name, removed = report.removed.len(), first_seq, "retention applied by an admin call");
        }
        let mut details = serde_json::Map::new();
        details.insert("segments_removed".into(), json!(report.removed.len()));
        details.insert("first_seq".into(), json!(first_seq));
        let result = apply_result_to_proto(&report, dry_run, first_seq);
        Ok((wrap(Item::Result(result)), details))
    }))
}

/// `RestoreSegment`: progress after each segment, then the result.
///
/// # Errors
/// Auth errors; everything else ends the stream (`INVALID_ARGUMENT` with
/// no archive target or for a segment that is not archived, archive
/// errors).
pub async fn restore_segment(
    ctx: &Context,
    request: Request<v1::RestoreSegmentRequest>,
) -> Result<ResponseStream<v1::RestoreSegmentResponse>, Status> {
    use v1::restore_segment_response::Item;
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "RestoreSegment", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let keep_for = match req.keep_for_ms {
        0 => DEFAULT_KEEP_FOR,
        ms => Duration::from_millis(ms),
    };
    let note = Note::default()
        .with("first_seq", json!(req.first_seq))
        .with(
            "keep_for_ms",
            json!(u64::try_from(keep_for.as_millis()).unwrap_or(u64::MAX)),
        );
    let store = ctx.store.clone();
    let by = session.caller.name.clone();
    let wrap = |item| v1::RestoreSegmentResponse { item: Some(item) };
    Ok(long_call(ctx, session, name.clone(), note, move |send| {
        let log = store.log(&name).map_err(to_status)?;
        let start = log.first_seq();
        let total = log
            .manifest()
            .archived
            .iter()
            .filter(|a| a.next_seq > req.first_seq && a.first_seq < start)
            .count();
        let mut done = 0;
        let restored = store
            .restore_segment(&name, req.first_seq, keep_for, &by, &mut |entry| {
                done += 1;
                send(wrap(Item::Progress(v1::RestoreProgress {
                    segment: Some(archived_to_proto(
                        entry,
                        entry.first_seq,
                        &Default::default(),
                    )),
                    done: saturating_u32(done),
                    total: saturating_u32(total),
                })));
            })
            .map_err(to_status)?;
        let manifest = log.manifest();
        let first_seq = log.first_seq();
        let kept_until_ns = restored
            .first()
            .and_then(|a| manifest.restored.get(&a.first_seq).copied())
            .unwrap_or_default();
        tracing::info!(log = %name, restored = restored.len(), first_seq, "segments restored from the archive");
        let mut details = serde_json::Map::new();
        details.insert("segments_restored".into(), json!(restored.len()));
        let result = v1::RestoreSegmentResult {
            restored: restored
                .iter()
                .map(|a| archived_to_proto(a, first_seq, &manifest.restored))
                .collect(),
            kept_until_ns,
            first_seq,
        };
        Ok((wrap(Item::Result(result)), details))
    }))
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_set_clear_or_keep() {
        assert_eq!(limit(Some(5), false, "a", "b").unwrap(), Some(Some(5)));
        assert_eq!(limit(None, true, "a", "b").unwrap(), Some(None));
        assert_eq!(limit(None, false, "a", "b").unwrap(), None);
        let s = limit(Some(5), true, "max_age_ms", "clear_max_age").unwrap_err();
        assert!(s.message().starts_with("clear_max_age: "), "{s:?}");
        let s = limit(Some(0), false, "max_age_ms", "clear_max_age").unwrap_err();
        assert!(s.message().starts_with("max_age_ms: "), "{s:?}");
        assert!(hold_reason("  ").is_err());
        assert_eq!(hold_reason(" case 7 ").unwrap(), "case 7");
    }
}
