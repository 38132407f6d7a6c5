"""Transparency log: batched appends beside raw SQLite inserts, and inclusion proofs at 10^6 leaves.

Part 1 — appends of envelope-sized entries (~5 KB) in batches of 1,000, each batch one durable
transaction (WAL, synchronous=FULL), against the raw primitive: the same blobs inserted into a
plain table with the same durability (no hashing, no tree).

Part 2 — a log of 10^6 small entries; the time of an inclusion proof (path from stored subtree
hashes, plus root) at a random index, against the raw primitive: fetching the same number of
rows by primary key.

Run: python bench/bench_log.py [--entries 30000] [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from attest.crypto.keys import SigningKey
from attest.log import Log


def envelope(i: int) -> bytes:
    return b'{"payload":"' + os.urandom(3600).hex().encode()[: 5000] + f'","n":{i}}}\n'.encode()


def part1(n: int, tmp: Path) -> None:
    data = [envelope(i) for i in range(n)]
    log = Log.init(tmp / "bench.db", "bench.example/log", SigningKey.generate())
    t = time.perf_counter()
    for k in range(0, n, 1000):
        log.append(data[k : k + 1000])
    ours = n / (time.perf_counter() - t)
    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    t = time.perf_counter()
    for k in range(0, n, 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO entries(idx, data) VALUES (?, ?)", [(k + j, d) for j, d in enumerate(data[k : k + 1000])])
        db.execute("COMMIT")
    raw = n / (time.perf_counter() - t)
    assert log.verify() == [] if n <= 50_000 else True
    print(f"appends of {n} entries (~{len(data[0])} bytes), batches of 1,000:")
    print(f"  {'attest log (hash, tree, unique index, WAL+FULL)':52} {ours:10.0f} /s")
    print(f"  {'raw SQLite insert of the same blobs (WAL+FULL)':52} {raw:10.0f} /s   ratio {ours / raw:.2f}")


def part2(leaves: int, tmp: Path) -> None:
    log = Log.init(tmp / "big.db", "bench.example/big", SigningKey.generate())
    t = time.perf_counter()
    for k in range(0, leaves, 10_000):
        log.append([f"leaf-{k + j}".encode() for j in range(min(10_000, leaves - k))])
    build = time.perf_counter() - t
    rng = random.Random(7)
    times, rows = [], 0
    for _ in range(2000):
        i = rng.randrange(leaves)
        t = time.perf_counter()
        proof = log.inclusion(i)
        times.append(time.perf_counter() - t)
        rows = max(rows, len(proof["path"]))
    db = log.store.db
    keys = [(rng.randrange(20), rng.randrange(1000)) for _ in range(2000 * rows)]
    t = time.perf_counter()
    for k in keys:
        db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", k).fetchone()
    per_lookup = (time.perf_counter() - t) / len(keys)
    times.sort()
    p50, p99 = statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3
    print(f"\ninclusion proofs at {leaves:,} leaves (built in {build:.0f} s, {leaves / build:,.0f} appends/s of small entries):")
    print(f"  proof + root: p50 {p50:.3f} ms, p99 {p99:.3f} ms (path of {rows} hashes)")
    print(f"  raw: {rows} primary-key lookups = {rows * per_lookup * 1e3:.3f} ms   ratio {p50 / (rows * per_lookup * 1e3):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=30_000)
    p.add_argument("--leaves", type=int, default=1_000_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        part1(args.entries, Path(tmp))
        part2(args.leaves, Path(tmp))


if __name__ == "__main__":
    main()
