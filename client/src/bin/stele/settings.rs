//! Where `stele` finds its server, token and pinned key: flags, then
//! `STELE_*` variables, then the configuration file, then the defaults.
//!
//! The file is `$STELE_CONFIG`, else `$XDG_CONFIG_HOME/stele/config.toml`,
//! else `~/.config/stele/config.toml`; a missing file is fine, a broken
//! one is an error naming it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use stele_client::{Client, ClientConfig, DEFAULT_ENDPOINT};

use crate::fail::Failure;

/// Connection flags shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server address, http://HOST:PORT or https://HOST:PORT [default: http://127.0.0.1:7070]
    #[arg(long, global = true, env = "STELE_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Bearer token
    #[arg(long, global = true, env = "STELE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed the server's certificate
    #[arg(long, global = true, env = "STELE_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Server address.
    pub endpoint: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// CA certificate file.
    pub ca_cert: Option<PathBuf>,
    /// The server's checkpoint key, hex, pinned for `stele verify`.
    pub public_key: Option<String>,
}

/// The configuration file's path.
fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STELE_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("stele").join("config.toml"))
}

/// Reads the configuration file, if there is one.
pub fn file_settings() -> Result<FileSettings, Failure> {
    let Some(path) = config_path() else {
        return Ok(FileSettings::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| Failure::usage(format!("{}: {}", path.display(), e.message()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileSettings::default()),
        Err(e) => Err(Failure::usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

impl ConnectArgs {
    /// Connects with the flags, variables and file settings combined.
    pub async fn connect(&self, file: &FileSettings) -> Result<Client, Failure> {
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| file.endpoint.clone())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let mut config = ClientConfig::new(endpoint);
        config.token = self.token.clone().or_else(|| file.token.clone());
        config.ca_cert = self.ca_cert.clone().or_else(|| file.ca_cert.clone());
        Ok(Client::connect(config).await?)
    }
}
