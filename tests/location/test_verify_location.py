"""Landmark receipts through the real verifier: each rejection has its own finding; physics decides the grade."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.location.receipts import binding_for, sign_receipt
from attest.location.region import C_KM_PER_NS
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import LandmarkReceipt, LocationEvidence, WorkloadManifest
from attest.model.policy import LocationRequirement
from attest.model.result import Severity, Status
from attest.policy.engine import Policy, load_policy
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


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> SimulatedCcBackend:
    return SimulatedCcBackend(tmp_path_factory.mktemp("vendor"))


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


def with_receipts(m: WorkloadManifest, receipts: list[LandmarkReceipt]) -> WorkloadManifest:
    return m.model_copy(update={"location_evidence": LocationEvidence(receipts=receipts)})


def verify(node: Node, m: WorkloadManifest, vendor: SimulatedCcBackend | None, **kw):  # type: ignore[no-untyped-def]
    base = options(vendor) if vendor else VerifyOptions()
    opts = VerifyOptions(cc_root=base.cc_root, cc_root_sha256=base.cc_root_sha256, cc_cache=base.cc_cache, rims=base.rims, landmarks=REGISTRY)
    return verify_envelope(node.envelope(m), node.trust, now=LATER, options=opts, **kw)


def by_rule(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.rule: f for f in result.findings}


def honest(m: WorkloadManifest) -> list[LandmarkReceipt]:
    return [receipt(m, "jhb-a", rtt_for_km(8)), receipt(m, "jhb-b", rtt_for_km(12)), receipt(m, "fra", rtt_for_km(10_000))]


def test_two_operators_and_a_bound_key_give_measured(vendor: SimulatedCcBackend) -> None:
    node = trusted_node()
    m = bound_manifest(node, vendor)
    r = verify(node, with_receipts(m, honest(m)), vendor)
    assert r.location_grade == "measured", r.findings
    assert r.status is Status.AFFIRMING and r.trust_vector.location is Status.AFFIRMING
    f = by_rule(r)["location.measured"]
    assert "CN, HK, MO" in f.message  # type: ignore[attr-defined]
    landmarks = f.evidence["landmarks"]  # type: ignore[attr-defined]
    assert {lm["id"] for lm in landmarks} == {"jhb-a", "jhb-b", "fra"}
    assert all(lm["excludes_alone"] for lm in landmarks if lm["id"] != "fra")


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
    signed = with_receipts(m, honest(m))
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
