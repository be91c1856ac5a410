//! `stele-sizes`: loads generated events into a log (fsync `never`, the
//! default seal policy), seals it, and prints how big the data is at each
//! stage and how fast it was appended, scanned and verified. A quick,
//! single-shot companion to the criterion benchmarks.
//!
//! ```text
//! cargo run --release -p stele-benches --bin stele-sizes -- \
//!     [--events N] [--batch N] [--seed N] [--profile standard|rich] [--zstd-level N] [--block-kib N] \
//!     [--dictionary-kib N] [--manual-seal]
//! ```
//!
//! `--zstd-level`, `--block-kib` and `--dictionary-kib` override the
//! policy's compression settings, to compare them against the defaults.
//! `--manual-seal` turns sealing by size off, so that no segment is sealed in
//! the background while the append is timed and all are sealed at the end.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use stele_benches::fixture::{BoxError, cpu_seconds, manual_seal, policy, run_main};
use stele_benches::{Generator, Profile, TempLog, json_bytes};
use stele_engine::{Direction, Event, FsyncPolicy, Policy, SealOptions, SegmentState};

/// Command-line settings.
struct Args {
    events: usize,
    batch: usize,
    seed: u64,
    profile: Profile,
    compression: SealOptions,
    manual_seal: bool,
}

