"""One source of truth for "China": every country-dependent rule by {CN, HK, MO} (85 FR 83765).

Each case is judged with the bundled ``us-ear`` data; removing the ``territories`` line from it
makes the HK cases of every rule fail.
"""

from __future__ import annotations

from datetime import date

import pytest

from attest.model.manifest import Operator, Site
from attest.model.result import Status
from attest.policy import load_policy
from tests.policy.test_scenarios import Row, judge, manifest_for

CHINA = ["CN", "HK", "MO"]
COORDS = {"CN": (22.5431, 114.0579), "HK": (22.3193, 114.1694), "MO": (22.1987, 113.5439)}


def _site(code: str) -> Site:
    lat, lon = COORDS[code]
    return Site(facility_id="x-1", name=f"DC in {code}", country=code, latitude=lat, longitude=lon)


@pytest.mark.parametrize("code", CHINA)
def test_destination(code: str) -> None:
    m = manifest_for(
        Row(
            "site",
            "h100",
            "US",
            ("Example Robotics Inc.", "US"),
            None,
            None,
            "measured",
            Status.AFFIRMING,
            set(),
        )
    )
    m = m.model_copy(update={"site": _site(code)})
    status, rules, findings = judge(m, "measured", policy="us-ear")
    assert status is Status.CONTRAINDICATED and "policy.destination" in rules, [f.message for f in findings]


@pytest.mark.parametrize("code", CHINA)
@pytest.mark.parametrize("role", ["tenant", "parent", "operator"])
def test_headquarters(code: str, role: str) -> None:
    tenant = ("Example Robotics Ltd.", code if role == "tenant" else "US")
    parent = ("Example Holdings Ltd.", code) if role == "parent" else None
    m = manifest_for(Row(role, "h100", "SG", tenant, parent, None, "measured", Status.AFFIRMING, set()))
    if role == "operator":
        m = m.model_copy(update={"operator": Operator(name="Example Cloud Ltd.", country=code)})
    status, rules, findings = judge(m, "measured", policy="us-ear")
    assert status is Status.CONTRAINDICATED and "policy.headquarters" in rules, [f.message for f in findings]
    hq = next(f for f in findings if f.rule == "policy.headquarters")
    assert hq.evidence["country"] == code and hq.evidence["role"] == {"parent": "ultimate parent"}.get(
        role, role
    )


@pytest.mark.parametrize("code", CHINA)
def test_evidence_strength(code: str) -> None:
    m = manifest_for(
        Row(
            "grade",
            "h100",
            "US",
            ("Example Robotics Inc.", "US"),
            None,
            None,
            "declared",
            Status.AFFIRMING,
            set(),
        )
    )
    m = m.model_copy(update={"site": _site(code)})
    _, rules, _ = judge(m, "declared", policy="us-ear")
    assert "policy.evidence_strength" in rules


@pytest.mark.parametrize("code", CHINA)
def test_location_and_every_group_that_holds_cn(code: str) -> None:
    policy = load_policy("us-ear")
    at = date(2026, 12, 1)
    _, prohibited = policy.location_requirement(at)
    assert code in prohibited
    for name in policy.groups:
        assert policy.member(code, name, at) == policy.member("CN", name, at), name


def test_licence_for_cn_covers_hong_kong_but_not_taiwan() -> None:
    policy = load_policy("us-ear")
    at = date(2026, 12, 1)
    assert policy.member("HK", "CN", at) and policy.member("MO", "CN", at)
    assert not policy.member("TW", "CN", at) and not policy.member("SG", "CN", at)


def test_a_territory_cannot_be_its_own_country() -> None:
    from attest.errors import InputError
    from attest.model.policy import PolicyDocument

    base = {"id": "x", "version": "1", "title": "t", "effective": "2026-01-01"}
    for bad in ({"HK": "HK"}, {"HK": "CN", "CN": "TW"}):
        with pytest.raises(InputError):
            PolicyDocument.from_obj({**base, "territories": bad}, what="test")
