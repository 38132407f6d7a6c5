"""Where one full verification's time goes: the reading, the signature, and everything after them.

Times (thread CPU time, so a busy shared machine's waiting is not counted; best of the rounds)
over one node's stream of 8-GPU H100 envelopes, as ``bench_verify.py`` makes them, verified by
``attest.Verifier(trust)`` with its defaults (the ``us-ear`` policy; nonce, chain and device
stores in memory):

- the stages on their own: envelope parse, bare signature verify, statement read, the job's
  canonical encoding and subjects, the chain digest, the policy's verdict;
- ``after step 5``: the cost of verification steps 6-15 and the result *in place*, measured as
  full verification minus the same verifier stopped after step 5 (paired rounds, median),
  which counts what the stages alone miss (cold caches between steps, allocation).

Run: python bench/bench_verify_stages.py [--n 300] [--rounds 9] [--alg ed25519|ecdsa-p384|...]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench_verify import NOW, OPERATOR, make_envelopes

import attest
from attest import verify as verify_module
from attest.crypto.dsse import b64decode_canonical, pae, parse_envelope
from attest.model.fastread import read_statement
from attest.policy.engine import Facts, Policy
from attest.sign import canonical_job, clear_digests, manifest_digest, workload_subjects


def _stopped_after_step_5() -> Callable[..., None]:
    """``_verify`` as written, but returning after step 5 (the reading and the signatures)."""
    source = Path(verify_module.__file__).read_text(encoding="utf-8")
    start = source.index("def _verify(")
    end = source.index("    # 6. ", start)
    namespace: dict[str, Any] = dict(vars(verify_module))
    exec(compile(source[start:end] + "    return\n", verify_module.__file__, "exec"), namespace)
    stopped: Callable[..., None] = namespace["_verify"]
    return stopped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="envelopes (default 300)")
    ap.add_argument("--rounds", type=int, default=9, help="rounds (default 9)")
    ap.add_argument("--alg", default="ed25519", help="signature algorithm (default ed25519)")
    args = ap.parse_args()
    alg = attest.Algorithm(args.alg)
    key, envelopes = make_envelopes(alg, args.n)
    trust = attest.TrustStore().with_key(key.public, operator=OPERATOR.name, countries=["MY"])
    base = attest.Verifier(trust)
    later = NOW + timedelta(minutes=1)
    n = len(envelopes)

    def best(fn: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
        result = float("inf")
        for _ in range(args.rounds):
            before()
            start = time.thread_time_ns()
            fn()
            result = min(result, time.thread_time_ns() - start)
        return result / n / 1e3

    parsed = [parse_envelope(raw) for raw in envelopes]
    signed = [
        (pae(e.payload_type, p), b64decode_canonical(e.signatures[0].sig, what="sig")) for e, p in parsed
    ]
    statements = [read_statement(p) for _, p in parsed]
    manifests = [s.predicate for s in statements]
    jobs = [canonical_job(m.job) for m in manifests]
    policy = base.policy
    assert isinstance(policy, Policy)
    facts = Facts("declared", tuple(base.catalog.classify_gpu(g) for g in manifests[0].gpus), base.catalog)
    stages: dict[str, Callable[[], object]] = {
        "parse_envelope": lambda: [parse_envelope(raw) for raw in envelopes],
        "signature (bare verify)": lambda: [key.public.verify(s, m) for m, s in signed],
        "sha256 of the payload": lambda: [hashlib.sha256(p).hexdigest() for _, p in parsed],
        "read_statement": lambda: [read_statement(p) for _, p in parsed],
        "canonical job + subjects": lambda: [
            workload_subjects(m, job_canonical=canonical_job(m.job)) for m in manifests
        ],
        "chain digest": lambda: [manifest_digest(m, job=j) for m, j in zip(manifests, jobs, strict=True)],
        "policy verdict (kept)": lambda: [policy.verdict(m, facts=facts) for m in manifests],
    }
    print(f"{alg.value}, {n} envelopes x {args.rounds} rounds, thread CPU time per envelope")
    for name, fn in stages.items():
        print(f"  {name:<28} {best(fn, clear_digests if name == 'chain digest' else lambda: None):7.1f} us")

    whole, stopped = verify_module._verify, _stopped_after_step_5()

    def stream() -> float:
        verifier = attest.Verifier(trust, policy=policy, catalog=base.catalog)
        start = time.thread_time_ns()
        for raw in envelopes:
            verifier.verify(raw, now=later)
        return (time.thread_time_ns() - start) / n / 1e3

    fulls, cuts = [], []
    try:
        for _ in range(args.rounds):
            verify_module._verify = whole  # type: ignore[attr-defined]
            fulls.append(stream())
            verify_module._verify = stopped  # type: ignore[attr-defined]
            cuts.append(stream())
    finally:
        verify_module._verify = whole  # type: ignore[attr-defined]
    after = statistics.median(f - c for f, c in zip(fulls, cuts, strict=True))
    bare = best(stages["signature (bare verify)"])
    print(f"  {'full verification':<28} {min(fulls):7.1f} us   (bare/full {bare / min(fulls):.2f})")
    print(f"  {'stopped after step 5':<28} {min(cuts):7.1f} us")
    print(f"  {'steps 6-15 + result, in place':<28} {after:7.1f} us   (median of paired rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
