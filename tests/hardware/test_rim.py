"""Reference integrity manifests: NVIDIA's real RIMs verify (and every tampering fails), and measurements are appraised."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from attest.hardware.cc import verify_report
from attest.hardware.rim import (
    DirectoryRims,
    MemoryRims,
    OnlineRims,
    RimAppraiser,
    appraise,
    appraise_report,
    rim_ids,
    runtime_measurements,
    verify_rim,
)
from attest.hardware.simulated_cc import (
    DEBUG_POLICY_INDEX,
    SimulatedCcBackend,
    SimulatedIdentity,
    golden_measurement,
)
from attest.model.result import Severity
from tests.conftest import CliRunner

NVAT = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "nvidia-nvat"
NVIDIA = NVAT.parent / "nvidia"
pytestmark = pytest.mark.skipif(
    not NVAT.is_dir(), reason="NVIDIA sample vectors (../shared/vectors) not present"
)

NOW = datetime(2026, 12, 5, tzinfo=UTC)
BEFORE_EXPIRY = datetime(2025, 1, 1, tzinfo=UTC)
SWITCH_RIM = "attestation-sdk/rim_and_reports/switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml"
DRIVER_RIM = "attestation-sdk/rim_and_reports/NV_GPU_DRIVER_GH100_550.144.03.xml"
VBIOS_RIM = "nvtrust/rims/1010_0200_882_96005E0001_PROD.swidtag"
TEST_DRIVER_RIM = "nvtrust/rims/Driver_RIM_test_no_gpu.swidtag"
REAL_RIMS = [SWITCH_RIM, DRIVER_RIM, VBIOS_RIM, TEST_DRIVER_RIM]


def rim_root() -> bytes:
    return (NVAT / "nvtrust" / "roots" / "verifier_RIM_root.pem").read_bytes()


def device_root() -> bytes:
    return (NVIDIA / "nvidia_device_identity_root.pem").read_bytes()


def rules(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.rule for f in findings if f.severity is not Severity.INFO}


@pytest.mark.parametrize("name", REAL_RIMS)
def test_nvidia_rims_verify_to_the_pinned_rim_root(name: str) -> None:
    manifest, findings = verify_rim((NVAT / name).read_bytes(), rim_root(), now=NOW)
    assert manifest is not None and rules(findings) <= {"hardware.rim.certificate_expired"}, findings
    assert manifest.signer and manifest.measurements
    # At a moment when every certificate of its chain is valid, there is nothing to say.
    when = max(start for _, start, _ in manifest.validity)
    assert verify_rim((NVAT / name).read_bytes(), rim_root(), now=when)[1] == []
    assert all(len(v) == 48 for values in manifest.measurements.values() for v in values)


def test_rim_facts_and_expiry() -> None:
    vbios, _ = verify_rim((NVAT / VBIOS_RIM).read_bytes(), rim_root(), now=BEFORE_EXPIRY)
    assert vbios is not None and (vbios.product, vbios.version) == ("GH100", "96.00.5E.00.01")
    assert 7 not in vbios.measurements  # inactive in the RIM: not compared
    switch, _ = verify_rim((NVAT / SWITCH_RIM).read_bytes(), rim_root(), now=NOW)
    assert switch is not None and (switch.product, switch.version, len(switch.measurements)) == (
        "LS10",
        "96.10.55.00.01",
        31,
    )
    # The VBIOS RIM's signer expired in 2025: a warning, the golden values still count.
    _, findings = verify_rim((NVAT / VBIOS_RIM).read_bytes(), rim_root(), now=NOW)
    assert rules(findings) == {"hardware.rim.certificate_expired"}
    assert all(f.severity is Severity.WARNING for f in findings)


def _flip_hex(xml: bytes, needle: bytes) -> bytes:
    at = xml.index(needle) + len(needle)
    return xml[:at] + (b"1" if xml[at : at + 1] != b"1" else b"2") + xml[at + 1 :]


TAMPERINGS = {
    "golden value": lambda x: _flip_hex(x, b'ns2:Hash0="'),
    "version": lambda x: x.replace(
        b'colloquialVersion="96.10.55.00.01"', b'colloquialVersion="96.10.55.00.02"'
    ),
    "inactive measurement made active": lambda x: x.replace(b'active="True"', b'active="False"', 1),
    "signature value": lambda x: _flip_hex(x, b"<ds:SignatureValue>"),
    "a second Payload": lambda x: x.replace(
        b"</SoftwareIdentity>",
        b'<Payload xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd"/></SoftwareIdentity>',
    ),
    "signature method": lambda x: x.replace(b"xmldsig-more#ecdsa-sha384", b"xmldsig-more#ecdsa-sha256"),
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_every_tampering_of_a_real_rim_fails(how: str) -> None:
    xml = (NVAT / SWITCH_RIM).read_bytes()
    bad = TAMPERINGS[how](xml)
    assert bad != xml
    manifest, findings = verify_rim(bad, rim_root(), now=NOW)
    assert manifest is None
    assert rules(findings) & {"hardware.rim.signature_invalid", "hardware.rim.malformed"}, findings
    assert all(f.severity is Severity.CONTRAINDICATED for f in findings)


def test_a_rim_signed_under_another_root_or_with_a_broken_chain_fails(tmp_path: Path) -> None:
    xml = (NVAT / SWITCH_RIM).read_bytes()
    vendor = SimulatedCcBackend(tmp_path / "v")
    _, findings = verify_rim(xml, vendor.rim_root_pem, now=NOW)  # another root, NVIDIA's pin
    assert rules(findings) == {"hardware.rim.root_not_pinned"}
    _, sim_rim = vendor.rim("vbios", SimulatedIdentity())
    _, findings = verify_rim(sim_rim, rim_root(), now=NOW)  # the simulated vendor's RIM, pinned to NVIDIA
    assert rules(findings) == {"hardware.rim.chain_untrusted"}
    # Drop the intermediate certificates: the signer no longer chains to the root.
    start = xml.index(b"<ds:X509Certificate>", xml.index(b"</ds:X509Certificate>"))
    end = xml.rindex(b"<ds:X509Certificate>")
    _, findings = verify_rim(xml[:start] + xml[end:], rim_root(), now=NOW)
    assert rules(findings) == {"hardware.rim.chain_untrusted"}


def test_a_rim_signed_by_a_leaf_acting_as_a_ca_fails(tmp_path: Path) -> None:
    """A non-CA certificate under the pinned root may not issue the signer (BasicConstraints)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from lxml import etree
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
    from signxml.signer import XMLSigner

    vendor = SimulatedCcBackend(tmp_path / "v")
    vendor.rim_root_pem  # noqa: B018  (makes the hierarchy)
    signer_key = serialization.load_pem_private_key((tmp_path / "v" / "rim_signer.key").read_bytes(), None)
    # The vendor's own signer (CA:FALSE) issues a certificate that then signs a RIM.
    signer_cert = x509.load_pem_x509_certificate((tmp_path / "v" / "rim_chain.pem").read_bytes())
    assert isinstance(signer_key, ec.EllipticCurvePrivateKey)
    rogue_key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")])
    rogue = (
        x509.CertificateBuilder().subject_name(name).issuer_name(signer_cert.subject).public_key(rogue_key.public_key())
        .serial_number(7).not_valid_before(NOW.replace(year=2025)).not_valid_after(NOW.replace(year=2030))
        .sign(signer_key, hashes.SHA384())
    )  # fmt: skip
    _, good = vendor.rim("vbios", SimulatedIdentity())
    doc = etree.fromstring(good)
    for sig in doc.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        doc.remove(sig)
    signed = XMLSigner(
        signature_algorithm=SignatureMethod.ECDSA_SHA384,
        digest_algorithm=DigestAlgorithm.SHA384,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1,
    ).sign(doc, key=rogue_key, cert=[rogue, signer_cert])
    _, findings = verify_rim(etree.tostring(signed), vendor.rim_root_pem, now=NOW, pinned_root_sha256=vendor.rim_root_sha256)
    assert rules(findings) == {"hardware.rim.chain_untrusted"} and "not a CA" in findings[0].message


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>',
        b"<SoftwareIdentity/>",
        b"\xff" * 100,
    ],
)
def test_malformed_rims_are_refused_not_raised(bad: bytes) -> None:
    manifest, findings = verify_rim(bad, rim_root(), now=NOW)
    assert manifest is None and findings and all(f.severity is Severity.CONTRAINDICATED for f in findings)


