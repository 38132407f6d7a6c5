"""Prototype (issue 23, P-384): the signature checked on a second thread while the envelope is judged.

Not the product's verifier: a measurement of a design for P-384's 0.9 x target, rejected on what
it gives. ECDSA P-384 takes ~600 us to check here and attest's judging ~100-150 us after it, and
``cryptography`` releases the GIL during a verify; so a verifier could judge an envelope while
another thread checks its signature, and join the two before the result is used (nothing would
be recorded before the join). This script times that, on the same 300 8-GPU H100 envelopes as
``bench_verify.py`` (one node, chained, a job each, us-ear), three ways in one run:

- bare:    the raw primitive over each PAE (``bench_verify.py``'s ``raw``);
- full:    ``attest.Verifier.verify`` of each envelope (``bench_verify.py``'s ``full``);
- overlap: per envelope, the signature check handed to a one-thread pool and the thread let run
           (``time.sleep(0)``), the product's judging given that check as already passed
           (``Verifier._run(..., ahead=...)``), then the pool's answer awaited and asserted.

It reports wall-clock and CPU time per envelope. Measured 2026-12-07 (2 vCPUs):
P-384 bare 653 us, full 876 us, overlap 1,101 us (CPU 1,289 us); Ed25519 bare 143, full 190,
overlap 242. The hand-offs of the GIL and the pool's wake-ups cost more than the judging they
hide, and two busy threads on this machine's two vCPUs slow each other; the design loses on
both clocks. ``bench_verify.py``'s ``floor`` column says what is left to win at all.

    .venv/bin/python bench/proto_overlap.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import NOW, OPERATOR, make_envelopes, signatures_and_messages

import attest
from attest.crypto.dsse import pae, split_one_signature
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.verify import _Ahead


def measure(alg: attest.Algorithm, rounds: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per envelope of bare, full and overlap, each its best round."""
    key, envelopes = make_envelopes(alg, 300)
    trust = attest.TrustStore().with_key(key.public, operator=OPERATOR.name, countries=["MY"])
    later = NOW + timedelta(minutes=1)
    anchors = attest.Verifier(trust)
    pub = key.public.crypto_key
    pairs = signatures_and_messages(envelopes)
    entry = trust.get(key.key_id)
    assert entry is not None
    vk = entry.key
    ecdsa = ec.ECDSA(hashes.SHA384() if alg is attest.Algorithm.ECDSA_P384 else hashes.SHA256())

    def bare() -> None:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            for s, m in pairs:
                pub.verify(s, m)
        else:
            for s, m in pairs:
                pub.verify(s, m, ecdsa)

    def full() -> None:
        v = attest.Verifier(trust, policy=anchors.policy, catalog=anchors.catalog)
        for raw in envelopes:
            r = v.verify(raw, now=later)
            assert r.status is attest.Status.AFFIRMING, r.findings

    pool = ThreadPoolExecutor(1)

    def overlap() -> None:
        v = attest.Verifier(trust, policy=anchors.policy, catalog=anchors.catalog)
        for raw in envelopes:
            one = split_one_signature(raw)
            assert one is not None
            message = pae(PAYLOAD_TYPE_INTOTO, one[3])
            checked = pool.submit(vk.verify, one[2], message)
            time.sleep(0)  # let the checking thread start now, not at the next switch interval
            r = v._run(raw, now=later, source=None, ahead=_Ahead(raw, one, message, True, vk)).result()
            assert checked.result() and r.status is attest.Status.AFFIRMING

    fns: dict[str, Callable[[], None]] = {"bare": bare, "full": full, "overlap": overlap}
    best = {name: (float("inf"), float("inf")) for name in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in fns.items():  # interleaved: machine noise hits all alike
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = (time.perf_counter() - w) / 300, (time.process_time() - c) / 300
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    pool.shutdown()
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7, help="rounds; the best of each is kept (default 7)")
    args = ap.parse_args()
    print(
        f"{'algorithm, clock':<16} {'bare us':>8} {'full us':>8} {'overlap us':>11} {'full/bare':>10} {'overlap/bare':>13}  (wall; CPU)"
    )
    for alg in (attest.Algorithm.ECDSA_P384, attest.Algorithm.ED25519):
        b = measure(alg, args.rounds)
        for clock, i in (("wall", 0), ("CPU", 1)):
            bare, full, over = b["bare"][i] * 1e6, b["full"][i] * 1e6, b["overlap"][i] * 1e6
            print(
                f"{alg.value + ' ' + clock:<16} {bare:8.0f} {full:8.0f} {over:11.0f}"
                f" {bare / full:10.2f} {bare / over:13.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
