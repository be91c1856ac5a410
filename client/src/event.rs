//! Events and records in the DESIGN schema: typed builders for code, and the
//! JSON form that `stele import` reads and `--output json` prints.
//!
//! The JSON form uses exactly the schema's names; `time` and `ingest_time`
//! are RFC 3339; absent fields are left out. Converting to and from the
//! wire (`stele_proto::v1`) loses nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stele_proto::v1;

use crate::error::{Error, Result};

/// An audit event: who did what to which resource, when, from where, with
/// what outcome. Only `action` is required.
///
/// ```
/// use stele_client::{Actor, Event, Outcome};
/// let event = Event::new("workflow.delete")
///     .actor(Actor::user("alice").ip("203.0.113.7"))
///     .resource("workflow", "42")
///     .outcome(Outcome::Success)
///     .message("alice deleted workflow 42")
///     .details(&serde_json::json!({ "reason": "cleanup" }))?;
/// assert_eq!(event.action, "workflow.delete");
/// # Ok::<(), stele_client::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Client event id, for idempotent retries; the [`crate::Appender`]
    /// assigns a UUIDv7 when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When it happened; the server uses the ingest time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    /// Organisation inside the log.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    /// Who did it, and from where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Dotted verb: `git.push`, `workflow.delete`.
    pub action: String,
    /// What it was done to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Why it failed or was denied, or why it was done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The emitting system.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Ties together the events of one job.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correlation_id: String,
    /// Ties together the events of one request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
    /// How long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Human activity message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Anything else, as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// User name, service account or system component.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// What kind of actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActorKind>,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Client IP address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Client user agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// Session the action was taken in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session_id: String,
}

/// The kind of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person.
    User,
    /// A service account.
    Service,
    /// The system itself.
    System,
}

/// What was acted on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Its type: `repository`, `workflow`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its id: `acme/api`, `42`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Its name shown to people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was tried and failed.
    Failure,
    /// It was refused.
    Denied,
    /// Not known.
    Unknown,
}

impl Outcome {
    /// Its name in the JSON form and in filters: `success`, `failure`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Unknown => "unknown",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = Error;

    fn from_str(s: &str) -> Result<Outcome> {
        match s {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            "denied" => Ok(Outcome::Denied),
            "unknown" => Ok(Outcome::Unknown),
            _ => Err(Error::invalid(
                "outcome",
                format!("{s:?} is not one of success, failure, denied, unknown"),
            )),
        }
    }
}

impl Actor {
    /// A person.
    pub fn user(id: impl Into<String>) -> Actor {
        Actor::with_kind(id, ActorKind::User)
    }

    /// A service account.
    pub fn service(id: impl Into<String>) -> Actor {
        Actor::with_kind(id, ActorKind::Service)
    }

    /// The system itself.
    pub fn system(id: impl Into<String>) -> Actor {
        Actor::with_kind(id, ActorKind::System)
    }

    fn with_kind(id: impl Into<String>, kind: ActorKind) -> Actor {
        Actor {
            id: id.into(),
            kind: Some(kind),
            ..Actor::default()
        }
    }

    /// Sets the client IP address.
    #[must_use]
    pub fn ip(mut self, ip: impl Into<String>) -> Actor {
        self.ip = ip.into();
        self
    }

    /// Sets the name shown to people.
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Actor {
        self.display_name = name.into();
        self
    }

    /// Sets the client user agent.
    #[must_use]
    pub fn user_agent(mut self, agent: impl Into<String>) -> Actor {
        self.user_agent = agent.into();
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn session_id(mut self, session: impl Into<String>) -> Actor {
        self.session_id = session.into();
        self
    }
}

impl Event {
    /// An event with `action` and nothing else.
    pub fn new(action: impl Into<String>) -> Event {
        Event {
            action: action.into(),
            ..Event::default()
        }
    }

    /// Sets the client event id (for idempotent retries across processes).
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = id.into();
        self
    }

