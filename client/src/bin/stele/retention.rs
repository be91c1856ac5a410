//! `stele retention show|apply|set`: a log's retention as it stands, what
//! applying it now does, and its age and size limits. Also the JSON forms
//! of the retention messages that `archive`, `hold` and `lock` print too.

use std::io::Write;

use comfy_table::Cell;
use serde_json::{Value, json};
use stele_client::proto::{self, RetentionRule};
use stele_client::{Client, Limit};

use crate::fail::Failure;
use crate::output::{count, json_pretty, local_time_ns, number, progress_bar, table, thousands};
use crate::units::{human_bytes, human_ms, or_none, parse_bytes, parse_duration};

/// Show, apply and change a log's retention
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Policy, lock, holds, anchor, archived segments, and what applying
    /// the policy now would do
    #[command(after_help = "Example:\n  stele retention show --log audit")]
    Show {
        /// The log
        #[arg(long)]
        log: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Apply the policy now: due segments are archived (when the server has
    /// an archive target) and leave local storage, oldest first
    #[command(
        after_help = "The retention lock and legal holds still apply: a protected segment
stops the pass, and the reason is printed. Each removal is recorded in the
_system log.

Examples:
  stele retention apply --log audit --dry-run
  stele retention apply --log audit"
    )]
    Apply {
        /// The log
        #[arg(long)]
        log: String,
        /// Only say what would leave; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Change the age and size limits (the lock is raised with `stele lock
    /// raise`)
    #[command(
        after_help = "DURATION is 90d, 36h, 7y (a year is 365.25 days); SIZE is 10GiB, 500MB
or a number of bytes; `none` removes the limit.

Examples:
  stele retention set --log audit --max-age 90d
  stele retention set --log audit --max-bytes 10GiB --max-age none"
    )]
    Set {
        /// The log
        #[arg(long)]
        log: String,
        /// Sealed segments whose newest record is older than this leave
        /// local storage
        #[arg(long, value_name = "DURATION|none")]
        max_age: Option<String>,
        /// The oldest sealed segments leave while the log's segment files
        /// add up to more than this
        #[arg(long, value_name = "SIZE|none")]
        max_bytes: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("stdout: {e}"))
}

/// Runs `stele retention ...`.
pub async fn run(command: RetentionCommand, client: Client) -> Result<(), Failure> {
    match command {
        RetentionCommand::Show { log, json } => show(&client, &log, json).await,
        RetentionCommand::Apply { log, dry_run, json } => apply(&client, &log, dry_run, json).await,
        RetentionCommand::Set {
            log,
            max_age,
            max_bytes,
            json,
        } => {
            if max_age.is_none() && max_bytes.is_none() {
                return Err(Failure::usage(
                    "retention set: give --max-age, --max-bytes or both",
                ));
            }
            let max_age = match &max_age {
                None => Limit::Keep,
                Some(t) => {
                    or_none(t, |t| parse_duration("max-age", t))?.map_or(Limit::Remove, Limit::Set)
                }
            };
            let max_bytes = match &max_bytes {
                None => Limit::Keep,
                Some(t) => {
                    or_none(t, |t| parse_bytes("max-bytes", t))?.map_or(Limit::Remove, Limit::Set)
                }
            };
            let policy = client.set_retention(&log, max_age, max_bytes).await?;
            let mut out = std::io::stdout().lock();
            if json {
                return json_pretty(&mut out, &policy_json(&policy)).map_err(io);
            }
            writeln!(
                out,
                "retention of {log}: max age {}, max bytes {}, lock {}",
                age(policy.max_age_ms),
                size(policy.max_bytes),
                age(policy.lock_ms)
            )
            .map_err(io)
        }
    }
}

