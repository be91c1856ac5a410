//! Creating, truncating and appending to WAL files, durably.
//!
//! Writes use positioned I/O (`pwrite`) at offsets the caller tracks, so a
//! failed write can be undone by truncating back to where the frame started.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::files::{fsync_dir, tmp_path};
use crate::format::FileHeader;

/// Creates the WAL file `path` holding only `header`: written under a
/// temporary name, fsynced, renamed, directory fsynced.
pub fn create(path: &Path, header: &FileHeader) -> Result<File> {
    let tmp = tmp_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io("create", &tmp))?;
    file.write_all_at(&header.encode(), 0)
        .map_err(Error::io("write", &tmp))?;
    file.sync_all().map_err(Error::io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(file)
}

/// Opens an existing WAL for appending, cutting it to `valid_len` (dropping
/// a torn tail) and making the cut durable.
pub fn open_for_append(path: &Path, valid_len: u64) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len != valid_len {
        file.set_len(valid_len)
            .map_err(Error::io("truncate torn tail of", path))?;
        file.sync_all().map_err(Error::io("fsync", path))?;
    }
    Ok(file)
}

/// Writes `frame` at `offset`. On failure it tries to cut the file back to
/// `offset`; the returned flag says whether the file is known to be clean.
pub fn write_frame(
    file: &File,
    path: &Path,
    offset: u64,
    frame: &[u8],
) -> Result<(), (Error, bool)> {
    file.write_all_at(frame, offset).map_err(|e| {
        let clean = file.set_len(offset).is_ok();
        (Error::io("write", path)(e), clean)
    })
}
