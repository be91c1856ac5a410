//! WAL batch frames.
//!
//! ```text
//! Format: frame = { magic: [u8; 4] = "SBAT" | type: u8 = 1 | reserved: [u8; 3]
//!                   | len: u32 | crc32: u32 | payload[len] }
//!   crc32 = CRC-32 of (frame_salt: u64 from the file header | type | reserved
//!   | len | payload): the salt is random per WAL file, so no byte string a
//!   client can put inside an event is a valid frame of the file
//!   payload = { count: u32 | (record | chain_hash: [u8; 32]) * count }
//! ```
//! A batch is written as one frame with one `write`, so a crash leaves it
//! whole or torn, and a torn frame fails its length or checksum check.

use crate::chain::Hash;
use crate::format::u32_at;
use crate::record::RecordRef;

/// Magic that starts every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"SBAT";
/// Frame type of a batch of records.
pub const FRAME_TYPE_BATCH: u8 = 1;
/// Length of the frame header.
pub const FRAME_HEADER_LEN: usize = 16;
/// Largest payload a frame may declare (a batch is bounded far below this).
pub const MAX_FRAME_PAYLOAD: usize = 1 << 30;
/// Bytes after each record in a frame: its chain hash.
pub const CHAIN_HASH_LEN: usize = 32;

/// Fills in the header of a frame whose payload starts at
/// `buf[FRAME_HEADER_LEN..]`, for a WAL file whose header has `salt`.
// Format: { magic | type | reserved | len | crc32 }
pub fn seal_frame(buf: &mut [u8], salt: u64) {
    let len = (buf.len() - FRAME_HEADER_LEN) as u32;
    buf[0..4].copy_from_slice(&FRAME_MAGIC);
    buf[4] = FRAME_TYPE_BATCH;
    buf[5..8].fill(0);
    buf[8..12].copy_from_slice(&len.to_le_bytes());
    let crc = frame_crc(salt, &buf[4..12], &buf[FRAME_HEADER_LEN..]);
    buf[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn frame_crc(salt: u64, type_and_len: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&salt.to_le_bytes());
    h.update(type_and_len);
    h.update(payload);
    h.finalize()
}

/// Checks the frame that starts at `buf[0]`, in a WAL file whose header has
/// `salt`, and returns its payload.
///
/// # Errors
/// Why the bytes are not a whole, intact frame.
pub fn check_frame(buf: &[u8], salt: u64) -> Result<&[u8], String> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(format!(
            "incomplete frame header: {} of {FRAME_HEADER_LEN} bytes",
            buf.len()
        ));
    }
    if buf[0..4] != FRAME_MAGIC {
        return Err("bad frame magic".into());
    }
    if buf[4] != FRAME_TYPE_BATCH {
        return Err(format!("unknown frame type {}", buf[4]));
    }
    let len = u32_at(buf, 8) as usize;
    if len > MAX_FRAME_PAYLOAD {
        return Err(format!("frame declares {len} bytes, over the maximum"));
    }
    let Some(payload) = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Err(format!(
            "incomplete frame: declares {len} bytes, {} present",
            buf.len() - FRAME_HEADER_LEN
        ));
    };
    if frame_crc(salt, &buf[4..12], payload) != u32_at(buf, 12) {
        return Err("frame checksum mismatch".into());
    }
    Ok(payload)
}

/// One record of a frame, with its position inside the payload.
#[derive(Debug)]
pub struct FrameRecord<'a> {
    /// The record.
    pub record: RecordRef<'a>,
    /// The chain hash stored after it.
    pub chain_hash: Hash,
    /// Offset of the record from the start of the payload.
    pub offset: usize,
    /// Encoded length of the record (without its chain hash).
    pub len: usize,
}

/// Decodes the records of a checked payload.
///
/// # Errors
/// A description and the payload offset where decoding failed.
pub fn decode_payload(payload: &[u8]) -> Result<Vec<FrameRecord<'_>>, (usize, String)> {
    if payload.len() < 4 {
        return Err((0, "payload too short for its record count".into()));
    }
    let count = u32_at(payload, 0) as usize;
    let mut out = Vec::with_capacity(count.min(payload.len() / 53));
    let mut pos = 4;
    for i in 0..count {
        let (record, len) = RecordRef::decode(&payload[pos..]).map_err(|e| (pos, e))?;
        let hash_at = pos + len;
        let chain_hash: Hash = payload
            .get(hash_at..hash_at + CHAIN_HASH_LEN)
            .ok_or_else(|| {
                (
                    hash_at,
                    format!("record {i} of the frame lacks its chain hash"),
                )
            })?
            .try_into()
            .expect("32 bytes");
        out.push(FrameRecord {
            record,
            chain_hash,
            offset: pos,
            len,
        });
        pos = hash_at + CHAIN_HASH_LEN;
    }
    if pos != payload.len() {
        return Err((
            pos,
            format!("{} bytes after the last record", payload.len() - pos),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BodyRef, Record, RecordBody};

    fn frame_of(bodies: &[&[u8]]) -> Vec<u8> {
        let mut buf = vec![0u8; FRAME_HEADER_LEN];
        buf.extend_from_slice(&(bodies.len() as u32).to_le_bytes());
        for (i, b) in bodies.iter().enumerate() {
            Record {
                seq: i as u64,
                ingest_time: 1,
                body: RecordBody::Stored(b.to_vec()),
            }
            .encode_into(&mut buf);
            buf.extend_from_slice(&[i as u8; 32]);
        }
        seal_frame(&mut buf, SALT);
        buf
    }

    const SALT: u64 = 0x5eed;

    #[test]
    fn a_sealed_frame_checks_and_decodes() {
        let frame = frame_of(&[b"one", b"two"]);
        let records = decode_payload(check_frame(&frame, SALT).unwrap()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].record.body, BodyRef::Stored(b"two"));
        assert_eq!(records[1].chain_hash, [1; 32]);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_caught() {
        let frame = frame_of(&[b"one", b"two"]);
        for cut in 0..frame.len() {
            assert!(check_frame(&frame[..cut], SALT).is_err(), "cut at {cut}");
        }
        for i in 0..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x01;
            assert!(check_frame(&bad, SALT).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn a_frame_of_another_salt_is_not_intact() {
        let frame = frame_of(&[b"one"]);
        assert!(
            check_frame(&frame, SALT + 1)
                .unwrap_err()
                .contains("checksum")
        );
    }
}
