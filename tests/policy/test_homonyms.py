"""Homonyms of listed parties: a 'possible match, confirm identity' warning, never a way out for a listed party.

A party whose name matches a list entry while no country of the entry is the one it declares
may be another company of that name (SATS Ltd. of Singapore is not the Swiss SATS of the Denied
Persons List). Its finding is a warning (``identity: unconfirmed``): ``attest verify`` is not
``affirming`` and admission holds the job until a reviewed ``[[cleared]]`` entry of the policy
says it is another party. An entry with an address in D:5, Hong Kong or Macau, an entry in the
declared country, an entry with no country and a brand-list designation keep their severity
whatever country was declared (issue 18: listed parties keep their country).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.model.manifest import Tenant
from attest.model.result import Status
from attest.policy import load_policy
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.verify import verify_and_open
from tests.conftest import NOW as NODE_NOW
from tests.conftest import trusted_node
from tests.policy.test_cli_scenarios import _run, signed_case
from tests.policy.test_evasion import REVIEWED
from tests.policy.test_scenarios import Row, judge, manifest_for

CLEARED = """
id = "operator"
version = "1"
title = "us-ear with the operator's reviewed homonyms"
effective = 2024-01-01
extends = ["us-ear"]
{entries}
"""


def clearance(list_id: str, entry: str, party: str, country: str, **extra: str) -> str:
    """One [[cleared]] entry, as an operator writes it."""
    fields = {"list": list_id, "entry": entry, "party": party, "country": country, "reviewer": "J. Doe (compliance)",
              "reason": "registered address and company number differ from the list entry's", **extra}
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fields.items() if k not in ("date", "expires"))
    dates = f"date = {extra.get('date', '2026-11-01')}\n" + (f"expires = {extra['expires']}\n" if "expires" in extra else "")
    return f"[[cleared]]\n{body}\n{dates}"


def policy_file(tmp_path: Path, *entries: str) -> str:
    path = tmp_path / "operator.toml"
    path.write_text(CLEARED.format(entries="\n".join(entries)))
    return str(path)


def verdict(name: str, country: str, policy: str = "us-ear", **tenant: Any) -> tuple[Status, list[Any]]:
    row = Row(name, "h100", "US", (name, country), None, None, "hardware-bound", Status.AFFIRMING, set())
    m = manifest_for(row)
    if tenant:
        m = m.model_copy(update={"tenant": Tenant.from_obj({**m.tenant.to_obj(), **tenant})})
    status, _, findings = judge(m, row.grade, policy)
    return status, [f for f in findings if f.severity.value != "info"]


def screening(findings: list[Any]) -> list[Any]:
    return [f for f in findings if f.rule == "policy.screening"]


# --- the reviewed matches of the 1,233 unrelated companies -------------------------------------


@pytest.mark.parametrize("name", sorted(REVIEWED))
def test_each_reviewed_unrelated_company_gets_its_verdict(name: str) -> None:
    country, _, expected = REVIEWED[name]
    status, findings = verdict(name, country)
    assert status.value == expected, [(f.severity.value, f.message) for f in findings]
    hits = screening(findings)
    assert hits and all(f.evidence["declared_country"] == [country] for f in hits)
    exact = [f for f in hits if f.evidence["kind"] != "near"]
    if expected == "warning" and exact:  # SATS, Aldar: homonyms on a list outside China
        assert all(f.evidence.get("identity") == "unconfirmed" for f in exact)
        assert all(f.message.startswith("possible match, confirm identity:") for f in exact)


def test_no_unrelated_company_is_contraindicated_once_its_homonym_is_reviewed(tmp_path: Path) -> None:
    """The unrelated set: 0 contraindicated with the two reviews list data cannot replace; the warnings are reported."""
    policy = policy_file(
        tmp_path,
        clearance("ns-cmic", "ns-cmic-32107", "CoStar Group, Inc.", "US"),
        clearance("denied-persons-list", "denied-persons-list-179", "Realtek Semiconductor Corp.", "TW"),
    )
    warnings: dict[str, list[str]] = {}
    for name, (country, _, _) in sorted(REVIEWED.items()):
        status, findings = verdict(name, country, policy)
        assert status is not Status.CONTRAINDICATED, [(f.rule, f.message) for f in findings]
        warnings[name] = [f.rule for f in findings]
    assert {n for n, rules in warnings.items() if rules} == {
        "CoStar Group, Inc.",  # its entry is listed in CN: a review lowers the match to a warning (rt8)
        "SATS Ltd.",
        "Aldar Properties PJSC",
        "Delta Electronics, Inc.",
        "City Developments Limited",
    }, warnings
    print("warnings on the unrelated companies:", json.dumps(warnings, indent=1))
    # the cleared ones say who cleared them, and when
    status, _ = verdict("CoStar Group, Inc.", "US", policy)
    _, _, findings = judge(manifest_for(Row("c", "h100", "US", ("CoStar Group, Inc.", "US"), None, None, "hardware-bound", Status.AFFIRMING, set())), "hardware-bound", policy)
    cleared = next(f for f in findings if f.rule == "policy.screening" and "cleared" in f.evidence)
    assert status is Status.WARNING and "J. Doe (compliance) on 2026-11-01" in cleared.message
    assert cleared.severity.value == "warning" and "never taken for another party" in cleared.message
    # Realtek's entry is in TW, not a place whose listed parties keep their country: the review clears it
    status, _, findings = judge(manifest_for(Row("r", "h100", "US", ("Realtek Semiconductor Corp.", "TW"), None, None, "hardware-bound", Status.AFFIRMING, set())), "hardware-bound", policy)
    info = next(f for f in findings if f.rule == "policy.screening" and "cleared" in f.evidence)
    assert status is Status.AFFIRMING and info.severity.value == "info"


# --- a listed party declaring another country gains nothing ------------------------------------


@pytest.mark.parametrize(
    ("name", "country", "why"),
    [
        ("Sophgo Technologies Ltd.", "US", "an Entity List entry in CN"),
        ("COSTAR GROUP CO., LTD.", "US", "an NS-CMIC entry in CN"),
        ("Centre Bright Electronics Company Limited", "SG", "an Entity List entry in HK (the PRC for the EAR)"),
        ("PUBLIC JOINT STOCK COMPANY GAZPROM NEFT", "CH", "SDN entries in RU"),
        ("Gazprom Neft PJSC", "AE", "an Entity List entry in RU, by an alias"),
        ("Simin Neda Industrial and Electrical Parts", "DE", "an Entity List entry with no country: no evidence of another party"),
        ("Realtek Semiconductor Corp.", "TW", "an entry in the declared country"),
        ("SATS Ltd.", "RU", "a party declared in D:5 is never taken for a homonym"),
        ("Aletra General Trading", "AE", "an entry in the declared country"),
    ],
)
def test_a_listed_party_keeps_its_severity_whatever_it_declares(name: str, country: str, why: str) -> None:
    status, findings = verdict(name, country)
    assert status is Status.CONTRAINDICATED, why
    hits = [f for f in screening(findings) if f.severity.value == "contraindicated"]
    assert hits and not any(f.evidence.get("identity") for f in hits), [f.message for f in screening(findings)]


def test_brand_list_designations_are_never_homonyms() -> None:
    # Tencent is on the 1260H list (CN by designation): declared NL it stays listed, not "possible".
    _, findings = verdict("Tencent Holdings Limited", "NL")
    hits = [f for f in screening(findings) if f.evidence["list"] == "1260h"]
    assert hits and not any(f.evidence.get("identity") for f in hits)


def test_a_listed_front_outside_d5_declaring_another_country_is_held() -> None:
    """An Entity List trading company in AE declaring SG: a warning for verify, and admission refuses it."""
    status, findings = verdict("Aletra General Trading", "SG")
    assert status is Status.WARNING
    hit = next(f for f in screening(findings) if f.evidence["entry"] == "entity-list-2835")
    assert hit.evidence["identity"] == "unconfirmed" and "listed in AE" in hit.message and "declared in SG" in hit.message
    node = trusted_node()
    result, manifest = verify_and_open(node.envelope(node.manifest()), node.trust, now=NODE_NOW + timedelta(minutes=1))
    assert manifest is not None
    fleet = {"gpu-a17": NodeEvidence(result, manifest)}
    front = Tenant.from_obj({"legal_name": "Aletra General Trading", "headquarters_country": "SG"})
    d = admit(JobRequest(front, gpu_count=8), fleet, policy=load_policy("us-ear"), now=NODE_NOW + timedelta(minutes=2))
    assert not d.allowed and d.verdicts[0].reason == "policy" and "possible match" in d.verdicts[0].message
    # ... while an ordinary warning does not hold a job, and a US tenant runs
    us = Tenant.from_obj({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"})
    assert admit(JobRequest(us, gpu_count=8), fleet, policy=load_policy("us-ear"), now=NODE_NOW + timedelta(minutes=2)).allowed


def test_the_homonym_rule_follows_the_policy_data(tmp_path: Path) -> None:
    """Remove homonym_never's groups and an entry in QA is still a homonym; name QA and it is not."""
    (tmp_path / "strict.toml").write_text(
        'id = "strict"\nversion = "1"\ntitle = "t"\neffective = 2024-01-01\nextends = ["us-ear"]\n'
        "[[rules]]\nid = \"screening\"\nkind = \"screening\"\nlists = [\"csl\", \"1260h\", \"seed\"]\n"
        'homonym_never = ["D:5", "MO", "QA"]\noverride = "QA-listed parties are never homonyms for us"\n'
    )
    status, _ = verdict("Aldar Properties PJSC", "AE", str(tmp_path / "strict.toml"))
    assert status is Status.CONTRAINDICATED
    assert verdict("Aldar Properties PJSC", "AE")[0] is Status.WARNING


