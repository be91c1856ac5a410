//! Logs in temporary directories, loaded with generated events: what the
//! benchmarks, the `stele-sizes` report and the tests share.

use std::sync::Arc;

use stele_engine::{
    Event, FsyncPolicy, Log, Policy, SealPolicy, SegmentState, Store, StoreOptions,
};
use tempfile::TempDir;

/// Errors of the fixtures: the engine's or the temporary directory's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// CPU time of this process so far, from `/proc/self/stat` (Linux; in
/// clock ticks of 1/100 s, the USER_HZ of every mainstream architecture).
pub fn cpu_seconds() -> Result<f64, BoxError> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, BoxError> {
        let field = fields.get(i).ok_or("short /proc/self/stat")?;
        Ok(field.parse::<u64>()? as f64 / 100.0)
    };
    // utime and stime are fields 14 and 15; this slice starts at field 3.
    Ok(ticks(11)? + ticks(12)?)
}

/// The `main` of a report binary named `name`: parses its arguments (a
/// usage error exits 2) and runs it (a failure exits 1).
pub fn run_main<A>(
    name: &str,
    parse: impl FnOnce() -> Result<A, String>,
    run: impl FnOnce(&A) -> Result<(), BoxError>,
) -> std::process::ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Bytes of the events' JSON form (`serde_json::to_string`), summed.
pub fn json_bytes(events: &[Event]) -> u64 {
    events
        .iter()
        .map(|e| serde_json::to_string(e).map_or(0, |s| s.len() as u64))
        .sum()
}

/// The default policy with `fsync` set.
pub fn policy(fsync: FsyncPolicy) -> Policy {
    Policy {
        fsync,
        ..Policy::default()
    }
}

/// `policy` with sealing by size and count turned off, so that only
/// explicit [`Log::seal`] calls seal.
pub fn manual_seal(policy: Policy) -> Policy {
    Policy {
        seal: SealPolicy {
            max_bytes: u64::MAX,
            max_records: u64::MAX,
            ..policy.seal
        },
        ..policy
    }
}

/// A store in a temporary directory holding one log, `bench`. The directory
/// is removed when it is dropped.
#[derive(Debug)]
pub struct TempLog {
    /// The log.
    pub log: Arc<Log>,
    /// The store holding it.
    pub store: Store,
    _dir: TempDir,
}

impl TempLog {
    /// Creates the store and the log `bench` with `policy`.
    ///
    /// # Errors
    /// When the directory, the store or the log cannot be created.
    pub fn new(policy: Policy) -> Result<TempLog, BoxError> {
        TempLog::with_options(policy, StoreOptions::default())
    }

    /// As [`TempLog::new`], with a store opened with `options`.
    ///
    /// # Errors
    /// As [`TempLog::new`].
    pub fn with_options(policy: Policy, options: StoreOptions) -> Result<TempLog, BoxError> {
        let dir = tempfile::Builder::new().prefix("stele-bench").tempdir()?;
        let store = Store::open_with(dir.path(), options)?;
        let log = store.create_log("bench", policy)?;
        Ok(TempLog {
            log,
            store,
            _dir: dir,
        })
    }

    /// A log with fsync `never` holding `events` in sealed segments of
    /// `per_segment` events each (the last may be shorter).
    ///
    /// # Errors
    /// As [`TempLog::new`] and [`Log::append`].
    pub fn sealed(events: &[Event], per_segment: usize) -> Result<TempLog, BoxError> {
        TempLog::sealed_with(events, per_segment, StoreOptions::default())
    }

    /// As [`TempLog::sealed`], with a store opened with `options`.
    ///
    /// # Errors
    /// As [`TempLog::sealed`].
    pub fn sealed_with(
        events: &[Event],
        per_segment: usize,
        options: StoreOptions,
    ) -> Result<TempLog, BoxError> {
        let temp = TempLog::with_options(manual_seal(policy(FsyncPolicy::Never)), options)?;
        for segment in events.chunks(per_segment) {
            temp.append_all(segment, 1_000)?;
            temp.log.seal()?;
        }
        Ok(temp)
    }

    /// Closes the store and opens it again with `options`: the log as a
    /// restarted `steled` finds it, no block cached or checked yet.
    ///
    /// # Errors
    /// When the store does not close or open.
    pub fn reopen(self, options: StoreOptions) -> Result<TempLog, BoxError> {
        let TempLog { log, store, _dir } = self;
        drop(log);
        store.close()?;
        let store = Store::open_with(_dir.path(), options)?;
        let log = store.log("bench")?;
        Ok(TempLog { log, store, _dir })
    }

    /// Appends `events` in batches of `batch`.
    ///
    /// # Errors
    /// As [`Log::append`].
    pub fn append_all(&self, events: &[Event], batch: usize) -> Result<(), BoxError> {
        for chunk in events.chunks(batch) {
            self.log.append(chunk)?;
        }
        Ok(())
    }

    /// Stored body bytes and file bytes of the sealed segments.
    pub fn sealed_bytes(&self) -> (u64, u64) {
        self.log
            .segments()
            .iter()
            .filter(|s| s.state == SegmentState::Sealed)
            .fold((0, 0), |(body, file), s| {
                (body + s.stats.body_bytes, file + s.file_bytes)
            })
    }
}
