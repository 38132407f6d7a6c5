"""Security invariant: any change to any byte of a signed envelope makes verification fail."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attest.crypto.keys import Algorithm
from attest.model.result import Status
from attest.verify import verify_envelope
from tests.conftest import NOW, trusted_node

NODES = {alg: trusted_node(alg) for alg in Algorithm}
ENVELOPES = {alg: node.envelope() for alg, node in NODES.items()}
LATER = NOW + timedelta(minutes=1)


def test_untouched_envelopes_are_affirming() -> None:
    for alg, raw in ENVELOPES.items():
        assert verify_envelope(raw, NODES[alg].trust, now=LATER).status is Status.AFFIRMING


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alg=st.sampled_from(list(Algorithm)), data=st.data())
def test_any_single_byte_change_is_never_affirming(alg: Algorithm, data: st.DataObject) -> None:
    raw = ENVELOPES[alg]
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]), label="byte")
    tampered = raw[:position] + bytes([new]) + raw[position + 1 :]
    result = verify_envelope(tampered, NODES[alg].trust, now=LATER)
    assert result.status is not Status.AFFIRMING
    assert result.status is Status.CONTRAINDICATED


def test_every_position_of_the_header_and_signature() -> None:
    # Deterministic sweep of the parts a random draw hits least: everything but the payload body.
    node = NODES[Algorithm.ED25519]
    raw = ENVELOPES[Algorithm.ED25519]
    start = raw.index(b'"payloadType"')
    for position in range(start, len(raw)):
        for flip in (0x01, 0x20, 0x80):
            tampered = raw[:position] + bytes([raw[position] ^ flip]) + raw[position + 1 :]
            assert verify_envelope(tampered, node.trust, now=LATER).status is Status.CONTRAINDICATED, position


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_insertions_and_deletions_are_never_affirming(data: st.DataObject) -> None:
    node = NODES[Algorithm.ECDSA_P256]
    raw = ENVELOPES[Algorithm.ECDSA_P256]
    position = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        tampered = raw[:position] + raw[position + 1 :]
    else:
        tampered = raw[:position] + bytes([data.draw(st.integers(0, 255))]) + raw[position:]
    assert verify_envelope(tampered, node.trust, now=LATER).status is Status.CONTRAINDICATED
