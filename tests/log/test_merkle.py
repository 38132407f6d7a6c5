"""RFC 9162 trees: roots against pymerkle, every proof for sizes 1..300 against the RFC's own verification steps."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from attest.log import merkle
from attest.log.merkle import (
    MemoryTree,
    consistency_path,
    inclusion_path,
    root,
    verify_consistency,
    verify_inclusion,
)

pymerkle = pytest.importorskip("pymerkle", reason="pymerkle (the independent implementation) is a dev dependency")


def entries(n: int) -> list[bytes]:
    return [f"envelope {i}".encode() * (1 + i % 3) for i in range(n)]


def test_roots_match_pymerkle_for_sizes_0_to_1000() -> None:
    ours = MemoryTree()
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    assert root(ours.node, 0) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for i, e in enumerate(entries(1000), start=1):
            ours.append(e)
            theirs.append_entry(e)
            assert root(ours.node, i) == theirs.get_root(), i
            if i % 97 == 0:  # pymerkle computes the root of any earlier size too
                assert root(ours.node, i // 2) == theirs.get_root(i // 2)


def flips(path: list[bytes]) -> list[list[bytes]]:
    out = []
    for i in range(len(path)):
        bad = bytearray(path[i])
        bad[i % 32] ^= 0x01
        out.append([*path[:i], bytes(bad), *path[i + 1 :]])
    return out


@pytest.mark.slow
def test_every_inclusion_proof_up_to_300_verifies_and_fails_when_flipped() -> None:
    tree = MemoryTree()
    for e in entries(300):
        tree.append(e)
    for n in range(1, 301):
        r = root(tree.node, n)
        for m in range(n):
            leaf = tree.node(0, m)
            path = inclusion_path(tree.node, m, n)
            assert verify_inclusion(leaf, m, n, path, r), (m, n)
            for bad in flips(path):
                assert not verify_inclusion(leaf, m, n, bad, r)
            assert not verify_inclusion(merkle.leaf_hash(b"other"), m, n, path, r)
            if n > 1:
                assert not verify_inclusion(leaf, (m + 1) % n, n, path, r) or tree.node(0, (m + 1) % n) == leaf
        assert not verify_inclusion(tree.node(0, 0), n, n, [], r)  # index beyond the tree


@pytest.mark.slow
def test_every_consistency_proof_up_to_300_verifies_and_fails_when_flipped() -> None:
    tree = MemoryTree()
    for e in entries(300):
        tree.append(e)
    roots = [root(tree.node, n) for n in range(301)]
    for n in range(1, 301):
        for m in range(1, n + 1):
            path = consistency_path(tree.node, m, n)
            assert verify_consistency(m, n, roots[m], roots[n], path), (m, n)
            for bad in flips(path):
                assert not verify_consistency(m, n, roots[m], roots[n], bad)
            if m < n:
                assert not verify_consistency(m, n, roots[m - 1] if m > 1 else b"\0" * 32, roots[n], path)
                assert not verify_consistency(m, n, roots[m], roots[n - 1], path)
                assert not verify_consistency(m, n, roots[m], roots[n], [])
    assert verify_consistency(0, 5, merkle.EMPTY_ROOT, roots[5], [])
    assert not verify_consistency(6, 5, roots[5], roots[5], [])


def test_proofs_reject_impossible_requests() -> None:
    tree = MemoryTree()
    tree.append(b"a")
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_path(tree.node, 1, 1)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_path(tree.node, 2, 1)
