"""The SkyPilot admin policy on request objects shaped like SkyPilot's."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

SKY = Path(__file__).resolve().parents[2] / "examples" / "skypilot"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ATTEST_SKYPILOT_TENANTS", str(SKY / "tenants.json"))
    monkeypatch.syspath_prepend(str(SKY))
    sys.modules.pop("attest_policy", None)
    import attest_policy

    return attest_policy


def request(user: str, *resources: tuple[str | None, str | None, str | None]) -> SimpleNamespace:
    res = [SimpleNamespace(cloud=c, region=r, accelerators={a: 8} if a else None) for c, r, a in resources]
    return SimpleNamespace(user=SimpleNamespace(name=user), task=SimpleNamespace(resources=res), skypilot_config={})


def test_allowed_and_refused_regions(policy) -> None:  # type: ignore[no-untyped-def]
    ok = request("alice", ("aws", "ap-southeast-1", "H100"), ("gcp", "asia-northeast1", "H200"))
    assert policy.AttestPolicy.validate_and_mutate(ok) is ok
    with pytest.raises(policy.PlacementRefused, match=r"policy\.destination"):
        policy.AttestPolicy.validate_and_mutate(request("alice", ("aws", "cn-north-1", "H100")))
    with pytest.raises(policy.PlacementRefused, match=r"policy\.headquarters"):
        policy.AttestPolicy.validate_and_mutate(request("bo", ("aws", "ap-southeast-1", "H100")))
    with pytest.raises(policy.PlacementRefused, match="pin a cloud and region"):
        policy.AttestPolicy.validate_and_mutate(request("alice", ("aws", None, "H100")))
    with pytest.raises(policy.PlacementRefused, match="not in the region table"):
        policy.AttestPolicy.validate_and_mutate(request("alice", ("aws", "mars-1", "H100")))
    with pytest.raises(policy.PlacementRefused, match="no tenant record"):
        policy.AttestPolicy.validate_and_mutate(request("mallory", ("aws", "us-east-1", "H100")))
    with pytest.raises(policy.PlacementRefused, match="treated as controlled"):
        policy.AttestPolicy.validate_and_mutate(request("alice", ("aws", "us-east-1", "TPU-v5")))
    # Even an L40S is a 3A090 chip by the catalog's computed TPP: refused in China too.
    with pytest.raises(policy.PlacementRefused, match="3A090"):
        policy.AttestPolicy.validate_and_mutate(request("alice", ("aws", "cn-north-1", "L40S")))
    assert policy.AttestPolicy.validate_and_mutate(request("alice", ("azure", "malaysiawest", "B200")))
