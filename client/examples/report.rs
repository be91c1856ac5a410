//! A text report over a log: how many events in the last 24 hours, who did
//! them and what they did (count by `actor.id` and by `action`), and how
//! many events a day over the last week (a date histogram). All counting
//! happens on the server, over its index.
//!
//! ```text
//! cargo run -p stele-client --example report -- LOG
//! ```
//!
//! `STELE_ENDPOINT` (default `http://127.0.0.1:7070`) and `STELE_TOKEN` say
//! which server and which bearer token to use.

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use stele_client::proto::Terms;
use stele_client::{Client, ClientConfig, DEFAULT_ENDPOINT, Selection};

/// Values listed per breakdown.
const TOP: u32 = 10;
/// Width of the longest bar.
const BAR: u64 = 40;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(log), None) = (args.next(), args.next()) else {
        eprintln!("usage: report LOG");
        return Ok(ExitCode::from(2));
    };

    let endpoint = std::env::var("STELE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    let mut config = ClientConfig::new(endpoint);
    if let Ok(token) = std::env::var("STELE_TOKEN") {
        config = config.token(token);
    }
    let client = Client::connect(config).await?;

    let now = Utc::now();
    let last_day = Selection::new().from(now - TimeDelta::hours(24)).to(now);
    let total = client.count(&log, &last_day).await?;
    println!("{log}: {total} events in the last 24 hours (event time)");

    let actors = client.count_by(&log, &last_day, "actor.id", TOP).await?;
    print_terms("by actor.id", &actors);
    let actions = client.count_by(&log, &last_day, "action", TOP).await?;
    print_terms("by action", &actions);

    // Days are aligned on the Unix epoch, that is on UTC midnight.
    let day = Duration::from_secs(24 * 3600);
    let last_week = Selection::new().from(now - TimeDelta::days(6)).to(now);
    let histogram = client.histogram(&log, &last_week, day, None).await?;
    println!("\nper day, last 7 days (UTC):");
    let widest = histogram.buckets.iter().map(|b| b.count).max().unwrap_or(0);
    for bucket in &histogram.buckets {
        let date = DateTime::from_timestamp_nanos(bucket.start_ns).format("%Y-%m-%d");
        println!(
            "  {date}  {:>8}  {}",
            bucket.count,
            bar(bucket.count, widest)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One breakdown: its top values with counts and bars, then the rest.
fn print_terms(title: &str, terms: &Terms) {
    println!("\n{title}:");
    if terms.total == 0 {
        println!("  (no events)");
        return;
    }
    let widest = terms.top.first().map_or(0, |t| t.count);
    let width = terms
        .top
        .iter()
        .map(|t| t.value.len())
        .max()
        .unwrap_or(0)
        .max(9);
    for term in &terms.top {
        let share = 100.0 * term.count as f64 / terms.total as f64;
        println!(
            "  {:<width$}  {:>8}  {share:5.1}%  {}",
            term.value,
            term.count,
            bar(term.count, widest)
        );
    }
    if terms.other > 0 {
        println!("  {:<width$}  {:>8}", "(other)", terms.other);
    }
    if terms.missing > 0 {
        println!("  {:<width$}  {:>8}", "(missing)", terms.missing);
    }
}

/// A bar of `#` for `n` out of `max`.
fn bar(n: u64, max: u64) -> String {
    if max == 0 {
        return String::new();
    }
    "#".repeat(((n * BAR).div_ceil(max)) as usize)
}
