"""GPU evidence verified once per binding (issue 23 item 3), and the attacks a cache invites.

A :class:`attest.Verifier` remembers each GPU report it verified by the digest of
everything verified (report, chain, OCSP answers, the nonce naming the node key and the
challenge, the root). A heartbeat repeating its binding then costs no P-384 verify; but
everything that depends on the envelope is checked every time: the nonce bound to THIS
manifest's key, the challenge's signer and age, one GPU one node, revocation's currency.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

from attest.hardware.binding import attach, reference_binding
from attest.hardware.cc import BindingCache, ReportVerification
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.manifest import WorkloadManifest
from attest.model.result import Severity, Status, VerificationResult
from attest.verify import Verifier
from tests.conftest import NOW, fresh_binding
from tests.hardware.test_binding import options
from tests.hardware.test_evidence_grades import bound, two_nodes

LATER = NOW + timedelta(minutes=1)


def rules(r: VerificationResult) -> dict[str, Severity]:
    return {f.rule: f.severity for f in r.findings}


def heartbeat(m: WorkloadManifest, node_manifest: WorkloadManifest) -> WorkloadManifest:
    """The next heartbeat: a fresh manifest (new nonce) that repeats ``m``'s binding."""
    return node_manifest.model_copy(update={"gpus": m.gpus})


def test_a_heartbeat_repeating_its_binding_is_not_verified_again(vendor: SimulatedCcBackend) -> None:
    a, _, _, _ = two_nodes(vendor)
    first = bound(a, vendor)
    verifier = Verifier(a.trust, options=options(vendor), policy=None, chains=None)
    r1 = verifier.verify(a.envelope(first), now=LATER)
    assert r1.location_grade == "hardware-bound", r1.findings
    assert (verifier.bindings.hits, verifier.bindings.misses, len(verifier.bindings)) == (0, 8, 8)
    r2 = verifier.verify(a.envelope(heartbeat(first, a.manifest())), now=LATER)
    # The whole binding was judged before: its kept verdict answers, no report is looked up again.
    assert verifier.bindings.verdict_hits == 1
    assert verifier.bindings.hits == 0 and verifier.bindings.misses == 8
    assert r2.location_grade == "hardware-bound" and r2.status is r1.status, r2.findings
    assert sorted(rules(r2)) == sorted(rules(r1))


def test_a_verified_binding_replayed_under_another_key_is_refused(vendor: SimulatedCcBackend) -> None:
    """The thief copies a binding the verifier has already verified (and cached) for another node's key."""
    genuine, thief, trust, _ = two_nodes(vendor)
    stolen = bound(genuine, vendor)
    verifier = Verifier(trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(genuine.envelope(stolen), now=LATER).location_grade == "hardware-bound"
    r = verifier.verify(thief.envelope(heartbeat(stolen, thief.manifest())), now=LATER)
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    assert [f.rule for f in r.findings].count("hardware.cc.nonce_mismatch") == 8
    assert verifier.bindings.hits == 0  # the thief's key names another nonce: another digest


def test_a_cached_binding_with_a_forged_challenge_signature_is_not_dated(vendor: SimulatedCcBackend) -> None:
    """Same report, chain and challenge text (so the same digest), but not the challenger's signature."""
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    forged = []
    for gpu in m.gpus:
        ev = gpu.cc_evidence
        assert ev is not None and ev.challenge is not None
        challenge = ev.challenge.model_copy(update={"signature": base64.b64encode(bytes(64)).decode()})
        forged.append(gpu.model_copy(update={"cc_evidence": ev.model_copy(update={"challenge": challenge})}))
    r = verifier.verify(node.envelope(node.manifest().model_copy(update={"gpus": forged})), now=LATER)
    assert verifier.bindings.hits == 8  # the reports were not verified again ...
    assert "hardware.binding_challenge_untrusted" in rules(r)  # ... but the challenge's signer was
    assert r.location_grade == "declared"


def test_the_one_gpu_one_node_check_still_speaks_on_a_cache_hit(vendor: SimulatedCcBackend) -> None:
    a, b, trust, gpus = two_nodes(vendor)
    ma = bound(a, vendor)
    mb = b.manifest()
    mb = mb.model_copy(update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)})
    verifier = Verifier(trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(a.envelope(ma), now=LATER).status is Status.AFFIRMING
    rb = verifier.verify(b.envelope(mb), now=LATER)
    assert rules(rb).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED
    hits = verifier.bindings.verdict_hits
    # a's next heartbeat: its binding's verdict is kept, and the same GPUs now also serve b.
    ra = verifier.verify(a.envelope(heartbeat(ma, a.manifest())), now=LATER)
    assert verifier.bindings.verdict_hits == hits + 1
    assert (
        rules(ra).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED
        and ra.location_grade == "declared"
    )


def test_a_cached_binding_grows_old_and_its_revocation_answers_stale(vendor: SimulatedCcBackend) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, nonces=None, chains=None)
    assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    later = NOW + timedelta(hours=30)  # the challenge (NOW - 1 h) is 31 h old; the OCSP answers too
    r = verifier.verify(node.envelope(heartbeat(m, node.manifest(now=later))), now=later)
    assert r.location_grade == "declared"
    assert "hardware.binding_stale" in rules(r) and "hardware.cc.ocsp_stale" in rules(r)


