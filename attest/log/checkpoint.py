"""Signed checkpoints: the C2SP tlog-checkpoint body in a C2SP signed note, signed with Ed25519.

Body::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>
    time <when the log signed it, POSIX seconds>     (an extension line; absent in older checkpoints)

then a blank line and ``— <key name> base64(key ID || signature)``, where
key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.crypto.keys import Algorithm, SigningKey, VerifyingKey
from attest.errors import InputError, KeyFileError

DASH = "\u2014"


def _raw(public: VerifyingKey) -> bytes:
    if public.algorithm is not Algorithm.ED25519:
        raise InputError("checkpoints are signed with Ed25519 keys (attest keygen --algorithm ed25519)")
    return public.spki_der[-32:]  # an Ed25519 SPKI ends with the 32-byte key


def key_id(name: str, public: VerifyingKey) -> bytes:
    """The 4-byte key ID of an Ed25519 note key."""
    return hashlib.sha256(name.encode() + b"\n\x01" + _raw(public)).digest()[:4]


def verifier_key(name: str, public: VerifyingKey) -> str:
    """``name+hex(key ID)+base64(0x01 || public key)``: how note verifier keys are written."""
    encoded = base64.b64encode(b"\x01" + _raw(public)).decode()
    return f"{name}+{key_id(name, public).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, VerifyingKey]:
    """The inverse of :func:`verifier_key` (checks the key ID)."""
    try:
        name, kid, key = text.strip().split("+", 2)  # the base64 may hold "+" too
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raise InputError("not a note verifier key (name+keyid+base64)") from None
    if len(raw) != 33 or raw[0] != 1:
        raise InputError("note verifier key is not an Ed25519 (type 0x01) key")
    try:
        public = VerifyingKey(Ed25519PublicKey.from_public_bytes(raw[1:]))
    except KeyFileError as exc:
        raise InputError(f"note verifier key: {exc.message}") from None
    if key_id(name, public).hex() != kid:
        raise InputError("note verifier key: the key ID does not match the name and key")
    return name, public


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root."""

    origin: str
    size: int
    root: bytes
    timestamp: int | None = None
    """When the log signed it (POSIX seconds), from its ``time`` extension line."""

    def body(self) -> str:
        """The note text (ends with a newline)."""
        text = f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
        return text if self.timestamp is None else text + f"time {self.timestamp}\n"

    def sign(self, name: str, key: SigningKey) -> str:
        """The signed note."""
        text = self.body()
        sig = key_id(name, key.public) + key.sign(text.encode())
        return f"{text}\n{DASH} {name} {base64.b64encode(sig).decode()}\n"


def open_checkpoint(note: str, name: str, public: VerifyingKey, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note from the known key ``name``/``public``; return its content.

    Raises:
        InputError: malformed, not signed by that key, a bad signature, or another origin.
    """
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise InputError("checkpoint note holds control characters")
    text, sep, sigs = note.partition("\n\n")
    if not sep or not text:
        raise InputError("checkpoint note has no blank line before its signatures")
    text += "\n"
    want = key_id(name, public)
    verified = False
    for line in sigs.splitlines():
        if not line:
            continue
        prefix = f"{DASH} "
        if not line.startswith(prefix):
            raise InputError("checkpoint note: a signature line must start with an em dash")
        try:
            signer, b64 = line[len(prefix) :].split(" ")
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raise InputError("checkpoint note: malformed signature line") from None
        if signer != name or raw[:4] != want:
            continue  # another key's signature: ignored, as the spec requires
        if not public.verify(raw[4:], text.encode()):
            raise InputError(f"checkpoint note: the signature by {name} does not verify")
        verified = True
    if not verified:
        raise InputError(f"checkpoint note carries no signature by {name}")
    lines = text.split("\n")
    if len(lines) < 4:
        raise InputError("checkpoint note: origin, size and root hash lines are required")
    cp_origin, size_text, root_text = lines[0], lines[1], lines[2]
    if origin is not None and cp_origin != origin:
        raise InputError(f"checkpoint is for log {cp_origin!r}, not {origin!r}")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise InputError("checkpoint note: tree size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise InputError("checkpoint note: root hash is not base64") from None
    if len(root) != 32:
        raise InputError("checkpoint note: root hash is not 32 bytes")
    timestamp = None
    for extension in lines[3:-1]:
        if extension.startswith("time "):
            stamp = extension[5:]
            if timestamp is not None or not stamp.isdigit() or (stamp != "0" and stamp.startswith("0")):
                raise InputError("checkpoint note: a malformed or repeated time line")
            timestamp = int(stamp)
    return Checkpoint(cp_origin, int(size_text), root, timestamp)
