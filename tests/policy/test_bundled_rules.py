"""Every rule bundled in us-ear fires on a case of its own, and does not once its data are removed.

A new bundled rule without a case here fails ``test_every_bundled_rule_has_a_case``. The
December 2026 data (H200-class licences with conditions, the Affiliates rule and its
suspension, Malaysia's permit, the 1260H meaning) are checked for their effect and dates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from attest.hardware.catalog import bundled_catalog
from attest.model.manifest import LicenseReference, Site, Tenant, WorkloadManifest
from attest.model.policy import LicenseEntry, PolicyDocument
from attest.model.result import Finding, Status
from attest.policy import Facts, Policy, load_policy
from tests.policy.test_scenarios import NOW, Row, manifest_for

CN_SITE = Site(facility_id="szx-1", name="Shenzhen DC 1", country="CN", latitude=22.5431, longitude=114.0579)
CONDITIONS = ["us-export-only", "china-volume-cap-50pct", "us-third-party-testing", "kyc-remote-access", "us-supply-certification"]


def _row(site: str = "SG", tenant: tuple[str, str] = ("Example Robotics Inc.", "US"), chip: str = "h100") -> Row:
    return Row("case", chip, site, tenant, None, None, "hardware-bound", Status.AFFIRMING, set())


def _with(m: WorkloadManifest, **update: object) -> WorkloadManifest:
    return m.model_copy(update=update)


def _issued(m: WorkloadManifest, when: datetime) -> WorkloadManifest:
    return _with(m, freshness=m.freshness.model_copy(update={"issued_at": when}))


def _owned(owners: list[tuple[str, float]], when: datetime = NOW) -> WorkloadManifest:
    m = manifest_for(_row())
    tenant = Tenant.from_obj({"legal_name": "Example Robotics Pte. Ltd.", "headquarters_country": "SG",
                              "owners": [{"legal_name": n, "headquarters_country": "SG", "share_percent": s} for n, s in owners]})
    return _issued(_with(m, tenant=tenant), when)


def _licensed_cn(conditions: list[str], chip: str = "h100") -> tuple[WorkloadManifest, list[PolicyDocument]]:
    m = manifest_for(_row(tenant=("Example Shenzhen Ltd.", "CN"), chip=chip))
    m = _with(m, site=CN_SITE, licenses=[LicenseReference(kind="license", id="D-CN-H200")])
    extra = PolicyDocument(
        id="licences", version="1", title="test licences", effective=datetime(2023, 1, 1).date(),
        extends=["us-ear"],
        licenses=[LicenseEntry(id="D-CN-H200", holder="Example Shenzhen Ltd.", destinations=["CN"], items=["3A090.a"], conditions=conditions)],
    )
    return m, extra_docs(extra)


def extra_docs(extra: PolicyDocument) -> list[PolicyDocument]:
    return [*load_policy("us-ear").documents, extra]


def judge(docs: list[PolicyDocument], m: WorkloadManifest, grade: str = "hardware-bound") -> list[Finding]:
    facts = Facts(grade, [bundled_catalog().classify_gpu(g) for g in m.gpus])
    return Policy(docs).evaluate(m, now=NOW, facts=facts)


def fired(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule and not f.message.startswith("passed")]


Case = Callable[[], tuple[WorkloadManifest, list[PolicyDocument], str, str]]  # manifest, docs, grade, finding rule
US_EAR = load_policy("us-ear").documents

CASES: dict[str, Case] = {
    "destination": lambda: (manifest_for(_row("VN")), US_EAR, "hardware-bound", "policy.destination"),
    "h200_china": lambda: (*_licensed_cn(CONDITIONS[:3]), "hardware-bound", "policy.h200_china"),
    "presumption_of_denial": lambda: (*_licensed_cn(CONDITIONS, chip="b200"), "hardware-bound", "policy.presumption_of_denial"),
    "malaysia_stp": lambda: (manifest_for(_row("MY")), US_EAR, "hardware-bound", "policy.malaysia_stp"),
    "affiliates": lambda: (_owned([("Huawei Technologies Co., Ltd.", 30), ("Sophgo Technologies Ltd.", 25)]), US_EAR, "hardware-bound", "policy.affiliates"),
    "headquarters": lambda: (manifest_for(_row(tenant=("Example Shenzhen Ltd.", "CN"))), US_EAR, "hardware-bound", "policy.headquarters"),
    "prohibited_hardware": lambda: (manifest_for(_row(chip="ascend")), US_EAR, "hardware-bound", "policy.prohibited_hardware"),
    "training_compute": lambda: (manifest_for(_row(), ops=2e26), US_EAR, "hardware-bound", "policy.training_compute"),
    "evidence_strength": lambda: (manifest_for(_row("VN")), US_EAR, "declared", "policy.evidence_strength"),
    "screening": lambda: (manifest_for(_row(tenant=("Nanjing University of Aeronautics and Astronautics", "SG"))), US_EAR, "hardware-bound", "policy.screening"),
    "site_country": lambda: (_with(manifest_for(_row()), site=Site(facility_id="x", name="x", country="MY", latitude=22.5431, longitude=114.0579)), US_EAR, "hardware-bound", "site.outside_country"),
    "validity": lambda: (_issued(manifest_for(_row()), datetime(2023, 1, 1, tzinfo=UTC)), US_EAR, "hardware-bound", "policy.validity"),
}


def test_every_bundled_rule_has_a_case() -> None:
    assert {r.id for r in load_policy("us-ear").rules} == set(CASES)


def _without(docs: list[PolicyDocument], rule_id: str) -> list[PolicyDocument]:
    return [d.model_copy(update={"rules": [r for r in d.rules if r.id != rule_id]}) for d in docs]


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_rule_fires_and_not_without_its_data(rule_id: str) -> None:
    m, docs, grade, finding = CASES[rule_id]()
    assert fired(judge(list(docs), m, grade), finding), [f.message for f in judge(list(docs), m, grade)]
    assert not fired(judge(_without(list(docs), rule_id), m, grade), finding)


def test_without_territories_hong_kong_is_not_china() -> None:
    m = _with(manifest_for(_row()), site=Site(facility_id="hk", name="HK", country="HK", latitude=22.3193, longitude=114.1694))
    assert fired(judge(list(US_EAR), m), "policy.destination")
    bare = [d.model_copy(update={"territories": {}}) for d in US_EAR]
    assert not fired(judge(bare, m), "policy.destination")


def test_screening_depends_on_the_bundled_csl() -> None:
    m = manifest_for(_row(tenant=("Nanjing University of Aeronautics and Astronautics", "SG")))
    docs = [d.model_copy(update={"rules": [r.model_copy(update={"lists": ["1260h", "seed"]}) if r.id == "screening" else r for r in d.rules]}) for d in US_EAR]
    assert fired(judge(list(US_EAR), m), "policy.screening") and not fired(judge(docs, m), "policy.screening")


def test_h200_class_licence_needs_every_condition() -> None:
    m, docs = _licensed_cn(CONDITIONS)
    assert not fired(judge(docs, m), "policy.h200_china") and not fired(judge(docs, m), "policy.destination")
    m, docs = _licensed_cn(CONDITIONS[:4])
    hit = fired(judge(docs, m), "policy.h200_china")
    assert hit and "lacks the conditions us-supply-certification" in hit[0].message
    assert hit[0].severity.value == "contraindicated"
    # before 2026-01-15 the rule does not apply; no licence at all is the destination rule's finding
    m, docs = _licensed_cn([])
    assert not fired(judge(docs, _issued(m, datetime(2026, 1, 14, tzinfo=UTC))), "policy.h200_china")
    bare = _with(m, licenses=[])
    assert not fired(judge(docs, bare), "policy.h200_china") and fired(judge(docs, bare), "policy.destination")


def test_affiliates_rule_is_suspended_until_2026_11_10() -> None:
    owners = [("Huawei Technologies Co., Ltd.", 50)]
    [after] = fired(judge(list(US_EAR), _owned(owners, datetime(2026, 11, 10, tzinfo=UTC))), "policy.affiliates")
    assert after.severity.value == "contraindicated" and after.evidence["share_percent"] == 50
    [during] = fired(judge(list(US_EAR), _owned(owners, datetime(2026, 11, 9, tzinfo=UTC))), "policy.affiliates")
    assert during.severity.value == "info" and "suspended from 2025-11-10 until 2026-11-10" in during.message
    assert fired(judge(list(US_EAR), _owned(owners, datetime(2025, 10, 1, tzinfo=UTC))), "policy.affiliates")[0].severity.value == "contraindicated"
    assert not fired(judge(list(US_EAR), _owned([("Huawei Technologies Co., Ltd.", 49.9)])), "policy.affiliates")
    assert not fired(judge(list(US_EAR), _owned([("Example Holdings Inc.", 100)])), "policy.affiliates")
    assert not fired(judge(list(US_EAR), _owned([("Tencent Holdings Limited", 100)])), "policy.affiliates")  # 1260H is not the Entity List


def test_december_2026_data_say_where_they_come_from() -> None:
    rules = {r.id: r for r in load_policy("us-ear").rules}
    for rid in ("h200_china", "malaysia_stp", "affiliates"):
        assert rules[rid].source and rules[rid].date and rules[rid].confirmed is False, rid
    [stp] = fired(judge(list(US_EAR), manifest_for(_row("MY"))), "policy.malaysia_stp")
    assert stp.severity.value == "info" and "Strategic Trade Permit" in stp.message


def test_a_1260h_match_is_a_warning_and_places_the_party_in_china() -> None:
    m = manifest_for(_row(tenant=("BYD Company Limited", "HU")))  # declared in Hungary
    findings = judge(list(US_EAR), m)
    screening = [f for f in fired(findings, "policy.screening") if f.evidence["list"] == "1260h"]
    assert screening and {f.severity.value for f in screening} == {"warning"}
    assert "not by itself a licence requirement" in screening[0].message
    [hq] = fired(findings, "policy.headquarters")
    assert hq.severity.value == "contraindicated" and hq.evidence["declared_country"] == "HU" and hq.evidence["listed_country"] == "CN"


def test_an_old_list_is_a_warning() -> None:
    docs = [d.model_copy(update={"rules": [r.model_copy(update={"max_list_age_days": {"csl": 30}}) if r.id == "screening" else r for r in d.rules]}) for d in US_EAR]
    findings = judge(docs, manifest_for(_row()))
    [old] = [f for f in findings if f.rule == "policy.screening" and "days old" in f.message]
    assert old.severity.value == "warning" and "csl of 2026-07-31 (25,921 entries) is 120 days old on 2026-11-28" in old.message
    assert not [f for f in judge(list(US_EAR), manifest_for(_row())) if "days old" in f.message]


def test_a_passed_screening_names_every_list_it_screened_against() -> None:
    # A pass against a 3-entry "csl" must not read like a pass against the 25,921-entry CSL.
    findings = judge(list(US_EAR), manifest_for(_row()))
    [passed] = [f for f in findings if f.rule == "policy.screening"]
    assert passed.severity.value == "info" and passed.message.startswith("passed: ")
    assert "[csl of 2026-07-31, 25,921 entries; 1260h of 2026-06-10, 80 entries; seed of 2026-07-31, 58 entries]" in passed.message
    assert passed.evidence["lists"] == [
        {"name": "csl", "date": "2026-07-31", "entries": 25921},
        {"name": "1260h", "date": "2026-06-10", "entries": 80},
        {"name": "seed", "date": "2026-07-31", "entries": 58},
    ]
