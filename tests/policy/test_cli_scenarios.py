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
CONTROL = Case("control", "", "affirming", site=SG, operator=("Example Cloud Pte. Ltd.", "SG"))
ORDER = ["none", "info", "affirming", "warning", "contraindicated"]


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "attest.cli.main", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("cli-scenarios")
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(root / "no-imported-lists")  # the bundled lists, nothing a user imported
    envelopes = []
    for case in [*CASES, CONTROL]:
        d = root / case.id
        d.mkdir()
        country, lat, lon = case.site
        (d / "site.json").write_text(json.dumps({"facility_id": "dc-1", "name": "DC 1", "country": country, "latitude": lat, "longitude": lon, "accuracy": 500}))
        (d / "tenant.json").write_text(json.dumps(case.tenant, ensure_ascii=False))
        assert _run(d, env, "keygen", "--out", "node").returncode == 0
        assert _run(d, env, "trust", "add", "node/attest.pub", "--trust", str(root / "trust.json")).returncode == 0
        made = _run(d, env, "manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", case.id,
                    "--operator", case.operator[0], "--operator-country", case.operator[1],
                    "--key", "node/attest.key", "--simulate", "h100", "-o", "m.json")
        assert made.returncode == 0, made.stderr
        assert _run(d, env, "sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json").returncode == 0
        envelopes.append(f"{case.id}/m.env.json")
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
