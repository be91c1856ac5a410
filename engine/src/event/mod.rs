//! Audit events: the DESIGN schema (v1), its JSON form and its stored body.
//!
//! An [`Event`] is what a client sends. Its JSON form uses exactly the schema's
//! field names, `time` as RFC 3339, and leaves absent fields out. Its stored
//! form (the record body, see [`body`]) is a version byte followed by the
//! bincode encoding; that byte string is what the chain hashes, and it is never
//! re-encoded.

pub mod body;
pub mod id;
pub mod sanitize;
pub mod scrub;
pub mod validate;

use serde::{Deserialize, Serialize};

/// One audit event: who did what to which resource, when, from where, with
/// what outcome. Empty strings mean "absent".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Client event id for idempotent retries; a UUIDv7 is assigned when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When it happened, in nanoseconds since the Unix epoch; defaults to the
    /// ingest time.
    #[serde(default, with = "rfc3339", skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// Organisation inside the log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    /// Who did it, and from where.
    #[serde(default, skip_serializing_if = "Actor::is_empty")]
    pub actor: Actor,
    /// Dotted verb, required: `git.push`, `workflow.delete`.
    #[serde(default)]
    pub action: String,
    /// What it was done to.
    #[serde(default, skip_serializing_if = "Resource::is_empty")]
    pub resource: Resource,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why it failed or was denied, or why it was done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The emitting system.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Ties the events of one job or flow together.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correlation_id: String,
    /// Ties the events of one request together.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Human activity message: "alice deleted workflow 42".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Anything else, as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Who acted.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Stable identifier: user name, service account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// User, service or system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActorKind>,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// IPv4 or IPv6 address it acted from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Client software.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// Login session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id: String,
}

impl Actor {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Actor::default()
    }
}

/// The kind of actor.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person.
    User,
    /// A machine identity.
    Service,
    /// The platform itself.
    System,
}

/// What the action was done to.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Type of resource: `repository`, `workflow`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its identifier.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Its human name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Resource {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Resource::default()
    }
}

/// How the action ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused.
    Denied,
    /// Not known.
    Unknown,
}

impl Outcome {
    /// The schema's name of the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Formats nanoseconds since the epoch as RFC 3339 (UTC).
pub fn format_time(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ns.to_string())
}

/// Parses RFC 3339 into nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`{s}` is not an RFC 3339 time: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| format!("`{s}` is outside the years 1678..2262"))
}

/// Serde adapter for `Option<i64>` nanoseconds as an RFC 3339 string.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ns) => s.serialize_str(&super::format_time(*ns)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse_time(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips_the_design_example() {
        let line = r#"{"id":"01JD","time":"2026-11-22T10:15:03.12Z","tenant":"acme",
 "actor":{"id":"alice","kind":"user","ip":"203.0.113.7","user_agent":"git/2.47"},
 "action":"git.push","resource":{"kind":"repository","id":"acme/api"},
 "outcome":"failure","reason":"protected branch","source":"git-gateway",
 "correlation_id":"c-91f2","message":"alice pushed 3 commits to acme/api main",
 "details":{"branch":"main","commits":3}}"#;
        let event: Event = serde_json::from_str(line).unwrap();
        assert_eq!(event.actor.kind, Some(ActorKind::User));
        assert_eq!(event.outcome, Some(Outcome::Failure));
        assert_eq!(event.time, Some(1_795_342_503_120_000_000));
        let again: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn unknown_fields_and_bad_times_are_named() {
        let err = serde_json::from_str::<Event>(r#"{"action":"a","colour":"red"}"#).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err =
            serde_json::from_str::<Event>(r#"{"action":"a","time":"yesterday"}"#).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
}
