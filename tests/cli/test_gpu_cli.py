"""``attest gpu verify-report`` as a user runs it, on NVIDIA's samples."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner


def args(vectors: Path, report: str = "hopperAttestationReport.txt", chain: str = "hopperCertChain.txt") -> list[str]:
    return ["gpu", "verify-report", "--report", str(vectors / report), "--chain", str(vectors / chain),
            "--root", str(vectors / "nvidia_device_identity_root.pem")]


def nonce_of(vectors: Path, report: str) -> str:
    return (vectors / report).read_text().strip()[8:72]


def test_valid_sample_exit_0(cli: CliRunner, vectors: Path) -> None:
    for report, chain in [("hopperAttestationReport.txt", "hopperCertChain.txt"), ("blackwellAttestationReport.txt", "blackwellCertChain.txt")]:
        out = cli(*args(vectors, report, chain), "--nonce", nonce_of(vectors, report), "--format", "json", check_code=0)
        result = json.loads(out.stdout)
        assert result["valid"] and result["status"] == "affirming" and result["ueid"]
        assert len(result["report"]["blocks"]) == 64


def test_invalid_and_wrong_nonce_exit_3(cli: CliRunner, vectors: Path) -> None:
    out = cli(*args(vectors, "hopperAttestationReportInvalidSignature.txt"), check_code=3)
    assert "hardware.cc.signature_invalid" in out.stdout
    out = cli(*args(vectors), "--nonce", "00" * 32, check_code=3)
    assert "hardware.cc.nonce_mismatch" in out.stdout


def test_no_nonce_is_a_warning(cli: CliRunner, vectors: Path) -> None:
    out = cli(*args(vectors), check_code=1)
    assert "hardware.cc.nonce_not_checked" in out.stdout


def test_binary_report_file(cli: CliRunner, vectors: Path, tmp_path: Path) -> None:
    (tmp_path / "r.bin").write_bytes(bytes.fromhex((vectors / "hopperAttestationReport.txt").read_text().strip()))
    a = args(vectors)
    a[3] = "r.bin"
    cli(*a, "--nonce", nonce_of(vectors, "hopperAttestationReport.txt"), check_code=0)


def test_unreadable_inputs_exit_2(cli: CliRunner, vectors: Path, tmp_path: Path) -> None:
    a = args(vectors)
    a[3] = "missing.hex"
    assert "report missing.hex does not exist" in cli(*a, check_code=2).stderr
    out = cli(*args(vectors), "--nonce", "abcd", check_code=2)
    assert "32 bytes" in out.stderr
    (tmp_path / "odd.hex").write_text("abc")
    a[3] = "odd.hex"
    assert "odd number of digits" in cli(*a, check_code=2).stderr


def test_truncated_report_is_a_finding(cli: CliRunner, vectors: Path, tmp_path: Path) -> None:
    (tmp_path / "t.hex").write_text((vectors / "hopperAttestationReport.txt").read_text()[:500])
    a = args(vectors)
    a[3] = "t.hex"
    out = cli(*a, "--format", "json", check_code=3)
    assert json.loads(out.stdout)["findings"][0]["rule"] == "hardware.cc.report_malformed"


def test_ocsp_files(cli: CliRunner, tmp_path: Path) -> None:
    from attest.hardware.simulated_cc import SimulatedCcBackend

    vendor = SimulatedCcBackend(tmp_path / "vendor")
    report, chain = vendor.attest("GPU-11111111-2222-3333-4444-555555555555", bytes(32))
    (tmp_path / "r.bin").write_bytes(report)
    (tmp_path / "chain.pem").write_bytes(chain)
    for p in (1, 2, 3):
        (tmp_path / f"o{p}.der").write_bytes(vendor.ocsp_response(chain, p, revoked=(p == 2)))
    base = ["gpu", "verify-report", "--report", "r.bin", "--chain", "chain.pem", "--root", "vendor/root.pem",
            "--root-sha256", vendor.root_sha256, "--nonce", "00" * 32]
    out = cli(*base, "--ocsp", "o1.der", "o2.der", "o3.der", check_code=3)
    assert "hardware.cc.revoked" in out.stdout
    out = cli(*base, "--ocsp", "o1.der", "o3.der", check_code=1)
    assert "hardware.cc.revocation_unchecked" in out.stdout
    cli(*base, check_code=0)
