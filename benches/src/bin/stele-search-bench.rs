//! `stele-search-bench`: loads generated events into one log (reusing it
//! when the data directory already holds it), reports how fast they became
//! searchable and how big the index is, then times a fixed set of searches
//! and aggregations and prints their p50 and p99 latency.
//!
//! ```text
//! cargo run --release -p stele-benches --bin stele-search-bench -- \
//!     [--events N] [--profile standard|rich] [--dir PATH] [--runs N] [--warmup N] [--threads N] [--batch N] \
//!     [--generate along|ahead] [--fsync always|never|interval:<ms>] [--seed N] [--cache-mib N] [--json PATH] \
//!     [--actor ID] [--action NAME] [--word WORD] [--word2 WORD] [--words "A B"]
//! ```
//!
//! The log is named after the profile, event count and seed
//! (`bench-n<N>-s<seed>`, `bench-rich-n<N>-s<seed>`),
//! so runs with different sizes can share a directory. Loading: one thread
//! generates batches, `--threads` threads append them (`--generate ahead`:
//! every batch is generated before the clock starts, so that the generator
//! does not share the two cores with what is measured); the load is timed
//! from the first append until the index's own commits have made every
//! record searchable ("ingest to searchable"), and a thread polling the
//! index watermark times each batch from its ack until it is searchable
//! ("freshness"). The generator's "now" advances 2 ms per event
//! on average, so N events span about N × 2 ms (10 M events: about 5.6
//! hours); the report prints the actual span, and the day-, week- and
//! month-long windows of the queries are laid over it from the start of its
//! first UTC day. Narrower windows (an hour, or a fifth of the span when
//! shorter) are timed too, as variants that exercise time pruning.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stele_benches::fixture::{BoxError, cpu_seconds, policy, run_main};
use stele_benches::load::freshness::Waiting;
use stele_benches::{Generator, Profile};
use stele_engine::{Event, ExactField, FsyncPolicy, Log, Query, SegmentState, Store, StoreOptions};

const USAGE: &str = "usage: stele-search-bench [--events N (10000000)] [--profile standard|rich (standard)] [--dir PATH (target/search-bench)] \
     [--runs N (50)] [--warmup N (5)] [--threads N (4)] [--batch N (1000)] [--generate along|ahead (along)] \
     [--fsync always|never|interval:<ms> (always)] [--seed N (1)] [--cache-mib N (engine default)] \
     [--json PATH] [--actor ID] [--action NAME] [--word WORD (chowdhury5)] [--word2 WORD (coupon)] [--words \"A B\" (failed production)]";

/// One hour, one day, in ns.
const HOUR: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * HOUR;

