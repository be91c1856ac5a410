//! The server's own audit trail in the reserved `_system` log: every admin
//! call and every failed authentication or authorization.
//!
//! Admin calls are recorded before their response is sent (the call fails
//! if its record cannot be written), with a [`Note`] of why the caller
//! asked and what the call did where that matters (holds, erasure). Auth failures are queued, so that a
//! flood of bad tokens cannot stall the server, and written in batches by
//! one task; when the queue is full the excess is counted and written as one
//! `auth.failures_dropped` event with the count.
//!
//! # Invariants
//! Only this module appends to `_system`; clients cannot (see
//! [`crate::auth`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use stele_engine::{Actor, ActorKind, Event, Outcome, Resource, Store};
use tokio::sync::mpsc;
use tonic::Status;

use crate::status::blocking;

/// Auth failures waiting to be written.
const QUEUE: usize = 4096;
/// Most failures written in one batch.
const BATCH: usize = 1000;

/// Who made a call, and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, or `anonymous`.
    pub name: String,
    /// The peer's address, when known.
    pub peer: Option<SocketAddr>,
}

/// What an admin call adds to its `_system` record beyond who, what and the
/// outcome: why the caller asked (holds, erasure) and facts about what it
/// did (how many records were erased).
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// The request's `reason`, as the caller gave it: the event's `reason`
    /// when the call succeeded, and `details.reason` either way.
    pub reason: Option<String>,
    /// Added to the event's `details`, beside `method`.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Note {
    /// A note with the caller's `reason`.
    pub fn because(reason: &str) -> Note {
        Note {
            reason: Some(reason.to_string()),
            details: serde_json::Map::new(),
        }
    }

    /// Adds `key: value` to the details.
    #[must_use]
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Note {
        self.details.insert(key.to_string(), value);
        self
    }
}

/// Writes the server's events to `_system`.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    store: Arc<Store>,
    failures: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl AuditTrail {
    /// Opens `_system` (creating it on first start) and starts the task that
    /// writes auth failures.
    ///
    /// # Errors
    /// When `_system` cannot be opened.
    pub fn start(store: Arc<Store>) -> stele_engine::Result<AuditTrail> {
        store.system_log()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_failures(store.clone(), rx, dropped.clone()));
        Ok(AuditTrail {
            store,
            failures: tx,
            dropped,
        })
    }

    /// Records an admin call (`method`, on `log` if any) and its outcome.
    ///
    /// # Errors
    /// `INTERNAL` (or the engine's status) when the record cannot be
    /// written: an admin call that is not recorded does not succeed.
    pub async fn admin_call(
        &self,
        caller: &Caller,
        method: &str,
        log: Option<&str>,
        outcome: Result<(), &Status>,
    ) -> Result<(), Status> {
        self.noted_admin_call(caller, method, log, outcome, Note::default())
            .await
    }

    /// As [`AuditTrail::admin_call`], with the call's reason and details.
    ///
    /// # Errors
    /// As [`AuditTrail::admin_call`].
    pub async fn noted_admin_call(
        &self,
        caller: &Caller,
        method: &str,
        log: Option<&str>,
        outcome: Result<(), &Status>,
        note: Note,
    ) -> Result<(), Status> {
        let event = admin_event(caller, method, log, outcome, note);
        let store = self.store.clone();
        blocking(move || store.system_log()?.append(&[event]).map(|_| ())).await
    }

    /// Queues the record of a failed authentication (`UNAUTHENTICATED`) or
    /// authorization (`PERMISSION_DENIED`) of `method`.
    pub fn auth_failure(&self, caller: &Caller, method: &str, status: &Status) {
        let action = if status.code() == tonic::Code::Unauthenticated {
            "auth.unauthenticated"
        } else {
            "auth.denied"
        };
        let event = event(caller, action, None, Err(status), method);
        if self.failures.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `_system` event of an admin call, with its note.
fn admin_event(
    caller: &Caller,
    method: &str,
    log: Option<&str>,
    outcome: Result<(), &Status>,
    note: Note,
) -> Event {
    let mut event = event(
        caller,
        &format!("admin.{}", snake_case(method)),
        log,
        outcome,
        method,
    );
    if let Some(reason) = &note.reason {
        if outcome.is_ok() {
            event.reason.clone_from(reason);
        }
        event.message = format!("{} (reason: {reason})", event.message);
    }
    let details = event.details.get_or_insert_with(serde_json::Map::new);
    if let Some(reason) = note.reason {
        details.insert("reason".into(), json!(reason));
    }
    details.extend(note.details);
    event
}

/// An event of the server about `caller`'s call of `method`.
fn event(
    caller: &Caller,
    action: &str,
    log: Option<&str>,
    outcome: Result<(), &Status>,
    method: &str,
) -> Event {
    let (outcome, reason) = match outcome {
        Ok(()) => (Outcome::Success, String::new()),
        Err(s)
            if matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) =>
        {
            (Outcome::Denied, s.message().to_string())
        }
        Err(s) => (Outcome::Failure, s.message().to_string()),
    };
    let mut details = serde_json::Map::new();
    details.insert("method".into(), json!(method));
    Event {
        actor: Actor {
            id: caller.name.clone(),
            kind: Some(ActorKind::Service),
            ip: caller.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            ..Actor::default()
        },
        action: action.into(),
        resource: log
            .map(|log| Resource {
                kind: "log".into(),
                id: log.into(),
                name: String::new(),
            })
            .unwrap_or_default(),
        outcome: Some(outcome),
        reason,
        source: "steled".into(),
        message: {
            let who = if caller.name.is_empty() {
                "an unauthenticated caller"
            } else {
                caller.name.as_str()
            };
            match log {
                Some(log) => format!("{who} called {method} on log {log}"),
                None => format!("{who} called {method}"),
            }
        },
        details: Some(details),
        ..Event::default()
    }
}

