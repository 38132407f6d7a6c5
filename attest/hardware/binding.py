"""Hardware-bound node keys: each GPU vouches for the node's signing key.

``attest bind`` asks every GPU for an attestation report whose nonce names the
node key and a trusted challenger's challenge (:mod:`attest.hardware.freshness`),
so the binding is dated and cannot be prepared in advance. A genuine GPU signs that
report with its device key, certified up to the vendor's root; so a verifier
that checks the report learns that *this* signing key was present on a host
with *these* GPUs. Manifests then carry each GPU's report and chain, and the
verifier grades the location claim ``hardware-bound`` only when every GPU the
manifest lists has a report that verifies for the key that signed it.

Reports carry no NVML serial or UUID: a report is tied to a GPU entry by the
driver's own mapping (the device handle the report was read through, by PCI
bus id), which the findings say.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal, Protocol

from pydantic import Field

from attest.crypto.canonical import json_digest
from attest.crypto.keys import VerifyingKey
from attest.errors import InputError
from attest.hardware.catalog import bundled_catalog
from attest.hardware.freshness import binding_nonce
from attest.hardware.simulated_cc import SimulatedCcBackend, SimulatedIdentity
from attest.model.base import HexSha256, Timestamp, WireModel
from attest.model.manifest import CcEvidence, Gpu, GpuUuid, SignedChallenge

__all__ = [
    "BoundGpu",
    "CcEvidenceSource",
    "NodeBinding",
    "SimulatedCcSource",
    "attach",
    "bind",
    "binding_nonce",
    "simulated_identity",
    "unmatched",
]


class CcEvidenceSource(Protocol):
    """Asks a GPU for a confidential-computing attestation report over a nonce."""

    name: str

    def attest(self, gpu: Gpu, nonce: bytes) -> tuple[bytes, bytes]:
        """Return (report, certificate chain PEM) for this GPU over ``nonce`` (32 bytes)."""
        ...

    def revocation(self, gpu: Gpu, chain_pem: bytes) -> list[bytes]:
        """OCSP responses (DER) for the chain's positions 1-3, from its issuer's responder."""
        ...


def simulated_identity(gpu: Gpu) -> SimulatedIdentity:
    """What a simulated vendor fuses into a GPU of this model: the catalog's attested identity."""
    chip = bundled_catalog().declared_chip(gpu)
    if chip is None or chip.attested is None:
        return SimulatedIdentity()
    sku = chip.attested.skus[0] if chip.attested.skus else None
    return SimulatedIdentity(
        certificate_model=chip.attested.certificate_models[0],
        project=sku.project if sku else None,
        project_sku=sku.project_sku if sku else None,
        chip_sku=sku.chip_sku if sku else None,
    )


class SimulatedCcSource:
    """Evidence from a :class:`SimulatedCcBackend` (its root must be pinned explicitly)."""

    name = "simulated"

    def __init__(self, backend: SimulatedCcBackend, *, ocsp_produced_at: datetime | None = None) -> None:
        self.backend = backend
        self.ocsp_produced_at = ocsp_produced_at
        """When its OCSP answers say they were produced (default: now; tests set their own clock)."""

    def attest(self, gpu: Gpu, nonce: bytes) -> tuple[bytes, bytes]:
        """Return the simulated GPU's report and chain (the GPU is made as its entry's model)."""
        return self.backend.attest(gpu.uuid, nonce, simulated_identity(gpu))

    def revocation(self, gpu: Gpu, chain_pem: bytes) -> list[bytes]:
        """The simulated vendor's OCSP answers for this GPU's chain."""
        return self.backend.revocation(gpu.uuid, produced=self.ocsp_produced_at)


class BoundGpu(WireModel):
    """One GPU's evidence for the node key."""

    uuid: GpuUuid
    index: int
    pci_bus_id: str
    cc_evidence: CcEvidence


class NodeBinding(WireModel):
    """What ``attest bind`` writes: the node key and every GPU's report over its digest."""

    version: Literal[1] = 1
    node_key_id: HexSha256
    created_at: Timestamp
    source: Annotated[str, Field(description="nvml or simulated")]
    gpus: list[BoundGpu] = Field(min_length=1)


