"""``attest inspect``: the decoded manifest, marked NOT VERIFIED unless --trust verifies it first."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import CLI_OPERATOR, CliRunner, make_envelope


def forge(workspace: Path) -> None:
    """m.env.json with its tenant renamed and the envelope re-encoded: the signature no longer matches."""
    env = json.loads((workspace / "m.env.json").read_text())
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["tenant"]["legal_name"] = "Forged Ltd."
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (workspace / "forged.json").write_text(json.dumps(env))


def test_without_trust_the_manifest_is_shown_and_marked_not_verified(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("inspect", "m.env.json", check_code=0)
    assert out.stdout.startswith("NOT VERIFIED:")
    assert "tenant        Example Robotics Inc. (US)" in out.stdout and f"operator      {CLI_OPERATOR} (MY)" in out.stdout
    assert "gpus          8× NVIDIA H100" in out.stdout and '"facility_id": "jhb-2"' in out.stdout
    obj = json.loads(cli("inspect", "m.env.json", "--format", "json", check_code=0).stdout)
    assert obj["checked"] is False and obj["status"] is None and obj["authenticated"] is False
    assert obj["warning"].startswith("NOT VERIFIED")
    assert obj["manifest"]["site"]["facility_id"] == "jhb-2" and "result" not in obj
    # A forgery decodes just as well: without --trust nothing tells them apart but the banner.
    forge(workspace)
    out = cli("inspect", "forged.json", check_code=0)
    assert out.stdout.startswith("NOT VERIFIED:") and "Forged Ltd." in out.stdout


def test_with_trust_the_verdict_is_beside_the_manifest(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("inspect", "m.env.json", "--trust", "trust.json", check_code=0)
    assert out.stdout.startswith("VERDICT (verified against trust.json): AFFIRMING")
    assert "NOT VERIFIED" not in out.stdout and "NOT AUTHENTICATED" not in out.stdout
    obj = json.loads(cli("inspect", "m.env.json", "--trust", "trust.json", "--format", "json", check_code=0).stdout)
    assert obj["checked"] and obj["authenticated"] and obj["status"] == obj["result"]["status"] == "affirming"
    assert "warning" not in obj
    # The forgery is contraindicated (exit 3), and its content is marked as not authenticated.
    forge(workspace)
    out = cli("inspect", "forged.json", "--trust", "trust.json", "--allow-no-revocation", check_code=3)
    assert out.stdout.startswith("VERDICT (verified against trust.json): CONTRAINDICATED")
    assert "NOT AUTHENTICATED" in out.stdout and "Forged Ltd." in out.stdout
    obj = json.loads(cli("inspect", "forged.json", "--trust", "trust.json", "--format", "json", check_code=3).stdout)
    assert obj["authenticated"] is False and obj["warning"].startswith("NOT AUTHENTICATED")
    assert obj["checked"] and obj["status"] == "contraindicated"


def test_a_flipped_byte_with_trust_gives_the_verdict_without_a_manifest(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    raw = bytearray((workspace / "m.env.json").read_bytes())
    at = raw.index(b'"payload":"') + 40
    raw[at] = ord("A") if raw[at] != ord("A") else ord("B")
    (workspace / "bad.json").write_bytes(bytes(raw))
    out = cli("inspect", "bad.json", "--trust", "trust.json", check_code=3)
    assert "signature.invalid" in out.stdout and "no manifest to show" in out.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"garbage", "is not a DSSE envelope"),
        (b'{"payload": "e30=", "payloadType": "text/plain", "signatures": [{"keyid": "' + b"a" * 64 + b'", "sig": "AAAA"}]}',
         "payload is not a workload-manifest statement"),
        (b"\x00" * 2_000_000, "over the limit"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, cli: CliRunner, content: bytes, message: str) -> None:
    (tmp_path / "x.json").write_bytes(content)
    out = cli("inspect", "x.json", check_code=2)
    assert message in out.stderr and out.stdout == ""


def test_missing_and_directory(tmp_path: Path, cli: CliRunner) -> None:
    assert "does not exist" in cli("inspect", "nope.json", check_code=2).stderr
    assert "is a directory" in cli("inspect", ".", check_code=2).stderr
    assert "give --trust" in cli("inspect", "nope.json", "--now", "2026-01-01", check_code=2).stderr
