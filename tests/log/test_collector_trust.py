"""Who may append, and one submission per entry: a real collector over HTTP on loopback."""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
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


def test_entries_need_the_read_token_when_one_is_set(collector: Any, tmp_path: Path) -> None:
    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    (tmp_path / "token").write_text("s3cret-token-0123456789\n")
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--read-token-file", str(tmp_path / "token"))
    try:
        assert http("POST", f"{base}/v1/manifests", node.envelope())[0] == 200
        assert http("GET", f"{base}/v1/entries/0")[0] == 401
        req = urllib.request.Request(f"{base}/v1/entries/0", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["payloadType"]
        bad = urllib.request.Request(f"{base}/v1/entries/0", headers={"Authorization": "Bearer s3cret-token-012345678"})
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(bad, timeout=10)
        assert http("GET", f"{base}/v1/proof/inclusion?index=0")[0] == 200  # proofs stay public
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_collector_whose_clock_is_behind_the_log_judges_nothing(collector: Any, tmp_path: Path) -> None:
    """The log's newest entry is 2 h in this collector's future (its clock was set back): 503, nothing recorded."""
    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    first, second = (node.envelope(node.manifest(now=datetime.now(UTC), chain=True)) for _ in range(2))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        assert http("POST", f"{base}/v1/manifests", first)[0] == 200
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE entries SET at = at + 7200")
        status, body = http("POST", f"{base}/v1/manifests", second)
        assert status == 503 and "clock is behind" in json.loads(body)["error"]
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 1
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE entries SET at = at - 7200")  # the clock is fixed
        status, body = http("POST", f"{base}/v1/manifests", second)
        assert status == 200 and not [r for r in _rules(json.loads(body)) if r.startswith(("freshness.", "chain."))]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_cosigned_twin_is_the_nodes_original_not_its_replay(collector: Any, tmp_path: Path) -> None:
    """Another trusted key adds its signature to a logged payload: the same submission, answered as the original."""
    from attest.crypto.dsse import encode_envelope, sign_payload
    from attest.model.statement import PAYLOAD_TYPE_INTOTO

    _, db, _, trust_path = collector
    node, other = trusted_node(), trusted_node()
    node.trust.with_key(other.key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"]).save(
        trust_path
    )
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    payload = base64.b64decode(json.loads(raw)["payload"])
    twin = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [other.key, node.key]))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        assert json.loads(http("POST", f"{base}/v1/manifests", raw)[1])["leaf_index"] == 0
        status, body = http("POST", f"{base}/v1/manifests", twin)
        out = json.loads(body)
        assert status == 200 and out["duplicate"] is True and out["leaf_index"] == 0, out
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_entries_logged_without_a_verdict_are_judged_before_serving(collector: Any, cli: Any, tmp_path: Path) -> None:
    """An entry appended but never judged (a crash between the two): its nonce is recorded at start, so a replay is one."""
    from attest.model.manifest import WorkloadManifest

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    first = node.manifest(now=datetime.now(UTC))
    obj = first.to_obj()
    obj["job"] = {**obj["job"], "id": "another-job"}
    same_nonce = WorkloadManifest.from_obj(obj)
    (tmp_path / "first.json").write_bytes(node.envelope(first))
    cli("log", "append", "first.json", "--log", str(db), check_code=0)  # logged, never judged
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        status, body = http("POST", f"{base}/v1/manifests", node.envelope(same_nonce))
        assert status == 200 and "freshness.nonce_reused" in _rules(json.loads(body))
        status, body = http("POST", f"{base}/v1/manifests", (tmp_path / "first.json").read_bytes())
        again = json.loads(body)
        assert again["duplicate"] is True and "freshness.nonce_reused" not in _rules(again)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "judged 1 logged entries" in err


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="needs prlimit (Linux)")
def test_a_full_disk_mid_push_answers_503_and_the_retry_is_the_original(collector: Any, tmp_path: Path) -> None:
    """The collector's files cannot grow (RLIMIT_FSIZE set on the running process), then they can again."""
    import resource

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    first, second = (node.envelope(node.manifest(now=now, chain=True)) for _ in range(2))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        assert http("POST", f"{base}/v1/manifests", first)[0] == 200
        biggest = max(f.stat().st_size for f in tmp_path.iterdir() if f.is_file())
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (biggest, resource.RLIM_INFINITY))
        status, body = http("POST", f"{base}/v1/manifests", second)
        assert status == 503 and "push it again" in json.loads(body)["error"]
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        status, body = http("POST", f"{base}/v1/manifests", second)
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 1
        assert not [r for r in _rules(out) if r.startswith(("freshness.", "chain."))], _rules(out)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="needs prlimit (Linux)")
