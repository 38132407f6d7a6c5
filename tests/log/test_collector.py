"""The collector as a real HTTP service: a daemon pushes to it; proofs and checkpoints come back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.crypto.trust import TrustStore
from attest.log import Log
from attest.log.checkpoint import open_checkpoint
from attest.log.merkle import verify_inclusion
from tests.daemon.fixtures import MakeDaemon, sign


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[str, Path, SigningKey, Path]]:
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(tmp_path / "audit.db", "example.com/collector", key).store.close()
    TrustStore().save(tmp_path / "trust.json")
    yield "", tmp_path / "audit.db", key, tmp_path / "trust.json"


def serve(db: Path | str, trust: Path, key: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "collector", "serve", "--log", str(db), "--trust", str(trust),
         "--key", str(key), "--listen", "127.0.0.1:0", "--policy", "us-ear", "--checkpoint-interval", "0.5", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(proc.stderr.read() if proc.stderr else "collector did not start")
    return proc, "http://" + json.loads(line)["listening"]


def test_daemon_pushes_and_the_collector_logs_and_proves(collector: Any, make_daemon: MakeDaemon, tmp_path: Path) -> None:
    _, db, _, trust_path = collector
    dp = make_daemon()
    TrustStore().with_key(dp.key.public).save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    vkey = Log.open(db).store.meta("verifier_key")
    try:
        dp.config.write_text(dp.config.read_text() + f'\n[collector]\nurl = "{base}/v1/manifests"\nmax_backoff_s = 1\nallow_insecure_http = true\n'
                             f'log_key = "{vkey}"\n')
        dp.start()
        with dp.client() as c:
            signed = [sign(c, f"job-{i}") for i in range(5)]
            deadline = time.monotonic() + 30
            while c.status()["undelivered"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.status()["undelivered"] == 0
        dp.stop()
        # each delivery kept its proof against a signed checkpoint
        import sqlite3

        kept = [json.loads(r[0]) for r in sqlite3.connect(dp.dir / "state" / "chain.sqlite").execute("SELECT proof FROM manifests ORDER BY seq")]
        assert [k["leaf_index"] for k in kept] == [0, 1, 2, 3, 4] and all("checkpoint" in k for k in kept)
        status, body = http("GET", f"{base}/healthz")
        assert status == 200 and json.loads(body)["size"] == 5
        # Re-push of a logged envelope: same index, same result, no replay finding.
        status, body = http("POST", f"{base}/v1/manifests", signed[2]["envelope"].encode())
        again = json.loads(body)
        assert status == 200 and again["duplicate"] is True and again["leaf_index"] == 2
        assert again["result"]["status"] == "affirming"
        # The inclusion proof in the answer verifies against the signed checkpoint.
        time.sleep(1.0)
        status, note = http("GET", f"{base}/v1/checkpoint")
        log = Log.open(db)
        cp = open_checkpoint(note.decode(), log.key_name, log.public, origin="example.com/collector")
        status, body = http("GET", f"{base}/v1/proof/inclusion?index=2&size={cp.size}")
        proof = json.loads(body)
        assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 2, cp.size, [bytes.fromhex(h) for h in proof["path"]], cp.root)
        status, body = http("GET", f"{base}/v1/entries/2")
        assert status == 200 and body.decode() == signed[2]["envelope"]
        # A tampered envelope, garbage and oversize are refused (nothing logged).
        env = json.loads(signed[3]["envelope"])
        env["signatures"][0]["sig"] = ("A" if env["signatures"][0]["sig"][0] != "A" else "B") + env["signatures"][0]["sig"][1:]
        tampered = (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()
        status, body = http("POST", f"{base}/v1/manifests", tampered)
        out = json.loads(body)
        assert status == 403 and "signature.invalid" in [f["rule"] for f in out["result"]["findings"]]
        assert http("POST", f"{base}/v1/manifests", b"hello")[0] == 400
        assert http("POST", f"{base}/v1/manifests", b"x" * (2 << 20))[0] == 413
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 5
        assert http("GET", f"{base}/v1/proof/inclusion?index=99")[0] == 404
        assert http("GET", f"{base}/v1/proof/consistency?old=x")[0] == 400
        status, body = http("GET", f"{base}/v1/proof/consistency?old=3")
        assert status == 200 and json.loads(body)["new_size"] == 5
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert Log.open(db).verify() == []


def test_a_restarted_collector_answers_a_re_push_from_its_store(collector: Any, make_daemon: MakeDaemon, tmp_path: Path) -> None:
    _, db, _, trust_path = collector
    dp = make_daemon()
    dp.start()
    with dp.client() as c:
        env = sign(c, "j1")["envelope"].encode()
    dp.stop()
    TrustStore().with_key(dp.key.public).save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    assert json.loads(http("POST", f"{base}/v1/manifests", env)[1])["result"]["status"] == "affirming"
    proc.terminate()
    proc.communicate(timeout=10)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        out = json.loads(http("POST", f"{base}/v1/manifests", env)[1])
        assert out["duplicate"] is True and out["result"]["status"] == "affirming"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_log_verbs_against_a_collector_url(collector: Any, make_daemon: MakeDaemon, cli: Any, tmp_path: Path) -> None:
    _, db, _, trust_path = collector
    dp = make_daemon()
    dp.start()
    with dp.client() as c:
        envs = [sign(c, f"j{i}")["envelope"] for i in range(3)]
    dp.stop()
    TrustStore().with_key(dp.key.public).save(trust_path)
    for i, e in enumerate(envs):
        (tmp_path / f"e{i}.json").write_text(e)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        out = [json.loads(x) for x in cli("log", "append", "e0.json", "e1.json", "e2.json", "e1.json", "--log", base,
                                          "--format", "json", check_code=0).stdout.splitlines()]
        assert [o["leaf_index"] for o in out] == [0, 1, 2, 1] and out[3]["new"] is False
        log = Log.open(db)
        (tmp_path / "log.pub").write_text(log.store.meta("verifier_key") or "")
        log.store.close()
        time.sleep(1.0)  # the next checkpoint (every 0.5 s) covers all three
        assert "--key LOG.pub" in cli("log", "checkpoint", "--log", base, check_code=2).stderr
        note = cli("log", "checkpoint", "--log", base, "--key", "log.pub", check_code=0).stdout
        assert note.startswith("example.com/collector\n3\n")
        proof = json.loads(cli("log", "proof", "--log", base, "--key", "log.pub", "--inclusion", "1", "--format", "json",
                               check_code=0).stdout)
        assert proof["tree_size"] == 3 and proof["leaf_index"] == 1
        con = json.loads(cli("log", "proof", "--log", base, "--key", "log.pub", "--consistency", "1", "3", "--format",
                             "json", check_code=0).stdout)
        assert con["old_size"] == 1 and con["new_size"] == 3
        assert "needs the log itself" in cli("log", "verify", "--log", base, check_code=2).stderr
        assert "answered 404" in cli("log", "proof", "--log", base, "--key", "log.pub", "--inclusion", "9", "--size", "3",
                                     check_code=2).stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert "cannot reach the collector" in cli("log", "proof", "--log", base, "--key", "log.pub", "--inclusion", "0",
                                               check_code=2).stderr


def test_a_collector_on_a_postgresql_log(postgres_url: str, cli: Any, tmp_path: Path) -> None:
    """The fleet set-up: two collectors on one PostgreSQL log share its verifier state, so one
    node's manifests pushed to either are one chain and a replay to the other is a replay;
    proofs, re-pushes after a restart and the audit come from the same database."""
    from datetime import UTC, datetime

    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(postgres_url, "example.com/fleet", key).store.close()
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    envs = [node.envelope(node.manifest(now=now, chain=True)) for _ in range(4)]
    # The second manifest's nonce again, in other bytes: a replay, sent to the other collector.
    replay = node.envelope(node.manifest(now=now, freshness=node.history[1].freshness.to_obj(),
                                         job={**node.history[1].job.to_obj(), "id": "slurm-replayed"}))
    a, base_a = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key")
    b, base_b = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key")
    try:
        answers = [json.loads(http("POST", f"{base}/v1/manifests", e)[1])
                   for base, e in zip([base_a, base_b, base_a, base_b], envs, strict=True)]
        assert [x["leaf_index"] for x in answers] == [0, 1, 2, 3]
        rules = [{f["rule"] for f in x["result"]["findings"]} for x in answers]
        assert not any(r.startswith("chain.") for rs in rules for r in rs), rules  # one chain, not four pieces
        statuses = [x["result"]["status"] for x in answers]
        assert set(statuses) <= {"affirming", "warning"}, rules
        replayed = json.loads(http("POST", f"{base_a}/v1/manifests", replay)[1])
        assert "freshness.nonce_reused" in {f["rule"] for f in replayed["result"]["findings"]}
        assert replayed["result"]["status"] == "contraindicated" and replayed["leaf_index"] == 4
        again = json.loads(http("POST", f"{base_a}/v1/manifests", envs[1])[1])
        assert again["duplicate"] is True and again["result"]["status"] == statuses[1]
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.communicate(timeout=10)
    # A restarted collector answers a re-push from what PostgreSQL kept.
    proc, base = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key")
    try:
        out = json.loads(http("POST", f"{base}/v1/manifests", envs[2])[1])
        assert out["duplicate"] is True and out["leaf_index"] == 2 and out["result"]["status"] == statuses[2]
        proof = out["inclusion"]
        log = Log.open(postgres_url)
        assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), 2, proof["tree_size"],
                                [bytes.fromhex(h) for h in proof["path"]], bytes.fromhex(proof["root_hash"]))
        assert log.store.result(2) is not None and log.verify() == []
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    # A collector given a state file of its own keeps it there instead.
    state = tmp_path / "state.db"
    proc, base = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key", "--state", str(state))
    try:
        assert http("GET", f"{base}/healthz")[0] == 200 and state.exists()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    # The auditor reads the same database.
    report = json.loads(cli("audit", postgres_url, "--trust", "trust.json", "--policy", "none", "--now",
                            (now + timedelta(minutes=1)).isoformat(), "--format", "json").stdout)
    assert report["envelopes"] == 5


def test_the_postgresql_verifier_state(postgres_url: str) -> None:
    from datetime import UTC, datetime

    from attest.log.postgres import PostgresLog, PostgresVerifierState
    from attest.replay import ChainHead

    PostgresLog(postgres_url, create=True).close()
    one, two = PostgresVerifierState(postgres_url), PostgresVerifierState(postgres_url)  # two collectors
    soon, later = datetime(2026, 11, 29, 10, tzinfo=UTC), datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert one.check_and_record("k1", "n1", soon) is True
    assert two.check_and_record("k1", "n1", soon) is False  # the other collector saw it
    assert two.check_and_record("k2", "n1", later) is True  # nonces are per key
    assert two.head("k1") is None
    one.advance("k1", ChainHead(5, "sha256:" + "5" * 64))
    two.advance("k1", ChainHead(4, "sha256:" + "4" * 64))  # older: ignored
    assert two.head("k1") == ChainHead(5, "sha256:" + "5" * 64)
    two.advance("k1", ChainHead(6, "sha256:" + "6" * 64))
    assert one.head("k1") == ChainHead(6, "sha256:" + "6" * 64)
    assert one.prune(datetime(2026, 11, 29, 11, tzinfo=UTC)) == 1
    assert one.check_and_record("k1", "n1", soon) is True and one.check_and_record("k2", "n1", later) is False
    one.close()
    two.close()


def test_the_same_bytes_at_two_collectors_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collector B verifies an envelope while collector A logs the same bytes: B's append finds
    them logged, and B answers with A's verdict rather than overwriting it with its own (which,
    the state being shared, calls the nonce a replay)."""
    from datetime import UTC, datetime

    from attest.log import collector as collector_mod
    from attest.log.collector import Collector
    from attest.replay import SqliteVerifierState
    from attest.verify import VerifyOptions
    from tests.conftest import trusted_node

    node = trusted_node()
    Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate()).store.close()

    def make() -> Collector:
        return Collector(Log.open(tmp_path / "log.db"), node.trust, state=SqliteVerifierState(tmp_path / "state.db"),
                         policy=None, options=VerifyOptions())

    a, b = make(), make()
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    real = collector_mod.verify_and_open
    interjected: list[tuple[int, dict[str, Any]]] = []

    def verify(*args: Any, **kw: Any) -> Any:
        if not interjected:  # B is verifying: A takes the same bytes first, start to finish
            interjected.append((0, {}))
            interjected[0] = a._submit(raw)
        return real(*args, **kw)

    monkeypatch.setattr(collector_mod, "verify_and_open", verify)
    code_b, answer_b = b._submit(raw)
    code_a, answer_a = interjected[0]
    assert (code_a, answer_a["duplicate"], answer_a["leaf_index"]) == (200, False, 0)
    assert answer_a["result"]["status"] in {"affirming", "warning"}
    assert (code_b, answer_b["duplicate"], answer_b["leaf_index"]) == (200, True, 0)
    assert answer_b["result"] == answer_a["result"]
    assert json.loads(a.log.store.result(0) or "null") == answer_a["result"] and a.log.size == 1


