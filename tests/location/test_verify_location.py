"""Landmark receipts through the real verifier: each rejection has its own finding; physics decides the grade."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.location.receipts import binding_for, gpu_nonce, report_digest, sign_receipt
from attest.location.region import C_KM_PER_NS
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import LandmarkReceipt, LocationEvidence, TimedGpuReport, WorkloadManifest
from attest.model.policy import LocationRequirement
from attest.model.result import Severity, Status
from attest.policy.engine import Policy, PolicyError, load_policy
from attest.verify import VerifyOptions, verify_envelope
from tests.conftest import NOW, Node, trusted_node
from tests.hardware.test_binding import bound_manifest, options

LATER = NOW + timedelta(minutes=1)
KEYS = {name: SigningKey.generate() for name in ("jhb-a", "jhb-b", "fra", "rogue")}
SPOTS = {"jhb-a": (1.60, 103.65, "Op A"), "jhb-b": (1.70, 103.55, "Op B"), "fra": (50.11, 8.68, "Op C")}
REGISTRY = LandmarkRegistry(
    landmarks=[
        Landmark(id=n, latitude=lat, longitude=lon, public_key=KEYS[n].public.spki_b64(), operator=op)
        for n, (lat, lon, op) in SPOTS.items()
    ]
)


def rtt_for_km(km: float) -> int:
    """The RTT of a round trip to ``km`` away at fibre speed plus 0.2 ms."""
    return int(2 * km / (C_KM_PER_NS * 2 / 3) + 200_000)


def receipt(
    m: WorkloadManifest,
    landmark: str,
    rtt_ns: int,
    *,
    key: str | None = None,
    nonce: str | None = None,
    at: datetime | None = None,
) -> LandmarkReceipt:
    return sign_receipt(
        KEYS[key or landmark],
        landmark_id=landmark,
        node_key_id=m.node.key_id,
        nonce=os.urandom(16),
        rtt_ns=rtt_ns,
        measured_at=at or NOW - timedelta(seconds=30),
        binding=binding_for(m.node.key_id, nonce or m.freshness.nonce),
    )


def timed(
    m: WorkloadManifest, landmark: str, rtt_ns: int, vendor: SimulatedCcBackend, *, answer: dict[int, str] | None = None
) -> tuple[LandmarkReceipt, list[TimedGpuReport]]:
    """A GPU-timed receipt: every GPU's report over this challenge's nonce, digests recorded by the landmark.

    ``answer`` makes GPU index -> another UUID's device answer instead (another device's key).
    """
    nonce = os.urandom(16)
    binding = binding_for(m.node.key_id, m.freshness.nonce)
    asked = gpu_nonce(nonce, m.node.key_id, binding)
    reports = {g.index: vendor.attest((answer or {}).get(g.index, g.uuid), asked)[0] for g in m.gpus}
    r = sign_receipt(
        KEYS[landmark],
        landmark_id=landmark,
        node_key_id=m.node.key_id,
        nonce=nonce,
        rtt_ns=rtt_ns,
        measured_at=NOW - timedelta(seconds=30),
        binding=binding,
        gpu_reports=[report_digest(reports[g.index]) for g in m.gpus],
    )
    return r, [TimedGpuReport(receipt_nonce=nonce.hex(), gpu_index=i, report=rep.hex()) for i, rep in reports.items()]


def with_receipts(
    m: WorkloadManifest, receipts: list[LandmarkReceipt], reports: list[TimedGpuReport] | None = None
) -> WorkloadManifest:
    return m.model_copy(update={"location_evidence": LocationEvidence(receipts=receipts, gpu_reports=reports or [])})


def with_timed(m: WorkloadManifest, pairs: list[tuple[LandmarkReceipt, list[TimedGpuReport]]]) -> WorkloadManifest:
    return with_receipts(m, [r for r, _ in pairs], [t for _, ts in pairs for t in ts])


def honest_timed(m: WorkloadManifest, vendor: SimulatedCcBackend) -> WorkloadManifest:
    return with_timed(
        m,
        [timed(m, "jhb-a", rtt_for_km(8), vendor), timed(m, "jhb-b", rtt_for_km(12), vendor), timed(m, "fra", rtt_for_km(10_000), vendor)],
    )


def verify(node: Node, m: WorkloadManifest, vendor: SimulatedCcBackend | None, **kw):  # type: ignore[no-untyped-def]
    base = options(vendor) if vendor else VerifyOptions()
    opts = VerifyOptions(cc_root=base.cc_root, cc_root_sha256=base.cc_root_sha256, cc_cache=base.cc_cache, rims=base.rims, landmarks=REGISTRY)
    return verify_envelope(node.envelope(m), node.trust, now=LATER, options=opts, **kw)


def by_rule(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.rule: f for f in result.findings}


def honest(m: WorkloadManifest) -> list[LandmarkReceipt]:
    return [receipt(m, "jhb-a", rtt_for_km(8)), receipt(m, "jhb-b", rtt_for_km(12)), receipt(m, "fra", rtt_for_km(10_000))]


def test_two_operators_and_gpu_timed_receipts_give_measured(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    r = verify(node, honest_timed(m, vendor), vendor)
    assert r.location_grade == "measured", r.findings
    assert r.status is Status.AFFIRMING and r.trust_vector.location is Status.AFFIRMING
    f = by_rule(r)["location.measured"]
    assert "CN, HK, MO" in f.message and "GPUs themselves" in f.message  # type: ignore[attr-defined]
    landmarks = f.evidence["gpu_timed_landmarks"]  # type: ignore[attr-defined]
    assert {lm["id"] for lm in landmarks} == {"jhb-a", "jhb-b", "fra"}
    assert all(lm["excludes_alone"] for lm in landmarks if lm["id"] != "fra")


def test_receipts_the_key_alone_answered_are_key_measured_not_measured(vendor: SimulatedCcBackend) -> None:
    """The same round trips answered by the node key alone (a copy of attest.key could have): key-measured."""
    node = trusted_node()
    m = bound_manifest(node, vendor)
    r = verify(node, with_receipts(m, honest(m)), vendor)
    assert r.location_grade == "key-measured", r.findings
    assert r.status is Status.AFFIRMING
    f = by_rule(r)["location.key_measured"]
    assert "copy of the key" in f.message and "no receipt is GPU-timed" in f.message  # type: ignore[attr-defined]
    assert "location.measured" not in by_rule(r)


def test_gpu_timed_receipts_need_a_hardware_bound_key(vendor: SimulatedCcBackend) -> None:
    """Without the vendor root the GPUs' leaf keys are not verified: the reports cannot count."""
    node = trusted_node()
    m = bound_manifest(node, vendor)
    r = verify(node, honest_timed(m, vendor), None)
    assert r.location_grade == "declared"
    assert "location.measured" not in by_rule(r)


