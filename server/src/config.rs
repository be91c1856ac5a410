//! The server's configuration: a TOML file, overridden by flags and
//! `STELE_*` environment variables (see `docs/configuration.md`).
//!
//! Precedence, highest first: command-line flag, environment variable, the
//! file given by `--config` (or `<data-dir>/server.toml` when it exists),
//! the built-in default. [`Config::validate`] checks everything before the
//! server opens its store or its port, so a bad setting is an error that
//! names it, never a half-started server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use stele_engine::ArchiveTarget;

use crate::auth::Role;

/// Address the server listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
/// Data directory used by default.
pub const DEFAULT_DATA_DIR: &str = "./stele-data";
/// How often retention runs by default.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(300);
/// Name of the optional configuration file inside the data directory.
pub const CONFIG_FILE_IN_DATA_DIR: &str = "server.toml";

/// Everything `steled serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Where the logs, keys and checkpoints live.
    pub data_dir: PathBuf,
    /// TLS certificate and key; plaintext when absent.
    pub tls: Option<TlsConfig>,
    /// Bearer tokens. With none, the server accepts every call without a
    /// token, and so only listens on a loopback address.
    pub tokens: Vec<TokenConfig>,
    /// GitHub webhooks: for each log that accepts them, the secret their
    /// `X-Hub-Signature-256` is checked against.
    pub github_webhooks: Vec<GithubWebhookConfig>,
    /// The HTTP/JSON API's settings.
    pub http: HttpConfig,
    /// The web console at `/`: the `[console]` table.
    pub console: ConsoleConfig,
    /// The name standard (C2SP) checkpoints are signed as, and their
    /// origins start with (`<origin>/<log>`): this server's public name,
    /// `stele.example.com`. Default: the machine's host name.
    pub origin: String,
    /// Request and subscription limits.
    pub limits: LimitsConfig,
    /// Idempotent retries.
    pub dedup: DedupConfig,
    /// Memory for decoded sealed blocks, in MiB.
    pub block_cache_mib: u64,
    /// On SIGINT or SIGTERM, how long in-flight calls may take to finish.
    #[serde(with = "duration_text")]
    pub shutdown_grace: Duration,
    /// Where segments are archived before retention removes them: the
    /// `[archive]` table (`kind = "none" | "local" | "s3"`).
    pub archive: ArchiveTarget,
    /// How often every log's retention policy is applied; `None` (`"off"`)
    /// leaves it to the `ApplyRetention` call.
    #[serde(with = "interval_text")]
    pub retention_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            tls: None,
            tokens: Vec::new(),
            github_webhooks: Vec::new(),
            http: HttpConfig::default(),
            console: ConsoleConfig::default(),
            origin: default_origin(),
            limits: LimitsConfig::default(),
            dedup: DedupConfig::default(),
            block_cache_mib: 256,
            shutdown_grace: Duration::from_secs(10),
            archive: ArchiveTarget::None,
            retention_interval: Some(DEFAULT_RETENTION_INTERVAL),
        }
    }
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// One bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it; recorded as the actor of their calls in `_system`.
    pub name: String,
    /// The secret a client sends as `authorization: Bearer <secret>`.
    pub secret: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The logs it may use: names, `prefix*` patterns, or `*` for all.
    pub logs: Vec<String>,
}

/// The machine's host name, as a checkpoint origin (`stele` when it has
/// none usable).
fn default_origin() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| valid_origin(h))
        .unwrap_or_else(|| "stele".into())
}

/// An origin: non-empty, without spaces, `+` or `/`.
fn valid_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.contains(|c: char| c.is_whitespace() || c == '+' || c == '/')
}

/// Settings of the HTTP/JSON API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Origins whose web pages may call the API from a browser (CORS):
    /// `https://app.example.com`, or `*` for any; none by default.
    pub cors_origins: Vec<String>,
}

/// Settings of the web console (docs/console.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console at `/` (true).
    pub enabled: bool,
    /// Origins whose pages may show the console in a frame (the
    /// `frame-ancestors` policy), and whose frames may hand it a token
    /// with `postMessage`: `https://app.example.com`; none by default.
    pub frame_ancestors: Vec<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            frame_ancestors: Vec::new(),
        }
    }
}

/// True for an origin such as `https://app.example.com`: scheme and host,
/// no path, a valid header value.
fn is_web_origin(origin: &str) -> bool {
    (origin.starts_with("https://") || origin.starts_with("http://"))
        && !origin.ends_with('/')
        && !origin.contains([' ', ';', ',', '\'', '"'])
        && origin.parse::<tonic::codegen::http::HeaderValue>().is_ok()
}

