//! The selection flags shared by `query`, `tail` and `agg`, and the times
//! they accept: RFC 3339 (`2026-11-22T10:00:00Z`), a local date or date and
//! time (`2026-11-22`, `2026-11-22 10:00`), `now`, or a duration ago
//! (`24h`, `90m`, `7d`, `2h ago`).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use stele_client::Selection;

use crate::fail::Failure;

/// Which records, as flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Actor id (repeat for any of several)
    #[arg(long, value_name = "ID")]
    pub actor: Vec<String>,
    /// Action; `git.*` matches a prefix
    #[arg(long)]
    pub action: Vec<String>,
    /// Outcome: success, failure, denied or unknown
    #[arg(long)]
    pub outcome: Vec<String>,
    /// Tenant
    #[arg(long)]
    pub tenant: Vec<String>,
    /// Resource as KIND:ID, or KIND alone
    #[arg(long, value_name = "KIND:ID")]
    pub resource: Vec<String>,
    /// Emitting system
    #[arg(long)]
    pub source: Vec<String>,
    /// Actor IP address
    #[arg(long, value_name = "IP")]
    pub ip: Vec<String>,
    /// Correlation id
    #[arg(long, value_name = "ID")]
    pub correlation_id: Vec<String>,
    /// Request id
    #[arg(long, value_name = "ID")]
    pub request_id: Vec<String>,
    /// Any exact filter as FIELD=VALUE
    #[arg(long, value_name = "FIELD=VALUE")]
    pub filter: Vec<String>,
    /// Events from this long ago on: 24h, 30m, 7d
    #[arg(long, value_name = "DURATION", conflicts_with = "from")]
    pub since: Option<String>,
    /// Events at or after this time (RFC 3339, a local date, or 2h for 2 hours ago)
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Events before this time
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
}

impl FilterArgs {
    /// The selection these flags describe (without full text).
    pub fn selection(&self) -> Result<Selection, Failure> {
        let mut s = Selection::new();
        let exact = [
            ("actor.id", &self.actor),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("tenant", &self.tenant),
            ("source", &self.source),
            ("actor.ip", &self.ip),
            ("correlation_id", &self.correlation_id),
            ("request_id", &self.request_id),
        ];
        for (field, values) in exact {
            if !values.is_empty() {
                s = s.filter(field, values.iter().cloned());
            }
        }
        let (mut kinds, mut ids) = (Vec::new(), Vec::new());
        for resource in &self.resource {
            match resource.split_once(':') {
                Some((kind, id)) => {
                    kinds.push(kind.to_string());
                    ids.push(id.to_string());
                }
                None => kinds.push(resource.clone()),
            }
        }
        if !kinds.is_empty() {
            s = s.filter("resource.kind", kinds);
        }
        if !ids.is_empty() {
            s = s.filter("resource.id", ids);
        }
        for filter in &self.filter {
            let (field, value) = filter.split_once('=').ok_or_else(|| {
                Failure::usage(format!("--filter {filter:?}: expected FIELD=VALUE"))
            })?;
            s = s.filter(field.trim(), [value.trim()]);
        }
        if let Some(since) = &self.since {
            let ago = humantime::parse_duration(since)
                .map_err(|e| Failure::usage(format!("--since {since:?}: {e}")))?;
            s = s.from(ago_from_now(ago, "--since")?);
        }
        if let Some(from) = &self.from {
            s = s.from(parse_time(from).map_err(|e| Failure::usage(format!("--from {e}")))?);
        }
        if let Some(to) = &self.to {
            s = s.to(parse_time(to).map_err(|e| Failure::usage(format!("--to {e}")))?);
        }
        Ok(s)
    }
}

fn ago_from_now(ago: std::time::Duration, flag: &str) -> Result<DateTime<Utc>, Failure> {
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .ok_or_else(|| Failure::usage(format!("{flag}: too long ago")))
}

/// A time as people type it; the error names the text.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(Utc::now());
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time.with_timezone(&Utc));
    }
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
            return local(naive).ok_or_else(|| format!("{text:?}: not a local time"));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return local(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .ok_or_else(|| format!("{text:?}: not a local time"));
    }
    let ago = t.strip_suffix("ago").unwrap_or(t).trim();
    let ago = ago.strip_prefix('-').unwrap_or(ago);
    match humantime::parse_duration(ago) {
        Ok(d) => ago_from_now(d, text).map_err(|f| f.message),
        Err(_) => Err(format!(
            "{text:?}: expected RFC 3339 (2026-11-22T10:00:00Z), a local date (2026-11-22 10:00), `now`, or a duration ago (2h)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let exact = parse_time("2026-11-22T10:15:03.120Z").unwrap();
        assert_eq!(exact.timestamp_millis(), 1_795_342_503_120);
        let ago = parse_time("2h").unwrap();
        let expected = Utc::now() - chrono::Duration::hours(2);
        assert!((ago - expected).num_seconds().abs() < 5);
        assert_eq!(
            parse_time("2h ago").unwrap().timestamp() / 10,
            ago.timestamp() / 10
        );
        assert!(parse_time("2026-11-22").is_ok());
        assert!(parse_time("2026-11-22 10:00").is_ok());
        let err = parse_time("yesterday-ish").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn flags_become_filters() {
        let args = FilterArgs {
            actor: vec!["alice".into()],
            action: vec!["git.*".into()],
            resource: vec!["repository:acme/api".into()],
            filter: vec!["source=ci".into()],
            ..FilterArgs::default()
        };
        let s = args.selection().unwrap();
        let fields: Vec<_> = s
            .filters
            .iter()
            .map(|(f, v)| format!("{f}={}", v.join("|")))
            .collect();
        assert_eq!(
            fields,
            [
                "actor.id=alice",
                "action=git.*",
                "resource.kind=repository",
                "resource.id=acme/api",
                "source=ci"
            ]
        );
        let bad = FilterArgs {
            filter: vec!["nonsense".into()],
            ..FilterArgs::default()
        };
        assert!(bad.selection().unwrap_err().message.contains("FIELD=VALUE"));
    }
}
