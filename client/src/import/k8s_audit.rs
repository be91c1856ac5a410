//! Kubernetes audit events (`audit.k8s.io/v1` `Event`, one JSON object a
//! line, as the API server's log backend writes them) as Stele events.
//!
//! The API server writes one record per stage of a request, with the same
//! `auditID`. Only the final stages are imported: `ResponseComplete`, and
//! `Panic`; `RequestReceived` and `ResponseStarted` (a long-running watch
//! or exec) are skipped, since the final stage holds all they say and the
//! outcome. The mapping (`docs/import.md` gives it field by field):
//!
//! - `auditID` → `id` and `request_id`; `requestReceivedTimestamp` →
//!   `time`;
//! - `objectRef.resource` (and `subresource`) and `verb` → `action`
//!   `k8s.<resource>[.<subresource>].<verb>` (`k8s.pods.exec.create`);
//!   requests without an object → `k8s.nonresource.<verb>`;
//! - `user.username` → the actor (`service` for service accounts, `system`
//!   for other `system:` users, else `user`), `sourceIPs[0]` → `actor.ip`,
//!   `userAgent`;
//! - the object → the resource: `resource` (with its API group,
//!   `apps/deployments`), `namespace/name`, `name`; else the request URI;
//! - `responseStatus.code` → outcome (1xx to 3xx `success`: an exec's
//!   upgrade is 101; 401 and 403 `denied`, other codes `failure`; a
//!   `Panic` is a `failure`), its
//!   `message` (or the authorizer's reason) → `reason`;
//! - `source` is `k8s.audit`, and the whole record → `details`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Mapped, verb_part};
use crate::{Actor, ActorKind, Event, Outcome, Resource};

/// The event of one line; nothing for the stages that are skipped.
pub fn map_line(line: &str) -> Mapped {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![Err(format!("not JSON: {e}"))],
    };
    match value.get("stage").and_then(Value::as_str) {
        Some("RequestReceived" | "ResponseStarted") => Vec::new(),
        _ => vec![to_event(value)],
    }
}

