"""Seen-nonce and chain-head stores: in memory, and SQLite shared between real processes."""

from __future__ import annotations

import contextlib
import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest

from attest.errors import StoreError
from attest.replay import ChainHead, MemoryChainStore, MemoryNonceStore, SqliteVerifierState
from attest.verify import verify_envelope
from tests.conftest import NOW, Node


def test_memory_nonce_store() -> None:
    s = MemoryNonceStore()
    assert s.check_and_record("k", "n", NOW)
    assert not s.check_and_record("k", "n", NOW)
    assert s.check_and_record("other", "n", NOW)  # nonces are per key
    assert s.prune(NOW + timedelta(seconds=1)) == 2
    assert s.check_and_record("k", "n", NOW)


def test_sqlite_state_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    s = SqliteVerifierState(db)
    assert s.check_and_record("k", "n", NOW)
    s.advance("k", ChainHead(3, "sha256:" + "a" * 64))
    s.advance("k", ChainHead(2, "sha256:" + "b" * 64))  # older: ignored
    s.close()
    s = SqliteVerifierState(db)
    assert not s.check_and_record("k", "n", NOW)
    assert s.head("k") == ChainHead(3, "sha256:" + "a" * 64)
    assert s.head("nobody") is None
    assert s.prune(NOW + timedelta(hours=1)) == 1
    s.close()


def test_memory_chain_store_only_moves_forward() -> None:
    c = MemoryChainStore()
    c.advance("k", ChainHead(5, "d5"))
    c.advance("k", ChainHead(4, "d4"))
    assert c.head("k") == ChainHead(5, "d5")


def _race(db: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue, batched: bool) -> None:  # type: ignore[type-arg]
    s = SqliteVerifierState(db)
    barrier.wait()
    with s.batch(hold=0.001) if batched else contextlib.nullcontext():
        wins = sum(s.check_and_record("k", f"n{i}", NOW) for i in range(200))
    out.put(wins)
    s.close()


@pytest.mark.parametrize("batched", [False, True], ids=["each-write", "batched"])
def test_two_processes_never_both_accept_a_nonce(tmp_path: Path, batched: bool) -> None:
    db = str(tmp_path / "v.db")
    SqliteVerifierState(db).close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    out: multiprocessing.Queue[int] = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(db, barrier, out, batched)) for _ in range(3)]
    for p in procs:
        p.start()
    wins = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(wins) == 200, wins  # each of the 200 nonces accepted exactly once


def test_replay_detected_across_verifier_runs(tmp_path: Path, node: Node) -> None:
    m = node.manifest()
    later = NOW + timedelta(minutes=1)
    s = SqliteVerifierState(tmp_path / "v.db")
    assert verify_envelope(node.envelope(m), node.trust, now=later, nonces=s, chains=s).status.value == "affirming"
    s.close()
    s = SqliteVerifierState(tmp_path / "v.db")
    # The same manifest again is itself (tests/log/test_reverify.py); another one with its nonce is a replay.
    other = node.manifest(job={"id": "slurm-other", "scheduler": "slurm", "phase": "start"}, freshness=m.freshness.to_obj())
    r = verify_envelope(node.envelope(other), node.trust, now=later, nonces=s, chains=s)
    assert "freshness.nonce_reused" in [f.rule for f in r.findings if f.severity.value != "info"]
    s.close()


def test_unopenable_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"the verifier state \(.*no-such-dir.*\) cannot be opened"):
        SqliteVerifierState(tmp_path / "no-such-dir" / "v.db")


def test_a_batch_has_recorded_every_write_when_it_ends(tmp_path: Path, node: Node) -> None:
    """What a verifier reported within a batch is in the file, for any other reader, once the block ends."""
    later = NOW + timedelta(minutes=1)
    s = SqliteVerifierState(tmp_path / "v.db")
    with s.batch(hold=3600):  # one transaction for the whole block
        for _ in range(4):
            r = verify_envelope(node.envelope(node.manifest(chain=True)), node.trust, now=later, nonces=s, chains=s)
            assert r.status.value == "affirming", r.findings
    other = SqliteVerifierState(tmp_path / "v.db")  # another connection, as another process would read it
    s.close()  # nothing left to commit on close
    assert all(other.seen(node.key.key_id, m.freshness.nonce) for m in node.history)
    head = other.head(node.key.key_id)
    assert head is not None and head.sequence == node.history[-1].freshness.sequence
    other.close()


def test_an_error_within_a_batch_undoes_its_uncommitted_writes_and_is_raised(tmp_path: Path) -> None:
    s = SqliteVerifierState(tmp_path / "v.db")
    with pytest.raises(RuntimeError, match="stop"), s.batch(hold=3600):
        assert s.check_and_record("k", "n1", NOW)
        s.advance("k", ChainHead(1, "sha256:" + "a" * 64))
        raise RuntimeError("stop")
    assert s.check_and_record("k", "n1", NOW)  # not recorded: the batch rolled back
    assert s.head("k") is None
    with s.batch():  # and the state works on, in and out of batches
        assert not s.check_and_record("k", "n1", NOW)
    s.close()


def test_a_batch_held_past_its_time_commits_so_others_can_write(tmp_path: Path) -> None:
    s = SqliteVerifierState(tmp_path / "v.db")
    other = SqliteVerifierState(tmp_path / "v.db", timeout=0.05)
    with s.batch(hold=0):  # every write after the first commits the one before
        assert s.check_and_record("k", "n1", NOW)
        assert s.check_and_record("k", "n2", NOW)
        assert other.seen("k", "n1")  # committed while the batch goes on
        assert not other.seen("k", "n2")  # not yet: in the open transaction
        with pytest.raises(StoreError, match="locked"):  # the open transaction holds the write lock
            other.check_and_record("k", "n3", NOW)
    assert other.check_and_record("k", "n3", NOW) and other.seen("k", "n2")
    s.close()
    other.close()
