"""A real Slurm (Debian's slurm-wlm and munge) on this host: munged, slurmctld and two slurmds with
the project's hooks from examples/slurm/, real attest daemons, real jobs through sbatch and srun.

Notes on the setup: ../shared/reference/slurm-single-host.md. ``.ci/run`` installs the packages and
sets ATTEST_REQUIRE_SLURM=1, so in CI a missing Slurm fails instead of skipping.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.crypto.trust import TrustStore
from attest.scheduler.slurm import gpu_indices

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "examples" / "slurm"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo", "scancel")
MAX_AGE = 12  # seconds: a node whose daemon died is stale soon after
HEARTBEAT = 3

missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
if missing or os.geteuid() != 0:
    why = (
        f"Slurm is not installed here ({', '.join(missing)} missing): apt-get install -y slurm-wlm munge"
        if missing
        else "slurmd must run as root to start jobs"
    )
    if os.environ.get("ATTEST_REQUIRE_SLURM"):
        raise RuntimeError(f"ATTEST_REQUIRE_SLURM is set but {why}")
    pytest.skip(why, allow_module_level=True)


def which(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], object], timeout: float = 60.0, every: float = 0.5) -> object:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@dataclass
class Cluster:
    dir: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    attest: str = ""

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def start(self, name: str, *cmd: str) -> None:
        log = (self.dir / "logs" / f"{name}.out").open("ab")
        self.procs[name] = subprocess.Popen(list(cmd), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def job(self, job_id: str) -> dict[str, str]:
        out = self.run("scontrol", "show", "job", "-o", job_id).stdout
        fields: dict[str, str] = {}
        # key=value pairs; Comment= may contain spaces: it runs until the next " Key=".
        for m in re.finditer(r"(\w+(?::\w+)?)=(.*?)(?= \w+(?::\w+)?=|$)", out.strip()):
            fields.setdefault(m.group(1), m.group(2))
        return fields

    def sbatch(self, *args: str, wrap: str = "true") -> str:
        r = self.run("sbatch", "--parsable", "-o", "/dev/null", *args, "--wrap", wrap)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().split(";")[0]

    def start_daemon(self, node: str) -> None:
        self.start(f"attest-{node}", self.attest, "daemon", "--config", str(self.dir / f"daemon-{node}.toml"))
        sock = self.dir / "sock" / f"{node}.sock"

        def up() -> bool:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(sock))
                return any((self.dir / "evidence" / node).glob("*.json"))  # its first heartbeat
            except OSError:
                return False

        wait_for(f"the attest daemon of {node}", up, timeout=60)

    def manifests(self, node: str, job_id: str) -> list[dict[str, object]]:
        """The manifests of ``job_id`` in ``node``'s spool (predicates)."""
        out = []
        for path in sorted((self.dir / "evidence" / node).glob("*.json")):
            predicate = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))["predicate"]
            if predicate["job"]["id"] == job_id:
                out.append(predicate)
        return out


