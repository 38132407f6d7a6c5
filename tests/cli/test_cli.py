"""The ``attest`` command as a user runs it: real subprocesses, real files, exit codes."""

from __future__ import annotations

import json
import re
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import CLI_SITE, CliRunner, make_envelope


def test_keygen_files_and_modes(tmp_path: Path, cli: CliRunner) -> None:
    for alg in ("ed25519", "p256", "p384"):
        out = cli("keygen", "--out", alg, "--algorithm", alg, "--format", "json", check_code=0)
        info = json.loads(out.stdout)
        assert info["algorithm"].endswith(alg.replace("p", "p", 1)) and len(info["key_id"]) == 64
        assert stat.S_IMODE((tmp_path / alg / "attest.key").stat().st_mode) == 0o600
        assert (tmp_path / alg / "attest.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
        assert "PRIVATE" not in out.stdout + out.stderr
    again = cli("keygen", "--out", "ed25519", check_code=2)
    assert "refusing to overwrite" in again.stderr
    bad = cli("keygen", "--out", "x", "--algorithm", "rsa", check_code=2)
    assert "invalid choice: 'rsa'" in bad.stderr


def test_sign_and_verify_end_to_end(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--format", "json", check_code=0)
    result = json.loads(out.stdout)
    assert result["status"] == "affirming" and result["key_id"] and result["subject"].startswith("sha256:")
    assert {"rule", "severity", "message"} <= set(result["findings"][0])
    text = cli("verify", "m.env.json", "--trust", "trust.json", check_code=0)
    assert "m.env.json: AFFIRMING" in text.stdout and "node " in text.stdout


def test_tampered_envelope_exits_3(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    raw = bytearray((workspace / "m.env.json").read_bytes())
    raw[200] = ord("A") if raw[200] != ord("A") else ord("B")
    (workspace / "bad.env.json").write_bytes(bytes(raw))
    out = cli("verify", "bad.env.json", "--trust", "trust.json", check_code=3)
    assert "CONTRAINDICATED" in out.stdout


def test_several_inputs_give_json_lines_and_worst_exit_code(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli, "a")
    make_envelope(cli, "b", "--after", "a.json")
    out = cli("verify", "b.env.json", "a.env.json", "--trust", "trust.json", "--format", "json", check_code=0)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["source"] for r in lines] == ["b.env.json", "a.env.json"]
    assert [r["sequence"] for r in lines] == [1, 0]
    # The same envelope twice, or under another name, in one call without --state: the same
    # manifest seen again (as with --state), not a replay; another payload with its nonce is one.
    (workspace / "copy.env.json").write_bytes((workspace / "a.env.json").read_bytes())
    nonce = json.loads((workspace / "a.json").read_text())["freshness"]["nonce"]
    make_envelope(cli, "twin", "--nonce", nonce, "--after", "a.json")  # not a fork of a: a replay of its nonce
    for files in (["a.env.json", "a.env.json"], ["a.env.json", "copy.env.json"], ["copy.env.json", "a.env.json"]):
        out = cli("verify", *files, "--trust", "trust.json", "--format", "json", check_code=0)
        results = [json.loads(line) for line in out.stdout.splitlines()]
        assert [r["status"] for r in results] == ["affirming"] * 2
        rules = [{f["rule"] for f in r["findings"]} for r in results]
        assert "freshness.seen_before" not in rules[0] and "freshness.seen_before" in rules[1]
        assert not (rules[0] | rules[1]) & {"freshness.nonce_reused", "chain.fork", "chain.sequence_rollback"}
    out = cli("verify", "a.env.json", "twin.env.json", "a.env.json", "--trust", "trust.json", "--format", "json", check_code=3)
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["status"] for r in results] == ["affirming", "contraindicated", "affirming"]
    assert "freshness.nonce_reused" in {f["rule"] for f in results[1]["findings"]}


def test_state_file_remembers_across_runs(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    cli("verify", "m.env.json", "--trust", "trust.json", "--state", "v.db", check_code=0)
    # The same envelope again is the same manifest (tests/log/test_reverify.py has the rest) ...
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--state", "v.db", check_code=0)
    assert "freshness.nonce_reused" not in out.stdout
    # ... another one reusing its nonce, in a later run, is a replay.
    nonce = json.loads((workspace / "m.json").read_text())["freshness"]["nonce"]
    make_envelope(cli, "twin", "--nonce", nonce)
    out = cli("verify", "twin.env.json", "--trust", "trust.json", "--state", "v.db", check_code=3)
    assert "freshness.nonce_reused" in out.stdout


def test_expired_by_clock(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--now", "2099-01-01T00:00:00Z", check_code=3)
    assert "freshness.expired" in out.stdout


def test_warning_exits_1(workspace: Path, cli: CliRunner) -> None:
    # attest manifest refuses a window verifiers would not accept; a manifest made otherwise is a warning.
    out = cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op",
              "--key", "node/attest.key", "--simulate", "h100", "--valid-for", str(3 * 86400), check_code=2)
    assert "--valid-for 259200: must be between 1 and 86400" in out.stderr
    make_envelope(cli, "m")
    doc = json.loads((workspace / "m.json").read_text())
    issued = datetime.fromisoformat(doc["freshness"]["issued_at"].replace("Z", "+00:00"))
    doc["freshness"]["expires_at"] = (issued + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (workspace / "m.json").write_text(json.dumps(doc))
    cli("sign", "m.json", "--key", "node/attest.key", "-o", "m.env.json", check_code=0)
    out = cli("verify", "m.env.json", "--trust", "trust.json", check_code=1)
    assert "freshness.window_too_long" in out.stdout


def test_revoked_and_out_of_scope(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    key_id = json.loads(cli("trust", "list", "--trust", "trust.json", "--format", "json").stdout)["keys"][0]["key_id"]
    cli("trust", "add", "node/attest.pub", "--trust", "scoped.json", "--country", "SG", check_code=0)
    out = cli("verify", "m.env.json", "--trust", "scoped.json", check_code=3)
    assert "trust.scope_country" in out.stdout
    cli("trust", "revoke", key_id[:12], "--trust", "trust.json", check_code=0)
    listing = cli("trust", "list", "--trust", "trust.json", check_code=0)
    assert "REVOKED" in listing.stdout
    out = cli("verify", "m.env.json", "--trust", "trust.json", check_code=3)
    assert "trust.key_revoked" in out.stdout


def test_unreadable_inputs_exit_2(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("verify", "missing.json", "--trust", "trust.json", check_code=2)
    assert "envelope missing.json does not exist" in out.stderr
    out = cli("verify", "m.env.json", "missing.json", "--trust", "trust.json", check_code=2)
    assert "AFFIRMING" in out.stdout  # the readable one is still judged
    out = cli("verify", "m.env.json", "--trust", "nope.json", check_code=2)
    assert "trust store nope.json does not exist" in out.stderr
    (workspace / "tampered.json").write_text("{}")
    out = cli("verify", "m.env.json", "missing.json", "tampered.json", "--trust", "trust.json", check_code=3)  # 3 wins


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b'{"payload":"","payload":"","payloadType":"x","signatures":[]}\n', "envelope.malformed"),
        (b'{"payload":NaN}\n', "envelope.malformed"),
        (b'{"payload":"', "envelope.malformed"),
        (b'{"payload":"###","payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"' + b"a" * 64 + b'","sig":"AAAA"}]}\n', "envelope.base64"),
        (b"\xff" * 100, "envelope.malformed"),
    ],
)
def test_bad_envelopes_are_findings_not_tracebacks(workspace: Path, cli: CliRunner, content: bytes, rule: str) -> None:
    (workspace / "x.json").write_bytes(content)
    out = cli("verify", "x.json", "--trust", "trust.json", "--format", "json", check_code=3)
    assert json.loads(out.stdout)["findings"][0]["rule"] == rule


def test_oversize_input(workspace: Path, cli: CliRunner) -> None:
    (workspace / "big.json").write_bytes(b" " * 5000)
    out = cli("verify", "big.json", "--trust", "trust.json", "--max-bytes", "1000", "--format", "json", check_code=3)
    assert json.loads(out.stdout)["findings"][0]["rule"] == "envelope.oversize"


def test_world_readable_key_refused_when_signing(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    (workspace / "node" / "attest.key").chmod(0o644)
    out = cli("sign", "m.json", "--key", "node/attest.key", check_code=2)
    assert "readable or writable by group or others (mode 0644)" in out.stderr and "chmod 600" in out.stderr


def test_manifest_input_errors(workspace: Path, cli: CliRunner) -> None:
    (workspace / "badsite.json").write_text(json.dumps({**CLI_SITE, "country": "Malaysia"}))
    out = cli("manifest", "--site", "badsite.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op", "--key", "node/attest.key", "--simulate", "h100", check_code=2)
    assert "'Malaysia' is not an ISO 3166-1 alpha-2 country code" in out.stderr
    out = cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op", "--key", "node/attest.key", "--simulate", "h100", "--gpus", "9", check_code=2)
    assert "no GPU '9' on this host" in out.stderr
    out = cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op", "--key", "node/attest.key", "--simulate", "h100", "--image", "nginx:latest", check_code=2)
    assert "NAME@sha256" in out.stderr
    (workspace / "dup.json").write_text('{"legal_name": "A", "legal_name": "B", "headquarters_country": "US"}')
    out = cli("manifest", "--site", "site.json", "--tenant", "dup.json", "--job-id", "j", "--operator", "Op", "--key", "node/attest.key", "--simulate", "h100", check_code=2)
    assert "duplicate JSON key 'legal_name'" in out.stderr


def test_manifest_options_reach_the_manifest(workspace: Path, cli: CliRunner) -> None:
    (workspace / "job.yaml").write_text("kind: Job\n")
    digest = "sha256:" + "ab" * 32
    make_envelope(cli, "m", "--gpus", "0,3", "--phase", "start", "--declared-ops", "3.1e24", "--job-spec", "job.yaml",
                  "--image", f"registry.example/train@{digest}", "--license", "exception:NAC", "--scheduler", "slurm")
    m = json.loads((workspace / "m.json").read_text())
    assert [g["index"] for g in m["gpus"]] == [0, 3]
    assert m["job"]["declared_training_ops"] == 3.1e24 and m["job"]["scheduler"] == "slurm"
    assert m["licenses"] == [{"kind": "exception", "id": "NAC", "issuer": "BIS"}]
    env = json.loads((workspace / "m.env.json").read_text())
    import base64

    subjects = json.loads(base64.b64decode(env["payload"]))["subject"]
    assert [s["name"] for s in subjects] == ["job/slurm-1", "registry.example/train"]
    cli("verify", "m.env.json", "--trust", "trust.json", check_code=0)


def test_collect(cli: CliRunner, tmp_path: Path) -> None:
    out = cli("collect", "--simulate", "b200", "--hostname", "gb-1", check_code=0)
    ev = json.loads(out.stdout)
    assert ev["source"] == "simulated" and len(ev["gpus"]) == 8 and ev["gpus"][0]["name"] == "NVIDIA B200"
    (tmp_path / "fleet.json").write_text(out.stdout)
    table = cli("collect", "--simulate", "fleet.json", "--format", "text", check_code=0)
    assert "NVIDIA B200" in table.stdout and "host gb-1" in table.stdout
    nvml = cli("collect", check_code=2)  # no NVIDIA driver on this machine
    assert "no NVIDIA driver" in nvml.stderr and "--simulate" in nvml.stderr


def test_trust_revoke_needs_a_unique_prefix(workspace: Path, cli: CliRunner) -> None:
    out = cli("trust", "revoke", "abc", "--trust", "trust.json", check_code=2)
    assert "unique prefix of at least 8" in out.stderr
    out = cli("trust", "revoke", "0" * 64, "--trust", "trust.json", check_code=0)
    assert "not a trusted key" in out.stderr


def test_trust_add_errors(workspace: Path, cli: CliRunner) -> None:
    out = cli("trust", "add", "node/attest.key", "--trust", "t2.json", check_code=2)
    assert "holds a private key" in out.stderr
    out = cli("trust", "add", "node/attest.pub", "--trust", "t2.json", "--country", "XX", check_code=2)
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in out.stderr
    out = cli("trust", "add", "node/attest.pub", "--trust", "t2.json", "--not-after", "next year", check_code=2)
    assert "is not a date" in out.stderr
    assert not (workspace / "t2.json").exists()  # nothing half-written


VERBS = [["keygen"], ["collect"], ["manifest"], ["sign"], ["verify"], ["trust"], ["trust", "add"], ["trust", "list"], ["trust", "revoke"], ["gpu"], ["gpu", "verify-report"], ["chips"], ["chips", "list"], ["chips", "show"], ["chips", "classify"], ["bind"], ["landmark"], ["landmark", "serve"], ["locate"], ["policy"], ["policy", "show"], ["policy", "check"], ["policy", "explain"], ["screen"], ["lists"], ["lists", "import"], ["lists", "update"], ["lists", "show"], ["demo"]]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v))
def test_every_verb_has_help_with_an_example(cli: CliRunner, verb: list[str]) -> None:
    out = cli(*verb, "--help", check_code=0)
    assert "example" in out.stdout and "usage: attest" in out.stdout


def test_usage_errors_exit_2(cli: CliRunner) -> None:
    assert cli(check_code=2).stderr.startswith("usage:")
    assert "invalid choice" in cli("frobnicate", check_code=2).stderr
    assert "required" in cli("verify", check_code=2).stderr


def test_demo_runs_and_everything_comes_out_as_expected(cli: CliRunner, tmp_path: Path) -> None:
    out = cli("demo", check_code=0)
    assert "19/19 cases as expected" in out.stdout and "hardware-bound" in out.stdout
    # A debug-mode GPU is refused for its measurements (appraised against the vendor's RIMs).
    assert re.search(r"\[ok \] contraindicated .* in debug mode .*hardware\.measurement_mismatch", out.stdout)
    assert "its GPUs answered the landmarks (report floor" in out.stdout and "calibrated): measured" in out.stdout
    assert "bundled floor of 0 ms (30 ms of report time reach ~4,500 km): key-measured" in out.stdout
    key_copy = next(line for line in out.stdout.splitlines() if "a copy of the jhb-gpu-01 key" in line)
    assert key_copy.startswith("[ok ] warning") and "location.key_measured" in key_copy
    assert "key-measured" in key_copy
    js = json.loads(cli("demo", "--format", "json", "--keep", "kept", check_code=0).stdout)
    assert js["ok"] and len(js["cases"]) == 19
    case = next(c for c in js["cases"] if c["title"].startswith("a copy of the jhb-gpu-01 key"))
    assert case["result"]["status"] == "warning"  # refused by the policy that requires measured
    assert "policy.evidence_strength" in [f["rule"] for f in case["result"]["findings"]]
    # The kept files verify with the real CLI, with the command the demo prints.
    text = cli("demo", "--keep", "kept2", check_code=0).stdout
    command = text.split("Verify the kept files yourself:\n  attest ")[1].strip().split()
    envs = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "kept2").glob("*.envelope.json"))
    assert len(envs) == 7
    out = cli(*[a for a in command if "*" not in a][:1], *envs, *[a for a in command if "*" not in a][1:], "--format", "json", check_code=0)
    grades = [json.loads(line)["location_grade"] for line in out.stdout.splitlines()]
    # The CLI uses the bundled catalog (report floor 0): the GPU-timed proof does not reach, the key's does.
    assert sorted(grades) == ["hardware-bound"] * 6 + ["key-measured"]


