//! Tailing a log: every new record on stdout as one JSON line, following
//! the log live and resuming where it stood after a disconnect or a server
//! restart (each reconnection is noted on stderr; no record is skipped or
//! repeated).
//!
//! ```text
//! cargo run -p stele-client --example tail -- LOG          # from now on
//! cargo run -p stele-client --example tail -- LOG 0        # from seq 0
//! ```
//!
//! `STELE_ENDPOINT` (default `http://127.0.0.1:7070`) and `STELE_TOKEN` say
//! which server and which bearer token to use.

use std::io::Write;
use std::process::ExitCode;

use futures::TryStreamExt;
use stele_client::{Client, ClientConfig, DEFAULT_ENDPOINT, Item, Start, SubscribeOptions};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(log), from, None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: tail LOG [FROM_SEQ]");
        return Ok(ExitCode::from(2));
    };
    let start = match from {
        None => Start::Now,
        Some(seq) => Start::Seq(seq.parse().map_err(|e| format!("FROM_SEQ {seq:?}: {e}"))?),
    };

    let endpoint = std::env::var("STELE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    let mut config = ClientConfig::new(endpoint);
    if let Ok(token) = std::env::var("STELE_TOKEN") {
        config = config.token(token);
    }
    // A lazy connection: the tail may start before the server does.
    let client = Client::connect_lazy(config)?;

    // Retries forever by default; the stream ends only on an error that
    // retrying cannot fix (an unknown log, a refused token).
    let mut subscription = client.subscribe(&log, SubscribeOptions::new(start));
    let mut stdout = std::io::stdout().lock();
    while let Some(item) = subscription.try_next().await? {
        match item {
            Item::Record(record) => {
                let line = serde_json::to_string(&record)?;
                // A closed pipe (`| head`) ends the tail quietly.
                if writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Item::Reconnecting {
                reason,
                resume_seq,
                retry_in,
            } => {
                let at = resume_seq.map_or("the start".to_string(), |seq| format!("seq {seq}"));
                eprintln!("reconnecting in {retry_in:?} at {at}: {reason}");
            }
            Item::Heartbeat { .. } => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}
