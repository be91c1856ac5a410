//! [`Client`]: one connection to a `steled`, with a bearer token and
//! optional TLS, and the plain calls (one request, one answer).
//!
//! The connection reconnects by itself after the server restarts; the
//! [`crate::Appender`] and [`crate::Subscription`] add retries on top.

use std::path::PathBuf;
use std::time::Duration;

use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, aggregate_request, aggregate_response};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::error::{Error, Result};
use crate::event::{Event, Receipt, hash32};
use crate::query::Selection;

/// The server `stele` and [`Client`] talk to when told nothing else.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7070";

/// How to reach a server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `http://HOST:PORT`, or `https://HOST:PORT` for TLS.
    pub endpoint: String,
    /// Bearer token; none when the server runs without tokens.
    pub token: Option<String>,
    /// PEM file of the CA that signed the server's certificate; without
    /// one, an `https://` endpoint is checked against the Web PKI roots.
    pub ca_cert: Option<PathBuf>,
    /// Name to expect in the server's certificate, when not the endpoint's
    /// host.
    pub tls_domain: Option<String>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// `endpoint`, no token, no TLS settings, a 10 s connect timeout.
    pub fn new(endpoint: impl Into<String>) -> ClientConfig {
        ClientConfig {
            endpoint: endpoint.into(),
            token: None,
            ca_cert: None,
            tls_domain: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the bearer token.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> ClientConfig {
        self.token = Some(token.into());
        self
    }

    /// Sets the CA certificate file for TLS.
    #[must_use]
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> ClientConfig {
        self.ca_cert = Some(path.into());
        self
    }
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The generated `Stele` client with the token attached.
pub type SteleRpc = SteleClient<InterceptedService<Channel, Bearer>>;
/// The generated `Admin` client with the token attached.
pub type AdminRpc = AdminClient<InterceptedService<Channel, Bearer>>;

/// A connection to one server. Cheap to clone; clones share the
/// connection.
#[derive(Debug, Clone)]
pub struct Client {
    stele: SteleRpc,
    admin: AdminRpc,
    endpoint: String,
}

impl Client {
    /// Connects, failing early when the server cannot be reached.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad endpoint, token or certificate;
    /// [`Error::Connect`] when nothing answers.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let endpoint = endpoint(&config)?;
        let channel = endpoint.connect().await.map_err(|e| Error::Connect {
            endpoint: config.endpoint.clone(),
            reason: transport_reason(&e),
        })?;
        Client::with_channel(channel, &config)
    }

    /// A client whose connection is made on the first call (and remade
    /// whenever it drops), for services that start before the server.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad endpoint, token or certificate.
    pub fn connect_lazy(config: ClientConfig) -> Result<Client> {
        let channel = endpoint(&config)?.connect_lazy();
        Client::with_channel(channel, &config)
    }

    fn with_channel(channel: Channel, config: &ClientConfig) -> Result<Client> {
        let token = match &config.token {
            None => None,
            Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| Error::Config {
                what: "token".into(),
                reason: "must be printable ASCII".into(),
            })?),
        };
        let bearer = Bearer(token);
        Ok(Client {
            stele: SteleClient::with_interceptor(channel.clone(), bearer.clone())
                .max_decoding_message_size(usize::MAX),
            admin: AdminClient::with_interceptor(channel, bearer),
            endpoint: config.endpoint.clone(),
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The generated `Stele` client, for calls this crate does not wrap.
    pub fn stele_rpc(&self) -> SteleRpc {
        self.stele.clone()
    }

    /// The generated `Admin` client.
    pub fn admin_rpc(&self) -> AdminRpc {
        self.admin.clone()
    }

    /// Appends one batch atomically (every event, or none) and returns one
    /// receipt per event. Does not retry; see [`crate::Appender`].
    ///
    /// # Errors
    /// The server's status: `INVALID_ARGUMENT` naming `events[i].field`,
    /// `NOT_FOUND` for an unknown log, ...
    pub async fn append(&self, log: &str, events: &[Event]) -> Result<Vec<Receipt>> {
        let response = self
            .stele
            .clone()
            .append(v1::AppendRequest {
                log: log.to_string(),
                events: events.iter().map(Event::to_proto).collect(),
                batch_id: 0,
            })
            .await?
            .into_inner();
        response.receipts.iter().map(Receipt::from_proto).collect()
    }

    /// How many records match.
    ///
    /// # Errors
    /// The server's status (`INVALID_ARGUMENT` for a bad selection).
    pub async fn count(&self, log: &str, selection: &Selection) -> Result<u64> {
        match self
            .aggregate(
                log,
                selection,
                aggregate_request::Kind::Count(v1::CountSpec {}),
            )
            .await?
        {
            aggregate_response::Result::Count(n) => Ok(n),
            _ => Err(Error::Protocol("Aggregate answered another kind".into())),
        }
    }

    /// The `top` most frequent values of `field` among the matching records.
    ///
    /// # Errors
    /// The server's status (`INVALID_ARGUMENT` for an unknown field).
    pub async fn count_by(
        &self,
        log: &str,
        selection: &Selection,
        field: &str,
        top: u32,
    ) -> Result<v1::Terms> {
        let spec = v1::CountBySpec {
            field: field.to_string(),
            top,
        };
        match self
            .aggregate(log, selection, aggregate_request::Kind::CountBy(spec))
            .await?
        {
            aggregate_response::Result::Terms(t) => Ok(t),
            _ => Err(Error::Protocol("Aggregate answered another kind".into())),
        }
    }

    /// Matching records per `interval` of event time, optionally split by
    /// the `top` values of a field.
    ///
    /// # Errors
    /// The server's status (`INVALID_ARGUMENT` for too many buckets).
    pub async fn histogram(
        &self,
        log: &str,
        selection: &Selection,
        interval: Duration,
        split: Option<(&str, u32)>,
    ) -> Result<v1::Histogram> {
        let interval_ns = i64::try_from(interval.as_nanos())
            .map_err(|_| Error::invalid("interval", "is too long"))?;
        let (split_field, split_top) = split.unwrap_or(("", 0));
        let spec = v1::HistogramSpec {
            interval_ns,
            split_field: split_field.to_string(),
            split_top,
        };
        match self
            .aggregate(log, selection, aggregate_request::Kind::Histogram(spec))
            .await?
        {
            aggregate_response::Result::Histogram(h) => Ok(h),
            _ => Err(Error::Protocol("Aggregate answered another kind".into())),
        }
    }

    async fn aggregate(
        &self,
        log: &str,
        selection: &Selection,
        kind: aggregate_request::Kind,
    ) -> Result<aggregate_response::Result> {
        self.stele
            .clone()
            .aggregate(v1::AggregateRequest {
                log: log.to_string(),
                selection: Some(selection.to_proto()?),
                kind: Some(kind),
            })
            .await?
            .into_inner()
            .result
            .ok_or_else(|| Error::Protocol("Aggregate answered nothing".into()))
    }

    /// One record and its receipt; `include_body` also returns the stored
    /// bytes (`Record::body`).
    ///
    /// # Errors
    /// `NOT_FOUND` when the seq is not stored; `DATA_LOSS` when its segment
    /// is damaged.
    pub async fn get_record(
        &self,
        log: &str,
        seq: u64,
        include_body: bool,
    ) -> Result<(crate::Record, Receipt)> {
        let response = self
            .stele
            .clone()
            .get_record(v1::GetRecordRequest {
                log: log.to_string(),
                seq,
                include_body,
            })
            .await?
            .into_inner();
        let record = response
            .record
            .ok_or_else(|| Error::Protocol("GetRecord answered no record".into()))?;
        let receipt = response
            .receipt
            .ok_or_else(|| Error::Protocol("GetRecord answered no receipt".into()))?;
        Ok((
            crate::Record::from_proto(record)?,
            Receipt::from_proto(&receipt)?,
        ))
    }

    /// The server's checkpoint signing key. Compare it with a key obtained
    /// out of band before trusting it: see [`crate::verify`].
    ///
    /// # Errors
    /// The server's status, or [`Error::Protocol`] for a key that is not 32
    /// bytes.
    pub async fn public_key(&self) -> Result<[u8; 32]> {
        let response = self
            .stele
            .clone()
            .get_public_key(v1::GetPublicKeyRequest {})
            .await?
            .into_inner();
        hash32("public_key", &response.public_key)
    }

    /// Creates a log; `policy` fields left at zero take the defaults.
    ///
    /// # Errors
    /// `ALREADY_EXISTS`, or `INVALID_ARGUMENT` naming a bad name or policy
    /// field.
    pub async fn create_log(&self, name: &str, policy: v1::Policy) -> Result<v1::LogInfo> {
        Ok(self
            .admin
            .clone()
            .create_log(v1::CreateLogRequest {
                name: name.to_string(),
                policy: Some(policy),
            })
            .await?
            .into_inner())
    }

    /// The logs this token may see, sorted by name.
    ///
    /// # Errors
    /// The server's status.
    pub async fn list_logs(&self) -> Result<Vec<v1::LogInfo>> {
        Ok(self
            .admin
            .clone()
            .list_logs(v1::ListLogsRequest {})
            .await?
            .into_inner()
            .logs)
    }

    /// One log's facts.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown log.
    pub async fn log_info(&self, name: &str) -> Result<v1::LogInfo> {
        Ok(self
            .admin
            .clone()
            .get_log(v1::GetLogRequest {
                name: name.to_string(),
            })
            .await?
            .into_inner())
    }

    /// One log's segments, oldest first; the last is the active one.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown log.
    pub async fn segments(&self, log: &str) -> Result<Vec<v1::SegmentInfo>> {
        Ok(self
            .admin
            .clone()
            .list_segments(v1::ListSegmentsRequest {
                log: log.to_string(),
            })
            .await?
            .into_inner()
            .segments)
    }

    /// Seals the active segment now and waits until it is durable; `None`
    /// when it held no record.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown log.
    pub async fn seal(&self, log: &str) -> Result<Option<v1::SegmentInfo>> {
        Ok(self
            .admin
            .clone()
            .seal(v1::SealRequest {
                log: log.to_string(),
            })
            .await?
            .into_inner()
            .sealed)
    }
}

/// The tonic endpoint for `config`.
fn endpoint(config: &ClientConfig) -> Result<Endpoint> {
    let bad = |reason: String| Error::Config {
        what: "endpoint".into(),
        reason,
    };
    if !(config.endpoint.starts_with("http://") || config.endpoint.starts_with("https://")) {
        return Err(bad(format!(
            "{:?} must start with http:// or https://",
            config.endpoint
        )));
    }
    let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| bad(format!("{:?} is not a URL: {e}", config.endpoint)))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    if config.endpoint.starts_with("https://") || config.ca_cert.is_some() {
        // A program linking this library may compile in both of rustls'
        // crypto providers (ring, which tonic uses, and aws-lc-rs), and then
        // rustls cannot pick one by itself: choose ring, unless the process
        // already chose.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut tls = ClientTlsConfig::new();
        if config.ca_cert.is_none() {
            tls = tls.with_webpki_roots();
        }
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path).map_err(|e| Error::Config {
                what: "ca_cert".into(),
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        if let Some(domain) = &config.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| Error::Config {
            what: "tls".into(),
            reason: e.to_string(),
        })?;
    }
    Ok(endpoint)
}

/// The innermost cause of a transport error ("connection refused"), which
/// is what a person needs to read.
fn transport_reason(error: &tonic::transport::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