# --- clearances bind to the entry, the name as written, the country and the identifier --------


def test_a_clearance_clears_only_what_it_names(tmp_path: Path) -> None:
    costar = clearance("ns-cmic", "ns-cmic-32107", "CoStar Group, Inc.", "US")
    policy = policy_file(tmp_path, costar)
    assert verdict("CoStar Group, Inc.", "US", policy)[0] is Status.WARNING  # listed in CN: never affirming
    # the listed company under its own legal form, the same country: not the reviewed party
    assert verdict("COSTAR GROUP CO., LTD.", "US", policy)[0] is Status.CONTRAINDICATED
    # the reviewed name declared elsewhere
    assert verdict("CoStar Group, Inc.", "CN", policy)[0] is Status.CONTRAINDICATED
    # another entry's match is untouched
    assert verdict("Realtek Semiconductor Corp.", "TW", policy)[0] is Status.CONTRAINDICATED
    # a clearance for a party that is also declared as a parent elsewhere does not hold
    status, _ = verdict("CoStar Group, Inc.", "US", policy, ultimate_parent={"legal_name": "CoStar Group, Inc.", "headquarters_country": "HK"})
    assert status is Status.CONTRAINDICATED


def test_an_expired_clearance_or_a_missing_identifier_clears_nothing(tmp_path: Path) -> None:
    expired = policy_file(tmp_path, clearance("ns-cmic", "ns-cmic-32107", "CoStar Group, Inc.", "US", expires="2026-06-30"))
    assert verdict("CoStar Group, Inc.", "US", expired)[0] is Status.CONTRAINDICATED
    lei = "[cleared.identifier]\nscheme = \"lei\"\nvalue = \"529900LEI0COSTAR00001\"\n"
    with_id = policy_file(tmp_path, clearance("ns-cmic", "ns-cmic-32107", "CoStar Group, Inc.", "US") + lei)
    assert verdict("CoStar Group, Inc.", "US", with_id)[0] is Status.CONTRAINDICATED
    ids = [{"scheme": "lei", "value": "529900LEI0COSTAR00001"}]
    assert verdict("CoStar Group, Inc.", "US", with_id, identifiers=ids)[0] is Status.WARNING


