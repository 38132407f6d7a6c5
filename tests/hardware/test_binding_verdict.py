"""A binding judged once: the kept verdict, and every way an attacker could try to reuse it.

A :class:`attest.Verifier` that judged a node's binding ``hardware-bound`` keeps that judgement
(:class:`attest.hardware.cc.BindingCache`), keyed by the node key, every GPU entry with its
evidence (or the digest naming it) and every anchor it depended on. A heartbeat that repeats the
binding, or names it by digest, is given the verdict only while its own time lies where every
certificate is valid and every OCSP answer current, the challenger is still trusted, the binding
is young enough and every digest still resolves. Each test below shows the verdict refused where
a guard must refuse it: without that guard the heartbeat would be ``hardware-bound``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from attest.hardware.binding import SimulatedCcSource, attach, bind, reference_binding
from attest.hardware.freshness import issue_challenge
from attest.hardware.rim import DirectoryRims, MemoryRims, RimAppraiser
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.manifest import WorkloadManifest
from attest.model.result import Severity, Status, VerificationResult
from attest.verify import Verifier, VerifyOptions
from tests.conftest import CHALLENGER, NOW, Node, fresh_binding, trusted_node
from tests.hardware.test_binding import options
from tests.hardware.test_evidence_grades import bound, evidence_of, two_nodes

LATER = NOW + timedelta(minutes=1)


def rules(r: VerificationResult) -> dict[str, Severity]:
    return {f.rule: f.severity for f in r.findings}


def by_digest(m: WorkloadManifest, node: Node, *, now: datetime = NOW) -> WorkloadManifest:
    """The node's next heartbeat (issued at ``now``), naming ``m``'s evidence by digest."""
    return node.manifest(now=now).model_copy(update={"gpus": reference_binding(m.gpus)})


def judged(node: Node, m: WorkloadManifest, opts: VerifyOptions, **kw: object) -> Verifier:
    """A verifier that has judged ``m`` hardware-bound and kept its verdict (asserted)."""
    verifier = Verifier(node.trust, options=opts, policy=None, chains=None, **kw)  # type: ignore[arg-type]
    assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    r = verifier.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "hardware-bound" and verifier.bindings.verdict_hits == 0, r.findings
    r = verifier.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "hardware-bound" and verifier.bindings.verdict_hits == 1, r.findings
    return verifier


def sharing(verifier: Verifier, **changes: object) -> Verifier:
    """Another verifier (other anchors) holding the same binding cache."""
    kw: dict[str, object] = {"options": verifier.options, "policy": None, "chains": None, **changes}
    other = Verifier(kw.pop("trust", verifier.trust), **kw)  # type: ignore[arg-type]
    other.bindings = verifier.bindings
    return other


def test_a_heartbeat_naming_its_binding_is_judged_as_in_full_and_costs_no_report(
    vendor: SimulatedCcBackend,
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    hits, misses = verifier.bindings.hits, verifier.bindings.misses
    fast = verifier.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert (verifier.bindings.hits, verifier.bindings.misses) == (hits, misses)  # no report looked up
    full = Verifier(node.trust, options=options(vendor), policy=None, chains=None).verify(
        node.envelope(m), now=LATER
    )
    assert fast.location_grade == full.location_grade == "hardware-bound"
    assert [(f.rule, f.severity, f.message) for f in fast.findings if f.rule.startswith("hardware")] == [
        (f.rule, f.severity, f.message) for f in full.findings if f.rule.startswith("hardware")
    ]
    # The audit's reader gets the evidence the digests name, as on the full path.
    _, signed, hardware = verifier.verify_and_resolve(node.envelope(by_digest(m, node)), now=LATER)
    assert signed is not None and hardware is not None
    assert [g.cc_evidence for g in hardware.gpus] == [g.cc_evidence for g in m.gpus]


def test_a_repeated_full_binding_is_judged_from_its_verdict_but_one_changed_byte_is_not(
    vendor: SimulatedCcBackend,
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    for _ in range(2):
        assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    again = node.manifest().model_copy(update={"gpus": m.gpus})
    assert verifier.verify(node.envelope(again), now=LATER).location_grade == "hardware-bound"
    assert verifier.bindings.verdict_hits >= 1
    gpus = list(m.gpus)
    ev = gpus[3].cc_evidence
    assert ev is not None
    flipped = ev.report[:-2] + ("00" if ev.report[-2:] != "00" else "01")  # the signature's last byte
    gpus[3] = gpus[3].model_copy(update={"cc_evidence": ev.model_copy(update={"report": flipped})})
    r = verifier.verify(node.envelope(node.manifest().model_copy(update={"gpus": gpus})), now=LATER)
    assert "hardware.cc.signature_invalid" in rules(r) and r.location_grade == "declared"


def test_the_verdict_is_never_given_to_another_node_key(vendor: SimulatedCcBackend) -> None:
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    verifier = judged(genuine, m, options(vendor))
    verifier = sharing(verifier, trust=trust)
    hits = verifier.bindings.verdict_hits
    r = verifier.verify(thief.envelope(by_digest(m, thief)), now=LATER)
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    assert [f.rule for f in r.findings].count("hardware.cc.nonce_mismatch") == 8
    assert verifier.bindings.verdict_hits == hits


def test_the_verdict_is_never_given_to_other_gpu_entries(vendor: SimulatedCcBackend) -> None:
    """The same digests, but one GPU re-declared as another board: its report says otherwise."""
    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    hb = by_digest(m, node)
    gpus = list(hb.gpus)
    gpus[2] = gpus[2].model_copy(update={"board_part_number": "692-2G520-0280-000"})  # another SKU
    r = verifier.verify(node.envelope(hb.model_copy(update={"gpus": gpus})), now=LATER)
    assert rules(r).get("hardware.model_mismatch") is Severity.CONTRAINDICATED, r.findings
    assert r.location_grade == "declared" and verifier.bindings.verdict_hits == 1
    # A GPU missing from the heartbeat: judged in full (7 GPUs), not given the 8-GPU verdict.
    r = verifier.verify(node.envelope(hb.model_copy(update={"gpus": hb.gpus[:7]})), now=LATER)
    assert verifier.bindings.verdict_hits == 1
    assert next(f for f in r.findings if f.rule == "hardware.bound").evidence["devices"] == 7


def test_the_verdict_ends_when_an_ocsp_answer_is_no_longer_current(vendor: SimulatedCcBackend) -> None:
    """Answers produced 50 min before the challenge go stale 50 min before the binding grows old."""
    node = trusted_node()
    made = NOW - timedelta(hours=1)
    binding = bind(
        evidence_of(node).gpus,
        node.key.public,
        SimulatedCcSource(vendor, ocsp_produced_at=made - timedelta(minutes=50)),
        challenge=issue_challenge(CHALLENGER, now=made),
    )
    m = node.manifest().model_copy(update={"gpus": attach(node.manifest().gpus, binding, node.key.key_id)})
    verifier = judged(node, m, options(vendor), nonces=None)
    at = made + timedelta(hours=23, minutes=40)  # binding 23 h 40 min old; answers 24 h 30 min
    r = verifier.verify(node.envelope(by_digest(m, node, now=at)), now=at)
    assert "hardware.cc.ocsp_stale" in rules(r) and "hardware.binding_stale" not in rules(r), r.findings
    assert r.location_grade == "declared" and verifier.bindings.verdict_hits == 1


def test_the_verdict_ends_when_the_binding_grows_older_than_allowed(vendor: SimulatedCcBackend) -> None:
    """Answers produced after the challenge are still current when the binding is too old."""
    node = trusted_node()
    made = NOW - timedelta(hours=1)
    binding = bind(
        evidence_of(node).gpus,
        node.key.public,
        SimulatedCcSource(vendor, ocsp_produced_at=made + timedelta(minutes=50)),
        challenge=issue_challenge(CHALLENGER, now=made),
    )
    m = node.manifest().model_copy(update={"gpus": attach(node.manifest().gpus, binding, node.key.key_id)})
    verifier = judged(node, m, options(vendor), nonces=None)
    at = made + timedelta(hours=24, minutes=10)  # binding 24 h 10 min old; answers 23 h 20 min
    r = verifier.verify(node.envelope(by_digest(m, node, now=at)), now=at)
    assert "hardware.binding_stale" in rules(r) and "hardware.cc.ocsp_stale" not in rules(r), r.findings
    assert r.location_grade == "declared" and verifier.bindings.verdict_hits == 1
    # A verifier whose binding age is shorter, sharing the cache, is not given the verdict either.
    short = sharing(verifier, options=replace(verifier.options, binding_max_age=timedelta(minutes=30)))
    r = short.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert "hardware.binding_stale" in rules(r) and r.location_grade == "declared"


def test_a_heartbeat_dated_before_its_binding_is_not_given_the_verdict(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor)  # challenged at NOW - 1 h
    verifier = judged(node, m, options(vendor), nonces=None)
    # Issued two hours before its binding's challenge, judged now (inside every certificate's and
    # answer's validity): a manifest cannot predate the binding it relies on.
    early = by_digest(m, node, now=NOW - timedelta(hours=3))
    r = verifier.verify(node.envelope(early), now=LATER)
    assert "hardware.binding_challenge_future" in rules(r) and r.location_grade == "declared", r.findings


def test_a_digest_whose_evidence_was_forgotten_is_refused_though_its_verdict_is_kept(
    vendor: SimulatedCcBackend,
) -> None:
    """A small cache: a second node's binding pushes the first's evidence out, not its verdicts."""
    from attest.hardware.cc import BindingCache

    a, b, trust, _ = two_nodes(vendor)  # other hosts, other GPUs
    ma, mb = bound(a, vendor), bound(b, vendor)
    verifier = Verifier(trust, options=options(vendor), policy=None, chains=None)
    verifier.bindings = BindingCache(size=8)
    assert verifier.verify(a.envelope(ma), now=LATER).location_grade == "hardware-bound"
    assert verifier.verify(a.envelope(by_digest(ma, a)), now=LATER).location_grade == "hardware-bound"
    assert verifier.verify(b.envelope(mb), now=LATER).location_grade == "hardware-bound"
    r = verifier.verify(a.envelope(by_digest(ma, a)), now=LATER)
    assert rules(r).get("hardware.cc.evidence_unknown") is Severity.CONTRAINDICATED, r.findings
    assert r.location_grade == "declared"


def test_the_verdict_ends_when_the_challenger_is_no_longer_trusted(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    revoked = sharing(verifier, trust=node.trust.with_revoked(CHALLENGER.public.key_id))
    r = revoked.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert "hardware.binding_challenge_untrusted" in rules(r) and r.location_grade == "declared"


def test_the_verdict_is_never_given_under_another_vendor_root(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    other = SimulatedCcBackend(tmp_path / "other-vendor")
    elsewhere = sharing(
        verifier, options=replace(verifier.options, cc_root=other.root_pem, cc_root_sha256=other.root_sha256)
    )
    r = elsewhere.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert r.location_grade == "declared" and r.status is Status.CONTRAINDICATED, r.findings
    assert any(f.rule.startswith("hardware.cc.chain") for f in r.findings)


def test_the_verdict_is_never_given_under_another_rim_store(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    empty = RimAppraiser(MemoryRims(), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256)
    r = sharing(verifier, options=replace(verifier.options, rims=empty)).verify(
        node.envelope(by_digest(m, node)), now=LATER
    )
    assert rules(r).get("hardware.rim.missing") is Severity.WARNING and r.status is Status.WARNING


def test_the_verdict_ends_when_the_rim_store_changes(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    """A RIM replaced in memory, or removed from a RIM directory, between two heartbeats."""
    node = trusted_node()
    m = bound(node, vendor)
    published = vendor.rims()
    memory = MemoryRims(published)
    opts = replace(
        options(vendor),
        rims=RimAppraiser(memory, vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256),
    )
    verifier = judged(node, m, opts)
    memory.rims.clear()
    r = verifier.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert rules(r).get("hardware.rim.missing") is Severity.WARNING, r.findings

    for rim_id, xml in published.items():
        (tmp_path / f"{rim_id}.xml").write_bytes(xml)
    opts = replace(
        options(vendor),
        rims=RimAppraiser(
            DirectoryRims(tmp_path), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256
        ),
    )
    verifier = judged(node, m, opts)
    for path in tmp_path.glob("*.xml"):
        path.unlink()
    r = verifier.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert rules(r).get("hardware.rim.missing") is Severity.WARNING, r.findings


def test_a_rim_source_that_cannot_say_what_changed_keeps_no_verdict(vendor: SimulatedCcBackend) -> None:
    class Opaque:
        def __init__(self, rims: dict[str, bytes]) -> None:
            self.inner = MemoryRims(rims)

        def get(self, rim_id: str) -> bytes | None:
            return self.inner.get(rim_id)

    node = trusted_node()
    m = bound(node, vendor)
    appraiser = RimAppraiser(
        Opaque(vendor.rims()), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256
    )
    verifier = Verifier(
        node.trust, options=replace(options(vendor), rims=appraiser), policy=None, chains=None
    )
    for _ in range(3):
        assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    assert verifier.bindings.verdict_hits == 0


def test_a_digest_this_verifier_never_verified_is_refused_though_another_kept_a_verdict(
    vendor: SimulatedCcBackend,
) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    judged(node, m, options(vendor))
    stranger = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    r = stranger.verify(node.envelope(by_digest(m, node)), now=LATER)
    assert rules(r).get("hardware.cc.evidence_unknown") is Severity.CONTRAINDICATED
    assert r.location_grade == "declared"


def test_one_gpu_one_node_still_speaks_for_a_heartbeat_judged_from_its_verdict(
    vendor: SimulatedCcBackend,
) -> None:
    a, b, trust, gpus = two_nodes(vendor)
    ma = bound(a, vendor)
    verifier = judged(a, ma, options(vendor))
    verifier = sharing(verifier, trust=trust, devices=verifier.devices)
    mb = b.manifest().model_copy(
        update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)}
    )
    assert rules(verifier.verify(b.envelope(mb), now=LATER)).get("hardware.gpu_two_nodes")
    hits = verifier.bindings.verdict_hits
    r = verifier.verify(a.envelope(by_digest(ma, a)), now=LATER)
    assert verifier.bindings.verdict_hits == hits + 1
    assert (
        rules(r).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED and r.location_grade == "declared"
    )


def test_the_verdict_is_never_given_under_another_catalog(vendor: SimulatedCcBackend) -> None:
    """A catalog that records no attested identity for any chip cannot confirm the model."""
    from attest.hardware.catalog import Catalog, bundled_catalog

    node = trusted_node()
    m = bound(node, vendor)
    verifier = judged(node, m, options(vendor))
    doc = bundled_catalog().document
    blind = Catalog(
        doc.model_copy(update={"chips": [c.model_copy(update={"attested": None}) for c in doc.chips]})
    )
    r = sharing(verifier, catalog=blind).verify(node.envelope(by_digest(m, node)), now=LATER)
    assert rules(r).get("hardware.model_unconfirmed") is Severity.WARNING and r.location_grade == "declared"


def test_a_collector_resolves_heartbeats_naming_a_binding_it_logged(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    """The collector keeps one binding cache across envelopes: by-digest heartbeats are bound."""
    from datetime import UTC

    from attest.crypto.keys import SigningKey
    from attest.log import Log
    from attest.log.collector import Collector
    from attest.replay import SqliteVerifierState

    node = trusted_node()
    now = datetime.now(UTC)
    m = node.manifest(now=now)
    m = m.model_copy(
        update={
            "gpus": attach(m.gpus, fresh_binding(m.gpus, node.key.public, vendor, at=now), node.key.key_id)
        }
    )
    Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate()).store.close()
    c = Collector(
        Log.open(tmp_path / "log.db"),
        node.trust,
        state=SqliteVerifierState(tmp_path / "state.db"),
        policy=None,
        options=options(vendor),
    )
    grades = []
    for manifest in (m, by_digest(m, node, now=now), by_digest(m, node, now=now)):
        code, answer = c._submit(node.envelope(manifest))
        assert code == 200, answer
        grades.append(answer["result"]["location_grade"])
    assert grades == ["hardware-bound"] * 3
    assert c.bindings.verdict_hits == 1
    # A heartbeat naming a binding the collector never verified is refused, as by any verifier.
    other = trusted_node()
    stranger = other.manifest(now=now)
    stranger = stranger.model_copy(
        update={
            "gpus": attach(
                stranger.gpus,
                fresh_binding(stranger.gpus, other.key.public, vendor, at=now),
                other.key.key_id,
            )
        }
    )
    c.trust = c.trust.with_key(other.key.public)
    code, answer = c._submit(other.envelope(by_digest(stranger, other, now=now)))
    assert code == 200 and answer["result"]["location_grade"] == "declared"
    assert "hardware.cc.evidence_unknown" in [f["rule"] for f in answer["result"]["findings"]]


def test_attest_verify_judges_heartbeats_naming_a_binding_and_refuses_their_forgeries(
    vendor: SimulatedCcBackend, tmp_path: Path, cli: Any
) -> None:
    """Through the CLI, one call: the full binding, heartbeats naming it, and four forgeries of them."""
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    redeclared = by_digest(m, genuine)
    gpus = list(redeclared.gpus)
    gpus[2] = gpus[2].model_copy(update={"board_part_number": "692-2G520-0280-000"})
    files = {
        "a1-full.json": genuine.envelope(m),
        "a2-heartbeat.json": genuine.envelope(by_digest(m, genuine)),
        "a3-heartbeat.json": genuine.envelope(by_digest(m, genuine)),
        "a4-redeclared.json": genuine.envelope(redeclared.model_copy(update={"gpus": gpus})),
        "a5-before-binding.json": genuine.envelope(by_digest(m, genuine, now=NOW - timedelta(hours=3))),
        "a6-dropped-gpu.json": genuine.envelope(redeclared.model_copy(update={"gpus": redeclared.gpus[:7]})),
        "b-thief.json": thief.envelope(by_digest(m, thief)),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    trust.save(tmp_path / "trust.json")
    (tmp_path / "root.pem").write_bytes(vendor.root_pem)
    (tmp_path / "rim_root.pem").write_bytes(vendor.rim_root_pem)
    (tmp_path / "rims").mkdir()
    for rim_id, xml in vendor.rims().items():
        (tmp_path / "rims" / f"{rim_id}.xml").write_bytes(xml)
    proc = cli(
        "verify", "--trust", "trust.json", "--now", LATER.isoformat(), "--format", "json",
        "--cc-root", "root.pem", "--cc-root-sha256", vendor.root_sha256,
        "--rims", "rims", "--rim-root", "rim_root.pem", "--rim-root-sha256", vendor.rim_root_sha256,
        *files,
    )  # fmt: skip
    results = {r["source"]: r for r in map(json.loads, proc.stdout.splitlines()) if "source" in r}
    grade = {name: r["location_grade"] for name, r in results.items()}
    flagged = {
        name: {f["rule"] for f in r["findings"] if f["severity"] != "info"} for name, r in results.items()
    }
    assert (
        grade["a1-full.json"] == grade["a2-heartbeat.json"] == grade["a3-heartbeat.json"] == "hardware-bound"
    )
    assert grade["a6-dropped-gpu.json"] == "hardware-bound"  # 7 GPUs that are bound, judged in full
    assert (
        grade["a4-redeclared.json"] == "declared"
        and "hardware.model_mismatch" in flagged["a4-redeclared.json"]
    )
    assert grade["a5-before-binding.json"] == "declared"
    assert "hardware.binding_challenge_future" in flagged["a5-before-binding.json"]
    assert grade["b-thief.json"] == "declared" and proc.returncode == 3
    assert flagged["b-thief.json"] & {"hardware.cc.evidence_unknown", "hardware.cc.nonce_mismatch"}


def test_a_fork_between_evidence_and_its_digest_is_refused_in_both_branches_whatever_the_order(
    vendor: SimulatedCcBackend,
) -> None:
    # Two payloads of one (node key, sequence): one carrying its GPU evidence, one naming it by digest.
    # Resolved, they are the same manifest; signed, they are two branches. Both refused in any order,
    # as the audit refuses them (its summaries hold the signed digests).
    node = trusted_node()
    m = bound(node, vendor)
    full, ref = node.envelope(m), node.envelope(m.model_copy(update={"gpus": reference_binding(m.gpus)}))
    for order in (("full", full), ("ref", ref)), (("ref", ref), ("full", full)):
        verifier = Verifier(node.trust, options=options(vendor), policy=None)
        results = verifier.verify_many(list(order), now=LATER)
        for (name, _), r in zip(order, results, strict=True):
            assert r.status is Status.CONTRAINDICATED and "chain.fork" in rules(r), (name, r.findings)
