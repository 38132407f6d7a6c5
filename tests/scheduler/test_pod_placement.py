"""Which hosts a pod may land on, as the webhook reads its spec (None: it names none)."""

from __future__ import annotations

from typing import Any

import pytest

from attest.scheduler.kubernetes import ReviewError, placement

H = "kubernetes.io/hostname"


def term(*exprs: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"matchExpressions": list(exprs)}
    if fields:
        t["matchFields"] = fields
    return t


def affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}


@pytest.mark.parametrize(
    ("spec", "hosts"),
    [
        ({}, None),
        ({"nodeSelector": {"topology.kubernetes.io/region": "ap-southeast-1"}}, None),  # labels: any node could carry them
        ({"nodeName": "gpu-a"}, {"gpu-a"}),
        ({"nodeSelector": {H: "gpu-a"}}, {"gpu-a"}),
        ({"nodeName": "gpu-a", "nodeSelector": {H: "gpu-b"}}, set()),  # both must hold: no node
        (affinity(term({"key": H, "operator": "In", "values": ["gpu-a", "gpu-b"]})), {"gpu-a", "gpu-b"}),
        # Terms are alternatives: the union; expressions in a term all hold: the intersection.
        (affinity(term({"key": H, "operator": "In", "values": ["gpu-a"]}), term({"key": H, "operator": "In", "values": ["gpu-c"]})),
         {"gpu-a", "gpu-c"}),
        (affinity(term({"key": H, "operator": "In", "values": ["gpu-a", "gpu-b"]}, {"key": H, "operator": "In", "values": ["gpu-b"]})),
         {"gpu-b"}),
        (affinity(term(fields=[{"key": "metadata.name", "operator": "In", "values": ["gpu-d"]}])), {"gpu-d"}),
        # A term that names no host could match any node: the affinity names none.
        (affinity(term({"key": H, "operator": "In", "values": ["gpu-a"]}), term({"key": "zone", "operator": "In", "values": ["z1"]})), None),
        (affinity(term({"key": H, "operator": "NotIn", "values": ["gpu-a"]})), None),
        # Other constraints in a naming term only narrow it further: the named hosts are judged.
        (affinity(term({"key": H, "operator": "In", "values": ["gpu-a"]}, {"key": "zone", "operator": "In", "values": ["z1"]})), {"gpu-a"}),
        ({"nodeSelector": {H: "gpu-a"}, **affinity(term({"key": H, "operator": "In", "values": ["gpu-a", "gpu-b"]}))}, {"gpu-a"}),
    ],
)
def test_placement(spec: dict[str, Any], hosts: set[str] | None) -> None:
    assert placement(spec) == hosts


@pytest.mark.parametrize(
    "spec",
    [
        {"nodeName": 7},
        {"nodeSelector": [H]},
        {"nodeSelector": {H: ["gpu-a"]}},
        {"affinity": []},
        affinity("not a term"),  # type: ignore[arg-type]
        affinity(term({"key": H, "operator": "In", "values": "gpu-a"})),
        affinity(term({"key": H, "operator": "In", "values": [1]})),
    ],
)
def test_malformed_specs_are_refused_with_a_reason(spec: dict[str, Any]) -> None:
    with pytest.raises(ReviewError):
        placement(spec)
