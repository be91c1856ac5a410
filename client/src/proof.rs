//! Merkle proofs on the client's side (`docs/proofs.md`), trusting only a
//! pinned public key and SHA-256: a record's inclusion in a signed tree,
//! a saved checkpoint's consistency with the current one, and
//! [`RecordProof`], a self-contained proof of one record that is checked
//! offline, with no server.
//!
//! A checkpoint is the C2SP signed note of `<origin>/<log>`, its size and
//! its tree head; the note is signed as `<origin>`, which is how the key
//! name is found. The checks are `stele-chain`'s, the code the server runs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use stele_chain::merkle::{verify_consistency, verify_inclusion};
use stele_chain::note::{self, TreeHead};
use stele_chain::{Hash, body_digest, leaf_hash};
use stele_proto::v1;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::hash32;

/// The format name of [`RecordProof`] files.
pub const RECORD_PROOF_FORMAT: &str = "stele-record-proof/1";

/// Opens a C2SP checkpoint of `log` with the pinned key `public`: the tree
/// head it signs.
///
/// # Errors
/// [`Error::Verification`] when the note is malformed, not signed by that
/// key, or about another log.
pub fn open_checkpoint(checkpoint: &str, log: &str, public: &[u8; 32]) -> Result<TreeHead> {
    let fail = |what: String| Error::Verification(format!("checkpoint: {what}"));
    let key = ed25519_dalek::VerifyingKey::from_bytes(public)
        .map_err(|e| fail(format!("the pinned key: {e}")))?;
    let origin = checkpoint.lines().next().unwrap_or_default();
    let (server, named) = origin
        .rsplit_once('/')
        .ok_or_else(|| fail(format!("origin `{origin}` is not <server>/<log>")))?;
    if named != log {
        return Err(fail(format!("it is about log `{named}`, not `{log}`")));
    }
    let text = note::open(checkpoint, server, &key).map_err(|e| fail(e.to_string()))?;
    TreeHead::parse(text).map_err(|e| fail(e.to_string()))
}

/// One record, its inclusion proof and the signed checkpoint it leads to:
/// everything needed to show, with no server, that the record is in the
/// log the server signed. `stele proof` writes it as JSON; `stele
/// verify-proof` checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    /// [`RECORD_PROOF_FORMAT`].
    pub format: String,
    /// The log.
    pub log: String,
    /// The record's seq.
    pub seq: u64,
    /// Its ingest time, ns since the epoch (part of the leaf hash).
    pub ingest_time_ns: i64,
    /// The stored body bytes (docs/format.md, "Event body"), base64;
    /// absent once erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The event as the server decoded the body, for reading: the check
    /// covers `body`, not this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
    /// SHA-256 of the body, hex (what erasure keeps).
    pub body_digest: String,
    /// The tree the record is proved in.
    pub tree_size: u64,
    /// The audit path, leaf side first, hex.
    pub hashes: Vec<String>,
    /// The C2SP signed checkpoint of `tree_size`.
    pub checkpoint: String,
}

fn unhex(field: &str, text: &str) -> Result<Hash> {
    hex::decode(text)
        .ok()
        .and_then(|b| Hash::try_from(b).ok())
        .ok_or_else(|| Error::Verification(format!("{field}: not 64 hex digits")))
}

