"""Times at the calendar's edges, signed by a trusted node key or given as options, through the real CLI.

A signed ``expires_at`` of 9999-12-31 or ``issued_at`` of 0001-01-01 once raised ``OverflowError``
in the verifier's arithmetic: ``attest verify`` printed nothing for a whole batch and exited 2,
hiding a contraindicated envelope beside it. Such a timestamp is now refused where it is read
(years 1970 to 2199), each envelope keeps its own verdict, and time options beyond their range
are usage errors that name the range.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from attest.crypto.dsse import encode_envelope, sign_payload
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.sign import build_statement
from tests.conftest import NOW, CliRunner, Node, trusted_node

LATER = (NOW + timedelta(minutes=1)).isoformat()
RANGE = "outside the years 1970 to 2199"


def _set(member: bytes, field: bytes, value: bytes) -> Callable[[bytes], bytes]:
    """An edit of the payload: ``field`` of the predicate's ``member`` object set to the string ``value``."""

    def edit(payload: bytes) -> bytes:
        start = payload.index(b'"' + member + b'":{')
        at = payload.index(b'"' + field + b'":"', start) + len(field) + 4
        end = payload.index(b'"', at)
        return payload[:at] + value + payload[end:]

    return edit


FAR = {
    "far_expiry": _set(b"freshness", b"expires_at", b"9999-12-31T23:59:59Z"),
    "far_issue": _set(b"freshness", b"issued_at", b"0001-01-01T00:00:00Z"),
    "far_start": _set(b"job", b"started_at", b"9999-12-31T23:59:59Z"),
}


def _signed(node: Node, edit: Callable[[bytes], bytes], **changes: object) -> bytes:
    """A manifest of ``node``, its payload edited, signed with the node's trusted key."""
    payload = build_statement(node.manifest(**changes)).model_dump_json(by_alias=True, exclude_none=True).encode()
    edited = edit(payload)
    assert edited != payload
    return encode_envelope(sign_payload(edited, PAYLOAD_TYPE_INTOTO, [node.key]))


def _batch(tmp_path: Path) -> tuple[Node, list[str]]:
    """A directory ``in`` with an honest envelope, three at the calendar's edges and a tampered one."""
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    folder = tmp_path / "in"
    folder.mkdir()
    honest = node.envelope(node.manifest(chain=True))
    (folder / "a_honest.json").write_bytes(honest)
    for name, edit in FAR.items():
        (folder / f"{name}.json").write_bytes(_signed(node, edit))
    tampered = bytearray(honest)
    tampered[300] = ord("A") if tampered[300] != ord("A") else ord("B")
    (folder / "z_tampered.json").write_bytes(bytes(tampered))
    return node, sorted(p.name for p in folder.iterdir())


def test_a_batch_with_timestamps_at_the_calendars_edges_keeps_every_verdict(tmp_path: Path, cli: CliRunner) -> None:
    _, names = _batch(tmp_path)
    files = [f"in/{n}" for n in names]
    out = cli("verify", *files, "--trust", "trust.json", "--now", LATER, "--format", "json")
    assert out.returncode == 3, out.stderr  # the tampered envelope decides, not an internal error
    assert "internal error" not in out.stderr
    results = {Path(r["source"]).name: r for r in map(json.loads, out.stdout.splitlines())}
    assert set(results) == set(names)
    assert results["a_honest.json"]["status"] == "affirming"
    assert results["z_tampered.json"]["status"] == "contraindicated"
    for name in FAR:
        r = results[f"{name}.json"]
        assert r["status"] == "contraindicated", name
        [finding] = [f for f in r["findings"] if f["severity"] == "contraindicated"]
        assert finding["rule"] == "statement.malformed" and RANGE in finding["message"], finding
    text = cli("verify", *files, "--trust", "trust.json", "--now", LATER, "--quiet")
    assert text.returncode == 3 and len(text.stdout.splitlines()) == len(names)


def test_an_audit_with_timestamps_at_the_calendars_edges_judges_every_envelope(tmp_path: Path, cli: CliRunner) -> None:
    _batch(tmp_path)
    out = cli("audit", "in", "--trust", "trust.json", "--now", LATER, "--format", "json", "--details")
    assert out.returncode == 3 and "internal error" not in out.stderr, out.stderr
    results = {Path(r["source"]).name: r["status"] for r in json.loads(out.stdout)["results"]}
    assert results == {
        "a_honest.json": "affirming",
        "far_expiry.json": "contraindicated",
        "far_issue.json": "contraindicated",
        "far_start.json": "contraindicated",
        "z_tampered.json": "contraindicated",
    }