/// Command-line settings.
struct Args {
    events: u64,
    profile: Profile,
    dir: PathBuf,
    runs: usize,
    warmup: usize,
    threads: usize,
    batch: usize,
    /// Generate every batch before the clock starts.
    generate_ahead: bool,
    fsync: FsyncPolicy,
    seed: u64,
    cache_mib: Option<u64>,
    json: Option<PathBuf>,
    actor: Option<String>,
    action: Option<String>,
    word: String,
    word2: String,
    words: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        events: 10_000_000,
        profile: Profile::Standard,
        dir: PathBuf::from("target/search-bench"),
        runs: 50,
        warmup: 5,
        threads: 4,
        batch: 1_000,
        generate_ahead: false,
        fsync: FsyncPolicy::Always,
        seed: 1,
        cache_mib: None,
        json: None,
        actor: None,
        action: None,
        // Counted over the 10 M events of seed 1 (tantivy's default
        // tokenizer: split on non-alphanumerics, lower-cased): `chowdhury5`,
        // from a rarely seen person's id (in messages and `details.user`),
        // is in 193 events, the only token of four letters or more in 10 to
        // 200 events; `coupon` (2,715) is the rarest dictionary word;
        // `failed` (170,525) and `production` (106,266) meet in 5,846.
        word: "chowdhury5".into(),
        word2: "coupon".into(),
        words: "failed production".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| -> Result<u64, String> {
            v.replace('_', "")
                .parse()
                .map_err(|e| format!("{flag} {v}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--events" => args.events = number(&value)?,
            "--profile" => {
                args.profile = value
                    .parse()
                    .map_err(|e| format!("--profile: {e}\n{USAGE}"))?;
            }
            "--dir" => args.dir = PathBuf::from(value),
            "--runs" => args.runs = number(&value)? as usize,
            "--warmup" => args.warmup = number(&value)? as usize,
            "--threads" => args.threads = number(&value)? as usize,
            "--batch" => args.batch = number(&value)? as usize,
            "--generate" => {
                args.generate_ahead = match value.as_str() {
                    "along" => false,
                    "ahead" => true,
                    _ => return Err(format!("--generate {value}: along or ahead\n{USAGE}")),
                };
            }
            "--fsync" => {
                args.fsync = value
                    .parse()
                    .map_err(|e| format!("--fsync: {e}\n{USAGE}"))?;
            }
            "--seed" => args.seed = number(&value)?,
            "--cache-mib" => args.cache_mib = Some(number(&value)?),
            "--json" => args.json = Some(PathBuf::from(value)),
            "--actor" => args.actor = Some(value),
            "--action" => args.action = Some(value),
            "--word" => args.word = value,
            "--word2" => args.word2 = value,
            "--words" => args.words = value,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.events == 0 || args.runs == 0 || args.threads == 0 || args.batch == 0 {
        return Err(format!(
            "--events, --runs, --threads and --batch must be at least 1\n{USAGE}"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    run_main("stele-search-bench", parse_args, run)
}

/// Prints a line at once (the load runs for minutes; progress matters).
macro_rules! say {
    ($($arg:tt)*) => {{
        println!($($arg)*);
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }};
}

fn run(args: &Args) -> Result<(), BoxError> {
    let name = match args.profile {
        Profile::Standard => format!("bench-n{}-s{}", args.events, args.seed),
        Profile::Rich => format!("bench-rich-n{}-s{}", args.events, args.seed),
    };
    let mut options = StoreOptions::default();
    if let Some(mib) = args.cache_mib {
        options.block_cache_bytes = mib << 20;
    }
    let cache_bytes = options.block_cache_bytes;
    say!(
        "data dir {}, log {name}, block cache {} MiB, {} CPUs",
        args.dir.display(),
        cache_bytes >> 20,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let opened = Instant::now();
    let store = Store::open_with(&args.dir, options)?;
    let mut report = json!({
        "events": args.events,
        "profile": args.profile.to_string(),
        "seed": args.seed,
        "dir": args.dir.display().to_string(),
        "log": name,
        "block_cache_bytes": cache_bytes,
    });
    let log = if store.list_logs()?.contains(&name) {
        let log = store.log(&name)?;
        let have = log.visible_seq();
        if have != args.events {
            return Err(format!(
                "{} holds {have} events, not {}: an interrupted load? Remove {} and run again",
                name,
                args.events,
                log.dir().display()
            )
            .into());
        }
        let took = opened.elapsed().as_secs_f64();
        say!(
            "reusing log {name}: it already holds {have} events (store and log opened in {took:.2} s); not loading"
        );
        report["reused"] = json!(true);
        report["open_s"] = json!(took);
        log
    } else {
        let log = store.create_log(&name, policy(args.fsync))?;
        report["reused"] = json!(false);
        report["load"] = load(args, &log)?;
        log
    };
    let settle = Instant::now();
    log.finish_seals()?;
    log.flush_index()?;
    say!(
        "finish_seals + flush_index: {:.2} s",
        settle.elapsed().as_secs_f64()
    );
    let n = log.visible_seq();
    if log.index_watermark() != n {
        return Err(format!(
            "after flush_index the watermark is {} of {n}",
            log.index_watermark()
        )
        .into());
    }

    report["sizes"] = sizes(&log, n)?;
    let span = span(&log);
    let (first, last) = span;
    say!(
        "event time span: {} .. {} = {:.2} h ({:.0} s)",
        utc(first),
        utc(last),
        (last - first) as f64 / HOUR as f64,
        (last - first) as f64 / 1e9
    );
    report["time_span"] = json!({
        "first_ns": first, "last_ns": last, "first": utc(first), "last": utc(last),
        "hours": (last - first) as f64 / HOUR as f64,
    });

    let queries = queries(args, &log, span)?;
    let mut rows = Vec::new();
    for q in &queries {
        rows.push(time_query(&log, q, args)?);
    }
    let table = table(&rows);
    say!("\n{table}");
    say!(
        "{} runs after {} warm-up runs each; percentiles are nearest-rank (with fewer than 100 runs, p99 is the slowest run); \
         \"first\" is the first warm-up run; segments: searched/all (count reports none)",
        args.runs,
        args.warmup.max(1)
    );
    report["runs"] = json!(args.runs);
    report["warmup"] = json!(args.warmup);
    report["queries"] = Value::Array(rows.iter().map(Row::to_json).collect());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
        say!("wrote {}", path.display());
    }
    Ok(())
}

/// Loads the events: one generator thread, `threads` appenders, a progress
/// line every 10 s. Returns the load's report.
fn load(args: &Args, log: &Arc<Log>) -> Result<Value, BoxError> {
    say!(
        "loading {} {} events (seed {}) in batches of {} from {} threads, fsync {}, default seal policy",
        args.events,
        args.profile,
        args.seed,
        args.batch,
        args.threads,
        args.fsync
    );
    let (tx, rx) = mpsc::sync_channel::<Vec<Event>>(args.threads * 4);
    let rx = Arc::new(Mutex::new(rx));
    let done = Arc::new(AtomicBool::new(false));
    let (events, seed, batch, profile) = (args.events, args.seed, args.batch as u64, args.profile);
    let batches = move |generator: &mut Generator, left: &mut u64| {
        let n = (*left).min(batch);
        *left -= n;
        generator.events(n as usize)
    };
    let mut generator = Generator::with_profile(seed, profile);
    // Events still to generate once the clock runs: none when generated ahead.
    let mut left = events;
    let mut ahead = Vec::new();
    if args.generate_ahead {
        say!("generating the events ahead of the clock");
        while left > 0 {
            ahead.push(batches(&mut generator, &mut left));
        }
    }
    let cpu_start = cpu_seconds()?;
    let start = Instant::now();

    let generator =
        std::thread::Builder::new()
            .name("generate".into())
            .spawn(move || -> Duration {
                let mut busy = Duration::ZERO;
                for events in ahead {
                    if tx.send(events).is_err() {
                        return busy;
                    }
                }
                while left > 0 {
                    let t = Instant::now();
                    let events = batches(&mut generator, &mut left);
                    busy += t.elapsed();
                    if tx.send(events).is_err() {
                        break;
                    }
                }
                busy
            })?;

    /// What one appender measured.
    #[derive(Default)]
    struct Appender {
        latencies: Vec<Duration>,
        starved: Duration,
        last_return: Option<Instant>,
    }
    let (acks_tx, acks_rx) = mpsc::channel::<(u64, Instant)>();
    let freshness = {
        let log = log.clone();
        std::thread::Builder::new()
            .name("freshness".into())
            .spawn(move || freshness(&log, &acks_rx))?
    };
    let appenders: Vec<_> = (0..args.threads)
        .map(|i| {
            let (rx, log, acks) = (rx.clone(), log.clone(), acks_tx.clone());
            std::thread::Builder::new()
                .name(format!("append-{i}"))
                .spawn(move || -> Result<Appender, String> {
                    let mut me = Appender::default();
                    loop {
                        let waited = Instant::now();
                        let next = rx.lock().expect("no appender panics").recv();
                        me.starved += waited.elapsed();
                        let Ok(batch) = next else { return Ok(me) };
                        let t = Instant::now();
                        let receipts = log.append(&batch).map_err(|e| e.to_string())?;
                        let acked = Instant::now();
                        me.latencies.push(acked.duration_since(t));
                        me.last_return = Some(acked);
                        if let Some(last) = receipts.last() {
                            let _ = acks.send((last.seq, acked));
                        }
                    }
                })
        })
        .collect::<Result<_, _>>()?;
    drop(acks_tx);

    let monitor = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || -> u64 {
                let mut max_lag = 0;
                let mut last = (Instant::now(), 0u64);
                let mut next_print = Instant::now() + Duration::from_secs(10);
                while !done.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(100));
                    let visible = log.visible_seq();
                    let lag = visible.saturating_sub(log.index_watermark());
                    max_lag = max_lag.max(lag);
                    if Instant::now() >= next_print {
                        let now = Instant::now();
                        let rate =
                            (visible - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                        say!(
                            "  {:>6.0} s  {visible:>10} appended ({rate:>7.0}/s over the last 10 s), index lag {lag:>8}, {} segments, RSS {} MiB",
                            start.elapsed().as_secs_f64(),
                            log.segments().len(),
                            rss_mib()
                        );
                        last = (now, visible);
                        next_print += Duration::from_secs(10);
                    }
                }
                max_lag
            })?
    };

    let mut latencies = Vec::new();
    let mut starved = Duration::ZERO;
    let mut last_return = start;
    let mut failure = None;
    for handle in appenders {
        match handle.join().expect("appenders do not panic") {
            Ok(me) => {
                latencies.extend(me.latencies);
                starved += me.starved;
                last_return = last_return.max(me.last_return.unwrap_or(start));
            }
            Err(e) => failure = Some(e),
        }
    }
    let generator_busy = generator.join().expect("the generator does not panic");
    if let Some(e) = failure {
        done.store(true, Ordering::Release);
        return Err(format!("append failed: {e}").into());
    }
    let appended = last_return.duration_since(start).as_secs_f64();
    let lag_at_end = log.visible_seq() - log.index_watermark();
    // Everything becomes searchable by the index's own commits, as it would
    // for a user: no flush_index, which would commit at once.
    let fresh = freshness
        .join()
        .expect("the freshness thread does not panic");
    done.store(true, Ordering::Release);
    let max_lag = monitor.join().expect("the monitor does not panic");
    let Some(all_searchable) = fresh.all_searchable else {
        return Err(format!(
            "not everything was searchable {} s after the last append (index watermark {} of {})",
            GIVE_UP.as_secs(),
            log.index_watermark(),
            log.visible_seq()
        )
        .into());
    };
    let searchable = all_searchable.duration_since(start).as_secs_f64();
    let settle_s = all_searchable.duration_since(last_return).as_secs_f64();
    let cpu = cpu_seconds()? - cpu_start;

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (p50, p99, max) = (
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
    );
    let n = args.events as f64;
    let starved_share = starved.as_secs_f64() / (appended * args.threads as f64);
    say!(
        "load: appended in {appended:.1} s = {:.0} events/s seen by appenders (batch latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms)",
        n / appended
    );
    let mut fresh_ms = fresh.latencies;
    fresh_ms.sort();
    let (f50, f99, fmax) = (
        ms(percentile(&fresh_ms, 0.50)),
        ms(percentile(&fresh_ms, 0.99)),
        ms(*fresh_ms.last().unwrap_or(&Duration::ZERO)),
    );
    say!(
        "load: index lag {lag_at_end} when the last append returned (max seen {max_lag}); all searchable {settle_s:.1} s after it"
    );
    say!(
        "load: ingest to searchable {searchable:.1} s = {:.0} events/s sustained append+index",
        n / searchable
    );
    say!(
        "load: freshness, ack to searchable per batch: p50 {f50:.0} ms, p99 {f99:.0} ms, max {fmax:.0} ms (watermark polled every {} ms)",
        FRESHNESS_POLL.as_millis()
    );
    let generated = if args.generate_ahead {
        "the events generated ahead of the clock".to_string()
    } else {
        format!("of it the generator {:.0} s", generator_busy.as_secs_f64())
    };
    say!(
        "load: {cpu:.0} CPU-s in all ({:.0} events per CPU-second); {generated}; appenders waited for batches {:.0}% of their time",
        n / cpu,
        starved_share * 100.0
    );
    Ok(json!({
        "threads": args.threads,
        "batch": args.batch,
        "fsync": args.fsync.to_string(),
        "append_s": appended,
        "append_events_per_s": n / appended,
        "batch_latency_ms": {"p50": p50, "p99": p99, "max": max},
        "index_lag_at_last_append": lag_at_end,
        "index_lag_max": max_lag,
        "searchable_after_last_append_s": settle_s,
        "searchable_s": searchable,
        "sustained_events_per_s": n / searchable,
        "ack_to_searchable_ms": {"p50": f50, "p99": f99, "max": fmax},
        "cpu_s": cpu,
        "generator_busy_s": generator_busy.as_secs_f64(),
        "generated_ahead": args.generate_ahead,
        "appenders_starved_share": starved_share,
    }))
}

/// How often the freshness thread reads the index watermark.
const FRESHNESS_POLL: Duration = Duration::from_millis(5);
/// How long after the last append everything must be searchable.
const GIVE_UP: Duration = Duration::from_secs(600);

/// What the freshness thread saw.
struct Freshness {
    /// Ack → searchable time of each batch.
    latencies: Vec<Duration>,
    /// When every acknowledged batch was searchable; `None` if that took
    /// longer than [`GIVE_UP`] after the appenders were done.
    all_searchable: Option<Instant>,
}

/// Reads the index watermark every [`FRESHNESS_POLL`] and times each
/// acknowledged batch (its last seq and ack time, from `acks`) until it is
/// below the watermark: searchable. Returns once the appenders are done
/// (`acks` closed) and every batch is searchable.
fn freshness(log: &Log, acks: &mpsc::Receiver<(u64, Instant)>) -> Freshness {
    let mut waiting = Waiting::default();
    let mut latencies = Vec::new();
    let mut closed_at: Option<Instant> = None;
    loop {
        loop {
            match acks.try_recv() {
                Ok((last_seq, acked)) => waiting.push(last_seq, acked),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    closed_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        let watermark = log.index_watermark();
        let now = Instant::now();
        waiting.settle(watermark, now, |latency| latencies.push(latency));
        match closed_at {
            Some(_) if waiting.is_empty() => {
                return Freshness {
                    latencies,
                    all_searchable: Some(now),
                };
            }
            Some(closed) if closed.elapsed() > GIVE_UP => {
                return Freshness {
                    latencies,
                    all_searchable: None,
                };
            }
            _ => std::thread::sleep(FRESHNESS_POLL),
        }
    }
}

/// Index and segment bytes, per event: of the whole log, and of its sealed
/// segments alone (the active segment is an uncompressed WAL, and its index
/// is not merged yet).
fn sizes(log: &Log, n: u64) -> Result<Value, BoxError> {
    let index_dir = log.dir().join("index");
    let index = dir_bytes(&index_dir)?;
    let segments = dir_bytes(&log.dir().join("segments"))?;
    let total = dir_bytes(log.dir())?;
    let infos = log.segments();
    let (mut sealed, mut sealed_events, mut sealed_file, mut sealed_index) = (0, 0, 0, 0);
    for s in infos.iter().filter(|s| s.state == SegmentState::Sealed) {
        sealed += 1;
        sealed_events += s.next_seq - s.first_seq;
        sealed_file += s.file_bytes;
        sealed_index += dir_bytes(&index_dir.join(format!("{:020}", s.first_seq)))?;
    }
    let per = |b: u64, n: u64| b as f64 / n.max(1) as f64;
    say!(
        "sizes: index {:.1} MB = {:.1} B/event; segments {:.1} MB = {:.1} B/event; whole log dir {:.1} MB; {} segments",
        b_to_mb(index),
        per(index, n),
        b_to_mb(segments),
        per(segments, n),
        b_to_mb(total),
        infos.len()
    );
    say!(
        "sizes: the {sealed} sealed segments alone ({sealed_events} events): index {:.1} B/event, segment files {:.1} B/event",
        per(sealed_index, sealed_events),
        per(sealed_file, sealed_events)
    );
    let space = log.index_space()?;
    let (docs, mut out) = (space.docs.max(1) as f64, String::new());
    let _ = writeln!(
        out,
        "index by field, bytes/event ({} documents): field, terms, postings, positions, fast, norms = total",
        space.docs
    );
    let mut by_field = serde_json::Map::new();
    for (name, f) in &space.fields {
        let per = |b: u64| b as f64 / docs;
        let _ = writeln!(
            out,
            "  {name:<16} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>5.1} = {:>7.1}",
            per(f.terms),
            per(f.postings),
            per(f.positions),
            per(f.fast),
            per(f.norms),
            per(f.total())
        );
        by_field.insert(
            name.clone(),
            json!({"terms": f.terms, "postings": f.postings, "positions": f.positions,
                   "fast": f.fast, "norms": f.norms}),
        );
    }
    let _ = write!(
        out,
        "  {:<16} {:>47.1}\n  {:<16} {:>47.1}",
        "(no field)",
        space.other as f64 / docs,
        "all",
        space.total() as f64 / docs
    );
    say!("{out}");
    Ok(json!({
        "index_space": {"docs": space.docs, "other": space.other, "fields": by_field},
        "index_bytes": index,
        "index_bytes_per_event": per(index, n),
        "segment_bytes": segments,
        "segment_bytes_per_event": per(segments, n),
        "log_dir_bytes": total,
        "segments": infos.len(),
        "sealed_segments": sealed,
        "sealed_events": sealed_events,
        "sealed_index_bytes_per_event": per(sealed_index, sealed_events),
        "sealed_segment_bytes_per_event": per(sealed_file, sealed_events),
    }))
}

/// Earliest and latest event time, from the segments' bounds.
fn span(log: &Log) -> (i64, i64) {
    log.segments()
        .iter()
        .filter(|s| s.stats.records > 0)
        .fold((i64::MAX, i64::MIN), |(lo, hi), s| {
            (lo.min(s.stats.min_time), hi.max(s.stats.max_time))
        })
}

/// What one timed query does.
enum Op {
    Search(Query),
    Count(Query),
    CountBy(Query, ExactField, usize),
    Histogram(Query, i64),
}

/// A query to time.
struct Bench {
    id: &'static str,
    what: String,
    op: Op,
}

/// The queries, their parameters picked from the data.
fn queries(args: &Args, log: &Log, (first, last): (i64, i64)) -> Result<Vec<Bench>, BoxError> {
    let all = Query::default();
    // Parameters, untimed. Moderate frequency: the actor at rank 100 (of
    // 5,062), the action at rank 20 (of 301), the tenant at rank 3 (of 50).
    let ranked = |field: ExactField, rank: usize| -> Result<(String, u64), BoxError> {
        let terms = log.count_by(&all, field, rank)?;
        Ok(terms
            .top
            .last()
            .cloned()
            .ok_or_else(|| format!("no {field} values"))?)
    };
    let count_of = |field: ExactField, value: &str| log.count(&all.clone().filter(field, &[value]));
    let (actor, actor_n) = match &args.actor {
        Some(a) => (a.clone(), count_of(ExactField::ActorId, a)?),
        None => ranked(ExactField::ActorId, 100)?,
    };
    let (action, action_n) = match &args.action {
        Some(a) => (a.clone(), count_of(ExactField::Action, a)?),
        None => ranked(ExactField::Action, 20)?,
    };
    let (tenant, tenant_n) = ranked(ExactField::Tenant, 3)?;
    let text_n = |text: &str| {
        log.count(&Query {
            text: text.into(),
            ..Query::default()
        })
    };
    // A request id, as an investigator copies it from an application log:
    // the first (in term order) of the chosen action's events.
    let request_id = log
        .count_by(
            &all.clone().filter(ExactField::Action, &[action.as_str()]),
            ExactField::RequestId,
            1,
        )?
        .top
        .first()
        .map(|(value, _)| value.clone())
        .ok_or("no request ids")?;
    let request_prefix: String = request_id.chars().take(8).collect();
    let word_n = text_n(&args.word)?;
    let word2_n = text_n(&args.word2)?;
    let words_n = text_n(&args.words)?;
    let mut each = Vec::new();
    for w in args.words.split_whitespace() {
        each.push(format!("{w}: {}", text_n(w)?));
    }

    let day0 = first.div_euclid(DAY) * DAY;
    let span = last - first + 1;
    // A narrow window in the middle of the data: an hour, or a fifth of the
    // span when that is shorter.
    let narrow = HOUR.min(span / 5).max(1);
    let mid = first + span / 2 - narrow / 2;
    let narrow_label = duration_label(narrow);
    say!(
        "parameters: actor {actor:?} ({actor_n} events, rank 100 by count unless --actor), action {action:?} ({action_n}), \
         tenant {tenant:?} ({tenant_n}), rare words {:?} ({word_n} events) and {:?} ({word2_n}), words {:?} ({words_n} together; {})",
        args.word,
        args.word2,
        args.words,
        each.join(", ")
    );
    say!(
        "windows: the data spans {:.2} h, so the 24-hour, 7-day and 30-day windows (from {}) each cover all of it; \
         the narrow variants use {narrow_label} from {}",
        span as f64 / HOUR as f64,
        utc(day0),
        utc(mid)
    );
    let window = |from: i64, len: i64| Query {
        from: Some(from),
        to: Some(from + len),
        ..Query::default()
    };
    let text = |t: &str| Query {
        text: t.into(),
        ..Query::default()
    };
    let month_buckets = 30;
    Ok(vec![
        Bench {
            id: "a",
            what: format!("actor.id = {actor}, newest 100"),
            op: Op::Search(all.clone().filter(ExactField::ActorId, &[&actor])),
        },
        Bench {
            id: "b",
            what: format!("action = {action}, 24 h window, newest 100"),
            op: Op::Search(window(day0, DAY).filter(ExactField::Action, &[&action])),
        },
        Bench {
            id: "b'",
            what: format!("action = {action}, {narrow_label} window, newest 100"),
            op: Op::Search(window(mid, narrow).filter(ExactField::Action, &[&action])),
        },
        Bench {
            id: "c",
            what: format!("text \"{}\" (rare word), newest 100", args.word),
            op: Op::Search(text(&args.word)),
        },
        Bench {
            id: "c'",
            what: format!("text \"{}\" (less rare word), newest 100", args.word2),
            op: Op::Search(text(&args.word2)),
        },
        Bench {
            id: "d",
            what: format!("text \"{}\" (AND), newest 100", args.words),
            op: Op::Search(text(&args.words)),
        },
        Bench {
            id: "e",
            what: format!("count tenant = {tenant}, outcome = failure, 7-day window"),
            op: Op::Count(
                window(day0, 7 * DAY)
                    .filter(ExactField::Tenant, &[&tenant])
                    .filter(ExactField::Outcome, &["failure"]),
            ),
        },
        Bench {
            id: "e'",
            what: format!("count tenant = {tenant}, outcome = failure, {narrow_label} window"),
            op: Op::Count(
                window(mid, narrow)
                    .filter(ExactField::Tenant, &[&tenant])
                    .filter(ExactField::Outcome, &["failure"]),
            ),
        },
        Bench {
            id: "f",
            what: "count by action, top 10, everything".into(),
            op: Op::CountBy(all.clone(), ExactField::Action, 10),
        },
        Bench {
            id: "f'",
            what: format!("count by request_id, top 10, action = {action}"),
            op: Op::CountBy(
                all.clone().filter(ExactField::Action, &[action.as_str()]),
                ExactField::RequestId,
                10,
            ),
        },
        Bench {
            id: "h",
            what: format!("request_id = {request_id}"),
            op: Op::Search(all.clone().filter(ExactField::RequestId, &[&request_id])),
        },
        Bench {
            id: "h'",
            what: format!("request_id = {request_prefix}* (prefix), newest 100"),
            op: Op::Search(
                all.clone()
                    .filter(ExactField::RequestId, &[&format!("{request_prefix}*")]),
            ),
        },
        Bench {
            id: "g",
            what: format!("histogram, 1-day buckets over {month_buckets} days"),
            op: Op::Histogram(window(day0, month_buckets * DAY), DAY),
        },
        Bench {
            id: "g'",
            what: "histogram, 1-minute buckets over the whole span".into(),
            op: Op::Histogram(all, 60_000_000_000),
        },
    ])
}

/// One timed query's results.
struct Row {
    id: &'static str,
    what: String,
    /// Hits returned, or the count.
    result: String,
    result_n: u64,
    segments: String,
    first_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

impl Row {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "query": self.what, "result": self.result, "result_n": self.result_n,
            "segments": self.segments, "first_ms": self.first_ms, "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms, "mean_ms": self.mean_ms, "min_ms": self.min_ms, "max_ms": self.max_ms,
        })
    }
}

/// Runs `bench` once; returns a description of its result, a number for it
/// and the segments it searched.
fn execute(log: &Log, bench: &Bench) -> Result<(String, u64, String), BoxError> {
    let seg = |s: stele_engine::query::SearchStats| {
        format!(
            "{}/{}",
            s.segments_searched,
            s.segments_searched + s.segments_skipped
        )
    };
    Ok(match &bench.op {
        Op::Search(q) => {
            let page = log.search(q)?;
            let decoded = page.hits.iter().filter(|h| h.event.is_some()).count();
            if decoded != page.hits.len() {
                return Err(format!(
                    "{}: {decoded} of {} hits decoded",
                    bench.id,
                    page.hits.len()
                )
                .into());
            }
            let newest = page
                .hits
                .first()
                .and_then(|h| h.event.as_ref())
                .and_then(|e| e.time)
                .map_or_else(String::new, |t| format!(", newest {}", utc(t)));
            (
                format!("{} hits{newest}", page.hits.len()),
                page.hits.len() as u64,
                seg(page.stats),
            )
        }
        Op::Count(q) => {
            let n = log.count(q)?;
            (format!("count {n}"), n, "-".into())
        }
        Op::CountBy(q, field, top) => {
            let terms = log.count_by(q, *field, *top)?;
            let (v, c) = terms.top.first().cloned().unwrap_or_default();
            (
                format!(
                    "{} values, top {v} {c}, total {}",
                    terms.top.len(),
                    terms.total
                ),
                terms.total,
                seg(terms.stats),
            )
        }
        Op::Histogram(q, interval) => {
            let h = log.histogram(q, *interval, None)?;
            let non_empty = h.buckets.iter().filter(|b| b.count > 0).count();
            (
                format!(
                    "{} buckets ({non_empty} non-empty), total {}",
                    h.buckets.len(),
                    h.total
                ),
                h.total,
                seg(h.stats),
            )
        }
    })
}

fn time_query(log: &Log, bench: &Bench, args: &Args) -> Result<Row, BoxError> {
    let mut first_ms = 0.0;
    for i in 0..args.warmup.max(1) {
        let t = Instant::now();
        execute(log, bench)?;
        if i == 0 {
            first_ms = t.elapsed().as_secs_f64() * 1e3;
        }
    }
    let mut times = Vec::with_capacity(args.runs);
    let mut last = None;
    for _ in 0..args.runs {
        let t = Instant::now();
        let out = execute(log, bench)?;
        times.push(t.elapsed());
        last = Some(out);
    }
    let (result, result_n, segments) = last.expect("runs ≥ 1");
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let row = Row {
        id: bench.id,
        what: bench.what.clone(),
        result,
        result_n,
        segments,
        first_ms,
        p50_ms: ms(percentile(&times, 0.50)),
        p99_ms: ms(percentile(&times, 0.99)),
        mean_ms: ms(times.iter().sum::<Duration>()) / times.len() as f64,
        min_ms: ms(times[0]),
        max_ms: ms(*times.last().expect("runs ≥ 1")),
    };
    say!(
        "  ({}) p50 {:.2} ms, p99 {:.2} ms: {}",
        row.id,
        row.p50_ms,
        row.p99_ms,
        row.what
    );
    Ok(row)
}

fn table(rows: &[Row]) -> String {
    let what_w = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    let result_w = rows.iter().map(|r| r.result.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut line = |text: String| {
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(format!(
        "{:<3} {:<what_w$}  {:>9} {:>9} {:>9} {:>9}  {:>8}  {:<result_w$}",
        "", "query", "p50 ms", "p99 ms", "mean ms", "first ms", "segments", "result"
    ));
    for r in rows {
        line(format!(
            "{:<3} {:<what_w$}  {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {:>8}  {:<result_w$}",
            r.id, r.what, r.p50_ms, r.p99_ms, r.mean_ms, r.first_ms, r.segments, r.result
        ));
    }
    out
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn dir_bytes(path: &Path) -> Result<u64, BoxError> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn b_to_mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `2026-01-05T09:00:00.000Z` for ns since the epoch.
fn utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn duration_label(ns: i64) -> String {
    if ns % HOUR == 0 {
        format!("{}-hour", ns / HOUR)
    } else {
        format!("{:.0}-second", ns as f64 / 1e9)
    }
}

/// Resident set size in MiB, from `/proc/self/statm` (0 when unreadable).
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| (pages * 4096) >> 20)
}
