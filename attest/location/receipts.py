"""Landmark receipts: what a landmark signs after timing a round trip to a node.

A receipt binds the measurement to one manifest: ``binding`` is SHA-256 over a
domain tag, the node key id and the manifest's freshness nonce, so a receipt
cannot be moved to another manifest or another node. The round trip includes
the node's signing time, which only makes the distance bound larger: delay
can never make a node look closer than it is.
"""

from __future__ import annotations

import base64
import hashlib
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


def challenge_message(nonce: bytes, binding: str) -> bytes:
    """What the node signs to answer a landmark's challenge."""
    return b"compute-attest landmark challenge v1\0" + nonce + binding.encode()


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
) -> LandmarkReceipt:
    """The landmark's signed statement of one measured round trip."""
    unsigned = LandmarkReceipt(
        landmark_id=landmark_id,
        landmark_key_id=key.key_id,
        node_key_id=node_key_id,
        nonce=nonce.hex(),
        rtt_ns=rtt_ns,
        measured_at=measured_at,
        binding=binding,
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