# --- Appraisal with real evidence -------------------------------------------------------------


def _switch_outcome():  # type: ignore[no-untyped-def]
    entry = json.loads((NVAT / "attestation-sdk/evidence/switch_evidence_ls10.json").read_text())[0]
    return verify_report(
        base64.b64decode(entry["evidence"]),
        base64.b64decode(entry["certificate"]),
        device_root(),
        now=NOW,
        expected_nonce=bytes.fromhex(entry["nonce"]),
    )


def _hopper_outcome():  # type: ignore[no-untyped-def]
    report = binascii.unhexlify(b"".join((NVIDIA / "hopperAttestationReport.txt").read_bytes().split()))
    return verify_report(report, (NVIDIA / "hopperCertChain.txt").read_bytes(), device_root(), now=NOW)


def test_real_nvswitch_measurements_match_nvidias_rim(tmp_path: Path) -> None:
    outcome = _switch_outcome()
    assert outcome.valid
    cache = tmp_path / "rims"
    cache.mkdir()
    (cache / "NV_SWITCH_BIOS_5612_0002_890_9610550001.xml").write_bytes((NVAT / SWITCH_RIM).read_bytes())
    findings = appraise_report(outcome, RimAppraiser(DirectoryRims(cache), rim_root()), now=NOW)
    assert rules(findings) == set(), findings
    assert [f.evidence["compared"] for f in findings if f.rule == "hardware.rim.appraised"] == [31]


