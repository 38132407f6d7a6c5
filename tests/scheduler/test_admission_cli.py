"""``attest admit`` and ``attest quarantine`` through the real CLI: a host's evidence comes from its own key;
a contradiction quarantines a node until an auditor clears it; stale is stale, with its age."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from attest.scheduler.evidence import NewestEvidence
from attest.verify import verify_and_open
from tests.conftest import NOW, OPERATOR, CliRunner, Node, trusted_node
from tests.location.test_verify_location import REGISTRY, receipt, with_receipts

SCOPE = {"operator": OPERATOR.name, "sites": ["jhb-2"], "countries": ["MY"]}
TENANT = {"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}


def fleet(tmp_path: Path, *hosts: str) -> list[Node]:
    """Nodes with their own keys, all trusted by one store written to trust.json."""
    nodes = [trusted_node() for _ in hosts]
    trust = nodes[0].trust
    for n, host in zip(nodes, hosts, strict=True):
        n.host = host
        trust = trust.with_key(n.key.public, **SCOPE)
    for n in nodes:
        n.trust = trust
    trust.save(tmp_path / "trust.json")
    (tmp_path / "tenant.json").write_text(json.dumps(TENANT))
    return nodes


def put(directory: Path, name: str, raw: bytes) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.json").write_bytes(raw)


def admit(cli: CliRunner, nodes: str, *extra: str, evidence: str = "spool", at: timedelta = timedelta(minutes=2)) -> dict:  # type: ignore[type-arg]
    out = cli("admit", "--tenant", "tenant.json", "--evidence", evidence, "--trust", "trust.json", "--nodes", nodes,
              "--allocated", "--gpus", "1", "--now", (NOW + at).isoformat(), "--format", "json", *extra)
    assert out.returncode in (0, 3), out.stderr
    verdict = json.loads(out.stdout)
    assert (out.returncode == 0) is verdict["allowed"]
    return verdict  # type: ignore[no-any-return]


def test_another_nodes_key_cannot_get_a_host_admitted(tmp_path: Path, cli: CliRunner) -> None:
    a, b = fleet(tmp_path, "gpu-a17", "gpu-b")
    spool = tmp_path / "spool"
    put(spool, "a-old", a.envelope(a.manifest(now=NOW - timedelta(hours=1), chain=True)))  # a17's own: stale
    put(spool, "b-own", b.envelope(b.manifest(now=NOW, chain=True)))
    # gpu-b's (trusted) key signs a fresh manifest that names gpu-a17, and one for a host never attested.
    put(spool, "b-as-a17", b.envelope(b.manifest(now=NOW + timedelta(seconds=30), chain=True, node={"hostname": "gpu-a17", "key_id": b.key.key_id})))
    put(spool, "b-as-zz", b.envelope(b.manifest(now=NOW + timedelta(seconds=40), chain=True, node={"hostname": "gpu-zz", "key_id": b.key.key_id})))
    v = admit(cli, "gpu-a17")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "stale"  # judged on its own (stale) evidence
    assert "62 min old" in v["nodes"][0]["message"]
    assert any(b.key.key_id[:16] in w and "a node key speaks for one host" in w for w in v["nodes"][0]["warnings"])
    v = admit(cli, "gpu-zz")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "key-conflict" and "also signs for" in v["nodes"][0]["message"]

    # The collector's evidence directory pins the first host of each key and key of each host.
    ev = tmp_path / "ev"
    newest = NewestEvidence(ev)
    for name in ("a-old", "b-own", "b-as-a17", "b-as-zz"):
        raw = (spool / f"{name}.json").read_bytes()
        result, manifest = verify_and_open(raw, a.trust, now=NOW + timedelta(minutes=1))
        newest.offer(raw, result, manifest)
    # One file per key: b's newest names gpu-zz. Only the pins know it is gpu-b's key.
    v = admit(cli, "gpu-zz", evidence="ev")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "key-conflict" and "pinned to host gpu-b" in v["nodes"][0]["message"]
    v = admit(cli, "gpu-a17", evidence="ev")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "stale"
    # An operator's decision is the way to let a key speak for a host: its trust entry names it.
    (tmp_path / "b.pub").write_bytes(b.key.public.to_pem())
    cli("trust", "add", "b.pub", "--trust", "trust.json", "--operator", OPERATOR.name, "--site", "jhb-2", "--country", "MY",
        "--host", "gpu-zz", "--replace", check_code=0)  # the key is trusted already: a new scope needs --replace
    assert admit(cli, "gpu-zz", evidence="ev")["allowed"]
    assert "hosts gpu-zz" in cli("trust", "list", "--trust", "trust.json", check_code=0).stdout


def test_a_contradiction_quarantines_a_node_until_an_auditor_clears_it(tmp_path: Path, cli: CliRunner) -> None:
    (node,) = fleet(tmp_path, "gpu-a17")
    (tmp_path / "landmarks.json").write_text(REGISTRY.to_json())
    spool = tmp_path / "spool"
    m = node.manifest(now=NOW, chain=True)
    # Frankfurt answers in 1 ms: the node cannot be in Johor.
    node.history[-1] = with_receipts(m, [receipt(m, "fra", 1_000_000)])
    put(spool, "0-impossible", node.envelope(node.history[-1]))
    put(spool, "1-clean", node.envelope(node.manifest(now=NOW + timedelta(seconds=60), chain=True)))
    landmarks = ("--landmarks", "landmarks.json")
    # Without the landmark registry admission cannot see it (what verify sees without it, too).
    assert admit(cli, "gpu-a17")["allowed"]
    v = admit(cli, "gpu-a17", *landmarks)
    assert not v["allowed"] and v["nodes"][0]["reason"] == "quarantined"
    assert "location.claim_impossible" in v["nodes"][0]["message"] and "attest quarantine clear gpu-a17" in v["nodes"][0]["message"]
    # The next manifest (no receipts) verifies clean, and the contradicting one is gone from the directory:
    # the record keeps the node refused, with or without --landmarks.
    (spool / "0-impossible.json").unlink()
    put(spool, "2-clean", node.envelope(node.manifest(now=NOW + timedelta(seconds=90), chain=True)))
    assert admit(cli, "gpu-a17")["nodes"][0]["reason"] == "quarantined"
    listed = cli("quarantine", "list", "--evidence", "spool", "--format", "json", check_code=3)
    assert list(json.loads(listed.stdout)["quarantined"]) == ["gpu-a17"]
    # Clearing needs who and why, and a quarantined host; it is recorded.
    assert cli("quarantine", "clear", "gpu-zz", "--evidence", "spool", "--by", "A. Auditor", "--reason", "x").returncode == 2
    assert cli("quarantine", "clear", "gpu-a17", "--evidence", "spool", "--by", " ", "--reason", "x").returncode == 2
    cli("quarantine", "clear", "gpu-a17", "--evidence", "spool", "--by", "A. Auditor", "--reason", "landmark fra misconfigured", check_code=0)
    assert admit(cli, "gpu-a17", *landmarks)["allowed"]
    trail = cli("quarantine", "list", "--evidence", "spool", "--all", check_code=0).stdout
    assert "QUARANTINED gpu-a17" in trail and "CLEARED gpu-a17  by A. Auditor: landmark fra misconfigured" in trail
    # The cleared contradiction, still in a spool, does not quarantine again; a new one does.
    put(spool, "0-impossible", node.envelope(node.history[0]))
    assert admit(cli, "gpu-a17", *landmarks)["allowed"]
    m3 = node.manifest(now=NOW + timedelta(seconds=100), chain=True)
    node.history[-1] = with_receipts(m3, [receipt(m3, "fra", 1_000_000)])
    put(spool, "3-impossible", node.envelope(node.history[-1]))
    assert admit(cli, "gpu-a17", *landmarks)["nodes"][0]["reason"] == "quarantined"
    # A tampered record is refused, not read as "nobody quarantined".
    with (spool / "quarantine.jsonl").open("a") as fh:
        fh.write('{"event": "cleared", "host": "gpu-a17"}\n')
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "spool", "--trust", "trust.json", "--nodes", "gpu-a17")
    assert out.returncode == 2 and "quarantine record" in out.stderr


def test_expired_evidence_is_stale_with_its_age_not_failed(tmp_path: Path, cli: CliRunner) -> None:
    (node,) = fleet(tmp_path, "gpu-a17")
    m = node.manifest(now=NOW, chain=True)
    short = m.model_copy(update={"freshness": m.freshness.model_copy(update={"expires_at": NOW + timedelta(minutes=1)})})
    put(tmp_path / "spool", "m", node.envelope(short))
    v = admit(cli, "gpu-a17", at=timedelta(minutes=3))
    assert v["nodes"][0]["reason"] == "stale" and "3 min old" in v["nodes"][0]["message"] and "expired" in v["nodes"][0]["message"]


def test_gpus_are_counted_on_the_newest_heartbeat_not_the_newest_job_manifest(tmp_path: Path, cli: CliRunner) -> None:
    (node,) = fleet(tmp_path, "gpu-a17")
    beat = node.manifest(now=NOW, chain=True, job={"id": "heartbeat", "scheduler": "attest", "phase": "heartbeat"})
    assert len(beat.gpus) == 8
    put(tmp_path / "spool", "0-beat", node.envelope(beat))
    end = node.manifest(now=NOW + timedelta(seconds=30), chain=True, job={"id": "slurm-7", "scheduler": "slurm", "phase": "end"})
    end = end.model_copy(update={"gpus": end.gpus[:1]})
    node.history[-1] = end
    put(tmp_path / "spool", "1-end", node.envelope(end))
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "spool", "--trust", "trust.json", "--nodes", "gpu-a17",
              "--gpus", "8", "--now", (NOW + timedelta(minutes=2)).isoformat(), "--format", "json")
    assert out.returncode == 0, out.stdout


def test_a_slurm_node_name_matches_the_short_form_of_a_manifests_fqdn(tmp_path: Path, cli: CliRunner) -> None:
    a, b = fleet(tmp_path, "gpu-a17.jhb.example.net", "gpu-a17.sin.example.net")
    put(tmp_path / "spool", "a", a.envelope(a.manifest(now=NOW, chain=True)))
    # Red-team review of issue 19: the short name matches a FQDN only where the key's trust entry names it.
    v = admit(cli, "gpu-a17")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "key-conflict" and "no trust entry names gpu-a17" in v["nodes"][0]["message"]
    a.trust.with_key(a.key.public, **SCOPE, hosts=["gpu-a17", "gpu-a17.jhb.example.net"], replace=True).save(tmp_path / "trust.json")
    assert admit(cli, "gpu-a17")["allowed"]
    # Key B's evidence for the other site's gpu-a17 does not cross domains: the named one is still chosen.
    put(tmp_path / "spool", "b", b.envelope(b.manifest(now=NOW, chain=True)))
    v = admit(cli, "gpu-a17")
    assert v["allowed"] and v["nodes"][0]["site_country"] == "MY", v


def test_an_unscoped_key_signing_as_the_short_name_cannot_front_a_stale_fqdn(tmp_path: Path, cli: CliRunner) -> None:
    """Red-team review of issue 19: the real node signs gpu-a17.example.com (stale); another key signs plain gpu-a17."""
    real, squatter = fleet(tmp_path, "gpu-a17.example.com", "gpu-a17")
    put(tmp_path / "spool", "real", real.envelope(real.manifest(now=NOW - timedelta(hours=2), chain=True)))
    put(tmp_path / "spool", "squatter", squatter.envelope(squatter.manifest(now=NOW, chain=True)))
    v = admit(cli, "gpu-a17")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "key-conflict" and "several hosts have the short name" in v["nodes"][0]["message"], v
    # The same with the real node quarantined: refused as quarantined, whatever other name form exists.
    (tmp_path / "landmarks.json").write_text(REGISTRY.to_json())
    m = real.manifest(now=NOW, chain=True)
    real.history[-1] = with_receipts(m, [receipt(m, "fra", 1_000_000)])
    put(tmp_path / "spool", "real-impossible", real.envelope(real.history[-1]))
    v = admit(cli, "gpu-a17", "--landmarks", "landmarks.json")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "quarantined", v


def test_the_trust_store_is_readable_by_a_non_root_slurm_user(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "node", check_code=0)
    cli("trust", "add", "node/attest.pub", "--trust", "trust.json", "--host", "gpu-a17", check_code=0)
    assert (tmp_path / "trust.json").stat().st_mode & 0o777 == 0o644


def test_quarantine_follows_the_node_key_across_the_hosts_its_entry_names(tmp_path: Path, cli: CliRunner) -> None:
    """Red-team review of issue 19: a key named for gpu-a17 and its FQDN cannot shed a contradiction by renaming."""
    (node,) = fleet(tmp_path, "gpu-a17")
    node.trust.with_key(node.key.public, **SCOPE, hosts=["gpu-a17", "gpu-a17.example.com"], replace=True).save(tmp_path / "trust.json")
    (tmp_path / "landmarks.json").write_text(REGISTRY.to_json())
    spool = tmp_path / "spool"
    m = node.manifest(now=NOW, chain=True)
    node.history[-1] = with_receipts(m, [receipt(m, "fra", 1_000_000)])  # 1 ms from Frankfurt, declared in Johor
    put(spool, "0-impossible", node.envelope(node.history[-1]))
    clean = node.manifest(now=NOW + timedelta(seconds=60), chain=True, node={"hostname": "gpu-a17.example.com", "key_id": node.key.key_id})
    node.history[-1] = clean
    put(spool, "1-clean-fqdn", node.envelope(clean))
    v = admit(cli, "gpu-a17.example.com", "--landmarks", "landmarks.json")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "quarantined", v
    assert "location.claim_impossible" in v["nodes"][0]["message"] and "recorded for gpu-a17" in v["nodes"][0]["message"]
    # The contradicting envelope is gone (a collector keeps only the newest): the record, keyed by node key, still refuses.
    (spool / "0-impossible.json").unlink()
    assert admit(cli, "gpu-a17.example.com")["nodes"][0]["reason"] == "quarantined"
    cli("quarantine", "clear", "gpu-a17", "--evidence", "spool", "--by", "A. Auditor", "--reason", "landmark fra misconfigured", check_code=0)
    assert admit(cli, "gpu-a17.example.com")["allowed"]


def test_admission_refuses_a_collectors_directory_that_did_not_make_its_checks(tmp_path: Path, cli: CliRunner) -> None:
    """Red-team review of issue 19: a contradiction the collector could not see must not vanish behind a clean manifest."""
    from attest.model.location import LandmarkRegistry
    from attest.verify import VerifyOptions

    (node,) = fleet(tmp_path, "gpu-a17")
    (tmp_path / "landmarks.json").write_text(REGISTRY.to_json())
    m = node.manifest(now=NOW, chain=True)
    node.history[-1] = with_receipts(m, [receipt(m, "fra", 1_000_000)])  # 1 ms from Frankfurt, declared in Johor
    envelopes = [node.envelope(node.history[-1]), node.envelope(node.manifest(now=NOW + timedelta(seconds=60), chain=True))]

    def collect(directory: Path, options: VerifyOptions) -> None:
        newest = NewestEvidence(tmp_path / directory, options)
        for raw in envelopes:
            result, manifest = verify_and_open(raw, node.trust, now=NOW + timedelta(seconds=61), options=options)
            newest.offer(raw, result, manifest)

    collect(Path("blind"), VerifyOptions())  # a collector without the landmark registry keeps only the clean manifest
    assert admit(cli, "gpu-a17", evidence="blind")["allowed"]  # what verify sees without landmarks, too
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "blind", "--trust", "trust.json", "--nodes", "gpu-a17",
              "--landmarks", "landmarks.json", "--now", (NOW + timedelta(minutes=2)).isoformat())
    assert out.returncode == 2 and "did not check --landmarks" in out.stderr and "Traceback" not in out.stderr, out.stderr
    # An older collector's directory (no record of its checks, but its pins): refused the same way.
    (tmp_path / "blind" / "checks.jsonl").unlink()
    out = cli("admit", "--tenant", "tenant.json", "--evidence", "blind", "--trust", "trust.json", "--nodes", "gpu-a17",
              "--landmarks", "landmarks.json", "--now", (NOW + timedelta(minutes=2)).isoformat())
    assert out.returncode == 2 and "is missing" in out.stderr, out.stderr
    # A collector with the same registry saw the contradiction: the node is quarantined, and admission reads the directory.
    collect(Path("seeing"), VerifyOptions(landmarks=LandmarkRegistry.from_json(REGISTRY.to_json())))
    v = admit(cli, "gpu-a17", "--landmarks", "landmarks.json", evidence="seeing")
    assert not v["allowed"] and v["nodes"][0]["reason"] == "quarantined", v


def test_an_unknown_account_is_refused_in_the_format_asked_for(tmp_path: Path, cli: CliRunner) -> None:
    (node,) = fleet(tmp_path, "gpu-a17")
    put(tmp_path / "spool", "m", node.envelope(node.manifest(now=NOW, chain=True)))
    (tmp_path / "tenants.json").write_text(json.dumps({"acme": TENANT}))
    ask = ("admit", "--tenant-map", "tenants.json", "--account", "nobody\x1b[2J", "--evidence", "spool",
           "--trust", "trust.json", "--nodes", "gpu-a17", "--now", (NOW + timedelta(minutes=2)).isoformat())
    text = cli(*ask, check_code=3)
    assert text.stdout.startswith("REFUSED: no tenant record for account 'nobody") and "tenants.json" in text.stdout
    assert not text.stdout.lstrip().startswith("{") and "\x1b" not in text.stdout
    out = json.loads(cli(*ask, "--format", "json", check_code=3).stdout)
    assert out["allowed"] is False and out["nodes"] == [] and "no tenant record" in out["message"]
    assert cli(*ask[:4], "acme", *ask[5:], check_code=0).stdout.startswith("ALLOWED")
