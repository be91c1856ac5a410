//! Appending audit events from a service.
//!
//! Connects to `steled`, creates the log `demo` unless it exists, builds
//! events with the typed builders (with `details` from a
//! `#[derive(Serialize)]` struct), sends them through an [`Appender`]
//! (batched, pipelined, retried safely across reconnects), prints each
//! receipt and closes the appender, which flushes what is still queued.
//!
//! Run it against a local server:
//!
//! ```text
//! steled serve &
//! cargo run -p stele-client --example append_service
//! ```
//!
//! `STELE_ENDPOINT` (default `http://127.0.0.1:7070`) and `STELE_TOKEN` say
//! which server and which bearer token to use.

use std::process::ExitCode;

use serde::Serialize;
use stele_client::proto::Policy;
use stele_client::{
    Actor, Appender, AppenderOptions, Client, ClientConfig, DEFAULT_ENDPOINT, Event, Outcome,
};

const LOG: &str = "demo";

/// What a deployment event carries besides the schema's fields: any
/// `Serialize` type that becomes a JSON object works.
#[derive(Serialize)]
struct Deployment {
    environment: &'static str,
    version: String,
    replicas: u32,
    canary: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("STELE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    let mut config = ClientConfig::new(endpoint);
    if let Ok(token) = std::env::var("STELE_TOKEN") {
        config = config.token(token);
    }
    let client = Client::connect(config).await?;

    // Creating a log is an admin call; a second run finds it there.
    match client.create_log(LOG, Policy::default()).await {
        Ok(info) => eprintln!("created log {}", info.name),
        Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => {}
        Err(e) => return Err(e.into()),
    }

    // One appender per log, shared by the whole service (put it behind an
    // `Arc`). Every event gets an id (a UUIDv7 unless set), so a batch
    // retried after a reconnect is never stored twice.
    let appender: Appender = client.appender(LOG, AppenderOptions::default());
    let deploys = [
        ("alice", "billing-api", "1.4.0", Outcome::Success),
        ("bob", "search", "2.0.1", Outcome::Failure),
        ("deploy-bot", "billing-api", "1.4.1", Outcome::Success),
    ];
    let mut pending = Vec::new();
    for (i, (who, service, version, outcome)) in deploys.into_iter().enumerate() {
        let actor = if who.ends_with("-bot") {
            Actor::service(who)
        } else {
            Actor::user(who)
                .ip("203.0.113.7")
                .user_agent("deployctl/3.2")
        };
        let mut event = Event::new("deploy.release")
            .tenant("acme")
            .actor(actor)
            .resource("service", service)
            .outcome(outcome)
            .source("deployctl")
            .request_id(format!("req-{i}"))
            .message(format!("{who} released {service} {version}"))
            .details(&Deployment {
                environment: "production",
                version: version.to_string(),
                replicas: 3,
                canary: i == 0,
            })?;
        if outcome == Outcome::Failure {
            event = event.reason("health check failed");
        }
        // `submit` waits only while the queue is full; the receipt comes
        // later. `appender.append(event)` would wait for it.
        pending.push(appender.submit(event).await?);
    }

    for receipt in pending {
        let receipt = receipt.await?;
        println!("{}", serde_json::to_string(&receipt)?);
    }
    appender.close().await;
    Ok(())
}
