"""nvattest evidence in: NVIDIA's real samples in all three shapes verify with their nonces, and every tampering fails."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from attest.errors import InputError
from attest.hardware.cc import verify_report
from attest.hardware.nvat import entry_findings, parse_nvattest
from attest.model.result import Severity
from tests.conftest import CliRunner, make_envelope
from tests.hardware.nvattest_sim import simulated_nvattest

NVAT = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "nvidia-nvat"
ROOT = NVAT.parent / "nvidia" / "nvidia_device_identity_root.pem"
pytestmark = pytest.mark.skipif(not NVAT.is_dir(), reason="NVIDIA sample vectors (../shared/vectors) not present")
NOW = datetime(2026, 12, 5, tzinfo=UTC)

SAMPLES = {
    "attestation-sdk/evidence/hopper_evidence.json": (1, 0),
    "attestation-sdk/evidence/hopper_evidence_cert_hold.json": (1, 0),
    "attestation-sdk/evidence/multi_gpu_hopper.json": (4, 0),
    "attestation-sdk/evidence/switch_evidence_ls10.json": (0, 1),
    "nvtrust/evidence_v1_format/gpu_evidence.json": (8, 0),
    "nvtrust/evidence_v1_format/switch_evidence.json": (0, 4),
}


def camel(entry: dict[str, Any]) -> dict[str, Any]:
    names = {"vbios_version": "vbiosVersion", "driver_version": "driverVersion"}
    return {names.get(k, k): v for k, v in entry.items()}


def shapes(array: list[dict[str, Any]]) -> dict[str, bytes]:
    """The three ways nvattest's evidence reaches a verifier."""
    return {
        "array": json.dumps(array).encode(),
        "cli": json.dumps({"result_code": 0, "result_message": "Ok", "evidences": array}).encode(),
        "fleet-agent": json.dumps(
            {
                "nodeId": "n1",
                "attestationData": {
                    "nonce": array[0]["nonce"],
                    "sdkResponse": {"resultCode": 0, "resultMessage": "Ok", "evidences": [camel(e) for e in array]},
                },
            }
        ).encode(),
    }


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize("shape", ["array", "cli", "fleet-agent"])
def test_real_samples_verify_with_their_nonces_in_every_shape(name: str, shape: str) -> None:
    array = json.loads((NVAT / name).read_text())
    entries = parse_nvattest(shapes(array)[shape])
    gpus, switches = SAMPLES[name]
    assert (sum(not e.is_switch for e in entries), sum(e.is_switch for e in entries)) == (gpus, switches)
    for entry, raw in zip(entries, array, strict=True):
        assert entry.nonce.hex() == raw["nonce"] and entry.driver_version == raw.get("driver_version")
        result = verify_report(entry.report, entry.certificate_chain, ROOT.read_bytes(), now=NOW, expected_nonce=entry.nonce)
        assert result.valid, result.findings
        assert entry_findings(entry) == []


def _entry(name: str = "nvtrust/evidence_v1_format/gpu_evidence.json") -> dict[str, Any]:
    return dict(json.loads((NVAT / name).read_text())[0])


