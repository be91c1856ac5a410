//! Conversions between the protobuf messages and the engine's types.
//!
//! Incoming messages are checked here for what protobuf cannot express (enum
//! numbers out of range, `details_json` that is not a JSON object, unknown
//! filter fields); every error names the request field at fault. The
//! engine then validates the event itself (sizes, required fields).
//!
//! The retention types have their own file, [`retention`]; compaction and
//! erasure theirs, [`rewrite`].

pub mod retention;
pub mod rewrite;
pub mod scrub;

use std::path::Path;

use stele_engine::query::{Bucket, Histogram, SearchStats, Terms};
use stele_engine::{
    Actor, ActorKind, Checkpoint, Event, ExactField, Filter, Outcome, Policy, Query, Receipt,
    Record, RecordBody, Resource, SegmentInfo, SegmentState, VerifyReport,
};
use stele_proto::v1;
use tonic::Status;

use crate::status::invalid;

/// An event of a request, `at` naming it (`events[3]`).
///
/// # Errors
/// `INVALID_ARGUMENT` naming the field.
pub fn event_from_proto(e: v1::Event, at: &str) -> Result<Event, Status> {
    let actor = e.actor.unwrap_or_default();
    let actor_kind = match v1::ActorKind::try_from(actor.kind) {
        Ok(v1::ActorKind::Unspecified) => None,
        Ok(v1::ActorKind::User) => Some(ActorKind::User),
        Ok(v1::ActorKind::Service) => Some(ActorKind::Service),
        Ok(v1::ActorKind::System) => Some(ActorKind::System),
        Err(_) => {
            return Err(invalid(
                &format!("{at}.actor.kind"),
                format!("{} is not an ActorKind", actor.kind),
            ));
        }
    };
    let outcome = match v1::Outcome::try_from(e.outcome) {
        Ok(v1::Outcome::Unspecified) => None,
        Ok(v1::Outcome::Success) => Some(Outcome::Success),
        Ok(v1::Outcome::Failure) => Some(Outcome::Failure),
        Ok(v1::Outcome::Denied) => Some(Outcome::Denied),
        Ok(v1::Outcome::Unknown) => Some(Outcome::Unknown),
        Err(_) => {
            return Err(invalid(
                &format!("{at}.outcome"),
                format!("{} is not an Outcome", e.outcome),
            ));
        }
    };
    let details = if e.details_json.trim().is_empty() {
        None
    } else {
        match serde_json::from_str::<serde_json::Value>(&e.details_json) {
            Ok(serde_json::Value::Object(map)) => Some(map),
            Ok(_) => {
                return Err(invalid(
                    &format!("{at}.details_json"),
                    "must be a JSON object",
                ));
            }
            Err(err) => {
                return Err(invalid(
                    &format!("{at}.details_json"),
                    format!("is not valid JSON: {err}"),
                ));
            }
        }
    };
    let resource = e.resource.unwrap_or_default();
    Ok(Event {
        id: e.id,
        time: e.time_ns,
        tenant: e.tenant,
        actor: Actor {
            id: actor.id,
            kind: actor_kind,
            display_name: actor.display_name,
            ip: actor.ip,
            user_agent: actor.user_agent,
            session_id: actor.session_id,
        },
        action: e.action,
        resource: Resource {
            kind: resource.kind,
            id: resource.id,
            name: resource.name,
        },
        outcome,
        reason: e.reason,
        source: e.source,
        correlation_id: e.correlation_id,
        request_id: e.request_id,
        duration_ms: e.duration_ms,
        message: e.message,
        details,
    })
}

