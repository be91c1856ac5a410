//! GitHub webhook deliveries as audit events: checking a delivery's
//! signature, and mapping its payload to the Stele schema.
//!
//! The mapping, for every event type: the event id is the delivery's
//! `X-GitHub-Delivery` (a redelivery is a retry, answered with the original
//! receipt); the actor is `sender` (`kind` `service` for bots); the tenant
//! is the organization (or the repository's owner); the action is
//! `github.<event>.<action>` (`github.<event>` when the payload has no
//! `action`, as `push`); the outcome comes from a run's conclusion or a
//! deployment's state; the whole payload is kept in `details`. The
//! resource depends on the event (the table in `docs/api.md`).
//!
//! # Invariants
//! - A signature is compared in constant time ([`Mac::verify_slice`]).
//! - A payload that is not a JSON object, or lacks what its event needs,
//!   is an error naming the field; nothing is guessed.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use stele_engine::event::parse_time;
use stele_engine::{Actor, ActorKind, Event, Outcome, Resource};

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The signature is missing or does not match the log's secret.
    #[error("{0}")]
    Signature(String),
    /// The delivery is not one GitHub sends.
    #[error("{0}")]
    Payload(String),
}

/// Checks `X-Hub-Signature-256` (`sha256=<hex>`) over `body` with `secret`.
///
/// # Errors
/// [`Refused::Signature`] saying what is wrong, never the expected value.
pub fn check_signature(secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), Refused> {
    let header = header.ok_or_else(|| {
        Refused::Signature("missing X-Hub-Signature-256: set the webhook's secret in GitHub".into())
    })?;
    let given = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| Refused::Signature("X-Hub-Signature-256 is not `sha256=<hex>`".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| Refused::Signature(e.to_string()))?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| {
        Refused::Signature("X-Hub-Signature-256 does not match the log's webhook secret".into())
    })
}

/// A verified delivery: its `X-GitHub-Event`, `X-GitHub-Delivery` and
/// payload.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `push`, `workflow_run`, …
    pub event: &'a str,
    /// The delivery's GUID.
    pub id: &'a str,
    /// The JSON payload.
    pub payload: &'a Value,
}