/// A log that accepts GitHub webhook deliveries
/// (`POST /v1/logs/{log}/github`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubWebhookConfig {
    /// The log the deliveries are appended to.
    pub log: String,
    /// The webhook's secret, as set in GitHub's webhook settings.
    pub secret: String,
}

/// Size limits on requests and subscriptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request message, in bytes; larger ones are refused with
    /// `RESOURCE_EXHAUSTED`.
    pub max_request_bytes: usize,
    /// Batches one `AppendStream` may have in flight at once.
    pub max_stream_in_flight: usize,
    /// Subscriptions open at once, over all clients.
    pub max_subscribers: usize,
    /// Records a subscription reads from storage per step; with the
    /// subscription's send buffer this bounds its memory.
    pub subscribe_chunk: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_bytes: 16 << 20,
            max_stream_in_flight: 16,
            max_subscribers: 1024,
            subscribe_chunk: 256,
        }
    }
}

/// How long a client event id is remembered for retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DedupConfig {
    /// Ingest-time window in which a retried id returns its original
    /// receipt; `0s` turns retries off.
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Most ids remembered per log (about 40 bytes each).
    pub max_ids: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        let engine = stele_engine::DedupOptions::default();
        DedupConfig {
            window: engine.window,
            max_ids: engine.max_ids,
        }
    }
}

/// Durations written as `"10s"`, `"5m"`, `"1h 30m"`.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!("`{s}` is not a duration like `10s` or `5m`: {e}"))
        })
    }
}

/// Intervals written as durations, or `"off"`.
mod interval_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::parse_interval(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `"5m"`, `"1h"` or `"off"` (`None`); zero is refused.
///
/// # Errors
/// A message quoting the text.
pub fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "off" {
        return Ok(None);
    }
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("`{text}` is zero: write \"off\" to turn it off")),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(format!(
            "`{text}` is not a duration like `5m` or `1h`, or `off`: {e}"
        )),
    }
}

/// An archive target written as a location: `none`, `s3://BUCKET/PREFIX`
/// (endpoint, region and credentials from the `AWS_*` variables), or a
/// directory.
///
/// # Errors
/// A message for an `s3://` location without a bucket.
pub fn parse_archive_location(text: &str) -> Result<ArchiveTarget, String> {
    let text = text.trim();
    if text == "none" {
        return Ok(ArchiveTarget::None);
    }
    if let Some(rest) = text.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{text}`: no bucket after s3://"));
        }
        return Ok(ArchiveTarget::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        });
    }
    if text.is_empty() {
        return Err("the archive location is empty".into());
    }
    Ok(ArchiveTarget::Local {
        path: PathBuf::from(text),
    })
}

/// A configuration problem, naming the setting or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What flags and environment variables set; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config` / `STELE_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--listen` / `STELE_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir` / `STELE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--tls-cert` / `STELE_TLS_CERT`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` / `STELE_TLS_KEY`.
    pub tls_key: Option<PathBuf>,
    /// `--archive` / `STELE_ARCHIVE`: a directory, `s3://BUCKET/PREFIX`
    /// or `none`, replacing the file's `[archive]`.
    pub archive: Option<String>,
    /// `--retention-interval` / `STELE_RETENTION_INTERVAL`: a duration or
    /// `off`.
    pub retention_interval: Option<String>,
}

