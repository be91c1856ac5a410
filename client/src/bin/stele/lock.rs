//! `stele lock raise`: the retention lock, the minimum time every segment
//! stays in local storage. It can be raised, never lowered: the server
//! refuses a lower lock whatever the token (exit status 1).

use std::io::Write;

use stele_client::Client;

use crate::fail::Failure;
use crate::output::json_pretty;
use crate::retention::policy_json;
use crate::units::{human_ms, parse_duration};

/// Raise a log's retention lock
#[derive(Debug, clap::Subcommand)]
pub enum LockCommand {
    /// Raise the lock: no segment leaves local storage before its newest
    /// record is this old; it can never be lowered or removed again
    #[command(after_help = "DURATION is 90d, 36h, 7y (a year is 365.25 days).

Examples:
  stele lock raise --log audit 7y
  stele lock raise --log payments 400d")]
    Raise {
        /// The log
        #[arg(long)]
        log: String,
        /// The new lock, at least the current one
        #[arg(value_name = "DURATION")]
        lock: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// Runs `stele lock ...`.
pub async fn run(command: LockCommand, client: Client) -> Result<(), Failure> {
    let LockCommand::Raise { log, lock, json } = command;
    let lock = parse_duration("lock", &lock)?;
    let policy = client.raise_lock(&log, lock).await?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| Failure::usage(format!("stdout: {e}"));
    if json {
        return json_pretty(&mut out, &policy_json(&policy)).map_err(io);
    }
    writeln!(
        out,
        "retention lock of {log} is {}: no segment leaves local storage before its newest record is that old",
        policy.lock_ms.map_or_else(|| "none".into(), human_ms)
    )
    .map_err(io)
}
