//! Signed checkpoints: "log L (id I) has `size` records and chain head H at
//! time T", signed with the data directory's ed25519 key.
//!
//! ```text
//! Format: signed message = "stele/v1/checkpoint\n" | name_len: u16 | name
//!   | log_id: [u8; 16] | size: u64 | head: [u8; 32] | time: i64
//! checkpoints.log = JSON Lines; line 1 = {"format":"stele-checkpoints","version":1},
//!   then one Checkpoint object a line, appended and fdatasynced
//! keys/checkpoint.ed25519 = the signing key as PKCS#8 PEM, mode 0600
//! ```
//! `head` is the chain hash after seq `size - 1` (the genesis hash when
//! `size` is 0).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::error::{Error, Result};
use crate::files::create_private;

/// Where the signing key lives inside the data directory.
pub const KEY_FILE: &str = "keys/checkpoint.ed25519";
/// File name of a log's checkpoint log.
pub const CHECKPOINTS_FILE: &str = "checkpoints.log";
/// `format` of the checkpoint log's first line: its magic.
pub const CHECKPOINTS_FORMAT: &str = "stele-checkpoints";
/// Version of the checkpoint log written by this code.
pub const CHECKPOINTS_VERSION: u32 = 1;

/// A signed statement about a log's size and head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The log's name.
    pub log: String,
    /// The log's id.
    #[serde(with = "crate::serde_hex")]
    pub log_id: [u8; 16],
    /// Number of records covered: seqs `0..size`.
    pub size: u64,
    /// Chain hash after seq `size - 1`.
    #[serde(with = "crate::serde_hex")]
    pub head: Hash,
    /// When it was signed, nanoseconds since the Unix epoch.
    pub time: i64,
    /// The key that signed it.
    #[serde(with = "crate::serde_hex")]
    pub public_key: [u8; 32],
    /// ed25519 signature over [`Checkpoint::message`].
    #[serde(with = "crate::serde_hex")]
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// The exact bytes that are signed.
    pub fn message(&self) -> Vec<u8> {
        stele_chain::checkpoint_message(&self.log, &self.log_id, self.size, &self.head, self.time)
    }

    /// Checks the signature against `key` (not the key the checkpoint names).
    ///
    /// # Errors
    /// [`Error::BadCheckpoint`] saying what does not match.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<()> {
        stele_chain::verify_checkpoint_signature(
            &self.message(),
            &self.public_key,
            &self.signature,
            &key.to_bytes(),
        )
        .map_err(|e| Error::BadCheckpoint(e.to_string()))
    }
}

/// The data directory's checkpoint signing key.
#[derive(Debug)]
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Loads `<data_dir>/keys/checkpoint.ed25519`, generating it (mode 0600)
    /// on first use.
    ///
    /// # Errors
    /// I/O errors, or [`Error::Corrupted`] when the file is not a PKCS#8 key.
    pub fn load_or_create(data_dir: &Path) -> Result<Signer> {
        let path = data_dir.join(KEY_FILE);
        if path.exists() {
            let pem = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                Error::corrupted(&path, 0, format!("not a PKCS#8 ed25519 key: {e}"))
            })?;
            warn_if_readable_by_others(&path);
            return Ok(Signer { key });
        }
        let dir = path.parent().expect("KEY_FILE has a directory");
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| Error::invalid("signing key", e.to_string()))?;
        create_private(&path, pem.as_bytes())?;
        tracing::info!(path = %path.display(), public_key = %hex::encode(key.verifying_key().to_bytes()), "generated checkpoint signing key");
        Ok(Signer { key })
    }

    /// The public key of `<data_dir>/keys/checkpoint.ed25519`, without
    /// creating it: `None` when the file does not exist (offline tools).
    ///
    /// # Errors
    /// As [`Signer::load_or_create`].
    pub fn public_key_in(data_dir: &Path) -> Result<Option<VerifyingKey>> {
        if !data_dir.join(KEY_FILE).exists() {
            return Ok(None);
        }
        Signer::load_or_create(data_dir).map(|s| Some(s.public_key()))
    }

    /// The public half, to hand to verifiers.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a checkpoint of `log`.
    pub fn sign(
        &self,
        log: &str,
        log_id: [u8; 16],
        size: u64,
        head: Hash,
        time: i64,
    ) -> Checkpoint {
        let mut cp = Checkpoint {
            log: log.to_string(),
            log_id,
            size,
            head,
            time,
            public_key: self.public_key().to_bytes(),
            signature: [0; 64],
        };
        cp.signature = self.sign_message(&cp.message());
        cp
    }

    /// Signs a C2SP note's `text` as the key `name`
    /// (`stele_chain::note`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the text or name breaks the format.
    pub fn sign_note(&self, text: &str, name: &str) -> Result<String> {
        stele_chain::note::sign(text, name, &self.key)
            .map_err(|e| Error::invalid("checkpoint note", e.to_string()))
    }

    /// Signs `message` (a domain-separated statement such as a retention
    /// anchor's).
    pub fn sign_message(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "checkpoint key is readable by others; expected 0600");
    }
}