def _swap(m: WorkloadManifest, landmark: str, change) -> WorkloadManifest:  # type: ignore[no-untyped-def]
    """Apply ``change`` to the GPU reports of the receipt from ``landmark``."""
    nonce = next(r.nonce for r in m.location_evidence.receipts if r.landmark_id == landmark)
    reports = [change(t) if t.receipt_nonce == nonce else t for t in m.location_evidence.gpu_reports]
    return with_receipts(m, m.location_evidence.receipts, [t for t in reports if t is not None])


@pytest.mark.parametrize(
    ("attack", "rule", "severity"),
    [
        ("missing-gpu", "location.gpu_reports_incomplete", Severity.WARNING),
        ("substituted", "location.gpu_report_invalid", Severity.CONTRAINDICATED),
        ("other-challenge", "location.gpu_report_invalid", Severity.CONTRAINDICATED),
        ("other-device", "location.gpu_report_invalid", Severity.CONTRAINDICATED),
        ("duplicate", "location.gpu_report_invalid", Severity.CONTRAINDICATED),
    ],
)
def test_each_gpu_timing_failure_has_its_finding_and_is_not_measured(vendor: SimulatedCcBackend, attack: str, rule: str, severity: Severity) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    good = honest_timed(m, vendor)
    first = m.gpus[0].index
    if attack == "missing-gpu":  # one GPU did not answer: its report is absent
        bad = _swap(good, "jhb-a", lambda t: None if t.gpu_index == first else t)
    elif attack == "substituted":  # a genuine report over the right nonce, but not the one the landmark recorded
        nonce = next(r for r in good.location_evidence.receipts if r.landmark_id == "jhb-a")
        fresh = vendor.attest(m.gpus[0].uuid, gpu_nonce(bytes.fromhex(nonce.nonce), m.node.key_id, nonce.binding))[0]
        bad = _swap(good, "jhb-a", lambda t: t.model_copy(update={"report": fresh.hex()}) if t.gpu_index == first else t)
    elif attack == "other-challenge":  # reports made for another landmark's challenge, digests recorded anew
        receipt_b, reports_b = timed(m, "jhb-b", rtt_for_km(12), vendor)
        moved = [t.model_copy(update={"receipt_nonce": "00" * 16}) for t in reports_b]
        fake = sign_receipt(KEYS["jhb-a"], landmark_id="jhb-a", node_key_id=m.node.key_id, nonce=bytes(16), rtt_ns=rtt_for_km(8),
                            measured_at=NOW - timedelta(seconds=30), binding=receipt_b.binding, gpu_reports=receipt_b.gpu_reports)
        bad = with_timed(m, [(fake, moved), timed(m, "jhb-b", rtt_for_km(12), vendor), timed(m, "fra", rtt_for_km(10_000), vendor)])
    elif attack == "other-device":  # another GPU (a nearby accomplice's) answered for GPU 0
        pair = timed(m, "jhb-a", rtt_for_km(8), vendor, answer={first: "GPU-99999999-9999-9999-9999-999999999999"})
        bad = with_timed(m, [pair, timed(m, "jhb-b", rtt_for_km(12), vendor), timed(m, "fra", rtt_for_km(10_000), vendor)])
    else:  # GPU 0's report given twice, GPU 1's left out
        second = m.gpus[1].index
        zero = next(t for t in good.location_evidence.gpu_reports if t.gpu_index == first)
        bad = _swap(good, "jhb-a", lambda t: zero.model_copy(update={"gpu_index": first}) if t.gpu_index == second else t)
    r = verify(node, bad, vendor)
    f = by_rule(r)[rule]
    assert f.severity is severity, f  # type: ignore[attr-defined]
    assert f.evidence["landmark"] == "jhb-a"  # type: ignore[attr-defined]
    # Only jhb-b (one operator) is GPU-timed now: never measured; the key's answers still count.
    assert r.location_grade == "key-measured", r.findings
    assert "location.measured" not in by_rule(r)


