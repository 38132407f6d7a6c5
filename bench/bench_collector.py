"""A collector's ingest rate, beside its parts, and how many collectors a fleet needs.

One run, the same envelopes (8-GPU H100 manifests, Ed25519, ``--nodes`` nodes each signing a
chain of ``--per-node``), timed as:

- raw:        ``cryptography``'s Ed25519 verify over the prepared PAE, nothing else;
- verify:     ``attest.verify_envelope`` with in-memory replay and chain stores (the us-ear policy);
- log append: ``Log.append([raw])`` one envelope at a time, as the collector appends (SQLite file);
- collector:  ``attest collector serve`` as a real process (SQLite log), fed by ``--clients``
              keep-alive HTTP connections from this process: POST /v1/manifests -> verify -> log
              -> verdict stored -> 200 with the inclusion proof; once one envelope at a time
              (``--max-group 1``) and once with group commit (``--max-group``, default 256: the
              envelopes that arrive while one group commits are logged together); ``--no-group``
              measures the first only. The ``group`` column: envelopes per append, read back
              from the log (entries of one append share its integration time);
- two on PG:  two collector processes on one PostgreSQL log and verifier state (a load
              balancer with node affinity: each node's chain goes to one of them), both modes.

The fleet: N nodes with a heartbeat a minute send N/60 manifests a second; it needs
ceil(N/60 / rate) collectors at full load (the figure printed also at 50 % load, headroom
for bursts, restarts and a second heartbeat phase). The load generator shares the machine
with the collectors, so the rates are lower bounds.

Run: python bench/bench_collector.py [--nodes 40] [--per-node 25] [--clients 16] [--fleet 10000]
                                    [--max-group 256] [--no-group]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import attest
from attest.build import build_manifest
from attest.cli.demo import NODES, OPERATOR, TENANT
from attest.crypto.dsse import b64decode_canonical, pae, parse_envelope
from attest.crypto.keys import write_private_key
from attest.hardware import SimulatedGpuSource
from attest.log import Log
from attest.model import Job
from attest.policy import load_policy
from attest.replay import MemoryChainStore, MemoryNonceStore


def make_fleet(nodes: int, per_node: int) -> tuple[attest.TrustStore, list[list[bytes]]]:
    """``nodes`` keys, each with a chain of ``per_node`` signed manifests issued now."""
    _, _, site = NODES[0]
    evidence = SimulatedGpuSource("h100", hostname="gpu-a17").read()  # 8 x H100
    trust = attest.TrustStore()
    chains = []
    now = datetime.now(UTC)
    for n in range(nodes):
        key = attest.SigningKey.generate()
        trust = trust.with_key(key.public, operator=OPERATOR.name, sites=[site.facility_id], countries=[site.country])
        previous, chain = None, []
        for i in range(per_node):
            job = Job(id=f"slurm-{n}-{i}", scheduler="slurm", phase="heartbeat", declared_training_ops=3.1e24)
            m = build_manifest(
                evidence=evidence,
                site=site,
                tenant=TENANT,
                operator=OPERATOR,
                job=job,
                node_key_id=key.key_id,
                now=now,
                after=previous,
            )
            previous = m
            chain.append(attest.encode_envelope(attest.sign_manifest(m, key)))
        chains.append(chain)
    return trust, chains


def rate(fn: object, n: int, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return n / best


def raw_rate(trust: attest.TrustStore, items: list[bytes]) -> float:
    prepared = []
    for raw in items:
        env, payload = parse_envelope(raw)
        sig = env.signatures[0]
        entry = trust.get(sig.keyid)
        assert entry is not None
        prepared.append((entry.key, b64decode_canonical(sig.sig, what="signature"), pae(env.payload_type, payload)))

    def run() -> None:
        for key, sig, message in prepared:
            assert key.verify(sig, message)

    return rate(run, len(items))


def verify_rate(trust: attest.TrustStore, items: list[bytes]) -> float:
    policy = load_policy("us-ear")
    now = datetime.now(UTC)

    def run() -> None:
        nonces, chains = MemoryNonceStore(), MemoryChainStore()
        for raw in items:
            r = attest.verify_envelope(raw, trust, now=now, nonces=nonces, chains=chains, policy=policy)
            assert r.status.value != "contraindicated", [f.rule for f in r.findings]

    return rate(run, len(items))


def append_rate(tmp: Path, items: list[bytes]) -> float:
    best = 0.0
    for i in range(3):
        log = Log.init(tmp / f"append-{i}.db", "bench/append", attest.SigningKey.generate())
        t0 = time.perf_counter()
        for raw in items:
            log.append([raw])
        best = max(best, len(items) / (time.perf_counter() - t0))
        log.store.close()
    return best


def serve(log: str, trust: Path, key: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    """A collector process on a free port (no quotas: one process feeds every node)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "collector", "serve", "--log", log, "--trust", str(trust),
         "--key", str(key), "--listen", "127.0.0.1:0", "--policy", "us-ear", "--quota", "1000000",
         "--refusals", "0", "--max-per-network", "0", "--checkpoint-interval", "5", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"the collector did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(json.loads(line)["listening"].rsplit(":", 1)[1])