def _b64_flip(value: str, at: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _verify(entry: dict[str, Any], nonce: bytes | None = None) -> set[str]:
    (parsed,) = parse_nvattest(json.dumps([entry]).encode())
    result = verify_report(
        parsed.report, parsed.certificate_chain, ROOT.read_bytes(), now=NOW, expected_nonce=nonce or parsed.nonce
    )
    findings = [*entry_findings(parsed), *result.findings]
    return {f.rule for f in findings if f.severity is Severity.CONTRAINDICATED}


def test_an_untampered_entry_has_no_contraindication() -> None:
    assert _verify(_entry()) == set()


@pytest.mark.parametrize(
    ("how", "rule"),
    [
        ("a measurement byte", "hardware.cc.signature_invalid"),
        ("the report's nonce", "hardware.cc.signature_invalid"),
        ("the signature", "hardware.cc.signature_invalid"),
        ("the entry's nonce", "hardware.nvat.nonce_mismatch"),
        ("the entry's vbios version", "hardware.nvat.version_mismatch"),
        ("the entry's driver version", "hardware.nvat.version_mismatch"),
        ("another GPU's certificate chain", "hardware.cc.signature_invalid"),
        ("a certificate byte", "hardware.cc.chain_malformed"),
    ],
)
def test_every_tampering_of_a_real_entry_fails(how: str, rule: str) -> None:
    entry = _entry()
    if how == "a measurement byte":
        entry["evidence"] = _b64_flip(entry["evidence"], 37 + 8 + 4 + 3 + 5)
    elif how == "the report's nonce":
        entry["evidence"] = _b64_flip(entry["evidence"], 10)
    elif how == "the signature":
        entry["evidence"] = _b64_flip(entry["evidence"], -5)
    elif how == "the entry's nonce":
        entry["nonce"] = "00" * 32
    elif how == "the entry's vbios version":
        entry["vbios_version"] = "96.00.5E.00.01"
    elif how == "the entry's driver version":
        entry["driver_version"] = "550.144.03"
    elif how == "another GPU's certificate chain":
        entry["certificate"] = _entry("attestation-sdk/evidence/hopper_evidence_cert_hold.json")["certificate"]
    elif how == "a certificate byte":
        pem = base64.b64decode(entry["certificate"]).replace(b"MIID", b"MIIE", 1)
        entry["certificate"] = base64.b64encode(pem).decode()
    assert rule in _verify(entry), how


def test_a_gpu_labelled_as_an_nvswitch_is_refused(cli: CliRunner) -> None:
    """Labelled LS10, a GPU would be reported (and left out of bindings) as a switch."""
    entry = _entry() | {"arch": "LS10"}
    out = cli("gpu", "verify-report", "--nvattest", "-", "--root", str(ROOT), "--format", "json", input=json.dumps([entry]), check_code=3)
    doc = json.loads(out.stdout)
    assert doc["gpus"] == [] and "hardware.nvat.arch_mismatch" in {f["rule"] for f in doc["switches"][0]["findings"]}


def test_a_replay_for_another_nonce_fails() -> None:
    assert _verify(_entry(), nonce=bytes(32)) == {"hardware.cc.nonce_mismatch"}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "nvattest evidence"),
        (b"[]", "no device"),
        (b'{"result_code": 1, "result_message": "GPU not ready", "evidences": []}', "failure"),
        (b'{"evidences": [], "evidences": []}', "duplicate"),
        (b'{"attestationData": {"sdkResponse": 3}}', "sdkResponse"),
        (b'{"something": "else"}', "not nvattest evidence"),
        (b"[1]", "not an object"),
        (b'[{"arch": "HOPPER", "nonce": "ab", "evidence": "", "certificate": ""}]', "32 bytes"),
        (b'[{"arch": "HOPPER", "nonce": "' + b"ab" * 32 + b'", "evidence": "!!", "certificate": "eA=="}]', "base64"),
        (b'[{"arch": "HOPPER", "nonce": "' + b"ab" * 32 + b'", "evidence": "eA==", "certificate": "eA=="}]', "PEM"),
        (b'[{"nonce": "x"}]', "arch"),
    ],
)
def test_malformed_nvattest_input_is_a_clear_error(data: bytes, says: str) -> None:
    with pytest.raises(InputError) as err:
        parse_nvattest(data)
    assert says.lower() in err.value.message.lower()


# --- Through the CLI --------------------------------------------------------------------------