def test_a_retry_after_a_newer_manifest_is_judged_as_the_original(collector: Any, tmp_path: Path) -> None:
    """F2 limit: manifest 1's append fails (its files cannot grow); manifest 2 of the node gets in
    meanwhile; manifest 1's retry is judged as it was the first time (no chain.sequence_rollback)."""
    import resource

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    first, second, third = (node.envelope(node.manifest(now=now, chain=True)) for _ in range(3))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        assert http("POST", f"{base}/v1/manifests", first)[0] == 200
        biggest = max(f.stat().st_size for f in tmp_path.iterdir() if f.is_file())
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (biggest, resource.RLIM_INFINITY))
        status, body = http("POST", f"{base}/v1/manifests", second)
        assert status == 503 and "push it again" in json.loads(body)["error"]
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        status, body = http("POST", f"{base}/v1/manifests", third)
        assert status == 200 and "chain.gap" in _rules(json.loads(body))  # 2 of 3 not seen yet
        status, body = http("POST", f"{base}/v1/manifests", second)
        out = json.loads(body)
        # (logged as entry 1 with its verdict unstored, or not logged at all: where the limit hit)
        assert status == 200 and out["leaf_index"] in (1, 2) and out["result"]["status"] == "affirming", out
        assert not [r for r in _rules(out) if r.startswith(("freshness.", "chain."))], _rules(out)
        # Another envelope of an older sequence, never pushed before, is still a rollback.
        status, body = http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(
            now=now, freshness={**node.history[1].freshness.to_obj(), "nonce": "ab" * 16},
            job={**node.history[1].job.to_obj(), "id": "rewritten"})))
        assert status == 200 and "chain.sequence_rollback" in _rules(json.loads(body))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


@pytest.mark.skipif(not hasattr(__import__("resource"), "prlimit"), reason="needs prlimit (Linux)")
def test_a_retry_after_a_twin_of_its_sequence_was_logged_is_judged_as_of_now(collector: Any, tmp_path: Path) -> None:
    """Review F4: manifest 2a's append fails; the node then gets 2b (same sequence, same previous) and 3
    logged; 2a's retry is not judged as of its first attempt (that made a forked twin and an older
    manifest both affirming) but against the chain as it is now: a rollback."""
    import resource

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    first = node.envelope(node.manifest(now=now, chain=True))
    twin_a = node.envelope(node.manifest(now=now, chain=True))
    node.history.pop()  # the node signs sequence 1 again, after the same manifest 0
    twin_b = node.envelope(node.manifest(now=now, chain=True))
    third = node.envelope(node.manifest(now=now, chain=True))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        assert http("POST", f"{base}/v1/manifests", first)[0] == 200
        biggest = max(f.stat().st_size for f in tmp_path.iterdir() if f.is_file())
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (biggest, resource.RLIM_INFINITY))
        assert http("POST", f"{base}/v1/manifests", twin_a)[0] == 503
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for raw in (twin_b, third):
            status, body = http("POST", f"{base}/v1/manifests", raw)
            assert status == 200 and json.loads(body)["result"]["status"] == "affirming", body
        status, body = http("POST", f"{base}/v1/manifests", twin_a)
        out = json.loads(body)
        assert status == 200 and out["result"]["status"] == "contraindicated", out
        assert "chain.sequence_rollback" in _rules(out), _rules(out)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_a_network_that_keeps_sending_refused_envelopes_is_cut_off_before_verifying(collector: Any, tmp_path: Path) -> None:
    """--refusals 5: five 403s from 127.0.0.0/24, then 429 with Retry-After, nothing verified or logged."""
    _, db, _, trust_path = collector
    node, stranger = trusted_node(), trusted_node()
    node.trust.save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--refusals", "5")
    try:
        codes = [http("POST", f"{base}/v1/manifests", stranger.envelope())[0] for _ in range(8)]
        assert codes == [403] * 5 + [429] * 3
        assert http("POST", f"{base}/v1/manifests", b"garbage")[0] == 429
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_a_signed_timestamp_at_the_calendars_edge_gets_a_verdict_not_push_again(collector: Any, tmp_path: Path) -> None:
    """A trusted key signs expires_at 9999-12-31 or issued_at 0001-01-01: logged with a contraindicated verdict
    that names why, never a 5xx (which tells the node to push the same envelope again, forever); the honest
    envelope after them is logged too."""
    from attest.crypto.dsse import encode_envelope, sign_payload
    from attest.model.statement import PAYLOAD_TYPE_INTOTO

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    far = []
    for field, value in (("expires_at", "9999-12-31T23:59:59Z"), ("issued_at", "0001-01-01T00:00:00Z")):
        statement = json.loads(base64.b64decode(json.loads(node.envelope(node.manifest(now=now)))["payload"]))
        statement["predicate"]["freshness"][field] = value
        payload = json.dumps(statement, separators=(",", ":")).encode()
        far.append(encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key])))
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        for raw in far:
            status, body = http("POST", f"{base}/v1/manifests", raw)
            out = json.loads(body)
            assert status == 200 and out["result"]["status"] == "contraindicated", (status, body)
            assert "statement.malformed" in _rules(out), out  # logged with its verdict: final
        status, body = http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(now=now, chain=True)))
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 2 and out["result"]["status"] != "contraindicated", out
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
