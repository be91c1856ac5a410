//! `steled verify <data-dir>`: verification of every log (or one) straight
//! from the files, with no server running and nothing written; and
//! `steled verify --archive <location>`: verification of an archive on its
//! own, as an auditor runs it over the evidence.
//!
//! Each log's chain is recomputed from the stored bytes and every signed
//! checkpoint is checked against it (signatures too, with the data
//! directory's key or one pinned by `--public-key`); a log whose oldest
//! segments left under retention starts from its signed anchor, and says
//! so. A progress bar shows segments checked; the summary names the first
//! failure. An archive check downloads every archived segment and checks it
//! against its manifest entry and its neighbours
//! ([`stele_engine::archive::check`]), printing every failure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ed25519_dalek::VerifyingKey;
use indicatif::{ProgressBar, ProgressStyle};
use stele_engine::archive::check::{ArchiveLogReport, check_archive};
use stele_engine::checkpoint::Signer;
use stele_engine::store::LOGS_DIR;
use stele_engine::verify::VerifyProgress;
use stele_engine::{
    ArchiveTarget, Cancel, ObjectArchive, VerifyReport, verify_log_dir_with_progress,
};

use crate::config::parse_archive_location;

/// What to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Only this log.
    pub log: Option<String>,
    /// Check signatures with this key instead of the data directory's.
    pub public_key: Option<String>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// The outcome: one report per log.
#[derive(Debug)]
pub struct Outcome {
    /// Reports, by log name.
    pub reports: Vec<VerifyReport>,
}

impl Outcome {
    /// The first log that failed, with its report.
    pub fn first_failure(&self) -> Option<&VerifyReport> {
        self.reports.iter().find(|r| !r.is_ok())
    }
}