async fn show(client: &Client, log: &str, json: bool) -> Result<(), Failure> {
    let info = client.retention(log).await?;
    let mut out = std::io::stdout().lock();
    if json {
        return json_pretty(&mut out, &info_json(&info)).map_err(io);
    }
    let policy = info.policy.unwrap_or_default();
    let mut lines = vec![
        ("log", info.log.clone()),
        ("max age", age(policy.max_age_ms)),
        ("max bytes", size(policy.max_bytes)),
        (
            "lock",
            match policy.lock_ms {
                None => "none".into(),
                Some(ms) => format!("{} (can be raised, never lowered)", human_ms(ms)),
            },
        ),
        ("local from", format!("seq {}", info.first_seq)),
        (
            "archive",
            if info.archive_target.is_empty() {
                "none: due segments are deleted".into()
            } else {
                info.archive_target.clone()
            },
        ),
    ];
    if info.holds.is_empty() {
        lines.push(("holds", "none".into()));
    }
    for hold in &info.holds {
        lines.push(("hold", hold_line(hold)));
    }
    if let Some(anchor) = &info.anchor {
        lines.push((
            "anchor",
            format!(
                "records before seq {} left in {}; signed {}",
                anchor.first_seq,
                count(anchor.removals.len() as u64, "removal"),
                local_time_ns(anchor.time_ns)
            ),
        ));
    }
    if !info.archived.is_empty() {
        let restored = info.archived.iter().filter(|a| a.local).count();
        lines.push((
            "archived",
            format!(
                "{} (seqs {}..{}), {restored} restored",
                count(info.archived.len() as u64, "segment"),
                info.archived.first().map_or(0, |a| a.first_seq),
                info.archived.last().map_or(0, |a| a.next_seq),
            ),
        ));
    }
    let plan = info.plan.unwrap_or_default();
    lines.push(("due now", plan_summary(&plan)));
    if let Some(blocked) = &plan.blocked {
        lines.push(("blocked", blocked_line(blocked)));
    }
    for (key, value) in lines {
        writeln!(out, "{key:>10}  {value}").map_err(io)?;
    }
    Ok(())
}

async fn apply(client: &Client, log: &str, dry_run: bool, json: bool) -> Result<(), Failure> {
    let bar = progress_bar(0, "applying retention");
    let result = client
        .apply_retention(log, dry_run, |p| {
            bar.set_length(u64::from(p.total));
            bar.set_position(u64::from(p.done));
            bar.set_message(format!("segment {}", p.first_seq));
        })
        .await;
    bar.finish_and_clear();
    let result = result?;
    let mut out = std::io::stdout().lock();
    if json {
        return json_pretty(&mut out, &apply_json(&result)).map_err(io);
    }
    let plan = result.plan.clone().unwrap_or_default();
    let how = if result.archives {
        "archived, then removed"
    } else {
        "deleted (no archive target)"
    };
    if result.dry_run {
        writeln!(
            out,
            "dry run: {} of {log} would leave local storage: {how}",
            count(plan.remove.len() as u64, "segment")
        )
        .map_err(io)?;
        if !plan.remove.is_empty() {
            let mut t = table(&["SEQS", "RECORDS", "FILE BYTES", "NEWEST INGEST", "RULE"]);
            for r in &plan.remove {
                t.add_row(vec![
                    Cell::new(format!("{}..{}", r.first_seq, r.next_seq)),
                    number(r.next_seq - r.first_seq),
                    number(r.bytes),
                    Cell::new(local_time_ns(r.max_ingest_time_ns)),
                    Cell::new(rule_name(r.rule)),
                ]);
            }
            writeln!(out, "{t}").map_err(io)?;
        }
    } else {
        let bytes: u64 = result.removed.iter().map(|r| r.bytes).sum();
        match (result.removed.first(), result.removed.last()) {
            (Some(first), Some(last)) => writeln!(
                out,
                "{} of {log} left local storage (seqs {}..{}, {} bytes): {how}",
                count(result.removed.len() as u64, "segment"),
                first.first_seq,
                last.next_seq,
                thousands(bytes)
            ),
            _ => writeln!(out, "nothing of {log} is due"),
        }
        .map_err(io)?;
        for r in result.removed.iter().filter(|r| !r.archived.is_empty()) {
            writeln!(
                out,
                "  {}..{} archived at {}",
                r.first_seq, r.next_seq, r.archived
            )
            .map_err(io)?;
        }
        writeln!(out, "{log} now starts at seq {}", result.first_seq).map_err(io)?;
    }
    if let Some(blocked) = &plan.blocked {
        writeln!(out, "blocked: {}", blocked_line(blocked)).map_err(io)?;
    }
    Ok(())
}

/// `90d`, or `none`.
pub fn age(ms: Option<u64>) -> String {
    ms.map_or_else(|| "none".into(), human_ms)
}

/// `10 GiB`, or `none`.
pub fn size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "none".into(), human_bytes)
}

/// `max_age`, `max_bytes` or `unknown`.
pub fn rule_name(rule: i32) -> &'static str {
    match RetentionRule::try_from(rule) {
        Ok(RetentionRule::MaxAge) => "max_age",
        Ok(RetentionRule::MaxBytes) => "max_bytes",
        _ => "unknown",
    }
}

/// "the log" or "segment N".
pub fn scope(segment: Option<u64>) -> String {
    segment.map_or_else(|| "the log".into(), |s| format!("segment {s}"))
}

