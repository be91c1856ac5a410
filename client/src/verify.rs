//! Checking evidence on the client's side, trusting only a pinned public
//! key and SHA-256:
//! - a checkpoint's signature against the pinned key;
//! - the chain from a receipt (or from seq 0, or any seq) up to a
//!   checkpoint, recomputed from the stored bytes the server sends.
//!
//! The hash definitions are `stele-chain`'s, the same code the server runs.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use stele_chain::{Hash, body_digest, checkpoint_message, genesis, leaf_hash, link};
use stele_proto::v1;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::{Receipt, Record, hash32};
use crate::retry::Retry;
use crate::subscribe::{Item, Start, SubscribeOptions};

/// "Log `log` has `size` records and chain head `head` at `time`", as
/// signed by the server. Check it with [`Checkpoint::verify_signature`]
/// before relying on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub log: String,
    /// The log's id.
    pub log_id: [u8; 16],
    /// Records covered: seqs `0..size`.
    pub size: u64,
    /// Chain hash after seq `size - 1` (the genesis hash when empty).
    pub head: Hash,
    /// When it was signed.
    pub time: DateTime<Utc>,
    /// The key that signed it.
    pub public_key: [u8; 32],
    /// ed25519 signature.
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// From the wire form.
    ///
    /// # Errors
    /// [`Error::Protocol`] naming a field of the wrong length.
    pub fn from_proto(c: v1::Checkpoint) -> Result<Checkpoint> {
        let length =
            |field: &str, n: usize| Error::Protocol(format!("checkpoint.{field} is {n} bytes"));
        Ok(Checkpoint {
            log_id: c
                .log_id
                .as_slice()
                .try_into()
                .map_err(|_| length("log_id", c.log_id.len()))?,
            head: hash32("checkpoint.head", &c.head)?,
            public_key: hash32("checkpoint.public_key", &c.public_key)?,
            signature: c
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| length("signature", c.signature.len()))?,
            log: c.log,
            size: c.size,
            time: DateTime::from_timestamp_nanos(c.time_ns),
        })
    }

    /// Checks that `trusted` signed this checkpoint.
    ///
    /// # Errors
    /// [`Error::Verification`] saying whether another key signed it or the
    /// signature does not verify.
    pub fn verify_signature(&self, trusted: &[u8; 32]) -> Result<()> {
        let time = self
            .time
            .timestamp_nanos_opt()
            .ok_or_else(|| Error::Verification("checkpoint time out of range".into()))?;
        let message = checkpoint_message(&self.log, &self.log_id, self.size, &self.head, time);
        stele_chain::verify_checkpoint_signature(
            &message,
            &self.public_key,
            &self.signature,
            trusted,
        )
        .map_err(|e| Error::Verification(format!("checkpoint of {}: {e}", self.log)))
    }
}

/// What a chain walk checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// First seq whose record was hashed.
    pub from_seq: u64,
    /// Records hashed.
    pub records: u64,
    /// Records whose body was erased: their digest was taken as stored.
    pub redacted: u64,
    /// Body bytes hashed.
    pub body_bytes: u64,
}

impl Client {
    /// A checkpoint of `log`'s current head, not yet checked.
    ///
    /// # Errors
    /// The server's status.
    pub async fn checkpoint(&self, log: &str) -> Result<Checkpoint> {
        let c = self
            .stele_rpc()
            .get_checkpoint(v1::GetCheckpointRequest {
                log: log.to_string(),
            })
            .await?
            .into_inner();
        Checkpoint::from_proto(c)
    }

    /// A checkpoint of `log` whose signature `trusted` made.
    ///
    /// # Errors
    /// The server's status, or [`Error::Verification`].
    pub async fn verified_checkpoint(&self, log: &str, trusted: &[u8; 32]) -> Result<Checkpoint> {
        let checkpoint = self.checkpoint(log).await?;
        checkpoint.verify_signature(trusted)?;
        Ok(checkpoint)
    }

    /// Checks that `receipt` (of `log`) is part of the history `checkpoint`
    /// signs: re-reads the receipt's record and every later one up to the
    /// checkpoint, recomputes leaf and chain hashes from the stored bytes,
    /// and compares the result with the signed head. Check the checkpoint's
    /// signature first.
    ///
    /// # Errors
    /// [`Error::Verification`] naming the seq where the evidence breaks;
    /// the server's status (`DATA_LOSS` for damaged storage).
    pub async fn verify_receipt(
        &self,
        log: &str,
        receipt: &Receipt,
        checkpoint: &Checkpoint,
    ) -> Result<ChainReport> {
        if receipt.seq >= checkpoint.size {
            return Err(Error::Verification(format!(
                "the checkpoint covers seqs below {}, not the receipt's seq {}",
                checkpoint.size, receipt.seq
            )));
        }
        let mut first = true;
        let mut head = receipt.chain_hash;
        let report = self
            .walk(log, receipt.seq, checkpoint.size, |seq, leaf| {
                if first {
                    first = false;
                    if leaf != receipt.leaf_hash {
                        return Err(Error::Verification(format!(
                            "seq {seq}: the stored record does not hash to the receipt's leaf hash"
                        )));
                    }
                } else {
                    head = link(&head, &leaf);
                }
                Ok(())
            }, |_| {})
            .await?;
        compare_head(&head, checkpoint)?;
        Ok(report)
    }

