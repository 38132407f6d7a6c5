"""Shared fixtures: keys, a trust store, and a factory for signed manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attest._internal import native
from attest.build import build_manifest
from attest.crypto.dsse import encode_envelope, sign_payload
from attest.crypto.keys import Algorithm, SigningKey, VerifyingKey
from attest.crypto.trust import TrustStore
from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import NodeBinding, SimulatedCcSource, bind
from attest.hardware.freshness import issue_challenge
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.manifest import Gpu, Job, Operator, Site, Tenant, WorkloadManifest
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.sign import build_statement, sign_manifest

# The real-daemon fixture (make_daemon) for every test directory that needs a daemon process.
pytest_plugins = ["tests.daemon.fixtures"]

# Simulated GPUs answer at once in tests (and in the CLI subprocesses, which inherit this), so
# binding eight GPUs does not cost 240 ms each time; the tests about report time set it themselves.
os.environ.setdefault("ATTEST_SIM_REPORT_MS", "0")

REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO.parent / "shared" / "vectors" / "nvidia"
NOW = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)

COMPILED = native.status().startswith("compiled")
"""Whether this run's verifier is mypyc's compiled build (setup.py); tests/test_native.py runs the
verifier's own tests again as pure Python when it is."""
PURE_ONLY = pytest.mark.skipif(
    COMPILED,
    reason="patches a function that compiled callers call directly: tests/test_native.py runs it as pure Python",
)

SITE = Site(
    facility_id="jhb-2", name="Johor DC 2", country="MY", latitude=1.6561, longitude=103.6032, accuracy=500
)
OPERATOR = Operator(name="Example Cloud Sdn. Bhd.", country="MY")
TENANT = Tenant.from_obj(
    {
        "legal_name": "Example Robotics Inc.",
        "headquarters_country": "US",
        "ultimate_parent": {"legal_name": "Example Holdings Inc.", "headquarters_country": "US"},
    }
)


@dataclass
class Node:
    """A simulated node with its key, and an auditor's trust store that trusts it."""

    key: SigningKey
    trust: TrustStore
    host: str = "gpu-a17"
    preset: str = "h100"
    site: Site = SITE
    history: list[WorkloadManifest] = field(default_factory=list)

    def manifest(self, *, now: datetime = NOW, chain: bool = False, **changes: Any) -> WorkloadManifest:
        """A fresh manifest; ``chain`` links it after the last one made with chain=True."""
        evidence = SimulatedGpuSource(self.preset, seed=self.host, hostname=self.host).read()
        job = Job(
            id="slurm-48211", scheduler="slurm", phase="start", started_at=now, declared_training_ops=3.1e24
        )
        after = self.history[-1] if chain and self.history else None
        m = build_manifest(
            evidence=evidence,
            site=self.site,
            tenant=TENANT,
            operator=OPERATOR,
            job=job,
            node_key_id=self.key.key_id,
            now=now,
            after=after,
        )
        if changes:
            m = WorkloadManifest.from_obj({**m.to_obj(), **changes})
        if chain:
            self.history.append(m)
        return m

    def envelope(self, manifest: WorkloadManifest | None = None, key: SigningKey | None = None) -> bytes:
        """Canonical envelope bytes of ``manifest`` (default: a fresh one)."""
        m = manifest or self.manifest()
        if key is not None and key.key_id != m.node.key_id:  # a forgery: sign_manifest would refuse
            payload = build_statement(m).model_dump_json(by_alias=True, exclude_none=True).encode()
            return encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [key]))
        return encode_envelope(sign_manifest(m, key or self.key))


CHALLENGER = SigningKey.generate()
"""The binding challenger every test trust store trusts (attest challenge issue)."""


def trusted_node(algorithm: Algorithm = Algorithm.ED25519, **scope: Any) -> Node:
    key = SigningKey.generate(algorithm)
    defaults: dict[str, Any] = {"operator": OPERATOR.name, "sites": ["jhb-2"], "countries": ["MY"]}
    trust = TrustStore().with_key(key.public, **{**defaults, **scope}).with_challenger(CHALLENGER.public)
    return Node(key=key, trust=trust)


