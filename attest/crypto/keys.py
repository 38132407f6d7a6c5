"""Signing and verifying keys: Ed25519 (default), ECDSA P-256 and P-384.

Keys are PEM files: PKCS#8 for private keys, SubjectPublicKeyInfo for public
keys. A key id is the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo,
so anyone holding the public key computes the same id. ECDSA signatures are
DER encoded (as DSSE implementations such as securesystemslib expect), over
SHA-256 for P-256 and SHA-384 for P-384.

Private key files are created with mode 0600 and refused on load when group
or others can read them. No function here logs or returns private material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from attest.errors import KeyFileError


class Algorithm(StrEnum):
    """Signature algorithms this library signs and verifies with."""

    ED25519 = "ed25519"
    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"

    @classmethod
    def parse(cls, name: str) -> Algorithm:
        """Return the algorithm for a user-facing name (``ed25519``, ``p256``, ``p384``, ...)."""
        aliases = {"p256": cls.ECDSA_P256, "p384": cls.ECDSA_P384}
        key = name.strip().lower()
        if key in aliases:
            return aliases[key]
        try:
            return cls(key)
        except ValueError:
            raise KeyFileError(
                f"unknown signature algorithm {name!r}",
                hint="use one of: ed25519, p256, p384",
            ) from None


_CURVES: Final = {Algorithm.ECDSA_P256: ec.SECP256R1, Algorithm.ECDSA_P384: ec.SECP384R1}
_ORDERS: Final = {
    Algorithm.ECDSA_P256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    Algorithm.ECDSA_P384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}
_HASHES: Final = {Algorithm.ECDSA_P256: hashes.SHA256, Algorithm.ECDSA_P384: hashes.SHA384}

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKeyObject = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _algorithm_of(key: PublicKeyObject | PrivateKeyObject) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return Algorithm.ED25519
    if isinstance(key.curve, ec.SECP256R1):
        return Algorithm.ECDSA_P256
    if isinstance(key.curve, ec.SECP384R1):
        return Algorithm.ECDSA_P384
    raise KeyFileError(
        f"unsupported elliptic curve {key.curve.name}",
        hint="use ed25519, P-256 or P-384 keys",
    )


_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Affine addition on edwards25519 (complete: also doubles)."""
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return x3, y3


def ed25519_point_problem(raw: bytes) -> str | None:
    """Why the 32-byte Ed25519 public key ``raw`` must be refused, or None for a sound key.

    Refused: an encoding that is not canonical (y >= p, or x = 0 with the sign bit set), bytes
    that are no curve point, and the points of small order (the identity and the 7 others of
    order 2, 4, 8), under which signatures such as ``R = identity, S = 0`` verify for any message.
    """
    if len(raw) != 32:
        return "not 32 bytes"
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    sign = raw[31] >> 7
    if y >= _P:
        return "not canonically encoded (y >= p)"
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return "not a point of the curve"
    if x == 0 and sign:
        return "not canonically encoded (x = 0 with the sign bit set)"
    if x & 1 != sign:
        x = _P - x
    point = (x, y)
    for _ in range(3):
        point = _add(point, point)
    if point == (0, 1):
        return "a point of small order"
    return None


def _buffer_bytes(value: object) -> bytes | None:
    """The bytes a buffer holds, in C order, whatever its shape or item size; None for anything else.

    ``len()`` of a memoryview counts items, not bytes, and a subclass may answer anything: the
    signature's length is checked on, and the primitive given, these very bytes.
    """
    if type(value) is bytes:
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        return None
    try:
        return memoryview(value).tobytes()
    except (BufferError, ValueError, TypeError):
        return None


class VerifyingKey:
    """A public key that checks signatures, with its algorithm and key id."""

    __slots__ = ("_ecdsa", "_key", "_raw", "algorithm", "key_id", "spki_der")

    def __init__(self, key: PublicKeyObject) -> None:
        if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
            raise KeyFileError(
                f"unsupported public key type {type(key).__name__}",
                hint="use ed25519, P-256 or P-384 keys",
            )
        self._raw = b""
        if isinstance(key, ed25519.Ed25519PublicKey):
            self._raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            problem = ed25519_point_problem(self._raw)
            if problem is not None:
                raise KeyFileError(
                    f"refusing a weak Ed25519 public key: {problem}",
                    hint="such a key verifies forged signatures; it is no node's or log's real key",
                )
        self._key = key
        self.algorithm = _algorithm_of(key)
        self.spki_der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(self.spki_der).hexdigest()
        # The signature algorithm, made once (an ABC isinstance per signature costs as much as the rest).
        self._ecdsa = (
            None if isinstance(key, ed25519.Ed25519PublicKey) else ec.ECDSA(_HASHES[self.algorithm]())
        )

    @property
    def crypto_key(self) -> PublicKeyObject:
        """The underlying `cryptography` public key object."""
        return self._key

    @classmethod
    def from_pem(cls, data: bytes) -> VerifyingKey:
        """Load a SubjectPublicKeyInfo PEM public key."""
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            del exc
            raise KeyFileError(
                "not a PEM public key (SubjectPublicKeyInfo, as attest keygen writes it)"
            ) from None
        return cls(key)  # type: ignore[arg-type]  # other key types are refused in __init__

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickle as the base64 SPKI (public material only): workers of a distributed audit need keys."""
        return (VerifyingKey.from_spki_b64, (base64.b64encode(self.spki_der).decode("ascii"),))

    @classmethod
    def from_spki_b64(cls, text: str) -> VerifyingKey:
        """Load a public key from base64 of its DER SubjectPublicKeyInfo."""
        try:
            der = base64.b64decode(text, validate=True)
            key = serialization.load_der_public_key(der)
        except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"not a base64 DER public key: {exc}") from None
        return cls(key)  # type: ignore[arg-type]

    def spki_b64(self) -> str:
        """Return base64 of the DER SubjectPublicKeyInfo (the PEM body on one line)."""
        return base64.b64encode(self.spki_der).decode("ascii")

    def to_pem(self) -> bytes:
        """Return the SubjectPublicKeyInfo PEM encoding."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: object, data: object) -> bool:
        """Return whether ``signature`` is valid over ``data`` (bytes, or buffers); never raises on bad input.

        Anything but bytes-like input (a ``str``, None) is no valid signature: False, in every build.

        Ed25519 is checked by libsodium (``crypto_sign_open``), 1.7x quicker than OpenSSL's on
        the same signature (``bench/bench_verify.py`` times both) and stricter: it also refuses a
        signature whose R, or a key that, is of small order, and non-canonical encodings. A
        signature it accepts OpenSSL accepts too (``tests/crypto/test_keys.py`` checks both on
        RFC 8032's vectors and on malformed ones).
        """
        sig, message = _buffer_bytes(signature), _buffer_bytes(data)
        if sig is None or message is None:
            return False
        if self._ecdsa is None:
            if len(sig) != 64:
                return False
            try:
                crypto_sign_open(sig + message, self._raw)
            except (CryptoError, ValueError, TypeError):
                return False
            return True
        try:
            self._key.verify(sig, message, self._ecdsa)  # type: ignore[call-arg]
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