def test_the_report_floor_is_taken_off_and_a_floor_above_the_rtt_is_refused(vendor: SimulatedCcBackend) -> None:
    """30 ms of report time on top of 50 km of fibre: a 4,500 km disk without a floor, ~60 km with a 29.5 ms one."""
    node = trusted_node()
    m = bound_manifest(node, vendor)
    slow = 30_000_000
    signed = with_timed(
        m,
        [timed(m, "jhb-a", rtt_for_km(8) + slow, vendor), timed(m, "jhb-b", rtt_for_km(12) + slow, vendor), timed(m, "fra", rtt_for_km(10_000) + slow, vendor)],
    )
    assert verify(node, signed, vendor).location_grade == "hardware-bound"  # floor 0 (the bundled catalog)
    doc = bundled_catalog().document
    floored = Catalog(doc.model_copy(update={"report_time_floor_ms": {"Hopper": 29.5}}))
    r = verify(node, signed, vendor, catalog=floored)
    assert r.location_grade == "measured", r.findings
    assert by_rule(r)["location.measured"].evidence["report_floor_ms"] == 29.5  # type: ignore[attr-defined]
    # A floor above what the GPUs did is not a lower bound: those receipts are not GPU-timed.
    too_high = Catalog(doc.model_copy(update={"report_time_floor_ms": {"Hopper": 40.0}}))
    r = verify(node, signed, vendor, catalog=too_high)
    assert r.location_grade == "hardware-bound"
    assert by_rule(r)["location.gpu_faster_than_floor"].severity is Severity.WARNING  # type: ignore[attr-defined]


