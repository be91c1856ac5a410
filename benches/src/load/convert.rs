//! The send-time stamp that lets a subscriber measure its lag.
//!
//! Generated events become API events with the server's own conversion
//! (`stele_server::convert::event_to_proto`). The event time stays the
//! generator's (realistic, out of order): the time the batch was sent
//! travels instead as `"sent_ns"` inside `details_json`, in nanoseconds since
//! the Unix epoch, and a subscriber's lag is the time it received the record
//! minus that.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use stele_proto::v1 as proto;

/// The key of the send time in `details_json`; the generator never uses it.
pub const SENT_KEY: &str = "sent_ns";

/// Merges `"sent_ns": sent_ns` into the event's details. `details_json`
/// must be empty or a JSON object without that key, as the conversion
/// makes it: the member is spliced in after the opening brace, so that stamping a
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
    if !details_json.trim_start().starts_with('{') {
        return None;
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
