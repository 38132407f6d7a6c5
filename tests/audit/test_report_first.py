"""Failures first: the text summary, the JSON and the HTML report lead with what failed, grouped by cause."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.audit.scenario import AUDIT_AT, ENTITY_TENANT, write_fleet
from tests.conftest import CliRunner


def audit(cli: CliRunner, tmp_path: Path, *extra: str) -> str:
    write_fleet(tmp_path)
    out = cli("audit", "spool", "--trust", "trust.json", "--now", AUDIT_AT.isoformat(), *extra, check_code=3)
    return out.stdout


def test_text_names_failed_envelopes_first_grouped_by_cause(cli: CliRunner, tmp_path: Path) -> None:
    text = audit(cli, tmp_path)
    lines = text.splitlines()
    # gpu-01's second sequence 0 forks its chain: both branches are refused (issue 23 review F3).
    assert lines[0] == "CONTRAINDICATED: 5 of 16 envelopes and 1 fleet finding(s)"
    # Every contraindicated envelope is named, under its cause, before any warning or total.
    first_warning = next(i for i, line in enumerate(lines) if line.startswith("WARNING:"))
    head = "\n".join(lines[:first_warning])
    for name in ("gpu-00-tampered.json", "gpu-01-0.json", "gpu-01-rollback.json", "gpu-08-0.json", "gpu-08-1.json"):
        assert name in head
    assert "  policy.screening — 2 envelopes:" in head and "  signature.invalid — 1 envelope:" in head
    # The Entity-List tenant and its chips are named on the line, not left to a table.
    assert f"tenant {ENTITY_TENANT}; 8× NVIDIA H200" in head
    # 48 silent GPUs are one group with a count and the nodes they sit on, not 48 lines.
    assert "  fleet.gpu_silent — 48 fleet findings:" in text
    assert "on 6 nodes: " in text and "… and 38 more (--details lists them all)" in text
    assert sum("fleet.gpu_silent" in line for line in lines) == 1
    assert lines[-3] == "16 envelopes: 11 affirming, 5 contraindicated -> CONTRAINDICATED"
    # Last, which anchors judged them (by content; none of them custom here).
    assert lines[-1].startswith("anchors: policy us-ear@") and "catalog " in lines[-1]


def test_details_names_every_occurrence(cli: CliRunner, tmp_path: Path) -> None:
    text = audit(cli, tmp_path, "--details")
    assert "more (--details" not in text
    assert len(re.findall(r"^      gpu GPU-", text, re.M)) == 48


def test_json_carries_the_groups(cli: CliRunner, tmp_path: Path) -> None:
    obj = json.loads(audit(cli, tmp_path, "--format", "json"))
    groups = obj["failures"]
    assert [g["status"] for g in groups][:5] == ["contraindicated"] * 5
    silent = next(g for g in groups if g["rule"] == "fleet.gpu_silent")
    assert silent["count"] == 48 and silent["scope"] == "fleet" and len(silent["nodes"]) == 6
    screening = next(g for g in groups if g["rule"] == "policy.screening")
    assert screening["count"] == 2 and all(ENTITY_TENANT in i for i in screening["items"])


def test_html_leads_with_failures_and_groups_repeats(cli: CliRunner, tmp_path: Path) -> None:
    audit(cli, tmp_path, "--report", "audit.html")
    html = (tmp_path / "audit.html").read_text()
    # What failed comes before the summary tables and the details, and the navigation links to each.
    assert html.index("id='failures'") < html.index("id='summary'") < html.index("id='manifests'")
    for anchor in ("failures", "summary", "csa", "fleet", "manifests"):
        assert f"href='#{anchor}'" in html
    failures = html[html.index("id='failures'") : html.index("id='summary'")]
    assert "data-rule='policy.screening' data-count='2'" in failures
    assert ENTITY_TENANT in failures and "NVIDIA H200" in failures
    assert "data-rule='fleet.gpu_silent' data-count='48'" in failures
    # The explanation of a silent GPU is given once per group, not once per GPU.
    assert html.count("The GPU has not been listed in any manifest") == 2  # failures and fleet sections


def test_names_from_manifests_cannot_forge_or_erase_report_lines(cli: CliRunner, tmp_path: Path) -> None:
    """The audited party writes the tenant name: a newline or an ANSI escape in it stays on its line, escaped."""
    from attest.crypto.keys import SigningKey
    from attest.crypto.trust import TrustStore
    from tests.conftest import NOW, OPERATOR, SITE, Node

    key = SigningKey.generate()
    trust = TrustStore().with_key(key.public, operator=OPERATOR.name, sites=[SITE.facility_id], countries=["MY"])
    trust.save(tmp_path / "trust.json")
    node = Node(key=key, trust=trust)
    hostile = "Zhipu AI\n16 envelopes: 16 affirming -> AFFIRMING\x1b[2K\r\x9b1A"
    (tmp_path / "spool").mkdir()
    m = node.manifest(tenant={"legal_name": hostile, "headquarters_country": "CN"})
    (tmp_path / "spool" / "a.json").write_bytes(node.envelope(m))
    out = cli("audit", "spool", "--trust", "trust.json", "--now", NOW.isoformat(), check_code=3).stdout
    assert "\x1b" not in out and "\r" not in out and "\x9b" not in out
    assert not any(line.startswith("16 envelopes") for line in out.splitlines())
    assert "Zhipu AI\\x0a16 envelopes" in out
    shown = cli("inspect", "spool/a.json", check_code=0).stdout
    assert "\x1b" not in shown and "\x9b" not in shown and "\r" not in shown