def test_a_window_far_longer_than_allowed_ends_when_the_allowed_part_does(tmp_path: Path, cli: CliRunner) -> None:
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    raw = _signed(node, _set(b"freshness", b"expires_at", b"2199-12-31T23:59:59Z"))
    (tmp_path / "long.json").write_bytes(raw)
    soon = cli("verify", "long.json", "--trust", "trust.json", "--now", LATER, "--format", "json", check_code=1)
    assert [f["rule"] for f in json.loads(soon.stdout)["findings"] if f["severity"] == "warning"] == [
        "freshness.window_too_long"
    ]
    day_after = (NOW + timedelta(hours=25)).isoformat()
    late = cli("verify", "long.json", "--trust", "trust.json", "--now", day_after, "--format", "json", check_code=3)
    [expired] = [f for f in json.loads(late.stdout)["findings"] if f["rule"] == "freshness.expired"]
    assert expired["severity"] == "contraindicated"
    assert "2199-12-31T23:59:59Z" in expired["message"] and "at most 24 h after its issue" in expired["message"]


def test_admit_with_a_node_at_the_calendars_edge_still_decides(tmp_path: Path, cli: CliRunner) -> None:
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    (tmp_path / "tenant.json").write_text(json.dumps({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}))
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.json").write_bytes(node.envelope(node.manifest(chain=True)))
    for name, edit in FAR.items():
        (spool / f"{name}.json").write_bytes(_signed(node, edit, now=NOW + timedelta(seconds=30)))
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "spool", "--trust", "trust.json", "--gpus", "1",
              "--now", LATER, "--format", "json")
    assert out.returncode in (0, 3) and "internal error" not in out.stderr, out.stderr
    assert "allowed" in json.loads(out.stdout)


def test_time_options_beyond_their_range_are_usage_errors(tmp_path: Path, cli: CliRunner) -> None:
    _batch(tmp_path)
    (tmp_path / "tenant.json").write_text(json.dumps({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}))
    verify = ("verify", "in/a_honest.json", "--trust", "trust.json")
    audit = ("audit", "in", "--trust", "trust.json")
    admit = ("admit", "--tenant", "tenant.json", "--evidence", "in", "--trust", "trust.json")
    serve = ("collector", "serve", "--log", "log.db", "--trust", "trust.json")
    cases = [
        ((*verify, "--now", "9999-12-31T23:59:59Z"), RANGE),
        ((*verify, "--now", "9999-12-31"), RANGE),
        ((*verify, "--now", "0001-01-01T00:00:00+01:00"), RANGE),
        ((*verify, "--skew", "99999999999999"), "--skew: 99999999999999: must be between 0 and 86,400 seconds"),
        ((*verify, "--skew", "-1"), "must be between 0 and 86,400 seconds"),
        ((*verify, "--max-bytes", "0"), "--max-bytes: 0: must be between 1 and"),
        ((*audit, "--now", "9999-12-31T23:59:59Z"), RANGE),
        ((*audit, "--max-silence", "99999999999999h"), "a duration must be between 0 and 366d"),
        ((*audit, "--max-silence", "nanh"), "a duration must be between 0 and 366d"),
        ((*audit, "--max-log-delay", "99999999999999"), "a duration must be between 0 and 366d"),
        ((*audit, "--max-silence", "2x"), "is not a duration"),
        ((*admit, "--now", "9999-12-31T23:59:59Z"), RANGE),
        ((*admit, "--max-age", "99999999999999"), "--max-age: 99999999999999: must be between 1 and"),
        ((*admit, "--max-age", "0"), "--max-age: 0: must be between 1 and"),
        ((*serve, "--checkpoint-interval", "1e300"), "must be between 0.01 and 86,400 seconds"),
        ((*serve, "--quota", "1e300"), "must be between 0 and 1,000,000,000 a minute"),
        ((*serve, "--max-connections", "99999999999999"), "must be between 0 and 1,000,000"),
        ((*serve, "--header-timeout", "inf"), "is not a finite number"),
    ]
    for args, message in cases:
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and "internal error" not in out.stderr, (args, out.stderr)
