"""The workload manifest: the in-toto predicate a node signs for every job event.

Field names follow DESIGN.md; site coordinates use the names of the EAT
``location`` claim (RFC 9711). The predicate type URI carries the version:
a change that old verifiers would misread gets a new URI, never a silent
reinterpretation of an old one.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, Self

from pydantic import Field, model_validator

from attest.model.base import CountryCode, FacilityId, HexSha256, Name, PrefixedDigest, Timestamp, WireModel

PREDICATE_TYPE: Final = "https://compute-attest.dev/workload-manifest/v1"
"""predicateType of the workload manifest, version 1."""

Phase = Literal["start", "heartbeat", "end"]

GpuUuid = Annotated[
    str,
    Field(
        pattern=r"^(GPU|MIG)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="NVML UUID, e.g. GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0",
    ),
]
PciBusId = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")]
PciId32 = Annotated[
    str,
    Field(
        pattern=r"^0x[0-9a-f]{8}$",
        description="32-bit PCI id: device << 16 | vendor, lowercase hex",
    ),
]


class Identifier(WireModel):
    """A registry identifier of a legal entity (LEI, DUNS, national company number, ...)."""

    scheme: Annotated[str, Field(min_length=1, max_length=64, description="e.g. lei, duns, uen, uscc")]
    value: Annotated[str, Field(min_length=1, max_length=128)]


class Party(WireModel):
    """A legal entity and where it is headquartered."""

    legal_name: Name
    headquarters_country: CountryCode
    identifiers: list[Identifier] = Field(default_factory=list, max_length=32)


class Owner(Party):
    """A direct or indirect owner of the tenant and its share (the Affiliates "50 %" rule reads them)."""

    share_percent: Annotated[float, Field(gt=0, le=100, description="ownership share, percent")]


class Tenant(Party):
    """The customer whose job runs, and its ultimate parent (the headquarters rule reads both)."""

    ultimate_parent: Party | None = None
    owners: list[Owner] = Field(
        default_factory=list, max_length=64, description="owners with their shares, for the Affiliates rule"
    )


class Operator(WireModel):
    """The cloud operator that runs the site."""

    name: Name
    country: CountryCode
    identifiers: list[Identifier] = Field(default_factory=list, max_length=32)


class Site(WireModel):
    """The facility the operator declares; coordinates use EAT ``location`` names (RFC 9711)."""

    facility_id: FacilityId
    name: Name
    country: CountryCode
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    accuracy: Annotated[float | None, Field(ge=0, description="metres")] = None
    altitude: float | None = None
    altitude_accuracy: Annotated[float | None, Field(ge=0)] = None


class ImageRef(WireModel):
    """A container image by name and content digest."""

    name: Name
    digest: PrefixedDigest


class Job(WireModel):
    """The workload event this manifest speaks for."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    scheduler: Annotated[
        str, Field(min_length=1, max_length=64, description="slurm, kubernetes, skypilot, ...")
    ]
    phase: Phase
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    declared_training_ops: Annotated[
        float | None, Field(ge=0, description="declared training compute, in operations")
    ] = None
    spec_digest: Annotated[PrefixedDigest | None, Field(description="digest of the job specification")] = None
    images: list[ImageRef] = Field(default_factory=list, max_length=256)

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("job.ended_at is before job.started_at")
        return self


class Node(WireModel):
    """The GPU node and the key it signs with."""

    hostname: Annotated[str, Field(min_length=1, max_length=253)]
    key_id: HexSha256
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    cc_state: ConfComputeState | None = None


class PciInfo(WireModel):
    """PCI location and ids of a GPU as NVML reports them."""

    bus_id: PciBusId
    device_id: PciId32
    subsystem_id: PciId32 | None = None


class Classification(WireModel):
    """An export-control classification as written by the attester (the verifier re-derives it).

    ``eccn`` is ``3A090.a``, ``3A090.b`` or ``not-3A090`` (below the parameters;
    its actual ECCN, e.g. EAR99 or 3A991, is not determined here), or whatever
    an attester claims; the verifier compares it with the catalog's.
    """

    eccn: Annotated[str, Field(min_length=1, max_length=32)]
    paragraph: str | None = None
    tpp: float | None = None