def push(routes: list[tuple[int, list[bytes]]], clients: int) -> float:
    """POST every chain (in order, per node) to its collector's port over ``clients`` connections; manifests/s."""
    work = list(routes)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        while True:
            with lock:
                if not work:
                    break
                port, chain = work.pop()
            conn = conns.setdefault(port, http.client.HTTPConnection("127.0.0.1", port, timeout=120))
            for raw in chain:
                conn.request("POST", "/v1/manifests", body=raw, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                if resp.status != 200 or body.get("duplicate") or body["result"]["status"] == "contraindicated":
                    failures.append(f"{resp.status} {str(body)[:300]}")
        for conn in conns.values():
            conn.close()

    total = sum(len(chain) for _, chain in routes)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} pushes failed, e.g. {failures[0]}")
    return total / elapsed


def mean_group(log: Log) -> float:
    """Envelopes per append in a collector's log: entries share the integration time of their append."""
    times = log.store.integration_times()
    size = len(times)
    log.store.close()
    return size / max(1, len(set(times.values())))


def new_database(url: str) -> str:
    """A new, empty database on the server of ``url`` (one per measured mode)."""
    import uuid

    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + "/" + name


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return found or (str(candidates[-1]) if candidates else None)


@contextmanager
def postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL server (fsync on), or None where none is installed."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="attest-bench-pg-"))
    base.chmod(0o755)
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = base / "data"
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "attest", "-E", "UTF8"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on"
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log.txt"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://attest@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--per-node", type=int, default=25)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--fleet", type=int, default=10_000, help="nodes with a heartbeat a minute")
    parser.add_argument("--max-group", type=int, default=256, help="the collectors' --max-group for the group-commit rows")
    parser.add_argument(
        "--no-group", action="store_true", help="measure the collectors one envelope at a time only (--max-group 1)"
    )
    args = parser.parse_args()

    trust, chains = make_fleet(args.nodes, args.per_node)
    items = [raw for chain in chains for raw in chain]
    tmp = Path(tempfile.mkdtemp(prefix="attest-bench-collector-"))
    try:
        trust.save(tmp / "trust.json")
        key = attest.SigningKey.generate()
        write_private_key(tmp / "log.key", key)
        print(f"{len(items)} envelopes: {args.nodes} nodes x {args.per_node} chained 8-GPU H100 manifests "
              f"({len(items[0])} bytes), policy us-ear, {args.clients} HTTP clients")  # fmt: skip
        rows: list[tuple[str, float] | tuple[str, float, float]] = [
            ("raw Ed25519 verify", raw_rate(trust, items)),
            ("verify_envelope", verify_rate(trust, items)),
        ]
        rows.append(("log append (SQLite, one per call)", append_rate(tmp, items)))

        modes = [("one at a time", "1")] + ([] if args.no_group else [("group commit", str(args.max_group))])
        ones: dict[str, float] = {}
        for mode, group in modes:
            db = tmp / f"collector-{group}.db"
            Log.init(db, "bench/collector", key).store.close()
            proc, port = serve(str(db), tmp / "trust.json", tmp / "log.key", "--max-group", group)
            try:
                ones[mode] = push([(port, chain) for chain in chains], args.clients)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows.append((f"one collector, SQLite, {mode}", ones[mode], mean_group(Log.open(db))))

        twos: dict[str, float] = {}
        with postgres() as url:
            if url is not None:
                for mode, group in modes:
                    where = new_database(url)
                    Log.init(where, "bench/collector", key).store.close()
                    procs = [serve(where, tmp / "trust.json", tmp / "log.key", "--max-group", group) for _ in range(2)]
                    try:
                        ports = [p for _, p in procs]
                        twos[mode] = push([(ports[i % 2], chain) for i, chain in enumerate(chains)], args.clients)
                    finally:
                        for p, _ in procs:
                            p.terminate()
                            p.wait(timeout=30)
                    rows.append((f"two collectors, one PostgreSQL log, {mode}", twos[mode], mean_group(Log.open(where))))
        raw = rows[0][1]
        print(f"{'':52} {'manifests/s':>12} {'vs raw':>7} {'group':>6}")
        for name, value, *group_size in rows:
            shown = f"{group_size[0]:6.1f}" if group_size else ""
            print(f"{name:52} {value:12.0f} {value / raw:7.2f} {shown}")
        need = args.fleet / 60
        print(f"\nfleet: {args.fleet:,} 8-GPU nodes, a heartbeat a minute = {need:.0f} manifests/s")
        for mode, one in ones.items():
            print(f"  collectors (SQLite log, {mode}) at full load: {math.ceil(need / one)}, "
                  f"at 50% load: {math.ceil(2 * need / one)}")  # fmt: skip
        for mode, two in twos.items():
            per = two / 2
            print(f"  collectors on one PostgreSQL log ({mode}, {per:.0f}/s each when two share it): "
                  f"{math.ceil(need / per)} at full load, {math.ceil(2 * need / per)} at 50% load")  # fmt: skip
        if not twos:
            print("  (no PostgreSQL server installed: the two-collector runs were skipped)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
