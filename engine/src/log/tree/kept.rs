//! What the tree keeps of records that retention removed: nodes whose
//! leaves left the log, and the sizes tree heads were signed at.
//!
//! ```text
//! tree.kept  = entries of  first: u64 | level: u8 | hash: [u8; 32]
//!              (the root of leaves first .. first + 2^level, an aligned
//!              subtree inside one chunk), written atomically
//! tree.sizes = the sizes tree heads were signed at, u64 each, appended
//!              and fdatasynced
//! ```
//! Integers are little-endian. Before a removal, `tree.kept` gains the
//! leaves (level 0) of the removed records of the chunk the local log will
//! start in, which proofs of the records left need, and for every signed
//! size inside a chunk that loses records, the nodes a consistency proof
//! from that size needs: the aligned subtrees on both sides of it within
//! its chunk (at most 16). Entries are never dropped, so a restore and a
//! second removal lose nothing.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::chain::Hash;
use crate::error::{Error, Result};

/// File of kept nodes, in the log's directory.
pub const KEPT_FILE: &str = "tree.kept";
/// File of signed sizes, in the log's directory.
pub const SIZES_FILE: &str = "tree.sizes";
/// Before `tree.kept`: the removed leaves of the first local chunk (the
/// first seq, then the hashes). Read once and replaced by `tree.kept`.
const LEGACY_EDGE_FILE: &str = "tree.edge";

const ENTRY: usize = 8 + 1 + 32;

/// Kept nodes by (first leaf, level).
pub(crate) type Kept = BTreeMap<(u64, u8), Hash>;

/// Reads the kept nodes of the log directory `dir` (none when there are
/// none), converting a `tree.edge` of an earlier version.
///
/// # Errors
/// [`Error::Corrupted`] when a file is not whole entries; read errors.
pub(crate) fn read(dir: &Path) -> Result<Kept> {
    let path = dir.join(KEPT_FILE);
    if let Some(bytes) = read_if_present(&path)? {
        if bytes.len() % ENTRY != 0 {
            return Err(Error::corrupted(
                &path,
                0,
                "not whole (seq, level, hash) entries",
            ));
        }
        return Ok(bytes
            .chunks_exact(ENTRY)
            .map(|e| {
                let first = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
                ((first, e[8]), e[9..].try_into().expect("32 bytes"))
            })
            .collect());
    }
    let legacy = dir.join(LEGACY_EDGE_FILE);
    let Some(bytes) = read_if_present(&legacy)? else {
        return Ok(Kept::new());
    };
    if bytes.len() < 8 || (bytes.len() - 8) % 32 != 0 {
        return Err(Error::corrupted(&legacy, 0, "not a seq and whole hashes"));
    }
    let start = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let kept: Kept = (start..)
        .zip(bytes[8..].chunks_exact(32))
        .map(|(seq, h)| ((seq, 0), h.try_into().expect("32 bytes")))
        .collect();
    write(dir, &kept)?;
    std::fs::remove_file(&legacy).map_err(Error::io("remove", &legacy))?;
    Ok(kept)
}

/// Writes `kept` to the log directory `dir`, atomically.
///
/// # Errors
/// I/O errors.
pub(crate) fn write(dir: &Path, kept: &Kept) -> Result<()> {
    let mut bytes = Vec::with_capacity(kept.len() * ENTRY);
    for ((first, level), hash) in kept {
        bytes.extend_from_slice(&first.to_le_bytes());
        bytes.push(*level);
        bytes.extend_from_slice(hash);
    }
    crate::files::write_atomically(&dir.join(KEPT_FILE), &bytes)
}

/// The sizes tree heads were signed at (none when the file is missing); a
/// torn last entry is ignored.
///
/// # Errors
/// Read errors.
pub(crate) fn read_sizes(dir: &Path) -> Result<Vec<u64>> {
    Ok(read_if_present(&dir.join(SIZES_FILE))?
        .unwrap_or_default()
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// Appends `size` to the signed sizes of the log directory `dir`, durably
/// (before the signed head is handed out).
///
/// # Errors
/// I/O errors.
pub(crate) fn append_size(dir: &Path, size: u64) -> Result<()> {
    let path = dir.join(SIZES_FILE);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    let len = file.metadata().map_err(Error::io("stat", &path))?.len();
    if len % 8 != 0 {
        file.set_len(len - len % 8)
            .map_err(Error::io("truncate", &path))?;
    }
    file.write_all(&size.to_le_bytes())
        .map_err(Error::io("write", &path))?;
    file.sync_data().map_err(Error::io("fdatasync", &path))
}

/// The maximal aligned subtrees covering `range`, left to right, as
/// (first leaf, level).
pub(crate) fn aligned_cover(range: std::ops::Range<u64>) -> Vec<(u64, u8)> {
    let (mut at, end) = (range.start, range.end);
    let mut out = Vec::new();
    while at < end {
        let mut level = if at == 0 { 63 } else { at.trailing_zeros() };
        while 1u64 << level > end - at {
            level -= 1;
        }
        out.push((at, level as u8));
        at += 1 << level;
    }
    out
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_cover_is_the_binary_decomposition() {
        assert_eq!(aligned_cover(256..256 + 7), [(256, 2), (260, 1), (262, 0)]);
        assert_eq!(
            aligned_cover(263..512),
            [(263, 0), (264, 3), (272, 4), (288, 5), (320, 6), (384, 7)]
        );
        assert_eq!(aligned_cover(0..256), [(0, 8)]);
        assert!(aligned_cover(5..5).is_empty());
    }

    #[test]
    fn files_round_trip_and_an_edge_file_is_converted() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
        let mut edge = 300u64.to_le_bytes().to_vec();
        edge.extend_from_slice(&[7; 32]);
        edge.extend_from_slice(&[8; 32]);
        std::fs::write(dir.path().join(LEGACY_EDGE_FILE), &edge).unwrap();
        let kept = read(dir.path()).unwrap();
        assert_eq!(kept, Kept::from([((300, 0), [7; 32]), ((301, 0), [8; 32])]));
        assert!(!dir.path().join(LEGACY_EDGE_FILE).exists());
        assert_eq!(read(dir.path()).unwrap(), kept);
        std::fs::write(dir.path().join(KEPT_FILE), [0; 40]).unwrap();
        assert!(read(dir.path()).is_err());

        assert!(read_sizes(dir.path()).unwrap().is_empty());
        append_size(dir.path(), 700).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(SIZES_FILE))
            .unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        assert_eq!(read_sizes(dir.path()).unwrap(), [700]);
        append_size(dir.path(), 900).unwrap();
        assert_eq!(read_sizes(dir.path()).unwrap(), [700, 900]);
    }
}
