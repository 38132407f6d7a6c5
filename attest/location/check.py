"""From landmark receipts to a location verdict: which receipts count, and what they prove.

A receipt counts only when (each failure has its own finding rule):

* its landmark is in the trusted registry (``location.receipt_unknown_landmark``);
* the registry key signed exactly this receipt (``location.receipt_signature``);
* it answers this manifest: node key and binding digest of the manifest's nonce
  (``location.receipt_binding`` — a receipt moved from another manifest or node);
* it was measured shortly before the manifest was issued, not after it expired
  and not in the future (``location.receipt_stale``).

The valid receipts give one disk per landmark (the fastest round trip). The
prohibited area is *measured* clear only when the disks exclude it even after
dropping any ``k-1`` landmark operators (``k`` = ``min_operators``); the claimed
site outside any disk is a physical impossibility (``location.claim_impossible``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from pydantic import JsonValue

from attest.crypto.keys import VerifyingKey
from attest.errors import AttestError, EnvelopeError
from attest.location.borders import Area, bundled_borders
from attest.location.receipts import binding_for, check_receipt
from attest.location.region import (
    Disk,
    RobustDecision,
    decide_robust,
    geodesic_km,
    min_distance_km,
    radius_km,
    rtt_ms_for,
)
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import LandmarkReceipt, WorkloadManifest
from attest.model.policy import LocationRequirement
from attest.model.result import Finding, Severity


@dataclass(frozen=True)
class Rejected:
    """A receipt that does not count, and why."""

    landmark_id: str
    rule: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Measure:
    """One landmark's best valid round trip and what it says."""

    landmark: Landmark
    rtt_ns: int
    radius_km: float
    min_border_km: float
    """Lower bound of the landmark's distance to the prohibited area."""
    excludes_alone: bool
    site_km: float | None
    """Distance from the landmark to the declared site."""

    @property
    def disk(self) -> Disk:
        """The disk this measure draws."""
        lm = self.landmark
        return Disk(lm.latitude, lm.longitude, self.radius_km, lm.id, lm.operator)


@dataclass
class LocationReport:
    """Everything the location step established, for findings, CLI output and the map."""

    prohibited: list[str]
    requirement: LocationRequirement
    rejected: list[Rejected] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    decision: RobustDecision | None = None
    site: tuple[float, float] | None = None
    site_outside: list[Measure] = field(default_factory=list)
    site_border_km: float | None = None
    bindings_checked: bool = True

    @property
    def excluded(self) -> bool:
        """The area is ruled out, robustly against ``k-1`` lying operators."""
        return self.decision is not None and self.decision.excluded

    @property
    def needed_rtt_ms(self) -> float | None:
        """The RTT a landmark at the declared site would have to beat to prove exclusion alone."""
        if self.site_border_km is None:
            return None
        return rtt_ms_for(max(0.0, self.site_border_km - self.requirement.margin_km))

    def to_obj(self) -> dict[str, JsonValue]:
        """A JSON-ready summary (``attest location check --format json``)."""
        d = self.decision
        return {
            "excluded": self.excluded,
            "prohibited": list(self.prohibited),
            "min_operators": self.requirement.min_operators,
            "operators": list(d.operators) if d else [],
            "joint_excluded": bool(d and d.full.excluded),
            "weakest_operators": list(d.weakest) if d else [],
            "touches": list(d.full.touched) if d else list(self.prohibited),
            "landmarks": [
                {
                    "id": m.landmark.id,
                    "operator": m.landmark.operator,
                    "rtt_ms": round(m.rtt_ns / 1e6, 6),
                    "radius_km": round(m.radius_km, 3),
                    "min_border_km": round(m.min_border_km, 3),
                    "excludes_alone": m.excludes_alone,
                    "site_km": None if m.site_km is None else round(m.site_km, 3),
                }
                for m in self.measures
            ],
            "rejected": [
                {"landmark": r.landmark_id, "rule": r.rule, "message": r.message} for r in self.rejected
            ],
            "site_inside_region": None if self.site is None else not self.site_outside,
            "site_border_km": None if self.site_border_km is None else round(self.site_border_km, 3),
            "needed_rtt_ms_at_site": None if self.needed_rtt_ms is None else round(self.needed_rtt_ms, 3),
            "bindings_checked": self.bindings_checked,
        }


def prohibited_area(codes: Sequence[str]) -> Area:
    """The bundled borders' area for ``codes`` (disputed areas they claim included)."""
    return bundled_borders().area(codes)


