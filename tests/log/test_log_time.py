"""The log keeps time: entries carry their integration time, checkpoints a time line, audits flag backdating."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attest.crypto.keys import SigningKey
from attest.log import Log
from attest.log.checkpoint import open_checkpoint
from tests.conftest import trusted_node


def test_entries_and_checkpoints_carry_the_logs_time(tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    before = datetime.now(UTC).timestamp()
    log.append([b"a\n", b"b\n"])
    after = datetime.now(UTC).timestamp()
    at = log.store.integrated_at(1)
    assert at is not None and before <= at <= after
    cp = open_checkpoint(log.checkpoint(key), log.key_name, log.public, origin=log.origin)
    assert cp.timestamp is not None and int(before) <= cp.timestamp <= after


def test_an_audit_flags_a_manifest_integrated_long_after_its_claimed_issue_time(tmp_path: Path, cli: Any) -> None:
    """A node whose clock is 2 h behind: its manifests look fresh as of their issue time; the log's time says otherwise."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    (tmp_path / "honest.json").write_bytes(node.envelope(node.manifest(now=now, chain=True)))
    (tmp_path / "backdated.json").write_bytes(node.envelope(node.manifest(now=now - timedelta(hours=2), chain=True)))
    key = SigningKey.generate()
    Log.init(tmp_path / "audit.db", "example.com/log", key).store.close()
    cli("log", "append", "honest.json", "backdated.json", "--log", "audit.db", check_code=0)
    out = cli("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    results = {r["source"]: r for r in json.loads(out.stdout)["results"]}
    honest, backdated = results["audit.db#0"], results["audit.db#1"]
    assert "log.integration_time" not in [f["rule"] for f in honest["findings"]]
    assert "log.integration_time" in [f["rule"] for f in backdated["findings"]]
    assert backdated["status"] != "affirming"
    # the same envelopes from a directory: no log, no integration time, no such finding
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b.json").write_bytes((tmp_path / "backdated.json").read_bytes())
    out = cli("audit", "dir", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    assert "log.integration_time" not in out.stdout


def test_rejudge_replaces_verdicts_that_a_wrong_clock_stored(tmp_path: Path, cli: Any) -> None:
    """Verdicts stored under a wrong clock are judged again as of the log's time for each entry."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    (tmp_path / "fresh.json").write_bytes(node.envelope(node.manifest(now=now, chain=True)))
    (tmp_path / "stale.json").write_bytes(node.envelope(node.manifest(now=now - timedelta(hours=2), chain=True)))
    key = SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    cli("log", "append", "fresh.json", "stale.json", "--log", "audit.db", check_code=0)
    # what a collector whose clock was 2 h behind stored: the stale one judged fresh, the fresh one "not yet valid"
    log.store.put_result(0, "contraindicated", json.dumps({"status": "contraindicated"}))
    log.store.put_result(1, "affirming", json.dumps({"status": "affirming"}))
    dry = cli("log", "rejudge", "--log", "audit.db", "--trust", "trust.json", "--policy", "none", "--dry-run",
              "--format", "json", check_code=0)
    assert json.loads(dry.stdout)["changed"] == {"contraindicated -> affirming": 1, "affirming -> contraindicated": 1}
    assert json.loads(log.store.result(1) or "{}")["status"] == "affirming"  # a dry run stores nothing
    cli("log", "rejudge", "--log", "audit.db", "--trust", "trust.json", "--policy", "none", check_code=0)
    stale = json.loads(log.store.result(1) or "{}")
    assert stale["status"] == "contraindicated" and "freshness.expired" in [f["rule"] for f in stale["findings"]]
    assert json.loads(log.store.result(0) or "{}")["status"] == "affirming"
    again = cli("log", "rejudge", "--log", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json",
                check_code=0)
    assert json.loads(again.stdout)["changed"] == {}
