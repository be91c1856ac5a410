//! `stele compact`: merge runs of a log's small adjacent sealed segments,
//! records unchanged (every receipt, checkpoint and query answer stays
//! the same).

use std::io::Write;

use comfy_table::Cell;
use serde_json::{Value, json};
use stele_client::proto;
use stele_client::{Client, CompactOptions};

use crate::fail::Failure;
use crate::output::{json_pretty, number, progress_bar, table, thousands};
use crate::units::parse_bytes;

/// Merge a log's small sealed segments
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Segments under a legal hold of their own, restored or archived are left
alone. SIZE is 32MiB, 100MB or a number of bytes.

Examples:
  stele compact --log audit --dry-run
  stele compact --log audit
  stele compact --log audit --small-bytes 8MiB --target-bytes 256MiB"
)]
pub struct CompactArgs {
    /// The log
    #[arg(long)]
    log: String,
    /// Only say what would be merged; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Segments this big or bigger are left alone [default: a quarter of the log's seal size]
    #[arg(long, value_name = "SIZE")]
    small_bytes: Option<String>,
    /// Largest merged segment [default: the log's seal size]
    #[arg(long, value_name = "SIZE")]
    target_bytes: Option<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// Runs `stele compact`.
pub async fn run(args: CompactArgs, client: Client) -> Result<(), Failure> {
    let size =
        |flag: &str, text: &Option<String>| text.as_deref().map_or(Ok(0), |t| parse_bytes(flag, t));
    let options = CompactOptions {
        small_bytes: size("small-bytes", &args.small_bytes)?,
        target_bytes: size("target-bytes", &args.target_bytes)?,
        dry_run: args.dry_run,
    };
    let bar = progress_bar(0, "compacting");
    let result = client
        .compact(&args.log, options, |p| {
            bar.set_length(u64::from(p.groups));
            bar.set_position(u64::from(p.group) + u64::from(p.done));
            bar.set_message(format!(
                "seqs {}..{}: {} records copied",
                p.first_seq, p.next_seq, p.records_done
            ));
        })
        .await;
    bar.finish_and_clear();
    let result = result?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Failure::usage(format!("stdout: {e}"));
    if args.json {
        let groups = |g: &[proto::CompactGroup]| g.iter().map(group_json).collect::<Vec<_>>();
        return json_pretty(
            &mut out,
            &json!({
                "dry_run": result.dry_run,
                "planned": groups(&result.planned),
                "merged": groups(&result.merged),
            }),
        )
        .map_err(io);
    }
    let groups = if result.dry_run {
        &result.planned
    } else {
        &result.merged
    };
    let verb = if result.dry_run {
        "would merge"
    } else {
        "merged"
    };
    if groups.is_empty() {
        return writeln!(out, "nothing of {} to compact", args.log).map_err(io);
    }
    let segments: usize = groups.iter().map(|g| g.members.len()).sum();
    writeln!(
        out,
        "{verb} {segments} segments of {} into {}",
        args.log,
        groups.len()
    )
    .map_err(io)?;
    let mut t = table(&["SEQS", "SEGMENTS", "BYTES BEFORE", "BYTES AFTER"]);
    for g in groups {
        t.add_row(vec![
            Cell::new(format!("{}..{}", g.first_seq, g.next_seq)),
            number(g.members.len() as u64),
            number(g.bytes),
            Cell::new(if result.dry_run {
                String::new()
            } else {
                thousands(g.bytes_after)
            }),
        ]);
    }
    writeln!(out, "{t}").map_err(io)
}

fn group_json(g: &proto::CompactGroup) -> Value {
    json!({
        "first_seq": g.first_seq, "next_seq": g.next_seq, "members": g.members,
        "bytes": g.bytes, "bytes_after": g.bytes_after,
    })
}
