//! A server on an ephemeral port over a temporary data directory, and
//! clients that talk to it, for the end-to-end tests.

pub mod http;

use std::future::Future;
use std::time::{Duration, Instant};

use stele_engine::StoreOptions;
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, Event, subscribe_response};
use stele_server::auth::Role;
use stele_server::config::{Config, TokenConfig};
use stele_server::serve::{self, Running};
use tonic::Request;
use tonic::Streaming;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A running server and its data directory.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub endpoint: String,
}

impl TestServer {
    /// A server with no tokens (every caller has every role).
    pub async fn open() -> TestServer {
        TestServer::with(|_| {}).await
    }

    /// A server whose configuration `tune` adjusts (listen and data_dir are
    /// set already).
    pub async fn with(tune: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::with_store(tune, |_| {}).await
    }

    /// A server whose configuration `tune` adjusts, and whose engine
    /// options (derived from it) `tune_store` adjusts: a manual clock,
    /// injected faults.
    pub async fn with_store(
        tune: impl FnOnce(&mut Config),
        tune_store: impl FnOnce(&mut StoreOptions),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        tune(&mut config);
        config.validate().unwrap();
        let mut options = config.store_options();
        tune_store(&mut options);
        let running = serve::start_with(config, options).await.unwrap();
        let endpoint = format!("http://{}", running.addr());
        TestServer {
            dir,
            running: Some(running),
            endpoint,
        }
    }

    /// A connected channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint.clone())
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap()
    }

    /// A `Stele` client sending `token` (none when `None`).
    pub async fn client(
        &self,
        token: Option<&str>,
    ) -> SteleClient<InterceptedService<Channel, Bearer>> {
        SteleClient::with_interceptor(self.channel().await, Bearer::new(token))
    }

    /// An `Admin` client sending `token` (none when `None`).
    pub async fn admin(
        &self,
        token: Option<&str>,
    ) -> AdminClient<InterceptedService<Channel, Bearer>> {
        AdminClient::with_interceptor(self.channel().await, Bearer::new(token))
    }

    /// Shuts the server down cleanly; the directory stays.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().unwrap()))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A token configuration.
pub fn token(name: &str, secret: &str, roles: &[Role], logs: &[&str]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        secret: secret.into(),
        roles: roles.to_vec(),
        logs: logs.iter().map(|l| (*l).to_string()).collect(),
    }
}

/// An event with `action`, actor `actor` and message `message`.
pub fn event(action: &str, actor: &str, message: &str) -> Event {
    Event {
        action: action.into(),
        actor: Some(v1::Actor {
            id: actor.into(),
            ..Default::default()
        }),
        message: message.into(),
        ..Default::default()
    }
}

/// Creates `name` with default policy through the admin client.
pub async fn create_log(server: &TestServer, token: Option<&str>, name: &str) -> v1::LogInfo {
    server
        .admin(token)
        .await
        .create_log(v1::CreateLogRequest {
            name: name.into(),
            policy: None,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls `probe` until it returns `Some`, failing after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The events a subscription delivers until a heartbeat says it is caught
/// up with the head, failing after `within`.
pub async fn events_until_caught_up(
    mut stream: Streaming<v1::SubscribeResponse>,
    within: Duration,
) -> Vec<Event> {
    let mut out = Vec::new();
    let read = async {
        while let Some(item) = stream.message().await.unwrap() {
            match item.item {
                Some(subscribe_response::Item::Record(r)) => out.push(r.event.unwrap()),
                Some(subscribe_response::Item::Heartbeat(h)) if h.resume_seq >= h.head_seq => {
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the subscription catches up");
    out
}

/// Runs `Verify` over `from_seq..to_seq` of `log`; returns the progress
/// messages and the result that ends the stream.
pub async fn verify(
    client: &mut SteleClient<InterceptedService<Channel, Bearer>>,
    log: &str,
    from_seq: u64,
    to_seq: Option<u64>,
) -> (Vec<v1::VerifyProgress>, v1::VerifyResult) {
    use v1::verify_response::Item;
    let mut stream = client
        .verify(v1::VerifyRequest {
            log: log.into(),
            from_seq,
            to_seq,
        })
        .await
        .unwrap()
        .into_inner();
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(message) = stream.message().await.unwrap() {
        assert!(result.is_none(), "nothing follows the result");
        match message.item.unwrap() {
            Item::Progress(p) => progress.push(p),
            Item::Result(r) => result = Some(r),
        }
    }
    (progress, result.expect("a result ends the stream"))
}
