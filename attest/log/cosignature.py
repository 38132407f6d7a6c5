"""C2SP tlog-cosignature: witness keys, cosignature lines, and checking them on a checkpoint.

Below both the witness that makes cosignatures (:mod:`attest.log.witness`) and the monitor and
collector that count them (:mod:`attest.log.monitor`), so neither imports the other for them.
A cosignature is a note signature line ``— <witness name> base64(key ID || u64 timestamp ||
Ed25519 signature)``, key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], over::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note body>
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.crypto.keys import Algorithm, SigningKey, VerifyingKey
from attest.errors import InputError, KeyFileError
from attest.log.checkpoint import DASH

COSIGNATURE_TYPE = 0x04


def ed25519_raw(public: VerifyingKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (a witness key must be one)."""
    if public.algorithm is not Algorithm.ED25519:
        raise InputError("witnesses cosign with Ed25519 keys (attest keygen --algorithm ed25519)")
    return public.spki_der[-32:]


def cosigner_key_id(name: str, public: VerifyingKey) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_TYPE]) + ed25519_raw(public)).digest()[
        :4
    ]


@dataclass(frozen=True)
class WitnessKey:
    """A witness's name and Ed25519 public key (its vkey is ``name+keyid+base64(0x04 || key)``)."""

    name: str
    public: VerifyingKey

    def vkey(self) -> str:
        """The C2SP vkey text."""
        encoded = base64.b64encode(bytes([COSIGNATURE_TYPE]) + ed25519_raw(self.public)).decode()
        return f"{self.name}+{cosigner_key_id(self.name, self.public).hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        """Read a vkey (checks its type and key ID)."""
        try:
            name, kid, key = text.strip().split("+", 2)
            raw = base64.b64decode(key, validate=True)
        except ValueError:
            raise InputError("not a witness vkey (name+keyid+base64)") from None
        if len(raw) != 33 or raw[0] != COSIGNATURE_TYPE or not name or any(c.isspace() for c in name):
            raise InputError("not an Ed25519 cosignature (type 0x04) witness vkey")
        try:
            public = VerifyingKey(Ed25519PublicKey.from_public_bytes(raw[1:]))
        except KeyFileError as exc:
            raise InputError(f"witness vkey: {exc.message}") from None
        if cosigner_key_id(name, public).hex() != kid:
            raise InputError("witness vkey: the key ID does not match the name and key")
        return cls(name, public)

    @classmethod
    def load(cls, path: Path) -> WitnessKey:
        """Read a vkey from a file."""
        try:
            return cls.parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read the witness key {path}: {getattr(exc, 'strerror', None) or exc}"
            ) from None


def _message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(body: str, name: str, key: SigningKey, timestamp: int) -> str:
    """The cosignature line (with its newline) over a checkpoint's note ``body``."""
    public = key.public
    sig = key.sign(_message(body, timestamp))
    raw = cosigner_key_id(name, public) + timestamp.to_bytes(8, "big") + sig
    return f"{DASH} {name} {base64.b64encode(raw).decode()}\n"


def cosignature_times(note: str, witnesses: Sequence[WitnessKey]) -> dict[str, int]:
    """The witnesses whose cosignature on ``note`` verifies, and the time each gives (ignores the rest)."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        return {}
    body += "\n"
    found: dict[str, int] = {}
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if len(raw) != 4 + 8 + 64:
            continue
        for w in witnesses:
            if w.name != parts[1] or raw[:4] != cosigner_key_id(w.name, w.public):
                continue
            timestamp = int.from_bytes(raw[4:12], "big")
            if timestamp < 1 << 63 and w.public.verify(raw[12:], _message(body, timestamp)):
                found[w.vkey()] = timestamp
    return found


def count_cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> int:
    """How many distinct known witnesses validly cosigned ``note``, counted by public key.

    A ``cosignature/v1`` message does not name its cosigner, so one key's signature verifies
    under any name given that key: two configured names sharing a key count once.
    """
    valid = cosignature_times(note, witnesses)
    return len({w.public.spki_der for w in witnesses if w.vkey() in valid})
