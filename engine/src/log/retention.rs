//! A log's retention settings, legal holds, and the one way sealed segments
//! leave local storage: [`Log::remove_front`].
//!
//! The retention lock and the holds are checked here, at the moment of
//! removal, against the manifest as it is then; no caller (the scheduler, an
//! admin call, a test) can remove a protected segment.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Log, RetentionPolicy, Segment};
use crate::archive::entry::ArchivedSegment;
use crate::error::{Error, Result};
use crate::event::scrub::{ScrubPolicy, Scrubber};
use crate::faults::Step;
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::retention::plan::{humanize_ms, protection};
use crate::retention::{Anchor, Hold, PlannedRemoval, Removal, RetentionPlan, plan, scope_name};

impl Log {
    /// A copy of the manifest as last saved: policy, holds, anchor, archived
    /// and restored segments.
    pub fn manifest(&self) -> Manifest {
        self.manifest.lock().clone()
    }

    /// Changes `max_age_ms` and `max_bytes`: `Some(Some(v))` sets a limit,
    /// `Some(None)` removes it, `None` keeps it (read and written under the
    /// manifest's lock, so concurrent changes of different limits do not
    /// undo each other). The retention lock is not changed here: see
    /// [`Log::raise_lock`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero limit; I/O errors saving the
    /// manifest.
    pub fn set_retention(
        &self,
        max_age_ms: Option<Option<u64>>,
        max_bytes: Option<Option<u64>>,
    ) -> Result<RetentionPolicy> {
        self.update_manifest(|m| {
            let retention = &mut m.policy.retention;
            retention.max_age_ms = max_age_ms.unwrap_or(retention.max_age_ms);
            retention.max_bytes = max_bytes.unwrap_or(retention.max_bytes);
            m.policy.validate()?;
            Ok(m.policy.retention)
        })
    }

