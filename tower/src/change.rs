//! The change-audit hook: a handler states what it changed, before and
//! after, and the layer records it in the event's `details.change`.
//!
//! The layer never reads request or response bodies; this hook is the only
//! way content enters an event, and only what the handler hands over. The
//! log's own redaction (and scrubbing, where the log has it) applies to it
//! like to any `details`.

use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value};

/// The change a request made, supplied by its handler. The layer puts one
/// in every captured request's extensions; in axum, take it with
/// `Extension<Change>`.
///
/// ```
/// use stele_tower::Change;
/// # let change = Change::default();
/// change.record(
///     &serde_json::json!({"name": "nightly", "cron": "0 2 * * *"}),
///     &serde_json::json!({"name": "nightly", "cron": "0 3 * * *"}),
/// )?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Change(Arc<Mutex<Option<Value>>>);

impl Change {
    /// Records `before` and `after` (replacing an earlier record), with the
    /// paths whose values differ.
    ///
    /// # Errors
    /// When either does not serialize to JSON.
    pub fn record(
        &self,
        before: &impl Serialize,
        after: &impl Serialize,
    ) -> serde_json::Result<()> {
        let before = serde_json::to_value(before)?;
        let after = serde_json::to_value(after)?;
        let mut changed = Vec::new();
        diff(&before, &after, &mut String::new(), &mut changed);
        let mut entry = Map::new();
        entry.insert("before".into(), before);
        entry.insert("after".into(), after);
        entry.insert(
            "changed".into(),
            changed.into_iter().map(Value::String).collect(),
        );
        *self.0.lock() = Some(Value::Object(entry));
        Ok(())
    }

    /// What was recorded, once.
    pub(crate) fn take(&self) -> Option<Value> {
        self.0.lock().take()
    }
}

/// The dotted paths at which `a` and `b` differ: objects are compared key
/// by key, anything else as a whole.
fn diff(a: &Value, b: &Value, path: &mut String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            keys.sort();
            for key in keys {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                diff(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    path,
                    out,
                );
                path.truncate(len);
            }
        }
        _ if a != b => out.push(if path.is_empty() {
            "$".into()
        } else {
            path.clone()
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_both_sides_and_the_paths_that_differ() {
        let change = Change::default();
        change
            .record(
                &json!({"name": "n", "cron": "0 2", "owner": {"team": "a", "on_call": "x"}, "old": 1}),
                &json!({"name": "n", "cron": "0 3", "owner": {"team": "b", "on_call": "x"}, "new": true}),
            )
            .unwrap();
        let v = change.take().unwrap();
        assert_eq!(v["changed"], json!(["cron", "new", "old", "owner.team"]));
        assert_eq!(v["before"]["cron"], "0 2");
        assert_eq!(v["after"]["cron"], "0 3");
        assert!(change.take().is_none());
        change.record(&1, &2).unwrap();
        assert_eq!(change.take().unwrap()["changed"], json!(["$"]));
    }
}
