//! How records, receipts and counts are printed: tables with local times
//! for people, JSON for programs, bars drawn with block characters.
//! Colours and table styling only when stdout is a terminal (and
//! `NO_COLOR` is unset).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table, presets};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use stele_client::{Outcome, Record};

use crate::visible::visible;

/// Output formats of the commands that print records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people, local times
    Table,
    /// One JSON array
    Json,
    /// One JSON object a line
    Jsonl,
}

/// A time as people read it: local, to the millisecond.
pub fn local_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// A time in nanoseconds since the epoch, as people read it.
pub fn local_time_ns(ns: i64) -> String {
    local_time(DateTime::from_timestamp_nanos(ns))
}

/// A progress bar of `len` steps on stderr, drawn only when stderr is a
/// terminal (so that scripts and logs get the summary alone).
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len)
        .with_message(message.to_string())
        .with_style(
            ProgressStyle::with_template("{spinner} {msg} {wide_bar} {pos}/{len} ({elapsed})")
                .expect("valid template"),
        );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A cell holding text that came from the log (or quotes it), escaped so
/// that it cannot drive the terminal ([`visible`]).
pub fn text(s: &str) -> Cell {
    Cell::new(visible(s))
}

/// A table in the house style.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(|h| Cell::new(h).fg(Color::DarkGrey)));
    table
}

/// A right-aligned number cell.
pub fn number(n: u64) -> Cell {
    Cell::new(thousands(n)).set_alignment(CellAlignment::Right)
}

/// `n` and `noun`, plural unless `n` is 1: `1 segment`, `1,024 segments`.
pub fn count(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{} {stem}ies", thousands(n)),
        _ => format!("{} {noun}s", thousands(n)),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The cells of a record's table row: time, seq, actor, action, resource,
/// outcome, message.
fn record_cells(record: &Record) -> Vec<Cell> {
    let Some(event) = &record.event else {
        return vec![
            Cell::new(local_time(record.time())),
            number(record.seq),
            Cell::new("[redacted]").fg(Color::DarkGrey),
        ];
    };
    let actor = event.actor.as_ref().map(|a| a.id.as_str()).unwrap_or("");
    let resource = event
        .resource
        .as_ref()
        .map(|r| format!("{}:{}", r.kind, r.id))
        .unwrap_or_default();
    let outcome = match event.outcome {
        None => Cell::new(""),
        Some(o) => Cell::new(o.as_str()).fg(outcome_colour(o)),
    };
    vec![
        Cell::new(local_time(record.time())),
        number(record.seq),
        text(actor),
        text(&event.action),
        text(&resource),
        outcome,
        text(&event.message),
    ]
}

fn outcome_colour(outcome: Outcome) -> Color {
    match outcome {
        Outcome::Success => Color::Green,
        Outcome::Failure => Color::Red,
        Outcome::Denied => Color::Yellow,
        Outcome::Unknown => Color::Grey,
    }
}

/// Records as a table.
pub fn records_table(records: &[Record]) -> Table {
    let mut t = table(&[
        "TIME", "SEQ", "ACTOR", "ACTION", "RESOURCE", "OUTCOME", "MESSAGE",
    ]);
    for record in records {
        t.add_row(record_cells(record));
    }
    t
}

/// One record as a line of `stele tail`: time, seq, actor, action,
/// resource, outcome, message, separated by two spaces.
pub fn record_line(record: &Record) -> String {
    let time = style(local_time(record.time())).dim();
    let Some(event) = &record.event else {
        return format!("{time}  #{}  [redacted]", record.seq);
    };
    let actor = event.actor.as_ref().map(|a| a.id.as_str()).unwrap_or("-");
    let mut line = format!(
        "{time}  #{}  {}  {}",
        record.seq,
        style(visible(actor)).cyan(),
        style(visible(&event.action)).bold()
    );
    if let Some(r) = &event.resource {
        line.push_str(&format!("  {}:{}", visible(&r.kind), visible(&r.id)));
    }
    if let Some(o) = event.outcome {
        let word = match o {
            Outcome::Success => style(o.as_str()).green(),
            Outcome::Failure => style(o.as_str()).red(),
            Outcome::Denied => style(o.as_str()).yellow(),
            Outcome::Unknown => style(o.as_str()).dim(),
        };
        line.push_str(&format!("  {word}"));
    }
    if !event.message.is_empty() {
        line.push_str(&format!("  {}", visible(&event.message)));
    }
    line
}

/// Writes `value` as one line of JSON.
pub fn json_line(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// Writes `value` as indented JSON.
pub fn json_pretty(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A horizontal bar of `value / max` of `width` cells, with eighths.
pub fn bar(value: u64, max: u64, width: usize) -> String {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    if max == 0 {
        return String::new();
    }
    let eighths = (u128::from(value) * width as u128 * 8 / u128::from(max)) as usize;
    let mut out = "█".repeat(eighths / 8);
    out.push_str(EIGHTHS[eighths % 8]);
    if value > 0 && out.is_empty() {
        out.push('▏');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "segment"), "1 segment");
        assert_eq!(count(0, "segment"), "0 segments");
        assert_eq!(count(1200, "archived copy"), "1,200 archived copies");
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 1000, 4), "▏");
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(bar(3, 0, 4), "");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
