"""Issue 17 (c) through the CLI only: receipts a copy of the node key obtained never earn ``measured``.

Real processes throughout: two landmark servers of two operators on loopback, ``attest bind``
with simulated GPUs, ``attest locate`` (key-only, GPU-timed, and an attacker holding only a
copy of ``attest.key``), ``attest manifest``/``sign``/``verify``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.conftest import CLI_OPERATOR, CliRunner

NONCE = "5e" * 16


@pytest.fixture
def landmarks(workspace: Path, cli: CliRunner) -> Iterator[Path]:
    """Two landmark servers next to the Johor site, run by two operators; the registry that lists them."""
    procs, entries = [], []
    for name, lat, op in (("jhb-a", 1.60, "Landmark Op A"), ("jhb-b", 1.70, "Landmark Op B")):
        cli("keygen", "--out", name, check_code=0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "attest.cli.main", "landmark", "serve", "--key", f"{name}/attest.key", "--id", name,
             "--lat", str(lat), "--lon", "103.60", "--bind", "127.0.0.1:0"],
            cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        pub = "".join((workspace / name / "attest.pub").read_text().splitlines()[1:-1])
        entries.append({"id": name, "latitude": lat, "longitude": 103.60, "public_key": pub, "operator": op,
                        "address": hello["address"]})
    (workspace / "landmarks.json").write_text(json.dumps({"landmarks": entries}))
    try:
        yield workspace / "landmarks.json"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)


def _bind(cli: CliRunner) -> None:
    """Bind the node key to its simulated GPUs over a challenge the auditor issued and trusts."""
    cli("keygen", "--out", "challenger", check_code=0)
    cli("trust", "add", "challenger/attest.pub", "--challenger", "--trust", "trust.json", check_code=0)
    cli("challenge", "issue", "--key", "challenger/attest.key", "-o", "challenge.json", check_code=0)
    cli("bind", "--key", "node/attest.key", "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor",
        "--challenge", "challenge.json", "-o", "binding.json", check_code=0)


def _pin(workspace: Path) -> str:
    root = x509.load_pem_x509_certificate((workspace / "vendor" / "root.pem").read_bytes())
    return root.fingerprint(hashes.SHA256()).hex()


def _signed(cli: CliRunner, name: str, receipts: str) -> None:
    cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "slurm-1", "--operator", CLI_OPERATOR,
        "--key", "node/attest.key", "--simulate", "h100", "--seed", "n1", "--binding", "binding.json",
        "--nonce", NONCE, "--receipts", receipts, "-o", f"{name}.json", check_code=0)
    cli("sign", f"{name}.json", "--key", "node/attest.key", "-o", f"{name}.env.json", check_code=0)


def _verify(cli: CliRunner, workspace: Path, name: str, code: int, *extra: str) -> dict:  # type: ignore[type-arg]
    rim_root = x509.load_pem_x509_certificate((workspace / "vendor" / "rim_root.pem").read_bytes())
    rims = ["--rims", "vendor/rims", "--rim-root", "vendor/rim_root.pem",
            "--rim-root-sha256", rim_root.fingerprint(hashes.SHA256()).hex()]
    out = cli("verify", f"{name}.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem",
              "--cc-root-sha256", _pin(workspace), *rims, "--landmarks", "landmarks.json", "--format", "json", *extra,
              check_code=code)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _rules(result: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {f["rule"]: f for f in result["findings"]}


def test_a_copy_of_the_node_key_never_earns_measured(workspace: Path, cli: CliRunner, landmarks: Path) -> None:
    _bind(cli)

    # The honest node: its GPUs answer every challenge (reports in the receipts file), graded measured.
    out = cli("locate", "--landmarks", "landmarks.json", "--key", "node/attest.key", "--nonce", NONCE, "--rounds", "3",
              "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor", "-o", "honest.json", check_code=0)
    assert "with 8 GPU reports" in out.stderr
    located = json.loads((workspace / "honest.json").read_text())
    assert len(located["receipts"]) == 4 and len(located["gpu_reports"]) == 16  # per landmark: key-only + GPU-timed
    _signed(cli, "honest", "honest.json")
    honest = _verify(cli, workspace, "honest", 0)
    assert honest["location_grade"] == "measured", honest["findings"]
    assert "GPUs themselves" in _rules(honest)["location.measured"]["message"]

    # The attacker holds only a copy of attest.key (no GPU): it answers the landmarks with the key alone,
    # and the real node, anywhere, signs a manifest with those receipts and its genuine binding.
    shutil.copy(workspace / "node" / "attest.key", workspace / "copy.key")
    (workspace / "copy.key").chmod(0o600)
    cli("locate", "--landmarks", "landmarks.json", "--key", "copy.key", "--nonce", NONCE, "--rounds", "3",
        "-o", "copied.json", check_code=0)
    _signed(cli, "copied", "copied.json")
    copied = _verify(cli, workspace, "copied", 0)
    assert copied["location_grade"] == "key-measured", copied["findings"]
    assert "location.measured" not in _rules(copied)
    assert "a copy of the key" in _rules(copied)["location.key_measured"]["message"]
    # A policy that requires measured refuses it (and accepts the honest node).
    (workspace / "strict.toml").write_text(
        'id = "strict"\nversion = "1"\ntitle = "measured required"\neffective = 2026-01-01\nextends = ["us-ear"]\n'
        '[[rules]]\nid = "evidence_strength"\nkind = "evidence_strength"\ngroups = ["*"]\nmin_grade = "measured"\noverride = "measured everywhere"\n'
    )
    strict = _verify(cli, workspace, "copied", 1, "--policy", "strict.toml")
    assert "key-measured" in _rules(strict)["policy.evidence_strength"]["message"]
    assert _verify(cli, workspace, "honest", 0, "--policy", "strict.toml")["location_grade"] == "measured"

    # The copy again, now with an accomplice's own genuine GPUs (same vendor, other devices) answering.
    cli("locate", "--landmarks", "landmarks.json", "--key", "copy.key", "--nonce", NONCE, "--rounds", "3",
        "--simulate", "h100", "--seed", "accomplice", "--cc-sim", "vendor", "-o", "accomplice.json", check_code=0)
    _signed(cli, "accomplice", "accomplice.json")
    result = _verify(cli, workspace, "accomplice", 3)
    invalid = _rules(result)["location.gpu_report_invalid"]
    assert invalid["severity"] == "contraindicated" and "leaf key" in invalid["message"]
    assert result["location_grade"] != "measured"


def test_gpu_report_time_without_a_floor_reaches_thousands_of_km(
    workspace: Path, cli: CliRunner, landmarks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Honest GPUs taking 30 ms and the bundled floor of 0: the GPU-timed disks are ~4,500 km, not measured."""
    _bind(cli)
    monkeypatch.setenv("ATTEST_SIM_REPORT_MS", "30")
    cli("locate", "--landmarks", "landmarks.json", "--key", "node/attest.key", "--nonce", NONCE, "--rounds", "2",
        "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor", "-o", "slow.json", check_code=0)
    timed = [r for r in json.loads((workspace / "slow.json").read_text())["receipts"] if "gpu_reports" in r]
    assert timed and all(r["rtt_ns"] >= 30_000_000 for r in timed)
    _signed(cli, "slow", "slow.json")
    result = _verify(cli, workspace, "slow", 0)
    assert result["location_grade"] == "key-measured"
    assert "may reach" in _rules(result)["location.key_measured"]["message"]