class BindingChallenge(WireModel):
    """What a challenger signs: who, when, and a random value nobody could predict."""

    version: Literal[1] = 1
    challenger_key_id: HexSha256
    issued_at: Timestamp
    random: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="32 random bytes, hex")]


class SignedChallenge(WireModel):
    """A binding challenge with its challenger's signature (base64) over its canonical form."""

    challenge: BindingChallenge
    signature: Annotated[str, Field(min_length=1, max_length=1024, description="base64")]


class CcEvidence(WireModel):
    """NVIDIA confidential-computing evidence captured for a GPU (checked by the GPU evidence step)."""

    nonce: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="the 32-byte caller nonce, hex")]
    report: Annotated[str, Field(pattern=r"^[0-9a-f]+$", max_length=65536, description="SPDM report, hex")]
    certificate_chain: Annotated[str, Field(max_length=65536, description="PEM chain, leaf first")]
    source: str = "nvml"
    ocsp: list[Annotated[str, Field(max_length=16384, description="base64 DER OCSP response")]] = Field(
        default_factory=list, max_length=8, description="OCSP responses captured for chain positions 1-3"
    )
    challenge: SignedChallenge | None = Field(
        default=None,
        description="the challenge the report's nonce names (attest bind --challenge): dates the binding; "
        "absent in bindings made before challenges, which are never graded fresh",
    )
    nras_token: Annotated[
        str | None,
        Field(
            max_length=65536,
            description="NRAS detached EAT for this report (JSON text: the overall token and this GPU's), "
            "made over the same nonce: NVIDIA's appraisal of its measurements",
        ),
    ] = None


class MaxClocks(WireModel):
    """Maximum clocks in MHz."""

    graphics: int | None = None
    sm: int | None = None
    memory: int | None = None


class MigMode(WireModel):
    """Multi-Instance GPU mode: current and pending (after reset)."""

    current: bool
    pending: bool


class PlatformInfo(WireModel):
    """Rack-scale placement (Blackwell and later), decoded from NVML's raw struct bytes."""

    ib_guid: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    chassis_serial: str
    slot: int
    tray: int
    host_id: int
    peer_type: int
    module_id: int


class ConfComputeState(WireModel):
    """The host's confidential-computing state as NVML reports it."""

    environment: Literal["unavailable", "simulation", "production"] | str
    cc_feature: bool
    dev_tools_mode: bool
    multi_gpu_mode: str | None = Field(
        default=None, description="none or protected-pcie, when NVML reports it"
    )
    gpus_ready: bool | None = Field(default=None, description="whether the GPUs accept CC workloads")


class Gpu(WireModel):
    """One GPU's identity as read through NVML (absent fields were not supported)."""

    index: Annotated[int, Field(ge=0, le=1023)]
    name: Name
    uuid: GpuUuid
    serial: str | None = None
    board_part_number: str | None = None
    pci: PciInfo
    vbios: str | None = None
    memory_total_mib: Annotated[int | None, Field(ge=0)] = None
    architecture: str | None = None
    compute_capability: Annotated[str | None, Field(pattern=r"^\d+\.\d+$")] = None
    board_id: int | None = None
    brand: str | None = None
    module_id: int | None = None
    inforom_version: str | None = None
    max_clocks_mhz: MaxClocks | None = None
    power_limit_mw: int | None = None
    mig_mode: MigMode | None = None
    gpu_cores: int | None = None
    platform: PlatformInfo | None = None
    classification: Classification | None = None
    cc_evidence: CcEvidence | None = None
    cc_evidence_ref: Annotated[
        str | None,
        Field(
            pattern=r"^sha256:[0-9a-f]{64}$",
            description="instead of cc_evidence: the digest (sha256 of its RFC 8785 JSON) of the evidence "
            "this GPU carried in an earlier manifest; a verifier that verified that evidence resolves it, "
            "any other refuses the manifest (hardware.cc.evidence_unknown)",
        ),
    ] = None

    @property
    def pci_vendor_device(self) -> tuple[int, int]:
        """(vendor id, device id) decoded from the 32-bit PCI id."""
        raw = int(self.pci.device_id, 16)
        return raw & 0xFFFF, raw >> 16


