//! GitHub audit log events (organisation or enterprise audit log, as the
//! JSON or CSV export or audit log streaming write them) as Stele events.
//!
//! A line of input is one event, or a JSON array of events (the export's
//! form); a CSV export's rows come as objects of their cells, all text
//! ([`super::read`]). The mapping (`docs/import.md` gives it
//! field by field):
//!
//! - `_document_id` → `id` (re-importing an export stores nothing twice);
//!   `@timestamp` (or `created_at`), milliseconds or a date → `time`;
//! - `action` (`protected_branch.destroy`) → `github.<action>`;
//! - `actor` → the actor (`service` for `…[bot]` accounts, else `user`),
//!   `actor_ip`, `user_agent`; `org` (or `business`) → `tenant`;
//! - the repository (`repo`), else the user acted on (`user`), else the
//!   organisation → the resource;
//! - outcome `success` (the audit log records what was done), except
//!   actions that say they failed or were denied;
//! - `request_id`; `source` is `github.audit`; the whole event → `details`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::Mapped;
use crate::{Actor, ActorKind, Event, Outcome, Resource};

/// The events of one line: an event, or an array of them.
pub fn map_line(line: &str) -> Mapped {
    super::event_or_array(line, to_event)
}

/// One audit log event as a Stele event.
///
/// # Errors
/// What the event lacks: it must be an object with an `action`.
pub fn to_event(record: Value) -> Result<Event, String> {
    let Value::Object(fields) = record else {
        return Err("an event must be a JSON object".into());
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or("");
    let action = text("action");
    if action.is_empty() {
        return Err("`action` is required".into());
    }
    let time = match fields
        .get("@timestamp")
        .or_else(|| fields.get("created_at"))
    {
        None => None,
        Some(when) => Some(time(when)?),
    };
    let actor = text("actor");
    let resource = [
        ("repository", text("repo")),
        ("user", text("user")),
        ("organization", text("org")),
        ("enterprise", text("business")),
    ]
    .into_iter()
    .find(|(_, id)| !id.is_empty())
    .map(|(kind, id)| Resource {
        kind: kind.into(),
        id: id.into(),
        name: String::new(),
    });
    let outcome = if action.contains("denied") {
        Outcome::Denied
    } else if action.contains("fail") {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let tenant = match text("org") {
        "" => text("business"),
        org => org,
    };
    let target = resource.as_ref().map_or(String::new(), |r| r.id.clone());
    Ok(Event {
        id: text("_document_id").to_string(),
        time,
        tenant: tenant.to_string(),
        actor: (!actor.is_empty()).then(|| Actor {
            id: actor.to_string(),
            kind: Some(if actor.ends_with("[bot]") {
                ActorKind::Service
            } else {
                ActorKind::User
            }),
            display_name: String::new(),
            ip: text("actor_ip").to_string(),
            user_agent: text("user_agent").to_string(),
            session_id: String::new(),
        }),
        action: format!("github.{}", dotted(action)),
        resource,
        outcome: Some(outcome),
        reason: String::new(),
        source: "github.audit".into(),
        correlation_id: String::new(),
        request_id: text("request_id").to_string(),
        duration_ms: None,
        message: format!(
            "{} {action} {target}",
            if actor.is_empty() { "github" } else { actor }
        )
        .trim_end()
        .to_string(),
        details: Some(fields),
    })
}

/// An event's `@timestamp` or `created_at`: milliseconds since the epoch,
/// as a number (the JSON export) or as text (the CSV export), or a date in
/// RFC 3339 or GitHub's `2026-11-30 12:00:00 UTC` form.
fn time(when: &Value) -> Result<DateTime<Utc>, String> {
    let millis = match when {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(ms) => Some(ms),
            Err(_) => {
                return DateTime::parse_from_rfc3339(s.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .or_else(|_| {
                        NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f UTC")
                            .map(|t| t.and_utc())
                    })
                    .map_err(|_| format!("`@timestamp` `{s}` is neither milliseconds nor a date"));
            }
        },
        _ => None,
    };
    let ms = millis.ok_or_else(|| format!("`@timestamp` {when} is not a time"))?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("`@timestamp` {ms} is out of range"))
}

/// A GitHub action as a dotted verb: each dotted part made a verb part.
fn dotted(action: &str) -> String {
    action
        .split('.')
        .map(super::verb_part)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An organisation's audit log written for these tests: an export
    /// (a JSON array on one line) followed by streamed events, one a line.
    const LOG: &str = include_str!("../../tests/data/github-audit.json");

    #[test]
    fn exports_and_streamed_events_map_and_keep_the_original() {
        let events: Vec<Event> = LOG
            .lines()
            .flat_map(map_line)
            .map(|e| e.expect("every sample event maps"))
            .collect();
        let brief: Vec<(&str, &str, &str, Option<Outcome>)> = events
            .iter()
            .map(|e| {
                (
                    e.action.as_str(),
                    e.actor.as_ref().unwrap().id.as_str(),
                    e.resource.as_ref().unwrap().kind.as_str(),
                    e.outcome,
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                (
                    "github.repo.create",
                    "alice",
                    "repository",
                    Some(Outcome::Success)
                ),
                (
                    "github.protected_branch.destroy",
                    "bob",
                    "repository",
                    Some(Outcome::Success)
                ),
                (
                    "github.org.add_member",
                    "Zoë",
                    "user",
                    Some(Outcome::Success)
                ),
                (
                    "github.workflows.completed_workflow_run",
                    "dependabot[bot]",
                    "repository",
                    Some(Outcome::Success)
                ),
                (
                    "github.oauth_application.access_denied",
                    "carol",
                    "organization",
                    Some(Outcome::Denied)
                ),
                (
                    "github.business.set_actions_fork_pr_approvals_policy",
                    "enterprise-admin",
                    "enterprise",
                    Some(Outcome::Success)
                ),
            ]
        );
        let first = &events[0];
        assert_eq!(first.id, "Zx1-AbCdEf01");
        assert_eq!(first.tenant, "acme");
        assert_eq!(first.time.unwrap().timestamp_millis(), 1_764_504_000_123);
        assert_eq!(first.actor.as_ref().unwrap().ip, "203.0.113.7");
        assert_eq!(first.request_id, "9A1B:2C3D:4E5F:6A7B:8C9D");
        assert_eq!(first.message, "alice repo.create acme/api");
        assert_eq!(
            events[3].actor.as_ref().unwrap().kind,
            Some(ActorKind::Service)
        );
        assert_eq!(events[5].tenant, "acme-corp");
        let export: Value = serde_json::from_str(LOG.lines().next().unwrap()).unwrap();
        assert_eq!(Value::Object(first.details.clone().unwrap()), export[0]);
    }

    #[test]
    fn the_csv_export_maps_like_the_json_one() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;

        let csv = include_str!("../../tests/data/github-audit.csv");
        let units = super::super::read::Units::new(csv.as_bytes(), Arc::new(AtomicU64::new(0)))
            .expect("the sample reads");
        assert_eq!(units.shape(), super::super::read::Shape::Csv);
        let events: Vec<(u64, Event)> = units
            .map(|unit| {
                let unit = unit.expect("every row reads");
                let mut events = map_line(&unit.text);
                assert_eq!(events.len(), 1);
                (unit.line, events.remove(0).expect("every row maps"))
            })
            .collect();
        let lines: Vec<u64> = events.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8], "a quoted cell spans lines 3-4");
        let (_, first) = &events[0];
        assert_eq!(first.id, "Zx2-CsV00001");
        assert_eq!(first.time.unwrap().timestamp_millis(), 1_764_590_400_123);
        assert_eq!(first.action, "github.repo.create");
        assert_eq!(first.actor.as_ref().unwrap().ip, "203.0.113.7");
        let details = first.details.as_ref().unwrap();
        assert_eq!(details["actor_location"]["country_code"], "DE");
        assert!(!details.contains_key("user"), "empty cells are left out");
        let (_, branch) = &events[1];
        assert_eq!(
            branch.details.as_ref().unwrap()["data"]["reason"],
            "removed by request, see ticket\nOPS-1234 (two lines)"
        );
        assert_eq!(events[2].1.actor.as_ref().unwrap().id, "Zoë");
        assert_eq!(events[2].1.resource.as_ref().unwrap().kind, "user");
        let (_, denied) = &events[3];
        assert_eq!(denied.outcome, Some(Outcome::Denied));
        assert_eq!(
            denied.time.unwrap().to_rfc3339(),
            "2025-12-01T12:03:00+00:00",
            "GitHub's date form, from `created_at`"
        );
        assert_eq!(events[4].1.tenant, "acme-corp");
        assert_eq!(
            events[5].1.actor.as_ref().unwrap().kind,
            Some(ActorKind::Service)
        );
    }

    #[test]
    fn times_are_milliseconds_or_dates() {
        let at = |when: Value| time(&when).map(|t| t.timestamp_millis());
        assert_eq!(
            at(serde_json::json!(1_764_590_400_123_i64)),
            Ok(1_764_590_400_123)
        );
        assert_eq!(
            at(serde_json::json!("1764590400123")),
            Ok(1_764_590_400_123)
        );
        assert_eq!(
            at(serde_json::json!("2025-12-01T12:03:00Z")),
            Ok(1_764_590_580_000)
        );
        assert!(
            at(serde_json::json!("yesterday"))
                .unwrap_err()
                .contains("`yesterday`")
        );
        assert!(at(serde_json::json!(true)).is_err());
    }

    #[test]
    fn bad_events_say_which_and_why() {
        let errors: Vec<String> = map_line(r#"[{"actor":"x"},"y"]"#)
            .into_iter()
            .map(|m| m.unwrap_err())
            .collect();
        assert!(
            errors[0].starts_with("event 1: `action` is required"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("event 2: an event must be"),
            "{errors:?}"
        );
    }
}
