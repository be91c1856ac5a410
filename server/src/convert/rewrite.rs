//! Conversions of the compaction and erasure reports and their progress to
//! their protobuf messages.

use stele_engine::{CompactGroup, CompactProgress, CompactReport, EraseProgress, StoreEraseReport};
use stele_proto::v1;

/// Most seqs an `EraseResult` lists (its `records` counts them all), so
/// that a large erasure's answer stays far below the message size limit.
pub const MAX_ERASED_SEQS: usize = 10_000;

/// The protobuf form of a compaction group; `bytes_after` is 0 for a group
/// not merged.
pub fn group_to_proto(g: &CompactGroup, bytes_after: u64) -> v1::CompactGroup {
    v1::CompactGroup {
        first_seq: g.first_seq,
        next_seq: g.next_seq,
        members: g.members.clone(),
        bytes: g.bytes,
        bytes_after,
    }
}

/// The protobuf form of compaction progress.
pub fn compact_progress_to_proto(p: &CompactProgress) -> v1::CompactProgress {
    v1::CompactProgress {
        group: saturating_u32(p.group),
        groups: saturating_u32(p.groups),
        first_seq: p.first_seq,
        next_seq: p.next_seq,
        records_done: p.records_done,
        done: p.done,
    }
}

/// The protobuf form of a compaction report.
pub fn compact_result_to_proto(r: &CompactReport) -> v1::CompactResult {
    v1::CompactResult {
        dry_run: r.dry_run,
        planned: r.planned.iter().map(|g| group_to_proto(g, 0)).collect(),
        merged: r
            .merged
            .iter()
            .map(|m| group_to_proto(&m.group, m.bytes_after))
            .collect(),
    }
}

/// The protobuf form of erasure progress.
pub fn erase_progress_to_proto(p: &EraseProgress) -> v1::EraseProgress {
    v1::EraseProgress {
        segments_done: saturating_u32(p.segments_done),
        segments_total: saturating_u32(p.segments_total),
        segment: p.segment,
        records: p.records as u64,
    }
}

/// The protobuf form of an erasure report, listing at most
/// [`MAX_ERASED_SEQS`] seqs.
pub fn erase_result_to_proto(r: &StoreEraseReport) -> v1::EraseResult {
    v1::EraseResult {
        dry_run: r.local.dry_run,
        records: r.local.seqs.len() as u64,
        seqs: r.local.seqs.iter().take(MAX_ERASED_SEQS).copied().collect(),
        segments: r.local.segments.clone(),
        segments_rewritten: saturating_u32(r.local.segments_rewritten),
        restored: r.restored.clone(),
        rearchived: r.rearchived.clone(),
        archived_in_range: r.archived_in_range.clone(),
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stele_engine::EraseReport;

    #[test]
    fn erase_results_cap_the_seqs_but_count_them_all() {
        let report = StoreEraseReport {
            local: EraseReport {
                dry_run: true,
                seqs: (0..(MAX_ERASED_SEQS as u64 + 5)).collect(),
                segments: vec![0],
                segments_rewritten: 0,
            },
            ..StoreEraseReport::default()
        };
        let r = erase_result_to_proto(&report);
        assert_eq!(r.records, MAX_ERASED_SEQS as u64 + 5);
        assert_eq!(r.seqs.len(), MAX_ERASED_SEQS);
        assert!(r.dry_run);
    }
}
