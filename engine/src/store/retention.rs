//! Applying retention across a store: archiving then removing due segments,
//! restoring archived ones, and recording each of these in `_system`
//! (DESIGN guarantee 3), plus the scheduler thread that applies every log's
//! policy periodically.
//!
//! Removal is per segment, oldest first: archive (when a target is set),
//! then [`Log::remove_front`], which checks the lock and holds again and
//! commits the signed anchor before deleting anything. A failure stops the
//! pass for that log; what was removed before it stays removed and recorded.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Inner, Store};
use crate::archive::entry::ArchivedSegment;
use crate::archive::target::ObjectArchive;
use crate::error::{Error, Result};
use crate::event::{Actor, ActorKind, Event, Outcome, Resource};
use crate::log::Log;
use crate::maintenance::{Background, Priority, Signal};
use crate::retention::{Removal, RetentionPlan};

/// Who the scheduler acts as in `_system`.
pub const SCHEDULER: &str = "retention-scheduler";

/// How to apply a log's retention policy.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Only plan: change nothing.
    pub dry_run: bool,
    /// Who asked, recorded in `_system`.
    pub requested_by: String,
}

/// What applying retention to one log did (or, for a dry run, would do).
#[derive(Debug, Clone)]
pub struct RetentionReport {
    /// The log.
    pub log: String,
    /// The plan it followed.
    pub plan: RetentionPlan,
    /// Whether segments are archived before they leave.
    pub archives: bool,
    /// Segments removed, oldest first, with where each was archived.
    pub removed: Vec<Removal>,
}

/// One step of a retention pass, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionProgress {
    /// The segment being handled.
    pub first_seq: u64,
    /// Segments handled so far.
    pub done: usize,
    /// Segments planned.
    pub total: usize,
}

impl Store {
    /// The archive target, when one is configured.
    pub fn archive(&self) -> Option<&ObjectArchive> {
        self.inner.archive.as_ref()
    }

    /// Applies the retention policy of log `name` now: every due segment
    /// that nothing protects is archived (when a target is set) and removed
    /// from local storage, oldest first, each recorded in `_system`.
    ///
    /// # Errors
    /// [`Error::LogNotFound`]; archive and I/O errors, after the segments
    /// handled before the failure.
    pub fn apply_retention(
        &self,
        name: &str,
        options: &ApplyOptions,
        progress: &mut dyn FnMut(RetentionProgress),
    ) -> Result<RetentionReport> {
        self.inner.apply_retention(name, options, progress)
    }

    /// Restores the archived segment of log `name` starting at `first_seq`
    /// (and every archived segment after it up to the local log), kept for
    /// at least `keep_for` before retention may remove it again. Recorded
    /// in `_system`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with no archive target, or when the
    /// segment is not archived; archive errors.
    pub fn restore_segment(
        &self,
        name: &str,
        first_seq: u64,
        keep_for: Duration,
        requested_by: &str,
        progress: &mut dyn FnMut(&ArchivedSegment),
    ) -> Result<Vec<ArchivedSegment>> {
        let archive = self.inner.archive.as_ref().ok_or_else(no_target)?;
        let log = self.log(name)?;
        let keep = i64::try_from(keep_for.as_nanos()).unwrap_or(i64::MAX);
        let keep_until = self.inner.ctx.clock.now_ns().saturating_add(keep);
        let restored = log.restore(archive, first_seq, keep_until, progress)?;
        let events = restored
            .iter()
            .map(|entry| {
                system_event(
                    "retention.restore",
                    requested_by,
                    &log,
                    (entry.first_seq, entry.next_seq),
                    format!(
                        "restored segment {}..{} of log `{}` from {}",
                        entry.first_seq, entry.next_seq, name, entry.location
                    ),
                    serde_json::json!({
                        "log": name,
                        "first_seq": entry.first_seq,
                        "next_seq": entry.next_seq,
                        "from": entry.location,
                        "kept_until": crate::event::format_time(keep_until),
                    }),
                )
            })
            .collect::<Vec<_>>();
        self.inner.system_log()?.append(&events)?;
        Ok(restored)
    }
}

