//! Sanitising: configured field paths are replaced by `"[redacted]"` before an
//! event is hashed and stored, so secrets that clients send by mistake never
//! reach the disk.
//!
//! A path is either one of the schema's free-text string fields (`reason`,
//! `actor.ip`, `message`, ...) or `details.` followed by a dotted path into the
//! details object (`details.password`, `details.auth.token`). Paths are checked
//! when a log's policy is set, so a typo is an error rather than a silent leak.

use super::Event;
use crate::error::Error;

/// The value that replaces a sanitised field.
pub const REDACTED: &str = "[redacted]";

/// Top-level string fields that may be sanitised. `id` and `action` are left
/// out: idempotency and every query depend on them.
const STRING_FIELDS: [&str; 14] = [
    "tenant",
    "actor.id",
    "actor.display_name",
    "actor.ip",
    "actor.user_agent",
    "actor.session_id",
    "resource.kind",
    "resource.id",
    "resource.name",
    "reason",
    "source",
    "correlation_id",
    "request_id",
    "message",
];

/// A compiled list of field paths to sanitise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sanitizer {
    paths: Vec<Path>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Path {
    Field(&'static str),
    Details(Vec<String>),
}

impl Sanitizer {
    /// Compiles `paths`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first path that is not sanitisable.
    pub fn new(paths: &[String]) -> Result<Sanitizer, Error> {
        let compiled = paths
            .iter()
            .map(|p| {
                if let Some(rest) = p.strip_prefix("details.") {
                    let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
                    if parts.iter().any(String::is_empty) {
                        return Err(Error::invalid(
                            "policy.sanitize",
                            format!("`{p}` has an empty segment"),
                        ));
                    }
                    Ok(Path::Details(parts))
                } else if let Some(field) = STRING_FIELDS.iter().find(|f| **f == p) {
                    Ok(Path::Field(field))
                } else {
                    Err(Error::invalid(
                        "policy.sanitize",
                        format!(
                            "`{p}` is neither `details.<path>` nor one of {}",
                            STRING_FIELDS.join(", ")
                        ),
                    ))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Sanitizer { paths: compiled })
    }

    /// True when there is nothing to sanitise.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Replaces every configured field that is present in `event`.
    pub fn apply(&self, event: &mut Event) {
        for path in &self.paths {
            match path {
                Path::Field(name) => {
                    let slot = field_mut(event, name);
                    if !slot.is_empty() {
                        *slot = REDACTED.to_string();
                    }
                }
                Path::Details(parts) => {
                    if let Some(details) = &mut event.details {
                        redact_in(details, parts);
                    }
                }
            }
        }
    }
}

fn redact_in(map: &mut serde_json::Map<String, serde_json::Value>, parts: &[String]) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    match (map.get_mut(first), rest.is_empty()) {
        (Some(value), true) => *value = serde_json::Value::String(REDACTED.to_string()),
        (Some(serde_json::Value::Object(inner)), false) => redact_in(inner, rest),
        _ => {}
    }
}

fn field_mut<'a>(event: &'a mut Event, name: &str) -> &'a mut String {
    match name {
        "tenant" => &mut event.tenant,
        "actor.id" => &mut event.actor.id,
        "actor.display_name" => &mut event.actor.display_name,
        "actor.ip" => &mut event.actor.ip,
        "actor.user_agent" => &mut event.actor.user_agent,
        "actor.session_id" => &mut event.actor.session_id,
        "resource.kind" => &mut event.resource.kind,
        "resource.id" => &mut event.resource.id,
        "resource.name" => &mut event.resource.name,
        "reason" => &mut event.reason,
        "source" => &mut event.source,
        "correlation_id" => &mut event.correlation_id,
        "request_id" => &mut event.request_id,
        "message" => &mut event.message,
        other => unreachable!("`{other}` is not in STRING_FIELDS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_configured_paths_only() {
        let s = Sanitizer::new(&[
            "details.password".into(),
            "details.auth.token".into(),
            "actor.ip".into(),
            "reason".into(),
        ])
        .unwrap();
        let mut e = Event {
            action: "user.login".into(),
            details: serde_json::json!({"password": "hunter2", "auth": {"token": "t", "kind": "pat"}, "user": "bob"})
                .as_object()
                .cloned(),
            ..Event::default()
        };
        e.actor.ip = "10.0.0.1".into();
        s.apply(&mut e);
        assert_eq!(
            serde_json::Value::Object(e.details.unwrap()),
            serde_json::json!({"password": "[redacted]", "auth": {"token": "[redacted]", "kind": "pat"}, "user": "bob"})
        );
        assert_eq!(e.actor.ip, REDACTED);
        assert_eq!(e.reason, "", "absent fields stay absent");
    }

    #[test]
    fn rejects_unknown_paths() {
        assert!(Sanitizer::new(&["action".into()]).is_err());
        assert!(Sanitizer::new(&["details.".into()]).is_err());
        assert!(Sanitizer::new(&["actor.password".into()]).is_err());
    }
}
