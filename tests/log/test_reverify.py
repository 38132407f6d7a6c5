"""Verifying the same envelopes again is not a replay; another payload reusing a nonce, or going back, still is.

The identity of a submission is its payload and its node key: identical bytes, or the same
payload signed again, seen a second time are the same manifest. Each test runs against the
SQLite state, the PostgreSQL one (a real server, see conftest) and the one in memory (one
long-lived :class:`MemoryVerifierState`, as an ``attest.Verifier`` keeps), through the library
and through ``attest verify --state`` (or without it, for the state in memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from attest.crypto.keys import Algorithm
from attest.model.result import Status, VerificationResult
from attest.replay import MemoryVerifierState, SqliteVerifierState, VerifierState
from attest.verify import verify_envelope, verify_many
from tests.conftest import CLI_OPERATOR, NOW, CliRunner, Node, make_envelope, trusted_node

LATER = NOW + timedelta(minutes=1)
REPLAY = {"freshness.nonce_reused", "chain.sequence_rollback", "chain.fork"}


_MEMORY: dict[str, MemoryVerifierState] = {}
"""The state in memory of each test (``memory:`` + its directory): "reopened", it is the same one."""


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the verifier state lives: a SQLite file, a PostgreSQL database, or memory."""
    if request.param == "sqlite":
        yield str(tmp_path / "verifier.db")
    elif request.param == "memory":
        yield f"memory:{tmp_path}"
        _MEMORY.pop(f"memory:{tmp_path}", None)
    else:
        yield str(request.getfixturevalue("postgres_url"))


def _open(where: str) -> VerifierState:
    if where.startswith("memory:"):
        return _MEMORY.setdefault(where, MemoryVerifierState())
    if where.startswith("postgresql://"):
        from attest.log.postgres import PostgresVerifierState

        return PostgresVerifierState(where)
    return SqliteVerifierState(where)


@pytest.fixture
def reopen(where: str) -> Iterator[list[VerifierState]]:
    """Open the state afresh for each run (as separate ``attest verify`` runs do); closed at the end."""
    opened: list[VerifierState] = []
    yield opened
    for s in opened:
        s.close()


def _run(where: str, opened: list[VerifierState], node: Node, raws: list[bytes], now=LATER) -> list[VerificationResult]:  # type: ignore[no-untyped-def]
    state = _open(where)
    opened.append(state)
    items = [(f"m{i}", raw) for i, raw in enumerate(raws)]
    return verify_many(items, node.trust, now=now, nonces=state, chains=state, devices=state)


def _rules(r: VerificationResult) -> set[str]:
    return {f.rule for f in r.findings}


def test_the_same_files_verified_again_keep_their_verdict(where: str, reopen: list[VerifierState]) -> None:
    node = trusted_node()
    raws = [node.envelope(node.manifest(chain=True, now=NOW + timedelta(seconds=i))) for i in range(3)]
    first = _run(where, reopen, node, raws)
    assert [r.status for r in first] == [Status.AFFIRMING] * 3
    assert not any("freshness.seen_before" in _rules(r) for r in first)
    # A second and a third run over the same files (in another order): the same manifests, not replays.
    for order in (raws, raws[::-1]):
        again = _run(where, reopen, node, order)
        assert [r.status for r in again] == [Status.AFFIRMING] * 3, [sorted(_rules(r)) for r in again]
        for r in again:
            assert "freshness.seen_before" in _rules(r) and not _rules(r) & REPLAY
            seen = next(f for f in r.findings if f.rule == "freshness.seen_before")
            assert seen.severity.value == "info" and seen.evidence["first_seen"].startswith(LATER.date().isoformat())


def test_the_same_payload_signed_again_is_the_same_manifest(where: str, reopen: list[VerifierState]) -> None:
    node = trusted_node(Algorithm.ECDSA_P256)  # ECDSA: each signature of the same payload differs
    m = node.manifest()
    one, two = node.envelope(m), node.envelope(m)
    assert one != two
    assert _run(where, reopen, node, [one])[0].status is Status.AFFIRMING
    twin = _run(where, reopen, node, [two])[0]
    assert twin.status is Status.AFFIRMING and "freshness.seen_before" in _rules(twin)


