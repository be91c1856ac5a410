//! A small axum service whose every mutating call is audited by
//! `stele-tower`, with no audit code in its handlers (one of them also
//! states what it changed, through the `Change` hook).
//!
//! ```text
//! steled serve &                                   # Stele on 127.0.0.1:7070
//! cargo run -p stele-tower --example axum_service  # this service on 127.0.0.1:3000
//!
//! curl -X POST localhost:3000/workflows -H 'x-user-id: alice'
//! curl -X PUT localhost:3000/workflows/42 -H 'x-user-id: alice'
//! curl -X DELETE localhost:3000/workflows/42 -H 'x-user-id: mallory'
//! curl localhost:3000/workflows/42                  # a read: not recorded
//!
//! stele query --log api --since 10m                 # the three calls
//! ```
//!
//! `STELE_ENDPOINT` (default `http://127.0.0.1:7070`) and `STELE_TOKEN` say
//! which Stele to use; `LISTEN` where this service listens. The service
//! starts, and serves, even while Stele is down: events wait in memory and
//! are sent once it is back.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;
use stele_client::{Client, ClientConfig, DEFAULT_ENDPOINT};
use stele_tower::{AuditLayer, Change, Recorder};

const LOG: &str = "api";

async fn update(Path(id): Path<u64>, Extension(change): Extension<Change>) -> String {
    let before = json!({"id": id, "schedule": "0 2 * * *", "enabled": true});
    let after = json!({"id": id, "schedule": "0 3 * * *", "enabled": true});
    let _ = change.record(&before, &after);
    format!("workflow {id} updated\n")
}

/// Only `mallory` is refused: the layer records the refusal as `denied`.
async fn delete(Path(id): Path<u64>, headers: axum::http::HeaderMap) -> (StatusCode, String) {
    if headers.get("x-user-id").is_some_and(|v| v == "mallory") {
        return (StatusCode::FORBIDDEN, "not yours\n".into());
    }
    (StatusCode::OK, format!("workflow {id} deleted\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("STELE_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    let mut config = ClientConfig::new(endpoint.clone());
    if let Ok(token) = std::env::var("STELE_TOKEN") {
        config = config.token(token);
    }
    let client = Client::connect_lazy(config)?;
    // Create the log if Stele is up; if it is down, events wait for it.
    match tokio::time::timeout(
        Duration::from_secs(2),
        client.create_log(LOG, Default::default()),
    )
    .await
    {
        Ok(Ok(_)) => eprintln!("created the log {LOG:?}"),
        Ok(Err(e)) if e.code() == Some(tonic::Code::AlreadyExists) => {}
        Ok(Err(e)) => eprintln!("could not create the log {LOG:?} ({e}); events will wait"),
        Err(_) => eprintln!("Stele at {endpoint} does not answer; events will wait"),
    }

    let recorder = Recorder::new(&client, LOG, stele_tower::DEFAULT_BUFFER);
    let audit = AuditLayer::builder(recorder.clone())
        .actor_header(HeaderName::from_static("x-user-id"))
        .ignore("/healthz")
        .source("workflows-example")
        .build()?;
    let app = Router::new()
        .route(
            "/workflows",
            post(|| async { (StatusCode::CREATED, "workflow created\n") }),
        )
        .route(
            "/workflows/{id}",
            get(|Path(id): Path<u64>| async move { format!("workflow {id}\n") })
                .put(update)
                .delete(delete),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(audit);

    let listen: SocketAddr = std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "listening on http://{listen}, auditing to the log {LOG:?} at {endpoint}; Ctrl-C stops"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // Send what is still buffered before exiting.
    if !recorder.drained(Duration::from_secs(5)).await {
        eprintln!("stopping with events unsent: {:?}", recorder.stats());
    }
    Ok(())
}
