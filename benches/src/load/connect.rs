//! Channels to the server: the endpoint, TLS for `https://` endpoints, and
//! the `authorization: Bearer <token>` metadata added to every call.

use std::path::Path;
use std::time::Duration;

use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use tonic::Status;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `Stele` client that sends the token.
pub type SteleApi = SteleClient<InterceptedService<Channel, Auth>>;
/// An `Admin` client that sends the token.
pub type AdminApi = AdminClient<InterceptedService<Channel, Auth>>;

/// Adds `authorization: Bearer <token>` to every call, when there is a
/// token.
#[derive(Debug, Clone)]
pub struct Auth {
    header: Option<AsciiMetadataValue>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(header) = &self.header {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}

/// The server to connect to, and how.
#[derive(Debug, Clone)]
pub struct Target {
    uri: String,
    endpoint: Endpoint,
    auth: Auth,
}

impl Target {
    /// The server at `uri` (`http://` or `https://`); `ca_cert` is the PEM
    /// certificate of the authority that signed an `https://` server's
    /// certificate; `token`, when given, is sent on every call.
    pub fn new(uri: &str, ca_cert: Option<&Path>, token: Option<&str>) -> Result<Target, String> {
        let mut endpoint = Endpoint::from_shared(uri.to_string())
            .map_err(|e| format!("invalid endpoint {uri}: {}", error_chain(&e)))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        match (endpoint.uri().scheme_str(), ca_cert) {
            (Some("https"), Some(path)) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
                endpoint = endpoint
                    .tls_config(tls)
                    .map_err(|e| format!("TLS settings for {uri}: {}", error_chain(&e)))?;
            }
            (Some("https"), None) => {
                return Err(format!(
                    "{uri} is https: pass --ca-cert with the CA's PEM file"
                ));
            }
            (Some("http"), None) => {}
            (Some("http"), Some(_)) => {
                return Err(format!("--ca-cert needs an https:// endpoint, not {uri}"));
            }
            _ => return Err(format!("invalid endpoint {uri}: use http:// or https://")),
        }
        let header = token
            .map(|token| {
                let mut value = MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| "the token must be printable ASCII".to_string())?;
                value.set_sensitive(true);
                Ok::<_, String>(value)
            })
            .transpose()?;
        Ok(Target {
            uri: uri.to_string(),
            endpoint,
            auth: Auth { header },
        })
    }

    /// The endpoint as given.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Opens a new connection (one HTTP/2 connection of its own).
    pub async fn connect(&self) -> Result<Channel, String> {
        self.endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {}: {}", self.uri, error_chain(&e)))
    }

    /// A `Stele` client over `channel`.
    pub fn stele(&self, channel: Channel) -> SteleApi {
        SteleClient::with_interceptor(channel, self.auth.clone())
    }

    /// An `Admin` client over `channel`.
    pub fn admin(&self, channel: Channel) -> AdminApi {
        AdminClient::with_interceptor(channel, self.auth.clone())
    }
}

/// An error and its sources, joined with `: ` (tonic's transport errors say
/// little on their own).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
