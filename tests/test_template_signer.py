"""The daemon's fast signing path produces what the reference path does, byte for byte where it matters."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from attest.crypto.canonical import json_digest
from attest.crypto.dsse import encode_envelope, parse_envelope
from attest.errors import InputError
from attest.model import fastread
from attest.model.manifest import Freshness, Job, LocationEvidence
from attest.model.result import Status
from attest.model.statement import Statement
from attest.sign import TemplateSigner, manifest_digest, workload_subjects
from attest.verify import verify_envelope
from tests.conftest import NOW, Node, trusted_node


def fresh(seq: int, previous: str | None) -> Freshness:
    return Freshness(issued_at=NOW, expires_at=NOW + timedelta(minutes=15), nonce=os.urandom(16).hex(), sequence=seq, previous=previous)


@pytest.mark.parametrize(
    "job",
    [
        Job(id="j-1", scheduler="slurm", phase="start"),
        Job(id="ünïcode \u2028 \"quoted\"", scheduler="k8s", phase="end", declared_training_ops=1.5e24),
        Job(id="spec", scheduler="slurm", phase="start", spec_digest="sha256:" + "ab" * 32),
    ],
)
def test_template_signer_matches_the_reference(job: Job) -> None:
    node: Node = trusted_node()
    signer = TemplateSigner(node.manifest(), node.key)
    previous = None
    for seq in range(3):
        m = signer.manifest(job, fresh(seq, previous))
        envelope, digest = signer.sign_with_digest(m)
        # the reference: RFC 8785 of the whole manifest, computed in one piece
        assert digest == json_digest(m.to_obj()) == manifest_digest(m) == signer.digest(m)
        raw = encode_envelope(envelope)
        # the daemon's direct bytes: the same file (Ed25519 signatures are deterministic)
        assert signer.encode_with_digest(m) == (raw, digest)
        _, payload = parse_envelope(raw)
        statement = Statement.from_json(payload)
        assert statement.predicate == m
        # the payload is in RFC 8785 order, which the verifier's fast reader also takes
        assert fastread._read_fast(payload) == statement
        assert statement.subject == workload_subjects(m)
        result = verify_envelope(raw, node.trust, now=NOW + timedelta(minutes=1))
        assert result.status is Status.AFFIRMING, result.findings
        previous = digest


def test_template_signer_with_receipts_and_a_foreign_key() -> None:
    from attest.crypto.keys import SigningKey
    from attest.location.receipts import binding_for, sign_receipt

    node = trusted_node()
    signer = TemplateSigner(node.manifest(), node.key)
    f = fresh(0, None)
    receipt = sign_receipt(SigningKey.generate(), landmark_id="lm", node_key_id=node.key.key_id, nonce=os.urandom(16),
                           rtt_ns=500_000, measured_at=NOW, binding=binding_for(node.key.key_id, f.nonce))
    m = signer.manifest(Job(id="h", scheduler="d", phase="heartbeat"), f, LocationEvidence(receipts=[receipt]))
    assert signer.sign_with_digest(m)[1] == manifest_digest(m) == json_digest(m.to_obj())
    with pytest.raises(InputError, match="another node key"):
        TemplateSigner(node.manifest(), SigningKey.generate())


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "ecdsa-p384"])
def test_direct_envelope_bytes_with_ecdsa_keys(algorithm: str) -> None:
    """ECDSA signatures differ every time: the direct bytes must still be the canonical file."""
    from attest.crypto.keys import Algorithm, SigningKey
    from attest.crypto.trust import TrustStore

    key = SigningKey.generate(Algorithm(algorithm))
    node = trusted_node()
    template = node.manifest().model_copy(update={"node": node.manifest().node.model_copy(update={"key_id": key.key_id})})
    signer = TemplateSigner(template, key)
    m = signer.manifest(Job(id="e-1", scheduler="slurm", phase="start"), fresh(0, None))
    raw, digest = signer.encode_with_digest(m)
    envelope, payload = parse_envelope(raw)  # canonical encoding required by default
    assert encode_envelope(envelope) == raw
    assert digest == manifest_digest(m)
    assert Statement.from_json(payload).predicate == m
    trust = TrustStore().with_key(key.public, operator=m.operator.name)
    assert verify_envelope(raw, trust, now=NOW + timedelta(minutes=1)).status is Status.AFFIRMING
