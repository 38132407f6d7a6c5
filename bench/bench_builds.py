"""The compiled verifier beside pure Python: a node's heartbeats, each build beside a bare signature verify.

Each build runs in its own process (``ATTEST_PURE=1`` for pure Python), alternating, so machine
noise hits both alike; each process times ``--rounds`` rounds of a new ``attest.Verifier`` (the
us-ear policy, stores in memory, as ``attest verify``) over ``--n`` distinct chained 8-GPU
heartbeats, and a bare signature verify (Ed25519, or ``--algorithm``'s) over the same envelopes, keeping the best round of each. The
ratio bare/full is issue 23's figure; "glue" is what a heartbeat costs beside its signature.

Run: python bench/bench_builds.py [--pairs 3] [--n 300] [--rounds 15] [--algorithm ecdsa-p384]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path


def measure(n: int, rounds: int, algorithm: str = "ed25519") -> str:
    """One process's line: which build, µs per heartbeat in full and bare, the glue and the ratio."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_verify import NOW, OPERATOR, make_envelopes, signatures_and_messages

    import attest
    from attest._internal import native

    key, envelopes = make_envelopes(attest.Algorithm(algorithm), n)
    trust = attest.TrustStore().with_key(key.public, operator=OPERATOR.name, countries=["MY"])
    later = NOW + timedelta(minutes=1)
    anchors = attest.Verifier(trust)
    prepared = signatures_and_messages(envelopes)
    pub = key.public.crypto_key

    def full() -> None:
        verifier = attest.Verifier(trust, policy=anchors.policy, catalog=anchors.catalog)
        for raw in envelopes:
            verifier.verify(raw, now=later)

    ecdsa = key.public._ecdsa  # the curve's hash, as VerifyingKey.verify passes it (None: Ed25519)

    def bare() -> None:
        if ecdsa is None:
            for signature, message in prepared:
                pub.verify(signature, message)  # type: ignore[call-arg]
        else:
            for signature, message in prepared:
                pub.verify(signature, message, ecdsa)  # type: ignore[call-arg]

    full()
    bare()
    best_full = best_bare = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        full()
        best_full = min(best_full, time.perf_counter() - t)
        t = time.perf_counter()
        bare()
        best_bare = min(best_bare, time.perf_counter() - t)
    per = 1e6 / n
    return (
        f"{native.status()[:28]:28s} full {best_full * per:6.1f} us  bare {best_bare * per:6.1f} us"
        f"  glue {(best_full - best_bare) * per:5.1f} us  bare/full {best_bare / best_full:.3f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3, help="compiled/pure pairs of processes (default 3)")
    ap.add_argument("--n", type=int, default=300, help="heartbeats per round (default 300)")
    ap.add_argument(
        "--rounds", type=int, default=15, help="rounds per process; the best is kept (default 15)"
    )
    ap.add_argument(
        "--algorithm",
        choices=[a.value for a in __import__("attest").Algorithm],
        default="ed25519",
        help="the node key's algorithm (default ed25519)",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(measure(args.n, args.rounds, args.algorithm))
        return 0
    for _ in range(args.pairs):
        for pure in ("0", "1"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--n", str(args.n), "--rounds", str(args.rounds),
                 "--algorithm", args.algorithm],
                env={**os.environ, "ATTEST_PURE": pure},
                capture_output=True,
                text=True,
                check=False,
            )
            print(done.stdout.strip() or done.stderr.strip()[-500:], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