def test_rollback_and_wrong_previous_exit_3(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli, "a")
    make_envelope(cli, "b", "--after", "a.json")
    # A second manifest claiming sequence 1 with a previous that is not a's digest.
    make_envelope(cli, "c", "--sequence", "1", "--previous", "sha256:" + "0" * 64)
    out = cli("verify", "a.env.json", "c.env.json", "--trust", "trust.json", "--format", "json", check_code=3)
    assert "chain.previous_mismatch" in out.stdout
    # Sequence going back across runs: b (1) is remembered, then a (0) arrives.
    cli("verify", "a.env.json", "b.env.json", "--trust", "trust.json", "--state", "s.db", check_code=0)
    make_envelope(cli, "old", "--sequence", "0")
    out = cli("verify", "old.env.json", "--trust", "trust.json", "--state", "s.db", check_code=3)
    assert "chain.sequence_rollback" in out.stdout


def test_bind_then_verify_hardware_bound(workspace: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "challenger", check_code=0)
    cli("trust", "add", "challenger/attest.pub", "--challenger", "--trust", "trust.json", check_code=0)
    cli("challenge", "issue", "--key", "challenger/attest.key", "-o", "challenge.json", check_code=0)
    cli("bind", "--key", "node/attest.key", "--simulate", "h100", "--seed", "n1", "--cc-sim", "vendor", "--challenge", "challenge.json", "-o", "binding.json", check_code=0)
    assert stat.S_IMODE((workspace / "vendor" / "ica.key").stat().st_mode) == 0o600
    make_envelope(cli, "m", "--binding", "binding.json")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    root = x509.load_pem_x509_certificate((workspace / "vendor" / "root.pem").read_bytes())
    pin = root.fingerprint(hashes.SHA256()).hex()
    rim_pin = x509.load_pem_x509_certificate((workspace / "vendor" / "rim_root.pem").read_bytes()).fingerprint(hashes.SHA256()).hex()
    rims = ["--rims", "vendor/rims", "--rim-root", "vendor/rim_root.pem", "--rim-root-sha256", rim_pin]
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin, *rims, "--format", "json", check_code=0)
    assert json.loads(out.stdout)["location_grade"] == "hardware-bound"
    # Without the RIMs the measurements are not appraised: the same evidence is only a warning.
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin, "--format", "json", check_code=1)
    assert "hardware.rim.not_checked" in out.stdout
    # A root that is not the pin (NVIDIA's, by default) is a configuration error, said once before any verdict.
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", check_code=2)
    assert out.stdout == "" and f"its SHA-256 is {pin}" in out.stderr and f"--cc-root-sha256 {pin}" in out.stderr
    assert "needs --cc-sim" in cli("bind", "--key", "node/attest.key", "--simulate", "h100", check_code=2).stderr
    cli("keygen", "--out", "other", check_code=0)
    out = cli("manifest", "--site", "site.json", "--tenant", "tenant.json", "--job-id", "j", "--operator", "Op", "--key", "other/attest.key",
              "--simulate", "h100", "--seed", "n1", "--binding", "binding.json", check_code=2)
    assert "the binding is for node key" in out.stderr
