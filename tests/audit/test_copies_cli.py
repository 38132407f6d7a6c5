"""``attest audit`` judges copies of a manifest as ``attest verify`` with one state does, in every worker layout.

A byte-identical copy of an envelope, or its payload signed again by the same node key, is the
same manifest seen again (``freshness.seen_before``, its first chain verdict kept), not a
replay of itself; a different payload reusing a (node key, nonce) pair is a replay
(``freshness.nonce_reused``, contraindicated). Whether the audit runs on one process or
several, and wherever the cut between speculative pieces falls, the verdicts are the same.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import Algorithm
from tests.conftest import NOW, CliRunner, Node, trusted_node

AT = (NOW + timedelta(minutes=10)).isoformat()  # every manifest below is still valid then


def _fleet(tmp_path: Path) -> list[str]:
    """Three nodes' envelopes (one with a long history, cut into pieces with --jobs 2 and 4), with copies.

    Returns the names of the files in ``tmp_path / "env"``, sorted as the audit reads them.
    """
    long, ecdsa, short = trusted_node(), trusted_node(Algorithm.ECDSA_P256), trusted_node()
    ecdsa.host, short.host = "gpu-b02", "gpu-c03"
    trust = long.trust.with_key(ecdsa.key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"])
    trust = trust.with_key(short.key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"])
    trust.save(tmp_path / "trust.json")
    env = tmp_path / "env"
    env.mkdir()

    def write(name: str, raw: bytes) -> None:
        (env / name).write_bytes(raw)

    def history(node: Node, n: int) -> list[bytes]:
        out = []
        for t in range(n):
            raw = node.envelope(node.manifest(now=NOW + timedelta(seconds=10 * t), chain=True))
            write(f"{node.host}-{t:03d}.json", raw)
            out.append(raw)
        return out

    a = history(long, 24)
    write("zz-copy-a-001.json", a[1])  # a copy of an early manifest, read in a later piece
    write("zz-copy1-a-020.json", a[20])
    write("zz-copy2-a-020.json", a[20])  # two copies of one manifest
    (env / "gpu-a17-011.json").unlink()  # a gap before manifest 12, whose copy keeps that verdict
    write("zz-late-a-012.json", a[12])
    # A different payload reusing manifest 5's nonce: a replay, and a copy of that replay.
    m5 = long.history[5]
    reuse = long.manifest(now=NOW + timedelta(seconds=55), freshness={**m5.freshness.to_obj(), "issued_at": (NOW + timedelta(seconds=55)).isoformat()})
    replay = long.envelope(reuse)
    write("replay-a-005.json", replay)
    write("replay-a-005-copy.json", replay)
    b = history(ecdsa, 6)
    resigned = ecdsa.envelope(ecdsa.history[2])  # ECDSA signatures differ each time: new bytes, same payload
    assert resigned != b[2]
    write("resigned-b-002.json", resigned)
    c = history(short, 3)
    write("zz-copy-c-000.json", c[0])
    return sorted(p.name for p in env.iterdir())


def _verdicts(lines: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    """Each result's status and the rules of its findings (every finding but plain notes), by file name."""
    return {
        Path(r["source"]).name: (
            r["status"],
            sorted(f["rule"] for f in r["findings"] if f["severity"] != "info" or f["rule"] == "freshness.seen_before"),
        )
        for r in lines
    }


@pytest.mark.slow
def test_audit_judges_copies_as_verify_does_in_every_layout(tmp_path: Path, cli: CliRunner) -> None:
    names = _fleet(tmp_path)
    verify = cli("verify", *(f"env/{n}" for n in names), "--trust", "trust.json", "--now", AT, "--policy", "none", "--state", "v.db", "--format", "json")
    assert verify.returncode == 3, verify.stderr  # the replays
    expected = _verdicts([json.loads(line) for line in verify.stdout.splitlines()])
    assert set(expected) == set(names)
    # What verify says of the copies, that the audit must say too.
    for copy in ("zz-copy-a-001.json", "zz-copy2-a-020.json", "resigned-b-002.json", "zz-copy-c-000.json"):
        assert expected[copy] == ("affirming", ["freshness.seen_before"]), (copy, expected[copy])
    assert expected["gpu-a17-020.json"] == ("affirming", [])  # the first of three identical files read
    assert expected["zz-copy1-a-020.json"] == ("affirming", ["freshness.seen_before"])
    assert expected["gpu-a17-012.json"] == ("warning", ["chain.gap"])
    assert expected["zz-late-a-012.json"] == ("warning", ["chain.gap", "freshness.seen_before"])
    for replay in ("replay-a-005.json", "replay-a-005-copy.json"):
        assert expected[replay][0] == "contraindicated" and "freshness.nonce_reused" in expected[replay][1]
    for jobs in ("1", "2", "4"):
        proc = cli("audit", "env", "--trust", "trust.json", "--now", AT, "--as-of", "now", "--policy", "none", "--details", "--format", "json", "--jobs", jobs)
        assert proc.returncode == 3, proc.stderr
        got = _verdicts(json.loads(proc.stdout)["results"])
        assert got == expected, (jobs, {k: (v, expected.get(k)) for k, v in got.items() if v != expected.get(k)})
