"""Daemon signing over its Unix socket, beside the raw signing primitive, in one run.

- raw sign: Ed25519 over a DSSE PAE of the size the daemon signs (one manifest statement), in-process;
- library: build a manifest + sign it + canonical envelope, in-process (what the daemon does per request,
  without the socket, the chain commit or the spool);
- daemon, closed loop: C concurrent clients, each waiting for its reply before the next request;
- daemon, open loop: requests sent at a fixed rate (default 500/s) from a pool of clients; latency from
  send to reply (the daemon's reply comes only after the manifest is committed with fsync).

The daemon is a real process (simulated H100 node). Run: python bench/bench_daemon.py [--requests 3000] [--spool-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attest.build import build_manifest
from attest.crypto.dsse import encode_envelope, pae
from attest.crypto.keys import SigningKey
from attest.hardware import SimulatedGpuSource
from attest.model.manifest import Job, Operator, Site, Tenant
from attest.sign import build_statement, sign_manifest
from tests.daemon.fixtures import (
    BASE,
    TENANT,
    DaemonProc,
)

SITE = Site(facility_id="jhb-2", name="Johor DC 2", country="MY", latitude=1.6561, longitude=103.6032)
OPERATOR = Operator(name="Example Cloud Sdn. Bhd.", country="MY")


def per_second(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t)


def in_process(n: int) -> tuple[float, float]:
    key = SigningKey.generate()
    evidence = SimulatedGpuSource("h100", seed="gpu-a17", hostname="gpu-a17").read()
    tenant = Tenant.from_obj(TENANT)

    def manifest(i: int):  # type: ignore[no-untyped-def]
        job = Job(id=f"job-{i}", scheduler="slurm", phase="start")
        return build_manifest(
            evidence=evidence, site=SITE, tenant=tenant, operator=OPERATOR, job=job,
            node_key_id=key.key_id, now=datetime.now(UTC), sequence=i, previous=None if i == 0 else "sha256:" + "0" * 64,
        )

    sample = build_statement(manifest(1)).model_dump_json(by_alias=True, exclude_none=True).encode()
    message = pae("application/vnd.in-toto+json", sample)
    raw = per_second(lambda i: key.sign(message), n)
    lib = per_second(lambda i: encode_envelope(sign_manifest(manifest(i), key)), max(200, n // 5))
    print(f"statement size: {len(sample)} bytes")
    return raw, lib


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_side(port: int) -> dict[float, int]:
    """The daemon's own latency histogram (request read to reply ready): bucket upper bound -> count."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("attest_daemon_sign_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = int(float(line.rsplit(" ", 1)[1]))
    return out


PORT = free_port()


def start_daemon(tmp: Path, spool_dir: str | None = None) -> DaemonProc:
    from attest.crypto.keys import write_private_key

    key = SigningKey.generate()
    write_private_key(tmp / "node.key", key)
    config = tmp / "daemon.toml"
    config.write_text(
        BASE.format(key=tmp / "node.key", sock=tmp / "attest.sock", state=tmp / "state", heartbeat=0,
                    uids=[os.getuid()], tail="",
                    extra=f'metrics = "127.0.0.1:{PORT}"' + (f'\nspool_dir = "{spool_dir}"' if spool_dir else ""))
    )
    dp = DaemonProc(tmp, config, str(tmp / "attest.sock"), key)
    dp.start()
    return dp


def closed_loop(dp: DaemonProc, clients: int, n: int) -> float:
    per = n // clients

    def worker(w: int) -> None:
        with dp.client() as c:
            for i in range(per):
                c.sign_job("start", f"c{w}-{i}", TENANT)

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return per * clients / (time.perf_counter() - t)


def open_loop(dp: DaemonProc, rate: float, n: int, pool_size: int = 32) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    clients = [dp.client() for _ in range(pool_size)]
    free = list(range(pool_size))
    free_lock = threading.Condition()

    def one(i: int, scheduled: float) -> None:
        with free_lock:
            while not free:
                free_lock.wait()
            slot = free.pop()
        try:
            clients[slot].sign_job("start", f"o-{i}", TENANT)
            done = time.perf_counter()
        finally:
            with free_lock:
                free.append(slot)
                free_lock.notify()
        with lock:
            latencies.append(done - scheduled)  # from when it was due: queueing counts too

    start = time.perf_counter()
    with ThreadPoolExecutor(pool_size) as pool:
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, due)
    achieved = n / (time.perf_counter() - start)
    for c in clients:
        c.close()
    return latencies, achieved


