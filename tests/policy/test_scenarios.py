"""The scenario table: chip, site, tenant, parent, licence, grade → status and rule ids."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from attest.build import build_manifest
from attest.crypto.keys import SigningKey
from attest.hardware import SimulatedGpuSource
from attest.hardware.catalog import ChipClassification, bundled_catalog
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import Gpu, Job, LicenseReference, Operator, Site, Tenant, WorkloadManifest
from attest.model.result import Status
from attest.policy import Facts, load_policy
from tests.conftest import REPO

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SITES = {
    "MY": Site(facility_id="jhb-2", name="Johor DC 2", country="MY", latitude=1.6561, longitude=103.6032),
    "SG": Site(facility_id="sin-1", name="Singapore DC 1", country="SG", latitude=1.3521, longitude=103.8198),
    "VN": Site(facility_id="han-1", name="Hanoi DC 1", country="VN", latitude=21.0285, longitude=105.8542),
    "CN": Site(facility_id="szx-1", name="Shenzhen DC 1", country="CN", latitude=22.5431, longitude=114.0579),
    "DE": Site(facility_id="fra-1", name="Frankfurt DC 1", country="DE", latitude=50.1109, longitude=8.6821),
    "US": Site(facility_id="iad-4", name="Ashburn DC 4", country="US", latitude=39.0438, longitude=-77.4874),
}
ASCEND = Gpu.from_obj(
    {"index": 0, "name": "Ascend 910B", "uuid": "GPU-910b0000-0000-0000-0000-000000000001",
     "pci": {"bus_id": "00000000:18:00.0", "device_id": "0xd80219e5"}}
)


@dataclass
class Row:
    name: str
    chip: str
    site: str
    tenant: tuple[str, str]
    parent: tuple[str, str] | None
    licence: str | None
    grade: str
    status: Status
    rules: set[str]


ROWS = [
    Row("Alibaba in Johor", "h100", "MY", ("Alibaba Cloud (Singapore) Pte. Ltd.", "SG"), ("Alibaba Group Holding Limited", "CN"), None, "declared", Status.CONTRAINDICATED, {"policy.headquarters", "policy.screening"}),  # 1260H since 2026-06-10
    Row("ByteDance subsidiary in Johor", "h100", "MY", ("BytePlus Pte. Ltd.", "SG"), ("Beijing Douyin Information Service Co., Ltd.", "CN"), None, "hardware-bound", Status.CONTRAINDICATED, {"policy.headquarters"}),
    Row("US tenant in Singapore", "h100", "SG", ("Example Robotics Inc.", "US"), ("Example Holdings Inc.", "US"), None, "declared", Status.AFFIRMING, set()),
    Row("H100 in Vietnam, no licence", "h100", "VN", ("Example Robotics Inc.", "US"), None, None, "hardware-bound", Status.CONTRAINDICATED, {"policy.destination"}),
    Row("H100 in Vietnam, licensed", "h100", "VN", ("Example Robotics Inc.", "US"), None, "D-VN-001", "hardware-bound", Status.AFFIRMING, set()),
    Row("H100 in Vietnam, licensed, weak evidence", "h100", "VN", ("Example Robotics Inc.", "US"), None, "D-VN-001", "declared", Status.WARNING, {"policy.evidence_strength"}),
    Row("H100 in Vietnam, expired licence", "h100", "VN", ("Example Robotics Inc.", "US"), None, "D-VN-OLD", "hardware-bound", Status.CONTRAINDICATED, {"policy.destination"}),
    Row("H20 in China for a Chinese tenant", "h20", "CN", ("Example Shenzhen Ltd.", "CN"), None, None, "declared", Status.CONTRAINDICATED, {"policy.destination", "policy.headquarters", "policy.evidence_strength"}),
    Row("H20 in China, licensed", "h20", "CN", ("Example Shenzhen Ltd.", "CN"), None, "D-CN-H20", "hardware-bound", Status.AFFIRMING, set()),
    Row("A100 in Germany", "a100", "DE", ("Example Robotics GmbH", "DE"), None, None, "declared", Status.AFFIRMING, set()),
    Row("Huawei Ascend 910B anywhere", "ascend", "US", ("Example Robotics Inc.", "US"), None, None, "declared", Status.CONTRAINDICATED, {"policy.prohibited_hardware"}),
    # issue 18: Hong Kong is China; listed parents keep their country; offshore parents
    Row("H100 in Hong Kong", "h100", "HK", ("Example Robotics Inc.", "US"), None, None, "hardware-bound", Status.CONTRAINDICATED, {"policy.destination"}),
    Row("tenant headquartered in Hong Kong", "h100", "SG", ("Example Robotics (HK) Ltd.", "HK"), None, None, "hardware-bound", Status.CONTRAINDICATED, {"policy.headquarters"}),
    Row("parent headquartered in Hong Kong", "h100", "SG", ("Example Robotics Pte. Ltd.", "SG"), ("Example Holdings (HK) Ltd.", "HK"), None, "hardware-bound", Status.CONTRAINDICATED, {"policy.headquarters"}),
    Row("Alibaba parent declared in KY", "h100", "MY", ("Alibaba Cloud (Singapore) Pte. Ltd.", "SG"), ("Alibaba Group Holding Limited", "KY"), None, "hardware-bound", Status.CONTRAINDICATED, {"policy.headquarters", "policy.screening"}),
    Row("Alibaba subsidiary without a parent", "h100", "MY", ("Alibaba Cloud (Singapore) Pte. Ltd.", "SG"), None, None, "hardware-bound", Status.WARNING, {"policy.headquarters", "policy.screening"}),
    Row("ByteDance declared in KY", "h100", "SG", ("ByteDance Ltd.", "KY"), None, None, "hardware-bound", Status.CONTRAINDICATED, {"policy.headquarters"}),  # a known-headquarters match is info
    Row("unlisted parent in the Cayman Islands", "h100", "SG", ("Example AI Pte. Ltd.", "SG"), ("Example Holdings Ltd.", "KY"), None, "hardware-bound", Status.WARNING, {"policy.headquarters"}),
    Row("Huawei with a Cyrillic a", "h100", "US", ("Huаwei Technologies Co., Ltd.", "SG"), None, None, "hardware-bound", Status.CONTRAINDICATED, {"policy.screening", "policy.headquarters"}),
    Row("RTX 4090 in Macau", "rtx4090", "MO", ("Example Robotics Inc.", "US"), None, None, "declared", Status.CONTRAINDICATED, {"policy.destination", "policy.evidence_strength"}),  # MO is CN in every rule
]


def manifest_for(row: Row, *, ops: float | None = None) -> WorkloadManifest:
    key = SigningKey.generate()
    if row.chip == "ascend":
        evidence = HardwareEvidence(source="simulated", hostname="n1", collected_at=NOW, gpus=[ASCEND])
    else:
        evidence = SimulatedGpuSource(row.chip, seed=row.name, hostname="n1").read()
    site = SITES.get(row.site) or {
        "HK": Site(facility_id="hkg-1", name="Hong Kong DC", country="HK", latitude=22.3193, longitude=114.1694)
    }.get(row.site) or Site(facility_id="mfm-1", name="Macau DC", country=row.site, latitude=22.19, longitude=113.54)
    parent = {"legal_name": row.parent[0], "headquarters_country": row.parent[1]} if row.parent else None
    tenant = Tenant.from_obj({"legal_name": row.tenant[0], "headquarters_country": row.tenant[1], "ultimate_parent": parent})
    return build_manifest(
        evidence=evidence, site=site, tenant=tenant, operator=Operator(name="Example Cloud", country="MY"),
        job=Job(id="j", scheduler="slurm", phase="start", declared_training_ops=ops), node_key_id=key.key_id, now=NOW,
        licenses=[LicenseReference(kind="license", id=row.licence)] if row.licence else [],
    )


def judge(m: WorkloadManifest, grade: str, policy: str = str(REPO / "tests/data/policies/scenario.toml")):  # type: ignore[no-untyped-def]
    facts = Facts(grade, [bundled_catalog().classify_gpu(g) for g in m.gpus])
    findings = load_policy(policy).evaluate(m, now=NOW, facts=facts)
    status = Status.worst(f.severity.status for f in findings)
    return status, {f.rule for f in findings if f.severity.value != "info"}, findings


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_scenario(row: Row) -> None:
    status, rules, findings = judge(manifest_for(row), row.grade)
    assert (status, rules) == (row.status, row.rules), [f.message for f in findings]


@pytest.mark.parametrize("site", ["US", "DE", "SG"])
def test_zhipu_ai_anywhere_is_contraindicated(site: str) -> None:
    row = Row("Zhipu AI", "h100", site, ("Zhipu AI", "CN"), None, None, "hardware-bound", Status.CONTRAINDICATED, set())
    status, rules, findings = judge(manifest_for(row), row.grade)
    assert status is Status.CONTRAINDICATED and "policy.screening" in rules
    hit = next(f for f in findings if f.rule == "policy.screening")
    assert "entity-list" in hit.message and hit.evidence["entry"] == "el-zhipu"


def test_findings_explain_themselves() -> None:
    _, _, findings = judge(manifest_for(ROWS[0]), "declared")
    hq = next(f for f in findings if f.rule == "policy.headquarters")
    assert "Alibaba Group Holding Limited" in hq.message and "CN (D:5)" in hq.message and "3A090.a.1" in hq.message
    assert "744.23" in hq.message and hq.remedy and hq.evidence["role"] == "ultimate parent"
    _, _, findings = judge(manifest_for(ROWS[6]), "hardware-bound")
    dest = next(f for f in findings if f.rule == "policy.destination")
    assert "D-VN-OLD expired on 2026-06-30" in dest.message
    _, _, findings = judge(manifest_for(ROWS[7]), "declared")
    h20 = next(f for f in findings if f.rule == "policy.destination")
    assert "licence-listed for D:5, CN, MO" in h20.message
    passed = [f for f in findings if f.severity.value == "info" and f.rule == "policy.training_compute"]
    assert passed and passed[0].message.startswith("passed:")


def test_licence_held_by_someone_else_does_not_cover() -> None:
    row = Row("other holder", "h100", "VN", ("Another Corp.", "US"), None, "D-VN-001", "hardware-bound", Status.CONTRAINDICATED, set())
    _, rules, findings = judge(manifest_for(row), row.grade)
    assert rules == {"policy.destination"}
    assert any("held by Example Robotics Inc., not by the tenant" in f.message for f in findings)


def test_unknown_licence_reference() -> None:
    row = Row("unknown licence", "h100", "VN", ("Example Robotics Inc.", "US"), None, "D-NOPE", "hardware-bound", Status.CONTRAINDICATED, set())
    _, _, findings = judge(manifest_for(row), row.grade)
    assert any("D-NOPE is not in the policy's licence registry" in f.message for f in findings)


@pytest.mark.parametrize(("ops", "warned"), [(1e26, False), (1.0000001e26, True), (None, False)])
def test_training_compute_threshold(ops: float | None, warned: bool) -> None:
    _, rules, _ = judge(manifest_for(ROWS[2], ops=ops), "declared")
    assert ("policy.training_compute" in rules) is warned


def test_cambodia_leaves_d5_on_its_date() -> None:
    policy = load_policy("us-ear")
    from datetime import date

    assert policy.member("KH", "D:5", date(2026, 2, 2)) and not policy.member("KH", "D:5", date(2026, 2, 3))


def test_ai_diffusion_policy_is_a_benchmark() -> None:
    row = Row("US tenant in Singapore", "h100", "SG", ("Example Robotics Inc.", "US"), None, None, "declared", Status.WARNING, set())
    status, rules, findings = judge(manifest_for(row), "declared", policy="us-ai-diffusion-2025")
    assert status is Status.WARNING and rules == {"policy.outside_tier1"}
    assert any(f.rule == "policy.validity" and "rescinded" in f.message for f in findings)
    status, rules, _ = judge(manifest_for(ROWS[9]), "declared", policy="us-ai-diffusion-2025")
    assert status is Status.AFFIRMING  # Germany is Tier 1


def test_verdicts_found_again_by_identity_follow_the_date_the_ops_and_the_grade() -> None:
    """A policy re-uses its verdict for a node's shared members; every other input still counts."""
    policy = load_policy(str(REPO / "tests/data/policies/scenario.toml"))
    base = manifest_for(ROWS[6])  # H100 in Vietnam under D-VN-OLD, valid until 2026-06-30
    facts = {g: Facts(g, [bundled_catalog().classify_gpu(x) for x in base.gpus]) for g in ("declared", "hardware-bound")}

    def variant(issued: datetime, ops: float | int | None) -> WorkloadManifest:
        # model_copy keeps the tenant, site, GPU and licence objects: the memo's keys
        fr = base.freshness.model_copy(update={"issued_at": issued})
        return base.model_copy(update={"freshness": fr, "job": base.job.model_copy(update={"declared_training_ops": ops})})

    seen = set()
    for issued in (NOW, datetime(2026, 6, 1, tzinfo=UTC)):
        for ops in (None, 2.0**90, 2**90):  # equal numbers, one a float: JSON tells them apart
            for grade in ("declared", "hardware-bound"):
                m = variant(issued, ops)
                for _ in range(2):  # the second answer comes from the memo
                    got = [f.to_obj() for f in policy.evaluate(m, now=NOW, facts=facts[grade])]
                    fresh = load_policy(str(REPO / "tests/data/policies/scenario.toml"))
                    assert got == [f.to_obj() for f in fresh.evaluate(m, now=NOW, facts=facts[grade])]
                seen.add(tuple(sorted((f["rule"], f["severity"]) for f in got)))
                if ops is not None:
                    training = next(f for f in got if f["rule"] == "policy.training_compute")
                    assert type(training["evidence"]["declared_training_ops"]) is type(ops)
    # the licence lapses between the dates, the threshold and the grade each change the verdict
    assert len(seen) == 8, seen


