//! What a Stele writer, reader and independent verifier must compute alike:
//! the hash chain (DESIGN.md, "The chain", normative), the signed message
//! of a checkpoint (docs/format.md), and the RFC 9162 Merkle tree over the
//! same leaf hashes with its inclusion and consistency proofs ([`merkle`]),
//! and the C2SP signed-note form of a tree head ([`note`]).
//!
//! Both the engine and the client library depend on this crate, so that an
//! auditor's check and the server's check are the same code, and the client
//! needs no storage engine to verify evidence.

mod checkpoint;
mod hash;
pub mod merkle;
pub mod note;

pub use checkpoint::{SignatureError, checkpoint_message, verify_checkpoint_signature};
pub use hash::{Hash, body_digest, genesis, leaf_hash, link};
