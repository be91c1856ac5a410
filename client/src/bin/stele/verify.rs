//! `stele verify`: is the log intact and is its history the one the
//! server signed?
//!
//! 1. A checkpoint of the head, its signature checked against the pinned
//!    key (`--public-key`, or `public_key` in the configuration file).
//! 2. The server recomputes the chain over the range from the stored bytes
//!    and checks its signed checkpoints (the `Verify` call).
//! 3. This client recomputes the chain itself from the stored bytes, from
//!    `--from` up to the checkpoint, and compares it with the signed head.

use std::time::Duration;

use console::style;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use stele_client::proto::{self, verify_response};
use stele_client::{Client, Error};

use crate::fail::Failure;
use crate::output::thousands;

/// Check a log's signed checkpoint and its hash chain
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when everything checks out, 4 when anything does not.

Pin the server's key (printed by `steled` at its first start and by
`stele verify` when unpinned) with --public-key or `public_key` in
~/.config/stele/config.toml: without it the key is taken from the server.

With --seq, only that record is checked: its stored bytes, its Merkle
inclusion proof and the signed C2SP checkpoint (about log2(n) hashes).
With --since-checkpoint FILE, the log is checked to extend the one FILE's
checkpoint signed (a Merkle consistency proof), and FILE is replaced by
the current checkpoint; a missing FILE is created.

Examples:
  stele verify --log audit --public-key 3b6a27bc...
  stele verify --log audit --from 100000
  stele verify --log audit --seq 42
  stele verify --log audit --since-checkpoint audit.checkpoint"
)]
pub struct VerifyArgs {
    /// Log to verify
    #[arg(long)]
    log: String,
    /// First seq to check
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    from: u64,
    /// Seq after the last one the server checks [default: the head]; the
    /// client's own check always runs up to the signed head
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
    /// The server's checkpoint key (64 hex digits) to trust
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Check only this record, by its Merkle inclusion proof
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["from", "to", "since_checkpoint"])]
    seq: Option<u64>,
    /// Check that the log extends the checkpoint saved in FILE, then save
    /// the current one there
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from", "to"])]
    since_checkpoint: Option<std::path::PathBuf>,
}

/// Runs `stele verify`: every failure that is about the evidence (a bad
/// signature, a broken chain, damaged storage) ends with a FAILED verdict.
pub async fn run(args: VerifyArgs, client: Client, pinned: Option<String>) -> Result<(), Failure> {
    let result = check(&args, &client, pinned).await;
    if let Err(failure) = &result
        && failure.code == crate::fail::INTEGRITY
    {
        println!(
            "{} log {} does not verify: {}",
            style("FAILED").red().bold(),
            args.log,
            crate::visible::visible(&failure.message)
        );
    }
    result
}

async fn check(args: &VerifyArgs, client: &Client, pinned: Option<String>) -> Result<(), Failure> {
    let pinned = args.public_key.clone().or(pinned);
    let key = match &pinned {
        Some(hex_key) => parse_key(hex_key)?,
        None => client.public_key().await?,
    };
    if let Some(seq) = args.seq {
        let proof = client.record_proof(&args.log, seq).await?;
        let head = proof.verify(&key)?;
        ok(&format!(
            "record {seq} is in the tree of {} records signed as {} ({} hashes{})",
            thousands(head.size),
            head.origin,
            proof.hashes.len(),
            if pinned.is_some() {
                ""
            } else {
                "; key taken from the server: not pinned"
            }
        ));
        println!(
            "{} record {seq} of log {} verifies",
            style("OK").green().bold(),
            args.log
        );
        return Ok(());
    }
    if let Some(path) = &args.since_checkpoint {
        return since_checkpoint(args, client, &key, path).await;
    }
    let checkpoint = client.checkpoint(&args.log).await?;
    let key_note = if pinned.is_some() {
        "pinned"
    } else {
        "taken from the server: not pinned"
    };
    match checkpoint.verify_signature(&key) {
        Ok(()) => ok(&format!(
            "checkpoint: {} records, head {}, signed {} by key {} ({key_note})",
            thousands(checkpoint.size),
            short(&checkpoint.head),
            crate::output::local_time(checkpoint.time),
            short(&key)
        )),
        Err(e) => return Err(e.into()),
    }
    if args.from > checkpoint.size {
        return Err(Failure::usage(format!(
            "--from {}: the log has {} records",
            args.from, checkpoint.size
        )));
    }

    let result = server_check(client, args).await?;
    if !result.ok {
        let f = result.failure.unwrap_or_default();
        let seq = f.seq.map_or(String::new(), |s| format!(" at seq {s}"));
        return Err(
            Error::Verification(format!("server check: {}{seq}: {}", f.file, f.reason)).into(),
        );
    }
    ok(&format!(
        "server check: {} records in {} segments, {} signed checkpoints, {} tree roots{}",
        thousands(result.records),
        result.segments,
        result.checkpoints,
        thousands(result.tree_chunks),
        result.tree_head.map_or(String::new(), |size| format!(
            " and the signed tree head at {size}"
        ))
    ));
    // Records before the anchor left under retention: the walk here starts
    // from the anchor's chain hash, which the server checked.
    let anchor = match result.anchored_at {
        Some(at) if at > args.from => {
            let head: [u8; 32] = result.anchor_head.as_slice().try_into().map_err(|_| {
                Error::Protocol(format!(
                    "Verify: anchor_head is {} bytes, not 32",
                    result.anchor_head.len()
                ))
            })?;
            Some((at, head))
        }
        _ => None,
    };
    if let Some(at) = result.anchored_at {
        ok(&format!(
            "records before seq {at} were removed under the retention policy (signed anchor checked)"
        ));
    }
    let from = anchor.map_or(args.from, |(at, _)| at);

    let progress = bar(
        checkpoint.size.saturating_sub(from),
        "recomputing the chain",
    );
    let report = match anchor {
        Some((at, head)) => {
            client
                .verify_chain_after(&args.log, at, head, &checkpoint, |n| {
                    progress.set_position(n)
                })
                .await
        }
        None => {
            client
                .verify_chain(&args.log, args.from, &checkpoint, |n| {
                    progress.set_position(n)
                })
                .await
        }
    };
    progress.finish_and_clear();
    let report = report?;
    let redacted = if report.redacted > 0 {
        format!(", {} redacted (digest kept)", thousands(report.redacted))
    } else {
        String::new()
    };
    ok(&format!(
        "chain recomputed here from seq {from}: {} records, {} body bytes{redacted}, ends at the signed head",
        thousands(report.records),
        thousands(report.body_bytes)
    ));
    println!("{} log {} verifies", style("OK").green().bold(), args.log);
    Ok(())
}

