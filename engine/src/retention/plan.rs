//! The retention rule, as a pure function of the segments, the policy, the
//! holds and the time, so that `--dry-run`, the scheduler and the removal
//! itself agree.
//!
//! Walking the sealed segments oldest first, a segment is due when its newest
//! record was ingested more than `max_age` ago, or while the log's segment
//! files add up to more than `max_bytes`. The walk stops at the first segment
//! that is not due, or that a hold or the retention lock protects (reported
//! as [`Blocked`]): segments only leave from the front. Ages use ingest time,
//! which the server sets, never the event time a client sends.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Hold;
use crate::log::{RetentionPolicy, SegmentInfo, SegmentState};

/// Which rule made a segment due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Older than `max_age_ms`.
    MaxAge,
    /// Beyond `max_bytes`.
    MaxBytes,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::MaxAge => "max_age",
            Rule::MaxBytes => "max_bytes",
        })
    }
}

/// A segment the policy removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedRemoval {
    /// Its first seq.
    pub first_seq: u64,
    /// Seq after its last record.
    pub next_seq: u64,
    /// Size of its file.
    pub bytes: u64,
    /// Ingest time of its newest record.
    pub max_ingest: i64,
    /// Why it is due.
    pub rule: Rule,
}

/// A due segment that may not leave, and why; nothing after it leaves either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// Its first seq.
    pub first_seq: u64,
    /// Seq after its last record.
    pub next_seq: u64,
    /// Why it was due.
    pub rule: Rule,
    /// What protects it: the retention lock or a hold.
    pub reason: String,
}

/// What applying the policy now would do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPlan {
    /// The time the plan was made for.
    pub now: i64,
    /// Segments to remove, oldest first.
    pub remove: Vec<PlannedRemoval>,
    /// The first due segment that is protected, if any.
    pub blocked: Option<Blocked>,
}

/// Plans retention over `segments` (oldest first, as [`crate::Log::segments`]
/// lists them) at time `now`. `kept_until(first_seq)` gives a time before
/// which a segment stays whatever the policy says (a restored segment).
pub fn plan(
    segments: &[SegmentInfo],
    policy: &RetentionPolicy,
    holds: &[Hold],
    now: i64,
    kept_until: impl Fn(u64) -> Option<i64>,
) -> RetentionPlan {
    let mut out = RetentionPlan {
        now,
        ..RetentionPlan::default()
    };
    let mut total: u64 = segments.iter().map(|s| s.file_bytes).sum();
    for segment in segments {
        if segment.state != SegmentState::Sealed {
            break;
        }
        let age = now.saturating_sub(segment.stats.max_ingest);
        let rule = if policy.max_age_ms.is_some_and(|max| age >= ms_to_ns(max)) {
            Rule::MaxAge
        } else if policy.max_bytes.is_some_and(|max| total > max) {
            Rule::MaxBytes
        } else {
            break;
        };
        if let Some(reason) = protection(segment, policy, holds, now, &kept_until) {
            out.blocked = Some(Blocked {
                first_seq: segment.first_seq,
                next_seq: segment.next_seq,
                rule,
                reason,
            });
            break;
        }
        total -= segment.file_bytes;
        out.remove.push(PlannedRemoval {
            first_seq: segment.first_seq,
            next_seq: segment.next_seq,
            bytes: segment.file_bytes,
            max_ingest: segment.stats.max_ingest,
            rule,
        });
    }
    out
}

/// Why `segment` may not leave local storage at `now`, if anything stops
/// it: a hold on the log or on it, the retention lock, or a restore.
pub fn protection(
    segment: &SegmentInfo,
    policy: &RetentionPolicy,
    holds: &[Hold],
    now: i64,
    kept_until: &impl Fn(u64) -> Option<i64>,
) -> Option<String> {
    if let Some(hold) = holds
        .iter()
        .find(|h| h.segment.is_none() || h.segment == Some(segment.first_seq))
    {
        return Some(format!(
            "legal hold on {} ({}, set by {})",
            hold.scope(),
            hold.reason,
            hold.set_by
        ));
    }
    if let Some(lock) = policy.lock_ms {
        let until = segment.stats.max_ingest.saturating_add(ms_to_ns(lock));
        if now < until {
            return Some(format!(
                "retention lock of {} keeps it until {}",
                humanize_ms(lock),
                crate::event::format_time(until)
            ));
        }
    }
    if let Some(until) = kept_until(segment.first_seq)
        && now < until
    {
        return Some(format!(
            "restored from the archive, kept until {}",
            crate::event::format_time(until)
        ));
    }
    None
}

