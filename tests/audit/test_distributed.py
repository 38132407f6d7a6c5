"""The audit on a local multi-worker Dask cluster agrees with the local run, result for result."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from attest.audit import audit
from tests.audit.test_audit import chain, fleet, reuse
from tests.conftest import NOW, CliRunner

distributed = pytest.importorskip("distributed", reason="Dask (distributed) is a dev dependency")


@pytest.mark.slow
def test_dask_cluster_agrees_with_local() -> None:
    trust, a, b = fleet()
    items = chain(a, list(range(0, 90, 3))) + chain(b, list(range(0, 90, 3)))
    items.append(items[5])  # a copy: seen before (only whole-node grouping finds it)
    items.append(reuse(a, 7))  # a replay: only whole-node grouping finds it
    del items[20]  # a gap
    local = audit(items, trust, now=NOW + timedelta(hours=2), policy="us-ear")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = audit(items, trust, now=NOW + timedelta(hours=2), policy="us-ear", dask_client=client)
    assert [r.to_obj() for r in remote.results] == [r.to_obj() for r in local.results]
    assert [f.to_obj() for f in remote.fleet] == [f.to_obj() for f in local.fleet]
    assert "fleet.chain_gap" in [f.rule for f in remote.fleet]
    assert any(f.rule == "freshness.nonce_reused" for r in remote.results for f in r.findings)
    assert any(f.rule == "freshness.seen_before" for r in remote.results for f in r.findings)


@pytest.mark.slow
def test_cli_dask_local(cli: CliRunner, tmp_path: Path) -> None:
    trust, a, _ = fleet()
    trust.save(tmp_path / "trust.json")
    (tmp_path / "spool").mkdir()
    for name, raw in chain(a, [0, 5, 10]):
        (tmp_path / "spool" / name).write_bytes(raw)
    out = cli("audit", "spool", "--trust", "trust.json", "--policy", "none", "--dask", "local:2", "--now",
              (NOW + timedelta(minutes=12)).isoformat(), "--format", "json", check_code=0)
    assert '"envelopes": 3' in out.stdout
    assert "local:N needs" in cli("audit", "spool", "--trust", "trust.json", "--dask", "local:x", check_code=2).stderr