def test_a_default_collector_keeps_strangers_out_of_the_log(collector: Any, tmp_path: Path) -> None:
    """By default only what trusted keys signed is logged: strangers, forgeries and revoked keys get 403."""
    from tests.conftest import trusted_node

    _, db, _, trust_path = collector
    node, stranger, revoked = trusted_node(), trusted_node(), trusted_node()
    node.trust.with_key(revoked.key.public).with_revoked(revoked.key.key_id).save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    try:
        env = json.loads(node.envelope())
        sig = env["signatures"][0]["sig"]
        env["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
        forged = (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()
        for raw, rule in [
            (stranger.envelope(), "signature.unknown_key"),
            (forged, "signature.invalid"),
            (revoked.envelope(), "trust.key_revoked"),
        ]:
            status, body = http("POST", f"{base}/v1/manifests", raw)
            out = json.loads(body)
            assert status == 403 and rule in [f["rule"] for f in out["result"]["findings"]]
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 0
        # what a trusted key signed is logged, even stale (the verdict says so)
        status, body = http("POST", f"{base}/v1/manifests", node.envelope())
        out = json.loads(body)
        assert status == 200 and out["leaf_index"] == 0 and out["result"]["status"] == "contraindicated"
        assert json.loads(http("GET", f"{base}/healthz")[1])["size"] == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_the_collector_keeps_each_nodes_newest_evidence_for_admission(collector: Any, cli: Any, tmp_path: Path) -> None:
    """--evidence-dir: one file per node key, the newest authenticated one; attest admit reads it."""
    from datetime import UTC, datetime

    from tests.conftest import CLI_TENANT, trusted_node

    _, db, _, trust_path = collector
    node, stranger = trusted_node(), trusted_node()
    node.trust.save(trust_path)
    now = datetime.now(UTC)
    chain = [node.envelope(node.manifest(now=now, chain=True)) for _ in range(3)]
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--evidence-dir", str(tmp_path / "evidence"))
    try:
        for raw in (chain[1], chain[0], chain[2], chain[1]):  # out of order, a re-push
            assert http("POST", f"{base}/v1/manifests", raw)[0] == 200
        assert http("POST", f"{base}/v1/manifests", stranger.envelope())[0] == 403
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    files = sorted((tmp_path / "evidence").glob("*.json"))
    assert [f.name for f in files] == [f"{node.key.key_id}.envelope.json"]
    assert files[0].read_bytes() == chain[2]
    log = Log.open(str(db))
    assert log.size == 3  # not the stranger's (refused), nor the re-push (a duplicate)
    log.store.close()

    (tmp_path / "tenant.json").write_text(json.dumps(CLI_TENANT))
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "evidence", "--trust", str(trust_path),
              "--nodes", "gpu-a17", "--gpus", "8", "--format", "json", check_code=0)
    assert json.loads(out.stdout)["allowed_nodes"] == ["gpu-a17"]


def test_an_evidence_directory_that_cannot_be_written_does_not_fail_a_push(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The log is the record: a failed evidence update is reported, and the push is answered as logged."""
    from datetime import UTC, datetime

    from attest.log.collector import Collector
    from attest.replay import SqliteVerifierState
    from attest.scheduler.evidence import NewestEvidence
    from attest.verify import VerifyOptions
    from tests.conftest import trusted_node

    node = trusted_node()
    Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate()).store.close()
    newest = NewestEvidence(tmp_path / "evidence")
    (tmp_path / "evidence" / f"{node.key.key_id}.envelope.json").mkdir()  # the file cannot replace a directory
    c = Collector(Log.open(tmp_path / "log.db"), node.trust, state=SqliteVerifierState(tmp_path / "state.db"),
                  policy=None, options=VerifyOptions(), newest=newest)
    code, answer = c._submit(node.envelope(node.manifest(now=datetime.now(UTC))))
    assert (code, answer["duplicate"], answer["leaf_index"]) == (200, False, 0)
    assert "cannot update the evidence directory" in caplog.text  # the service's bounded log
    assert c.log.size == 1


def _rules(result: Any) -> list[str]:
    return [f["rule"] for f in result["findings"] if f["rule"].startswith(("freshness", "chain"))]


def test_a_verdict_lost_after_the_state_commit_is_not_turned_into_a_replay(tmp_path: Path) -> None:
    """A fault between the verifier state's commit and the stored verdict (the log's database
    locked, a full disk, a crash): the node's retry of the same bytes, and recover() after a
    restart, judge the entry as the original, not as a replay of its own nonce. A different
    manifest reusing the nonce, failing the same way, stays a replay on its retry."""
    import sqlite3
    from datetime import UTC, datetime

    from attest.log.collector import Collector
    from attest.replay import SqliteVerifierState
    from attest.verify import VerifyOptions
    from tests.conftest import trusted_node

    node = trusted_node()

    def make(name: str) -> Collector:
        if not (tmp_path / f"{name}.db").exists():
            Log.init(tmp_path / f"{name}.db", "example.com/log", SigningKey.generate()).store.close()
        return Collector(
            Log.open(tmp_path / f"{name}.db"),
            node.trust,
            state=SqliteVerifierState(tmp_path / f"{name}.state.db"),
            policy=None,
            options=VerifyOptions(),
        )

    def fail_once(c: Collector) -> None:
        real = c.log.store.put_results

        def once(*args: Any, **kw: Any) -> None:
            c.log.store.put_results = real  # type: ignore[method-assign]
            raise sqlite3.OperationalError("database is locked")

        c.log.store.put_results = once  # type: ignore[method-assign]

    # The node's retry.
    c = make("retry")
    manifest = node.manifest(now=datetime.now(UTC))
    raw = node.envelope(manifest)
    fail_once(c)
    code, answer = c._submit(raw)
    assert code == 503 and c.log.size == 1 and c.log.store.result(0) is None
    code, answer = c._submit(raw)
    assert (code, answer["leaf_index"]) == (200, 0)
    assert answer["result"]["status"] in {"affirming", "warning"} and _rules(answer["result"]) == []
    # A different manifest with the same nonce is still a replay, retried or not.
    obj = manifest.to_obj()
    obj["job"]["id"] = "slurm-99999"
    from attest.model.manifest import WorkloadManifest

    twin = node.envelope(WorkloadManifest.from_obj(obj))
    fail_once(c)
    assert c._submit(twin)[0] == 503 and c.log.size == 2
    code, answer = c._submit(twin)
    assert code == 200 and answer["leaf_index"] == 1
    assert answer["result"]["status"] == "contraindicated" and "freshness.nonce_reused" in _rules(
        answer["result"]
    )

    # A crash instead: recover() at the restart.
    c = make("crash")
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    c.log.store.put_results = lambda *a, **k: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error"))  # type: ignore[method-assign]
    assert c._submit(raw)[0] == 503
    restarted = make("crash")
    assert restarted.recover() == 1
    kept = json.loads(restarted.log.store.result(0) or "null")
    assert kept["status"] in {"affirming", "warning"} and _rules(kept) == []


def test_a_trusted_node_in_a_flooded_network_is_not_refused(collector: Any, tmp_path: Path) -> None:
    """Its /24 spent its refusals (forgeries, junk): the trusted node's own envelope is still logged.
    Forgeries naming the trusted key spend that key's own refusal budget, not the network's."""
    from datetime import UTC, datetime

    from tests.conftest import trusted_node

    _, db, _, trust_path = collector
    node = trusted_node()
    node.trust.save(trust_path)
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--refusals", "2", "--policy", "none")
    try:
        for _ in range(2):
            assert http("POST", f"{base}/v1/manifests", b"junk")[0] == 400
        assert http("POST", f"{base}/v1/manifests", b"junk")[0] == 429  # the network's budget is spent
        status, body = http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(now=datetime.now(UTC))))
        assert status == 200, body
        forged = json.loads(node.envelope(node.manifest(now=datetime.now(UTC))))
        forged["signatures"][0]["sig"] = forged["signatures"][0]["sig"][:-4] + "AAA="
        raw = (json.dumps(forged, separators=(",", ":")) + "\n").encode()
        assert [http("POST", f"{base}/v1/manifests", raw)[0] for _ in range(3)] == [403, 403, 429]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_a_daemon_holds_its_last_checkpoint_and_refuses_a_forked_log(tmp_path: Path, make_daemon: MakeDaemon) -> None:
    """F7: a daemon delivers to a collector and keeps the signed checkpoint it verified (in its state
    database). The operator then serves, at the same address and under the same key, a log forked
    from another history: the daemon's next push is logged and its inclusion proof verifies in
    that log, but the new checkpoint is not consistent with the one held. Loudly (metric, log
    line) and not delivered, also after a restart of the daemon (the checkpoint was persisted)."""
    import socket
    import sqlite3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    honest = Log.init(tmp_path / "honest.db", "example.com/collector", key)
    vkey = honest.store.meta("verifier_key")
    honest.store.close()
    forked = Log.init(tmp_path / "forked.db", "example.com/collector", key)
    forked.append([f"another history {i}\n".encode() for i in range(4)])
    forked.store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    dp = make_daemon(extra=f'metrics = "127.0.0.1:{metrics_port}"')
    TrustStore().with_key(dp.key.public).save(tmp_path / "trust.json")
    dp.config.write_text(dp.config.read_text() + f'\n[collector]\nurl = "http://127.0.0.1:{port}/v1/manifests"\n'
                         f'max_backoff_s = 1\nallow_insecure_http = true\nlog_key = "{vkey}"\n')
    chain = dp.dir / "state" / "chain.sqlite"

    def inconsistencies() -> float:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        except OSError:
            return 0.0
        for line in text.splitlines():
            if line.startswith('attest_daemon_errors_total{kind="log_inconsistent"}'):
                return float(line.split()[-1])
        return 0.0

    proc, _ = serve(tmp_path / "honest.db", tmp_path / "trust.json", tmp_path / "log.key", "--listen", f"127.0.0.1:{port}")
    try:
        dp.start()
        with dp.client() as c:
            for i in range(3):
                sign(c, f"job-{i}")
            deadline = time.monotonic() + 60
            while c.status()["undelivered"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.status()["undelivered"] == 0
        held = sqlite3.connect(chain).execute("SELECT note FROM log_checkpoint").fetchone()[0]
        assert open_checkpoint(held, "example.com/collector", Log.open(tmp_path / "honest.db").public).size == 3
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    proc, _ = serve(tmp_path / "forked.db", tmp_path / "trust.json", tmp_path / "log.key", "--listen", f"127.0.0.1:{port}")
    try:
        with dp.client() as c:
            sign(c, "job-after-the-fork")
            deadline = time.monotonic() + 60
            while inconsistencies() < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert inconsistencies() >= 1
            assert c.status()["undelivered"] == 1
        assert Log.open(tmp_path / "forked.db").size == 5  # the collector did log it: a 200 is not a delivery
        _, out, err = dp.stop()
        assert "log inconsistent" in out + err and "not consistent" in out + err
        assert sqlite3.connect(chain).execute("SELECT note FROM log_checkpoint").fetchone()[0] == held
        dp.start()  # the held checkpoint survives a restart: still refused
        deadline = time.monotonic() + 60
        while inconsistencies() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        with dp.client() as c:
            assert inconsistencies() >= 1 and c.status()["undelivered"] == 1
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    # Back on the honest log (the fork is gone): the push is delivered, consistent with the held one.
    proc, _ = serve(tmp_path / "honest.db", tmp_path / "trust.json", tmp_path / "log.key", "--listen", f"127.0.0.1:{port}")
    try:
        with dp.client() as c:
            deadline = time.monotonic() + 60
            while c.status()["undelivered"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.status()["undelivered"] == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert "Traceback" not in dp.stop()[2]


def test_two_fork_branches_at_two_collectors_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collector B judges one branch of a fork while collector A logs the other, start to finish: both
    were judged against the same head, but only A's moves it; B's commit finds the head moved and B's
    verdict is judged again against it (a fork), not affirming with its head write silently dropped."""
    from datetime import UTC, datetime

    from attest.log import collector as collector_mod
    from attest.log.collector import Collector
    from attest.replay import SqliteVerifierState
    from attest.verify import VerifyOptions
    from tests.conftest import fork_branches, trusted_node

    node = trusted_node()
    Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate()).store.close()

    def make() -> Collector:
        return Collector(Log.open(tmp_path / "log.db"), node.trust, state=SqliteVerifierState(tmp_path / "state.db"),
                         policy=None, options=VerifyOptions())

    a, b = make(), make()
    first, branch_a, branch_b = fork_branches(node, now=datetime.now(UTC))
    assert a._submit(node.envelope(first))[1]["result"]["status"] in {"affirming", "warning"}
    real = collector_mod.verify_and_open
    interjected: list[tuple[int, dict[str, Any]]] = []

    def verify(*args: Any, **kw: Any) -> Any:
        judged = real(*args, **kw)
        if not interjected:  # B has judged branch B: A takes branch A, start to finish, before B commits
            interjected.append((0, {}))
            interjected[0] = a._submit(node.envelope(branch_a))
        return judged

    monkeypatch.setattr(collector_mod, "verify_and_open", verify)
    code_b, answer_b = b._submit(node.envelope(branch_b))
    code_a, answer_a = interjected[0]
    assert code_a == 200 and answer_a["result"]["status"] in {"affirming", "warning"}
    assert code_b == 200 and answer_b["result"]["status"] == "contraindicated"
    assert "chain.fork" in [f["rule"] for f in answer_b["result"]["findings"]]
    stored = json.loads(b.log.store.result(answer_b["leaf_index"]) or "null")
    assert stored["status"] == "contraindicated"
