"""The canonical-envelope fast path accepts nothing the strict parser refuses.

Envelopes in the canonical form are sliced apart without a general JSON
parser; on any input, including escapes and garbage, the result must be the
one the strict, general parser gives.
"""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from attest.crypto.dsse import _parse_canonical, _parse_general, b64decode_canonical, parse_envelope
from attest.errors import EnvelopeError
from tests.conftest import trusted_node

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
NODE = trusted_node()
RAW = NODE.envelope()


def general(raw: bytes):  # type: ignore[no-untyped-def]
    """What the strict path gives: the envelope and payload, or None when it refuses."""
    try:
        env = _parse_general(raw, max_bytes=10**6, require_canonical=True)
        payload = b64decode_canonical(env.payload, what="payload")
        for s in env.signatures:
            b64decode_canonical(s.sig, what="signature")
    except EnvelopeError:
        return None
    return env, payload


def test_canonical_envelope_fast_path_agrees() -> None:
    assert _parse_canonical(RAW) == general(RAW) is not None


def agree(edited: bytes) -> bool:
    """The fast path accepts nothing the strict one refuses, and reads the same; say if it accepted."""
    fast = _parse_canonical(edited)
    if fast is not None:
        assert general(edited) == fast
    return fast is not None


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_random_envelope_edits_agree(data: st.DataObject) -> None:
    raw = bytearray(RAW)
    pos = data.draw(st.integers(0, len(raw) - 1))
    choice = data.draw(st.sampled_from([b'"', b"\\", b",", b"=", b"A", b"-", b"\n", b" ", b"{", b"\xc3\xa9", b"\\u0041", b"+", b"/", b"_"]))
    if data.draw(st.booleans()):
        raw[pos : pos + 1] = choice
    else:
        raw[pos:pos] = choice
    agree(bytes(raw))


def respelled(**changes: object) -> bytes:
    env = {**json.loads(RAW), **changes}
    return json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def test_other_spellings_of_the_same_bytes_are_not_fast() -> None:
    env = json.loads(RAW)
    sig = env["signatures"][0]["sig"]
    data = base64.b64decode(env["payload"]) + b"\xfb"  # parsing checks no signature: any bytes do
    while len(data) % 3 != 1:  # two padding characters, four spare bits
        data += b"\xff"
    payload = base64.b64encode(data).decode()
    assert payload.endswith("==")
    assert agree(respelled())  # the canonical spelling is
    assert agree(respelled(payload=payload))
    for text in [
        payload.rstrip("="),  # padding dropped
        base64.urlsafe_b64encode(data).decode(),  # the URL-safe alphabet (if it differs)
        payload[:-3] + B64[B64.index(payload[-3]) ^ 1] + "==",  # a spare bit set: the same bytes
        payload[:40] + "\n" + payload[40:],  # a line break
    ]:
        if text != payload:  # (the URL-safe spelling is the same when there is no + or /)
            assert not agree(respelled(payload=text))
            assert not agree(respelled(signatures=[{"keyid": env["signatures"][0]["keyid"], "sig": text}]))
    assert not agree(respelled(signatures=[{"keyid": env["signatures"][0]["keyid"], "sig": sig.rstrip("=")}]))
    assert not agree(RAW[:-1])  # no final newline
    assert not agree(RAW + b"\n")
    assert not agree(RAW.replace(b'"payload":', b'"payload": ', 1))
    twice = RAW.replace(b'"payloadType":', b'"payloadType":"x","payloadType":', 1)
    assert not agree(twice)
    assert not agree(respelled(payloadType="application/vnd.in-toto+json\u00e9"))  # non-ASCII: strict path
    assert not agree(respelled(extra="x"))


def test_payload_type_with_escapes_goes_the_general_way() -> None:
    env = json.loads(RAW)
    env["payloadType"] = 'a"b'
    raw = json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    assert _parse_canonical(raw) is None
    parsed, payload = parse_envelope(raw)
    assert parsed.payload_type == 'a"b' and payload == base64.b64decode(env["payload"])
