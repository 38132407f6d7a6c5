"""Group commit in the collector: envelopes judged together, logged in one append, answered once durable.

Every group is judged as if its envelopes had come one by one (a replay, a chain step and a fork
within one group are the same verdicts), a failed commit fails every envelope of the group, and no
entry is lost or duplicated, on SQLite and on PostgreSQL, in process and through real collectors.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.log import Log
from attest.log import collector as collector_mod
from attest.log.collector import Collector
from attest.model.manifest import WorkloadManifest
from attest.replay import SqliteVerifierState
from attest.verify import VerifyOptions
from tests.conftest import OPERATOR, Node, fork_branches, trusted_node
from tests.log.test_collector import http, serve

Answer = tuple[int, dict[str, Any]]


def _fleet() -> tuple[Node, Node, TrustStore]:
    a, b = trusted_node(), trusted_node()
    b.host = "gpu-b02"
    trust = a.trust.with_key(b.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    return a, b, trust


def _twin(node: Node, manifest: WorkloadManifest, job_id: str) -> bytes:
    """Another manifest with ``manifest``'s nonce (a replay of it in other bytes)."""
    obj = manifest.to_obj()
    obj["job"]["id"] = job_id
    return node.envelope(WorkloadManifest.from_obj(obj))


def _tampered(raw: bytes) -> bytes:
    env = json.loads(raw)
    sig = env["signatures"][0]["sig"]
    env["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    return (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()


def attack_group() -> tuple[TrustStore, list[bytes]]:
    """One group: two nodes' chains, the same bytes twice, a nonce used twice, a fork, a forgery, garbage."""
    a, b, trust = _fleet()
    now = datetime.now(UTC)
    a1 = a.manifest(now=now, chain=True)
    a2 = a.manifest(now=now, chain=True)
    b1, fork_1, fork_2 = fork_branches(b, now=now)
    a3 = a.manifest(now=now, chain=True)
    raws = [
        a.envelope(a1),
        b.envelope(b1),
        a.envelope(a2),  # A's chain goes on within the group
        a.envelope(a2),  # the same bytes again in the same group: its duplicate
        _twin(a, a2, "slurm-replayed"),  # A2's nonce in other bytes: a replay within the group
        b.envelope(fork_1),
        b.envelope(fork_2),  # a second manifest after B1 at the same sequence: a fork within the group
        _tampered(a.envelope(a3)),  # a forgery naming a trusted key: refused, holds nothing
        b"not an envelope",
        a.envelope(a3),  # A's chain goes on after all of that
    ]
    return trust, raws


def _summary(answers: list[Answer]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for code, body in answers:
        result = body.get("result") or {}
        rules = sorted(f["rule"] for f in result.get("findings", []))
        out.append((code, body.get("duplicate"), body.get("leaf_index"), result.get("status"), rules))
    return out


Make = Callable[[str, TrustStore], Collector]


@pytest.fixture(params=["sqlite", "postgresql"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    """A collector on a fresh log of that kind, with its state where ``attest collector serve`` keeps it."""
    if request.param == "sqlite":

        def sqlite_collector(name: str, trust: TrustStore) -> Collector:
            path = tmp_path / f"{name}.db"
            if not path.exists():
                Log.init(path, "example.com/group", SigningKey.generate()).store.close()
            return Collector(Log.open(path), trust, state=collector_mod.open_state(str(path), None),
                             policy=None, options=VerifyOptions())

        return sqlite_collector
    server: str = request.getfixturevalue("postgres_server")
    import psycopg

    urls: dict[str, str] = {}

    def pg_collector(name: str, trust: TrustStore) -> Collector:
        if name not in urls:
            db = f"t_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {db}")
            urls[name] = f"{server}/{db}"
            Log.init(urls[name], "example.com/group", SigningKey.generate()).store.close()
        return Collector(Log.open(urls[name]), trust, state=collector_mod.open_state(urls[name], None),
                         policy=None, options=VerifyOptions())

    return pg_collector


def test_a_group_is_judged_as_its_envelopes_one_by_one(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replays, chains, forks, duplicates and refusals within one group get exactly the answers
    they get one at a time; the group is one append (one integration time)."""
    trust, raws = attack_group()
    alone = make("alone", trust)
    one_by_one = [alone._submit(raw) for raw in raws]
    grouped_collector = make("grouped", trust)
    real, judged = collector_mod.verify_and_open, [0]

    def counting(*args: Any, **kw: Any) -> Any:
        judged[0] += 1
        return real(*args, **kw)

    monkeypatch.setattr(collector_mod, "verify_and_open", counting)
    grouped = grouped_collector._submit_group(raws)
    monkeypatch.undo()
    # Each envelope judged once (the same bytes again not at all): the group's commit was not
    # refused and judged again one by one.
    assert judged[0] == len(raws) - 1
    assert _summary(grouped) == _summary(one_by_one)
    s = _summary(grouped)
    # What the attacks got, spelled out (the comparison alone would pass if both paths were wrong).
    assert [x[0] for x in s] == [200, 200, 200, 200, 200, 200, 200, 403, 400, 200]
    assert [x[2] for x in s] == [0, 1, 2, 2, 3, 4, 5, None, None, 6]
    assert s[3][1] is True and not any(x[1] for i, x in enumerate(s) if i != 3 and x[0] == 200)
    assert s[2][3] in {"affirming", "warning"} and not [r for r in s[2][4] if r.startswith(("chain", "freshness"))]
    assert s[4][3] == "contraindicated" and "freshness.nonce_reused" in s[4][4]
    assert s[6][3] == "contraindicated" and "chain.fork" in s[6][4]
    assert s[9][3] in {"affirming", "warning"} and not [r for r in s[9][4] if r.startswith(("chain", "freshness"))]
    log = grouped_collector.log
    assert log.size == 7 and log.verify() == []
    assert len({log.store.integrated_at(i) for i in range(log.size)}) == 1  # one append
    for code, body in grouped:
        if code == 200:
            assert json.loads(log.store.result(body["leaf_index"]) or "null") == body["result"]
    # What the group recorded is what one by one recorded: pushed again alone, every envelope is
    # a duplicate with its first verdict; the replay twin is not taken for a new submission.
    again = [grouped_collector._submit(raw) for raw in raws]
    assert _summary(again) == _summary([alone._submit(raw) for raw in raws])
    assert log.size == 7


def test_a_failed_append_fails_the_whole_group_and_nothing_is_recorded(tmp_path: Path) -> None:
    trust, raws = attack_group()
    c = Collector(Log.open(_init(tmp_path / "log.db")), trust, state=SqliteVerifierState(tmp_path / "s.db"),
                  policy=None, options=VerifyOptions())
    real = c.log.store.append

    def full(entries: list[bytes], evidence: Any = None) -> Any:
        c.log.store.append = real  # type: ignore[method-assign]
        raise InputError("disk full")

    c.log.store.append = full  # type: ignore[method-assign]
    failed = c._submit_group(raws)
    codes = [code for code, _ in failed]
    assert codes == [503, 503, 503, 503, 503, 503, 503, 403, 400, 503]
    assert all("nothing was recorded" in body["error"] for code, body in failed if code == 503)
    assert c.log.size == 0
    # The retries are judged as the originals were: as if the failed group had never come.
    fresh = Collector(Log.open(_init(tmp_path / "fresh.db")), trust, state=SqliteVerifierState(tmp_path / "f.db"),
                      policy=None, options=VerifyOptions())
    assert _summary(c._submit_group(raws)) == _summary(fresh._submit_group(raws))
    assert c.log.size == 7 and c.log.verify() == []


def test_a_failed_verdict_commit_fails_the_group_and_the_retry_keeps_its_entries(tmp_path: Path) -> None:
    """The group is logged but its verdicts cannot be stored: nobody is told "logged" with a verdict;
    the retry finds the entries (no second copy) and judges each as the original."""
    trust, raws = attack_group()
    c = Collector(Log.open(_init(tmp_path / "log.db")), trust, state=SqliteVerifierState(tmp_path / "s.db"),
                  policy=None, options=VerifyOptions())
    real = c.log.store.put_results

    def locked(rows: list[tuple[int, str, str]]) -> None:
        c.log.store.put_results = real  # type: ignore[method-assign]
        raise sqlite3.OperationalError("database is locked")

    c.log.store.put_results = locked  # type: ignore[method-assign]
    failed = c._submit_group(raws)
    assert [code for code, _ in failed] == [503, 503, 503, 503, 503, 503, 503, 403, 400, 503]
    assert all("logged as entry" in body["error"] for code, body in failed if code == 503)
    assert c.log.size == 7 and all(c.log.store.result(i) is None for i in range(7))
    retried = _summary(c._submit_group(raws))
    fresh = Collector(Log.open(_init(tmp_path / "fresh.db")), trust, state=SqliteVerifierState(tmp_path / "f.db"),
                      policy=None, options=VerifyOptions())
    expected = _summary(fresh._submit_group(raws))
    # The same places and statuses; each retried entry is answered as the logged original (a
    # duplicate), the chains clean, the replay and the fork still what they were.
    assert [x[0] for x in retried] == [x[0] for x in expected]
    assert [x[2:4] for x in retried] == [x[2:4] for x in expected]
    assert [x[1] for x in retried if x[0] == 200] == [True] * 8
    for i in (0, 1, 2, 3, 5, 9):
        assert not [r for r in retried[i][4] if r.startswith(("chain", "freshness"))], retried[i]
    assert "freshness.nonce_reused" in retried[4][4] and "chain.fork" in retried[6][4]
    assert c.log.size == 7 and c.log.verify() == []


def test_a_group_that_races_another_collector_is_judged_again_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collector A logs one branch of a fork while B judges a group holding the other branch and
    another node's manifest: B's group commit finds the head moved and records nothing; each
    envelope is then judged again against what is recorded: the branch is a fork, and the other
    node's two manifests are recorded once, clean (not judged against a head the group half-recorded)."""
    a_node, b_node, trust = _fleet()
    _init(tmp_path / "log.db")

    def make() -> Collector:
        return Collector(Log.open(tmp_path / "log.db"), trust, state=SqliteVerifierState(tmp_path / "state.db"),
                         policy=None, options=VerifyOptions())

    a, b = make(), make()
    now = datetime.now(UTC)
    first, branch_a, branch_b = fork_branches(a_node, now=now)
    assert a._submit(a_node.envelope(first))[1]["result"]["status"] in {"affirming", "warning"}
    others = [b_node.envelope(b_node.manifest(now=now, chain=True)) for _ in range(2)]
    real = collector_mod.verify_and_open
    interjected: list[Answer] = []

    def verify(*args: Any, **kw: Any) -> Any:
        judged = real(*args, **kw)
        if not interjected:  # B has judged branch B: A takes branch A, start to finish
            interjected.append((0, {}))
            interjected[0] = a._submit(a_node.envelope(branch_a))
        return judged

    monkeypatch.setattr(collector_mod, "verify_and_open", verify)
    got = b._submit_group([a_node.envelope(branch_b), *others])
    assert interjected[0][0] == 200 and interjected[0][1]["result"]["status"] in {"affirming", "warning"}
    (code_b, answer_b), *rest = got
    assert code_b == 200 and answer_b["result"]["status"] == "contraindicated"
    assert "chain.fork" in [f["rule"] for f in answer_b["result"]["findings"]]
    for code_o, answer_o in rest:  # (judged against a head half-recorded by the group: a rollback)
        assert code_o == 200 and answer_o["result"]["status"] in {"affirming", "warning"}
        assert not [f for f in answer_o["result"]["findings"] if f["rule"].startswith(("chain", "freshness"))]
    for _, answer in got:
        assert json.loads(b.log.store.result(answer["leaf_index"]) or "null") == answer["result"]
    assert b.log.size == 5 and b.log.verify() == []


def _init(path: Path) -> Path:
    Log.init(path, "example.com/group", SigningKey.generate()).store.close()
    return path


def _push_all(base: str, jobs: list[list[bytes]]) -> list[list[Answer]]:
    """Each list pushed in order on a thread of its own, all threads at once."""
    out: list[list[Answer]] = [[] for _ in jobs]
    start = threading.Barrier(len(jobs))

    def run(k: int) -> None:
        start.wait()
        for raw in jobs[k]:
            code, body = http("POST", f"{base}/v1/manifests", raw)
            out[k].append((code, json.loads(body)))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _fleet_jobs(nodes: int, per_node: int) -> tuple[TrustStore, list[list[bytes]], list[bytes]]:
    """Per node a chain, then a replay twin of its second manifest; and one shared envelope, pushed by all."""
    trust = TrustStore()
    jobs: list[list[bytes]] = []
    now = datetime.now(UTC)
    for k in range(nodes):
        node = trusted_node()
        node.host = f"gpu-{k:03d}"
        trust = trust.with_key(node.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
        chain = [node.envelope(node.manifest(now=now, chain=True)) for _ in range(per_node)]
        jobs.append([*chain, _twin(node, node.history[1], f"slurm-replay-{k}")])
    shared = jobs[0][0]
    return trust, jobs, [shared]


def _proves(log: Log, body: dict[str, Any]) -> None:
    """The answer's inclusion proof verifies, for its entry's bytes, against the log's root at its size."""
    from attest.log.merkle import leaf_hash, verify_inclusion

    proof = body["inclusion"]
    assert proof["leaf_index"] == body["leaf_index"] and bytes.fromhex(proof["leaf_hash"]) == leaf_hash(
        log.store.entry(body["leaf_index"])
    )
    assert bytes.fromhex(proof["root_hash"]) == log.root(proof["tree_size"])
    assert verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
                            [bytes.fromhex(h) for h in proof["path"]], bytes.fromhex(proof["root_hash"]))


def _check_fleet(answers: list[list[Answer]], jobs: list[list[bytes]], log: Log) -> None:
    per_node = len(jobs[0]) - 1
    for node_answers in answers:
        assert [code for code, _ in node_answers] == [200] * len(node_answers)
        for _, body in node_answers[:per_node]:
            assert body["result"]["status"] in {"affirming", "warning"}, body["result"]
            assert not [f for f in body["result"]["findings"] if f["rule"].startswith(("chain", "freshness"))]
        replay = node_answers[per_node][1]["result"]
        assert replay["status"] == "contraindicated"
        assert "freshness.nonce_reused" in [f["rule"] for f in replay["findings"]]
    # Every envelope is logged exactly once, where its answer says, with the verdict it was told.
    distinct = {raw for job in jobs for raw in job}
    assert log.size == len(distinct) and log.verify() == []
    seen: dict[bytes, int] = {}
    for job, node_answers in zip(jobs, answers, strict=True):
        for raw, (_, body) in zip(job, node_answers, strict=True):
            assert log.store.entry(body["leaf_index"]) == raw
            assert seen.setdefault(raw, body["leaf_index"]) == body["leaf_index"]
            assert json.loads(log.store.result(body["leaf_index"]) or "null") == body["result"]
            _proves(log, body)
    assert sorted(set(seen.values())) == list(range(log.size))


@pytest.mark.parametrize("max_group", ["256", "1"])
def test_a_real_collector_under_concurrent_pushes_logs_each_envelope_once(tmp_path: Path, max_group: str) -> None:
    """Twelve nodes push their chains at once (and one of them also pushes another node's first
    envelope at the same time): every answer is 200, every chain clean, every replay a replay,
    every envelope logged once, with group commit and one at a time alike."""
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(tmp_path / "audit.db", "example.com/group", key).store.close()
    trust, jobs, shared = _fleet_jobs(12, 4)
    trust.save(tmp_path / "trust.json")
    jobs[1] = [*shared, *jobs[1]]  # the same bytes from two connections at once
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key", "--max-group", max_group)
    try:
        answers = _push_all(base, jobs)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    dup = answers[1].pop(0)
    jobs[1] = jobs[1][1:]
    assert dup[0] == 200 and dup[1]["leaf_index"] == answers[0][0][1]["leaf_index"]
    assert [dup[1]["duplicate"], answers[0][0][1]["duplicate"]].count(True) == 1
    _check_fleet(answers, jobs, Log.open(tmp_path / "audit.db"))


def test_two_real_collectors_on_one_postgresql_log_under_concurrent_pushes(postgres_url: str, tmp_path: Path) -> None:
    """The fleet set-up with group commit: two collectors on one PostgreSQL log, each node's chain
    alternating between them, pushed all at once: one chain per node, every replay a replay,
    every envelope logged once."""
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(postgres_url, "example.com/group", key).store.close()
    trust, jobs, _ = _fleet_jobs(8, 4)
    trust.save(tmp_path / "trust.json")
    a, base_a = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key")
    b, base_b = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key")
    out: list[list[Answer]] = [[] for _ in jobs]
    start = threading.Barrier(len(jobs))

    def run(k: int) -> None:
        start.wait()
        for i, raw in enumerate(jobs[k]):
            code, body = http("POST", f"{(base_a, base_b)[(k + i) % 2]}/v1/manifests", raw)
            out[k].append((code, json.loads(body)))

    try:
        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.communicate(timeout=10)
    _check_fleet(out, jobs, Log.open(postgres_url))


def test_max_group_is_checked(tmp_path: Path, cli: Any) -> None:
    for bad in ("0", "-3", "10001"):
        got = cli("collector", "serve", "--log", str(tmp_path / "x.db"), "--trust", "t.json", "--max-group", bad)
        assert got.returncode == 2 and "--max-group" in got.stderr and "Traceback" not in got.stderr
    got = cli("collector", "serve", "--log", "x.db", "--trust", "t.json", "--max-group", "many")
    assert got.returncode == 2 and "Traceback" not in got.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_atomic_record_that_races_records_nothing(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The group's state commit: a nonce another writer recorded first rolls back all of it
    (nonces, heads, submissions), where a plain record keeps what was fresh."""
    from attest.replay import ChainHead

    if kind == "sqlite":
        one: Any = SqliteVerifierState(tmp_path / "s.db")
        two: Any = SqliteVerifierState(tmp_path / "s.db")
    else:
        from attest.log.postgres import PostgresLog, PostgresVerifierState

        url: str = request.getfixturevalue("postgres_url")
        PostgresLog(url, create=True).close()
        one, two = PostgresVerifierState(url), PostgresVerifierState(url)
    at = datetime(2026, 11, 29, 10, tzinfo=UTC)
    head = ChainHead(1, "sha256:" + "1" * 64)
    assert one.record([("k1", "n1", at)], [], []) is True
    rows = [(b"\x01" * 32, 7)]
    assert two.record([("k2", "n2", at), ("k1", "n1", at)], [("k2", head)], rows, {"k2": None}, atomic=True) is False
    assert not one.seen("k2", "n2") and one.head("k2") is None and one.submission(b"\x01" * 32) is None
    assert two.record([("k2", "n2", at), ("k1", "n1", at)], [("k2", head)], rows, {"k2": None}) is False
    assert one.seen("k2", "n2") and one.head("k2") == head and one.submission(b"\x01" * 32) == 7
    # A head another writer moved is a race too: nothing of the call is kept.
    assert two.record([("k3", "n3", at)], [("k2", ChainHead(2, "sha256:" + "2" * 64))], [], {"k2": None}, atomic=True) is False
    assert not one.seen("k3", "n3") and one.head("k2") == head
    one.close()
    two.close()


def _served_group(
    tmp_path: Path, raws: list[bytes], trust: TrustStore, fail_append: bool = False, logged: tuple[bytes, ...] = ()
) -> tuple[Collector, list[Answer]]:
    """POST ``raws`` at once over real sockets while a commit holds the collector; release it; their answers."""
    import asyncio

    import aiohttp
    from aiohttp import web

    c = Collector(Log.open(_init(tmp_path / "served.db")), trust, state=SqliteVerifierState(tmp_path / "served-state.db"),
                  policy=None, options=VerifyOptions())
    for raw in logged:  # logged before
        assert c._submit(raw)[0] == 200
    if fail_append:
        def full(entries: list[bytes], evidence: Any = None) -> Any:
            raise InputError("disk full")

        c.log.store.append = full  # type: ignore[method-assign]

    async def main() -> list[Answer]:
        runner = web.AppRunner(c.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:

                async def post(raw: bytes) -> Answer:
                    async with session.post(f"http://127.0.0.1:{port}/v1/manifests", data=raw) as resp:
                        return resp.status, await resp.json()

                await c.lock.acquire()  # a group (or a checkpoint) is being committed
                tasks = [asyncio.create_task(post(raw)) for raw in raws]
                while len(c.queue) < len(raws):  # every body received and queued
                    await asyncio.sleep(0.01)
                c.lock.release()
                return list(await asyncio.gather(*tasks))
        finally:
            await runner.cleanup()

    return c, asyncio.run(main())


def test_requests_that_arrive_during_a_commit_are_logged_in_one_group_over_http(tmp_path: Path) -> None:
    """Through the HTTP front: envelopes that arrive while a commit holds the collector are
    logged in one append, each answered with its own entry and verdict."""
    trust, jobs, _ = _fleet_jobs(6, 2)
    raws = [job[0] for job in jobs]  # six nodes' first manifests (the order they arrive in is not known)
    c, answers = _served_group(tmp_path, raws, trust)
    assert [code for code, _ in answers] == [200] * 6
    log = c.log
    assert log.size == 6 and log.verify() == []
    assert len({log.store.integrated_at(i) for i in range(6)}) == 1  # one append for all six
    assert sorted(body["leaf_index"] for _, body in answers) == list(range(6))
    for raw, (_, body) in zip(raws, answers, strict=True):
        assert log.store.entry(body["leaf_index"]) == raw
        _proves(log, body)
        assert body["result"]["status"] in {"affirming", "warning"}
        assert not [f for f in body["result"]["findings"] if f["rule"].startswith(("chain", "freshness"))]


def test_a_group_that_cannot_be_logged_is_refused_to_every_request_over_http(tmp_path: Path) -> None:
    a, _, trust = _fleet()
    now = datetime.now(UTC)
    raws = [a.envelope(a.manifest(now=now, chain=True)) for _ in range(4)]
    c, answers = _served_group(tmp_path, raws, trust, fail_append=True)
    assert [code for code, _ in answers] == [503] * 4
    assert all("nothing was recorded" in body["error"] for _, body in answers)
    assert c.log.size == 0 and c.state.head(a.key.key_id) is None


def test_a_replay_and_a_fork_sent_at_once_over_http_are_caught_in_their_group(tmp_path: Path) -> None:
    """A manifest and its replay, and the two branches of a fork, all sent at the same moment and
    logged in one group: whichever arrived second of each pair is contraindicated, never both affirmed."""
    a, b, trust = _fleet()
    now = datetime.now(UTC)
    original = a.manifest(now=now, chain=True)
    first, branch_1, branch_2 = fork_branches(b, now=now)
    raws = [a.envelope(original), _twin(a, original, "slurm-replayed"), b.envelope(branch_1), b.envelope(branch_2)]
    c, answers = _served_group(tmp_path, raws, trust, logged=(b.envelope(first),))
    assert [code for code, _ in answers] == [200] * 4
    assert len({c.log.store.integrated_at(i) for i in range(1, 5)}) == 1  # one group
    for pair, rule in (((0, 1), "freshness.nonce_reused"), ((2, 3), "chain.fork")):
        results = [answers[i][1] for i in pair]
        caught = [r for r in results if rule in [f["rule"] for f in r["result"]["findings"]]]
        assert len(caught) == 1 and caught[0]["result"]["status"] == "contraindicated"
        other = next(r for r in results if r is not caught[0])
        assert other["result"]["status"] in {"affirming", "warning"}
        assert caught[0]["leaf_index"] > other["leaf_index"]  # the one logged second is the one caught


@pytest.mark.parametrize("fails", ["append", "verdicts"])
def test_the_retry_of_a_failed_groups_later_manifest_alone_is_judged_against_what_was_logged(
    fails: str, tmp_path: Path
) -> None:
    """A node's A1 and A2 fail in one group; A2's retry comes alone. If the append failed, A1 is not
    in the log: A2 does not continue a chain through it (a gap shows). If only the verdicts failed,
    A1 is logged: A2 continues its chain, clean."""
    a, _, trust = _fleet()
    c = Collector(Log.open(_init(tmp_path / "log.db")), trust, state=SqliteVerifierState(tmp_path / "s.db"),
                  policy=None, options=VerifyOptions())
    now = datetime.now(UTC)
    a0, a1, a2 = (a.envelope(a.manifest(now=now, chain=True)) for _ in range(3))
    assert c._submit(a0)[0] == 200
    name = "append" if fails == "append" else "put_results"
    real = getattr(c.log.store, name)

    def once(*args: Any) -> Any:
        setattr(c.log.store, name, real)
        raise sqlite3.OperationalError("disk I/O error") if fails == "verdicts" else InputError("disk full")

    setattr(c.log.store, name, once)
    assert [code for code, _ in c._submit_group([a1, a2])] == [503, 503]
    code, answer = c._submit(a2)
    assert code == 200
    chain = [f["rule"] for f in answer["result"]["findings"] if f["rule"].startswith("chain")]
    if fails == "append":
        assert chain and answer["result"]["status"] != "affirming" and c.log.size == 2
    else:
        assert chain == [] and answer["leaf_index"] == 2 and c.log.size == 3


def test_the_same_unauthenticated_bytes_twice_in_a_group_are_one_entry(tmp_path: Path) -> None:
    """With --accept-untrusted (labs), a stranger's envelope has no submission identity: the same
    bytes twice in one group are still one entry, the second answered as its duplicate."""
    a, _, trust = _fleet()
    stranger = trusted_node()  # not in ``trust``
    raw = stranger.envelope(stranger.manifest(now=datetime.now(UTC)))
    raws = [raw, a.envelope(a.manifest(now=datetime.now(UTC))), raw]

    def make(name: str) -> Collector:
        return Collector(Log.open(_init(tmp_path / f"{name}.db")), trust, state=SqliteVerifierState(tmp_path / f"{name}-s.db"),
                         policy=None, options=VerifyOptions(), accept_untrusted=True)

    alone = make("alone")
    grouped = make("grouped")
    got = grouped._submit_group(raws)
    assert _summary(got) == _summary([alone._submit(r) for r in raws])
    assert [x[1:3] for x in _summary(got)] == [(False, 0), (False, 1), (True, 0)]
    assert grouped.log.size == 2 and grouped.log.verify() == []


@pytest.mark.parametrize("refusal", ["append fails", "quota spent"])
def test_a_binding_the_collector_did_not_log_backs_no_heartbeat(tmp_path: Path, refusal: str) -> None:
    """A review of the change: judging a full binding kept its evidence in the collector's cache even
    when the envelope was then refused (503, 429); the node's next heartbeat, naming it by digest,
    was logged hardware-bound on evidence the log does not hold, which nobody could judge again."""
    from attest.hardware.binding import attach, evidence_digest, reference_binding
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from attest.log import collector as cm
    from tests.conftest import fresh_binding
    from tests.hardware.test_binding import options

    vendor = SimulatedCcBackend(tmp_path / "vendor")
    node = trusted_node()
    now = datetime.now(UTC)
    plain = node.manifest(now=now, chain=True)
    gpus = node.manifest(now=now).gpus
    binding = fresh_binding(gpus, node.key.public, vendor, at=now)
    full = node.manifest(now=now, chain=True, gpus=[g.to_obj() for g in attach(gpus, binding, node.key.key_id)])
    heartbeat = node.manifest(now=now, chain=True, gpus=[g.to_obj() for g in reference_binding(full.gpus)])
    Log.init(tmp_path / "log.db", "example.com/x", SigningKey.generate()).store.close()
    c = Collector(
        Log.open(tmp_path / "log.db"),
        node.trust,
        state=cm.open_state(str(tmp_path / "log.db"), None),
        policy=None,
        options=options(vendor),
        quota_per_minute=1 if refusal == "quota spent" else 600,
    )
    assert c._submit(node.envelope(plain))[0] == 200
    if refusal == "append fails":
        real = c.log.store.append

        def failing(entries: list[bytes], evidence: Any = None) -> Any:
            c.log.store.append = real  # type: ignore[method-assign]
            raise InputError("disk full")

        c.log.store.append = failing  # type: ignore[method-assign]
        assert c._submit(node.envelope(full))[0] == 503
    else:
        assert c._submit(node.envelope(full))[0] == 429
        c.quota.buckets.clear()  # a minute later
    code, body = c._submit(node.envelope(heartbeat))
    assert code == 200
    assert body["result"]["location_grade"] == "declared"  # not bound on evidence the log lacks
    assert any(f["rule"].startswith("hardware.cc.evidence") for f in body["result"]["findings"])
    assert all(not c.log.store.evidence_entries(evidence_digest(g.cc_evidence)) for g in full.gpus if g.cc_evidence)
