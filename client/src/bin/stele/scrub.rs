//! `stele scrub`: set a log's scrubbing rules, and try rules on sample
//! events (`docs/scrubbing.md`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use stele_client::import::{Format, read};
use stele_client::proto;
use stele_client::{Client, Event};

use crate::fail::Failure;
use crate::output::json_pretty;

/// Set a log's scrubbing rules, and try rules on sample events
#[derive(Debug, clap::Subcommand)]
pub enum ScrubCommand {
    /// Replace a log's scrubbing rules (recorded in `_system`)
    #[command(after_help = "Examples:
  stele scrub set --log audit --builtin all
  stele scrub set --log audit --builtin jwt --builtin credit_card --custom 'ticket=TS-[0-9]{6}'
  stele scrub set --log audit --none")]
    Set {
        /// The log
        #[arg(long)]
        log: String,
        #[command(flatten)]
        rules: RuleArgs,
        /// Turn scrubbing off
        #[arg(long, conflicts_with_all = ["builtin", "custom"])]
        none: bool,
    },
    /// Show what the rules would change on sample events, storing nothing
    #[command(after_help = "Examples:
  stele scrub test --log audit samples.jsonl
  stele scrub test --log audit --builtin all cloudtrail/2026/12/05/

FILE holds events as `stele import` reads them (Stele JSON Lines, CloudTrail,
Kubernetes, GitHub or OCSF records, gzipped or not); with no --builtin or
--custom, the log's own rules apply.")]
    Test {
        /// The log
        #[arg(long)]
        log: String,
        /// Events to try: a file or a directory
        file: PathBuf,
        #[command(flatten)]
        rules: RuleArgs,
        /// Print every event as it would be stored, as JSON
        #[arg(long)]
        json: bool,
    },
}

/// Rules given on the command line.
#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// A built-in rule to turn on, or `all` (repeatable)
    #[arg(long, value_name = "RULE")]
    builtin: Vec<String>,
    /// A rule of the log's own: NAME=REGEX (repeatable)
    #[arg(long, value_name = "NAME=REGEX")]
    custom: Vec<String>,
}

impl RuleArgs {
    /// The rules, or `None` when none were given.
    pub fn rules(&self) -> Result<Option<proto::ScrubPolicy>, Failure> {
        rules(&self.builtin, &self.custom, "custom")
    }
}

/// Rules from built-in names and `NAME=REGEX` custom rules (given with
/// `--{flag}`), or `None` when there are none.
pub fn rules(
    builtin: &[String],
    custom: &[String],
    flag: &str,
) -> Result<Option<proto::ScrubPolicy>, Failure> {
    if builtin.is_empty() && custom.is_empty() {
        return Ok(None);
    }
    let custom = custom
        .iter()
        .map(|c| {
            let (name, pattern) = c
                .split_once('=')
                .ok_or_else(|| Failure::usage(format!("--{flag} {c:?}: expected NAME=REGEX")))?;
            Ok(proto::ScrubRule {
                name: name.into(),
                pattern: pattern.into(),
            })
        })
        .collect::<Result<_, Failure>>()?;
    Ok(Some(proto::ScrubPolicy {
        builtin: builtin.to_vec(),
        custom,
    }))
}

/// A line for the rules: `jwt, credit_card; custom: ticket`, or `none`.
pub fn describe(rules: &proto::ScrubPolicy) -> String {
    let mut parts = Vec::new();
    if !rules.builtin.is_empty() {
        parts.push(rules.builtin.join(", "));
    }
    if !rules.custom.is_empty() {
        let names: Vec<&str> = rules.custom.iter().map(|r| r.name.as_str()).collect();
        parts.push(format!("custom: {}", names.join(", ")));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("stdout: {e}"))
}

/// Runs `stele scrub ...`.
pub async fn run(command: ScrubCommand, client: Client) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        ScrubCommand::Set { log, rules, none } => {
            let rules = match (rules.rules()?, none) {
                (Some(rules), _) => rules,
                (None, true) => proto::ScrubPolicy::default(),
                (None, false) => {
                    return Err(Failure::usage(
                        "name the rules (--builtin, --custom) or --none",
                    ));
                }
            };
            let now = client.set_scrub(&log, rules).await?;
            writeln!(out, "scrubbing rules of {log}: {}", describe(&now)).map_err(io)
        }
        ScrubCommand::Test {
            log,
            file,
            rules,
            json,
        } => {
            let events = samples(&file)?;
            let tried = client.test_scrub(&log, &events, rules.rules()?).await?;
            if json {
                let all: Vec<_> = tried
                    .iter()
                    .map(|t| serde_json::json!({"event": t.event, "fired": t.fired}))
                    .collect();
                return json_pretty(&mut out, &all).map_err(io);
            }
            let mut totals = std::collections::BTreeMap::<&str, u64>::new();
            let mut changed = 0;
            for (i, t) in tried.iter().enumerate() {
                if t.fired.is_empty() {
                    continue;
                }
                changed += 1;
                let fired: Vec<String> = t
                    .fired
                    .iter()
                    .map(|(rule, n)| format!("{rule} ×{n}"))
                    .collect();
                writeln!(
                    out,
                    "event {} ({}): {}",
                    i + 1,
                    t.event.action,
                    fired.join(", ")
                )
                .map_err(io)?;
                for (field, before, after) in differences(&events[i], &t.event) {
                    writeln!(
                        out,
                        "  {field}: {before}\n  {:width$}→ {after}",
                        "",
                        width = field.len()
                    )
                    .map_err(io)?;
                }
                for (rule, n) in &t.fired {
                    *totals.entry(rule).or_default() += n;
                }
            }
            let summary: Vec<String> = totals
                .iter()
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect();
            writeln!(
                out,
                "{changed} of {} events would change{}{}",
                tried.len(),
                if summary.is_empty() { "" } else { ": " },
                summary.join(", ")
            )
            .map_err(io)
        }
    }
}

/// The events of `path`, a file or a directory, as `stele import` reads
/// them.
fn samples(path: &std::path::Path) -> Result<Vec<Event>, Failure> {
    let files = read::files(path).map_err(Failure::usage)?;
    let mut events = Vec::new();
    for file in files {
        let mut format = None;
        for unit in read::open(&file, Arc::new(AtomicU64::new(0))).map_err(Failure::usage)? {
            let unit = unit
                .map_err(|u| Failure::usage(format!("{}:{}: {}", file.display(), u.line, u.why)))?;
            let format = *format.get_or_insert_with(|| Format::recognise(&unit.text));
            for mapped in format.map_line(&unit.text) {
                events.push(mapped.map_err(|why| {
                    Failure::usage(format!("{}:{}: {why}", file.display(), unit.line))
                })?);
            }
        }
    }
    Ok(events)
}

/// The fields whose JSON differs between `before` and `after`, by dotted
/// path, with both values (`details._scrubbed` left out: the summary says
/// it).
fn differences(before: &Event, after: &Event) -> Vec<(String, String, String)> {
    let a = serde_json::to_value(before).unwrap_or_default();
    let mut b = serde_json::to_value(after).unwrap_or_default();
    if let Some(event) = b.as_object_mut() {
        let details = event.get_mut("details").and_then(|d| d.as_object_mut());
        if let Some(details) = details {
            details.remove("_scrubbed");
            if details.is_empty() && a.get("details").is_none() {
                event.remove("details");
            }
        }
    }
    let mut out = Vec::new();
    walk(&a, &b, String::new(), &mut out);
    out
}

fn walk(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: String,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    sub,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(p, q, format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push((path, a.to_string(), b.to_string())),
        _ => {}
    }
}
