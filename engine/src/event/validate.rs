//! Validation of incoming events against the schema and the configured limits.
//!
//! Every rule names the field it checks, so a client learns exactly what to
//! fix. Validation happens before anything is assigned or written: a batch
//! with one bad event is refused whole.

use serde::{Deserialize, Serialize};

use super::Event;
use crate::error::Error;

/// Size limits applied to every event of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest encoded body, in bytes.
    pub max_body_bytes: usize,
    /// Longest string field, in bytes.
    pub max_string_bytes: usize,
    /// Deepest nesting of `details` (the object itself is depth 1).
    pub max_details_depth: usize,
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// Largest batch, counting its encoded bodies.
    pub max_batch_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_string_bytes: 4 << 10,
            max_details_depth: 32,
            max_batch_events: 10_000,
            max_batch_bytes: 32 << 20,
        }
    }
}

/// Longest `actor.ip`: an IP address, or any other source the event's
/// system names (CloudTrail's `AWS Internal`, a service's host name); a
/// DNS name is at most 253 bytes.
const MAX_SOURCE_ADDRESS_BYTES: usize = 255;
/// Longest `action`.
const MAX_ACTION_BYTES: usize = 256;

/// Checks one event; `index` is its position in the batch.
///
/// # Errors
/// [`Error::InvalidEvent`] naming the first offending field.
pub fn validate(event: &Event, index: usize, limits: &Limits) -> Result<(), Error> {
    let bad = |field: &str, reason: String| Error::InvalidEvent {
        index,
        field: field.to_string(),
        reason,
    };
    let strings: [(&str, &str); 16] = [
        ("id", &event.id),
        ("tenant", &event.tenant),
        ("actor.id", &event.actor.id),
        ("actor.display_name", &event.actor.display_name),
        ("actor.ip", &event.actor.ip),
        ("actor.user_agent", &event.actor.user_agent),
        ("actor.session_id", &event.actor.session_id),
        ("action", &event.action),
        ("resource.kind", &event.resource.kind),
        ("resource.id", &event.resource.id),
        ("resource.name", &event.resource.name),
        ("reason", &event.reason),
        ("source", &event.source),
        ("correlation_id", &event.correlation_id),
        ("request_id", &event.request_id),
        ("message", &event.message),
    ];
    for (field, value) in strings {
        if value.len() > limits.max_string_bytes {
            return Err(bad(
                field,
                format!(
                    "{} bytes is over the limit of {} bytes",
                    value.len(),
                    limits.max_string_bytes
                ),
            ));
        }
    }
    check_action(&event.action).map_err(|reason| bad("action", reason))?;
    if event.actor.ip.len() > MAX_SOURCE_ADDRESS_BYTES {
        return Err(bad(
            "actor.ip",
            format!(
                "{} bytes is over the limit of {MAX_SOURCE_ADDRESS_BYTES} bytes for a source address (an IP address, or a host or service name)",
                event.actor.ip.len()
            ),
        ));
    }
    if let Some(details) = &event.details {
        for (key, value) in details {
            check_details(value, 2, limits).map_err(|(mut path, reason)| {
                path.push(key.clone());
                path.push("details".into());
                path.reverse();
                bad(&join_path(&path), reason)
            })?;
        }
    }
    Ok(())
}

/// Checks the encoded size of event `index`'s body.
///
/// # Errors
/// [`Error::InvalidEvent`] on the pseudo-field `body`.
pub fn check_body_size(len: usize, index: usize, limits: &Limits) -> Result<(), Error> {
    if len > limits.max_body_bytes {
        return Err(Error::InvalidEvent {
            index,
            field: "body".into(),
            reason: format!(
                "encoded event is {len} bytes, over the limit of {} bytes",
                limits.max_body_bytes
            ),
        });
    }
    Ok(())
}