const USAGE: &str = "usage: stele-sizes [--events N (1000000)] [--batch N (1000)] [--seed N (1)] [--profile standard|rich (standard)] \
                     [--zstd-level N] [--block-kib N] [--dictionary-kib N] (default: the policy's) [--manual-seal]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        events: 1_000_000,
        batch: 1_000,
        seed: 1,
        profile: Profile::Standard,
        compression: SealOptions::default(),
        manual_seal: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--manual-seal" {
            args.manual_seal = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?
            .replace('_', "");
        if flag == "--profile" {
            args.profile = value
                .parse()
                .map_err(|e| format!("--profile: {e}\n{USAGE}"))?;
            continue;
        }
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}\n{USAGE}");
        match flag.as_str() {
            "--events" => args.events = value.parse().map_err(bad)?,
            "--batch" => args.batch = value.parse().map_err(bad)?,
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--zstd-level" => args.compression.zstd_level = value.parse().map_err(bad)?,
            "--block-kib" => {
                args.compression.block_bytes = value.parse::<usize>().map_err(bad)? << 10;
            }
            "--dictionary-kib" => {
                args.compression.dictionary_bytes = value.parse::<usize>().map_err(bad)? << 10;
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.events == 0 || args.batch == 0 {
        return Err(format!("--events and --batch must be at least 1\n{USAGE}"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    run_main("stele-sizes", parse_args, run)
}

/// Wall-clock and CPU time (all threads, user + system) of one phase.
#[derive(Clone, Copy)]
struct Took {
    wall: f64,
    cpu: f64,
}

impl Took {
    /// Runs `f` and measures it.
    fn measure<T>(f: impl FnOnce() -> T) -> Result<(T, Took), BoxError> {
        let (wall, cpu) = (Instant::now(), cpu_seconds()?);
        let value = f();
        let took = Took {
            wall: wall.elapsed().as_secs_f64(),
            cpu: cpu_seconds()? - cpu,
        };
        Ok((value, took))
    }

    /// `count` per wall-clock second and per CPU second, and the times.
    fn rates(&self, count: f64, unit: &str) -> String {
        format!(
            "{:.0} {unit}/s ({:.0} {unit} per CPU-second; {:.2} s wall, {:.2} s CPU)",
            count / self.wall,
            count / self.cpu,
            self.wall,
            self.cpu
        )
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn run(args: &Args) -> Result<(), BoxError> {
    let n = args.events as u64;
    let (events, generated) =
        Took::measure(|| Generator::with_profile(args.seed, args.profile).events(args.events))?;
    let raw_json = json_bytes(&events);
    let mut batches: Vec<Vec<Event>> = Vec::with_capacity(args.events.div_ceil(args.batch));
    let mut events = events.into_iter();
    loop {
        let batch: Vec<Event> = events.by_ref().take(args.batch).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(batch);
    }

    let mut policy = Policy {
        compression: args.compression,
        ..policy(FsyncPolicy::Never)
    };
    if args.manual_seal {
        policy = manual_seal(policy);
    }
    let temp = TempLog::new(policy)?;
    let log = &temp.log;
    let (appended, append) = Took::measure(|| {
        batches
            .iter()
            .try_for_each(|batch| log.append(batch).map(drop))
    })?;
    appended?;
    let segments_after_append = log.segments();
    let background_seals = segments_after_append
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .count();
    let unsealed: u64 = segments_after_append
        .iter()
        .filter(|s| s.state != SegmentState::Sealed)
        .map(|s| s.next_seq - s.first_seq)
        .sum();
    let (sealed, seal) = Took::measure(|| log.seal())?;
    sealed?;
    let (body_bytes, sealed_bytes) = temp.sealed_bytes();
    let segments = log
        .segments()
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .count();

    let (scanned, scan) = Took::measure(|| {
        log.scan(.., Direction::Forward)
            .try_fold(0u64, |n, record| record.map(|_| n + 1))
    })?;
    let scanned = scanned?;

    let mut stored_json = 0u64;
    for record in log.scan(.., Direction::Forward) {
        if let Some(event) = record?.event()? {
            stored_json += serde_json::to_string(&event)?.len() as u64;
        }
    }

    let key = temp.store.public_key();
    let (report, verify) = Took::measure(|| log.verify(0..u64::MAX, &key))?;
    let report = report?;
    if let Some(failure) = &report.failure {
        return Err(format!("verification failed: {failure}").into());
    }

    let per_event = |bytes: u64| bytes as f64 / n as f64;
    let mut out = String::new();
    writeln!(
        out,
        "events                    {n} ({} profile, seed {}, batches of {}; zstd level {}, {} KiB blocks, {} KiB dictionary)",
        args.profile,
        args.seed,
        args.batch,
        args.compression.zstd_level,
        args.compression.block_bytes >> 10,
        args.compression.dictionary_bytes >> 10
    )?;
    writeln!(
        out,
        "generate                  {}",
        generated.rates(n as f64, "events")
    )?;
    writeln!(
        out,
        "raw JSON as sent          {:.1} MB ({:.1} bytes/event)",
        mb(raw_json),
        per_event(raw_json)
    )?;
    writeln!(
        out,
        "JSON as stored (with id)  {:.1} MB ({:.1} bytes/event)",
        mb(stored_json),
        per_event(stored_json)
    )?;
    writeln!(
        out,
        "stored bodies             {:.1} MB ({:.1} bytes/event)",
        mb(body_bytes),
        per_event(body_bytes)
    )?;
    writeln!(
        out,
        "sealed segments           {:.1} MB ({:.1} bytes/event, {segments} segments)",
        mb(sealed_bytes),
        per_event(sealed_bytes)
    )?;
    writeln!(
        out,
        "raw JSON / sealed         {:.2} (target >= 8)",
        raw_json as f64 / sealed_bytes as f64
    )?;
    writeln!(
        out,
        "stored bodies / sealed    {:.2}",
        body_bytes as f64 / sealed_bytes as f64
    )?;
    writeln!(
        out,
        "append, fsync never       {} = {:.1} MB/s of raw JSON; {background_seals} segments sealed meanwhile",
        append.rates(n as f64, "events"),
        mb(raw_json) / append.wall
    )?;
    writeln!(
        out,
        "final seal of {unsealed:<10}  {}",
        seal.rates(unsealed as f64, "events")
    )?;
    writeln!(
        out,
        "append, then seal it all  {:.0} events/s ({:.2} s wall): what sustained ingest can reach",
        n as f64 / (append.wall + seal.wall),
        append.wall + seal.wall
    )?;
    writeln!(
        out,
        "scan forward              {} = {:.1} MB/s of raw JSON",
        scan.rates(scanned as f64, "events"),
        mb(raw_json) / scan.wall
    )?;
    writeln!(
        out,
        "verify                    {} of stored bodies ({} records)",
        verify.rates(report.body_bytes as f64 / 1e6, "MB"),
        report.records
    )?;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}
