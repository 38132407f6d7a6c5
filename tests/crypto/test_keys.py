import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from attest.crypto.keys import (
    Algorithm,
    SigningKey,
    VerifyingKey,
    load_signing_key,
    load_verifying_key,
    write_private_key,
)
from attest.errors import KeyFileError


@pytest.mark.parametrize("alg", list(Algorithm))
def test_sign_verify_each_algorithm(alg: Algorithm) -> None:
    key = SigningKey.generate(alg)
    sig = key.sign(b"message")
    assert key.public.verify(sig, b"message")
    assert not key.public.verify(sig, b"messagE")
    assert not key.public.verify(b"\x00" * len(sig), b"message")
    assert not key.public.verify(b"", b"message")


def test_ecdsa_signatures_are_der_over_the_curve_hash() -> None:
    from cryptography.hazmat.primitives import hashes

    key = SigningKey.generate(Algorithm.ECDSA_P384)
    sig = key.sign(b"m")
    assert sig[0] == 0x30  # DER SEQUENCE
    key.public.crypto_key.verify(sig, b"m", ec.ECDSA(hashes.SHA384()))  # type: ignore[call-arg]


def test_key_id_is_sha256_of_spki_der() -> None:
    key = SigningKey.generate()
    der = key.public.crypto_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.key_id == hashlib.sha256(der).hexdigest()
    assert VerifyingKey.from_pem(key.public.to_pem()).key_id == key.key_id
    assert VerifyingKey.from_spki_b64(key.public.spki_b64()).key_id == key.key_id


def test_private_key_written_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_key(tmp_path / "k", SigningKey.generate())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_existing_key_not_overwritten(tmp_path: Path) -> None:
    write_private_key(tmp_path / "k", SigningKey.generate())
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_private_key(tmp_path / "k", SigningKey.generate())


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_group_or_world_accessible_key_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    key = SigningKey.generate()
    write_private_key(path, key)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as err:
        load_signing_key(path)
    assert f"mode {mode:04o}" in err.value.message
    assert err.value.hint == f"run: chmod 600 {path}"
    path.chmod(0o600)
    assert load_signing_key(path).key_id == key.key_id


def test_repr_and_errors_never_show_private_material(tmp_path: Path) -> None:
    key = SigningKey.generate()
    pem = key.private_pem().decode()
    body = "".join(pem.splitlines()[1:-1])
    assert body not in repr(key)
    path = tmp_path / "k"
    path.write_text(pem[:-40])
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as err:
        load_signing_key(path)
    assert body[:20] not in err.value.diagnostics()


