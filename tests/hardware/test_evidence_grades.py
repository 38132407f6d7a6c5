"""What hardware-bound proves, under attack: fresh bindings, revocation, the attested model, one GPU per node."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import TrustStoreError
from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import attach
from attest.hardware.catalog import bundled_catalog
from attest.hardware.cc import device_identity, parse_chain, verify_report
from attest.hardware.freshness import challenge_signed_by, issue_challenge
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import Gpu, WorkloadManifest
from attest.model.result import Severity, Status, VerificationResult
from attest.replay import DeviceClaim, MemoryDeviceStore, SqliteVerifierState
from attest.verify import verify_envelope
from tests.conftest import CHALLENGER, NOW, Node, fresh_binding, trusted_node
from tests.hardware.test_binding import options


def rules(r: VerificationResult) -> dict[str, Severity]:
    return {f.rule: f.severity for f in r.findings}


def evidence_of(node: Node) -> HardwareEvidence:
    return SimulatedGpuSource(node.preset, seed=node.host, hostname=node.host).read()


def bound(node: Node, vendor: SimulatedCcBackend, **kw: object) -> WorkloadManifest:
    binding = fresh_binding(evidence_of(node).gpus, node.key.public, vendor, **kw)  # type: ignore[arg-type]
    m = node.manifest()
    return m.model_copy(update={"gpus": attach(m.gpus, binding, node.key.key_id)})


def check(node: Node, m: WorkloadManifest, vendor: SimulatedCcBackend, **opts: object) -> VerificationResult:
    return verify_envelope(node.envelope(m), node.trust, now=NOW, options=replace(options(vendor), **opts))  # type: ignore[arg-type]


# 1. Fresh bindings ------------------------------------------------------------------------------


def test_a_fresh_trusted_binding_is_hardware_bound(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    r = check(node, bound(node, vendor), vendor)
    assert r.status is Status.AFFIRMING and r.location_grade == "hardware-bound", r.findings


def test_a_binding_without_a_challenge_is_not_fresh(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    gpus = [
        g.model_copy(update={"cc_evidence": g.cc_evidence.model_copy(update={"challenge": None})})
        for g in m.gpus
    ]  # type: ignore[union-attr]
    r = check(node, m.model_copy(update={"gpus": gpus}), vendor)
    # Dropping the challenge changes the nonce the reports must carry: they no longer fit.
    assert r.location_grade == "declared" and "hardware.cc.nonce_mismatch" in rules(r)


def test_an_undated_binding_is_genuine_but_declared(vendor: SimulatedCcBackend) -> None:
    from attest.hardware.binding import SimulatedCcSource, bind

    node = trusted_node()
    made = NOW - timedelta(hours=1)
    binding = bind(evidence_of(node).gpus, node.key.public, SimulatedCcSource(vendor, ocsp_produced_at=made))
    m = node.manifest()
    r = check(node, m.model_copy(update={"gpus": attach(m.gpus, binding, node.key.key_id)}), vendor)
    assert rules(r).get("hardware.binding_not_fresh") is Severity.WARNING
    assert r.location_grade == "declared" and "hardware.cc.nonce_mismatch" not in rules(r)


def test_a_binding_older_than_the_maximum_age_is_declared(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor, at=NOW - timedelta(hours=25))
    r = check(node, m, vendor)
    assert rules(r).get("hardware.binding_stale") is Severity.WARNING and r.location_grade == "declared"
    assert check(node, m, vendor, binding_max_age=timedelta(hours=48)).location_grade == "hardware-bound"


def test_the_policy_sets_the_maximum_binding_age(vendor: SimulatedCcBackend) -> None:
    from attest.policy.engine import load_policy

    node = trusted_node()
    m = bound(node, vendor, at=NOW - timedelta(hours=25))
    policy = load_policy("us-ear")
    assert policy.hardware_requirement().binding_max_age_s == 86_400
    r = verify_envelope(
        node.envelope(m),
        node.trust,
        now=NOW,
        options=replace(options(vendor), binding_max_age=timedelta(days=9)),
        policy=policy,
    )
    assert "hardware.binding_stale" in rules(r)


def test_a_challenge_from_an_untrusted_challenger_dates_nothing(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor, challenger=SigningKey.generate())
    r = check(node, m, vendor)
    assert (
        rules(r).get("hardware.binding_challenge_untrusted") is Severity.WARNING
        and r.location_grade == "declared"
    )


def test_a_forged_challenge_signature_is_refused(vendor: SimulatedCcBackend) -> None:
    signed = issue_challenge(CHALLENGER, now=NOW)
    forged = signed.model_copy(
        update={"challenge": signed.challenge.model_copy(update={"issued_at": NOW + timedelta(days=30)})}
    )
    assert challenge_signed_by(signed, CHALLENGER.public) and not challenge_signed_by(
        forged, CHALLENGER.public
    )


def test_a_challenge_dated_after_the_manifest_is_refused(vendor: SimulatedCcBackend) -> None:
    from attest.hardware.binding import SimulatedCcSource, bind

    node = trusted_node()
    source = SimulatedCcSource(vendor, ocsp_produced_at=NOW - timedelta(hours=1))
    binding = bind(
        evidence_of(node).gpus,
        node.key.public,
        source,
        challenge=issue_challenge(CHALLENGER, now=NOW + timedelta(hours=3)),
    )
    m = node.manifest()
    r = check(node, m.model_copy(update={"gpus": attach(m.gpus, binding, node.key.key_id)}), vendor)
    assert "hardware.binding_challenge_future" in rules(r) and r.location_grade == "declared"


def test_challenger_and_node_keys_are_separate_roles() -> None:
    key = SigningKey.generate()
    with pytest.raises(TrustStoreError):
        TrustStore().with_key(key.public).with_challenger(key.public)
    with pytest.raises(TrustStoreError):
        TrustStore().with_challenger(key.public).with_key(key.public)
    store = TrustStore().with_challenger(key.public)
    assert store.get(key.key_id) is None  # a challenger cannot sign manifests
    assert (
        store.challenger(key.key_id) is not None
        and store.with_revoked(key.key_id).challenger(key.key_id) is None
    )


# 2. Revocation is required ----------------------------------------------------------------------


def test_no_revocation_status_is_not_hardware_bound(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor, ocsp=False)
    r = check(node, m, vendor)
    assert (
        rules(r).get("hardware.cc.revocation_missing") is Severity.WARNING and r.location_grade == "declared"
    )
    assert (
        check(node, m, vendor, require_revocation=False).location_grade == "hardware-bound"
    )  # the lab opt-out


def test_a_fetcher_supplies_missing_revocation_status(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor, ocsp=False)
    made = NOW - timedelta(minutes=5)
    by_chain = {g.cc_evidence.certificate_chain: vendor.revocation(g.uuid, produced=made) for g in m.gpus}  # type: ignore[union-attr]
    r = check(node, m, vendor, ocsp_fetcher=lambda pem: by_chain[pem.decode()])
    assert r.location_grade == "hardware-bound", r.findings


def test_a_revoked_device_is_contraindicated(tmp_path: Path) -> None:
    vendor = SimulatedCcBackend(tmp_path / "vendor")
    node = trusted_node()
    first = evidence_of(node).gpus[0]
    bound(node, vendor)  # makes the devices
    vendor.revoke(first.uuid)
    r = check(node, bound(node, vendor), vendor)
    assert rules(r).get("hardware.cc.revoked") is Severity.CONTRAINDICATED and r.location_grade == "declared"


# 3. The attested model is the declared model ----------------------------------------------------


def redeclare(m: WorkloadManifest, **pci_and_name: str) -> WorkloadManifest:
    gpus = []
    for g in m.gpus:
        update: dict[str, object] = {"classification": None}
        if "name" in pci_and_name:
            update["name"] = pci_and_name["name"]
        if "device_id" in pci_and_name:
            update["pci"] = g.pci.model_copy(update={"device_id": pci_and_name["device_id"]})
        gpus.append(g.model_copy(update=update))
    return m.model_copy(update={"gpus": gpus})


def test_h100_reports_declared_as_h20_are_a_model_mismatch(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = redeclare(bound(node, vendor), name="NVIDIA H20", device_id="0x232910de")
    r = check(node, m, vendor)
    assert (
        rules(r).get("hardware.model_mismatch") is Severity.CONTRAINDICATED and r.location_grade == "declared"
    )
    finding = next(f for f in r.findings if f.rule == "hardware.model_mismatch")
    assert "G520/0200" in finding.message and "H100 SXM" in finding.message


def test_a_pci_id_that_disagrees_with_the_name_is_a_model_mismatch(node: Node) -> None:
    m = redeclare(node.manifest(), device_id="0x232910de")  # H20's PCI id, H100's name
    r = verify_envelope(node.envelope(m), node.trust, now=NOW)
    assert rules(r).get("hardware.model_mismatch") is Severity.CONTRAINDICATED


def test_a_die_shared_with_more_controlled_chips_needs_its_sku(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    node.preset = "h20"  # the catalog records no H20 board SKU from a vendor sample
    r = check(node, bound(node, vendor), vendor)
    assert rules(r).get("hardware.model_unconfirmed") is Severity.WARNING and r.location_grade == "declared"


def test_catalog_names_and_pci_ids_agree() -> None:
    catalog = bundled_catalog()
    for chip in catalog.chips:
        for name in chip.names:
            assert catalog.by_name(name) is chip, (chip.id, name)
        for pci in chip.pci_ids:
            vendor_id, device = (int(x, 16) for x in pci.split(":"))
            assert catalog.by_pci(vendor_id, device) is chip


def test_catalog_identity_of_the_vendors_samples(vectors: Path) -> None:
    catalog = bundled_catalog()
    for report_file, chain_file, chip in (
        ("hopperAttestationReport.txt", "hopperCertChain.txt", "h100-pcie"),
        ("blackwellAttestationReport.txt", "blackwellCertChain.txt", "b200"),
    ):
        report = bytes.fromhex((vectors / report_file).read_text().strip())
        chain = (vectors / chain_file).read_bytes()
        v = verify_report(report, chain, (vectors / "nvidia_device_identity_root.pem").read_bytes(), now=NOW)
        assert v.device_id == device_identity(parse_chain(chain)[1])
        fields = {f.name: f.text for f in v.report.opaque}  # type: ignore[union-attr]
        declared = catalog.get(chip)
        assert declared is not None
        check_ = catalog.check_identity(
            declared, v.hwmodel or "", fields.get("project"), fields.get("project_sku")
        )
        assert check_.verdict == "confirmed", check_
        h20 = catalog.get("h20")
        assert (
            h20 is not None
            and catalog.check_identity(
                h20, v.hwmodel or "", fields.get("project"), fields.get("project_sku")
            ).verdict
            == "mismatch"
        )


def test_blackwell_gb202_sample_verifies_with_its_nonce_only(vectors: Path) -> None:
    folder = vectors.parent / "nvidia-nvat" / "trustee" / "blackwell_coco"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    report = bytes.fromhex((folder / "blackwell_coco_report.txt").read_text().strip())
    chain = (folder / "blackwell_coco_certs.txt").read_bytes()
    root = (vectors / "nvidia_device_identity_root.pem").read_bytes()
    nonce = bytes.fromhex("d622979b6c3ab8b8e7b30a43f2dc7f553ebbc187536231d531effa496ec03fb5")
    good = verify_report(report, chain, root, now=NOW, expected_nonce=nonce)
    assert good.valid, good.findings
    bad = verify_report(report, chain, root, now=NOW, expected_nonce=bytes(32))
    assert not bad.valid and any(f.rule == "hardware.cc.nonce_mismatch" for f in bad.findings)
    fields = {f.name: f.text for f in good.report.opaque}  # type: ignore[union-attr]
    catalog = bundled_catalog()
    pro = catalog.get("rtx-pro-6000-blackwell-server")
    assert pro is not None
    assert (
        catalog.check_identity(pro, good.hwmodel or "", fields["project"], fields["project_sku"]).verdict
        == "confirmed"
    )


# 4. One GPU, one node ---------------------------------------------------------------------------


def test_the_same_gpus_bound_to_two_keys_are_contraindicated(vendor: SimulatedCcBackend) -> None:
    a, b = trusted_node(), trusted_node()
    b.host = "sgp-gpu-01"
    trust = a.trust.with_key(b.key.public)
    devices = MemoryDeviceStore()
    ma = bound(a, vendor)
    gpus = evidence_of(a).gpus  # the same GPUs, bound to b's key too
    mb = b.manifest()
    mb = mb.model_copy(update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)})
    ra = verify_envelope(a.envelope(ma), trust, now=NOW, options=options(vendor), devices=devices)
    rb = verify_envelope(b.envelope(mb), trust, now=NOW, options=options(vendor), devices=devices)
    assert ra.status is Status.AFFIRMING
    assert (
        rules(rb).get("hardware.gpu_two_nodes") is Severity.CONTRAINDICATED
        and rb.location_grade == "declared"
    )
    finding = next(f for f in rb.findings if f.rule == "hardware.gpu_two_nodes")
    assert set(finding.evidence["keys"]) == {a.key.key_id, b.key.key_id}  # type: ignore[arg-type]
    # Without the store the same envelope passes: the check is what refuses it.
    assert verify_envelope(b.envelope(mb), trust, now=NOW, options=options(vendor)).status is Status.AFFIRMING


def test_device_claims_overlap_and_hand_over(tmp_path: Path) -> None:
    t0 = NOW
    for store in (MemoryDeviceStore(), SqliteVerifierState(tmp_path / "s.db")):
        assert store.claim(DeviceClaim("d1", "k1", "h1", t0, t0 + timedelta(hours=2))) == []
        # k2 bound the device after k1's last manifest: a move, not a clone
        assert (
            store.claim(DeviceClaim("d1", "k2", "h2", t0 + timedelta(hours=3), t0 + timedelta(hours=4))) == []
        )
        # k1 keeps using it afterwards: now the periods overlap
        clash = store.claim(DeviceClaim("d1", "k1", "h1", t0, t0 + timedelta(hours=5)))
        assert [c.key_id for c in clash] == ["k2"]
        assert store.rebind("k1", t0, frozenset({"d1", "d2"})) is None
        assert store.rebind("k1", t0, frozenset({"d1", "d2"})) is None
        swapped = store.rebind("k1", t0 + timedelta(days=1), frozenset({"d1", "d3"}))
        assert swapped is not None and swapped[1] == frozenset({"d1", "d2"})


def test_a_swap_is_a_finding(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    node = trusted_node()
    devices = MemoryDeviceStore()
    r1 = verify_envelope(
        node.envelope(bound(node, vendor, at=NOW - timedelta(hours=2))),
        node.trust,
        now=NOW,
        options=options(vendor),
        devices=devices,
    )
    assert r1.status is Status.AFFIRMING
    other_gpus = SimulatedGpuSource("h100", seed="elsewhere", hostname=node.host).read().gpus
    m = node.manifest()
    m = m.model_copy(
        update={
            "gpus": attach(other_gpus, fresh_binding(other_gpus, node.key.public, vendor), node.key.key_id)
        }
    )
    r2 = verify_envelope(node.envelope(m), node.trust, now=NOW, options=options(vendor), devices=devices)
    assert rules(r2).get("hardware.gpu_swapped") is Severity.WARNING


def test_a_backdated_manifest_cannot_make_an_old_binding_young(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    issued = NOW - timedelta(hours=23)  # still within its validity window when judged at NOW
    binding = fresh_binding(evidence_of(node).gpus, node.key.public, vendor, at=issued - timedelta(hours=16))
    m = node.manifest(now=issued)
    m = m.model_copy(update={"gpus": attach(m.gpus, binding, node.key.key_id)})
    m = m.model_copy(update={"freshness": m.freshness.model_copy(update={"expires_at": NOW + timedelta(minutes=30)})})
    r = check(node, m, vendor)
    assert "hardware.binding_stale" in rules(r) and r.location_grade == "declared"


# Found by review: each of these earned hardware-bound before it was fixed --------------------------


def two_nodes(vendor: SimulatedCcBackend) -> tuple[Node, Node, TrustStore, list[Gpu]]:
    a, b = trusted_node(), trusted_node()
    b.host = "sgp-gpu-01"
    return a, b, a.trust.with_key(b.key.public), evidence_of(a).gpus


def test_a_batch_refuses_both_envelopes_of_one_set_of_gpus(vendor: SimulatedCcBackend) -> None:
    from attest.verify import verify_many

    a, b, trust, gpus = two_nodes(vendor)
    ma = bound(a, vendor)
    mb = b.manifest()
    mb = mb.model_copy(update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)})
    results = verify_many(
        [("a", a.envelope(ma)), ("b", b.envelope(mb))], trust, now=NOW, nonces=None, chains=None,
        options=options(vendor), devices=MemoryDeviceStore(),
    )
    for r in results:  # whichever key id sorts first, neither keeps hardware-bound
        assert r.status is Status.CONTRAINDICATED and r.location_grade == "declared", r.findings
        assert "hardware.gpu_two_nodes" in rules(r) and "hardware.bound" not in rules(r)


def test_the_claim_lasts_until_the_manifest_expires(vendor: SimulatedCcBackend) -> None:
    """A long-lived manifest of A, then B binding the same GPUs on a later challenge."""
    a, b, trust, gpus = two_nodes(vendor)
    devices = MemoryDeviceStore()
    ma = bound(a, vendor, at=NOW - timedelta(hours=3))
    ma = ma.model_copy(update={"freshness": ma.freshness.model_copy(update={"expires_at": NOW + timedelta(hours=20)})})
    mb = b.manifest()
    mb = mb.model_copy(update={"gpus": attach(gpus, fresh_binding(gpus, b.key.public, vendor), b.key.key_id)})
    verify_envelope(a.envelope(ma), trust, now=NOW, options=replace(options(vendor)), devices=devices)
    rb = verify_envelope(b.envelope(mb), trust, now=NOW, options=options(vendor), devices=devices)
    assert "hardware.gpu_two_nodes" in rules(rb)


def test_a_manifest_dated_just_before_its_challenge_still_claims_its_gpus(vendor: SimulatedCcBackend) -> None:
    """Within the clock skew a manifest may precede its challenge: its claim must not be an empty period."""
    a, b, trust, gpus = two_nodes(vendor)
    devices = MemoryDeviceStore()
    from attest.hardware.binding import SimulatedCcSource, bind

    made = NOW - timedelta(hours=1)
    challenge = issue_challenge(CHALLENGER, now=made)
    binding_a = bind(gpus, a.key.public, SimulatedCcSource(vendor, ocsp_produced_at=made), challenge=challenge)
    ma = a.manifest(now=made - timedelta(seconds=50))
    ma = ma.model_copy(update={"gpus": attach(ma.gpus, binding_a, a.key.key_id)})
    ma = ma.model_copy(update={"freshness": ma.freshness.model_copy(update={"expires_at": NOW + timedelta(hours=2)})})
    binding_b = bind(gpus, b.key.public, SimulatedCcSource(vendor, ocsp_produced_at=made), challenge=challenge)
    mb = b.manifest()
    mb = mb.model_copy(update={"gpus": attach(gpus, binding_b, b.key.key_id)})
    ra = verify_envelope(a.envelope(ma), trust, now=NOW, options=options(vendor), devices=devices)
    assert ra.location_grade == "hardware-bound", ra.findings
    rb = verify_envelope(b.envelope(mb), trust, now=NOW, options=options(vendor), devices=devices)
    assert "hardware.gpu_two_nodes" in rules(rb)


def test_ocsp_answers_older_than_the_binding_do_not_count(vendor: SimulatedCcBackend) -> None:
    """Answers captured before a revocation cannot be copied into a later binding."""
    node = trusted_node()
    m = bound(node, vendor)
    made = NOW - timedelta(hours=1)
    old = {g.uuid: vendor.revocation(g.uuid, produced=made - timedelta(hours=6)) for g in m.gpus}
    gpus = [
        g.model_copy(update={"cc_evidence": g.cc_evidence.model_copy(update={"ocsp": [base64.b64encode(r).decode() for r in old[g.uuid]]})})  # type: ignore[union-attr]
        for g in m.gpus
    ]
    r = check(node, m.model_copy(update={"gpus": gpus}), vendor)
    assert "hardware.cc.ocsp_stale" in rules(r) and r.location_grade == "declared"


def test_online_asks_for_todays_answer_even_when_answers_are_attached(tmp_path: Path) -> None:
    vendor = SimulatedCcBackend(tmp_path / "vendor")
    node = trusted_node()
    m = bound(node, vendor)  # attached answers: good
    vendor.revoke(m.gpus[0].uuid)
    fetched = lambda pem: vendor.revocation(next(g.uuid for g in m.gpus if g.cc_evidence.certificate_chain == pem.decode()), produced=NOW)  # type: ignore[union-attr]  # noqa: E731
    assert check(node, m, vendor).location_grade == "hardware-bound"
    r = check(node, m, vendor, ocsp_fetcher=fetched)
    assert rules(r).get("hardware.cc.revoked") is Severity.CONTRAINDICATED and r.location_grade == "declared"


def test_a_name_for_another_chip_leaves_the_gpus_unbound(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    r = check(node, redeclare(bound(node, vendor), name="NVIDIA H20"), vendor)
    assert "hardware.model_mismatch" in rules(r) and r.location_grade == "declared"


def test_a_board_part_number_for_another_board_is_a_model_mismatch(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound(node, vendor)
    gpus = [g.model_copy(update={"board_part_number": "692-2G520-0280-000"}) for g in m.gpus]
    r = check(node, m.model_copy(update={"gpus": gpus}), vendor)
    assert rules(r).get("hardware.model_mismatch") is Severity.CONTRAINDICATED and r.location_grade == "declared"
