"""Fleet audits: each anomaly planted in a small fleet and found; parallel equals serial; CLI and report."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
from datetime import timedelta
from pathlib import Path

import pytest

from attest.audit import audit, read_source
from attest.audit._parallel import _pack, _unpack
from attest.audit.analytics import load_registry
from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import AttestError, InputError
from attest.model.manifest import Site
from attest.model.result import Finding
from tests.conftest import NOW, CliRunner, Node

IAD = Site(facility_id="iad-4", name="Ashburn DC 4", country="US", latitude=39.0438, longitude=-77.4874)


def fleet() -> tuple[TrustStore, Node, Node]:
    a_key, b_key = SigningKey.generate(), SigningKey.generate()
    trust = (
        TrustStore()
        .with_key(a_key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"])
        .with_key(b_key.public, operator="Example Cloud Sdn. Bhd.", sites=["iad-4"], countries=["US"])
    )
    a = Node(key=a_key, trust=trust, host="gpu-a17")
    b = Node(key=b_key, trust=trust, host="gpu-b01", site=IAD, preset="h200")
    return trust, a, b


def chain(node: Node, times: list[int], **changes: object) -> list[tuple[str, bytes]]:
    out = []
    for t in times:
        m = node.manifest(now=NOW + timedelta(minutes=t), chain=True, **changes)
        out.append((f"{node.host}-{m.freshness.sequence}.json", node.envelope(m)))
    return out


def reuse(node: Node, k: int) -> tuple[str, bytes]:
    """Another payload than the node's ``k``-th chained manifest with its nonce (a replay)."""
    m = node.history[k]
    other = node.manifest(now=m.freshness.issued_at + timedelta(seconds=20), freshness=m.freshness.to_obj())
    return (f"reuse-{node.host}-{k}.json", node.envelope(other))


def rules(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in report.fleet]


def test_a_clean_fleet() -> None:
    trust, a, b = fleet()
    items = chain(a, [0, 5, 10]) + chain(b, [0, 5, 10])
    report = audit(items, trust, now=NOW + timedelta(minutes=12), policy=None)
    assert report.status.value == "affirming" and rules(report) == []
    assert report.counts["by_site"] == {"jhb-2": 3, "iad-4": 3}
    assert report.counts["by_chip_class"]["3A090.a"] == 48


def test_one_gpu_at_two_sites_faster_than_travel() -> None:
    trust, a, b = fleet()
    first = chain(a, [0])
    a_gpus = a.history[0].to_obj()["gpus"]
    moved = chain(b, [10], gpus=a_gpus)  # Ashburn lists Johor's GPUs ten minutes later
    report = audit(first + moved, trust, now=NOW + timedelta(minutes=12), policy=None)
    found = [f for f in report.fleet if f.rule == "fleet.gpu_two_places"]
    assert found and found[0].csa == "diverted" and "km away" in found[0].message
    assert "diverted" in report.to_obj()["csa_events"]


def test_one_gpu_on_two_nodes_at_once() -> None:
    trust, a, b = fleet()
    first = chain(a, [0])
    items = first + chain(b, [0], gpus=a.history[0].to_obj()["gpus"])
    report = audit(items, trust, now=NOW + timedelta(minutes=1), policy=None)
    assert "fleet.gpu_cloned" in rules(report)


def test_silent_gpus_gaps_and_forks() -> None:
    trust, a, _ = fleet()
    items = chain(a, [0, 5, 10])
    del items[1]  # sequence 1 never reaches the auditor
    report = audit(items, trust, now=NOW + timedelta(hours=3), policy=None, max_silence=timedelta(hours=1))
    assert "fleet.chain_gap" in rules(report) and "fleet.gpu_silent" in rules(report)
    gap = next(f for f in report.fleet if f.rule == "fleet.chain_gap")
    assert gap.evidence["missing"] == [1]
    # A fork: a second, different manifest under sequence 2.
    other = a.history[2].model_copy(update={"job": a.history[2].job.model_copy(update={"id": "another-job"})})
    items.append(("fork.json", a.envelope(other)))
    report = audit(items, trust, now=NOW + timedelta(minutes=20), policy=None)
    assert "fleet.chain_fork" in rules(report)
    assert "tampered with or spoofed" in report.to_obj()["csa_events"]


