//! `stele erase`: erase the bodies of the records a selection matches
//! (GDPR right to erasure). Each record keeps its seq, ingest time and body
//! digest, so the chain still verifies, and reads back as redacted. It
//! cannot be undone, so it runs only with `--yes`; `--dry-run` counts first.

use std::io::Write;

use serde_json::json;
use stele_client::Client;

use crate::fail::Failure;
use crate::filters::FilterArgs;
use crate::output::{count, json_pretty, progress_bar};

/// Erase the bodies of matching records (GDPR)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The selection flags are those of `stele query`; at least one is needed.
Erasing cannot be undone: run with --dry-run to count the matching records,
then with --yes. Records under a legal hold are refused. The request is
recorded in the _system log with the token, the reason and the count.

Examples:
  stele erase --log audit --actor alice --reason 'GDPR request 2026-117' --dry-run
  stele erase --log audit --actor alice --reason 'GDPR request 2026-117' --yes"
)]
pub struct EraseArgs {
    /// The log
    #[arg(long)]
    log: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Full text the records must match
    #[arg(long)]
    text: Option<String>,
    /// Why: a request or ticket number (recorded in _system)
    #[arg(long)]
    reason: String,
    /// Only count the matching records; change nothing
    #[arg(long, conflicts_with = "yes")]
    dry_run: bool,
    /// Erase for good
    #[arg(long)]
    yes: bool,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// Runs `stele erase`.
pub async fn run(args: EraseArgs, client: Client) -> Result<(), Failure> {
    if !args.dry_run && !args.yes {
        return Err(Failure::usage(
            "erasing cannot be undone: run with --dry-run to see how many records match, then with --yes",
        ));
    }
    if args.reason.trim().is_empty() {
        return Err(Failure::usage(
            "--reason: say why (a request or ticket number)",
        ));
    }
    let mut selection = args.filters.selection()?;
    if let Some(text) = &args.text {
        selection = selection.text(text.clone());
    }
    if selection == stele_client::Selection::new() {
        return Err(Failure::usage(
            "give a selection (--actor, --action, --from, ...): without one every record would match",
        ));
    }
    let bar = progress_bar(0, "erasing");
    let result = client
        .erase(&args.log, &selection, &args.reason, args.dry_run, |p| {
            bar.set_length(u64::from(p.segments_total));
            bar.set_position(u64::from(p.segments_done));
            if let Some(segment) = p.segment {
                bar.set_message(format!("segment {segment}: {} records", p.records));
            }
        })
        .await;
    bar.finish_and_clear();
    let result = result?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Failure::usage(format!("stdout: {e}"));
    if args.json {
        return json_pretty(
            &mut out,
            &json!({
                "dry_run": result.dry_run, "records": result.records, "seqs": result.seqs,
                "segments": result.segments, "segments_rewritten": result.segments_rewritten,
                "restored": result.restored, "rearchived": result.rearchived,
                "archived_in_range": result.archived_in_range,
            }),
        )
        .map_err(io);
    }
    let records = count(result.records, "record");
    let segments = count(result.segments.len() as u64, "segment");
    if result.dry_run {
        writeln!(
            out,
            "dry run: {records} of {} in {segments} would be erased",
            args.log
        )
        .map_err(io)?;
        if !result.archived_in_range.is_empty() {
            writeln!(
                out,
                "{} in the time range: a real run restores and searches them too",
                count(result.archived_in_range.len() as u64, "archived segment")
            )
            .map_err(io)?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "erased {records} of {} ({} rewritten{}); they keep their seq and digest and read back as redacted",
        args.log,
        count(result.segments_rewritten as u64, "segment"),
        if result.rearchived.is_empty() {
            String::new()
        } else {
            format!(
                ", {} replaced",
                count(result.rearchived.len() as u64, "archived copy")
            )
        }
    )
    .map_err(io)
}
