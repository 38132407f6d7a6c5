"""Admission of one job: the nodes' whole synced history beside the collector's newest-evidence directory.

A job's `PrologSlurmctld` runs `attest admit` for its allocated nodes. Before 2026-11-29 it
verified every envelope under `--evidence` (a synced spool holds every manifest the fleet ever
signed); now the collector can keep each node key's newest envelope (`--evidence-dir`), and
`--nodes` limits verification to the envelopes naming those hosts. All four ways, timed in one
run over the same fleet (in-process: load the evidence, decide), with the same decision required:

- history, all:      every envelope of the spool verified (what admit did before);
- history, --nodes:  only the job's nodes' envelopes verified, still their whole history;
- newest, all:       the collector's directory, every node's newest envelope;
- newest, --nodes:   the collector's directory, the job's nodes only (what the Slurm example does).

Run: python bench/bench_admit.py [--nodes 100] [--per-node 50] [--job-nodes 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit import T0, TENANT, fleet

from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.scheduler.admission import JobRequest, admit
from attest.scheduler.evidence import NewestEvidence, load_evidence, read_envelopes
from attest.verify import verify_and_open


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--per-node", type=int, default=50)
    ap.add_argument("--job-nodes", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    items, trust = fleet(args.nodes, args.per_node)
    now = T0 + timedelta(minutes=args.per_node)
    job_nodes = [f"node-{n:03d}" for n in range(args.job_nodes)]
    with tempfile.TemporaryDirectory() as tmp:
        spool, newest_dir = Path(tmp) / "spool", Path(tmp) / "evidence"
        spool.mkdir()
        for name, raw in items:
            (spool / name).write_bytes(raw)
        # what the collector does with each envelope it receives
        newest = NewestEvidence(newest_dir)
        nonces, chains = MemoryNonceStore(), MemoryChainStore()
        for _, raw in items:
            newest.offer(raw, *verify_and_open(raw, trust, now=now, nonces=nonces, chains=chains))

        ways = {
            "history, all": (spool, None),
            "history, --nodes": (spool, job_nodes),
            "newest, all": (newest_dir, None),
            "newest, --nodes": (newest_dir, job_nodes),
        }
        best = dict.fromkeys(ways, float("inf"))
        decisions = {}
        for _ in range(args.rounds):
            for label, (directory, hosts) in ways.items():
                t = time.perf_counter()
                evidence = load_evidence(read_envelopes(directory), trust, now=now, hosts=hosts)
                decision = admit(JobRequest(tenant=TENANT, gpu_count=8, nodes=job_nodes, every_node=True),
                                 evidence, policy=None, now=now)
                best[label] = min(best[label], time.perf_counter() - t)
                decisions[label] = (decision.allowed, [(v.node, v.allowed, v.reason) for v in decision.verdicts])

    print(f"fleet: {args.nodes} nodes x {args.per_node} manifests ({len(items)} envelopes); "
          f"a job on {args.job_nodes} nodes; best of {args.rounds} rounds")
    print(f"{'evidence':<20} {'seconds':>9} {'vs history, all':>16}")
    for label, seconds in best.items():
        print(f"{label:<20} {seconds:>9.4f} {best['history, all'] / seconds:>15.0f}x")
    same = len({repr(d) for d in decisions.values()}) == 1
    print(f"same decision every way: {same} (allowed: {decisions['newest, --nodes'][0]})")
    if not same:
        raise SystemExit(f"decisions differ: {decisions}")


if __name__ == "__main__":
    main()