def test_verdicts_follow_the_classifications_as_a_tuple_and_each_element_of_a_list() -> None:
    """The verifier hands its classifications as one kept tuple; another tuple, or a list changed in place, is
    another verdict (the memo holds a tuple by identity, a list by its elements)."""
    policy = load_policy(str(REPO / "tests/data/policies/scenario.toml"))
    m = manifest_for(ROWS[6])
    controlled = tuple(bundled_catalog().classify_gpu(g) for g in m.gpus)
    free = tuple(dataclasses.replace(c, controlled=False, eccn=None, paragraph=None) for c in controlled)

    def judged(classifications: Sequence[ChipClassification]) -> list[object]:
        got = [f.to_obj() for f in policy.evaluate(m, now=NOW, facts=Facts("declared", classifications))]
        fresh = load_policy(str(REPO / "tests/data/policies/scenario.toml"))
        assert got == [f.to_obj() for f in fresh.evaluate(m, now=NOW, facts=Facts("declared", classifications))]
        return got

    assert judged(controlled) != judged(free)  # two tuples, the same members and catalog
    assert judged(controlled) == judged(controlled)
    as_list = list(controlled)
    first = judged(as_list)
    as_list[:] = free  # the same list object, other elements
    assert judged(as_list) != first


# --- the red-team review of issue 18, in process (the CLI rows are in test_cli_scenarios.py) ------