impl RecordProof {
    /// Checks the proof against the pinned key: the body hashes to the
    /// digest, the leaf is made of seq, ingest time and digest, the path
    /// leads to the tree head, and the checkpoint is signed by the key and
    /// is about this log and size. Returns the tree head.
    ///
    /// # Errors
    /// [`Error::Verification`] naming what does not hold.
    pub fn verify(&self, public: &[u8; 32]) -> Result<TreeHead> {
        let fail = |what: String| Error::Verification(what);
        if self.format != RECORD_PROOF_FORMAT {
            return Err(fail(format!(
                "format `{}` is not {RECORD_PROOF_FORMAT}",
                self.format
            )));
        }
        let digest = unhex("body_digest", &self.body_digest)?;
        if let Some(body) = &self.body {
            let bytes = STANDARD
                .decode(body)
                .map_err(|e| fail(format!("body: not base64: {e}")))?;
            if body_digest(&bytes) != digest {
                return Err(fail("the body does not hash to body_digest".into()));
            }
        }
        let head = open_checkpoint(&self.checkpoint, &self.log, public)?;
        if head.size != self.tree_size {
            return Err(fail(format!(
                "the checkpoint is of {} records, the proof of {}",
                head.size, self.tree_size
            )));
        }
        let path = self
            .hashes
            .iter()
            .enumerate()
            .map(|(i, h)| unhex(&format!("hashes[{i}]"), h))
            .collect::<Result<Vec<_>>>()?;
        let leaf = leaf_hash(self.seq, self.ingest_time_ns, &digest);
        verify_inclusion(self.seq, self.tree_size, &leaf, &path, &head.root).map_err(|e| {
            fail(format!(
                "record {} is not in the signed tree of {} records: {e}",
                self.seq, self.tree_size
            ))
        })?;
        Ok(head)
    }
}

impl Client {
    /// The inclusion proof of record `seq` of `log` in the tree of
    /// `tree_size` records (0: the current size), as the server sends it.
    ///
    /// # Errors
    /// The server's status.
    pub async fn inclusion_proof(
        &self,
        log: &str,
        seq: u64,
        tree_size: u64,
    ) -> Result<v1::InclusionProof> {
        Ok(self
            .stele_rpc()
            .get_inclusion_proof(v1::GetInclusionProofRequest {
                log: log.to_string(),
                seq,
                tree_size,
            })
            .await?
            .into_inner())
    }

    /// A self-contained proof of record `seq` of `log` in its current tree,
    /// not yet checked (check it with [`RecordProof::verify`]).
    ///
    /// # Errors
    /// The server's status; [`Error::Protocol`] for a malformed answer.
    pub async fn record_proof(&self, log: &str, seq: u64) -> Result<RecordProof> {
        let (record, _) = self.get_record(log, seq, true).await?;
        let proof = self.inclusion_proof(log, seq, 0).await?;
        let body = (!record.redacted).then(|| STANDARD.encode(&record.body));
        let event = record
            .event
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(RecordProof {
            format: RECORD_PROOF_FORMAT.into(),
            log: log.to_string(),
            seq,
            ingest_time_ns: record.ingest_time.timestamp_nanos_opt().unwrap_or_default(),
            body,
            event,
            body_digest: hex::encode(record.body_digest),
            tree_size: proof.tree_size,
            hashes: proof.hashes.iter().map(hex::encode).collect(),
            checkpoint: proof.checkpoint,
        })
    }

    /// Checks that record `seq` of `log` is in the log the server signs
    /// now: its stored bytes hash to the leaf, the path leads to the signed
    /// tree head, and `public` signed it. Returns the tree head.
    ///
    /// # Errors
    /// [`Error::Verification`] naming what does not hold; the server's
    /// status.
    pub async fn verify_inclusion(
        &self,
        log: &str,
        seq: u64,
        public: &[u8; 32],
    ) -> Result<TreeHead> {
        self.record_proof(log, seq).await?.verify(public)
    }

    /// The C2SP checkpoint of `log` as it is now, checked against the
    /// pinned key: the note (to keep) and the tree head it signs.
    ///
    /// # Errors
    /// [`Error::Verification`] when `public` did not sign it; the server's
    /// status.
    pub async fn signed_tree_head(
        &self,
        log: &str,
        public: &[u8; 32],
    ) -> Result<(String, TreeHead)> {
        let answer = self
            .stele_rpc()
            .get_consistency_proof(v1::GetConsistencyProofRequest {
                log: log.to_string(),
                old_size: 0,
                new_size: 0,
            })
            .await?
            .into_inner();
        let head = open_checkpoint(&answer.checkpoint, log, public)?;
        Ok((answer.checkpoint, head))
    }