/// `CreateLog` → `create_log`.
fn snake_case(method: &str) -> String {
    let mut out = String::with_capacity(method.len() + 4);
    for (i, c) in method.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes queued auth failures in batches until the server stops.
async fn write_failures(store: Arc<Store>, mut rx: mpsc::Receiver<Event>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let mut details = serde_json::Map::new();
            details.insert("count".into(), json!(lost));
            batch.push(Event {
                action: "auth.failures_dropped".into(),
                outcome: Some(Outcome::Unknown),
                source: "steled".into(),
                message: format!(
                    "{lost} failed authentications were not recorded one by one: the queue was full"
                ),
                details: Some(details),
                ..Event::default()
            });
        }
        let events = std::mem::take(&mut batch);
        let store = store.clone();
        if let Err(status) = blocking(move || store.system_log()?.append(&events).map(|_| ())).await
        {
            tracing::error!(error = %status.message(), "cannot record auth failures in _system");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_become_actions() {
        assert_eq!(snake_case("CreateLog"), "create_log");
        assert_eq!(snake_case("Seal"), "seal");
    }

    #[test]
    fn notes_carry_the_reason_and_details() {
        let caller = Caller {
            name: "legal".into(),
            peer: None,
        };
        let note = Note::because("case 7").with("records", json!(3));
        let e = admin_event(&caller, "Erase", Some("audit"), Ok(()), note.clone());
        assert_eq!(e.action, "admin.erase");
        assert_eq!(e.reason, "case 7");
        assert_eq!(e.actor.id, "legal");
        let details = e.details.unwrap();
        assert_eq!(details["reason"], "case 7");
        assert_eq!(details["records"], 3);
        assert!(e.message.ends_with("(reason: case 7)"), "{}", e.message);
        let failed = Status::failed_precondition("refused: hold");
        let e = admin_event(&caller, "Erase", Some("audit"), Err(&failed), note);
        assert_eq!(e.reason, "refused: hold");
        assert_eq!(e.details.unwrap()["reason"], "case 7");
    }
}
