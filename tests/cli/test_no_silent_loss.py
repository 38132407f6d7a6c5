"""No input is silently truncated or left out: oversize, empty and garbage inputs are refused out loud.

Everything runs the real ``attest`` command in a subprocess. Large files are sparse (their size
is what matters, not their bytes on disk).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from attest.errors import InputTooLarge
from attest.scheduler.evidence import read_envelopes
from attest.units import human_duration, human_size
from attest.verify import VerifyOptions, verify_envelope
from tests.conftest import NOW, CliRunner, make_envelope, trusted_node

FIFTY_MIB = 50 * 1024 * 1024


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def _entries(cli: CliRunner, log: str) -> str:
    return cli("log", "verify", "--log", log, check_code=0).stdout


@pytest.fixture
def logged(workspace: Path, cli: CliRunner) -> Path:
    """A workspace with an empty log and one signed envelope, m.env.json."""
    make_envelope(cli)
    cli("log", "init", "--log", "a.db", "--origin", "example.com/log", "--key", "node/attest.key", check_code=0)
    return workspace


def test_log_append_refuses_a_50_mib_file_whole_and_stores_nothing(logged: Path, cli: CliRunner) -> None:
    _sparse(logged / "big.bin", FIFTY_MIB)
    out = cli("log", "append", "big.bin", "--log", "a.db", check_code=2)
    assert "big.bin is 50 MiB, over the limit of 1 MiB" in out.stderr
    assert "OK: 0 entries" in _entries(cli, "a.db")
    # The same through standard input, whose size is only known by reading it.
    proc = subprocess.run(
        [sys.executable, "-m", "attest.cli.main", "log", "append", "-", "--log", "a.db"],
        cwd=logged,
        input=b"x" * (3 * 1024 * 1024),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert b"standard input is 3 MiB, over the limit of 1 MiB" in proc.stderr
    assert "OK: 0 entries" in _entries(cli, "a.db")


def test_log_append_refuses_empty_and_garbage_and_appends_nothing_of_the_batch(logged: Path, cli: CliRunner) -> None:
    (logged / "empty.json").write_bytes(b"")
    (logged / "garbage.json").write_bytes(b"\x00\xffnot json")
    out = cli("log", "append", "m.env.json", "empty.json", "--log", "a.db", check_code=2)
    assert "empty.json is empty" in out.stderr
    out = cli("log", "append", "m.env.json", "garbage.json", "--log", "a.db", check_code=2)
    assert "garbage.json is not a well-formed envelope" in out.stderr and "--allow-non-envelope" in out.stderr
    assert "OK: 0 entries" in _entries(cli, "a.db")  # the good envelope of the batch was not appended either
    # Said explicitly, other bytes are logged, with a warning naming each; an empty file never is.
    out = cli("log", "append", "m.env.json", "garbage.json", "--log", "a.db", "--allow-non-envelope", check_code=0)
    assert "warning: garbage.json is not a well-formed envelope" in out.stderr
    assert "m.env.json" not in out.stderr
    cli("log", "append", "empty.json", "--log", "a.db", "--allow-non-envelope", check_code=2)
    assert "OK: 2 entries" in _entries(cli, "a.db")


def test_log_append_stores_an_envelope_byte_for_byte(logged: Path, cli: CliRunner) -> None:
    out = cli("log", "append", "m.env.json", "--log", "a.db", "--format", "json", check_code=0)
    leaf = json.loads(out.stdout)["leaf_hash"]
    assert leaf == hashlib.sha256(b"\x00" + (logged / "m.env.json").read_bytes()).hexdigest()


def test_verify_and_inspect_name_the_real_size_of_an_oversize_envelope(logged: Path, cli: CliRunner) -> None:
    _sparse(logged / "big.json", FIFTY_MIB)
    out = cli("verify", "big.json", "m.env.json", "--trust", "trust.json", "--format", "json", "--policy", "none", check_code=3)
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["source"] == "big.json" and first["status"] == "contraindicated"
    assert first["findings"][0]["rule"] == "envelope.oversize"
    assert "50 MiB, over the limit of 1 MiB" in first["findings"][0]["message"]
    assert first["findings"][0]["evidence"]["size_bytes"] == FIFTY_MIB
    assert second["source"] == "m.env.json" and second["status"] != "contraindicated"  # the order is kept
    out = cli("verify", "big.json", "--trust", "trust.json", check_code=3)
    assert "50 MiB" in out.stdout
    out = cli("inspect", "big.json", check_code=2)
    assert "big.json is 50 MiB, over the limit of 1 MiB" in out.stderr


def test_a_job_spec_is_hashed_whole_not_its_first_mebibyte(workspace: Path, cli: CliRunner) -> None:
    spec = workspace / "job.sh"
    spec.write_bytes(b"#!/bin/sh\n" + b"# padding\n" * 300_000)  # about 3 MiB
    cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "slurm-1", "--operator",
        "Example Cloud Sdn. Bhd.", "--key", "node/attest.key", "--simulate", "h100", "--job-spec", "job.sh",
        "-o", "m.json", check_code=0)
    subjects = json.loads((workspace / "m.json").read_text())
    assert "sha256:" + hashlib.sha256(spec.read_bytes()).hexdigest() in json.dumps(subjects)


def test_admission_refuses_an_evidence_directory_with_an_oversize_file(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    (workspace / "ev").mkdir()
    (workspace / "ev" / "m.json").write_bytes((workspace / "m.env.json").read_bytes())
    _sparse(workspace / "ev" / "zz-big.json", FIFTY_MIB)
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "ev", "--trust", "trust.json", "--nodes", "x", check_code=2)
    assert "zz-big.json is 50 MiB, over the limit of 1 MiB" in out.stderr


def test_read_envelopes_raises_or_reports_what_it_did_not_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{}")
    _sparse(tmp_path / "big.json", 2 * 1024 * 1024)
    with pytest.raises(InputTooLarge, match=r"big\.json is 2 MiB, over the limit of 1 MiB") as err:
        read_envelopes(tmp_path)
    assert err.value.size == 2 * 1024 * 1024
    left_out: list[tuple[str, int]] = []
    assert read_envelopes(tmp_path, oversize=left_out) == [("a.json", b"{}")]
    assert left_out == [("big.json", 2 * 1024 * 1024)]


def test_sizes_and_durations_read_as_a_person_says_them() -> None:
    assert human_size(1024 * 1024) == "1 MiB"
    assert human_size(FIFTY_MIB) == "50 MiB"
    assert human_size(1024 * 1024 + 1) == "1.0 MiB (1,048,577 bytes)"  # never reads as the limit itself
    assert human_size(900) == "900 bytes"
    assert human_duration(timedelta(days=1)) == "24 h"
    assert human_duration(timedelta(days=1, seconds=1)) == "24 h 1 s"
    assert human_duration(timedelta(minutes=15)) == "15 min"
    assert human_duration(timedelta(days=7)) == "7 d"


def test_a_long_validity_window_is_said_in_hours() -> None:
    node = trusted_node()
    m = node.manifest()
    fresh = m.freshness.to_obj()
    fresh["expires_at"] = (m.freshness.issued_at + timedelta(hours=25)).isoformat()
    raw = node.envelope(node.manifest(freshness=fresh))
    result = verify_envelope(raw, node.trust, now=NOW, options=VerifyOptions())
    [window] = [f for f in result.findings if f.rule == "freshness.window_too_long"]
    assert window.message == "manifest is valid for 25 h, longer than the allowed 24 h"


def test_a_screening_list_that_is_not_utf8_is_refused_not_altered(tmp_path: Path, cli: CliRunner) -> None:
    (tmp_path / "l1.csv").write_bytes("name,country\nSociété Huawei,CN\n".encode("latin-1"))
    out = cli("lists", "import", "l1.csv", "--name", "t1", "--lists-dir", "ld", check_code=2)
    assert "not UTF-8 text" in out.stderr and "would be altered" in out.stderr
    assert not (tmp_path / "ld" / "t1.json").exists()


def test_fleet_sized_files_are_not_refused_by_an_envelopes_limit(tmp_path: Path, cli: CliRunner) -> None:
    from attest.crypto.keys import SigningKey

    keys = []
    for i in range(300):  # over 1 MiB with long comments, as a fleet's thousands of keys would be
        pub = SigningKey.generate().public
        keys.append({"key_id": pub.key_id, "algorithm": pub.algorithm.value, "public_key": pub.spki_b64(),
                     "operator": "Example Cloud Sdn. Bhd.", "countries": ["MY"], "comment": f"node {i} " + "x" * 4000})
    (tmp_path / "trust.json").write_text(json.dumps({"version": 1, "keys": keys}))
    assert (tmp_path / "trust.json").stat().st_size > 1024 * 1024
    out = cli("trust", "list", "--trust", "trust.json", "--format", "json", check_code=0)
    assert len(json.loads(out.stdout)["keys"]) == 300