/// A string at `path` (keys separated by `.`) of `value`, if there is one
/// (numbers are written out, as ids often are).
fn text(value: &Value, path: &str) -> Option<String> {
    let found = path.split('.').try_fold(value, |v, key| v.get(key))?;
    match found {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first time found at `paths`, as ns since the epoch.
fn time_at(payload: &Value, paths: &[&str]) -> Option<i64> {
    paths
        .iter()
        .find_map(|p| text(payload, p))
        .and_then(|t| parse_time(&t).ok())
}

/// The outcome of a run's `conclusion` (`None` while it runs).
fn conclusion(value: Option<String>) -> Option<Outcome> {
    Some(match value?.as_str() {
        "success" | "neutral" | "skipped" => Outcome::Success,
        "failure" | "timed_out" | "startup_failure" | "action_required" | "error" => {
            Outcome::Failure
        }
        _ => Outcome::Unknown,
    })
}

/// The audit event of a verified delivery.
///
/// # Errors
/// [`Refused::Payload`] naming what is missing.
pub fn to_event(delivery: Delivery<'_>) -> Result<Event, Refused> {
    let Delivery { event, id, payload } = delivery;
    let Value::Object(object) = payload else {
        return Err(Refused::Payload("the payload is not a JSON object".into()));
    };
    if event.is_empty() || !event.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(Refused::Payload(format!(
            "X-GitHub-Event: `{event}` is not a GitHub event name"
        )));
    }
    if id.is_empty() || id.len() > 128 {
        return Err(Refused::Payload(
            "X-GitHub-Delivery: missing, or longer than 128 bytes".into(),
        ));
    }
    let verb = text(payload, "action");
    let action = match &verb {
        Some(verb) => format!("github.{event}.{verb}"),
        None => format!("github.{event}"),
    };
    let sender = text(payload, "sender.login").unwrap_or_default();
    let repo = text(payload, "repository.full_name");
    let repository = || Resource {
        kind: "repository".into(),
        id: repo.clone().unwrap_or_default(),
        name: String::new(),
    };
    let named = |kind: &str, id: Option<String>, name: Option<String>| Resource {
        kind: kind.into(),
        id: id.unwrap_or_default(),
        name: name.unwrap_or_default(),
    };
    let mut outcome = Some(Outcome::Success);
    let mut correlation_id = String::new();
    let (resource, time, message) = match event {
        "push" => {
            let commits = payload
                .get("commits")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let git_ref = text(payload, "ref").unwrap_or_default();
            let verb = if payload.get("forced").and_then(Value::as_bool) == Some(true) {
                "force-pushed"
            } else {
                "pushed"
            };
            (
                repository(),
                time_at(payload, &["head_commit.timestamp"]),
                format!(
                    "{sender} {verb} {commits} commit{} to {} {git_ref}",
                    if commits == 1 { "" } else { "s" },
                    repo.clone().unwrap_or_default()
                ),
            )
        }
        "workflow_run" | "workflow_job" => {
            let key = event;
            outcome =
                conclusion(text(payload, &format!("{key}.conclusion"))).or(Some(Outcome::Unknown));
            let run_id = if key == "workflow_run" {
                text(payload, "workflow_run.id")
            } else {
                text(payload, "workflow_job.run_id")
            };
            correlation_id = run_id.unwrap_or_default();
            let name = text(payload, &format!("{key}.name"));
            let status = text(payload, &format!("{key}.conclusion"))
                .or_else(|| text(payload, &format!("{key}.status")))
                .unwrap_or_default();
            (
                named(key, text(payload, &format!("{key}.id")), name.clone()),
                time_at(
                    payload,
                    &[
                        &format!("{key}.completed_at"),
                        &format!("{key}.updated_at"),
                        &format!("{key}.started_at"),
                        &format!("{key}.created_at"),
                    ],
                ),
                format!(
                    "{} {} {} on {}: {status}",
                    key.replace('_', " "),
                    name.unwrap_or_default(),
                    verb.clone().unwrap_or_default(),
                    repo.clone().unwrap_or_default()
                ),
            )
        }
        "deployment" | "deployment_status" => {
            if event == "deployment_status" {
                outcome = match text(payload, "deployment_status.state").as_deref() {
                    Some("success") => Some(Outcome::Success),
                    Some("failure" | "error") => Some(Outcome::Failure),
                    _ => Some(Outcome::Unknown),
                };
            }
            let environment = text(payload, "deployment.environment");
            (
                named(
                    "deployment",
                    text(payload, "deployment.id"),
                    environment.clone(),
                ),
                time_at(
                    payload,
                    &["deployment_status.created_at", "deployment.created_at"],
                ),
                format!(
                    "deployment of {} to {}: {}",
                    repo.clone().unwrap_or_default(),
                    environment.unwrap_or_default(),
                    text(payload, "deployment_status.state")
                        .or(verb.clone())
                        .unwrap_or_default()
                ),
            )
        }
        "release" => (
            named(
                "release",
                text(payload, "release.id"),
                text(payload, "release.tag_name"),
            ),
            time_at(payload, &["release.published_at", "release.created_at"]),
            format!(
                "{sender} {} release {} of {}",
                verb.clone().unwrap_or_default(),
                text(payload, "release.tag_name").unwrap_or_default(),
                repo.clone().unwrap_or_default()
            ),
        ),
        "member" => (
            repository(),
            None,
            format!(
                "{sender} {} collaborator {} on {}",
                verb.clone().unwrap_or_default(),
                text(payload, "member.login").unwrap_or_default(),
                repo.clone().unwrap_or_default()
            ),
        ),
        "organization" => (
            named("organization", text(payload, "organization.login"), None),
            None,
            format!(
                "{sender} {} in organization {}{}",
                verb.clone().unwrap_or_default(),
                text(payload, "organization.login").unwrap_or_default(),
                text(payload, "membership.user.login")
                    .map(|u| format!(": {u}"))
                    .unwrap_or_default()
            ),
        ),
        "branch_protection_rule" => (
            named(
                "branch_protection_rule",
                text(payload, "rule.id"),
                text(payload, "rule.name"),
            ),
            time_at(payload, &["rule.updated_at", "rule.created_at"]),
            format!(
                "{sender} {} branch protection rule {} on {}",
                verb.clone().unwrap_or_default(),
                text(payload, "rule.name").unwrap_or_default(),
                repo.clone().unwrap_or_default()
            ),
        ),
        "pull_request" => {
            let number = text(payload, "pull_request.number").or_else(|| text(payload, "number"));
            (
                named(
                    "pull_request",
                    Some(format!(
                        "{}#{}",
                        repo.clone().unwrap_or_default(),
                        number.clone().unwrap_or_default()
                    )),
                    text(payload, "pull_request.title"),
                ),
                time_at(payload, &["pull_request.updated_at"]),
                format!(
                    "{sender} {} pull request #{} on {}",
                    verb.clone().unwrap_or_default(),
                    number.unwrap_or_default(),
                    repo.clone().unwrap_or_default()
                ),
            )
        }
        _ => {
            let resource = match &repo {
                Some(_) => repository(),
                None => named("organization", text(payload, "organization.login"), None),
            };
            let on = if resource.id.is_empty() {
                String::new()
            } else {
                format!(" on {}", resource.id)
            };
            (
                resource,
                None,
                format!("{sender} {}{on}", action.trim_start_matches("github.")),
            )
        }
    };
    Ok(Event {
        id: format!("github-{id}"),
        time,
        tenant: text(payload, "organization.login")
            .or_else(|| text(payload, "repository.owner.login"))
            .unwrap_or_default(),
        actor: Actor {
            id: sender,
            kind: Some(if text(payload, "sender.type").as_deref() == Some("Bot") {
                ActorKind::Service
            } else {
                ActorKind::User
            }),
            ..Actor::default()
        },
        action,
        resource,
        outcome,
        source: "github".into(),
        correlation_id,
        message,
        details: Some(object.clone()),
        ..Event::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let good = signed("It's a Secret to Everybody", body);
        check_signature("It's a Secret to Everybody", Some(&good), body).unwrap();
        for (header, says) in [
            (None, "missing"),
            (Some("sha1=abc"), "not `sha256=<hex>`"),
            (Some(good.as_str()), "does not match"),
        ] {
            let secret = if header == Some(good.as_str()) {
                "another"
            } else {
                "x"
            };
            let e = check_signature(secret, header, body).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        // GitHub's published example: secret, body and signature.
        check_signature(
            "It's a Secret to Everybody",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            b"Hello, World!",
        )
        .unwrap();
    }

    #[test]
    fn a_workflow_run_and_its_jobs_share_a_correlation_id() {
        let run = json!({
            "action": "completed",
            "workflow_run": {"id": 30433642, "name": "CI", "conclusion": "failure",
                             "updated_at": "2026-12-01T10:00:00Z"},
            "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
            "organization": {"login": "acme"},
            "sender": {"login": "alice", "type": "User"}
        });
        let e = to_event(Delivery {
            event: "workflow_run",
            id: "d-1",
            payload: &run,
        })
        .unwrap();
        assert_eq!(e.action, "github.workflow_run.completed");
        assert_eq!(e.outcome, Some(Outcome::Failure));
        assert_eq!(
            (e.resource.kind.as_str(), e.resource.id.as_str()),
            ("workflow_run", "30433642")
        );
        assert_eq!(e.correlation_id, "30433642");
        assert_eq!(e.tenant, "acme");
        assert_eq!(e.id, "github-d-1");
        assert!(e.time.is_some());
        let job = json!({
            "action": "in_progress",
            "workflow_job": {"id": 1, "run_id": 30433642, "name": "test", "status": "in_progress"},
            "repository": {"full_name": "acme/api", "owner": {"login": "acme"}},
            "sender": {"login": "github-actions[bot]", "type": "Bot"}
        });
        let e = to_event(Delivery {
            event: "workflow_job",
            id: "d-2",
            payload: &job,
        })
        .unwrap();
        assert_eq!(e.correlation_id, "30433642");
        assert_eq!(e.outcome, Some(Outcome::Unknown));
        assert_eq!(e.actor.kind, Some(ActorKind::Service));
    }

    #[test]
    fn bad_payloads_are_named() {
        let e = to_event(Delivery {
            event: "push",
            id: "d",
            payload: &json!([1]),
        })
        .unwrap_err();
        assert!(e.to_string().contains("not a JSON object"));
        let e = to_event(Delivery {
            event: "Push!",
            id: "d",
            payload: &json!({}),
        })
        .unwrap_err();
        assert!(e.to_string().contains("X-GitHub-Event"));
        let e = to_event(Delivery {
            event: "push",
            id: "",
            payload: &json!({}),
        })
        .unwrap_err();
        assert!(e.to_string().contains("X-GitHub-Delivery"));
    }
}
