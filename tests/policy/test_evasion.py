"""Recall on a generated evasion set, and no false positives on 1,233 unrelated companies, against the full bundled lists."""

from __future__ import annotations

from collections import Counter

import pytest

from attest.policy.screening import Screener, bundled_list, normalize, screener_for
from tests.conftest import REPO
from tests.policy.evasion import TRANSFORMS, Variant, variants


@pytest.fixture(scope="module")
def screener() -> Screener:
    return screener_for([bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")])


def _caught(screener: Screener, v: Variant) -> bool:
    wanted = {normalize(n) for n in [v.entry.name, *v.entry.alt_names]}
    for m in screener.screen(v.name):
        if (m.source.name, m.entry.id) == (v.list_name, v.entry.id) or normalize(m.entry.name) in wanted:
            return True
    return False


def test_evasion_recall_is_at_least_99_percent(screener: Screener) -> None:
    lists = [bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")]
    made = variants(lists)
    assert len(made) >= 200
    assert set(TRANSFORMS) == {v.how for v in made}  # every kind of evasion is in the set
    missed = [v for v in made if not _caught(screener, v)]
    recall = 1 - len(missed) / len(made)
    assert recall >= 0.99, (recall, len(made), Counter(v.how for v in missed), [(v.how, v.name, v.entry.name) for v in missed][:20])


# Names in tests/data/unrelated_companies.txt that the full CSL does match, each reviewed: these are
# true name matches a screen must report, not scoring errors. Any other match fails the test. For
# each: its real headquarters country, what it matches, and the us-ear verdict for it as a tenant
# of 8 H100s at a US site (tests/policy/test_homonyms.py). A homonym whose list entry is in another
# country, outside D:5, Hong Kong and Macau, is a "possible match, confirm identity" warning; an
# entry in China, or one in the declared country, keeps its list's severity (nothing in the list
# tells the two apart: an operator clears it with a reviewed [[cleared]] entry in its policy).
# Gazprom Neft PJSC was in the set: it is listed (see the data file's header), so it is no longer.
REVIEWED: dict[str, tuple[str, str, str]] = {
    "CoStar Group, Inc.": ("US", "homonym: COSTAR GROUP CO., LTD. (NS-CMIC list, CN)", "contraindicated"),
    "Realtek Semiconductor Corp.": ("TW", "name and country: REALTEK SEMI-CONDUCTOR CO. LTD (Denied Persons List, TW)", "contraindicated"),
    "SATS Ltd.": ("SG", "homonym: SATS (Denied Persons List, CH)", "warning"),
    "Aldar Properties PJSC": ("AE", "homonym: ALDAR PROPERTIES (SDN, QA)", "warning"),
    "Delta Electronics, Inc.": ("TW", "near homonym of an Entity List alias (IR), score 97", "warning"),
    "City Developments Limited": ("SG", "near homonym: CITY DEVELOPMENT LLC (SDN, RU), score 97", "warning"),
}


def test_no_false_positives_on_unrelated_companies(screener: Screener) -> None:
    lines = (REPO / "tests" / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    names = [n.strip() for n in lines if n.strip() and not n.startswith("#")]
    assert len(names) >= 1000
    flagged = {n for n in names if screener.screen(n)}
    assert flagged == set(REVIEWED), sorted(flagged ^ set(REVIEWED))
    # With the seed and the 1260H list alone (brand lists with the subsidiary rule): none at all.
    brands = screener_for([bundled_list("1260h"), bundled_list("seed")])
    assert [n for n in names if brands.screen(n)] == []


# --- the review of issue 18: multi-character look-alikes and ASCII legal forms (F2, F3, F7) ----


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("Carnbricon Technologies", "Cambricon"),  # rn for m
        ("Phytiurn Information Technology", "Phytium"),
        ("SenseTirne", "SenseTime"),
        ("Rnoore Thread", "Moore Thread"),
        ("Huavvei Technologies", "Huawei"),  # vv for w
        ("5ugon", "Sugon"),  # a digit for a letter
        ("$ugon", "Sugon"),
        ("C@mbricon", "Cambricon"),
        ("Hu@wei", "Huawei"),
        ("Hua\\/\\/ei", "Huawei"),  # \/\/ for w
        ("HIK\\/ISION", "Hikvision"),  # \/ for v
        ("Megv||", "Megvii"),  # || for ll, both strokes
        ("Ca\u043cbricon", "Cambricon"),  # Cyrillic small-capital m
        ("Aletra General Trading DMCC", "Aletra General Trading"),  # ASCII legal forms
        ("Aletra General Trading S.A. de C.V.", "Aletra General Trading"),
        ("Aletra General Trading S. de R.L.", "Aletra General Trading"),
        ("Aletra General Trading Co. W.L.L", "Aletra General Trading"),
        ("Aletra General Trading FZ-LLC", "Aletra General Trading"),
        ("Aletra General Trading Yugen Kaisha", "Aletra General Trading"),
        ("Aletra General Trading Sanayi ve Ticaret A.S.", "Aletra General Trading"),
        ("Aletra General Trading Q.S.C.", "Aletra General Trading"),
        ("Aletra General Trading OPC Pvt Ltd", "Aletra General Trading"),
        ("Aletra General Trading Establishment", "Aletra General Trading"),
        ("Aletra General Trading L.L.C-FZ", "Aletra General Trading"),
        ("DMCC Aletra General Trading", "Aletra General Trading"),  # a Gulf form first
        ("Aletra General Trading Sanayi ve Ticaret Limited Şirketi", "Aletra General Trading"),
        ("Aletra General Trading, S.A.P.I. de C.V.", "Aletra General Trading"),
        ("Aletra Gen. Trading", "Aletra General Trading"),  # business abbreviations
        ("Aletra Gnrl Trdg", "Aletra General Trading"),
        ("Bank of Kunlun DMCC", "Bank of Kunlun"),
        ("Centre Bright Electronics DMCC", "Centre Bright Electronics"),
        ("Netrix", "Nettrix"),  # F7: a brand one letter short
    ],
)
def test_multi_character_lookalikes_and_ascii_legal_forms_find_the_entry(
    screener: Screener, name: str, listed: str
) -> None:
    found = screener.screen(name)
    assert any(normalize(listed) in normalize(m.entry.name) or any(normalize(listed) in normalize(a) for a in m.entry.alt_names) for m in found), [
        (m.entry.name, m.kind, m.score) for m in found
    ]
    best = found[0]
    assert best.kind != "near" or best.score >= 95, (best.entry.name, best.kind, best.score)


@pytest.mark.parametrize("name", ["Northern Modern Trading", "Clarion Partners", "Burn Street Capital", "3D Systems Corporation"])
def test_words_with_rn_vv_cl_or_digits_are_not_taken_for_listed_words(screener: Screener, name: str) -> None:
    assert [m.entry.name for m in screener.screen(name)] == []