    /// Sets when it happened.
    #[must_use]
    pub fn time(mut self, time: DateTime<Utc>) -> Event {
        self.time = Some(time);
        self
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Event {
        self.tenant = tenant.into();
        self
    }

    /// Sets who did it.
    #[must_use]
    pub fn actor(mut self, actor: Actor) -> Event {
        self.actor = Some(actor);
        self
    }

    /// Sets what it was done to.
    #[must_use]
    pub fn resource(mut self, kind: impl Into<String>, id: impl Into<String>) -> Event {
        let name = self.resource.take().map(|r| r.name).unwrap_or_default();
        self.resource = Some(Resource {
            kind: kind.into(),
            id: id.into(),
            name,
        });
        self
    }

    /// Sets how it ended.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Event {
        self.outcome = Some(outcome);
        self
    }

    /// Sets why it failed, was denied, or was done.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Event {
        self.reason = reason.into();
        self
    }

    /// Sets the emitting system.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Event {
        self.source = source.into();
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: impl Into<String>) -> Event {
        self.correlation_id = id.into();
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, id: impl Into<String>) -> Event {
        self.request_id = id.into();
        self
    }

    /// Sets how long it took.
    #[must_use]
    pub fn duration_ms(mut self, ms: u64) -> Event {
        self.duration_ms = Some(ms);
        self
    }

    /// Sets the human activity message.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Event {
        self.message = message.into();
        self
    }

    /// Sets `details` from anything that serialises to a JSON object.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `details` when `value` does not serialise
    /// to a JSON object.
    pub fn details(mut self, value: &impl Serialize) -> Result<Event> {
        match serde_json::to_value(value) {
            Ok(Value::Object(map)) => {
                self.details = Some(map);
                Ok(self)
            }
            Ok(other) => Err(Error::invalid(
                "details",
                format!("must be a JSON object, not {}", json_kind(&other)),
            )),
            Err(e) => Err(Error::invalid("details", e.to_string())),
        }
    }

    /// Sets one key of `details`, keeping the others.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Event {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.into(), value.into());
        self
    }

    /// Parses one line of the JSON form.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying what is wrong (with serde's line and
    /// column), or that `action` is missing or empty.
    pub fn from_json(text: &str) -> Result<Event> {
        let event: Event =
            serde_json::from_str(text).map_err(|e| Error::invalid("event", e.to_string()))?;
        if event.action.is_empty() {
            return Err(Error::invalid("action", "is required and empty"));
        }
        Ok(event)
    }

    /// The wire form.
    pub fn to_proto(&self) -> v1::Event {
        let actor = self.actor.as_ref().map(|a| v1::Actor {
            id: a.id.clone(),
            kind: match a.kind {
                None => v1::ActorKind::Unspecified,
                Some(ActorKind::User) => v1::ActorKind::User,
                Some(ActorKind::Service) => v1::ActorKind::Service,
                Some(ActorKind::System) => v1::ActorKind::System,
            } as i32,
            display_name: a.display_name.clone(),
            ip: a.ip.clone(),
            user_agent: a.user_agent.clone(),
            session_id: a.session_id.clone(),
        });
        v1::Event {
            id: self.id.clone(),
            time_ns: self.time.and_then(|t| t.timestamp_nanos_opt()),
            tenant: self.tenant.clone(),
            actor,
            action: self.action.clone(),
            resource: self.resource.as_ref().map(|r| v1::Resource {
                kind: r.kind.clone(),
                id: r.id.clone(),
                name: r.name.clone(),
            }),
            outcome: match self.outcome {
                None => v1::Outcome::Unspecified,
                Some(Outcome::Success) => v1::Outcome::Success,
                Some(Outcome::Failure) => v1::Outcome::Failure,
                Some(Outcome::Denied) => v1::Outcome::Denied,
                Some(Outcome::Unknown) => v1::Outcome::Unknown,
            } as i32,
            reason: self.reason.clone(),
            source: self.source.clone(),
            correlation_id: self.correlation_id.clone(),
            request_id: self.request_id.clone(),
            duration_ms: self.duration_ms,
            message: self.message.clone(),
            details_json: self
                .details
                .as_ref()
                .map(|d| serde_json::to_string(d).expect("a JSON object serialises"))
                .unwrap_or_default(),
        }
    }

    /// From the wire form.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the server sent an unknown enum value or
    /// `details_json` that is not a JSON object.
    pub fn from_proto(e: v1::Event) -> Result<Event> {
        let actor = match e.actor {
            None => None,
            Some(a) => Some(Actor {
                kind: match v1::ActorKind::try_from(a.kind) {
                    Ok(v1::ActorKind::Unspecified) => None,
                    Ok(v1::ActorKind::User) => Some(ActorKind::User),
                    Ok(v1::ActorKind::Service) => Some(ActorKind::Service),
                    Ok(v1::ActorKind::System) => Some(ActorKind::System),
                    Err(_) => return Err(protocol("actor.kind", a.kind)),
                },
                id: a.id,
                display_name: a.display_name,
                ip: a.ip,
                user_agent: a.user_agent,
                session_id: a.session_id,
            }),
        };
        let outcome = match v1::Outcome::try_from(e.outcome) {
            Ok(v1::Outcome::Unspecified) => None,
            Ok(v1::Outcome::Success) => Some(Outcome::Success),
            Ok(v1::Outcome::Failure) => Some(Outcome::Failure),
            Ok(v1::Outcome::Denied) => Some(Outcome::Denied),
            Ok(v1::Outcome::Unknown) => Some(Outcome::Unknown),
            Err(_) => return Err(protocol("outcome", e.outcome)),
        };
        let details = if e.details_json.is_empty() {
            None
        } else {
            match serde_json::from_str(&e.details_json) {
                Ok(Value::Object(map)) => Some(map),
                _ => {
                    return Err(Error::Protocol("details_json is not a JSON object".into()));
                }
            }
        };
        Ok(Event {
            id: e.id,
            time: e.time_ns.map(DateTime::from_timestamp_nanos),
            tenant: e.tenant,
            actor: actor.filter(|a| *a != Actor::default()),
            action: e.action,
            resource: e
                .resource
                .map(|r| Resource {
                    kind: r.kind,
                    id: r.id,
                    name: r.name,
                })
                .filter(|r| *r != Resource::default()),
            outcome,
            reason: e.reason,
            source: e.source,
            correlation_id: e.correlation_id,
            request_id: e.request_id,
            duration_ms: e.duration_ms,
            message: e.message,
            details,
        })
    }
}

