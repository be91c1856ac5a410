//! Standard checkpoints: the C2SP `tlog-checkpoint` text (origin, tree
//! size, root hash) inside a C2SP `signed-note` with an Ed25519 signature,
//! the form Go's checksum database, Sigstore and transparency-log witnesses
//! read.
//!
//! ```text
//! <origin>\n                      note text = the checkpoint
//! <tree size, decimal>\n
//! <root hash, base64>\n
//! \n
//! — <key name> <base64(key hash[4] || ed25519 signature[64])>\n
//! ```
//!
//! The key hash is `SHA-256(name || "\n" || 0x01 || public key)[..4]`
//! (0x01: Ed25519); the signature covers the note text, its last newline
//! included. A verifier key is written `<name>+<key hash, hex>+<base64(0x01
//! || public key)>`.
//!
//! # Invariants
//! - [`open`] accepts a note only when a signature line of the expected
//!   name and key hash verifies; other signatures (witnesses' cosignatures)
//!   are ignored, as the format requires.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Hash;

/// The algorithm byte of an Ed25519 key.
const ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note or checkpoint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text breaks the format; says where.
    #[error("malformed note: {0}")]
    Malformed(String),
    /// No signature of the expected key verifies.
    #[error("no valid signature by {0}")]
    Unverified(String),
}

fn malformed(what: impl Into<String>) -> NoteError {
    NoteError::Malformed(what.into())
}

