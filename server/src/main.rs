//! `steled`: the Stele daemon (`steled serve`) and its offline tools
//! (`steled verify`, of a data directory or of an archive).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stele_server::config::{Config, Overrides};
use stele_server::{offline_verify, serve};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: indexing allocates and frees
/// at a rate that costs glibc's malloc a tenth of ingest's CPU, and holds
/// more memory (docs/decisions.md, "The binaries allocate with mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stele: a write-once audit log store.
#[derive(Debug, Parser)]
#[command(name = "steled", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC server (defaults: 127.0.0.1:7070, ./stele-data).
    #[command(
        after_help = "Examples:\n  steled serve\n  steled serve --listen 0.0.0.0:7070 --config /etc/stele/server.toml\n  STELE_DATA_DIR=/var/lib/stele steled serve"
    )]
    Serve {
        /// TOML configuration file [default: <data-dir>/server.toml if present]
        #[arg(long, env = "STELE_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:7070]
        #[arg(long, env = "STELE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Data directory [default: ./stele-data]
        #[arg(long, env = "STELE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// PEM certificate chain for TLS (with --tls-key)
        #[arg(long, env = "STELE_TLS_CERT")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS (with --tls-cert)
        #[arg(long, env = "STELE_TLS_KEY")]
        tls_key: Option<PathBuf>,
        /// Archive target: a directory, s3://BUCKET/PREFIX (endpoint, region
        /// and credentials from AWS_*), or none [default: the file's
        /// [archive], else none]
        #[arg(
            long,
            env = "STELE_ARCHIVE",
            value_name = "DIR|s3://BUCKET/PREFIX|none"
        )]
        archive: Option<String>,
        /// How often every log's retention policy is applied: 5m, 1h, or
        /// off [default: 5m]
        #[arg(long, env = "STELE_RETENTION_INTERVAL", value_name = "DURATION|off")]
        retention_interval: Option<String>,
    },
    /// Verify every log of a data directory (or one) from its files, or an
    /// archive on its own (--archive); exits non-zero naming the failures.
    /// Safe while the server runs.
    #[command(
        after_help = "Exit status: 0 everything verifies, 1 a failure was found, 2 the data
directory, archive or key cannot be used.

With --archive, every archived segment is downloaded and checked against its
manifest entry (SHA-256, seqs, chain hashes, the signed checkpoint at its
end) and against its neighbours. Checkpoint signatures are checked with
--public-key, else the key in <DATA_DIR>/keys when a data directory is
given, else with the key each entry names (reported as unpinned). S3
settings not given as flags come from AWS_ENDPOINT, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ALLOW_HTTP.

Examples:
  steled verify ./stele-data
  steled verify ./stele-data --log audit --public-key 3b6a27bc…
  steled verify --archive /mnt/evidence --public-key 3b6a27bc…
  steled verify --archive s3://evidence/stele/prod --endpoint http://127.0.0.1:9000 --allow-http"
    )]
    Verify {
        /// The data directory (with --archive: only where the signing key
        /// is read)
        #[arg(required_unless_present_any = ["archive", "data_dir_flag"])]
        data_dir: Option<PathBuf>,
        /// The data directory, as a flag
        #[arg(
            long = "data-dir",
            value_name = "DATA_DIR",
            conflicts_with = "data_dir"
        )]
        data_dir_flag: Option<PathBuf>,
        /// Only this log
        #[arg(long)]
        log: Option<String>,
        /// Check checkpoint signatures with this ed25519 public key (hex)
        /// instead of the data directory's own key
        #[arg(long)]
        public_key: Option<String>,
        /// Verify this archive instead of the data directory's logs: a
        /// directory or s3://BUCKET/PREFIX
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
        archive: Option<String>,
        /// S3 endpoint URL, such as http://127.0.0.1:9000 [default: AWS_ENDPOINT, else AWS]
        #[arg(long, requires = "archive", value_name = "URL")]
        endpoint: Option<String>,
        /// S3 region [default: AWS_REGION, else us-east-1]
        #[arg(long, requires = "archive")]
        region: Option<String>,
        /// S3 access key id [default: AWS_ACCESS_KEY_ID]
        #[arg(long, requires = "archive", value_name = "ID")]
        access_key_id: Option<String>,
        /// S3 secret access key [default: AWS_SECRET_ACCESS_KEY]
        #[arg(long, requires = "archive", value_name = "SECRET")]
        secret_access_key: Option<String>,
        /// Allow a plain http:// S3 endpoint
        #[arg(long, requires = "archive")]
        allow_http: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("STELE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Serve {
            config,
            listen,
            data_dir,
            tls_cert,
            tls_key,
            archive,
            retention_interval,
        } => {
            let overrides = Overrides {
                config,
                listen,
                data_dir,
                tls_cert,
                tls_key,
                archive,
                retention_interval,
            };
            match Config::load(&overrides) {
                Ok(config) => run_server(config),
                Err(e) => {
                    eprintln!("steled: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Verify {
            data_dir,
            data_dir_flag,
            log,
            public_key,
            archive,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            allow_http,
        } => {
            let data_dir = data_dir.or(data_dir_flag);
            let progress = std::io::stderr().is_terminal();
            match archive {
                Some(location) => verify_archive(offline_verify::ArchiveOptions {
                    location,
                    s3: offline_verify::S3Flags {
                        endpoint,
                        region,
                        access_key_id,
                        secret_access_key,
                        allow_http,
                    },
                    data_dir,
                    log,
                    public_key,
                    progress,
                }),
                None => verify_data_dir(offline_verify::Options {
                    data_dir: data_dir.expect("clap requires a data directory"),
                    log,
                    public_key,
                    progress,
                }),
            }
        }
    }
}

/// `steled verify <DATA_DIR>`.
fn verify_data_dir(options: offline_verify::Options) -> ExitCode {
    match offline_verify::run(&options) {
        Ok(outcome) => match outcome.first_failure() {
            None => {
                eprintln!("verified {} logs: all ok", outcome.reports.len());
                ExitCode::SUCCESS
            }
            Some(report) => {
                let failure = report.failure.as_ref().expect("a failed report");
                eprintln!("verification FAILED in log `{}`: {failure}", report.log);
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("steled verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// `steled verify --archive <LOCATION>`.
fn verify_archive(options: offline_verify::ArchiveOptions) -> ExitCode {
    match offline_verify::run_archive(&options) {
        Ok(reports) => {
            let failed: Vec<&str> = reports
                .iter()
                .filter(|r| !r.failures.is_empty())
                .map(|r| r.log.as_str())
                .collect();
            if failed.is_empty() {
                eprintln!("verified {} archived logs: all ok", reports.len());
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "archive verification FAILED in {}: {}",
                    if failed.len() == 1 { "log" } else { "logs" },
                    failed.join(", ")
                );
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("steled verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// Serves until SIGINT or SIGTERM, then shuts down cleanly.
fn run_server(config: Config) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("steled: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // The handlers go in before the port opens: a SIGTERM sent as soon as
        // the server answers (a supervisor's readiness check) must reach
        // them, not the default action, which kills the process uncleanly.
        let signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("steled: cannot install the SIGINT/SIGTERM handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let running = match serve::start(config).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("steled: {e}");
                return ExitCode::FAILURE;
            }
        };
        signals.wait().await;
        match running.shutdown().await {
            Ok(()) => {
                tracing::info!("stopped cleanly");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("steled: shutdown: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// SIGINT and SIGTERM handlers.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs them; from now on either signal is held for [`Signals::wait`].
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Returns at the first SIGINT or SIGTERM (at once if one came already).
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
        }
    }
}
