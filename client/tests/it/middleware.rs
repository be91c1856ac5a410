//! `stele-tower` against a real `steled`: an axum service with the layer,
//! driven by real HTTP requests; every captured call found in the log as
//! expected, none for reads and ignored routes; and Stele stopped mid-test
//! while requests keep succeeding, their events arriving once it is back.

use crate::common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderName, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use stele_client::proto::Policy;
use stele_client::{Client, Error, Event, Outcome};
use stele_tower::{AuditLayer, Change, Recorder, Source};
use tempfile::tempdir;
use tonic::Code;

use common::Steled;

const LOG: &str = "api";

/// A bearer token whose payload names `sub` (unsigned: the layer reads the
/// claim of a token the service has already checked).
fn bearer(sub: &str) -> String {
    let payload =
        URL_SAFE_NO_PAD.encode(json!({ "sub": sub, "exp": 4_000_000_000u64 }).to_string());
    format!("Bearer eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln")
}

async fn update(Path(_id): Path<String>, Extension(change): Extension<Change>) -> &'static str {
    change
        .record(
            &json!({"cron": "0 2 * * *", "name": "nightly"}),
            &json!({"cron": "0 3 * * *", "name": "nightly"}),
        )
        .unwrap();
    "updated"
}

/// The service: create, read, update, delete (refused) and trigger (fails)
/// a workflow, and a health check that is ignored.
fn app(layer: AuditLayer) -> Router {
    Router::new()
        .route(
            "/workflows",
            post(|| async { (StatusCode::CREATED, "made") }),
        )
        .route(
            "/workflows/{id}",
            get(|| async { "read" })
                .put(update)
                .delete(|| async { StatusCode::FORBIDDEN }),
        )
        .route(
            "/workflows/{id}/trigger",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/healthz", post(|| async { "ok" }))
        .layer(layer)
}

/// A plain-HTTP client (reqwest is built without a TLS provider of its own;
/// the workspace's is ring).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Serves `app` on a free port, with connection info; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

async fn layer_for(client: &Client, buffer: usize) -> AuditLayer {
    AuditLayer::builder(Recorder::new(client, LOG, buffer))
        .ignore("/healthz")
        .action(Method::POST, "/workflows/{id}/trigger", "workflow.run")
        .tenant(Source::Header(HeaderName::from_static("x-tenant")))
        .source("workflows-api")
        .build()
        .unwrap()
}

/// A `steled` with the log, and the service auditing into it.
struct Service {
    _dir: tempfile::TempDir,
    server: Steled,
    client: Client,
    recorder: Recorder,
    base: String,
    http: reqwest::Client,
}

impl Service {
    /// Starts both, the recorder buffering `buffer` events.
    async fn start(buffer: usize) -> Service {
        let dir = tempdir().unwrap();
        let server = Steled::start(dir.path()).await;
        let client = server.client().await;
        client.create_log(LOG, Policy::default()).await.unwrap();
        let layer = layer_for(&client, buffer).await;
        let recorder = layer.recorder().clone();
        let base = serve(app(layer)).await;
        Service {
            _dir: dir,
            server,
            client,
            recorder,
            base,
            http: http_client(),
        }
    }
}

/// Sends each request in turn, checks that each was answered `status`, and
/// returns their request ids.
async fn answered(
    requests: impl Iterator<Item = reqwest::RequestBuilder>,
    status: u16,
) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (i, request) in requests.enumerate() {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), status, "request {i}");
        ids.insert(
            answer.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    ids
}

impl Service {
    /// Waits for every captured event to be stored, refused or dropped.
    async fn drained(&self) {
        let drained = self.recorder.drained(Duration::from_secs(60)).await;
        assert!(drained, "{:?}", self.recorder.stats());
    }
}

