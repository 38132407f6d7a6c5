"""Evidence of a PRC registration in a party's own name and identifiers (attest/policy/registration.py).

The security review of tenant screening: each of these tenants, declared in SG, came back
``affirming`` at ``attest verify``. Library checks first, then the real CLI (manifest, sign,
verify --policy us-ear) in one run, as tests/policy/test_cli_scenarios.py does it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attest.model.manifest import Identifier
from attest.policy.registration import prc_registration, uscc_valid
from tests.policy.evasion import bundled_lists_env, headquarters_finding
from tests.policy.test_cli_scenarios import ORDER, SG, _run, signed_case


def test_an_identifier_of_any_shape_is_read_without_error() -> None:
    # The USCC shape lets I, O, S, V, Z through in its second place, and non-ASCII digits through \\d
    for value in ("9I1100000000000000", "9O1100000000000000", "91\u0661100000000000000"[:18]):
        assert not uscc_valid(value)
        assert prc_registration("Example Pte. Ltd.", [Identifier(scheme="uen", value=value)], "SG") == []


def test_uscc_check_digit_per_gb_32100() -> None:
    assert uscc_valid("91350100M000100Y43")  # the standard's worked example
    assert not uscc_valid("91350100M000100Y44")  # one check character off
    assert not uscc_valid("91350100M000100Y4")  # 17 characters
    assert not uscc_valid("91350100M00010OY43")  # O is not in the code's alphabet


@pytest.mark.parametrize(
    ("name", "strong"),
    [
        ("Beijing Lion Technology Co., Ltd.", True),
        ("Guangdong Lion Technology Co., Ltd.", True),
        ("Hangzhou DeepSeek Artificial Intelligence Basic Technology Research Co., Ltd.", True),
        ("Moore Thread Intelligent Technology (Beijing) Co., Ltd.", True),
        ("北京月之暗面科技有限公司", True),
        ("北京月之暗面科技有限公司 ", True),
        ("月之暗面科技有限公司", False),  # the form without a place: weak
        # disguised as the screener's names are: a Cyrillic В, full-width letters, a zero-width space
        ("\u0412eijing Lion Technology Co., Ltd.", True),
        ("\uff22\uff25\uff29\uff2a\uff29\uff2e\uff27 LION TECHNOLOGY CO., LTD.", True),
        ("Bei\u200bjing Lion Technology Co Ltd", True),
        ("Lion Technology (Shenzhen) Company Limited", True),
        ("北京月之暗面科技有限公司", True),  # Traditional script
        # a review of the change: both scripts in one name, other spellings of the form and the place
        ("北京蓝港计算有限公司 (Blue Harbor Computing)", True),
        ("Blue Harbor Computing 北京蓝港计算有限公司", True),
        ("Beijing Lion Technology Company Ltd.", True),
        ("Beijing-Lion Technology Co., Ltd.", True),
        ("Xi\u2019an Lion Technology Co., Ltd.", True),
        ("Inner Mongolia Lion Technology Co., Ltd.", True),
        ("Beijing Lion Technology Co., Ltd. (Singapore Branch)", True),
        ("烟台狮子科技有限公司", True),  # a prefecture-level city
    ],
)
def test_prc_enterprise_names_are_evidence(name: str, strong: bool) -> None:
    signs = prc_registration(name, [], "SG" if strong else "US")
    assert signs and signs[0].strong is strong, signs


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("Beijing Lion Technology (Singapore) Pte. Ltd.", "SG"),  # a Singapore company named after Beijing
        ("Samsung Electronics Co., Ltd.", "KR"),  # the form, but no PRC place
        ("台灣積體電路製造股份有限公司", "TW"),  # Chinese-script names are written in TW, HK, SG, MY too
        ("新加坡科技工程有限公司", "SG"),
        ("Example Robotics Inc.", "US"),
        # review rt7: names of other places that a PRC place name is also part of
        ("Canton Road Pte. Ltd.", "SG"),  # a street in Kowloon, a Singapore company's form
        ("Peking Duck House", "SG"),  # no legal form at all
        ("Hong Kong Street Food Pte. Ltd.", "SG"),
        ("Acme Pte. Ltd. Singapore Branch", "SG"),
        ("Nanyang Technology Pte. Ltd.", "SG"),  # Nanyang is also Singapore's name for the region
        ("Anyang Precision Co., Ltd.", "KR"),  # Anyang is also a Korean city
        ("Taoyuan Electronics Co., Ltd.", "TW"),  # and Taoyuan a Taiwanese one
        ("Shanghai Restaurant", "GB"),
    ],
)
def test_names_without_the_pattern_are_not_evidence(name: str, declared: str) -> None:
    assert prc_registration(name, [], declared) == []


def test_a_uscc_identifier_is_evidence_whatever_its_check_digit() -> None:
    signs = prc_registration("Lion Compute Pte. Ltd.", [Identifier(scheme="uscc", value="91110108MA01KP2T9U")], "SG")
    assert [s.strong for s in signs] == [True]
    spelt = prc_registration("Lion Compute Pte. Ltd.", [Identifier(scheme="Unified-Social-Credit-Code", value="91350100M000100Y43")], "SG")
    assert [s.strong for s in spelt] == [True]
    valid = prc_registration("Lion Compute Pte. Ltd.", [Identifier(scheme="registration", value="91350100M000100Y43")], "SG")
    assert [s.strong for s in valid] == [False]  # a USCC's shape under another scheme: a warning
    assert prc_registration("Lion Compute Pte. Ltd.", [Identifier(scheme="uen", value="201912345K")], "SG") == []


# Review rt7 (finding A): PRC, Hong Kong and Macau enterprise names that came back affirming,
# declared in SG. Strong: the rule's severity; weak: a warning (see the module docstring).
@pytest.mark.parametrize(
    ("name", "strong"),
    [
        # legal forms other than "Co., Ltd."
        ("Shenzhen Acme Technology Ltd.", False),
        ("Shenzhen Acme Technology Limited", False),
        ("Shenzhen Acme Technology Corp., Ltd.", True),
        ("Shenzhen Acme Technology Corporation Limited", True),
        ("Shenzhen Acme Technology Inc.", False),
        ("Shenzhen Acme Technology Corporation", False),
        ("Shenzhen Acme Technology Group", False),
        ("Acme Technology (Shenzhen) Ltd.", True),
        ("Acme Technology (Shenzhen) Inc.", False),
        # older and official spellings, spaced syllables, county-level cities
        ("Peking Acme Technology Co., Ltd.", False),
        ("Canton Acme Technology Co., Ltd.", False),
        ("Hangchow Acme Technology Co., Ltd.", False),
        ("Tsingtao Acme Co., Ltd.", False),
        ("Shen Zhen Acme Technology Co., Ltd.", True),
        ("Bei Jing Acme Technology Co., Ltd.", True),
        ("Xizang Acme Co., Ltd.", True),
        ("Nei Mongol Acme Co., Ltd.", True),
        ("Yiwu Acme Trading Co., Ltd.", True),
        ("Kunshan Acme Electronics Co., Ltd.", True),
        ("Dongguan Acme Co., Ltd.", True),
        # branches
        ("Acme Technology Co., Ltd. Shenzhen Branch", True),
        ("Acme Technology Co., Ltd. (Shenzhen Branch)", True),
        ("Acme Technology Co., Ltd., Beijing Haidian Branch", True),
        ("Acme Pte. Ltd. Shanghai Branch", False),  # a Singapore company's branch in Shanghai
        ("Acme Pte. Ltd. Shanghai Representative Office", False),
        ("深圳市爱克米科技有限公司新加坡分公司", True),
        ("爱克米科技有限公司深圳分公司", True),
        ("深圳市爱克米科技公司", True),
        ("深圳市爱克米集团", True),
        ("深圳爱克米投资合伙企业(有限合伙)", True),
        # Hong Kong and Macau, which the bundled policies count as the PRC
        ("Acme Technology (Hong Kong) Limited", True),
        ("Acme Technology (HK) Limited", False),  # HK: also other initials
        ("HK Acme Technology Co., Ltd.", False),
        ("Hong Kong Acme Technology Co., Ltd.", True),
        ("Hongkong Acme Technology Co., Ltd.", True),
        ("Hong Kong Acme Technology Limited", False),
        ("Macau Acme Technology Co., Ltd.", True),
        ("Acme Technology (Macao) Limited", True),
        ("Acme Technology Co., Ltd. Hong Kong Branch", True),
        ("香港爱克米科技有限公司", True),
        ("澳門愛克米科技有限公司", True),  # Traditional script
        # disguised as the screener's names are
        ("\uff28\uff4f\uff4e\uff47 Kong Acme Technology Co., Ltd.", True),
        ("Shen\u200bzhen Acme Technology Ltd.", False),
        ("Y\u0456wu Acme Trading Co., Ltd.", True),  # a Cyrillic і
    ],
)
def test_other_forms_spellings_branches_and_sar_names_are_evidence(name: str, strong: bool) -> None:
    signs = prc_registration(name, [], "SG")
    assert [s.strong for s in signs] == [strong], signs


@pytest.mark.parametrize(
    "name",
    ["Canton Road Holdings Ltd.", "Peking Duck House Ltd.", "Peking Garden Restaurant Co., Ltd.", "Dali Trading Inc."],
)
def test_a_shared_place_name_is_never_more_than_a_warning(name: str) -> None:
    assert [s.strong for s in prc_registration(name, [], "SG")] == [False]


def test_unrelated_real_companies_are_not_evidence() -> None:
    # The screening benchmark's 1,233 unrelated companies (Japanese, Korean, Taiwanese and Thai
    # "Co., Ltd." among them), declared where a PRC company would hide: none is evidence but
    # China Steel Corporation, a warning ("China" and a legal form), and not when declared in TW.
    lines = (Path(__file__).parent.parent / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert len(names) > 1200
    for declared in ("SG", "US"):
        flagged = {n: [s.strong for s in signs] for n in names if (signs := prc_registration(n, [], declared))}
        assert flagged == {"China Steel Corporation": [False]}
    assert [n for n in names if prc_registration(n, [], "TW")] == []


@pytest.mark.parametrize(
    ("name", "declared", "strong"),
    [
        ("China Acme Technology Co., Ltd.", "SG", False),
        ("Aviation Industry Corporation of China, Ltd.", "SG", False),
        ("China Acme Technology Co., Ltd.", "TW", None),  # China Airlines, China Steel: Taiwanese
        ("Sunshine Logistics Shenzhen Co., Ltd.", "SG", True),  # the bracketed place unbracketed
        ("Acme Financial Services Hong Kong Limited", "SG", True),
        ("PCA Xiang Gang Limited", "SG", True),  # Hong Kong in pinyin
        ("Acme Xianggang Co., Ltd.", "SG", True),
        ("Acme Aomen Co., Ltd.", "SG", True),
        ("Acme Singapore Co., Ltd.", "SG", None),
        # PRC forms word for word (有限公司, 有限责任公司) and partnerships
        ("Shenzhen Acme Technology Limited Company", "SG", True),
        ("Shenzhen Acme Technology Limited Liability Company", "SG", True),
        ("SHENZHEN ACME CO.,LTD", "SG", True),
        ("Shenzhen Acme Investment Partnership (Limited Partnership)", "SG", False),
        ("Acme Limited Liability Company", "US", None),
    ],
)
def test_neighbouring_spellings(name: str, declared: str, strong: bool | None) -> None:
    signs = prc_registration(name, [], declared)
    assert [s.strong for s in signs] == ([] if strong is None else [strong]), signs



# Review rv8, finding 1: lawful customers named after places a PRC place shares its name with.
@pytest.mark.parametrize(
    ("name", "declared", "strong"),
    [
        # Taiwanese companies (股份有限公司, Traditional script) named after mainland places
        ("長春石油化學股份有限公司", "TW", False),
        ("泰安產物保險股份有限公司", "TW", False),
        ("大連化學工業股份有限公司", "TW", False),
        ("中山工業股份有限公司", "TW", False),
        ("南京資訊股份有限公司", "TW", False),
        ("九江實業股份有限公司", "TW", False),
        ("東莞電子股份有限公司", "TW", False),
        # ... but not the PRC's own writing of it, nor from a party declared elsewhere
        ("長春石油化學股份有限公司", "SG", True),
        ("长春石油化学股份有限公司", "TW", True),  # Simplified script
        ("深圳市艾克米科技股份有限公司", "TW", True),  # 市: the PRC's administrative division
        ("深圳市艾克米電子股份有限公司", "TW", True),  # the same in Traditional
        ("艾克米(長春)股份有限公司", "TW", True),  # a bracketed place
        ("長春石油化學有限公司", "TW", True),  # 有限公司: not the Taiwanese 股份有限公司
        # Korean romanizations shared with PRC places
        ("Dongyang Piston Co., Ltd.", "KR", False),
        ("Danyang Co., Ltd.", "KR", False),
        # "Limited" is the company's own form in the UK and Ireland; "of" a place names it
        ("Acme Shanghai Limited", "GB", False),
        ("Acme Shanghai Limited", "IE", False),
        ("Acme Shanghai Limited", "SG", True),
        ("Acme (Shanghai) Limited", "GB", True),  # bracketed: the PRC and Hong Kong pattern
        ("Friends of Tibet Limited", "GB", False),
        ("Friends of Tibet Limited", "SG", False),
        ("Bank of Shanghai Co., Ltd.", "SG", True),  # a PRC bank, in the PRC form
        # warnings that stay warnings
        ("Jurong Engineering Limited", "SG", False),
        ("Canton Mills Inc.", "US", False),
    ],
)
def test_places_shared_with_taiwan_korea_and_common_law_names_are_at_most_a_warning(
    name: str, declared: str, strong: bool
) -> None:
    signs = prc_registration(name, [], declared)
    assert [s.strong for s in signs] == [strong], signs



# Review rv8, finding 2: PRC, Hong Kong and Macau name forms that were affirming declared SG.
@pytest.mark.parametrize(
    ("name", "strong"),
    [
        # foreign-invested enterprises registered in the PRC
        ("Acme Technology (China) Co., Ltd.", True),
        ("艾克米科技(中国)有限公司", True),
        ("艾克米科技（中国）有限公司", True),
        ("Acme Technology (PRC) Co., Ltd.", True),
        ("PRC Acme Technology Co., Ltd.", True),
        ("中国艾克米科技集团有限公司", False),
        ("艾克米科技（深圳市）有限公司", True),
        ("艾克米科技(广东省)有限公司", True),
        # punctuation, quotes, a leading "The"
        ("深圳市艾克米科技有限公司。", True),
        ("「深圳市艾克米科技有限公司」", True),
        ("《深圳市艾克米科技有限公司》", True),
        ("Beijing Acme Technology Co., Ltd.;", True),
        ("Beijing Acme Technology Ltd..", False),
        ('"Beijing Acme Technology Co., Ltd."', True),
        ("\u201cBeijing Acme Technology Co., Ltd.\u201d", True),
        ("The Beijing Acme Technology Co., Ltd.", True),
        # branches and offices
        ("Beijing Acme Technology Co., Ltd. [Singapore Branch]", True),
        ("Beijing Acme Technology Co., Ltd. Singapore Office", True),
        ("Beijing Acme Technology Co., Ltd. Liaison Office", True),
        ("Beijing Acme Technology Co., Ltd. Singapore Br.", True),
        ("Beijing Acme Technology Co., Ltd./Singapore", True),
        ("深圳市艾克米科技有限公司(新加坡分公司)", True),
        ("深圳市艾克米科技有限公司（新加坡分公司）", True),
        # mixed scripts, pinyin forms, districts and zones, middle dots
        ("深圳 Acme Technology Co., Ltd.", True),
        ("Acme Technology (深圳) Co., Ltd.", True),
        ("Beijing Acme Keji Youxian Gongsi", True),
        ("Beijing Acme Keji Youxian Zeren Gongsi", True),
        ("Acme Technology (Pudong) Co., Ltd.", True),
        ("Acme Technology (Haidian) Co., Ltd.", True),
        ("Acme Technology (Xiong'an) Co., Ltd.", True),
        ("Acme Technology (Hengqin) Co., Ltd.", True),
        ("Acme Technology (Nansha) Co., Ltd.", True),
        ("Shenzhen\u00b7Acme Technology Co., Ltd.", True),
        ("Acme Technology (H.K.) Limited", False),  # the initials HK, as "(HK)"
        # Macau's Portuguese forms
        ("Acme Tecnologia (Macau), Limitada", True),
        ("Acme Tecnologia (Macau), Lda.", True),
        ("Acme Tecnologia Macau, S.A.", True),
        # other PRC entity forms after a PRC place
        ("深圳市艾克米企业", True),
        ("深圳市艾克米电子厂", True),
        ("深圳市艾克米经营部", True),
        ("深圳市艾克米商行", True),
    ],
)
def test_more_prc_name_forms_declared_sg_are_evidence(name: str, strong: bool) -> None:
    signs = prc_registration(name, [], "SG")
    assert [s.strong for s in signs] == [strong], signs


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("中国艾克米科技集团有限公司", "MY"),  # 中国 first: a warning in SG and MY too
        ("中国钢铁股份有限公司", "SG"),
    ],
)
def test_a_chinese_name_starting_with_china_is_a_warning_in_sg_and_my(name: str, declared: str) -> None:
    assert [s.strong for s in prc_registration(name, [], declared)] == [False]


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("中國鋼鐵股份有限公司", "TW"),  # China Steel: Taiwanese
        ("Comercial Jinan S.A.", "GT"),  # S.A. is Macau's form only with Macau
        ("Acme Tecnologia, Limitada", "PT"),
        ("The Beijing Duck House", "US"),  # no legal form
        ("Acme A/S", "DK"),
        ("艾克米電子廠", "TW"),  # a factory with no PRC place
    ],
)
def test_neighbours_of_the_new_forms_are_not_evidence(name: str, declared: str) -> None:
    assert prc_registration(name, [], declared) == []


# Review rt7 (finding B): a USCC written with separators, full-width digits or invisible
# characters, under any spelling of the scheme, is the same USCC as written compactly.
USCC = "914403001922038216"
USCC_SPELLINGS = [
    USCC,
    "9144 0300 1922 0382 16",
    "91440300192203821-6",
    "9144-0300-1922-0382-16",
    "9144.0300.1922.0382.16",
    "\uff19\uff11\uff14\uff14\uff10\uff13\uff10\uff10\uff11\uff19\uff12\uff12\uff10\uff13\uff18\uff12\uff11\uff16",
    "9144\u200b0300\u200b1922\u200b0382\u200b16",
    "9144\u00a00300\u30001922038216",
    " 914403001922038216\n",
]


@pytest.mark.parametrize("value", USCC_SPELLINGS)
@pytest.mark.parametrize(
    "scheme",
    ["uscc", "USCC", "cn-uscc", "CN_USCC", "\uff55\uff53\uff43\uff43", "uscc\u200b", "统一社会信用代码", "統一社會信用代碼", "cn", "cn-tax-id"],
)
def test_a_formatted_uscc_under_a_uscc_scheme_is_strong(scheme: str, value: str) -> None:
    assert uscc_valid(USCC)
    signs = prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG")
    assert [s.strong for s in signs] == [True], signs
    assert "check digit is valid" in signs[0].what


@pytest.mark.parametrize("value", USCC_SPELLINGS)
@pytest.mark.parametrize("scheme", ["tax-id", "uen", "lei", "company-number", "registration"])
def test_a_formatted_uscc_under_another_scheme_is_a_warning_as_written_compactly(scheme: str, value: str) -> None:
    signs = prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG")
    assert [s.strong for s in signs] == [False], signs


@pytest.mark.parametrize("value", ["9144 0300 1922 0382 17", "201912345K", "5493 0012 3456 7890 1234", "---", "\u200b"])
def test_other_numbers_formatted_are_not_a_uscc(value: str) -> None:
    assert prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme="uen", value=value)], "SG") == []
    assert [s.strong for s in prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme="cn-uscc", value=value)], "SG")] == [True]


TENANTS: dict[str, tuple[dict[str, Any], str]] = {
    "beijing-lion": ({"legal_name": "Beijing Lion Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "guangdong-lion": ({"legal_name": "Guangdong Lion Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "moonshot-cjk": ({"legal_name": "北京月之暗面科技有限公司", "headquarters_country": "SG"}, "contraindicated"),
    "uscc": ({"legal_name": "Lion Compute Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "uscc", "value": "91110108MA01KP2T9U"}]}, "contraindicated"),
    "deepseek": ({"legal_name": "Hangzhou DeepSeek Artificial Intelligence Basic Technology Research Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "parent-beijing": ({"legal_name": "Lion Compute Pte. Ltd.", "headquarters_country": "SG", "ultimate_parent": {"legal_name": "Beijing Lion Holdings Co., Ltd.", "headquarters_country": "SG"}}, "contraindicated"),
    "cjk-no-place-us": ({"legal_name": "月之暗面科技有限公司", "headquarters_country": "US"}, "warning"),
    # review rt7: other legal forms, spellings, branches, Hong Kong and Macau, formatted USCCs
    "hk-limited": ({"legal_name": "Acme Technology (Hong Kong) Limited", "headquarters_country": "SG"}, "contraindicated"),
    "cjk-branch": ({"legal_name": "深圳市爱克米科技有限公司新加坡分公司", "headquarters_country": "SG"}, "contraindicated"),
    "cjk-macau": ({"legal_name": "澳門愛克米科技有限公司", "headquarters_country": "SG"}, "contraindicated"),
    "xizang": ({"legal_name": "Xizang Acme Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "en-branch": ({"legal_name": "Acme Technology Co., Ltd. Shenzhen Branch", "headquarters_country": "SG"}, "contraindicated"),
    "shenzhen-ltd": ({"legal_name": "Shenzhen Acme Technology Ltd.", "headquarters_country": "SG"}, "warning"),
    "peking": ({"legal_name": "Peking Acme Technology Co., Ltd.", "headquarters_country": "SG"}, "warning"),
    "uscc-spaced": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "cn-uscc", "value": "9144 0300 1922 0382 16"}]}, "contraindicated"),
    "uscc-cjk-scheme": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "统一社会信用代码", "value": "91440300-1922038216"}]}, "contraindicated"),
    "uscc-fullwidth-tax-id": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "tax-id", "value": "９１４４０３００１９２２０３８２１６"}]}, "warning"),
    "control": ({"legal_name": "Beijing Lion Technology (Singapore) Pte. Ltd.", "headquarters_country": "SG"}, "affirming"),
    "control-canton-road": ({"legal_name": "Canton Road Pte. Ltd.", "headquarters_country": "SG"}, "affirming"),
    "control-peking-duck": ({"legal_name": "Peking Duck House", "headquarters_country": "SG"}, "affirming"),
}
# The screening names of the same review (tests/policy/test_screening_romanized.py), as tenants declared in SG
SCREENED: dict[str, tuple[dict[str, Any], str]] = {
    "pinyin-hikvision": ({"legal_name": "Hangzhou Haikang Weishi Digital Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "pinyin-megvii": ({"legal_name": "Kuangshi Technology Pte. Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "pinyin-inspur": ({"legal_name": "Langchao Jituan", "headquarters_country": "SG"}, "contraindicated"),
    "katakana-huawei-japan": ({"legal_name": "ファーウェイ・ジャパン株式会社", "headquarters_country": "JP"}, "contraindicated"),
    "hangul-huawei-korea": ({"legal_name": "화웨이테크놀러지스코리아 주식회사", "headquarters_country": "KR"}, "warning"),
    "brand-aliyun": ({"legal_name": "Aliyun", "headquarters_country": "SG"}, "warning"),
    "typo-zhipo": ({"legal_name": "Zhipo AI", "headquarters_country": "SG"}, "warning"),
    "typo-inpur": ({"legal_name": "Inpur", "headquarters_country": "SG"}, "warning"),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("registration")
    env = bundled_lists_env(root)
    envelopes = []
    for case, (tenant, _) in {**TENANTS, **SCREENED}.items():
        envelopes.append(signed_case(root, env, case, tenant, SG, ("Example Cloud Pte. Ltd.", "SG")))
    out = _run(root, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["source"].split("/")[0]: r for r in results}


@pytest.mark.parametrize("case", list(TENANTS))
def test_attest_verify_holds_a_tenant_whose_name_or_identifier_says_prc(case: str, verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts[case]
    want = TENANTS[case][1]
    assert result["status"] == want or ORDER.index(result["status"]) > ORDER.index(want), result
    if want == "affirming":
        assert result["status"] == "affirming", [(f["rule"], f["message"]) for f in result["findings"] if f["severity"] != "info"]
        return
    hits = [f for f in result["findings"] if f["rule"] == "policy.headquarters" and f["severity"] == want]
    assert hits, [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] != "info"]
    # the names of DeepSeek and Moonshot AI are also on the seed's known-headquarters list, which the rule reads first
    listed = hits[0]["evidence"].get("list_entry", {}).get("list") == "known-headquarters"
    assert listed or "headquarters evidence contradicts the declared country" in hits[0]["message"]
    assert hits[0]["evidence"]["declared_country"] in ("SG", "US") and hits[0]["evidence"]["country"] == "CN"


@pytest.mark.parametrize("case", list(SCREENED))
def test_attest_verify_holds_a_tenant_whose_name_screens_as_listed(case: str, verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts[case]
    want = SCREENED[case][1]
    assert ORDER.index(result["status"]) >= ORDER.index(want), result
    hits = [f for f in result["findings"] if f["rule"] in ("policy.screening", "policy.headquarters") and ORDER.index(f["severity"]) >= ORDER.index(want)]
    assert hits, [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] != "info"]


# Review rv8, finding 3: a USCC marked as the PRC's, with O typed for 0, or under a scheme that names it.
@pytest.mark.parametrize(
    ("scheme", "value", "strong"),
    [
        ("tax-id", "CN914403001922038216", True),
        ("tax-id", "CN-9144 0300 1922 0382 16", True),
        ("tax-id", "914403001922038216 (PRC)", True),
        ("vat", "PRC 914403001922038216", True),
        ("tax-id", "9144O3OO1922O38216", False),  # O for 0: as written compactly, a warning
        ("cn-tax-id", "9144O3OO1922O38216", True),
        ("USCC No.", "914403001922038216", True),
        ("uscc-number", "914403001922038216", True),
        ("uscc_cn", "914403001922038216", True),
        ("zh-uscc", "914403001922038216", True),
        ("信用代码", "914403001922038216", True),
        ("营业执照", "914403001922038216", True),
        ("營業執照號碼", "914403001922038216", True),  # Traditional script
        ("USCC No.", "not-a-code", True),  # the scheme itself names a PRC registration
    ],
)
def test_a_marked_or_misspelt_uscc_and_uscc_named_schemes_are_evidence(scheme: str, value: str, strong: bool) -> None:
    signs = prc_registration("Acme Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG")
    assert [s.strong for s in signs] == [strong], signs


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        ("tax-id", "CN914403001922038217"),  # check digit off
        ("uen", "201912345K"),
        ("lei", "5493001KJTIIGC8Y1R12"),
        ("company-number", "CN12345678"),
        ("discount-code", "USCCA"),  # a scheme merely containing the letters
    ],
)
def test_other_marked_numbers_are_not_a_uscc(scheme: str, value: str) -> None:
    assert prc_registration("Acme Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG") == []


# Review rv8, the reviewer's neighbouring probes: a Chinese district, a note after the form, a
# bracket closing nothing, "USCC" written in the value.
@pytest.mark.parametrize(
    ("name", "strong"),
    [
        ("浦东艾克米科技有限公司", True),
        ("深圳市艾克米科技有限公司(新加坡)", True),
        ("艾克米科技有限公司(深圳)", True),
        ("艾克米科技有限公司（香港）", True),
        ("深圳市艾克米科技有限公司）", True),
        ("艾克米科技有限公司(新加坡)", None),  # a Singapore note, no PRC place: as without it
    ],
)
def test_chinese_districts_and_notes_after_the_form(name: str, strong: bool | None) -> None:
    signs = prc_registration(name, [], "SG")
    assert [s.strong for s in signs] == ([] if strong is None else [strong]), signs


def test_uscc_written_in_the_value_is_strong() -> None:
    ident = Identifier(scheme="registration-number", value="USCC 914403001922038216")
    assert [s.strong for s in prc_registration("Acme AI Pte. Ltd.", [ident], "SG")] == [True]


@pytest.mark.parametrize(
    ("name", "strong"),
    [
        ("P.R.C. Acme Technology Co., Ltd.", True),
        ("Shenzhen Acme Technology Co., L.T.D.", True),
        ("Shenzhen Acme Technology Co-Ltd", True),
        ("Shenzhen Acme Technology Co._Ltd.", True),
        ("Beijing Acme Technology Co., Ltd.\u00ae", True),
        ("Beijing Acme Technology Co., Ltd.\u2122", True),  # ™ is a mark, as ® is, not the word "TM"
        ("Zhongguo Acme Keji Youxian Gongsi", False),  # 'China' first: a warning, as in English
        ("Acme Technology (Shunde) Co., Ltd.", True),
        ("Acme Technology (Hainan Free Trade Port) Co., Ltd.", True),
        ("Acme Macau Sociedade Unipessoal Limitada", True),
        ("深圳市艾克米科技中心", True),
        ("深圳市艾克米科技工作室", True),
        ("深圳市艾克米科技研究院", True),
    ],
)
def test_more_spellings_of_the_form_and_place(name: str, strong: bool) -> None:
    assert [s.strong for s in prc_registration(name, [], "SG")] == [strong]


def test_letters_typed_for_digits_in_a_uscc() -> None:
    ident = Identifier(scheme="tax-id", value="91440300l922038216")  # a lower-case l for 1
    assert [s.strong for s in prc_registration("Acme AI Pte. Ltd.", [ident], "SG")] == [False]
    ident = Identifier(scheme="cn-tax-id", value="9I44O3OO1922O38216")
    assert [s.strong for s in prc_registration("Acme AI Pte. Ltd.", [ident], "SG")] == [True]


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("Acme Trading S.A.", "AR"),
        ("Acme Comercial Limitada", "BR"),
        ("Acme (Singapore Free Trade Zone) Co., Ltd.", "SG"),
        ("艾克米科技中心", "SG"),  # 中心 with no PRC place
    ],
)
def test_neighbours_of_the_spellings_are_not_evidence(name: str, declared: str) -> None:
    assert prc_registration(name, [], declared) == []


@pytest.mark.parametrize(
    "name",
    [
        "Shenzhen Acme Technology Co., Ltd. Singapore",
        "Shenzhen Acme Technology Co., Ltd. t/a Acme SG",
        "Beijing Acme Technology Co., Ltd. d/b/a Acme",
        'Beijing Acme Technology Co., Ltd. "Acme"',
        "Beijing Acme Technology Co., Ltd. (Singapore) Pte. Ltd.",  # another country's form: a warning
    ],
)
def test_a_prc_enterprise_name_followed_by_more_words_is_a_warning(name: str) -> None:
    assert [s.strong for s in prc_registration(name, [], "SG")] == [False]


@pytest.mark.parametrize("name", ["Samsung Electronics Co., Ltd. Singapore", "Acme Co., Ltd. t/a Acme SG"])
def test_a_non_prc_name_followed_by_more_words_is_not_evidence(name: str) -> None:
    assert prc_registration(name, [], "SG") == []


@pytest.mark.parametrize(
    ("name", "strong"),
    [
        ("Acme Technology Co., Ltd., Shenzhen", True),  # the place after the form, as a branch's
        ("Acme Technology Co., Ltd. Shenzhen", True),
        ("Acme Shenzhen Technology Co., Ltd.", False),  # a place within: a warning
    ],
)
def test_a_place_after_or_within_a_prc_form(name: str, strong: bool) -> None:
    assert [s.strong for s in prc_registration(name, [], "SG")] == [strong]


@pytest.mark.parametrize("name", ["Samsung Electronics Co., Ltd., Seoul", "Acme Nanyang Technology Co., Ltd."])
def test_another_place_after_or_within_the_form_is_not_evidence(name: str) -> None:
    assert prc_registration(name, [], "SG") == []


# Registration evidence that was still not read (each affirming, or silently clean, declared SG):
# the PRC's own words for itself and its regions, misspelt places, "Limited" with Hong Kong after
# it, the one-person company, enterprise types, a named PRC parent.
@pytest.mark.parametrize(
    ("name", "strong"),
    [
        ("Acme Technology (Greater Bay Area) Co., Ltd.", True),
        ("Acme Technology (Greater Bay Area) Limited", True),
        ("Acme Technology (Guangdong-Hong Kong-Macao Greater Bay Area) Co., Ltd.", True),
        ("Mainland China Acme Technology Co., Ltd.", True),
        ("Acme Technology (Mainland China) Co., Ltd.", True),
        ("Acme (China Mainland) Limited", True),
        ("艾克米科技(大湾区)有限公司", True),
        ("粤港澳大湾区艾克米科技有限公司", True),
        # common misspellings of the largest places
        ("Beijng Acme Technology Co., Ltd.", True),
        ("Bejing Acme Technology Co., Ltd.", True),
        ("Shangai Acme Technology Co., Ltd.", True),
        ("Shenzen Acme Technology Co., Ltd.", True),
        ("Guangzhuo Acme Technology Co., Ltd.", True),
        ("Acme Technology (Shenzen) Co., Ltd.", True),
        ("Acme Technology (Shangai) Limited", True),
        ("Acme Technology Co., Ltd. Shenzen Branch", True),
        ("Honkong Acme Technology Co., Ltd.", True),
        # one letter from a large place, not a common misspelling (also other pinyin words): a warning
        ("Shenzhenn Acme Technology Co., Ltd.", False),
        ("Tianjing Acme Co., Ltd.", False),
        ("Pekin Acme Technology Co., Ltd.", False),  # French and Spanish for Peking
        # Hong Kong after "Limited": the Hong Kong company's name written the other way round
        ("Acme Technology Limited Hong Kong", True),
        ("Acme Technology Ltd. Hong Kong", True),
        ("Acme Technology Limited (Hong Kong)", True),
        ("Acme Technology Limited, Hong Kong", True),
        ("Acme (Hong Kong) Ltd", True),
        ("Acme (HKSAR) Limited", True),
        ("Acme Limited, Hong Kong S.A.R.", True),
        ("Acme Technology Limited Hong Kong Branch", False),  # a branch: a company of elsewhere may have one
        # the one-person company (PRC; Macau's name for its Sociedade Unipessoal), the licence's enterprise types
        ("艾克米科技一人有限公司", True),
        ("艾克米科技一人有限责任公司", True),
        ("艾克米科技有限公司(自然人独资)", True),
        ("艾克米科技有限公司（法人独资）", True),
        # a PRC parent named in the name
        ("Acme AI Pte. Ltd. (a subsidiary of Beijing Acme Technology Co., Ltd.)", True),
        ("Acme AI Pte. Ltd., a wholly-owned subsidiary of Shenzen Acme Co., Ltd.", True),
        ("Acme AI Pte. Ltd. (wholly owned by Acme Holdings (Hong Kong) Limited)", True),
        ("Acme AI Pte. Ltd. - member of the Hangzhou Acme Co., Ltd. group", True),
        ("Acme AI Pte. Ltd. (a subsidiary of Acme (HK) Limited)", False),  # HK: also other initials
        ("Acme AI Pte. Ltd. (a member of the Beijing Acme group)", False),  # named after a PRC place, no form
        # the parent first, or the clause alone
        ("Acme AI Pte. Ltd. (Beijing Acme Co., Ltd. subsidiary)", True),
        ("Acme AI Pte. Ltd. (Beijing Acme Co., Ltd.'s wholly-owned subsidiary)", True),
        ("Acme AI Pte Ltd - A Beijing Acme Co Ltd company", True),
        ("艾克米人工智能私人有限公司（北京艾克米科技有限公司的子公司）", True),
        ("(a subsidiary of Beijing Acme Co., Ltd.)", True),
        ("Subsidiary of Beijing Acme Co., Ltd.", True),
    ],
)
def test_more_evidence_declared_sg_is_read(name: str, strong: bool) -> None:
    signs = prc_registration(name, [], "SG")
    assert signs and max(s.strong for s in signs) is strong, signs


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("株式会社アクメ", "JP"),  # 株式会社 is Japanese
        ("アクメ株式会社", "SG"),
        ("Shinyang Co., Ltd.", "KR"),  # one letter from Shenyang: left out of the misspellings
        ("Jangsu Co., Ltd.", "KR"),  # and from Jiangsu
        ("Gwangdong Pharmaceutical Co., Ltd.", "KR"),  # and from Guangdong
        ("Shandon Limited", "IE"),  # a place in Cork, one letter from Shandong
        ("Pekin Life Insurance Company", "US"),  # Pekin, Illinois: only with the PRC form
        ("Beijinger Media GmbH", "DE"),
        ("Acme AI Pte. Ltd. (a subsidiary of Acme Inc.)", "SG"),
        ("Acme (Greater Bay Area) Pte. Ltd.", "SG"),  # a Singapore company's form
        ("台灣艾克米股份有限公司", "TW"),
        ("Acme Technology Limited Hong Kong", "GB"),  # "Limited" is the company's own form: a warning at most
    ],
)
def test_lawful_neighbours_of_the_new_evidence_are_at_most_a_warning(name: str, declared: str) -> None:
    assert not any(s.strong for s in prc_registration(name, [], declared))


def _mod11_10(prefix14: str) -> str:
    """A 15-digit registration number with its ISO 7064 MOD 11,10 check digit."""
    p = 10
    for c in prefix14:
        p = ((p + int(c)) % 10 or 10) * 2 % 11
    return prefix14 + str((11 - p) % 10)


REG15 = _mod11_10("11010800012345")  # a Beijing Haidian registration number of before 2015
TAX15 = "110108D2143569X"  # a division code and GB 11714's worked organization code D2143569-X
RESIDENT = "11010519491231002X"  # GB 11643's worked resident identity number


@pytest.mark.parametrize(
    ("scheme", "value", "strong"),
    [
        ("工商注册号", REG15, True),
        ("cn-registration", REG15, True),
        ("cn-business-registration", f"{REG15[:6]} {REG15[6:]}", True),
        ("registration", REG15, False),  # the shape and check digit alone: a warning
        ("company-number", REG15, False),
        ("cn-tax-id", TAX15, True),
        ("税务登记号", TAX15, True),
        ("tax-id", TAX15, False),
        ("tax-id", RESIDENT, False),
        ("cn-tax-id", RESIDENT, True),
        ("hk-cr", "1234567", True),  # a company incorporated in Hong Kong
        ("HK CR No.", "0123456", True),
        ("hong-kong-company-number", "1234567", True),
        ("香港公司註冊編號", "1234567", True),
        ("hk-cr", "F0012345", False),  # a registered non-Hong Kong company
        ("hk-br", "12345678", False),  # a business carried on in Hong Kong: also a foreign company's branch
        ("macau-registration", "12345", False),
        ("cn-business-registration", "not-a-number", False),
        # read through a number's "No." and a mark of the PRC; a Chinese scheme name whatever its value
        ("工商注册号", f"No. {REG15}", True),
        ("registration", f"CN{REG15}", True),
        ("registration", f"{REG15} (PRC)", True),
        ("hk-cr", "No. 1234567", True),
        ("hk-cr", "CR1234567", True),
        ("组织机构代码", "D2143569-X", True),
        ("工商注册号", "not-a-number", True),
    ],
)
def test_older_prc_numbers_and_hong_kong_registrations_are_evidence(scheme: str, value: str, strong: bool) -> None:
    signs = prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG")
    assert [s.strong for s in signs] == [strong], signs


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        ("registration", REG15[:-1] + str((int(REG15[-1]) + 1) % 10)),  # check digit off
        ("tax-id", "110108D21435691"),  # organization code check off
        ("tax-id", "990108000123456"),  # no PRC province
        ("company-number", "1234567"),  # a company number of no named place
        ("mo-charter", "12345"),  # Missouri
        ("lei", "5493001KJTIIGC8Y1R12"),  # LEIs are left alone: no documented rule ties one to the PRC
        ("cn", "12345678"),
    ],
)
def test_other_numbers_are_still_not_evidence(scheme: str, value: str) -> None:
    assert prc_registration("Acme AI Pte. Ltd.", [Identifier(scheme=scheme, value=value)], "SG") == []


MORE_TENANTS: dict[str, tuple[dict[str, Any], str]] = {
    "shenzen": ({"legal_name": "Shenzen Acme Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "gba": ({"legal_name": "Acme Technology (Greater Bay Area) Limited", "headquarters_country": "SG"}, "contraindicated"),
    "mainland": ({"legal_name": "Mainland China Acme Technology Co., Ltd.", "headquarters_country": "MY"}, "contraindicated"),
    "limited-hk": ({"legal_name": "Acme Technology Limited Hong Kong", "headquarters_country": "SG"}, "contraindicated"),
    "one-person": ({"legal_name": "艾克米科技一人有限公司", "headquarters_country": "SG"}, "contraindicated"),
    "prc-parent-named": ({"legal_name": "Acme AI Pte. Ltd. (a subsidiary of Beijing Acme Technology Co., Ltd.)", "headquarters_country": "SG"}, "contraindicated"),
    "listed-parent-named": ({"legal_name": "Acme AI Pte. Ltd. (a subsidiary of Huawei)", "headquarters_country": "SG"}, "contraindicated"),
    "listed-parent-cjk": ({"legal_name": "艾克米人工智能私人有限公司（深度求索的子公司）", "headquarters_country": "SG"}, "contraindicated"),
    "reg15": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "工商注册号", "value": REG15}]}, "contraindicated"),
    "reg15-generic": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "registration", "value": REG15}]}, "warning"),
    "hk-cr": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "hk-cr", "value": "1234567"}]}, "contraindicated"),
    "hk-br": ({"legal_name": "Acme AI Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "hk-br", "value": "12345678"}]}, "warning"),
    # no headquarters finding; a warning only because the lists hold no names in its scripts
    "control-japanese": ({"legal_name": "株式会社アクメ", "headquarters_country": "JP"}, "warning"),
    "control-korean": ({"legal_name": "Shinyang Co., Ltd.", "headquarters_country": "KR"}, "affirming"),
    "control-parent": ({"legal_name": "Acme AI Pte. Ltd. (a subsidiary of Acme Inc.)", "headquarters_country": "SG"}, "affirming"),
}


@pytest.fixture(scope="module")
def more_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("registration-more")
    env = bundled_lists_env(root)
    envelopes = [
        signed_case(root, env, case, tenant, SG, ("Example Cloud Pte. Ltd.", "SG")) for case, (tenant, _) in MORE_TENANTS.items()
    ]
    out = _run(root, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["source"].split("/")[0]: r for r in results}


@pytest.mark.parametrize("case", list(MORE_TENANTS))
def test_attest_verify_reads_the_new_evidence(case: str, more_verdicts: dict[str, dict[str, Any]]) -> None:
    if case == "control-japanese":
        result = more_verdicts[case]
        raised = [f for f in result["findings"] if f["severity"] not in ("info", "none")]
        assert result["status"] == "warning"
        assert [(f["rule"], f["evidence"]["scripts"]) for f in raised] == [("policy.screening", ["Han", "Katakana"])]
        return
    hit = headquarters_finding(more_verdicts[case], MORE_TENANTS[case][1])
    if hit is None:
        return
    assert hit["evidence"]["country"] == "CN"
    if case == "listed-parent-named":  # the parent's exact match, where the whole name is only a near one
        assert hit["evidence"]["list_entry"]["screened"] == "Huawei"
    elif case == "listed-parent-cjk":
        assert hit["evidence"]["list_entry"]["screened"] == "深度求索"
    else:
        assert "headquarters evidence contradicts the declared country" in hit["message"]


def test_a_parent_of_a_named_parent_is_read_and_repeated_clauses_end() -> None:
    nested = "Acme AI Pte. Ltd. (a subsidiary of Acme Holdings Pte. Ltd. (a subsidiary of Beijing Acme Co., Ltd.))"
    assert [s.strong for s in prc_registration(nested, [], "SG")] == [True]
    # a name that is nothing but clauses (the model caps names at 512 characters; the function takes any)
    for name in ("owned by " * 800, "a subsidiary of " * 400, "(" * 250 + ")" * 250):
        assert prc_registration(name, [], "SG") == []
