"""Red team rt13: the re-attack of rt12's fixes, each a false ``affirming`` or admission before its fix.

- a site at sea off Hong Kong declared in a territory the bundled borders have no polygon for
  (CX): each such territory now has bounds, and a site far outside them is elsewhere;
- a close match the headquarters rule places in China hidden by weaker evidence about another
  party (a parent "Canton Road Holdings Ltd."): the near match is the one reported and held;
- pinyin the rule did not read: laboratories (Shiyanshi), "Kexue Yuan" spaced, short names
  (Gongda), Wade-Giles (Ta-hsueh);
- listed institutions in Italian, German and Dutch, and laboratories in translation.

Sites where a prohibited country's polygon overlaps the declared one's (Ivangorod declared as
Estonia) are in tests/policy/test_site_country.py.
"""

from __future__ import annotations

import pytest

from attest.location.borders import bundled_borders
from attest.location.in_country import TERRITORY_BOXES
from attest.model.countries import ACCEPTED_COUNTRY_CODES
from attest.model.manifest import Site
from attest.model.result import Status
from tests.policy.test_homonyms import _admit, verdict
from tests.policy.test_scenarios import _us_ear

US_TENANT = {"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}


def test_every_country_without_a_polygon_has_bounds() -> None:
    missing = sorted(set(ACCEPTED_COUNTRY_CODES) - set(bundled_borders().codes) - set(TERRITORY_BOXES))
    assert missing == [], missing


@pytest.mark.parametrize(
    ("country", "lat", "lon", "rule"),
    [
        ("CX", 22.12, 114.17, "site.outside_country"),  # at sea 4 km off Hong Kong
        ("YT", 24.35, 118.2, "site.outside_country"),  # at sea off Xiamen
        ("SJ", 55.75, 37.62, "site.outside_country"),  # Moscow as Svalbard
        ("CX", -10.49, 105.62, "site.country_unchecked"),  # Christmas Island itself: a warning
        ("SJ", 78.22, 15.65, "site.country_unchecked"),  # Longyearbyen
    ],
)
def test_a_territory_without_a_polygon_is_checked_against_its_bounds(
    country: str, lat: float, lon: float, rule: str
) -> None:
    site = Site(facility_id="x-1", name="DC", country=country, latitude=lat, longitude=lon, accuracy=500)
    status, rules = _us_ear(US_TENANT, site)
    assert set(r for r in rules if r.startswith("site.")) == {rule}, rules
    assert status is (Status.CONTRAINDICATED if rule == "site.outside_country" else Status.WARNING), rules


@pytest.mark.parametrize(
    ("tenant", "party"),
    [
        ("DeepSeeek AI Pte. Ltd.", {"ultimate_parent": {"legal_name": "Canton Road Holdings Ltd.", "headquarters_country": "SG"}}),
        ("ByteDanse Pte. Ltd.", {"ultimate_parent": {"legal_name": "Shenzhen Acme Technology Ltd.", "headquarters_country": "SG"}}),
        ("Moonshoot AI", {"owners": [{"legal_name": "Peking Duck House Ltd.", "headquarters_country": "SG", "share_percent": 60}]}),
    ],
)
def test_a_close_match_placed_in_china_is_not_hidden_by_weaker_evidence(tenant: str, party: dict[str, object]) -> None:
    status, findings = verdict(tenant, "SG", **party)
    assert status is not Status.AFFIRMING
    hq = [f for f in findings if f.rule == "policy.headquarters"]
    assert hq and hq[0].evidence.get("identity") == "unconfirmed" and tenant in hq[0].message, [f.message for f in hq]
    assert not _admit({"legal_name": tenant, "headquarters_country": "SG", **party}, "us-ear").allowed


@pytest.mark.parametrize(
    "name",
    [
        "Pengcheng Shiyanshi",  # 鹏城实验室, Peng Cheng Laboratory
        "Shenzhen Pengcheng Shiyanshi",
        "Zhongguo Kexue Yuan",  # 中国科学院, spaced
        "Xibei Gongda",  # 西北工大, NWPU's short name
        "Ha Gongda",  # 哈工大, HIT's short name
        "Harbin Kung-yeh Ta-hsueh",  # Wade-Giles
        "Tsinghua Ta-hsueh",
    ],
)
def test_more_pinyin_of_chinese_institutions(name: str) -> None:
    status, findings = verdict(name, "SG")
    assert status is Status.CONTRAINDICATED, [(f.rule, f.message) for f in findings]


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("Istituto di Tecnologia di Harbin", "Harbin Institute of Technology"),
        ("Institut für Technologie Harbin", "Harbin Institute of Technology"),
        ("Harbin Instituut voor Technologie", "Harbin Institute of Technology"),
        ("Laboratorio Peng Cheng", "Peng Cheng Laboratory"),
        ("Laboratoire Peng Cheng", "Peng Cheng Laboratory"),
        ("Instytut Technologiczny w Harbinie", "Harbin Institute of Technology"),
        ("Technologisches Institut Peking", "Beijing Institute of Technology"),
        ("Nordwestliche Polytechnische Universität", "Northwestern Polytechnical University"),
        ("Narodowy Uniwersytet Technologii Obronnych", "National University of Defense Technology"),
    ],
)
def test_more_translations_of_listed_institutions(name: str, listed: str) -> None:
    status, findings = verdict(name, "SG")
    assert status is not Status.AFFIRMING, [(f.rule, f.message) for f in findings]
    assert any(f.rule == "policy.screening" and listed in f.message for f in findings)
    assert not _admit({"legal_name": name, "headquarters_country": "SG"}, "us-ear").allowed


@pytest.mark.parametrize(("name", "country"), [("Banco del Sur", "VE"), ("Del Monte Foods", "US"), ("Politecnico di Milano", "IT")])
def test_the_joining_words_dropped_match_nothing_new(name: str, country: str) -> None:
    status, findings = verdict(name, country)
    assert status is Status.AFFIRMING or not any(f.rule == "policy.screening" for f in findings), [f.message for f in findings]
