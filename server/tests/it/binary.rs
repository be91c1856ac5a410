//! The real `steled` binary as a child process: clean shutdown on SIGTERM
//! and SIGINT, no acknowledged append lost to a shutdown or a kill -9,
//! `steled verify` on intact and damaged data directories, and
//! configuration errors refused before anything starts.
//!
//! Every child runs under a [`Steled`] guard that SIGKILLs it when the test
//! ends (or fails) and, on failure, prints the stderr it logged to a file in
//! the test's temporary directory.

use crate::common;

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::event;
use stele_proto::v1::admin_client::AdminClient;
use stele_proto::v1::stele_client::SteleClient;
use stele_proto::v1::{self, AppendRequest, Receipt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const STELED: &str = env!("CARGO_BIN_EXE_steled");

/// Seal threshold of the logs the crash tests append to: small, so that a
/// few thousand records make sealed segments.
const SEAL_RECORDS: u64 = 2000;
/// How long a server may take to start answering.
const START_WITHIN: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM or SIGINT. The default
/// `shutdown_grace` is 10 s; a clean shutdown with nothing stuck is well
/// under it.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// `steled` with no `STELE_*` setting inherited from the environment.
fn steled(cwd: &Path) -> Command {
    let mut cmd = Command::new(STELED);
    for var in [
        "STELE_LISTEN",
        "STELE_DATA_DIR",
        "STELE_CONFIG",
        "STELE_TLS_CERT",
        "STELE_TLS_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("STELE_LOG", "info")
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A child `steled` process. Dropping it SIGKILLs the process if it still
/// runs, and prints its stderr when the test is failing.
struct Steled {
    child: Child,
    port: u16,
    stderr: PathBuf,
    name: String,
}

impl Steled {
    /// Runs `cmd` with stdout and stderr going to `<work>/<name>.out|.err`.
    fn spawn(mut cmd: Command, work: &Path, name: &str, port: u16) -> Steled {
        let stderr = work.join(format!("{name}.err"));
        let stdout = work.join(format!("{name}.out"));
        // SAFETY: prctl(2) is async-signal-safe. The child is SIGKILLed when
        // the thread that spawned it ends: the test's own thread (children
        // are spawned from the test body, which `block_on` runs there), so
        // the child cannot outlive a test binary that is itself killed.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = cmd
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {STELED}: {e}"));
        Steled {
            child,
            port,
            stderr,
            name: name.to_string(),
        }
    }

    /// `steled serve --listen 127.0.0.1:<free port> --data-dir <data>`,
    /// started and answering gRPC. Retries on another port if the chosen
    /// one was taken in the meantime.
    async fn serve(work: &Path, data: &Path, name: &str) -> Steled {
        let mut failures = Vec::new();
        for attempt in 0..3 {
            let port = free_port();
            let mut cmd = steled(work);
            cmd.arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(data);
            let mut server = Steled::spawn(cmd, work, &format!("{name}-{attempt}"), port);
            match server.ready().await {
                Ok(()) => return server,
                Err(why) if why.contains("cannot listen") => failures.push(why),
                Err(why) => panic!("{name}: {why}"),
            }
        }
        panic!("{name}: could not bind a port: {failures:#?}");
    }

    /// Waits until the server's health service says `Stele` is serving; an error (with its
    /// stderr) if it exits first or takes longer than [`START_WITHIN`].
    async fn ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "steled exited with {status} before serving; stderr:\n{}",
                    self.stderr_text()
                ));
            }
            if let Ok(channel) = self.try_channel().await {
                let mut health = HealthClient::new(channel);
                let call = health.check(HealthCheckRequest {
                    service: "stele.v1.Stele".into(),
                });
                if let Ok(Ok(answer)) = tokio::time::timeout(Duration::from_secs(2), call).await
                    && answer.into_inner().status == ServingStatus::Serving as i32
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "steled did not answer on port {} within {START_WITHIN:?}; stderr:\n{}",
                    self.port,
                    self.stderr_text()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn try_channel(&self) -> Result<Channel, tonic::transport::Error> {
        Channel::from_shared(format!("http://127.0.0.1:{}", self.port))
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
    }

    async fn client(&self) -> SteleClient<Channel> {
        SteleClient::new(self.try_channel().await.unwrap())
    }

    async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.try_channel().await.unwrap())
    }

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).unwrap()
    }

    /// Sends `signal` to the process.
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; it has not been reaped
        // (the guard reaps it only in `wait_exit` or on drop).
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(
            rc,
            0,
            "kill({}, {signal}): {}",
            self.pid(),
            std::io::Error::last_os_error()
        );
    }

    /// Waits for the process to exit, polling; panics (with its stderr) if
    /// it still runs after `within`.
    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs {within:?} after being told to stop; stderr:\n{}",
                self.name,
                self.stderr_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then asserts a clean exit (status 0, no call cut off).
    async fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        self.assert_clean_exit().await;
    }

    /// Asserts the process exits with status 0 within [`EXIT_WITHIN`],
    /// having drained its calls and closed its store.
    async fn assert_clean_exit(&mut self) {
        let status = self.wait_exit(EXIT_WITHIN).await;
        let stderr = self.stderr_text();
        assert!(
            status.success(),
            "{} exited with {status} instead of 0; stderr:\n{stderr}",
            self.name
        );
        assert!(
            stderr.contains("stopped cleanly"),
            "{}: no `stopped cleanly` in stderr:\n{stderr}",
            self.name
        );
        assert!(
            !stderr.contains("cut off"),
            "{}: calls were still running after the grace period; stderr:\n{stderr}",
            self.name
        );
    }

    fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_else(|e| format!("<{e}>"))
    }
}

