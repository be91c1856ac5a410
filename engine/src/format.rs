//! Magic numbers, format versions and the file header shared by WAL and
//! sealed segment files. Byte offsets derived from these live here too, so the
//! on-disk layout is stated in one place (see `docs/format.md`).
//!
//! ```text
//! Format: file header (80 bytes) = {
//!   magic: [u8; 8] | version: u16 | reserved: u16 = 0 | log_id: [u8; 16]
//!   | first_seq: u64 | prev_chain_hash: [u8; 32] | frame_salt: u64
//!   | crc32: u32 of bytes 0..76 }
//! ```
//! All integers are little-endian.

use crate::chain::Hash;

/// Magic of an active segment (WAL) file.
pub const WAL_MAGIC: [u8; 8] = *b"STELEWAL";
/// Magic of a sealed segment file; also ends its footer.
pub const SEG_MAGIC: [u8; 8] = *b"STELESEG";
/// Format version of WAL files written by this code.
pub const WAL_VERSION: u16 = 1;
/// Format version of sealed segment files written by this code.
pub const SEG_VERSION: u16 = 1;
/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 80;
/// Offset of the header's checksum.
pub const FILE_HEADER_CRC_AT: usize = 76;

/// The header at offset 0 of WAL and sealed segment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// [`WAL_MAGIC`] or [`SEG_MAGIC`].
    pub magic: [u8; 8],
    /// Format version of the file.
    pub version: u16,
    /// The log's id.
    pub log_id: [u8; 16],
    /// Seq of the file's first record.
    pub first_seq: u64,
    /// Chain hash of the record before `first_seq` (genesis for seq 0).
    pub prev_chain_hash: Hash,
    /// WAL files: a random value that seeds every frame checksum, so bytes a
    /// client puts in an event can never pass for a frame of this file.
    /// Sealed files: 0.
    pub frame_salt: u64,
}

impl FileHeader {
    /// The 80 header bytes.
    // Format: { magic | version | reserved | log_id | first_seq | prev_chain_hash | frame_salt | crc32 }
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut out = [0u8; FILE_HEADER_LEN];
        out[0..8].copy_from_slice(&self.magic);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        out[12..28].copy_from_slice(&self.log_id);
        out[28..36].copy_from_slice(&self.first_seq.to_le_bytes());
        out[36..68].copy_from_slice(&self.prev_chain_hash);
        out[68..76].copy_from_slice(&self.frame_salt.to_le_bytes());
        let crc = crc32fast::hash(&out[..FILE_HEADER_CRC_AT]);
        out[FILE_HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a header whose magic must be `magic` and whose
    /// version must be at most `max_version`.
    ///
    /// # Errors
    /// A description of the first failed check (offset 0 of the file).
    pub fn decode(buf: &[u8], magic: [u8; 8], max_version: u16) -> Result<FileHeader, String> {
        if buf.len() < FILE_HEADER_LEN {
            return Err(format!(
                "file header needs {FILE_HEADER_LEN} bytes, the file has {}",
                buf.len()
            ));
        }
        if buf[0..8] != magic {
            return Err(format!(
                "bad magic {:?}, expected {:?}",
                String::from_utf8_lossy(&buf[0..8]),
                String::from_utf8_lossy(&magic)
            ));
        }
        if crc32fast::hash(&buf[..FILE_HEADER_CRC_AT]) != u32_at(buf, FILE_HEADER_CRC_AT) {
            return Err("file header checksum mismatch".into());
        }
        let version = u16::from_le_bytes([buf[8], buf[9]]);
        if version == 0 || version > max_version {
            return Err(format!(
                "format version {version} is not supported (this build reads 1..={max_version})"
            ));
        }
        Ok(FileHeader {
            magic,
            version,
            log_id: buf[12..28].try_into().expect("16 bytes"),
            first_seq: u64::from_le_bytes(buf[28..36].try_into().expect("8 bytes")),
            prev_chain_hash: buf[36..68].try_into().expect("32 bytes"),
            frame_salt: u64_at(buf, 68),
        })
    }
}

/// Little-endian readers over a byte slice whose length the caller checked.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

/// See [`u32_at`].
pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// See [`u32_at`].
pub(crate) fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// See [`u32_at`].
pub(crate) fn hash_at(buf: &[u8], at: usize) -> Hash {
    buf[at..at + 32].try_into().expect("32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = FileHeader {
            magic: WAL_MAGIC,
            version: WAL_VERSION,
            log_id: [1; 16],
            first_seq: 42,
            prev_chain_hash: [9; 32],
            frame_salt: 77,
        };
        let bytes = h.encode();
        assert_eq!(
            FileHeader::decode(&bytes, WAL_MAGIC, WAL_VERSION).unwrap(),
            h
        );
        assert!(FileHeader::decode(&bytes, SEG_MAGIC, SEG_VERSION).is_err());
        for i in 0..FILE_HEADER_LEN {
            let mut bad = bytes;
            bad[i] ^= 0x10;
            assert!(
                FileHeader::decode(&bad, WAL_MAGIC, WAL_VERSION).is_err(),
                "byte {i}"
            );
        }
    }
}
