//! The `Admin` calls that rewrite sealed segments: `Compact` (merge small
//! segments) and `Erase` (remove the bodies of matching records, GDPR).
//!
//! Both need the `admin` role on the log, run on the blocking pool, stream
//! progress and are recorded in `_system` ([`long_call`]); an erasure's
//! record names who asked, why and how many records it matched, and the
//! engine adds its own `retention.erase` record with the seqs.

use serde_json::json;
use stele_engine::{CompactOptions, EraseOptions};
use stele_proto::v1;
use tonic::{Request, Status};

use crate::admin_service::{ResponseStream, long_call, recorded};
use crate::audit::Note;
use crate::auth::Role;
use crate::context::Context;
use crate::convert::rewrite::{
    compact_progress_to_proto, compact_result_to_proto, erase_progress_to_proto,
    erase_result_to_proto,
};
use crate::convert::selection_to_query;
use crate::status::{invalid, to_status};

/// `Compact`: progress while groups are merged, then the result.
///
/// # Errors
/// Auth errors; everything else ends the stream (`NOT_FOUND`,
/// `FAILED_PRECONDITION` when a member was put under a hold meanwhile, I/O
/// errors after the groups merged before them).
pub async fn compact(
    ctx: &Context,
    request: Request<v1::CompactRequest>,
) -> Result<ResponseStream<v1::CompactResponse>, Status> {
    use v1::compact_response::Item;
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "Compact", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let options = CompactOptions {
        small_bytes: Some(req.small_bytes).filter(|b| *b > 0),
        target_bytes: Some(req.target_bytes).filter(|b| *b > 0),
        dry_run: req.dry_run,
    };
    let note = Note::default().with("dry_run", json!(req.dry_run));
    let store = ctx.store.clone();
    let wrap = |item| v1::CompactResponse { item: Some(item) };
    Ok(long_call(ctx, session, name.clone(), note, move |send| {
        let log = store.log(&name).map_err(to_status)?;
        let report = log
            .compact(&options, &mut |p| {
                send(wrap(Item::Progress(compact_progress_to_proto(&p))));
            })
            .map_err(to_status)?;
        if !report.merged.is_empty() {
            tracing::info!(log = %name, groups = report.merged.len(), "segments compacted");
        }
        let mut details = serde_json::Map::new();
        details.insert("groups_planned".into(), json!(report.planned.len()));
        details.insert("groups_merged".into(), json!(report.merged.len()));
        Ok((
            wrap(Item::Result(compact_result_to_proto(&report))),
            details,
        ))
    }))
}

/// `Erase`: progress per segment rewritten, then the result.
///
/// # Errors
/// Auth errors; `INVALID_ARGUMENT` (recorded) for an empty reason or a bad
/// selection; everything else ends the stream (`NOT_FOUND`,
/// `INVALID_ARGUMENT` for a selection naming no records,
/// `FAILED_PRECONDITION` under a legal hold).
pub async fn erase(
    ctx: &Context,
    request: Request<v1::EraseRequest>,
) -> Result<ResponseStream<v1::EraseResponse>, Status> {
    use v1::erase_response::Item;
    let name = request.get_ref().log.clone();
    let session = ctx.admit(&request, "Erase", Role::Admin, Some(&name))?;
    let req = request.into_inner();
    let reason = req.reason.trim().to_string();
    let note = Note::because(&reason).with("dry_run", json!(req.dry_run));
    let checked = if reason.is_empty() {
        Err(invalid(
            "reason",
            "is required: say why the records are erased (a request or ticket number)",
        ))
    } else {
        selection_to_query(req.selection)
    };
    let query = match checked {
        Ok(query) => query,
        Err(status) => return recorded(ctx, &session, Some(&name), Err(status), note).await,
    };
    let options = EraseOptions {
        dry_run: req.dry_run,
        reason,
        requested_by: session.caller.name.clone(),
    };
    let store = ctx.store.clone();
    let wrap = |item| v1::EraseResponse { item: Some(item) };
    Ok(long_call(ctx, session, name.clone(), note, move |send| {
        let report = store
            .erase(&name, &query, &options, &mut |p| {
                send(wrap(Item::Progress(erase_progress_to_proto(&p))));
            })
            .map_err(to_status)?;
        let records = report.local.seqs.len();
        if !options.dry_run {
            tracing::info!(log = %name, records, by = %options.requested_by, reason = %options.reason, "records erased");
        }
        let mut details = serde_json::Map::new();
        details.insert("records".into(), json!(records));
        details.insert("segments".into(), json!(report.local.segments.len()));
        Ok((wrap(Item::Result(erase_result_to_proto(&report))), details))
    }))
}