/// A hold in one line.
pub fn hold_line(h: &proto::Hold) -> String {
    format!(
        "{}: {} (set by {}, {})",
        scope(h.segment),
        h.reason,
        h.set_by,
        local_time_ns(h.set_ns)
    )
}

fn plan_summary(plan: &proto::RetentionPlan) -> String {
    match (plan.remove.first(), plan.remove.last()) {
        (Some(first), Some(last)) => format!(
            "{} (seqs {}..{}, {} bytes)",
            count(plan.remove.len() as u64, "segment"),
            first.first_seq,
            last.next_seq,
            thousands(plan.remove.iter().map(|r| r.bytes).sum())
        ),
        _ => "nothing".into(),
    }
}

fn blocked_line(b: &proto::Blocked) -> String {
    format!(
        "segment {}..{} is due ({}) but stays: {}",
        b.first_seq,
        b.next_seq,
        rule_name(b.rule),
        b.reason
    )
}

/// The JSON form of a retention policy (`null` for no limit).
pub fn policy_json(p: &proto::RetentionPolicy) -> Value {
    json!({ "max_age_ms": p.max_age_ms, "max_bytes": p.max_bytes, "lock_ms": p.lock_ms })
}

/// The JSON form of a hold.
pub fn hold_json(h: &proto::Hold) -> Value {
    json!({ "segment": h.segment, "reason": h.reason, "set_by": h.set_by, "set_ns": h.set_ns })
}

/// The JSON form of an archived segment.
pub fn archived_json(a: &proto::ArchivedSegment) -> Value {
    json!({
        "first_seq": a.first_seq, "next_seq": a.next_seq,
        "min_time_ns": a.min_time_ns, "max_time_ns": a.max_time_ns,
        "min_ingest_time_ns": a.min_ingest_time_ns, "max_ingest_time_ns": a.max_ingest_time_ns,
        "prev_chain_hash": hex::encode(&a.prev_chain_hash),
        "last_chain_hash": hex::encode(&a.last_chain_hash),
        "sha256": hex::encode(&a.sha256), "bytes": a.bytes, "location": a.location,
        "archived_ns": a.archived_ns, "local": a.local, "kept_until_ns": a.kept_until_ns,
    })
}

fn removal_json(r: &proto::Removal) -> Value {
    json!({
        "first_seq": r.first_seq, "next_seq": r.next_seq,
        "last_chain_hash": hex::encode(&r.last_chain_hash),
        "min_ingest_time_ns": r.min_ingest_time_ns, "max_ingest_time_ns": r.max_ingest_time_ns,
        "bytes": r.bytes, "rule": rule_name(r.rule),
        "archived": (!r.archived.is_empty()).then_some(&r.archived), "time_ns": r.time_ns,
    })
}

fn plan_json(p: &proto::RetentionPlan) -> Value {
    json!({
        "now_ns": p.now_ns,
        "remove": p.remove.iter().map(|r| json!({
            "first_seq": r.first_seq, "next_seq": r.next_seq, "bytes": r.bytes,
            "max_ingest_time_ns": r.max_ingest_time_ns, "rule": rule_name(r.rule),
        })).collect::<Vec<_>>(),
        "blocked": p.blocked.as_ref().map(|b| json!({
            "first_seq": b.first_seq, "next_seq": b.next_seq,
            "rule": rule_name(b.rule), "reason": b.reason,
        })),
    })
}

fn info_json(info: &proto::RetentionInfo) -> Value {
    json!({
        "log": info.log,
        "policy": policy_json(&info.policy.unwrap_or_default()),
        "holds": info.holds.iter().map(hold_json).collect::<Vec<_>>(),
        "anchor": info.anchor.as_ref().map(|a| json!({
            "first_seq": a.first_seq, "head": hex::encode(&a.head), "time_ns": a.time_ns,
            "public_key": hex::encode(&a.public_key), "signature": hex::encode(&a.signature),
            "removals": a.removals.iter().map(removal_json).collect::<Vec<_>>(),
        })),
        "archived": info.archived.iter().map(archived_json).collect::<Vec<_>>(),
        "plan": plan_json(&info.plan.clone().unwrap_or_default()),
        "archive_target": (!info.archive_target.is_empty()).then_some(&info.archive_target),
        "first_seq": info.first_seq,
    })
}

fn apply_json(r: &proto::ApplyRetentionResult) -> Value {
    json!({
        "dry_run": r.dry_run,
        "plan": plan_json(&r.plan.clone().unwrap_or_default()),
        "archives": r.archives,
        "removed": r.removed.iter().map(removal_json).collect::<Vec<_>>(),
        "first_seq": r.first_seq,
    })
}
