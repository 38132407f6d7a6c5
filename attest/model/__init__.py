"""Pydantic models that mirror the wire formats one to one.

Each model validates in its constructor, rejects unknown fields and
round-trips with ``from_json`` / ``to_json``. JSON Schemas in ``schemas/``
are generated from these models (``python -m attest.schemas``).
"""

from attest.model.hardware import HardwareEvidence
from attest.model.manifest import (
    PREDICATE_TYPE,
    CcEvidence,
    Classification,
    Freshness,
    Gpu,
    Identifier,
    ImageRef,
    Job,
    LandmarkReceipt,
    LicenseReference,
    LocationEvidence,
    Node,
    Operator,
    Party,
    PciInfo,
    Site,
    Tenant,
    WorkloadManifest,
)
from attest.model.result import Finding, Severity, Status, TrustVector, VerificationResult
from attest.model.statement import (
    PAYLOAD_TYPE_INTOTO,
    STATEMENT_TYPE,
    Envelope,
    Signature,
    Statement,
    Subject,
)
from attest.model.trust import TrustedKey, TrustStoreFile

__all__ = [
    "PAYLOAD_TYPE_INTOTO",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "CcEvidence",
    "Classification",
    "Envelope",
    "Finding",
    "Freshness",
    "Gpu",
    "HardwareEvidence",
    "Identifier",
    "ImageRef",
    "Job",
    "LandmarkReceipt",
    "LicenseReference",
    "LocationEvidence",
    "Node",
    "Operator",
    "Party",
    "PciInfo",
    "Severity",
    "Signature",
    "Site",
    "Statement",
    "Status",
    "Subject",
    "Tenant",
    "TrustStoreFile",
    "TrustVector",
    "TrustedKey",
    "VerificationResult",
    "WorkloadManifest",
]
