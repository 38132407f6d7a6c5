"""The per-job cost of the Slurm hooks in examples/slurm/, beside the floor of starting anything.

Each job runs PrologSlurmctld once (``attest admit`` over its nodes' evidence, on the controller)
and Prolog and Epilog once per node (``attest daemon sign-job`` against the node's daemon). Here
the scripts run exactly as Slurm runs them (its fixed PATH, the SLURM_* variables, the
configuration file beside them), against a real attest daemon with simulated H100s and a
collector-style evidence directory of ``--nodes`` nodes; a job on one node with one GPU. The
raw primitives in the same run: ``sh -c true`` (a hook that does nothing) and ``python -I -c
pass`` (the interpreter any Python tool starts). The real-Slurm tests
(tests/examples/test_slurm_cluster.py) run the same scripts inside slurmctld and slurmd.

Run: python bench/bench_slurm_hooks.py [--jobs 20] [--nodes 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from attest.crypto.keys import SigningKey, write_private_key
from attest.crypto.trust import TrustStore
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.scheduler.evidence import NewestEvidence
from attest.verify import verify_and_open

REPO = Path(__file__).resolve().parents[1]
HOOKS = REPO / "examples" / "slurm"
ATTEST = str(Path(sys.executable).parent / "attest")
SLURM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DAEMON = """
key = "{d}/node.key"
socket = "{d}/attest.sock"
state_dir = "{d}/state"
gpus = "h100"
hostname = "gpu-001"
heartbeat_interval_s = 0
allowed_uids = [{uid}]

[site]
facility_id = "jhb-2"
name = "Johor DC 2"
country = "MY"
latitude = 1.6561
longitude = 103.6032

[operator]
name = "Example Cloud Sdn. Bhd."
country = "MY"
"""


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        out.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"{cmd[-1]} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=50, help="nodes with evidence in the directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        key = SigningKey.generate()
        write_private_key(d / "node.key", key)
        (d / "daemon.toml").write_text(DAEMON.format(d=d, uid=os.getuid()))
        trust = TrustStore().with_key(key.public, hosts=["gpu-001"])
        daemon = subprocess.Popen([ATTEST, "daemon", "--config", str(d / "daemon.toml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(str(d / "attest.sock"))
                    break
                except OSError:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise SystemExit("the daemon did not start") from None
                    time.sleep(0.05)
            # The collector's directory: this node's heartbeat and the other nodes' newest envelopes.
            subprocess.run([ATTEST, "daemon", "heartbeat", "--socket", str(d / "attest.sock")], check=True, capture_output=True)
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from bench_audit import fleet

            others, fleet_trust = fleet(args.nodes - 1, 1)
            for entry in fleet_trust.entries:
                trust = trust.with_key(entry.key)
            trust.save(d / "trust.json")
            newest = NewestEvidence(d / "evidence")
            nonces, chains = MemoryNonceStore(), MemoryChainStore()
            now = datetime.now(UTC)
            for _, raw in [*others, *[(p.name, p.read_bytes()) for p in (d / "state" / "spool").glob("*.json")]]:
                result, manifest = verify_and_open(raw, trust, now=now, nonces=nonces, chains=chains)
                newest.offer(raw, result, manifest)
            shutil.copy(HOOKS / "tenants.json", d / "tenants.json")
            hooks = d / "hooks"
            hooks.mkdir()
            for script in ("prolog_slurmctld.sh", "prolog.sh", "epilog.sh"):
                shutil.copy(HOOKS / script, hooks / script)
            (hooks / "attest-hooks.conf").write_text(
                f"ATTEST={ATTEST}\nATTEST_TENANTS={d}/tenants.json\nATTEST_TRUST={d}/trust.json\n"
                f"ATTEST_EVIDENCE={d}/evidence\nATTEST_SOCKET={d}/attest.sock\nATTEST_ADMIT_ARGS=\"--max-age 3600\"\n"
            )
            env = {"PATH": SLURM_PATH, "SLURM_JOB_ID": "1", "SLURM_JOB_ACCOUNT": "acme-robotics", "SLURM_JOB_NODELIST": "gpu-001",
                   "SLURMD_NODENAME": "gpu-001", "SLURM_JOB_GPUS": "0"}
            rows = {
                "PrologSlurmctld (attest admit)": timed(["sh", str(hooks / "prolog_slurmctld.sh")], env, args.jobs),
                "Prolog (sign-job start)": timed(["sh", str(hooks / "prolog.sh")], env, args.jobs),
                "Epilog (sign-job end)": timed(["sh", str(hooks / "epilog.sh")], env, args.jobs),
                "raw: sh -c true": timed(["sh", "-c", "true"], env, args.jobs),
                "raw: python -I -c pass": timed([sys.executable, "-I", "-c", "pass"], env, args.jobs),
            }
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    print(f"per-job hook cost, {args.jobs} jobs, evidence directory of {args.nodes} nodes (median / p90, ms)")
    for name, times in rows.items():
        times.sort()
        print(f"  {name:34} {statistics.median(times) * 1e3:8.0f} {times[int(len(times) * 0.9) - 1] * 1e3:8.0f}")
    total = sum(statistics.median(rows[k]) for k in list(rows)[:3])
    print(f"  {'a one-node job, all three hooks':34} {total * 1e3:8.0f}")


if __name__ == "__main__":
    main()