def evaluate(
    receipts: Sequence[LandmarkReceipt],
    *,
    registry: LandmarkRegistry,
    requirement: LocationRequirement,
    prohibited: Sequence[str],
    node_key_id: str | None = None,
    manifest_nonce: str | None = None,
    issued_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
    clock_skew: timedelta = timedelta(seconds=60),
    site: tuple[float, float] | None = None,
) -> LocationReport:
    """Check every receipt, draw the disks of the valid ones and decide exclusion.

    ``node_key_id`` and ``manifest_nonce`` bind receipts to one manifest; without them
    (a bare receipts file) binding is not checked and the report says so.
    """
    report = LocationReport(list(prohibited), requirement, site=site)
    report.bindings_checked = node_key_id is not None and manifest_nonce is not None
    expected = (
        binding_for(node_key_id, manifest_nonce)
        if node_key_id is not None and manifest_nonce is not None
        else None
    )
    best: dict[str, tuple[Landmark, int]] = {}
    for r in receipts:
        lm = registry.get(r.landmark_id)
        if lm is None:
            report.rejected.append(
                Rejected(
                    r.landmark_id,
                    "location.receipt_unknown_landmark",
                    Severity.WARNING,
                    f"receipt from landmark {r.landmark_id!r}, which the trusted landmark registry does not list",
                )
            )
            continue
        try:
            check_receipt(r, VerifyingKey.from_spki_b64(lm.public_key))
        except EnvelopeError as exc:
            report.rejected.append(
                Rejected(lm.id, "location.receipt_signature", Severity.CONTRAINDICATED, exc.message)
            )
            continue
        except AttestError as exc:
            report.rejected.append(
                Rejected(
                    lm.id,
                    "location.receipt_signature",
                    Severity.CONTRAINDICATED,
                    f"landmark {lm.id}'s registry key is unusable: {exc.message}",
                )
            )
            continue
        if expected is not None and (r.node_key_id != node_key_id or r.binding != expected):
            report.rejected.append(
                Rejected(
                    lm.id,
                    "location.receipt_binding",
                    Severity.CONTRAINDICATED,
                    f"receipt from {lm.id} answers another manifest or node (its binding is not this manifest's "
                    "nonce and node key): a moved or replayed receipt",
                )
            )
            continue
        stale = _staleness(r, requirement, issued_at, expires_at, now, clock_skew)
        if stale:
            report.rejected.append(Rejected(lm.id, "location.receipt_stale", Severity.WARNING, stale))
            continue
        if lm.id not in best or r.rtt_ns < best[lm.id][1]:
            best[lm.id] = (lm, r.rtt_ns)
    if not best:
        return report
    area = prohibited_area(prohibited)
    for lm, rtt in best.values():
        radius = radius_km(rtt)
        border = min_distance_km(lm.latitude, lm.longitude, area)
        alone = radius + requirement.margin_km < border
        site_km = None
        if site is not None:
            site_km = float(
                geodesic_km(
                    np.array([lm.latitude]),
                    np.array([lm.longitude]),
                    np.array([site[0]]),
                    np.array([site[1]]),
                )[0]
            )
        report.measures.append(Measure(lm, rtt, radius, border, alone, site_km))
    report.measures.sort(key=lambda m: m.radius_km)
    report.decision = decide_robust(
        [m.disk for m in report.measures],
        area,
        k=requirement.min_operators,
        margin_km=requirement.margin_km,
    )
    if site is not None:
        report.site_outside = [
            m
            for m in report.measures
            if m.site_km is not None and m.site_km > m.radius_km + requirement.site_tolerance_km
        ]
        report.site_border_km = min_distance_km(site[0], site[1], area)
    return report


def evaluate_manifest(
    manifest: WorkloadManifest,
    *,
    registry: LandmarkRegistry,
    requirement: LocationRequirement,
    prohibited: Sequence[str],
    now: datetime,
    clock_skew: timedelta = timedelta(seconds=60),
) -> LocationReport:
    """:func:`evaluate` for the receipts of a (verified) manifest: bound to it, fresh for it, its site tested."""
    return evaluate(
        manifest.location_evidence.receipts,
        registry=registry,
        requirement=requirement,
        prohibited=prohibited,
        node_key_id=manifest.node.key_id,
        manifest_nonce=manifest.freshness.nonce,
        issued_at=manifest.freshness.issued_at,
        expires_at=manifest.freshness.expires_at,
        now=now,
        clock_skew=clock_skew,
        site=(manifest.site.latitude, manifest.site.longitude),
    )


