//! The RFC 9162 (Certificate Transparency v2) Merkle tree over a log's leaf
//! hashes: tree heads, inclusion and consistency proofs, and their checks.
//!
//! ```text
//! MTH({})        = SHA-256()
//! MTH({leaf})    = leaf                      (leaf = the record's leaf hash,
//!                                             already SHA-256(0x00 || …))
//! MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
//!                  k = the largest power of two below n
//! ```
//!
//! Proofs are made from the hashes of subtrees, asked of a `subtree`
//! function given a range of leaves; the ranges asked are those of RFC
//! 9162's recursion (§2.1.3.1, §2.1.4.1), so a store that keeps the roots
//! of complete subtrees answers most of them without reading leaves. The
//! checks (§2.1.3.2, §2.1.4.2) need nothing but the proof, the sizes and
//! the roots: an auditor runs them with no access to the log.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::Hash;

/// Domain prefix of an interior node (RFC 6962, 9162).
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two below `n` (`n` ≥ 2): where RFC 9162 splits a
/// tree of `n` leaves into its left and right subtrees.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of the tree over `leaves`, computed directly (O(n)): the
/// definition, for small trees and for checking the stored ones.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Why a proof was not accepted, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes do not allow the proof (a leaf past the tree, an old size
    /// past the new one, an empty tree).
    #[error("{0}")]
    Sizes(String),
    /// The proof has the wrong number of hashes for its sizes.
    #[error("the proof has {got} hashes where {want} were expected")]
    Length {
        /// Hashes given.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// The hashes do not lead to the root.
    #[error("the proof does not lead to the expected root")]
    Mismatch,
}

/// The audit path of leaf `index` in the tree of the first `size` leaves
/// (RFC 9162 §2.1.3.1), leaf side first. `subtree(range)` is the root of
/// the leaves in `range`.
///
/// # Errors
/// [`ProofError::Sizes`] (as `E`) when `index` is not below `size`;
/// `subtree`'s error.
pub fn inclusion_proof<E: From<ProofError>>(
    index: u64,
    size: u64,
    mut subtree: impl FnMut(Range<u64>) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if index >= size {
        return Err(
            ProofError::Sizes(format!("leaf {index} is not in a tree of {size} leaves")).into(),
        );
    }
    let mut path = Vec::new();
    // Walk down from the whole tree, keeping the sibling of each step; the
    // path lists them from the leaf up, so they are reversed at the end.
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = lo + split(hi - lo);
        let sibling = if index < k {
            let s = subtree(k..hi)?;
            hi = k;
            s
        } else {
            let s = subtree(lo..k)?;
            lo = k;
            s
        };
        path.push(sibling);
    }
    path.reverse();
    Ok(path)
}

