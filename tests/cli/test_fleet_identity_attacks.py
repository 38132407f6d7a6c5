"""Review finding: the audit's chip registry and fleet checks trusted declared UUIDs and serials.

Eight real GPUs, bound once, listed under sixteen declared serials in two hardware-bound
manifests, made all sixteen registered chips look present. Through the real CLI only: the
devices' certificates show eight chips, and the audit says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_evidence_attacks import bind, envelope, lab, pin
from tests.conftest import CliRunner

__all__ = ["lab"]  # the fixture, imported for pytest


def _collect(cli: CliRunner, seed: str) -> dict[str, object]:
    evidence: dict[str, object] = json.loads(cli("collect", "--simulate", "h100", "--seed", seed, check_code=0).stdout)
    return evidence


def _gpus(doc: dict[str, object]) -> list[dict[str, str]]:
    gpus = doc["gpus"]
    assert isinstance(gpus, list)
    return gpus


def _audit(cli: CliRunner, lab: Path, names: list[str], code: int, *extra: str) -> dict[str, object]:
    spool = lab / "spool"
    spool.mkdir(exist_ok=True)
    for name in names:
        (spool / name).write_bytes((lab / name).read_bytes())
    out = cli("audit", "spool", "--trust", "trust.json", *pin(lab), *extra, "--format", "json", check_code=code)
    report: dict[str, object] = json.loads(out.stdout)
    return report


def _fleet(report: dict[str, object], rule: str) -> list[dict[str, object]]:
    fleet = report["fleet_findings"]
    assert isinstance(fleet, list)
    return [f for f in fleet if f["rule"] == rule]


def _registry(lab: Path, serials: list[str]) -> None:
    (lab / "reg.csv").write_text("serial,uuid,site\n" + "".join(f"{s},,jhb-2\n" for s in serials))


def test_eight_gpus_under_sixteen_declared_serials_are_eight_chips(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    real, other = _collect(cli, "n1"), _collect(cli, "other-node")
    # The same eight GPUs, declared under another node's UUIDs and serials, and a copy of the
    # binding whose (unsigned) UUIDs follow them.
    swapped = json.loads(json.dumps(real))
    binding = json.loads((lab / "binding.json").read_text())
    for g, o, b in zip(_gpus(swapped), _gpus(other), binding["gpus"], strict=True):
        g["uuid"], g["serial"], b["uuid"] = o["uuid"], o["serial"], o["uuid"]
    (lab / "sw.json").write_text(json.dumps(swapped))
    (lab / "sw-binding.json").write_text(json.dumps(binding))
    m1 = envelope(cli, "m1", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json")
    m2 = envelope(cli, "m2", "my", ["--simulate", "sw.json", "--after", "m1.json"], "sw-binding.json")
    serials = [g["serial"] for g in _gpus(real) + _gpus(other)]
    assert len(set(serials)) == 16
    _registry(lab, serials)
    report = _audit(cli, lab, [m1, m2], 3, "--registry", "reg.csv")
    changed = _fleet(report, "fleet.gpu_identity_changed")
    assert len(changed) == 8 and all(f["severity"] == "contraindicated" for f in changed)
    for f in changed:
        evidence = f["evidence"]
        assert isinstance(evidence, dict) and len(evidence["serials"]) == 2 and len(evidence["uuids"]) == 2
    # None of the sixteen is shown present: each was worn by a device that also wore another.
    not_seen = _fleet(report, "registry.not_seen")
    assert {f["evidence"]["chip"] for f in not_seen} == set(serials)  # type: ignore[index]
    assert all("also wore other UUIDs or serials" in str(f["message"]) for f in not_seen)
    # The honest manifest alone: eight chips, each under one identity, proven by its device.
    (lab / "spool" / m2).unlink()
    _registry(lab, [g["serial"] for g in _gpus(real)])
    honest = _audit(cli, lab, [m1], 0, "--registry", "reg.csv")
    assert not _fleet(honest, "fleet.gpu_identity_changed") and not _fleet(honest, "registry.not_seen")
    assert not _fleet(honest, "registry.declared_only")


def test_the_other_eight_serials_in_a_declared_manifest_do_not_affirm(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    real, other = _collect(cli, "n1"), _collect(cli, "other-node")
    swapped = json.loads(json.dumps(real))
    for g, o in zip(_gpus(swapped), _gpus(other), strict=True):
        g["uuid"], g["serial"] = o["uuid"], o["serial"]
    (lab / "sw.json").write_text(json.dumps(swapped))
    m1 = envelope(cli, "m1", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json")
    # The same node key, the same eight GPUs under the other serials, and no binding: declared grade.
    cli("manifest", "--site", "my.json", "--tenant", "tenant.json", "--job-id", "m2", "--operator", "Example Cloud Sdn. Bhd.",
        "--key", "node/attest.key", "--simulate", "sw.json", "--after", "m1.json", "-o", "m2.json", check_code=0)
    cli("sign", "m2.json", "--key", "node/attest.key", "-o", "m2.env.json", check_code=0)
    fake = [g["serial"] for g in _gpus(other)]
    _registry(lab, [g["serial"] for g in _gpus(real)] + fake)
    report = _audit(cli, lab, [m1, "m2.env.json"], 1, "--registry", "reg.csv")
    [declared] = _fleet(report, "registry.declared_only")
    assert declared["severity"] == "warning" and sorted(declared["evidence"]["chips"]) == sorted(fake)  # type: ignore[index]


def test_one_declared_uuid_worn_by_two_devices_is_contraindicated(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    # Another node's eight GPUs (other devices) declared under the first node's UUIDs and serials.
    cli("bind", "--key", "node2/attest.key", "--simulate", "h100", "--seed", "n2", "--cc-sim", "vendor",
        "--challenge", "challenge.json", "-o", "b2.json", check_code=0)
    real, n2 = _collect(cli, "n1"), _collect(cli, "n2")
    b2 = json.loads((lab / "b2.json").read_text())
    for g, r, b in zip(_gpus(n2), _gpus(real), b2["gpus"], strict=True):
        g["uuid"], g["serial"], b["uuid"] = r["uuid"], r["serial"], r["uuid"]
    (lab / "n2.json").write_text(json.dumps(n2))
    (lab / "b2.json").write_text(json.dumps(b2))
    a = envelope(cli, "a", "my", ["--simulate", "h100", "--seed", "n1"], "binding.json", host="gpu-01")
    b = envelope(cli, "b", "my", ["--simulate", "n2.json"], "b2.json", key="node2", host="gpu-02")
    report = _audit(cli, lab, [a, b], 3)
    reused = _fleet(report, "fleet.gpu_identity_reused")
    assert len(reused) == 16 and all(f["severity"] == "contraindicated" for f in reused)  # 8 UUIDs, 8 serials


def test_registry_findings_on_declared_identities_say_declared(lab: Path, cli: CliRunner) -> None:
    bind(cli)  # the simulated vendor the audit pins; the manifest itself carries no binding
    cli("manifest", "--site", "my.json", "--tenant", "tenant.json", "--job-id", "d", "--operator", "Example Cloud Sdn. Bhd.",
        "--key", "node/attest.key", "--simulate", "h100", "--seed", "n1", "-o", "d.json", check_code=0)
    cli("sign", "d.json", "--key", "node/attest.key", "-o", "d.env.json", check_code=0)
    serials = [g["serial"] for g in _gpus(_collect(cli, "n1"))]
    (lab / "reg.csv").write_text("serial,uuid,site\n" + "".join(f"{s},,jhb-2\n" for s in serials[:7]) + f"{serials[7]},,sin-1\n")
    report = _audit(cli, lab, ["d.env.json"], 3, "--registry", "reg.csv")
    [info] = _fleet(report, "registry.declared_only")
    assert info["severity"] == "warning" and "declared" in str(info["message"]) and info["evidence"]["count"] == 8  # type: ignore[index]
    [wrong] = _fleet(report, "registry.wrong_site")
    assert "declared (no verified device certificate)" in str(wrong["message"]) and wrong["evidence"]["grade"] == "declared"  # type: ignore[index]


def test_a_binding_that_matches_no_gpu_is_refused(lab: Path, cli: CliRunner) -> None:
    bind(cli)
    out = cli("manifest", "--site", "my.json", "--tenant", "tenant.json", "--job-id", "x", "--operator", "Example Cloud Sdn. Bhd.",
              "--key", "node/attest.key", "--simulate", "h100", "--seed", "other-node", "--binding", "binding.json",
              "-o", "x.json", check_code=2)
    assert "none of this host's GPUs" in out.stderr and not (lab / "x.json").exists()
    # Some of the binding's GPUs missing from the host: signed, with a warning naming each.
    evidence = _collect(cli, "n1")
    evidence["gpus"] = _gpus(evidence)[:6]
    (lab / "six.json").write_text(json.dumps(evidence))
    out = cli("manifest", "--site", "my.json", "--tenant", "tenant.json", "--job-id", "y", "--operator", "Example Cloud Sdn. Bhd.",
              "--key", "node/attest.key", "--simulate", "six.json", "--binding", "binding.json", "-o", "y.json", check_code=0)
    assert out.stderr.count("is not on this host") == 2


def test_a_gpu_under_one_chips_uuid_and_another_chips_serial_proves_neither(lab: Path, cli: CliRunner) -> None:
    # A review of the change: the real UUIDs (which the binding covers), another node's serials beside
    # them, all sixteen chips registered by serial and UUID: eight GPUs showed sixteen chips present.
    bind(cli)
    real, other = _collect(cli, "n1"), _collect(cli, "other-node")
    mixed = json.loads(json.dumps(real))
    for g, o in zip(_gpus(mixed), _gpus(other), strict=True):
        g["serial"] = o["serial"]
    (lab / "mx.json").write_text(json.dumps(mixed))
    m = envelope(cli, "m1", "my", ["--simulate", "mx.json"], "binding.json")
    rows = [f"{g['serial']},{g['uuid']},jhb-2\n" for g in _gpus(real) + _gpus(other)]
    (lab / "reg.csv").write_text("serial,uuid,site\n" + "".join(rows))
    report = _audit(cli, lab, [m], 3, "--registry", "reg.csv")
    mismatch = _fleet(report, "registry.identity_mismatch")
    assert len(mismatch) == 8 and all(f["severity"] == "contraindicated" for f in mismatch)
    not_seen = _fleet(report, "registry.not_seen")
    assert len(not_seen) == 16  # none of the sixteen is shown present by a GPU that is one chip
