"""``attest landmark serve`` as a real process, and ``attest locate`` against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

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
        base = ["manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--key", "node/attest.key",
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
        assert check["excluded"] is True and check["grade"] == "measured" and check["bindings_checked"] is False
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
    assert "landmarks.0.latitude" in cli("locate", "--landmarks", "bad.json", "--key", "node/attest.key", "--nonce", "ab", check_code=2).stderr
    assert "within" in cli("landmark", "serve", "--key", "lm/attest.key", "--id", "x", "--lat", "91", "--lon", "0", check_code=2).stderr
