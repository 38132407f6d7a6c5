"""Restricted-party screening: normalization, matching, list import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest.errors import InputError
from attest.policy.screening import (
    Screener,
    _parenthetical_aliases,
    bundled_list,
    displayed,
    import_csl,
    load_list,
    normalize,
    screener_for,
    seed_list,
)

SEED = Screener([seed_list()])


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Huawei Technologies Co., Ltd.", "huawei technology"),
        ("HUAWEI TECHNOLOGIES CO LTD", "huawei technology"),
        ("Example Pte. Ltd.", "example"),
        ("Example Sdn. Bhd.", "example"),
        ("Example GmbH & Co. KG", "example"),
        ("Example S.A.", "example"),
        ("Example B.V.", "example"),
        ("北京智谱华章科技有限公司", "北京智谱华章科技"),
        ("阿里巴巴集团", "阿里巴巴"),
        ("ＺＨＩＰＵ　ＡＩ", "zhipu ai"),  # full-width forms, NFKC
        ("株式会社Example", "example"),
        ("Ltd.", "ltd"),  # a name that is only a legal form keeps its words
    ],
)
def test_normalize(name: str, normal: str) -> None:
    assert normalize(name) == normal


@pytest.mark.parametrize(
    ("name", "entry", "kind"),
    [
        ("Zhipu AI", "el-zhipu", "alias"),
        ("Zhipu A.I. Co., Ltd.", "el-zhipu", "alias"),
        ("Beijing Zhipu Huazhang Technology Company Limited", "el-zhipu", "exact"),
        ("北京智谱华章科技有限公司", "el-zhipu", "alias"),
        ("huawei", "el-huawei", "alias"),
        ("华为技术有限公司", "el-huawei", "alias"),
        ("Huawei Cloud (Singapore) Pte. Ltd.", "el-huawei", "near"),  # a subsidiary carrying the parent's name
        ("Semiconductor Manufacturing International Corp.", "el-smic", "exact"),
        ("Tencent Cloud Europe B.V.", "1260h-tencent", "near"),
        ("Alibaba Cloud (Singapore) Pte. Ltd.", "p1260h-alibaba", "near"),
        ("ChangXin Memory Technologies Inc", "1260h-cxmt", "exact"),
    ],
)
def test_listed_parties_are_found(name: str, entry: str, kind: str) -> None:
    matches = {m.entry.id: m for m in SEED.screen(name)}
    assert entry in matches and matches[entry].kind == kind
    assert matches[entry].score >= 90


UNRELATED = [
    "Microsoft Corporation", "Apple Inc.", "Amazon Web Services, Inc.", "Alphabet Inc.", "Meta Platforms, Inc.",
    "Oracle Corporation", "International Business Machines Corporation", "Intel Corporation", "Advanced Micro Devices, Inc.",
    "Samsung Electronics Co., Ltd.", "SK hynix Inc.", "Taiwan Semiconductor Manufacturing Company Limited", "Sony Group Corporation",
    "Toyota Motor Corporation", "Siemens AG", "SAP SE", "Nokia Oyj", "Telefonaktiebolaget LM Ericsson", "ASML Holding N.V.",
    "Infineon Technologies AG", "STMicroelectronics N.V.", "Grab Holdings Limited", "Sea Limited", "Singapore Telecommunications Limited",
    "Petroliam Nasional Berhad", "Axiata Group Berhad", "YTL Power International Berhad", "Inspire Brands, Inc.", "Smith Micro Software, Inc.",
    "Hugging Face, Inc.", "Anthropic PBC", "Mistral AI SAS", "Cohere Inc.", "CoreWeave, Inc.", "Lambda, Inc.", "Equinix, Inc.",
    "Digital Realty Trust, Inc.", "NTT DATA Group Corporation", "Fujitsu Limited", "Hitachi, Ltd.", "Tata Consultancy Services Limited",
    "Infosys Limited", "Wipro Limited", "Reliance Industries Limited", "Saudi Aramco", "G42 Holding Ltd", "Emirates Telecommunications Group",
    "Nvidia Corporation", "Dell Technologies Inc.", "Hewlett Packard Enterprise Company", "Super Micro Computer, Inc.", "Lenovo Group Limited",
    "Foxconn Industrial Internet Co., Ltd.", "Quanta Computer Inc.", "Wistron Corporation", "Cisco Systems, Inc.", "Arista Networks, Inc.",
    "Broadcom Inc.", "Qualcomm Incorporated", "Marvell Technology, Inc.",
]


def test_unrelated_companies_are_not_flagged() -> None:
    flagged = {name: SEED.screen(name) for name in UNRELATED}
    assert {n: [m.entry.id for m in ms] for n, ms in flagged.items() if ms} == {}


def test_parent_chain_is_screened() -> None:
    matches = SEED.screen_party(["Example Holdings (Singapore) Pte. Ltd.", "Inspur Group Co Ltd"])
    assert [m.entry.id for m in matches if m.list == "entity-list"] == ["el-inspur"]
    assert matches[0].screened == "Inspur Group Co Ltd"


CSL_JSON = {
    "results": [
        {"_id": "e1", "name": "Example Advanced Computing Co., Ltd.", "alt_names": ["EACC", "示例计算"], "source": "Entity List (EL) - Bureau of Industry and Security",
         "programs": ["EAR"], "addresses": [{"address": "1 Road", "city": "Shenzhen", "country": "CN"}], "start_date": "2025-03-25"},
        {"_id": "e2", "name": "Sanctioned Shipping LLC", "alt_names": [], "source": "Specially Designated Nationals (SDN) - Treasury Department", "addresses": []},
        {"_id": "e3", "name": ""},
    ]
}


def test_import_csl_json() -> None:
    lst = import_csl(json.dumps(CSL_JSON).encode(), name="csl", date="2026-11-28")
    assert [e.id for e in lst.entries] == ["e1", "e2"]
    assert [e.list_id for e in lst.entries] == ["entity-list", "sdn"]
    assert lst.entries[0].country == "CN" and lst.entries[0].alt_names == ["EACC", "示例计算"]
    hits = Screener([lst]).screen("EACC")
    assert hits and hits[0].kind == "alias"


def test_import_csl_csv_with_stray_control_character() -> None:
    header = "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,source_information_url,ids"
    row = 'x1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR; ITAR,Example Advanced Computing Co. Ltd.,,"1 Road, Shenzhen, CN",,2025-03-25,,,,,,,,,,,,,EACC; 示例计算,,,,,,\x1a'
    lst = import_csl((header + "\n" + row + "\n").encode(), name="csl", date="2026-11-28")
    entry = lst.entries[0]
    assert entry.alt_names == ["EACC", "示例计算"] and entry.programs == ["EAR", "ITAR"] and entry.list_id == "entity-list"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"nope": []}', 'no "results" list'),
        (b"{", "does not parse"),
        (b"a,b\n1,2\n", "no 'name' column"),
        (b'{"results": []}', "no list entries"),
        (b'{"results": [' * 50_000, "not a list file"),  # nesting deeper than the parser goes
        (b'{"results": [], "n": ' + b"9" * 5000 + b"}", "not a list file"),  # over Python's int digit limit
        # A quote left open would swallow every later row into one name: refused, never fewer entries.
        (b'name,source\n"Huawei,Entity List\nSMIC,Entity List\n', "does not parse.*line 3"),
        (b"name\n" + b"x" * 200_000 + b"\n", "does not parse"),  # a field over the csv module's limit
        # Rows and names of another type are refused, never dropped (fewer names screened).
        (b'{"results": [{"name": "Huawei", "alt_names": 5}]}', "row 1 .Huawei.: alt_names must be"),
        (b'{"results": [{"name": "Huawei", "programs": {"EAR": 1}}]}', "programs must be"),
        (b'{"results": [{"name": "Huawei", "alt_names": ["HW", 7]}]}', "alt_names must be"),
        (b'{"results": [{"name": "Huawei"}, "SMIC"]}', "row 2 is not an object"),
        (b'{"results": [{"name": ["Huawei"]}]}', "name must be a string"),
    ],
)
def test_import_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        import_csl(data, name="x", date="2026-11-28")


def test_import_csl_csv_with_bare_carriage_returns() -> None:
    lst = import_csl(b"name,source\rHuawei Technologies,Entity List\rSMIC,Entity List\r", name="x", date="2026-11-28")
    assert [e.name for e in lst.entries] == ["Huawei Technologies", "SMIC"]


def test_missing_list_says_how_to_import(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as err:
        load_list("csl-eu", tmp_path)
    assert "attest lists import" in (err.value.hint or "")


def test_false_positive_rate_on_1000_real_unrelated_companies() -> None:
    from tests.conftest import REPO

    lines = (REPO / "tests" / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    names = [n.strip() for n in lines if n.strip() and not n.startswith("#")]
    assert len(names) >= 1000
    flagged = {n: [m.entry.id for m in SEED.screen(n)] for n in names}
    flagged = {n: ids for n, ids in flagged.items() if ids}
    assert flagged == {}  # 0 of 1,233 at the default threshold (90)


# --- folding: each class of disguise, and its neighbours --------------------------------------

INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202c",
              "\u2066", "\u2069", "\ufe0f", "\ufe00", "\u180e", "\u034f", "\u3164", "\u115f", "\u0301"]


@pytest.mark.parametrize("mark", INVISIBLES, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_are_removed_not_spaced(mark: str) -> None:
    assert normalize(f"Hua{mark}wei Technologies Co., Ltd.") == "huawei technology"


def test_the_invisible_table_removes_exactly_the_invisible_categories() -> None:
    """The translate table remembers per character what the rule says: every BMP character checked."""
    import unicodedata

    from attest.policy.screening import _INVISIBLE_CATEGORIES, _INVISIBLE_LETTERS, _KEPT_MARKS, _VISIBLE

    for code in range(0x10000):
        ch = chr(code)
        hidden = ch not in _KEPT_MARKS and (unicodedata.category(ch) in _INVISIBLE_CATEGORIES or ch in _INVISIBLE_LETTERS)
        assert f"a{ch}b".translate(_VISIBLE) == ("ab" if hidden else f"a{ch}b"), f"U+{code:04X}"
        assert f"a{ch}b".translate(_VISIBLE) == ("ab" if hidden else f"a{ch}b"), f"U+{code:04X} remembered"


@pytest.mark.parametrize(
    "name",
    ["Huаwei", "Нuаwеі", "НUАWЕІ", "ΗUΑWΕΙ", "Ηuawei", "Huaweі", "Ꮋuawei", "Ｈｕａｗｅｉ", "𝐇𝐮𝐚𝐰𝐞𝐢", "Huawéi", "HUAWEİ"],
)
def test_look_alike_letters_fold_to_latin(name: str) -> None:
    assert normalize(name) == "huawei"


def test_real_words_of_other_scripts_are_left_alone() -> None:
    assert normalize("ООО Ромашка") == "ромашка"  # Cyrillic with letters that pass for none: not folded
    assert normalize("Αλφα Μπετα") == "αλφα μπετα"


@pytest.mark.parametrize(
    ("name", "normal"),
    [("華為技術有限公司", "华为技术"), ("中芯國際", "中芯国际"), ("摩爾線程", "摩尔线程"), ("S.M.I.C.", "smic"), ("Z.ai", "z ai"),
     ("Example Sp. z o.o.", "example"), ("Société Anonyme Exemple", "exemple"), ("Beispiel GmbH & Co. KG", "beispiel"),
     ("ТОВ Приклад", "приклад")],
)
def test_scripts_initials_and_legal_forms(name: str, normal: str) -> None:
    assert normalize(name) == normal


def test_displayed_reverses_right_to_left_overrides() -> None:
    from attest.policy.screening import displayed

    assert displayed("\u202eiewauH\u202c Technologies") == "Huawei Technologies"
    # An RLI isolates; it does not override: Latin letters inside it show as written (UAX #9 I2).
    assert displayed("Example \u2067iewauH\u2069") == "Example iewauH"
    assert displayed("Example \u2067\u202eiewauH\u202c\u2069") == "Example Huawei"


@pytest.mark.parametrize(
    ("name", "entry"),
    [("ZhipuAI", "el-zhipu"), ("HuaweiTechnologies", "el-huawei"), ("Technologies Huawei", "el-huawei"),
     ("華為技術有限公司", "el-huawei"), ("Z.AI Inc.", "el-zhipu"), ("S.M.I.C.", "el-smic"), ("\u202eiewauH", "el-huawei")],
)
def test_disguised_names_match_their_entry(name: str, entry: str) -> None:
    assert entry in {m.entry.id for m in SEED.screen(name) if m.kind != "near"}


def test_three_letter_csl_names_match_only_in_full() -> None:
    from attest.policy.screening import bundled_list

    csl = Screener([bundled_list("csl")])
    assert csl.screen("PPL Corporation") == []  # "PPL" is an alias of an SDN entry: initials of countless companies
    assert csl.screen("Limited Liability Company ITC") != []  # the entry's own full name still matches


# --- the red-team review of issue 18 -------------------------------------------------------------

FULL = screener_for([bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")])


def _strong(name: str) -> set[str]:
    return {m.entry.name for m in FULL.screen(name) if m.kind != "near"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\u202eseigolonhceT iew\u2069auH", "Huawei Technologies"),  # an unmatched PDI does not end the RLO
        ("\u202eseigolonhceT iew\u202a\u202cauH", "Huawei Technologies"),  # nor an empty LRE...PDF
        ("\u202eab\u202dcd\u202cef", "fecdba"),  # an LRO inside an RLO: its run keeps its order within
        ("abc\u2067xyz\u2069def", "abcxyzdef"),  # Latin letters in an RLI stay as written
        ("\u2068\u05d0\u05d1\u2069", "\u05d1\u05d0"),  # an FSI whose first strong letter is Hebrew
    ],
)
def test_displayed_follows_the_bidi_stack(text: str, shown: str) -> None:
    assert displayed(text) == shown


@pytest.mark.parametrize("name", ["\u202eseigolonhceT iew\u2069auH", "\u202eseigolonhceT iew\u202a\u202cauH"])
def test_bidi_desynchronisation_is_screened_as_displayed(name: str) -> None:
    assert "Huawei Technologies Co., Ltd." in {m.entry.name for m in SEED.screen(name) if m.kind != "near"}


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("HiSilicon Technologies Co., Ltd.", "HiSilicon Technologies Co., Ltd (HiSilicon)"),
        ("National University of Defense Technology", "National University of Defense Technology (NUDT)"),
        ("NUDT", "National University of Defense Technology (NUDT)"),
    ],
)
def test_a_trailing_parenthetical_is_indexed_both_ways(name: str, listed: str) -> None:
    assert listed in _strong(name)


def test_a_parenthetical_that_names_no_party_is_not_an_alias() -> None:
    assert _parenthetical_aliases([("Example Trading Co., Ltd. (Shenzhen)", "exact")]) == [
        ("Example Trading Co., Ltd.", "alias")
    ]
    assert _parenthetical_aliases([("Acme (Private) Limited (a.k.a. Acme Pvt)", "exact")]) == [
        ("Acme (Private) Limited", "alias")
    ]
    assert _parenthetical_aliases([("Acme Robotics (Private)", "exact")]) == [("Acme Robotics", "alias")]


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("HUAWEl TECHNOLOGIES CO., LTD.", "Huawei Technologies Co., Ltd."),
        ("AIibaba Group Holding Limited", "Alibaba Group Holding Limited"),
        ("SM\u04c0C", "Semiconductor Manufacturing International Corporation"),  # Cyrillic palochka
        ("SM1C", "Semiconductor Manufacturing International Corporation"),
        ("SM\u0661C", "Semiconductor Manufacturing International Corporation"),  # Arabic-Indic one
        ("lnspur", "Inspur Group Co., Ltd."),
        ("Hlkvision", "Hangzhou Hikvision Digital Technology Co., Ltd."),
        ("Baldu", "Baidu, Inc."),
        ("Sophg0", "Sophgo Technologies Ltd."),
        ("HUAWE|", "Huawei Technologies Co., Ltd."),
        ("\u029c\u1d1c\u1d00\u1d21\u1d07\u026a", "Huawei Technologies Co., Ltd."),  # small capitals
        ("Te\u0274ce\u0274t Holdings Limited", "Tencent Holdings Limited"),
        ("A\u0142ibaba", "Alibaba Group Holding Limited"),  # stroke letters
        ("Bai\u0111u", "Baidu, Inc."),
        ("Baid\u0289", "Baidu, Inc."),
        ("Huawe\u0268", "Huawei Technologies Co., Ltd."),
    ],
)
def test_look_alikes_share_the_listed_names_skeleton(name: str, listed: str) -> None:
    assert listed in _strong(name)


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("Hauwei", "Huawei Technologies Co., Ltd."),
        ("Hwawei", "Huawei Technologies Co., Ltd."),
        ("Hikvison", "Hangzhou Hikvision Digital Technology Co., Ltd."),
        ("Sopgho", "Sophgo Technologies Ltd."),
        ("ByteDanse", "ByteDance Ltd."),
    ],
)
def test_one_typo_in_a_brand_word_is_a_near_match(name: str, listed: str) -> None:
    assert listed in {m.entry.name for m in FULL.screen(name) if m.kind == "near"}


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("Megvii Technologies Limited", "Megvii Technology"),
        ("Megvii", "Megvii Technology"),
        ("Megvii Inc.", "Megvii Technology"),
        ("Huawei Cloud Computing Technologies", "Huawei Cloud Computing Technology"),
        ("杭州海康威视数字技术股份有限公司", "Hangzhou Hikvision Digital Technology Co., Ltd."),
        ("商汤集团股份有限公司", "SenseTime Group Limited"),
        ("中科寒武纪科技股份有限公司", "Cambricon Technologies Corporation Limited"),
        ("科大讯飞股份有限公司", "IFLYTEK"),
        ("北京旷视科技有限公司", "Megvii Technology"),
        ("深圳市大疆创新科技有限公司", "DJI"),
        ("海思", "HiSilicon Technologies Co., Ltd."),
    ],
)
def test_plural_generic_words_and_chinese_legal_names(name: str, listed: str) -> None:
    assert listed in _strong(name)


def test_a_two_character_chinese_alias_matches_only_as_a_word() -> None:
    assert FULL.screen("上海思源电气股份有限公司") == []  # 上海 + 思源 holds 海思 across the two
    assert FULL.screen("上海光明乳业") == []  # and 海光
    assert "HiSilicon Technologies Co., Ltd." in {m.entry.name for m in FULL.screen("深圳市海思半导体有限公司")}


def test_every_seed_entry_of_a_bundled_list_is_on_it() -> None:
    """The seed is dated by the lists it was checked against: its Entity List and 1260H entries are on them."""
    lists = screener_for([bundled_list("csl"), bundled_list("1260h")])
    assert seed_list().date == "2026-07-31"
    for entry in seed_list().entries:
        if entry.list_id in ("entity-list", "1260h") and entry.id != "1260h-huawei":  # see the seed's about
            names = [entry.name, *entry.alt_names]
            assert any(m.list == entry.list_id and m.kind != "near" for n in names for m in lists.screen(n)), entry.id


def test_every_ascii_mark_separates_words_and_letters_and_digits_do_not() -> None:
    """The ASCII fast path of normalization splits exactly where the general path's ``[\\W_]+`` does."""
    for code in range(32, 127):  # the printable ones (controls are removed outside ASCII, spaced in it)
        ch = chr(code)
        if ch in "|!":  # a stroke beside letters is the letter l (HUAWE|)
            assert normalize(f"abcd{ch}efgh") == "abcdlefgh"
            continue
        if ch in "@$":  # drawn letters beside letters: a and s (C@mbricon, $ugon; review F2)
            assert normalize(f"abcd{ch}efgh") == "abcd" + {"@": "a", "$": "s"}[ch] + "efgh"
            assert normalize(f"12 {ch} 34") == "12 34"  # not beside a letter: a mark
            continue
        want = f"abcd{ch.casefold()}efgh" if ch.isalnum() else "abcd efgh"
        assert normalize(f"abcd{ch}efgh") == want, repr(ch)
        # the same name in a script the fast path does not take (a Cyrillic word) splits alike
        assert normalize(f"abcd{ch}efgh жук") == want + " жук", repr(ch)


