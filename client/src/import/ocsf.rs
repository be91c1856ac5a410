//! OCSF 1.x events of the API Activity (`class_uid` 6003) and
//! Authentication (3002) classes as Stele events.
//!
//! A line of input is one event, or a JSON array of events. Events of
//! other classes are refused with their class. The mapping
//! (`docs/import.md` gives it field by field):
//!
//! - `metadata.uid` → `id`; `time` (milliseconds) → `time`;
//!   `cloud.account.uid` → `tenant`; `metadata.correlation_uid` →
//!   `correlation_id`;
//! - API Activity: `api.service.name` and `api.operation` → `action`
//!   (`s3.DeleteBucket`, the service's first label), else
//!   `api.<activity_name>`; `actor.user` → the actor; `api.request.uid` →
//!   `request_id`; the first of `resources` → the resource;
//! - Authentication: `auth.<activity_name>` (`auth.logon`); the `user`
//!   authenticating → the actor; `service.name` (or `dst_endpoint`) → the
//!   resource;
//! - `src_endpoint` (`ip`, else `domain`, else `svc_name`) → `actor.ip`;
//!   `http_request.user_agent`; `actor.session.uid` → `actor.session_id`;
//! - `status_id` → outcome (1 `success`; 2 `failure`, or `denied` when
//!   the status code or API error says access was denied; else
//!   `unknown`); `status_detail` (or the API error message, or the status
//!   code) → `reason`;
//! - `message` → `message`; `source` is `ocsf`; the whole event →
//!   `details`.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::{Mapped, verb_part};
use crate::{Actor, ActorKind, Event, Outcome, Resource};

/// API Activity.
const API_ACTIVITY: u64 = 6003;
/// Authentication.
const AUTHENTICATION: u64 = 3002;

/// The events of one line: an event, or an array of them.
pub fn map_line(line: &str) -> Mapped {
    super::event_or_array(line, to_event)
}