/// `--since-checkpoint FILE`: consistency from the saved checkpoint to the
/// current one, which replaces it.
async fn since_checkpoint(
    args: &VerifyArgs,
    client: &Client,
    key: &[u8; 32],
    path: &std::path::Path,
) -> Result<(), Failure> {
    let saved = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Failure::usage(format!("{}: {e}", path.display())));
        }
    };
    let current = match &saved {
        Some(saved) => {
            let old = stele_client::proof::open_checkpoint(saved, &args.log, key)?;
            let current = client.verify_since(&args.log, saved, key).await?;
            let new = stele_client::proof::open_checkpoint(&current, &args.log, key)?;
            ok(&format!(
                "the log of {} records extends the saved one of {} (consistency proof checked)",
                thousands(new.size),
                thousands(old.size)
            ));
            current
        }
        None => {
            let (current, head) = client.signed_tree_head(&args.log, key).await?;
            ok(&format!(
                "no saved checkpoint yet: starting from the signed tree of {} records",
                thousands(head.size)
            ));
            current
        }
    };
    std::fs::write(path, &current)
        .map_err(|e| Failure::usage(format!("cannot save {}: {e}", path.display())))?;
    ok(&format!(
        "saved the current checkpoint to {}",
        path.display()
    ));
    println!("{} log {} verifies", style("OK").green().bold(), args.log);
    Ok(())
}

/// The server's `Verify` over the range, with a progress bar.
async fn server_check(client: &Client, args: &VerifyArgs) -> Result<proto::VerifyResult, Failure> {
    let mut stream = client
        .stele_rpc()
        .verify(proto::VerifyRequest {
            log: args.log.clone(),
            from_seq: args.from,
            to_seq: args.to,
        })
        .await
        .map_err(Error::from)?
        .into_inner();
    let progress = bar(0, "server checking segments");
    let mut result = None;
    while let Some(message) = stream.next().await {
        match message.map_err(Error::from)?.item {
            Some(verify_response::Item::Progress(p)) => {
                progress.set_length(u64::from(p.segments_total));
                progress.set_position(u64::from(p.segments_done));
            }
            Some(verify_response::Item::Result(r)) => result = Some(r),
            None => {}
        }
    }
    progress.finish_and_clear();
    result.ok_or_else(|| Error::Protocol("Verify ended without a result".into()).into())
}

pub fn ok(what: &str) {
    println!("{} {what}", style("✓").green());
}

pub fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..8]))
}

fn bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(message).with_style(
        ProgressStyle::with_template("{spinner} {msg} {wide_bar} {pos}/{len} ({eta})")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

pub fn parse_key(text: &str) -> Result<[u8; 32], Failure> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| Failure::usage(format!("public key {text:?}: {e}")))?;
    bytes.try_into().map_err(|_| {
        Failure::usage(format!(
            "public key {text:?}: expected 32 bytes (64 hex digits)"
        ))
    })
}