def test_a_malformed_clearance_is_a_clear_policy_error(tmp_path: Path) -> None:
    from attest.policy import PolicyError

    bad = policy_file(tmp_path, '[[cleared]]\nlist = "sdn"\nentry = "sdn-1"\nparty = "X"\ncountry = "XX"\nreviewer = "r"\ndate = 2026-01-01\nreason = "r"\n')
    with pytest.raises(PolicyError):
        load_policy(bad)


# --- through the CLI: attest manifest -> sign -> verify --policy -------------------------------


def test_homonyms_through_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(tmp_path / "no-imported-lists")
    (tmp_path / "operator.toml").write_text(CLEARED.format(entries=clearance("ns-cmic", "ns-cmic-32107", "CoStar Group, Inc.", "US")))
    cases = {
        "sats-sg": ("SATS Ltd.", "SG"),  # a homonym: warning, possible match
        "costar-us": ("CoStar Group, Inc.", "US"),  # cleared by the operator's review: listed in CN, a warning
        "costar-listed": ("COSTAR GROUP CO., LTD.", "US"),  # the listed company re-declared: refused
        "sophgo-us": ("Sophgo Technologies Ltd.", "US"),  # listed in CN re-declared: refused
    }
    envelopes = []
    for case, (name, country) in cases.items():
        tenant = {"legal_name": name, "headquarters_country": country}
        envelopes.append(signed_case(tmp_path, env, case, tenant, ("US", 39.0438, -77.4874), ("Example Cloud Inc.", "US")))
    out = _run(tmp_path, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "operator.toml", "--format", "json")
    got = {json.loads(line)["source"].split("/")[0]: json.loads(line) for line in out.stdout.splitlines() if line.strip()}
    status = {case: r["status"] for case, r in got.items()}
    assert status == {"sats-sg": "warning", "costar-us": "warning", "costar-listed": "contraindicated", "sophgo-us": "contraindicated"}, status
    sats = [f for f in got["sats-sg"]["findings"] if f["rule"] == "policy.screening"]
    assert sats and all(f["evidence"]["identity"] == "unconfirmed" and "confirm identity" in f["message"] for f in sats)
    # a bad clearance file is a usage error with a message, not a traceback
    (tmp_path / "bad.toml").write_text(CLEARED.format(entries='[[cleared]]\nlist = "sdn"\nentry = "x"\n'))
    bad = _run(tmp_path, env, "verify", envelopes[0], "--trust", "trust.json", "--policy", "bad.toml")
    assert bad.returncode == 2 and "cleared" in bad.stderr, bad.stderr


