"""compute-attest: prove where export-controlled AI chips run, and for whom.

The small public API:

- :func:`sign_manifest` — wrap a :class:`WorkloadManifest` into a signed DSSE envelope;
- :func:`verify_envelope` / :func:`verify_many` — judge envelope bytes against a
  :class:`TrustStore` and a clock, returning a :class:`VerificationResult`;
- :class:`SigningKey`, :class:`VerifyingKey` — Ed25519 / ECDSA P-256 / P-384 keys;
- :mod:`attest.hardware` — GPU identity from NVML or a simulated fleet.

Everything here that judges is pure; I/O stays in the CLI and the stores.
"""

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
