//! Records: events as stored, with their seq and ingest time; their binary
//! layout inside WAL frames (sealed blocks store the same fields as columns,
//! see `segment::block`); and the borrowed form that recovery, sealing and
//! verification walk without copying bodies.
//!
//! ```text
//! Format: record = { seq: u64 | ingest_time: i64 | kind: u8 | len: u32 | bytes[len] }
//!   kind 0 = body: bytes is the event body (see event::body)
//!   kind 1 = redacted: bytes is the 32-byte SHA-256 digest of the erased body
//! ```

use crate::chain::{self, Hash};
use crate::event::{Event, body};
use crate::format::{i64_at, u32_at, u64_at};

/// Fixed part of an encoded record, before its bytes.
pub const RECORD_HEADER_LEN: usize = 8 + 8 + 1 + 4;

/// `kind` of a record that holds its body.
pub const KIND_BODY: u8 = 0;
/// `kind` of a record that holds only the digest of its erased body.
pub const KIND_REDACTED: u8 = 1;

/// The fixed part of an encoded record, before its `len` bytes.
// Format: { seq: u64 | ingest_time: i64 | kind: u8 | len: u32 }
pub fn record_header(seq: u64, ingest_time: i64, kind: u8, len: usize) -> [u8; RECORD_HEADER_LEN] {
    let mut out = [0u8; RECORD_HEADER_LEN];
    out[0..8].copy_from_slice(&seq.to_le_bytes());
    out[8..16].copy_from_slice(&ingest_time.to_le_bytes());
    out[16] = kind;
    out[17..21].copy_from_slice(&(len as u32).to_le_bytes());
    out
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in its log.
    pub seq: u64,
    /// When the log accepted it, nanoseconds since the Unix epoch.
    pub ingest_time: i64,
    /// The stored body, or only its digest once erased.
    pub body: RecordBody,
}

/// What a record keeps of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordBody {
    /// The encoded event, exactly the bytes the chain hashed.
    Stored(Vec<u8>),
    /// The body was erased; its digest keeps the chain verifiable.
    Redacted(Hash),
}

/// What an append returns for each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The record's seq.
    pub seq: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The chain hash after it.
    pub chain_hash: Hash,
}

impl Record {
    /// The record as a borrowed view.
    pub fn view(&self) -> RecordRef<'_> {
        RecordRef {
            seq: self.seq,
            ingest_time: self.ingest_time,
            body: match &self.body {
                RecordBody::Stored(bytes) => BodyRef::Stored(bytes),
                RecordBody::Redacted(digest) => BodyRef::Redacted(digest),
            },
        }
    }

    /// `SHA-256(body)`, or the kept digest of a redacted record.
    pub fn body_digest(&self) -> Hash {
        self.view().body_digest()
    }

    /// The record's leaf hash, computed from the stored bytes.
    pub fn leaf_hash(&self) -> Hash {
        self.view().leaf_hash()
    }

    /// The decoded event, or `None` for a redacted record.
    ///
    /// # Errors
    /// A description of why the stored body does not decode.
    pub fn event(&self) -> Result<Option<Event>, String> {
        match &self.body {
            RecordBody::Stored(bytes) => body::decode(bytes).map(Some),
            RecordBody::Redacted(_) => Ok(None),
        }
    }

    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.view().encode_into(out);
    }

    /// Decodes one record from the start of `buf`; returns it and its length.
    ///
    /// # Errors
    /// A description of the structural problem; the caller adds file and offset.
    pub fn decode(buf: &[u8]) -> Result<(Record, usize), String> {
        RecordRef::decode(buf).map(|(r, used)| (r.to_owned(), used))
    }
}

/// A record borrowed from a decoded buffer: what verification and recovery
/// walk, without copying bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Position in its log.
    pub seq: u64,
    /// When the log accepted it.
    pub ingest_time: i64,
    /// The stored bytes (`kind` 0) or the kept digest (`kind` 1).
    pub body: BodyRef<'a>,
}

