"""What ``attest verify`` adds per envelope file beyond verification, measured in one process.

``bench_verify.py --cli`` times the command as an auditor runs it, in a new process, by the
difference between N files and 1 file; on a busy machine the start-up (2-3 s, mostly loading
the policy) varies by more than the whole per-file work, so that difference is noisy. This
bench runs the command's ``main()`` in this process instead, with the policy loaded once (the
only change: ``policy_from_args`` returns the one it made first), the verifier's caches cleared before every call
as in a new process, and times by CPU time, in interleaved rounds, the best of each kept:

- CLI:         ``main(["verify", ..., N files])`` minus ``main`` of 1 file, over N - 1;
- verify_many: :meth:`attest.Verifier.verify_many` of the same files' bytes, over N;
- verify:      :meth:`attest.Verifier.verify` of each, in a loop, over N;
- bare:        a bare Ed25519 verify of each envelope's signature over its PAE (the issue's unit:
               ``cryptography``, OpenSSL);
- sodium:      the same with libsodium (``nacl.bindings.crypto_sign_open``), the primitive attest
               checks Ed25519 with: sodium/CLI is what the command adds to its own signature check.

CPU time by default; ``--wall`` times by the wall clock, where ``verify_many``'s signature
checks ahead on another thread (a second core) overlap the judging.

Run: python bench/bench_cli_overhead.py [--n 1500] [--rounds 5] [--wall]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench_verify import NOW, OPERATOR, make_envelopes, signatures_and_messages
from cryptography.hazmat.primitives import serialization
from nacl.bindings import crypto_sign_open

import attest
import attest.cli.verify as verify_cli
from attest.cli.main import main as cli_main
from attest.verify import _clear_caches


def run(n: int, rounds: int, clock: Callable[[], float] = time.process_time) -> dict[str, float]:
    """Seconds per envelope by ``clock``: the CLI's, ``verify_many``'s, a ``verify`` loop's and bare Ed25519's."""
    key, envelopes = make_envelopes(attest.Algorithm.ED25519, n)
    work = Path(tempfile.mkdtemp(prefix="attest-bench-cli-"))
    trust = attest.TrustStore().with_key(key.public, operator=OPERATOR.name, countries=["MY"])
    trust.save(work / "trust.json")
    names = [str(work / f"m{i:05d}.json") for i in range(n)]
    for name, raw in zip(names, envelopes, strict=True):
        Path(name).write_bytes(raw)
    later = NOW + timedelta(minutes=1)
    policy = verify_cli.policy_from_args(argparse.Namespace(policy="us-ear"))  # as the command loads it
    verify_cli.policy_from_args = lambda args: policy  # once, not once per call
    full = attest.Verifier(trust, policy=policy)
    argv = ["verify", "--trust", str(work / "trust.json"), "--now", later.isoformat(), "--quiet"]
    items = [(name, Path(name).read_bytes()) for name in names]

    def timed(fn: Callable[[], Any]) -> float:
        _clear_caches()  # as a new process starts
        t0 = clock()
        fn()
        return clock() - t0

    def cli(files: list[str]) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            if cli_main([*argv, *files]) != 0:
                raise SystemExit("attest verify did not affirm the benchmark envelopes")

    def fresh() -> attest.Verifier:
        return attest.Verifier(trust, policy=full.policy, catalog=full.catalog)

    def loop() -> None:
        verifier = fresh()
        for name, raw in items:
            verifier.verify(raw, now=later, source=name)

    prepared = signatures_and_messages([raw for _, raw in items])
    public = key.public.crypto_key

    def bare() -> None:
        for sig, message in prepared:
            public.verify(sig, message)

    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sodium() -> None:
        for sig, message in prepared:
            crypto_sign_open(sig + message, raw_public)

    contenders: dict[str, Callable[[], Any]] = {
        "bare": bare,
        "sodium": sodium,
        "cli_1": lambda: cli(names[:1]),
        "cli_n": lambda: cli(names),
        "verify_many": lambda: fresh().verify_many(items, now=later),
        "verify": loop,
    }
    for fn in contenders.values():
        timed(fn)  # warm up
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], timed(fn))
    return {
        "cli": (best["cli_n"] - best["cli_1"]) / (n - 1),
        "verify_many": best["verify_many"] / n,
        "verify": best["verify"] / n,
        "bare": best["bare"] / n,
        "sodium": best["sodium"] / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1500, help="envelope files (default 1500)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; the best of each is kept (default 5)")
    ap.add_argument(
        "--wall", action="store_true", help="time by the wall clock (the checking thread counts once)"
    )
    args = ap.parse_args()
    r = run(args.n, args.rounds, time.perf_counter if args.wall else time.process_time)
    print(
        f"attest verify --quiet of {args.n} Ed25519 8-GPU envelope files, us-ear,"
        f" {'wall' if args.wall else 'CPU'} time per envelope:"
        f" CLI {r['cli'] * 1e6:.0f} us, Verifier.verify_many {r['verify_many'] * 1e6:.0f} us,"
        f" Verifier.verify loop {r['verify'] * 1e6:.0f} us; the CLI adds"
        f" {r['cli'] / r['verify_many'] - 1:+.1%} to verify_many, {r['cli'] / r['verify'] - 1:+.1%} to verify;"
        f" bare Ed25519 verify {r['bare'] * 1e6:.0f} us: bare/CLI {r['bare'] / r['cli']:.2f},"
        f" bare/verify_many {r['bare'] / r['verify_many']:.2f}; libsodium's bare verify {r['sodium'] * 1e6:.0f} us:"
        f" sodium/CLI {r['sodium'] / r['cli']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
