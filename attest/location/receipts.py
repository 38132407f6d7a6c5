"""Landmark receipts: what a landmark signs after timing a round trip to a node.

A receipt binds the measurement to one manifest: ``binding`` is SHA-256 over a
domain tag, the node key id and the manifest's freshness nonce, so a receipt
cannot be moved to another manifest or another node. The round trip includes
the node's signing time, which only makes the distance bound larger: delay
can never make a node look closer than it is.

The GPU-timed exchange (v2) makes the GPUs answer too: the node derives a
32-byte nonce from the landmark's challenge (:func:`gpu_nonce`), every GPU signs
an attestation report over it, and the node's answer carries the reports'
SHA-256 digests, which the landmark records in the receipt before it stops its
clock. A report cannot be made before the challenge exists, and its digest
cannot be known without the report, so the GPUs themselves were within the
round trip of the landmark, whoever holds the node key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime

from attest.crypto.canonical import canonical_json
from attest.crypto.keys import SigningKey, VerifyingKey
from attest.errors import EnvelopeError
from attest.model.manifest import LandmarkReceipt

_DOMAIN = b"compute-attest location binding v1\0"


def binding_for(node_key_id: str, manifest_nonce: str) -> str:
    """``sha256:`` of the domain tag, the node key id and the manifest nonce."""
    return (
        "sha256:"
        + hashlib.sha256(_DOMAIN + node_key_id.encode() + b"\0" + manifest_nonce.encode()).hexdigest()
    )


_GPU_DOMAIN = b"compute-attest landmark gpu nonce v2\0"


def challenge_message(nonce: bytes, binding: str, gpu_reports: Sequence[str] | None = None) -> bytes:
    """What the node signs to answer a landmark's challenge (with the GPU report digests in v2)."""
    if gpu_reports is None:
        return b"compute-attest landmark challenge v1\0" + nonce + binding.encode()
    return (
        b"compute-attest landmark challenge v2\0"
        + nonce
        + binding.encode()
        + b"\0"
        + ",".join(gpu_reports).encode()
    )


def gpu_nonce(challenge_nonce: bytes, node_key_id: str, binding: str) -> bytes:
    """The 32-byte nonce every GPU signs its report over, for one landmark challenge.

    SHA-256 of a domain tag, the landmark's challenge nonce, the node key id and the
    receipt binding (which binds the manifest nonce): a report answers exactly one
    challenge of one landmark, for one node key and one manifest.
    """
    return hashlib.sha256(
        _GPU_DOMAIN + challenge_nonce + b"\0" + node_key_id.encode() + b"\0" + binding.encode()
    ).digest()


def report_digest(report: bytes) -> str:
    """``sha256:`` of a report's bytes, as the landmark records it."""
    return "sha256:" + hashlib.sha256(report).hexdigest()


def _receipt_body(receipt: LandmarkReceipt) -> bytes:
    obj = receipt.to_obj()
    obj.pop("signature", None)
    return canonical_json(obj)


def sign_receipt(
    key: SigningKey,
    *,
    landmark_id: str,
    node_key_id: str,
    nonce: bytes,
    rtt_ns: int,
    measured_at: datetime,
    binding: str,
    gpu_reports: Sequence[str] | None = None,
) -> LandmarkReceipt:
    """The landmark's signed statement of one measured round trip (GPU report digests for v2)."""
    unsigned = LandmarkReceipt(
        landmark_id=landmark_id,
        landmark_key_id=key.key_id,
        node_key_id=node_key_id,
        nonce=nonce.hex(),
        rtt_ns=rtt_ns,
        measured_at=measured_at,
        binding=binding,
        gpu_reports=None if gpu_reports is None else list(gpu_reports),
        signature="-",
    )
    sig = base64.b64encode(key.sign(_receipt_body(unsigned))).decode("ascii")
    return unsigned.model_copy(update={"signature": sig})


def check_receipt(receipt: LandmarkReceipt, landmark_key: VerifyingKey) -> None:
    """Raise :class:`EnvelopeError` unless ``landmark_key`` signed exactly this receipt."""
    if receipt.landmark_key_id != landmark_key.key_id:
        raise EnvelopeError(
            f"receipt from {receipt.landmark_id} names key {receipt.landmark_key_id[:16]}…, not the landmark's",
            rule="location.receipt_key",
        )
    try:
        sig = base64.b64decode(receipt.signature, validate=True)
    except ValueError:
        raise EnvelopeError("receipt signature is not base64", rule="location.receipt_signature") from None
    if not landmark_key.verify(sig, _receipt_body(receipt)):
        raise EnvelopeError(
            f"receipt from {receipt.landmark_id} does not verify", rule="location.receipt_signature"
        )
