//! `stele-load`: drives a running `steled` over gRPC and reports append
//! throughput and latency, query latency and subscriber lag.
//!
//! ```text
//! cargo run --release -p stele-benches --bin stele-load -- \
//!     [--endpoint URL] [--token T] [--ca-cert PEM] [--log NAME] [--fsync POLICY] \
//!     [--connections N] [--in-flight N] [--batch N] [--rate EVENTS_PER_S] \
//!     [--duration S | --events N] [--queries-per-sec Q] [--subscribers S] \
//!     [--seed N] [--profile standard|rich] [--protocol grpc|http] [--freshness] \
//!     [--generate along|ahead] [--sizes] [--json PATH]
//! ```
//!
//! It creates the log when it is missing (`Admin.CreateLog`), opens the
//! subscriptions (from the head), then runs `--connections` appenders, each
//! on a connection of its own with an `AppendStream` holding up to
//! `--in-flight` batches of generated events, and the querier, until
//! `--duration` has passed or `--events` were sent. Subscribers then get a
//! few seconds to deliver the last acknowledged record. `--profile rich`
//! sends the generator's rich events (nested `details`, about 725 bytes).
//! `--freshness` adds a searcher that times each acknowledged batch until a
//! search sees it, and the whole run until everything is searchable;
//! `--generate ahead` makes every batch before the clock starts (with
//! `--events`, over gRPC), so that generating events does not share the
//! cores with a `steled` on the same host (holding them all in memory,
//! about 0.8 GB per million standard events); the default generates along.
//! `--sizes` seals the log at the end and reports its segment and index
//! bytes per record. `--protocol http` appends over the HTTP/JSON API
//! instead (`POST /v1/logs/{log}/events`, a JSON array per batch, up to
//! `--in-flight` requests outstanding per connection), to compare the two
//! front doors. The figures are
//! printed as a table on stdout and written as JSON with `--json`. It exits
//! 1 when it cannot reach the server or when anything failed (a refused
//! batch, a failed call, a subscriber that missed a record), 2 on bad flags.
//! See `stele_benches::load` for how each figure is measured.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::future::join_all;
use serde_json::json;
use stele_benches::Profile;
use stele_benches::load::append::{self, AppendPlan, AppendStats};
use stele_benches::load::connect::{AdminApi, Target};
use stele_benches::load::freshness;
use stele_benches::load::http_append::{self, HttpTarget};
use stele_benches::load::query::{self, QueryPlan};
use stele_benches::load::report::Report;
use stele_benches::load::sizes;
use stele_benches::load::subscribe::{self, SubscribeStats};
use stele_benches::load::{ANSWER_TIMEOUT, ErrorPrinter, Phase, status_text};
use stele_proto::v1::{CreateLogRequest, Event, Policy};
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tonic::Code;

/// How long subscribers get, once the appenders are done, to deliver the
/// last acknowledged record.
const CATCH_UP: Duration = Duration::from_secs(10);