DAEMON = """
key = "{dir}/keys/{node}/attest.key"
socket = "{dir}/sock/{node}.sock"
state_dir = "{dir}/state/{node}"
spool_dir = "{dir}/evidence/{node}"
gpus = "h100"
hostname = "{node}"
heartbeat_interval_s = {heartbeat}
allowed_uids = [0]

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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("slurm")
    d.chmod(0o755)
    for sub in ("logs", "munge", "dev", "state", "spool", "hooks", "sock", "evidence", "keys", "ctld"):
        (d / sub).mkdir()
    host = socket.gethostname()
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SLURM_CONF": str(d / "slurm.conf"),
        "HOME": str(d),
        "LANG": "C.UTF-8",
    }
    c = Cluster(d, env, attest=str(Path(sys.executable).parent / "attest"))
    try:
        # munge: its own key and socket, so nothing of the host's is used or changed.
        (d / "munge").chmod(0o700)
        key = d / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        msock = d / "munge" / "munge.sock"
        c.start("munged", which("munged"), "-F", "-f", f"--key-file={key}", f"--socket={msock}",
                f"--pid-file={d / 'munge' / 'munged.pid'}", f"--log-file={d / 'logs' / 'munged.log'}",
                f"--seed-file={d / 'munge' / 'munge.seed'}")
        wait_for("munged", msock.exists, timeout=30)
        # GPUs for gres: character devices (Slurm refuses plain files).
        for i in range(8):
            os.mknod(d / "dev" / f"nvidia{i}", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        (d / "gres.conf").write_text(f"AutoDetect=off\nNodeName=n1,n2 Name=gpu Type=h100 File={d}/dev/nvidia[0-7]\n")
        # Node keys and the auditor's trust store (each key named for its host).
        trust = TrustStore()
        for node in ("n1", "n2"):
            (d / "keys" / node).mkdir()
            k = SigningKey.generate()
            write_private_key(d / "keys" / node / "attest.key", k)
            trust = trust.with_key(k.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"], hosts=[node])
            (d / f"daemon-{node}.toml").write_text(DAEMON.format(dir=d, node=node, heartbeat=HEARTBEAT))
        trust.save(d / "trust.json")
        # The hooks as an admin installs them: the scripts, and their configuration beside them.
        for script in ("prolog_slurmctld.sh", "prolog.sh", "epilog.sh"):
            shutil.copy(HOOKS / script, d / "hooks" / script)
            (d / "hooks" / script).chmod(0o755)
        shutil.copy(HOOKS / "tenants.json", d / "tenants.json")
        (d / "hooks" / "attest-hooks.conf").write_text(
            f"ATTEST={c.attest}\nATTEST_TENANTS={d}/tenants.json\nATTEST_TRUST={d}/trust.json\n"
            f"ATTEST_EVIDENCE={d}/evidence\nATTEST_POLICY=us-ear\nATTEST_ADMIT_ARGS=\"--max-age {MAX_AGE}\"\n"
            f"ATTEST_LOG={d}/logs/admit.log\nATTEST_NODE_LOG={d}/logs/node-hooks.log\n"
            f"ATTEST_SOCKET={d}/sock/${{SLURMD_NODENAME:-none}}.sock\nexport SLURM_CONF={d}/slurm.conf\n"
        )
        ctld_port, p1, p2 = free_port(), free_port(), free_port()
        (d / "slurm.conf").write_text(
            f"""ClusterName=attest-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={msock}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
