//! Fault injection for archival and removal: each step asks the store's
//! [`Faults`] first, so tests can fail any step and check that nothing is
//! lost. Production stores use [`NoFaults`].

use std::fmt;

/// A step of archiving a segment and removing it from local storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Uploading the sealed file.
    UploadSegment,
    /// Uploading the segment's index files.
    UploadIndex,
    /// Uploading the manifest entry.
    UploadEntry,
    /// Reading the uploaded copy back and checking it.
    ReadBack,
    /// Committing the removal to the log's manifest.
    Commit,
    /// Deleting the local files once the removal is committed.
    DeleteLocal,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::UploadSegment => "upload segment",
            Step::UploadIndex => "upload index",
            Step::UploadEntry => "upload manifest entry",
            Step::ReadBack => "read back",
            Step::Commit => "commit removal",
            Step::DeleteLocal => "delete local copy",
        })
    }
}

/// Decides whether a step fails.
pub trait Faults: Send + Sync + fmt::Debug {
    /// Called before `step`; an error makes the step fail with it.
    fn before(&self, step: Step) -> std::io::Result<()>;
}

/// Never fails anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFaults;

impl Faults for NoFaults {
    fn before(&self, _step: Step) -> std::io::Result<()> {
        Ok(())
    }
}