/// Load generator for a running steled: appends generated audit events over
/// AppendStream, optionally queries and subscribes at the same time, and
/// reports throughput, latency percentiles and subscriber lag.
#[derive(Debug, Parser)]
#[command(name = "stele-load", version)]
struct Args {
    /// Server address, http:// or https://.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    endpoint: String,
    /// Bearer token sent as `authorization: Bearer <token>` on every call.
    #[arg(long, env = "STELE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM certificate of the CA that signed the server's certificate
    /// (https endpoints only).
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// Log to append to; created when missing (an existing log keeps its
    /// policy).
    #[arg(long, default_value = "load")]
    log: String,
    /// fsync policy of the log if this run creates it: always,
    /// interval:<ms> or never.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Appending connections, each with its own HTTP/2 connection and
    /// AppendStream.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Batches sent and not yet answered, per connection, at most.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    in_flight: u32,
    /// Events per batch (the server refuses more than its log's limit,
    /// 10,000 by default).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Target events per second over all connections; 0 sends as fast as
    /// the in-flight limit allows. Each connection sends one batch every
    /// batch × connections / rate seconds.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to append for.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    duration: f64,
    /// Append this many events in all instead of running for --duration.
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    events: Option<u64>,
    /// Selective queries started per second while appending (actor,
    /// action in a time window, tenant and outcome, resource, area prefix);
    /// 0 for none.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative_rate)]
    queries_per_sec: f64,
    /// Subscribers following the log from its head, each on a connection of
    /// its own, measuring lag and checking that no seq is skipped.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1024))]
    subscribers: u32,
    /// Seed of the event generator; connection i uses seed + i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Shape of the generated events: standard (about 455 bytes of JSON)
    /// or rich (about 725, nested details on every event).
    #[arg(long, default_value = "standard")]
    profile: Profile,
    /// How the appenders send: grpc (AppendStream) or http (POST of JSON
    /// arrays to the HTTP/JSON API on the same port).
    #[arg(long, default_value = "grpc", value_parser = ["grpc", "http"])]
    protocol: String,
    /// Also run a searcher that polls the log and times, for every
    /// acknowledged batch, how long until a search sees it.
    #[arg(long)]
    freshness: bool,
    /// When the events are generated: along (each connection generates
    /// while it sends) or ahead (every batch before the clock starts, so
    /// that the generator does not share the cores with a server on the
    /// same host; needs --events and --protocol grpc). Ahead holds every
    /// event in memory: about 0.8 GB per million standard events.
    #[arg(long, default_value = "along", value_parser = ["along", "ahead"], requires_if("ahead", "events"))]
    generate: String,
    /// At the end, seal the log and report its segment and index bytes
    /// per record once sealed and indexed (needs the admin role).
    #[arg(long)]
    sizes: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// One appending connection, over either front door.
enum Appender {
    Grpc(stele_benches::load::connect::SteleApi),
    Http(HttpTarget),
}

/// An HTTP client of its own (a connection pool of its own) for one
/// appending connection.
fn http_target(args: &Args) -> Result<HttpTarget, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(args.in_flight as usize);
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cert =
            reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(HttpTarget {
        client: builder.build().map_err(|e| e.to_string())?,
        endpoint: args.endpoint.trim_end_matches('/').to_string(),
        token: args.token.clone(),
    })
}

/// A finite number of seconds above 0.
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(secs),
        _ => Err(format!("`{text}` is not a positive number of seconds")),
    }
}

