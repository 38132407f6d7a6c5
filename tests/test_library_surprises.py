"""A library that does not surprise: a host name is not its characters, a naive datetime is a clear error.

Real components throughout (keys, envelopes, the verifier, admission); the README's names are checked
against the files they name.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

import attest
from attest.audit import audit
from attest.errors import AttestError, InputError
from attest.scheduler import JobRequest, admit
from tests.conftest import NOW, REPO, TENANT, CliRunner, trusted_node

NAIVE = datetime(2026, 11, 28, 9, 0)  # naive on purpose


def test_a_str_of_nodes_is_one_host_not_its_characters() -> None:
    node = trusted_node()
    evidence = attest.load_evidence([("a", node.envelope())], node.trust, now=NOW)
    decision = admit(JobRequest(tenant=TENANT, nodes="gpu-a17", gpu_count=8), evidence, policy=None, now=NOW)
    assert [v.node for v in decision.verdicts] == ["gpu-a17"] and decision.allowed
    assert JobRequest(tenant=TENANT, nodes=["gpu-a17", "gpu-b"]).nodes == ("gpu-a17", "gpu-b")
    # A host list, several names or an empty string (an unset variable would mean every node): refused.
    for text in ("gpu-[01-04]", "gpu-01,gpu-02", "", "  "):
        with pytest.raises(InputError, match="is not a host name: give a list of host names"):
            JobRequest(tenant=TENANT, nodes=text)
    with pytest.raises(InputError, match="host names"):
        JobRequest(tenant=TENANT, nodes=["gpu-a17", 7])  # type: ignore[list-item]
    # load_evidence's hosts likewise: one name, not its characters.
    assert list(attest.load_evidence([("a", node.envelope())], node.trust, now=NOW, hosts="gpu-a17")) == ["gpu-a17"]


def test_a_naive_datetime_is_a_clear_error_everywhere_it_is_given() -> None:
    node = trusted_node()
    raw = node.envelope()
    evidence = attest.load_evidence([("a", raw)], node.trust, now=NOW)
    calls = {
        "verify_envelope": lambda: attest.verify_envelope(raw, node.trust, now=NAIVE),
        "verify_many": lambda: attest.verify_many([("a", raw)], node.trust, now=NAIVE, nonces=None, chains=None),
        "load_evidence": lambda: attest.load_evidence([("a", raw)], node.trust, now=NAIVE),
        "admit": lambda: admit(JobRequest(tenant=TENANT, nodes=["gpu-a17"]), evidence, policy=None, now=NAIVE),
        "audit": lambda: audit([("a", raw)], node.trust, now=NAIVE, policy=None),
        "build_manifest": lambda: attest_build(NAIVE),
    }
    for name, call in calls.items():
        with pytest.raises(AttestError, match=r"has no time zone: give an aware datetime") as err:
            call()
        assert "datetime.now(UTC)" in (err.value.hint or ""), name


def attest_build(now: datetime) -> object:
    from attest.build import build_manifest
    from attest.hardware import open_source
    from attest.model.manifest import Job
    from tests.conftest import OPERATOR, SITE

    evidence = open_source("h100", seed="n", hostname="gpu-a17").read()
    job = Job(id="j", scheduler="slurm", phase="heartbeat")
    return build_manifest(evidence=evidence, site=SITE, tenant=TENANT, operator=OPERATOR, job=job, node_key_id="ab" * 32, now=now)


def test_the_readme_names_files_that_exist_and_says_to_make_a_log_key_first(cli: CliRunner, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    for copied in re.findall(r"^cp (examples/\S+) \S+$", readme, flags=re.MULTILINE):
        assert (REPO / copied).is_file(), copied
    assert "cp examples/sites/johor-dc2.json site.json" in readme
    assert readme.index("attest keygen --out logkey") < readme.index("attest log init --log audit.db")
    out = cli("log", "init", "--log", "a.db", "--origin", "example.com/log", "--key", "log.key", check_code=2)
    assert "key log.key does not exist" in out.stderr and "attest keygen --out DIR" in out.stderr