def test_real_h100_vbios_measurements_match_and_a_missing_driver_rim_is_a_warning() -> None:
    outcome = _hopper_outcome()
    rt = runtime_measurements(outcome.hwmodel, outcome.parsed.opaque_value, outcome.parsed.blocks)
    assert rim_ids(rt) == [
        ("driver", "NV_GPU_DRIVER_GH100_535.86.09"),
        ("vbios", "NV_GPU_VBIOS_1010_0200_882_96005E0001"),
    ]
    source = MemoryRims({"NV_GPU_VBIOS_1010_0200_882_96005E0001": (NVAT / VBIOS_RIM).read_bytes()})
    result = appraise(rt, RimAppraiser(source, rim_root()), now=BEFORE_EXPIRY)
    assert rules(result.findings) == {"hardware.rim.missing"}
    assert result.compared == 12 and result.rims == ["NV_GPU_VBIOS_1010_0200_882_96005E0001"]


def test_a_real_rim_for_another_version_is_refused() -> None:
    """An operator serving the RIM of other (older, or another SKU's) firmware under the expected name."""
    outcome = _hopper_outcome()
    rt = runtime_measurements(outcome.hwmodel, outcome.parsed.opaque_value, outcome.parsed.blocks)
    source = MemoryRims(
        {
            "NV_GPU_DRIVER_GH100_535.86.09": (NVAT / DRIVER_RIM).read_bytes(),  # 550.144.03's
            "NV_GPU_VBIOS_1010_0200_882_96005E0001": (NVAT / SWITCH_RIM).read_bytes(),  # an NVSwitch's
        }
    )
    result = appraise(rt, RimAppraiser(source, rim_root()), now=BEFORE_EXPIRY)
    mismatches = [f for f in result.findings if f.rule == "hardware.rim.version_mismatch"]
    assert len(mismatches) == 2 and all(f.severity is Severity.CONTRAINDICATED for f in mismatches)
    assert result.compared == 0


