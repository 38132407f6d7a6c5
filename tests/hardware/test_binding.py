"""Hardware-bound node keys, end to end with a simulated vendor hierarchy shaped like NVIDIA's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from attest.crypto.keys import SigningKey
from attest.errors import HardwareError, InputError
from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import SimulatedCcSource, attach, bind, binding_nonce
from attest.hardware.cc import ChainCache, parse_chain, verify_report
from attest.hardware.nvml import NvmlCcSource
from attest.hardware.rim import RimAppraiser
from attest.hardware.simulated_cc import SimulatedCcBackend, SimulatedRimService
from attest.model.manifest import WorkloadManifest
from attest.model.result import Status
from attest.verify import VerifyOptions, verify_envelope
from tests.conftest import NOW, Node, fresh_binding, trusted_node


def options(vendor: SimulatedCcBackend) -> VerifyOptions:
    return VerifyOptions(
        cc_root=vendor.root_pem, cc_root_sha256=vendor.root_sha256, cc_cache=ChainCache(), rims=sim_rims(vendor)
    )


def sim_rims(vendor: SimulatedCcBackend) -> RimAppraiser:
    """The simulated vendor's published RIMs, pinned to its RIM root."""
    return RimAppraiser(SimulatedRimService(vendor), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256)


def bound_manifest(node: Node, vendor: SimulatedCcBackend, *, key: SigningKey | None = None) -> WorkloadManifest:
    evidence = SimulatedGpuSource(node.preset, seed=node.host, hostname=node.host).read()
    binding = fresh_binding(evidence.gpus, (key or node.key).public, vendor)
    m = node.manifest()
    return m.model_copy(update={"gpus": attach(m.gpus, binding.model_copy(update={"node_key_id": node.key.key_id}), node.key.key_id)})


def test_hierarchy_has_nvidias_shape(vendor: SimulatedCcBackend) -> None:
    report, chain = vendor.attest("GPU-11111111-2222-3333-4444-555555555555", bytes(32))
    certs = parse_chain(chain)
    assert len(certs) == 5 and all(c.signature_hash_algorithm.name == "sha384" for c in certs)  # type: ignore[union-attr]
    v = verify_report(report, chain, vendor.root_pem, now=NOW, expected_nonce=bytes(32), pinned_root_sha256=vendor.root_sha256)
    assert v.valid and v.fwid  # the DICE FWID extension matches opaque field 20


