"""Which chain verdicts a verifier may reuse, and which envelopes move a chain at all."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from attest.crypto.keys import SigningKey
from attest.replay import MemoryChainStore, SqliteVerifierState
from attest.verify import Verifier
from tests.conftest import NOW, OPERATOR, Node, fork_branches

LATER = NOW + timedelta(minutes=1)


def test_a_chain_verdict_from_another_chain_store_is_not_reused(tmp_path: Path, node: Node) -> None:
    """A verifier sharing the sighting store but not its chain heads records no chain verdict in it;
    the full verifier re-verifying that envelope checks its chain against the real heads: a fork."""
    first, a, b = fork_branches(node)
    state = SqliteVerifierState(tmp_path / "state.db")
    full = Verifier(node.trust, nonces=state, chains=state, devices=state)
    for m in (first, a):
        assert full.verify(node.envelope(m), now=LATER).status.value == "affirming"
    side = Verifier(node.trust, nonces=state)  # chains: its own, in memory
    assert side.verify(node.envelope(b), now=LATER).status.value == "affirming"  # no head there
    again = full.verify(node.envelope(b), now=LATER + timedelta(minutes=1))
    rules = [f.rule for f in again.findings]
    assert again.status.value == "contraindicated" and "chain.fork" in rules, rules
    assert "freshness.seen_before" in rules
    state.close()


def test_an_envelope_not_signed_by_its_node_key_moves_no_chain(node: Node) -> None:
    """A manifest naming node key K1 signed only by another trusted key K2 is refused, and neither
    K1's nor K2's chain head moves with its sequence."""
    other = SigningKey.generate()
    trust = node.trust.with_key(other.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    chains = MemoryChainStore()
    verifier = Verifier(trust, chains=chains)
    forged = node.envelope(node.manifest(), key=other)
    result = verifier.verify(forged, now=LATER)
    assert result.status.value == "contraindicated"
    assert "manifest.node_key_mismatch" in [f.rule for f in result.findings]
    assert chains.head(other.key_id) is None and chains.head(node.key.key_id) is None


def test_a_fork_in_one_batch_refuses_every_branch_whatever_the_order(node: Node) -> None:
    """[m4, m5a, m5b] and [m4, m5b, m5a]: both branches are chain.fork either way, in verify_many
    and in the audit, with the same verdicts."""
    from attest.audit import audit
    from attest.replay import MemoryNonceStore
    from attest.verify import verify_many

    first, a, b = fork_branches(node)
    e4, ea, eb = (node.envelope(m) for m in (first, a, b))
    for items in ([("m4", e4), ("m5a", ea), ("m5b", eb)], [("m4", e4), ("m5b", eb), ("m5a", ea)]):
        many = verify_many(items, node.trust, now=LATER, nonces=MemoryNonceStore(), chains=MemoryChainStore())
        audited = audit(items, node.trust, now=LATER, policy=None).results
        for results in (many, audited):
            verdicts = {
                r.source: (r.status.value, "chain.fork" in [f.rule for f in r.findings]) for r in results
            }
            assert verdicts["m4"][1] is False  # the manifest before the fork is not part of it
            assert verdicts["m5a"] == verdicts["m5b"] == ("contraindicated", True), verdicts
        fork_of = [
            {r.source: [f.to_obj() for f in r.findings if f.rule == "chain.fork"] for r in results}
            for results in (many, audited)
        ]
        assert fork_of[0] == fork_of[1]


def test_a_fork_found_in_a_batch_is_kept_by_the_state_so_no_branch_is_affirmed_later(
    node: Node, tmp_path: Path
) -> None:
    """[m4, m5a, m5b] in one call refuses both branches; verified again later, alone, with the same state
    (SQLite, and in memory), neither branch is affirmed: the state holds what the batch reported."""
    from attest.replay import MemoryVerifierState

    first, a, b = fork_branches(node)
    e4, ea, eb = (node.envelope(m) for m in (first, a, b))
    for state in (SqliteVerifierState(str(tmp_path / "v.db")), MemoryVerifierState()):
        verifier = Verifier(node.trust, policy=None, nonces=state, chains=state, devices=state)
        batch = verifier.verify_many([("m4", e4), ("m5a", ea), ("m5b", eb)], now=LATER)
        assert [r.status.value for r in batch] == ["affirming", "contraindicated", "contraindicated"]
        for raw in (ea, eb, ea):
            again = verifier.verify(raw, now=LATER)
            assert again.status.value == "contraindicated", again.findings
            assert "chain.fork" in [f.rule for f in again.findings]
        assert verifier.verify(e4, now=LATER).status.value == "affirming"  # before the fork: seen before
        if isinstance(state, SqliteVerifierState):
            state.close()
