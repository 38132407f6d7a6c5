"""The scenario table through the CLI: ``attest manifest`` -> ``attest sign`` -> ``attest verify --policy us-ear``.

Every case of issue 18 (and the class of evasion behind each) was ``affirming`` before; each must
now end ``warning`` or ``contraindicated`` with the finding that says why. All cases are built
with the real CLI, each with its own node key, and verified in one ``attest verify`` run (the
bundled lists are indexed once). A control case stays ``affirming``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MY = ("MY", 1.6561, 103.6032)
SG = ("SG", 1.3521, 103.8198)
US_TENANT: dict[str, Any] = {"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}
OPERATOR = ("Example Cloud Sdn. Bhd.", "MY")


@dataclass
class Case:
    id: str
    rule: str  # the finding that must say why
    severity: str  # at least this: warning or contraindicated
    site: tuple[str, float, float] = MY
    tenant: dict[str, Any] = field(default_factory=lambda: dict(US_TENANT))
    operator: tuple[str, str] = OPERATOR
    expect: str = ""  # a fragment of that finding's message
    accuracy: int = 500  # the site's declared accuracy, metres


def _tenant(name: str, country: str = "SG", parent: tuple[str, str] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"legal_name": name, "headquarters_country": country}
    if parent:
        t["ultimate_parent"] = {"legal_name": parent[0], "headquarters_country": parent[1]}
    return t


CASES = [
    # Hong Kong is China (85 FR 83765)
    Case("hk-site", "policy.destination", "contraindicated", site=("HK", 22.3193, 114.1694), expect="site in HK"),
    Case("hk-tenant", "policy.headquarters", "contraindicated", tenant=_tenant("Example Robotics (HK) Ltd.", "HK")),
    Case("hk-parent", "policy.headquarters", "contraindicated", tenant=_tenant("Example Robotics Pte. Ltd.", "SG", ("Example Holdings (HK) Ltd.", "HK"))),
    Case("mo-parent", "policy.headquarters", "contraindicated", tenant=_tenant("Example Robotics Pte. Ltd.", "SG", ("Example Holdings (Macau) Ltd.", "MO"))),
    Case("cn-operator", "policy.headquarters", "contraindicated", operator=("Example Cloud Shenzhen Ltd.", "CN"), expect="operator"),
    Case("hk-operator", "policy.headquarters", "contraindicated", operator=("Example Cloud HK Ltd.", "HK"), expect="operator"),
    # coordinates in another country
    Case("my-at-shenzhen", "site.outside_country", "contraindicated", site=("MY", 22.5431, 114.0579), expect="in CN"),
    Case("sg-at-beijing", "site.outside_country", "contraindicated", site=("SG", 39.9042, 116.4074), expect="in CN"),
    Case("vn-at-nanning", "site.outside_country", "contraindicated", site=("VN", 22.8170, 108.3665), expect="in CN"),
    Case("my-at-hong-kong", "site.outside_country", "contraindicated", site=("MY", 22.3193, 114.1694), expect="in HK"),
    Case("ae-at-tehran", "site.outside_country", "contraindicated", site=("AE", 35.6892, 51.3890), expect="in IR"),
    # listed parents keep their country
    Case("alibaba-parent-ky", "policy.headquarters", "contraindicated", tenant=_tenant("Alibaba Cloud (Singapore) Pte. Ltd.", "SG", ("Alibaba Group Holding Limited", "KY")), expect="declared in KY"),
    Case("alibaba-no-parent", "policy.headquarters", "warning", tenant=_tenant("Alibaba Cloud (Singapore) Pte. Ltd.", "SG")),
    Case("bytedance-ky", "policy.headquarters", "contraindicated", tenant=_tenant("ByteDance Ltd.", "KY"), expect="declared in KY"),
    Case("tencent-parent-bm", "policy.headquarters", "contraindicated", tenant=_tenant("Tencent Cloud Europe B.V.", "NL", ("Tencent Holdings Limited", "BM"))),
    Case("baidu-parent-vg", "policy.headquarters", "contraindicated", tenant=_tenant("Example AI Pte. Ltd.", "SG", ("Baidu, Inc.", "VG"))),
    Case("unknown-parent-ky", "policy.headquarters", "warning", tenant=_tenant("Example AI Pte. Ltd.", "SG", ("Example Holdings Ltd.", "KY")), expect="principal place of business"),
    Case("huawei-parent-us", "policy.headquarters", "contraindicated", tenant=_tenant("Example AI Inc.", "US", ("Huawei Technologies Co., Ltd.", "US"))),
    # names that dodged screening
    Case("cyrillic-a", "policy.screening", "contraindicated", tenant=_tenant("Huаwei Technologies Co., Ltd.")),
    Case("greek-omicron", "policy.screening", "contraindicated", tenant=_tenant("Sοphgo Technologies Ltd.")),
    Case("zero-width-space", "policy.screening", "contraindicated", tenant=_tenant("Hua\u200bwei Technologies Co., Ltd.")),
    Case("soft-hyphen", "policy.screening", "contraindicated", tenant=_tenant("Hua\u00adwei Technologies Co., Ltd.")),
    Case("word-joiner-bidi", "policy.screening", "contraindicated", tenant=_tenant("Hu\u2060a\u202ewei\u200e Technologies")),
    Case("rlo-reversed", "policy.screening", "contraindicated", tenant=_tenant("\u202eseigolonhceT iewauH")),
    Case("traditional", "policy.screening", "contraindicated", tenant=_tenant("華為技術有限公司", "CN")),
    Case("zhipuai", "policy.screening", "contraindicated", tenant=_tenant("ZhipuAI")),
    Case("z-ai", "policy.screening", "contraindicated", tenant=_tenant("Z.ai")),
    Case("s-m-i-c", "policy.screening", "contraindicated", tenant=_tenant("S.M.I.C.")),
    Case("sugon", "policy.screening", "contraindicated", tenant=_tenant("Sugon")),
    Case("dawning", "policy.screening", "contraindicated", tenant=_tenant("Dawning Information Industry")),
    Case("hygon", "policy.screening", "contraindicated", tenant=_tenant("Hygon")),
    Case("biren", "policy.screening", "contraindicated", tenant=_tenant("Biren Technology")),
    Case("moore-threads", "policy.screening", "contraindicated", tenant=_tenant("Moore Threads")),
    Case("nettrix", "policy.screening", "contraindicated", tenant=_tenant("Nettrix")),
    Case("phytium", "policy.screening", "contraindicated", tenant=_tenant("Phytium")),
    Case("nsc-wuxi", "policy.screening", "contraindicated", tenant=_tenant("National Supercomputing Center Wuxi")),
    Case("sophgo", "policy.screening", "contraindicated", tenant=_tenant("Sophgo")),
    Case("word-order", "policy.screening", "contraindicated", tenant=_tenant("Wuxi National Supercomputing Center")),
    Case("legal-form-de", "policy.screening", "contraindicated", tenant=_tenant("Nettrix Information Industry GmbH")),
    # the Affiliates rule, in force again from 2026-11-10: owners with shares
    Case("affiliates-owners", "policy.affiliates", "contraindicated", tenant={**_tenant("Example Compute Pte. Ltd."), "owners": [
        {"legal_name": "Huawei Technologies Co., Ltd.", "headquarters_country": "CN", "share_percent": 30},
        {"legal_name": "Sophgo Technologies Ltd.", "headquarters_country": "CN", "share_percent": 20}]}, expect="50 % owned"),
    Case("listed-operator", "policy.screening", "contraindicated", operator=("Dawning Information Industry Co., Ltd.", "SG"), expect="operator"),
    Case("listed-operator-brand", "policy.screening", "warning", operator=("Sugon Cloud", "SG"), expect="operator"),
]
# The red-team review of issue 18 (each was affirming before its fix)
def _owned(*owners: tuple[str, str, float], name: str = "Bluefin Compute Pte. Ltd.") -> dict[str, Any]:
    return {**_tenant(name), "owners": [{"legal_name": n, "headquarters_country": c, "share_percent": s} for n, c, s in owners]}


CASES += [
    # F1: a point inside a prohibited country gets no tolerance, whatever the declared accuracy
    Case("f1-xiamen-as-tw", "site.outside_country", "contraindicated", site=("TW", 24.51, 118.15), accuracy=10000, expect="in CN"),
    Case("f1-xiangan-as-tw", "site.outside_country", "contraindicated", site=("TW", 24.55, 118.25), accuracy=6000, expect="no tolerance"),
    # F2: owners are screened, and a controlling owner is judged like a parent
    Case("f2-owner-alibaba-ky", "policy.headquarters", "contraindicated", tenant=_owned(("Alibaba Group Holding Limited", "KY", 100)), expect="owner (100 %)"),
    Case("f2-owner-unlisted-cn", "policy.headquarters", "contraindicated", tenant=_owned(("Shenzhen Bluefin Holdings Co., Ltd.", "CN", 100)), expect="owner (100 %)"),
    Case("f2-owners-together-cn", "policy.headquarters", "contraindicated", tenant=_owned(("Shenzhen Bluefin Holdings Co., Ltd.", "CN", 49), ("Bluefin Holdings (HK) Ltd.", "HK", 49), ("Bluefin Staff Trust Pte. Ltd.", "SG", 2)), expect="owner (49 %)"),
    Case("f2-owner-sdn", "policy.screening", "contraindicated", tenant=_owned(("COMERCIALIZADORA DE SERVICIOS MEDICOS CUBANOS SA", "CU", 100)), expect="owner"),
    Case("f2-minority-owner-listed", "policy.screening", "contraindicated", tenant=_owned(("Huawei Technologies Co., Ltd.", "CN", 10)), expect="owner (10 %)"),
    # F3: an owner's near match warns, and counts for the Affiliates rule (in force from 2026-11-10)
    Case("f3-owner-typo", "policy.screening", "warning", tenant=_owned(("Huawei Technologis Co., Ltd.", "SG", 100)), expect="owner"),
    Case("f3-owner-typo-affiliates", "policy.affiliates", "warning", tenant=_owned(("Huawei Technologis Co., Ltd.", "SG", 100)), expect="close match"),
    # F4: a list name ending in a parenthetical, under its plain name and the parenthetical
    Case("f4-hisilicon", "policy.screening", "contraindicated", tenant=_tenant("HiSilicon Technologies Co., Ltd.")),
    Case("f4-nudt-name", "policy.screening", "contraindicated", tenant=_tenant("National University of Defense Technology")),
    Case("f4-nudt", "policy.screening", "contraindicated", tenant=_tenant("NUDT")),
    # F5: look-alikes folded to one skeleton on both sides
    Case("f5-huawel", "policy.screening", "contraindicated", tenant=_tenant("HUAWEl TECHNOLOGIES CO., LTD.")),
    Case("f5-aiibaba-parent", "policy.headquarters", "contraindicated", tenant=_tenant("Bluefin Compute Pte. Ltd.", "SG", ("AIibaba Group Holding Limited", "SG"))),
    Case("f5-palochka", "policy.screening", "contraindicated", tenant=_tenant("SM\u04c0C")),
    Case("f5-smallcaps-parent", "policy.headquarters", "contraindicated", tenant=_tenant("Bluefin Compute Pte. Ltd.", "SG", ("Te\u0274ce\u0274t Holdings Limited", "SG"))),
    Case("f5-smallcaps", "policy.screening", "contraindicated", tenant=_tenant("\u029c\u1d1c\u1d00\u1d21\u1d07\u026a")),
    Case("f5-stroke", "policy.screening", "contraindicated", tenant=_tenant("Huawe\u0268 Technologies")),
    Case("f5-digit-zero", "policy.screening", "contraindicated", tenant=_tenant("Sophg0")),
    Case("f5-arabic-indic-one", "policy.screening", "contraindicated", tenant=_tenant("SM\u0661C")),
    Case("f5-lnspur", "policy.screening", "contraindicated", tenant=_tenant("lnspur")),
    # F6: bidi controls that desynchronised a simplified reading of UAX #9
    Case("f6-bidi-unmatched-pdi", "policy.screening", "contraindicated", tenant=_tenant("\u202eseigolonhceT iew\u2069auH")),
    Case("f6-bidi-empty-lre", "policy.screening", "contraindicated", tenant=_tenant("\u202eseigolonhceT iew\u202a\u202cauH")),
    # F7: Chinese legal names of listed AI parties
    Case("f7-hikvision-cjk", "policy.screening", "contraindicated", tenant=_tenant("杭州海康威视数字技术股份有限公司")),
    Case("f7-cambricon-cjk", "policy.screening", "contraindicated", tenant=_tenant("中科寒武纪科技股份有限公司")),
    Case("f7-megvii-cjk", "policy.screening", "contraindicated", tenant=_tenant("北京旷视科技有限公司")),
    # F8: a swapped pair in a short distinctive word; a plural generic word
    Case("f8-hauwei", "policy.screening", "warning", tenant=_tenant("Hauwei Technologies Co., Ltd.")),
    Case("f8-hikvison", "policy.screening", "warning", tenant=_tenant("Hikvison")),
    Case("f8-megvii-plural", "policy.screening", "contraindicated", tenant=_tenant("Megvii Technologies Limited")),
    Case("minor-huawei-cloud-plural", "policy.screening", "contraindicated", tenant=_tenant("Huawei Cloud Computing Technologies"), expect="exactly"),
    # The second review of issue 18. F2: multi-character look-alikes; F3: ASCII legal forms split in
    # words; F4: a near match of a refused entry is a possible match; F5: a list country written as a name
    Case("r2-f2-carnbricon", "policy.screening", "contraindicated", tenant=_tenant("Carnbricon Technologies Corporation Limited", "US")),
    Case("r2-f2-huavvei-parent", "policy.screening", "contraindicated", tenant=_tenant("Bluefin Compute Pte. Ltd.", "SG", ("Hua\\/\\/ei Technologies Co., Ltd.", "US"))),
    Case("r2-f3-sa-de-cv", "policy.screening", "contraindicated", tenant=_tenant("Aletra General Trading S.A. de C.V.", "AE")),
    Case("r2-f3-dmcc", "policy.screening", "contraindicated", tenant=_tenant("Centre Bright Electronics DMCC", "AE")),
    Case("r2-f4-brand-inside", "policy.screening", "warning", tenant=_tenant("Moore Threads Technology", "US"), expect="possible match"),
    Case("r2-f5-macau", "policy.screening", "contraindicated", tenant=_tenant("BAIA CONSULTING LIMITED", "SG"), expect="listed in MO"),
]
CONTROL = Case("control", "", "affirming", site=SG, operator=("Example Cloud Pte. Ltd.", "SG"))
ORDER = ["none", "info", "affirming", "warning", "contraindicated"]


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "attest.cli.main", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def signed_case(
    root: Path,
    env: dict[str, str],
    case: str,
    tenant: dict[str, Any],
    site: tuple[str, float, float],
    operator: tuple[str, str],
    accuracy: float = 500,
) -> str:
    """A node of its own under ``root/case``, trusted in ``root/trust.json``, signing one manifest through the CLI.

    Returns the envelope's path relative to ``root``.
    """
    d = root / case
    d.mkdir()
    country, lat, lon = site
    (d / "site.json").write_text(json.dumps({"facility_id": "dc-1", "name": "DC 1", "country": country, "latitude": lat, "longitude": lon, "accuracy": accuracy}))
    (d / "tenant.json").write_text(json.dumps(tenant, ensure_ascii=False))
    assert _run(d, env, "keygen", "--out", "node").returncode == 0
    assert _run(d, env, "trust", "add", "node/attest.pub", "--trust", str(root / "trust.json")).returncode == 0
    made = _run(d, env, "manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", case,
                "--operator", operator[0], "--operator-country", operator[1],
                "--key", "node/attest.key", "--simulate", "h100", "-o", "m.json")
    assert made.returncode == 0, made.stderr
    assert _run(d, env, "sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json").returncode == 0
    return f"{case}/m.env.json"


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("cli-scenarios")
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(root / "no-imported-lists")  # the bundled lists, nothing a user imported
    envelopes = []
    for case in [*CASES, CONTROL]:
        envelopes.append(signed_case(root, env, case.id, case.tenant, case.site, case.operator, case.accuracy))
    out = _run(root, env, "verify", *envelopes, "--trust", "trust.json", "--policy", "us-ear", "--format", "json")
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {r["source"].split("/")[0]: r for r in results}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_is_refused_or_flagged(case: Case, verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts[case.id]
    assert ORDER.index(result["status"]) >= ORDER.index(case.severity), result
    hits = [f for f in result["findings"] if f["rule"] == case.rule and ORDER.index(f["severity"]) >= ORDER.index(case.severity)]
    assert hits, [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] != "info"]
    assert any(case.expect in f["message"] for f in hits), [f["message"] for f in hits]


def test_screening_findings_name_the_list_its_date_and_size(verdicts: dict[str, dict[str, Any]]) -> None:
    hit = next(f for f in verdicts["nsc-wuxi"]["findings"] if f["rule"] == "policy.screening" and f["evidence"]["list_source"]["name"] == "csl")
    assert "[csl of 2026-07-31, 25,921 entries]" in hit["message"]
    assert hit["evidence"]["list_source"] == {"name": "csl", "date": "2026-07-31", "entries": 25921}


def test_a_listed_parent_shows_both_countries(verdicts: dict[str, dict[str, Any]]) -> None:
    hq = next(f for f in verdicts["alibaba-parent-ky"]["findings"] if f["rule"] == "policy.headquarters")
    assert hq["evidence"]["declared_country"] == "KY" and hq["evidence"]["listed_country"] == "CN"
    assert hq["evidence"]["list_entry"]["list"] == "1260h" and "1260h of 2026-06-10, 80 entries" in hq["message"]


def test_the_control_case_stays_affirming(verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts["control"]
    # Manifests carry the real clock's time: once the bundled lists pass us-ear's age limits
    # (csl: 2027-01-27) the only other finding allowed is that warning.
    others = [f for f in result["findings"] if f["severity"] != "info" and "days old" not in f["message"]]
    assert others == [], result["findings"]
    assert result["status"] == ("affirming" if len(others) == len([f for f in result["findings"] if f["severity"] != "info"]) else "warning")