def test_locate_bad_gpu_options(workspace: Path, cli: CliRunner, landmarks: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["locate", "--landmarks", "landmarks.json", "--key", "node/attest.key", "--nonce", NONCE]
    assert "needs --cc-sim" in cli(*base, "--simulate", "h100", check_code=2).stderr
    assert "--cc-sim goes with --simulate" in cli(*base, "--cc-sim", "vendor", check_code=2).stderr
    assert "--rounds must be" in cli(*base, "--rounds", "0", check_code=2).stderr
    monkeypatch.setenv("ATTEST_SIM_REPORT_MS", "soon")
    err = cli(*base, "--simulate", "h100", "--cc-sim", "vendor", check_code=2).stderr
    assert "ATTEST_SIM_REPORT_MS" in err


def test_time_report_calibrates_a_floor_below_every_report(workspace: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_SIM_REPORT_MS", "20")
    out = json.loads(cli("gpu", "time-report", "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor", "--rounds", "3",
                         "--format", "json", check_code=0).stdout)
    assert out["gpus"] == 8 and out["architectures"] == ["Hopper"] and out["rounds"] == 3
    assert 20 <= out["min_ms"] <= out["median_ms"] <= out["max_ms"] and out["round_min_ms"] >= out["min_ms"]
    assert out["suggested_floor_ms"] <= 0.9 * out["min_ms"] and out["catalog_floor_ms"] == 0
    text = cli("gpu", "time-report", "--simulate", "h100", "--cc-sim", "vendor", "--rounds", "1", check_code=0).stdout
    assert "suggested floor" in text
    assert "needs --cc-sim" in cli("gpu", "time-report", "--simulate", "h100", check_code=2).stderr
    assert "between 1 and 10000" in cli("gpu", "time-report", "--simulate", "h100", "--cc-sim", "vendor", "--rounds", "0", check_code=2).stderr