/// Milliseconds as nanoseconds, saturating.
pub fn ms_to_ns(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

/// `90d`, `36h`, `15m`, `40s` or `250ms`: the largest whole unit.
pub fn humanize_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| ms >= *size && ms.is_multiple_of(*size))
        .map_or_else(
            || format!("{ms}ms"),
            |(size, unit)| format!("{}{unit}", ms / size),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentStats;
    use std::path::PathBuf;

    const MS: i64 = 1_000_000;

    fn seg(first: u64, next: u64, max_ingest: i64, bytes: u64, state: SegmentState) -> SegmentInfo {
        SegmentInfo {
            first_seq: first,
            next_seq: next,
            state,
            stats: SegmentStats {
                records: next - first,
                max_ingest,
                ..SegmentStats::default()
            },
            file_bytes: bytes,
            path: PathBuf::new(),
        }
    }

    fn log() -> Vec<SegmentInfo> {
        vec![
            seg(0, 10, 100 * MS, 1000, SegmentState::Sealed),
            seg(10, 20, 200 * MS, 1000, SegmentState::Sealed),
            seg(20, 30, 300 * MS, 1000, SegmentState::Sealed),
            seg(30, 35, 400 * MS, 500, SegmentState::Active),
        ]
    }

    fn hold(segment: Option<u64>) -> Hold {
        Hold {
            segment,
            reason: "case 7".into(),
            set_by: "legal".into(),
            set_ns: 0,
        }
    }

    #[test]
    fn age_removes_a_prefix_of_sealed_segments_only() {
        let policy = RetentionPolicy {
            max_age_ms: Some(50),
            ..Default::default()
        };
        let p = plan(&log(), &policy, &[], 260 * MS, |_| None);
        assert_eq!(
            p.remove.iter().map(|r| r.first_seq).collect::<Vec<_>>(),
            [0, 10]
        );
        assert!(p.remove.iter().all(|r| r.rule == Rule::MaxAge));
        // Everything is old, but the active segment never leaves.
        let p = plan(&log(), &policy, &[], 10_000 * MS, |_| None);
        assert_eq!(p.remove.len(), 3);
    }

    #[test]
    fn bytes_remove_the_oldest_until_under_the_limit() {
        let policy = RetentionPolicy {
            max_bytes: Some(1600),
            ..Default::default()
        };
        let p = plan(&log(), &policy, &[], 0, |_| None);
        // 3500 bytes: removing 0 and 10 leaves 1500.
        assert_eq!(
            p.remove
                .iter()
                .map(|r| (r.first_seq, r.rule))
                .collect::<Vec<_>>(),
            [(0, Rule::MaxBytes), (10, Rule::MaxBytes)]
        );
        assert_eq!(p.blocked, None);
    }

    #[test]
    fn holds_and_the_lock_stop_the_walk() {
        let policy = RetentionPolicy {
            max_age_ms: Some(50),
            lock_ms: Some(100),
            ..Default::default()
        };
        // Seg 0 is 160 ms old (past the lock), seg 10 only 60 ms.
        let p = plan(&log(), &policy, &[], 260 * MS, |_| None);
        assert_eq!(p.remove.len(), 1);
        let blocked = p.blocked.unwrap();
        assert_eq!(blocked.first_seq, 10);
        assert!(
            blocked.reason.contains("retention lock of 100ms"),
            "{}",
            blocked.reason
        );

        let open = RetentionPolicy {
            max_age_ms: Some(50),
            ..Default::default()
        };
        let p = plan(&log(), &open, &[hold(Some(10))], 10_000 * MS, |_| None);
        assert_eq!(p.remove.len(), 1);
        assert!(
            p.blocked
                .unwrap()
                .reason
                .contains("legal hold on segment 10")
        );
        let p = plan(&log(), &open, &[hold(None)], 10_000 * MS, |_| None);
        assert!(p.remove.is_empty());
        assert!(p.blocked.unwrap().reason.contains("legal hold on the log"));
        let p = plan(&log(), &open, &[], 10_000 * MS, |s| {
            (s == 0).then_some(i64::MAX)
        });
        assert!(p.remove.is_empty());
        assert!(p.blocked.unwrap().reason.contains("restored"));
    }

    #[test]
    fn no_policy_removes_nothing() {
        let p = plan(&log(), &RetentionPolicy::default(), &[], i64::MAX, |_| None);
        assert_eq!(p.remove, []);
        assert_eq!(p.blocked, None);
    }

    #[test]
    fn durations_print_in_their_largest_unit() {
        assert_eq!(humanize_ms(90 * 86_400_000), "90d");
        assert_eq!(humanize_ms(36 * 3_600_000), "36h");
        assert_eq!(humanize_ms(1500), "1500ms");
    }
}