def open_loop_async(sock: str, rate: float, n: int, connections: int = 32) -> tuple[list[float], float]:
    """The open loop from one asyncio client process: a request due every 1/rate s, on whichever
    of ``connections`` is free; latency from when the request was due to its reply's last byte."""
    import asyncio
    import json

    async def run() -> tuple[list[float], float]:
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(connections):
            pool.put_nowait(await asyncio.open_unix_connection(sock, limit=1 << 22))
        latencies: list[float] = []

        async def one(i: int, due: float) -> None:
            reader, writer = await pool.get()
            try:
                request = {"op": "sign", "phase": "start", "job": {"id": f"a-{i}", "scheduler": "slurm"}, "tenant": TENANT, "gpus": []}
                writer.write(json.dumps(request).encode() + b"\n")
                line = await reader.readline()
                latencies.append(time.perf_counter() - due)
            finally:
                pool.put_nowait((reader, writer))
            if not json.loads(line).get("ok"):
                raise SystemExit(f"the daemon refused a request: {line[:200]!r}")

        tasks = []
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        achieved = n / (time.perf_counter() - start)
        while not pool.empty():
            pool.get_nowait()[1].close()
        return latencies, achieved

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="the daemon's spool directory (default: in its state directory, on the same filesystem)",
    )
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # the load generator's threads, like the daemon's, hand over the GIL promptly
    raw, lib = in_process(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        dp = start_daemon(Path(tmp), args.spool_dir)
        try:
            closed_loop(dp, 10, 200)  # warm up
            thr = closed_loop(dp, args.clients, args.requests)
            before = daemon_side(PORT)
            lat, achieved = open_loop(dp, args.rate, args.requests)
            after = daemon_side(PORT)
            alat, aachieved = open_loop_async(dp.sock, args.rate, args.requests)
            after_async = daemon_side(PORT)
        finally:
            dp.stop()
    lat.sort()
    p50, p99 = statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99) - 1] * 1e3
    print(f"{'contender':42} {'req/s':>9} {'vs raw':>8}")
    print(f"{'raw Ed25519 sign (PAE of one statement)':42} {raw:9.0f} {1.0:8.2f}")
    print(f"{'library: build + sign + envelope':42} {lib:9.0f} {lib / raw:8.2f}")
    print(f"{f'daemon over socket, {args.clients} clients, closed loop':42} {thr:9.0f} {thr / raw:8.2f}")
    print(f"\nopen loop at {args.rate:.0f} req/s, 32 client threads (achieved {achieved:.0f}): p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {lat[-1] * 1e3:.2f} ms")
    alat.sort()
    ap50, ap99 = statistics.median(alat) * 1e3, alat[int(len(alat) * 0.99) - 1] * 1e3
    print(f"open loop at {args.rate:.0f} req/s, one asyncio client, 32 connections (achieved {aachieved:.0f}): p50 {ap50:.2f} ms, p99 {ap99:.2f} ms, max {alat[-1] * 1e3:.2f} ms")
    print(f"daemon throughput / library throughput: {thr / lib:.2f}")
    inside = {le: after[le] - before.get(le, 0) for le in after}
    total = inside[float("inf")]
    cum = "  ".join(f"<={le * 1e3:g}ms {n / total:.1%}" for le, n in sorted(inside.items()) if le <= 0.05)
    print(f"daemon-side latency in the threaded open loop (request read to reply ready): {cum}")
    inside = {le: after_async[le] - after.get(le, 0) for le in after_async}
    total = inside[float("inf")]
    cum = "  ".join(f"<={le * 1e3:g}ms {n / total:.1%}" for le, n in sorted(inside.items()) if le <= 0.05)
    print(f"daemon-side latency in the asyncio open loop: {cum}")


if __name__ == "__main__":
    main()
