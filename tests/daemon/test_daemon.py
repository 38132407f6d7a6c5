"""The daemon as a real process: concurrency, kill -9, authorization, delivery, metrics, systemd, errors."""

from __future__ import annotations

import base64
import http.server
import itertools
import json
import os
import signal
import socket
import sqlite3
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from attest.crypto.trust import TrustStore
from attest.daemon.client import Client, DaemonError
from attest.log.merkle import MemoryTree, inclusion_path, leaf_hash
from attest.log.merkle import root as merkle_root
from attest.model.result import Status
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.verify import verify_many
from tests.daemon.fixtures import TENANT, DaemonProc, MakeDaemon, sign


def verify_chain(dp: DaemonProc) -> list[Any]:
    """Verify every spooled envelope as an auditor would, chain included."""
    trust = TrustStore().with_key(dp.key.public)
    files = sorted((dp.dir / "state" / "spool").glob("*.envelope.json"))
    items = [(f.name, f.read_bytes()) for f in files]
    results = verify_many(items, trust, now=datetime.now(UTC), nonces=MemoryNonceStore(), chains=MemoryChainStore())
    bad = [(r.source, [f.rule for f in r.findings if f.severity.value != "info"]) for r in results if r.status is not Status.AFFIRMING]
    assert not bad, bad[:5]
    return results


def rows(dp: DaemonProc) -> list[tuple[int, str]]:
    db = sqlite3.connect(dp.dir / "state" / "chain.sqlite")
    try:
        return [(int(a), str(b)) for a, b in db.execute("SELECT seq, digest FROM manifests ORDER BY seq")]
    finally:
        db.close()


