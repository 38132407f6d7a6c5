"""Evidence of a PRC registration in a party's own name and identifiers (attest/policy/registration.py).

The security review of tenant screening: each of these tenants, declared in SG, came back
``affirming`` at ``attest verify``. Library checks first, then the real CLI (manifest, sign,
verify --policy us-ear) in one run, as tests/policy/test_cli_scenarios.py does it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from attest.model.manifest import Identifier
from attest.policy.registration import prc_registration, uscc_valid
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
        ("Shanghai Commercial & Savings Bank, Ltd.", "TW"),  # a place, but not the PRC legal form
        ("Samsung Electronics Co., Ltd.", "KR"),  # the form, but no PRC place
        ("台灣積體電路製造股份有限公司", "TW"),  # Chinese-script names are written in TW, HK, SG, MY too
        ("新加坡科技工程有限公司", "SG"),
        ("Example Robotics Inc.", "US"),
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


TENANTS: dict[str, tuple[dict[str, Any], str]] = {
    "beijing-lion": ({"legal_name": "Beijing Lion Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "guangdong-lion": ({"legal_name": "Guangdong Lion Technology Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "moonshot-cjk": ({"legal_name": "北京月之暗面科技有限公司", "headquarters_country": "SG"}, "contraindicated"),
    "uscc": ({"legal_name": "Lion Compute Pte. Ltd.", "headquarters_country": "SG", "identifiers": [{"scheme": "uscc", "value": "91110108MA01KP2T9U"}]}, "contraindicated"),
    "deepseek": ({"legal_name": "Hangzhou DeepSeek Artificial Intelligence Basic Technology Research Co., Ltd.", "headquarters_country": "SG"}, "contraindicated"),
    "parent-beijing": ({"legal_name": "Lion Compute Pte. Ltd.", "headquarters_country": "SG", "ultimate_parent": {"legal_name": "Beijing Lion Holdings Co., Ltd.", "headquarters_country": "SG"}}, "contraindicated"),
    "cjk-no-place-us": ({"legal_name": "月之暗面科技有限公司", "headquarters_country": "US"}, "warning"),
    "control": ({"legal_name": "Beijing Lion Technology (Singapore) Pte. Ltd.", "headquarters_country": "SG"}, "affirming"),
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
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(root / "no-imported-lists")
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
    assert "headquarters evidence contradicts the declared country" in hits[0]["message"]
    assert hits[0]["evidence"]["declared_country"] in ("SG", "US") and hits[0]["evidence"]["country"] == "CN"


@pytest.mark.parametrize("case", list(SCREENED))
def test_attest_verify_holds_a_tenant_whose_name_screens_as_listed(case: str, verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts[case]
    want = SCREENED[case][1]
    assert ORDER.index(result["status"]) >= ORDER.index(want), result
    hits = [f for f in result["findings"] if f["rule"] in ("policy.screening", "policy.headquarters") and ORDER.index(f["severity"]) >= ORDER.index(want)]
    assert hits, [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] != "info"]
