"""A licence covers the party it names, and a verdict that rests on a licence says so (real CLI).

Review finding: a licence held by the tenant's *declared* ultimate parent covered a tenant
headquartered in China, and the verdict read as a plain pass of ``policy.headquarters``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner, make_envelope

PEARL_RIVER = {
    "legal_name": "Pearl River Intelligence Co., Ltd.",
    "headquarters_country": "CN",
    "ultimate_parent": {"legal_name": "Example Holdings, Inc", "headquarters_country": "US"},
}


def _policy(workspace: Path, holder: str, extra: str = "") -> None:
    (workspace / "pol3.toml").write_text(
        'id = "pol3"\nversion = "1"\ntitle = "pol3"\neffective = 2026-01-01\nextends = ["us-ear"]\n\n'
        f'[[licenses]]\nid = "D123456"\nholder = "{holder}"\ndestinations = ["MY"]\nitems = ["3A090.a"]\n{extra}'
    )


def _verify(cli: CliRunner, code: int) -> dict[str, object]:
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "pol3.toml", "--format", "json", check_code=code)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _headquarters(result: dict[str, object]) -> dict[str, object]:
    findings = result["findings"]
    assert isinstance(findings, list)
    found = [f for f in findings if f["rule"] == "policy.headquarters"]
    assert len(found) == 1, found
    hq: dict[str, object] = found[0]
    return hq


def test_a_licence_of_the_declared_parent_does_not_cover_the_tenant(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant.json").write_text(json.dumps(PEARL_RIVER))
    _policy(workspace, "Example Holdings Inc.")
    make_envelope(cli, "m", "--license", "license:D123456")
    result = _verify(cli, 3)
    assert result["status"] == "contraindicated"
    hq = _headquarters(result)
    assert hq["severity"] == "contraindicated"
    assert "the tenant's declared parent" in str(hq["message"]) and "covers_subsidiaries" in str(hq["message"])


def test_a_licence_that_extends_to_subsidiaries_covers_them_and_says_so(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant.json").write_text(json.dumps(PEARL_RIVER))
    _policy(workspace, "Example Holdings Inc.", "covers_subsidiaries = true\n")
    make_envelope(cli, "m", "--license", "license:D123456")
    result = _verify(cli, 0)
    assert result["status"] == "affirming"
    hq = _headquarters(result)
    assert hq["severity"] == "info"
    message = str(hq["message"])
    assert message.startswith("passed on a licence")
    assert "Pearl River Intelligence Co., Ltd." in message and "D:5" in message and "D123456" in message
    evidence = hq["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["party"] == "Pearl River Intelligence Co., Ltd." and evidence["country"] == "CN"
    assert evidence["license"]["id"] == "D123456" and evidence["license"]["covers_subsidiaries"] is True
    text = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "pol3.toml", check_code=0)
    assert "passed on a licence" in text.stdout
    shown = cli("policy", "show", "pol3.toml", check_code=0)
    assert "D123456 (BIS) for Example Holdings Inc. and its subsidiaries" in shown.stdout


def test_a_licence_held_by_the_tenant_covers_it_and_the_verdict_names_it(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant.json").write_text(json.dumps(PEARL_RIVER))
    _policy(workspace, "Pearl River Intelligence Co., Ltd.")
    make_envelope(cli, "m", "--license", "license:D123456")
    hq = _headquarters(_verify(cli, 0))
    assert hq["severity"] == "info" and "D123456" in str(hq["message"]) and "Pearl River" in str(hq["message"])
    # Without the reference the same tenant is contraindicated: the licence is what the pass rests on.
    make_envelope(cli, "m")
    assert _headquarters(_verify(cli, 3))["severity"] == "contraindicated"
