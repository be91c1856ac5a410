//! The figures of a run: a table for people, the same as JSON for scripts,
//! and the error count that decides the exit status.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::append::AppendStats;
use super::freshness::FreshnessStats;
use super::query::QueryStats;
use super::sizes::Sizes;
use super::subscribe::SubscribeStats;

/// Median, tail percentiles and maximum of a histogram of microseconds, in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// 50th percentile.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// The figures of `us`; `None` when it is empty.
    pub fn of(us: &Histogram<u64>) -> Option<Percentiles> {
        let ms = |v: u64| v as f64 / 1_000.0;
        (!us.is_empty()).then(|| Percentiles {
            p50: ms(us.value_at_quantile(0.5)),
            p99: ms(us.value_at_quantile(0.99)),
            p999: ms(us.value_at_quantile(0.999)),
            max: ms(us.max()),
        })
    }

    /// As a JSON object of milliseconds.
    fn json(&self) -> Value {
        json!({"p50": self.p50, "p99": self.p99, "p999": self.p999, "max": self.max})
    }
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Report {
    /// The settings of the run, as given on the command line.
    pub config: Value,
    /// From the first append until the last appender finished.
    pub wall: Duration,
    /// The appenders' figures, merged.
    pub append: AppendStats,
    /// The querier's, when there was one.
    pub query: Option<QueryStats>,
    /// Each subscriber's, settled against the acknowledged seqs.
    pub subscribers: Vec<SubscribeStats>,
    /// The freshness searcher's, when there was one, with the time from
    /// the first append until everything acknowledged was searchable.
    pub freshness: Option<(FreshnessStats, Option<Duration>)>,
    /// The log's bytes once sealed and indexed, when asked for.
    pub sizes: Option<Sizes>,
}

/// `count / elapsed`, 0 for no time.
fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The percentiles of `us` as JSON, `null` when it is empty.
fn percentiles_json(us: &Histogram<u64>) -> Value {
    Percentiles::of(us).map_or(Value::Null, |p| p.json())
}

impl Report {
    /// Errors of every kind: refused or unanswered batches, failed
    /// queries, and the subscribers' faults ([`SubscribeStats::faults`]).
    pub fn errors(&self) -> u64 {
        self.append.errors
            + self.query.as_ref().map_or(0, |q| q.errors)
            + self
                .freshness
                .as_ref()
                .map_or(0, |(f, _)| f.errors + f.unsearchable)
            + self
                .subscribers
                .iter()
                .map(SubscribeStats::faults)
                .sum::<u64>()
    }

    /// Every subscriber's lag, merged.
    fn lag_us(&self) -> Histogram<u64> {
        let mut lag = super::histogram();
        for subscriber in &self.subscribers {
            lag.add(&subscriber.lag_us)
                .expect("histograms with the same bounds add up");
        }
        lag
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        let append = &self.append;
        let query = self.query.as_ref().map_or(Value::Null, |q| {
            json!({
                "queries": q.queries,
                "per_s": per_sec(q.queries, q.elapsed),
                "records": q.records,
                "skipped": q.skipped,
                "errors": q.errors,
                "latency_ms": percentiles_json(&q.latency_us),
                "by_shape": q.by_shape.iter().map(|(name, us)| json!({
                    "shape": name,
                    "queries": us.len(),
                    "latency_ms": percentiles_json(us),
                })).collect::<Vec<_>>(),
            })
        });
        let subscribe = if self.subscribers.is_empty() {
            Value::Null
        } else {
            let each: Vec<Value> = self
                .subscribers
                .iter()
                .map(|s| {
                    json!({
                        "records": s.records,
                        "foreign": s.foreign,
                        "first_seq": s.seqs.map(|(first, _)| first),
                        "last_seq": s.seqs.map(|(_, last)| last),
                        "gaps": s.gaps,
                        "missing": s.missing,
                        "behind": s.behind,
                        "out_of_order": s.out_of_order,
                        "stream_errors": s.errors,
                        "errors": s.faults(),
                        "lag_ms": percentiles_json(&s.lag_us),
                    })
                })
                .collect();
            let sum = |f: fn(&SubscribeStats) -> u64| self.subscribers.iter().map(f).sum::<u64>();
            json!({
                "subscribers": self.subscribers.len(),
                "records": sum(|s| s.records),
                "gaps": sum(|s| s.gaps),
                "missing": sum(|s| s.missing),
                "behind": sum(|s| s.behind),
                "out_of_order": sum(|s| s.out_of_order),
                "errors": sum(SubscribeStats::faults),
                "lag_ms": percentiles_json(&self.lag_us()),
                "each": each,
            })
        };
        let freshness = self.freshness.as_ref().map_or(Value::Null, |(f, searchable)| {
            json!({
                "batches": f.batches,
                "unsearchable": f.unsearchable,
                "errors": f.errors,
                "ack_to_searchable_ms": percentiles_json(&f.latency_us),
                "settle_after_last_ack_s": f.settle_s(),
                "ingest_to_searchable_s": searchable.map(|d| d.as_secs_f64()),
                "ingest_to_searchable_events_per_s": searchable.map(|d| per_sec(append.events, d)),
            })
        });
        json!({
            "config": self.config,
            "wall_s": self.wall.as_secs_f64(),
            "append": {
                "events": append.events,
                "batches": append.batches,
                "events_per_s": per_sec(append.events, self.wall),
                "errors": append.errors,
                "first_seq": append.seqs.map(|(first, _)| first),
                "last_seq": append.seqs.map(|(_, last)| last),
                "latency_ms": percentiles_json(&append.latency_us),
            },
            "query": query,
            "subscribe": subscribe,
            "freshness": freshness,
            "sizes": self.sizes.map(|z| json!({
                "records": z.records,
                "segment_bytes": z.segment_bytes,
                "index_bytes": z.index_bytes,
                "segment_bytes_per_record": z.segment_per_record(),
                "index_bytes_per_record": z.index_per_record(),
                "seal_and_index_s": z.settle.as_secs_f64(),
            })),
            "errors": self.errors(),
        })
    }