/// One OCSF event as a Stele event.
///
/// # Errors
/// An event that is not an object, or of a class not mapped.
pub fn to_event(record: Value) -> Result<Event, String> {
    let Value::Object(fields) = &record else {
        return Err("an event must be a JSON object".into());
    };
    let at = |pointer: &str| {
        record
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let class = fields.get("class_uid").and_then(Value::as_u64);
    let activity = verb_part(&at("/activity_name").to_lowercase());
    let activity = if activity.is_empty() {
        "other".to_string()
    } else {
        activity
    };
    let (action, user, resource) = match class {
        Some(API_ACTIVITY) => {
            let service = at("/api/service/name").split('.').next().unwrap_or("");
            let operation = at("/api/operation");
            let action = if service.is_empty() || operation.is_empty() {
                format!("api.{activity}")
            } else {
                format!("{}.{}", verb_part(service), verb_part(operation))
            };
            let resource = record
                .pointer("/resources/0")
                .and_then(Value::as_object)
                .map(|r| Resource {
                    kind: str_of(r, "type").to_string(),
                    id: str_of(r, "uid").to_string(),
                    name: str_of(r, "name").to_string(),
                });
            (action, record.pointer("/actor/user"), resource)
        }
        Some(AUTHENTICATION) => {
            let service = [
                at("/service/name"),
                at("/dst_endpoint/svc_name"),
                at("/dst_endpoint/hostname"),
            ]
            .into_iter()
            .find(|s| !s.is_empty());
            let resource = service.map(|s| Resource {
                kind: "service".into(),
                id: s.to_string(),
                name: String::new(),
            });
            let user = record.get("user").or_else(|| record.pointer("/actor/user"));
            (format!("auth.{activity}"), user, resource)
        }
        Some(other) => {
            return Err(format!(
                "class_uid {other} is not mapped (API Activity 6003 and Authentication 3002 are)"
            ));
        }
        None => return Err("`class_uid` is required".into()),
    };
    let millis = fields.get("time").and_then(Value::as_i64);
    let time = match millis {
        None => None,
        Some(ms) => Some(
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("`time` {ms} is out of range"))?,
        ),
    };
    let user = user.and_then(Value::as_object);
    let actor_id = [
        user.map_or("", |u| str_of(u, "name")),
        user.map_or("", |u| str_of(u, "uid")),
        at("/actor/invoked_by"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let kind = match user.and_then(|u| u.get("type_id")).and_then(Value::as_u64) {
        Some(1 | 2) => Some(ActorKind::User),
        Some(3) => Some(ActorKind::System),
        _ => None,
    };
    let ip = [
        at("/src_endpoint/ip"),
        at("/src_endpoint/domain"),
        at("/src_endpoint/svc_name"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let code = [at("/status_code"), at("/api/response/error")].join(" ");
    let denied = ["AccessDenied", "Unauthorized", "Forbidden", "denied"]
        .iter()
        .any(|word| code.contains(word));
    let outcome = match fields.get("status_id").and_then(Value::as_u64) {
        Some(1) => Outcome::Success,
        Some(2) if denied => Outcome::Denied,
        Some(2) => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let reason = [
        at("/status_detail"),
        at("/api/response/error_message"),
        at("/status_code"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let message = match at("/message") {
        "" => format!(
            "{} {action}",
            if actor_id.is_empty() {
                "someone"
            } else {
                actor_id
            }
        ),
        m => m.to_string(),
    };
    Ok(Event {
        id: at("/metadata/uid").to_string(),
        time,
        tenant: at("/cloud/account/uid").to_string(),
        actor: (!actor_id.is_empty() || !ip.is_empty()).then(|| Actor {
            id: actor_id.to_string(),
            kind,
            display_name: String::new(),
            ip: ip.to_string(),
            user_agent: at("/http_request/user_agent").to_string(),
            session_id: at("/actor/session/uid").to_string(),
        }),
        action,
        resource,
        outcome: Some(outcome),
        reason: reason.to_string(),
        source: "ocsf".into(),
        correlation_id: at("/metadata/correlation_uid").to_string(),
        request_id: at("/api/request/uid").to_string(),
        duration_ms: None,
        message,
        details: super::into_details(record),
    })
}

fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OCSF events written for these tests: API Activity from CloudTrail
    /// and a service, Authentication logons and logoffs; an array on the
    /// first line, one event a line after.
    const LOG: &str = include_str!("../../tests/data/ocsf.jsonl");

    #[test]
    fn api_activity_and_authentication_map_and_keep_the_original() {
        let events: Vec<Event> = LOG
            .lines()
            .flat_map(map_line)
            .map(|e| e.expect("every sample event maps"))
            .collect();
        assert_eq!(
            super::super::brief(&events),
            [
                ("s3.DeleteBucket", "alice", Some(Outcome::Denied)),
                (
                    "dynamodb.PutItem",
                    "lambda.amazonaws.com",
                    Some(Outcome::Success)
                ),
                ("auth.logon", "Zoë", Some(Outcome::Failure)),
                ("auth.logoff", "svc-backup", Some(Outcome::Success)),
            ]
        );
        let first = &events[0];
        assert_eq!(first.id, "ocsf-0001");
        assert_eq!(first.tenant, "123456789012");
        assert_eq!(first.request_id, "req-77aa");
        assert_eq!(first.correlation_id, "corr-9");
        assert_eq!(
            first.reason,
            "User is not authorized to perform: s3:DeleteBucket"
        );
        assert_eq!(
            first.actor.as_ref().unwrap().session_id,
            "ASIAEXAMPLESESSION"
        );
        assert_eq!(
            first.resource.as_ref().unwrap().id,
            "arn:aws:s3:::acme-logs"
        );
        assert_eq!(events[1].message, "PutItem on table orders");
        assert_eq!(events[1].actor.as_ref().unwrap().ip, "lambda.amazonaws.com");
        assert_eq!(events[2].resource.as_ref().unwrap().id, "okta");
        assert_eq!(
            events[3].actor.as_ref().unwrap().kind,
            Some(ActorKind::System)
        );
        assert_eq!(events[3].actor.as_ref().unwrap().ip, "backup01.internal");
        assert_eq!(events[3].resource.as_ref().unwrap().id, "db01.internal");
        let array: Value = serde_json::from_str(LOG.lines().next().unwrap()).unwrap();
        assert_eq!(Value::Object(first.details.clone().unwrap()), array[0]);
    }

    #[test]
    fn other_classes_are_refused_with_their_class() {
        let err = map_line(r#"{"class_uid":4001,"activity_name":"Traffic"}"#)[0]
            .clone()
            .unwrap_err();
        assert!(err.starts_with("class_uid 4001 is not mapped"), "{err}");
        assert!(
            map_line("{}")[0]
                .as_ref()
                .unwrap_err()
                .contains("class_uid")
        );
    }
}
