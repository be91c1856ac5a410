//! `stele archive list|restore`: a log's archived segments, and bringing
//! them back into local storage to query and verify them.

use std::io::Write;

use comfy_table::Cell;
use serde_json::json;
use stele_client::Client;

use crate::fail::Failure;
use crate::output::{count, json_pretty, local_time_ns, number, progress_bar, table};
use crate::retention::archived_json;
use crate::units::parse_duration;

/// List and restore archived segments
#[derive(Debug, clap::Subcommand)]
pub enum ArchiveCommand {
    /// A log's archived segments, oldest first, with where each one is
    #[command(after_help = "Example:\n  stele archive list --log audit")]
    List {
        /// The log
        #[arg(long)]
        log: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Copy an archived segment (and every archived one after it, up to the
    /// local log) back into local storage, checked against its manifest entry
    #[command(
        after_help = "Restored segments are read-only, queried and verified like any other,
and kept at least --keep-for before retention may remove them again.

Examples:
  stele archive restore --log audit --segment 0
  stele archive restore --log audit --segment 120000 --keep-for 30d"
    )]
    Restore {
        /// The log
        #[arg(long)]
        log: String,
        /// First seq of the archived segment
        #[arg(long, value_name = "FIRST_SEQ")]
        segment: u64,
        /// Keep the restored segments at least this long [default: 7d]
        #[arg(long, value_name = "DURATION")]
        keep_for: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("stdout: {e}"))
}

/// Runs `stele archive ...`.
pub async fn run(command: ArchiveCommand, client: Client) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        ArchiveCommand::List { log, json } => {
            let list = client.list_archived(&log).await?;
            if json {
                let segments: Vec<_> = list.segments.iter().map(archived_json).collect();
                return json_pretty(
                    &mut out,
                    &json!({
                        "archive_target": (!list.archive_target.is_empty()).then_some(&list.archive_target),
                        "segments": segments,
                    }),
                )
                .map_err(io);
            }
            let target = if list.archive_target.is_empty() {
                "none configured"
            } else {
                list.archive_target.as_str()
            };
            writeln!(out, "archive: {target}").map_err(io)?;
            if list.segments.is_empty() {
                return writeln!(out, "{log} has no archived segment").map_err(io);
            }
            let mut t = table(&["SEQS", "RECORDS", "BYTES", "ARCHIVED", "LOCAL", "LOCATION"]);
            for a in &list.segments {
                let local = match (a.local, a.kept_until_ns) {
                    (true, Some(until)) => format!("restored, kept until {}", local_time_ns(until)),
                    (true, None) => "restored".into(),
                    (false, _) => "no".into(),
                };
                t.add_row(vec![
                    Cell::new(format!("{}..{}", a.first_seq, a.next_seq)),
                    number(a.next_seq - a.first_seq),
                    number(a.bytes),
                    Cell::new(local_time_ns(a.archived_ns)),
                    Cell::new(local),
                    crate::output::text(&a.location),
                ]);
            }
            writeln!(out, "{t}").map_err(io)
        }
        ArchiveCommand::Restore {
            log,
            segment,
            keep_for,
            json,
        } => {
            let keep_for = keep_for
                .as_deref()
                .map(|t| parse_duration("keep-for", t))
                .transpose()?;
            let bar = progress_bar(0, "restoring");
            let result = client
                .restore_segment(&log, segment, keep_for, |p| {
                    bar.set_length(u64::from(p.total));
                    bar.set_position(u64::from(p.done));
                    if let Some(s) = &p.segment {
                        bar.set_message(format!("restored {}..{}", s.first_seq, s.next_seq));
                    }
                })
                .await;
            bar.finish_and_clear();
            let result = result?;
            if json {
                return json_pretty(
                    &mut out,
                    &json!({
                        "restored": result.restored.iter().map(archived_json).collect::<Vec<_>>(),
                        "kept_until_ns": result.kept_until_ns,
                        "first_seq": result.first_seq,
                    }),
                )
                .map_err(io);
            }
            match (result.restored.first(), result.restored.last()) {
                (Some(first), Some(last)) => writeln!(
                    out,
                    "restored {} of {log} (seqs {}..{}), kept until {}; {log} now starts at seq {}",
                    count(result.restored.len() as u64, "segment"),
                    first.first_seq,
                    last.next_seq,
                    local_time_ns(result.kept_until_ns),
                    result.first_seq
                ),
                _ => writeln!(out, "nothing to restore"),
            }
            .map_err(io)
        }
    }
}
