"""Red team rt12: admissions a warning did not hold, and a site across a border the borders do not draw.

Each case was ``allowed`` by ``attest admit`` (and so by the Slurm hook and the webhook, which
call the same function) while ``attest verify`` said only ``warning``:

- a name screening cannot read (letters drawn with symbols, a script the lists do not write
  names in): nothing was matched, so nothing was cleared either;
- a close match of an entry listed in China whose own list is a warning (1260H) or only places
  it (the known-headquarters list): its exact name is refused by the headquarters rule.

Each now carries ``"identity": "unconfirmed"``, the marker admission holds a job on until the
party is reviewed. And a site declared in a country the bundled borders have no polygon for
(CX, Christmas Island) at coordinates inside China was a ``warning`` (``site.country_unchecked``):
no tolerance is given inside a prohibited country, whatever the country declared.

And listed Chinese institutions written in pinyin, or translated into Spanish or French, were
``affirming``: a name ending in the pinyin word of a Chinese organisation (Daxue, Yanjiuyuan...)
is now registration evidence, and screening reads the words of an institution's name in the
languages of Europe as the lists write them in English.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.model.manifest import Site, Tenant
from attest.model.result import Severity, Status
from attest.policy import load_policy
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.verify import verify_and_open
from tests.conftest import NOW as NODE_NOW
from tests.conftest import trusted_node
from tests.policy.evasion import bundled_lists_env
from tests.policy.test_cli_scenarios import _run, signed_case
from tests.policy.test_homonyms import _admit, clearance, policy_file, verdict
from tests.policy.test_scenarios import _us_ear

US_TENANT = {"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}

HELD = [
    # letters drawn with symbols screening does not read
    ("HUA₩EI Technologies", "policy.screening"),
    ("Huaw€i Technologies", "policy.screening"),
    ("⻜腾", "policy.screening"),  # Phytium (飞腾) with the CJK radical U+2EDC for 飞
    # a script the lists do not write names in
    ("هواوي تكنولوجيز", "policy.screening"),  # Huawei Technologies in Arabic
    # close matches of parties listed or known in China, refused by their exact names
    ("ChangXin Memory Technolgies, Inc.", "policy.headquarters"),  # 1260H, a typo
    ("⻓鑫存储技术有限公司", "policy.headquarters"),  # CXMT with the radical U+2ED3 for 长
    ("DeepSeeek AI Pte. Ltd.", "policy.headquarters"),
    ("Moonshoot AI", "policy.headquarters"),
    ("ByteDanse Pte. Ltd.", "policy.headquarters"),
]


@pytest.mark.parametrize(("name", "rule"), HELD)
def test_a_party_screening_could_not_clear_holds_admission(name: str, rule: str) -> None:
    status, findings = verdict(name, "SG")
    assert status in (Status.WARNING, Status.CONTRAINDICATED), [f.message for f in findings]
    held = [f for f in findings if f.rule == rule and f.evidence.get("identity") == "unconfirmed"]
    assert held, [(f.rule, f.severity.value, f.message) for f in findings]
    d = _admit({"legal_name": name, "headquarters_country": "SG"}, "us-ear")
    assert not d.allowed and d.verdicts[0].reason == "policy", d.verdicts[0].message
    assert rule in d.verdicts[0].message


@pytest.mark.parametrize(
    "name",
    [
        "Example Robotics Pte. Ltd.",
        "Æon Þórsmörk Pte. Ltd.",  # Latin letters beyond ASCII: read, screened, nothing found
        "Bluefin Robotics Pte. Ltd.",
    ],
)
def test_parties_screening_reads_and_clears_are_admitted(name: str) -> None:
    status, findings = verdict(name, "SG")
    assert status is Status.AFFIRMING, [(f.rule, f.message) for f in findings]
    d = _admit({"legal_name": name, "headquarters_country": "SG"}, "us-ear")
    assert d.allowed, d.verdicts[0].message


def test_a_reviewed_close_match_is_admitted(tmp_path: Path) -> None:
    # The review a possible match asks for clears it: the hold is not a dead end.
    _, findings = verdict("DeepSeeek AI Pte. Ltd.", "SG")
    hit = next(f for f in findings if f.rule == "policy.headquarters")
    entry = hit.evidence["list_entry"]
    assert isinstance(entry, dict)
    policy = policy_file(tmp_path, clearance(str(entry["list"]), str(entry["entry"]), "DeepSeeek AI Pte. Ltd.", "SG"))
    d = _admit({"legal_name": "DeepSeeek AI Pte. Ltd.", "headquarters_country": "SG"}, policy)
    assert d.allowed, d.verdicts[0].message


# --- a site in China declared in a country the borders do not draw -----------------------------

SHENZHEN = (22.5431, 114.0579)


@pytest.mark.parametrize("country", ["CX", "GF", "BV", "YT"])
def test_a_site_inside_china_declared_where_no_border_is_drawn_is_refused(country: str) -> None:
    lat, lon = SHENZHEN
    site = Site(facility_id="sz-1", name="DC", country=country, latitude=lat, longitude=lon, accuracy=500)
    status, rules = _us_ear(US_TENANT, site)
    assert status is Status.CONTRAINDICATED, rules
    (message,) = rules["site.outside_country"]
    assert message.startswith("contraindicated") and "lie in CN" in message and "no polygon" in message
    assert "site.country_unchecked" not in rules


def test_a_site_where_no_border_is_drawn_and_no_prohibited_country_holds_stays_unchecked() -> None:
    # Christmas Island itself: nothing to check it against, and nothing says it is elsewhere.
    site = Site(facility_id="cx-1", name="DC", country="CX", latitude=-10.49, longitude=105.62, accuracy=500)
    status, rules = _us_ear(US_TENANT, site)
    assert status is Status.WARNING and set(rules) == {"site.country_unchecked"}, rules


def test_attest_verify_and_admit_refuse_shenzhen_declared_as_christmas_island(tmp_path: Path) -> None:
    env = bundled_lists_env(tmp_path)
    lat, lon = SHENZHEN
    path = signed_case(tmp_path, env, "cx", US_TENANT, ("CX", lat, lon), ("Example Cloud Pte. Ltd.", "SG"))
    out = _run(tmp_path, env, "verify", path, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    result: dict[str, Any] = json.loads(out.stdout)
    assert out.returncode != 0 and result["status"] == "contraindicated", result["findings"]
    assert [f["rule"] for f in result["findings"] if f["severity"] == "contraindicated"] == ["site.outside_country"]
    # the same evidence before admission (what the Slurm hook and the webhook ask)
    node = trusted_node()
    node.site = Site(facility_id="jhb-2", name="DC", country="CX", latitude=lat, longitude=lon, accuracy=500)
    r, manifest = verify_and_open(
        node.envelope(node.manifest()), node.trust, now=NODE_NOW + timedelta(minutes=1), policy=load_policy("us-ear")
    )
    assert manifest is not None and r.status is Status.CONTRAINDICATED
    d = admit(
        JobRequest(Tenant.from_obj(US_TENANT), gpu_count=8),
        {"gpu-a17": NodeEvidence(r, manifest)},
        policy=load_policy("us-ear"),
        now=NODE_NOW + timedelta(minutes=2),
    )
    assert not d.allowed and d.verdicts[0].reason == "evidence-failed", d.verdicts[0].message


# --- listed institutions in pinyin and in translation -------------------------------------------

PINYIN = [
    "Haerbin Gongye Daxue",  # 哈尔滨工业大学, Harbin Institute of Technology
    "Xibei Gongye Daxue",  # 西北工业大学, Northwestern Polytechnical University
    "Beijing Ligong Daxue",  # 北京理工大学, Beijing Institute of Technology
    "Haerbin Gongcheng Daxue",  # 哈尔滨工程大学, Harbin Engineering University
    "Zhongguo Gongcheng Wuli Yanjiuyuan",  # 中国工程物理研究院, CAEP
    "Guofang Keji Da Xue",  # 国防科技大学, NUDT, the ending spaced
    "HaerbinGongyeDaxue",  # glued
    "Haerbin Gongye Daxue Pte. Ltd.",  # another country's legal form after it
    "Zhongguo Kexueyuan Jisuan Jishu Yanjiusuo",  # 中国科学院计算技术研究所, ICT CAS
]


@pytest.mark.parametrize("name", PINYIN)
def test_a_chinese_institution_written_in_pinyin_is_headquartered_in_china(name: str) -> None:
    status, findings = verdict(name, "SG")
    assert status is Status.CONTRAINDICATED, [(f.rule, f.message) for f in findings]
    hq = next(f for f in findings if f.rule == "policy.headquarters")
    assert "pinyin" in hq.message and hq.evidence["registration_evidence_strong"] is True
    assert not _admit({"legal_name": name, "headquarters_country": "SG"}, "us-ear").allowed


def test_pinyin_from_a_party_declared_in_taiwan_is_a_warning() -> None:
    status, findings = verdict("Guoli Qinghua Daxue", "TW")  # 國立清華大學 (Hsinchu) in Hanyu Pinyin
    assert status is Status.WARNING, [(f.rule, f.message) for f in findings]


TRANSLATED = [
    ("Instituto de Tecnología de Pekín", "Beijing Institute of Technology"),
    ("Universidad Politécnica del Noroeste", "Northwestern Polytechnical University"),
    ("Université nationale de technologie de défense", "National University of Defense Technology"),
    ("Universidad Nacional de Tecnología de Defensa", "National University of Defense Technology"),
    ("Università Nazionale di Tecnologia della Difesa", "National University of Defense Technology"),
    ("Institut de Technologie de Pékin", "Beijing Institute of Technology"),
    ("Instituto de Tecnología de Harbin", "Harbin Institute of Technology"),
    ("Académie chinoise de physique de l'ingénierie", "Chinese Academy of Engineering Physics"),
]


@pytest.mark.parametrize(("name", "listed"), TRANSLATED)
def test_a_listed_institution_in_translation_is_a_possible_match_that_holds_admission(name: str, listed: str) -> None:
    status, findings = verdict(name, "SG")
    assert status in (Status.WARNING, Status.CONTRAINDICATED), [(f.rule, f.message) for f in findings]
    hits = [f for f in findings if f.rule == "policy.screening" and listed in f.message]
    # a close match holds admission as a possible match; a translation word for word is an exact one
    assert hits and all(
        f.evidence.get("identity") == "unconfirmed" or f.severity is Severity.CONTRAINDICATED for f in hits
    ), [f.message for f in findings]
    assert not _admit({"legal_name": name, "headquarters_country": "SG"}, "us-ear").allowed


@pytest.mark.parametrize(
    ("name", "country"),
    [
        ("Technical University of Munich", "DE"),  # "technical" matched a 1260H entry's name at 100 before
        ("Technische Universität München", "DE"),
        ("Acme Technical Services Pte. Ltd.", "SG"),
        ("Universidad Politécnica de Madrid", "ES"),
        ("Politecnico di Milano", "IT"),
        ("Institut Polytechnique de Paris", "FR"),
        ("Université de Montréal", "CA"),
        ("Centre National de la Recherche Scientifique", "FR"),
        ("Instituto Nacional de Tecnología Industrial", "AR"),
        ("Universidade de São Paulo", "BR"),
    ],
)
def test_institutions_elsewhere_are_not_matched(name: str, country: str) -> None:
    status, findings = verdict(name, country)
    assert status is Status.AFFIRMING, [(f.rule, f.message) for f in findings]