    /// Recomputes `log`'s chain from `from_seq` up to `checkpoint` and
    /// compares it with the signed head. From seq 0 the walk starts at the
    /// genesis hash and trusts nothing the server says; from a later seq it
    /// starts at the chain hash of the server's receipt for `from_seq - 1`.
    /// `progress` gets the number of records hashed so far.
    ///
    /// # Errors
    /// As [`Client::verify_receipt`].
    pub async fn verify_chain(
        &self,
        log: &str,
        from_seq: u64,
        checkpoint: &Checkpoint,
        progress: impl FnMut(u64),
    ) -> Result<ChainReport> {
        let head = match from_seq {
            0 => genesis(&checkpoint.log_id),
            n => self.get_record(log, n - 1, false).await?.1.chain_hash,
        };
        self.verify_chain_after(log, from_seq, head, checkpoint, progress)
            .await
    }

    /// As [`Client::verify_chain`], starting from `head`, the chain hash
    /// before `from_seq`: for a log whose oldest records left under
    /// retention, the `anchor_head` that the server's `Verify` checked
    /// against the log's signed anchor (those records can no longer be
    /// read).
    ///
    /// # Errors
    /// As [`Client::verify_receipt`].
    pub async fn verify_chain_after(
        &self,
        log: &str,
        from_seq: u64,
        mut head: Hash,
        checkpoint: &Checkpoint,
        progress: impl FnMut(u64),
    ) -> Result<ChainReport> {
        let report = self
            .walk(
                log,
                from_seq,
                checkpoint.size,
                |_, leaf| {
                    head = link(&head, &leaf);
                    Ok(())
                },
                progress,
            )
            .await?;
        compare_head(&head, checkpoint)?;
        Ok(report)
    }

    /// Streams the records `from..to` with their bodies, checks each body
    /// against its digest and hands each recomputed leaf hash to `leaf`.
    async fn walk(
        &self,
        log: &str,
        from: u64,
        to: u64,
        mut leaf: impl FnMut(u64, Hash) -> Result<()>,
        mut progress: impl FnMut(u64),
    ) -> Result<ChainReport> {
        let mut report = ChainReport {
            from_seq: from,
            records: 0,
            redacted: 0,
            body_bytes: 0,
        };
        if from >= to {
            return Ok(report);
        }
        let mut options = SubscribeOptions::new(Start::Seq(from));
        options.include_body = true;
        options.retry = Retry {
            give_up_after: Some(std::time::Duration::from_secs(60)),
            ..Retry::FOREVER
        };
        let mut records = self.subscribe(log, options);
        let mut next = from;
        while next < to {
            let Some(item) = records.try_next().await? else {
                return Err(Error::Closed("the subscription ended".into()));
            };
            let Item::Record(record) = item else { continue };
            if record.seq != next {
                return Err(Error::Verification(format!(
                    "seq {next} is missing: the server sent seq {} next",
                    record.seq
                )));
            }
            leaf(next, record_leaf(&record, &mut report)?)?;
            next += 1;
            report.records += 1;
            if report.records.is_multiple_of(1024) {
                progress(report.records);
            }
        }
        progress(report.records);
        Ok(report)
    }
}

/// The leaf hash of `record`, from its stored bytes (or its stored digest
/// once redacted).
fn record_leaf(record: &Record, report: &mut ChainReport) -> Result<Hash> {
    let digest = if record.redacted {
        report.redacted += 1;
        record.body_digest
    } else {
        let digest = body_digest(&record.body);
        if digest != record.body_digest {
            return Err(Error::Verification(format!(
                "seq {}: the body does not hash to its digest",
                record.seq
            )));
        }
        report.body_bytes += record.body.len() as u64;
        digest
    };
    let ingest = record.ingest_time.timestamp_nanos_opt().unwrap_or_default();
    Ok(leaf_hash(record.seq, ingest, &digest))
}

fn compare_head(head: &Hash, checkpoint: &Checkpoint) -> Result<()> {
    if head == &checkpoint.head {
        return Ok(());
    }
    Err(Error::Verification(format!(
        "the chain recomputed up to seq {} ends at {}, the checkpoint signs {}",
        checkpoint.size,
        hex::encode(head),
        hex::encode(checkpoint.head)
    )))
}
