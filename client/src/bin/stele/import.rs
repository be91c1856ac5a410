//! `stele import`: JSON Lines in the DESIGN schema, or another system's
//! records (`--format cloudtrail`, mapped by [`stele_client::import`]),
//! batched and pipelined through an [`Appender`], with a progress bar and a
//! summary. A bad line or record (unreadable JSON, a record that does not
//! map, a refused event) is reported with its number on stderr, then
//! skipped or fatal (`--on-error`); none is lost silently.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use stele_client::import::Format;
use stele_client::{AppenderOptions, Client, PendingReceipt};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::fail::Failure;
use crate::output::thousands;
use crate::visible::visible;

/// Import events from JSON Lines, or AWS CloudTrail, Kubernetes, GitHub or OCSF audit logs (--format)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line is one event in the JSON form of the event schema, e.g.
  {\"action\":\"git.push\",\"actor\":{\"id\":\"alice\",\"kind\":\"user\"},\"outcome\":\"success\"}
Blank lines are ignored. Events without an `id` get a UUIDv7.

--format auto (the default) recognises the input from its first line.
--format cloudtrail reads AWS CloudTrail: each line a delivery file as
CloudTrail writes it ({\"Records\":[...]}, one line) or one record.
--format k8s-audit reads the Kubernetes API server's audit log (one
audit.k8s.io/v1 Event a line; the final stage of each request).
--format github-audit reads GitHub's audit log as JSON (one event a line,
or the export's array on one line). --format ocsf reads OCSF 1.x API
Activity (6003) and Authentication (3002) events. The whole
record is kept in `details` (docs/import.md has the mappings).

Examples:
  stele import --log audit events.jsonl
  zcat events.jsonl.gz | stele import --log audit -
  stele import --log audit --on-error fail events.jsonl
  zcat 123456789012_CloudTrail_*.json.gz | stele import --log aws --format cloudtrail -"
)]
pub struct ImportArgs {
    /// Log to append to
    #[arg(long)]
    log: String,
    /// File to read, or - for stdin
    file: PathBuf,
    /// What a bad line does: skip it (reported, exit 2 at the end) or stop
    #[arg(long, value_enum, default_value = "skip")]
    on_error: OnError,
    /// What the lines hold
    #[arg(long, value_enum, default_value = "auto")]
    format: InputFormat,
    /// Events per batch
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Batches in flight
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InputFormat {
    /// Recognised from the first line
    Auto,
    /// Stele events, one JSON object a line
    Jsonl,
    /// AWS CloudTrail delivery files or records, one a line
    Cloudtrail,
    /// Kubernetes audit events (audit.k8s.io/v1), one a line
    K8sAudit,
    /// GitHub audit log events, one a line or a JSON array a line
    GithubAudit,
    /// OCSF 1.x API Activity and Authentication events, one a line or an array a line
    Ocsf,
}

impl InputFormat {
    /// The format it names; `None` for `auto`.
    fn format(self) -> Option<Format> {
        match self {
            InputFormat::Auto => None,
            InputFormat::Jsonl => Some(Format::Stele),
            InputFormat::Cloudtrail => Some(Format::CloudTrail),
            InputFormat::K8sAudit => Some(Format::K8sAudit),
            InputFormat::GithubAudit => Some(Format::GithubAudit),
            InputFormat::Ocsf => Some(Format::Ocsf),
        }
    }
}

/// `--on-error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnError {
    /// Report the line and go on
    Skip,
    /// Report the line and stop
    Fail,
}

/// What happened to the lines.
#[derive(Debug, Default)]
struct Tally {
    imported: u64,
    duplicates: u64,
    /// Lines reported as bad.
    bad: u64,
    /// Events refused with the whole import (unknown log, no permission).
    refused: u64,
}