/// A finite rate of 0 or more.
fn non_negative_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err(format!("`{text}` is not a rate of 0 or more per second")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(report) => {
            print!("{}", report.table());
            let mut status = if report.errors() > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
            if let Some(path) = &args.json {
                let text = format!("{:#}\n", report.json());
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("stele-load: cannot write {}: {e}", path.display());
                    status = ExitCode::FAILURE;
                }
            }
            status
        }
        Err(message) => {
            eprintln!("stele-load: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Connects, creates the log, runs the load and gathers the figures. An
/// `Err` is a failure to start (bad settings, no server, no log).
async fn run(args: &Args) -> Result<Report, String> {
    let target = Target::new(
        &args.endpoint,
        args.ca_cert.as_deref(),
        args.token.as_deref(),
    )?;
    let control = target.connect().await?;
    ensure_log(&mut target.admin(control.clone()), &args.log, &args.fsync).await?;

    let connections = args.connections as usize;
    let seeds: Vec<u64> = (0..args.connections)
        .map(|i| args.seed.wrapping_add(u64::from(i)))
        .collect();
    let http = args.protocol == "http";
    if http && args.subscribers > 0 {
        return Err("--subscribers measures lag from stamps that only the gRPC appenders send: use --protocol grpc".into());
    }
    let ahead = args.generate == "ahead";
    if http && ahead {
        return Err("--generate ahead makes gRPC batches: use --protocol grpc".into());
    }
    let mut appenders = Vec::with_capacity(connections);
    for _ in 0..connections {
        appenders.push(if http {
            Appender::Http(http_target(args)?)
        } else {
            Appender::Grpc(target.stele(target.connect().await?))
        });
    }
    let errors = Arc::new(ErrorPrinter::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Appending);

    // Subscriptions are open before the first append, so that each must
    // deliver every record appended.
    let mut subscribers = Vec::with_capacity(args.subscribers as usize);
    for _ in 0..args.subscribers {
        let mut client = target.stele(target.connect().await?);
        let follower = match subscribe::open(&mut client, &args.log).await {
            Ok(stream) => tokio::spawn(subscribe::follow(
                stream,
                phase_rx.clone(),
                Arc::clone(&errors),
            )),
            Err(message) => {
                errors.report("subscribe", &message);
                tokio::spawn(async {
                    SubscribeStats {
                        errors: 1,
                        ..SubscribeStats::new()
                    }
                })
            }
        };
        subscribers.push(follower);
    }

    let querier = (args.queries_per_sec > 0.0).then(|| {
        let plan = QueryPlan {
            log: args.log.clone(),
            per_sec: args.queries_per_sec,
            seeds: seeds.clone(),
            profile: args.profile,
        };
        tokio::spawn(query::run(
            target.stele(control.clone()),
            plan,
            phase_rx.clone(),
            Arc::clone(&errors),
        ))
    });

    eprintln!(
        "stele-load: appending to `{}` at {} over {connections} {} connections ({}), {} in flight of {} events each, {}",
        args.log,
        target.uri(),
        args.protocol,
        match args.events {
            Some(events) => format!("{events} events"),
            None => format!("{} s", args.duration),
        },
        args.in_flight,
        args.batch,
        if args.rate == 0 {
            "flat out".to_string()
        } else {
            format!("{} events/s", args.rate)
        },
    );
    let (acks, freshness) = if args.freshness {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let searcher = tokio::spawn(freshness::run(
            target.stele(target.connect().await?),
            args.log.clone(),
            rx,
            Arc::clone(&errors),
        ));
        (Some(tx), Some(searcher))
    } else {
        (None, None)
    };
    let ready = match (ahead, args.events) {
        (true, Some(events)) => batches_ahead(args, &seeds, events),
        _ => vec![None; connections],
    };
    let start = Instant::now();
    let deadline = args
        .events
        .is_none()
        .then(|| start + Duration::from_secs_f64(args.duration));
    let period = (args.rate > 0).then(|| {
        Duration::from_secs_f64(
            f64::from(args.batch) * f64::from(args.connections) / args.rate as f64,
        )
    });
    let tasks: Vec<_> = appenders
        .into_iter()
        .zip(&seeds)
        .zip(ready)
        .enumerate()
        .map(|(i, ((client, &seed), ahead))| {
            let plan = AppendPlan {
                log: args.log.clone(),
                batch: args.batch as usize,
                in_flight: args.in_flight as usize,
                quota: args.events.map(|events| share(events, connections, i)),
                deadline,
                period,
                seed,
                profile: args.profile,
                acks: acks.clone(),
                ahead,
            };
            match client {
                Appender::Grpc(client) => {
                    tokio::spawn(append::run(client, plan, Arc::clone(&errors)))
                }
                Appender::Http(target) => {
                    tokio::spawn(http_append::run(target, plan, Arc::clone(&errors)))
                }
            }
        })
        .collect();
    let mut appended = AppendStats::new();
    for done in join_all(tasks).await {
        match done {
            Ok(stats) => appended.merge(&stats),
            Err(failed) => {
                appended.errors += 1;
                errors.report("append", &format!("appender task failed: {failed}"));
            }
        }
    }
    let wall = start.elapsed();
    drop(acks);
    let freshness = match freshness {
        Some(task) => {
            let stats = task
                .await
                .map_err(|failed| format!("freshness task failed: {failed}"))?;
            let searchable = stats.all_searchable.map(|t| t.duration_since(start));
            Some((stats, searchable))
        }
        None => None,
    };

    let next_seq = appended.seqs.map_or(0, |(_, last)| last + 1);
    phase_tx.send_replace(Phase::Draining { next_seq });
    let followers = join_all(subscribers);
    tokio::pin!(followers);
    let finished = match timeout(CATCH_UP, followers.as_mut()).await {
        Ok(finished) => finished,
        Err(_) => {
            phase_tx.send_replace(Phase::Stopped);
            followers.await
        }
    };
    let mut subscribed = Vec::with_capacity(finished.len());
    for done in finished {
        let mut stats = done.unwrap_or_else(|failed| {
            errors.report("subscribe", &format!("subscriber task failed: {failed}"));
            SubscribeStats {
                errors: 1,
                ..SubscribeStats::new()
            }
        });
        stats.settle(appended.seqs);
        subscribed.push(stats);
    }
    phase_tx.send_replace(Phase::Stopped);
    let queried = match querier {
        Some(task) => Some(
            task.await
                .map_err(|failed| format!("query task failed: {failed}"))?,
        ),
        None => None,
    };

    let sizes = if args.sizes {
        Some(sizes::after_sealing(&mut target.admin(control.clone()), &args.log).await?)
    } else {
        None
    };

    Ok(Report {
        config: json!({
            "endpoint": args.endpoint,
            "log": args.log,
            "fsync": args.fsync,
            "connections": args.connections,
            "in_flight": args.in_flight,
            "batch": args.batch,
            "rate": args.rate,
            "duration_s": args.events.is_none().then_some(args.duration),
            "events": args.events,
            "queries_per_sec": args.queries_per_sec,
            "subscribers": args.subscribers,
            "seed": args.seed,
            "profile": args.profile.to_string(),
            "freshness": args.freshness,
            "generate": args.generate,
            "sizes": args.sizes,
        }),
        wall,
        append: appended,
        query: queried,
        subscribers: subscribed,
        freshness,
        sizes,
    })
}

/// Each connection's share of `events`, generated from its seed (one
/// thread per connection) and cut into batches, before the clock starts.
fn batches_ahead(args: &Args, seeds: &[u64], events: u64) -> Vec<Option<Vec<Vec<Event>>>> {
    eprintln!("stele-load: generating {events} events ahead of the clock");
    let batch = args.batch as usize;
    std::thread::scope(|scope| {
        let makers: Vec<_> = seeds
            .iter()
            .enumerate()
            .map(|(i, &seed)| {
                let count = share(events, seeds.len(), i);
                scope.spawn(move || append::generate(seed, args.profile, batch, count))
            })
            .collect();
        makers
            .into_iter()
            .map(|maker| Some(maker.join().expect("a generator thread does not panic")))
            .collect()
    })
}

/// Connection `i`'s part of `total` events split over `n` connections.
fn share(total: u64, n: usize, i: usize) -> u64 {
    let (n, i) = (n as u64, i as u64);
    total / n + u64::from(i < total % n)
}

/// Creates `log` with fsync policy `fsync` unless it exists. A token
/// without the admin role cannot create it: that is a warning, and the run
/// goes on in case the log exists.
async fn ensure_log(admin: &mut AdminApi, log: &str, fsync: &str) -> Result<(), String> {
    let request = CreateLogRequest {
        name: log.to_string(),
        policy: Some(Policy {
            fsync: fsync.to_string(),
            ..Policy::default()
        }),
    };
    match timeout(ANSWER_TIMEOUT, admin.create_log(request)).await {
        Ok(Ok(_)) => {
            eprintln!("stele-load: created log `{log}` (fsync {fsync})");
            Ok(())
        }
        Ok(Err(status)) if status.code() == Code::AlreadyExists => Ok(()),
        Ok(Err(status)) if status.code() == Code::PermissionDenied => {
            eprintln!(
                "stele-load: warning: cannot create log `{log}` ({}); appending in case it exists",
                status_text(&status)
            );
            Ok(())
        }
        Ok(Err(status)) => Err(format!(
            "cannot create log `{log}`: {}",
            status_text(&status)
        )),
        Err(_) => Err(format!(
            "CreateLog not answered within {} s",
            ANSWER_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn shares_add_up() {
        for (total, n) in [(10, 4), (3, 4), (1_000_000, 7)] {
            let parts: Vec<u64> = (0..n).map(|i| share(total, n, i)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total);
            assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn generating_ahead_needs_a_count() {
        let parsed = Args::try_parse_from(["stele-load", "--generate", "ahead"]);
        assert!(
            parsed.is_err(),
            "a run bounded by time cannot be made ahead"
        );
        let args =
            Args::try_parse_from(["stele-load", "--generate", "ahead", "--events", "5"]).unwrap();
        assert_eq!(args.generate, "ahead");
    }

    #[test]
    fn events_and_duration_exclude_each_other() {
        let parsed = Args::try_parse_from(["stele-load", "--events", "5", "--duration", "3"]);
        assert!(parsed.is_err());
        let args = Args::try_parse_from(["stele-load", "--events", "5"]).unwrap();
        assert_eq!(args.events, Some(5));
    }
}
