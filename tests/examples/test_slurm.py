"""The Slurm scripts in examples/slurm/, run with the environment Slurm gives them, against a real daemon."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attest.crypto.trust import TrustStore
from tests.daemon.fixtures import DaemonProc, MakeDaemon

SLURM = Path(__file__).resolve().parents[2] / "examples" / "slurm"
ATTEST = shutil.which("attest", path=str(Path(sys.executable).parent)) or "attest"


def run(script: str, dp: DaemonProc | None, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "ATTEST": ATTEST,
        "ATTEST_TENANTS": str(SLURM / "tenants.json"),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_ACCOUNT": "acme-robotics",
        "SLURMD_NODENAME": "gpu-a17",
        "SLURM_SCRIPT_CONTEXT": "prolog_slurmd",
    }
    if dp is not None:
        base["ATTEST_SOCKET"] = dp.sock
    return subprocess.run(["sh", str(SLURM / script)], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_prolog_and_epilog_sign_start_and_end(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()
    r = run("prolog.sh", dp, SLURM_JOB_GPUS="0,2-3", CUDA_VISIBLE_DEVICES="0,2,3")
    assert r.returncode == 0, r.stderr
    r = run("epilog.sh", dp, SLURM_JOB_GPUS="0,2-3", SLURM_SCRIPT_CONTEXT="epilog_slurmd")
    assert r.returncode == 0, r.stderr
    with dp.client() as c:
        end, start = c.last(2)
    for m, phase in ((start, "start"), (end, "end")):
        assert m["phase"] == phase and m["job_id"] == "4242"
        body = json.loads(base64.b64decode(json.loads(m["envelope"])["payload"]))["predicate"]
        assert [g["index"] for g in body["gpus"]] == [0, 2, 3]
        assert body["tenant"]["legal_name"] == "Example Robotics Inc."
    # CUDA_VISIBLE_DEVICES is used when SLURM_JOB_GPUS is absent.
    assert run("prolog.sh", dp, CUDA_VISIBLE_DEVICES="5").returncode == 0
    with dp.client() as c:
        payload = json.loads(base64.b64decode(json.loads(c.last(1)[0]["envelope"])["payload"]))
    assert [g["index"] for g in payload["predicate"]["gpus"]] == [5]
    dp.stop()


def test_prolog_failure_drains_unless_soft(make_daemon: MakeDaemon) -> None:
    dp = make_daemon()
    dp.start()
    r = run("prolog.sh", dp, SLURM_JOB_ACCOUNT="unknown-account", SLURM_JOB_GPUS="0")
    assert r.returncode == 1 and "no tenant for account 'unknown-account'" in r.stderr
    assert run("prolog.sh", dp, SLURM_JOB_ACCOUNT="unknown-account", SLURM_JOB_GPUS="0", ATTEST_SOFT="1").returncode == 0
    # A job without GPUs uses none: no manifest attributes any to its tenant.
    with dp.client() as c:
        before = c.last(1)
    r = run("prolog.sh", dp)
    assert r.returncode == 0
    with dp.client() as c:
        assert c.last(1) == before
    dp.stop()
    r = run("prolog.sh", dp, SLURM_JOB_GPUS="0")  # daemon down: no manifest, node drained
    assert r.returncode == 1 and "no daemon socket" in r.stderr
    assert run("epilog.sh", dp, SLURM_JOB_GPUS="0").returncode == 0  # the epilog logs and keeps the node up by default
    assert run("epilog.sh", dp, SLURM_JOB_GPUS="0", ATTEST_SOFT="0").returncode == 1


def test_prolog_slurmctld_admits_or_refuses_by_tenant(make_daemon: MakeDaemon, tmp_path: Path) -> None:
    dp = make_daemon()
    dp.start()
    assert run("prolog.sh", dp, SLURM_JOB_GPUS="0").returncode == 0
    dp.stop()  # the spool is complete after a clean stop
    TrustStore().with_key(dp.key.public, operator="Example Cloud Sdn. Bhd.").save(tmp_path / "trust.json")
    ctld = {
        "ATTEST_EVIDENCE": str(dp.dir / "state" / "spool"),
        "ATTEST_TRUST": str(tmp_path / "trust.json"),
        "SLURM_SCRIPT_CONTEXT": "prolog_slurmctld",
    }
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-a17", **ctld)
    assert r.returncode == 0 and "ALLOWED" in r.stderr, r.stderr
    # A tenant whose ultimate parent is headquartered in China: the headquarters rule refuses.
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-a17", SLURM_JOB_ACCOUNT="blue-lotus", **ctld)
    assert r.returncode == 3 and "policy.headquarters" in r.stderr
    # The job runs on every node of its allocation: one attested node is not enough when the
    # others have no evidence (they could be anywhere, for anyone).
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-b[01-02],gpu-a17", **ctld)
    assert r.returncode == 3 and "2 of its 3 nodes may not run it" in r.stderr, r.stderr
    assert "it needs all of them: gpu-b01: no verified evidence about this node; gpu-b02: no verified" in r.stderr
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="", **ctld)
    assert r.returncode == 2 and "--allocated needs the job's nodes" in r.stderr  # never "every node with evidence"
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-b[01-02]", **ctld)
    assert r.returncode == 3 and "no verified evidence" in r.stderr
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-a17", SLURM_JOB_ACCOUNT="nobody", **ctld)
    assert r.returncode == 3 and "no tenant record" in r.stderr
    r = run("prolog_slurmctld.sh", None, SLURM_JOB_NODELIST="gpu-a17", ATTEST_TRUST=str(tmp_path / "missing.json"),
            **{k: v for k, v in ctld.items() if k != "ATTEST_TRUST"})
    assert r.returncode == 2  # cannot decide: refused as well


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [("gpu-[01-03,07],login1", ["gpu-01", "gpu-02", "gpu-03", "gpu-07", "login1"]), ("a[9-11]", ["a9", "a10", "a11"]),
     ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]), ("", [])],
)
def test_hostlists(hostlist: str, hosts: list[str]) -> None:
    from attest.scheduler.slurm import expand_hostlist

    assert expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize("bad", ["gpu-[01-03", "gpu-01]", "gpu-[a-b]", "gpu-[5-1]"])
def test_bad_hostlists(bad: str) -> None:
    from attest.errors import InputError
    from attest.scheduler.slurm import expand_hostlist

    with pytest.raises(InputError, match="host list"):
        expand_hostlist(bad)


def test_gpu_indices() -> None:
    from attest.errors import InputError
    from attest.scheduler.slurm import gpu_indices

    assert gpu_indices("0,2-3", "7") == ["0", "2", "3"]
    assert gpu_indices(None, "GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0") == ["GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0"]
    assert gpu_indices(None, None) == []
    with pytest.raises(InputError, match="not an index"):
        gpu_indices("zero", None)
