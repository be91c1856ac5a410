//! The data directory: a lock file, the signing key, and the logs.
//!
//! ```text
//! <data-dir>/LOCK                    held (flock) while a Store is open
//! <data-dir>/keys/checkpoint.ed25519 signing key, 0600
//! <data-dir>/logs/<name>/            one directory per log
//! ```
//! Background threads ([`crate::maintenance`]): one runs `interval`
//! fsyncs and seals rotated and old segments, one indexes appended
//! records, and the retention scheduler ([`retention`]) applies every log's
//! retention policy periodically. The store also holds the block cache its
//! logs' reads share and the archive target.
//!
//! # Invariants
//! At most one `Store` per data directory, in any process: a second open
//! fails with [`Error::Locked`] instead of writing beside the first.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use parking_lot::{Mutex, RwLock};

use crate::archive::target::{ArchiveTarget, ObjectArchive};
use crate::checkpoint::Signer;
use crate::clock::{Clock, SystemClock};
use crate::durability::{OsSyncer, Syncer};
use crate::error::{Error, Result};
use crate::faults::{Faults, NoFaults};
use crate::log::{DedupOptions, Log, LogContext, Policy};
use crate::maintenance::{Background, Priority, Signal, maintain};
use crate::segment::BlockCache;
use crate::segment::cache::DEFAULT_CACHE_BYTES;

pub mod erase;
pub mod retention;

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "LOCK";
/// Directory of the logs in the data directory.
pub const LOGS_DIR: &str = "logs";
/// The reserved log that records administrative events.
pub const SYSTEM_LOG: &str = "_system";

/// How a store runs.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Time source for ingest times, ages and checkpoints.
    pub clock: Arc<dyn Clock>,
    /// How often the background thread checks time-based policy.
    pub maintenance_interval: Duration,
    /// How WAL data is made durable (tests inject failures here).
    pub syncer: Arc<dyn Syncer>,
    /// Bytes of decoded sealed blocks kept in memory for reads by seq and
    /// search results.
    pub block_cache_bytes: u64,
    /// How long and how many client event ids each log remembers, so that
    /// a retried event is not stored twice.
    pub dedup: DedupOptions,
    /// Where segments are archived before retention removes them.
    pub archive: ArchiveTarget,
    /// How often the retention scheduler applies every log's policy;
    /// `None` leaves it to explicit calls.
    pub retention_interval: Option<Duration>,
    /// Fails archival and removal steps on purpose (tests).
    pub faults: Arc<dyn Faults>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Arc::new(SystemClock),
            maintenance_interval: Duration::from_millis(50),
            syncer: Arc::new(OsSyncer),
            block_cache_bytes: DEFAULT_CACHE_BYTES,
            dedup: DedupOptions::default(),
            archive: ArchiveTarget::None,
            retention_interval: Some(Duration::from_secs(300)),
            faults: Arc::new(NoFaults),
        }
    }
}

