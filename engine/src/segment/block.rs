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
//! block cache's form), and [`decode`] borrows the records out of them;
//! [`receipts`] walks the chain through a block's records.

use std::sync::OnceLock;

use crate::chain::{self, Hash};
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

/// A decompressed block whose bytes hash to the chain, kept as its bytes
/// once with where each record lies: what the block cache holds, so that
/// caching a block costs one allocation, not one per record.
///
/// Its records' receipts are computed when the chain is checked; a block
/// whose compressed bytes matched ones checked before skips that check
/// ([`super::SealedSegment::decoded_block`]), and computes its receipts when
/// first asked for one (a search asks for none).
#[derive(Debug)]
pub struct DecodedBlock {
    raw: Vec<u8>,
    spans: Vec<Span>,
    /// Chain hash before the first record.
    prev_chain_hash: Hash,
    receipts: OnceLock<Vec<Receipt>>,
}

impl DecodedBlock {
    /// A block's bytes and its records' spans, for consecutive seqs in order
    /// ([`DecodedBlock::get`] finds a seq by its distance from the first),
    /// after chain hash `prev_chain_hash`, with `receipts` if they are known.
    pub fn new(
        raw: Vec<u8>,
        spans: Vec<Span>,
        prev_chain_hash: Hash,
        receipts: Option<Vec<Receipt>>,
    ) -> DecodedBlock {
        DecodedBlock {
            raw,
            spans,
            prev_chain_hash,
            receipts: receipts.map_or_else(OnceLock::new, OnceLock::from),
        }
    }

    /// The record at `seq`, if this block holds it.
    pub fn record(&self, seq: u64) -> Option<RecordRef<'_>> {
        Some(self.spans.get(self.position(seq)?)?.record(&self.raw))
    }

    /// The record at `seq` and its receipt, if this block holds it.
    pub fn get(&self, seq: u64) -> Option<(RecordRef<'_>, &Receipt)> {
        let i = self.position(seq)?;
        let span = self.spans.get(i)?;
        let receipts = self.receipts.get_or_init(|| {
            receipts(
                self.prev_chain_hash,
                self.spans.iter().map(|s| s.record(&self.raw)),
            )
            .map(|(_, receipt)| receipt)
            .collect()
        });
        Some((span.record(&self.raw), &receipts[i]))
    }

    /// Whether its receipts are computed (tests tell the two reads apart).
    #[cfg(test)]
    pub(crate) fn has_receipts(&self) -> bool {
        self.receipts.get().is_some()
    }

    fn position(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.spans.first()?.seq)?).ok()
    }

    /// Bytes held in memory (counting the receipts, held or to come).
    pub fn weight(&self) -> u64 {
        (self.raw.capacity()
            + self.spans.capacity()
                * (std::mem::size_of::<Span>() + std::mem::size_of::<Receipt>())) as u64
    }
}

/// Each of `records` (consecutive, in seq order) with its receipt, the
/// chain continuing from `prev_chain_hash`.
pub fn receipts<'a>(
    prev_chain_hash: Hash,
    records: impl Iterator<Item = RecordRef<'a>>,
) -> impl Iterator<Item = (RecordRef<'a>, Receipt)> {
    records.scan(prev_chain_hash, |prev, record| {
        let leaf_hash = record.leaf_hash();
        let chain_hash = chain::link(prev, &leaf_hash);
        *prev = chain_hash;
        Some((
            record,
            Receipt {
                seq: record.seq,
                leaf_hash,
                chain_hash,
            },
        ))
    })
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
        let prev = [3u8; 32];
        let expected: Vec<Receipt> = receipts(prev, records.iter().copied())
            .map(|(_, receipt)| receipt)
            .collect();
        assert_eq!(expected[0].leaf_hash, records[0].leaf_hash());
        assert_eq!(
            expected[0].chain_hash,
            chain::link(&prev, &expected[0].leaf_hash)
        );
        assert_eq!(
            expected[2].chain_hash,
            chain::link(&expected[1].chain_hash, &records[2].leaf_hash())
        );
        // Receipts given, and receipts computed when first asked for.
        let given = DecodedBlock::new(raw.clone(), spans.clone(), prev, Some(expected.clone()));
        let lazy = DecodedBlock::new(raw.clone(), spans, prev, None);
        for decoded in [&given, &lazy] {
            for (r, receipt) in records.iter().zip(&expected) {
                assert_eq!(decoded.record(r.seq), Some(*r));
                assert_eq!(decoded.get(r.seq), Some((*r, receipt)));
            }
            assert!(decoded.get(9).is_none() && decoded.get(13).is_none());
            assert!(decoded.record(9).is_none() && decoded.record(13).is_none());
        }
        let decoded = lazy;
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
