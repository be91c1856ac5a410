//! Erasure across a store: the records a query matches lose their bodies in
//! local segments, in archived copies, and in both indexes; the request is
//! recorded in `_system` with who asked and why (DESIGN guarantee 3).
//!
//! Archived segments that are no longer local can only be searched with their
//! index, so the archived segments whose time bounds meet the query's range
//! are restored first (kept for no time: the next retention pass removes them
//! again). Then [`Log::erase`] runs over the local log, and every rewritten
//! segment that has an archived copy is archived again, replacing the old
//! copy and deleting the old copy's index files.

use super::retention::system_event;
use super::{SYSTEM_LOG, Store};
use crate::error::{Error, Result};
use crate::log::erase::{EraseOptions, EraseProgress, EraseReport};
use crate::query::Query;

/// What an erasure did across local and archived copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreEraseReport {
    /// The erasure of the local log (after any restore).
    pub local: EraseReport,
    /// Archived segments restored so that they could be searched.
    pub restored: Vec<u64>,
    /// Archived copies replaced by their erased version, by first seq.
    pub rearchived: Vec<u64>,
    /// Archived-only segments a dry run would restore and search.
    pub archived_in_range: Vec<u64>,
}

impl Store {
    /// Erases the bodies of the records of log `name` matching `query`,
    /// locally and in the archive, and records the request in `_system`.
    ///
    /// # Errors
    /// [`Error::Refused`] for `_system`, the record of what admins did; as
    /// [`crate::Log::erase`] and [`Store::restore_segment`]; what was
    /// erased before an error stays erased (and running the same erasure
    /// again finishes it).
    pub fn erase(
        &self,
        name: &str,
        query: &Query,
        options: &EraseOptions,
        progress: &mut dyn FnMut(EraseProgress),
    ) -> Result<StoreEraseReport> {
        if name == SYSTEM_LOG {
            return Err(Error::Refused(format!(
                "`{SYSTEM_LOG}` records what admins did; its records are not erased"
            )));
        }
        let log = self.log(name)?;
        let mut report = StoreEraseReport::default();
        let start = log.first_seq();
        let in_range: Vec<u64> = log
            .manifest()
            .archived
            .iter()
            .filter(|a| {
                a.first_seq < start
                    && query.from.is_none_or(|from| a.max_time >= from)
                    && query.to.is_none_or(|to| a.min_time < to)
            })
            .map(|a| a.first_seq)
            .collect();
        match (self.archive(), in_range.first()) {
            (Some(archive), Some(&oldest)) if !options.dry_run => {
                let now = self.inner.ctx.clock.now_ns();
                report.restored = log
                    .restore(archive, oldest, now, &mut |_| {})?
                    .iter()
                    .map(|a| a.first_seq)
                    .collect();
            }
            _ => report.archived_in_range = in_range,
        }
        report.local = log.erase(query, options, progress)?;
        if options.dry_run {
            return Ok(report);
        }
        if let Some(archive) = self.archive() {
            let archived = log.manifest().archived;
            for &first in &report.local.segments {
                if archived.iter().any(|a| a.first_seq == first) {
                    log.rearchive(archive, first)?;
                    report.rearchived.push(first);
                }
            }
        }
        let seqs = &report.local.seqs;
        let event = system_event(
            "retention.erase",
            &options.requested_by,
            &log,
            (
                seqs.first().copied().unwrap_or(0),
                seqs.last().map_or(0, |s| s + 1),
            ),
            format!(
                "erased the bodies of {} records of log `{name}` ({})",
                seqs.len(),
                options.reason
            ),
            serde_json::json!({
                "log": name,
                "reason": options.reason,
                "records": seqs.len(),
                "seqs": seqs,
                "segments": report.local.segments,
                "archived_copies": report.rearchived,
                "restored": report.restored,
            }),
        );
        self.inner.system_log()?.append(&[event])?;
        Ok(report)
    }
}
