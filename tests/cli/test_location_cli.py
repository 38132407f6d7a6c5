"""``attest landmark serve`` as a real process, and ``attest locate`` against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliRunner


def test_serve_and_locate(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "--out", "lm", check_code=0)
    cli("keygen", "--out", "node", check_code=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "landmark", "serve", "--key", "lm/attest.key", "--id", "sin-1",
         "--lat", "1.29", "--lon", "103.85", "--bind", "127.0.0.1:0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        pub = "".join((tmp_path / "lm" / "attest.pub").read_text().splitlines()[1:-1])
        registry = {"landmarks": [
            {"id": "sin-1", "latitude": 1.29, "longitude": 103.85, "public_key": pub, "operator": "Landmark Op A", "address": hello["address"]},
        ]}
        (tmp_path / "landmarks.json").write_text(json.dumps(registry))
        out = cli("locate", "--landmarks", "landmarks.json", "--key", "node/attest.key", "--nonce", "ab" * 16, "--rounds", "3", check_code=0)
        receipts = json.loads(out.stdout)["receipts"]
        assert len(receipts) == 1 and receipts[0]["landmark_id"] == "sin-1" and receipts[0]["rtt_ns"] > 0
        assert "ms round trip" in out.stderr
        # The receipts travel in the manifest made for the same nonce; the verifier says it does not judge them yet.
        (tmp_path / "receipts.json").write_text(out.stdout)
        (tmp_path / "site.json").write_text(json.dumps({"facility_id": "sin-1", "name": "S", "country": "SG", "latitude": 1.3, "longitude": 103.8}))
        (tmp_path / "tenant.json").write_text(json.dumps({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}))
        base = ["manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op", "--key", "node/attest.key",
                "--simulate", "h100", "--receipts", "receipts.json"]
        assert "--receipts needs --nonce" in cli(*base, check_code=2).stderr
        cli(*base, "--nonce", "ab" * 16, "-o", "m.json", check_code=0)
        assert json.loads((tmp_path / "m.json").read_text())["location_evidence"]["receipts"][0]["landmark_id"] == "sin-1"
        cli("sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json", check_code=0)
        cli("trust", "add", "node/attest.pub", "--trust", "trust.json", check_code=0)
        result = json.loads(cli("verify", "m.env.json", "--trust", "trust.json", "--format", "json", check_code=0).stdout)
        assert result["location_grade"] == "declared"
        assert "location.no_registry" in [f["rule"] for f in result["findings"]]
        # With the registry: the receipt verifies and its disk clears China alone, but one operator is not k = 2.
        result = json.loads(cli("verify", "m.env.json", "--trust", "trust.json", "--landmarks", "landmarks.json",
                                "--format", "json", "--map", "proof.svg", check_code=0).stdout)
        found = {f["rule"]: f for f in result["findings"]}
        assert "1 operator(s); 2 distinct operators are required" in found["location.not_provable"]["message"]
        assert result["location_grade"] == "declared"
        svg = (tmp_path / "proof.svg").read_text()
        assert svg.startswith("<svg") and "sin-1" in svg and "declared site" in svg and "#f4a6a6" in svg
        # The same receipts, checked on their own and in the envelope.
        check = json.loads(cli("location", "check", "receipts.json", "--landmarks", "landmarks.json", "--k", "1",
                               "--format", "json", check_code=0).stdout)
        assert check["excluded"] is True and check["grade"] == "key-measured" and check["bindings_checked"] is False
        assert check["landmarks"][0]["radius_km"] < 300 and check["landmarks"][0]["min_border_km"] > 1400
        check = json.loads(cli("location", "check", "m.env.json", "--trust", "trust.json", "--landmarks",
                               "landmarks.json", "--format", "json", check_code=1).stdout)
        assert check["excluded"] is False and check["bindings_checked"] is True and check["site_inside_region"] is True
        err = cli("location", "check", "m.env.json", "--landmarks", "landmarks.json", check_code=2).stderr
        assert "only after its signature verifies" in err and "--trust" in err
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and '"receipts": 3' in err


def test_locate_errors(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "--out", "node", check_code=0)
    cli("keygen", "--out", "lm", check_code=0)
    pub = "".join((tmp_path / "lm" / "attest.pub").read_text().splitlines()[1:-1])
    (tmp_path / "dead.json").write_text(json.dumps({"landmarks": [
        {"id": "x", "latitude": 0, "longitude": 0, "public_key": pub, "operator": "o", "address": "127.0.0.1:9"}]}))
    out = cli("locate", "--landmarks", "dead.json", "--key", "node/attest.key", "--nonce", "ab" * 16, "--rounds", "1", check_code=2)
    assert "no receipt from landmark" in out.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"landmarks": [{"id": "x", "latitude": 99}]}))
    assert "landmarks.0.latitude" in cli("locate", "--landmarks", "bad.json", "--key", "node/attest.key", "--nonce", "ab" * 16, check_code=2).stderr
    assert "within" in cli("landmark", "serve", "--key", "lm/attest.key", "--id", "x", "--lat", "91", "--lon", "0", check_code=2).stderr


def test_region_pure_geometry(cli: CliRunner, tmp_path: Path) -> None:
    # Bangkok is 823 km from China: 5 ms of RTT (750 km) clears it, 6 ms (900 km) does not.
    out = json.loads(cli("location", "region", "--disk", "13.754,100.5014,5", "--prohibited", "CN,HK,MO",
                         "--format", "json", check_code=0).stdout)
    assert out["excluded"] is True and out["countries"]["CN"] == {"can_touch": False}
    assert out["disks"][0]["radius_km"] == pytest.approx(749.48, abs=0.01)
    assert 810 <= out["disks"][0]["min_border_km"] <= 823
    out = json.loads(cli("location", "region", "--disk", "13.754,100.5014,6", "--prohibited", "cn, hk, mo",
                         "--format", "json", "--map", "r.svg", check_code=1).stdout)
    assert out["excluded"] is False and out["countries"]["CN"]["can_touch"] is True
    assert out["countries"]["HK"]["can_touch"] is False  # Hong Kong is 1,400+ km away
    assert (tmp_path / "r.svg").read_text().startswith("<svg")
    text = cli("location", "region", "--disk", "13.754,100.5014,6", "--prohibited", "CN", check_code=1).stdout
    assert text.startswith("NOT EXCLUDED: CN") and "CN: can be touched" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--disk", "13.7,100.5", "--prohibited", "CN"], "is not LAT,LON,RTT_MS"),
        (["--disk", "93,100.5,3", "--prohibited", "CN"], "latitude must be within"),
        (["--disk", "13.7,100.5,-1", "--prohibited", "CN"], "RTT_MS must be positive"),
        (["--disk", "13.7,100.5,abc", "--prohibited", "CN"], "RTT_MS is not a number"),
        (["--disk", "13.7,100.5,3", "--prohibited", "XX"], "no border polygon for XX"),
        (["--disk", "13.7,100.5,3", "--prohibited", "China"], "not ISO 3166"),
    ],
)
def test_region_bad_input(cli: CliRunner, args: list[str], message: str) -> None:
    assert message in cli("location", "region", *args, check_code=2).stderr


def test_simulate_reports_rates_and_exits_clean(cli: CliRunner) -> None:
    out = json.loads(cli("location", "simulate", "--site", "Singapore", "--site", "Kinmen", "--trials", "5",
                         "--format", "json", check_code=0).stdout)
    rates = {(o["site"].split()[0], o["strategy"]): o["pass_rate"] for o in out["outcomes"]}
    key_rates = {(o["site"].split()[0], o["strategy"]): o["key_pass_rate"] for o in out["outcomes"]}
    assert out["false_passes"] == 0 and out["report_ms"] == 30 and out["floor_ms"] == 0
    # 30 ms of report time with no floor: a 4,500 km disk, so the GPUs prove nothing; the key's answers do.
    assert rates[("Singapore", "honest")] == 0.0 and key_rates[("Singapore", "honest")] == 1.0
    assert rates[("Kinmen", "honest")] == 0.0 and key_rates[("Kinmen", "honest")] == 0.0
    assert all(rate == 0.0 for (_, strategy), rate in rates.items() if strategy != "honest")
    # A copy of the key next to the landmarks earns key-measured, never measured.
    assert key_rates[("Singapore", "key-copy-relay")] == 1.0
    # With a calibrated floor (29 ms for GPUs that take 30) the GPUs' own round trips clear Singapore.
    out = json.loads(cli("location", "simulate", "--site", "Singapore", "--trials", "5", "--floor-ms", "29",
                         "--strategy", "honest", "--strategy", "key-copy-relay", "--strategy", "gpu-report-relay",
                         "--format", "json", check_code=0).stdout)
    rates = {o["strategy"]: o["pass_rate"] for o in out["outcomes"]}
    assert rates == {"honest": 1.0, "key-copy-relay": 0.0, "gpu-report-relay": 0.0}
    assert "between 0 and the GPUs' report time" in cli("location", "simulate", "--floor-ms", "31", check_code=2).stderr
    assert "no single built-in site" in cli("location", "simulate", "--site", "Atlantis", check_code=2).stderr
    assert "unknown strategy" in cli("location", "simulate", "--strategy", "teleport", check_code=2).stderr


def test_check_rejects_bad_inputs(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "reg.json").write_text(json.dumps({"landmarks": [
        {"id": "a", "latitude": 1, "longitude": 2, "public_key": "x", "operator": "o"},
        {"id": "a", "latitude": 1, "longitude": 2, "public_key": "x", "operator": "o"}]}))
    (tmp_path / "r.json").write_text(json.dumps({"receipts": []}))
    assert "landmark ids must be unique" in cli("location", "check", "r.json", "--landmarks", "reg.json", check_code=2).stderr
    (tmp_path / "reg.json").write_text(json.dumps({"landmarks": [
        {"id": "a", "latitude": 1, "longitude": 2, "public_key": "x", "operator": "o"}]}))
    (tmp_path / "r.json").write_text('{"receipts": [], "receipts": []}')
    assert "duplicate" in cli("location", "check", "r.json", "--landmarks", "reg.json", check_code=2).stderr
    (tmp_path / "r.json").write_text(json.dumps({"receipts": [{"landmark_id": "a"}]}))
    assert "receipts.0" in cli("location", "check", "r.json", "--landmarks", "reg.json", check_code=2).stderr
    (tmp_path / "r.json").write_text(json.dumps({"receipts": []}))
    assert "--k must be" in cli("location", "check", "r.json", "--landmarks", "reg.json", "--k", "0", check_code=2).stderr
    out = cli("location", "check", "r.json", "--landmarks", "reg.json", check_code=1).stdout
    assert out.startswith("NOT PROVABLE")
