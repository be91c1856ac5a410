//! `stele-server`: Stele's server, `steled`: gRPC and HTTP/JSON on one port.
//!
//! - [`config`]: the TOML file, flags and `STELE_*` variables.
//! - [`auth`]: bearer tokens, roles, logs and tenants; [`tokens`]: minted
//!   viewer tokens.
//! - [`context`]: what handlers share; admitting a caller.
//! - [`audit`]: admin calls and auth failures in the `_system` log.
//! - [`stele_service`], [`admin_service`]: the two gRPC services;
//!   [`retention_service`]: the Admin calls for retention, archival, holds
//!   and the retention lock; [`rewrite_service`]: compaction and erasure.
//! - [`subscribe`]: replay-then-follow subscriptions.
//! - [`http`]: the HTTP/JSON API on the same port; [`calls`]: what the two
//!   front doors call alike; [`github`]: GitHub webhook deliveries as
//!   events.
//! - [`convert`]: protobuf ⇄ engine types; [`status`]: errors ⇄ gRPC codes.
//! - [`serve`]: binding, TLS, health, reflection, clean shutdown.
//! - [`offline_verify`]: `steled verify`, with no server running.
//!
//! `docs/api.md` documents the API, `docs/configuration.md` the settings and
//! `docs/operations.md` how to run it.

pub mod admin_service;
pub mod audit;
pub mod auth;
pub mod calls;
pub mod config;
pub mod context;
pub mod convert;
pub mod github;
pub mod http;
pub mod offline_verify;
pub mod retention_service;
pub mod rewrite_service;
pub mod scrub_service;
pub mod serve;
pub mod status;
pub mod stele_service;
pub mod subscribe;
pub mod tokens;