def test_one_host_name_from_two_node_keys() -> None:
    """Two keys signing for one host over the same time: one is not that machine. A rotation hands over."""
    key_1, key_2, key_3 = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    trust = TrustStore()
    for k in (key_1, key_2, key_3):
        trust = trust.with_key(
            k.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"]
        )
    first, rotated, impostor = (
        Node(key=k, trust=trust, host="gpu-a17", preset="h200") for k in (key_1, key_2, key_3)
    )
    items = chain(first, [0, 5, 10]) + chain(rotated, [15, 20])  # key 1 retired, key 2 from then on
    report = audit(items, trust, now=NOW + timedelta(minutes=21), policy=None)
    assert "fleet.host_two_keys" not in rules(report)
    items += chain(impostor, [12, 18])  # a third key names the same host meanwhile
    report = audit(items, trust, now=NOW + timedelta(minutes=21), policy=None)
    found = [f for f in report.fleet if f.rule == "fleet.host_two_keys"]
    assert len(found) == 1 and found[0].csa == "tampered with or spoofed"
    assert (
        set(found[0].evidence["keys"]) == {key_2.key_id, key_3.key_id}
        and found[0].evidence["node"] == "gpu-a17"
    )


def test_chip_registry(tmp_path: Path) -> None:
    trust, a, b = fleet()
    items = chain(a, [0]) + chain(b, [0])
    gpus_a = a.history[0].gpus
    csv_text = (
        "serial,uuid,site\n"
        + f"{gpus_a[0].serial},,iad-4\n"
        + f",{gpus_a[1].uuid},jhb-2\n"
        + "SN-NEVER-SEEN,,jhb-2\n"
    )
    report = audit(
        items, trust, now=NOW + timedelta(minutes=1), policy=None, registry=load_registry(csv_text)
    )
    r = rules(report)
    assert "registry.wrong_site" in r and "registry.not_seen" in r and "registry.unregistered" in r
    wrong = next(f for f in report.fleet if f.rule == "registry.wrong_site")
    assert wrong.csa == "not at the licensed location" and wrong.evidence["authorized"] == "iad-4"
    with pytest.raises(InputError, match="header"):
        load_registry("a,b\n1,2\n")
    with pytest.raises(InputError, match="line 2"):
        load_registry("serial,uuid,site\n,,jhb-2\n")
    with pytest.raises(InputError, match="does not parse as CSV"):  # a quote left open swallows the rest
        load_registry('serial,uuid,site\n"SN1,,jhb-2\nSN2,,jhb-2\n')
    assert [e.serial for e in load_registry("serial,uuid,site\r\nSN1,,jhb-2\rSN2,,iad-4\r")] == ["SN1", "SN2"]


