//! `stele proof` and `stele verify-proof`: a self-contained proof of one
//! record (its stored bytes, Merkle path and signed checkpoint), exported
//! from the server and checked offline against a pinned key.

use std::path::PathBuf;

use console::style;
use stele_client::Client;
use stele_client::proof::RecordProof;

use crate::fail::Failure;
use crate::output::thousands;
use crate::verify::{ok, parse_key};

/// Export a self-contained proof that a record is in the log
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes JSON to stdout: the record's stored bytes, its Merkle
inclusion proof and the signed checkpoint it leads to. Anyone with the
server's public key checks it with `stele verify-proof`, with no server.

Example:
  stele proof --log audit --seq 42 > record-42.proof.json"
)]
pub struct ProofArgs {
    /// The log
    #[arg(long)]
    log: String,
    /// The record
    #[arg(long, value_name = "SEQ")]
    seq: u64,
}

/// Check a proof written by `stele proof`, offline
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Needs no server: only the proof file and the server's public key,
pinned with --public-key or `public_key` in ~/.config/stele/config.toml.
Exit status: 0 when the proof checks out, 4 when it does not.

Example:
  stele verify-proof record-42.proof.json --public-key 3b6a27bc..."
)]
pub struct VerifyProofArgs {
    /// The proof file (- for stdin)
    file: PathBuf,
    /// The server's checkpoint key (64 hex digits) to trust
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

/// Runs `stele proof`.
pub async fn export(args: ProofArgs, client: Client) -> Result<(), Failure> {
    let proof = client.record_proof(&args.log, args.seq).await?;
    let json = serde_json::to_string_pretty(&proof)
        .map_err(|e| Failure::usage(format!("cannot write the proof: {e}")))?;
    println!("{json}");
    Ok(())
}

/// Runs `stele verify-proof`, with no server.
pub fn check(args: VerifyProofArgs, pinned: Option<String>) -> Result<(), Failure> {
    let key = args.public_key.or(pinned).ok_or_else(|| {
        Failure::usage(
            "verify-proof needs the server's key: --public-key HEX or `public_key` in the configuration file",
        )
    })?;
    let key = parse_key(&key)?;
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.file)
    }
    .map_err(|e| Failure::usage(format!("{}: {e}", args.file.display())))?;
    let proof: RecordProof = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{}: not a record proof: {e}", args.file.display())))?;
    let verdict = proof.verify(&key);
    if let Err(e) = &verdict {
        println!(
            "{} record {} of log {} does not verify: {}",
            style("FAILED").red().bold(),
            proof.seq,
            proof.log,
            crate::visible::visible(&e.to_string())
        );
    }
    let head = verdict?;
    ok(&format!(
        "record {} is in the tree of {} records signed as {} ({} hashes)",
        proof.seq,
        thousands(head.size),
        head.origin,
        proof.hashes.len()
    ));
    println!(
        "{} record {} of log {} verifies",
        style("OK").green().bold(),
        proof.seq,
        proof.log
    );
    Ok(())
}
