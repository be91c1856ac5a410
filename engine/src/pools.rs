//! The rayon pools of the engine's long parallel work, and of a search's
//! reads, kept off rayon's global pool.
//!
//! The global pool runs the short parallel steps of the acknowledgement
//! path: encoding and hashing a batch. Rayon runs a
//! worker's own split-off jobs before jobs injected from outside, so a long
//! job on the global pool (an aggregation over 10 M records, a whole log's
//! verify, a seal's compression) would hold every search and append queued
//! behind all of its pieces. Each long kind of work therefore has a pool of
//! its own, one thread a core; the operating system then shares the cores
//! between the pools, and a search started during a long aggregation waits
//! for no piece of it.
//!
//! - [`compression`]: zstd compression of sealed blocks, at a low CPU
//!   priority ([`Priority::Low`]): a seal takes the cores appends and
//!   searches leave.
//! - [`scans`]: aggregations and verification, at the process's priority:
//!   an investigator waiting on facets or a verify is waiting too.
//! - [`reads`]: reading the hits of a search page that needs several
//!   sealed blocks decoded, at the process's priority.
//!
//! A pool whose threads cannot be started is `None`, and [`install`] then
//! runs the work on the global pool, as before.

use std::sync::OnceLock;

use rayon::ThreadPool;

use crate::maintenance::Priority;

/// The pool that compresses sealed blocks.
pub(crate) fn compression() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| build("compress", Priority::Low))
        .as_ref()
}

/// The pool of aggregations and verification.
pub(crate) fn scans() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| build("scan", Priority::Normal))
        .as_ref()
}

/// The pool that reads the hits of a search page in parallel.
pub(crate) fn reads() -> Option<&'static ThreadPool> {
    static POOL: OnceLock<Option<ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| build("read", Priority::Normal))
        .as_ref()
}

/// Runs `work` in `pool` (its parallel iterators use that pool's threads),
/// or on the calling thread's pool when there is none.
pub(crate) fn install<R: Send>(pool: Option<&ThreadPool>, work: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

fn build(name: &'static str, priority: Priority) -> Option<ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(move |i| format!("stele-{name}-{i}"))
        .start_handler(move |_| priority.apply())
        .build()
        .map_err(|e| {
            tracing::warn!(error = %e, pool = name, "no thread pool of its own; using the shared one");
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_pool_it_is_installed_in() {
        let name = install(scans(), || {
            rayon::join(|| std::thread::current().name().map(str::to_owned), || ()).0
        });
        assert!(name.is_some_and(|n| n.starts_with("stele-scan-")));
        let name = install(compression(), || {
            std::thread::current().name().map(str::to_owned)
        });
        assert!(name.is_some_and(|n| n.starts_with("stele-compress-")));
        let name = install(reads(), || std::thread::current().name().map(str::to_owned));
        assert!(name.is_some_and(|n| n.starts_with("stele-read-")));
    }
}
