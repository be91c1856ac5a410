//! The signed message of a checkpoint and its signature check.
//!
//! ```text
//! signed message = "stele/v1/checkpoint\n" | name_len: u16 | name
//!   | log_id: [u8; 16] | size: u64 | head: [u8; 32] | time: i64
//! ```
//! Integers are little-endian; the signature is ed25519 (strict).

use ed25519_dalek::{Signature, VerifyingKey};

use crate::Hash;

const DOMAIN: &[u8] = b"stele/v1/checkpoint\n";

/// The exact bytes a checkpoint's signature covers: "log `log` (id
/// `log_id`) has `size` records and chain head `head` at `time`".
pub fn checkpoint_message(
    log: &str,
    log_id: &[u8; 16],
    size: u64,
    head: &Hash,
    time: i64,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 2 + log.len() + 64);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&(log.len() as u16).to_le_bytes());
    m.extend_from_slice(log.as_bytes());
    m.extend_from_slice(log_id);
    m.extend_from_slice(&size.to_le_bytes());
    m.extend_from_slice(head);
    m.extend_from_slice(&time.to_le_bytes());
    m
}

/// Why a checkpoint's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The checkpoint names another key than the trusted one.
    #[error("signed by key {signed_by}, expected {trusted}")]
    OtherKey {
        /// The key the checkpoint names, hex.
        signed_by: String,
        /// The trusted key, hex.
        trusted: String,
    },
    /// The trusted key is not a valid ed25519 point.
    #[error("the trusted key is not an ed25519 public key")]
    BadKey,
    /// The signature does not verify over the message.
    #[error("signature does not verify")]
    Invalid,
}

/// Checks that `signature` over `message` was made by `trusted`, and that
/// the checkpoint names that same key (`signed_by`).
///
/// # Errors
/// [`SignatureError`] saying what does not match.
pub fn verify_checkpoint_signature(
    message: &[u8],
    signed_by: &[u8; 32],
    signature: &[u8; 64],
    trusted: &[u8; 32],
) -> Result<(), SignatureError> {
    if signed_by != trusted {
        return Err(SignatureError::OtherKey {
            signed_by: hex::encode(signed_by),
            trusted: hex::encode(trusted),
        });
    }
    let key = VerifyingKey::from_bytes(trusted).map_err(|_| SignatureError::BadKey)?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    fn signed() -> (Vec<u8>, [u8; 32], [u8; 64]) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let message = checkpoint_message("audit", &[1; 16], 42, &[2; 32], -5);
        let signature = key.sign(&message).to_bytes();
        (message, key.verifying_key().to_bytes(), signature)
    }

    #[test]
    fn message_is_laid_out_as_documented() {
        let m = checkpoint_message("ab", &[1; 16], 3, &[2; 32], -1);
        let mut expected = b"stele/v1/checkpoint\n".to_vec();
        expected.extend_from_slice(&[2, 0, b'a', b'b']);
        expected.extend_from_slice(&[1; 16]);
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&[2; 32]);
        expected.extend_from_slice(&(-1i64).to_le_bytes());
        assert_eq!(m, expected);
    }

    #[test]
    fn accepts_the_trusted_key_and_refuses_anything_else() {
        let (message, key, signature) = signed();
        assert_eq!(
            verify_checkpoint_signature(&message, &key, &signature, &key),
            Ok(())
        );

        let mut other = message.clone();
        *other.last_mut().unwrap() ^= 1;
        assert_eq!(
            verify_checkpoint_signature(&other, &key, &signature, &key),
            Err(SignatureError::Invalid)
        );
        let stranger = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(matches!(
            verify_checkpoint_signature(&message, &key, &signature, &stranger),
            Err(SignatureError::OtherKey { .. })
        ));
    }
}
