//! The content of a sealed block, laid out column by column so that zstd
//! sees like next to like: all ingest times together (equal within a batch),
//! all kinds, all lengths, then the bodies back to back. Seqs are not stored:
//! they follow from the block index's `first_seq`.
//!
//! ```text
//! Format: block (before compression) = { count: u32
//!   | ingest_time: i64 * count | kind: u8 * count | len: u32 * count
//!   | bytes: the records' bytes, concatenated in seq order }
//! ```
//! `kind` and `bytes` mean what they mean in a record (record.rs).

use crate::format::{i64_at, u32_at};
use crate::record::{BodyRef, RecordRef};

/// Accumulates records into one block.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    ingest: Vec<u8>,
    kinds: Vec<u8>,
    lens: Vec<u8>,
    bytes: Vec<u8>,
}

impl BlockBuilder {
    /// Adds a record; seqs must be consecutive (the caller checks).
    pub fn push(&mut self, record: &RecordRef<'_>) {
        let (kind, bytes) = record.body.kind_and_bytes();
        self.ingest
            .extend_from_slice(&record.ingest_time.to_le_bytes());
        self.kinds.push(kind);
        self.lens
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(bytes);
    }

    /// Records added since the last [`BlockBuilder::take`].
    pub fn count(&self) -> usize {
        self.kinds.len()
    }

    /// Size of the block once taken.
    pub fn encoded_len(&self) -> usize {
        4 + self.ingest.len() + self.kinds.len() + self.lens.len() + self.bytes.len()
    }

    /// The encoded block; the builder is left empty.
    // Format: { count | ingest_time* | kind* | len* | bytes }
    pub fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&(self.count() as u32).to_le_bytes());
        out.extend_from_slice(&self.ingest);
        out.extend_from_slice(&self.kinds);
        out.extend_from_slice(&self.lens);
        out.extend_from_slice(&self.bytes);
        self.ingest.clear();
        self.kinds.clear();
        self.lens.clear();
        self.bytes.clear();
        out
    }
}

/// Decodes a block holding `count` records from `first_seq` on.
///
/// # Errors
/// What is structurally wrong, for the caller to attach file and offset to.
pub fn decode(raw: &[u8], first_seq: u64, count: u32) -> Result<Vec<RecordRef<'_>>, String> {
    let n = count as usize;
    let columns = 4 + n * (8 + 1 + 4);
    if raw.len() < columns {
        return Err(format!(
            "{} bytes cannot hold the columns of {n} records",
            raw.len()
        ));
    }
    if u32_at(raw, 0) != count {
        return Err(format!(
            "block holds {} records, the index says {count}",
            u32_at(raw, 0)
        ));
    }
    let kinds_at = 4 + n * 8;
    let lens_at = kinds_at + n;
    let mut pos = columns;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let seq = first_seq + i as u64;
        let len = u32_at(raw, lens_at + i * 4) as usize;
        let bytes = pos
            .checked_add(len)
            .and_then(|end| raw.get(pos..end))
            .ok_or_else(|| {
                format!("record at seq {seq} declares {len} bytes past the block's end")
            })?;
        pos += len;
        out.push(RecordRef {
            seq,
            ingest_time: i64_at(raw, 4 + i * 8),
            body: BodyRef::from_kind(raw[kinds_at + i], bytes, seq)?,
        });
    }
    if pos != raw.len() {
        return Err(format!("{} bytes after the last record", raw.len() - pos));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let digest = [7u8; 32];
        let records = [
            RecordRef {
                seq: 10,
                ingest_time: 5,
                body: BodyRef::Stored(b"first"),
            },
            RecordRef {
                seq: 11,
                ingest_time: 5,
                body: BodyRef::Redacted(&digest),
            },
            RecordRef {
                seq: 12,
                ingest_time: -2,
                body: BodyRef::Stored(b""),
            },
        ];
        let mut builder = BlockBuilder::default();
        for r in &records {
            builder.push(r);
        }
        assert_eq!(builder.count(), 3);
        let raw = builder.take();
        assert_eq!(builder.count(), 0);
        assert_eq!(decode(&raw, 10, 3).unwrap(), records);
        assert!(decode(&raw, 10, 2).is_err());
        assert!(decode(&raw[..raw.len() - 1], 10, 3).is_err());
        let mut bad_kind = raw.clone();
        bad_kind[4 + 3 * 8] = 9;
        assert!(decode(&bad_kind, 10, 3).unwrap_err().contains("kind 9"));
        let mut long = raw.clone();
        long.push(0);
        assert!(
            decode(&long, 10, 3)
                .unwrap_err()
                .contains("after the last record")
        );
    }
}
