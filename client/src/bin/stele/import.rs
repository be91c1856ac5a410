//! `stele import`: JSON Lines in the DESIGN schema, or another system's
//! records (`--format cloudtrail`, mapped by [`stele_client::import`]),
//! from files, directories and stdin, gzipped or not
//! ([`stele_client::import::read`], on a thread of its own), batched and
//! pipelined through an [`Appender`], with a progress bar and a summary per
//! file. A bad line or record (unreadable JSON, a record that does not map,
//! a refused event) is reported with its file and line on stderr, then
//! skipped or fatal (`--on-error`); none is lost silently.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use stele_client::import::Format;
use stele_client::import::read::{self, Shape, Unit, Units};
use stele_client::{AppenderOptions, Client, PendingReceipt};
use tokio::sync::mpsc;

use crate::fail::Failure;
use crate::output::thousands;
use crate::visible::visible;

/// Import events from JSON Lines, or AWS CloudTrail, Kubernetes, GitHub or OCSF audit logs (--format)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each line is one event in the JSON form of the event schema, e.g.
  {\"action\":\"git.push\",\"actor\":{\"id\":\"alice\",\"kind\":\"user\"},\"outcome\":\"success\"}
Blank lines are ignored. Events without an `id` get a UUIDv7.

FILE may be a directory: every file below it is read, in name order.
Gzipped input is recognised and read as it is. A file whose first line
is a lone { or [ is one pretty-printed JSON document; a file whose first
line is a CSV header is a table (GitHub's audit log CSV export).

--format auto (the default) recognises each file from its first record.
--format cloudtrail reads AWS CloudTrail: delivery files as CloudTrail
writes them ({\"Records\":[...]}) or one record a line.
--format k8s-audit reads the Kubernetes API server's audit log (one
audit.k8s.io/v1 Event a line; the final stage of each request).
--format github-audit reads GitHub's audit log: its JSON (one event a
line, or the export's array) or its CSV export. --format ocsf reads OCSF 1.x API
Activity (6003) and Authentication (3002) events. The whole
record is kept in `details` (docs/import.md has the mappings).

Examples:
  stele import --log audit events.jsonl
  zcat events.jsonl.gz | stele import --log audit -
  stele import --log audit --on-error fail events.jsonl
  stele import --log aws AWSLogs/123456789012/CloudTrail/
  stele import --log gh export-acme-1764504000.csv"
)]
pub struct ImportArgs {
    /// Log to append to
    #[arg(long)]
    log: String,
    /// Files or directories to read, or - for stdin
    #[arg(required = true)]
    files: Vec<PathBuf>,
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
    /// GitHub audit log events: JSON (one a line, or an array) or the CSV export
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

/// What happened to the lines of one file.
#[derive(Debug, Default, Clone)]
struct Tally {
    imported: u64,
    duplicates: u64,
    /// Lines reported as bad.
    bad: u64,
    /// Events refused with the whole import (unknown log, no permission).
    refused: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.imported += other.imported;
        self.duplicates += other.duplicates;
        self.bad += other.bad;
        self.refused += other.refused;
    }
}

/// One input: a file, or stdin.
#[derive(Debug)]
pub struct Input {
    /// `None` for stdin.
    path: Option<PathBuf>,
    /// How errors name it.
    name: String,
}

/// What the reading thread hands over, in input order.
enum Reading {
    /// The next units of input `file` (at most [`CHUNK_UNITS`] or about
    /// [`CHUNK_BYTES`]), and its shape.
    Units {
        file: usize,
        shape: Shape,
        units: Vec<Unit>,
    },
    /// A part of input `file` that cannot be read, at `line` (0: the input
    /// cannot be opened).
    Broken { file: usize, line: u64, why: String },
}

/// Runs `stele import`.
pub async fn run(args: ImportArgs, inputs: Vec<Input>, client: Client) -> Result<(), Failure> {
    let size = inputs.iter().try_fold(0u64, |total, input| {
        let path = input.path.as_ref()?;
        Some(total + std::fs::metadata(path).map_or(0, |m| m.len()))
    });
    let progress = progress_bar(size);
    let appender = client.appender(
        &args.log,
        AppenderOptions {
            batch_size: args.batch.max(1),
            max_in_flight: args.in_flight.max(1),
            ..AppenderOptions::default()
        },
    );
    let bytes = Arc::new(AtomicU64::new(0));
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut readings = spawn_reader(inputs, bytes.clone());
    let started = Instant::now();
    let mut tallies = vec![Tally::default(); names.len()];
    let mut formats: Vec<Option<Format>> = vec![args.format.format(); names.len()];
    let mut said: Option<Format> = None;
    let mut pending: FuturesUnordered<Numbered> = FuturesUnordered::new();
    let mut stopped: Option<Failure> = None;
    let fail_fast = args.on_error == OnError::Fail;
    'reading: while let Some(reading) = readings.recv().await {
        let (file, shape, units) = match reading {
            Reading::Units { file, shape, units } => (file, shape, units),
            Reading::Broken { file, line, why } => {
                report(&progress, &names[file], line, &why, &mut tallies[file]);
                if fail_fast {
                    stopped = Some(Failure::usage(format!("{}: stopped", names[file])));
                    break;
                }
                continue;
            }
        };
        for unit in units {
            let name = &names[file];
            let format = *formats[file].get_or_insert_with(|| {
                let format = Format::recognise(&unit.text);
                if args.format == InputFormat::Auto
                    && format != Format::Stele
                    && said != Some(format)
                {
                    said = Some(format);
                    progress.suspend(|| eprintln!("{}: read as {}", visible(name), format.name()));
                }
                format
            });
            let mapped = if shape == Shape::Csv && format != Format::GithubAudit {
                vec![Err(format!(
                    "a CSV table is read only as GitHub's audit log export (its header names `action` and `_document_id` or `@timestamp`), not as {}",
                    format.name()
                ))]
            } else {
                format.map_line(&unit.text)
            };
            for mapped in mapped {
                match mapped {
                    Ok(event) => {
                        let receipt = appender.submit(event).await?;
                        pending.push(Box::pin(numbered(file, unit.line, receipt)));
                    }
                    Err(why) => {
                        report(&progress, name, unit.line, &why, &mut tallies[file]);
                        if fail_fast {
                            stopped = Some(Failure::usage(format!(
                                "{name}: stopped at line {}",
                                unit.line
                            )));
                            break;
                        }
                    }
                }
            }
            if stopped.is_some() {
                break 'reading;
            }
            // Answers are collected as they come, so that memory stays flat.
            while let Some(Some((file, line, answer))) =
                futures::FutureExt::now_or_never(pending.next())
            {
                match settle(&progress, &names[file], line, answer, &mut tallies[file]) {
                    Ok(true) => {}
                    Ok(false) if !fail_fast => {}
                    Ok(false) => {
                        stopped = Some(Failure::usage(format!(
                            "{}: stopped at line {line}",
                            names[file]
                        )));
                    }
                    Err(fatal) => stopped = Some(fatal),
                }
            }
            if stopped.is_some() {
                break 'reading;
            }
            progress.set_position(if size.is_some() {
                bytes.load(Ordering::Relaxed)
            } else {
                tallies.iter().map(|t| t.imported).sum()
            });
        }
    }
    drop(readings);
    appender.close().await;
    while let Some((file, line, answer)) = pending.next().await {
        if let Err(fatal) = settle(&progress, &names[file], line, answer, &mut tallies[file]) {
            stopped.get_or_insert(fatal);
        }
    }
    progress.finish_and_clear();
    let total = summary(&names, &tallies, started.elapsed());
    match stopped {
        Some(failure) => Err(failure),
        None if total.bad > 0 => Err(Failure::usage(format!(
            "{} bad line{} skipped",
            thousands(total.bad),
            if total.bad == 1 { "" } else { "s" }
        ))),
        None => Ok(()),
    }
}

/// The inputs the arguments name, directories expanded; `-` is stdin.
///
/// # Errors
/// A path that does not exist, a directory that holds no file.
pub fn inputs(args: &ImportArgs) -> Result<Vec<Input>, Failure> {
    let mut inputs = Vec::new();
    for path in &args.files {
        if path.as_os_str() == "-" {
            inputs.push(Input {
                path: None,
                name: "stdin".into(),
            });
            continue;
        }
        if !path.exists() {
            return Err(Failure::usage(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
        let found = read::files(path).map_err(Failure::usage)?;
        if found.is_empty() {
            return Err(Failure::usage(format!(
                "{}: holds no files",
                path.display()
            )));
        }
        inputs.extend(found.into_iter().map(|path| Input {
            name: path.display().to_string(),
            path: Some(path),
        }));
    }
    Ok(inputs)
}

/// Units handed over at once, at most.
const CHUNK_UNITS: usize = 256;
/// Bytes of JSON text handed over at once, about (a unit may be a whole
/// delivery file).
const CHUNK_BYTES: usize = 1 << 20;

/// Reads `inputs` one after the other on a thread of its own (reading,
/// gunzipping and cutting into units is blocking work), handing units over
/// a channel of a few chunks so that memory stays flat. It stops when the
/// receiver is dropped.
fn spawn_reader(inputs: Vec<Input>, bytes: Arc<AtomicU64>) -> mpsc::Receiver<Reading> {
    let (send, receive) = mpsc::channel(4);
    std::thread::spawn(move || {
        for (file, input) in inputs.iter().enumerate() {
            if !send_input(&send, file, input, &bytes) {
                return;
            }
        }
    });
    receive
}

/// Sends the units of input `file` in chunks, and each part that cannot be
/// read in its place; `false` once the receiver is gone.
fn send_input(
    send: &mpsc::Sender<Reading>,
    file: usize,
    input: &Input,
    bytes: &Arc<AtomicU64>,
) -> bool {
    let units = match &input.path {
        Some(path) => read::open(path, bytes.clone()),
        None => Units::new(std::io::stdin(), bytes.clone()).map_err(|e| e.to_string()),
    };
    let units = match units {
        Ok(units) => units,
        Err(why) => {
            return send
                .blocking_send(Reading::Broken { file, line: 0, why })
                .is_ok();
        }
    };
    let shape = units.shape();
    let mut chunk = Vec::new();
    let mut chunk_bytes = 0;
    let flush = |chunk: &mut Vec<Unit>| {
        chunk.is_empty()
            || send
                .blocking_send(Reading::Units {
                    file,
                    shape,
                    units: std::mem::take(chunk),
                })
                .is_ok()
    };
    for unit in units {
        let sent = match unit {
            Ok(unit) => {
                chunk_bytes += unit.text.len();
                chunk.push(unit);
                if chunk.len() < CHUNK_UNITS && chunk_bytes < CHUNK_BYTES {
                    true
                } else {
                    chunk_bytes = 0;
                    flush(&mut chunk)
                }
            }
            Err(read::Unreadable { line, why }) => {
                chunk_bytes = 0;
                flush(&mut chunk)
                    && send
                        .blocking_send(Reading::Broken { file, line, why })
                        .is_ok()
            }
        };
        if !sent {
            return false;
        }
    }
    flush(&mut chunk)
}

/// The answer to one event, with its input (an index) and line.
type Answer = (usize, u64, stele_client::Result<stele_client::Receipt>);

/// A receipt future with its input and line number.
type Numbered = std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>;

async fn numbered(file: usize, line: u64, receipt: PendingReceipt) -> Answer {
    (file, line, receipt.await)
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

/// Reports a bad line (line 0: the input as a whole) and counts it.
fn report(progress: &ProgressBar, name: &str, line: u64, why: &str, tally: &mut Tally) {
    tally.bad += 1;
    let at = if line == 0 {
        String::new()
    } else {
        format!(" line {line}:")
    };
    progress.suspend(|| eprintln!("{}:{at} {}", visible(name), visible(why)));
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

/// Prints what happened to each input (when there are several) and in
/// all, and returns the whole.
fn summary(names: &[String], tallies: &[Tally], elapsed: Duration) -> Tally {
    let mut total = Tally::default();
    for tally in tallies {
        total.add(tally);
    }
    if names.len() > 1 {
        for (name, tally) in names.iter().zip(tallies) {
            eprintln!("{}: {}", visible(name), counts(tally));
        }
    }
    let rate = total.imported as f64 / elapsed.as_secs_f64().max(1e-3);
    let from = match names {
        [one] => one.clone(),
        many => format!("{} files", thousands(many.len() as u64)),
    };
    eprintln!(
        "imported {} events from {} in {:.1} s ({} events/s){}",
        thousands(total.imported),
        visible(&from),
        elapsed.as_secs_f64(),
        thousands(rate as u64),
        extras(&total)
    );
    total
}

/// One input's counts: `12 imported; 1 bad line`.
fn counts(tally: &Tally) -> String {
    format!("{} imported{}", thousands(tally.imported), extras(tally))
}

/// What else a tally holds, each after `; `.
fn extras(tally: &Tally) -> String {
    let mut line = String::new();
    if tally.duplicates > 0 {
        line.push_str(&format!(
            "; {} already stored (same id)",
            thousands(tally.duplicates)
        ));
    }
    if tally.bad > 0 {
        line.push_str(&format!(
            "; {} bad line{} (reported above)",
            thousands(tally.bad),
            if tally.bad == 1 { "" } else { "s" }
        ));
    }
    if tally.refused > 0 {
        line.push_str(&format!("; {} events refused", thousands(tally.refused)));
    }
    line
}
