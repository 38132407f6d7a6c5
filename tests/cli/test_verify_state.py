"""``attest verify --state``: a batch's writes share a few transactions, and no verdict is printed before they are on disk."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from attest.replay import SqliteVerifierState
from tests.conftest import NOW, Node, trusted_node

LATER = (NOW + timedelta(minutes=1)).isoformat()


def _spool(tmp_path: Path, n: int) -> tuple[Node, list[str]]:
    """``n`` chained envelopes of one trusted node, as files, and the trust store beside them."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    names = []
    for i in range(n):
        name = f"m{i}.json"
        (tmp_path / name).write_bytes(node.envelope(node.manifest(chain=True)))
        names.append(name)
    return node, names


def _verify(
    tmp_path: Path, names: list[str], *, file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # in the child: files cannot grow past the limit (a full disk, for this process)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, resource.RLIM_INFINITY))

    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "attest.cli.main",
            "verify",
            *names,
            "--trust",
            "trust.json",
            "--now",
            LATER,
            "--state",
            "v.db",
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=limit,
    )


def test_every_verdict_printed_is_recorded_in_the_state(tmp_path: Path) -> None:
    node, names = _spool(tmp_path, 6)
    proc = _verify(tmp_path, names)
    assert proc.returncode == 0, proc.stderr
    assert [line.split(":")[1].split()[0] for line in proc.stdout.splitlines()] == ["AFFIRMING"] * 6
    state = SqliteVerifierState(tmp_path / "v.db")  # after the process: what it reported is on disk
    assert all(state.seen(node.key.key_id, m.freshness.nonce) for m in node.history)
    head = state.head(node.key.key_id)
    assert head is not None and head.sequence == node.history[-1].freshness.sequence
    state.close()


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_a_state_that_cannot_be_written_prints_no_verdict(tmp_path: Path) -> None:
    _, names = _spool(tmp_path, 6)
    held = SqliteVerifierState(tmp_path / "v.db")  # keeps the WAL and its index in place, at their sizes
    proc = _verify(tmp_path, names, file_size_limit=8192)  # the WAL cannot take the batch's pages
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""  # not one verdict: none of them was recorded
    assert "the verifier state" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr  # one error and its hint
    again = _verify(tmp_path, names)  # the disk has room again: judged as if for the first time
    assert again.returncode == 0, again.stderr
    assert "seen_before" not in again.stdout and again.stdout.count("AFFIRMING") == 6
    held.close()
