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
//! [`receipts`] walks the chain through a block's records. Because the
//! columns come first, a block decompressed only up to [`prefix_len`] holds
//! every record up to the one wanted ([`Extent::Prefix`]).

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

/// Bytes a block of `count` records gives its columns, before the records'
/// bytes.
pub fn columns_len(count: u32) -> usize {
    4 + count as usize * (8 + 1 + 4)
}

/// Bytes from a block's start to the end of its record at index `last`,
/// as the lengths in `raw` (the block's first [`columns_len`] bytes at
/// least) declare them.
pub fn prefix_len(raw: &[u8], count: u32, last: usize) -> usize {
    let lens_at = 4 + count as usize * (8 + 1);
    (0..=last).fold(columns_len(count), |end, i| {
        end.saturating_add(u32_at(raw, lens_at + i * 4) as usize)
    })
}

/// How much of a block a decompressed buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// All of it: every record, and nothing after the last.
    Whole,
    /// Its start: the columns, then the records up to the first one cut
    /// short (which, with those after it, gets no span).
    Prefix,
}

/// Where each of the `count` records from `first_seq` on lies in `raw`,
/// a decompressed block or (by `extent`) its start.
///
/// # Errors
/// What is structurally wrong, for the caller to attach file and offset to.
pub fn spans(raw: &[u8], first_seq: u64, count: u32, extent: Extent) -> Result<Vec<Span>, String> {
    let n = count as usize;
    let columns = columns_len(count);
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
        if extent == Extent::Prefix && pos.saturating_add(len) > raw.len() {
            break;
        }
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
    match extent {
        Extent::Whole if pos != raw.len() => {
            return Err(format!("{} bytes after the last record", raw.len() - pos));
        }
        Extent::Whole => {}
        Extent::Prefix => out.shrink_to_fit(),
    }
    Ok(out)
}

/// A decompressed block whose bytes hash to the chain, kept as its bytes
/// once with where each record lies: what the block cache holds, so that
/// caching a block costs one allocation, not one per record. It may hold
/// only the block's first records ([`Extent::Prefix`]);
/// [`DecodedBlock::holds`] tells whether a seq is among them.
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

    /// Whether the record at `seq` is among those decoded.
    pub fn holds(&self, seq: u64) -> bool {
        self.position(seq).is_some_and(|i| i < self.spans.len())
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
    Ok(spans(raw, first_seq, count, Extent::Whole)?
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
        let spans = spans(&raw, 10, 3, Extent::Whole).unwrap();
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

    #[test]
    fn a_prefix_holds_the_records_it_covers_whole() {
        let bodies: [&[u8]; 4] = [b"first", b"second one", b"third", b"the fourth"];
        let records: Vec<RecordRef<'_>> = (0..4)
            .map(|i| RecordRef {
                seq: 20 + i as u64,
                ingest_time: i as i64,
                body: BodyRef::Stored(bodies[i]),
            })
            .collect();
        let mut builder = BlockBuilder::default();
        for r in &records {
            builder.push(r);
        }
        let raw = builder.take();
        assert_eq!(prefix_len(&raw, 4, 0), columns_len(4) + 5);
        assert_eq!(prefix_len(&raw, 4, 3), raw.len());
        // Cut in the middle of the third record: two whole ones.
        let cut = &raw[..prefix_len(&raw, 4, 1) + 1];
        let prefix = spans(cut, 20, 4, Extent::Prefix).unwrap();
        assert_eq!(prefix.len(), 2);
        assert!(spans(cut, 20, 4, Extent::Whole).is_err());
        assert!(spans(&raw[..columns_len(4) - 1], 20, 4, Extent::Prefix).is_err());
        let prev = [9u8; 32];
        let expected: Vec<Receipt> = receipts(prev, records.iter().copied())
            .map(|(_, receipt)| receipt)
            .collect();
        let block = DecodedBlock::new(cut.to_vec(), prefix, prev, None);
        assert!(block.holds(20) && block.holds(21));
        assert!(!block.holds(19) && !block.holds(22) && !block.holds(23));
        assert_eq!(block.record(21), Some(records[1]));
        assert_eq!(block.get(21), Some((records[1], &expected[1])));
        assert!(block.record(22).is_none() && block.get(22).is_none());
    }
}
