//! AWS CloudTrail records as Stele events.
//!
//! A line of input is a delivery file as CloudTrail writes it to S3 (one
//! line, `{"Records":[…]}`), or one record. The mapping
//! (`docs/import.md` gives it field by field):
//!
//! - `eventID` → `id` (re-importing a file stores nothing twice);
//!   `eventTime` → `time`; `recipientAccountId` → `tenant`;
//! - `eventSource` and `eventName` → `action` `aws.<service>.<eventName>`
//!   (`s3.amazonaws.com` + `DeleteBucket` → `aws.s3.DeleteBucket`);
//! - `userIdentity` → the actor: its ARN (or user name, principal id, the
//!   invoking service, the identity type), kind `user` for people and
//!   `service` for roles and AWS services; `sourceIPAddress` (an address
//!   or a name such as `AWS Internal`) → `actor.ip`; `userAgent`;
//!   `accessKeyId` → `actor.session_id`;
//! - the first of `resources` → the resource (its type and ARN), else the
//!   service;
//! - `errorCode` → outcome `denied` for authorisation errors, `failure`
//!   for the others (and a console login whose response is `Failure`),
//!   `success` without one; `errorMessage` (or the code) → `reason`;
//! - `requestID` → `request_id`, `sharedEventID` → `correlation_id`,
//!   `source` is `aws.cloudtrail`, and the whole record → `details`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{Mapped, verb_part};
use crate::{Actor, ActorKind, Event, Outcome, Resource};

/// `errorCode`s that mean the caller was not allowed.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "NotAuthorized",
    "AuthorizationError",
    "Forbidden",
];

/// The events of one line: a delivery file's records, or one record.
pub fn map_line(line: &str) -> Mapped {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![Err(format!("not JSON: {e}"))],
    };
    match value {
        Value::Object(mut delivery) if delivery.contains_key("Records") => {
            match delivery.remove("Records") {
                Some(Value::Array(records)) => records
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| to_event(r).map_err(|why| format!("record {}: {why}", i + 1)))
                    .collect(),
                _ => vec![Err("`Records` is not an array".into())],
            }
        }
        record => vec![to_event(record)],
    }
}