impl Inner {
    fn apply_retention(
        &self,
        name: &str,
        options: &ApplyOptions,
        progress: &mut dyn FnMut(RetentionProgress),
    ) -> Result<RetentionReport> {
        let log = self.log(name)?;
        let plan = log.retention_plan();
        let mut report = RetentionReport {
            log: name.to_string(),
            plan: plan.clone(),
            archives: self.archive.is_some(),
            removed: Vec::new(),
        };
        if options.dry_run {
            return Ok(report);
        }
        let total = plan.remove.len();
        for (done, planned) in plan.remove.iter().enumerate() {
            progress(RetentionProgress {
                first_seq: planned.first_seq,
                done,
                total,
            });
            let archived = match &self.archive {
                Some(archive) => Some(log.archive_segment(archive, planned.first_seq)?),
                None => None,
            };
            let removal = log.remove_front(planned, archived)?;
            self.record_removal(&log, &removal, &options.requested_by)?;
            report.removed.push(removal);
        }
        progress(RetentionProgress {
            first_seq: log.first_seq(),
            done: total,
            total,
        });
        Ok(report)
    }

    /// Appends the `_system` event of a removal.
    fn record_removal(&self, log: &Log, removal: &Removal, by: &str) -> Result<()> {
        let (action, how) = match &removal.archived {
            Some(location) => (
                "retention.archive",
                format!("archived to {location} and removed"),
            ),
            None => ("retention.delete", "deleted".to_string()),
        };
        let event = system_event(
            action,
            by,
            log,
            (removal.first_seq, removal.next_seq),
            format!(
                "segment {}..{} of log `{}` {how} under its {} policy",
                removal.first_seq,
                removal.next_seq,
                log.name(),
                removal.rule
            ),
            serde_json::json!({
                "log": log.name(),
                "first_seq": removal.first_seq,
                "next_seq": removal.next_seq,
                "rule": removal.rule,
                "bytes": removal.bytes,
                "archived": removal.archived,
                "anchor_chain_hash": hex::encode(removal.last_chain_hash),
            }),
        );
        self.system_log()?.append(&[event]).map(drop)
    }
}

/// An event for `_system` about segments `first..next` of `log`.
pub(super) fn system_event(
    action: &str,
    by: &str,
    log: &Log,
    (first, next): (u64, u64),
    message: String,
    details: serde_json::Value,
) -> Event {
    Event {
        action: action.into(),
        actor: Actor {
            id: by.to_string(),
            kind: Some(if by == SCHEDULER {
                ActorKind::System
            } else {
                ActorKind::User
            }),
            ..Actor::default()
        },
        resource: Resource {
            kind: "segment".into(),
            id: format!("{}/{first}..{next}", log.name()),
            name: String::new(),
        },
        outcome: Some(Outcome::Success),
        source: "steled".into(),
        message,
        details: details.as_object().cloned(),
        ..Event::default()
    }
}

fn no_target() -> Error {
    Error::invalid("archive", "no archive target is configured")
}

/// Starts the thread that applies every log's retention policy each
/// `interval`, logging what it did and what failed.
pub(super) fn spawn_scheduler(inner: &Arc<Inner>, interval: Duration) -> Result<Background> {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    Background::spawn(
        "stele-retention",
        Priority::Low,
        Arc::new(Signal::default()),
        interval,
        move || {
            let inner = weak.upgrade()?;
            let names = match inner.list_logs() {
                Ok(names) => names,
                Err(error) => {
                    tracing::error!(%error, "retention: cannot list logs");
                    return Some(false);
                }
            };
            let options = ApplyOptions {
                dry_run: false,
                requested_by: SCHEDULER.into(),
            };
            for name in names {
                match inner.apply_retention(&name, &options, &mut |_| {}) {
                    Ok(report) if !report.removed.is_empty() => {
                        tracing::info!(log = %name, removed = report.removed.len(), first_seq = report.removed.last().map(|r| r.next_seq), "retention applied")
                    }
                    Ok(report) => {
                        if let Some(blocked) = report.plan.blocked {
                            tracing::debug!(log = %name, first_seq = blocked.first_seq, reason = %blocked.reason, "retention: due segment protected");
                        }
                    }
                    Err(error) => tracing::error!(log = %name, %error, "retention failed; retrying next interval"),
                }
            }
            Some(false)
        },
    )
    .map_err(Error::io("spawn retention thread for", &inner.dir))
}