class SigningKey:
    """A private key that signs; it never exposes its private bytes except to save itself."""

    __slots__ = ("_key", "algorithm", "public")

    def __init__(self, key: PrivateKeyObject) -> None:
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyFileError(
                f"unsupported private key type {type(key).__name__}",
                hint="use ed25519, P-256 or P-384 keys",
            )
        self._key = key
        self.algorithm = _algorithm_of(key)
        self.public = VerifyingKey(key.public_key())  # refuses a weak Ed25519 public key

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm.value}, key_id={self.key_id})"

    @property
    def key_id(self) -> str:
        """The key id of the matching public key."""
        return self.public.key_id

    @classmethod
    def generate(cls, algorithm: Algorithm | None = None) -> SigningKey:
        """Generate a new key (Ed25519 unless ``algorithm`` says otherwise)."""
        algorithm = algorithm if algorithm is not None else Algorithm.ED25519
        if algorithm is Algorithm.ED25519:
            return cls(ed25519.Ed25519PrivateKey.generate())
        return cls(ec.generate_private_key(_CURVES[algorithm]()))

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 PEM private key."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise KeyFileError(
                "the private key is encrypted; this version reads unencrypted PKCS#8 keys only",
                hint="protect the key with file permissions (0600) or a KMS",
            ) from None
        except (ValueError, UnsupportedAlgorithm) as exc:
            del exc  # the library's wording is about its parser, not the user's file
            raise KeyFileError("not a PEM private key (PKCS#8, as attest keygen writes it)") from None
        return cls(key)  # type: ignore[arg-type]  # other key types are refused in __init__

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (Ed25519, or DER-encoded ECDSA over the curve's hash)."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(data)
        der = self._key.sign(data, ec.ECDSA(_HASHES[self.algorithm]()))
        # Low s (as Bitcoin's BIP 62 and Go's x509 do): s and n - s both verify, so a signer
        # that always gives the lower one makes one canonical signature per (key, nonce k).
        r, s = decode_dss_signature(der)
        order = _ORDERS[self.algorithm]
        return der if s <= order // 2 else encode_dss_signature(r, order - s)

    def private_pem(self) -> bytes:
        """Return the PKCS#8 PEM encoding, for :func:`write_private_key` only."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def write_private_key(path: Path, key: SigningKey, *, overwrite: bool = False) -> None:
    """Write a private key file that only its owner can read (mode 0600).

    The file is created with mode 0600 from the start (never widened later),
    and an existing file is refused unless ``overwrite`` is set.
    """
    write_private_key_bytes(path, key.private_pem(), overwrite=overwrite)


def write_private_key_bytes(path: Path, pem: bytes, *, overwrite: bool = False) -> None:
    """Write private key bytes with mode 0600 from creation (see :func:`write_private_key`)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_signing_key(file: str | os.PathLike[str]) -> SigningKey:
    """Load a private key file (a path or its name), refusing one that group or others can read."""
    path = Path(file)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(
            f"key {path} does not exist",
            hint="make a key pair first: attest keygen --out DIR (writes DIR/attest.key, mode 0600, and DIR/attest.pub)",
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{path} is not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from None
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        # Told first: a mode hint (chmod 600) would only lead to the next refusal.
        raise KeyFileError(
            f"{path} is a public key; this needs the private key that signs",
            hint="attest keygen writes the pair as attest.key (private, mode 0600) and attest.pub: give attest.key",
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"private key {path} is readable or writable by group or others (mode {mode:04o})",
            hint=f"run: chmod 600 {path}",
        )
    try:
        return SigningKey.from_pem(data)
    except KeyFileError as exc:
        raise KeyFileError(f"key {path}: {exc.message}", hint=exc.hint) from None


def load_verifying_key(file: str | os.PathLike[str]) -> VerifyingKey:
    """Load a public key file (SubjectPublicKeyInfo PEM), given as a path or its name."""
    path = Path(file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path} holds a private key; give the public key (.pub) instead")
    try:
        return VerifyingKey.from_pem(data)
    except KeyFileError as exc:
        raise KeyFileError(f"public key {path}: {exc.message}", hint=exc.hint) from None
