//! A real `steled` child process for the client's tests, on a free port of
//! its own, that can be killed and restarted on the same port and data
//! directory. The `stele` binary is the one this package builds.
//!
//! `steled` belongs to another package, so the first test to need it runs
//! `cargo test --workspace --no-run`: the very build `cargo test
//! --workspace` has just made (so a no-op there), and the same features,
//! so that it never rebuilds a second variant of the dependencies.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use stele_client::{Client, ClientConfig};

/// The `stele` binary under test.
pub const STELE: &str = env!("CARGO_BIN_EXE_stele");
/// How long a server may take to start answering.
const START_WITHIN: Duration = Duration::from_secs(60);

/// Path of a fresh `steled` in this build's target directory.
pub fn steled_binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(STELE)
            .parent()
            .expect("the binary has a directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = if dir.ends_with("release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let status = Command::new(cargo)
            .args(["test", "--quiet", "--workspace", "--no-run"])
            .args(profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build steled");
        assert!(status.success(), "cargo test --workspace --no-run failed");
        dir.join("steled")
    })
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `steled` child process. Dropping it kills the process; on a failing
/// test its stderr is printed.
pub struct Steled {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
    work: PathBuf,
    starts: u32,
}

impl Steled {
    /// Starts `steled serve` on a free port with its data in `<work>/data`.
    pub async fn start(work: &Path) -> Steled {
        let mut server = Steled {
            child: None,
            port: free_port(),
            data: work.join("data"),
            work: work.to_path_buf(),
            starts: 0,
        };
        server.launch().await;
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A client of this server (no token: it listens on loopback).
    pub async fn client(&self) -> Client {
        Client::connect(ClientConfig::new(self.endpoint()))
            .await
            .unwrap()
    }

    /// SIGKILLs the process and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs the process and waits for its clean exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "steled exited with {status}\n{}",
                    self.stderr()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "steled ignored SIGTERM\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the server again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Starts the process and waits until it answers.
    async fn launch(&mut self) {
        self.starts += 1;
        let log = self.work.join(format!("steled-{}.err", self.starts));
        let mut cmd = Command::new(steled_binary());
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data)
            .env_remove("STELE_CONFIG")
            .env_remove("STELE_LISTEN")
            .env_remove("STELE_DATA_DIR")
            .env("STELE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        // SAFETY: prctl(2) is async-signal-safe; the child dies with the
        // thread that spawned it, so no server outlives its test.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        self.child = Some(cmd.spawn().expect("run steled"));
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("steled exited with {status}:\n{}", self.stderr());
            }
            if let Ok(client) = Client::connect(ClientConfig::new(self.endpoint())).await
                && client.public_key().await.is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "steled did not start:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the latest process logged.
    pub fn stderr(&self) -> String {
        let log = self.work.join(format!("steled-{}.err", self.starts));
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// Runs `stele <args>` against this server with `stdin`; its output.
    pub fn stele(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_stele(&self.endpoint(), &self.work, args, stdin)
    }
}

impl Drop for Steled {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- steled stderr ----\n{}", self.stderr());
        }
        self.kill();
    }
}

/// `stele <args>` with `--endpoint`, no inherited `STELE_*` setting and no
/// user configuration file.
pub fn stele_command(endpoint: &str, work: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(STELE);
    cmd.args(args)
        .env("STELE_ENDPOINT", endpoint)
        .env_remove("STELE_TOKEN")
        .env("STELE_CONFIG", work.join("no-such-config.toml"))
        .env("NO_COLOR", "1")
        .current_dir(work);
    cmd
}

/// Runs `stele <args>` to its end.
pub fn run_stele(endpoint: &str, work: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = stele_command(endpoint, work, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stele");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// stdout and stderr of `output`, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