def test_a_failed_report_is_never_remembered(vendor: SimulatedCcBackend) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    gpus = list(m.gpus)
    ev = gpus[0].cc_evidence
    assert ev is not None
    flipped = ev.report[:-2] + ("00" if ev.report[-2:] != "00" else "01")  # the signature's last byte
    gpus[0] = gpus[0].model_copy(update={"cc_evidence": ev.model_copy(update={"report": flipped})})
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    for _ in range(2):
        r = verifier.verify(node.envelope(node.manifest().model_copy(update={"gpus": gpus})), now=LATER)
        assert "hardware.cc.signature_invalid" in rules(r) and r.location_grade == "declared"
    assert len(verifier.bindings) == 7


def test_answers_fetched_online_bypass_the_cache(vendor: SimulatedCcBackend) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor, ocsp=False)
    by_chain = {
        g.cc_evidence.certificate_chain: vendor.revocation(g.uuid, produced=NOW - timedelta(minutes=5))  # type: ignore[union-attr]
        for g in m.gpus
    }
    fetched: list[bytes] = []

    def fetch(chain_pem: bytes) -> list[bytes]:
        fetched.append(chain_pem)
        return by_chain[chain_pem.decode()]

    verifier = Verifier(
        node.trust, options=replace(options(vendor), ocsp_fetcher=fetch), policy=None, chains=None
    )
    assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    assert (
        verifier.verify(node.envelope(heartbeat(m, node.manifest())), now=LATER).location_grade
        == "hardware-bound"
    )
    assert len(fetched) == 16 and len(verifier.bindings) == 0


def test_the_cache_answers_only_inside_the_outcomes_window() -> None:
    cache = BindingCache()
    ok = ReportVerification(valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(hours=2))
    ok.device_id, ok.leaf = "d", object()  # type: ignore[assignment]
    cache.put(b"k", ok)
    assert cache.get(b"k", NOW) is ok
    assert cache.get(b"k", NOW + timedelta(hours=2, seconds=1)) is None
    assert cache.get(b"k", NOW - timedelta(days=2)) is None
    assert cache.get(b"other", NOW) is None
    bad = ReportVerification(valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(hours=2))
    bad.device_id, bad.leaf = "d", object()  # type: ignore[assignment]
    bad.add("hardware.cc.ocsp_stale", Severity.WARNING, "stale")
    cache.put(b"bad", bad)
    assert cache.get(b"bad", NOW) is None