    /// The scrubbing rules in force.
    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.scrubber.read().clone()
    }

    /// Replaces the log's scrubbing rules; appends after this returns are
    /// scrubbed by the new ones (records already stored are not touched).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the rule at fault; I/O errors
    /// saving the manifest.
    pub fn set_scrub(&self, scrub: ScrubPolicy) -> Result<ScrubPolicy> {
        // Held across the save, so that the rules in force are the saved
        // ones; appends wait for it only while a change is saved.
        let mut in_force = self.scrubber.write();
        let (saved, scrubber) = self.update_manifest(|m| {
            m.policy.scrub = scrub;
            let (_, scrubber) = m.policy.validate()?;
            Ok((m.policy.scrub.clone(), scrubber))
        })?;
        *in_force = Arc::new(scrubber);
        Ok(saved)
    }

    /// Raises the retention lock to `lock_ms`.
    ///
    /// # Errors
    /// [`Error::Refused`] when `lock_ms` is below the current lock: a lock is
    /// never lowered or removed. [`Error::InvalidArgument`] for 0.
    pub fn raise_lock(&self, lock_ms: u64) -> Result<RetentionPolicy> {
        self.update_manifest(|m| {
            if let Some(current) = m.policy.retention.lock_ms
                && lock_ms < current
            {
                return Err(Error::Refused(format!(
                    "log `{}` has a retention lock of {}; it can be raised, never lowered (asked {})",
                    m.name,
                    humanize_ms(current),
                    humanize_ms(lock_ms)
                )));
            }
            m.policy.retention.lock_ms = Some(lock_ms);
            m.policy.validate()?;
            Ok(m.policy.retention)
        })
    }

    /// Sets a legal hold on the log (`segment` `None`) or on the segment
    /// starting at `segment`, replacing any hold on the same scope.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no such segment is stored or
    /// archived, or the reason is empty.
    pub fn set_hold(&self, segment: Option<u64>, reason: &str, by: &str) -> Result<Hold> {
        if reason.trim().is_empty() {
            return Err(Error::invalid("hold reason", "must not be empty"));
        }
        let known = |m: &Manifest, first: u64| {
            self.view.read().iter().any(|s| s.first_seq() == first)
                || m.archived.iter().any(|a| a.first_seq == first)
        };
        let hold = Hold {
            segment,
            reason: reason.to_string(),
            set_by: by.to_string(),
            set_ns: self.ctx.clock.now_ns(),
        };
        self.update_manifest(|m| {
            if let Some(first) = segment
                && !known(m, first)
            {
                return Err(Error::invalid(
                    "segment",
                    format!("log `{}` has no segment starting at seq {first}", m.name),
                ));
            }
            m.holds.retain(|h| h.segment != segment);
            m.holds.push(hold.clone());
            Ok(hold.clone())
        })
    }

    /// Lifts the legal hold on the log (`segment` `None`) or on a segment;
    /// returns the hold lifted.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no such hold.
    pub fn lift_hold(&self, segment: Option<u64>) -> Result<Hold> {
        self.update_manifest(|m| {
            let i = m
                .holds
                .iter()
                .position(|h| h.segment == segment)
                .ok_or_else(|| {
                    Error::invalid(
                        "hold",
                        format!("log `{}` has no hold on {}", m.name, scope_name(segment)),
                    )
                })?;
            Ok(m.holds.remove(i))
        })
    }

    /// What applying the retention policy now would remove, and what
    /// protects the first due segment it would not.
    pub fn retention_plan(&self) -> RetentionPlan {
        let segments = self.segments();
        let m = self.manifest.lock();
        plan(
            &segments,
            &m.policy.retention,
            &m.holds,
            self.ctx.clock.now_ns(),
            |first| m.restored.get(&first).copied(),
        )
    }

    /// Removes the oldest local segment, which must be `planned`: checks the
    /// lock and the holds again, and that the local file is still the one
    /// `archived` describes (same SHA-256), commits the removal to the manifest (a new
    /// signed anchor, and `archived` when it was archived first), then
    /// deletes the file and its index. Returns the removal recorded.
    ///
    /// # Errors
    /// [`Error::Refused`] when the segment is protected or is no longer the
    /// oldest sealed segment as planned; I/O errors (the removal then
    /// finishes at the next open once committed).
    pub fn remove_front(
        &self,
        planned: &PlannedRemoval,
        archived: Option<ArchivedSegment>,
    ) -> Result<Removal> {
        let _seal = self.seal_lock.lock();
        let segments = self.segments();
        let oldest = self.view.read().first().cloned();
        let (Some(front), Some(Segment::Sealed(sealed))) = (segments.first(), oldest) else {
            return Err(self.not_oldest(planned));
        };
        if (front.first_seq, front.next_seq) != (planned.first_seq, planned.next_seq) {
            return Err(self.not_oldest(planned));
        }
        if let Some(entry) = &archived {
            let bytes = std::fs::read(&front.path).map_err(Error::io("read", &front.path))?;
            if <[u8; 32]>::from(Sha256::digest(&bytes)) != entry.sha256 {
                return Err(Error::Refused(format!(
                    "segment {}..{} of log `{}` changed after it was archived (compacted or erased); archive it again",
                    front.first_seq, front.next_seq, self.name
                )));
            }
        }
        let now = self.ctx.clock.now_ns();
        let fault = |step| {
            self.ctx
                .faults
                .before(step)
                .map_err(Error::io("remove segment", &front.path))
        };
        // Derived data: a tree that cannot keep its edge refuses the proofs
        // that need it (and says why), but never holds retention up.
        if let Err(error) = self.keep_removed_nodes(front.next_seq) {
            tracing::warn!(log = %self.name, %error, "the Merkle tree cannot keep the leaves of the records removed; proofs that need them will be refused");
        }
        fault(Step::Commit)?;
        let removal = self.update_manifest(|m| {
            if let Some(reason) = protection(front, &m.policy.retention, &m.holds, now, &|first| {
                m.restored.get(&first).copied()
            }) {
                return Err(Error::Refused(format!(
                    "segment {}..{} of log `{}` may not leave local storage: {reason}",
                    front.first_seq, front.next_seq, m.name
                )));
            }
            let removal = Removal {
                first_seq: front.first_seq,
                next_seq: front.next_seq,
                last_chain_hash: sealed.last_chain_hash(),
                min_ingest: front.stats.min_ingest,
                max_ingest: front.stats.max_ingest,
                bytes: front.file_bytes,
                rule: planned.rule,
                archived: archived.as_ref().map(|a| a.location.clone()),
                time: now,
            };
            let mut removals = m.anchor.take().map(|a| a.removals).unwrap_or_default();
            removals.push(removal.clone());
            m.anchor = Some(Anchor::sign(
                &self.ctx.signer,
                (&m.name, m.log_id),
                (removal.next_seq, removal.last_chain_hash),
                removals,
                now,
            ));
            if let Some(entry) = archived.clone() {
                m.archived.retain(|a| a.first_seq != entry.first_seq);
                m.archived.push(entry);
            }
            m.restored.remove(&front.first_seq);
            Ok(removal)
        })?;
        self.view.write().remove(0);
        self.index.forget(front.first_seq);
        fault(Step::DeleteLocal)?;
        super::open::remove_segment_files(&self.dir, front.first_seq, &front.path)?;
        tracing::info!(log = %self.name, first_seq = front.first_seq, next_seq = front.next_seq, rule = %planned.rule, archived = ?removal.archived, "segment left local storage");
        Ok(removal)
    }

    fn not_oldest(&self, planned: &PlannedRemoval) -> Error {
        Error::Refused(format!(
            "segment {}..{} of log `{}` is no longer the oldest sealed segment",
            planned.first_seq, planned.next_seq, self.name
        ))
    }

    /// Applies `change` to a copy of the manifest and saves it; the log's
    /// manifest changes only when the save succeeds.
    pub(crate) fn update_manifest<T>(
        &self,
        change: impl FnOnce(&mut Manifest) -> Result<T>,
    ) -> Result<T> {
        let mut current = self.manifest.lock();
        let mut next = current.clone();
        let out = change(&mut next)?;
        next.save(&self.dir.join(MANIFEST_FILE))?;
        *current = next;
        Ok(out)
    }
}
