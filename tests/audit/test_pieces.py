"""Audits of few nodes with long histories: a node's manifests are cut into pieces verified in
parallel from empty replay and chain stores, then checked against the pieces before them.

Whatever is planted where (a copy, a replay, a gap, a fork or a rollback at a piece's first manifest,
an input out of order), the results are the ones a single process gives.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

import attest.audit._parallel as audit_mod
from attest.audit import audit
from attest.audit._parallel import VerifierSpec, _groups, _settle, _split_tail, _Trace, _verify_group
from attest.verify import VerifyOptions, chain_order_key
from tests.conftest import NOW, Node, trusted_node


def history(node: Node, n: int) -> list[tuple[str, bytes]]:
    out = []
    for t in range(n):
        m = node.manifest(now=NOW + timedelta(minutes=t), chain=True)
        out.append((f"{node.host}-{t:04d}.json", node.envelope(m)))
    return out


def planted(node: Node, n: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """A node's history with anomalies in random places."""
    items = history(node, n)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["copy", "reuse", "gap", "fork", "swap", "stranger"])
        k = rng.randrange(1, len(items) - 1)
        if kind == "copy":  # the same bytes again: seen before, not a replay
            items.insert(rng.randrange(len(items)), items[k])
        elif kind == "reuse":  # another payload with manifest k's nonce: a replay
            m = node.history[k]
            other = node.manifest(now=NOW + timedelta(minutes=k, seconds=20), freshness=m.freshness.to_obj())
            items.insert(rng.randrange(len(items)), (f"reuse-{k}.json", node.envelope(other)))
        elif kind == "gap":
            del items[k]
        elif kind == "fork":  # another manifest numbered 0, or numbered like manifest k
            m = node.manifest(now=NOW + timedelta(minutes=k, seconds=30))
            items.insert(rng.randrange(len(items)), (f"fork-{k}.json", node.envelope(m)))
        elif kind == "swap":
            items[k], items[k + 1] = items[k + 1], items[k]
        else:  # bytes that never reach the stores
            items.insert(k, (f"broken-{k}.json", items[k][1][:-20]))
    return items


def test_cutting_the_tail() -> None:
    node = trusted_node()
    items = history(node, 40)
    chunks, cut = _split_tail(_groups(items, 64), jobs=2)
    assert len(cut) == 1 and len(cut[0]) == 10 == len(chunks)  # one node: every process gets pieces
    assert [len(c) for c in chunks] == [4] * 10
    seqs = [int(name[-9:-5]) for c in chunks for _, (name, _) in c]
    assert seqs == sorted(seqs)  # pieces are runs of the chain, in order
    b, c = trusted_node(), trusted_node()
    many = items + history(b, 12) + history(c, 10)
    chunks, cut = _split_tail(_groups(many, 64), jobs=2)
    assert len(chunks[0]) == 40  # the largest node is verified whole, first
    assert [[len(chunks[g]) for g in gs] for gs in cut] == [[4, 4, 4], [4, 4, 2]]  # the two last, cut


@pytest.mark.parametrize("seed", range(16))
def test_settled_pieces_equal_one_pass(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random anomalies, random cuts (pieces of 1 to 5 manifests): the same results as one pass."""
    rng = random.Random(seed)
    node = trusted_node()
    items = planted(node, 30, rng)
    for _ in range(rng.randint(2, 6)):  # more copies, so some land on a cut
        items.append(items[rng.randrange(len(items))])
    spec = VerifierSpec(node.trust, None, VerifyOptions(as_of_issue=True), NOW + timedelta(hours=2))
    whole = _verify_group(spec, items)
    ordered = sorted(enumerate(items), key=lambda pi: chain_order_key(pi[1][1]))
    pieces = []
    k = 0
    while k < len(ordered):
        chunk = ordered[k : k + rng.randint(1, 5)]
        trace = _Trace()
        pieces.append((chunk, _verify_group(spec, [it for _, it in chunk], trace=trace), trace.ops))
        k += len(chunk)
    again: list[int] = []
    real = audit_mod._verify_group
    monkeypatch.setattr(audit_mod, "_verify_group", lambda sp, its, **kw: again.append(len(its)) or real(sp, its, **kw))
    settled = {chunk[i][0]: r.to_obj() for chunk, out in _settle(spec, pieces) for i, r, _ in out}
    assert settled == {i: r.to_obj() for i, r, _ in whole}
    AGAIN.append(len(again))


AGAIN: list[int] = []


def test_some_random_cut_was_verified_again() -> None:
    """The random cases above did reach the second verification (run after them)."""
    if len(AGAIN) < 16:
        pytest.skip("runs after test_settled_pieces_equal_one_pass")
    assert sum(1 for n in AGAIN if n) >= 4


def test_a_piece_is_verified_again_when_its_guess_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    node = trusted_node()
    items = history(node, 16)
    items.append(("replay.json", items[8][1]))
    del items[4]
    # in chain order, pieces of 4: [0 1 2 3] [5 6 7 8] [8' 9 10 11] [12 13 14 15]: the second
    # starts after a gap, the third with a replay of the second's last manifest
    spec = VerifierSpec(node.trust, None, VerifyOptions(as_of_issue=True), NOW + timedelta(hours=2))
    chunks, cut = _split_tail(_groups(items, 1), jobs=2)
    pieces = []
    for g in cut[0]:
        trace = _Trace()
        pieces.append((chunks[g], _verify_group(spec, [it for _, it in chunks[g]], trace=trace), trace.ops))
    again: list[int] = []
    real = audit_mod._verify_group
    monkeypatch.setattr(audit_mod, "_verify_group", lambda sp, its, **k: again.append(len(its)) or real(sp, its, **k))
    out = {chunk[i][0]: r for chunk, res in _settle(spec, pieces) for i, r, _ in res}
    # A byte-identical copy is the same manifest seen again (as attest verify with one state says), not a replay.
    copy = out[len(items) - 1]
    assert [f.rule for f in copy.findings if f.rule.startswith("freshness.")] == ["freshness.seen_before"]
    assert copy.status == out[8].status
    assert sum(f.rule == "chain.gap" for r in out.values() for f in r.findings) == 1
    assert again == [4, 4]  # those two pieces, verified again from the true stores; no other


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_parallel_audit_of_one_long_history(seed: int) -> None:
    rng = random.Random(100 + seed)
    a, b = trusted_node(), trusted_node()
    b.host = "gpu-b01"
    trust = a.trust.with_key(b.key.public, operator="Example Cloud Sdn. Bhd.")
    items = planted(a, 60, rng) + planted(b, 12, rng)
    rng.shuffle(items)  # input order is not chain order
    serial = audit(items, trust, now=NOW + timedelta(hours=2), policy="us-ear")
    for jobs in (2, 3):
        parallel = audit(items, trust, now=NOW + timedelta(hours=2), policy="us-ear", jobs=jobs)
        assert [r.to_obj() for r in parallel.results] == [r.to_obj() for r in serial.results]
        assert [f.to_obj() for f in parallel.fleet] == [f.to_obj() for f in serial.fleet]
        assert [s.name for s in parallel.summaries] == [s.name for s in serial.summaries]
