//! `steled verify <data-dir>`: verification of every log (or one) straight
//! from the files, with no server running and nothing written.
//!
//! Each log's chain is recomputed from the stored bytes and every signed
//! checkpoint is checked against it (signatures too, with the data
//! directory's key or one pinned by `--public-key`). A progress bar shows
//! segments checked; the summary names the first failure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ed25519_dalek::VerifyingKey;
use indicatif::{ProgressBar, ProgressStyle};
use stele_engine::checkpoint::Signer;
use stele_engine::store::LOGS_DIR;
use stele_engine::{VerifyReport, verify_log_dir_with_progress};

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
        let report = verify_log_dir_with_progress(&dir, 0..u64::MAX, key.as_ref(), &mut |p| {
            bar.set_length(p.segments_total as u64);
            bar.set_position(p.segments_done as u64);
            bar.set_message(format!("{} records", p.records));
        })
        .map_err(|e| format!("log `{name}`: {e}"))?;
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        match &report.failure {
            None => eprintln!(
                "ok      {name}: {} records, {} segments, {} checkpoints, {:.1} MB hashed in {secs:.1} s",
                report.records,
                report.segments,
                report.checkpoints,
                report.body_bytes as f64 / 1e6
            ),
            Some(failure) => eprintln!("FAILED  {name}: {failure}"),
        }
        reports.push(report);
    }
    Ok(Outcome { reports })
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