def test_a_tampered_rim_in_the_cache_is_contraindicated(tmp_path: Path) -> None:
    outcome = _switch_outcome()
    cache = tmp_path / "rims"
    cache.mkdir()
    (cache / "NV_SWITCH_BIOS_5612_0002_890_9610550001.xml").write_bytes(
        TAMPERINGS["golden value"]((NVAT / SWITCH_RIM).read_bytes())
    )
    findings = appraise_report(outcome, RimAppraiser(DirectoryRims(cache), rim_root()), now=NOW)
    assert "hardware.rim.signature_invalid" in rules(findings)
    assert "hardware.rim.appraised" not in {f.rule for f in findings}


def test_without_rims_measurements_are_a_warning() -> None:
    findings = appraise_report(_switch_outcome(), None, now=NOW)
    assert rules(findings) == {"hardware.rim.not_checked"}


# --- Appraisal with the simulated vendor ------------------------------------------------------


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> SimulatedCcBackend:
    return SimulatedCcBackend(tmp_path_factory.mktemp("vendor"))


def _sim(vendor: SimulatedCcBackend, uuid: str, *, debug: bool = False):  # type: ignore[no-untyped-def]
    vendor.set_debug(uuid, debug)
    try:
        report, chain = vendor.attest(uuid, b"\x07" * 32)
    finally:
        vendor.set_debug(uuid, False)
    return verify_report(
        report,
        chain,
        vendor.root_pem,
        now=NOW,
        pinned_root_sha256=vendor.root_sha256,
        expected_nonce=b"\x07" * 32,
    )


SIM = SimulatedIdentity()  # the simulated vendor's default GPU: no board SKU, its VBIOS RIM named by chip


def _appraiser(vendor: SimulatedCcBackend, rims: dict[str, bytes] | None = None) -> RimAppraiser:
    source = MemoryRims(rims if rims is not None else vendor.rims([SIM]))
    return RimAppraiser(source, vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256)


UUID = "GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0"


def test_simulated_gpu_matches_its_vendors_rims(vendor: SimulatedCcBackend) -> None:
    findings = appraise_report(_sim(vendor, UUID), _appraiser(vendor), now=NOW)
    assert rules(findings) == set()
    assert [f.evidence["compared"] for f in findings if f.rule == "hardware.rim.appraised"] == [64]


def test_a_debug_mode_gpu_is_contraindicated_with_index_golden_and_runtime(
    vendor: SimulatedCcBackend,
) -> None:
    outcome = _sim(vendor, UUID, debug=True)
    assert outcome.valid  # a genuine, correctly signed report...
    findings = appraise_report(outcome, _appraiser(vendor), now=NOW)
    (mismatch,) = [f for f in findings if f.rule == "hardware.measurement_mismatch"]
    assert mismatch.severity is Severity.CONTRAINDICATED  # ...whose measurements are not the golden ones
    assert mismatch.evidence["index"] == DEBUG_POLICY_INDEX
    assert mismatch.evidence["golden"] == [golden_measurement(DEBUG_POLICY_INDEX).hex()]
    runtime = outcome.parsed.blocks[DEBUG_POLICY_INDEX][3]  # block index + 1 is list position + 1
    assert mismatch.evidence["runtime"] == runtime.hex() != golden_measurement(DEBUG_POLICY_INDEX).hex()
    assert "hardware.rim.appraised" not in {f.rule for f in findings}


def test_a_rim_whose_golden_value_differs_refuses_the_gpu(vendor: SimulatedCcBackend) -> None:
    rims = dict([vendor.rim("vbios", SIM), vendor.rim("driver", SIM, golden={40: b"\x01" * 48})])
    findings = appraise_report(_sim(vendor, UUID), _appraiser(vendor, rims), now=NOW)
    assert {
        (f.rule, f.evidence.get("index")) for f in findings if f.severity is Severity.CONTRAINDICATED
    } == {("hardware.measurement_mismatch", 40)}


def test_missing_rims_are_warnings(vendor: SimulatedCcBackend) -> None:
    findings = appraise_report(_sim(vendor, UUID), _appraiser(vendor, {}), now=NOW)
    assert rules(findings) == {"hardware.rim.missing"}
    assert all(f.severity is Severity.WARNING for f in findings)


