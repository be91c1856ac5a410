//! The anchor of a log whose oldest segments have left local storage: the
//! seq and chain hash where the remaining log starts, and every removal that
//! led there, signed with the data directory's key and kept in the manifest.
//!
//! ```text
//! signed message = "stele/v1/anchor\n" | name_len: u16 | name | log_id: [u8; 16]
//!   | first_seq: u64 | head: [u8; 32] | time: i64 | SHA-256(removals as JSON)
//! ```
//! A verifier starts the chain at `head` before `first_seq` instead of the
//! genesis hash. Without the key nobody can move the anchor or rewrite the
//! list of removals, so a segment removed by hand (no anchor past it) is
//! reported as missing, never mistaken for a policy deletion.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Rule;
use crate::chain::Hash;
use crate::checkpoint::Signer;
use crate::error::{Error, Result};

const DOMAIN: &[u8] = b"stele/v1/anchor\n";

/// One segment that left local storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removal {
    /// Its first seq.
    pub first_seq: u64,
    /// Seq after its last record.
    pub next_seq: u64,
    /// Chain hash after its last record.
    #[serde(with = "crate::serde_hex")]
    pub last_chain_hash: Hash,
    /// Ingest time of its oldest record.
    pub min_ingest: i64,
    /// Ingest time of its newest record.
    pub max_ingest: i64,
    /// Size of its file.
    pub bytes: u64,
    /// The policy rule that removed it.
    pub rule: Rule,
    /// Where its archived copy is, when it was archived first.
    pub archived: Option<String>,
    /// When it was removed, nanoseconds since the Unix epoch.
    pub time: i64,
}

/// Where the remaining log starts, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Seq of the first record still stored locally.
    pub first_seq: u64,
    /// Chain hash after seq `first_seq - 1`.
    #[serde(with = "crate::serde_hex")]
    pub head: Hash,
    /// Every removal so far, oldest first.
    pub removals: Vec<Removal>,
    /// When it was signed, nanoseconds since the Unix epoch.
    pub time: i64,
    /// The key that signed it.
    #[serde(with = "crate::serde_hex")]
    pub public_key: [u8; 32],
    /// ed25519 signature over [`Anchor::message`].
    #[serde(with = "crate::serde_hex")]
    pub signature: [u8; 64],
}

impl Anchor {
    /// A signed anchor of log `log` (`log_id`): the local log starts at
    /// `first_seq`, after chain hash `head`, once `removals` happened.
    pub fn sign(
        signer: &Signer,
        (log, log_id): (&str, [u8; 16]),
        (first_seq, head): (u64, Hash),
        removals: Vec<Removal>,
        time: i64,
    ) -> Anchor {
        let mut anchor = Anchor {
            first_seq,
            head,
            removals,
            time,
            public_key: signer.public_key().to_bytes(),
            signature: [0; 64],
        };
        anchor.signature = signer.sign_message(&anchor.message(log, &log_id));
        anchor
    }

    /// The exact bytes that are signed.
    pub fn message(&self, log: &str, log_id: &[u8; 16]) -> Vec<u8> {
        let removals = serde_json::to_vec(&self.removals).expect("removals always serialise");
        let mut m = Vec::with_capacity(DOMAIN.len() + 2 + log.len() + 120);
        m.extend_from_slice(DOMAIN);
        m.extend_from_slice(&(log.len() as u16).to_le_bytes());
        m.extend_from_slice(log.as_bytes());
        m.extend_from_slice(log_id);
        m.extend_from_slice(&self.first_seq.to_le_bytes());
        m.extend_from_slice(&self.head);
        m.extend_from_slice(&self.time.to_le_bytes());
        m.extend_from_slice(&Sha256::digest(&removals));
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
        .map_err(|e| Error::BadCheckpoint(format!("anchor: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removal(first: u64, next: u64) -> Removal {
        Removal {
            first_seq: first,
            next_seq: next,
            last_chain_hash: [next as u8; 32],
            min_ingest: 1,
            max_ingest: 2,
            bytes: 100,
            rule: Rule::MaxAge,
            archived: None,
            time: 3,
        }
    }

    #[test]
    fn anchors_verify_and_any_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let key = signer.public_key().to_bytes();
        let anchor = Anchor::sign(
            &signer,
            ("audit", [7; 16]),
            (25, [25; 32]),
            vec![removal(0, 10), removal(10, 25)],
            9,
        );
        assert_eq!(anchor.first_seq, 25);
        anchor.verify("audit", &[7; 16], &key).unwrap();
        assert!(anchor.verify("other", &[7; 16], &key).is_err());

        let mut moved = anchor.clone();
        moved.first_seq = 10;
        moved.head = [10; 32];
        assert!(moved.verify("audit", &[7; 16], &key).is_err());
        let mut rewritten = anchor.clone();
        rewritten.removals[0].rule = Rule::MaxBytes;
        assert!(rewritten.verify("audit", &[7; 16], &key).is_err());
        let json = serde_json::to_string(&anchor).unwrap();
        let back: Anchor = serde_json::from_str(&json).unwrap();
        back.verify("audit", &[7; 16], &key).unwrap();
    }
}
