//! `stele logs` and `stele segments`: the operators' commands.

use std::io::Write;
use std::time::Duration;

use comfy_table::Cell;
use serde_json::json;
use stele_client::Client;
use stele_client::proto::{self, SegmentState};

use crate::fail::Failure;
use crate::output::{json_pretty, local_time, number, table, thousands};
use crate::retention::{age, policy_json, size};
use crate::units::{parse_bytes, parse_duration};

/// Create, list and describe logs
#[derive(Debug, clap::Subcommand)]
pub enum LogsCommand {
    /// Create a log
    #[command(after_help = "Examples:
  stele logs create audit
  stele logs create payments --sanitize details.card_number --seal-max-age 15m
  stele logs create audit --scrub all --scrub-custom 'ticket=TS-[0-9]{6}'
  stele logs create bulk --fsync interval:100
  stele logs create audit --max-age 400d --lock 1y")]
    Create(Box<CreateArgs>),
    /// List the logs this token may see
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// One log's facts: head, records, bytes, policy
    #[command(after_help = "Example:\n  stele logs info audit")]
    Info {
        /// The log
        name: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// `stele logs create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// `[a-z0-9][a-z0-9_-]{0,62}`
    name: String,
    /// `always`, `interval:<ms>` or `never` [default: always]
    #[arg(long)]
    fsync: Option<String>,
    /// Seal the active segment at this many records [default: 1000000]
    #[arg(long, value_name = "N")]
    seal_max_records: Option<u64>,
    /// Seal at this file size in bytes [default: 134217728]
    #[arg(long, value_name = "BYTES")]
    seal_max_bytes: Option<u64>,
    /// Seal when the oldest record is this old [default: 1h]
    #[arg(long, value_name = "DURATION")]
    seal_max_age: Option<String>,
    /// Field path replaced by "[redacted]" before storing (repeatable)
    #[arg(long, value_name = "PATH")]
    sanitize: Vec<String>,
    /// Built-in scrubbing rule to turn on, or `all` (repeatable; docs/scrubbing.md)
    #[arg(long, value_name = "RULE")]
    scrub: Vec<String>,
    /// Scrubbing rule of the log's own: NAME=REGEX (repeatable)
    #[arg(long, value_name = "NAME=REGEX")]
    scrub_custom: Vec<String>,
    /// Make new records searchable at least this often [default: 1s]
    #[arg(long, value_name = "DURATION")]
    index_commit_interval: Option<String>,
    /// Sealed segments older than this leave local storage (90d, 7y) [default: kept]
    #[arg(long, value_name = "DURATION")]
    max_age: Option<String>,
    /// The oldest sealed segments leave local storage beyond this size (10GiB) [default: no limit]
    #[arg(long, value_name = "SIZE")]
    max_bytes: Option<String>,
    /// Retention lock: no segment leaves before it is this old; never lowered (7y) [default: none]
    #[arg(long, value_name = "DURATION")]
    lock: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// List and seal segments
#[derive(Debug, clap::Subcommand)]
pub enum SegmentsCommand {
    /// A log's segments, oldest first
    #[command(after_help = "Example:\n  stele segments list --log audit")]
    List {
        /// The log
        #[arg(long)]
        log: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Seal the active segment now
    #[command(after_help = "Example:\n  stele segments seal --log audit")]
    Seal {
        /// The log
        #[arg(long)]
        log: String,
    },
}

fn millis(flag: &str, text: &Option<String>) -> Result<u64, Failure> {
    match text {
        None => Ok(0),
        Some(t) => humantime::parse_duration(t)
            .map(|d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .map_err(|e| Failure::usage(format!("--{flag} {t:?}: {e}"))),
    }
}

/// The retention part of `logs create`'s policy.
fn retention_of(args: &CreateArgs) -> Result<proto::RetentionPolicy, Failure> {
    let ms = |flag: &str, text: &Option<String>| -> Result<Option<u64>, Failure> {
        text.as_deref()
            .map(|t| {
                parse_duration(flag, t).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            })
            .transpose()
    };
    Ok(proto::RetentionPolicy {
        max_age_ms: ms("max-age", &args.max_age)?,
        max_bytes: args
            .max_bytes
            .as_deref()
            .map(|t| parse_bytes("max-bytes", t))
            .transpose()?,
        lock_ms: ms("lock", &args.lock)?,
    })
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("stdout: {e}"))
}

/// Runs `stele logs ...`.
pub async fn logs(command: LogsCommand, client: Client) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        LogsCommand::Create(args) => {
            let policy = proto::Policy {
                fsync: args.fsync.clone().unwrap_or_default(),
                seal_max_records: args.seal_max_records.unwrap_or(0),
                seal_max_bytes: args.seal_max_bytes.unwrap_or(0),
                seal_max_age_ms: millis("seal-max-age", &args.seal_max_age)?,
                sanitize: args.sanitize.clone(),
                index_commit_interval_ms: millis(
                    "index-commit-interval",
                    &args.index_commit_interval,
                )?,
                retention: Some(retention_of(&args)?),
                scrub: crate::scrub::rules(&args.scrub, &args.scrub_custom, "scrub-custom")?,
                ..proto::Policy::default()
            };
            let info = client.create_log(&args.name, policy).await?;
            if args.json {
                json_pretty(&mut out, &log_json(&info)).map_err(io)
            } else {
                writeln!(
                    out,
                    "created log {} (id {})",
                    info.name,
                    hex::encode(&info.log_id)
                )
                .map_err(io)
            }
        }
        LogsCommand::List { json } => {
            let logs = client.list_logs().await?;
            if json {
                let all: Vec<_> = logs.iter().map(log_json).collect();
                return json_pretty(&mut out, &all).map_err(io);
            }
            let mut t = table(&[
                "LOG",
                "RECORDS",
                "NEXT SEQ",
                "SEGMENTS",
                "SEGMENT BYTES",
                "INDEX BYTES",
            ]);
            for log in &logs {
                t.add_row(vec![
                    Cell::new(&log.name),
                    number(log.records),
                    number(log.next_seq),
                    number(u64::from(log.segments)),
                    number(log.segment_bytes),
                    number(log.index_bytes),
                ]);
            }
            writeln!(out, "{t}").map_err(io)
        }
        LogsCommand::Info { name, json } => {
            let info = client.log_info(&name).await?;
            if json {
                return json_pretty(&mut out, &log_json(&info)).map_err(io);
            }
            let p = info.policy.clone().unwrap_or_default();
            let lines = [
                ("log", info.name.clone()),
                ("id", hex::encode(&info.log_id)),
                (
                    "records",
                    format!(
                        "{} (seqs {}..{})",
                        thousands(info.records),
                        info.first_seq,
                        info.next_seq
                    ),
                ),
                ("head", hex::encode(&info.head)),
                ("searchable below", format!("seq {}", info.index_watermark)),
                ("segments", info.segments.to_string()),
                ("segment bytes", thousands(info.segment_bytes)),
                ("index bytes", thousands(info.index_bytes)),
                ("fsync", p.fsync.clone()),
                (
                    "seal at",
                    format!(
                        "{} records, {} bytes, or {}",
                        thousands(p.seal_max_records),
                        thousands(p.seal_max_bytes),
                        humantime::format_duration(Duration::from_millis(p.seal_max_age_ms))
                    ),
                ),
                (
                    "sanitized fields",
                    if p.sanitize.is_empty() {
                        "none".into()
                    } else {
                        p.sanitize.join(", ")
                    },
                ),
                (
                    "scrubbing",
                    crate::scrub::describe(&p.scrub.clone().unwrap_or_default()),
                ),
                (
                    "index commit",
                    humantime::format_duration(Duration::from_millis(p.index_commit_interval_ms))
                        .to_string(),
                ),
                ("retention", {
                    let r = p.retention.unwrap_or_default();
                    format!(
                        "max age {}, max bytes {}, lock {}",
                        age(r.max_age_ms),
                        size(r.max_bytes),
                        age(r.lock_ms)
                    )
                }),
            ];
            for (key, value) in lines {
                writeln!(out, "{key:>17}  {value}").map_err(io)?;
            }
            Ok(())
        }
    }
}

/// Runs `stele segments ...`.
pub async fn segments(command: SegmentsCommand, client: Client) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        SegmentsCommand::List { log, json } => {
            let segments = client.segments(&log).await?;
            if json {
                let all: Vec<_> = segments.iter().map(segment_json).collect();
                return json_pretty(&mut out, &all).map_err(io);
            }
            let mut t = table(&[
                "FILE",
                "STATE",
                "SEQS",
                "RECORDS",
                "FILE BYTES",
                "EARLIEST",
                "LATEST",
            ]);
            for s in &segments {
                let when = |ns: i64| {
                    if s.records == 0 {
                        String::new()
                    } else {
                        local_time(chrono::DateTime::from_timestamp_nanos(ns))
                    }
                };
                t.add_row(vec![
                    Cell::new(&s.file),
                    Cell::new(state(s.state)),
                    Cell::new(format!("{}..{}", s.first_seq, s.next_seq)),
                    number(s.records),
                    number(s.file_bytes),
                    Cell::new(when(s.min_time_ns)),
                    Cell::new(when(s.max_time_ns)),
                ]);
            }
            writeln!(out, "{t}").map_err(io)
        }
        SegmentsCommand::Seal { log } => match client.seal(&log).await? {
            Some(s) => writeln!(
                out,
                "sealed {} (seqs {}..{}, {} records, {} bytes)",
                s.file,
                s.first_seq,
                s.next_seq,
                thousands(s.records),
                thousands(s.file_bytes)
            )
            .map_err(io),
            None => {
                writeln!(out, "nothing to seal: the active segment of {log} is empty").map_err(io)
            }
        },
    }
}

