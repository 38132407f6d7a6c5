"""The readers step 0 uses accept exactly what the general readers accept.

- :func:`attest.crypto.dsse.split_one_signature` reads a canonical one-signature envelope by
  its frame; it must agree with :func:`split_canonical` on every input, mutants included.
- :func:`attest.crypto.dsse.b64decode_strict` (pybase64) must accept what binascii's strict
  mode accepts, but for text no canonical spelling has.
- :func:`attest.model.fastread.payload_frame` and :func:`match_frame` give back the members'
  exact texts, and refuse a payload whose other members differ by a byte.
- The fast reader's exactness test accepts exponents written with a sign and never a repeated key.
"""

from __future__ import annotations

import base64
import binascii
import json
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attest.crypto.dsse import (
    b64decode_strict,
    encode_envelope,
    sign_payload,
    split_canonical,
    split_one_signature,
)
from attest.crypto.keys import Algorithm, SigningKey
from attest.model.fastread import _exact, match_frame, payload_frame, read_framed
from attest.model.manifest import Job, WorkloadManifest
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.model.wire import field_reader
from attest.sign import build_statement
from tests.conftest import trusted_node


def _agree(raw: bytes) -> bool:
    """Whether split_one_signature reads ``raw`` as split_canonical does (and says so); True if it read it."""
    one = split_one_signature(raw)
    general = split_canonical(raw)
    if one is None:
        assert (
            general is None
            or len(general[0].signatures) != 1
            or general[0].payload_type != PAYLOAD_TYPE_INTOTO
        ), raw[:200]
        return False
    assert general is not None, raw[:200]
    env, payload = general
    (sig,) = env.signatures
    assert env.payload_type == PAYLOAD_TYPE_INTOTO
    assert one == (sig.keyid, sig.sig, binascii.a2b_base64(sig.sig), payload)
    return True


def _envelopes() -> list[bytes]:
    out = []
    for algorithm in (Algorithm.ED25519, Algorithm.ECDSA_P256, Algorithm.ECDSA_P384):
        node = trusted_node(algorithm)
        out.append(node.envelope(node.manifest()))
        for payload in (b"{}", b"", b"x", b"ab", b"abc"):  # every base64 padding
            out.append(encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key])))
    return out


def test_every_canonical_one_signature_envelope_is_read_by_its_frame() -> None:
    for raw in _envelopes():
        assert _agree(raw)


def test_other_envelopes_are_left_to_the_general_reader() -> None:
    a, b = SigningKey.generate(Algorithm.ED25519), SigningKey.generate(Algorithm.ECDSA_P256)
    two = encode_envelope(sign_payload(b"{}", PAYLOAD_TYPE_INTOTO, [a, b]))
    other_type = encode_envelope(sign_payload(b"{}", "application/json", [a]))
    canonical = encode_envelope(sign_payload(b"{}", PAYLOAD_TYPE_INTOTO, [a]))
    spaced = canonical.replace(b'","payloadType"', b'", "payloadType"')
    unescaped = canonical.replace(b"application/vnd", b"application\\/vnd")
    for raw in (two, other_type, spaced, unescaped, canonical[:-1], canonical + b"\n", b"", b"{}\n"):
        assert split_one_signature(raw) is None
        _agree(raw)


def test_one_byte_changed_anywhere_in_an_envelope_agrees_with_the_general_reader() -> None:
    rng = random.Random(6)
    alphabet = b'AZaz09+/="\\ {}[],:\n\x00\xc3\xa9-_'
    read = 0
    for raw in _envelopes():
        for _ in range(300):
            data = bytearray(raw)
            pos = rng.randrange(len(data))
            r = rng.random()
            if r < 0.15:
                del data[pos]
            elif r < 0.3:
                data.insert(pos, rng.choice(alphabet))
            else:
                data[pos] = rng.choice(alphabet)
            read += _agree(bytes(data))
    assert read > 0  # some mutants are still canonical (a base64 character for another)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=12) | st.text("ABCDEFabcdef0189+/=-_ \n.", max_size=14).map(str.encode))
def test_strict_base64_is_binascii_strict_mode_for_every_canonical_length(text: bytes) -> None:
    try:
        expected: bytes | None = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        expected = None
    got = b64decode_strict(text)
    if got is not None:
        assert got == expected
    elif expected is not None:  # binascii lets "QUJD=" and "QUJD====" through: no canonical spelling
        assert base64.b64encode(expected) != text


@pytest.mark.parametrize("text", [b"QUJD=", b"QUJD====", b"QUJDREVG="])
def test_padding_after_a_whole_group_is_refused(text: bytes) -> None:
    assert binascii.a2b_base64(text, strict_mode=True)  # what the old strict reader let through
    assert b64decode_strict(text) is None


