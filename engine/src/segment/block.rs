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
//!
//! Decoding finds each record's [`Span`] in the decompressed bytes; a
//! [`DecodedBlock`] keeps those bytes once with the spans and receipts (the
//! block cache's form), and [`decode`] borrows the records out of them.

use crate::format::{i64_at, u32_at};
use crate::record::{BodyRef, Receipt, RecordRef};

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

/// Where one record lies in a decompressed block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The record's seq.
    pub seq: u64,
    /// Its ingest time.
    pub ingest_time: i64,
    /// Its `kind` (record.rs), already checked against its length.
    pub kind: u8,
    /// Offset of its bytes in the block.
    pub at: u32,
    /// Their length.
    pub len: u32,
}

impl Span {
    /// The record, read from `raw`, the block this span was found in.
    pub fn record<'a>(&self, raw: &'a [u8]) -> RecordRef<'a> {
        let bytes = &raw[self.at as usize..(self.at + self.len) as usize];
        RecordRef {
            seq: self.seq,
            ingest_time: self.ingest_time,
            body: BodyRef::from_kind(self.kind, bytes, self.seq)
                .expect("spans() checked the kind and the length"),
        }
    }
}

/// Where each of the `count` records from `first_seq` on lies in `raw`,
/// a decompressed block.
///
/// # Errors
/// What is structurally wrong, for the caller to attach file and offset to.
pub fn spans(raw: &[u8], first_seq: u64, count: u32) -> Result<Vec<Span>, String> {
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
        let kind = raw[kinds_at + i];
        BodyRef::from_kind(kind, bytes, seq)?;
        out.push(Span {
            seq,
            ingest_time: i64_at(raw, 4 + i * 8),
            kind,
            at: pos as u32,
            len: len as u32,
        });
        pos += len;
    }
    if pos != raw.len() {
        return Err(format!("{} bytes after the last record", raw.len() - pos));
    }
    Ok(out)
}

/// A decompressed block whose chain was checked, kept as its bytes once
/// with where each record lies and its receipt: what the block cache holds,
/// so that caching a block costs one allocation, not one per record.
#[derive(Debug)]
pub struct DecodedBlock {
    raw: Vec<u8>,
    records: Vec<(Span, Receipt)>,
}

impl DecodedBlock {
    /// A block's bytes and its records' spans and receipts, for consecutive
    /// seqs in order ([`DecodedBlock::get`] finds a seq by its distance
    /// from the first).
    pub fn new(raw: Vec<u8>, records: Vec<(Span, Receipt)>) -> DecodedBlock {
        DecodedBlock { raw, records }
    }

    /// The record at `seq` and its receipt, if this block holds it.
    pub fn get(&self, seq: u64) -> Option<(RecordRef<'_>, &Receipt)> {
        let first = self.records.first()?.0.seq;
        let (span, receipt) = self
            .records
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        Some((span.record(&self.raw), receipt))
    }

    /// Bytes held in memory.
    pub fn weight(&self) -> u64 {
        (self.raw.capacity() + self.records.capacity() * std::mem::size_of::<(Span, Receipt)>())
            as u64
    }
}

/// Decodes a block holding `count` records from `first_seq` on.
///
/// # Errors
/// As [`spans`].
pub fn decode(raw: &[u8], first_seq: u64, count: u32) -> Result<Vec<RecordRef<'_>>, String> {
    Ok(spans(raw, first_seq, count)?
        .iter()
        .map(|span| span.record(raw))
        .collect())
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
        let spans = spans(&raw, 10, 3).unwrap();
        let receipts: Vec<Receipt> = records
            .iter()
            .map(|r| Receipt {
                seq: r.seq,
                leaf_hash: [r.seq as u8; 32],
                chain_hash: [0; 32],
            })
            .collect();
        let decoded = DecodedBlock::new(raw.clone(), spans.into_iter().zip(receipts).collect());
        for r in &records {
            let (got, receipt) = decoded.get(r.seq).unwrap();
            assert_eq!((got, receipt.seq), (*r, r.seq));
        }
        assert!(decoded.get(9).is_none() && decoded.get(13).is_none());
        assert!(decoded.weight() >= raw.len() as u64);
        let mut long = raw.clone();
        long.push(0);
        assert!(
            decode(&long, 10, 3)
                .unwrap_err()
                .contains("after the last record")
        );
    }
}