class LandmarkReceipt(WireModel):
    """A landmark's signed statement of a measured round trip to this node."""

    landmark_id: Annotated[str, Field(min_length=1, max_length=128)]
    landmark_key_id: HexSha256
    node_key_id: HexSha256
    nonce: Annotated[str, Field(pattern=r"^[0-9a-f]{32,128}$")]
    rtt_ns: Annotated[int, Field(gt=0)]
    measured_at: Timestamp
    binding: PrefixedDigest
    gpu_reports: list[PrefixedDigest] | None = Field(
        default=None,
        max_length=64,
        description="GPU-timed exchange (v2): SHA-256 of each GPU's attestation report over the "
        "challenge-derived nonce, received before the landmark stopped its clock; absent when the "
        "node key alone answered",
    )
    signature: Annotated[str, Field(min_length=1, max_length=1024, description="base64")]


class TimedGpuReport(WireModel):
    """One GPU's attestation report made for one landmark challenge (its digest is in that receipt)."""

    receipt_nonce: Annotated[
        str, Field(pattern=r"^[0-9a-f]{32,128}$", description="the nonce of the receipt it answered")
    ]
    gpu_index: Annotated[int, Field(ge=0, le=1023)]
    report: Annotated[str, Field(pattern=r"^[0-9a-f]+$", max_length=65536, description="SPDM report, hex")]


class LocationEvidence(WireModel):
    """Evidence for the site's location beyond the operator's word."""

    receipts: list[LandmarkReceipt] = Field(default_factory=list, max_length=64)
    gpu_reports: list[TimedGpuReport] = Field(
        default_factory=list,
        max_length=1024,
        description="the reports whose digests GPU-timed receipts carry",
    )


class LicenseReference(WireModel):
    """A reference to an export license, license exception or other authorization."""

    kind: Literal["license", "exception", "authorization"]
    id: Annotated[str, Field(min_length=1, max_length=128, description="license number or exception code")]
    issuer: Annotated[str, Field(min_length=1, max_length=64)] = "BIS"
    valid_until: Timestamp | None = None
    note: str | None = None


NONCE_RE = re.compile(r"^[0-9a-f]{32,128}$")
"""A caller nonce: 16 to 64 random bytes, lowercase hex."""
_NONCE = NONCE_RE


class Freshness(WireModel):
    """When the manifest holds, and the values that stop replay and rollback."""

    issued_at: Timestamp
    expires_at: Timestamp
    nonce: Annotated[str, Field(pattern=_NONCE.pattern, description="16 to 64 random bytes, hex")]
    # I-JSON (RFC 7493) safe integers: the RFC 8785 digest of the chain is defined only for these.
    sequence: Annotated[int, Field(ge=0, le=2**53 - 1)]
    previous: Annotated[
        PrefixedDigest | None,
        Field(
            description="digest of this node's previous manifest (canonical JSON); absent only at sequence 0"
        ),
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.expires_at <= self.issued_at:
            raise ValueError("freshness.expires_at must be after issued_at")
        if self.sequence > 0 and self.previous is None:
            raise ValueError("freshness.previous is required when sequence > 0")
        return self


class WorkloadManifest(WireModel):
    """The predicate: who runs what, where, on which GPUs, and when (version 1)."""

    job: Job
    tenant: Tenant
    operator: Operator
    site: Site
    node: Node
    gpus: list[Gpu] = Field(min_length=1, max_length=1024)
    location_evidence: LocationEvidence = Field(default_factory=LocationEvidence)
    licenses: list[LicenseReference] = Field(default_factory=list, max_length=64)
    freshness: Freshness

    @model_validator(mode="after")
    def _unique_gpus(self) -> Self:
        uuids = [g.uuid for g in self.gpus]
        if len(set(uuids)) != len(uuids):
            raise ValueError("gpus: the same GPU UUID appears twice")
        return self