def test_the_key_names_every_input_unambiguously() -> None:
    base = {
        "expected_nonce": bytes(32),
        "root_pem": b"root",
        "pinned_root_sha256": "00" * 32,
        "ocsp_max_age": timedelta(hours=24),
        "ocsp_not_before": NOW,
    }
    k = BindingCache.key("ab", "pem", ["x"], **base)  # type: ignore[arg-type]
    assert k == BindingCache.key("ab", "pem", ["x"], **base)  # type: ignore[arg-type]
    others = [
        BindingCache.key("abcd", "pem", ["x"], **base),  # type: ignore[arg-type]
        BindingCache.key("a", "bpem", ["x"], **base),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", None, **base),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", ["x", "y"], **base),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", ["x"], **{**base, "expected_nonce": bytes([1]) * 32}),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", ["x"], **{**base, "root_pem": b"other"}),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", ["x"], **{**base, "ocsp_max_age": timedelta(hours=1)}),  # type: ignore[arg-type]
        BindingCache.key("ab", "pem", ["x"], **{**base, "ocsp_not_before": None}),  # type: ignore[arg-type]
    ]
    assert len({k, *others}) == 1 + len(others)


# Heartbeats that name their binding by digest -----------------------------------------------------


def referencing(m: WorkloadManifest, node_manifest: WorkloadManifest) -> WorkloadManifest:
    """The next heartbeat, naming ``m``'s evidence by digest instead of repeating it."""
    return node_manifest.model_copy(update={"gpus": reference_binding(m.gpus)})


def test_a_heartbeat_naming_its_verified_binding_by_digest_is_hardware_bound(
    vendor: SimulatedCcBackend,
) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    first = verifier.verify(node.envelope(m), now=LATER)
    assert first.location_grade == "hardware-bound"
    small = node.envelope(referencing(m, node.manifest()))
    assert len(small) * 10 < len(node.envelope(m))
    r = verifier.verify(small, now=LATER)
    assert r.location_grade == "hardware-bound" and r.status is first.status, r.findings
    assert sorted(rules(r)) == sorted(rules(first))


def test_an_unknown_digest_fails_closed_and_is_named(vendor: SimulatedCcBackend) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(
        node.trust, options=options(vendor), policy=None, chains=None
    )  # never saw the binding
    hb = referencing(m, node.manifest())
    r = verifier.verify(node.envelope(hb), now=LATER)
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    finding = next(f for f in r.findings if f.rule == "hardware.cc.evidence_unknown")
    digest = hb.gpus[0].cc_evidence_ref
    assert digest is not None and digest in finding.message and finding.evidence["digests"][0] == digest  # type: ignore[index]
    # Through the CLI too: attest verify refuses it (exit 1: contraindicated), naming the digest.


