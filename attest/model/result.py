"""The verification result, shaped after EAR (Veraison's EAT Attestation Result).

``status`` is never more trusting than the worst finding: it is computed from
the findings, not set by hand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, JsonValue, model_validator

from attest.model.base import Timestamp, WireModel


class Status(StrEnum):
    """EAR trust tiers, from most to least trusting (``none``: nothing could be said)."""

    AFFIRMING = "affirming"
    WARNING = "warning"
    CONTRAINDICATED = "contraindicated"
    NONE = "none"

    @property
    def rank(self) -> int:
        """Order for taking the worst: affirming < none < warning < contraindicated."""
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """The CLI exit code of this status (0, 1 or 3; ``none`` counts as a warning)."""
        return {Status.AFFIRMING: 0, Status.NONE: 1, Status.WARNING: 1, Status.CONTRAINDICATED: 3}[self]

    @staticmethod
    def worst(statuses: Any) -> Status:
        """The least trusting of ``statuses`` (``affirming`` for none at all)."""
        result, rank = Status.AFFIRMING, 0
        for s in statuses:
            r = _RANK[s]
            if r > rank:
                result, rank = s, r
        return result


_RANK = {Status.AFFIRMING: 0, Status.NONE: 1, Status.WARNING: 2, Status.CONTRAINDICATED: 3}


class Severity(StrEnum):
    """How much a finding weighs: ``info`` findings explain and never lower the status."""

    INFO = "info"
    WARNING = "warning"
    CONTRAINDICATED = "contraindicated"

    @property
    def status(self) -> Status:
        """The status a finding of this severity allows at most."""
        return _SEVERITY_STATUS[self]


_SEVERITY_STATUS = {
    Severity.INFO: Status.AFFIRMING,
    Severity.WARNING: Status.WARNING,
    Severity.CONTRAINDICATED: Status.CONTRAINDICATED,
}


# Enum fields read their string values from JSON (strict mode would demand enum instances).
StatusValue = Annotated[Status, Field(strict=False)]
SeverityValue = Annotated[Severity, Field(strict=False)]


class Finding(WireModel):
    """One observation of the verifier, with a stable rule id and the evidence it looked at."""

    rule: Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")]
    severity: SeverityValue
    message: str
    evidence: dict[str, JsonValue] = Field(default_factory=dict)
    remedy: str | None = None


class TrustVector(WireModel):
    """Per-aspect appraisal (EAR trust vector, adapted to this domain)."""

    instance_identity: StatusValue = Status.NONE
    hardware: StatusValue = Status.NONE
    location: StatusValue = Status.NONE
    tenant: StatusValue = Status.NONE
    policy: StatusValue = Status.NONE


class ListAnchor(WireModel):
    """A screening list a policy rule loaded: which list, of which date, how large, its content."""

    rule: str = Field(description="the policy rule that screens against it")
    name: str
    date: str
    entries: int = Field(ge=0, description="how many entries it holds")
    sha256: str = Field(description="sha256 of the list's compact JSON as compute-attest writes it")
    bundled: bool = Field(description="whether it is the list bundled with compute-attest (else imported)")


class Anchors(WireModel):
    """Which trust anchors produced a result (as sigstore names the trusted root of a verdict).

    Two results can be compared only when their anchors are the same: another policy
    version, chip catalog, GPU vendor root or landmark registry may judge the same bytes
    differently. Every anchor is named by its content (sha256 of its canonical JSON), never by
    the name it gives itself; one that is not bundled with compute-attest starts ``custom:``.
    """

    policy: str | None = Field(
        default=None,
        description="policy id@version, custom:id@version unless every document of its extends chain is "
        "the bundled one of that id; absent: no policy was applied",
    )
    policy_sha256: str | None = Field(
        default=None,
        description="sha256 of the policy's content: its documents (extends chain, bases first) and the "
        "screening lists it loaded; absent: no policy, or a policy object with no content to digest",
    )
    lists: list[ListAnchor] = Field(default_factory=list, description="the screening lists the policy loaded")
    catalog: str = Field(
        description="the chip catalog: its date and sha256 of its canonical JSON (custom: unless bundled)"
    )
    trust_store: str | None = Field(
        default=None, description="sha256 of the trust store's canonical JSON (keys, scopes, revocations)"
    )
    cc_root_sha256: str | None = Field(
        default=None, description="SHA-256 of the GPU vendor root; absent: CC evidence was not checked"
    )
    landmark_registry: str | None = Field(
        default=None, description="sha256 of the landmark registry's canonical JSON; absent: no registry"
    )


class VerificationResult(WireModel):
    """The verdict on one envelope."""

    status: StatusValue
    source: str | None = Field(default=None, description="file name or other label of the input")
    subject: Annotated[str | None, Field(description="sha256 of the signed payload bytes")] = None
    key_id: str | None = None
    node: str | None = None
    job_id: str | None = None
    sequence: int | None = None
    location_grade: str | None = Field(
        default=None, description="declared, hardware-bound, key-measured or measured"
    )
    trust_vector: TrustVector = Field(default_factory=TrustVector)
    findings: list[Finding] = Field(default_factory=list)
    verified_at: Timestamp
    anchors: Anchors | None = Field(
        default=None, description="the trust anchors this result was produced with"
    )

    @model_validator(mode="after")
    def _status_not_above_findings(self) -> VerificationResult:
        floor = Status.worst(f.severity.status for f in self.findings)
        if self.status.rank < floor.rank:
            raise ValueError(f"status {self.status} is more trusting than the worst finding ({floor})")
        return self