#[derive(Serialize, Deserialize)]
struct LogHeader {
    format: String,
    version: u32,
}

/// Appends `cp` to the checkpoint log `path` (creating it with its header
/// line) and fdatasyncs it.
pub fn append(path: &Path, cp: &Checkpoint) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    let mut out = Vec::new();
    if file.metadata().map_err(Error::io("stat", path))?.len() == 0 {
        serde_json::to_writer(
            &mut out,
            &LogHeader {
                format: CHECKPOINTS_FORMAT.into(),
                version: CHECKPOINTS_VERSION,
            },
        )
        .expect("header serialises");
        out.push(b'\n');
    }
    serde_json::to_writer(&mut out, cp).expect("checkpoint serialises");
    out.push(b'\n');
    file.write_all(&out).map_err(Error::io("write", path))?;
    file.sync_data().map_err(Error::io("fsync", path))
}

/// Reads every checkpoint of the checkpoint log `path` (none if it does not
/// exist). A last line cut short by a crash is ignored with a warning.
///
/// # Errors
/// [`Error::Corrupted`] naming the offset of a damaged line.
pub fn read_all(path: &Path) -> Result<Vec<Checkpoint>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let mut out = Vec::new();
    let mut offset = 0usize;
    for (n, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let at = offset;
        offset += line.len();
        let complete = line.ends_with(b"\n");
        let parsed = if n == 0 {
            serde_json::from_slice::<LogHeader>(line)
                .ok()
                .filter(|h| {
                    h.format == CHECKPOINTS_FORMAT && (1..=CHECKPOINTS_VERSION).contains(&h.version)
                })
                .map(|_| None)
                .ok_or_else(|| "not a stele checkpoint log header".to_string())
        } else {
            serde_json::from_slice::<Checkpoint>(line)
                .map(Some)
                .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(Some(cp)) => out.push(cp),
            Ok(None) => {}
            Err(reason) if !complete => {
                tracing::warn!(file = %path.display(), offset = at, %reason, "ignoring a checkpoint line cut short by a crash");
            }
            Err(reason) => return Err(Error::corrupted(path, at as u64, reason)),
        }
    }
    Ok(out)
}

/// Cuts a last line left incomplete by a crash, so the next append starts on
/// a fresh line. Called when a log opens.
pub fn drop_torn_line(path: &Path) -> Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        tracing::warn!(file = %path.display(), dropped_bytes = bytes.len() - keep, "dropping a checkpoint line cut short by a crash");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(Error::io("open", path))?;
        file.set_len(keep as u64)
            .map_err(Error::io("truncate", path))?;
        file.sync_all().map_err(Error::io("fsync", path))?;
    }
    Ok(())
}

/// Path of the checkpoint log of the log directory `log_dir`.
pub fn path_in(log_dir: &Path) -> PathBuf {
    log_dir.join(CHECKPOINTS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_and_rejects_changes() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let cp = signer.sign("audit", [1; 16], 10, [2; 32], 99);
        cp.verify_signature(&signer.public_key()).unwrap();
        let mut changed = cp.clone();
        changed.size = 11;
        assert!(changed.verify_signature(&signer.public_key()).is_err());
        let other = Signer::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(cp.verify_signature(&other.public_key()).is_err());
    }

    #[test]
    fn key_is_private_and_stable_across_loads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::load_or_create(dir.path()).unwrap().public_key();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            Signer::load_or_create(dir.path()).unwrap().public_key(),
            first
        );
    }

    #[test]
    fn checkpoint_log_round_trips_and_tolerates_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(CHECKPOINTS_FILE);
        let a = signer.sign("l", [0; 16], 1, [1; 32], 1);
        let b = signer.sign("l", [0; 16], 2, [2; 32], 2);
        append(&path, &a).unwrap();
        append(&path, &b).unwrap();
        assert_eq!(read_all(&path).unwrap(), vec![a.clone(), b]);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 10).unwrap();
        assert_eq!(read_all(&path).unwrap(), vec![a.clone()]);
        drop_torn_line(&path).unwrap();
        let c = signer.sign("l", [0; 16], 3, [3; 32], 3);
        append(&path, &c).unwrap();
        assert_eq!(read_all(&path).unwrap(), vec![a, c]);
    }
}