impl Drop for Steled {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- stderr of {} ({}) ----\n{}---- end of {} ----",
                self.name,
                self.stderr.display(),
                self.stderr_text(),
                self.name
            );
        }
    }
}

/// Runs a short-lived `steled` command to its end (SIGKILLed after 60 s);
/// its exit status and stderr.
async fn run(work: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut cmd = steled(work);
    cmd.args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut process = Steled::spawn(cmd, work, name, 0);
    let status = process.wait_exit(Duration::from_secs(60)).await;
    (status, process.stderr_text())
}

/// `steled verify <args>`.
async fn verify(work: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    run(work, "verify", &all, &[]).await
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// Appenders
// ---------------------------------------------------------------------------

/// An acknowledged event: its receipt's seq and chain hash, and its id.
#[derive(Debug, Clone)]
struct Ack {
    seq: u64,
    chain_hash: Vec<u8>,
    id: String,
}

/// Every acknowledged event, from all appenders.
#[derive(Debug)]
struct Acked {
    acks: Mutex<Vec<Ack>>,
    count: AtomicU64,
    /// Appenders send no new batch while `count` is at least this.
    pause_at: AtomicU64,
}

impl Acked {
    fn new() -> Arc<Acked> {
        Arc::new(Acked {
            acks: Mutex::default(),
            count: AtomicU64::new(0),
            pause_at: AtomicU64::new(u64::MAX),
        })
    }

    /// Waits while appenders are paused.
    async fn paced(&self) {
        while self.len() >= self.pause_at.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Records one acknowledged batch; its receipts must be one per event,
    /// in order, with consecutive seqs (a batch is atomic).
    fn batch(&self, ids: Vec<String>, receipts: &[Receipt]) {
        assert_eq!(
            receipts.len(),
            ids.len(),
            "one receipt per event of the batch"
        );
        for pair in receipts.windows(2) {
            assert_eq!(
                pair[1].seq,
                pair[0].seq + 1,
                "a batch's seqs are consecutive"
            );
        }
        let mut acks = self.acks.lock().unwrap();
        for (id, receipt) in ids.into_iter().zip(receipts) {
            assert!(!receipt.duplicate, "{id} is not a retry");
            assert_eq!(receipt.chain_hash.len(), 32, "{id}: chain hash length");
            acks.push(Ack {
                seq: receipt.seq,
                chain_hash: receipt.chain_hash.clone(),
                id,
            });
        }
        self.count.store(acks.len() as u64, Ordering::Release);
    }

    fn len(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

/// A batch of `n` events with unique client ids `<worker>-<batch>-<i>`.
fn batch(log: &str, worker: &str, batch_id: u64, n: usize) -> (AppendRequest, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("{worker}-{batch_id}-{i}")).collect();
    let events = ids
        .iter()
        .map(|id| v1::Event {
            id: id.clone(),
            ..event(
                "document.update",
                worker,
                &format!("{worker} updated document {batch_id} (event {id})"),
            )
        })
        .collect();
    let request = AppendRequest {
        log: log.into(),
        events,
        batch_id,
    };
    (request, ids)
}

/// How long one call may take before the appender gives up on it (its
/// events then count as not acknowledged).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Unary `Append`s of 25 events, one after another, until a call fails;
/// returns why it stopped.
async fn unary_appender(
    mut client: SteleClient<Channel>,
    log: String,
    worker: String,
    acked: Arc<Acked>,
) -> String {
    for batch_id in 0.. {
        acked.paced().await;
        let (request, ids) = batch(&log, &worker, batch_id, 25);
        match tokio::time::timeout(CALL_TIMEOUT, client.append(request)).await {
            Ok(Ok(response)) => {
                let response = response.into_inner();
                assert_eq!(response.batch_id, batch_id);
                acked.batch(ids, &response.receipts);
            }
            Ok(Err(status)) => return format!("{worker}: {status}"),
            Err(_) => return format!("{worker}: Append timed out"),
        }
    }
    unreachable!()
}

/// One `AppendStream` with up to 4 batches of 50 events in flight, until
/// the stream ends or fails; returns why it stopped.
async fn stream_appender(
    mut client: SteleClient<Channel>,
    log: String,
    worker: String,
    acked: Arc<Acked>,
) -> String {
    let (tx, rx) = mpsc::channel(8);
    let mut pending = VecDeque::new();
    let mut next_batch = 0;
    let mut send = async |pending: &mut VecDeque<(u64, Vec<String>)>| {
        let (request, ids) = batch(&log, &worker, next_batch, 50);
        pending.push_back((next_batch, ids));
        next_batch += 1;
        tx.send(request).await.is_ok()
    };
    for _ in 0..4 {
        send(&mut pending).await;
    }
    let mut responses = match client.append_stream(ReceiverStream::new(rx)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return format!("{worker}: {status}"),
    };
    let mut refused = 0;
    loop {
        match tokio::time::timeout(CALL_TIMEOUT, responses.message()).await {
            Ok(Ok(Some(response))) => {
                let (batch_id, ids) = pending
                    .pop_front()
                    .expect("no more answers than batches sent");
                assert_eq!(response.batch_id, batch_id, "answers come in order");
                match response.error {
                    // Refused in-band (as a stream may be while the server
                    // stops): nothing of it is stored, nothing acknowledged.
                    Some(_) => refused += 1,
                    None => acked.batch(ids, &response.receipts),
                }
                // Keep it going for as long as the server takes batches.
                acked.paced().await;
                send(&mut pending).await;
            }
            Ok(Ok(None)) => return format!("{worker}: stream ended ({refused} refused)"),
            Ok(Err(status)) => return format!("{worker}: {status} ({refused} refused)"),
            Err(_) => return format!("{worker}: AppendStream timed out"),
        }
    }
}

/// Two unary and two streaming appenders on `log`, their client ids
/// starting with `prefix`.
async fn start_appenders(
    server: &Steled,
    log: &str,
    prefix: &str,
    acked: &Arc<Acked>,
) -> Vec<JoinHandle<String>> {
    let mut tasks = Vec::new();
    for i in 0..2 {
        tasks.push(tokio::spawn(unary_appender(
            server.client().await,
            log.into(),
            format!("{prefix}unary{i}"),
            acked.clone(),
        )));
        tasks.push(tokio::spawn(stream_appender(
            server.client().await,
            log.into(),
            format!("{prefix}stream{i}"),
            acked.clone(),
        )));
    }
    tasks
}

/// Waits until `acked` holds at least `target` events, while the server
/// runs and every appender goes on.
async fn wait_for_acks(
    server: &mut Steled,
    appenders: &mut [JoinHandle<String>],
    acked: &Acked,
    target: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.len() < target {
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "steled exited during the appends; stderr:\n{}",
            server.stderr_text()
        );
        if let Some(done) = appenders.iter_mut().find(|t| t.is_finished()) {
            let end = done.await.expect("an appender failed");
            panic!(
                "an appender stopped while the server runs: {end}; stderr:\n{}",
                server.stderr_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {target} events acknowledged after 60 s",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for every appender to stop (they do once the server is gone).
async fn join_appenders(tasks: Vec<JoinHandle<String>>) -> Vec<String> {
    let mut ends = Vec::new();
    for task in tasks {
        let end = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("appenders stop once the server is gone")
            .expect("an appender failed");
        ends.push(end);
    }
    ends
}

// ---------------------------------------------------------------------------
// Checks on a restarted server
// ---------------------------------------------------------------------------

/// Every acknowledged event is stored at its seq, with the chain hash its
/// receipt gave.
async fn assert_all_stored(server: &Steled, log: &str, acks: &[Ack]) {
    let seqs: HashSet<u64> = acks.iter().map(|a| a.seq).collect();
    assert_eq!(
        seqs.len(),
        acks.len(),
        "two acknowledged events share a seq"
    );
    let info = server
        .admin()
        .await
        .get_log(v1::GetLogRequest { name: log.into() })
        .await
        .unwrap()
        .into_inner();
    let highest = seqs.iter().max().copied().unwrap();
    assert!(
        info.next_seq > highest,
        "the log ends at seq {} but seq {highest} was acknowledged",
        info.next_seq
    );
    let mut checkers = Vec::new();
    for part in acks.chunks(acks.len().div_ceil(4)) {
        let mut client = server.client().await;
        let part = part.to_vec();
        let log = log.to_string();
        checkers.push(tokio::spawn(async move {
            for ack in part {
                let answer = client
                    .get_record(v1::GetRecordRequest {
                        log: log.clone(),
                        seq: ack.seq,
                        include_body: false,
                    })
                    .await
                    .unwrap_or_else(|s| panic!("acknowledged seq {} ({}): {s}", ack.seq, ack.id))
                    .into_inner();
                let record = answer.record.expect("a record");
                let receipt = answer.receipt.expect("a receipt");
                assert_eq!(record.seq, ack.seq);
                assert_eq!(
                    record.event.expect("not redacted").id,
                    ack.id,
                    "seq {} holds another event",
                    ack.seq
                );
                assert_eq!(receipt.seq, ack.seq);
                assert_eq!(
                    receipt.chain_hash, ack.chain_hash,
                    "seq {} ({}): chain hash differs from the receipt's",
                    ack.seq, ack.id
                );
            }
        }));
    }
    for checker in checkers {
        checker.await.unwrap();
    }
}

/// Waits until `log` has at least one sealed segment.
async fn wait_for_sealed(server: &Steled, log: &str) {
    let mut admin = server.admin().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let segments = admin
            .list_segments(v1::ListSegmentsRequest { log: log.into() })
            .await
            .unwrap()
            .into_inner()
            .segments;
        if segments
            .iter()
            .any(|s| s.state == v1::SegmentState::Sealed as i32)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no sealed segment in `{log}` after 30 s: {segments:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_log(server: &Steled, name: &str, seal_max_records: u64) {
    server
        .admin()
        .await
        .create_log(v1::CreateLogRequest {
            name: name.into(),
            policy: Some(v1::Policy {
                seal_max_records,
                ..v1::Policy::default()
            }),
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// A crash (or stop) scenario.
struct Scenario {
    /// What hits the server in the middle of the appends.
    signal: libc::c_int,
    /// How many times: each round restarts the server on the same data
    /// directory, appends and signals again.
    rounds: usize,
    /// Events acknowledged in a round before the signal (plus up to
    /// [`SEAL_RECORDS`] more, varying from run to run).
    acks_per_round: u64,
    /// With `Some(grace)`, `<data-dir>/server.toml` sets `shutdown_grace`,
    /// and the server must still acknowledge appends well after
    /// `grace + 1 s` of serving (when a bug had it stop serving): the grace
    /// period runs from shutdown, not from start.
    grace: Option<Duration>,
}

/// Up to `n - 1`, varying from run to run, so that the signal lands at
/// different points (mid-batch, mid-rotation, mid-seal).
fn jitter(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos) % n
}

/// Appenders run; the signal hits the server once enough events are
/// acknowledged; after the last round, the server restarted on the same
/// directory holds every acknowledged event with its receipt's chain hash,
/// sealed segments exist, it stops cleanly, and `steled verify` passes.
async fn no_acknowledged_event_lost(scenario: Scenario) {
    let signal = scenario.signal;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    if let Some(grace) = scenario.grace {
        fs::create_dir_all(&data).unwrap();
        let config = format!("shutdown_grace = \"{}ms\"\n", grace.as_millis());
        fs::write(data.join("server.toml"), config).unwrap();
    }
    let acked = Acked::new();
    // Kept until the end so that a failure prints every server's stderr.
    let mut servers = Vec::new();
    for round in 0..scenario.rounds {
        let mut server = Steled::serve(work.path(), &data, &format!("round{round}")).await;
        let started = Instant::now();
        if round == 0 {
            create_log(&server, "audit", SEAL_RECORDS).await;
        }
        let mut appenders = start_appenders(&server, "audit", &format!("r{round}-"), &acked).await;
        let extra = jitter(SEAL_RECORDS);
        let target = acked.len() + scenario.acks_per_round + extra;
        wait_for_acks(&mut server, &mut appenders, &acked, target).await;
        if let Some(grace) = scenario.grace {
            // Paused (to keep the number of events to check down) until
            // well past `grace + 1 s` of serving, then appending again.
            acked.pause_at.store(target, Ordering::Release);
            let past = grace + Duration::from_millis(3500);
            while started.elapsed() < past {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked.pause_at.store(u64::MAX, Ordering::Release);
            let now = acked.len();
            wait_for_acks(&mut server, &mut appenders, &acked, now + 500).await;
        }
        server.signal(signal);
        if signal == libc::SIGKILL {
            let status = server.wait_exit(EXIT_WITHIN).await;
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
        } else {
            server.assert_clean_exit().await;
        }
        let ends = join_appenders(appenders).await;
        if signal != libc::SIGKILL {
            // A stopping server answers what a stream sent and ends it with
            // UNAVAILABLE, so that the client knows to send the rest again.
            // Streaming appenders are picked by name: a unary call cut by
            // the shutdown may fail with hyper's "stream closed" too.
            let streaming = |end: &&String| {
                end.split_once(':')
                    .is_some_and(|(worker, _)| worker.contains("stream"))
            };
            for end in ends.iter().filter(streaming) {
                assert!(
                    end.contains("stream ended") || end.contains("shutting down"),
                    "{end}"
                );
            }
        }
        eprintln!(
            "round {round}, signal {signal} after {target} acks ({extra} extra): {} acknowledged in all; appenders ended: {ends:#?}",
            acked.len()
        );
        servers.push(server);
    }
    let acks = acked.acks.lock().unwrap().clone();

    let mut last = Steled::serve(work.path(), &data, "last").await;
    assert_all_stored(&last, "audit", &acks).await;
    wait_for_sealed(&last, "audit").await;
    last.stop().await;

    let (status, stderr) = verify(work.path(), &[path_str(&data)]).await;
    assert!(
        status.success(),
        "steled verify after signal {signal}: {status}; stderr:\n{stderr}"
    );
    assert!(stderr.contains("all ok"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_append_exits_0_and_loses_no_acknowledged_event() {
    no_acknowledged_event_lost(Scenario {
        signal: libc::SIGTERM,
        rounds: 1,
        acks_per_round: 2 * SEAL_RECORDS,
        grace: Some(Duration::from_secs(3)),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_append_loses_no_acknowledged_event() {
    no_acknowledged_event_lost(Scenario {
        signal: libc::SIGKILL,
        rounds: 2,
        acks_per_round: 2 * SEAL_RECORDS,
        grace: None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_append_behaves_like_sigterm() {
    no_acknowledged_event_lost(Scenario {
        signal: libc::SIGINT,
        rounds: 1,
        acks_per_round: SEAL_RECORDS,
        grace: None,
    })
    .await;
}

/// The byte range of a sealed segment's compressed blocks (after the file
/// header, before the dictionary or the block index), read from its footer.
fn block_data_range(file: &[u8]) -> (usize, usize) {
    const HEADER_LEN: usize = 80;
    const FOOTER_LEN: usize = 128;
    let footer = &file[file.len() - FOOTER_LEN..];
    assert_eq!(&footer[120..], b"STELESEG", "a sealed segment footer");
    let u64_at = |at: usize| u64::from_le_bytes(footer[at..at + 8].try_into().unwrap()) as usize;
    let index_offset = u64_at(0);
    let dictionary_offset = u64_at(16);
    let dictionary_len = u32::from_le_bytes(footer[24..28].try_into().unwrap());
    let end = if dictionary_len > 0 {
        dictionary_offset
    } else {
        index_offset
    };
    assert!(end > HEADER_LEN + 64, "blocks end at {end}");
    (HEADER_LEN, end)
}

/// The seqs of the block whose compressed bytes hold file offset `at`,
/// from the segment's block index.
fn block_holding(file: &[u8], at: usize) -> std::ops::Range<u64> {
    const FOOTER_LEN: usize = 128;
    const BLOCK_META_LEN: usize = 80;
    let footer = file.len() - FOOTER_LEN;
    let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
    let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    let index = u64_at(footer) as usize;
    let blocks = u32_at(footer + 8) as usize;
    for i in 0..blocks {
        let meta = index + i * BLOCK_META_LEN;
        let first_seq = u64_at(meta);
        let count = u64::from(u32_at(meta + 8));
        let offset = u64_at(meta + 12) as usize;
        let len = u32_at(meta + 20) as usize;
        if (offset..offset + len).contains(&at) {
            return first_seq..first_seq + count;
        }
    }
    panic!("offset {at} is in none of the {blocks} blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_log_and_segment_of_a_flipped_byte() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut server = Steled::serve(work.path(), &data, "server").await;
    let mut client = server.client().await;
    let mut admin = server.admin().await;
    let mut sealed = Vec::new();
    for log in ["audit", "other"] {
        create_log(&server, log, 0).await;
        for batch_id in 0..4 {
            let (request, _) = batch(log, "writer", batch_id, 200);
            client.append(request).await.unwrap();
        }
        let segment = admin
            .seal(v1::SealRequest { log: log.into() })
            .await
            .unwrap()
            .into_inner()
            .sealed
            .expect("the active segment held records");
        sealed.push(segment);
        // And a record in a new active segment.
        let (request, _) = batch(log, "writer", 9, 1);
        client.append(request).await.unwrap();
    }
    server.stop().await;
    let data_arg = path_str(&data);
    let (status, stderr) = verify(work.path(), &[data_arg]).await;
    assert!(status.success(), "intact: {status}; {stderr}");

    // Flip a byte in the middle of the compressed blocks of `audit`'s sealed
    // segment.
    let file_name = sealed[0].file.as_str();
    let path = data.join("logs/audit/segments").join(file_name);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444, "sealed segments are read-only");
    let bytes = fs::read(&path).unwrap();
    let (start, end) = block_data_range(&bytes);
    let at = (start + end) / 2;
    let damaged_seqs = block_holding(&bytes, at);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(&[bytes[at] ^ 0x5a], at as u64).unwrap();
    file.sync_all().unwrap();
    drop(file);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();

    let (status, stderr) = verify(work.path(), &[data_arg]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "damaged: {status}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("FAILED in log `audit`") && stderr.contains(file_name),
        "the failure names the log and {file_name}:\n{stderr}"
    );
    let (status, stderr) = verify(work.path(), &[data_arg, "--log", "audit"]).await;
    assert_eq!(
        status.code(),
        Some(1),
        "--log audit: {status}; stderr:\n{stderr}"
    );
    assert!(stderr.contains(file_name), "{stderr}");
    let (status, stderr) = verify(work.path(), &[data_arg, "--log", "other"]).await;
    assert!(status.success(), "--log other: {status}; stderr:\n{stderr}");
    assert!(stderr.contains("ok      other"), "{stderr}");
    assert!(
        !stderr.contains("audit"),
        "only `other` is checked: {stderr}"
    );

    // A server over the damaged directory reports the damage (DATA_LOSS,
    // naming the file) rather than serving the damaged block's records, and
    // serves the intact log.
    let mut server = Steled::serve(work.path(), &data, "damaged").await;
    let mut client = server.client().await;
    let middle = (damaged_seqs.start + damaged_seqs.end) / 2;
    for seq in [damaged_seqs.start, middle, damaged_seqs.end - 1] {
        let request = v1::GetRecordRequest {
            log: "audit".into(),
            seq,
            include_body: false,
        };
        match client.get_record(request).await {
            Ok(answer) => panic!("seq {seq} of a damaged block is served: {answer:?}"),
            Err(status) => {
                assert_eq!(
                    status.code(),
                    tonic::Code::DataLoss,
                    "seq {seq}: {status:?}"
                );
                assert!(status.message().contains(file_name), "{status:?}");
            }
        }
    }
    for (seq, id) in [
        (0, "writer-0-0"),
        (799, "writer-3-199"),
        (800, "writer-9-0"),
    ] {
        let request = v1::GetRecordRequest {
            log: "other".into(),
            seq,
            include_body: false,
        };
        let answer = client.get_record(request).await.unwrap().into_inner();
        assert_eq!(answer.record.unwrap().event.unwrap().id, id);
    }
    server.stop().await;

    let (status, stderr) = verify(work.path(), &["/nonexistent"]).await;
    assert_eq!(
        status.code(),
        Some(2),
        "/nonexistent: {status}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("/nonexistent") && stderr.contains("not a Stele data directory"),
        "{stderr}"
    );
    let (status, stderr) = verify(work.path(), &[data_arg, "--log", "nope"]).await;
    assert_eq!(
        status.code(),
        Some(2),
        "--log nope: {status}; stderr:\n{stderr}"
    );
    assert!(stderr.contains("`nope` does not exist"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_as_soon_as_the_port_opens_is_a_clean_stop() {
    // A supervisor may stop a server the moment its port answers: the
    // handlers must already be in place by then.
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let port = free_port();
    let mut cmd = steled(work.path());
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(&data);
    let mut server = Steled::spawn(cmd, work.path(), "early", port);
    let deadline = Instant::now() + START_WITHIN;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            server.child.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "port {port} never opened; stderr:\n{}",
            server.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_stop_it_before_it_starts() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let data_arg = path_str(&data);

    // No tokens on a non-loopback address.
    let listen = format!("0.0.0.0:{}", free_port());
    let (status, stderr) = run(
        work.path(),
        "open",
        &["serve", "--listen", &listen, "--data-dir", data_arg],
        &[],
    )
    .await;
    assert!(!status.success(), "serves openly on {listen}: {stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(
        !data.exists(),
        "nothing is created before the configuration is valid"
    );

    // Unknown keys, at the top and in a table.
    for (key, text) in [
        (
            "frobnicate",
            "listen = \"127.0.0.1:0\"\nfrobnicate = true\n",
        ),
        ("max_nonsense", "[limits]\nmax_nonsense = 3\n"),
    ] {
        let file = work.path().join(format!("{key}.toml"));
        fs::write(&file, text).unwrap();
        let (status, stderr) = run(
            work.path(),
            key,
            &["serve", "--config", path_str(&file), "--data-dir", data_arg],
            &[],
        )
        .await;
        assert!(!status.success(), "{key}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(path_str(&file)),
            "the error names `{key}` and {}:\n{stderr}",
            file.display()
        );
        assert!(!data.exists(), "nothing is created for a bad {key}");
    }

    // STELE_LISTEN and STELE_DATA_DIR stand in for the flags.
    let port = free_port();
    let mut cmd = steled(work.path());
    cmd.arg("serve")
        .env("STELE_LISTEN", format!("127.0.0.1:{port}"))
        .env("STELE_DATA_DIR", &data);
    let mut server = Steled::spawn(cmd, work.path(), "env", port);
    server.ready().await.unwrap();
    assert!(
        data.join("logs").is_dir(),
        "STELE_DATA_DIR is the data directory"
    );
    server.stop().await;
}
