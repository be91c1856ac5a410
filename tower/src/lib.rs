//! `stele-tower`: a tower [`Layer`](tower::Layer) that records every
//! mutating call of a service (axum, hyper or tonic) as a Stele audit
//! event, with no audit code in the handlers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::put};
//! use stele_client::{Client, ClientConfig};
//! use stele_tower::{AuditLayer, Recorder};
//!
//! let client = Client::connect_lazy(ClientConfig::new("http://127.0.0.1:7171"))?;
//! let audit = AuditLayer::builder(Recorder::new(&client, "audit", 10_000))
//!     .actor_claim("sub")
//!     .trusted_proxies(["10.0.0.0/8"])
//!     .ignore("/healthz")
//!     .source("workflows-api")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/workflows/{id}", put(|| async { "ok" }))
//!     .layer(audit);
//! # Ok(()) }
//! ```
//!
//! `PUT /workflows/42` by a bearer token whose `sub` is `alice`, answered
//! 200, is recorded as action `workflow.update` on resource `workflow` `42`,
//! outcome `success`, "alice updated workflow 42", with the client address,
//! user agent, duration, request and correlation ids, and the method, path,
//! route and status in `details.http`. Events are sent in the background
//! ([`Recorder`]): a request never waits for Stele or fails because of it.
//! `docs/middleware.md` has every option.

mod change;
mod config;
mod outcome;
mod recorder;
mod route;
mod service;
mod source;

pub use change::Change;
pub use config::{Builder, ConfigError};
pub use recorder::{DEFAULT_BUFFER, Recorder, Stats};
pub use route::{Named, Template};
pub use service::{Audit, AuditLayer};
pub use source::{Source, SourceFn, client_ip};