/// Verifies as [`Options`] say, printing a line per log on stderr.
///
/// # Errors
/// A message naming the directory, log or key that could not be used
/// (damage inside a log is a failed report, not an error).
pub fn run(options: &Options) -> Result<Outcome, String> {
    let key = match &options.public_key {
        Some(hex_key) => Some(parse_key(hex_key)?),
        None => Signer::public_key_in(&options.data_dir)
            .map_err(|e| format!("signing key of {}: {e}", options.data_dir.display()))?,
    };
    if key.is_none() {
        eprintln!(
            "warning: {} has no signing key and no --public-key was given: checkpoint signatures are not checked",
            options.data_dir.display()
        );
    }
    let logs = logs_to_check(&options.data_dir, options.log.as_deref())?;
    let mut reports = Vec::with_capacity(logs.len());
    for (name, dir) in logs {
        let started = Instant::now();
        let bar = if options.progress {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} segments {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut show = |p: VerifyProgress| {
            bar.set_length(p.segments_total as u64);
            bar.set_position(p.segments_done as u64);
            bar.set_message(format!("{} records", p.records));
        };
        let report = verify_log_dir_with_progress(
            &dir,
            0..u64::MAX,
            key.as_ref(),
            &mut show,
            &Cancel::default(),
        )
        .map_err(|e| format!("log `{name}`: {e}"))?;
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        match &report.failure {
            None => eprintln!(
                "ok      {name}: {} records, {} segments, {} checkpoints, {} tree roots{}, {:.1} MB hashed in {secs:.1} s",
                report.records,
                report.segments,
                report.checkpoints,
                report.tree_chunks,
                report.tree_head.map_or(String::new(), |size| format!(
                    " and the signed tree head at {size}"
                )),
                report.body_bytes as f64 / 1e6
            ),
            Some(failure) => eprintln!("FAILED  {name}: {failure}"),
        }
        if let Some(seq) = report.anchored_at {
            eprintln!("        {name}: {}", anchored_note(seq));
        }
        reports.push(report);
    }
    Ok(Outcome { reports })
}

/// What a verifier says of a log whose prefix left under retention.
pub fn anchored_note(seq: u64) -> String {
    format!(
        "records before seq {seq} were removed under the retention policy (signed anchor checked)"
    )
}

/// The S3 settings `steled verify --archive` takes as flags; those left
/// out come from the `AWS_*` variables.
#[derive(Debug, Clone, Default)]
pub struct S3Flags {
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--access-key-id`.
    pub access_key_id: Option<String>,
    /// `--secret-access-key`.
    pub secret_access_key: Option<String>,
    /// `--allow-http`.
    pub allow_http: bool,
}

/// Which archive to verify, and against which key.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// A directory or `s3://BUCKET/PREFIX`.
    pub location: String,
    /// S3 settings given as flags.
    pub s3: S3Flags,
    /// A data directory whose signing key to trust, when no key is given.
    pub data_dir: Option<PathBuf>,
    /// Only this log.
    pub log: Option<String>,
    /// The key (hex) to trust.
    pub public_key: Option<String>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// The archive target `options` name.
///
/// # Errors
/// A message naming the location or flag.
pub fn archive_target(options: &ArchiveOptions) -> Result<ArchiveTarget, String> {
    let target = parse_archive_location(&options.location).map_err(|e| format!("--archive {e}"))?;
    match target {
        ArchiveTarget::None => Err("--archive none: name a directory or s3://BUCKET/PREFIX".into()),
        ArchiveTarget::S3 { bucket, prefix, .. } => {
            let flags = options.s3.clone();
            Ok(ArchiveTarget::S3 {
                bucket,
                prefix,
                endpoint: flags.endpoint,
                region: flags.region,
                access_key_id: flags.access_key_id,
                secret_access_key: flags.secret_access_key,
                allow_http: flags.allow_http,
            })
        }
        ArchiveTarget::Local { path } => {
            if !path.is_dir() {
                return Err(format!("--archive {}: not a directory", path.display()));
            }
            Ok(ArchiveTarget::Local { path })
        }
    }
}

/// Verifies an archive as [`ArchiveOptions`] say, printing each log's
/// result and every failure on stderr; returns one report per log.
///
/// # Errors
/// A message naming the archive, directory or key that could not be used
/// (damage inside the archive is a failed report, not an error).
pub fn run_archive(options: &ArchiveOptions) -> Result<Vec<ArchiveLogReport>, String> {
    let (key, pinned) = match (&options.public_key, &options.data_dir) {
        (Some(hex_key), _) => (
            Some(parse_key(hex_key)?),
            "pinned by --public-key".to_string(),
        ),
        (None, Some(dir)) => match Signer::public_key_in(dir)
            .map_err(|e| format!("signing key of {}: {e}", dir.display()))?
        {
            Some(key) => (Some(key), format!("the key of {}", dir.display())),
            None => {
                return Err(format!(
                    "{} has no signing key (keys/): give --public-key",
                    dir.display()
                ));
            }
        },
        (None, None) => (None, "unpinned".to_string()),
    };
    let target = archive_target(options)?;
    let archive = ObjectArchive::open(&target)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no archive target".to_string())?;
    if key.is_none() {
        eprintln!(
            "warning: no --public-key or data directory: each checkpoint is checked against the key it names (unpinned), which proves integrity, not origin"
        );
    }
    eprintln!("archive {} (key: {pinned})", archive.describe());
    let bar = if options.progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} segments")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let reports = check_archive(&archive, key.as_ref(), options.log.as_deref(), &mut |p| {
        bar.set_prefix(p.log.clone());
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    if let Some(log) = &options.log
        && reports.is_empty()
    {
        return Err(format!(
            "log `{log}` has no archived segment in {}",
            archive.describe()
        ));
    }
    for report in &reports {
        let summary = format!(
            "{}: {} segments, {} records (seqs {}..{})",
            report.log, report.segments, report.records, report.first_seq, report.next_seq
        );
        if report.failures.is_empty() {
            eprintln!("ok      {summary}");
        } else {
            eprintln!("FAILED  {summary}, {} failures:", report.failures.len());
            for failure in &report.failures {
                eprintln!("          {failure}");
            }
        }
    }
    Ok(reports)
}

fn parse_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            "--public-key: expected 64 hex digits (an ed25519 public key)".to_string()
        })?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("--public-key: {e}"))
}

/// `(name, directory)` of the logs to check, sorted by name.
fn logs_to_check(data_dir: &Path, only: Option<&str>) -> Result<Vec<(String, PathBuf)>, String> {
    let logs_dir = data_dir.join(LOGS_DIR);
    if !logs_dir.is_dir() {
        return Err(format!(
            "{} is not a Stele data directory (no {LOGS_DIR}/ inside)",
            data_dir.display()
        ));
    }
    if let Some(name) = only {
        let dir = logs_dir.join(name);
        if !dir.is_dir() {
            return Err(format!(
                "log `{name}` does not exist in {}",
                data_dir.display()
            ));
        }
        return Ok(vec![(name.to_string(), dir)]);
    }
    let mut logs: Vec<(String, PathBuf)> = std::fs::read_dir(&logs_dir)
        .map_err(|e| format!("cannot list {}: {e}", logs_dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    logs.sort();
    Ok(logs)
}