fn protocol(field: &str, value: i32) -> Error {
    Error::Protocol(format!("{field} {value} is not a known value"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An event as stored: its position, when the server received it, and the
/// event (absent once redacted). Serialises to the JSON form with `seq` and
/// `ingest_time` at the top level, and `redacted: true` once erased.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Position in the log.
    pub seq: u64,
    /// When the server received it.
    pub ingest_time: DateTime<Utc>,
    /// True when the body was erased.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// The event; `None` once redacted.
    #[serde(flatten)]
    pub event: Option<Event>,
    /// SHA-256 of the stored body bytes.
    #[serde(skip)]
    pub body_digest: [u8; 32],
    /// The stored body bytes, when asked for.
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl Record {
    /// From the wire form.
    ///
    /// # Errors
    /// [`Error::Protocol`] when a field is malformed.
    pub fn from_proto(r: v1::Record) -> Result<Record> {
        Ok(Record {
            seq: r.seq,
            ingest_time: DateTime::from_timestamp_nanos(r.ingest_time_ns),
            redacted: r.redacted,
            event: r.event.map(Event::from_proto).transpose()?,
            body_digest: hash32("record.body_digest", &r.body_digest)?,
            body: r.body,
        })
    }

    /// The event's time, or the ingest time when the event has none (what
    /// queries order and filter by).
    pub fn time(&self) -> DateTime<Utc> {
        self.event
            .as_ref()
            .and_then(|e| e.time)
            .unwrap_or(self.ingest_time)
    }
}

/// What an append returns for each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The record's position in its log.
    pub seq: u64,
    /// SHA-256(0x00 || seq || ingest_time || body_digest).
    #[serde(with = "hex_bytes")]
    pub leaf_hash: [u8; 32],
    /// SHA-256(0x02 || previous chain hash || leaf_hash).
    #[serde(with = "hex_bytes")]
    pub chain_hash: [u8; 32],
    /// True when the event's id had already been appended: this is the
    /// original receipt, and no second record was written.
    pub duplicate: bool,
}

impl Receipt {
    /// From the wire form.
    ///
    /// # Errors
    /// [`Error::Protocol`] when a hash is not 32 bytes.
    pub fn from_proto(r: &v1::Receipt) -> Result<Receipt> {
        Ok(Receipt {
            seq: r.seq,
            leaf_hash: hash32("receipt.leaf_hash", &r.leaf_hash)?,
            chain_hash: hash32("receipt.chain_hash", &r.chain_hash)?,
            duplicate: r.duplicate,
        })
    }
}

/// `bytes` as a 32-byte hash.
pub(crate) fn hash32(field: &str, bytes: &[u8]) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Protocol(format!("{field} is {} bytes, not 32", bytes.len())))
}