@pytest.mark.slow
def test_parallel_equals_serial() -> None:
    trust, a, b = fleet()
    items = chain(a, list(range(0, 60, 3))) + chain(b, list(range(0, 60, 3)))
    items.append(items[3])  # a copy: the same manifest seen again, not a replay
    items.append(reuse(a, 3))  # a replay: another payload with manifest 3's nonce
    serial = audit(items, trust, now=NOW + timedelta(hours=1), policy="us-ear")
    parallel = audit(items, trust, now=NOW + timedelta(hours=1), policy="us-ear", jobs=2)
    assert [r.to_obj() for r in serial.results] == [r.to_obj() for r in parallel.results]
    assert [f.to_obj() for f in serial.fleet] == [f.to_obj() for f in parallel.fleet]
    assert "freshness.seen_before" in [f.rule for f in serial.results[-2].findings]
    assert serial.results[-1].status.value == "contraindicated"  # the replay
    assert "freshness.nonce_reused" in [f.rule for f in serial.results[-1].findings]
    # results that came back from a worker process are the ones it computed, field for field
    for r in serial.results:
        back = _unpack(pickle.loads(pickle.dumps(_pack(r))))
        assert back == r and back.to_obj() == r.to_obj() and back.model_dump() == r.model_dump()
    # ... and so are they when a batch's shared findings travel once
    sent: dict[int, tuple[object, ...]] = {}
    wire = pickle.dumps([_pack(r, sent) for r in serial.results])
    assert len(wire) < len(pickle.dumps([_pack(r) for r in serial.results]))
    got: dict[int, Finding] = {}
    back_all = [_unpack(p, got) for p in pickle.loads(wire)]
    assert [r.to_obj() for r in back_all] == [r.to_obj() for r in serial.results]
    distinct = {id(f) for r in serial.results for f in r.findings}
    assert (
        len({id(f) for r in back_all for f in r.findings})
        == len(distinct)
        < sum(len(r.findings) for r in serial.results)
    )