/// How many hashes an inclusion proof of `index` in `size` leaves has.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut n) = (0u64, size, 0);
    while hi - lo > 1 {
        let k = lo + split(hi - lo);
        if index < k {
            hi = k;
        } else {
            lo = k;
        }
        n += 1;
    }
    n
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose
/// root is `root`, by its audit path (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] saying what does not hold.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::Sizes(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::Mismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && &r == root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// The proof that the tree of the first `old` leaves is a prefix of the
/// tree of the first `new` leaves (RFC 9162 §2.1.4.1); empty when `old` is
/// 0 or equals `new`. `subtree(range)` is the root of the leaves in
/// `range`.
///
/// # Errors
/// [`ProofError::Sizes`] (as `E`) when `old` is past `new`; `subtree`'s
/// error.
pub fn consistency_proof<E: From<ProofError>>(
    old: u64,
    new: u64,
    mut subtree: impl FnMut(Range<u64>) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if old > new {
        return Err(ProofError::Sizes(format!(
            "a tree of {old} leaves cannot be a prefix of one of {new}"
        ))
        .into());
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: the hashes come out root side
    // first and are reversed at the end.
    let mut proof = Vec::new();
    let (mut m, mut lo, mut hi, mut whole) = (old, 0u64, new, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                proof.push(subtree(lo..hi)?);
            }
            break;
        }
        let k = split(n);
        let sibling = if m <= k {
            let s = subtree(lo + k..hi)?;
            hi = lo + k;
            s
        } else {
            let s = subtree(lo..lo + k)?;
            m -= k;
            lo += k;
            whole = false;
            s
        };
        proof.push(sibling);
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix
/// of the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// # Errors
/// [`ProofError`] saying what does not hold.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::Sizes(format!(
            "a tree of {old} leaves cannot be a prefix of one of {new}"
        )));
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::Length {
                got: proof.len(),
                want: 0,
            });
        }
        return if old == 0 || old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::Length { got: 0, want: 1 });
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::Mismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// The right edge of a growing tree: the roots of its complete subtrees,
/// largest first, enough to add a leaf and to give the root in O(log n)
/// (a "compact range" over `0..size`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One root per set bit of `size`, the largest subtree first.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the complete subtrees, largest first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// A frontier from its parts, as [`Frontier::peaks`] gave them.
    ///
    /// # Errors
    /// [`ProofError::Sizes`] when `peaks` does not have one hash per set
    /// bit of `size`.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Frontier, ProofError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(ProofError::Sizes(format!(
                "a frontier of {size} leaves has {} peaks, not {}",
                size.count_ones(),
                peaks.len()
            )));
        }
        Ok(Frontier { size, peaks })
    }

    /// Adds the next leaf.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        // Each trailing one bit of the old size is a peak of the same height
        // as the carry: they merge.
        let mut bits = self.size;
        while bits & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit");
            carry = node_hash(&left, &carry);
            bits >>= 1;
        }
        self.peaks.push(carry);
        self.size += 1;
    }

    /// Adds a complete subtree of `2^level` leaves with root `root`: the
    /// same as pushing its leaves one by one.
    ///
    /// # Errors
    /// [`ProofError::Sizes`] when the tree's size is not a multiple of
    /// `2^level` (the subtree would not be aligned).
    pub fn push_subtree(&mut self, level: u32, root: Hash) -> Result<(), ProofError> {
        let width = 1u64
            .checked_shl(level)
            .filter(|w| self.size.is_multiple_of(*w));
        let Some(width) = width else {
            return Err(ProofError::Sizes(format!(
                "a subtree of 2^{level} leaves does not start at an aligned size ({})",
                self.size
            )));
        };
        let mut carry = root;
        let mut bits = self.size >> level;
        while bits & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit");
            carry = node_hash(&left, &carry);
            bits >>= 1;
        }
        self.peaks.push(carry);
        self.size += width;
        Ok(())
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| crate::leaf_hash(i as u64, i as i64, &crate::body_digest(&i.to_le_bytes())))
            .collect()
    }

    fn from(leaves: &[Hash]) -> impl FnMut(Range<u64>) -> Result<Hash, ProofError> + '_ {
        |r: Range<u64>| Ok(root_of(&leaves[r.start as usize..r.end as usize]))
    }

    #[test]
    fn the_frontier_gives_the_root_of_every_prefix() {
        let all = leaves(300);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root_of(&all[..=i]), "size {}", i + 1);
            let again = Frontier::from_parts(frontier.size(), frontier.peaks().to_vec()).unwrap();
            assert_eq!(again, frontier);
        }
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_err());
    }

    #[test]
    fn pushing_a_subtree_equals_pushing_its_leaves() {
        let all = leaves(300);
        // Chunks of 16 leaves, then single leaves, then chunks of 4.
        let mut frontier = Frontier::new();
        for c in 0..12 {
            frontier
                .push_subtree(4, root_of(&all[c * 16..(c + 1) * 16]))
                .unwrap();
            assert_eq!(frontier.root(), root_of(&all[..(c + 1) * 16]));
        }
        for leaf in &all[192..196] {
            frontier.push(*leaf);
        }
        for c in 49..75 {
            frontier
                .push_subtree(2, root_of(&all[c * 4..(c + 1) * 4]))
                .unwrap();
            assert_eq!(frontier.root(), root_of(&all[..(c + 1) * 4]), "{c}");
        }
        frontier.push(all[0]);
        assert!(frontier.push_subtree(1, all[0]).is_err());
        assert!(Frontier::new().push_subtree(64, all[0]).is_err());
    }

    #[test]
    fn every_inclusion_proof_of_trees_up_to_300_leaves() {
        let all = leaves(300);
        for size in 1..=300u64 {
            let tree = &all[..size as usize];
            let root = root_of(tree);
            for index in 0..size {
                let proof = inclusion_proof(index, size, from(tree)).unwrap();
                verify_inclusion(index, size, &tree[index as usize], &proof, &root).unwrap();
            }
        }
    }

    #[test]
    fn every_consistency_proof_of_trees_up_to_300_leaves() {
        let all = leaves(300);
        let roots: Vec<Hash> = (0..=300).map(|n| root_of(&all[..n])).collect();
        for new in 1..=300u64 {
            for old in 0..=new {
                let proof = consistency_proof(old, new, from(&all)).unwrap();
                verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof)
                    .unwrap_or_else(|e| panic!("{old} → {new}: {e}"));
            }
        }
    }

    #[test]
    fn tampered_proofs_wrong_sizes_and_leaves_are_refused() {
        let all = leaves(37);
        let root = root_of(&all);
        let proof = inclusion_proof(5, 37, from(&all)).unwrap();
        assert_eq!(
            verify_inclusion(5, 37, &all[6], &proof, &root),
            Err(ProofError::Mismatch)
        );
        // A size whose path has another shape is refused; one with the same
        // shape cannot be told apart by the path alone: the signed
        // checkpoint binds the size to the root.
        assert!(verify_inclusion(5, 8, &all[5], &proof, &root).is_err());
        assert!(verify_inclusion(37, 37, &all[5], &proof, &root).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 1;
            assert!(verify_inclusion(5, 37, &all[5], &bad, &root).is_err());
        }
        assert!(matches!(
            verify_inclusion(5, 37, &all[5], &proof[1..], &root),
            Err(ProofError::Length { .. })
        ));
        let old_root = root_of(&all[..20]);
        let proof = consistency_proof(20, 37, from(&all)).unwrap();
        verify_consistency(20, 37, &old_root, &root, &proof).unwrap();
        assert!(verify_consistency(21, 37, &old_root, &root, &proof).is_err());
        assert!(verify_consistency(20, 37, &root_of(&all[..19]), &root, &proof).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][31] ^= 0x80;
            assert!(verify_consistency(20, 37, &old_root, &root, &bad).is_err());
        }
        assert!(verify_consistency(38, 37, &old_root, &root, &proof).is_err());
        assert!(inclusion_proof(3, 3, from(&all)).is_err());
        assert!(consistency_proof(4, 3, from(&all)).is_err());
    }

    #[test]
    fn the_rfc_structure_for_seven_leaves() {
        // RFC 9162 §2.1.5: the inclusion proof of d0 in the 7-leaf tree is
        // [b, h, l] (hashes of d1, of d2..d3, of d4..d6).
        let all = leaves(7);
        let proof = inclusion_proof(0, 7, from(&all)).unwrap();
        assert_eq!(
            proof,
            vec![all[1], root_of(&all[2..4]), root_of(&all[4..7])]
        );
        // The consistency proof between 3 and 7 leaves is [c, d, g, l].
        let proof = consistency_proof(3, 7, from(&all)).unwrap();
        assert_eq!(
            proof,
            vec![all[2], all[3], root_of(&all[0..2]), root_of(&all[4..7])]
        );
    }
}
