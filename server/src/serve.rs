//! Running the server: open the store, bind, serve the `Stele`, `Admin`,
//! health and reflection services and the HTTP/JSON API ([`crate::http`])
//! on one port, and shut down cleanly.
//!
//! Shutdown ([`Running::shutdown`]): health turns to `NOT_SERVING`; the
//! listener stops accepting; streams are told to end (subscriptions with
//! `UNAVAILABLE` and their resume seq, append streams after answering the
//! batches they already received); unary calls in progress finish, within
//! `shutdown_grace`; then the store is closed, which fsyncs every log and
//! commits its index. An acknowledged append was durable before its answer
//! was sent, so neither a shutdown nor a crash loses it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stele_engine::{Store, StoreOptions};
use stele_proto::v1::admin_server::AdminServer;
use stele_proto::v1::stele_server::SteleServer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::http;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::admin_service::AdminService;
use crate::audit::AuditTrail;
use crate::auth::Auth;
use crate::config::Config;
use crate::context::Context;
use crate::stele_service::SteleService;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened or closed.
    #[error("data directory {dir}: {source}")]
    Store {
        /// The data directory.
        dir: String,
        /// The engine's error.
        #[source]
        source: stele_engine::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The minted tokens' file could not be read.
    #[error("minted tokens: {0}")]
    Tokens(String),
    /// The TLS files could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The task serving the connections ended abnormally.
    #[error("the serving task failed: {0}")]
    Task(String),
    /// The gRPC transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A server that is serving.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    served: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// The address it listens on (the real port when `listen` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it as the module doc describes, and waits until the store is
    /// closed.
    ///
    /// # Errors
    /// The transport's or the store's error.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let _ = self.shutdown.send(true);
        match self.served.await {
            Ok(result) => result,
            Err(join) => Err(ServeError::Task(join.to_string())),
        }
    }
}

/// Opens the store, binds `config.listen` and serves until
/// [`Running::shutdown`].
///
/// # Errors
/// [`ServeError`] naming the directory, address or file.
pub async fn start(config: Config) -> Result<Running, ServeError> {
    let options = config.store_options();
    start_with(config, options).await
}

/// As [`start`], with the engine's options given instead of derived from
/// `config` (tests inject a manual clock, archive faults or a retention
/// interval this way).
///
/// # Errors
/// As [`start`].
pub async fn start_with(config: Config, options: StoreOptions) -> Result<Running, ServeError> {
    let dir = config.data_dir.display().to_string();
    let store_err = |source| ServeError::Store {
        dir: dir.clone(),
        source,
    };
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open_with(&data_dir, options))
        .await
        .expect("opening the store does not panic")
        .map_err(store_err)?;
    let store = Arc::new(store);
    let audit = AuditTrail::start(store.clone()).map_err(store_err)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let minted = crate::tokens::Minted::open(&config.data_dir).map_err(ServeError::Tokens)?;
    let auth = Auth::new(&config.tokens, Arc::new(minted));
    if auth.is_open() {
        tracing::warn!(%addr, "no tokens configured: every caller has every role, so only loopback is served");
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = Context {
        store: store.clone(),
        auth,
        audit,
        limits: config.limits.clone(),
        shutdown: shutdown_rx.clone(),
        subscribers: Arc::new(Semaphore::new(config.limits.max_subscribers)),
        origin: config.origin.as_str().into(),
        github_secrets: Arc::new(
            config
                .github_webhooks
                .iter()
                .map(|hook| (hook.log.clone(), hook.secret.clone()))
                .collect(),
        ),
    };
    let limit = config.limits.max_request_bytes;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(stele_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    // Older tools (grpcurl before 1.8.8, grpcui, Postman) speak v1alpha.
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the embedded descriptor sets are valid");
    let router = builder(&config)?
        .accept_http1(true)
        .layer(tower::util::MapResponseLayer::new(size_limit_answer(limit)))
        .add_routes(crate::http::router(ctx.clone(), &config.http, &config.console).into())
        .add_service(health(ctx.shutdown.clone()))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            SteleServer::new(SteleService::new(ctx.clone())).max_decoding_message_size(limit),
        )
        .add_service(AdminServer::new(AdminService::new(ctx)).max_decoding_message_size(limit));
    let grace = config.shutdown_grace;
    // Small answers go out at once: with Nagle's algorithm a response written
    // in two parts waits for the client's delayed ACK (about 40 ms).
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn
            && let Err(error) = stream.set_nodelay(true)
        {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        conn
    });
    let mut stop = shutdown_rx.clone();
    let mut stop_grace = shutdown_rx;
    let served = tokio::spawn(async move {
        let stopping = async move {
            let _ = stop.wait_for(|s| *s).await;
            tracing::info!("shutting down: no new connections; finishing calls in progress");
        };
        // The grace period starts when shutdown does, not when serving does.
        let grace_over = async move {
            let _ = stop_grace.wait_for(|s| *s).await;
            tokio::time::sleep(grace + Duration::from_secs(1)).await;
        };
        let serving = router.serve_with_incoming_shutdown(incoming, stopping);
        let result = tokio::select! {
            result = serving => result.map_err(ServeError::from),
            () = grace_over => {
                tracing::warn!(
                    ?grace,
                    "calls still in progress after the grace period are cut off"
                );
                Ok(())
            }
        };
        close_store(store, dir).await.and(result)
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), tls = config.tls.is_some(), "steled serving");
    Ok(Running {
        addr,
        shutdown: shutdown_tx,
        served,
    })
}

