//! `stele`: the command line of Stele, the write-once audit log store.
//!
//! One module per command; `settings` finds the server and token, `fail`
//! maps every failure to a message and an exit code, `output` prints.

mod admin;
mod agg;
mod append;
mod archive;
mod compact;
mod erase;
mod fail;
mod filters;
mod hold;
mod import;
mod lock;
mod output;
mod proof;
mod query;
mod retention;
mod scrub;
mod settings;
mod tail;
mod units;
mod verify;
mod visible;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use console::style;

use crate::fail::Failure;
use crate::settings::{ConnectArgs, file_settings};

/// Append, search, follow and verify audit events in a Stele server.
#[derive(Debug, Parser)]
#[command(
    name = "stele",
    version,
    after_help = "The server and token come from --endpoint/--token, STELE_ENDPOINT/STELE_TOKEN,
or ~/.config/stele/config.toml (endpoint, token, ca_cert, public_key).

Exit status: 0 ok, 1 refused by the server, 2 usage or input error,
3 server unreachable, 4 verification failed or data damaged.

Examples:
  stele logs create audit
  stele append --log audit --action user.login --actor alice --outcome success
  stele import --log audit examples/events.jsonl
  stele query --log audit --actor alice --since 24h
  stele tail --log audit -f
  stele agg --log audit --by action
  stele verify --log audit
  stele proof --log audit --seq 42 > proof.json && stele verify-proof proof.json
  stele retention show --log audit
  stele erase --log audit --actor alice --reason 'GDPR request 117' --dry-run"
)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Append(append::AppendArgs),
    Import(import::ImportArgs),
    Query(query::QueryArgs),
    Tail(tail::TailArgs),
    Agg(agg::AggArgs),
    Verify(verify::VerifyArgs),
    Proof(proof::ProofArgs),
    VerifyProof(proof::VerifyProofArgs),
    /// Create, list and describe logs
    #[command(subcommand)]
    Logs(admin::LogsCommand),
    /// List and seal segments
    #[command(subcommand)]
    Segments(admin::SegmentsCommand),
    /// Show, apply and change a log's retention
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// List and restore archived segments
    #[command(subcommand)]
    Archive(archive::ArchiveCommand),
    /// Set and lift legal holds
    #[command(subcommand)]
    Hold(hold::HoldCommand),
    /// Raise a log's retention lock
    #[command(subcommand)]
    Lock(lock::LockCommand),
    /// Set a log's scrubbing rules, and try rules on sample events
    #[command(subcommand)]
    Scrub(scrub::ScrubCommand),
    Compact(compact::CompactArgs),
    Erase(erase::EraseArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!(
                "{} {}",
                style("error:").red().bold().for_stderr(),
                visible::visible(&failure.message)
            );
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let file = file_settings()?;
    // An import's inputs are found before connecting, so that a mistyped
    // path is named as such whether or not a server is up.
    let inputs = match &cli.command {
        Command::Import(args) => import::inputs(args)?,
        _ => Vec::new(),
    };
    // A proof is checked with no server at all.
    if let Command::VerifyProof(args) = cli.command {
        return proof::check(args, file.public_key);
    }
    let client = cli.connect.connect(&file).await?;
    match cli.command {
        Command::Append(args) => append::run(args, client).await,
        Command::Import(args) => import::run(args, inputs, client).await,
        Command::Query(args) => query::run(args, client).await,
        Command::Tail(args) => tail::run(args, client).await,
        Command::Agg(args) => agg::run(args, client).await,
        Command::Verify(args) => verify::run(args, client, file.public_key).await,
        Command::Proof(args) => proof::export(args, client).await,
        Command::VerifyProof(args) => proof::check(args, file.public_key),
        Command::Logs(command) => admin::logs(command, client).await,
        Command::Segments(command) => admin::segments(command, client).await,
        Command::Retention(command) => retention::run(command, client).await,
        Command::Archive(command) => archive::run(command, client).await,
        Command::Hold(command) => hold::run(command, client).await,
        Command::Lock(command) => lock::run(command, client).await,
        Command::Scrub(command) => scrub::run(command, client).await,
        Command::Compact(args) => compact::run(args, client).await,
        Command::Erase(args) => erase::run(args, client).await,
    }
}