/// One CloudTrail record as an event.
///
/// # Errors
/// What the record lacks: it must be an object with `eventSource`,
/// `eventName` and a valid `eventTime`.
pub fn to_event(record: Value) -> Result<Event, String> {
    let Value::Object(fields) = record else {
        return Err("a record must be a JSON object".into());
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or("");
    let source = text("eventSource");
    let name = text("eventName");
    if source.is_empty() || name.is_empty() {
        return Err("`eventSource` and `eventName` are required".into());
    }
    let time = match text("eventTime") {
        "" => None,
        t => Some(
            t.parse::<DateTime<Utc>>()
                .map_err(|e| format!("`eventTime` `{t}`: {e}"))?,
        ),
    };
    let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    let action = format!("aws.{}.{}", verb_part(service), verb_part(name));
    let identity = fields.get("userIdentity").and_then(Value::as_object);
    let actor = actor(identity, text("sourceIPAddress"), text("userAgent"));
    let resource = fields
        .get("resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_object)
        .map(|r| Resource {
            kind: str_of(r, "type").to_string(),
            id: str_of(r, "ARN").to_string(),
            name: String::new(),
        })
        .unwrap_or_else(|| Resource {
            kind: service.to_string(),
            ..Resource::default()
        });
    let error = text("errorCode");
    let login_failed = fields
        .get("responseElements")
        .and_then(|r| r.get("ConsoleLogin"))
        .and_then(Value::as_str)
        == Some("Failure");
    let outcome = if DENIED.contains(&error) || error.contains("AccessDenied") {
        Outcome::Denied
    } else if !error.is_empty() || login_failed {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let reason = match text("errorMessage") {
        "" => error,
        message => message,
    };
    let who = if actor.display_name.is_empty() {
        actor.id.clone()
    } else {
        actor.display_name.clone()
    };
    Ok(Event {
        id: text("eventID").to_string(),
        time,
        tenant: text("recipientAccountId").to_string(),
        message: format!("{who} called {name} on {source}"),
        actor: Some(actor),
        action,
        resource: Some(resource),
        outcome: Some(outcome),
        reason: reason.to_string(),
        source: "aws.cloudtrail".into(),
        correlation_id: text("sharedEventID").to_string(),
        request_id: text("requestID").to_string(),
        duration_ms: None,
        details: Some(fields),
    })
}

/// The actor of a `userIdentity`, from where it called.
fn actor(identity: Option<&Map<String, Value>>, ip: &str, user_agent: &str) -> Actor {
    let empty = Map::new();
    let identity = identity.unwrap_or(&empty);
    let kind_name = str_of(identity, "type");
    let issuer = identity
        .get("sessionContext")
        .and_then(|s| s.get("sessionIssuer"))
        .and_then(Value::as_object);
    let display_name = match str_of(identity, "userName") {
        "" => issuer.map_or("", |i| str_of(i, "userName")),
        name => name,
    };
    let id = [
        str_of(identity, "arn"),
        str_of(identity, "userName"),
        str_of(identity, "principalId"),
        str_of(identity, "invokedBy"),
        kind_name,
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("unknown");
    let kind = match kind_name {
        "IAMUser" | "Root" | "FederatedUser" | "SAMLUser" | "WebIdentityUser"
        | "IdentityCenterUser" => Some(ActorKind::User),
        "AssumedRole" | "AWSService" | "AWSAccount" => Some(ActorKind::Service),
        _ => None,
    };
    Actor {
        id: id.to_string(),
        kind,
        display_name: display_name.to_string(),
        ip: ip.to_string(),
        user_agent: user_agent.to_string(),
        session_id: str_of(identity, "accessKeyId").to_string(),
    }
}

fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery file of records written for these tests: each identity
    /// type, console logins, denials and errors, a source that is a
    /// service name and one that is `AWS Internal`, IPv6, unicode, large
    /// request parameters.
    const DELIVERY: &str = include_str!("../../tests/data/cloudtrail-delivery.json");

    fn events() -> Vec<Event> {
        map_line(DELIVERY.trim())
            .into_iter()
            .map(|e| e.expect("every sample record maps"))
            .collect()
    }

    #[test]
    fn every_sample_record_maps_and_keeps_the_original() {
        let events = events();
        assert_eq!(events.len(), 9);
        let original: Value = serde_json::from_str(DELIVERY).unwrap();
        for (event, record) in events.iter().zip(original["Records"].as_array().unwrap()) {
            assert_eq!(&Value::Object(event.details.clone().unwrap()), record);
            assert_eq!(event.id, record["eventID"].as_str().unwrap());
            assert_eq!(event.source, "aws.cloudtrail");
            assert_eq!(event.tenant, "123456789012");
            assert!(event.time.is_some());
        }
    }

    #[test]
    fn actors_actions_and_outcomes() {
        let e = events();
        let actor = |i: usize| e[i].actor.clone().unwrap();
        let brief: Vec<(&str, Option<Outcome>)> =
            e.iter().map(|e| (e.action.as_str(), e.outcome)).collect();
        assert_eq!(
            brief,
            [
                ("aws.signin.ConsoleLogin", Some(Outcome::Success)),
                ("aws.signin.ConsoleLogin", Some(Outcome::Failure)),
                ("aws.s3.DeleteObject", Some(Outcome::Denied)),
                ("aws.kms.Decrypt", Some(Outcome::Success)),
                ("aws.sts.GetCallerIdentity", Some(Outcome::Success)),
                ("aws.s3.GetObject", Some(Outcome::Denied)),
                ("aws.ec2.RunInstances", Some(Outcome::Denied)),
                ("aws.ec2.DescribeInstances", Some(Outcome::Success)),
                ("aws.iam.CreateAccessKey", Some(Outcome::Failure)),
            ]
        );
        assert_eq!(actor(0).id, "arn:aws:iam::123456789012:user/alice");
        assert_eq!(actor(0).display_name, "alice");
        assert_eq!(actor(0).kind, Some(ActorKind::User));
        assert_eq!(actor(0).session_id, "AKIAEXAMPLEALICE");
        assert_eq!(actor(1).kind, Some(ActorKind::User), "root");
        assert_eq!(e[1].reason, "Failed authentication");
        assert_eq!(
            actor(2).id,
            "arn:aws:sts::123456789012:assumed-role/deploy/ci-run-4711"
        );
        assert_eq!(actor(2).display_name, "deploy", "the role that was assumed");
        assert_eq!(actor(2).kind, Some(ActorKind::Service));
        let object = e[2].resource.clone().unwrap();
        assert_eq!(object.kind, "AWS::S3::Object");
        assert_eq!(object.id, "arn:aws:s3:::acme-artifacts/builds/4711.tar.gz");
        assert_eq!(e[2].reason, "Access Denied");
        assert_eq!(actor(3).id, "secretsmanager.amazonaws.com");
        assert_eq!(actor(3).ip, "secretsmanager.amazonaws.com");
        assert_eq!(e[3].correlation_id, "7a1e9c34-5b6d-4e8f-9a0b-1c2d3e4f5a6b");
        assert_eq!(actor(4).ip, "AWS Internal");
        assert_eq!(actor(4).display_name, "broker");
        assert!(actor(4).id.ends_with("federated-user/Zoë"));
        assert_eq!(actor(5).id, "AWSAccount", "anonymous: the identity type");
        assert_eq!(actor(6).ip, "2001:db8::17");
        assert_eq!(e[6].request_id, "req-0006-a1b2");
        assert_eq!(
            e[7].resource.clone().unwrap().kind,
            "ec2",
            "no resources: the service"
        );
        assert_eq!(actor(8).id, "IdentityCenterUser");
        assert_eq!(e[8].reason, "Cannot exceed quota for AccessKeysPerUser: 2");
        assert_eq!(
            e[2].message,
            "deploy called DeleteObject on s3.amazonaws.com"
        );
    }

    #[test]
    fn bad_records_say_which_and_why() {
        let mapped = map_line(
            r#"{"Records":[{"eventSource":"s3.amazonaws.com"},7,{"eventSource":"x","eventName":"Y","eventTime":"yesterday"}]}"#,
        );
        let errors: Vec<String> = mapped.into_iter().map(|m| m.unwrap_err()).collect();
        assert!(
            errors[0].starts_with("record 1: `eventSource` and `eventName`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("record 2: a record must be a JSON object"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("record 3: `eventTime` `yesterday`"),
            "{errors:?}"
        );
        assert!(
            map_line("{not json")[0]
                .as_ref()
                .unwrap_err()
                .starts_with("not JSON")
        );
        let one = map_line(r#"{"eventSource":"sts.amazonaws.com","eventName":"AssumeRole"}"#);
        assert_eq!(one[0].as_ref().unwrap().action, "aws.sts.AssumeRole");
    }
}