def test_a_verified_digest_named_by_another_key_is_refused(vendor: SimulatedCcBackend) -> None:
    """The thief names the genuine node's verified evidence by digest: resolved, then checked for ITS key."""
    genuine, thief, trust, _ = two_nodes(vendor)
    m = bound(genuine, vendor)
    verifier = Verifier(trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(genuine.envelope(m), now=LATER).location_grade == "hardware-bound"
    r = verifier.verify(thief.envelope(referencing(m, thief.manifest())), now=LATER)
    assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared"
    assert [f.rule for f in r.findings].count("hardware.cc.nonce_mismatch") == 8


def test_a_gpu_carrying_evidence_and_a_reference_is_refused(vendor: SimulatedCcBackend) -> None:
    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(node.envelope(m), now=LATER).location_grade == "hardware-bound"
    refs = reference_binding(m.gpus)
    gpus = [m.gpus[0].model_copy(update={"cc_evidence_ref": refs[1].cc_evidence_ref}), *m.gpus[1:]]
    r = verifier.verify(node.envelope(node.manifest().model_copy(update={"gpus": gpus})), now=LATER)
    assert rules(r).get("hardware.cc.evidence_ref_conflict") is Severity.CONTRAINDICATED
    assert r.location_grade == "declared"


def test_referenced_gpus_serving_two_nodes_are_refused_in_a_batch(vendor: SimulatedCcBackend) -> None:
    """verify_many's second look at the device store reads the resolved evidence, not the references."""
    x, y, trust, gpus = two_nodes(vendor)
    # The batch visits node keys in key-id order: the referencing node must come first, so that only
    # the second look (after the whole batch) can see the other key's claim on its GPUs.
    a, b = sorted((x, y), key=lambda n: n.key.key_id)
    ma = a.manifest().model_copy(
        update={"gpus": attach(gpus, fresh_binding(gpus, a.key.public, vendor), a.key.key_id)}
    )
    mb = b.manifest().model_copy(
        update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)}
    )
    verifier = Verifier(trust, options=options(vendor), policy=None, chains=None)
    assert verifier.verify(a.envelope(ma), now=LATER).location_grade == "hardware-bound"
    batch = Verifier(trust, options=options(vendor), policy=None, chains=None)  # a fresh device store
    batch.bindings = verifier.bindings
    ra, rb = batch.verify_many(
        [("a", a.envelope(referencing(ma, a.manifest()))), ("b", b.envelope(mb))], now=LATER
    )
    assert rules(rb).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED
    assert (
        rules(ra).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED
        and ra.location_grade == "declared"
    )


def test_the_audit_reads_a_referencing_heartbeats_devices_from_the_resolved_evidence(
    vendor: SimulatedCcBackend,
) -> None:
    """The fleet's one-GPU-one-node check (attest audit) counts GPUs that name their binding by digest."""
    from attest.audit.analytics import ManifestSummary

    node, _, _, _ = two_nodes(vendor)
    m = bound(node, vendor)
    verifier = Verifier(node.trust, options=options(vendor), policy=None, chains=None)
    verifier.verify(node.envelope(m), now=LATER)
    result, signed, hardware = verifier.verify_and_resolve(
        node.envelope(referencing(m, node.manifest())), now=LATER
    )
    assert result.location_grade == "hardware-bound" and signed is not None and hardware is not None
    assert all(g.cc_evidence is None and g.cc_evidence_ref for g in signed.gpus)  # as signed
    summary = ManifestSummary.of("hb", signed, result, hardware)
    assert len(summary.devices) == 8
    assert (
        summary.digest == ManifestSummary.of("hb", signed, result).digest
    )  # the chain digest is the signed one's


def test_an_audit_split_across_processes_resolves_references_like_one_process(
    vendor: SimulatedCcBackend,
) -> None:
    """A node's history cut into pieces for --jobs 2: heartbeats naming the binding of an earlier piece resolve."""
    from attest.audit import audit
    from tests.conftest import trusted_node

    node = trusted_node()
    items, base = [], None
    for k in range(10):
        m = node.manifest(now=NOW + timedelta(minutes=k), chain=True)
        if base is None:
            m = m.model_copy(
                update={
                    "gpus": attach(m.gpus, fresh_binding(m.gpus, node.key.public, vendor), node.key.key_id)
                }
            )
            base = m
        else:
            m = m.model_copy(update={"gpus": reference_binding(base.gpus)})
        node.history[-1] = m
        items.append((f"m{k}.json", node.envelope(m)))
    opts = replace(options(vendor), as_of_issue=True)
    verdicts = {
        jobs: [
            (
                r.status,
                r.location_grade,
                sorted(f.rule for f in r.findings if f.severity is not Severity.INFO),
            )
            for r in audit(
                items, node.trust, now=NOW + timedelta(minutes=20), policy=None, options=opts, jobs=jobs
            ).results
        ]
        for jobs in (1, 2)
    }
    assert verdicts[1] == verdicts[2]
    assert all(status is Status.AFFIRMING and grade == "hardware-bound" for status, grade, _ in verdicts[2])