/// The events stored in the log, in seq order (read by seq, not through
/// the index), checking that nothing is stored past them.
async fn stored(client: &Client, n: u64) -> Vec<Event> {
    let mut events = Vec::new();
    for seq in 0..n {
        let (record, _) = client.get_record(LOG, seq, false).await.unwrap();
        events.push(record.event.unwrap());
    }
    match client.get_record(LOG, n, false).await {
        Err(Error::Status(status)) => assert_eq!(status.code(), Code::OutOfRange),
        other => panic!("a record past the {n} expected: {other:?}"),
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_call_is_recorded_and_nothing_else() {
    let service = Service::start(1000).await;
    let (client, recorder, base, http) = (
        &service.client,
        &service.recorder,
        &service.base,
        &service.http,
    );
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .header("authorization", bearer("alice"))
            .header("user-agent", "it-test/1.0")
            .header("x-tenant", "acme")
    };

    let created = call(reqwest::Method::POST, "/workflows")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let read = call(reqwest::Method::GET, "/workflows/42")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let updated = call(reqwest::Method::PUT, "/workflows/42")
        .header("x-correlation-id", "incident-7")
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let request_id = updated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    for (method, path, status) in [
        (reqwest::Method::DELETE, "/workflows/42", 403),
        (reqwest::Method::POST, "/workflows/42/trigger", 500),
        (reqwest::Method::POST, "/healthz", 200),
    ] {
        let answer = call(method.clone(), path).send().await.unwrap();
        assert_eq!(answer.status(), status, "{method} {path}");
    }

    assert!(
        recorder.drained(Duration::from_secs(30)).await,
        "{:?}",
        recorder.stats()
    );
    let stats = recorder.stats();
    assert_eq!(
        (stats.captured, stats.stored, stats.dropped, stats.rejected),
        (4, 4, 0, 0)
    );
    let events = stored(client, 4).await;
    let summary: Vec<(&str, Option<Outcome>, String, &str)> = events
        .iter()
        .map(|e| {
            let r = e
                .resource
                .as_ref()
                .map(|r| format!("{}:{}", r.kind, r.id))
                .unwrap_or_default();
            (e.action.as_str(), e.outcome, r, e.message.as_str())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "workflow.create",
                Some(Outcome::Success),
                "workflow:".into(),
                "alice created workflow"
            ),
            (
                "workflow.update",
                Some(Outcome::Success),
                "workflow:42".into(),
                "alice updated workflow 42"
            ),
            (
                "workflow.delete",
                Some(Outcome::Denied),
                "workflow:42".into(),
                "alice was denied delete of workflow 42 (403)"
            ),
            (
                "workflow.run",
                Some(Outcome::Failure),
                "workflow:42".into(),
                "alice failed to trigger workflow 42 (500)"
            ),
        ]
    );
    let update = &events[1];
    let actor = update.actor.as_ref().unwrap();
    assert_eq!(
        (
            actor.id.as_str(),
            actor.ip.as_str(),
            actor.user_agent.as_str()
        ),
        ("alice", "127.0.0.1", "it-test/1.0")
    );
    assert_eq!(update.request_id, request_id);
    assert_eq!(update.correlation_id, "incident-7");
    assert_eq!(update.source, "workflows-api");
    assert!(events.iter().all(|e| e.tenant == "acme"));
    assert!(update.duration_ms.is_some());
    let details = update.details.as_ref().unwrap();
    assert_eq!(details["http"]["route"], "/workflows/{id}");
    assert_eq!(details["http"]["path"], "/workflows/42");
    assert_eq!(details["http"]["status"], 200);
    assert_eq!(details["change"]["changed"], json!(["cron"]));
    assert_eq!(details["change"]["after"]["cron"], "0 3 * * *");
    assert_eq!(events[2].reason, "403");
    // Without a correlation id of its own, a call is correlated by its request id.
    assert_eq!(events[0].correlation_id, events[0].request_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_stele_is_down_and_their_events_arrive_after() {
    const N: usize = 50;
    let mut service = Service::start(1000).await;

    service.server.stop().await;
    let requests = (0..N).map(|i| {
        service
            .http
            .put(format!("{}/workflows/{i}", service.base))
            .header("authorization", bearer("bob"))
    });
    let sent = answered(requests, 200).await;
    let stats = service.recorder.stats();
    assert_eq!(
        (stats.captured, stats.stored, stats.dropped),
        (N as u64, 0, 0)
    );

    service.server.restart().await;
    service.drained().await;
    assert_eq!(service.recorder.stats().stored, N as u64);
    let events = stored(&service.client, N as u64).await;
    let got: BTreeSet<String> = events.iter().map(|e| e.request_id.clone()).collect();
    assert_eq!(got, sent, "each request's event, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_and_counts_and_never_fails_a_request() {
    const N: u64 = 200;
    let mut service = Service::start(4).await;

    service.server.stop().await;
    let requests = (0..N).map(|i| {
        service
            .http
            .delete(format!("{}/workflows/{i}", service.base))
    });
    answered(requests, 403).await;
    service.server.restart().await;
    service.drained().await;
    let stats = service.recorder.stats();
    assert_eq!(stats.captured, N);
    assert!(stats.dropped > 0 && stats.stored > 0, "{stats:?}");
    assert_eq!(stats.stored + stats.dropped, N, "{stats:?}");
    let events = stored(&service.client, stats.stored).await;
    assert!(
        events
            .iter()
            .all(|e| e.action == "workflow.delete" && e.actor.as_ref().unwrap().id == "anonymous")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_through_tonic_are_named_by_service_and_method() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let dir = tempdir().unwrap();
    let server = Steled::start(dir.path()).await;
    let client = server.client().await;
    client.create_log(LOG, Policy::default()).await.unwrap();
    let layer = AuditLayer::builder(Recorder::new(&client, LOG, 100))
        .actor_header(HeaderName::from_static("x-user"))
        .build()
        .unwrap();
    let recorder = layer.recorder().clone();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let ask = |service: &str| {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.into(),
        });
        request
            .metadata_mut()
            .insert("x-user", "carol".parse().unwrap());
        request
    };
    health.check(ask("")).await.unwrap();
    let unknown = health.check(ask("no.such.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    assert!(
        recorder.drained(Duration::from_secs(30)).await,
        "{:?}",
        recorder.stats()
    );
    let events = stored(&client, 2).await;
    let got: Vec<(&str, Option<Outcome>, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.outcome,
                e.actor.as_ref().unwrap().id.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "grpc.health.v1.Health.Check",
                Some(Outcome::Success),
                "carol",
                ""
            ),
            (
                "grpc.health.v1.Health.Check",
                Some(Outcome::Failure),
                "carol",
                "grpc 5"
            ),
        ]
    );
}