def _staleness(
    r: LandmarkReceipt,
    req: LocationRequirement,
    issued_at: datetime | None,
    expires_at: datetime | None,
    now: datetime | None,
    skew: timedelta,
) -> str | None:
    if now is not None and r.measured_at > now + skew:
        return f"receipt from {r.landmark_id} is dated {r.measured_at.isoformat()}, in the future"
    if issued_at is not None and r.measured_at < issued_at - timedelta(seconds=req.receipt_max_age_s) - skew:
        return (
            f"receipt from {r.landmark_id} was measured at {r.measured_at.isoformat()}, more than "
            f"{req.receipt_max_age_s} s before the manifest was issued"
        )
    if expires_at is not None and r.measured_at > expires_at + skew:
        return f"receipt from {r.landmark_id} was measured after the manifest expired"
    return None


def findings(report: LocationReport, *, grade: str) -> tuple[list[Finding], str]:
    """The findings of a report and the grade it earns, given the grade established so far.

    ``measured`` needs robust exclusion *and* a hardware-bound node key: a key that is not
    bound to a GPU could be answering the landmarks from anywhere.
    """
    out: list[Finding] = []
    names = ", ".join(report.prohibited)

    def add(
        rule: str, severity: Severity, message: str, evidence: dict[str, JsonValue], remedy: str | None = None
    ) -> None:
        out.append(
            Finding.model_construct(
                rule=rule, severity=severity, message=message, evidence=evidence, remedy=remedy
            )
        )

    for r in report.rejected:
        add(r.rule, r.severity, r.message, {"landmark": r.landmark_id})
    summary = report.to_obj()
    per_landmark = summary["landmarks"]
    if report.site_outside:
        worst = max(report.site_outside, key=lambda m: (m.site_km or 0) - m.radius_km)
        add(
            "location.claim_impossible",
            Severity.CONTRAINDICATED,
            f"the declared site is {worst.site_km:.0f} km from landmark {worst.landmark.id}, but the node answered "
            f"it in {worst.rtt_ns / 1e6:.3f} ms, which bounds it within {worst.radius_km:.0f} km: the node is not "
            "where the manifest says",
            {"landmarks": per_landmark},
            "check the site record; if it is right, the node (or its key) is elsewhere",
        )
    if not report.measures:
        if report.rejected:
            add(
                "location.no_valid_receipts",
                Severity.INFO,
                f"none of the {len(report.rejected)} receipts counts; the location grade stays {grade}",
                {},
            )
        return out, grade
    d = report.decision
    assert d is not None
    if report.excluded and grade == "hardware-bound":
        add(
            "location.measured",
            Severity.INFO,
            f"landmark round trips rule out {names}: {len(d.operators)} operators, any {d.k - 1} of them "
            f"could lie and the rest would still exclude it",
            {"excluded": True, "prohibited": list(report.prohibited), "landmarks": per_landmark},
        )
        return out, "measured"
    if report.excluded:
        add(
            "location.key_not_hardware_bound",
            Severity.INFO,
            f"landmark round trips rule out {names} for the key that answered them, but that key is not bound "
            f"to a genuine GPU, so it could be answering from anywhere; the location grade stays {grade}",
            {"excluded": True, "landmarks": per_landmark},
            "bind the node key to the GPUs' CC attestation (attest bind) so the proof is about the hardware",
        )
        return out, grade
    why: list[str] = []
    if len(d.operators) < d.k:
        why.append(
            f"receipts come from {len(d.operators)} operator(s); {d.k} distinct operators are required"
        )
    elif d.full.excluded:
        why.append(f"the proof rests on {', '.join(d.weakest)}: without it the rest do not exclude {names}")
    else:
        why.append(f"the disks may reach {', '.join(d.full.touched)}")
    radii = "; ".join(
        f"{m.landmark.id}: {m.radius_km:.0f} km (border {m.min_border_km:.0f} km away)"
        for m in report.measures
    )
    need = (
        f"; a landmark at the declared site would need a round trip under {report.needed_rtt_ms:.2f} ms"
        if report.needed_rtt_ms is not None
        else ""
    )
    add(
        "location.not_provable",
        Severity.INFO,
        f"landmark round trips do not rule out {names}: {why[0]}. Radii {radii}{need}",
        {
            "excluded": False,
            "landmarks": per_landmark,
            "touches": summary["touches"],
            "site_border_km": summary["site_border_km"],
            "needed_rtt_ms_at_site": summary["needed_rtt_ms_at_site"],
        },
        "add landmarks near the site run by independent operators",
    )
    return out, grade
