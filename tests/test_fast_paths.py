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

from attest.crypto.dsse import _parse_canonical, _parse_general, parse_envelope
from attest.errors import EnvelopeError
from tests.conftest import trusted_node

NODE = trusted_node()
RAW = NODE.envelope()


def envelope_parse(fn, raw: bytes):  # type: ignore[no-untyped-def]
    try:
        env = fn(raw)
    except EnvelopeError:
        return None
    return env


def test_canonical_envelope_fast_path_agrees() -> None:
    assert _parse_canonical(RAW) == _parse_general(RAW, max_bytes=10**6, require_canonical=True)


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_random_envelope_edits_agree(data: st.DataObject) -> None:
    raw = bytearray(RAW)
    pos = data.draw(st.integers(0, len(raw) - 1))
    choice = data.draw(st.sampled_from([b'"', b"\\", b",", b"=", b"A", b"-", b"\n", b" ", b"{", b"\xc3\xa9", b"\\u0041"]))
    if data.draw(st.booleans()):
        raw[pos : pos + 1] = choice
    else:
        raw[pos:pos] = choice
    edited = bytes(raw)
    fast = _parse_canonical(edited)
    general = envelope_parse(lambda r: _parse_general(r, max_bytes=10**6, require_canonical=True), edited)
    if fast is not None:  # the fast path never accepts what the strict one refuses
        assert general == fast


def test_payload_type_with_escapes_goes_the_general_way() -> None:
    env = json.loads(RAW)
    env["payloadType"] = 'a"b'
    raw = json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    assert _parse_canonical(raw) is None
    parsed, payload = parse_envelope(raw)
    assert parsed.payload_type == 'a"b' and payload == base64.b64decode(env["payload"])
