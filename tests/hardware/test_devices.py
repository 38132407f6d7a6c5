"""One device identity: the verifier and the audit read which GPUs a manifest claims from one function."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from attest.audit.analytics import ManifestSummary
from attest.hardware.cc import device_identity, parse_chain
from attest.hardware.devices import claim_period, gpu_devices
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.replay import MemoryDeviceStore
from attest.verify import Verifier
from tests.conftest import NOW, REPO, trusted_node
from tests.hardware.test_binding import bound_manifest, options

LATER = NOW + timedelta(minutes=1)


def test_the_verifier_and_the_audit_see_the_same_devices(tmp_path: Path) -> None:
    vendor = SimulatedCcBackend(tmp_path / "vendor")
    node = trusted_node()
    m = bound_manifest(node, vendor)
    found = gpu_devices(m.gpus)
    assert [i for i, _, _ in found] == [g.index for g in m.gpus] and len({d for _, d, _ in found}) == len(
        m.gpus
    )
    for (_, device, since), g in zip(found, m.gpus, strict=True):
        assert g.cc_evidence is not None and g.cc_evidence.challenge is not None
        assert device == device_identity(parse_chain(g.cc_evidence.certificate_chain.encode())[1])
        assert since == g.cc_evidence.challenge.challenge.issued_at
    # What the verifier claims in its device store ...
    devices = MemoryDeviceStore()
    verifier = Verifier(node.trust, options=options(vendor), devices=devices, policy=None)
    result, opened = verifier.verify_and_open(node.envelope(m), now=LATER)
    assert result.location_grade == "hardware-bound" and opened is not None, result.findings
    claimed = {(c.device_id, c.since, c.until) for _, d, _ in found for c in devices.claims(d)}
    # ... is what the audit's fleet analytics read.
    summary = ManifestSummary.of("m", opened, result)
    assert set(summary.devices) == claimed and len(claimed) == len(m.gpus)
    assert claimed == {(d, *claim_period(m, since)) for _, d, since in found}


def test_a_gpu_without_a_device_certificate_claims_nothing() -> None:
    node = trusted_node()
    m = node.manifest()  # simulated GPUs, no CC evidence
    assert gpu_devices(m.gpus) == ()


def test_the_claim_period_starts_at_the_binding_and_never_ends_before_it_starts() -> None:
    m = trusted_node().manifest()
    issued, expires = m.freshness.issued_at, m.freshness.expires_at
    assert claim_period(m, None) == (issued, expires)
    assert claim_period(m, issued - timedelta(hours=1)) == (issued - timedelta(hours=1), expires)
    late = expires + timedelta(hours=1)  # a binding dated after the manifest expires
    assert claim_period(m, late) == (late, late)


def test_no_module_derives_a_device_identity_by_itself() -> None:
    """Only attest/hardware/cc.py (which defines it) and attest/hardware/devices.py call device_identity."""
    callers = []
    for path in sorted((REPO / "attest").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "device_identity"
            ):
                callers.append(str(path.relative_to(REPO)))
    assert sorted(set(callers)) <= ["attest/hardware/cc.py", "attest/hardware/devices.py"], callers