def test_unsupported_and_encrypted_keys_refused(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.key"
    path.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="unsupported private key type"):
        load_signing_key(path)
    pub = tmp_path / "rsa.pub"
    pub.write_bytes(rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError, match="unsupported public key type"):
        load_verifying_key(pub)
    k1 = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(KeyFileError, match="unsupported elliptic curve"):
        SigningKey(k1)
    enc = tmp_path / "enc.key"
    enc.write_bytes(SigningKey.generate()._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
    enc.chmod(0o600)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_signing_key(enc)


def test_public_key_loader_refuses_private_key_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private_key(path, SigningKey.generate())
    with pytest.raises(KeyFileError, match="holds a private key"):
        load_verifying_key(path)
    (tmp_path / "g").write_bytes(b"not a key")
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_verifying_key(tmp_path / "g")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_verifying_key(tmp_path / "missing")


def test_algorithm_names() -> None:
    assert Algorithm.parse("P256") is Algorithm.ECDSA_P256
    assert Algorithm.parse("ecdsa-p384") is Algorithm.ECDSA_P384
    with pytest.raises(KeyFileError, match="unknown signature algorithm 'rsa'"):
        Algorithm.parse("rsa")


def test_public_keys_pickle_as_their_spki() -> None:
    import pickle

    from attest.crypto.keys import Algorithm, SigningKey

    for alg in Algorithm:
        pub = SigningKey.generate(alg).public
        back = pickle.loads(pickle.dumps(pub))
        assert back.key_id == pub.key_id and back.algorithm is pub.algorithm


# The eight points of small order on edwards25519, canonically encoded (y little-endian, x's sign
# in the top bit): the identity, (0, -1), (±sqrt(-1), 0) and the four points of order 8.
_SMALL_ORDER = [
    "01" + "00" * 31,
    "ec" + "ff" * 30 + "7f",
    "00" * 32,
    "00" * 31 + "80",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]
_NONCANONICAL = [
    "ee" + "ff" * 30 + "7f",  # y = p + 1: the identity again
    "ed" + "ff" * 30 + "7f",  # y = p
    "01" + "00" * 30 + "80",  # the identity with the sign bit set
]
_SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


@pytest.mark.parametrize("raw", _SMALL_ORDER + _NONCANONICAL)
def test_weak_ed25519_public_keys_are_refused_wherever_a_key_is_read(raw: str) -> None:
    """Under the identity key, R = identity, S = 0 verifies for any message: such keys are no keys."""
    import base64

    from attest.errors import InputError
    from attest.log.checkpoint import parse_verifier_key
    from attest.log.witness import WitnessKey

    point = bytes.fromhex(raw)
    spki = base64.b64encode(_SPKI_ED25519 + point).decode()
    with pytest.raises(KeyFileError, match="weak Ed25519 public key"):
        VerifyingKey.from_spki_b64(spki)
    pem = f"-----BEGIN PUBLIC KEY-----\n{spki}\n-----END PUBLIC KEY-----\n".encode()
    with pytest.raises(KeyFileError, match="weak Ed25519 public key"):
        VerifyingKey.from_pem(pem)
    encoded = base64.b64encode(b"\x01" + point).decode()
    with pytest.raises(InputError, match="weak Ed25519 public key"):
        parse_verifier_key(f"example.com/log+00000000+{encoded}")
    encoded = base64.b64encode(b"\x04" + point).decode()
    with pytest.raises(InputError, match="weak Ed25519 public key"):
        WitnessKey.parse(f"w.example/w1+00000000+{encoded}")


def test_real_ed25519_keys_are_still_accepted() -> None:
    for _ in range(50):
        key = SigningKey.generate(Algorithm.ED25519).public
        assert VerifyingKey.from_spki_b64(key.spki_b64()).key_id == key.key_id


def test_a_trust_store_with_the_identity_key_is_refused_by_the_cli(tmp_path: Path, cli: Any) -> None:
    """The red team's envelope (keyid of the identity key, signature R = identity, S = 0) is never judged."""
    import base64
    import json

    from tests.conftest import trusted_node

    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    identity = base64.b64encode(_SPKI_ED25519 + bytes([1]) + bytes(31)).decode()
    text = (tmp_path / "trust.json").read_text().replace(node.key.public.spki_b64(), identity)
    (tmp_path / "trust.json").write_text(text)
    env = {"payload": base64.b64encode(b"{}").decode(), "payloadType": "application/vnd.in-toto+json",
           "signatures": [{"keyid": "00" * 32, "sig": base64.b64encode(bytes([1]) + bytes(63)).decode()}]}
    (tmp_path / "e.json").write_text(json.dumps(env))
    proc = cli("verify", "--trust", "trust.json", "e.json")
    assert proc.returncode == 2 and "weak Ed25519 public key" in proc.stderr, (proc.returncode, proc.stderr)


def test_verify_takes_buffers_and_refuses_anything_else_without_raising() -> None:
    """The same in the compiled build and as pure Python: buffers verify, a str or None is no valid signature."""
    from attest.crypto.keys import Algorithm, SigningKey

    for algorithm in Algorithm:
        key = SigningKey.generate(algorithm)
        data = b"heartbeat"
        signature = key.sign(data)
        assert key.public.verify(signature, data)
        assert key.public.verify(bytearray(signature), memoryview(data))
        assert not key.public.verify(signature.hex(), data)
        assert not key.public.verify(signature, None)
        assert not key.public.verify(signature, data + b"!")


def test_keys_load_from_a_path_or_its_name(tmp_path: Path) -> None:
    """``attest.load_signing_key(path)`` as the README writes it: a str works as a Path does (red team)."""
    key = SigningKey.generate()
    write_private_key(tmp_path / "k", key)
    (tmp_path / "k.pub").write_bytes(key.public.to_pem())
    assert load_signing_key(str(tmp_path / "k")).key_id == key.key_id
    assert load_verifying_key(str(tmp_path / "k.pub")).key_id == key.key_id
    with pytest.raises(KeyFileError, match="does not exist"):
        load_signing_key(str(tmp_path / "missing"))
    (tmp_path / "k").chmod(0o644)
    with pytest.raises(KeyFileError, match="mode 0644"):
        load_signing_key(str(tmp_path / "k"))


# RFC 8032 section 7.1, TEST 1 and TEST 2: secret key, public key, message, signature.
_RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]
_L = 2**252 + 27742317777372353535851937790883648493  # the order of Ed25519's base point


