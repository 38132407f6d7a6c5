"""NVIDIA CC attestation reports, verified offline against NVIDIA's own public samples."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attest.hardware.cc import (
    NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
    ChainCache,
    EvidenceError,
    fingerprint,
    leaf_fwids,
    parse_chain,
    parse_report,
    verify_report,
)
from attest.model.result import Status

NOW = datetime(2026, 11, 28, tzinfo=UTC)
SAMPLES = {
    "hopper": ("hopperAttestationReport.txt", "hopperCertChain.txt"),
    "blackwell": ("blackwellAttestationReport.txt", "blackwellCertChain.txt"),
    "hopper-second": ("hopperAttestationReportExpired.txt", "hopperCertChainExpired.txt"),
}


def load(vectors: Path, name: str) -> tuple[bytes, bytes, bytes]:
    report_file, chain_file = SAMPLES[name]
    report = bytes.fromhex((vectors / report_file).read_text().strip())
    return report, (vectors / chain_file).read_bytes(), (vectors / "nvidia_device_identity_root.pem").read_bytes()


def rules(v) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in v.findings if f.severity.value != "info"]


def test_pinned_root_is_the_vendor_file(vectors: Path) -> None:
    root = parse_chain((vectors / "nvidia_device_identity_root.pem").read_bytes())[0]
    assert fingerprint(root) == NVIDIA_DEVICE_IDENTITY_ROOT_SHA256


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_valid_samples_verify(vectors: Path, name: str) -> None:
    report, chain, root = load(vectors, name)
    v = verify_report(report, chain, root, now=NOW, expected_nonce=report[4:36])
    assert v.valid, v.findings
    assert v.hwmodel in ("GH100 A01 GSP BROM", "GB100 A01 GSP BROM")
    assert v.ueid and v.ueid.isdigit()
    assert v.report is not None and len(v.report.blocks) == 64
    assert all(len(b.value) == 96 for b in v.report.blocks)  # SHA-384 digests


def test_fwid_compared_when_the_report_has_one(vectors: Path) -> None:
    report, chain, root = load(vectors, "blackwell")
    v = verify_report(report, chain, root, now=NOW, expected_nonce=report[4:36])
    leaf = parse_chain(chain)[0]
    assert v.fwid == leaf_fwids(leaf)[0][1].hex()
    hopper_report, hopper_chain, _ = load(vectors, "hopper")
    v = verify_report(hopper_report, hopper_chain, root, now=NOW, expected_nonce=hopper_report[4:36])
    assert [f.rule for f in v.findings] == ["hardware.cc.fwid_absent", "hardware.cc.revocation_not_checked"]
    assert v.status is Status.AFFIRMING


def test_invalid_signature_sample_fails_with_either_chain(vectors: Path) -> None:
    report = bytes.fromhex((vectors / "hopperAttestationReportInvalidSignature.txt").read_text().strip())
    root = (vectors / "nvidia_device_identity_root.pem").read_bytes()
    for chain_file in ("hopperCertChain.txt", "hopperCertChainExpired.txt"):
        v = verify_report(report, (vectors / chain_file).read_bytes(), root, now=NOW, expected_nonce=report[4:36])
        assert "hardware.cc.signature_invalid" in rules(v) and v.status is Status.CONTRAINDICATED


def test_wrong_nonce_fails(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    v = verify_report(report, chain, root, now=NOW, expected_nonce=bytes(32))
    assert rules(v) == ["hardware.cc.nonce_mismatch"]
    v = verify_report(report, chain, root, now=NOW)
    assert rules(v) == ["hardware.cc.nonce_not_checked"] and v.status is Status.WARNING


@pytest.mark.parametrize("name", ["hopper", "blackwell"])
def test_every_flipped_byte_of_the_report_fails(vectors: Path, name: str) -> None:
    report, chain, root = load(vectors, name)
    cache = ChainCache()
    for pos in range(len(report)):
        tampered = report[:pos] + bytes([report[pos] ^ 0x01]) + report[pos + 1 :]
        v = verify_report(tampered, chain, root, now=NOW, expected_nonce=report[4:36], cache=cache)
        assert not v.valid, pos


def test_flipped_bytes_in_the_chain_fail(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    ders = [c.public_bytes(serialization.Encoding.DER) for c in parse_chain(chain)]
    for i, der in enumerate(ders[:4]):  # the chain's own root is replaced by the pinned one
        for pos in range(len(der)):
            bad = der[:pos] + bytes([der[pos] ^ 0x01]) + der[pos + 1 :]
            pem = b"".join(_pem(d) for d in [*ders[:i], bad, *ders[i + 1 :]])
            v = verify_report(report, pem, root, now=NOW, expected_nonce=report[4:36])
            assert not v.valid, (i, pos)


def _pem(der: bytes) -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _self_signed(name: x509.Name) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    return cert, key


def test_look_alike_root_fails(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    real_root = parse_chain(root)[0]
    fake_root, _ = _self_signed(real_root.subject)
    fake_pem = fake_root.public_bytes(serialization.Encoding.PEM)
    # Offered as the root file: it is not the pinned one.
    v = verify_report(report, chain, fake_pem, now=NOW, expected_nonce=report[4:36])
    assert rules(v) == ["hardware.cc.root_not_pinned"]
    # Swapped into the chain: the chain's root is ignored; the real chain still verifies.
    certs = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain, re.S)
    swapped = b"".join(certs[:4]) + fake_pem
    assert verify_report(report, swapped, root, now=NOW, expected_nonce=report[4:36]).valid


def test_identity_cert_signed_by_a_look_alike_root_fails(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    certs = parse_chain(chain)
    fake_root, fake_key = _self_signed(certs[4].subject)
    identity = certs[3]
    forged = (
        x509.CertificateBuilder()
        .subject_name(identity.subject)
        .issuer_name(fake_root.subject)
        .public_key(identity.public_key())
        .serial_number(identity.serial_number)
        .not_valid_before(identity.not_valid_before_utc)
        .not_valid_after(identity.not_valid_after_utc)
        .sign(fake_key, hashes.SHA384())
    )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [*certs[:3], forged, fake_root])
    v = verify_report(report, pem, root, now=NOW, expected_nonce=report[4:36])
    assert rules(v) == ["hardware.cc.chain_untrusted"]
    assert v.findings[0].evidence["position"] == 3


def test_chain_length_and_garbage(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    certs = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain, re.S)
    assert rules(verify_report(report, b"".join(certs[:4]), root, now=NOW, expected_nonce=report[4:36])) == ["hardware.cc.chain_length"]
    assert rules(verify_report(report, chain + certs[0], root, now=NOW, expected_nonce=report[4:36])) == ["hardware.cc.chain_length"]
    assert rules(verify_report(report, b"garbage", root, now=NOW)) == ["hardware.cc.chain_malformed"]
    broken = chain.replace(b"MII", b"MIX", 1)
    assert rules(verify_report(report, broken, root, now=NOW)) == ["hardware.cc.chain_malformed"]


def test_certificates_checked_against_the_clock(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    v = verify_report(report, chain, root, now=datetime(2019, 1, 1, tzinfo=UTC), expected_nonce=report[4:36])
    assert set(rules(v)) == {"hardware.cc.certificate_expired"}


@pytest.mark.parametrize("cut", [0, 10, 36, 37, 44, 45, 100, 3565, 3597, 3599, -97, -1])
def test_truncated_reports_are_clear_errors(vectors: Path, cut: int) -> None:
    report, _, _ = load(vectors, "hopper")
    with pytest.raises(EvidenceError, match=r"truncated|ends inside|past the end|remain|not an SPDM|announces"):
        parse_report(report[:cut])


def test_inconsistent_lengths_are_clear_errors(vectors: Path) -> None:
    report, _, _ = load(vectors, "hopper")
    more_blocks = report[:41] + bytes([65]) + report[42:]
    with pytest.raises(EvidenceError, match="announces 65 measurement blocks but holds 64"):
        parse_report(more_blocks)
    longer_opaque = bytearray(report)
    opaque_len_at = 37 + 8 + 3520 + 32
    longer_opaque[opaque_len_at] += 1
    with pytest.raises(EvidenceError):
        parse_report(bytes(longer_opaque))
    with pytest.raises(EvidenceError, match="expected 11e0"):
        parse_report(b"\x10" + report[1:])


def test_cache_makes_repeat_reports_cost_one_verify(vectors: Path) -> None:
    report, chain, root = load(vectors, "hopper")
    cache = ChainCache()
    verify_report(report, chain, root, now=NOW, expected_nonce=report[4:36], cache=cache)
    assert (cache.hits, cache.misses) == (0, 4)
    for _ in range(3):
        assert verify_report(report, chain, root, now=NOW, expected_nonce=report[4:36], cache=cache).valid
    assert (cache.hits, cache.misses) == (12, 4)
    # A chain that fails is never cached.
    other_report, other_chain, _ = load(vectors, "hopper-second")
    assert verify_report(other_report, other_chain, root, now=NOW, expected_nonce=other_report[4:36], cache=cache).valid
    assert cache.misses == 6  # the device's own two links; the shared ICA links were cached


def test_parsed_report_fields(vectors: Path) -> None:
    report, _, _ = load(vectors, "blackwell")
    parsed = parse_report(report)
    assert parsed.nonce == report[4:36].hex() and parsed.slot_id == 0
    assert (parsed.request_version, parsed.request_code, parsed.request_param1, parsed.request_param2) == (0x11, 0xE0, 1, 0xFF)
    names = {f.name for f in parsed.opaque}
    assert {"vbios_version", "driver_version", "fwid", "project", "chip_sku"} <= names
    vbios = next(f for f in parsed.opaque if f.name == "driver_version")
    assert vbios.text and vbios.text[0].isdigit()
    assert len(parsed.signature) == 192


def test_non_p384_leaf_is_refused(vectors: Path) -> None:
    report, _, _ = load(vectors, "hopper")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    v = verify_report(report, pem * 5, pem, now=NOW, expected_nonce=report[4:36], pinned_root_sha256=fingerprint(cert))
    assert "hardware.cc.signature_invalid" in rules(v)


def test_vbios_decoded_like_nvidia_writes_it(vectors: Path) -> None:
    report, _, _ = load(vectors, "hopper")
    vbios = next(f for f in parse_report(report).opaque if f.name == "vbios_version")
    assert vbios.text == "96.00.5E.00.01"  # cf. RIM file names such as 1010_0200_882_96005E0001
