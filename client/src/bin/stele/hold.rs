//! `stele hold set|lift`: legal holds, which keep a log or one segment in
//! local storage, whatever its retention policy says, until lifted. Both
//! are recorded in the `_system` log with who asked and why.

use std::io::Write;

use stele_client::Client;

use crate::fail::Failure;
use crate::output::json_pretty;
use crate::retention::{hold_json, scope};
use crate::visible::visible;

/// Set and lift legal holds
#[derive(Debug, clap::Subcommand)]
pub enum HoldCommand {
    /// Hold the whole log, or one segment, until lifted
    #[command(after_help = "Examples:
  stele hold set --log audit --reason 'case 2026-041'
  stele hold set --log audit --segment 120000 --reason 'ticket SEC-88'")]
    Set(HoldArgs),
    /// Lift the hold on the log, or on one segment
    #[command(
        after_help = "Example:\n  stele hold lift --log audit --reason 'case 2026-041 closed'"
    )]
    Lift(HoldArgs),
}

/// The flags of `hold set` and `hold lift`.
#[derive(Debug, clap::Args)]
pub struct HoldArgs {
    /// The log
    #[arg(long)]
    log: String,
    /// First seq of the segment (stored or archived); without it, the whole log
    #[arg(long, value_name = "FIRST_SEQ")]
    segment: Option<u64>,
    /// Why: a case number, a ticket (recorded in _system)
    #[arg(long)]
    reason: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("stdout: {e}"))
}

/// Runs `stele hold ...`.
pub async fn run(command: HoldCommand, client: Client) -> Result<(), Failure> {
    let (args, set) = match command {
        HoldCommand::Set(args) => (args, true),
        HoldCommand::Lift(args) => (args, false),
    };
    if args.reason.trim().is_empty() {
        return Err(Failure::usage(
            "--reason: say why (a case number, a ticket)",
        ));
    }
    let hold = if set {
        client
            .set_hold(&args.log, args.segment, &args.reason)
            .await?
    } else {
        client
            .lift_hold(&args.log, args.segment, &args.reason)
            .await?
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        return json_pretty(&mut out, &hold_json(&hold)).map_err(io);
    }
    let what = scope(hold.segment);
    if set {
        writeln!(
            out,
            "legal hold set on {what} of {}: {} (by {})",
            args.log,
            visible(&hold.reason),
            visible(&hold.set_by)
        )
    } else {
        writeln!(
            out,
            "legal hold lifted from {what} of {} (it was: {}, set by {})",
            args.log,
            visible(&hold.reason),
            visible(&hold.set_by)
        )
    }
    .map_err(io)
}
