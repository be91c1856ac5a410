//! `stele query`: a search, printed as a table or JSON; `--all` walks
//! every page with the cursor.

use std::io::Write;

use futures::TryStreamExt;
use stele_client::{Client, Order, Query, Record};

use crate::fail::Failure;
use crate::filters::FilterArgs;
use crate::output::{Format, json_line, records_table, thousands};

/// Search a log
#[derive(Debug, clap::Args)]
#[command(
    after_help = "TEXT is full text in tantivy syntax over `message` and `details`:
words are ANDed; `details.branch:main` searches one field. Exact fields
may be named too, with OR and NOT: `actor:alice -outcome:success`,
`actor.ip:10.0.0.0/8` (docs/query.md).

Examples:
  stele query --log audit --actor alice --since 24h
  stele query --log audit --action 'workflow.*' --resource workflow:42 --outcome success
  stele query --log audit --action 'git.*' --outcome denied 'protected branch'
  stele query --log aws 'actor.ip:10.0.0.0/8 OR outcome:denied'
  stele query --log audit --from 2026-11-01 --to 2026-11-08 --all --output jsonl > week.jsonl"
)]
pub struct QueryArgs {
    /// Log to search
    #[arg(long)]
    log: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Full text
    text: Vec<String>,
    /// Oldest first instead of newest first
    #[arg(long)]
    oldest_first: bool,
    /// Records to print (a page of at most 10,000)
    #[arg(long, short = 'n', default_value_t = 100, conflicts_with = "all")]
    limit: u32,
    /// Every matching record, page after page
    #[arg(long)]
    all: bool,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    output: Format,
}

/// Runs `stele query`.
pub async fn run(args: QueryArgs, client: Client) -> Result<(), Failure> {
    let selection = args.filters.selection()?.text(args.text.join(" "));
    let order = if args.oldest_first {
        Order::OldestFirst
    } else {
        Order::NewestFirst
    };
    let mut stdout = std::io::stdout().lock();
    let io = |e: std::io::Error| Failure::usage(format!("stdout: {e}"));
    if args.all {
        let query = Query::new(selection).order(order).page_size(1000);
        let mut records = client.query(&args.log, query);
        let mut all = Vec::new();
        let mut count = 0u64;
        if args.output == Format::Json {
            stdout.write_all(b"[").map_err(io)?;
        }
        while let Some(record) = records.try_next().await? {
            match args.output {
                Format::Table => all.push(record),
                Format::Jsonl => json_line(&mut stdout, &record).map_err(io)?,
                Format::Json => {
                    if count > 0 {
                        stdout.write_all(b",").map_err(io)?;
                    }
                    stdout.write_all(b"\n").map_err(io)?;
                    serde_json::to_writer(&mut stdout, &record).map_err(|e| io(e.into()))?;
                }
            }
            count += 1;
        }
        match args.output {
            Format::Table => print_table(&mut stdout, &all, false).map_err(io)?,
            Format::Json => stdout.write_all(b"\n]\n").map_err(io)?,
            Format::Jsonl => {}
        }
        return Ok(());
    }
    let query = Query::new(selection).order(order).page_size(args.limit);
    let page = client.query_page(&args.log, &query, None).await?;
    match args.output {
        Format::Table => {
            print_table(&mut stdout, &page.records, page.next_cursor.is_some()).map_err(io)?
        }
        Format::Json => crate::output::json_pretty(&mut stdout, &page.records).map_err(io)?,
        Format::Jsonl => {
            for record in &page.records {
                json_line(&mut stdout, record).map_err(io)?;
            }
        }
    }
    Ok(())
}

fn print_table(out: &mut impl Write, records: &[Record], more: bool) -> std::io::Result<()> {
    if records.is_empty() {
        return writeln!(out, "no matching records");
    }
    writeln!(out, "{}", records_table(records))?;
    let n = thousands(records.len() as u64);
    if more {
        writeln!(
            out,
            "{n} records shown; more match (--all for every one, or narrow the filters)"
        )
    } else {
        writeln!(out, "{n} records")
    }
}