def _us_ear(tenant: dict[str, object], site: Site = SITES["MY"]) -> tuple[Status, dict[str, list[str]]]:
    m = manifest_for(Row("red team", "h100", "MY", ("x", "SG"), None, None, "hardware-bound", Status.AFFIRMING, set()))
    m = m.model_copy(update={"tenant": Tenant.from_obj(tenant), "site": site})
    facts = Facts("hardware-bound", [bundled_catalog().classify_gpu(g) for g in m.gpus])
    findings = load_policy("us-ear").evaluate(m, now=NOW, facts=facts)
    by_rule: dict[str, list[str]] = {}
    for f in findings:
        if f.severity.value != "info":
            by_rule.setdefault(f.rule, []).append(f"{f.severity.value}: {f.message}")
    return Status.worst(f.severity.status for f in findings), by_rule


def _owned(*owners: tuple[str, str, float]) -> dict[str, object]:
    return {
        "legal_name": "Bluefin Compute Pte. Ltd.",
        "headquarters_country": "SG",
        "owners": [{"legal_name": n, "headquarters_country": c, "share_percent": s} for n, c, s in owners],
    }


@pytest.mark.parametrize(
    ("owners", "rule"),
    [
        ([("Alibaba Group Holding Limited", "KY", 100)], "policy.headquarters"),  # listed: CN whatever declared
        ([("Shenzhen Bluefin Holdings Co., Ltd.", "CN", 100)], "policy.headquarters"),
        ([("Shenzhen Bluefin Holdings Co., Ltd.", "CN", 49), ("Bluefin Holdings (HK) Ltd.", "HK", 49)], "policy.headquarters"),
        ([("COMERCIALIZADORA DE SERVICIOS MEDICOS CUBANOS SA", "CU", 100)], "policy.screening"),
        ([("Huawei Technologies Co., Ltd.", "CN", 5)], "policy.screening"),  # any share is screened
    ],
)
def test_owners_are_judged_and_screened(owners: list[tuple[str, str, float]], rule: str) -> None:
    status, rules = _us_ear(_owned(*owners))
    assert status is Status.CONTRAINDICATED and any(m.startswith("contraindicated") for m in rules.get(rule, [])), rules


