//! `steled`: the Stele daemon (`steled serve`) and its offline tools
//! (`steled verify`).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stele_server::config::{Config, Overrides};
use stele_server::{offline_verify, serve};
use tracing_subscriber::EnvFilter;

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
    },
    /// Verify every log of a data directory (or one) from its files; exits
    /// non-zero naming the first failure. Safe while the server runs.
    #[command(
        after_help = "Examples:\n  steled verify ./stele-data\n  steled verify ./stele-data --log audit --public-key 3b6a27bc…"
    )]
    Verify {
        /// The data directory
        data_dir: PathBuf,
        /// Only this log
        #[arg(long)]
        log: Option<String>,
        /// Check checkpoint signatures with this ed25519 public key (hex)
        /// instead of the data directory's own key
        #[arg(long)]
        public_key: Option<String>,
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
        } => {
            let overrides = Overrides {
                config,
                listen,
                data_dir,
                tls_cert,
                tls_key,
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
            log,
            public_key,
        } => {
            let options = offline_verify::Options {
                data_dir,
                log,
                public_key,
                progress: std::io::stderr().is_terminal(),
            };
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