def test_a_key_not_bound_to_hardware_is_not_measured() -> None:
    node = trusted_node()
    m = node.manifest()
    r = verify(node, with_receipts(m, honest(m)), None)
    assert r.location_grade == "declared"
    assert "could be answering from anywhere" in by_rule(r)["location.key_not_hardware_bound"].message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("make", "rule", "severity"),
    [
        (lambda m: receipt(m, "jhb-b", rtt_for_km(12), key="rogue"), "location.receipt_signature", Severity.CONTRAINDICATED),
        (lambda m: receipt(m, "jhb-b", rtt_for_km(12)).model_copy(update={"rtt_ns": 1000}), "location.receipt_signature", Severity.CONTRAINDICATED),
        (lambda m: receipt(m, "jhb-b", rtt_for_km(12), nonce="ab" * 16), "location.receipt_binding", Severity.CONTRAINDICATED),
        (lambda m: receipt(m, "jhb-b", rtt_for_km(12), at=NOW - timedelta(hours=2)), "location.receipt_stale", Severity.WARNING),
        (lambda m: receipt(m, "jhb-b", rtt_for_km(12), at=LATER + timedelta(hours=2)), "location.receipt_stale", Severity.WARNING),
        (lambda m: receipt(m, "rogue", rtt_for_km(1)), "location.receipt_unknown_landmark", Severity.WARNING),
    ],
    ids=["wrong-key", "tampered-rtt", "foreign-nonce", "stale", "future", "unknown-landmark"],
)
def test_each_bad_receipt_has_its_own_finding_and_does_not_count(vendor: SimulatedCcBackend, make, rule, severity) -> None:  # type: ignore[no-untyped-def]
    node = trusted_node()
    m = bound_manifest(node, vendor)
    receipts = [receipt(m, "jhb-a", rtt_for_km(8)), make(m)]
    r = verify(node, with_receipts(m, receipts), vendor)
    f = by_rule(r)[rule]
    assert f.severity is severity  # type: ignore[attr-defined]
    # Without the bad receipt only one operator remains: not measured.
    assert r.location_grade == "hardware-bound"
    assert "1 operator(s)" in by_rule(r)["location.not_provable"].message  # type: ignore[attr-defined]


def test_a_receipt_for_another_node_is_rejected(vendor: SimulatedCcBackend) -> None:
    node, other = trusted_node(), trusted_node()
    m = bound_manifest(node, vendor)
    theirs = other.manifest()
    moved = receipt(theirs, "jhb-b", rtt_for_km(12), nonce=m.freshness.nonce)  # same nonce, other node key
    r = verify(node, with_receipts(m, [receipt(m, "jhb-a", rtt_for_km(8)), moved]), vendor)
    assert "location.receipt_binding" in by_rule(r) and r.location_grade == "hardware-bound"


def test_one_compromised_landmark_cannot_produce_measured(vendor: SimulatedCcBackend) -> None:
    """The node is really in Shenzhen; Op A's landmark lies (0.05 ms), Op B's tells the truth."""
    node = trusted_node()
    m = bound_manifest(node, vendor)
    lie = receipt(m, "jhb-a", 50_000)
    truth = receipt(m, "jhb-b", rtt_for_km(2_600))
    r = verify(node, with_receipts(m, [lie, truth]), vendor)
    assert r.location_grade == "hardware-bound"
    f = by_rule(r)["location.not_provable"]
    assert "rests on Op A" in f.message  # type: ignore[attr-defined]