def test_a_minority_unlisted_owner_abroad_is_not_a_headquarters() -> None:
    status, rules = _us_ear(_owned(("Shenzhen Bluefin Holdings Co., Ltd.", "CN", 30), ("Bluefin Staff Trust Pte. Ltd.", "SG", 70)))
    assert "policy.headquarters" not in rules and status is Status.AFFIRMING, rules


def test_an_owners_typo_is_a_warning_and_counts_for_the_affiliates_rule() -> None:
    status, rules = _us_ear(_owned(("Huawei Technologis Co., Ltd.", "SG", 100)))
    assert status is Status.WARNING, rules
    assert any("close match" in m for m in rules["policy.affiliates"]) and rules["policy.screening"], rules


@pytest.mark.parametrize("point", [(24.51, 118.15, 10000.0), (24.55, 118.25, 6000.0)])
def test_no_tolerance_inside_a_prohibited_country(point: tuple[float, float, float]) -> None:
    lat, lon, accuracy = point
    site = Site(facility_id="kmn-1", name="Kinmen DC", country="TW", latitude=lat, longitude=lon, accuracy=accuracy)
    status, rules = _us_ear({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}, site)
    assert status is Status.CONTRAINDICATED and "site.outside_country" in rules, rules


def test_the_tolerance_still_holds_outside_every_prohibited_country() -> None:
    # Kinmen itself is Taiwan; a point in the strait 1 km off its coast is in no country's polygon.
    site = Site(facility_id="kmn-1", name="Kinmen DC", country="TW", latitude=24.38, longitude=118.35, accuracy=500)
    _status, rules = _us_ear({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}, site)
    assert "site.outside_country" not in rules, rules
