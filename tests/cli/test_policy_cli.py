"""``attest policy`` and ``attest verify --policy`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner


def test_show_and_check(cli: CliRunner, tmp_path: Path) -> None:
    out = cli("policy", "show", check_code=0).stdout
    assert "us-ear" in out and "group D:5" in out and "[unconfirmed]" in out and "Not legal advice" in out
    shown = json.loads(cli("policy", "show", "us-ai-diffusion-2025", "--format", "json", check_code=0).stdout)
    assert shown["documents"][0]["status"] == "rescinded"
    assert cli("policy", "check", "us-ear", check_code=0).stdout.startswith("ok: us-ear")
    (tmp_path / "bad.toml").write_text('id = "x"\nversion = "1"\ntitle = = "t"\n')
    assert "line 3" in cli("policy", "check", "bad.toml", check_code=2).stderr


def test_verify_applies_us_ear_by_default(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant-cn.json").write_text(json.dumps({
        "legal_name": "Alibaba Cloud (Singapore) Pte. Ltd.", "headquarters_country": "SG",
        "ultimate_parent": {"legal_name": "Alibaba Group Holding Limited", "headquarters_country": "CN"}}))
    cli("manifest", "--site", "site.json", "--tenant", "tenant-cn.json", "--job-id", "j", "--operator", "Example Cloud Sdn. Bhd.",
        "--key", "node/attest.key", "--simulate", "h100", "-o", "m.json", check_code=0)
    cli("sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json", check_code=0)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--format", "json", check_code=3)
    result = json.loads(out.stdout)
    hq = next(f for f in result["findings"] if f["rule"] == "policy.headquarters")
    assert "Alibaba Group Holding Limited" in hq["message"] and result["trust_vector"]["tenant"] == "contraindicated"
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "none", "--format", "json", check_code=0)
    assert "policy.not_evaluated" in out.stdout
    assert "neither a file nor a bundled policy" in cli("verify", "m.env.json", "--trust", "trust.json", "--policy", "nope", check_code=2).stderr


def test_explain(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant-cn.json").write_text(json.dumps({
        "legal_name": "Zhipu AI", "headquarters_country": "CN"}))
    cli("manifest", "--site", "site.json", "--tenant", "tenant-cn.json", "--job-id", "j", "--operator", "Example Cloud Sdn. Bhd.",
        "--key", "node/attest.key", "--simulate", "h100", "-o", "m.json", check_code=0)
    cli("sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json", check_code=0)
    out = cli("policy", "explain", "m.env.json", "--trust", "trust.json", check_code=3).stdout
    assert "CONTRAINDICATED under us-ear" in out and "tenant Zhipu AI (CN: D:5, D:1, D:4)" in out
    assert "[contraindicated] policy.headquarters" in out and "[contraindicated] policy.screening" in out
    assert "[passed] policy.prohibited_hardware" in out and "to pass:" in out
