"""Restricted-party screening: normalization, matching, list import."""

from __future__ import annotations

import json

import pytest

from attest.errors import InputError
from attest.policy.screening import Screener, import_csl, load_list, normalize, seed_list

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
    assert flagged == {}  # 0 of 1,234 at the default threshold (90)


# --- folding: each class of disguise, and its neighbours --------------------------------------

INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202c",
              "\u2066", "\u2069", "\ufe0f", "\ufe00", "\u180e", "\u034f", "\u3164", "\u115f", "\u0301"]


@pytest.mark.parametrize("mark", INVISIBLES, ids=lambda c: f"U+{ord(c):04X}")
def test_invisible_characters_are_removed_not_spaced(mark: str) -> None:
    assert normalize(f"Hua{mark}wei Technologies Co., Ltd.") == "huawei technology"


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
    assert displayed("Example \u2067iewauH\u2069") == "Example Huawei"


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
