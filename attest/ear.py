"""Verdicts as EAT Attestation Results (EAR, draft-ietf-rats-ear): signed JWTs relying parties can consume.

``attest verify --format ear --sign-result KEY`` writes one EAR for the run: a JWS
compact serialization (RFC 7515) signed with the verifier's key (Ed25519 as
``EdDSA``, P-256 as ``ES256``, P-384 as ``ES384``; ``kid`` = the key id), whose claims are

- ``eat_profile``: ``tag:github.com,2023:veraison/ear``;
- ``iat``: when the results were made (seconds);
- ``ear.verifier-id``: this verifier's build and developer;
- ``submods``: one per envelope, named by its source, each with ``ear.status``,
  ``ear.trustworthiness-vector`` (AR4SI claims, from the result's trust vector), and
  ``ear.appraisal-policy-id`` (the export-control policy's id and version);
- the project's own full result under the namespaced key ``compute-attest.result``
  in each submodule, so nothing the verifier said is lost.

AR4SI tiers (draft-ietf-rats-ar4si): 0 none, 2 affirming, 32 warning, 96
contraindicated. The trust vector's aspects map as: instance_identity →
``instance-identity``, hardware → ``hardware``, policy → ``configuration``, and the
worse of location and tenant → ``sourced-data`` (claims that rest on data the
operator and the landmarks supply).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from attest.crypto.keys import Algorithm, SigningKey
from attest.model.result import Status, VerificationResult

EAR_PROFILE = "tag:github.com,2023:veraison/ear"
RESULT_CLAIM = "compute-attest.result"
"""The namespaced claim that carries the project's own result in each submodule."""
VERIFIER_DEVELOPER = "https://compute-attest.dev"

AR4SI_TIER = {Status.NONE: 0, Status.AFFIRMING: 2, Status.WARNING: 32, Status.CONTRAINDICATED: 96}
"""The lowest value of each AR4SI tier, used for every claim (each claim defines these)."""

_JWS_ALG = {Algorithm.ED25519: "EdDSA", Algorithm.ECDSA_P256: "ES256", Algorithm.ECDSA_P384: "ES384"}
_COORDINATE = {Algorithm.ECDSA_P256: 32, Algorithm.ECDSA_P384: 48}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def trustworthiness_vector(result: VerificationResult) -> dict[str, int]:
    """The AR4SI trustworthiness vector of one result."""
    tv = result.trust_vector
    return {
        "instance-identity": AR4SI_TIER[tv.instance_identity],
        "hardware": AR4SI_TIER[tv.hardware],
        "configuration": AR4SI_TIER[tv.policy],
        "sourced-data": AR4SI_TIER[Status.worst([tv.location, tv.tenant])],
    }


def ear_claims(
    results: Sequence[VerificationResult], *, issued_at: datetime, policy_id: str, build: str
) -> dict[str, object]:
    """The EAR claims set for a run's results (one submodule each, named by source)."""
    submods: dict[str, object] = {}
    for n, result in enumerate(results):
        name = result.source or result.subject or f"envelope-{n}"
        if name in submods:
            name = f"{name}#{n}"
        submods[name] = {
            "ear.status": result.status.value,
            "ear.trustworthiness-vector": trustworthiness_vector(result),
            "ear.appraisal-policy-id": policy_id,
            RESULT_CLAIM: result.to_obj(),
        }
    return {
        "eat_profile": EAR_PROFILE,
        "iat": int(issued_at.timestamp()),
        "ear.verifier-id": {"build": build, "developer": VERIFIER_DEVELOPER},
        "submods": submods,
    }


def sign_ear(claims: dict[str, object], key: SigningKey) -> bytes:
    """The claims as a JWS compact serialization signed with ``key`` (``kid`` = its key id)."""
    header = {"alg": _JWS_ALG[key.algorithm], "typ": "JWT", "kid": key.key_id}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    ).encode("ascii")
    signature = key.sign(signing_input)
    if key.algorithm in _COORDINATE:  # JWS wants ECDSA as raw r || s, not DER
        size = _COORDINATE[key.algorithm]
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return signing_input + b"." + _b64url(signature).encode("ascii")