def test_bound_manifest_is_hardware_bound(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    assert all(
        g.cc_evidence and g.cc_evidence.nonce == binding_nonce(node.key.public, g.cc_evidence.challenge).hex()
        for g in m.gpus
    )
    r = verify_envelope(node.envelope(m), node.trust, now=NOW, options=options(vendor))
    assert r.status is Status.AFFIRMING, r.findings
    assert r.location_grade == "hardware-bound" and r.trust_vector.hardware is Status.AFFIRMING
    assert any(f.rule == "hardware.bound" and "PCI mapping" in f.message for f in r.findings)


def test_certificates_judged_as_of_issue(vendor: SimulatedCcBackend) -> None:
    """The simulated GPU certificates end in 2054: a 2055 audit of a 2026 manifest judges them in 2026."""
    from dataclasses import replace

    node = trusted_node()
    raw = node.envelope(bound_manifest(node, vendor))
    audit_time = datetime(2055, 1, 1, tzinfo=UTC)
    now_ = verify_envelope(raw, node.trust, now=audit_time, options=options(vendor))
    assert {"hardware.cc.certificate_expired", "freshness.expired"} <= {f.rule for f in now_.findings}
    assert now_.location_grade == "declared"
    then = verify_envelope(raw, node.trust, now=audit_time, options=replace(options(vendor), as_of_issue=True))
    assert then.status is Status.AFFIRMING and then.location_grade == "hardware-bound", then.findings


def test_without_a_root_the_grade_stays_declared(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    r = verify_envelope(node.envelope(bound_manifest(node, vendor)), node.trust, now=NOW)
    assert r.location_grade == "declared" and r.status is Status.AFFIRMING
    assert "hardware.cc.not_checked" in [f.rule for f in r.findings]


def test_simulated_evidence_never_passes_as_nvidia(vendor: SimulatedCcBackend, vectors: Path) -> None:
    node = trusted_node()
    nvidia = VerifyOptions(cc_root=(vectors / "nvidia_device_identity_root.pem").read_bytes())
    r = verify_envelope(node.envelope(bound_manifest(node, vendor)), node.trust, now=NOW, options=nvidia)
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    assert {f.rule for f in r.findings if f.severity.value != "info"} == {"hardware.cc.chain_untrusted"}


def test_evidence_for_another_key_fails(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    other = SigningKey.generate()
    m = bound_manifest(node, vendor, key=other)  # reports made over another key's digest
    r = verify_envelope(node.envelope(m), node.trust, now=NOW, options=options(vendor))
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    rules = [f for f in r.findings if f.rule == "hardware.cc.nonce_mismatch"]
    assert len(rules) == 8 and "not made over this node key and its binding challenge" in rules[0].message


def test_evidence_copied_from_another_node_fails(vendor: SimulatedCcBackend) -> None:
    genuine, thief = trusted_node(), trusted_node()
    stolen = bound_manifest(genuine, vendor)
    m = thief.manifest().model_copy(update={"gpus": stolen.gpus})
    r = verify_envelope(thief.envelope(m), thief.trust, now=NOW, options=options(vendor))
    assert r.status is Status.CONTRAINDICATED and "hardware.cc.nonce_mismatch" in [f.rule for f in r.findings]


def test_one_device_presented_twice_fails(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    gpus = list(m.gpus)
    gpus[1] = gpus[1].model_copy(update={"cc_evidence": gpus[0].cc_evidence})
    r = verify_envelope(node.envelope(m.model_copy(update={"gpus": gpus})), node.trust, now=NOW, options=options(vendor))
    assert "hardware.cc.duplicate_device" in [f.rule for f in r.findings] and r.location_grade == "declared"


def test_tampered_report_fails(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    ev = m.gpus[3].cc_evidence
    assert ev is not None
    flipped = ev.report[:200] + ("0" if ev.report[200] != "0" else "1") + ev.report[201:]
    gpus = list(m.gpus)
    gpus[3] = gpus[3].model_copy(update={"cc_evidence": ev.model_copy(update={"report": flipped})})
    r = verify_envelope(node.envelope(m.model_copy(update={"gpus": gpus})), node.trust, now=NOW, options=options(vendor))
    assert r.status is Status.CONTRAINDICATED and any(f.evidence.get("index") == 3 for f in r.findings if f.rule.startswith("hardware.cc"))


def test_partially_bound_is_declared(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    gpus = [m.gpus[0].model_copy(update={"cc_evidence": None}), *m.gpus[1:]]
    r = verify_envelope(node.envelope(m.model_copy(update={"gpus": gpus})), node.trust, now=NOW, options=options(vendor))
    assert r.status is Status.AFFIRMING and r.location_grade == "declared"
    assert "hardware.partially_bound" in [f.rule for f in r.findings]


def test_attach_refuses_a_binding_for_another_key(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    gpus = SimulatedGpuSource("h100", seed="x").read().gpus
    binding = bind(gpus, SigningKey.generate().public, SimulatedCcSource(vendor))
    with pytest.raises(InputError, match="the binding is for node key"):
        attach(gpus, binding, node.key.key_id)
    with pytest.raises(InputError, match="no GPU to bind"):
        bind([], node.key.public, SimulatedCcSource(vendor))


class FakeCcNvml:
    """pynvml stand-in for the CC calls, with the real error classes."""

    NVMLError = pynvml.NVMLError

    def __init__(self, vendor: SimulatedCcBackend, fail: dict[str, int] | None = None) -> None:
        self.vendor, self.fail, self.calls = vendor, fail or {}, []  # type: ignore[var-annotated]

    def _f(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise pynvml.NVMLError(self.fail[name])

    def nvmlInit(self) -> None:
        self._f("nvmlInit")

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")

    def nvmlDeviceGetHandleByPciBusId(self, bus: str) -> str:
        self._f("nvmlDeviceGetHandleByPciBusId")
        return bus

    def nvmlDeviceGetConfComputeGpuAttestationReport(self, h: str, nonce: bytes) -> Any:
        self._f("nvmlDeviceGetConfComputeGpuAttestationReport")
        report, self._chain = self.vendor.attest("GPU-" + "0" * 8 + "-0000-0000-0000-" + "0" * 12, nonce)
        return SimpleNamespace(attestationReport=list(report) + [0] * 100, attestationReportSize=len(report))

    def nvmlDeviceGetConfComputeGpuCertificate(self, h: str) -> Any:
        self._f("nvmlDeviceGetConfComputeGpuCertificate")
        return SimpleNamespace(attestationCertChain=self._chain + b"\0" * 10, attestationCertChainSize=len(self._chain))


def test_nvml_cc_source_reads_report_and_chain(vendor: SimulatedCcBackend) -> None:
    fake = FakeCcNvml(vendor)
    gpu = SimulatedGpuSource("h100", seed="x").read().gpus[0]
    report, chain = NvmlCcSource(fake).attest(gpu, bytes(range(32)))
    assert verify_report(report, chain, vendor.root_pem, now=NOW, expected_nonce=bytes(range(32)), pinned_root_sha256=vendor.root_sha256).valid
    assert fake.calls[-1] == "nvmlShutdown" and all("Get" in c or c in ("nvmlInit", "nvmlShutdown") for c in fake.calls)
    with pytest.raises(HardwareError, match="exactly 32 bytes"):
        NvmlCcSource(fake).attest(gpu, bytes(16))


def test_nvml_cc_source_errors(vendor: SimulatedCcBackend) -> None:
    gpu = SimulatedGpuSource("h100", seed="x").read().gpus[0]
    fake = FakeCcNvml(vendor, {"nvmlDeviceGetConfComputeGpuAttestationReport": pynvml.NVML_ERROR_NOT_SUPPORTED})
    with pytest.raises(HardwareError, match="reading the attestation report of GPU 0"):
        NvmlCcSource(fake).attest(gpu, bytes(32))
    assert fake.calls[-1] == "nvmlShutdown"
    with pytest.raises(HardwareError, match="no NVIDIA driver"):
        NvmlCcSource().attest(gpu, bytes(32))  # the real pynvml, on a machine without a driver


def test_ocsp_in_the_manifest_is_checked(vendor: SimulatedCcBackend) -> None:
    import base64

    node = trusted_node()
    m = bound_manifest(node, vendor)
    gpus = []
    for g in m.gpus:
        ev = g.cc_evidence
        assert ev is not None
        chain = ev.certificate_chain.encode()
        ocsp = [base64.b64encode(vendor.ocsp_response(chain, p, revoked=(g.index == 5 and p == 1))).decode() for p in (1, 2, 3)]
        gpus.append(g.model_copy(update={"cc_evidence": ev.model_copy(update={"ocsp": ocsp})}))
    r = verify_envelope(node.envelope(m.model_copy(update={"gpus": gpus})), node.trust, now=datetime.now(UTC), options=options(vendor))
    revoked = [f for f in r.findings if f.rule == "hardware.cc.revoked"]
    assert len(revoked) == 1 and revoked[0].evidence["index"] == 5
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
