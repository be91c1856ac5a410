//! Serde adapter writing fixed-size byte arrays (ids, hashes, keys,
//! signatures) as lowercase hex strings in JSON files.

use serde::{Deserialize, Deserializer, Serializer};

/// Serialises `bytes` as hex.
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Parses hex of exactly `N` bytes.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let s = String::deserialize(d)?;
    let mut out = [0u8; N];
    hex::decode_to_slice(&s, &mut out)
        .map_err(|e| serde::de::Error::custom(format!("`{s}` is not {N} bytes of hex: {e}")))?;
    Ok(out)
}