def test_another_payload_with_a_used_nonce_is_a_replay_every_time(where: str, reopen: list[VerifierState]) -> None:
    node = trusted_node()
    m = node.manifest()
    assert _run(where, reopen, node, [node.envelope(m)])[0].status is Status.AFFIRMING
    other = node.manifest(job={"id": "slurm-other", "scheduler": "slurm", "phase": "start"}, freshness=m.freshness.to_obj())
    replay = node.envelope(other)
    for _ in range(2):  # a replay verified again is still a replay: it never owned the nonce
        r = _run(where, reopen, node, [replay])[0]
        assert r.status is Status.CONTRAINDICATED and "freshness.nonce_reused" in _rules(r)
        assert "freshness.seen_before" not in _rules(r)
    # ... and the original is still itself.
    assert _run(where, reopen, node, [node.envelope(m)])[0].status is Status.AFFIRMING


def test_a_manifest_first_judged_a_rollback_stays_one(where: str, reopen: list[VerifierState]) -> None:
    node = trusted_node()
    chain = [node.manifest(chain=True, now=NOW + timedelta(seconds=i)) for i in range(3)]
    _run(where, reopen, node, [node.envelope(m) for m in chain])
    # A new manifest (fresh nonce) claiming sequence 0 again: the node's chain goes back.
    back = node.manifest(now=NOW + timedelta(seconds=5))
    assert back.freshness.sequence == 0 and back.freshness.nonce != chain[0].freshness.nonce
    raw = node.envelope(back)
    for _ in range(3):  # first seen, then seen again: the first chain verdict stays
        r = _run(where, reopen, node, [raw])[0]
        assert r.status is Status.CONTRAINDICATED and "chain.sequence_rollback" in _rules(r), _rules(r)
    # The genuine manifests are still affirming when verified again.
    assert [r.status for r in _run(where, reopen, node, [node.envelope(m) for m in chain])] == [Status.AFFIRMING] * 3


def test_a_manifest_seen_before_is_judged_against_now(where: str, reopen: list[VerifierState]) -> None:
    node = trusted_node()
    raw = node.envelope(node.manifest())
    assert _run(where, reopen, node, [raw])[0].status is Status.AFFIRMING
    r = _run(where, reopen, node, [raw], now=NOW + timedelta(days=3))[0]
    assert r.status is Status.CONTRAINDICATED and "freshness.expired" in _rules(r)
    # A key revoked since is revoked for the manifests it signed before, seen or not.
    state = _open(where)
    reopen.append(state)
    r = verify_envelope(raw, node.trust.with_revoked(node.key.key_id), now=LATER, nonces=state, chains=state)
    assert r.status is Status.CONTRAINDICATED and "trust.key_revoked" in _rules(r)


def test_a_nonce_recorded_without_its_payload_is_a_replay(tmp_path: Path) -> None:
    # A state written before payloads were kept (or by a collector's batch record): it cannot tell
    # the same manifest from another, so it fails closed.
    node = trusted_node()
    m = node.manifest()
    state = SqliteVerifierState(tmp_path / "v.db")
    assert state.check_and_record(node.key.key_id, m.freshness.nonce, NOW + timedelta(days=1))
    r = verify_envelope(node.envelope(m), node.trust, now=LATER, nonces=state, chains=state)
    assert "freshness.nonce_reused" in _rules(r) and r.status is Status.CONTRAINDICATED
    state.close()


def test_cli_rerun_of_the_same_files_with_state(workspace: Path, cli: CliRunner, where: str) -> None:
    if where.startswith("memory:"):
        pytest.skip("memory lasts one call: tests/cli/test_cli.py gives the same files twice in one call")
    make_envelope(cli, "a")
    make_envelope(cli, "b", "--after", "a.json")
    make_envelope(cli, "c", "--after", "b.json")
    files = ["a.env.json", "b.env.json", "c.env.json"]
    first = cli("verify", *files, "--trust", "trust.json", "--state", where, "--format", "json", check_code=0)
    assert [json.loads(line)["status"] for line in first.stdout.splitlines()] == ["affirming"] * 3
    again = cli("verify", *files, "--trust", "trust.json", "--state", where, "--format", "json", check_code=0)
    results = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["status"] for r in results] == ["affirming"] * 3
    for r in results:
        rules = {f["rule"] for f in r["findings"]}
        assert "freshness.seen_before" in rules and not rules & REPLAY
    # Another manifest reusing a's nonce, and one going back to sequence 0: still replays.
    nonce = json.loads((workspace / "a.json").read_text())["freshness"]["nonce"]
    make_envelope(cli, "twin", "--nonce", nonce)
    make_envelope(cli, "back")
    for name, rule in (("twin", "freshness.nonce_reused"), ("back", "chain.sequence_rollback")):
        for _ in range(2):
            out = cli("verify", f"{name}.env.json", "--trust", "trust.json", "--state", where, "--format", "json", check_code=3)
            assert rule in {f["rule"] for f in json.loads(out.stdout)["findings"]}, out.stdout


