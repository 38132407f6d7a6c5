"""The log keeps time: entries carry their integration time, checkpoints a time line, audits flag backdating."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attest.crypto.keys import SigningKey
from attest.log import Log
from attest.log.checkpoint import Checkpoint, open_checkpoint
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


def _timed_log_with_a_backdated_manifest(where: Path | str, tmp_path: Path) -> tuple[Log, SigningKey]:
    """A log where a node with a clock 2 h behind got a manifest in, between two signed checkpoints."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    log.append([node.envelope(node.manifest(now=now, chain=True))])
    log.checkpoint(key)  # size 1: entry 1 is not in it
    log.append([node.envelope(node.manifest(now=now - timedelta(hours=2), chain=True))])
    log.checkpoint(key)  # size 2: entry 1 is
    return log, key


def _rules(out: str) -> dict[str, list[str]]:
    return {r["source"]: [f["rule"] for f in r["findings"]] for r in json.loads(out)["results"]}


def _warned(out: str) -> dict[str, list[str]]:
    """The rules above info, by source."""
    return {
        r["source"]: [f["rule"] for f in r["findings"] if f["severity"] != "info"] for r in json.loads(out)["results"]
    }


def test_a_rewritten_integration_time_is_caught_by_log_verify_and_the_audit(tmp_path: Path, cli: Any) -> None:
    """F4: a dishonest log operator moves the backdated manifest's integration time back to its claimed
    issue time (hiding the backdating) by SQL; the signed checkpoints' time lines give it away."""
    import sqlite3

    _timed_log_with_a_backdated_manifest(tmp_path / "audit.db", tmp_path)
    audit = ("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    assert "OK: 2 entries" in cli("log", "verify", "--log", "audit.db", check_code=0).stdout
    honest = _rules(cli(*audit, check_code=1).stdout)  # the backdated one is a warning
    assert "log.integration_time" in honest["audit.db#1"]
    assert not any(r.startswith("log.integration_time_") for rs in honest.values() for r in rs), honest
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE entries SET at = at - 7200 WHERE idx = 1")
    out = cli("log", "verify", "--log", "audit.db", check_code=3).stdout
    assert out.startswith("DAMAGED") and "entry 1: integration time" in out and "size 1" in out, out
    report = cli(*audit, check_code=3).stdout
    rules = _rules(report)
    assert "log.integration_time_rewritten" in rules["audit.db#1"] and "log.integration_time" not in rules["audit.db#1"]
    assert {r["source"]: r["status"] for r in json.loads(report)["results"]}["audit.db#1"] == "contraindicated"
    # Framing a node the other way: an honest entry's time moved 2 h later than the checkpoint that includes it.
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE entries SET at = at + 7200 WHERE idx = 1")
        db.execute("UPDATE entries SET at = at + 7200 WHERE idx = 0")
    out = cli("log", "verify", "--log", "audit.db", "--format", "json", check_code=3).stdout
    assert [p for p in json.loads(out)["problems"] if p.startswith("entry 0:")], out
    assert "log.integration_time_rewritten" in _rules(cli(*audit, check_code=3).stdout)["audit.db#0"]
    # A time that is no time at all (NaN cannot be stored by SQLite; a huge one can) is a finding, not a crash.
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE entries SET at = 1e300 WHERE idx = 0")
    assert "entry 0: integration time" in cli("log", "verify", "--log", "audit.db", check_code=3).stdout


def test_entries_no_signed_checkpoint_covers_are_unconfirmed(tmp_path: Path, cli: Any) -> None:
    """Deleting the checkpoints (or never signing one) leaves times that only the operator vouches for."""
    import sqlite3

    _timed_log_with_a_backdated_manifest(tmp_path / "audit.db", tmp_path)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("DELETE FROM checkpoints")
        db.execute("UPDATE entries SET at = at - 7200 WHERE idx = 1")
    report = cli("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details",
                 check_code=1).stdout
    statuses = {r["source"]: r["status"] for r in json.loads(report)["results"]}
    assert statuses == {"audit.db#0": "warning", "audit.db#1": "warning"}  # never affirming
    assert all("log.integration_time_unsigned" in rs for rs in _rules(report).values())


def test_a_rewritten_integration_time_in_postgresql_is_caught(postgres_url: str, tmp_path: Path, cli: Any) -> None:
    """F4 on the fleet's PostgreSQL log: the same rewrite by SQL, the same findings."""
    import psycopg

    _timed_log_with_a_backdated_manifest(postgres_url, tmp_path)
    audit = ("audit", postgres_url, "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    cli("log", "verify", "--log", postgres_url, check_code=0)
    name = postgres_url.rsplit("/", 1)[-1]
    assert "log.integration_time_rewritten" not in cli(*audit, check_code=1).stdout
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE entries SET at = at - 7200 WHERE idx = 1")
    assert "entry 1: integration time" in cli("log", "verify", "--log", postgres_url, check_code=3).stdout
    assert "log.integration_time_rewritten" in _rules(cli(*audit, check_code=3).stdout)[f"{name}#1"]
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE entries SET at = 'NaN' WHERE idx = 1")
    assert "entry 1: integration time nan is not a time" in cli("log", "verify", "--log", postgres_url,
                                                                check_code=3).stdout


def test_deleting_the_checkpoint_before_a_rewritten_time_does_not_hide_backdating(tmp_path: Path, cli: Any) -> None:
    """The operator deletes the signed checkpoint that bounds entry 1's time from below, then moves
    the time back to the manifest's claimed issue time: nothing contradicts the column now, but the
    signed checkpoint that first holds the entry still dates it, so the audit still flags it."""
    import sqlite3

    _timed_log_with_a_backdated_manifest(tmp_path / "audit.db", tmp_path)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("DELETE FROM checkpoints WHERE size = 1")
        db.execute("UPDATE entries SET at = at - 7200 WHERE idx = 1")
    report = cli("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details",
                 check_code=1).stdout
    assert "log.integration_time" in _rules(report)["audit.db#1"]
    assert {r["source"]: r["status"] for r in json.loads(report)["results"]}["audit.db#1"] == "warning"


def _backdated_first_entry(where: Path | str, tmp_path: Path) -> None:
    """A log whose only entry is a manifest backdated 2 h, covered by a checkpoint signed now."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    log.append([node.envelope(node.manifest(now=datetime.now(UTC) - timedelta(hours=2), chain=True))])
    log.checkpoint(key)
    log.store.close()


def test_an_integration_time_removed_from_the_database_is_caught(tmp_path: Path, cli: Any) -> None:
    """Review F1: the operator sets a backdated entry's time to NULL (or drops the column), so that no
    time contradicts the checkpoints: log verify says DAMAGED, and the audit still dates the entry by the
    checkpoint that covers it (backdated) besides flagging the removed time."""
    import sqlite3

    _backdated_first_entry(tmp_path / "audit.db", tmp_path)
    audit = ("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    assert "log.integration_time" in _rules(cli(*audit, check_code=1).stdout)["audit.db#0"]
    for attack in ("UPDATE entries SET at = NULL WHERE idx = 0", "ALTER TABLE entries DROP COLUMN at"):
        with sqlite3.connect(tmp_path / "audit.db") as db:
            db.execute(attack)
        out = cli("log", "verify", "--log", "audit.db", check_code=3).stdout
        assert out.startswith("DAMAGED") and "entry 0: the log keeps integration times but has none" in out, out
        report = cli(*audit, check_code=3).stdout
        rules = _rules(report)["audit.db#0"]
        assert "log.integration_time_rewritten" in rules and "log.integration_time" in rules, (attack, rules)
        assert {r["source"]: r["status"] for r in json.loads(report)["results"]}["audit.db#0"] == "contraindicated"


def test_a_log_from_before_times_were_kept_is_not_flagged(tmp_path: Path, cli: Any) -> None:
    """A log created before integration times existed gains the column on its next write: its old
    entries are not 'removed' times, its new ones are timed, and a new one set to NULL is caught."""
    import sqlite3

    log = Log.init(tmp_path / "audit.db", "example.com/log", SigningKey.generate())
    log.append([b"old\n"])
    log.store.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:  # what a log of that version looked like
        db.execute("ALTER TABLE entries DROP COLUMN at")
        db.execute("DELETE FROM meta WHERE key = 'times_kept_from'")
    log = Log.open(tmp_path / "audit.db")  # opened for writing: the column comes back
    log.append([b"new\n"])
    assert log.untimed() == [] and log.store.integrated_at(1) is not None
    log.store.close()
    cli("log", "verify", "--log", "audit.db", check_code=0)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE entries SET at = NULL WHERE idx = 1")
    assert "entry 1: the log keeps" in cli("log", "verify", "--log", "audit.db", check_code=3).stdout


def test_an_integration_time_removed_in_postgresql_is_caught(postgres_url: str, tmp_path: Path, cli: Any) -> None:
    """Review F1 on PostgreSQL: the same NULL, the same findings."""
    import psycopg

    _backdated_first_entry(postgres_url, tmp_path)
    name = postgres_url.rsplit("/", 1)[-1]
    audit = ("audit", postgres_url, "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE entries SET at = NULL WHERE idx = 0")
    assert "entry 0: the log keeps" in cli("log", "verify", "--log", postgres_url, check_code=3).stdout
    rules = _rules(cli(*audit, check_code=3).stdout)[f"{name}#0"]
    assert "log.integration_time_rewritten" in rules and "log.integration_time" in rules


def test_a_log_key_pinned_by_the_auditor_refuses_a_database_that_names_another(tmp_path: Path, cli: Any) -> None:
    """Review F2: with write access to the database only, the operator names a key of their own in
    ``meta`` and re-signs the checkpoints with a chosen time line (hiding a backdated manifest). Not
    pinned, the audit says the log's times are unconfirmed (never affirming); pinned, both log verify
    and the audit refuse the log (exit 3), naming the two keys."""
    import sqlite3

    from attest.log.checkpoint import verifier_key

    _backdated_first_entry(tmp_path / "audit.db", tmp_path)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        (tmp_path / "log.pub").write_text(db.execute("SELECT value FROM meta WHERE key = 'verifier_key'").fetchone()[0])
        forged, fake = SigningKey.generate(), datetime.now(UTC).timestamp() - 7200
        db.execute("UPDATE meta SET value = ? WHERE key = 'verifier_key'", (verifier_key("example.com/log", forged.public),))
        for size, root in db.execute("SELECT size, root FROM checkpoints").fetchall():
            note = Checkpoint("example.com/log", size, bytes(root), int(fake + 60)).sign("example.com/log", forged)
            db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, size))
        db.execute("UPDATE entries SET at = ?", (fake + 30,))
    audit = ("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details")
    report = cli(*audit, check_code=1).stdout  # the attack hides the backdating, but not the missing pin
    assert _warned(report)["audit.db#0"] == ["log.key_unpinned"], _warned(report)
    assert "OK" in cli("log", "verify", "--log", "audit.db", check_code=0).stdout
    pinned = cli(*audit, "--log-key", "log.pub", check_code=3)
    assert "signed by another key than the one pinned" in pinned.stderr and pinned.stdout == ""
    refused = cli("log", "verify", "--log", "audit.db", "--log-key", "log.pub", check_code=3)
    assert "signed by another key than the one pinned" in refused.stderr and "Traceback" not in refused.stderr


def test_time_lines_without_the_witnesses_cosignatures_are_unconfirmed(tmp_path: Path, cli: Any) -> None:
    """Review F2: the log key's holder re-signs the checkpoints with a chosen time line (the witness's
    cosignatures drop off). With --cosignatures 1 the re-signed times are log.integration_time_unconfirmed;
    the honest, cosigned log is not."""
    import sqlite3

    from attest.log.cosignature import WitnessKey, cosign

    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    key, wkey = SigningKey.generate(), SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    (tmp_path / "log.pub").write_text(log.store.meta("verifier_key") or "")
    (tmp_path / "w.vkey").write_text(WitnessKey("w.example/w", wkey.public).vkey())
    log.append([node.envelope(node.manifest(now=datetime.now(UTC) - timedelta(hours=2), chain=True))])
    note = log.checkpoint(key)
    cp = open_checkpoint(note, log.key_name, log.public, origin=log.origin)
    assert cp.timestamp is not None
    log.add_cosignatures(note, cosign(note.partition("\n\n")[0] + "\n", "w.example/w", wkey, cp.timestamp))
    log.store.close()
    audit = ("audit", "audit.db", "--trust", "trust.json", "--policy", "none", "--format", "json", "--details",
             "--log-key", "log.pub", "--witness", "w.vkey", "--cosignatures", "1")
    assert _warned(cli(*audit, check_code=1).stdout)["audit.db#0"] == ["log.integration_time"]  # backdated, confirmed
    cli("log", "verify", "--log", "audit.db", "--log-key", "log.pub", "--witness", "w.vkey", "--cosignatures", "1",
        check_code=0)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        fake = cp.timestamp - 7200
        for size, root in db.execute("SELECT size, root FROM checkpoints").fetchall():
            forged = Checkpoint("example.com/log", size, bytes(root), fake + 60).sign("example.com/log", key)
            db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (forged, size))
        db.execute("UPDATE entries SET at = ?", (fake + 30,))
    assert _warned(cli(*audit, check_code=1).stdout)["audit.db#0"] == ["log.integration_time_unconfirmed"]
    out = cli("log", "verify", "--log", "audit.db", "--log-key", "log.pub", "--witness", "w.vkey",
              "--cosignatures", "1", check_code=1).stdout
    assert "not confirmed by a checkpoint with 1 witness cosignature" in out, out