/// Borrowed form of [`RecordBody`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRef<'a> {
    /// The encoded event.
    Stored(&'a [u8]),
    /// The digest of an erased body.
    Redacted(&'a Hash),
}

impl<'a> BodyRef<'a> {
    /// The body of the record at `seq` stored as `kind` with `bytes`.
    ///
    /// # Errors
    /// An unknown kind, or a redacted record that does not hold a digest.
    pub fn from_kind(kind: u8, bytes: &'a [u8], seq: u64) -> Result<BodyRef<'a>, String> {
        match kind {
            KIND_BODY => Ok(BodyRef::Stored(bytes)),
            KIND_REDACTED => bytes.try_into().map(BodyRef::Redacted).map_err(|_| {
                format!(
                    "redacted record at seq {seq} holds {} bytes, not a 32-byte digest",
                    bytes.len()
                )
            }),
            other => Err(format!("record at seq {seq} has unknown kind {other}")),
        }
    }

    /// The stored `kind` and `bytes` of this body.
    pub fn kind_and_bytes(&self) -> (u8, &'a [u8]) {
        match *self {
            BodyRef::Stored(bytes) => (KIND_BODY, bytes),
            BodyRef::Redacted(digest) => (KIND_REDACTED, digest.as_slice()),
        }
    }
}

impl<'a> RecordRef<'a> {
    /// Decodes one record from the start of `buf`; returns it and its length.
    ///
    /// # Errors
    /// A description of the structural problem; the caller adds file and offset.
    pub fn decode(buf: &'a [u8]) -> Result<(RecordRef<'a>, usize), String> {
        if buf.len() < RECORD_HEADER_LEN {
            return Err(format!(
                "record header needs {RECORD_HEADER_LEN} bytes, {} left",
                buf.len()
            ));
        }
        let seq = u64_at(buf, 0);
        let ingest_time = i64_at(buf, 8);
        let kind = buf[16];
        let len = u32_at(buf, 17) as usize;
        let end = RECORD_HEADER_LEN
            .checked_add(len)
            .filter(|end| *end <= buf.len())
            .ok_or_else(|| {
                format!(
                    "record at seq {seq} declares {len} body bytes, {} left",
                    buf.len() - RECORD_HEADER_LEN
                )
            })?;
        let body = BodyRef::from_kind(kind, &buf[RECORD_HEADER_LEN..end], seq)?;
        Ok((
            RecordRef {
                seq,
                ingest_time,
                body,
            },
            end,
        ))
    }

    /// `SHA-256(body)`, or the kept digest of a redacted record.
    pub fn body_digest(&self) -> Hash {
        match self.body {
            BodyRef::Stored(bytes) => chain::body_digest(bytes),
            BodyRef::Redacted(digest) => *digest,
        }
    }

    /// The record's leaf hash, computed from the stored bytes.
    pub fn leaf_hash(&self) -> Hash {
        chain::leaf_hash(self.seq, self.ingest_time, &self.body_digest())
    }

    /// Length of the stored body (0 once redacted).
    pub fn body_len(&self) -> usize {
        match self.body {
            BodyRef::Stored(bytes) => bytes.len(),
            BodyRef::Redacted(_) => 0,
        }
    }

    /// The event time: from the body, or the ingest time once redacted.
    pub fn time(&self) -> i64 {
        match self.body {
            BodyRef::Stored(bytes) => body::time_of(bytes).unwrap_or(self.ingest_time),
            BodyRef::Redacted(_) => self.ingest_time,
        }
    }

    /// Length of the encoded record.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_LEN
            + match self.body {
                BodyRef::Stored(bytes) => bytes.len(),
                BodyRef::Redacted(digest) => digest.len(),
            }
    }

    /// Appends the encoded record to `out`.
    // Format: { seq: u64 | ingest_time: i64 | kind: u8 | len: u32 | bytes[len] }
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (kind, bytes) = self.body.kind_and_bytes();
        out.extend_from_slice(&record_header(
            self.seq,
            self.ingest_time,
            kind,
            bytes.len(),
        ));
        out.extend_from_slice(bytes);
    }

    /// Copies the record out of its buffer.
    pub fn to_owned(&self) -> Record {
        Record {
            seq: self.seq,
            ingest_time: self.ingest_time,
            body: match self.body {
                BodyRef::Stored(bytes) => RecordBody::Stored(bytes.to_vec()),
                BodyRef::Redacted(digest) => RecordBody::Redacted(*digest),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_both_kinds() {
        let records = [
            Record {
                seq: 3,
                ingest_time: -1,
                body: RecordBody::Stored(b"abc".to_vec()),
            },
            Record {
                seq: 4,
                ingest_time: 9,
                body: RecordBody::Redacted([5; 32]),
            },
        ];
        let mut buf = Vec::new();
        for r in &records {
            r.encode_into(&mut buf);
        }
        let (first, used) = Record::decode(&buf).unwrap();
        assert_eq!(first, records[0]);
        assert_eq!(used, records[0].view().encoded_len());
        let (second, _) = Record::decode(&buf[used..]).unwrap();
        assert_eq!(second, records[1]);
        assert_eq!(second.body_digest(), [5; 32]);
    }

    #[test]
    fn redaction_keeps_the_leaf_hash() {
        let stored = Record {
            seq: 1,
            ingest_time: 2,
            body: RecordBody::Stored(b"body".to_vec()),
        };
        let redacted = Record {
            body: RecordBody::Redacted(stored.body_digest()),
            ..stored.clone()
        };
        assert_eq!(stored.leaf_hash(), redacted.leaf_hash());
    }

    #[test]
    fn rejects_truncation_and_bad_kinds() {
        let mut buf = Vec::new();
        Record {
            seq: 1,
            ingest_time: 2,
            body: RecordBody::Stored(b"body".to_vec()),
        }
        .encode_into(&mut buf);
        assert!(Record::decode(&buf[..buf.len() - 1]).is_err());
        buf[16] = 7;
        assert!(Record::decode(&buf).unwrap_err().contains("kind 7"));
    }
}
