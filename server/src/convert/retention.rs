//! Conversions of the retention types (policy, holds, the anchor, plans,
//! archived segments) to their protobuf messages. Nothing here checks a
//! request: the retention calls take plain fields, checked where they are
//! read ([`crate::retention_service`]).

use std::collections::BTreeMap;

use stele_engine::retention::Rule;
use stele_engine::{
    Anchor, ArchivedSegment, Hold, Removal, RetentionPlan, RetentionPolicy, RetentionReport,
};
use stele_proto::v1;

/// The protobuf form of a retention policy.
pub fn retention_policy_to_proto(p: &RetentionPolicy) -> v1::RetentionPolicy {
    v1::RetentionPolicy {
        max_age_ms: p.max_age_ms,
        max_bytes: p.max_bytes,
        lock_ms: p.lock_ms,
    }
}

/// The engine policy a `Policy.retention` asks for (absent: no limits, no
/// lock). The engine checks the values when the log is created.
pub fn retention_policy_from_proto(p: Option<v1::RetentionPolicy>) -> RetentionPolicy {
    let p = p.unwrap_or_default();
    RetentionPolicy {
        max_age_ms: p.max_age_ms,
        max_bytes: p.max_bytes,
        lock_ms: p.lock_ms,
    }
}

/// The protobuf number of a retention rule.
pub fn rule_to_proto(rule: Rule) -> i32 {
    match rule {
        Rule::MaxAge => v1::RetentionRule::MaxAge,
        Rule::MaxBytes => v1::RetentionRule::MaxBytes,
    }
    .into()
}

/// The protobuf form of a legal hold.
pub fn hold_to_proto(h: &Hold) -> v1::Hold {
    v1::Hold {
        segment: h.segment,
        reason: h.reason.clone(),
        set_by: h.set_by.clone(),
        set_ns: h.set_ns,
    }
}

/// The protobuf form of a removal.
pub fn removal_to_proto(r: &Removal) -> v1::Removal {
    v1::Removal {
        first_seq: r.first_seq,
        next_seq: r.next_seq,
        last_chain_hash: r.last_chain_hash.to_vec(),
        min_ingest_time_ns: r.min_ingest,
        max_ingest_time_ns: r.max_ingest,
        bytes: r.bytes,
        rule: rule_to_proto(r.rule),
        archived: r.archived.clone().unwrap_or_default(),
        time_ns: r.time,
    }
}

/// The protobuf form of a log's signed anchor.
pub fn anchor_to_proto(a: &Anchor) -> v1::Anchor {
    v1::Anchor {
        first_seq: a.first_seq,
        head: a.head.to_vec(),
        removals: a.removals.iter().map(removal_to_proto).collect(),
        time_ns: a.time,
        public_key: a.public_key.to_vec(),
        signature: a.signature.to_vec(),
    }
}

/// The protobuf form of a retention plan.
pub fn plan_to_proto(p: &RetentionPlan) -> v1::RetentionPlan {
    v1::RetentionPlan {
        now_ns: p.now,
        remove: p
            .remove
            .iter()
            .map(|r| v1::PlannedRemoval {
                first_seq: r.first_seq,
                next_seq: r.next_seq,
                bytes: r.bytes,
                max_ingest_time_ns: r.max_ingest,
                rule: rule_to_proto(r.rule),
            })
            .collect(),
        blocked: p.blocked.as_ref().map(|b| v1::Blocked {
            first_seq: b.first_seq,
            next_seq: b.next_seq,
            rule: rule_to_proto(b.rule),
            reason: b.reason.clone(),
        }),
    }
}

/// The protobuf form of an archived segment. `local_first_seq` is where the
/// local log starts and `restored` the manifest's restored segments, which
/// say whether a local copy exists and how long it is kept.
pub fn archived_to_proto(
    a: &ArchivedSegment,
    local_first_seq: u64,
    restored: &BTreeMap<u64, i64>,
) -> v1::ArchivedSegment {
    v1::ArchivedSegment {
        first_seq: a.first_seq,
        next_seq: a.next_seq,
        min_time_ns: a.min_time,
        max_time_ns: a.max_time,
        min_ingest_time_ns: a.min_ingest,
        max_ingest_time_ns: a.max_ingest,
        prev_chain_hash: a.prev_chain_hash.to_vec(),
        last_chain_hash: a.last_chain_hash.to_vec(),
        sha256: a.sha256.to_vec(),
        bytes: a.bytes,
        location: a.location.clone(),
        archived_ns: a.archived_ns,
        local: a.first_seq >= local_first_seq,
        kept_until_ns: restored.get(&a.first_seq).copied(),
    }
}

/// The result of applying retention; `first_seq` is where the local log
/// starts afterwards.
pub fn apply_result_to_proto(
    r: &RetentionReport,
    dry_run: bool,
    first_seq: u64,
) -> v1::ApplyRetentionResult {
    v1::ApplyRetentionResult {
        dry_run,
        plan: Some(plan_to_proto(&r.plan)),
        archives: r.archives,
        removed: r.removed.iter().map(removal_to_proto).collect(),
        first_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_absent_means_none() {
        let p = RetentionPolicy {
            max_age_ms: Some(90),
            max_bytes: None,
            lock_ms: Some(7),
        };
        assert_eq!(
            retention_policy_from_proto(Some(retention_policy_to_proto(&p))),
            p
        );
        assert_eq!(
            retention_policy_from_proto(None),
            RetentionPolicy::default()
        );
    }

    #[test]
    fn restored_segments_are_local_and_kept() {
        let mut restored = BTreeMap::new();
        restored.insert(10, 99);
        let entry = |first_seq| ArchivedSegment {
            log: "audit".into(),
            log_id: [1; 16],
            first_seq,
            next_seq: first_seq + 10,
            min_time: 0,
            max_time: 0,
            min_ingest: 0,
            max_ingest: 0,
            prev_chain_hash: [0; 32],
            last_chain_hash: [0; 32],
            sha256: [0; 32],
            bytes: 1,
            segment_key: String::new(),
            index_keys: Vec::new(),
            location: "/a/audit/x.seg".into(),
            archived_ns: 0,
            checkpoint: stele_engine::Checkpoint {
                log: "audit".into(),
                log_id: [1; 16],
                size: first_seq + 10,
                head: [0; 32],
                time: 0,
                public_key: [0; 32],
                signature: [0; 64],
            },
        };
        let old = archived_to_proto(&entry(0), 10, &restored);
        assert!(!old.local);
        assert_eq!(old.kept_until_ns, None);
        let back = archived_to_proto(&entry(10), 10, &restored);
        assert!(back.local);
        assert_eq!(back.kept_until_ns, Some(99));
        assert_eq!(rule_to_proto(Rule::MaxBytes), 2);
    }
}