def fresh_binding(
    gpus: Sequence[Gpu],
    key: VerifyingKey,
    vendor: SimulatedCcBackend,
    *,
    at: datetime = NOW,
    challenger: SigningKey = CHALLENGER,
    ocsp: bool = True,
) -> NodeBinding:
    """A binding as a node makes it an hour before ``at``: a trusted challenge, the vendor's OCSP answers."""
    made = at - timedelta(hours=1)
    return bind(
        gpus,
        key,
        SimulatedCcSource(vendor, ocsp_produced_at=made),
        challenge=issue_challenge(challenger, now=made),
        revocation=ocsp,
    )


@pytest.fixture
def node() -> Node:
    return trusted_node()


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> SimulatedCcBackend:
    """A simulated GPU vendor (its CA and its OCSP responder), one per test module."""
    return SimulatedCcBackend(tmp_path_factory.mktemp("vendor"))


@pytest.fixture
def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.skip(f"NVIDIA sample vectors not found at {VECTORS} (they live in ../shared beside the repo)")
    return VECTORS


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    """Run the real ``attest`` command in a subprocess, in ``tmp_path``."""

    def run(
        *args: str, input: str | None = None, check_code: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
        proc = subprocess.run(
            [sys.executable, "-m", "attest.cli.main", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            input=input,
            env=env,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check_code is not None:
            assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


CLI_SITE = {
    "facility_id": "jhb-2",
    "name": "Johor DC 2",
    "country": "MY",
    "latitude": 1.6561,
    "longitude": 103.6032,
    "accuracy": 500,
}
CLI_TENANT = {
    "legal_name": "Example Robotics Inc.",
    "headquarters_country": "US",
    "ultimate_parent": {"legal_name": "Example Holdings Inc.", "headquarters_country": "US"},
}
CLI_OPERATOR = "Example Cloud Sdn. Bhd."


@pytest.fixture
def workspace(tmp_path: Path, cli: CliRunner) -> Path:
    """A CLI working directory: site and tenant files, a node key, a trust store that trusts it."""
    (tmp_path / "site.json").write_text(json.dumps(CLI_SITE))
    (tmp_path / "tenant.json").write_text(json.dumps(CLI_TENANT))
    cli("keygen", "--out", "node", check_code=0)
    cli(
        "trust",
        "add",
        "node/attest.pub",
        "--trust",
        "trust.json",
        "--operator",
        CLI_OPERATOR,
        "--site",
        "jhb-2",
        "--country",
        "MY",
        check_code=0,
    )
    return tmp_path


def make_envelope(cli: CliRunner, name: str = "m", *extra: str) -> None:
    """Build and sign NAME.json into NAME.env.json with the real CLI, in the workspace."""
    cli(
        "manifest",
        "--site",
        "site.json",
        "--tenant",
        "tenant.json",
        "--job-id",
        "slurm-1",
        "--operator",
        CLI_OPERATOR,
        "--key",
        "node/attest.key",
        "--simulate",
        "h100",
        "--seed",
        "n1",
        "-o",
        f"{name}.json",
        *extra,
        check_code=0,
    )
    cli("sign", f"{name}.json", "--key", "node/attest.key", "-o", f"{name}.env.json", check_code=0)


__all__ = [
    "CHALLENGER",
    "CLI_OPERATOR",
    "CLI_SITE",
    "CLI_TENANT",
    "NOW",
    "OPERATOR",
    "REPO",
    "SITE",
    "TENANT",
    "VECTORS",
    "CliRunner",
    "Node",
    "fresh_binding",
    "make_envelope",
    "trusted_node",
    "workspace",
]


def fork_branches(
    node: Node, now: datetime = NOW
) -> tuple[WorkloadManifest, WorkloadManifest, WorkloadManifest]:
    """A node's chained manifest and two different manifests after it at the same sequence (a fork)."""
    first = node.manifest(now=now, chain=True)
    evidence = SimulatedGpuSource(node.preset, seed=node.host, hostname=node.host).read()

    def branch(job_id: str) -> WorkloadManifest:
        job = Job(id=job_id, scheduler="slurm", phase="start", started_at=now, declared_training_ops=3.1e24)
        return build_manifest(
            evidence=evidence,
            site=node.site,
            tenant=TENANT,
            operator=OPERATOR,
            job=job,
            node_key_id=node.key.key_id,
            now=now,
            after=first,
        )

    return first, branch("slurm-A"), branch("slurm-B")
