//! The stored body of an event: the bytes the chain commits to.
//!
//! ```text
//! Format: body = { version: u8 = 1 | bincode-2 standard (varint) encoding of:
//!   id: str, time: i64, tenant: str,
//!   actor: { id: str, kind: Option<u8 enum>, display_name: str, ip: str,
//!            user_agent: str, session_id: str },
//!   action: str, resource: { kind: str, id: str, name: str },
//!   outcome: Option<u8 enum>, reason: str, source: str, correlation_id: str,
//!   request_id: str, duration_ms: Option<u64>, message: str,
//!   details: str (compact JSON of the object, empty when absent) }
//! ```
//!
//! # Invariants
//! A stored body always has its `time` set (the ingest time when the client
//! left it out) and its `id` set. Decoding rejects trailing bytes and unknown
//! versions, so one body has exactly one meaning.

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

use super::Event;

/// Version byte that starts every body written by this code.
pub const BODY_VERSION: u8 = 1;

/// Decoding never claims more memory than this, whatever lengths a damaged
/// body declares; it is above every configurable body limit.
const DECODE_CONFIG: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ 64 << 20 }>,
> = bincode::config::standard().with_limit::<{ 64 << 20 }>();

/// Encodes an event whose `time` and `id` are already set.
pub fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(event, &event.id, event.time.unwrap_or_default(), &mut out);
    out
}

/// Appends the body of `event` with `id` and `time` in place of its own
/// (the engine's defaults for an event that came without them).
pub fn encode_into(event: &Event, id: &str, time: i64, out: &mut Vec<u8>) {
    out.push(BODY_VERSION);
    let wire = Wire { event, id, time };
    bincode::encode_into_std_write(wire, out, bincode::config::standard())
        .expect("encoding into a Vec cannot fail");
}

/// Decodes a stored body.
///
/// # Errors
/// A description of what is wrong, for the caller to attach a location to.
pub fn decode(body: &[u8]) -> Result<Event, String> {
    let Some((&version, rest)) = body.split_first() else {
        return Err("empty body".into());
    };
    if version != BODY_VERSION {
        return Err(format!("unknown body version {version}"));
    }
    let (OwnedWire(event), used) = bincode::decode_from_slice::<OwnedWire, _>(rest, DECODE_CONFIG)
        .map_err(|e| format!("undecodable body: {e}"))?;
    if used != rest.len() {
        return Err(format!(
            "{} trailing bytes after the body",
            rest.len() - used
        ));
    }
    Ok(event)
}

/// The event `time` of a stored body, read without decoding the rest.
pub fn time_of(body: &[u8]) -> Option<i64> {
    let (&version, rest) = body.split_first()?;
    if version != BODY_VERSION {
        return None;
    }
    bincode::borrow_decode_from_slice::<(&str, i64), _>(rest, DECODE_CONFIG)
        .ok()
        .map(|((_, time), _)| time)
}

/// The event `id` of a stored body, read without decoding the rest.
pub fn id_of(body: &[u8]) -> Option<&str> {
    let (&version, rest) = body.split_first()?;
    if version != BODY_VERSION {
        return None;
    }
    bincode::borrow_decode_from_slice::<&str, _>(rest, DECODE_CONFIG)
        .ok()
        .map(|(id, _)| id)
}

/// Borrowing encoder view of an event, with its effective id and time.
struct Wire<'a> {
    event: &'a Event,
    id: &'a str,
    time: i64,
}

impl Encode for Wire<'_> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        let ev = self.event;
        self.id.encode(e)?;
        self.time.encode(e)?;
        ev.tenant.encode(e)?;
        ev.actor.encode(e)?;
        ev.action.encode(e)?;
        ev.resource.encode(e)?;
        ev.outcome.encode(e)?;
        ev.reason.encode(e)?;
        ev.source.encode(e)?;
        ev.correlation_id.encode(e)?;
        ev.request_id.encode(e)?;
        ev.duration_ms.encode(e)?;
        ev.message.encode(e)?;
        thread_local! {
            /// Reused for the JSON text of `details`, which bincode then copies.
            static DETAILS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        DETAILS.with_borrow_mut(|json| {
            json.clear();
            if let Some(map) = &ev.details {
                serde_json::to_writer(&mut *json, map).expect("a JSON map always serialises");
            }
            std::str::from_utf8(json)
                .expect("serde_json writes UTF-8")
                .encode(e)
        })
    }
}

/// Owning decoder of an event.
struct OwnedWire(Event);

impl<C> Decode<C> for OwnedWire {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let id = String::decode(d)?;
        let time = i64::decode(d)?;
        let tenant = String::decode(d)?;
        let actor = Decode::decode(d)?;
        let action = String::decode(d)?;
        let resource = Decode::decode(d)?;
        let outcome = Decode::decode(d)?;
        let reason = String::decode(d)?;
        let source = String::decode(d)?;
        let correlation_id = String::decode(d)?;
        let request_id = String::decode(d)?;
        let duration_ms = Decode::decode(d)?;
        let message = String::decode(d)?;
        let details_json = String::decode(d)?;
        let details = if details_json.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&details_json)
                    .map_err(|e| DecodeError::OtherString(format!("details: {e}")))?,
            )
        };
        Ok(OwnedWire(Event {
            id,
            time: Some(time),
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
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, ActorKind, Outcome, Resource};

    fn sample() -> Event {
        Event {
            id: "e-1".into(),
            time: Some(1_700_000_000_123_456_789),
            tenant: "acme".into(),
            actor: Actor {
                id: "alice".into(),
                kind: Some(ActorKind::User),
                ip: "203.0.113.7".into(),
                ..Actor::default()
            },
            action: "git.push".into(),
            resource: Resource {
                kind: "repository".into(),
                id: "acme/api".into(),
                name: String::new(),
            },
            outcome: Some(Outcome::Denied),
            duration_ms: Some(12),
            message: "alice pushed".into(),
            details: serde_json::json!({"branch": "main", "n": [1, 2]})
                .as_object()
                .cloned(),
            ..Event::default()
        }
    }

    #[test]
    fn round_trips() {
        let event = sample();
        let body = encode(&event);
        assert_eq!(decode(&body).unwrap(), event);
        assert_eq!(time_of(&body), event.time);
        assert_eq!(id_of(&body), Some(event.id.as_str()));
    }

    #[test]
    fn rejects_unknown_versions_truncation_and_trailing_bytes() {
        let mut body = encode(&sample());
        assert!(decode(&[]).is_err());
        let mut wrong_version = body.clone();
        wrong_version[0] = 9;
        assert!(decode(&wrong_version).unwrap_err().contains("version 9"));
        assert!(decode(&body[..body.len() - 3]).is_err());
        body.push(0);
        assert!(decode(&body).unwrap_err().contains("trailing"));
    }
}
