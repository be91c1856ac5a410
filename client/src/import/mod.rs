//! Mapping other systems' audit records to Stele events, for
//! `stele import --format` (`docs/import.md`).
//!
//! Each source maps its native record to an [`Event`] and keeps the
//! original record whole in `details`, so nothing is lost in the mapping.
//!
//! - [`cloudtrail`]: AWS CloudTrail records and delivery files.
//! - [`k8s_audit`]: Kubernetes audit events.
//! - [`github_audit`]: GitHub audit log events (JSON, or CSV rows).
//! - [`ocsf`]: OCSF 1.x API Activity and Authentication events.
//!
//! [`read`] cuts files (gzipped or not, JSON lines, a pretty-printed
//! document, or CSV) into units of JSON text; [`Format::recognise`] tells
//! the sources apart from a first unit. Not built yet: other OCSF classes.

pub mod cloudtrail;
pub mod github_audit;
pub mod k8s_audit;
pub mod ocsf;
pub mod read;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

use crate::Event;

/// The events of one line of input, each mapped or refused with why.
pub type Mapped = Vec<Result<Event, String>>;

/// What a line of input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Stele events in their JSON form.
    Stele,
    /// AWS CloudTrail delivery files or records ([`cloudtrail`]).
    CloudTrail,
    /// Kubernetes audit events ([`k8s_audit`]).
    K8sAudit,
    /// GitHub audit log events ([`github_audit`]).
    GithubAudit,
    /// OCSF events ([`ocsf`]).
    Ocsf,
}

impl Format {
    /// The format of `line`, the first line of an input: a CloudTrail
    /// delivery file (`Records`) or record (`eventSource` and
    /// `eventName`), a Kubernetes audit event (`apiVersion`
    /// `audit.k8s.io/…`), an OCSF event (`class_uid`), a GitHub audit event
    /// (`_document_id`, or `@timestamp` with `action`), or else Stele's own
    /// form (whose errors then name what is wrong). Arrays are recognised
    /// by their first element.
    pub fn recognise(line: &str) -> Format {
        let probe = if line.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<Probe>>(line).map(|all| all.into_iter().next())
        } else {
            serde_json::from_str::<Probe>(line).map(Some)
        };
        let Ok(Some(first)) = probe else {
            return Format::Stele;
        };
        let api = first
            .api_version
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("");
        if first.records.is_some() || (first.event_source.is_some() && first.event_name.is_some()) {
            Format::CloudTrail
        } else if api.starts_with("audit.k8s.io/") {
            Format::K8sAudit
        } else if first.class_uid.is_some() {
            Format::Ocsf
        } else if first.document_id.is_some()
            || (first.timestamp.is_some() && first.action.is_some())
        {
            Format::GithubAudit
        } else {
            Format::Stele
        }
    }

    /// The events of one line, each mapped or refused with why.
    pub fn map_line(self, line: &str) -> Mapped {
        match self {
            Format::Stele => vec![Event::from_json(line).map_err(|e| e.to_string())],
            Format::CloudTrail => cloudtrail::map_line(line),
            Format::K8sAudit => k8s_audit::map_line(line),
            Format::GithubAudit => github_audit::map_line(line),
            Format::Ocsf => ocsf::map_line(line),
        }
    }

    /// Its name for people and for `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Stele => "jsonl",
            Format::CloudTrail => "cloudtrail",
            Format::K8sAudit => "k8s-audit",
            Format::GithubAudit => "github-audit",
            Format::Ocsf => "ocsf",
        }
    }
}

/// The keys [`Format::recognise`] looks at in a record; every value but
/// `apiVersion` is skipped unread, so that telling a 1 MB delivery file's
/// format costs a scan, not a parse.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "Records")]
    records: Option<IgnoredAny>,
    #[serde(rename = "eventSource")]
    event_source: Option<IgnoredAny>,
    #[serde(rename = "eventName")]
    event_name: Option<IgnoredAny>,
    #[serde(rename = "apiVersion")]
    api_version: Option<Value>,
    class_uid: Option<IgnoredAny>,
    #[serde(rename = "_document_id")]
    document_id: Option<IgnoredAny>,
    #[serde(rename = "@timestamp")]
    timestamp: Option<IgnoredAny>,
    action: Option<IgnoredAny>,
}

/// The events of a line holding one JSON event or an array of them, each
/// mapped by `to_event` (an array's errors name the event's position).
pub(crate) fn event_or_array(line: &str, to_event: fn(Value) -> Result<Event, String>) -> Mapped {
    match serde_json::from_str::<Value>(line) {
        Err(e) => vec![Err(format!("not JSON: {e}"))],
        Ok(Value::Array(events)) => events
            .into_iter()
            .enumerate()
            .map(|(i, e)| to_event(e).map_err(|why| format!("event {}: {why}", i + 1)))
            .collect(),
        Ok(event) => vec![to_event(event)],
    }
}

/// A record's fields, kept whole as an event's `details` (each source's
/// `to_event` has checked that the record is an object).
pub(crate) fn into_details(record: Value) -> Option<Map<String, Value>> {
    match record {
        Value::Object(fields) => Some(fields),
        _ => None,
    }
}

/// `s` as one segment of a dotted verb (`action`): letters, digits, `_`
/// and `-` kept, anything else (dots included) as `-`.
pub(crate) fn verb_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Each event's action, actor id and outcome, for tests to compare at a
/// glance.
#[cfg(test)]
pub(crate) fn brief(events: &[Event]) -> Vec<(&str, &str, Option<crate::Outcome>)> {
    events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.actor.as_ref().map_or("", |a| a.id.as_str()),
                e.outcome,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sample_is_recognised_from_its_first_line() {
        let first = |text: &str| text.lines().next().unwrap().to_string();
        for (sample, format) in [
            (
                include_str!("../../tests/data/cloudtrail-delivery.json"),
                Format::CloudTrail,
            ),
            (
                include_str!("../../tests/data/k8s-audit.jsonl"),
                Format::K8sAudit,
            ),
            (
                include_str!("../../tests/data/github-audit.json"),
                Format::GithubAudit,
            ),
            (include_str!("../../tests/data/ocsf.jsonl"), Format::Ocsf),
            (include_str!("../../examples/events.jsonl"), Format::Stele),
        ] {
            assert_eq!(
                Format::recognise(&first(sample)),
                format,
                "{}",
                format.name()
            );
        }
        assert_eq!(
            Format::recognise(r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#),
            Format::CloudTrail
        );
        assert_eq!(Format::recognise("{not json"), Format::Stele);
        assert_eq!(Format::recognise("[]"), Format::Stele);
    }
}
