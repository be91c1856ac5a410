//! The cursor: an opaque string that continues a query where its last page
//! ended.
//!
//! It holds the (time, seq) of the last result returned, the snapshot seq
//! the first page was computed against, and a fingerprint of the query.
//! Every page of a walk sees the same records (those below the snapshot), and
//! each page starts strictly after the previous one's last result, so a walk
//! returns every matching record exactly once even while appends go on.
//!
//! Layout (38 bytes, then lowercase hex): version `1`, order (0 newest first,
//! 1 oldest first), time i64, seq u64, snapshot u64, fingerprint u64, CRC-32
//! of the preceding 34 bytes; integers little-endian.

use sha2::{Digest, Sha256};

use super::{Order, Query};
use crate::error::{Error, Result};

const VERSION: u8 = 1;
const LEN: usize = 38;

/// A decoded cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Order of the walk.
    pub order: Order,
    /// Key (time, seq) of the last result returned.
    pub after: (i64, u64),
    /// Seq below which the walk sees records.
    pub snapshot: u64,
    /// Fingerprint of the query that made it.
    pub fingerprint: u64,
}

impl Cursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.push(VERSION);
        bytes.push(match self.order {
            Order::NewestFirst => 0,
            Order::OldestFirst => 1,
        });
        bytes.extend_from_slice(&self.after.0.to_le_bytes());
        bytes.extend_from_slice(&self.after.1.to_le_bytes());
        bytes.extend_from_slice(&self.snapshot.to_le_bytes());
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        hex::encode(bytes)
    }

    /// Decodes `text` and checks that it belongs to `query`.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] for `cursor`: not one of ours, damaged, or made
    /// by a different query.
    pub fn decode(text: &str, query: &Query) -> Result<Cursor> {
        let bad = |reason: &str| Error::query("cursor", reason);
        let bytes = hex::decode(text.trim())
            .map_err(|_| bad("is not a cursor returned by this server (not hex)"))?;
        if bytes.len() != LEN {
            return Err(bad(&format!(
                "is {} bytes long, a cursor is {LEN}; pass next_cursor unchanged",
                bytes.len()
            )));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[34..38].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[..34]) != crc {
            return Err(bad(
                "is damaged (checksum mismatch); pass next_cursor unchanged",
            ));
        }
        if bytes[0] != VERSION {
            return Err(bad(&format!(
                "has version {}, expected {VERSION}",
                bytes[0]
            )));
        }
        let order = match bytes[1] {
            0 => Order::NewestFirst,
            1 => Order::OldestFirst,
            other => return Err(bad(&format!("has an unknown order {other}"))),
        };
        let cursor = Cursor {
            order,
            after: (u64_at(2) as i64, u64_at(10)),
            snapshot: u64_at(18),
            fingerprint: u64_at(26),
        };
        if cursor.fingerprint != fingerprint(query) {
            return Err(bad(
                "was returned for a different query; keep the time range, filters, text and order of the first page",
            ));
        }
        Ok(cursor)
    }
}

/// A hash of everything that defines which records a query returns, in
/// which order (not its limit or cursor).
pub fn fingerprint(query: &Query) -> u64 {
    let mut filters: Vec<(&str, Vec<&str>)> = query
        .filters
        .iter()
        .map(|f| {
            let mut values: Vec<&str> = f.values.iter().map(String::as_str).collect();
            values.sort_unstable();
            (f.field.name(), values)
        })
        .collect();
    filters.sort();
    let canonical = serde_json::json!([query.from, query.to, filters, query.text, query.order]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::ExactField;

    #[test]
    fn round_trips_and_refuses_bad_cursors() {
        let query = Query::default().filter(ExactField::Action, &["git.push"]);
        let cursor = Cursor {
            order: Order::NewestFirst,
            after: (-17, 42),
            snapshot: 1000,
            fingerprint: fingerprint(&query),
        };
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, &query).unwrap(), cursor);
        let other = Query::default().filter(ExactField::Action, &["git.pull"]);
        let err = Cursor::decode(&text, &other).unwrap_err().to_string();
        assert!(err.contains("different query"), "{err}");
        let mut damaged = text.clone().into_bytes();
        damaged[10] = if damaged[10] == b'0' { b'1' } else { b'0' };
        let err = Cursor::decode(std::str::from_utf8(&damaged).unwrap(), &query)
            .unwrap_err()
            .to_string();
        assert!(err.contains("damaged"), "{err}");
        for junk in ["", "zz", "abcd"] {
            let err = Cursor::decode(junk, &query).unwrap_err().to_string();
            assert!(err.starts_with("invalid query cursor"), "{err}");
        }
    }

    #[test]
    fn fingerprint_ignores_limit_and_value_order() {
        let a = Query::default().filter(ExactField::ActorId, &["a", "b"]);
        let mut b = Query::default().filter(ExactField::ActorId, &["b", "a"]);
        b.limit = 7;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.order = Order::OldestFirst;
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