def test_a_brand_glued_inside_a_name_is_found_where_it_starts() -> None:
    """Brand names glued to other words are found anywhere, the longest one at each place."""
    for name, listed in [
        ("MooreThreads Technology", {"Moore Thread Intelligent Technology (Beijing) Co., Ltd."}),
        ("xyzHuaweiCloud", {"Huawei Technologies Co., Ltd."}),
        # two brands in one word: both, not only the first
        ("TheSophgoAndHygonGroup", {"Sophgo Technologies Ltd.", "Chengdu Haiguang Integrated Circuit"}),
    ]:
        assert listed <= {m.entry.name for m in FULL.screen(name) if m.kind == "near" and m.score >= 95}, name


def test_the_brand_trie_finds_what_an_alternation_of_every_key_finds() -> None:
    """Leftmost first, the longest key at each place, no overlaps: as ``a|b|...`` longest first would."""
    import itertools
    import re

    from attest.policy.screening import _KeyFinder

    keys = ["huawei", "huaweicloud", "hikvision", "sophgo", "hygon", "abcde", "abcdefgh", "abxyz", "bcdef", "cdefg"]
    alternation = re.compile("|".join(map(re.escape, sorted(keys, key=len, reverse=True))))
    trie = _KeyFinder(keys)
    pieces = [*keys, "x", "abcd", "abcdefg", "huaweiclou", "hikvisio", "sophg"]
    for a, b, c in itertools.product(pieces, repeat=3):
        text = a + b + c
        assert trie.findall(text) == alternation.findall(text), text
    assert trie.findall("zzabcdefghz") == ["abcdefgh"] and trie.findall("abcdefg") == ["abcde"]


def test_the_brand_automaton_finds_what_an_alternation_of_the_bundled_brand_keys_finds() -> None:
    """The bundled brand keys, on every brand-list name glued, twice, shifted, and on the unrelated names glued."""
    import re

    from attest.policy.screening import _KeyFinder

    brand_keys = sorted(k for k in FULL._brand_compact if len(k) >= 5)
    alternation = re.compile("|".join(map(re.escape, sorted(brand_keys, key=len, reverse=True))))
    finder = _KeyFinder(brand_keys)
    texts = [n for lst in FULL.lists if lst.brands for e in lst.entries for n in (e.name, *e.alt_names)]
    texts += (Path(__file__).parent.parent / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    for text in texts:
        glued = normalize(text).replace(" ", "")
        for t in (glued, glued + glued, "x" + glued[1:] + glued[:-1]):
            assert finder.findall(t) == alternation.findall(t), t
