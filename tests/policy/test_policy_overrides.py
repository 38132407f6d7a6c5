"""An extending policy cannot narrow the groups or territories it extends without saying so.

Red-team finding C: ``[groups."D:5"] members = ["KP"]`` in a policy extending us-ear made a
tenant headquartered in CN affirming, and ``territories = {HK = "SG", MO = "SG"}`` did the
same for Hong Kong, with no sign in ``attest policy show``. Now a changed group or territory
is refused unless the document gives its reason (``override`` in the group,
``territories_override``); with one, ``policy show`` and every verdict name it, and a verdict
about a manifest with a site or party in a country the override changes is a warning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest.hardware.catalog import bundled_catalog
from attest.model.manifest import Site, WorkloadManifest
from attest.model.result import Finding, Status
from attest.policy import Facts, PolicyError, load_policy
from tests.conftest import CliRunner, make_envelope
from tests.policy.test_scenarios import NOW, Row, manifest_for

HEAD = 'id = "example-cloud"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear"]\n'
NARROW_D5 = '[groups."D:5"]\nmembers = ["KP"]\n'
HONG_KONG = Site(facility_id="hkg-1", name="Hong Kong DC", country="HK", latitude=22.3193, longitude=114.1694)


def _policy(tmp_path: Path, body: str) -> str:
    (tmp_path / "pol.toml").write_text(HEAD + body, encoding="utf-8")
    return str(tmp_path / "pol.toml")


def _judge(policy: str, m: WorkloadManifest) -> tuple[Status, list[Finding]]:
    facts = Facts("hardware-bound", [bundled_catalog().classify_gpu(g) for g in m.gpus])
    findings = load_policy(policy).evaluate(m, now=NOW, facts=facts)
    return Status.worst(f.severity.status for f in findings), findings


def _tenant(country: str, site: str = "SG") -> WorkloadManifest:
    return manifest_for(Row("case", "h100", site, ("Acme AI Ltd", country), None, None, "hardware-bound", Status.AFFIRMING, set()))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (NARROW_D5, "redefines group D:5 of us-ear (removes AF BY CD CF CN"),
        ('[groups."D:5"]\nmembers = ["AF", "BY", "MM", "KH", "CF", "CN", "CD", "CU", "ER", "HT", "IR", "IQ", "KP", "LB", "LY", "NI", "RU", "SO", "SS", "SD", "SY", "VE", "ZW"]\n', "dates KH otherwise"),
        ('[groups."A:6"]\nmembers = ["AL", "CY", "IL", "MT", "SG", "ZA", "TW", "CN"]\n', "redefines group A:6 of us-ear (adds CN)"),
        ('territories = { HK = "SG", MO = "SG" }\n', "changes the territories of the policies it extends (HK as SG (not CN, as us-ear says)"),
        ('territories = { CN = "SG" }\n', "(CN as SG)"),
    ],
)
def test_a_changed_group_or_territory_without_a_reason_is_refused(tmp_path: Path, cli: CliRunner, body: str, fragment: str) -> None:
    _assert_refused(tmp_path, cli, body, fragment)


def _assert_refused(tmp_path: Path, cli: CliRunner, body: str, fragment: str) -> None:
    """The policy ``body`` is refused, by the library and by attest policy show and check (exit 2), saying ``fragment``."""
    with pytest.raises(PolicyError) as err:
        load_policy(_policy(tmp_path, body))
    assert fragment in err.value.message, err.value.message
    for verb in ("show", "check"):
        proc = cli("policy", verb, "pol.toml")
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_a_territory_treated_as_a_territory_is_refused_even_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="treats a territory as another territory"):
        load_policy(_policy(tmp_path, 'territories = { CN = "SG" }\nterritories_override = "x"\n'))


def test_the_same_group_again_is_no_override(tmp_path: Path) -> None:
    us_ear = load_policy("us-ear").groups["D:5"]
    members = ", ".join(f'"{c}"' for c in us_ear.members)
    policy = load_policy(_policy(tmp_path, f'[groups."D:5"]\nmembers = [{members}]\nchanges = [{{ code = "KH", action = "removed", date = 2026-02-03 }}]\n'))
    assert policy.overrides == []
    assert not [f for f in _judge(str(tmp_path / "pol.toml"), _tenant("CN"))[1] if f.rule == "policy.override"]


def test_a_narrowed_d5_with_a_reason_is_a_warning_where_it_matters(tmp_path: Path) -> None:
    path = _policy(tmp_path, NARROW_D5 + 'override = "our counsel reads D:5 otherwise"\n')
    status, findings = _judge(path, _tenant("CN"))
    assert status is Status.WARNING  # affirming before: the headquarters rule no longer saw CN in D:5
    [found] = [f for f in findings if f.rule == "policy.override"]
    assert found.severity.value == "warning" and "CN (the tenant's)" in found.message
    assert "our counsel reads D:5 otherwise" in found.message and found.evidence["base"] == "us-ear"
    # Elsewhere it is named, as information.
    status, findings = _judge(path, _tenant("US"))
    assert status is Status.AFFIRMING
    assert [f.severity.value for f in findings if f.rule == "policy.override"] == ["info"]
    # A party listed in CN but declared elsewhere is touched too (Huawei declared SG).
    huawei = manifest_for(Row("case", "h100", "SG", ("Huawei Technologies Co., Ltd.", "SG"), None, None, "hardware-bound", Status.AFFIRMING, set()))
    assert "policy.override" in {f.rule for f in _judge(path, huawei)[1] if f.severity.value == "warning"}


@pytest.mark.parametrize("where", ["tenant", "site"])
def test_hong_kong_as_singapore_with_a_reason_is_a_warning(tmp_path: Path, where: str) -> None:
    path = _policy(tmp_path, 'territories = { HK = "SG", MO = "SG" }\nterritories_override = "we read it so"\n')
    m = _tenant("HK") if where == "tenant" else _tenant("US").model_copy(update={"site": HONG_KONG})
    status, findings = _judge(path, m)
    assert status is not Status.AFFIRMING
    assert any(f.rule == "policy.override" and f.severity.value == "warning" and "HK (the" in f.message for f in findings)


def test_policy_show_and_check_name_the_overrides(tmp_path: Path, cli: CliRunner) -> None:
    _policy(tmp_path, NARROW_D5 + 'override = "our counsel reads D:5 otherwise"\n')
    text = cli("policy", "show", "pol.toml", check_code=0).stdout
    assert "OVERRIDE: group D:5 of us-ear changed by example-cloud (removes AF BY" in text
    assert "our counsel reads D:5 otherwise" in text
    assert "OVERRIDE: group D:5" in cli("policy", "check", "pol.toml", check_code=0).stdout
    shown = json.loads(cli("policy", "show", "pol.toml", "--format", "json", check_code=0).stdout)
    [override] = shown["overrides"]
    assert override["what"] == "group D:5" and "CN" in override["countries"]


def test_through_the_cli_a_chinese_tenant_is_not_affirming(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant.json").write_text(json.dumps({"legal_name": "Acme AI Ltd", "headquarters_country": "CN"}))
    make_envelope(cli)
    (workspace / "pol_a.toml").write_text(HEAD + NARROW_D5)
    proc = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "pol_a.toml")
    assert proc.returncode == 2 and "redefines group D:5" in proc.stderr
    (workspace / "pol_a.toml").write_text(HEAD + NARROW_D5 + 'override = "ours"\n')
    proc = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "pol_a.toml", "--format", "json")
    assert proc.returncode == 1, proc.stdout
    assert any(f["rule"] == "policy.override" and f["severity"] == "warning" for f in json.loads(proc.stdout)["findings"])


# --- the neighbour: a rule replaced by another of its id ---------------------------------------

LAX_HQ = '[[rules]]\nid = "headquarters"\nkind = "headquarters"\ngroups = ["KP"]\n'


def test_a_replaced_rule_without_a_reason_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="replaces rule headquarters of us-ear without saying why"):
        load_policy(_policy(tmp_path, LAX_HQ))


def test_a_replaced_rule_that_would_have_been_more_severe_is_a_warning(tmp_path: Path, cli: CliRunner) -> None:
    path = _policy(tmp_path, LAX_HQ + 'override = "we know better"\n')
    status, findings = _judge(path, _tenant("CN"))
    assert status is Status.WARNING  # affirming before: the replaced rule no longer named D:5
    [found] = [f for f in findings if f.rule == "policy.override"]
    assert found.severity.value == "warning" and "under the rule of us-ear this manifest would be contraindicated" in found.message
    assert "headquartered in CN" in found.message
    status, findings = _judge(path, _tenant("US"))
    assert status is Status.AFFIRMING and [f.severity.value for f in findings if f.rule == "policy.override"] == ["info"]
    assert "OVERRIDE: rule headquarters of us-ear" in cli("policy", "show", "pol.toml", check_code=0).stdout


def test_a_replaced_screening_rule_is_judged_with_its_own_lists(tmp_path: Path) -> None:
    # Screening without the CSL: the Entity-List university is no match, but us-ear's rule says so.
    path = _policy(tmp_path, '[[rules]]\nid = "screening"\nkind = "screening"\nlists = ["1260h", "seed"]\noverride = "no CSL here"\n')
    m = manifest_for(Row("case", "h100", "SG", ("Nanjing University of Aeronautics and Astronautics", "SG"), None, None, "hardware-bound", Status.AFFIRMING, set()))
    status, findings = _judge(path, m)
    assert status is not Status.AFFIRMING
    assert any(f.rule == "policy.override" and f.severity.value == "warning" and "would be contraindicated" in f.message for f in findings)


def test_the_bundled_policies_compose_and_name_what_one_replaces(tmp_path: Path) -> None:
    (tmp_path / "both.toml").write_text('id = "both"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear", "us-ai-diffusion-2025"]\n')
    [override] = load_policy(str(tmp_path / "both.toml")).overrides
    assert override.what == "rule training_compute" and override.reason == "the rule of the bundled policy us-ai-diffusion-2025"


LAX_LOCATION = '[location]\nprohibited = ["KP"]\nmin_operators = 1\nmargin_km = 0.0\nreceipt_max_age_s = 86400\nsite_tolerance_km = 50.0\n'
OLD_BINDINGS = "[hardware]\nbinding_max_age_s = 31536000\n"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (LAX_LOCATION, "[location] asks less than that of us-ear (no longer rules out CN HK MO; min_operators 2 → 1; "
         "margin_km 5.0 → 0.0; receipt_max_age_s 900 → 86400; site_tolerance_km 1.0 → 50.0)"),
        ('[location]\nprohibited = ["CN"]\nmin_operators = 2\nmargin_km = 4.9\n', "(margin_km 5.0 → 4.9)"),
        ('[location]\nprohibited = ["A:6"]\n', "no longer rules out CN HK MO"),
        (OLD_BINDINGS, "[hardware] asks less than that of us-ear (binding_max_age_s 86400 → 31536000)"),
        # Red team rt8: a group of a new name that drops CN tomorrow, or held it only from today.
        ('[groups.PRC]\nmembers = ["CU", "CN"]\nchanges = [{ code = "CN", action = "removed", date = 2099-12-07 }]\n'
         '[location]\nprohibited = ["PRC"]\n', "(no longer rules out CN HK MO)"),
        ('[groups.PRC]\nmembers = ["CU"]\nchanges = [{ code = "CN", action = "added", date = 2026-12-06 }]\n'
         '[location]\nprohibited = ["PRC"]\n', "(no longer rules out CN HK MO)"),
    ],
)
def test_a_weaker_location_or_hardware_section_without_a_reason_is_refused(
    tmp_path: Path, cli: CliRunner, body: str, fragment: str
) -> None:
    """Red-team follow-up: [location] and [hardware] replaced whole and silently, so an extending policy
    could stop ruling out China for the measured grade, or accept year-old GPU bindings."""
    _assert_refused(tmp_path, cli, body, fragment)


def test_a_stricter_location_or_hardware_section_needs_no_reason(tmp_path: Path) -> None:
    body = '[location]\nprohibited = ["D:5"]\nmin_operators = 3\nmargin_km = 10.0\n[hardware]\nbinding_max_age_s = 3600\n'
    policy = load_policy(_policy(tmp_path, body))
    assert policy.overrides == []  # D:5 holds CN, and CN its territories HK and MO


@pytest.mark.parametrize(
    ("body", "warned", "quiet"),
    [
        (LAX_LOCATION + 'override = "few landmarks"\n', ("measured", "key-measured", "hardware-bound", "declared"), ()),
        (OLD_BINDINGS + 'override = "yearly re-binding"\n', ("measured", "key-measured", "hardware-bound"), ("declared",)),
    ],
)
def test_a_weaker_section_with_a_reason_is_a_warning_on_every_grade_that_rests_on_it(
    tmp_path: Path, body: str, warned: tuple[str, ...], quiet: tuple[str, ...]
) -> None:
    policy = load_policy(_policy(tmp_path, body))
    m = _tenant("SG")
    for grade in (*warned, *quiet):
        facts = Facts(grade, [bundled_catalog().classify_gpu(g) for g in m.gpus])
        found = [f for f in policy.evaluate(m, now=NOW, facts=facts) if f.rule == "policy.override"]
        assert len(found) == 1, grade
        if grade in warned:
            assert found[0].severity.value == "warning" and "rests on it" in found[0].message, grade
            assert found[0].evidence["grade"] == grade
        else:
            assert found[0].severity.value == "info", grade


def test_policy_show_names_a_weaker_section_and_the_grades_that_rest_on_it(tmp_path: Path, cli: CliRunner) -> None:
    _policy(tmp_path, LAX_LOCATION + 'override = "few landmarks"\n')
    text = cli("policy", "show", "pol.toml", check_code=0).stdout
    assert "OVERRIDE: [location] of us-ear changed by example-cloud (no longer rules out CN HK MO;" in text
    shown = json.loads(cli("policy", "show", "pol.toml", "--format", "json", check_code=0).stdout)
    [override] = shown["overrides"]
    assert override["what"] == "[location]" and override["grades"] == ["declared", "hardware-bound", "key-measured", "measured"]


def test_a_replaced_screening_rule_cannot_narrow_where_listed_parties_keep_their_country(tmp_path: Path) -> None:
    """Red team rt8: a replacement with homonym_never = ["AQ"] made a Russian-listed party a 'possible match'
    warning, and the replaced rule, judged with the new places, said it would be no more severe."""
    body = (
        '[[rules]]\nid = "screening"\nkind = "screening"\nlists = ["csl", "1260h", "seed"]\n'
        'homonym_never = ["AQ"]\noverride = "we only screen exact-country matches"\n'
    )
    m = manifest_for(Row("gazprom", "h100", "AE", ("Gazprom Neft PJSC", "AE"), None, None, "hardware-bound", Status.AFFIRMING, set()))
    assert "RU" in load_policy(_policy(tmp_path, body)).expand(load_policy(_policy(tmp_path, body)).homonym_never, NOW.date())
    _, findings = _judge(_policy(tmp_path, body), m)
    screening = [f for f in findings if f.rule == "policy.screening"]
    assert any(f.severity.value == "contraindicated" for f in screening), [(f.severity.value, f.message[:120]) for f in screening]


def test_a_replaced_rule_that_stops_holding_the_job_is_a_warning(tmp_path: Path) -> None:
    """Red team rt9: a replacing screening rule with every list at "warning" turned us-ear's possible match
    (a warning that holds admission until reviewed) into a plain warning, and the override said
    "no more severely" (info), so attest admit and the webhook admitted the job."""
    from attest.scheduler.admission import _unconfirmed

    body = (
        '[[rules]]\nid = "screening"\nkind = "screening"\nlists = ["csl", "1260h", "seed"]\n'
        'homonym_never = ["D:5", "MO"]\noverride = "identity confirmation handled offline"\n'
        '[rules.severities]\nentity-list = "warning"\nsdn = "warning"\nmeu-list = "warning"\n'
        'denied-persons-list = "warning"\n'
    )
    m = manifest_for(Row("aldar", "h100", "US", ("Aldar Properties PJSC", "SG"), None, None, "hardware-bound", Status.AFFIRMING, set()))
    _, base = _judge("us-ear", m)
    assert any(_unconfirmed(f) for f in base)  # us-ear holds the job
    _, findings = _judge(_policy(tmp_path, body), m)
    [override] = [f for f in findings if f.rule == "policy.override"]
    assert override.severity.value == "warning" and "under the rule of us-ear" in override.message, override.message
