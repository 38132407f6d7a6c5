"""The second tenant-side red team's false ``affirming`` results, each through the real CLI and the screener.

Every case was ``affirming`` (exit 0) under us-ear with a tenant declared in Singapore:
letters drawn as enclosed symbols (F1), names with nothing to screen (F2), names in a script
the lists do not write names in (F3), English variants of listed names that are not brands
(F4), and names spelled through a text encoding (F5). None may be affirming now; controls
that are other parties stay affirming.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from attest.policy.screening import Screener, bundled_list, decoded, drawn_symbols, fold, unscreened_scripts
from tests.policy.evasion import bundled_lists_env
from tests.policy.test_cli_scenarios import SG, _run, signed_case

# (tenant or parent name, the entry it must be found as, or None for a name screening cannot identify)
F1_ENCLOSED = [
    ("🅷🆄🅰🆆🅴🅸 Technologies Co., Ltd.", "Huawei"),  # negative squared letters
    ("🅢🅜🅘🅒", "Semiconductor Manufacturing International"),  # negative circled letters
    ("🇮🇳🇸🇵🇺🇷", "Inspur"),  # regional indicators (two show as a flag)
]
# The re-attack of those fixes: unfolded Latin letters, a Greek letter NFKC turned into another,
# abbreviations with a full stop, old romanisations of Chinese cities, a city in two words, and
# HTML a browser reads otherwise than a pattern does.
REPAIRED = [
    ("SMIꞔ Pte. Ltd.", "Semiconductor Manufacturing International"),  # C with palatal hook
    ("ꞩMIC", "Semiconductor Manufacturing International"),
    ("SZ DȷI Technology Co., Ltd.", "DJI"),  # dotless j
    ("BYꟈ", "BYD"),
    ("Ⱨuaꟃei Technologies", "Huawei"),
    ("ϹXMT", "ChangXin"),  # Greek lunate sigma
    ("SMIϹ", "Semiconductor Manufacturing International"),
    ("Semiconductor Manufacturing Int. Corp.", "Semiconductor Manufacturing International"),
    ("Natl. Univ. of Def. Tech.", "National University of Defense Technology"),
    ("China Acad. of Eng. Physics", "Academy of Engineering Physics"),
    ("National Supercomputer Center Kwangchow", "Guangzhou"),
    ("Peking Computational Science Research Center", "Beijing Computational Science Research Center"),
    ("National Supercomputer Centre, Wu Xi", "National Supercomputing Center Wuxi"),
    # the third pass: Latin letters named otherwise, and abbreviations and plurals not written out
    ("SMꟾC Pte. Ltd.", "Semiconductor Manufacturing International"),  # I longa
    ("SZ ÐJI Technology Co., Ltd.", "DJI"),  # eth
    ("ŊUDT", "National University of Defense Technology"),
    ("Naʇional Universiʇy of Ðefense Technology", "National University of Defense Technology"),
    ("CꭓMT Singapore Pte. Ltd.", "ChangXin"),  # Latin chi
    ("CATꞀ", "Contemporary Amperex"),  # turned L
    ("Northwestern Polytech. Univ.", "Northwestern Polytechnical University"),
    ("Harbin Engrg. Univ.", "Harbin Engineering University"),
    ("Semiconductor Manuf. Internat. Corp.", "Semiconductor Manufacturing International"),
    ("Aviation Industries Corporation of China", "Aviation Industry Corporation of China"),
    ("Yangtze Mem. Tech.", "Yangtze Memory"),
    ("Hu&#97wei Technologies Co., Ltd.", "Huawei"),  # a reference without its ";"
    ('Hu<a href="x>y">a</a>wei Technologies Co., Ltd.', "Huawei"),  # ">" inside a quoted attribute
]
F4_VARIANTS = [
    ("National Supercomputer Centre Wuxi", "National Supercomputing Center Wuxi"),
    ("New H3C Semiconductor Technologies (Singapore) Pte. Ltd.", "New H3C Semiconductor Technologies"),
    ("China Aerospace Science and Technology Corporation (CASC) (Singapore) Pte. Ltd.", "China Aerospace Science"),
    ("National Supercomputer Center Tianjin (NSCC-TJ) Pte. Ltd.", "National Supercomputing Center Tianjin"),
    ("Shanghai IC Research and Development Center Pte. Ltd.", "Shanghai Integrated Circuit Research"),
    ("Semi Manufacturing International (Shenzhen) Pte. Ltd.", "Semiconductor Manufacturing International (Shenzhen)"),
    (
        "Example AI Pte. Ltd. on behalf of National University of Defense Technology",
        "National University of Defense Technology",
    ),
]
F5_ENCODED = [
    "Hu&#97;wei Technologies Co., Ltd.",
    "Hu%61wei Technologies Co., Ltd.",
    "\\u0048uawei Technologies Co., Ltd.",
    "Hua<b></b>wei Technologies Co., Ltd.",
]
# Other parties: no match before or after (the benign side of the containment rule above).
CONTROLS = [
    "Example AI Pte. Ltd.",
    "Blue Ocean Data Centre Sdn. Bhd.",
    "National University of Singapore",
    "Singapore Technologies Engineering Ltd",
    "Taiwan Semiconductor Manufacturing Company Limited",
    "Amazon Web Services Singapore Private Limited",
    "AT&T Inc.",
    "100% Renewables Pte. Ltd.",
]


@pytest.fixture(scope="module")
def screener() -> Screener:
    return Screener([bundled_list(n) for n in ("csl", "1260h", "seed")])


@pytest.mark.parametrize(("name", "entry"), F1_ENCLOSED)
def test_letters_drawn_as_enclosed_symbols_are_letters(screener: Screener, name: str, entry: str) -> None:
    found = screener.screen(name)
    assert any(m.kind in ("exact", "alias") and entry.casefold() in m.entry.name.casefold() for m in found), found


def test_numbers_drawn_as_enclosed_symbols_are_digits() -> None:
    # a USCC written in dingbat negative circled digits is its digits (registration numbers fold the same way)
    assert fold("❾❶❹⓿➀") == "91401"
    assert fold("⓴") == "20"


@pytest.mark.parametrize(("name", "entry"), F4_VARIANTS)
def test_a_name_holding_every_word_of_a_listed_name_is_a_possible_match(
    screener: Screener, name: str, entry: str
) -> None:
    found = screener.screen(name)
    assert any(entry.casefold() in m.entry.name.casefold() or entry.casefold() in m.matched_name.casefold() for m in found), [
        (m.kind, m.entry.name) for m in found
    ]


@pytest.mark.parametrize(("name", "entry"), REPAIRED)
def test_the_re_attacks_spellings_are_found(screener: Screener, name: str, entry: str) -> None:
    found = screener.screen(name)
    assert any(entry.casefold() in m.entry.name.casefold() for m in found), [(m.kind, m.entry.name) for m in found]


def test_letters_drawn_with_symbols_the_folding_does_not_read_are_named() -> None:
    assert drawn_symbols("HUA₩EI TECHNOLOGIES CO., LTD.") == ["₩"]
    assert drawn_symbols("S○phg○") == ["○"]
    assert drawn_symbols("Megv││") == ["│"]
    assert drawn_symbols("₵ATL") == ["₵"]
    assert drawn_symbols("SꞌMꞌIꞌC") == ["ꞌ"]  # saltillo: a Latin letter the folding leaves as it is
    assert drawn_symbols("SMǃC") == ["ǃ"]  # a click letter
    assert drawn_symbols("HUA®EI TECHNOLOGIES CO., LTD.") == ["®"]  # a mark inside a word draws a letter
    # signs the folding writes out as letters (™ is "TM"): found in the name as given (final review)
    assert drawn_symbols("HUA™EI TECHNOLOGIES CO., LTD.") == ["™"]
    assert drawn_symbols("HUA℠EI TECHNOLOGIES CO., LTD.") == ["℠"]
    assert drawn_symbols("HUA№EI") == ["№"]
    # marks and symbols standing apart are not letters; ASCII symbols the normalization reads itself
    for name in (
        "Acme® Ltd",
        "Acme™ Ltd",
        "Acme℠ Services",
        "Factory № 5",
        "ⓐcme Ltd",  # an enclosed letter is read as its letter
        "㈱東芝",  # ㈱ is (株), no Latin letter drawn (the script is unscreened_scripts')
        "Tom ★ Jerry",
        "C++ Labs",
        "Müller AG",
        "$ugon",
        "Example AI Pte. Ltd.",
        "Æon Credit Service",  # European letters are written as their letters
        "Þórsmörk ehf",
        "Œuvre SA",
        "Ørsted A/S",
    ):
        assert drawn_symbols(name) == [], name


@pytest.mark.parametrize("name", F5_ENCODED)
def test_a_name_spelled_through_a_text_encoding_is_screened_as_it_reads(screener: Screener, name: str) -> None:
    assert decoded(name) == "Huawei Technologies Co., Ltd."
    assert any(m.kind == "exact" and m.screened == name for m in screener.screen(name))


@pytest.mark.parametrize("name", CONTROLS)
def test_other_parties_are_not_matched(screener: Screener, name: str) -> None:
    assert screener.screen(name) == []
    assert decoded(name) is None


def test_scripts_the_lists_do_not_write_names_in_are_named() -> None:
    assert unscreened_scripts("国防科技大学") == ["Han"]
    assert unscreened_scripts("株式会社アクメ") == ["Han", "Katakana"]
    assert unscreened_scripts("삼성전자") == ["Hangul"]
    assert unscreened_scripts("Газпром нефть") == ["Cyrillic"]
    # Latin letters, accented or drawn in another script, are Latin
    assert unscreened_scripts("Müller Straße GmbH") == []
    assert unscreened_scripts("НUАWЕI") == []  # Cyrillic look-alikes of H, U, A, E
    assert unscreened_scripts("Example AI Pte. Ltd.") == []


# Through the CLI: (case, tenant, the status it must have, the finding that says why)
CLI_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("f1-tenant", {"legal_name": "🅷🆄🅰🆆🅴🅸 Technologies Co., Ltd.", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    (
        "f1-parent",
        {
            "legal_name": "Example AI Pte. Ltd.",
            "headquarters_country": "SG",
            "ultimate_parent": {"legal_name": "🅷🆄🅰🆆🅴🅸 Investment & Holding Co., Ltd.", "headquarters_country": "SG"},
        },
        "contraindicated",
        "policy.screening",
    ),
    ("f2-zero-width", {"legal_name": "\u200b", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    ("f2-dash", {"legal_name": "-", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    (
        "f2-parent",
        {
            "legal_name": "Example AI Pte. Ltd.",
            "headquarters_country": "SG",
            "ultimate_parent": {"legal_name": "🙂", "headquarters_country": "SG"},
        },
        "contraindicated",
        "policy.screening",
    ),
    ("f3-nudt", {"legal_name": "国防科技大学", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("f3-h3c", {"legal_name": "新华三半导体技术有限公司", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("f4-wuxi", {"legal_name": "National Supercomputer Centre Wuxi", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("f5-entity", {"legal_name": "Hu&#97;wei Technologies Co., Ltd.", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    # the re-attack: symbols the folding does not read are a warning, the rest are found
    ("symbol-currency", {"legal_name": "HUA₩EI TECHNOLOGIES CO., LTD.", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("symbol-shape", {"legal_name": "S○phg○", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("mark-inside", {"legal_name": "HUA®EI TECHNOLOGIES CO., LTD.", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("tm-inside", {"legal_name": "HUA™EI TECHNOLOGIES CO., LTD.", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("sm-inside", {"legal_name": "HUA℠EI TECHNOLOGIES CO., LTD.", "headquarters_country": "SG"}, "warning", "policy.screening"),
    ("tm-after", {"legal_name": "HUAWEI™ TECHNOLOGIES CO., LTD.", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    (
        "owner-abbreviated",
        {
            "legal_name": "Example AI Pte. Ltd.",
            "headquarters_country": "SG",
            "owners": [{"legal_name": "Semiconductor Manufacturing Int. Corp.", "headquarters_country": "SG", "share_percent": 51}],
        },
        "contraindicated",
        "policy.screening",
    ),
    ("hooked-letter", {"legal_name": "SMIꞔ Pte. Ltd.", "headquarters_country": "SG"}, "contraindicated", "policy.screening"),
    ("saltillo", {"legal_name": "SꞌMꞌIꞌC", "headquarters_country": "SG"}, "warning", "policy.screening"),
    (
        "parent-eth",
        {
            "legal_name": "Example AI Pte. Ltd.",
            "headquarters_country": "SG",
            "ultimate_parent": {"legal_name": "SZ ÐJI Technology Co., Ltd.", "headquarters_country": "SG"},
        },
        "contraindicated",
        "policy.screening",
    ),
    ("european-control", {"legal_name": "Æon Þórsmörk Pte. Ltd.", "headquarters_country": "SG"}, "affirming", ""),
    ("control", {"legal_name": "Example AI Pte. Ltd.", "headquarters_country": "SG"}, "affirming", ""),
]


@pytest.fixture(scope="module")
def cli_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("red-team-2")
    env = bundled_lists_env(root)
    envelopes = [
        signed_case(root, env, case, tenant, SG, ("Example Cloud Pte. Ltd.", "SG")) for case, tenant, _, _ in CLI_CASES
    ]
    out = _run(root, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["source"].split("/")[0]: r for r in results}


@pytest.mark.parametrize(("case", "status", "rule"), [(c, s, r) for c, _, s, r in CLI_CASES])
def test_attest_verify_affirms_none_of_them(
    case: str, status: str, rule: str, cli_verdicts: dict[str, dict[str, Any]]
) -> None:
    result = cli_verdicts[case]
    raised = [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] not in ("info", "none")]
    assert result["status"] == status, raised
    if rule:
        assert any(r == rule and s == status for r, s, _ in raised), raised