@pytest.mark.slow
def test_2000_requests_from_50_concurrent_clients(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()

    def worker(w: int) -> list[tuple[int, str]]:
        out = []
        with dp.client() as c:
            for i in range(40):
                reply = sign(c, f"job-{w}-{i}", gpus=[i % 8])
                out.append((reply["sequence"], reply["digest"]))
        return out

    with ThreadPoolExecutor(50) as pool:
        acked = [x for chunk in pool.map(worker, range(50)) for x in chunk]
    assert len(acked) == 2000
    assert sorted(s for s, _ in acked) == list(range(2000))  # every number once, none skipped
    assert dict(acked) == dict(rows(dp))
    code, out, _ = dp.stop()
    assert code == 0 and '"msg": "stopped"' in out
    assert not Path(dp.sock).exists()  # graceful shutdown removes its socket
    results = verify_chain(dp)
    assert len(results) == 2000


@pytest.mark.slow
def test_kill_9_loses_nothing_acknowledged_and_reuses_no_sequence(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()
    acked: list[tuple[int, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w: int) -> None:
        c = dp.client()
        i = 0
        while not stop.is_set():
            try:
                reply = sign(c, f"job-{w}-{i}")
            except DaemonError:
                return  # the daemon died under us: this request was not acknowledged
            with lock:
                acked.append((reply["sequence"], reply["digest"]))
            i += 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(20)]
    for t in threads:
        t.start()
    while len(acked) < 300:
        time.sleep(0.01)
    assert dp.proc is not None
    dp.proc.kill()  # SIGKILL, mid-stream
    dp.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    before = dict(rows(dp))
    assert all(before.get(seq) == digest for seq, digest in acked), "an acknowledged manifest was lost"
    # Restart on the same state: the chain continues where the database says.
    dp.start()
    with dp.client() as c:
        after = [sign(c, f"after-{i}") for i in range(20)]
    assert after[0]["sequence"] == max(before) + 1
    dp.stop()
    final = rows(dp)
    assert [s for s, _ in final] == list(range(len(final)))  # contiguous, no reuse
    assert all(dict(final)[seq] == digest for seq, digest in acked)
    verify_chain(dp)  # previous links hold across the crash; spool rewritten where it lagged


def test_a_uid_not_in_the_config_is_refused(make_daemon: MakeDaemon) -> None:
    dp = make_daemon(uids=[os.getuid() + 4242])
    dp.start()
    with dp.client() as c, pytest.raises(DaemonError, match=f"uid {os.getuid()} .* may not use this daemon"):
        c.status()
    code, out, _ = dp.stop()
    assert code == 0 and "refused a caller" in out


def test_requests_status_last_inventory_and_bad_input(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()
    with dp.client() as c:
        first = sign(c, "j1", gpus=["0", 1])
        end = sign(c, "j1", "end")
        assert (first["sequence"], end["sequence"]) == (0, 1)
        body = json.loads(end["envelope"])
        assert body["payloadType"] == "application/vnd.in-toto+json"
        st = c.status()
        assert st["sequence"] == 1 and st["head"] == end["digest"] and st["gpus"] == 8
        assert [m["sequence"] for m in c.last(5)] == [1, 0]
        assert len(c.inventory()["gpus"]) == 8
        for bad, message in [
            ({"op": "sign", "phase": "start", "job": {"id": "x", "scheduler": "s"}, "tenant": {"legal_name": "X"}}, "headquarters_country"),
            ({"op": "sign", "phase": "middle", "job": {"id": "x", "scheduler": "s"}, "tenant": TENANT}, "phase"),
            ({"op": "sign", "phase": "start", "job": {"id": "x", "scheduler": "s"}, "tenant": TENANT, "gpus": ["9"]}, "no GPU '9'"),
            ({"op": "launch"}, "unknown op"),
            ({"op": "last", "n": 0}, "n must be"),
            ({"op": "last", "n": True}, "n must be"),
        ]:
            with pytest.raises(DaemonError, match=message):
                c.request(bad)
        assert c.status()["sequence"] == 1  # refused requests use no sequence number
    with socket.socket(socket.AF_UNIX) as s:  # not JSON at all
        s.connect(dp.sock)
        s.sendall(b"hello\n")
        reply = json.loads(s.recv(4096))
        assert reply["ok"] is False and "request is not valid JSON" in reply["error"]
        s.sendall(b'{"op": "status", "op": "sign"}\n')  # duplicate keys: refused, as everywhere
        reply = json.loads(s.recv(4096))
        assert reply["ok"] is False and "duplicate JSON key 'op'" in reply["error"]
    dp.stop()
    assert Path(end["path"]).read_text() == end["envelope"]  # the spool copy follows the reply
    verify_chain(dp)


def test_heartbeats_are_signed_on_the_same_chain(make_daemon: MakeDaemon) -> None:
    dp = make_daemon(heartbeat=0.2)
    dp.start()
    time.sleep(1.0)
    with dp.client() as c:
        sign(c, "j1")
        st = c.status()
        assert st["last_heartbeat"] is not None
        phases = {m["phase"] for m in c.last(20)}
    assert {"heartbeat", "start"} <= phases
    dp.stop()
    verify_chain(dp)


class Collector(http.server.BaseHTTPRequestHandler):
    """A local collector that fails its first two requests, then accepts."""

    received: ClassVar[list[tuple[int, bytes]]] = []
    calls = 0
    tree = MemoryTree()
    lie = False

    def do_POST(self) -> None:
        type(self).calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).calls <= 2:
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append((int(self.headers["X-Attest-Sequence"]), body))
        index = type(self).tree.append(body)
        size = type(self).tree.size
        proof = {"leaf_index": index, "tree_size": size, "leaf_hash": leaf_hash(body).hex(),
                 "root_hash": merkle_root(type(self).tree.node, size).hex(),
                 "path": [h.hex() for h in inclusion_path(type(self).tree.node, index, size)]}
        if type(self).lie:  # a 200 that logged nothing: the proof is for other bytes
            proof["leaf_hash"] = leaf_hash(b"other").hex()
        answer = json.dumps({"leaf_index": index, "leaf_hash": proof["leaf_hash"], "inclusion": proof}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


class LyingCollector(Collector):
    """Answers 200 with a proof that is not of the pushed envelope."""

    received: ClassVar[list[tuple[int, bytes]]] = []
    calls = 0
    tree = MemoryTree()
    lie = True


def test_a_200_without_a_proof_of_the_envelope_is_not_a_delivery(make_daemon: MakeDaemon) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LyingCollector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/manifests"
        dp = make_daemon(tail=f'\n[collector]\nurl = "{url}"\ntimeout_s = 2\nmax_backoff_s = 1\nunconfirmed_delivery = true\nallow_insecure_http = true\n')
        dp.start()
        with dp.client() as c:
            sign(c, "j0")
            deadline = time.monotonic() + 30
            while len(LyingCollector.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(LyingCollector.received) >= 2  # answered 200 and tried again: not delivered
            assert c.status()["undelivered"] == 1
        dp.stop()
    finally:
        server.shutdown()


def test_push_to_a_collector_with_retries(make_daemon: MakeDaemon) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/manifests"
        dp = make_daemon(tail=f'\n[collector]\nurl = "{url}"\ntimeout_s = 2\nmax_backoff_s = 1\nunconfirmed_delivery = true\nallow_insecure_http = true\n')
        dp.start()
        with dp.client() as c:
            signed = [sign(c, f"j{i}") for i in range(5)]
            deadline = time.monotonic() + 30
            while len(Collector.received) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert c.status()["undelivered"] == 0
        assert [s for s, _ in Collector.received] == [0, 1, 2, 3, 4]
        assert [b.decode() for _, b in Collector.received] == [r["envelope"] for r in signed]
        assert Collector.calls >= 7  # two refusals, retried with backoff
        dp.stop()
    finally:
        server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_and_systemd_notify(make_daemon: MakeDaemon, tmp_path: Path) -> None:
    port = free_port()
    dp = make_daemon(heartbeat=0.3, extra=f'metrics = "127.0.0.1:{port}"')
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(10)
    dp.env = {"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "200000"}
    dp.start()
    messages = set()
    while not {"READY=1", "WATCHDOG=1"} <= messages:
        messages.update(notify.recv(4096).decode().split("\n"))
    with dp.client() as c:
        sign(c, "j1")
        with pytest.raises(DaemonError):
            c.request({"op": "nope"})
    time.sleep(0.5)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'attest_daemon_manifests_signed_total{phase="start"} 1.0' in text
    assert 'attest_daemon_errors_total{kind="request"} 1.0' in text
    assert "attest_daemon_sign_latency_seconds_bucket" in text
    assert 'attest_daemon_gpu_last_heartbeat_timestamp_seconds{hostname="gpu-a17"' in text
    assert "job" not in text.split("attest_daemon_manifests_signed_total")[1].split("\n")[0]  # no job ids as labels
    dp.stop()
    rest = []
    notify.settimeout(0.5)
    try:
        while True:
            rest.append(notify.recv(4096).decode())
    except TimeoutError:
        pass
    assert "STOPPING=1" in rest
    notify.close()


def test_clear_errors_for_bad_setups(make_daemon: MakeDaemon, tmp_path: Path) -> None:
    dp = make_daemon()
    dp.start()
    second = make_daemon()
    second.config.write_text(dp.config.read_text().replace(str(dp.dir / "state"), str(second.dir / "state")))
    proc = second.start(wait=False)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "in use by a running daemon" in err and "Traceback" not in err
    dp.stop()
    # A stale socket file (daemon killed) is replaced; a regular file is not.
    dp.start()
    assert dp.proc is not None
    dp.proc.kill()
    dp.proc.wait()
    dp.start()
    dp.stop()
    Path(dp.sock).write_text("not a socket")
    proc = dp.start(wait=False)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "exists and is not a socket" in err
    for text, message in [
        (dp.config.read_text().replace(str(dp.dir / "node.key"), str(tmp_path / "missing.key")), "missing.key"),
        (dp.config.read_text() + "\nfrobnicate = 1\n", "frobnicate"),
        ("key = ", "not valid TOML"),
        (dp.config.read_text().replace('country = "MY"', 'country = "ZZ"', 1), "site.country"),
    ]:
        dp.config.write_text(text)
        proc = dp.start(wait=False)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2 and message in err and "Traceback" not in err, err


def test_client_without_a_daemon(tmp_path: Path) -> None:
    with pytest.raises(DaemonError, match="no daemon socket"):
        Client(str(tmp_path / "none.sock")).status()


def test_sigint_also_stops_cleanly(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()
    code, _, _ = dp.stop(signal.SIGINT)
    assert code == 0 and not Path(dp.sock).exists()


def test_stopping_with_clients_connected_is_quiet(make_daemon: MakeDaemon) -> None:
    """Open connections at SIGTERM: the idle one sees the connection end; no traceback is printed."""
    dp = make_daemon()
    dp.start()
    with socket.socket(socket.AF_UNIX) as idle, dp.client() as c:
        idle.connect(dp.sock)
        idle.sendall(b'{"op": "status"}\n')
        assert json.loads(idle.makefile("rb").readline())["ok"] is True
        sign(c, "j1")
        code, _, err = dp.stop()
        idle.settimeout(10)
        assert idle.recv(1) == b""  # closed by the daemon, not left hanging
    assert code == 0 and "Traceback" not in err, err


def _in_process_daemon(make_daemon: MakeDaemon) -> Any:
    """A daemon in this process (its signer driven by the test), configured like the real ones."""
    from attest.daemon.config import load_config
    from attest.daemon.server import Daemon

    return Daemon(load_config(make_daemon().config))


def _drive(daemon: Any, waves: list[list[str]]) -> list[dict[str, Any]]:
    """Run the signer; send each wave of job ids at once (one batch), the next after its replies."""
    import asyncio

    from attest.daemon.server import _Item
    from attest.model.manifest import Job, Tenant

    async def scenario() -> list[dict[str, Any]]:
        signer = asyncio.create_task(daemon._signer())
        loop = asyncio.get_running_loop()
        replies: list[dict[str, Any]] = []
        for wave in waves:
            items = [_Item("start", Job(id=j, scheduler="slurm", phase="start"), Tenant.from_obj(TENANT, what="t"),
                           [], [], loop.create_future()) for j in wave]
            for item in items:
                daemon.queue.put_nowait(item)
            replies += await asyncio.wait_for(asyncio.gather(*(i.future for i in items)), 30)  # never left waiting
        await daemon.queue.put(None)
        await signer
        return replies

    return asyncio.run(scenario())


def test_a_request_that_breaks_signing_fails_alone(make_daemon: MakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error while signing one request (a bug) fails that request; the chain goes on."""
    daemon = _in_process_daemon(make_daemon)
    real = daemon._sign_one

    def flaky(item: Any, seq: int, previous: str | None) -> Any:
        if item.job.id == "boom":
            raise RuntimeError("injected")
        return real(item, seq, previous)

    monkeypatch.setattr(daemon, "_sign_one", flaky)
    a, boom, b = _drive(daemon, [["a"], ["boom"], ["b"]])
    daemon.db.close()
    assert a["ok"] and b["ok"] and (a["sequence"], b["sequence"]) == (0, 1)
    assert boom == {"ok": False, "error": "internal error: RuntimeError: injected"}


def test_a_failed_commit_acknowledges_nothing_and_the_chain_resumes(
    make_daemon: MakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (a full disk) answers its batch with errors; later batches chain onto the last committed one."""
    daemon = _in_process_daemon(make_daemon)
    real = daemon.db.append

    def full_disk_once(rows: list[Any]) -> None:
        if rows[0].job_id == "c1":
            raise sqlite3.OperationalError("database or disk is full")
        real(rows)

    monkeypatch.setattr(daemon.db, "append", full_disk_once)
    jobs = ["a1", "a2", "b1", "c1", "c2", "d1", "e1", "e2", "e3"]
    replies = _drive(daemon, [["a1", "a2"], ["b1"], ["c1", "c2"], ["d1"], ["e1", "e2", "e3"]])
    stored = daemon.db.since(0)
    daemon.db.close()
    by_job = dict(zip(jobs, replies, strict=True))
    refused = {"c1", "c2"}
    assert {j for j in jobs if not by_job[j]["ok"]} == refused
    assert "could not persist: database or disk is full" in by_job["c1"]["error"]
    kept = [j for j in jobs if j not in refused]
    # Sequence numbers are consecutive over what was committed, and each `previous` is the one before.
    assert [r.job_id for r in stored] == kept and [r.seq for r in stored] == list(range(len(kept)))
    assert [by_job[j]["sequence"] for j in kept] == list(range(len(kept)))
    for before, after in itertools.pairwise(stored):
        statement = json.loads(base64.b64decode(json.loads(after.envelope)["payload"]))
        assert statement["predicate"]["freshness"]["previous"] == before.digest


def test_retention_prunes_old_manifests_but_never_the_head(make_daemon: MakeDaemon) -> None:
    """retention_days: old manifests leave the database and the spool; the chain goes on from the head."""
    spool = lambda dp: sorted(p.name for p in (dp.dir / "state" / "spool").glob("*.envelope.json"))  # noqa: E731
    port = free_port()
    dp = make_daemon(extra=f'retention_days = 0.00002\nmetrics = "127.0.0.1:{port}"')  # ~1.7 s
    dp.start()
    with dp.client() as c:
        for i in range(5):
            sign(c, f"old-{i}")
    time.sleep(2.0)  # 0..4 are now older than the retention
    dp.stop()
    dp.start()  # pruned at start (then hourly)
    deadline = time.monotonic() + 30
    while len(rows(dp)) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s for s, _ in rows(dp)] == [4]  # the newest stays, however old: the chain continues from it
    with dp.client() as c:
        assert c.status()["retention_days"] == 0.00002
        assert sign(c, "new")["sequence"] == 5
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert "attest_daemon_manifests_pruned_total 4.0" in text
    dp.stop()
    assert spool(dp) == ["000000000004.envelope.json", "000000000005.envelope.json"]
    verify_chain(dp)  # 5's previous is 4's digest

    # With a collector, only what it accepted may go: here it never answered, so nothing does.
    kept = make_daemon(extra="retention_days = 0.00002",
                       tail='\n[collector]\nurl = "http://127.0.0.1:9/v1/manifests"\ntimeout_s = 1\nmax_backoff_s = 1\nunconfirmed_delivery = true\nallow_insecure_http = true\n')
    kept.start()
    with kept.client() as c:
        for i in range(3):
            sign(c, f"held-{i}")
    time.sleep(2.0)
    kept.stop()
    kept.start()
    time.sleep(1.0)
    kept.stop()
    assert [s for s, _ in rows(kept)] == [0, 1, 2]
    assert len(spool(kept)) == 3


def test_prune_in_the_database(tmp_path: Path) -> None:
    """ChainDB.prune: by issue time to the second, delivered only on request, never the newest row."""
    from attest.daemon.state import ChainDB, Row

    db = ChainDB(tmp_path / "chain.sqlite")
    stamps = ["2026-11-01T00:00:00Z", "2026-11-01T09:59:59.999Z", "2026-11-01T10:00:00.5Z", "2026-11-01T11:00:00Z"]
    db.append([Row(i, f"sha256:{i}", "start", f"j{i}", t, b"{}") for i, t in enumerate(stamps)])
    db.mark_delivered(0)
    assert db.prune("2026-11-01T10:00:00Z", delivered_only=True) == [0]
    assert db.prune("2026-11-01T10:00:00.9Z", delivered_only=False) == [1]  # 10:00:00.5 is within the second: kept
    assert db.prune("2027-01-01T00:00:00Z", delivered_only=False) == [2]  # 3 is the newest: never pruned
    assert db.head() == (3, "sha256:3") and db.count() == 1
    db.close()