def test_cli_verifies_nvattest_gpus_and_switches_apart(cli: CliRunner, tmp_path: Path) -> None:
    root = str(ROOT)
    multi = NVAT / "attestation-sdk/evidence/multi_gpu_hopper.json"
    nonce = json.loads(multi.read_text())[0]["nonce"]
    out = cli("gpu", "verify-report", "--nvattest", str(multi), "--root", root, "--nonce", nonce, "--format", "json", check_code=0)
    doc = json.loads(out.stdout)
    assert len(doc["gpus"]) == 4 and doc["switches"] == [] and doc["status"] == "affirming"
    # This verb checks reports; measurements only when asked (--rims), and it says so.
    assert all("hardware.rim.not_checked" in {f["rule"] for f in g["findings"]} for g in doc["gpus"])
    # A replay: the operator's evidence for another nonce.
    out = cli("gpu", "verify-report", "--nvattest", str(multi), "--root", root, "--nonce", "11" * 32, check_code=3)
    assert "hardware.cc.nonce_mismatch" in out.stdout

    # A real NVSwitch with NVIDIA's real RIM for its BIOS: affirming, reported as a switch.
    switch = NVAT / "attestation-sdk/evidence/switch_evidence_ls10.json"
    (tmp_path / "rims").mkdir()
    rim = NVAT / "attestation-sdk/rim_and_reports/switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml"
    (tmp_path / "rims" / "NV_SWITCH_BIOS_5612_0002_890_9610550001.xml").write_bytes(rim.read_bytes())
    rim_root = str(NVAT / "nvtrust/roots/verifier_RIM_root.pem")
    nonce = json.loads(switch.read_text())[0]["nonce"]
    args = ["gpu", "verify-report", "--nvattest", str(switch), "--root", root, "--nonce", nonce, "--rims", "rims", "--rim-root", rim_root, "--now", "2026-06-01T00:00:00Z"]
    out = cli(*args, "--format", "json", check_code=0)
    doc = json.loads(out.stdout)
    assert doc["gpus"] == [] and len(doc["switches"]) == 1 and doc["switches"][0]["arch"] == "LS10"
    assert "hardware.rim.appraised" in {f["rule"] for f in doc["switches"][0]["findings"]}
    assert "NVSwitch 0 (LS10)" in cli(*args, check_code=0).stdout
    # The same with its RIM tampered: refused.
    (tmp_path / "rims" / "NV_SWITCH_BIOS_5612_0002_890_9610550001.xml").write_bytes(rim.read_bytes().replace(b'Hash0="9', b'Hash0="8', 1))
    assert "hardware.rim.signature_invalid" in cli(*args, check_code=3).stdout

    for bad in (["--nvattest", str(multi), "--report", "x"], []):
        assert cli("gpu", "verify-report", "--root", root, *bad, check_code=2).stderr.startswith("error:")
    (tmp_path / "junk.json").write_text('{"evidences": 5}')
    assert "not an array" in cli("gpu", "verify-report", "--nvattest", "junk.json", "--root", root, check_code=2).stderr


def test_bind_from_an_nvattest_run_then_verify_hardware_bound(workspace: Path, cli: CliRunner) -> None:
    """The node runs nvattest with the key's binding nonce (naming a trusted challenge); attest bind takes its output."""
    with simulated_nvattest(workspace, cli) as run:
        assert len(bytes.fromhex(run["nonce"])) == 32
        ev = json.loads((workspace / "ev.json").read_text())
        ev["evidences"].append(_entry("attestation-sdk/evidence/switch_evidence_ls10.json") | {"nonce": run["nonce"]})
        (workspace / "ev.json").write_text(json.dumps(ev))
        out = cli(*run["bind"], "-o", "binding.json", check_code=0)
        assert "1 NVSwitch entries left out" in out.stderr
        binding = json.loads((workspace / "binding.json").read_text())
        assert binding["source"] == "nvattest" and len(binding["gpus"]) == len(run["entries"])
        assert all(len(g["cc_evidence"]["ocsp"]) == 3 and g["cc_evidence"]["challenge"] for g in binding["gpus"])
    make_envelope(cli, "m", "--binding", "binding.json")

    def pin(path: str) -> str:
        return x509.load_pem_x509_certificate((workspace / path).read_bytes()).fingerprint(hashes.SHA256()).hex()

    verify = ["verify", "m.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin("vendor/root.pem"),
              "--rims", "rims", "--rim-root", "vendor/rim_root.pem", "--rim-root-sha256", pin("vendor/rim_root.pem"), "--format", "json"]
    result = json.loads(cli(*verify, check_code=0).stdout)
    assert result["location_grade"] == "hardware-bound" and result["status"] == "affirming"

    # NVIDIA's real evidence was made over its own nonce, not this key's: no binding.
    real = NVAT / "attestation-sdk/evidence/hopper_evidence.json"
    err = cli("bind", "--pub", "node/attest.pub", "--challenge", "challenge.json", "--nvattest", str(real),
              "--simulate", "h100", "--seed", "n1", "--no-ocsp", check_code=2).stderr  # fmt: skip
    assert "not this key's binding nonce" in err and f"--nonce {run['nonce']}" in err
