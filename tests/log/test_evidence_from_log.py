"""GPU evidence named by digest, resolved from the log by a verifier that never saw it (issue 23, item 3).

A heartbeat may name its node's binding by digest (``Gpu.cc_evidence_ref``). A verifier whose
binding cache does not hold it (a second collector on the same log, ``attest verify --log``) looks
the digest up in the log's evidence index and verifies the entry found in full. The log is the
operator's: every way its rows could lie ends with the heartbeat not hardware-bound, with a
finding that says why. Each attack below names the guard that refuses it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.dsse import encode_envelope, parse_envelope, sign_payload
from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.hardware.binding import evidence_digest, reference_binding
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.log import Log, carried_evidence
from attest.model.manifest import WorkloadManifest
from attest.model.result import Severity, Status, VerificationResult
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.verify import Verifier
from tests.conftest import NOW, Node, trusted_node
from tests.hardware.test_binding import options
from tests.hardware.test_evidence_grades import bound, rules, two_nodes

LATER = NOW + timedelta(minutes=1)


def by_digest(m: WorkloadManifest, node: Node) -> WorkloadManifest:
    """The node's next heartbeat, naming ``m``'s evidence by digest."""
    return node.manifest(now=NOW).model_copy(update={"gpus": reference_binding(m.gpus)})


def digests(m: WorkloadManifest) -> list[str]:
    return [evidence_digest(g.cc_evidence) for g in m.gpus if g.cc_evidence is not None]


def new_log(tmp_path: Path) -> Log:
    return Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate())


def verifier(node: Node, vendor: SimulatedCcBackend, log: Log | None, **kw: Any) -> Verifier:
    return Verifier(kw.pop("trust", node.trust), options=options(vendor), policy=None, chains=None,
                    evidence_log=log, **kw)


def refusal(r: VerificationResult) -> str:
    """The reasons of the log refusal finding (asserted present, and the heartbeat not bound)."""
    assert r.location_grade == "declared" and r.status is Status.CONTRAINDICATED, r.findings
    finding = next(f for f in r.findings if f.rule == "hardware.cc.evidence_log_refused")
    assert finding.severity is Severity.CONTRAINDICATED
    return " ".join(finding.evidence["entries"])  # type: ignore[arg-type]


def cosigned(raw: bytes, *keys: SigningKey) -> bytes:
    """The same payload signed by ``keys`` (the node key and others)."""
    _, payload = parse_envelope(raw)
    return encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, list(keys)))


# 1. The index -------------------------------------------------------------------------------------


def _check_index(log: Log) -> None:
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    placed = log.append([b"a", b"b", b"c", b"a"], [[d1], [d1, d2], [], [d2]])
    assert [p.index for p in placed] == [0, 1, 2, 0]
    assert log.store.evidence_entries(d1) == [1, 0]  # newest first
    assert log.store.evidence_entries(d2) == [1]  # the repeated entry is not indexed again
    assert log.store.evidence_entries(d1, limit=1) == [1]
    assert log.store.evidence_entries("sha256:" + "3" * 64) == []
    assert log.envelopes_carrying(d1) == [("log entry 1", b"b"), ("log entry 0", b"a")]
    with pytest.raises(InputError, match="not an evidence digest"):
        log.store.evidence_entries("sha256:XYZ")
    # Bytes appended without digests are read for them, unverified: none here.
    log.append([b"not an envelope"])
    assert log.size == 4 and log.evidence_indexed_from == 0


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"a":1,"a":2}', b"\xff\xfe", b"NaN",
                                     b'{"_type":"https://in-toto.io/Statement/v1","subject":[],'
                                     b'"predicateType":"x","predicate":{}}'])
def test_an_envelope_of_anything_else_is_logged_and_indexes_nothing(payload: bytes, tmp_path: Path) -> None:
    raw = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [SigningKey.generate()]))
    assert carried_evidence(raw) == []
    log = new_log(tmp_path)
    assert log.append([raw])[0].index == 0


def test_the_sqlite_log_indexes_evidence_with_its_entries(tmp_path: Path) -> None:
    _check_index(new_log(tmp_path))


def test_the_postgresql_log_indexes_evidence_with_its_entries(postgres_url: str) -> None:
    _check_index(Log.init(postgres_url, "example.com/log", SigningKey.generate()))


def test_a_sqlite_log_from_before_the_index_gets_one_and_can_be_backfilled(
    vendor: SimulatedCcBackend, tmp_path: Path, cli: Any
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    log = new_log(tmp_path)
    log.append([node.envelope(m), b"other"])
    log.store.close()
    with sqlite3.connect(tmp_path / "log.db") as db:  # the schema of a log made before the index
        db.execute("DROP TABLE evidence")
    log = Log.open(tmp_path / "log.db")  # migrated on opening: an empty index from entry 2 on
    assert log.evidence_indexed_from == 2 and log.verify() == []
    assert log.store.evidence_entries(digests(m)[0]) == []
    # Until backfilled, a heartbeat naming that binding is refused, saying the log was not all searched.
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "declared" and "evidence index starts at entry 2" in next(
        f.message for f in r.findings if f.rule == "hardware.cc.evidence_log_error"
    )
    out = json.loads(cli("log", "index-evidence", "--log", "log.db", "--format", "json", check_code=0).stdout)
    assert out == {"entries_read": 2, "carrying_evidence": 1, "size": 2} and log.evidence_indexed_from == 0
    assert log.index_evidence() == 0  # nothing left before the index
    assert [label for label, _ in log.envelopes_carrying(digests(m)[0])] == ["log entry 0"]
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "hardware-bound", r.findings


def test_a_postgresql_log_from_before_the_index_gets_one(postgres_url: str) -> None:
    import psycopg

    log = Log.init(postgres_url, "example.com/log", SigningKey.generate())
    log.append([b"a", b"b", b"c"])
    log.store.close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("DROP TABLE evidence")
    log = Log.open(postgres_url)
    assert log.evidence_indexed_from == 3
    d = "sha256:" + "4" * 64
    log.append([b"d"], [[d]])
    assert log.store.evidence_entries(d) == [3] and log.verify() == []
    log.store.close()
    assert Log.open(postgres_url).evidence_indexed_from == 3  # opened again: not reset


# 2. Resolution ------------------------------------------------------------------------------------


def test_a_verifier_that_never_saw_the_binding_resolves_it_from_the_log(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    log = new_log(tmp_path)
    log.append([node.envelope(m)])  # indexed from its bytes
    assert carried_evidence(node.envelope(m)) == digests(m)
    heartbeat = node.envelope(by_digest(m, node))
    # A digest the (fully indexed) log holds no entry for: unknown, saying the log was searched.
    other = bound(node, vendor)
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(other, node)), now=LATER)
    assert "and the log holds no entry carrying it" in next(
        f.message for f in r.findings if f.rule == "hardware.cc.evidence_unknown"
    )
    alone = verifier(node, vendor, None).verify(heartbeat, now=LATER)
    assert "hardware.cc.evidence_unknown" in rules(alone) and alone.location_grade == "declared"
    v = verifier(node, vendor, log)
    first = v.verify(heartbeat, now=LATER)
    assert first.location_grade == "hardware-bound" and first.status is Status.AFFIRMING, first.findings
    # Judged as the full manifest is: the same hardware findings.
    full = verifier(node, vendor, None).verify(node.envelope(m), now=LATER)
    assert sorted((f.rule, f.message) for f in first.findings if f.rule.startswith("hardware")) == sorted(
        (f.rule, f.message) for f in full.findings if f.rule.startswith("hardware")
    )
    # Then cached: the next heartbeat reads nothing from the log (it is closed now) and gets the verdict.
    log.store.close()
    again = v.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert again.location_grade == "hardware-bound" and v.bindings.verdict_hits == 1, again.findings


def test_evidence_of_another_node_key_is_refused(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    """A thief names the genuine node's binding: the log's entry carrying it is the genuine key's."""
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    log = new_log(tmp_path)
    log.append([genuine.envelope(m)])
    r = verifier(thief, vendor, log, trust=trust).verify(thief.envelope(by_digest(m, thief)), now=LATER)
    assert "signed by node key" in refusal(r)
    assert "hardware.bound" not in rules(r)


