//! The hash chain (DESIGN.md, "The chain", normative), from `stele-chain`:
//! the one implementation the engine and independent verifiers share.

pub use stele_chain::{Hash, body_digest, genesis, leaf_hash, link};
