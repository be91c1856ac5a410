//! Generated engine events as API events, and the send-time stamp that lets
//! a subscriber measure its lag.
//!
//! The fields map one to one; `time` becomes `time_ns`, the `details` map
//! becomes `details_json`, and the enums become their proto numbers. The
//! event time stays the generator's (realistic, out of order): the time the
//! batch was sent travels instead as `"sent_ns"` inside `details_json`, in
//! nanoseconds since the Unix epoch, and a subscriber's lag is the time it
//! received the record minus that.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use stele_engine as engine;
use stele_proto::v1 as proto;

/// The key of the send time in `details_json`; the generator never uses it.
pub const SENT_KEY: &str = "sent_ns";

/// The API form of a generated event.
pub fn to_proto(event: engine::Event) -> proto::Event {
    let engine::Event {
        id,
        time,
        tenant,
        actor,
        action,
        resource,
        outcome,
        reason,
        source,
        correlation_id,
        request_id,
        duration_ms,
        message,
        details,
    } = event;
    proto::Event {
        id,
        time_ns: time,
        tenant,
        actor: (!actor.is_empty()).then(|| proto::Actor {
            kind: proto_kind(actor.kind) as i32,
            id: actor.id,
            display_name: actor.display_name,
            ip: actor.ip,
            user_agent: actor.user_agent,
            session_id: actor.session_id,
        }),
        action,
        resource: (!resource.is_empty()).then(|| proto::Resource {
            kind: resource.kind,
            id: resource.id,
            name: resource.name,
        }),
        outcome: proto_outcome(outcome) as i32,
        reason,
        source,
        correlation_id,
        request_id,
        duration_ms,
        message,
        details_json: details.map_or_else(String::new, |map| {
            serde_json::Value::Object(map).to_string()
        }),
    }
}

/// The proto number of an actor kind.
fn proto_kind(kind: Option<engine::ActorKind>) -> proto::ActorKind {
    match kind {
        None => proto::ActorKind::Unspecified,
        Some(engine::ActorKind::User) => proto::ActorKind::User,
        Some(engine::ActorKind::Service) => proto::ActorKind::Service,
        Some(engine::ActorKind::System) => proto::ActorKind::System,
    }
}

/// The proto number of an outcome.
fn proto_outcome(outcome: Option<engine::Outcome>) -> proto::Outcome {
    match outcome {
        None => proto::Outcome::Unspecified,
        Some(engine::Outcome::Success) => proto::Outcome::Success,
        Some(engine::Outcome::Failure) => proto::Outcome::Failure,
        Some(engine::Outcome::Denied) => proto::Outcome::Denied,
        Some(engine::Outcome::Unknown) => proto::Outcome::Unknown,
    }
}

/// Merges `"sent_ns": sent_ns` into the event's details. `details_json`
/// must be empty or a JSON object without that key, as [`to_proto`] makes
/// it: the member is spliced in after the opening brace, so that stamping a
/// batch just before it is sent costs no parsing or re-serialisation.
pub fn stamp_sent(event: &mut proto::Event, sent_ns: i64) {
    let rest = event
        .details_json
        .strip_prefix('{')
        .map_or("}", str::trim_start);
    let comma = if rest.starts_with('}') { "" } else { "," };
    event.details_json = format!("{{\"{SENT_KEY}\":{sent_ns}{comma}{rest}");
}

/// The `sent_ns` member of `details_json`, when it is a JSON object that
/// has one.
pub fn sent_ns(details_json: &str) -> Option<i64> {
    /// The one member read; serde skips the others without building them.
    #[derive(Deserialize)]
    struct Stamp {
        sent_ns: Option<i64>,
    }
    serde_json::from_str::<Stamp>(details_json).ok()?.sent_ns
}

/// Now, in nanoseconds since the Unix epoch.
pub fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::Generator;

    #[test]
    fn fields_map_one_to_one() {
        let events = Generator::new(5).events(200);
        for event in events {
            let converted = to_proto(event.clone());
            assert_eq!(converted.time_ns, event.time);
            assert_eq!(converted.action, event.action);
            assert_eq!(converted.message, event.message);
            assert_eq!(converted.duration_ms, event.duration_ms);
            let actor = converted.actor.expect("generated events have an actor");
            assert_eq!(actor.id, event.actor.id);
            assert_ne!(actor.kind, proto::ActorKind::Unspecified as i32);
            assert_ne!(converted.outcome, proto::Outcome::Unspecified as i32);
            match event.details {
                None => assert!(converted.details_json.is_empty()),
                Some(map) => assert_eq!(
                    serde_json::from_str::<Value>(&converted.details_json).unwrap(),
                    Value::Object(map)
                ),
            }
        }
    }

    #[test]
    fn the_stamp_is_merged_into_the_details() {
        let mut empty = proto::Event::default();
        stamp_sent(&mut empty, 7);
        assert_eq!(empty.details_json, r#"{"sent_ns":7}"#);

        let mut bare = proto::Event {
            details_json: "{}".into(),
            ..proto::Event::default()
        };
        stamp_sent(&mut bare, 8);
        assert_eq!(bare.details_json, r#"{"sent_ns":8}"#);

        let mut full = proto::Event {
            details_json: json!({"a": {"b": [1, 2]}, "c": "}"}).to_string(),
            ..proto::Event::default()
        };
        stamp_sent(&mut full, 1_700_000_000_000_000_000);
        assert_eq!(
            serde_json::from_str::<Value>(&full.details_json).unwrap(),
            json!({"sent_ns": 1_700_000_000_000_000_000i64, "a": {"b": [1, 2]}, "c": "}"})
        );
        assert_eq!(sent_ns(&full.details_json), Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn records_without_a_stamp_have_no_send_time() {
        assert_eq!(sent_ns(""), None);
        assert_eq!(sent_ns(r#"{"branch":"main"}"#), None);
        assert_eq!(sent_ns("[1]"), None);
    }
}