def test_a_payload_frame_gives_back_the_members_and_nothing_else_matches() -> None:
    node = trusted_node()
    first, second = node.manifest(chain=True), node.manifest(chain=True)
    a = json.dumps(build_statement(first).to_obj(), separators=(",", ":"), ensure_ascii=False).encode()
    b = json.dumps(build_statement(second).to_obj(), separators=(",", ":"), ensure_ascii=False).encode()
    frame = payload_frame(a)
    assert frame is not None
    texts = match_frame(frame, b)
    assert texts is not None
    _, job, _ = texts
    assert (
        job
        == json.dumps(build_statement(second).to_obj()["predicate"]["job"], separators=(",", ":")).encode()
    )
    read = read_framed(frame, texts)
    assert read is not None and read.job == second.job and read.freshness == second.freshness
    assert [s.name for s in read.subjects] == [s.name for s in build_statement(second).subject]
    # any byte of another member changed: not this frame
    rng = random.Random(3)
    for _ in range(200):
        pos = rng.randrange(len(b))
        inside = any(
            b.find(t) <= pos < b.find(t) + len(t) for t in texts
        )  # a byte of the three members themselves may change
        data = b[:pos] + bytes([b[pos] ^ 0x01]) + b[pos + 1 :]
        if not inside:
            assert match_frame(frame, data) is None, pos


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        (b'{"id":"j","scheduler":"s","phase":"start","declared_training_ops":3.1e+24,"images":[]}', True),
        (b'{"id":"j","scheduler":"s","phase":"start","declared_training_ops":3.1e24,"images":[]}', True),
        (
            b'{"id":"j","scheduler":"s","phase":"start","declared_training_ops":3.1e+24,"images":[],"id":"j"}',
            False,
        ),
        (b'{"id":"e+","scheduler":"s","phase":"start","declared_training_ops":3.1e+24,"images":[]}', True),
        (b'{"id":"j","id":"e+","scheduler":"s","phase":"start","images":[]}', False),
        (b'{"id":"j","scheduler":"s","phase":"start","declared_training_ops":1e+2,"images":[]}', False),
    ],
)
def test_exact_texts_with_signed_exponents(text: bytes, exact: bool) -> None:
    wire, _ = field_reader(WorkloadManifest, "job", order="model")
    decoded = msgspec.json.Decoder(wire).decode(text)
    assert _exact(decoded, text) is exact
    if exact:  # and the value is what the model reads
        assert Job.model_validate_json(text, strict=False).id == decoded.id


@pytest.mark.parametrize("order", ["model", "sorted"])
def test_a_heartbeats_subjects_are_proved_by_their_text_alone(order: str) -> None:
    """Varying.names: True exactly when the subjects' text is what that order writes for the job's subjects.

    Then the text decodes to those subjects (what read_framed reads, every constraint checked); any
    other text — another digest, the members in another order, a second digest, space, uppercase
    hex, more subjects than a statement may hold — is left to the full path.
    """
    from attest.sign import job_names

    node = trusted_node()
    first, second = node.manifest(chain=True), node.manifest(chain=True)

    def text(m: WorkloadManifest) -> bytes:
        obj = build_statement(m).to_obj()
        if order == "sorted":
            from attest.crypto.canonical import canonical_json

            return canonical_json(obj)  # RFC 8785: every member in sorted order
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    frame = payload_frame(text(first))
    assert frame is not None
    texts = match_frame(frame, text(second))
    assert texts is not None
    read = read_framed(frame, texts)
    assert read is not None
    named = job_names(second.job)
    assert read.names(named)
    assert [(s.name, s.digest) for s in read.subjects] == [(n, {"sha256": d}) for n, d in named]
    assert not read.names(job_names(second.job.model_copy(update={"id": "another"})))  # another job's subjects
    subject = json.loads(texts[0])
    spellings = [
        json.dumps([{k: s[k] for k in reversed(list(s))} for s in subject], separators=(",", ":")),
        json.dumps([{**s, "digest": {**s["digest"], "sha512": "ab" * 64}} for s in subject], separators=(",", ":")),
        json.dumps(subject),  # with spaces
        json.dumps([{**s, "digest": {"sha256": s["digest"]["sha256"].upper()}} for s in subject], separators=(",", ":")),
        json.dumps(subject * 2, separators=(",", ":")),
    ]
    for other in spellings:
        moved = read_framed(frame, (other.encode(), texts[1], texts[2]))
        assert moved is not None and not moved.names(named), other
    assert not read.names([(n, d.upper()) for n, d in named])
    assert not read.names(named * 300)  # more subjects than a statement may hold
    assert not read.names([("x" * 1025, named[0][1])])
    assert not read.names([])
