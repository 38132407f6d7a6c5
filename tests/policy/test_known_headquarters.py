"""PRC AI developers and clouds on no restricted list: the seed's known-headquarters entries.

"DeepSeek AI Pte. Ltd." declared in SG was ``affirming`` at ``attest verify --policy us-ear``:
no list names DeepSeek, and the name has no PRC place or form. The seed now lists the known
headquarters of such groups; a match places the party in CN for the headquarters rule (an
exact or alias match: the rule's severity; a near match: a warning), whatever it declares.

A brand that is also a common word (Moonshot, MiniMax, Baichuan, Kling) is listed with what
makes it the company ("Moonshot AI", "MiniMax AI"), not alone: a name holding only the word is
a near match, a warning to confirm identity, never ``affirming`` and never blocked outright.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attest.policy.screening import bundled_list, screener_for, seed_list
from tests.policy.evasion import assert_screen_exits, bundled_lists_env, headquarters_finding
from tests.policy.test_cli_scenarios import SG, _run, signed_case

MY = ("MY", 3.1390, 101.6869)

# (tenant name, declared country, the verdict at least, and exactly when given)
TENANTS: dict[str, tuple[str, str, str]] = {
    "deepseek-sg": ("DeepSeek AI Pte. Ltd.", "SG", "contraindicated"),
    "deepseek-my": ("DeepSeek Sdn. Bhd.", "MY", "contraindicated"),
    "deepseek-limited": ("DeepSeek Limited", "SG", "contraindicated"),
    "deepseek-spaced": ("Deep Seek AI Pte. Ltd.", "SG", "contraindicated"),
    "deepseek-cjk-brand": ("深度求索(新加坡)私人有限公司", "SG", "warning"),  # a near match, as ByteDance's 字节跳动新加坡有限公司
    "moonshot-ai": ("Moonshot AI Pte. Ltd.", "SG", "contraindicated"),
    "minimax-ai": ("MiniMax AI Sdn. Bhd.", "MY", "contraindicated"),
    "01ai": ("01.AI Pte. Ltd.", "SG", "contraindicated"),
    "baichuan-ai": ("Baichuan AI Pte. Ltd.", "SG", "contraindicated"),
    "stepfun": ("StepFun Pte. Ltd.", "SG", "contraindicated"),
    "kling": ("Kling AI Pte. Ltd.", "SG", "contraindicated"),
    "kingsoft-cloud": ("Kingsoft Cloud Pte. Ltd.", "SG", "contraindicated"),
    "volcano-engine": ("Volcano Engine Pte. Ltd.", "SG", "contraindicated"),
    "byteplus": ("BytePlus Pte. Ltd.", "SG", "contraindicated"),
    "deepseek-typo": ("Deepseak AI Pte. Ltd.", "SG", "warning"),
    # a common word alone: a near match, a warning to confirm identity
    "minimax-word": ("Minimax Optimization Pte. Ltd.", "SG", "warning"),
    "moonshot-word": ("Moonshot Capital Pte. Ltd.", "SG", "warning"),
    # a near match (a warning) does not hide a PRC enterprise name: the rule's severity
    "moonshot-branch-cjk": ("北京月之暗面科技有限公司新加坡分公司", "SG", "contraindicated"),
    "moonshot-prc-form": ("Beijing Moonshot Technology Co., Ltd.", "SG", "contraindicated"),
    "xiaomi-prc-form": ("Beijing Xiaomi Mobile Software Co., Ltd.", "SG", "contraindicated"),
    # controls: unrelated names near the brands' words
    "control-deep-sea": ("Deep Sea Technology Pte. Ltd.", "SG", "affirming"),
    "control-horizon": ("Horizon Pte. Ltd.", "SG", "affirming"),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("known-hq")
    env = bundled_lists_env(root)
    envelopes = [
        signed_case(
            root,
            env,
            case,
            {"legal_name": name, "headquarters_country": country},
            SG if country == "SG" else MY,
            ("Example Cloud Pte. Ltd.", "SG"),
        )
        for case, (name, country, _) in TENANTS.items()
    ]
    out = _run(root, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["source"].split("/")[0]: r for r in results}


@pytest.mark.parametrize("case", list(TENANTS))
def test_attest_verify_places_a_known_prc_ai_developer_in_cn(case: str, verdicts: dict[str, dict[str, Any]]) -> None:
    _, declared, want = TENANTS[case]
    hit = headquarters_finding(verdicts[case], want)
    if hit is None:
        return
    assert hit["evidence"]["declared_country"] == declared and hit["evidence"]["country"] == "CN"
    if case.endswith("prc-form") or case == "moonshot-branch-cjk":
        assert "headquarters evidence contradicts the declared country" in hit["message"]
    else:
        assert hit["evidence"]["list_entry"]["list"] == "known-headquarters"


def test_the_known_headquarters_are_on_no_bundled_list() -> None:
    """The entries supplement the lists: none of their names is already an exact or alias match there."""
    lists = screener_for([bundled_list("csl"), bundled_list("1260h")])
    added = [e for e in seed_list().entries if e.list_id == "known-headquarters" and e.id != "hq-bytedance"]
    assert len(added) >= 14
    for entry in added:
        assert entry.country == "CN" and entry.source and "without network access" in entry.source, entry.id
        for name in [entry.name, *entry.alt_names]:
            assert not [m for m in lists.screen(name) if m.kind != "near"], (entry.id, name)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("DeepSeek AI Pte. Ltd.", 3),
        ("杭州深度求索人工智能基础技术研究有限公司", 3),
        ("Shenduqiusuo", 3),  # its Chinese name in pinyin
        ("北京月之暗面科技有限公司", 3),
        ("上海稀宇科技有限公司", 3),
        ("Lingyiwanwu Pte. Ltd.", 3),
        ("上海阶跃星辰智能科技有限公司", 3),
        ("Minimax Optimization Pte. Ltd.", 1),  # a near match: confirm identity
        ("Deep Sea Technology Pte. Ltd.", 0),
    ],
)
def test_attest_screen_finds_them(name: str, code: int, tmp_path: Path) -> None:
    [out] = assert_screen_exits(tmp_path, [(name, code)])
    if code:
        assert "known-headquarters" in out