def test_online_rims_are_fetched_verified_and_cached(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    served = vendor.rims([SIM])
    asked: list[str] = []

    def fetch(url: str) -> bytes | None:
        asked.append(url)
        rim_id = url.rsplit("/", 1)[1]
        if rim_id not in served:
            return None
        return json.dumps({"id": rim_id, "rim": base64.b64encode(served[rim_id]).decode()}).encode()

    cache = DirectoryRims(tmp_path)
    online = OnlineRims(cache, fetch=fetch)
    appraiser = RimAppraiser(online, vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256)
    assert rules(appraise_report(_sim(vendor, UUID), appraiser, now=NOW)) == set()
    assert len(asked) == 2 and all(
        u.startswith("https://rim.attestation.nvidia.com/v1/rim/NV_GPU_") for u in asked
    )
    assert sorted(p.name for p in tmp_path.glob("*.xml")) == sorted(f"{i}.xml" for i in served)
    # Cached now: no second fetch.
    assert rules(appraise_report(_sim(vendor, UUID), appraiser, now=NOW)) == set()
    assert len(asked) == 2

    def junk(url: str) -> bytes | None:
        return b"<html>maintenance</html>"

    broken = RimAppraiser(
        OnlineRims(fetch=junk), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256
    )
    assert rules(appraise_report(_sim(vendor, UUID), broken, now=NOW)) == {"hardware.rim.missing"}


def test_cli_online_fetches_rims_from_a_rim_service_over_http_and_caches_them(
    cli: CliRunner, tmp_path: Path, vendor: SimulatedCcBackend
) -> None:
    """A real HTTP server plays NVIDIA's RIM service (``--rim-service`` names a mirror)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    served = vendor.rims([SIM])
    asked: list[str] = []
    broken = {"on": False}

    class Service(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            rim_id = self.path.rsplit("/", 1)[1]
            if broken["on"]:
                self.send_response(503)
                self.end_headers()
                return
            if rim_id not in served:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps({"id": rim_id, "rim": base64.b64encode(served[rim_id]).decode()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        nonce = b"\x09" * 32
        report, chain = vendor.attest(UUID, nonce)
        (tmp_path / "r.bin").write_bytes(report)
        (tmp_path / "c.pem").write_bytes(chain)
        (tmp_path / "root.pem").write_bytes(vendor.root_pem)
        (tmp_path / "rim_root.pem").write_bytes(vendor.rim_root_pem)
        (tmp_path / "cache").mkdir()
        args = [
            "gpu", "verify-report", "--report", "r.bin", "--chain", "c.pem", "--root", "root.pem",
            "--root-sha256", vendor.root_sha256, "--nonce", nonce.hex(), "--now", "2026-12-05T00:00:00Z",
            "--rims", "cache", "--rim-root", "rim_root.pem", "--rim-root-sha256", vendor.rim_root_sha256,
            "--online", "--rim-service", f"http://127.0.0.1:{server.server_address[1]}/v1/rim",
        ]  # fmt: skip
        out = cli(*args, "--format", "json", check_code=0)
        assert "hardware.rim.appraised" in {f["rule"] for f in json.loads(out.stdout)["findings"]}
        assert sorted(asked) == sorted(f"/v1/rim/{i}" for i in served)
        assert sorted(p.stem for p in (tmp_path / "cache").glob("*.xml")) == sorted(served)
        # Cached: the service is not asked again, even when it is down.
        broken["on"] = True
        cli(*args, check_code=0)
        assert len(asked) == 2
        # Not cached and the service is down: a warning, not a pass.
        for p in (tmp_path / "cache").glob("*.xml"):
            p.unlink()
        out = cli(*args, "--format", "json", check_code=1)
        assert {f["rule"] for f in json.loads(out.stdout)["findings"] if f["severity"] == "warning"} == {"hardware.rim.missing"}
    finally:
        server.shutdown()
    assert "--rim-service goes with --online" in cli(*args[:-3], *args[-2:], check_code=2).stderr
