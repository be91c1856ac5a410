//! `stele tail`: the latest matching records, and with `-f` every new one
//! as it is appended, resuming after disconnects and server restarts
//! without a gap or a repeat.

use std::io::Write;
use std::time::Duration;

use futures::TryStreamExt;
use stele_client::{Client, Item, Query, Record, Start, SubscribeOptions};

use crate::fail::Failure;
use crate::filters::{FilterArgs, parse_time};
use crate::output::{json_line, record_line};

/// Show the latest records; follow new ones with -f
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without a start, prints the last -n matching records (and with -f goes on
from there). --from-seq and --since start at a position instead and print
everything from there (up to now, or forever with -f).

Examples:
  stele tail --log audit
  stele tail --log audit -f --action 'auth.*' --outcome denied
  stele tail --log audit -f --from-seq 120000 --output jsonl | my-siem-forwarder"
)]
pub struct TailArgs {
    /// Log to follow
    #[arg(long)]
    log: String,
    /// Keep following: print records as they are appended
    #[arg(short = 'f', long)]
    follow: bool,
    /// How many of the latest records to print first
    #[arg(short = 'n', long, default_value_t = 10, conflicts_with_all = ["from_seq", "since"])]
    lines: u32,
    /// Start at this seq
    #[arg(long, value_name = "SEQ", conflicts_with = "since")]
    from_seq: Option<u64>,
    /// Filters; here `--since` (24h, or a time) is where to start: the
    /// first record ingested since then
    #[command(flatten)]
    filters: FilterArgs,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: LineFormat,
}

/// Line formats of `tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LineFormat {
    /// One readable line a record, local times
    Text,
    /// One JSON object a line
    Jsonl,
}

/// Runs `stele tail`.
pub async fn run(args: TailArgs, client: Client) -> Result<(), Failure> {
    let selection = FilterArgs {
        since: None,
        ..args.filters.clone()
    }
    .selection()?;
    let start = match (args.from_seq, &args.filters.since) {
        (Some(seq), _) => Start::Seq(seq),
        (None, Some(since)) => Start::IngestTime(
            parse_time(since).map_err(|e| Failure::usage(format!("--since {e}")))?,
        ),
        (None, None) => {
            // The last records from the index, then on from its snapshot:
            // every record the search could not see comes by subscription.
            let query = Query::new(selection.clone()).page_size(args.lines.max(1));
            let page = client.query_page(&args.log, &query, None).await?;
            if args.lines > 0 {
                for record in page.records.iter().rev() {
                    print(&args, record)?;
                }
            }
            Start::Seq(page.stats.snapshot)
        }
    };
    let mut options = SubscribeOptions::new(start).selection(selection);
    options.heartbeat = Duration::from_millis(500);
    let mut items = client.subscribe(&args.log, options);
    while let Some(item) = items.try_next().await? {
        match item {
            Item::Record(record) => print(&args, &record)?,
            Item::Heartbeat {
                head_seq,
                resume_seq,
            } => {
                if !args.follow && resume_seq >= head_seq {
                    return Ok(());
                }
            }
            Item::Reconnecting {
                reason,
                resume_seq,
                retry_in,
            } => {
                let at = resume_seq.map_or(String::new(), |seq| format!(" at seq {seq}"));
                eprintln!(
                    "stele: {}; resuming{at} in {retry_in:?}",
                    crate::visible::visible(&reason.to_string())
                );
            }
        }
    }
    Ok(())
}

fn print(args: &TailArgs, record: &Record) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match args.output {
        LineFormat::Text => writeln!(out, "{}", record_line(record)),
        LineFormat::Jsonl => json_line(&mut out, record),
    }
    .and_then(|()| out.flush())
    .map_err(|e| Failure::usage(format!("stdout: {e}")))
}