impl Config {
    /// Loads the file (the one named by `--config`, else
    /// `<data-dir>/server.toml` if present), applies the overrides and
    /// validates the result.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and setting at fault.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let file = match &overrides.config {
            Some(path) => Some(path.clone()),
            None => {
                let dir = overrides
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
                Some(dir.join(CONFIG_FILE_IN_DATA_DIR)).filter(|p| p.is_file())
            }
        };
        let mut config = match &file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        match (&overrides.tls_cert, &overrides.tls_key) {
            (Some(cert), Some(key)) => {
                config.tls = Some(TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                });
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError(
                    "--tls-cert and --tls-key must be given together".into(),
                ));
            }
        }
        if let Some(location) = &overrides.archive {
            config.archive = parse_archive_location(location)
                .map_err(|e| ConfigError(format!("--archive: {e}")))?;
        }
        if let Some(interval) = &overrides.retention_interval {
            config.retention_interval = parse_interval(interval)
                .map_err(|e| ConfigError(format!("--retention-interval: {e}")))?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line and setting at fault.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))
    }

    /// Checks the settings that types alone cannot.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tokens.is_empty() && !self.listen.ip().is_loopback() {
            return Err(ConfigError(format!(
                "listen = {}: with no [[tokens]] configured anyone could append and read, so the server only listens on a loopback address (such as {DEFAULT_LISTEN}); configure tokens to listen on {}",
                self.listen,
                self.listen.ip()
            )));
        }
        let mut names = HashSet::new();
        let mut secrets = HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            let at = format!("tokens[{i}]");
            if token.name.is_empty() {
                return Err(ConfigError(format!("{at}.name is empty")));
            }
            if !names.insert(token.name.as_str()) {
                return Err(ConfigError(format!(
                    "{at}.name: `{}` is used by two tokens",
                    token.name
                )));
            }
            if token.secret.len() < 16 {
                return Err(ConfigError(format!(
                    "{at}.secret (token `{}`) is shorter than 16 characters",
                    token.name
                )));
            }
            if !secrets.insert(token.secret.as_str()) {
                return Err(ConfigError(format!(
                    "{at}.secret (token `{}`) is the secret of another token",
                    token.name
                )));
            }
            if token.roles.is_empty() {
                return Err(ConfigError(format!(
                    "{at}.roles (token `{}`) is empty: give it `append`, `read` or `admin`",
                    token.name
                )));
            }
            if token.logs.is_empty() {
                return Err(ConfigError(format!(
                    "{at}.logs (token `{}`) is empty: name its logs, or `*` for all",
                    token.name
                )));
            }
        }
        let mut hooked = HashSet::new();
        for (i, hook) in self.github_webhooks.iter().enumerate() {
            let at = format!("github_webhooks[{i}]");
            stele_engine::store::check_log_name(&hook.log)
                .map_err(|e| ConfigError(format!("{at}.log: {e}")))?;
            if !hooked.insert(hook.log.as_str()) {
                return Err(ConfigError(format!(
                    "{at}.log: `{}` has two webhook secrets",
                    hook.log
                )));
            }
            if hook.secret.len() < 16 {
                return Err(ConfigError(format!(
                    "{at}.secret (log `{}`) is shorter than 16 characters",
                    hook.log
                )));
            }
        }
        if !valid_origin(&self.origin) {
            return Err(ConfigError(format!(
                "origin: `{}` must be a name such as stele.example.com: not empty, without spaces, `+` or `/`",
                self.origin
            )));
        }
        for (i, origin) in self.http.cors_origins.iter().enumerate() {
            if origin != "*" && !is_web_origin(origin) {
                return Err(ConfigError(format!(
                    "http.cors_origins[{i}]: `{origin}` is not an origin such as https://app.example.com (scheme and host, no path), or *"
                )));
            }
        }
        for (i, origin) in self.console.frame_ancestors.iter().enumerate() {
            if !is_web_origin(origin) {
                return Err(ConfigError(format!(
                    "console.frame_ancestors[{i}]: `{origin}` is not an origin such as https://app.example.com (scheme and host, no path)"
                )));
            }
        }
        if let Some(tls) = &self.tls {
            for (what, path) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "{what}: {} is not a readable file",
                        path.display()
                    )));
                }
            }
        }
        let limits = &self.limits;
        for (what, value) in [
            ("limits.max_request_bytes", limits.max_request_bytes),
            ("limits.max_stream_in_flight", limits.max_stream_in_flight),
            ("limits.max_subscribers", limits.max_subscribers),
            ("limits.subscribe_chunk", limits.subscribe_chunk),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{what} must be greater than 0")));
            }
        }
        match &self.archive {
            ArchiveTarget::Local { path } if path.as_os_str().is_empty() => {
                return Err(ConfigError("archive.path is empty".into()));
            }
            ArchiveTarget::S3 { bucket, .. } if bucket.is_empty() => {
                return Err(ConfigError("archive.bucket is empty".into()));
            }
            _ => {}
        }
        Ok(())
    }

    /// The engine's options for this configuration.
    pub fn store_options(&self) -> stele_engine::StoreOptions {
        stele_engine::StoreOptions {
            block_cache_bytes: self.block_cache_mib << 20,
            dedup: stele_engine::DedupOptions {
                window: self.dedup.window,
                max_ids: self.dedup.max_ids,
            },
            archive: self.archive.clone(),
            retention_interval: self.retention_interval,
            ..stele_engine::StoreOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let config: Config = toml::from_str(
            r#"
            listen = "0.0.0.0:7443"
            data_dir = "/var/lib/stele"
            block_cache_mib = 64
            shutdown_grace = "5s"
            [dedup]
            window = "2m"
            max_ids = 1000
            [limits]
            max_request_bytes = 1048576
            [[tokens]]
            name = "ingest"
            secret = "0123456789abcdef"
            roles = ["append"]
            logs = ["audit", "app-*"]
            "#,
        )
        .unwrap();
        assert_eq!(config.listen.port(), 7443);
        assert_eq!(config.dedup.window, Duration::from_secs(120));
        assert_eq!(config.tokens[0].roles, vec![Role::Append]);
        config.validate().unwrap();
    }

    #[test]
    fn errors_name_the_setting() {
        let err = toml::from_str::<Config>("listen = 7")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = toml::from_str::<Config>("shutdown_grace = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("soon"), "{err}");
        let err = toml::from_str::<Config>(
            "[[tokens]]\nname=\"a\"\nsecret=\"0123456789abcdef\"\nroles=[\"root\"]\nlogs=[\"*\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("root"), "{err}");
        let open = Config {
            listen: "0.0.0.0:7070".parse().unwrap(),
            ..Config::default()
        };
        let err = open.validate().unwrap_err().to_string();
        assert!(err.contains("loopback"), "{err}");
        let err = toml::from_str::<Config>("retention_interval = \"0s\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retention_interval") && err.contains("off"),
            "{err}"
        );
        let err = toml::from_str::<Config>("[archive]\nkind = \"tape\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tape") && err.contains("s3"), "{err}");
    }

    #[test]
    fn archive_and_retention_interval() {
        let config = Config::default();
        assert_eq!(config.archive, ArchiveTarget::None);
        assert_eq!(config.retention_interval, Some(Duration::from_secs(300)));
        let config: Config = toml::from_str(
            r#"
            retention_interval = "off"
            [archive]
            kind = "s3"
            bucket = "evidence"
            prefix = "stele/prod"
            endpoint = "http://127.0.0.1:9000"
            allow_http = true
            "#,
        )
        .unwrap();
        assert_eq!(config.retention_interval, None);
        assert!(
            matches!(&config.archive, ArchiveTarget::S3 { bucket, allow_http: true, .. } if bucket == "evidence")
        );
        let options = config.store_options();
        assert_eq!(options.archive, config.archive);
        assert_eq!(options.retention_interval, None);
        let config: Config = toml::from_str(
            "retention_interval = \"1h\"\n[archive]\nkind = \"local\"\npath = \"/srv/archive\"",
        )
        .unwrap();
        assert_eq!(config.retention_interval, Some(Duration::from_secs(3600)));
        assert_eq!(
            config.archive,
            ArchiveTarget::Local {
                path: "/srv/archive".into()
            }
        );
    }

    #[test]
    fn webhooks_and_cors_origins_are_checked() {
        let config: Config = toml::from_str(
            r#"
            [http]
            cors_origins = ["https://console.example.com", "*"]
            [[github_webhooks]]
            log = "ci-audit"
            secret = "0123456789abcdef0123"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        for (toml, says) in [
            (
                "[http]\ncors_origins = [\"console.example.com\"]",
                "http.cors_origins[0]",
            ),
            (
                "[http]\ncors_origins = [\"https://a.example/\"]",
                "http.cors_origins[0]",
            ),
            (
                "[[github_webhooks]]\nlog = \"ci\"\nsecret = \"short\"",
                "github_webhooks[0].secret",
            ),
            (
                "[[github_webhooks]]\nlog = \"Bad Name\"\nsecret = \"0123456789abcdef\"",
                "github_webhooks[0].log",
            ),
            (
                "[console]\nframe_ancestors = [\"https://a.example 'unsafe-inline'\"]",
                "console.frame_ancestors[0]",
            ),
            (
                "[console]\nframe_ancestors = [\"*\"]",
                "console.frame_ancestors[0]",
            ),
        ] {
            let err = toml::from_str::<Config>(toml)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn archive_locations_parse() {
        assert_eq!(parse_archive_location("none").unwrap(), ArchiveTarget::None);
        assert_eq!(
            parse_archive_location("/srv/archive").unwrap(),
            ArchiveTarget::Local {
                path: "/srv/archive".into()
            }
        );
        match parse_archive_location("s3://evidence/stele/prod/").unwrap() {
            ArchiveTarget::S3 {
                bucket,
                prefix,
                endpoint,
                ..
            } => {
                assert_eq!(
                    (bucket.as_str(), prefix.as_str()),
                    ("evidence", "stele/prod")
                );
                assert_eq!(endpoint, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse_archive_location("s3://").is_err());
        assert!(parse_archive_location("").is_err());
        assert_eq!(parse_interval("off").unwrap(), None);
        assert!(parse_interval("soon").unwrap_err().contains("soon"));
    }
}
