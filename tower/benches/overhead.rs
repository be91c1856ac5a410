//! What the audit layer adds to a request: the same axum service called
//! in-process (no network) without the layer, with it while Stele takes
//! the events, and with it while Stele is down (the buffer full, every
//! event dropped and counted). Criterion times each; then each is timed
//! request by request for the p50 and p99.
//!
//! ```sh
//! target/release/steled serve --listen 127.0.0.1:7171 --data-dir /tmp/tb &
//! STELE_ENDPOINT=http://127.0.0.1:7171 cargo bench -p stele-tower --bench overhead
//! ```
//!
//! Without `STELE_ENDPOINT`, the "Stele up" case is left out. The log
//! `bench-tower` is created when missing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::put;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use hdrhistogram::Histogram;
use stele_client::{Client, ClientConfig};
use stele_tower::{AuditLayer, Recorder};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const LOG: &str = "bench-tower";

fn service() -> Router {
    Router::new().route("/workflows/{id}", put(|| async { "updated" }))
}

fn request(token: &str) -> Request<Body> {
    Request::put("/workflows/42")
        .header("authorization", token)
        .header("user-agent", "bench/1.0 (overhead)")
        .header("x-forwarded-for", "203.0.113.9")
        .body(Body::empty())
        .expect("a valid request")
}

/// The variants: a name and the service.
fn variants(rt: &Runtime) -> Vec<(&'static str, Router, Option<Recorder>)> {
    let mut out = vec![("no layer", service(), None)];
    let with = |client: &Client| {
        let recorder = Recorder::new(client, LOG, 10_000);
        let layer = AuditLayer::builder(recorder.clone())
            .trusted_proxies(["127.0.0.0/8"])
            .source("bench")
            .build()
            .expect("a valid layer");
        (service().layer(layer), recorder)
    };
    if let Ok(endpoint) = std::env::var("STELE_ENDPOINT") {
        let (app, recorder) = rt.block_on(async {
            let client = Client::connect(ClientConfig::new(endpoint))
                .await
                .expect("Stele at STELE_ENDPOINT");
            let _ = client
                .create_log(LOG, stele_client::proto::Policy::default())
                .await;
            with(&client)
        });
        out.push(("layer, Stele up", app, Some(recorder)));
    } else {
        eprintln!("STELE_ENDPOINT is not set: the \"Stele up\" case is left out");
    }
    let (app, recorder) = rt.block_on(async {
        // Nothing listens on port 1: every send fails and is retried.
        let client =
            Client::connect_lazy(ClientConfig::new("http://127.0.0.1:1")).expect("a lazy client");
        with(&client)
    });
    out.push(("layer, Stele down", app, Some(recorder)));
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let token = format!(
        "Bearer eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"sub":"alice","org":"acme","exp":4000000000}"#)
    );
    let variants = variants(&rt);
    // Stele down: fill the buffer first, so that the runs measure the
    // dropping path a long outage reaches.
    for (name, app, _) in &variants {
        if name.ends_with("down") {
            for _ in 0..30_000 {
                rt.block_on(app.clone().oneshot(request(&token)))
                    .expect("an answer");
            }
        }
    }

    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("request");
        for (name, app, _) in &variants {
            group.bench_function(*name, |b| {
                b.iter(|| {
                    black_box(
                        rt.block_on(app.clone().oneshot(request(&token)))
                            .expect("an answer"),
                    )
                });
            });
        }
        group.finish();
    }
    c.final_summary();

    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    const N: usize = 200_000;
    println!("\nper request, {N} requests each, in turn:\n");
    println!("| service | p50 ns | p99 ns | captured | stored | dropped |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, app, recorder) in &variants {
        let mut h = Histogram::<u64>::new(3).expect("a histogram");
        for _ in 0..N {
            let req = request(&token);
            let t = Instant::now();
            let answer = rt.block_on(app.clone().oneshot(req)).expect("an answer");
            h.record(t.elapsed().as_nanos() as u64).expect("in range");
            black_box(answer);
        }
        let stats = recorder.as_ref().map(|r| {
            rt.block_on(r.drained(Duration::from_secs(if name.ends_with("down") {
                0
            } else {
                30
            })));
            r.stats()
        });
        let (captured, stored, dropped) = stats.map_or(("-".into(), "-".into(), "-".into()), |s| {
            (
                s.captured.to_string(),
                s.stored.to_string(),
                s.dropped.to_string(),
            )
        });
        println!(
            "| {name} | {} | {} | {captured} | {stored} | {dropped} |",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99)
        );
    }
}
