"""Binding challenges: freshness a node cannot predict and a verifier can date.

A binding (``attest bind``) is the GPUs' attestation reports over a nonce that
names the node key. If that nonce were a function of the key alone, one set of
reports, made once on any GPUs someone could reach, would vouch for the key
forever. So the nonce also names a *challenge*: a random value and a time,
signed by a challenger the verifier trusts (an auditor, the collector, or any
party listed under ``challengers`` in the trust store)::

    nonce = SHA-256("compute-attest binding v2" 0x00 ‖ SHA-256(node SPKI) ‖ SHA-256(challenge body))

Threat model:

* The node cannot make reports for a challenge before the challenger issued it
  (the challenge's random value is unpredictable), so a binding is no older than
  the challenge's ``issued_at``, as the challenger's clock says.
* A node may ask for a challenge and keep it: that only makes its binding look
  older, never younger. A verifier refuses a binding older than its policy's
  maximum age (``hardware.binding_stale``), so reports gathered once cannot vouch
  for a key for ever.
* The challenger is trusted only to keep time and to keep its random values
  unpredictable; it learns nothing secret. A challenger key that signs manifests
  or a node key that signs challenges is refused: they are separate lists.
* What freshness does not give: a binding proves the GPUs were in the key's
  presence at binding time. A copied key can still sign later manifests
  elsewhere; GPU-timed landmark receipts (grade ``measured``) and a key held in a
  TPM or confidential VM close that gap.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from attest.crypto.canonical import canonical_json
from attest.crypto.keys import SigningKey, VerifyingKey
from attest.model.manifest import BindingChallenge, SignedChallenge

__all__ = [
    "BindingChallenge",
    "SignedChallenge",
    "binding_nonce",
    "challenge_digest",
    "challenge_signed_by",
    "issue_challenge",
    "read_challenge",
]

_CHALLENGE_DOMAIN = b"compute-attest binding challenge v1\0"
_NONCE_DOMAIN = b"compute-attest binding v2\0"


def challenge_digest(signed: SignedChallenge) -> bytes:
    """SHA-256 of the challenge's canonical JSON (what the binding nonce names)."""
    return hashlib.sha256(canonical_json(signed.challenge.to_obj())).digest()


def issue_challenge(key: SigningKey, *, now: datetime) -> SignedChallenge:
    """A fresh challenge signed by ``key`` (the challenger's), dated ``now``."""
    body = BindingChallenge(challenger_key_id=key.key_id, issued_at=now, random=secrets.token_hex(32))
    sig = key.sign(_CHALLENGE_DOMAIN + canonical_json(body.to_obj()))
    return SignedChallenge(challenge=body, signature=base64.b64encode(sig).decode("ascii"))


def challenge_signed_by(signed: SignedChallenge, key: VerifyingKey) -> bool:
    """Whether ``key`` signed exactly this challenge."""
    if signed.challenge.challenger_key_id != key.key_id:
        return False
    try:
        sig = base64.b64decode(signed.signature, validate=True)
    except ValueError:
        return False
    return key.verify(sig, _CHALLENGE_DOMAIN + canonical_json(signed.challenge.to_obj()))


def binding_nonce(
    key: VerifyingKey, challenge: SignedChallenge | None = None, *, digest: bytes | None = None
) -> bytes:
    """The 32-byte report nonce that binds ``key`` (and, with a challenge, dates the binding).

    Without a challenge it is SHA-256 of the key's DER SubjectPublicKeyInfo: the form
    of bindings made before challenges existed, which a verifier accepts as genuine
    but never as fresh. ``digest``: the challenge's :func:`challenge_digest`, if the caller has it.
    """
    spki = hashlib.sha256(key.spki_der).digest()
    if challenge is None:
        return spki
    return hashlib.sha256(_NONCE_DOMAIN + spki + (digest or challenge_digest(challenge))).digest()


def read_challenge(data: bytes, *, what: str = "challenge") -> SignedChallenge:
    """Parse a challenge file strictly (a clear error on bad input)."""
    return SignedChallenge.from_json(data, what=what)