/// An open data directory.
#[derive(Debug)]
pub struct Store {
    inner: Arc<Inner>,
    maintenance: Background,
    indexing: Background,
    retention: Option<Background>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    _lock: File,
    ctx: LogContext,
    logs: RwLock<BTreeMap<String, Arc<Log>>>,
    /// The archive target, when one is configured.
    archive: Option<ObjectArchive>,
    /// Held while a log is created or opened (which may rebuild its index),
    /// so that `logs` stays readable meanwhile: other logs keep appending,
    /// sealing and indexing.
    opening: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the data directory `dir` with default options.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process holds it; I/O errors.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens the data directory `dir`.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        let logs_dir = dir.join(LOGS_DIR);
        std::fs::create_dir_all(&logs_dir).map_err(Error::io("create directory", &logs_dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    dir,
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path)(e)),
        }
        let signer = Arc::new(Signer::load_or_create(&dir)?);
        let signal = Arc::new(Signal::default());
        let index_signal = Arc::new(Signal::default());
        let inner = Arc::new(Inner {
            dir,
            _lock: lock,
            ctx: LogContext {
                signer,
                clock: options.clock,
                maintenance: signal.clone(),
                syncer: options.syncer,
                indexing: index_signal.clone(),
                block_cache: Arc::new(BlockCache::new(options.block_cache_bytes)),
                dedup: options.dedup,
                faults: options.faults,
            },
            logs: RwLock::new(BTreeMap::new()),
            archive: ObjectArchive::open(&options.archive)?,
            opening: Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        let mut last_sync = HashMap::new();
        let maintenance = Background::spawn(
            "stele-maintenance",
            Priority::Normal,
            signal,
            options.maintenance_interval,
            move || {
                for log in weak.upgrade()?.open_logs() {
                    maintain(&log, &mut last_sync);
                }
                Some(false)
            },
        )
        .map_err(Error::io("spawn maintenance thread for", &inner.dir))?;
        let weak = Arc::downgrade(&inner);
        let mut reported: HashMap<String, (String, Instant)> = HashMap::new();
        let indexing = Background::spawn("stele-indexing", Priority::Low, index_signal, INDEX_TICK, move || {
            let mut more = false;
            for log in weak.upgrade()?.open_logs() {
                match log.index_pass() {
                    Ok(m) => {
                        more |= m;
                        reported.remove(log.name());
                    }
                    Err(error) => {
                        // Retried every tick; said again when it changes or
                        // once a minute.
                        let message = error.to_string();
                        let last = reported.get(log.name());
                        if last.is_none_or(|(m, at)| *m != message || at.elapsed() >= REPEAT_ERROR)
                        {
                            tracing::error!(log = log.name(), %error, "indexing failed; retrying");
                            reported.insert(log.name().to_string(), (message, Instant::now()));
                        }
                    }
                }
            }
            Some(more)
        })
        .map_err(Error::io("spawn indexing thread for", &inner.dir))?;
        let retention = match options.retention_interval {
            Some(interval) => Some(retention::spawn_scheduler(&inner, interval)?),
            None => None,
        };
        Ok(Store {
            inner,
            maintenance,
            indexing,
            retention,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Now, by the store's clock (the one ingest times come from).
    pub fn now_ns(&self) -> i64 {
        self.inner.ctx.clock.now_ns()
    }

    /// The public key that verifies this store's checkpoints.
    pub fn public_key(&self) -> VerifyingKey {
        self.inner.ctx.signer.public_key()
    }

    /// Creates the log `name` with `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad or reserved name or policy;
    /// [`Error::LogExists`].
    pub fn create_log(&self, name: &str, policy: Policy) -> Result<Arc<Log>> {
        check_log_name(name)?;
        if name.starts_with('_') {
            return Err(Error::invalid(
                "log name",
                format!("`{name}`: names starting with `_` are reserved"),
            ));
        }
        self.inner.create(name, policy)
    }

    /// The reserved `_system` log, created on first use.
    ///
    /// # Errors
    /// As [`Store::log`].
    pub fn system_log(&self) -> Result<Arc<Log>> {
        self.inner.system_log()
    }

    /// Opens (recovering on first use) the log `name`.
    ///
    /// # Errors
    /// [`Error::LogNotFound`]; [`Error::Corrupted`] when recovery finds damage.
    pub fn log(&self, name: &str) -> Result<Arc<Log>> {
        self.inner.log(name)
    }

    /// The log `name` if it is open already: a lookup in memory that never
    /// touches the disk, so async callers may make it on their own threads
    /// ([`Store::log`] opens, and may recover, a log on first use).
    pub fn open_log(&self, name: &str) -> Option<Arc<Log>> {
        self.inner.open_log(name)
    }

    /// Names of every log in the data directory, sorted.
    ///
    /// # Errors
    /// I/O errors listing the directory.
    pub fn list_logs(&self) -> Result<Vec<String>> {
        self.inner.list_logs()
    }

    /// Stops the background threads, finishes pending seals, fsyncs every
    /// open log and commits its index.
    ///
    /// # Errors
    /// The first error; the remaining logs are still closed.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(retention) = &mut self.retention {
            retention.stop();
        }
        self.maintenance.stop();
        self.indexing.stop();
        let mut first_error = None;
        for log in self.inner.open_logs() {
            if let Err(error) = log
                .finish_seals()
                .and_then(|()| log.sync())
                .and_then(|()| log.flush_index())
            {
                tracing::error!(log = log.name(), %error, "closing log");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "closing the store");
        }
    }
}

/// How often the indexing thread looks for work when no append woke it
/// (commit intervals are checked this often).
const INDEX_TICK: Duration = Duration::from_millis(50);
/// How often a persisting indexing failure is logged again.
const REPEAT_ERROR: Duration = Duration::from_secs(60);

impl Inner {
    /// The log `name` if it is open.
    fn open_log(&self, name: &str) -> Option<Arc<Log>> {
        self.logs.read().get(name).cloned()
    }

    fn open_logs(&self) -> Vec<Arc<Log>> {
        self.logs.read().values().cloned().collect()
    }

    /// The reserved `_system` log, created on first use.
    ///
    /// # Errors
    /// As [`Store::log`].
    fn system_log(&self) -> Result<Arc<Log>> {
        match self.log(SYSTEM_LOG) {
            Err(Error::LogNotFound(_)) => self.create(SYSTEM_LOG, Policy::default()),
            other => other,
        }
    }

    fn create(&self, name: &str, policy: Policy) -> Result<Arc<Log>> {
        let _opening = self.opening.lock();
        let dir = self.log_dir(name);
        if self.logs.read().contains_key(name) || dir.exists() {
            return Err(Error::LogExists(name.to_string()));
        }
        let log = Arc::new(Log::create(&dir, name, policy, self.ctx.clone())?);
        self.logs.write().insert(name.to_string(), log.clone());
        Ok(log)
    }

    /// Opens (recovering on first use) the log `name`.
    ///
    /// # Errors
    /// [`Error::LogNotFound`]; [`Error::Corrupted`] when recovery finds damage.
    fn log(&self, name: &str) -> Result<Arc<Log>> {
        if let Some(log) = self.open_log(name) {
            return Ok(log);
        }
        check_log_name(name).map_err(|_| Error::LogNotFound(name.to_string()))?;
        let _opening = self.opening.lock();
        if let Some(log) = self.open_log(name) {
            return Ok(log);
        }
        let dir = self.log_dir(name);
        if !dir.is_dir() {
            return Err(Error::LogNotFound(name.to_string()));
        }
        let log = Arc::new(Log::open(&dir, self.ctx.clone())?);
        self.logs.write().insert(name.to_string(), log.clone());
        Ok(log)
    }

    /// Names of every log in the data directory, sorted.
    ///
    /// # Errors
    /// I/O errors listing the directory.
    fn list_logs(&self) -> Result<Vec<String>> {
        let dir = self.dir.join(LOGS_DIR);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && check_log_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn log_dir(&self, name: &str) -> PathBuf {
        self.dir.join(LOGS_DIR).join(name)
    }
}

/// Log names: `[a-z0-9_][a-z0-9_-]{0,62}`; a leading `_` marks a reserved name.
pub fn check_log_name(name: &str) -> Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || (i > 0 && b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "log name",
            format!("`{name}` must match [a-z0-9][a-z0-9_-]{{0,62}}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_log_finds_only_logs_already_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.open_log("audit").is_none());
        let created = store.create_log("audit", Policy::default()).unwrap();
        let found = store.open_log("audit").expect("open once created");
        assert!(Arc::ptr_eq(&created, &found));
        drop((created, found));
        store.close().unwrap();
        // Reopened: on disk, but not open until `log` opens it.
        let store = Store::open(dir.path()).unwrap();
        assert!(store.open_log("audit").is_none());
        let opened = store.log("audit").unwrap();
        assert!(Arc::ptr_eq(&opened, &store.open_log("audit").unwrap()));
        drop(opened);
        store.close().unwrap();
    }

    #[test]
    fn log_names_follow_the_design() {
        for ok in ["a", "audit-2026", "tenant_7", "_system", &"x".repeat(63)] {
            check_log_name(ok).unwrap();
        }
        for bad in ["", "-a", "A", "a b", "a/b", "..", &"x".repeat(64)] {
            assert!(check_log_name(bad).is_err(), "{bad}");
        }
    }
}
