#!/usr/bin/env python3
"""An independent check of Stele's Merkle proofs, written for the tests from
RFC 9162 section 2.1 (Merkle Tree Hash, PATH, PROOF/SUBPROOF) and nothing
else. It rebuilds the roots from each proof by the RFC's recursive
definitions (not the bit-walking algorithms of 2.1.3.2 and 2.1.4.2 that the
Rust code uses), with hashlib only.

Reads JSON on stdin: {"inclusion": [{"index", "size", "leaf", "proof",
"root"}...], "consistency": [{"old", "new", "old_root", "new_root",
"proof"}...]}, hashes in hex. Prints one line per case that does not hold
and exits 1 if any, 0 otherwise.
"""
import hashlib
import json
import sys


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_path(index, size, leaf, path):
    """MTH(D[0:size]) from the leaf at `index` and PATH(index, D[0:size])."""
    if size == 1:
        if path:
            raise ValueError("too many hashes")
        return leaf
    if not path:
        raise ValueError("too few hashes")
    k = split(size)
    sibling, rest = path[-1], path[:-1]
    if index < k:
        return node(root_from_path(index, k, leaf, rest), sibling)
    return node(sibling, root_from_path(index - k, size - k, leaf, rest))


def roots_from_subproof(m, n, whole, proof, old_root):
    """(MTH(D[0:m]), MTH(D[0:n])) of a subtree from SUBPROOF(m, D[0:n], whole),
    consuming `proof` from its end."""
    if m == n:
        if whole:
            return old_root, old_root
        h = proof.pop()
        return h, h
    k = split(n)
    if m <= k:
        right = proof.pop()
        old, new = roots_from_subproof(m, k, whole, proof, old_root)
        return old, node(new, right)
    left = proof.pop()
    old, new = roots_from_subproof(m - k, n - k, False, proof, old_root)
    return node(left, old), node(left, new)


def main():
    cases = json.load(sys.stdin)
    h = bytes.fromhex
    failed = 0
    for c in cases.get("inclusion", []):
        try:
            ok = root_from_path(c["index"], c["size"], h(c["leaf"]),
                                [h(p) for p in c["proof"]]) == h(c["root"])
        except (ValueError, IndexError):
            ok = False
        if ok != c.get("valid", True):
            failed += 1
            print("inclusion", c["index"], c["size"], "valid" if ok else "invalid")
    for c in cases.get("consistency", []):
        proof = [h(p) for p in c["proof"]]
        old, new = c["old"], c["new"]
        try:
            if old == 0 or old == new:
                ok = not proof and (old == 0 or c["old_root"] == c["new_root"])
            else:
                got_old, got_new = roots_from_subproof(old, new, True, proof,
                                                       h(c["old_root"]))
                ok = (not proof and got_old == h(c["old_root"])
                      and got_new == h(c["new_root"]))
        except (ValueError, IndexError):
            ok = False
        if ok != c.get("valid", True):
            failed += 1
            print("consistency", old, new, "valid" if ok else "invalid")
    sys.exit(1 if failed else 0)


main()
