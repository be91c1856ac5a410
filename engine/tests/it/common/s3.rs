//! A real S3-compatible server for tests: moto in server mode, started by
//! `scripts/s3-test-server` (which installs it on first use) and killed when
//! the [`S3Server`] is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stele_engine::archive::target::ArchiveTarget;

/// Long enough for the first run, which installs moto with pip.
const START_TIMEOUT: Duration = Duration::from_secs(150);

/// A running moto server on `127.0.0.1`.
pub struct S3Server {
    child: Child,
    port: u16,
    /// Holds `server.log` (the server's stdout and stderr).
    logs: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server on a free port and waits until it answers HTTP.
    ///
    /// # Panics
    ///
    /// If the script cannot start, exits early or the server does not answer
    /// within [`START_TIMEOUT`]; the message carries the server's log.
    pub fn start() -> S3Server {
        S3Server::spawn(&[])
    }

    /// Starts a server that checks signatures from the first request on.
    /// It knows no access key, so it refuses every request with `403
    /// InvalidAccessKeyId`; create no bucket on it.
    pub fn start_rejecting_credentials() -> S3Server {
        S3Server::spawn(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn spawn(env: &[(&str, &str)]) -> S3Server {
        let script = repo_root().join("scripts/s3-test-server");
        let logs = tempfile::tempdir().expect("tempdir for the s3 server log");
        let log_path = logs.path().join("server.log");
        let log = std::fs::File::create(&log_path).expect("create the s3 server log");
        let port = free_port();
        let child = Command::new(&script)
            .arg(port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            // Its own process group, so that Drop also ends a pip install
            // still running under the script.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let mut server = S3Server { child, port, logs };
        server.wait_until_ready();
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` and returns a target for it under `prefix`, with
    /// dummy credentials (moto accepts any).
    pub fn target(&self, bucket: &str, prefix: &str) -> ArchiveTarget {
        let response = self.request("PUT", &format!("/{bucket}"));
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "creating bucket {bucket} failed: {response}"
        );
        self.existing_target(bucket, prefix)
    }

    /// A target for `bucket` under `prefix` without creating the bucket.
    pub fn existing_target(&self, bucket: &str, prefix: &str) -> ArchiveTarget {
        ArchiveTarget::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            allow_http: true,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("server.log")).unwrap_or_default()
    }

    /// One unsigned HTTP/1.1 request with an empty body; the whole response.
    fn request(&self, method: &str, path: &str) -> String {
        self.try_request(method, path)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.endpoint()))
    }

    fn try_request(&self, method: &str, path: &str) -> std::io::Result<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        stream.flush()?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the s3 server") {
                panic!(
                    "the s3 server exited with {status} before answering:\n{}",
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && self
                    .try_request("GET", "/")
                    .is_ok_and(|r| r.starts_with("HTTP/1."))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the s3 server did not answer on {addr} within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // The child leads its own process group (see `start`): end the group.
        let group = i32::try_from(self.child.id()).expect("pid fits an i32");
        // SAFETY: kill(2) with a negative pid signals that process group only,
        // and that group is the one this server started.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The workspace root, where `scripts/` lives.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the engine crate sits in the workspace")
        .to_path_buf()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