# --- a clearance of one party never hides another party matching the same entry (review F1) ----

ALETRA_SG = clearance("entity-list", "entity-list-2835", "Aletra General Trading", "SG")


def _admit(tenant: dict[str, Any], policy: str) -> Any:
    node = trusted_node()
    result, manifest = verify_and_open(node.envelope(node.manifest()), node.trust, now=NODE_NOW + timedelta(minutes=1))
    assert manifest is not None
    fleet = {"gpu-a17": NodeEvidence(result, manifest)}
    return admit(JobRequest(Tenant.from_obj(tenant), gpu_count=8), fleet, policy=load_policy(policy), now=NODE_NOW + timedelta(minutes=2))


def test_a_cleared_tenant_does_not_hide_its_listed_parent_spelt_otherwise(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, ALETRA_SG)
    assert verdict("Aletra General Trading", "SG", policy)[0] is Status.AFFIRMING  # the review itself holds
    parent = {"legal_name": "Aletra General Trading FZE", "headquarters_country": "AE"}
    status, findings = verdict("Aletra General Trading", "SG", policy, ultimate_parent=parent)
    assert status is Status.CONTRAINDICATED, [f.message for f in findings]
    hit = next(f for f in screening(findings) if f.severity.value == "contraindicated")
    assert hit.evidence["entry"] == "entity-list-2835" and hit.evidence["screened"] == "Aletra General Trading FZE"
    tenant = {"legal_name": "Aletra General Trading", "headquarters_country": "SG", "ultimate_parent": parent}
    assert not _admit(tenant, policy).allowed


def test_a_cleared_tenant_does_not_hide_its_listed_owner_spelt_otherwise(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, ALETRA_SG)
    owner = {"legal_name": "Aletra General Trading FZE", "headquarters_country": "TR", "share_percent": 100}
    status, findings = verdict("Aletra General Trading", "SG", policy, owners=[owner])
    assert status is Status.WARNING, [f.message for f in findings]
    hit = next(f for f in screening(findings) if f.evidence["screened"] == "Aletra General Trading FZE")
    assert hit.evidence["identity"] == "unconfirmed"
    affiliates = [f for f in findings if f.rule == "policy.affiliates"]
    assert affiliates and all(f.evidence.get("identity") == "unconfirmed" for f in affiliates)
    tenant = {"legal_name": "Aletra General Trading", "headquarters_country": "SG", "owners": [owner]}
    d = _admit(tenant, policy)
    assert not d.allowed and d.verdicts[0].reason == "policy"


# --- a close match of a refused entry holds admission too (review F4) ---------------------------