    /// The figures as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "", "count", "per s", "p50 ms", "p99 ms", "p999 ms", "max ms", "errors"
        );
        let mut row = |name: &str, count: u64, rate: f64, us: &Histogram<u64>, errors: u64| {
            let figures = Percentiles::of(us).map_or_else(
                || format!("{:>9} {:>9} {:>9} {:>9}", "-", "-", "-", "-"),
                |p| {
                    format!(
                        "{:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                        p.p50, p.p99, p.p999, p.max
                    )
                },
            );
            let _ = writeln!(
                out,
                "{name:<24} {count:>12} {rate:>12.1} {figures} {errors:>7}"
            );
        };
        let append = &self.append;
        row(
            "append events",
            append.events,
            per_sec(append.events, self.wall),
            &append.latency_us,
            append.errors,
        );
        if let Some(q) = &self.query {
            row(
                "query",
                q.queries,
                per_sec(q.queries, q.elapsed),
                &q.latency_us,
                q.errors,
            );
            for (name, us) in &q.by_shape {
                row(
                    &format!(" {name}"),
                    us.len(),
                    per_sec(us.len(), q.elapsed),
                    us,
                    0,
                );
            }
        }
        if !self.subscribers.is_empty() {
            let records = self.subscribers.iter().map(|s| s.records).sum();
            let errors = self.subscribers.iter().map(SubscribeStats::faults).sum();
            row(
                "subscriber lag",
                records,
                per_sec(records, self.wall),
                &self.lag_us(),
                errors,
            );
        }
        if let Some((f, searchable)) = &self.freshness {
            row(
                "ack→searchable",
                f.batches,
                searchable.map_or(0.0, |d| per_sec(append.events, d)),
                &f.latency_us,
                f.errors + f.unsearchable,
            );
        }
        let _ = writeln!(
            out,
            "\n{} batches in {:.2} s; append latency is per batch (send to response), subscriber lag per record (send to delivery)",
            append.batches,
            self.wall.as_secs_f64()
        );
        for (i, s) in self.subscribers.iter().enumerate() {
            let seqs = s
                .seqs
                .map_or_else(|| "none".to_string(), |(a, b)| format!("{a}..={b}"));
            let _ = writeln!(
                out,
                "subscriber {i}: {} records (seqs {seqs}), {} foreign, {} gaps ({} seqs missing), {} out of order, {} acknowledged seqs not delivered at the end",
                s.records, s.foreign, s.gaps, s.missing, s.out_of_order, s.behind,
            );
        }
        if let Some((f, searchable)) = &self.freshness {
            let _ = writeln!(
                out,
                "freshness: per batch, ack to searchable (a search polled every {} ms); everything searchable {} after the last ack, {} after the first append ({} events/s ingest to searchable); {} batches never searchable",
                super::freshness::POLL.as_millis(),
                f.settle_s()
                    .map_or_else(|| "never".into(), |s| format!("{s:.2} s")),
                searchable.map_or_else(|| "never".into(), |d| format!("{:.2} s", d.as_secs_f64())),
                searchable.map_or_else(
                    || "-".into(),
                    |d| format!("{:.0}", per_sec(append.events, d))
                ),
                f.unsearchable,
            );
        }
        if let Some(z) = &self.sizes {
            let _ = writeln!(
                out,
                "sizes once sealed and indexed ({:.1} s after the seal): {} records, segments {:.1} bytes/record, index {:.1} bytes/record",
                z.settle.as_secs_f64(),
                z.records,
                z.segment_per_record(),
                z.index_per_record(),
            );
        }
        if let Some(q) = &self.query {
            let _ = writeln!(
                out,
                "queries: {} records returned, {} ticks skipped at the in-flight limit",
                q.records, q.skipped
            );
        }
        let _ = writeln!(out, "errors: {}", self.errors());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_run_reports_zeroes_and_nulls() {
        let report = Report {
            config: json!({}),
            wall: Duration::from_secs(1),
            append: AppendStats::new(),
            query: None,
            subscribers: vec![SubscribeStats::new()],
            freshness: None,
            sizes: None,
        };
        assert_eq!(report.errors(), 0);
        let value = report.json();
        assert_eq!(value["append"]["latency_ms"], Value::Null);
        assert_eq!(value["query"], Value::Null);
        assert_eq!(value["subscribe"]["subscribers"], 1);
        assert!(report.table().contains("append events"));
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut us = crate::load::histogram();
        for v in 1..=1_000u64 {
            us.record(v * 1_000).unwrap();
        }
        let p = Percentiles::of(&us).unwrap();
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1_000.0).abs() < 1.0, "{p:?}");
    }
}