GresTypes=gpu
StateSaveLocation={d}/ctld
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/logs/slurmctld.log
SlurmdLogFile={d}/logs/slurmd-%n.log
SchedulerType=sched/builtin
PrologSlurmctld={d}/hooks/prolog_slurmctld.sh
Prolog={d}/hooks/prolog.sh
Epilog={d}/hooks/epilog.sh
PrologFlags=Alloc
NodeName=n1 NodeAddr=127.0.0.1 NodeHostname={host} Port={p1} CPUs=2 RealMemory=1000 Gres=gpu:h100:8
NodeName=n2 NodeAddr=127.0.0.1 NodeHostname={host} Port={p2} CPUs=2 RealMemory=1000 Gres=gpu:h100:8
PartitionName=gpu Nodes=n1,n2 Default=YES State=UP OverSubscribe=NO
"""
        )
        c.start("slurmctld", which("slurmctld"), "-D", "-i", "-f", str(d / "slurm.conf"))
        wait_for("slurmctld", lambda: c.run("scontrol", "ping").stdout.count("UP") >= 1, timeout=60)
        for node in ("n1", "n2"):
            c.start(f"slurmd-{node}", which("slurmd"), "-D", "-N", node, "-f", str(d / "slurm.conf"))

        def idle() -> bool:
            states = c.run("sinfo", "-h", "-N", "-o", "%N %t").stdout.split()
            return states.count("idle") == 2

        wait_for("both nodes idle", idle, timeout=90)
        c.start_daemon("n1")  # n2's daemon is started by a test: until then n2 has no evidence
        yield c
    finally:
        if "slurmctld" in c.procs:
            c.run("scancel", "--full", "-p", "gpu", timeout=30)
        for name in [n for n in c.procs if n.startswith(("slurmd", "attest"))]:
            c.stop(name)
        c.stop("slurmctld")
        c.stop("munged")


def test_an_admitted_tenant_runs_and_its_manifests_carry_the_job_id_and_exactly_its_gpus(cluster: Cluster) -> None:
    job = cluster.sbatch("-A", "acme-robotics", "-w", "n1", "--gres=gpu:2", wrap="sleep 8")
    wait_for(f"job {job} to run", lambda: cluster.job(job).get("JobState") == "RUNNING")
    detail = cluster.run("scontrol", "show", "job", "-d", job).stdout  # the allocation, while it runs
    wait_for(f"job {job} to complete", lambda: cluster.job(job).get("JobState") == "COMPLETED")
    ms = wait_for("its end manifest", lambda: len(cluster.manifests("n1", job)) == 2 and cluster.manifests("n1", job))
    assert isinstance(ms, list)
    assert [m["job"]["phase"] for m in ms] == ["start", "end"]  # type: ignore[index]
    for m in ms:
        assert m["job"]["scheduler"] == "slurm" and m["tenant"]["legal_name"] == "Example Robotics Inc."  # type: ignore[index]
        assert len(m["gpus"]) == 2  # type: ignore[arg-type]
    assert ms[0]["gpus"] == ms[1]["gpus"]
    # Exactly the GPUs Slurm allocated (their physical indices, as scontrol shows them).
    idx = re.search(r"GRES=gpu(?::h100)?:2\(IDX:([0-9,-]+)\)", detail)
    assert idx is not None, detail
    assert [str(g["index"]) for g in ms[0]["gpus"]] == gpu_indices(idx.group(1), None)  # type: ignore[index,union-attr]
    # srun too: one GPU, one GPU in the manifests.
    r = cluster.run("srun", "-A", "acme-robotics", "-w", "n1", "--gres=gpu:1", "sh", "-c", "echo $SLURM_JOB_ID")
    assert r.returncode == 0, r.stderr
    step = r.stdout.strip()
    one = wait_for("the srun job's end manifest", lambda: len(cluster.manifests("n1", step)) == 2 and cluster.manifests("n1", step))
    assert isinstance(one, list) and [len(m["gpus"]) for m in one] == [1, 1]  # type: ignore[arg-type]


def test_a_cpu_only_job_attributes_no_gpu(cluster: Cluster) -> None:
    job = cluster.sbatch("-A", "acme-robotics", "-w", "n1")
    wait_for(f"job {job} to complete", lambda: cluster.job(job).get("JobState") == "COMPLETED")
    assert cluster.manifests("n1", job) == []


def test_a_refused_tenant_is_held_with_its_reason_and_not_requeued_in_a_loop(cluster: Cluster) -> None:
    job = cluster.sbatch("-A", "blue-lotus", "-w", "n1", "--gres=gpu:1")
    held = wait_for(f"job {job} held", lambda: (j := cluster.job(job)).get("Reason") == "JobHeldAdmin" and j, timeout=90)
    assert isinstance(held, dict)
    assert held["JobState"] == "PENDING"
    assert "attest: refused" in held["Comment"] and "policy.headquarters" in held["Comment"], held
    assert int(held.get("Restarts", "0")) <= 1
    assert cluster.manifests("n1", job) == []
    log = (cluster.dir / "logs" / "admit.log").read_text()
    assert f"attest job {job} account=blue-lotus nodes=n1: refused" in log
    # An admitted job on the same node runs meanwhile (the refused one holds nothing).
    ok = cluster.sbatch("-A", "acme-robotics", "-w", "n1", "--gres=gpu:8")
    wait_for(f"job {ok} to complete", lambda: cluster.job(ok).get("JobState") == "COMPLETED")
    assert cluster.job(job)["Reason"] == "JobHeldAdmin"  # still held, not back in the queue
    cluster.run("scancel", job)
    # An interactive job is cancelled by Slurm; its reason is still readable.
    r = cluster.run("srun", "-A", "blue-lotus", "-w", "n1", "--gres=gpu:1", "true")
    assert r.returncode != 0
    refused = [ln for ln in (cluster.dir / "logs" / "admit.log").read_text().splitlines() if "account=blue-lotus" in ln]
    interactive = re.search(r"attest job (\d+) ", refused[-1])
    assert interactive is not None and interactive.group(1) != job
    assert "policy.headquarters" in cluster.job(interactive.group(1)).get("Comment", "")


def test_a_node_without_evidence_and_a_node_whose_daemon_died_are_refused(cluster: Cluster) -> None:
    job = cluster.sbatch("-A", "acme-robotics", "-w", "n2", "--gres=gpu:1")
    held = wait_for(f"job {job} held", lambda: (j := cluster.job(job)).get("Reason") == "JobHeldAdmin" and j, timeout=90)
    assert isinstance(held, dict) and "no-evidence" in held["Comment"], held
    cluster.run("scancel", job)
    cluster.start_daemon("n2")
    ok = cluster.sbatch("-A", "acme-robotics", "-w", "n2", "--gres=gpu:1")
    wait_for(f"job {ok} to complete", lambda: cluster.job(ok).get("JobState") == "COMPLETED")
    cluster.stop("attest-n2")
    time.sleep(MAX_AGE + 1)  # its last heartbeat goes stale
    dead = cluster.sbatch("-A", "acme-robotics", "-w", "n2", "--gres=gpu:1")
    held = wait_for(f"job {dead} held", lambda: (j := cluster.job(dead)).get("Reason") == "JobHeldAdmin" and j, timeout=90)
    assert isinstance(held, dict) and "stale" in held["Comment"], held
    cluster.run("scancel", dead)