/// The protobuf form of a stored event.
pub fn event_to_proto(e: Event) -> v1::Event {
    let actor_kind = match e.actor.kind {
        None => v1::ActorKind::Unspecified,
        Some(ActorKind::User) => v1::ActorKind::User,
        Some(ActorKind::Service) => v1::ActorKind::Service,
        Some(ActorKind::System) => v1::ActorKind::System,
    };
    let outcome = match e.outcome {
        None => v1::Outcome::Unspecified,
        Some(Outcome::Success) => v1::Outcome::Success,
        Some(Outcome::Failure) => v1::Outcome::Failure,
        Some(Outcome::Denied) => v1::Outcome::Denied,
        Some(Outcome::Unknown) => v1::Outcome::Unknown,
    };
    v1::Event {
        id: e.id,
        time_ns: e.time,
        tenant: e.tenant,
        actor: Some(v1::Actor {
            id: e.actor.id,
            kind: actor_kind.into(),
            display_name: e.actor.display_name,
            ip: e.actor.ip,
            user_agent: e.actor.user_agent,
            session_id: e.actor.session_id,
        }),
        action: e.action,
        resource: Some(v1::Resource {
            kind: e.resource.kind,
            id: e.resource.id,
            name: e.resource.name,
        }),
        outcome: outcome.into(),
        reason: e.reason,
        source: e.source,
        correlation_id: e.correlation_id,
        request_id: e.request_id,
        duration_ms: e.duration_ms,
        message: e.message,
        details_json: e
            .details
            .map(|d| serde_json::Value::Object(d).to_string())
            .unwrap_or_default(),
    }
}

/// The protobuf form of a record: its decoded event (when it has a body),
/// and the body bytes themselves when `include_body`.
///
/// # Errors
/// `DATA_LOSS` when a stored body does not decode.
pub fn record_to_proto(record: Record, include_body: bool) -> Result<v1::Record, Status> {
    let event = record.event().map_err(|reason| {
        Status::data_loss(format!("record {} does not decode: {reason}", record.seq))
    })?;
    Ok(record_parts_to_proto(record, event, include_body))
}

/// As [`record_to_proto`], with the event already decoded.
pub fn record_parts_to_proto(
    record: Record,
    event: Option<Event>,
    include_body: bool,
) -> v1::Record {
    let body_digest = record.body_digest().to_vec();
    let (redacted, body) = match record.body {
        RecordBody::Stored(bytes) => (false, if include_body { bytes } else { Vec::new() }),
        RecordBody::Redacted(_) => (true, Vec::new()),
    };
    v1::Record {
        seq: record.seq,
        ingest_time_ns: record.ingest_time,
        event: event.map(event_to_proto),
        redacted,
        body_digest,
        body,
    }
}

/// The protobuf form of a receipt.
pub fn receipt_to_proto(r: &Receipt, duplicate: bool) -> v1::Receipt {
    v1::Receipt {
        seq: r.seq,
        leaf_hash: r.leaf_hash.to_vec(),
        chain_hash: r.chain_hash.to_vec(),
        duplicate,
    }
}

/// The engine query for a selection (time range, filters, text).
///
/// # Errors
/// `INVALID_ARGUMENT` naming the selection field.
pub fn selection_to_query(selection: Option<v1::Selection>) -> Result<Query, Status> {
    let selection = selection.unwrap_or_default();
    let mut filters = Vec::with_capacity(selection.filters.len());
    for (i, f) in selection.filters.into_iter().enumerate() {
        filters.push(Filter {
            field: field_from_name(&f.field, &format!("selection.filters[{i}].field"))?,
            values: f.values,
        });
    }
    Ok(Query {
        from: selection.from_time_ns,
        to: selection.to_time_ns,
        filters,
        text: selection.text,
        ..Query::default()
    })
}

/// An exact field by its name, `at` naming the request field.
///
/// # Errors
/// `INVALID_ARGUMENT` listing the accepted names.
pub fn field_from_name(name: &str, at: &str) -> Result<ExactField, Status> {
    ExactField::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = ExactField::ALL.iter().map(|f| f.name()).collect();
        invalid(at, format!("`{name}` is not one of {}", known.join(", ")))
    })
}

/// The protobuf form of search statistics.
pub fn stats_to_proto(s: &SearchStats) -> v1::SearchStats {
    v1::SearchStats {
        snapshot: s.snapshot,
        segments_searched: saturating_u32(s.segments_searched),
        segments_skipped: saturating_u32(s.segments_skipped),
    }
}