/// `action` is required and is a dotted verb: segments of letters, digits,
/// `_` and `-`, separated by single dots.
fn check_action(action: &str) -> Result<(), String> {
    if action.is_empty() {
        return Err("is required".into());
    }
    if action.len() > MAX_ACTION_BYTES {
        return Err(format!(
            "{} bytes is over the limit of {MAX_ACTION_BYTES} bytes",
            action.len()
        ));
    }
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !action.split('.').all(ok_segment) {
        return Err(format!(
            "`{action}` is not a dotted verb such as `git.push` (letters, digits, `_`, `-`, separated by single dots)"
        ));
    }
    Ok(())
}

/// Depth and string limits inside `details`. On failure, returns the path
/// from the offending value up to `value` (innermost first; array indexes as
/// `[i]`), built only then, so the common case allocates nothing.
fn check_details(
    value: &serde_json::Value,
    depth: usize,
    limits: &Limits,
) -> Result<(), (Vec<String>, String)> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.len() > limits.max_string_bytes => Err((
            Vec::new(),
            format!(
                "{} bytes is over the limit of {} bytes",
                s.len(),
                limits.max_string_bytes
            ),
        )),
        Value::Array(_) | Value::Object(_) if depth > limits.max_details_depth => Err((
            Vec::new(),
            format!(
                "nested deeper than the limit of {} levels",
                limits.max_details_depth
            ),
        )),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            check_details(item, depth + 1, limits).map_err(|(mut path, reason)| {
                path.push(format!("[{i}]"));
                (path, reason)
            })
        }),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            check_details(item, depth + 1, limits).map_err(|(mut path, reason)| {
                path.push(key.clone());
                (path, reason)
            })
        }),
        _ => Ok(()),
    }
}

/// `details`, `a`, `[0]`, `b` → `details.a[0].b`.
fn join_path(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts {
        if !out.is_empty() && !part.starts_with('[') {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> Event {
        Event {
            action: action.into(),
            ..Event::default()
        }
    }

    fn field_of(result: Result<(), Error>) -> String {
        match result {
            Err(Error::InvalidEvent { field, .. }) => field,
            other => panic!("expected an invalid event, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_minimal_event() {
        validate(&event("user.login"), 0, &Limits::default()).unwrap();
        validate(&event("login"), 0, &Limits::default()).unwrap();
    }

    #[test]
    fn names_the_offending_field() {
        let limits = Limits::default();
        assert_eq!(field_of(validate(&event(""), 0, &limits)), "action");
        assert_eq!(
            field_of(validate(&event("git..push"), 0, &limits)),
            "action"
        );
        assert_eq!(field_of(validate(&event("git push"), 0, &limits)), "action");

        let mut e = event("a.b");
        for source in [
            "999.1.1.1",
            "AWS Internal",
            "secretsmanager.amazonaws.com",
            "::1",
        ] {
            e.actor.ip = source.into();
            validate(&e, 0, &limits).unwrap();
        }
        e.actor.ip = "a".repeat(256);
        assert_eq!(field_of(validate(&e, 0, &limits)), "actor.ip");

        let mut e = event("a.b");
        e.message = "x".repeat(limits.max_string_bytes + 1);
        assert_eq!(field_of(validate(&e, 0, &limits)), "message");

        let mut e = event("a.b");
        e.details = serde_json::json!({"a": {"b": ["x".repeat(5000)]}})
            .as_object()
            .cloned();
        assert_eq!(field_of(validate(&e, 3, &limits)), "details.a.b[0]");
    }

    #[test]
    fn limits_details_depth() {
        let limits = Limits {
            max_details_depth: 2,
            ..Limits::default()
        };
        let mut e = event("a.b");
        e.details = serde_json::json!({"a": {"b": 1}}).as_object().cloned();
        validate(&e, 0, &limits).unwrap();
        e.details = serde_json::json!({"a": {"b": {"c": 1}}})
            .as_object()
            .cloned();
        assert_eq!(field_of(validate(&e, 0, &limits)), "details.a.b");
    }

    #[test]
    fn limits_body_size() {
        let limits = Limits::default();
        check_body_size(limits.max_body_bytes, 0, &limits).unwrap();
        assert_eq!(
            field_of(check_body_size(limits.max_body_bytes + 1, 0, &limits)),
            "body"
        );
    }
}
