//! The store's background thread: the `interval:<ms>` fsyncs, and sealing
//! of segments rotated out by size or count (an append wakes it) or grown
//! older than the policy's `max_age_ms` (checked every tick).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::log::{FsyncPolicy, Log};

/// Wakes or stops the maintenance thread.
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

/// The running thread.
#[derive(Debug)]
pub struct Maintenance {
    signal: Arc<Signal>,
    handle: Option<JoinHandle<()>>,
}

impl Maintenance {
    /// Starts the thread; each pass works on the logs `logs` returns, until
    /// it returns `None` or the thread is stopped.
    pub fn spawn(
        signal: Arc<Signal>,
        tick: Duration,
        logs: impl Fn() -> Option<Vec<Arc<Log>>> + Send + 'static,
    ) -> std::io::Result<Maintenance> {
        let thread_signal = signal.clone();
        let handle = std::thread::Builder::new()
            .name("stele-maintenance".into())
            .spawn(move || {
                let mut last_sync = HashMap::new();
                while thread_signal.wait(tick) {
                    let Some(logs) = logs() else { return };
                    for log in logs {
                        pass(&log, &mut last_sync);
                    }
                }
            })?;
        Ok(Maintenance {
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

/// One pass over one log.
fn pass(log: &Log, last_sync: &mut HashMap<String, Instant>) {
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