/// A server builder, with TLS when configured.
fn builder(config: &Config) -> Result<Server, ServeError> {
    let server = Server::builder();
    let Some(tls) = &config.tls else {
        return Ok(server);
    };
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", path.display())))
    };
    let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    // rustls on ring is the one TLS stack of the workspace (tonic's, and
    // object_store's S3 client's); make it the process default, unless the
    // process already chose.
    let _ = rustls::crypto::ring::default_provider().install_default();
    server
        .tls_config(ServerTlsConfig::new().identity(identity))
        .map_err(|e| {
            ServeError::Tls(format!(
                "{} and {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })
}

/// The health service, serving until shutdown starts.
fn health(
    mut shutdown: watch::Receiver<bool>,
) -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    let (reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        reporter.set_serving::<SteleServer<SteleService>>().await;
        reporter.set_serving::<AdminServer<AdminService>>().await;
        let _ = shutdown.wait_for(|s| *s).await;
        reporter
            .set_not_serving::<SteleServer<SteleService>>()
            .await;
        reporter
            .set_not_serving::<AdminServer<AdminService>>()
            .await;
    });
    service
}

/// tonic refuses a message over its decoding limit with `OUT_OF_RANGE`;
/// this rewrites that answer (a trailers-only response) to
/// `RESOURCE_EXHAUSTED` naming the setting.
fn size_limit_answer(
    limit: usize,
) -> impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone {
    move |mut response| {
        let headers = response.headers_mut();
        let too_large = headers.get("grpc-status").is_some_and(|v| v == "11")
            && headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .is_some_and(|m| m.replace("%20", " ").contains("message length too large"));
        if too_large {
            let status = crate::status::over_limit(limit);
            headers.insert("grpc-status", http::HeaderValue::from(status.code() as i32));
            if let Ok(value) = http::HeaderValue::from_str(status.message()) {
                headers.insert("grpc-message", value);
            }
        }
        response
    }
}

/// Closes the store once every handler has let go of it (they end with the
/// server); fsyncs and commits every log.
async fn close_store(store: Arc<Store>, dir: String) -> Result<(), ServeError> {
    let mut store = store;
    for _ in 0..200 {
        match Arc::try_unwrap(store) {
            Ok(owned) => {
                return match tokio::task::spawn_blocking(move || owned.close()).await {
                    Ok(closed) => closed.map_err(|source| ServeError::Store { dir, source }),
                    // The runtime is going away (the server was dropped
                    // without `shutdown`): the store closes as it drops.
                    Err(join) => {
                        tracing::warn!(error = %join, "the store was not closed explicitly");
                        Ok(())
                    }
                };
            }
            Err(shared) => {
                store = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tracing::warn!(
        "the store is still in use after shutdown; it closes when the last user drops it"
    );
    Ok(())
}
