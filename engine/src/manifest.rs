//! A log's manifest: `logs/<name>/manifest.json`.
//!
//! It holds what is fixed at creation (format version, name, `log_id`,
//! creation time), the policy (whose retention part changes through admin
//! calls), the legal holds, the signed anchor of the removed prefix, and the
//! archived segments. It is rewritten whole and atomically (temporary file,
//! fsync, rename, directory fsync); a removal is committed by this rewrite
//! before any file is deleted, so the manifest is also the intent record that
//! recovery finishes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::archive::entry::ArchivedSegment;
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::log::Policy;
use crate::retention::{Anchor, Hold};

/// File name of a log's manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Value of the manifest's `format` field: its magic.
pub const MANIFEST_FORMAT: &str = "stele-log-manifest";
/// Manifest version written by this code.
pub const MANIFEST_VERSION: u32 = 1;

/// The content of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Format version of the manifest and of the log's files.
    pub version: u32,
    /// The log's name.
    pub name: String,
    /// 16 random bytes chosen at creation; part of the chain's genesis.
    #[serde(with = "crate::serde_hex")]
    pub log_id: [u8; 16],
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_ns: i64,
    /// The log's policy.
    pub policy: Policy,
    /// Legal holds in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Where the local log starts once segments have left, signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<Anchor>,
    /// Segments copied to the archive target, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<ArchivedSegment>,
    /// Segments restored from the archive, by first seq: retention keeps
    /// them until the given time (nanoseconds since the Unix epoch).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restored: BTreeMap<u64, i64>,
}

impl Manifest {
    /// Reads and checks `path`.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when it is not a manifest this code can read.
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupted(path, 0, format!("not a valid manifest: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::corrupted(
                path,
                0,
                format!(
                    "format is `{}`, expected `{MANIFEST_FORMAT}`",
                    manifest.format
                ),
            ));
        }
        if manifest.version == 0 || manifest.version > MANIFEST_VERSION {
            return Err(Error::corrupted(
                path,
                0,
                format!(
                    "manifest version {} is not supported (this build reads 1..={MANIFEST_VERSION})",
                    manifest.version
                ),
            ));
        }
        Ok(manifest)
    }

    /// Writes the manifest to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        json.push(b'\n');
        write_atomically(path, &json)
    }
}