fn state(code: i32) -> &'static str {
    match SegmentState::try_from(code) {
        Ok(SegmentState::Active) => "active",
        Ok(SegmentState::Sealing) => "sealing",
        Ok(SegmentState::Sealed) => "sealed",
        _ => "unknown",
    }
}

fn log_json(info: &proto::LogInfo) -> serde_json::Value {
    let p = info.policy.clone().unwrap_or_default();
    json!({
        "name": info.name, "log_id": hex::encode(&info.log_id),
        "first_seq": info.first_seq, "next_seq": info.next_seq, "head": hex::encode(&info.head),
        "records": info.records, "segment_bytes": info.segment_bytes, "index_bytes": info.index_bytes,
        "segments": info.segments, "index_watermark": info.index_watermark,
        "policy": {
            "fsync": p.fsync, "seal_max_bytes": p.seal_max_bytes, "seal_max_records": p.seal_max_records,
            "seal_max_age_ms": p.seal_max_age_ms, "sanitize": p.sanitize,
            "index_commit_interval_ms": p.index_commit_interval_ms, "max_body_bytes": p.max_body_bytes,
            "max_string_bytes": p.max_string_bytes, "max_details_depth": p.max_details_depth,
            "max_batch_events": p.max_batch_events,
            "retention": policy_json(&p.retention.unwrap_or_default()),
            "scrub": scrub_json(&p.scrub.unwrap_or_default()),
        },
    })
}

fn scrub_json(rules: &proto::ScrubPolicy) -> serde_json::Value {
    json!({
        "builtin": rules.builtin,
        "custom": rules.custom.iter().map(|r| json!({"name": r.name, "pattern": r.pattern})).collect::<Vec<_>>(),
    })
}

fn segment_json(s: &proto::SegmentInfo) -> serde_json::Value {
    json!({
        "file": s.file, "state": state(s.state), "first_seq": s.first_seq, "next_seq": s.next_seq,
        "records": s.records, "body_bytes": s.body_bytes, "file_bytes": s.file_bytes,
        "min_time_ns": s.min_time_ns, "max_time_ns": s.max_time_ns,
        "min_ingest_time_ns": s.min_ingest_time_ns, "max_ingest_time_ns": s.max_ingest_time_ns,
    })
}