def bind(
    gpus: Sequence[Gpu],
    key: VerifyingKey,
    source: CcEvidenceSource,
    *,
    challenge: SignedChallenge | None = None,
    revocation: bool = True,
) -> NodeBinding:
    """Ask every GPU for a report over the key's binding nonce (naming ``challenge``).

    Args:
        gpus: the GPUs to bind (each must answer).
        key: the node key to bind.
        source: where reports come from (NVML or a simulated vendor).
        challenge: a trusted challenger's challenge (:mod:`attest.hardware.freshness`); without
            one the binding is genuine but undated, and never graded hardware-bound.
        revocation: attach the chains' OCSP responses (a verifier needs them for hardware-bound).
    """
    if not gpus:
        raise InputError("no GPU to bind the key to")
    nonce = binding_nonce(key, challenge)
    bound = []
    for gpu in gpus:
        report, chain = source.attest(gpu, nonce)
        ocsp = (
            [base64.b64encode(r).decode("ascii") for r in source.revocation(gpu, chain)] if revocation else []
        )
        bound.append(
            BoundGpu(
                uuid=gpu.uuid,
                index=gpu.index,
                pci_bus_id=gpu.pci.bus_id,
                cc_evidence=CcEvidence(
                    nonce=nonce.hex(),
                    report=report.hex(),
                    certificate_chain=chain.decode("ascii"),
                    source=source.name,
                    ocsp=ocsp,
                    challenge=challenge,
                ),
            )
        )
    return NodeBinding(node_key_id=key.key_id, created_at=datetime.now(UTC), source=source.name, gpus=bound)


def attach(gpus: Sequence[Gpu], binding: NodeBinding, key_id: str) -> list[Gpu]:
    """Copy each GPU's evidence from the binding onto its manifest entry (matched by UUID).

    A binding GPU this host does not list is left out (:func:`unmatched` names them, for a warning).

    Raises:
        InputError: the binding is for another key, or matches none of this host's GPUs (it was made
            on other GPUs: attaching nothing would silently sign a manifest with no hardware evidence).
    """
    if binding.node_key_id != key_id:
        raise InputError(
            f"the binding is for node key {binding.node_key_id[:16]}…, not {key_id[:16]}…",
            hint="run attest bind again with this node's key",
        )
    by_uuid = {b.uuid: b for b in binding.gpus}
    if gpus and not any(g.uuid in by_uuid for g in gpus):
        raise InputError(
            f"the binding's {len(binding.gpus)} GPU(s) ({', '.join(b.uuid for b in binding.gpus[:3])}"
            f"{', …' if len(binding.gpus) > 3 else ''}) are none of this host's GPUs",
            hint="run attest bind on this host, over these GPUs",
        )
    return [
        g.model_copy(update={"cc_evidence": by_uuid[g.uuid].cc_evidence}) if g.uuid in by_uuid else g
        for g in gpus
    ]


def unmatched(gpus: Sequence[Gpu], binding: NodeBinding) -> list[BoundGpu]:
    """The binding's GPUs that none of ``gpus`` is (by UUID): :func:`attach` leaves their evidence out."""
    uuids = {g.uuid for g in gpus}
    return [b for b in binding.gpus if b.uuid not in uuids]


def evidence_digest(evidence: CcEvidence) -> str:
    """``sha256:<hex>`` of the evidence's RFC 8785 JSON: what ``Gpu.cc_evidence_ref`` names."""
    return json_digest(evidence.to_obj())


def reference_binding(gpus: Sequence[Gpu]) -> list[Gpu]:
    """The GPUs with each binding's evidence replaced by its digest (``cc_evidence_ref``).

    For heartbeats to a verifier that has verified the full binding before (a manifest that
    carried it): it resolves each digest from the evidence it verified, and refuses a digest it
    does not know. A GPU without evidence is returned unchanged.
    """
    return [
        g.model_copy(update={"cc_evidence": None, "cc_evidence_ref": evidence_digest(g.cc_evidence)})
        if g.cc_evidence is not None
        else g
        for g in gpus
    ]