/// The 4-byte id of `name`'s key `public`.
pub fn key_hash(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key name must be non-empty, without spaces or `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
        return Err(malformed(format!(
            "key name `{name}` must be non-empty, without spaces or `+`"
        )));
    }
    Ok(())
}

/// The verifier key string of `name`'s key `public`.
pub fn verifier_key(name: &str, public: &VerifyingKey) -> String {
    let mut key = vec![ED25519];
    key.extend_from_slice(public.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, public)),
        STANDARD.encode(key)
    )
}

/// The name and key of a verifier key string.
///
/// # Errors
/// [`NoteError::Malformed`] when it is not one, or its hash is wrong.
pub fn parse_verifier_key(vkey: &str) -> Result<(String, VerifyingKey), NoteError> {
    let mut parts = vkey.split('+');
    let (Some(name), Some(hash), Some(key), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("a verifier key is <name>+<hash>+<key>"));
    };
    check_name(name)?;
    let key = STANDARD
        .decode(key)
        .map_err(|e| malformed(format!("verifier key: {e}")))?;
    let public = match key.split_first() {
        Some((&ED25519, rest)) => <[u8; 32]>::try_from(rest)
            .ok()
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .ok_or_else(|| malformed("verifier key: not an Ed25519 public key"))?,
        _ => return Err(malformed("verifier key: only Ed25519 (0x01) keys")),
    };
    if hash != hex::encode(key_hash(name, &public)) {
        return Err(malformed("verifier key: the key hash does not match"));
    }
    Ok((name.to_string(), public))
}

/// Signs `text` as `name` with `key`: the signed note.
///
/// # Errors
/// [`NoteError::Malformed`] when `text` is empty, does not end with a
/// newline, or `name` is not a key name.
pub fn sign(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    if !text.ends_with('\n') || text.contains("\n\n") || text.starts_with('\n') {
        return Err(malformed(
            "a note's text is non-empty lines, each ending with a newline",
        ));
    }
    let signature = key.sign(text.as_bytes());
    let mut blob = key_hash(name, &key.verifying_key()).to_vec();
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!(
        "{text}\n{SIG_PREFIX}{name} {}\n",
        STANDARD.encode(blob)
    ))
}

/// The text of `note` once a signature by `name`'s key `public` verifies.
///
/// # Errors
/// [`NoteError::Malformed`] for a note that breaks the format,
/// [`NoteError::Unverified`] when no signature of that key verifies.
pub fn open<'a>(note: &'a str, name: &str, public: &VerifyingKey) -> Result<&'a str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if !signatures.ends_with('\n') {
        return Err(malformed("the signatures do not end with a newline"));
    }
    let want = key_hash(name, public);
    for line in signatures.lines() {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| malformed(format!("`{line}` is not a signature line")))?;
        let (signer, blob) = rest
            .split_once(' ')
            .ok_or_else(|| malformed(format!("`{line}` is not a signature line")))?;
        let blob = STANDARD
            .decode(blob)
            .map_err(|e| malformed(format!("signature of {signer}: {e}")))?;
        if signer != name || blob.len() != 68 || blob[..4] != want {
            continue;
        }
        let signature = Signature::from_slice(&blob[4..])
            .map_err(|e| malformed(format!("signature of {signer}: {e}")))?;
        if public.verify_strict(text.as_bytes(), &signature).is_ok() {
            return Ok(text);
        }
    }
    Err(NoteError::Unverified(name.to_string()))
}

/// A C2SP `tlog-checkpoint`: a log's origin, tree size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    /// Names the log: `<server>/<log>`, no spaces or `+`.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The tree head (RFC 9162 `MTH`).
    pub root: Hash,
}

impl TreeHead {
    /// The checkpoint's text (the note text to sign).
    ///
    /// # Errors
    /// [`NoteError::Malformed`] when the origin is empty or holds a
    /// newline.
    pub fn text(&self) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(malformed("the origin is one non-empty line"));
        }
        Ok(format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        ))
    }

    /// Parses a checkpoint's text (extension lines after the root are
    /// allowed and ignored).
    ///
    /// # Errors
    /// [`NoteError::Malformed`] naming the line at fault.
    pub fn parse(text: &str) -> Result<TreeHead, NoteError> {
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| malformed("checkpoint line 1: the origin"))?;
        let size = lines
            .next()
            .and_then(|l| {
                (!l.starts_with('0') || l == "0")
                    .then(|| l.parse::<u64>().ok())
                    .flatten()
            })
            .ok_or_else(|| malformed("checkpoint line 2: the tree size, in decimal"))?;
        let root = lines
            .next()
            .and_then(|l| STANDARD.decode(l).ok())
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or_else(|| malformed("checkpoint line 3: the root hash, 32 bytes in base64"))?;
        Ok(TreeHead {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key and note of Go's reference implementation
    // (golang.org/x/mod/sumdb/note): public test vectors.
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SEED: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn peter() -> SigningKey {
        let seed = STANDARD.decode(SEED).unwrap();
        assert_eq!(seed[0], ED25519);
        SigningKey::from_bytes(&seed[1..].try_into().unwrap())
    }

    #[test]
    fn the_go_reference_vectors_byte_for_byte() {
        let key = peter();
        assert_eq!(verifier_key("PeterNeumann", &key.verifying_key()), VKEY);
        let (name, public) = parse_verifier_key(VKEY).unwrap();
        assert_eq!(public, key.verifying_key());
        let note = sign(TEXT, &name, &key).unwrap();
        assert_eq!(note, format!("{TEXT}\n{SIGNED}"));
        assert_eq!(open(&note, &name, &public).unwrap(), TEXT);
    }

    #[test]
    fn forged_foreign_and_malformed_notes_are_refused() {
        let key = peter();
        let public = key.verifying_key();
        let note = sign(TEXT, "PeterNeumann", &key).unwrap();
        let altered = note.replacen("cryptography", "cryptograph", 1);
        assert!(matches!(
            open(&altered, "PeterNeumann", &public),
            Err(NoteError::Unverified(_))
        ));
        let other = SigningKey::from_bytes(&[7; 32]);
        assert!(matches!(
            open(&note, "PeterNeumann", &other.verifying_key()),
            Err(NoteError::Unverified(_))
        ));
        // A witness's cosignature beside ours is ignored.
        let witness = sign(TEXT, "witness.example", &other).unwrap();
        let both = format!("{note}{}", &witness[TEXT.len() + 1..]);
        assert_eq!(open(&both, "PeterNeumann", &public).unwrap(), TEXT);
        assert_eq!(
            open(&both, "witness.example", &other.verifying_key()).unwrap(),
            TEXT
        );
        for bad in [
            TEXT.to_string(),
            format!("{TEXT}\nno dash\n"),
            note.trim_end().to_string(),
        ] {
            assert!(
                matches!(
                    open(&bad, "PeterNeumann", &public),
                    Err(NoteError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(sign("no newline", "PeterNeumann", &key).is_err());
        assert!(sign(TEXT, "Peter Neumann", &key).is_err());
        let mut mangled = VKEY.replace("c74f20a3", "c74f20a4");
        assert!(parse_verifier_key(&mangled).is_err());
        mangled = VKEY.replacen('+', "", 1);
        assert!(parse_verifier_key(&mangled).is_err());
    }

    #[test]
    fn checkpoints_round_trip() {
        let head = TreeHead {
            origin: "stele.example.com/audit".into(),
            size: 10_000_000,
            root: [0xab; 32],
        };
        let text = head.text().unwrap();
        assert_eq!(
            text,
            "stele.example.com/audit\n10000000\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        assert_eq!(TreeHead::parse(&text).unwrap(), head);
        let note = sign(&text, "stele.example.com", &peter()).unwrap();
        let opened = open(&note, "stele.example.com", &peter().verifying_key()).unwrap();
        assert_eq!(TreeHead::parse(opened).unwrap(), head);
        for bad in [
            "",
            "o\n01\nq6s=\n",
            "o\n-1\n",
            "o\n5\nnot base64\n",
            "o\n5\nq6s=\n",
        ] {
            assert!(TreeHead::parse(bad).is_err(), "{bad:?}");
        }
    }
}
