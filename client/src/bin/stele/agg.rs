//! `stele agg`: counts for reports, the top values of a field or a date
//! histogram, as a table with bars (or JSON).

use std::io::Write;

use chrono::DateTime;
use comfy_table::Cell;
use stele_client::{Client, Selection};

use crate::fail::Failure;
use crate::filters::FilterArgs;
use crate::output::{bar, json_pretty, local_time, number, table, text, thousands};
use crate::visible::visible;

/// Width of the longest bar, in cells.
const BAR_WIDTH: usize = 40;

/// Count matching records by field or by time
#[derive(Debug, clap::Args)]
#[command(
    after_help = "FIELD is one of: tenant, actor.id, actor.ip, action, resource.kind,
resource.id, outcome, source, correlation_id, request_id.

Examples:
  stele agg --log audit --by actor.id --action 'workflow.delete' --since 7d
  stele agg --log audit --by outcome --action 'auth.*'
  stele agg --log audit --histogram 1h --since 24h --split outcome
  stele agg --log audit --count --actor alice"
)]
pub struct AggArgs {
    /// Log to count in
    #[arg(long)]
    log: String,
    /// Count by this field's values
    #[arg(long, value_name = "FIELD", group = "kind")]
    by: Option<String>,
    /// Count per time bucket of this width: 1h, 15m, 1d
    #[arg(long, value_name = "INTERVAL", group = "kind")]
    histogram: Option<String>,
    /// Only the number of matching records
    #[arg(long, group = "kind")]
    count: bool,
    /// Values to show with --by, or to split by with --split
    #[arg(long, default_value_t = 10)]
    top: u32,
    /// With --histogram: split each bucket by this field's top values
    #[arg(long, value_name = "FIELD", requires = "histogram")]
    split: Option<String>,
    #[command(flatten)]
    filters: FilterArgs,
    /// Full text
    text: Vec<String>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

/// Runs `stele agg`.
pub async fn run(args: AggArgs, client: Client) -> Result<(), Failure> {
    let selection = args.filters.selection()?.text(args.text.join(" "));
    let mut out = std::io::stdout().lock();
    let written = match (&args.by, &args.histogram) {
        (Some(field), _) => by_field(&args, &client, &selection, field, &mut out).await?,
        (None, Some(interval)) => histogram(&args, &client, &selection, interval, &mut out).await?,
        (None, None) => {
            let n = client.count(&args.log, &selection).await?;
            if args.json {
                json_pretty(&mut out, &serde_json::json!({ "count": n }))
            } else {
                writeln!(out, "{n}")
            }
        }
    };
    written.map_err(|e| Failure::usage(format!("stdout: {e}")))
}

/// `--by FIELD`: the top values, other, missing and the total.
async fn by_field(
    args: &AggArgs,
    client: &Client,
    selection: &Selection,
    field: &str,
    out: &mut impl Write,
) -> Result<std::io::Result<()>, Failure> {
    let terms = client
        .count_by(&args.log, selection, field, args.top)
        .await?;
    if args.json {
        let top: serde_json::Map<_, _> = terms
            .top
            .iter()
            .map(|t| (t.value.clone(), t.count.into()))
            .collect();
        let json = serde_json::json!({
            "field": field, "top": top, "other": terms.other,
            "missing": terms.missing, "total": terms.total,
        });
        return Ok(json_pretty(out, &json));
    }
    let max = terms.top.iter().map(|t| t.count).max().unwrap_or(0);
    let mut t = table(&[field.to_uppercase().as_str(), "COUNT", ""]);
    for term in &terms.top {
        t.add_row(vec![
            text(&term.value),
            number(term.count),
            Cell::new(bar(term.count, max, BAR_WIDTH)),
        ]);
    }
    for (label, n) in [("(other)", terms.other), ("(missing)", terms.missing)] {
        if n > 0 {
            t.add_row(vec![Cell::new(label), number(n), Cell::new("")]);
        }
    }
    t.add_row(vec![Cell::new("total"), number(terms.total), Cell::new("")]);
    Ok(writeln!(out, "{t}"))
}

/// `--histogram INTERVAL [--split FIELD]`: one row per bucket.
async fn histogram(
    args: &AggArgs,
    client: &Client,
    selection: &Selection,
    interval: &str,
    out: &mut impl Write,
) -> Result<std::io::Result<()>, Failure> {
    let width = humantime::parse_duration(interval)
        .map_err(|e| Failure::usage(format!("--histogram {interval:?}: {e}")))?;
    let split = args.split.as_deref().map(|f| (f, args.top));
    let h = client.histogram(&args.log, selection, width, split).await?;
    if args.json {
        let buckets: Vec<_> = h
            .buckets
            .iter()
            .map(|b| {
                let mut v = serde_json::json!({
                    "start": DateTime::from_timestamp_nanos(b.start_ns).to_rfc3339(),
                    "count": b.count,
                });
                if !h.split_values.is_empty() {
                    let split: serde_json::Map<_, _> = h
                        .split_values
                        .iter()
                        .cloned()
                        .zip(b.split.iter().map(|&n| n.into()))
                        .collect();
                    v["split"] = split.into();
                }
                v
            })
            .collect();
        let json =
            serde_json::json!({ "interval": interval, "buckets": buckets, "total": h.total });
        return Ok(json_pretty(out, &json));
    }
    let max = h.buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let mut header = vec!["BUCKET".to_string(), "COUNT".to_string()];
    header.extend(h.split_values.iter().map(|v| visible(v).to_uppercase()));
    header.push(String::new());
    let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for b in &h.buckets {
        let mut row = vec![
            Cell::new(local_time(DateTime::from_timestamp_nanos(b.start_ns))),
            number(b.count),
        ];
        row.extend(b.split.iter().map(|&n| number(n)));
        row.push(Cell::new(bar(b.count, max, BAR_WIDTH)));
        t.add_row(row);
    }
    Ok(writeln!(out, "{t}\ntotal {}", thousands(h.total)))
}