/// The protobuf form of a top-values count.
pub fn terms_to_proto(t: Terms) -> v1::Terms {
    v1::Terms {
        top: t
            .top
            .into_iter()
            .map(|(value, count)| v1::TermCount { value, count })
            .collect(),
        other: t.other,
        missing: t.missing,
        total: t.total,
    }
}

/// The protobuf form of a date histogram.
pub fn histogram_to_proto(h: Histogram) -> v1::Histogram {
    v1::Histogram {
        interval_ns: h.interval,
        buckets: h
            .buckets
            .into_iter()
            .map(
                |Bucket {
                     start,
                     count,
                     split,
                 }| v1::Bucket {
                    start_ns: start,
                    count,
                    split,
                },
            )
            .collect(),
        split_values: h.split_values,
        total: h.total,
    }
}

/// The engine policy a `CreateLog` asks for: defaults where a field is zero
/// or empty.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the policy field.
pub fn policy_from_proto(p: Option<v1::Policy>) -> Result<Policy, Status> {
    let mut policy = Policy::default();
    let Some(p) = p else {
        return Ok(policy);
    };
    if !p.fsync.is_empty() {
        policy.fsync = p.fsync.parse().map_err(crate::status::to_status)?;
    }
    let set = |value: u64, target: &mut u64| {
        if value != 0 {
            *target = value;
        }
    };
    set(p.seal_max_bytes, &mut policy.seal.max_bytes);
    set(p.seal_max_records, &mut policy.seal.max_records);
    set(p.seal_max_age_ms, &mut policy.seal.max_age_ms);
    set(
        p.index_commit_interval_ms,
        &mut policy.index.commit_interval_ms,
    );
    let set_usize = |value: u64, target: &mut usize, what: &str| -> Result<(), Status> {
        if value != 0 {
            *target = usize::try_from(value).map_err(|_| invalid(what, "is too large"))?;
        }
        Ok(())
    };
    let limits = &mut policy.limits;
    set_usize(
        p.max_body_bytes,
        &mut limits.max_body_bytes,
        "policy.max_body_bytes",
    )?;
    set_usize(
        p.max_string_bytes,
        &mut limits.max_string_bytes,
        "policy.max_string_bytes",
    )?;
    set_usize(
        p.max_details_depth,
        &mut limits.max_details_depth,
        "policy.max_details_depth",
    )?;
    set_usize(
        p.max_batch_events,
        &mut limits.max_batch_events,
        "policy.max_batch_events",
    )?;
    policy.sanitize = p.sanitize;
    policy.retention = retention::retention_policy_from_proto(p.retention);
    policy.scrub = scrub::scrub_policy_from_proto(p.scrub);
    Ok(policy)
}

/// The protobuf form of a policy, every field filled in.
pub fn policy_to_proto(p: &Policy) -> v1::Policy {
    v1::Policy {
        fsync: p.fsync.to_string(),
        seal_max_bytes: p.seal.max_bytes,
        seal_max_records: p.seal.max_records,
        seal_max_age_ms: p.seal.max_age_ms,
        sanitize: p.sanitize.clone(),
        index_commit_interval_ms: p.index.commit_interval_ms,
        max_body_bytes: p.limits.max_body_bytes as u64,
        max_string_bytes: p.limits.max_string_bytes as u64,
        max_details_depth: p.limits.max_details_depth as u64,
        max_batch_events: p.limits.max_batch_events as u64,
        retention: Some(retention::retention_policy_to_proto(&p.retention)),
        scrub: Some(scrub::scrub_policy_to_proto(&p.scrub)),
    }
}

