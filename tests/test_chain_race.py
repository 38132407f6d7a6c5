"""Two branches of a fork verified at once on one state: one advances the chain, the other is ``chain.fork``.

The chain check reads the node's head, judges, then moves the head by compare-and-set
(:class:`attest.replay.SwapChainStore`); a verifier that lost the race judges again against
the head the winner wrote. Without it both branches came out affirming, and every later
re-verification kept that (``freshness.seen_before`` keeps the first chain verdict).
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from attest.replay import ChainHead, MemoryChainStore, SqliteVerifierState
from attest.verify import Verifier
from tests.conftest import NOW, Node, fork_branches

LATER = NOW + timedelta(minutes=1)


class _MeetAtHead:
    """Mixin: the first ``head()`` read of each of two threads waits for the other's, so both read the same head."""

    barrier: threading.Barrier

    def head(self, key_id: str) -> ChainHead | None:
        got: ChainHead | None = super().head(key_id)  # type: ignore[misc]
        if not getattr(self._local, "met", False):
            self._local.met = True
            self.barrier.wait(timeout=60)
        return got


class _MeetingSqlite(_MeetAtHead, SqliteVerifierState):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.barrier = threading.Barrier(2)
        self._local = threading.local()


class _MeetingMemory(_MeetAtHead, MemoryChainStore):
    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2)
        self._local = threading.local()


def race(verifier: Verifier, node: Node) -> tuple[list[tuple[str, list[str]]], list[bytes]]:
    """Verify the first manifest, then both fork branches at once (each in a thread); their verdicts."""
    first, a, b = fork_branches(node)
    assert verifier.verify(node.envelope(first), now=LATER).status.value == "affirming"
    envelopes = [node.envelope(a), node.envelope(b)]
    out: dict[int, Any] = {}

    def go(i: int) -> None:
        out[i] = verifier.verify(envelopes[i], now=LATER)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [(out[i].status.value, [f.rule for f in out[i].findings]) for i in range(2)], envelopes


def assert_one_fork(verdicts: list[tuple[str, list[str]]]) -> None:
    statuses = sorted(s for s, _ in verdicts)
    assert statuses == ["affirming", "contraindicated"], verdicts
    loser = next(rules for s, rules in verdicts if s == "contraindicated")
    assert "chain.fork" in loser


def test_fork_branches_raced_on_sqlite_one_is_a_fork(tmp_path: Path, node: Node) -> None:
    state = _MeetingSqlite(tmp_path / "state.db")
    verifier = Verifier(node.trust, nonces=state, chains=state, devices=state)
    state._local.met = True  # the first manifest's read does not wait
    verdicts, envelopes = race(verifier, node)
    assert_one_fork(verdicts)
    # Verified again later, each keeps its verdict (the loser its fork: its first chain verdict).
    again = [verifier.verify(e, now=LATER) for e in envelopes]
    assert [r.status.value for r in again] == [s for s, _ in verdicts]
    assert all("freshness.seen_before" in {f.rule for f in r.findings} for r in again)
    state.close()


def test_fork_branches_raced_on_memory_one_is_a_fork(node: Node) -> None:
    chains = _MeetingMemory()
    chains._local.met = True
    verdicts, _ = race(Verifier(node.trust, chains=chains), node)
    assert_one_fork(verdicts)


def _worker(db: str, envelope: bytes, trust: Any, barrier: Any, queue: Any) -> None:
    state = SqliteVerifierState(db)
    verifier = Verifier(trust, nonces=state, chains=state, devices=state)
    barrier.wait()
    result = verifier.verify(envelope, now=LATER)
    queue.put(result.status.value)
    state.close()


def test_two_processes_never_both_affirm_a_fork(tmp_path: Path, node: Node) -> None:
    """Two real processes on one SQLite file, each verifying one branch at the same moment, a few times."""
    first, a, b = fork_branches(node)
    ctx = multiprocessing.get_context("fork")
    for trial in range(4):
        db = str(tmp_path / f"race{trial}.db")
        state = SqliteVerifierState(db)
        Verifier(node.trust, nonces=state, chains=state, devices=state).verify(
            node.envelope(first), now=LATER
        )
        state.close()
        barrier, queue = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(db, e, node.trust, barrier, queue))
            for e in (node.envelope(a), node.envelope(b))
        ]
        for p in procs:
            p.start()
        statuses = sorted(queue.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert statuses == ["affirming", "contraindicated"], (trial, statuses)
