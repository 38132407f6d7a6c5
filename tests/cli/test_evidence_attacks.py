"""Issue 17's attacks, through the real CLI only: none of them earns hardware-bound (or affirming)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import CLI_OPERATOR, CLI_TENANT, CliRunner

VN_SITE = {
    "facility_id": "hcm-1",
    "name": "Ho Chi Minh City DC 1",
    "country": "VN",
    "latitude": 10.78,
    "longitude": 106.70,
    "accuracy": 500,
}
MY_SITE = {
    "facility_id": "jhb-2",
    "name": "Johor DC 2",
    "country": "MY",
    "latitude": 1.6561,
    "longitude": 103.6032,
    "accuracy": 500,
}
SG_SITE = {
    "facility_id": "sin-1",
    "name": "Singapore DC 1",
    "country": "SG",
    "latitude": 1.29,
    "longitude": 103.85,
    "accuracy": 500,
}


@pytest.fixture
def lab(tmp_path: Path, cli: CliRunner) -> Path:
    """A challenger, a simulated vendor, two node keys trusted for MY, SG and VN, and site files."""
    for name, site in (("vn", VN_SITE), ("my", MY_SITE), ("sg", SG_SITE)):
        (tmp_path / f"{name}.json").write_text(json.dumps(site))
    (tmp_path / "tenant.json").write_text(json.dumps(CLI_TENANT))
    for name in ("challenger", "node", "node2"):
        cli("keygen", "--out", name, check_code=0)
    cli("trust", "add", "challenger/attest.pub", "--challenger", "--trust", "trust.json", check_code=0)
    for name in ("node", "node2"):
        cli(
            "trust",
            "add",
            f"{name}/attest.pub",
            "--trust",
            "trust.json",
            "--operator",
            CLI_OPERATOR,
            check_code=0,
        )
    cli("challenge", "issue", "--key", "challenger/attest.key", "-o", "challenge.json", check_code=0)
    return tmp_path


def pin(lab: Path) -> list[str]:
    from attest.hardware.simulated_cc import SimulatedCcBackend

    vendor = SimulatedCcBackend(lab / "vendor")
    return [
        "--cc-root",
        "vendor/root.pem",
        "--cc-root-sha256",
        vendor.root_sha256,
        # The vendor's RIMs (attest bind --cc-sim publishes them): measurements appraised too.
        "--rims",
        "vendor/rims",
        "--rim-root",
        "vendor/rim_root.pem",
        "--rim-root-sha256",
        vendor.rim_root_sha256,
    ]


def bind(
    cli: CliRunner,
    key: str = "node",
    out: str = "binding.json",
    *extra: str,
    challenge: str = "challenge.json",
) -> None:
    cli(
        "bind",
        "--key",
        f"{key}/attest.key",
        "--simulate",
        "h100",
        "--seed",
        "n1",
        "--cc-sim",
        "vendor",
        "--challenge",
        challenge,
        "-o",
        out,
        *extra,
        check_code=0,
    )


def envelope(
    cli: CliRunner,
    name: str,
    site: str,
    evidence: list[str],
    binding: str,
    key: str = "node",
    host: str = "gpu-01",
) -> str:
    cli(
        "manifest",
        "--site",
        f"{site}.json",
        "--tenant",
        "tenant.json",
        "--job-id",
        name,
        "--operator",
        CLI_OPERATOR,
        "--key",
        f"{key}/attest.key",
        *evidence,
        "--hostname",
        host,
        "--binding",
        binding,
        "-o",
        f"{name}.json",
        check_code=0,
    )
    cli("sign", f"{name}.json", "--key", f"{key}/attest.key", "-o", f"{name}.env.json", check_code=0)
    return f"{name}.env.json"


def verdict(
    cli: CliRunner, lab: Path, *envelopes: str, code: int | None = None, extra: tuple[str, ...] = ()
) -> list[dict[str, object]]:
    out = cli(
        "verify", *envelopes, "--trust", "trust.json", *pin(lab), "--format", "json", *extra, check_code=code
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def rules(result: dict[str, object]) -> set[str]:
    return {f["rule"] for f in result["findings"]}  # type: ignore[attr-defined, index]


def test_honest_binding_is_hardware_bound(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    [r] = verdict(
        cli, lab, envelope(cli, "ok", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json"), code=0
    )
    assert r["location_grade"] == "hardware-bound"


def test_a_h100_declared_as_h20_in_vietnam_is_not_affirming(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    evidence = json.loads(cli("collect", "--simulate", "h100", "--seed", "n1", check_code=0).stdout)
    for g in evidence["gpus"]:
        g["name"], g["pci"]["device_id"] = "NVIDIA H20", "0x232910de"
    (lab / "h20.json").write_text(json.dumps(evidence))
    [r] = verdict(cli, lab, envelope(cli, "h20", "vn", ["--simulate", "h20.json"], "binding.json"), code=3)
    assert "hardware.model_mismatch" in rules(r) and r["location_grade"] == "declared"
    # Only the PCI id changed (the H100 name kept): caught without any GPU evidence at all.
    for g in evidence["gpus"]:
        g["name"] = "NVIDIA H100 80GB HBM3"
    (lab / "pci.json").write_text(json.dumps(evidence))
    out = cli(
        "verify",
        envelope(cli, "pci", "vn", ["--simulate", "pci.json"], "binding.json"),
        "--trust",
        "trust.json",
        "--format",
        "json",
        check_code=3,
    )
    assert "hardware.model_mismatch" in out.stdout


def test_b_one_set_of_gpus_bound_to_two_keys(lab: Path, cli: CliRunner) -> None:
    bind(cli, "node", "a.json")
    bind(cli, "node2", "b.json")
    # The second node declares different UUIDs for the same GPUs.
    evidence = json.loads(cli("collect", "--simulate", "h100", "--seed", "n1", check_code=0).stdout)
    binding = json.loads((lab / "b.json").read_text())
    for g, b in zip(evidence["gpus"], binding["gpus"], strict=True):
        g["uuid"] = b["uuid"] = f"GPU-{uuid.uuid4()}"
    (lab / "b-gpus.json").write_text(json.dumps(evidence))
    (lab / "b.json").write_text(json.dumps(binding))
    a = envelope(cli, "a", "my", ["--simulate", "h100", "--seed", "n1"], "a.json", host="jhb-gpu-01")
    b = envelope(cli, "b", "sg", ["--simulate", "b-gpus.json"], "b.json", key="node2", host="sgp-gpu-01")
    verdict(cli, lab, a, code=0)
    verdict(cli, lab, b, code=0)  # each alone looks fine
    ra, rb = verdict(cli, lab, a, b, code=3)
    # The one verified second (envelopes go in node-key order) carries the finding.
    finding = next(f for r in (ra, rb) for f in r["findings"] if f["rule"] == "hardware.gpu_two_nodes")  # type: ignore[attr-defined]
    assert set(finding["evidence"]["keys"]) == {ra["key_id"], rb["key_id"]}
    assert re.search(r"8 GPU\(s\)", finding["message"])
    (lab / "spool").mkdir()
    for name in (a, b):
        (lab / "spool" / name).write_bytes((lab / name).read_bytes())
    out = cli("audit", "spool", "--trust", "trust.json", *pin(lab), "--format", "json", check_code=3)
    fleet = json.loads(out.stdout)["fleet_findings"]
    clash = next(f for f in fleet if f["rule"] == "fleet.gpu_two_nodes")
    assert (
        set(clash["evidence"]["keys"]) == {ra["key_id"], rb["key_id"]}
        and len(clash["evidence"]["devices"]) == 8
    )
    # Admission refuses both nodes, whichever is asked for and whichever key sorts first (red team:
    # `admit --nodes B` verified only that node's evidence and allowed it; without --nodes
    # only the node verified second was quarantined). Each run reads a fresh copy of the spool.
    both = sorted({str(ra["node"]), str(rb["node"])})
    assert len(both) == 2
    for nodes in (["--nodes", both[0]], ["--nodes", both[1]], []):
        spool = lab / f"spool-{len(nodes)}-{nodes[-1] if nodes else 'all'}"
        spool.mkdir()
        for name in (a, b):
            (spool / name).write_bytes((lab / name).read_bytes())
        out = cli(
            "admit",
            "--tenant",
            "tenant.json",
            "--evidence",
            spool.name,
            "--trust",
            "trust.json",
            *pin(lab),
            *nodes,
            "--gpus",
            "8",
            "--format",
            "json",
            check_code=3,
        )
        decision = json.loads(out.stdout)
        judged = {n["node"]: n for n in decision["nodes"]}
        hosts = [nodes[1]] if nodes else both
        assert sorted(judged) == sorted(hosts), decision
        for host in hosts:
            assert not judged[host]["allowed"] and "hardware.gpu_two_nodes" in judged[host]["message"], decision
        assert not decision["allowed"]


def test_d_a_binding_older_than_the_policy_allows_is_not_hardware_bound(lab: Path, cli: CliRunner) -> None:
    cli(
        "challenge",
        "issue",
        "--key",
        "challenger/attest.key",
        "--now",
        "2026-01-01T00:00:00Z",
        "-o",
        "old.json",
        check_code=0,
    )
    bind(cli, challenge="old.json")
    [r] = verdict(
        cli, lab, envelope(cli, "old", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json"), code=1
    )
    assert "hardware.binding_stale" in rules(r) and r["location_grade"] == "declared"


def test_a_binding_without_a_challenge_is_not_hardware_bound(lab: Path, cli: CliRunner) -> None:
    out = cli(
        "bind",
        "--key",
        "node/attest.key",
        "--simulate",
        "h100",
        "--seed",
        "n1",
        "--cc-sim",
        "vendor",
        "-o",
        "binding.json",
        check_code=0,
    )
    assert "undated" in out.stderr
    [r] = verdict(
        cli,
        lab,
        envelope(cli, "undated", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json"),
        code=1,
    )
    assert "hardware.binding_not_fresh" in rules(r) and r["location_grade"] == "declared"


def test_e_revoked_certificate_with_ocsp_omitted_is_not_hardware_bound(lab: Path, cli: CliRunner) -> None:
    bind(cli)  # makes the simulated devices
    gpu0 = json.loads((lab / "binding.json").read_text())["gpus"][0]["uuid"]
    cli("gpu", "revoke", "--cc-sim", "vendor", gpu0, check_code=0)
    bind(cli, "node", "with-ocsp.json")
    [r] = verdict(
        cli,
        lab,
        envelope(cli, "revoked", "my", ["--simulate", "h100", "--seed", "n1"], "with-ocsp.json"),
        code=3,
    )
    assert "hardware.cc.revoked" in rules(r)
    bind(cli, "node", "no-ocsp.json", "--no-ocsp")
    name = envelope(cli, "omitted", "my", ["--simulate", "h100", "--seed", "n1"], "no-ocsp.json")
    [r] = verdict(cli, lab, name, code=1)
    assert "hardware.cc.revocation_missing" in rules(r) and r["location_grade"] == "declared"
    # A verifier that fetches the status itself (the simulated vendor's OCSP responder) finds the revocation.
    import subprocess
    import sys

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "attest.cli.main",
            "gpu",
            "ocsp-serve",
            "--cc-sim",
            "vendor",
            "--listen",
            "127.0.0.1:0",
        ],
        cwd=lab,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["ocsp"]
        [r] = verdict(cli, lab, name, code=3, extra=("--online", "--ocsp-url", url))
        assert "hardware.cc.revoked" in rules(r)
    finally:
        server.terminate()
        server.wait(10)
    # A lab may opt out explicitly; revocation then goes unchecked and says so nowhere as a pass.
    [r] = verdict(cli, lab, name, code=0, extra=("--allow-no-revocation",))
    assert r["location_grade"] == "hardware-bound"


def test_cli_refuses_bad_challenge_input(lab: Path, cli: CliRunner) -> None:
    (lab / "bad.json").write_text('{"challenge": 1}')
    out = cli(
        "bind",
        "--key",
        "node/attest.key",
        "--simulate",
        "h100",
        "--cc-sim",
        "vendor",
        "--challenge",
        "bad.json",
        check_code=2,
    )
    assert "challenge" in out.stderr
    out = cli("trust", "add", "node/attest.pub", "--challenger", "--trust", "trust.json", check_code=2)
    assert "node key" in out.stderr
    out = cli("verify", "x.json", "--trust", "trust.json", "--ocsp-url", "http://127.0.0.1:1/", check_code=2)
    assert "--online" in out.stderr


def test_a_mistyped_root_pin_is_a_usage_error(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    out = cli("verify", "x.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", "zz", check_code=2)
    assert "SHA-256 fingerprint" in out.stderr


def _by_digest(lab: Path, cli: CliRunner, full: str, name: str, key: str = "node") -> str:
    """A heartbeat signed by ``key`` whose GPUs name ``full``'s evidence by digest (Gpu.cc_evidence_ref)."""
    from attest.crypto.canonical import json_digest

    own = key == "node"  # another key's manifest carries no binding of its own (attest manifest refuses it)
    cli(
        "manifest", "--site", "my.json", "--tenant", "tenant.json", "--job-id", name, "--operator", CLI_OPERATOR,
        "--key", f"{key}/attest.key", "--simulate", "h100", "--seed", "n1", "--hostname", "gpu-01",
        *(["--binding", "binding.json", "--after", full] if own else []), "-o", f"{name}.json", check_code=0,
    )  # fmt: skip
    m = json.loads((lab / f"{name}.json").read_text())
    evidence = [g["cc_evidence"] for g in json.loads((lab / full).read_text())["gpus"]]
    for g, ev in zip(m["gpus"], evidence, strict=True):
        g.pop("cc_evidence", None)
        g["cc_evidence_ref"] = json_digest(ev)
    (lab / f"{name}.json").write_text(json.dumps(m))
    cli("sign", f"{name}.json", "--key", f"{key}/attest.key", "-o", f"{name}.env.json", check_code=0)
    return f"{name}.env.json"


