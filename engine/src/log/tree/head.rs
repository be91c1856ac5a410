//! The log's last signed tree head, `tree.head`: "log L (id I) has a
//! Merkle tree of `size` leaves with root R, at time T", signed with the
//! data directory's key each time a checkpoint is. Opening the log trusts
//! the stored chunk roots only once they reproduce it, and `verify` checks
//! it against the tree recomputed from the records.
//!
//! ```text
//! signed message = "stele/v1/tree-head\n" | name_len: u16 | name
//!   | log_id: [u8; 16] | size: u64 | root: [u8; 32] | time: i64
//! tree.head = that head as one JSON object, written atomically
//! ```
//! The statement is Stele's own (domain-separated from checkpoints and
//! anchors); the C2SP checkpoints handed to clients are signed on request
//! (`Log::signed_tree_head`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::checkpoint::Signer;
use crate::error::{Error, Result};

/// File name of the signed tree head, in the log's directory.
pub const HEAD_FILE: &str = "tree.head";

const DOMAIN: &[u8] = b"stele/v1/tree-head\n";

/// A signed statement of the tree's root at one size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// Leaves covered: seqs `0..size`.
    pub size: u64,
    /// RFC 9162 root of those leaves.
    #[serde(with = "crate::serde_hex")]
    pub root: Hash,
    /// When it was signed, nanoseconds since the Unix epoch.
    pub time: i64,
    /// The key that signed it.
    #[serde(with = "crate::serde_hex")]
    pub public_key: [u8; 32],
    /// ed25519 signature over [`SignedHead::message`].
    #[serde(with = "crate::serde_hex")]
    pub signature: [u8; 64],
}

impl SignedHead {
    /// Signs the root of the first `size` leaves of log `log` (`log_id`).
    pub fn sign(
        signer: &Signer,
        (log, log_id): (&str, [u8; 16]),
        (size, root): (u64, Hash),
        time: i64,
    ) -> SignedHead {
        let mut head = SignedHead {
            size,
            root,
            time,
            public_key: signer.public_key().to_bytes(),
            signature: [0; 64],
        };
        head.signature = signer.sign_message(&head.message(log, &log_id));
        head
    }

    /// The exact bytes that are signed.
    pub fn message(&self, log: &str, log_id: &[u8; 16]) -> Vec<u8> {
        let mut m = Vec::with_capacity(DOMAIN.len() + 2 + log.len() + 72);
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(&(log.len() as u16).to_le_bytes());
        m.extend_from_slice(log.as_bytes());
        m.extend_from_slice(log_id);
        m.extend_from_slice(&self.size.to_le_bytes());
        m.extend_from_slice(&self.root);
        m.extend_from_slice(&self.time.to_le_bytes());
        m
    }

    /// Checks the signature against `key`.
    ///
    /// # Errors
    /// [`Error::BadCheckpoint`] saying what does not hold.
    pub fn verify(&self, log: &str, log_id: &[u8; 16], key: &[u8; 32]) -> Result<()> {
        stele_chain::verify_checkpoint_signature(
            &self.message(log, log_id),
            &self.public_key,
            &self.signature,
            key,
        )
        .map_err(|e| Error::BadCheckpoint(format!("signed tree head: {e}")))
    }

    /// Reads `path`: `None` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Corrupted`] when it is not a signed head; read errors.
    pub fn read(path: &Path) -> Result<Option<SignedHead>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::corrupted(path, 0, format!("not a signed tree head: {e}")))
    }

    /// Writes it to `path`, atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(self).expect("a head always serialises");
        crate::files::write_atomically(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_its_signature_binds_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let key = signer.public_key().to_bytes();
        let head = SignedHead::sign(&signer, ("audit", [1; 16]), (700, [2; 32]), 5);
        head.verify("audit", &[1; 16], &key).unwrap();
        let path = dir.path().join(HEAD_FILE);
        head.write(&path).unwrap();
        assert_eq!(SignedHead::read(&path).unwrap(), Some(head.clone()));
        assert!(head.verify("other", &[1; 16], &key).is_err());
        assert!(head.verify("audit", &[3; 16], &key).is_err());
        for changed in [
            SignedHead {
                size: 701,
                ..head.clone()
            },
            SignedHead {
                root: [3; 32],
                ..head.clone()
            },
            SignedHead {
                time: 6,
                ..head.clone()
            },
        ] {
            assert!(changed.verify("audit", &[1; 16], &key).is_err());
        }
        std::fs::write(&path, b"{").unwrap();
        let err = SignedHead::read(&path).unwrap_err().to_string();
        assert!(err.contains(HEAD_FILE), "{err}");
        assert_eq!(SignedHead::read(&dir.path().join("none")).unwrap(), None);
    }
}
