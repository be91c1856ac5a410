//! Names and durable file operations of a log directory.
//!
//! Segment file names carry the segment's first seq, zero-padded to 20 digits
//! so that names sort like seqs: `00000000000000001000.wal` (active),
//! `….seg` (sealed). This module is the one place that builds and parses them,
//! and the one place that does the rename-and-fsync dance.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Directory of a log's segment files.
pub const SEGMENTS_DIR: &str = "segments";
/// Suffix of files being written, removed at open.
pub const TMP_SUFFIX: &str = ".tmp";

/// What a segment file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SegmentKind {
    /// Sealed, compressed, read-only.
    Sealed,
    /// Active (or waiting to be sealed): batch frames.
    Wal,
}

impl SegmentKind {
    fn extension(self) -> &'static str {
        match self {
            SegmentKind::Sealed => "seg",
            SegmentKind::Wal => "wal",
        }
    }
}

/// `<first_seq:020>.<ext>`.
pub fn segment_file_name(first_seq: u64, kind: SegmentKind) -> String {
    format!("{first_seq:020}.{}", kind.extension())
}

/// Parses a segment file name; `None` for anything else.
pub fn parse_segment_file_name(name: &str) -> Option<(u64, SegmentKind)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match ext {
        "seg" => SegmentKind::Sealed,
        "wal" => SegmentKind::Wal,
        _ => return None,
    };
    Some((stem.parse().ok()?, kind))
}

/// Fsyncs a directory so that creations, renames and removals in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync directory", dir))
}

/// The temporary name used while writing `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TMP_SUFFIX);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` crash-safely: a temporary file, fsync, rename,
/// fsync of the directory. Readers see the old content or the new, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
    file.write_all(bytes).map_err(Error::io("write", &tmp))?;
    file.sync_all().map_err(Error::io("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Creates `path` (which must not exist) with owner-only permissions, writes
/// `bytes` and fsyncs it and its directory.
pub fn create_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    file.sync_all().map_err(Error::io("fsync", path))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a file read-only for everyone (0444).
pub fn set_read_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o444))
        .map_err(Error::io("make read-only", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_like_seqs() {
        let a = segment_file_name(999, SegmentKind::Sealed);
        let b = segment_file_name(1000, SegmentKind::Wal);
        assert_eq!(a, "00000000000000000999.seg");
        assert!(a < b);
        assert_eq!(
            parse_segment_file_name(&a),
            Some((999, SegmentKind::Sealed))
        );
        assert_eq!(parse_segment_file_name(&b), Some((1000, SegmentKind::Wal)));
        assert_eq!(
            parse_segment_file_name("00000000000000000999.seg.tmp"),
            None
        );
        assert_eq!(parse_segment_file_name("999.seg"), None);
        assert_eq!(parse_segment_file_name("manifest.json"), None);
    }
}