def test_a_heartbeat_naming_its_binding_by_digest(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    full = envelope(cli, "full", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json")
    hb = _by_digest(lab, cli, "full.json", "hb")
    assert (lab / hb).stat().st_size * 5 < (lab / full).stat().st_size
    # Alone, nothing resolves the digest: refused (contraindicated), the digest named.
    [alone] = verdict(cli, lab, hb, code=3)
    assert alone["status"] == "contraindicated" and alone["location_grade"] == "declared"
    unknown = next(f for f in alone["findings"] if f["rule"] == "hardware.cc.evidence_unknown")  # type: ignore[attr-defined]
    m = json.loads((lab / "hb.json").read_text())
    assert m["gpus"][0]["cc_evidence_ref"] in unknown["message"]
    # After the full binding, in the same call: resolved and checked, hardware-bound.
    rf, rh = verdict(cli, lab, full, hb, code=0)
    assert rf["location_grade"] == rh["location_grade"] == "hardware-bound", rh["findings"]


def test_a_thief_naming_anothers_verified_binding_by_digest(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    full = envelope(cli, "full", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json")
    stolen = _by_digest(lab, cli, "full.json", "stolen", key="node2")  # node2 signs node's evidence digests
    results = verdict(cli, lab, full, stolen, code=3)
    thief = next(r for r in results if r["source"] == stolen)
    assert thief["status"] == "contraindicated" and thief["location_grade"] == "declared"
    # Envelopes go in node-key order: verified after the genuine one, the digests resolve and the reports
    # fail for the thief's key; verified before it, they resolve to nothing. Refused either way
    # (tests/hardware/test_binding_cache.py pins the first case).
    assert rules(thief) & {"hardware.cc.nonce_mismatch", "hardware.cc.evidence_unknown"}