@pytest.mark.slow
def test_spawned_workers_verify_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where processes are spawned (macOS, Windows) the policy, trust and envelopes are pickled."""
    trust, a, b = fleet()
    items = chain(a, list(range(0, 30, 3))) + chain(b, list(range(0, 30, 3)))
    serial = audit(items, trust, now=NOW + timedelta(hours=1), policy="us-ear")
    monkeypatch.setattr("attest.audit._parallel._START_METHOD", "spawn")
    spawned = audit(items, trust, now=NOW + timedelta(hours=1), policy="us-ear", jobs=2)
    assert [r.to_obj() for r in spawned.results] == [r.to_obj() for r in serial.results]
    assert [f.to_obj() for f in spawned.fleet] == [f.to_obj() for f in serial.fleet]


@pytest.mark.skipif(
    "fork" not in mp.get_all_start_methods(), reason="needs fork: the patch must reach the worker"
)
@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_failed_worker_fails_the_audit(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    trust, a, b = fleet()
    items = chain(a, list(range(0, 60, 3))) + chain(b, list(range(0, 60, 3)))

    def broken(spec: object, group: object, **kw: object) -> object:  # what a worker runs (this process verifies unpacked)
        if how == "raises":
            raise MemoryError("no room")
        os._exit(9)

    monkeypatch.setattr("attest.audit._parallel._verify_packed", broken)
    with pytest.raises(
        AttestError,
        match="failed \\(MemoryError: no room\\)" if how == "raises" else "died \\(exit codes 9\\)",
    ):
        audit(items, trust, now=NOW + timedelta(hours=1), policy=None, jobs=2)


def test_cli_and_report(cli: CliRunner, tmp_path: Path) -> None:
    trust, a, b = fleet()
    trust.save(tmp_path / "trust.json")
    (tmp_path / "spool").mkdir()
    items = chain(a, [0, 5])
    items += chain(b, [10], gpus=a.history[0].to_obj()["gpus"])
    for name, raw in items:
        (tmp_path / "spool" / name).write_bytes(raw)
    base = ("audit", "spool", "--trust", "trust.json", "--policy", "none", "--now", (NOW + timedelta(minutes=15)).isoformat())
    out = cli(*base, "--report", "audit.html", "--format", "json", check_code=3)
    obj = json.loads(out.stdout)
    assert obj["envelopes"] == 3 and any(f["rule"] == "fleet.gpu_two_places" for f in obj["fleet_findings"])
    on_three = cli(*base, "--jobs", "3", "--format", "json", check_code=3)
    assert json.loads(on_three.stdout) == obj  # more processes than nodes: the same audit
    html = (tmp_path / "audit.html").read_text()
    assert (
        html.startswith("<!doctype html>") and "fleet.gpu_two_places" in html and "Chip Security Act" in html
    )
    assert (
        "http://" not in html and "https://" not in html and "<script" not in html
    )  # self-contained, no external assets
    # The same envelopes in a log database.
    cli("keygen", "--out", "logkey", check_code=0)
    cli(
        "log",
        "init",
        "--log",
        "audit.db",
        "--origin",
        "example.com/log",
        "--key",
        "logkey/attest.key",
        check_code=0,
    )
    cli("log", "append", *(f"spool/{n}" for n, _ in items), "--log", "audit.db", check_code=0)
    assert len(read_source(str(tmp_path / "audit.db"))) == 3
    text = cli(
        "audit",
        "audit.db",
        "--trust",
        "trust.json",
        "--policy",
        "none",
        "--now",
        (NOW + timedelta(minutes=15)).isoformat(),
        check_code=3,
    ).stdout
    assert text.startswith("CONTRAINDICATED: 16 fleet finding(s)\n  fleet.gpu_two_places — 16 fleet findings")
    assert "\n3 envelopes: 3 warning -> CONTRAINDICATED\n" in text
    # Every file the pattern matches is judged (a stray JSON file is contraindicated, not skipped).
    (tmp_path / "spool" / "notes.json").write_text("{}")
    stray = json.loads(
        cli(
            "audit", "spool", "--trust", "trust.json", "--policy", "none", "--format", "json", check_code=3
        ).stdout
    )
    assert stray["envelopes"] == 4
    narrowed = json.loads(
        cli(
            "audit",
            "spool",
            "--glob",
            "gpu-*.json",
            "--trust",
            "trust.json",
            "--policy",
            "none",
            "--format",
            "json",
            check_code=3,
        ).stdout
    )
    assert narrowed["envelopes"] == 3
    assert (
        "not a duration"
        in cli("audit", "spool", "--trust", "trust.json", "--max-silence", "soon", check_code=2).stderr
    )
    assert "neither a directory" in cli("audit", "nowhere", "--trust", "trust.json", check_code=2).stderr


def test_report_draws_the_newest_location_proof_per_node(cli: CliRunner, tmp_path: Path) -> None:
    cli("demo", "--keep", "kept", check_code=0)
    from attest.hardware.simulated_cc import SimulatedCcBackend

    pin = SimulatedCcBackend(tmp_path / "kept" / "sim-vendor").root_sha256
    cli(
        "audit",
        "kept",
        "--glob",
        "*.envelope.json",
        "--trust",
        "kept/trust.json",
        "--landmarks",
        "kept/landmarks.json",
        "--cc-root",
        "kept/sim-vendor/root.pem",
        "--cc-root-sha256",
        pin,
        "--rims",
        "kept/rims",
        "--rim-root",
        "kept/sim-vendor/rim_root.pem",
        "--rim-root-sha256",
        SimulatedCcBackend(tmp_path / "kept" / "sim-vendor").rim_root_sha256,
        "--report",
        "r.html",
        check_code=0,
    )
    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") == 1  # only the Johor node carries receipts
    assert "jhb-gpu-01-2.envelope.json: jhb-gpu-01 at Johor DC 2 — excluded" in html


def test_report_escapes_what_manifests_and_file_names_say() -> None:
    """A node may sign anything into its manifests: the auditor's report shows it as text, never as markup."""
    from attest.audit.report import render_html

    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    trust, a, b = fleet()
    tenant = {"legal_name": hostile + " Ltd.", "headquarters_country": "US"}
    items = chain(a, [0], tenant=tenant, job={"id": hostile, "scheduler": hostile, "phase": "start"})
    items += [(hostile + ".json", items[0][1][:-30])]  # a broken envelope under a hostile file name
    items += chain(b, [1], tenant=tenant, site={**IAD.to_obj(), "facility_id": hostile, "name": hostile})
    report = audit(items, trust, now=NOW + timedelta(minutes=2), policy="us-ear")
    html = render_html(
        report, maps=[(hostile, "<svg></svg>")]
    )  # (caption, SVG drawn by attest.location.svgmap)
    assert hostile + " Ltd." in report.counts["by_tenant"] and hostile in report.counts["by_site"]
    assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html
    assert (
        html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 3
    )  # tenant, site, file name, caption


