"""RFC 9162 §2.1 Merkle trees: hashing, inclusion and consistency proofs, and their verification.

The proof *generation* here works over a function that returns the hash of any
complete subtree — ``node(level, index)``, the root of leaves
``[index·2^level, (index+1)·2^level)`` — so a store answers proofs from the
subtree hashes it keeps, never by rebuilding the tree. The *verification*
functions follow the RFC's numbered steps (§2.1.3.2, §2.1.4.2) literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(node: NodeHash, start: int, size: int) -> bytes:
    """MTH of leaves ``[start, start+size)``, where ``start`` is a multiple of the largest power of two ≤ size.

    That holds for every range the RFC's recursion visits: each left part is a complete,
    aligned subtree (one stored hash), each right part recurses.
    """
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0:
        return node(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(node(k.bit_length() - 1, start // k), subtree_root(node, start + k, size - k))


def root(node: NodeHash, size: int) -> bytes:
    """MTH of the first ``size`` leaves."""
    return subtree_root(node, 0, size)


def inclusion_path(node: NodeHash, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")

    def path(m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, k), subtree_root(node, start + k, n - k)]
        return [*path(m - k, start + k, n - k), subtree_root(node, start, k)]

    return path(index, 0, size)


def consistency_path(node: NodeHash, old: int, new: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty when ``old`` is 0 or equals ``new``)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []

    def subproof(m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [subtree_root(node, start, n)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, k, complete), subtree_root(node, start + k, n - k)]
        return [*subproof(m - k, start + k, n - k, False), subtree_root(node, start, k)]

    return subproof(old, 0, new, True)


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step. ``leaf`` is the leaf *hash*."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step by step."""
    if old > new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path  # the empty tree is a prefix of every tree
    if not path:
        return False
    proof = list(path)
    if old & (old - 1) == 0:  # old is a power of two: prepend first_hash
        proof.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


class MemoryTree:
    """All subtree hashes in memory (tests, small logs): the same ``node`` interface as the stores."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Add a leaf; return its index."""
        index = self.size
        self.levels[0].append(leaf_hash(data))
        level, i = 0, index
        while i & 1:
            if len(self.levels) <= level + 1:
                self.levels.append([])
            self.levels[level + 1].append(node_hash(self.levels[level][i - 1], self.levels[level][i]))
            level, i = level + 1, i >> 1
        return index

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``."""
        return self.levels[level][index]
