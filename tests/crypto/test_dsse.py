import base64
import json

import pytest
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from attest.crypto.dsse import b64decode_canonical, encode_envelope, pae, parse_envelope, sign_payload
from attest.crypto.keys import Algorithm, SigningKey
from attest.errors import EnvelopeError
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.sign import sign_manifest
from tests.conftest import trusted_node


def test_pae_matches_the_dsse_spec_example() -> None:
    # DSSE protocol.md test vector.
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\x00") == b"DSSEv1 3 t\xc3\xa9 1 \x00"  # lengths count bytes, not characters


@pytest.mark.parametrize("alg", [Algorithm.ED25519, Algorithm.ECDSA_P256, Algorithm.ECDSA_P384])
def test_envelopes_verify_with_securesystemslib(alg: Algorithm) -> None:
    node = trusted_node(alg)
    raw = node.envelope()
    ours = json.loads(raw)
    theirs = SslibEnvelope.from_dict(ours)
    # The mapping: securesystemslib matches signatures by keyid; we pass our key id
    # (SHA-256 of the SPKI DER) instead of its default TUF-style id.
    key = SSlibKey.from_crypto(node.key.public.crypto_key, keyid=node.key.key_id)
    accepted = theirs.verify([key], 1)
    assert list(accepted) == [node.key.key_id]
    assert theirs.payload == base64.b64decode(ours["payload"])

    other = SSlibKey.from_crypto(SigningKey.generate(alg).public.crypto_key, keyid=node.key.key_id)
    with pytest.raises(VerificationError):
        theirs.verify([other], 1)


def test_envelope_file_is_canonical_and_parses_back() -> None:
    node = trusted_node()
    env = sign_manifest(node.manifest(), node.key)
    raw = encode_envelope(env)
    assert raw.endswith(b"}\n") and b" " not in raw
    parsed, payload = parse_envelope(raw)
    assert parsed == env
    assert payload == base64.b64decode(env.payload)


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda raw: raw.replace(b'{"payload":', b'{ "payload":'), "envelope.noncanonical"),
        (lambda raw: raw + b"\n", "envelope.noncanonical"),
        (lambda raw: raw[:-1], "envelope.noncanonical"),
        (lambda raw: raw[:-1] + b"\r\n", "envelope.noncanonical"),
        (lambda raw: raw.replace(b'"payload"', b'"payload":"x","payload"', 1), "envelope.malformed"),
        (lambda raw: raw.replace(b'"signatures":[', b'"extra":1,"signatures":['), "envelope.malformed"),
        (lambda raw: raw[:-20], "envelope.malformed"),
        (lambda raw: raw.replace(b'"signatures":[{', b'"signatures":[]}').split(b"]}")[0] + b"]}", "envelope.malformed"),
    ],
)
def test_parse_envelope_rejects(mutate, rule: str) -> None:  # type: ignore[no-untyped-def]
    raw = trusted_node().envelope()
    with pytest.raises(EnvelopeError) as err:
        parse_envelope(mutate(raw))
    assert err.value.rule == rule


def test_base64_must_be_canonical() -> None:
    assert b64decode_canonical("QQ==", what="x") == b"A"
    assert b64decode_canonical("QUI=", what="x") == b"AB"
    for bad in ["QR==", "QUJ=", "QQ", "QQ==\n", "Q Q==", "-_8=", "!!!!", "QQ==QQ==", "=QQ="]:
        with pytest.raises(EnvelopeError) as err:
            b64decode_canonical(bad, what="x")
        assert err.value.rule == "envelope.base64"


def test_base64_canonical_check_is_re_encoding_equality() -> None:
    """Only the last group is re-encoded; that accepts exactly what a full re-encoding would."""
    import binascii
    import random

    rng = random.Random(9)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"
    accepted = 0
    for _ in range(20_000):
        if rng.random() < 0.5:
            chars = list(base64.b64encode(rng.randbytes(rng.randrange(10))).decode())
            for _ in range(rng.randrange(3)):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            text = "".join(chars)
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(13)))
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
            reference = data if binascii.b2a_base64(data, newline=False).decode() == text else None
        except (binascii.Error, ValueError):
            reference = None
        try:
            ours = b64decode_canonical(text, what="x")
        except EnvelopeError:
            ours = None
        assert ours == reference, text
        accepted += ours is not None
    assert 0 < accepted < 20_000


def test_sign_payload_needs_a_key() -> None:
    from attest.errors import InputError

    with pytest.raises(InputError):
        sign_payload(b"x", PAYLOAD_TYPE_INTOTO, [])


def test_oversize_envelope_refused_before_parsing() -> None:
    with pytest.raises(EnvelopeError) as err:
        parse_envelope(b"{" + b" " * 2000, max_bytes=1000)
    assert err.value.rule == "envelope.oversize"
