"""Configuration errors (trust roots, trust store, policy, lists, keys) are said once, exit 2, before any verdict.

A wrong trust root is the verifier's mistake, not the node's: judged per envelope it would turn
every GPU of every envelope contraindicated with the same line. Everything runs the real CLI.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import TrustStoreError
from tests.conftest import CliRunner, make_envelope


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def bound(workspace: Path, cli: CliRunner) -> tuple[Path, str, str]:
    """Three hardware-bound envelopes from a simulated vendor; (workspace, its root pin, its RIM root pin)."""
    cli("keygen", "--out", "challenger", check_code=0)
    cli("trust", "add", "challenger/attest.pub", "--challenger", "--trust", "trust.json", check_code=0)
    cli("challenge", "issue", "--key", "challenger/attest.key", "-o", "challenge.json", check_code=0)
    out = cli("bind", "--key", "node/attest.key", "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor",
              "--challenge", "challenge.json", "-o", "binding.json", check_code=0)
    # The simulated vendor's fingerprints are printed, ready to pin.
    said = re.search(r"--cc-root-sha256 ([0-9a-f]{64}) .*--rim-root-sha256 ([0-9a-f]{64})", out.stderr)
    assert said is not None, out.stderr
    for n in ("a", "b", "c"):
        make_envelope(cli, n, "--binding", "binding.json")
    return workspace, said[1], said[2]


def test_a_root_that_is_not_the_pin_is_one_line_exit_2(bound: tuple[Path, str, str], cli: CliRunner) -> None:
    _, pin, rim_pin = bound
    envelopes = ["a.env.json", "b.env.json", "c.env.json"]
    # The printed pins are the right ones: with them the evidence verifies (the RIMs make it affirming).
    rims = ["--rims", "vendor/rims", "--rim-root", "vendor/rim_root.pem", "--rim-root-sha256", rim_pin]
    out = cli("verify", *envelopes, "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin,
              *rims, "--format", "json", check_code=3)  # b and c fork a's chain (same sequence): not the point here
    assert json.loads(out.stdout.splitlines()[0])["location_grade"] == "hardware-bound"
    # NVIDIA's pin (the default) with the simulated root: one line, no verdict at all.
    out = cli("verify", *envelopes, "--trust", "trust.json", "--cc-root", "vendor/root.pem", check_code=2)
    assert out.stdout == ""
    [line] = _errors(out.stderr)
    assert f"its SHA-256 is {pin}" in line and "NVIDIA's Device Identity CA" in line
    assert f"hint: if you trust this root, pin it: --cc-root-sha256 {pin}" in out.stderr
    # Another pin, given: the same.
    out = cli("verify", *envelopes, "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", "ab" * 32, check_code=2)
    assert out.stdout == "" and len(_errors(out.stderr)) == 1 and "given by --cc-root-sha256" in out.stderr
    # A malformed pin.
    out = cli("verify", *envelopes, "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", "EFFC6B40", check_code=2)
    assert out.stdout == "" and _errors(out.stderr) == ["error: 'EFFC6B40' is not a SHA-256 fingerprint (64 hex digits)"]
    # The RIM root, likewise (NVIDIA's RIM root pin by default).
    out = cli("verify", *envelopes, "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin,
              "--rims", "vendor/rims", "--rim-root", "vendor/rim_root.pem", check_code=2)
    assert out.stdout == "" and len(_errors(out.stderr)) == 1 and f"--rim-root-sha256 {rim_pin}" in out.stderr
    # A bundle of two certificates is not a root.
    Path(bound[0] / "two.pem").write_bytes((bound[0] / "vendor" / "root.pem").read_bytes() * 2)
    out = cli("verify", "a.env.json", "--trust", "trust.json", "--cc-root", "two.pem", "--cc-root-sha256", pin, check_code=2)
    assert "holds 2 certificates" in out.stderr
    # Through the other verbs that judge evidence.
    out = cli("audit", ".", "--trust", "trust.json", "--cc-root", "vendor/root.pem", check_code=2)
    assert len(_errors(out.stderr)) == 1 and "is not the pinned root" in out.stderr
    out = cli("gpu", "verify-report", "--report", "00", "--chain", "vendor/root.pem", "--root", "vendor/root.pem", check_code=2)
    assert "--cc-root vendor/root.pem is not the pinned root" in out.stderr and "--cc-root-sha256" in out.stderr


def test_a_bad_trust_store_policy_or_list_is_said_once_before_any_file(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    (workspace / "t-list.json").write_text("[]")
    (workspace / "t-key.json").write_text(json.dumps({"keys": [{"key_id": "EFFC6B40"}]}))
    for store, said in (("t-list.json", "(top level): expected a JSON object, not an array"),
                        ("t-key.json", "keys.0.key_id: 'EFFC6B40' is not 64 lowercase hex digits")):
        out = cli("verify", "m.env.json", "missing.json", "--trust", store, check_code=2)
        [line] = _errors(out.stderr)
        assert said in line and f"trust store {store}" in line
        assert "instance of" not in out.stderr and "TrustStoreFile" not in out.stderr and "^[" not in out.stderr
    (workspace / "bad.toml").write_text("[x")
    out = cli("verify", "m.env.json", "missing.json", "--trust", "trust.json", "--policy", "bad.toml", check_code=2)
    assert out.stdout == "" and len(_errors(out.stderr)) == 1 and "policy bad.toml" in out.stderr
    assert "missing.json" not in out.stderr  # said before any envelope file is read
    (workspace / "lists").mkdir()
    (workspace / "lists" / "csl.json").write_text('{"x": 1}')
    env = {**os.environ, "ATTEST_LISTS_DIR": str(workspace / "lists")}
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "attest.cli.main", "verify", "m.env.json", "--trust", "trust.json"],
                          cwd=workspace, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = _errors(proc.stderr)
    assert "screening list" in line and "lists/csl.json" in line and "Traceback" not in proc.stderr


def test_key_mixups_and_nonces_are_told_in_words(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("sign", "m.json", "--key", "node/attest.pub", check_code=2)
    assert "node/attest.pub is a public key" in out.stderr and "chmod" not in out.stderr
    (workspace / "junk.key").write_text("hello")
    (workspace / "junk.key").chmod(0o600)
    out = cli("sign", "m.json", "--key", "junk.key", check_code=2)
    assert "key junk.key: not a PEM private key" in out.stderr and "Are you sure" not in out.stderr
    out = cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Example Cloud Sdn. Bhd.",
              "--key", "node/attest.key", "--simulate", "h100", "--nonce", "xyz", check_code=2)
    assert "--nonce 'xyz' is not a nonce: it must be 16 to 64 bytes written in hex (32 to 128 hex digits)" in out.stderr
    assert "^[" not in out.stderr


def test_with_key_refuses_to_widen_a_keys_scope_silently() -> None:
    k = SigningKey.generate()
    store = TrustStore().with_key(k.public, operator="Op", countries=["MY"])
    with pytest.raises(TrustStoreError, match="already trusted with another scope"):
        store.with_key(k.public, sites=["y"])
    assert store.get(k.key_id).scope.countries == ["MY"]  # type: ignore[union-attr]
