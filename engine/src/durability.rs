//! Where the engine makes acknowledged WAL data durable: one `fdatasync`
//! call behind a trait, so that tests can make it fail and check that a
//! failed sync is never acknowledged and stops the log (see `log/sync.rs`).

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes a WAL file's written data durable.
pub trait Syncer: Send + Sync + std::fmt::Debug {
    /// `fdatasync(file)`; `path` names it for errors and tests.
    ///
    /// # Errors
    /// The operating system's error.
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()>;
}

/// The operating system's `fdatasync`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsSyncer;

impl Syncer for OsSyncer {
    fn sync_data(&self, file: &File, _path: &Path) -> io::Result<()> {
        file.sync_data()
    }
}
