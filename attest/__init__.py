"""compute-attest: prove where export-controlled AI chips run, and for whom.

The small public API:

- :func:`sign_manifest` — wrap a :class:`WorkloadManifest` into a signed DSSE envelope;
- :func:`verify_envelope` / :func:`verify_many` — judge envelope bytes against a
  :class:`TrustStore` and a clock, returning a :class:`VerificationResult`;
- :class:`SigningKey`, :class:`VerifyingKey` — Ed25519 / ECDSA P-256 / P-384 keys;
- :mod:`attest.hardware` — GPU identity from NVML or a simulated fleet.

Everything here that judges is pure; I/O stays in the CLI and the stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest.lazy import lazy_exports

if TYPE_CHECKING:  # the names below are imported on first use (PEP 562), see __getattr__
    from attest.crypto.dsse import encode_envelope, parse_envelope
    from attest.crypto.keys import Algorithm, SigningKey, VerifyingKey, load_signing_key, load_verifying_key
    from attest.crypto.trust import TrustStore
    from attest.errors import AttestError
    from attest.model import (
        Envelope,
        Finding,
        HardwareEvidence,
        Severity,
        Statement,
        Status,
        VerificationResult,
        WorkloadManifest,
    )
    from attest.replay import MemoryChainStore, MemoryNonceStore, SqliteVerifierState
    from attest.sign import build_statement, manifest_digest, sign_manifest
    from attest.verify import PolicyEvaluator, VerifyOptions, verify_envelope, verify_many

__version__ = "0.1.0"

__all__ = [
    "Algorithm",
    "AttestError",
    "Envelope",
    "Finding",
    "HardwareEvidence",
    "MemoryChainStore",
    "MemoryNonceStore",
    "PolicyEvaluator",
    "Severity",
    "SigningKey",
    "SqliteVerifierState",
    "Statement",
    "Status",
    "TrustStore",
    "VerificationResult",
    "VerifyOptions",
    "VerifyingKey",
    "WorkloadManifest",
    "__version__",
    "build_statement",
    "encode_envelope",
    "load_signing_key",
    "load_verifying_key",
    "manifest_digest",
    "parse_envelope",
    "sign_manifest",
    "verify_envelope",
    "verify_many",
]

# Where each public name lives. Importing them eagerly cost every ``attest`` command about a
# second (pydantic models, the policy engine, numpy for the borders) before it did anything;
# ``attest daemon sign-job`` in a Slurm Prolog needs almost none of it.
_EXPORTS = {
    "encode_envelope": "attest.crypto.dsse",
    "parse_envelope": "attest.crypto.dsse",
    "Algorithm": "attest.crypto.keys",
    "SigningKey": "attest.crypto.keys",
    "VerifyingKey": "attest.crypto.keys",
    "load_signing_key": "attest.crypto.keys",
    "load_verifying_key": "attest.crypto.keys",
    "TrustStore": "attest.crypto.trust",
    "AttestError": "attest.errors",
    "Envelope": "attest.model",
    "Finding": "attest.model",
    "HardwareEvidence": "attest.model",
    "Severity": "attest.model",
    "Statement": "attest.model",
    "Status": "attest.model",
    "VerificationResult": "attest.model",
    "WorkloadManifest": "attest.model",
    "MemoryChainStore": "attest.replay",
    "MemoryNonceStore": "attest.replay",
    "SqliteVerifierState": "attest.replay",
    "build_statement": "attest.sign",
    "manifest_digest": "attest.sign",
    "sign_manifest": "attest.sign",
    "PolicyEvaluator": "attest.verify",
    "VerifyOptions": "attest.verify",
    "verify_envelope": "attest.verify",
    "verify_many": "attest.verify",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