def _openssl_accepts(public: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize("vector", _RFC8032, ids=["test1", "test2"])
def test_ed25519_verification_agrees_with_rfc8032_and_openssl(vector: tuple[str, str, str, str]) -> None:
    """attest checks Ed25519 with libsodium: RFC 8032's vectors verify, and every mutation is refused by both."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    secret, public, message, signature = (bytes.fromhex(x) for x in vector)
    private = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
    assert private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == public
    assert private.sign(message) == signature
    key = VerifyingKey(ed25519.Ed25519PublicKey.from_public_bytes(public))
    assert key.verify(signature, message) and _openssl_accepts(public, signature, message)
    for i in range(len(signature)):
        for bit in (0, 7):
            bad = bytearray(signature)
            bad[i] ^= 1 << bit
            assert not key.verify(bytes(bad), message)
            assert not _openssl_accepts(public, bytes(bad), message)
    assert not key.verify(signature, message + b"\x00")
    assert not key.verify(signature[:63], message) and not key.verify(signature + b"\x00", message)
    # S + L: the same point equation with a non-canonical S. Both refuse it (RFC 8032 5.1.7).
    s = int.from_bytes(signature[32:], "little") + _L
    assert s < 2**256
    malleated = signature[:32] + s.to_bytes(32, "little")
    assert not key.verify(malleated, message) and not _openssl_accepts(public, malleated, message)


def test_ed25519_verification_refuses_a_small_order_r_that_openssl_accepts() -> None:
    """Stricter than OpenSSL: R the identity point, S = k*a, satisfies the bare equation; libsodium refuses it.

    Only the key's holder can make such a signature, so it forges nothing; but a verifier that took it
    would accept two signatures of one message, which the stricter check rules out.
    """
    from cryptography.hazmat.primitives.asymmetric import ed25519

    seed = bytes(range(32))
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    a = int.from_bytes(h, "little")
    message = b"heartbeat"
    r = (1).to_bytes(32, "little")  # the identity point's encoding
    k = int.from_bytes(hashlib.sha512(r + public + message).digest(), "little") % _L
    signature = r + (k * a % _L).to_bytes(32, "little")
    assert _openssl_accepts(public, signature, message)
    assert not VerifyingKey(ed25519.Ed25519PublicKey.from_public_bytes(public)).verify(signature, message)


def test_verify_reads_a_buffer_by_its_bytes_not_its_items() -> None:
    """A memoryview's len() counts items: a 256-byte view of 64 four-byte items is no 64-byte signature.

    Red team: libsodium took the first 64 bytes as the signature and the rest as the start of the
    message, so a signature over ``prefix + data`` verified as one over ``data``.
    """
    from attest.crypto.keys import Algorithm, SigningKey

    key = SigningKey.generate(Algorithm.ED25519)
    data, prefix = b"pay 1 USD", b"X" * 192
    over_more = key.sign(prefix + data)
    assert key.public.verify(over_more, prefix + data)
    assert not key.public.verify(memoryview(over_more + prefix).cast("I"), data)
    assert not key.public.verify(memoryview(over_more + prefix).cast("B", (64, 4)), data)

    class Short(bytes):
        def __len__(self) -> int:
            return 64

        def __bytes__(self) -> bytes:
            return bytes(64)

    assert not key.public.verify(Short(over_more + prefix), data)
    # A valid signature in any shape of buffer is still the same 64 bytes.
    signature = key.sign(data)
    assert key.public.verify(memoryview(signature).cast("B", (2, 32)), data)
    assert key.public.verify(memoryview(signature).cast("Q"), memoryview(data))


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256", "ecdsa-p384"])
def test_verify_takes_non_contiguous_buffers_without_raising(algorithm: str) -> None:
    """Red team: ECDSA raised BufferError on a strided view; every algorithm reads its bytes instead."""
    from attest.crypto.keys import Algorithm, SigningKey

    key = SigningKey.generate(Algorithm(algorithm))
    signature = key.sign(b"ab")
    assert key.public.verify(signature, memoryview(b"aabb")[::2])
    assert key.public.verify(memoryview(bytes(x for s in signature for x in (s, 0)))[::2], b"ab")
    assert not key.public.verify(signature, memoryview(b"abab")[::2])