/// The protobuf form of a segment's facts.
pub fn segment_to_proto(s: &SegmentInfo) -> v1::SegmentInfo {
    let state = match s.state {
        SegmentState::Active => v1::SegmentState::Active,
        SegmentState::Sealing => v1::SegmentState::Sealing,
        SegmentState::Sealed => v1::SegmentState::Sealed,
    };
    let empty = s.stats.records == 0;
    let or_zero = |v: i64| if empty { 0 } else { v };
    v1::SegmentInfo {
        first_seq: s.first_seq,
        next_seq: s.next_seq,
        state: state.into(),
        records: s.stats.records,
        body_bytes: s.stats.body_bytes,
        file_bytes: s.file_bytes,
        min_time_ns: or_zero(s.stats.min_time),
        max_time_ns: or_zero(s.stats.max_time),
        min_ingest_time_ns: or_zero(s.stats.min_ingest),
        max_ingest_time_ns: or_zero(s.stats.max_ingest),
        file: file_name(&s.path),
    }
}

/// The protobuf form of a checkpoint.
pub fn checkpoint_to_proto(c: Checkpoint) -> v1::Checkpoint {
    v1::Checkpoint {
        log: c.log,
        log_id: c.log_id.to_vec(),
        size: c.size,
        head: c.head.to_vec(),
        time_ns: c.time,
        public_key: c.public_key.to_vec(),
        signature: c.signature.to_vec(),
    }
}

/// The protobuf form of a verification report; file names are relative to
/// the log's directory `log_dir`. `anchor_head` is left empty: the caller
/// fills it in from the log's anchor when `anchored_at` is set.
pub fn report_to_proto(r: &VerifyReport, log_dir: &Path) -> v1::VerifyResult {
    v1::VerifyResult {
        ok: r.is_ok(),
        records: r.records,
        body_bytes: r.body_bytes,
        segments: saturating_u32(r.segments),
        checkpoints: saturating_u32(r.checkpoints),
        next_seq: r.next_seq,
        head: r.head.to_vec(),
        failure: r.failure.as_ref().map(|f| v1::VerifyFailure {
            seq: f.seq,
            file: f
                .file
                .strip_prefix(log_dir)
                .unwrap_or(&f.file)
                .display()
                .to_string(),
            offset: f.offset,
            reason: f.reason.clone(),
        }),
        anchored_at: r.anchored_at,
        anchor_head: Vec::new(),
        tree_chunks: r.tree_chunks,
        tree_head: r.tree_head,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let proto = v1::Event {
            id: "e-1".into(),
            time_ns: Some(1_700_000_000_000_000_000),
            actor: Some(v1::Actor {
                id: "alice".into(),
                kind: v1::ActorKind::User.into(),
                ip: "203.0.113.7".into(),
                ..Default::default()
            }),
            action: "git.push".into(),
            outcome: v1::Outcome::Denied.into(),
            duration_ms: Some(12),
            details_json: r#"{"branch":"main","commits":3}"#.into(),
            ..Default::default()
        };
        let event = event_from_proto(proto.clone(), "events[0]").unwrap();
        assert_eq!(event.outcome, Some(Outcome::Denied));
        assert_eq!(event.details.as_ref().unwrap()["commits"], 3);
        let mut back = event_to_proto(event);
        back.resource = None;
        assert_eq!(back, proto);
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = |e: v1::Event| event_from_proto(e, "events[2]").unwrap_err();
        let s = bad(v1::Event {
            details_json: "[1]".into(),
            ..Default::default()
        });
        assert!(s.message().contains("events[2].details_json"), "{s:?}");
        let s = bad(v1::Event {
            details_json: "{".into(),
            ..Default::default()
        });
        assert!(s.message().contains("not valid JSON"), "{s:?}");
        let s = bad(v1::Event {
            outcome: 42,
            ..Default::default()
        });
        assert!(s.message().contains("events[2].outcome"), "{s:?}");
        let s = selection_to_query(Some(v1::Selection {
            filters: vec![v1::Filter {
                field: "colour".into(),
                values: vec![],
            }],
            ..Default::default()
        }))
        .unwrap_err();
        assert!(s.message().contains("selection.filters[0].field"), "{s:?}");
        let s = policy_from_proto(Some(v1::Policy {
            fsync: "sometimes".into(),
            ..Default::default()
        }))
        .unwrap_err();
        assert!(s.message().contains("policy.fsync"), "{s:?}");
    }
}