@pytest.mark.parametrize(
    ("name", "country"),
    [
        ("Sophgo Compute Cloud", "US"),  # a listed brand with other words
        ("SophgoCloud Services", "US"),  # glued
        ("Moore Threads Technology", "US"),  # a brand of the Entity List inside a longer name
        ("Aletra General Tradings", "AE"),  # one letter added
        ("Hauwei Technologies", "US"),  # one typo in a 1260H brand
    ],
)
def test_a_close_match_of_a_refused_entry_is_a_possible_match_that_holds_admission(name: str, country: str) -> None:
    status, findings = verdict(name, country)
    assert status in (Status.WARNING, Status.CONTRAINDICATED), [f.message for f in findings]
    near = [f for f in screening(findings) if f.evidence["kind"] == "near"]
    assert any(f.evidence.get("identity") == "unconfirmed" for f in near), [f.message for f in near]
    d = _admit({"legal_name": name, "headquarters_country": country}, "us-ear")
    assert not d.allowed and d.verdicts[0].reason == "policy", d.verdicts[0].message


# --- list countries written as names are read as codes; an unknown one is never a homonym (F5) ---


def test_every_country_of_the_bundled_csl_is_read_as_iso_codes() -> None:
    from attest.model.countries import ACCEPTED_COUNTRY_CODES
    from attest.policy.screening import bundled_list, country_codes

    raw = {c for e in bundled_list("csl").entries for c in [*e.countries, *([e.country] if e.country else [])]}
    unknown = sorted(c for c in raw if not set(country_codes(c)) <= ACCEPTED_COUNTRY_CODES)
    assert unknown == [], unknown
    assert country_codes("MACAU") == ("MO",) and country_codes("REGION: RUSSIA") == ("RU",)
    assert country_codes("Atlantis") == ("Atlantis",)  # left as written: the homonym rule fails closed on it


@pytest.mark.parametrize(
    ("name", "country", "why"),
    [
        ("BAIA CONSULTING LIMITED", "SG", "an SDN entry in MACAU (Macau)"),
        ("ONBOARD SHIP MANAGEMENT LIMITED", "SG", "an entry in REGION: CHINA"),
        ("DOTONE GOLD COMPANY", "AE", "an entry in REGION: IRAN"),
        ("LIMITED LIABILITY COMPANY ADVANTA M SPB", "AE", "an entry in REGION: RUSSIA"),
        ("Chernomorneftegaz", "TR", "an entry in CRIMEA (OCCUPIED)"),
    ],
)
def test_a_party_listed_under_a_country_name_keeps_its_severity(name: str, country: str, why: str) -> None:
    status, findings = verdict(name, country)
    assert status is Status.CONTRAINDICATED, (why, [f.message for f in findings])
    hits = [f for f in screening(findings) if f.severity.value == "contraindicated"]
    assert hits and not any(f.evidence.get("identity") for f in hits), why


def test_an_entry_country_not_understood_is_never_taken_for_a_homonym(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An imported list whose entry's country is no code and no known name: the match keeps its severity."""
    lst = {"name": "csl", "date": "2026-11-01", "entries": [
        {"id": "entity-list-x1", "list": "entity-list", "name": "Zorvexa Quantum Trading", "country": "Atlantis"}]}
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "csl.json").write_text(json.dumps(lst))
    monkeypatch.setenv("ATTEST_LISTS_DIR", str(lists))
    policy = policy_file(tmp_path)  # loaded afresh, with the list above
    status, findings = verdict("Zorvexa Quantum Trading", "SG", policy)
    hit = next(f for f in screening(findings) if f.evidence["entry"] == "entity-list-x1")
    assert status is Status.CONTRAINDICATED and "identity" not in hit.evidence, hit.message


def test_a_clearance_cannot_clear_an_exact_match_that_is_never_a_homonym(tmp_path: Path) -> None:
    """Red team rt8: a [[cleared]] entry for each of Sophgo's matches made it affirming (declared US).

    Sophgo is listed in CN, so an exact match is never another party of that name; only a match
    that may be one (a homonym, a near match) can be cleared by a review.
    """
    name = "Sophgo Technologies Ltd."
    status, findings = verdict(name, "US")
    assert status is Status.CONTRAINDICATED
    hits = screening(findings)
    assert hits
    policy = policy_file(
        tmp_path, *(clearance(f.evidence["list"], f.evidence["entry"], name, "US") for f in hits)
    )
    status, findings = verdict(name, "US", policy)
    assert status is Status.CONTRAINDICATED
    assert any(f.severity.value == "contraindicated" for f in screening(findings))
