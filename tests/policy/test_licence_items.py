"""A licence covers what it names: ECCN paragraphs and chip models, never a whole ECCN by prefix.

Red-team finding A: the H20 (below 3A090, licence-listed for China) was matched as "3A090",
and licence items were ECCN prefixes, so an H20 licence (items = ["3A090"]) covered every
3A090 chip: eight B200s in Beijing for a Chinese tenant were affirming "on a licence", and so
were they under a licence written for H200s (with the five conditions of the January 2026
rule). Now a bare ECCN is refused, an item covers its paragraph and those under it, a chip
below 3A090 is covered only by a licence naming its model, and chips above the H200 class in
D:5 or Macau (presumption of denial) only by a licence naming their models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest.hardware.catalog import bundled_catalog
from attest.model.manifest import LicenseReference, Site, WorkloadManifest
from attest.model.policy import LicenseEntry, PolicyDocument
from attest.model.result import Finding, Status
from attest.policy import Facts, Policy, PolicyError, load_policy
from tests.conftest import CLI_OPERATOR, CliRunner
from tests.policy.test_scenarios import NOW, Row, manifest_for

BEIJING = Site(facility_id="bj-1", name="Beijing 1", country="CN", latitude=39.9042, longitude=116.4074, accuracy=500)
CONDITIONS = ["us-export-only", "china-volume-cap-50pct", "us-third-party-testing", "kyc-remote-access", "us-supply-certification"]
HOLDER = "Acme AI Ltd"


def _manifest(chip: str, site: Site = BEIJING) -> WorkloadManifest:
    m = manifest_for(Row("case", chip, "SG", (HOLDER, "CN"), None, "D999020", "hardware-bound", Status.AFFIRMING, set()))
    return m.model_copy(update={"site": site, "licenses": [LicenseReference(kind="license", id="D999020")]})


def _judge(m: WorkloadManifest, **licence: object) -> tuple[Status, list[Finding]]:
    entry = LicenseEntry.model_validate({"id": "D999020", "holder": HOLDER, "destinations": ["CN"], **licence})
    extra = PolicyDocument(id="auditor", version="1", title="t", effective=NOW.date(), extends=["us-ear"], licenses=[entry])
    policy = Policy([*load_policy("us-ear").documents, extra])
    findings = policy.evaluate(m, now=NOW, facts=Facts("hardware-bound", [bundled_catalog().classify_gpu(g) for g in m.gpus]))
    return Status.worst(f.severity.status for f in findings), findings


def _bad(findings: list[Finding]) -> dict[str, str]:
    return {f.rule: f.message for f in findings if f.severity.value != "info"}


def test_an_h20_licence_does_not_cover_b200s_in_china() -> None:
    status, findings = _judge(_manifest("b200"), chips=["h20"])
    assert status is Status.CONTRAINDICATED
    assert "license D999020 covers h20, not NVIDIA B200 (3A090.a.1)" in _bad(findings)["policy.destination"]


@pytest.mark.parametrize("licence", [{"items": ["3A090.a"]}, {"items": ["3A090.a"], "conditions": CONDITIONS}, {"items": ["3A090.a", "4A090.a"], "chips": ["h200"]}])
def test_b200s_in_china_are_under_a_presumption_of_denial(licence: dict[str, object]) -> None:
    status, findings = _judge(_manifest("b200"), **licence)
    assert status is Status.CONTRAINDICATED
    bad = _bad(findings)
    assert "policy.presumption_of_denial" in bad or "policy.destination" in bad
    if "chips" not in licence:  # a licence for the paragraph: only the presumption of denial refuses it
        assert "does not name the chip model of NVIDIA B200 (3A090.a.1)" in bad["policy.presumption_of_denial"]
    assert not any(f.severity.value == "info" and "passed on a licence" in f.message and f.rule == "policy.presumption_of_denial" for f in findings)


def test_a_licence_naming_the_b200_covers_b200s_and_says_so() -> None:
    status, findings = _judge(_manifest("b200"), items=["3A090.a"], chips=["b200"])
    assert status is Status.AFFIRMING
    passed = {f.rule: f.message for f in findings if f.message.startswith("passed on a licence")}
    assert {"policy.destination", "policy.presumption_of_denial", "policy.headquarters"} <= set(passed)


def test_the_h20_is_covered_only_by_a_licence_naming_it() -> None:
    assert _judge(_manifest("h20"), chips=["h20"])[0] is Status.AFFIRMING
    status, findings = _judge(_manifest("h20"), items=["3A090.a", "3A090.b"])
    assert status is Status.CONTRAINDICATED
    assert "not NVIDIA H20 (below 3A090, licence-listed)" in _bad(findings)["policy.destination"]


def test_an_item_covers_its_paragraph_and_those_under_it() -> None:
    # An H100 SXM is 3A090.a.1 (TPP 15,832); an H200-class licence with the conditions covers it.
    assert _judge(_manifest("h100"), items=["3A090.a"], conditions=CONDITIONS)[0] is Status.AFFIRMING
    assert _judge(_manifest("h100"), items=["3A090.a.1"], conditions=CONDITIONS)[0] is Status.AFFIRMING
    for items in (["3A090.b"], ["3A090.a.2"], ["4A090.a"]):
        status, findings = _judge(_manifest("h100"), items=items, conditions=CONDITIONS)
        assert status is Status.CONTRAINDICATED, items
        assert "not NVIDIA H100" in _bad(findings)["policy.destination"]


@pytest.mark.parametrize(
    ("licence", "fragment"),
    [
        ('items = ["3A090"]', "item '3A090' is not an ECCN with its paragraph"),
        ('items = ["3A090", "4A090"]', "a bare ECCN would cover every paragraph"),
        ('items = ["3a090.a"]', "is not an ECCN with its paragraph"),
        ('items = ["3A090."]', "is not an ECCN with its paragraph"),
        ("", "says nothing of what it covers"),
        ('chips = ["H20"]', "licenses.0.chips.0"),
    ],
)
def test_licences_that_do_not_say_what_they_cover_are_refused(tmp_path: Path, cli: CliRunner, licence: str, fragment: str) -> None:
    (tmp_path / "pol.toml").write_text(
        'id = "auditor-h20"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear"]\n\n'
        f'[[licenses]]\nid = "D999020"\nholder = "{HOLDER}"\ndestinations = ["CN"]\n{licence}\n'
    )
    with pytest.raises(PolicyError) as err:
        load_policy(str(tmp_path / "pol.toml"))
    assert fragment in err.value.message
    proc = cli("policy", "check", "pol.toml")
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_through_the_cli_b200s_in_beijing_under_a_paragraph_licence_are_contraindicated(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "node", check_code=0)
    cli("trust", "add", "node/attest.pub", "--trust", "trust.json", "--operator", CLI_OPERATOR, "--site", "bj-1", "--country", "CN", check_code=0)
    (tmp_path / "site.json").write_text(BEIJING.to_json())
    (tmp_path / "tenant.json").write_text(json.dumps({"legal_name": HOLDER, "headquarters_country": "CN"}))
    cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j1", "--operator", CLI_OPERATOR,
        "--key", "node/attest.key", "--simulate", "b200", "--license", "license:D999020", "-o", "m.json", check_code=0)
    cli("sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json", check_code=0)
    head = 'id = "auditor"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear"]\n\n'
    lic = f'[[licenses]]\nid = "D999020"\nholder = "{HOLDER}"\ndestinations = ["CN"]\n'
    conditions = "conditions = [" + ", ".join(f'"{c}"' for c in CONDITIONS) + "]\n"
    for name, body, code, rule in [
        ("h20", 'chips = ["h20"]\n', 3, "policy.destination"),
        ("para", 'items = ["3A090.a"]\n', 3, "policy.presumption_of_denial"),
        ("h200", 'items = ["3A090.a"]\n' + conditions, 3, "policy.presumption_of_denial"),
        ("b200", 'items = ["3A090.a"]\nchips = ["b200"]\n', 1, None),  # declared grade in D:1/D:4: a warning
    ]:
        (tmp_path / f"{name}.toml").write_text(head + lic + body)
        proc = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", f"{name}.toml", "--format", "json")
        assert proc.returncode == code, (name, proc.stdout, proc.stderr)
        result = json.loads(proc.stdout)
        bad = {f["rule"] for f in result["findings"] if f["severity"] == "contraindicated"}
        assert (rule in bad) if rule else not bad, (name, bad)