/// Runs `stele import`.
pub async fn run(args: ImportArgs, client: Client) -> Result<(), Failure> {
    let (input, size): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) =
        if args.file.as_os_str() == "-" {
            (Box::new(tokio::io::stdin()), None)
        } else {
            let file = tokio::fs::File::open(&args.file)
                .await
                .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?;
            let size = file.metadata().await.ok().map(|m| m.len());
            (Box::new(file), size)
        };
    let name = if size.is_some() {
        args.file.display().to_string()
    } else {
        "stdin".into()
    };
    let progress = progress_bar(size);
    let appender = client.appender(
        &args.log,
        AppenderOptions {
            batch_size: args.batch.max(1),
            max_in_flight: args.in_flight.max(1),
            ..AppenderOptions::default()
        },
    );
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut pending: FuturesUnordered<Numbered> = FuturesUnordered::new();
    let mut lines = BufReader::new(input).lines();
    let mut number = 0u64;
    let mut bytes = 0u64;
    let mut stopped: Option<Failure> = None;
    let mut format = args.format.format();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                stopped = Some(Failure::usage(format!("{name}: line {}: {e}", number + 1)));
                break;
            }
        };
        number += 1;
        bytes += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let format = *format.get_or_insert_with(|| {
            let format = Format::recognise(&line);
            if args.format == InputFormat::Auto && format != Format::Stele {
                progress.suspend(|| {
                    eprintln!("{}: read as {}", visible(&name), format.name());
                });
            }
            format
        });
        for mapped in format.map_line(&line) {
            match mapped {
                Ok(event) => {
                    let receipt = appender.submit(event).await?;
                    pending.push(Box::pin(numbered(number, receipt)));
                }
                Err(why) => {
                    report(&progress, &name, number, &why, &mut tally);
                    if args.on_error == OnError::Fail {
                        stopped = Some(Failure::usage(format!("{name}: stopped at line {number}")));
                        break;
                    }
                }
            }
        }
        if stopped.is_some() {
            break;
        }
        // Answers are collected as they come, so that memory stays flat.
        while let Some(Some((line, answer))) = futures::FutureExt::now_or_never(pending.next()) {
            match settle(&progress, &name, line, answer, &mut tally) {
                Ok(true) => {}
                Ok(false) if args.on_error == OnError::Skip => {}
                Ok(false) => {
                    stopped = Some(Failure::usage(format!("{name}: stopped at line {line}")));
                }
                Err(fatal) => stopped = Some(fatal),
            }
        }
        if stopped.is_some() {
            break;
        }
        progress.set_position(if size.is_some() {
            bytes
        } else {
            tally.imported
        });
    }
    appender.close().await;
    while let Some((line, answer)) = pending.next().await {
        if let Err(fatal) = settle(&progress, &name, line, answer, &mut tally) {
            stopped.get_or_insert(fatal);
        }
    }
    progress.finish_and_clear();
    summary(&name, &tally, started.elapsed());
    match stopped {
        Some(failure) => Err(failure),
        None if tally.bad > 0 => Err(Failure::usage(format!(
            "{} bad line{} skipped",
            thousands(tally.bad),
            if tally.bad == 1 { "" } else { "s" }
        ))),
        None => Ok(()),
    }
}

/// A receipt future with its line number.
type Numbered = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = (u64, stele_client::Result<stele_client::Receipt>)> + Send,
    >,
>;

async fn numbered(
    line: u64,
    receipt: PendingReceipt,
) -> (u64, stele_client::Result<stele_client::Receipt>) {
    (line, receipt.await)
}

/// Counts one answer: `Ok(false)` when the server refused this event
/// (a bad line), an error when it refused the import as a whole (unknown
/// log, no permission, unreachable): the line is still counted as not
/// imported.
fn settle(
    progress: &ProgressBar,
    name: &str,
    line: u64,
    answer: stele_client::Result<stele_client::Receipt>,
    tally: &mut Tally,
) -> Result<bool, Failure> {
    match answer {
        Ok(receipt) => {
            tally.imported += 1;
            tally.duplicates += u64::from(receipt.duplicate);
            Ok(true)
        }
        Err(e) if e.code() == Some(tonic::Code::InvalidArgument) => {
            report(progress, name, line, &e.to_string(), tally);
            Ok(false)
        }
        Err(e) => {
            tally.refused += 1;
            Err(Failure::from(e))
        }
    }
}

fn report(progress: &ProgressBar, name: &str, line: u64, why: &str, tally: &mut Tally) {
    tally.bad += 1;
    progress.suspend(|| eprintln!("{}: line {line}: {}", visible(name), visible(why)));
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(bytes) => ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({binary_bytes_per_sec}, ETA {eta})",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {human_pos} events ({per_sec})")
                .expect("valid template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn summary(name: &str, tally: &Tally, elapsed: Duration) {
    let rate = tally.imported as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut line = format!(
        "imported {} events from {name} in {:.1} s ({} events/s)",
        thousands(tally.imported),
        elapsed.as_secs_f64(),
        thousands(rate as u64)
    );
    if tally.duplicates > 0 {
        line.push_str(&format!(
            "; {} already stored (same id)",
            thousands(tally.duplicates)
        ));
    }
    if tally.bad > 0 {
        line.push_str(&format!(
            "; {} bad lines (reported above)",
            thousands(tally.bad)
        ));
    }
    if tally.refused > 0 {
        line.push_str(&format!("; {} events refused", thousands(tally.refused)));
    }
    eprintln!("{line}");
}