    /// Checks that `log` now extends the log that `saved` (a C2SP
    /// checkpoint kept earlier) signed, with nothing changed or removed;
    /// returns the current checkpoint, to keep for the next check.
    ///
    /// # Errors
    /// [`Error::Verification`] naming what does not hold; the server's
    /// status.
    pub async fn verify_since(&self, log: &str, saved: &str, public: &[u8; 32]) -> Result<String> {
        let old = open_checkpoint(saved, log, public)?;
        let proof = self
            .stele_rpc()
            .get_consistency_proof(v1::GetConsistencyProofRequest {
                log: log.to_string(),
                old_size: old.size,
                new_size: 0,
            })
            .await?
            .into_inner();
        let new = open_checkpoint(&proof.checkpoint, log, public)?;
        let hashes = proof
            .hashes
            .iter()
            .enumerate()
            .map(|(i, h)| hash32(&format!("hashes[{i}]"), h))
            .collect::<Result<Vec<_>>>()?;
        verify_consistency(old.size, new.size, &old.root, &new.root, &hashes).map_err(|e| {
            Error::Verification(format!(
                "the log of {} records does not extend the saved one of {}: {e}",
                new.size, old.size
            ))
        })?;
        Ok(proof.checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_proof_is_checked_offline() {
        use ed25519_dalek::SigningKey;
        use stele_chain::merkle::{inclusion_proof, root_of};
        let key = SigningKey::from_bytes(&[3; 32]);
        let bodies: Vec<String> = (0..5).map(|i| format!("{{\"action\":\"a{i}\"}}")).collect();
        let leaves: Vec<Hash> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| leaf_hash(i as u64, 100 + i as i64, &body_digest(b.as_bytes())))
            .collect();
        let root = root_of(&leaves);
        let path = inclusion_proof(3, 5, |r: std::ops::Range<u64>| {
            Ok::<_, stele_chain::merkle::ProofError>(root_of(
                &leaves[r.start as usize..r.end as usize],
            ))
        })
        .unwrap();
        let head = TreeHead {
            origin: "stele.test/audit".into(),
            size: 5,
            root,
        };
        let checkpoint = note::sign(&head.text().unwrap(), "stele.test", &key).unwrap();
        let proof = RecordProof {
            format: RECORD_PROOF_FORMAT.into(),
            log: "audit".into(),
            seq: 3,
            ingest_time_ns: 103,
            body: Some(STANDARD.encode(&bodies[3])),
            event: None,
            body_digest: hex::encode(body_digest(bodies[3].as_bytes())),
            tree_size: 5,
            hashes: path.iter().map(hex::encode).collect(),
            checkpoint,
        };
        let public = key.verifying_key().to_bytes();
        assert_eq!(proof.verify(&public).unwrap(), head);
        let json = serde_json::to_string(&proof).unwrap();
        assert_eq!(serde_json::from_str::<RecordProof>(&json).unwrap(), proof);
        let tampered = [
            RecordProof {
                body: Some(bodies[2].clone()),
                ..proof.clone()
            },
            RecordProof {
                seq: 2,
                ..proof.clone()
            },
            RecordProof {
                ingest_time_ns: 104,
                ..proof.clone()
            },
            RecordProof {
                log: "other".into(),
                ..proof.clone()
            },
            RecordProof {
                tree_size: 6,
                ..proof.clone()
            },
            RecordProof {
                hashes: proof.hashes[1..].to_vec(),
                ..proof.clone()
            },
        ];
        for bad in tampered {
            assert!(
                matches!(bad.verify(&public), Err(Error::Verification(_))),
                "{bad:?}"
            );
        }
        assert!(
            proof
                .verify(&SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes())
                .is_err()
        );
        // Erased: no body, the digest still proves the record.
        let erased = RecordProof {
            body: None,
            ..proof.clone()
        };
        erased.verify(&public).unwrap();
    }
}