/// One audit event as a Stele event.
///
/// # Errors
/// What the record lacks: it must be an object with a `verb` and a
/// `user.username`, and valid timestamps.
pub fn to_event(record: Value) -> Result<Event, String> {
    let Value::Object(fields) = &record else {
        return Err("a record must be a JSON object".into());
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let verb = text(fields.get("verb"));
    let user = text(record.pointer("/user/username"));
    if verb.is_empty() || user.is_empty() {
        return Err("`verb` and `user.username` are required".into());
    }
    let time = match text(fields.get("requestReceivedTimestamp")) {
        t if t.is_empty() => None,
        t => Some(
            t.parse::<DateTime<Utc>>()
                .map_err(|e| format!("`requestReceivedTimestamp` `{t}`: {e}"))?,
        ),
    };
    let object = record.get("objectRef");
    let field = |name: &str| text(object.and_then(|o| o.get(name)));
    let (kind, namespace, name) = (field("resource"), field("namespace"), field("name"));
    let subresource = field("subresource");
    let action = match (kind.as_str(), subresource.as_str()) {
        ("", _) => format!("k8s.nonresource.{}", verb_part(&verb)),
        (k, "") => format!("k8s.{}.{}", verb_part(k), verb_part(&verb)),
        (k, s) => format!("k8s.{}.{}.{}", verb_part(k), verb_part(s), verb_part(&verb)),
    };
    let resource = if kind.is_empty() {
        Resource {
            kind: "nonresource".into(),
            id: text(fields.get("requestURI")),
            name: String::new(),
        }
    } else {
        let group = field("apiGroup");
        Resource {
            kind: if group.is_empty() {
                kind.clone()
            } else {
                format!("{group}/{kind}")
            },
            id: match (namespace.as_str(), name.as_str()) {
                ("", n) => n.to_string(),
                (ns, n) => format!("{ns}/{n}"),
            },
            name: name.clone(),
        }
    };
    let code = record
        .pointer("/responseStatus/code")
        .and_then(Value::as_u64);
    let outcome = match (fields.get("stage").and_then(Value::as_str), code) {
        (Some("Panic"), _) => Outcome::Failure,
        // 101: an exec, attach or port-forward upgraded its connection.
        (_, Some(100..=399)) => Outcome::Success,
        (_, Some(401 | 403)) => Outcome::Denied,
        (_, Some(_)) => Outcome::Failure,
        (_, None) => Outcome::Unknown,
    };
    let reason = match text(record.pointer("/responseStatus/message")) {
        m if m.is_empty() => text(record.pointer("/annotations/authorization.k8s.io~1reason")),
        m => m,
    };
    let kind_of_actor = if user.starts_with("system:serviceaccount:") {
        ActorKind::Service
    } else if user.starts_with("system:") {
        ActorKind::System
    } else {
        ActorKind::User
    };
    let target = match (kind.is_empty(), resource.id.is_empty()) {
        (true, _) => resource.id.clone(),
        (false, true) => kind.clone(),
        (false, false) => format!("{kind} {}", resource.id),
    };
    let audit_id = text(fields.get("auditID"));
    Ok(Event {
        id: audit_id.clone(),
        time,
        tenant: String::new(),
        actor: Some(Actor {
            id: user.clone(),
            kind: Some(kind_of_actor),
            display_name: String::new(),
            ip: text(record.pointer("/sourceIPs/0")),
            user_agent: text(fields.get("userAgent")),
            session_id: String::new(),
        }),
        action,
        resource: Some(resource),
        outcome: Some(outcome),
        reason,
        source: "k8s.audit".into(),
        correlation_id: String::new(),
        request_id: audit_id,
        duration_ms: None,
        message: format!("{user} {verb} {target}"),
        details: super::into_details(record),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API server audit log written for these tests: users, service
    /// accounts and system components; allowed, forbidden, unauthenticated
    /// and conflicting requests; a subresource, an API group, a request
    /// without an object, a panic, and the stages that are skipped.
    const LOG: &str = include_str!("../../tests/data/k8s-audit.jsonl");

    fn events() -> Vec<Event> {
        LOG.lines()
            .flat_map(map_line)
            .map(|e| e.expect("every sample record maps"))
            .collect()
    }

    #[test]
    fn final_stages_map_and_keep_the_original() {
        let events = events();
        assert_eq!(
            events.len(),
            7,
            "RequestReceived and ResponseStarted skipped"
        );
        assert_eq!(
            super::super::brief(&events),
            [
                (
                    "k8s.pods.delete",
                    "alice@example.com",
                    Some(Outcome::Success)
                ),
                (
                    "k8s.pods.exec.create",
                    "Zoë@example.com",
                    Some(Outcome::Success)
                ),
                (
                    "k8s.secrets.get",
                    "system:serviceaccount:ci:builder",
                    Some(Outcome::Denied)
                ),
                (
                    "k8s.nonresource.get",
                    "system:anonymous",
                    Some(Outcome::Denied)
                ),
                ("k8s.deployments.update", "bob", Some(Outcome::Failure)),
                (
                    "k8s.nodes.list",
                    "system:kube-scheduler",
                    Some(Outcome::Failure)
                ),
                ("k8s.rolebindings.create", "carol", Some(Outcome::Success)),
            ]
        );
        let first = &events[0];
        assert_eq!(first.id, "5f1c9a2e-0000-4000-8000-000000000000");
        assert_eq!(first.request_id, first.id);
        assert_eq!(first.source, "k8s.audit");
        assert_eq!(first.message, "alice@example.com delete pods prod/api-7d9f");
        assert_eq!(first.resource.as_ref().unwrap().id, "prod/api-7d9f");
        assert_eq!(first.actor.as_ref().unwrap().kind, Some(ActorKind::User));
        assert_eq!(first.reason, "RBAC: allowed by ClusterRoleBinding \"ops\"");
        let original: Value = serde_json::from_str(LOG.lines().nth(1).unwrap()).unwrap();
        assert_eq!(Value::Object(first.details.clone().unwrap()), original);
        assert_eq!(
            events[2].actor.as_ref().unwrap().kind,
            Some(ActorKind::Service)
        );
        assert!(events[2].reason.contains("is forbidden"));
        assert_eq!(events[3].resource.as_ref().unwrap().id, "/healthz");
        assert_eq!(
            events[4].resource.as_ref().unwrap().kind,
            "apps/deployments"
        );
        assert_eq!(
            events[5].actor.as_ref().unwrap().kind,
            Some(ActorKind::System)
        );
        assert_eq!(events[5].actor.as_ref().unwrap().ip, "::1");
    }

    #[test]
    fn bad_records_say_why() {
        assert!(
            map_line("[1]")[0]
                .as_ref()
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            map_line(r#"{"verb":"get"}"#)[0]
                .as_ref()
                .unwrap_err()
                .contains("user.username")
        );
        assert!(
            map_line("{oops")[0]
                .as_ref()
                .unwrap_err()
                .starts_with("not JSON")
        );
    }
}