@pytest.mark.slow
@pytest.mark.parametrize("canonical", [True, False])
def test_a_cosigned_replay_is_caught_in_parallel_too(canonical: bool) -> None:
    """A node's manifest re-sent with a second trusted signature placed first still meets its node's history.

    Nonces and chains are keyed by the node key, while the work is split before anything is
    verified; an envelope must be verified beside every other envelope any of its keys signed
    (also where the verifier takes envelopes that are not canonical: here indented JSON). The
    same payload re-signed is that manifest seen again; another payload with its nonce is a replay.
    """
    from attest.crypto.dsse import encode_envelope, sign_payload
    from attest.model.statement import PAYLOAD_TYPE_INTOTO
    from attest.sign import build_statement
    from attest.verify import VerifyOptions

    trust, a, b = fleet()
    cosigner = SigningKey.generate()
    trust = trust.with_key(cosigner.public, operator="Example Cloud Sdn. Bhd.")
    a.trust = b.trust = trust
    items = chain(a, list(range(0, 30, 3))) + chain(b, list(range(0, 30, 3)))
    replayed = a.history[4]
    other = a.manifest(now=replayed.freshness.issued_at + timedelta(seconds=20), freshness=replayed.freshness.to_obj())
    for name, m in (("resent.json", replayed), ("replay.json", other)):
        payload = build_statement(m).model_dump_json(by_alias=True, exclude_none=True).encode()
        raw = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [cosigner, a.key]))
        if not canonical:
            raw = json.dumps(json.loads(raw), indent=1).encode()
        items.append((name, raw))
    options = VerifyOptions(require_canonical=canonical)
    serial = audit(items, trust, now=NOW + timedelta(hours=1), policy=None, options=options)
    assert "freshness.seen_before" in [f.rule for f in serial.results[-2].findings]
    assert "freshness.nonce_reused" in [f.rule for f in serial.results[-1].findings]
    for jobs in (2, 3):
        parallel = audit(items, trust, now=NOW + timedelta(hours=1), policy=None, jobs=jobs, options=options)
        assert [r.to_obj() for r in parallel.results] == [r.to_obj() for r in serial.results]


def test_cli_judges_past_manifests_as_of_issue(cli: CliRunner, tmp_path: Path) -> None:
    """Last month's clean fleet audits clean; asked to judge it now, every manifest has expired."""
    trust, a, _ = fleet()
    trust.save(tmp_path / "trust.json")
    (tmp_path / "spool").mkdir()
    for name, raw in chain(a, [0, 5, 10]):
        (tmp_path / "spool" / name).write_bytes(raw)
    month = (NOW + timedelta(days=30)).isoformat()
    base = ("audit", "spool", "--trust", "trust.json", "--policy", "none", "--now", month, "--format", "json")
    obj = json.loads(cli(*base, "--max-silence", "60d", "--report", "then.html", check_code=0).stdout)
    assert obj["by_status"] == {"affirming": 3} and obj["judged_as_of"] == "issued"
    assert "each manifest judged as of its own issue time" in (tmp_path / "then.html").read_text()
    obj = json.loads(cli(*base, "--max-silence", "60d", "--as-of", "now", "--details", check_code=3).stdout)
    assert obj["by_status"] == {"contraindicated": 3} and obj["judged_as_of"] == "now"
    assert all("freshness.expired" in [f["rule"] for f in r["findings"]] for r in obj["results"])
    # attest verify judges now by default, and as of issue when asked
    cli("verify", "spool/gpu-a17-0.json", "--trust", "trust.json", "--now", month, check_code=3)
    cli("verify", "spool/gpu-a17-0.json", "--trust", "trust.json", "--now", month, "--as-of", "issued", check_code=0)
    cli("audit", "spool", "--trust", "trust.json", "--as-of", "then", check_code=2)