/// Hashes as lowercase hex in JSON.
mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_example_round_trips_through_json_and_the_wire() {
        let line = r#"{"id":"01JD","time":"2026-11-22T10:15:03.120Z","tenant":"acme",
 "actor":{"id":"alice","kind":"user","ip":"203.0.113.7","user_agent":"git/2.47"},
 "action":"git.push","resource":{"kind":"repository","id":"acme/api"},
 "outcome":"failure","reason":"protected branch","source":"git-gateway",
 "correlation_id":"c-91f2","message":"alice pushed 3 commits to acme/api main",
 "details":{"branch":"main","commits":3}}"#;
        let event = Event::from_json(line).unwrap();
        assert_eq!(event.actor.as_ref().unwrap().kind, Some(ActorKind::User));
        assert_eq!(
            event.time.unwrap().timestamp_nanos_opt(),
            Some(1_795_342_503_120_000_000)
        );
        assert_eq!(Event::from_proto(event.to_proto()).unwrap(), event);
        let again = Event::from_json(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn bad_lines_name_what_is_wrong() {
        let err = Event::from_json(r#"{"action":"a","outcome":"maybe"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `maybe`"), "{err}");
        let err = Event::from_json(r#"{"action":"a","colour":"red"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = Event::from_json(r#"{"actor":{"id":"x"}}"#).unwrap_err();
        assert!(err.to_string().contains("action"), "{err}");
        let err = Event::from_json(r#"{"action":"a","time":"yesterday"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("input contains invalid characters")
                || err.to_string().contains("time"),
            "{err}"
        );
        assert!(Event::new("a").details(&[1, 2]).is_err());
    }

    #[test]
    fn a_record_prints_seq_and_ingest_time_at_the_top_level() {
        let record = Record {
            seq: 7,
            ingest_time: DateTime::from_timestamp_nanos(0),
            redacted: false,
            event: Some(Event::new("user.login").tenant("acme")),
            body_digest: [0; 32],
            body: Vec::new(),
        };
        let json: Value = serde_json::to_value(&record).unwrap();
        assert_eq!(json["seq"], 7);
        assert_eq!(json["ingest_time"], "1970-01-01T00:00:00Z");
        assert_eq!(json["action"], "user.login");
        assert!(json.get("redacted").is_none());
    }
}