def test_an_index_row_naming_an_entry_without_that_evidence_is_refused(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    node = trusted_node()
    m, other = bound(node, vendor), bound(node, vendor)  # two bindings of one node: other digests
    assert set(digests(m)).isdisjoint(digests(other))
    log = new_log(tmp_path)
    log.append([node.envelope(other)], [digests(m)])  # forged rows: m's digests point at other's entry
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert "carries no evidence of that digest" in refusal(r)


@pytest.mark.parametrize("attack", ["bad_signature", "untrusted_cosigner", "revoked_cosigner", "untrusted_signer",
                                    "revoked_signer"])
def test_an_entry_whose_envelope_does_not_verify_is_refused(
    vendor: SimulatedCcBackend, tmp_path: Path, attack: str
) -> None:
    """The evidence is genuine and bound to the node key, but the entry carrying it is not a trusted
    envelope: without the entry's own verification each of these would make the heartbeat bound."""
    node = trusted_node()
    m = bound(node, vendor)
    raw, trust = node.envelope(m), node.trust
    stranger = SigningKey.generate()
    expected = {"bad_signature": "signature.invalid", "untrusted_cosigner": "signature.unknown_key",
                "revoked_cosigner": "trust.key_revoked", "untrusted_signer": "signature.unknown_key",
                "revoked_signer": "trust.key_revoked"}[attack]
    if attack == "bad_signature":
        env = json.loads(raw)
        sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
        sig[-1] ^= 1
        env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
        raw = json.dumps(env, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    elif attack in ("untrusted_cosigner", "revoked_cosigner"):
        raw = cosigned(raw, node.key, stranger)
        if attack == "revoked_cosigner":
            trust = trust.with_key(stranger.public).with_revoked(stranger.key_id)
    else:
        # The heartbeat is signed by the node's (new) trusted key; the entry by its old key,
        # untrusted now or revoked, over a manifest naming the new key.
        old = SigningKey.generate()
        raw = encode_envelope(sign_payload(parse_envelope(raw)[1], PAYLOAD_TYPE_INTOTO, [old]))
        if attack == "revoked_signer":
            trust = trust.with_key(old.public).with_revoked(old.key_id)
    log = new_log(tmp_path)
    log.append([raw], [digests(m)])
    v = verifier(node, vendor, log, trust=trust)
    r = v.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert expected in refusal(r)
    assert all(v.bindings.evidence(d) is None for d in digests(m))  # nothing of it was kept


def test_a_genuine_entry_after_forged_ones_still_resolves(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    """Forged rows newer than the genuine entry do not hide it (up to the number of entries tried)."""
    node = trusted_node()
    m = bound(node, vendor)
    log = new_log(tmp_path)
    log.append([node.envelope(m)])
    log.append([cosigned(node.envelope(m), node.key, SigningKey.generate())], [digests(m)])
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "hardware-bound", r.findings


def test_a_log_that_cannot_be_read_is_a_finding_not_a_traceback(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    log = new_log(tmp_path)
    log.append([node.envelope(m)])
    with sqlite3.connect(tmp_path / "log.db") as db:
        db.execute("DROP TABLE evidence")  # the database changed under the verifier: a StoreError
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    finding = next(f for f in r.findings if f.rule == "hardware.cc.evidence_log_error")
    assert finding.severity is Severity.CONTRAINDICATED and "could not be looked up" in finding.message
    assert r.location_grade == "declared"


def test_an_index_row_of_a_missing_entry_is_a_finding(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    log = new_log(tmp_path)
    log.store.add_evidence_rows([(d, 7) for d in digests(m)])  # names an entry the log does not have
    r = verifier(node, vendor, log).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert "hardware.cc.evidence_log_error" in rules(r) and r.location_grade == "declared"


# 3. Through the CLI -------------------------------------------------------------------------------


def test_attest_verify_resolves_a_heartbeat_from_the_log_and_refuses_a_thief(
    vendor: SimulatedCcBackend, tmp_path: Path, cli: Any
) -> None:
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    log = new_log(tmp_path)
    log.append([genuine.envelope(m)])
    log.store.close()
    (tmp_path / "hb.json").write_bytes(genuine.envelope(by_digest(m, genuine)))
    (tmp_path / "thief.json").write_bytes(thief.envelope(by_digest(m, thief)))
    trust.save(tmp_path / "trust.json")
    (tmp_path / "root.pem").write_bytes(vendor.root_pem)
    args = ["verify", "--trust", "trust.json", "--now", LATER.isoformat(), "--format", "json", "--policy", "none",
            "--cc-root", "root.pem", "--cc-root-sha256", vendor.root_sha256]

    def grade(*extra: str, code: int) -> dict[str, Any]:
        proc = cli(*args, *extra, check_code=code)
        return {r["source"]: r for r in map(json.loads, proc.stdout.splitlines())}

    alone = grade("hb.json", code=3)["hb.json"]
    assert alone["location_grade"] == "declared"
    found = grade("--log", "log.db", "hb.json", "thief.json", code=3)
    assert found["hb.json"]["location_grade"] == "hardware-bound"
    assert found["thief.json"]["location_grade"] == "declared"  # whichever of the two was judged first
    # The thief alone: refused from the log's entry, which the genuine node's key signed.
    thief_alone = grade("--log", "log.db", "thief.json", code=3)["thief.json"]
    assert "hardware.cc.evidence_log_refused" in {f["rule"] for f in thief_alone["findings"]}
    # A log that is not there is a usage error, said in one line.
    proc = cli(*args, "--log", "missing.db", "hb.json", check_code=2)
    assert "no log at missing.db" in proc.stderr and "Traceback" not in proc.stderr



# 4. Two collectors on one PostgreSQL log ----------------------------------------------------------


def test_a_second_collector_on_the_postgresql_log_resolves_a_binding_the_first_logged(
    vendor: SimulatedCcBackend, postgres_url: str, tmp_path: Path
) -> None:
    """Behind one load balancer: the full binding reaches collector A, its heartbeats collector B."""
    from datetime import UTC, datetime

    from attest.crypto.keys import write_private_key
    from attest.hardware.binding import attach
    from tests.conftest import fresh_binding
    from tests.log.test_collector import http, serve

    genuine, thief, trust, _ = two_nodes(vendor)
    now = datetime.now(UTC)

    def full(node: Node) -> WorkloadManifest:
        gpus = node.manifest(now=now).gpus
        binding = fresh_binding(gpus, node.key.public, vendor, at=now)
        return node.manifest(now=now, chain=True, gpus=[g.to_obj() for g in attach(gpus, binding, node.key.key_id)])

    m = full(genuine)  # one chain: the full binding, then the heartbeat after it
    heartbeat = genuine.manifest(now=now, chain=True, gpus=[g.to_obj() for g in reference_binding(m.gpus)])
    stolen = thief.manifest(now=now, gpus=[g.to_obj() for g in reference_binding(m.gpus)])
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(postgres_url, "example.com/fleet", key).store.close()
    trust.save(tmp_path / "trust.json")
    (tmp_path / "root.pem").write_bytes(vendor.root_pem)
    extra = ("--cc-root", str(tmp_path / "root.pem"), "--cc-root-sha256", vendor.root_sha256)
    a, base_a = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key", *extra)
    b, base_b = serve(postgres_url, tmp_path / "trust.json", tmp_path / "log.key", *extra)
    try:
        answers = [
            json.loads(http("POST", f"{base}/v1/manifests", node.envelope(x))[1])
            # The thief first: B has no binding of its own yet, so its refusal comes from the log's entry.
            for base, node, x in ((base_a, genuine, m), (base_b, thief, stolen), (base_b, genuine, heartbeat))
        ]
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.communicate(timeout=10)
    grades = [x["result"]["location_grade"] for x in answers]
    found = [{f["rule"] for f in x["result"]["findings"]} for x in answers]
    assert grades == ["hardware-bound", "declared", "hardware-bound"], found
    assert "hardware.cc.evidence_log_refused" in found[1] and "hardware.cc.evidence_unknown" not in found[2]
    # Affirmed as the full binding was: the same status, no finding of its own.
    assert answers[2]["result"]["status"] == answers[0]["result"]["status"] in ("affirming", "warning"), found
    assert found[2] <= found[0], found
    assert [x["leaf_index"] for x in answers] == [0, 1, 2]


def test_log_rejudge_resolves_heartbeats_naming_a_binding_logged_before_them(
    vendor: SimulatedCcBackend, tmp_path: Path, cli: Any
) -> None:
    """Judged again entry by entry, a heartbeat by digest keeps hardware-bound (it was evidence_unknown)."""
    from datetime import UTC, datetime

    from attest.hardware.binding import attach
    from tests.conftest import fresh_binding

    node = trusted_node()
    now = datetime.now(UTC)
    m = node.manifest(now=now)
    m = m.model_copy(update={"gpus": attach(m.gpus, fresh_binding(m.gpus, node.key.public, vendor, at=now),
                                            node.key.key_id)})
    log = new_log(tmp_path)
    log.append([node.envelope(m), node.envelope(node.manifest(now=now).model_copy(
        update={"gpus": reference_binding(m.gpus)}))])
    node.trust.save(tmp_path / "trust.json")
    (tmp_path / "root.pem").write_bytes(vendor.root_pem)
    cli("log", "rejudge", "--log", "log.db", "--trust", "trust.json", "--policy", "none",
        "--cc-root", "root.pem", "--cc-root-sha256", vendor.root_sha256, check_code=0)
    stored = [json.loads(log.store.result(i) or "{}") for i in range(2)]
    assert [r["location_grade"] for r in stored] == ["hardware-bound", "hardware-bound"], stored


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_attest_audit_resolves_heartbeats_whose_binding_is_in_another_file(
    vendor: SimulatedCcBackend, tmp_path: Path, cli: Any, jobs: str
) -> None:
    """A directory of heartbeats by digest, the full binding only in the log; and a log audited alone."""
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    log = new_log(tmp_path)
    log.append([genuine.envelope(m)])
    log.store.close()
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "hb.json").write_bytes(genuine.envelope(by_digest(m, genuine)))
    (tmp_path / "spool" / "thief.json").write_bytes(thief.envelope(by_digest(m, thief)))
    trust.save(tmp_path / "trust.json")
    (tmp_path / "root.pem").write_bytes(vendor.root_pem)
    base = ("audit", "spool", "--trust", "trust.json", "--policy", "none", "--now", LATER.isoformat(),
            "--format", "json", "--details", "--max-silence", "60d", "--jobs", jobs,
            "--cc-root", "root.pem", "--cc-root-sha256", vendor.root_sha256)

    def grades(*extra: str) -> dict[str, str]:
        obj = json.loads(cli(*base, *extra, check_code=3).stdout)
        return {Path(r["source"]).name: r["location_grade"] for r in obj["results"]}

    assert grades() == {"hb.json": "declared", "thief.json": "declared"}
    assert grades("--evidence-log", "log.db") == {"hb.json": "hardware-bound", "thief.json": "declared"}
    proc = cli(*base, "--evidence-log", "missing.db", check_code=2)
    assert "no log at missing.db" in proc.stderr


def test_forged_rows_of_a_postgresql_log_are_refused_and_its_errors_are_findings(
    vendor: SimulatedCcBackend, postgres_url: str
) -> None:
    """The same guards over PostgreSQL: rows written straight into the database, then a database failure."""
    import psycopg

    genuine, thief, trust, _ = two_nodes(vendor)
    m, theirs = bound(genuine, vendor), bound(thief, vendor)
    log = Log.init(postgres_url, "example.com/fleet", SigningKey.generate())
    log.append([thief.envelope(theirs)])  # entry 0: another node's binding
    env = json.loads(genuine.envelope(m))
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    log.append([json.dumps(env, sort_keys=True, separators=(",", ":")).encode() + b"\n"], [[]])  # entry 1
    with psycopg.connect(postgres_url, autocommit=True) as db:  # the operator's own rows
        for d in digests(m):
            db.execute("INSERT INTO evidence(digest, idx) VALUES (%s, 0), (%s, 1)", (bytes.fromhex(d[7:]),) * 2)
    hb = genuine.envelope(by_digest(m, genuine))
    reasons = refusal(verifier(genuine, vendor, log, trust=trust).verify(hb, now=LATER))
    assert "log entry 1: its envelope does not verify (signature.invalid)" in reasons
    assert "log entry 0: signed by node key" in reasons
    log.append([genuine.envelope(m)])  # the genuine entry, indexed: now it resolves
    assert verifier(genuine, vendor, log, trust=trust).verify(hb, now=LATER).location_grade == "hardware-bound"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("DROP TABLE evidence")
    r = verifier(genuine, vendor, log, trust=trust).verify(hb, now=LATER)
    finding = next(f for f in r.findings if f.rule == "hardware.cc.evidence_log_error")
    assert "could not be looked up in the log" in finding.message and r.location_grade == "declared"


def test_backfilling_a_log_without_an_index_is_a_clear_error(tmp_path: Path) -> None:
    """An old log opened read-only has no evidence index: backfilling it says so (exit 2), never "covers all"."""
    from attest.crypto.keys import SigningKey
    from attest.errors import InputError
    from attest.log import Log

    Log.init(tmp_path / "log.db", "example.com/x", SigningKey.generate()).store.close()
    log = Log.open(tmp_path / "log.db")
    log.store.indexed = False  # what opening a pre-index log read-only leaves
    with pytest.raises(InputError, match="no evidence index"):
        log.index_evidence()
