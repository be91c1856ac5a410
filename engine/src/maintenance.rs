//! The store's background threads. [`Background`] runs a pass on wake-up
//! or every tick until stopped; the store runs two:
//! - maintenance ([`maintain`]): the `interval:<ms>` fsyncs, and sealing of
//!   segments rotated out by size or count (an append wakes it) or grown
//!   older than the policy's `max_age_ms` (checked every tick);
//! - indexing: [`Log::index_pass`] over every log (an append wakes it), with
//!   no pause while records are left to index. It runs at a lower CPU
//!   priority ([`Priority::Low`]), and so do the tantivy threads it starts
//!   (threads inherit it): when the cores are busy, appends and searches
//!   come first and the index lags, within `policy.index.max_lag_records`.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::log::{FsyncPolicy, Log};

/// Wakes or stops a background thread.
#[derive(Debug, Default)]
pub struct Signal {
    state: Mutex<SignalState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct SignalState {
    stop: bool,
    woken: bool,
}

impl Signal {
    /// Asks for a pass now rather than at the next tick.
    pub fn wake(&self) {
        self.state.lock().woken = true;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.state.lock().stop = true;
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.state.lock().stop
    }

    /// Waits for a wake-up or `tick`; false once stopped.
    fn wait(&self, tick: Duration) -> bool {
        let mut state = self.state.lock();
        if !state.woken && !state.stop {
            self.changed.wait_for(&mut state, tick);
        }
        state.woken = false;
        !state.stop
    }
}

/// The CPU priority of a background thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// As the process.
    Normal,
    /// Nice +10 (Linux; elsewhere as the process): it gets the cores the
    /// acknowledgement and query paths leave.
    Low,
}

impl Priority {
    /// Applies the priority to the calling thread (best effort).
    pub(crate) fn apply(self) {
        #[cfg(target_os = "linux")]
        if self == Priority::Low {
            // On Linux the nice value is per thread, and the threads this
            // one starts inherit it.
            // SAFETY: gettid has no preconditions; setpriority only reads its
            // arguments, and a failure leaves the priority as it was.
            let failed = unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) != 0
            };
            if failed {
                tracing::debug!("could not lower a background thread's priority");
            }
        }
    }
}

/// A running background thread.
#[derive(Debug)]
pub struct Background {
    signal: Arc<Signal>,
    handle: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the thread `name`. It calls `pass` on each wake-up or tick,
    /// and again at once while `pass` returns `Some(true)` (more to do),
    /// until `pass` returns `None` or the thread is stopped.
    pub fn spawn(
        name: &str,
        priority: Priority,
        signal: Arc<Signal>,
        tick: Duration,
        mut pass: impl FnMut() -> Option<bool> + Send + 'static,
    ) -> std::io::Result<Background> {
        let thread_signal = signal.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                priority.apply();
                let mut more = false;
                loop {
                    let go_on = if more {
                        !thread_signal.stopped()
                    } else {
                        thread_signal.wait(tick)
                    };
                    if !go_on {
                        return;
                    }
                    match pass() {
                        Some(m) => more = m,
                        None => return,
                    }
                }
            })?;
        Ok(Background {
            signal,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for its current pass to end.
    pub fn stop(&mut self) {
        self.signal.stop();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// One maintenance pass over one log; `last_sync` remembers when each
/// log's interval fsync last ran.
pub fn maintain(log: &Log, last_sync: &mut HashMap<String, Instant>) {
    if let FsyncPolicy::Interval(period) = log.policy().fsync {
        let last = last_sync
            .entry(log.name().to_string())
            .or_insert_with(Instant::now);
        if last.elapsed() >= period {
            *last = Instant::now();
            if let Err(error) = log.sync() {
                tracing::error!(log = log.name(), %error, "interval fsync failed");
            }
        }
    }
    if let Err(error) = log.rotate_if_old().and_then(|_| log.finish_seals()) {
        tracing::error!(log = log.name(), %error, "sealing failed");
    }
}
