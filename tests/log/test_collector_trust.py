"""Who may append, and one submission per entry: a real collector over HTTP on loopback."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from attest.crypto.keys import Algorithm
from tests.conftest import trusted_node
from tests.log.test_collector import collector, http, serve

__all__ = ["collector"]  # the fixture, shared with test_collector

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _rules(answer: dict[str, Any]) -> list[str]:
    return [f["rule"] for f in answer["result"]["findings"]]


def _canonical(env: dict[str, Any]) -> bytes:
    return (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _malleate(raw: bytes) -> bytes:
    """The ECDSA twin anyone can make of a logged envelope: s -> n - s (still a valid signature)."""
    env = json.loads(raw)
    r, s = decode_dss_signature(base64.b64decode(env["signatures"][0]["sig"]))
    env["signatures"][0]["sig"] = base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()
    return _canonical(env)


def test_accept_untrusted_logs_strangers_for_labs(collector: Any, tmp_path: Path) -> None:
    """--accept-untrusted: the stranger's envelope is logged with its verdict (the old default)."""
    _, db, _, trust_path = collector
    node, stranger = trusted_node(), trusted_node()
    node.trust.save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--accept-untrusted")
    try:
        status, body = http("POST", f"{base}/v1/manifests", stranger.envelope())
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 0 and "signature.unknown_key" in _rules(out)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_refusal_says_why_without_the_evidence(collector: Any, tmp_path: Path) -> None:
    """A 403 names the rules, not the manifest's content (tenant names, nonces) nor the messages."""
    _, db, _, trust_path = collector
    node, stranger = trusted_node(), trusted_node()
    node.trust.save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        status, body = http("POST", f"{base}/v1/manifests", stranger.envelope())
        assert status == 403 and b"Example Robotics" not in body and b"message" not in body
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_signer_over_its_quota_gets_429_and_its_envelope_is_not_recorded(
    collector: Any, tmp_path: Path
) -> None:
    """Beyond --quota: 429 with Retry-After, nothing logged, and the nonce not spent (the retry is the original)."""
    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    envelopes = [node.envelope(node.manifest(now=now, chain=True)) for _ in range(3)]
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--quota", "2")
    try:
        assert [http("POST", f"{base}/v1/manifests", e)[0] for e in envelopes[:2]] == [200, 200]
        status, body = http("POST", f"{base}/v1/manifests", envelopes[2])
        assert status == 429 and json.loads(body)["retry_after"] >= 1
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 2
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    proc, base = serve(db, trust_path, tmp_path / "log.key")  # the state outlives the process
    try:
        status, body = http("POST", f"{base}/v1/manifests", envelopes[2])
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 2 and out["duplicate"] is False
        assert not [r for r in _rules(out) if r.startswith(("freshness.", "chain."))], _rules(out)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_failed_append_and_its_retry_log_the_original_not_a_replay(collector: Any, tmp_path: Path) -> None:
    """The log cannot write (another writer holds it past the timeout): 503, and the node's retry is the original."""
    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the log's write lock, held by someone else
        status, body = http("POST", f"{base}/v1/manifests", raw)
        assert status == 503 and "nothing was recorded" in json.loads(body)["error"]
        blocker.execute("ROLLBACK")
        status, body = http("POST", f"{base}/v1/manifests", raw)
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 0 and out["duplicate"] is False
        assert not [r for r in _rules(out) if r.startswith(("freshness.", "chain."))], _rules(out)
    finally:
        blocker.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_a_malleated_ecdsa_twin_is_the_original_not_the_nodes_replay(collector: Any, tmp_path: Path) -> None:
    """s -> n - s makes new bytes that verify; the collector answers them as the original, logging nothing."""
    _, db, _, trust_path = collector
    node = trusted_node(Algorithm.ECDSA_P256)
    node.trust.save(trust_path)
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    twin = _malleate(raw)
    assert twin != raw
    env = json.loads(twin)  # the twin really verifies: it is a valid signature anyone could make
    pae_ok = node.key.public.verify(base64.b64decode(env["signatures"][0]["sig"]), _pae(env))
    assert pae_ok
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        status, body = http("POST", f"{base}/v1/manifests", raw)
        first = json.loads(body)
        assert status == 200 and first["leaf_index"] == 0
        status, body = http("POST", f"{base}/v1/manifests", twin)
        again = json.loads(body)
        assert status == 200 and again["duplicate"] is True and again["leaf_index"] == 0
        assert again["result"] == first["result"] and "freshness.nonce_reused" not in _rules(again)
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _pae(env: dict[str, Any]) -> bytes:
    t, p = env["payloadType"].encode(), base64.b64decode(env["payload"])
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(p), p)


def test_ec_signatures_the_library_makes_are_low_s() -> None:
    """Nodes sign with low s, so every envelope has one canonical signature."""
    node = trusted_node(Algorithm.ECDSA_P256)
    for _ in range(20):
        env = json.loads(node.envelope())
        _, s = decode_dss_signature(base64.b64decode(env["signatures"][0]["sig"]))
        assert s <= P256_ORDER // 2
    assert ec.SECP256R1  # the curve whose order is above
