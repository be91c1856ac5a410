//! The hash chain (DESIGN.md, "The chain", normative).
//!
//! ```text
//! body_digest  = SHA-256(body)
//! leaf_hash    = SHA-256(0x00 || seq:u64 || ingest_time:i64 || body_digest)
//! chain_0_prev = SHA-256("stele/v1/genesis" || log_id:16 bytes)
//! chain_hash   = SHA-256(0x02 || previous chain_hash || leaf_hash)
//! ```
//!
//! Integers are little-endian. These functions are the only place the chain
//! is computed; the engine's writers, readers and verifier and the client's
//! verifier all call them, always on the stored bytes.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// Domain prefix of a leaf (RFC 6962's leaf prefix).
const LEAF_PREFIX: u8 = 0x00;
/// Domain prefix of a chain link (0x01 is kept for Merkle nodes).
const CHAIN_PREFIX: u8 = 0x02;
/// Domain string of the genesis hash.
const GENESIS_DOMAIN: &[u8] = b"stele/v1/genesis";

/// `SHA-256(body)`.
pub fn body_digest(body: &[u8]) -> Hash {
    Sha256::digest(body).into()
}

/// `SHA-256(0x00 || seq || ingest_time || body_digest)`.
pub fn leaf_hash(seq: u64, ingest_time: i64, body_digest: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(seq.to_le_bytes());
    h.update(ingest_time.to_le_bytes());
    h.update(body_digest);
    h.finalize().into()
}

/// The chain hash that precedes seq 0 of the log `log_id`.
pub fn genesis(log_id: &[u8; 16]) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS_DOMAIN);
    h.update(log_id);
    h.finalize().into()
}

/// `SHA-256(0x02 || prev || leaf)`.
pub fn link(prev: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([CHAIN_PREFIX]);
    h.update(prev);
    h.update(leaf);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_normative_definition_byte_for_byte() {
        let log_id = [7u8; 16];
        let body = b"{\"action\":\"git.push\"}";
        let digest = body_digest(body);
        let mut leaf_input = vec![0u8];
        leaf_input.extend_from_slice(&5u64.to_le_bytes());
        leaf_input.extend_from_slice(&(-3i64).to_le_bytes());
        leaf_input.extend_from_slice(&digest);
        let leaf = leaf_hash(5, -3, &digest);
        assert_eq!(leaf, <[u8; 32]>::from(Sha256::digest(&leaf_input)));

        let mut genesis_input = b"stele/v1/genesis".to_vec();
        genesis_input.extend_from_slice(&log_id);
        let g = genesis(&log_id);
        assert_eq!(g, <[u8; 32]>::from(Sha256::digest(&genesis_input)));

        let mut link_input = vec![2u8];
        link_input.extend_from_slice(&g);
        link_input.extend_from_slice(&leaf);
        assert_eq!(
            link(&g, &leaf),
            <[u8; 32]>::from(Sha256::digest(&link_input))
        );
    }

    #[test]
    fn known_vector_for_genesis_of_zero_log_id() {
        // SHA-256("stele/v1/genesis" || 16 zero bytes), computed independently
        // with `printf 'stele/v1/genesis' | cat - <(head -c16 /dev/zero) | sha256sum`.
        let expected = include_str!("../tests/vectors/genesis_zero.hex");
        assert_eq!(hex::encode(genesis(&[0; 16])), expected.trim());
    }
}