def test_a_site_outside_a_disk_is_impossible(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    # Frankfurt answers in 1 ms: the node is within 150 km of Frankfurt, not in Johor.
    r = verify(node, with_receipts(m, [*honest(m)[:2], receipt(m, "fra", 1_000_000)]), vendor)
    f = by_rule(r)["location.claim_impossible"]
    assert f.severity is Severity.CONTRAINDICATED and "fra" in f.message  # type: ignore[attr-defined]
    assert r.status is Status.CONTRAINDICATED and r.trust_vector.location is Status.CONTRAINDICATED


def test_no_registry_means_not_evaluated(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    raw = node.envelope(with_receipts(m, honest(m)))
    r = verify_envelope(raw, node.trust, now=LATER, options=options(vendor))
    assert r.location_grade == "hardware-bound" and "location.no_registry" in by_rule(r)


def test_policy_sets_the_prohibited_area(vendor: SimulatedCcBackend, tmp_path: Path) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    signed = honest_timed(m, vendor)
    r = verify(node, signed, vendor, policy=load_policy("us-ear"))
    assert by_rule(r)["location.measured"].evidence["prohibited"] == ["CN", "HK", "MO"]  # type: ignore[attr-defined]
    assert r.location_grade == "measured"
    # A policy that rules out the D:5 countries too: Johor is ~1,000 km from Myanmar, so it still holds.
    (tmp_path / "wide.toml").write_text(
        'id = "wide"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear"]\n'
        '[location]\nprohibited = ["D:5", "HK", "MO"]\nmin_operators = 2\n'
    )
    wide = load_policy(str(tmp_path / "wide.toml"))
    r = verify(node, signed, vendor, policy=wide)
    assert "MM" in by_rule(r)["location.measured"].evidence["prohibited"]  # type: ignore[attr-defined]
    assert "KH" not in by_rule(r)["location.measured"].evidence["prohibited"]  # removed from D:5 in 2026-02
    # k = 3 with only two nearby operators: not measured.
    three = wide.main.model_copy(update={"location": LocationRequirement(prohibited=["D:5"], min_operators=3)})
    strict = Policy([*wide.documents[:-1], three])
    assert verify(node, signed, vendor, policy=strict).location_grade == "hardware-bound"


def test_a_policy_that_proves_less_is_refused_or_warns_on_every_measured_verdict(
    vendor: SimulatedCcBackend, tmp_path: Path
) -> None:
    """An extending policy's [location] that no longer rules out CN (or asks one operator) cannot pass silently.

    Refused without a reason; with one, the grade it grants is a warning, not affirming.
    """
    node = trusted_node()
    m = bound_manifest(node, vendor)
    signed = honest_timed(m, vendor)
    base = verify(node, signed, vendor, policy=load_policy("us-ear"))
    assert base.location_grade == "measured" and base.status is Status.AFFIRMING
    head = 'id = "lax"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = ["us-ear"]\n'
    (tmp_path / "lax.toml").write_text(head + '[location]\nprohibited = ["KP"]\nmin_operators = 1\n')
    with pytest.raises(PolicyError, match=r"\[location\] asks less than that of us-ear \(no longer rules out CN HK MO; min_operators 2 → 1\)"):
        load_policy(str(tmp_path / "lax.toml"))
    (tmp_path / "lax.toml").write_text(
        head + '[location]\nprohibited = ["KP"]\nmin_operators = 1\noverride = "few landmarks here"\n'
    )
    r = verify(node, signed, vendor, policy=load_policy(str(tmp_path / "lax.toml")))
    assert r.location_grade == "measured"
    f = by_rule(r)["policy.override"]
    assert f.severity is Severity.WARNING and "few landmarks here" in f.message  # type: ignore[attr-defined]
    assert r.status is Status.WARNING


def test_a_repeated_gpu_index_cannot_let_one_gpu_answer_for_all(vendor: SimulatedCcBackend) -> None:
    """Far GPUs and one nearby GPU, all listed as index 0: the nearby one's report must not stand for the rest."""
    node = trusted_node()
    m = bound_manifest(node, vendor)
    same = m.model_copy(update={"gpus": [g.model_copy(update={"index": 0}) for g in m.gpus]})
    near = same.gpus[-1]  # its key is the one the index maps to

    def one_answer(landmark: str, km: float) -> tuple[LandmarkReceipt, list[TimedGpuReport]]:
        nonce = os.urandom(16)
        binding = binding_for(same.node.key_id, same.freshness.nonce)
        report = vendor.attest(near.uuid, gpu_nonce(nonce, same.node.key_id, binding))[0]
        digests = [report_digest(report)] + ["sha256:" + os.urandom(32).hex() for _ in same.gpus[1:]]
        r = sign_receipt(KEYS[landmark], landmark_id=landmark, node_key_id=same.node.key_id, nonce=nonce,
                         rtt_ns=rtt_for_km(km), measured_at=NOW - timedelta(seconds=30), binding=binding, gpu_reports=digests)
        return r, [TimedGpuReport(receipt_nonce=nonce.hex(), gpu_index=0, report=report.hex())]

    r = verify(node, with_timed(same, [one_answer("jhb-a", 8), one_answer("jhb-b", 12)]), vendor)
    assert r.location_grade != "measured"
    assert "index twice" in by_rule(r)["location.gpu_reports_incomplete"].message  # type: ignore[attr-defined]