def test_cli_state_url_without_a_server_is_one_clear_line(workspace: Path, cli: CliRunner) -> None:
    pytest.importorskip("psycopg")
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--state", "postgresql://attest@127.0.0.1:1/none", check_code=2)
    assert out.stderr.startswith("error:") and "internal error" not in out.stderr
    assert CLI_OPERATOR not in out.stderr


def test_memory_state_keeps_the_first_chain_verdict(node: Node) -> None:
    """The same manifest again after a newer one: its first verdict (none), not a rollback."""
    state = MemoryVerifierState()
    a, b = node.manifest(chain=True), node.manifest(chain=True, now=NOW + timedelta(seconds=1))
    raws = [node.envelope(a), node.envelope(b)]
    for raw in raws:
        r = verify_envelope(raw, node.trust, now=LATER, nonces=state, chains=state, devices=state)
        assert r.status is Status.AFFIRMING, _rules(r)
    again = verify_envelope(raws[0], node.trust, now=LATER, nonces=state, chains=state, devices=state)
    assert again.status is Status.AFFIRMING and "freshness.seen_before" in _rules(again), _rules(again)
    # A state whose chain store is another object cannot vouch for the chain: it is judged again.
    other = MemoryVerifierState()
    verify_envelope(raws[0], node.trust, now=LATER, nonces=other, chains=state)
    r = verify_envelope(raws[0], node.trust, now=LATER, nonces=other, chains=state)
    assert "chain.sequence_rollback" in _rules(r) and "freshness.seen_before" in _rules(r)


def test_memory_state_prunes_and_copies_its_sightings(node: Node) -> None:
    state = MemoryVerifierState()
    m = node.manifest()
    first = state.first_use(node.key.key_id, m.freshness.nonce, NOW + timedelta(hours=1), "sha256:a", NOW)
    assert first.new and first.payload == "sha256:a"
    state.note_chain(node.key.key_id, m.freshness.nonce, "sha256:b", "chain.fork")  # not its payload: ignored
    state.note_chain(node.key.key_id, m.freshness.nonce, "sha256:a", "")
    state.note_chain(node.key.key_id, m.freshness.nonce, "sha256:a", "chain.fork")  # never overwritten
    copy = state.copy()
    for s in (state, copy):
        again = s.first_use(node.key.key_id, m.freshness.nonce, NOW + timedelta(hours=1), "sha256:c", LATER)
        assert (again.new, again.payload, again.at, again.chain_rule) == (False, "sha256:a", NOW, "")
    assert state.prune(NOW + timedelta(hours=2)) == 1
    assert state.first_use(node.key.key_id, m.freshness.nonce, NOW + timedelta(hours=3), "sha256:c", LATER).new
    assert not copy.first_use(node.key.key_id, m.freshness.nonce, NOW, "sha256:c", LATER).new  # its own way
    # A pair recorded without its payload matches none (fails closed, as in SQLite).
    assert state.check_and_record(node.key.key_id, "n2", NOW + timedelta(hours=1))
    assert state.first_use(node.key.key_id, "n2", NOW, "sha256:a", LATER).payload == ""


def test_a_fork_found_in_one_batch_stays_a_fork_in_every_later_run(where: str, reopen: list[VerifierState]) -> None:
    """Both branches of a fork given in one call are refused, and the state keeps it: run again alone,
    in a later call (SQLite, PostgreSQL, memory), neither branch is affirmed whichever came first."""
    from tests.conftest import fork_branches

    node = trusted_node()
    first, a, b = fork_branches(node)
    e4, ea, eb = (node.envelope(m) for m in (first, a, b))
    batch = _run(where, reopen, node, [e4, ea, eb])
    assert [r.status for r in batch] == [Status.AFFIRMING, Status.CONTRAINDICATED, Status.CONTRAINDICATED]
    for raw in (ea, eb):
        (again,) = _run(where, reopen, node, [raw])
        assert again.status is Status.CONTRAINDICATED and "chain.fork" in _rules(again), again.findings
