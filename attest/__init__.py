"""compute-attest: prove where export-controlled AI chips run, and for whom.

Nodes sign workload manifests (where, on which GPUs, for which tenant); auditors and
schedulers verify them. Everything that judges is pure: bytes, a trust store, a policy and
a clock in, a result out. I/O stays in the CLI and the stores. The names below are imported
on first use (``import attest`` stays light), and listed by ``dir(attest)`` and ``help()``.

Signing (a node):

- :class:`SigningKey`, :class:`VerifyingKey`, :class:`Algorithm`, :func:`load_signing_key`,
  :func:`load_verifying_key` — Ed25519 / ECDSA P-256 / P-384 keys and key files;
- :class:`WorkloadManifest` (build one with :func:`attest.build.build_manifest`),
  :func:`build_statement`, :func:`manifest_digest`, :func:`sign_manifest` — the manifest, its
  in-toto statement, and a signed DSSE :class:`Envelope`;
- :func:`encode_envelope`, :func:`parse_envelope` — envelope bytes (canonical form) and back;
- :class:`HardwareEvidence` — GPU identity (:mod:`attest.hardware`: NVML or simulated).

Verifying (an auditor):

- :class:`Verifier` — holds a :class:`TrustStore`, the policy (``us-ear`` by default, any
  :class:`PolicyEvaluator`), the chip catalog, :class:`VerifyOptions` and the replay, chain
  and device state (in memory by default); ``verify(raw)`` and ``verify_many(items)`` return a
  :class:`VerificationResult` (a :class:`Status`, a trust vector, :class:`Finding` objects
  with a :class:`Severity`, and the anchors that produced it);
- :func:`verify_envelope`, :func:`verify_many` — the same in one call, with exactly the stores
  and policy given (a check left without one is named in an ``info`` finding);
- :class:`MemoryVerifierState`, :class:`SqliteVerifierState` — the replay, chain and device
  state kept between envelopes (in memory, or in a file); :class:`MemoryNonceStore` and
  :class:`MemoryChainStore` — the replay and chain stores alone, in memory;
- :class:`Statement` — the in-toto statement a verified envelope carries.

Admitting jobs (a scheduler):

- :func:`read_envelopes` — the envelope files of a directory (a collector's evidence dir);
- :func:`load_evidence` — verify them and keep each node's newest authenticated evidence, for
  :func:`attest.scheduler.admit` with a :class:`attest.scheduler.JobRequest`.

Errors: every library failure is an :class:`AttestError` with ``diagnostics()`` for people.

These names are README's "The top-level names", exactly (a test compares them); machinery
lives under :mod:`attest._internal`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest._internal import native
from attest._internal.lazy import lazy_dir, lazy_exports

native.install()  # before any compiled module is imported: compiled only while current (setup.py)

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
    from attest.replay import MemoryChainStore, MemoryNonceStore, MemoryVerifierState, SqliteVerifierState
    from attest.scheduler.evidence import load_evidence, read_envelopes
    from attest.sign import build_statement, manifest_digest, sign_manifest
    from attest.verify import PolicyEvaluator, Verifier, VerifyOptions, verify_envelope, verify_many

__version__ = "0.1.0"

__all__ = [
    "Algorithm",
    "AttestError",
    "Envelope",
    "Finding",
    "HardwareEvidence",
    "MemoryChainStore",
    "MemoryNonceStore",
    "MemoryVerifierState",
    "PolicyEvaluator",
    "Severity",
    "SigningKey",
    "SqliteVerifierState",
    "Statement",
    "Status",
    "TrustStore",
    "VerificationResult",
    "Verifier",
    "VerifyOptions",
    "VerifyingKey",
    "WorkloadManifest",
    "__version__",
    "build_statement",
    "encode_envelope",
    "load_evidence",
    "load_signing_key",
    "load_verifying_key",
    "manifest_digest",
    "parse_envelope",
    "read_envelopes",
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
    "MemoryVerifierState": "attest.replay",
    "SqliteVerifierState": "attest.replay",
    "load_evidence": "attest.scheduler.evidence",
    "read_envelopes": "attest.scheduler.evidence",
    "build_statement": "attest.sign",
    "manifest_digest": "attest.sign",
    "sign_manifest": "attest.sign",
    "PolicyEvaluator": "attest.verify",
    "VerifyOptions": "attest.verify",
    "Verifier": "attest.verify",
    "verify_envelope": "attest.verify",
    "verify_many": "attest.verify",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__dir__ = lazy_dir(__name__, _EXPORTS)
