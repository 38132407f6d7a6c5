"""From landmark receipts to a location verdict: which receipts count, and what they prove.

A receipt counts only when (each failure has its own finding rule):

* its landmark is in the trusted registry (``location.receipt_unknown_landmark``);
* the registry key signed exactly this receipt (``location.receipt_signature``);
* it answers this manifest: node key and binding digest of the manifest's nonce
  (``location.receipt_binding`` — a receipt moved from another manifest or node);
* it was measured shortly before the manifest was issued, not after it expired
  and not in the future (``location.receipt_stale``).

The valid receipts give one disk per landmark (the fastest round trip). The
prohibited area is ruled out only when the disks exclude it even after
dropping any ``k-1`` landmark operators (``k`` = ``min_operators``); the claimed
site outside any disk is a physical impossibility (``location.claim_impossible``).

Two kinds of disk, two grades:

* every valid receipt bounds *the holder of the node key*: ``c·RTT/2``. Disks that
  rule the area out give ``key-measured`` (with a hardware-bound key): a copy of
  the key next to the landmarks would have answered just as well;
* a *GPU-timed* receipt also bounds *the GPUs*: ``c·(RTT - t_min)/2``, ``t_min`` the
  catalog's floor on report generation. It is GPU-timed only when it records one
  report digest for every GPU the manifest lists, and for each GPU the manifest
  carries a report whose SHA-256 is a recorded digest, whose nonce is
  :func:`attest.location.receipts.gpu_nonce` of this receipt, and whose signature
  verifies with that GPU's leaf key from the CC evidence the hardware step verified
  (``location.gpu_report_invalid``, ``location.gpu_reports_incomplete`` otherwise).
  GPU-timed disks that rule the area out give ``measured``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pydantic import JsonValue

from attest.crypto.keys import VerifyingKey
from attest.errors import AttestError, EnvelopeError
from attest.location.borders import Area, bundled_borders
from attest.location.receipts import binding_for, check_receipt, gpu_nonce
from attest.location.region import (
    Disk,
    RobustDecision,
    decide_robust,
    geodesic_km,
    min_distance_km,
    radius_km,
    rtt_ms_for,
)
from attest.model.base import shift, shift_back
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import LandmarkReceipt, TimedGpuReport, WorkloadManifest
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
    gpu_measures: list[Measure] = field(default_factory=list)
    """One disk per landmark from GPU-timed receipts only: ``c·(RTT - t_min)/2``."""
    gpu_decision: RobustDecision | None = None
    gpu_rejected: list[Rejected] = field(default_factory=list)
    """Receipts that count for the key but not as GPU-timed, and why."""
    report_floor_ns: int = 0
    """``t_min``: the catalog's lower bound on report generation, subtracted from GPU-timed RTTs."""

    @property
    def excluded(self) -> bool:
        """The area is ruled out for the node key (every valid receipt), robustly against ``k-1`` lying operators."""
        return self.decision is not None and self.decision.excluded

    @property
    def gpu_excluded(self) -> bool:
        """The area is ruled out for the GPUs themselves (GPU-timed receipts), robustly."""
        return self.gpu_decision is not None and self.gpu_decision.excluded

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
            "gpu_excluded": self.gpu_excluded,
            "report_floor_ms": self.report_floor_ns / 1e6,
            "gpu_timed_landmarks": [
                {
                    "id": m.landmark.id,
                    "operator": m.landmark.operator,
                    "rtt_ms": round(m.rtt_ns / 1e6, 6),
                    "radius_km": round(m.radius_km, 3),
                    "min_border_km": round(m.min_border_km, 3),
                    "excludes_alone": m.excludes_alone,
                }
                for m in self.gpu_measures
            ],
            "gpu_rejected": [
                {"landmark": r.landmark_id, "rule": r.rule, "message": r.message} for r in self.gpu_rejected
            ],
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
    gpu_reports: Sequence[TimedGpuReport] = (),
    gpu_indices: Sequence[int] = (),
    bound_keys: Mapping[int, ec.EllipticCurvePublicKey] | None = None,
    report_floor_ns: int = 0,
) -> LocationReport:
    """Check every receipt, draw the disks of the valid ones and decide exclusion.

    ``node_key_id`` and ``manifest_nonce`` bind receipts to one manifest; without them
    (a bare receipts file) binding is not checked and the report says so.
    A receipt is also GPU-timed when its reports (``gpu_reports``) hold for every GPU in
    ``gpu_indices`` with the leaf keys in ``bound_keys`` (GPU index → key, filled only for a
    hardware-bound node key); GPU-timed disks are ``c·(RTT - report_floor_ns)/2``.
    """
    report = LocationReport(list(prohibited), requirement, site=site, report_floor_ns=max(0, report_floor_ns))
    report.bindings_checked = node_key_id is not None and manifest_nonce is not None
    expected = (
        binding_for(node_key_id, manifest_nonce)
        if node_key_id is not None and manifest_nonce is not None
        else None
    )
    by_receipt: dict[str, list[TimedGpuReport]] = {}
    for t in gpu_reports:
        by_receipt.setdefault(t.receipt_nonce, []).append(t)
    best: dict[str, tuple[Landmark, int]] = {}
    best_gpu: dict[str, tuple[Landmark, int]] = {}
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
        if r.gpu_reports is None:
            continue
        why = (
            _gpu_timing(r, by_receipt.get(r.nonce, []), gpu_indices, bound_keys, report.report_floor_ns)
            if expected is not None
            else Rejected(
                lm.id,
                "location.gpu_timing_not_checked",
                Severity.INFO,
                f"receipt from {lm.id} carries GPU report digests, but without its manifest they cannot be checked",
            )
        )
        if why is not None:
            report.gpu_rejected.append(why)
        elif lm.id not in best_gpu or r.rtt_ns < best_gpu[lm.id][1]:
            best_gpu[lm.id] = (lm, r.rtt_ns)
    if not best:
        return report
    area = prohibited_area(prohibited)
    report.measures = _measures(best, area, requirement, site, 0)
    report.decision = decide_robust(
        [m.disk for m in report.measures],
        area,
        k=requirement.min_operators,
        margin_km=requirement.margin_km,
    )
    if best_gpu:
        report.gpu_measures = _measures(best_gpu, area, requirement, site, report.report_floor_ns)
        report.gpu_decision = decide_robust(
            [m.disk for m in report.gpu_measures],
            area,
            k=requirement.min_operators,
            margin_km=requirement.margin_km,
        )
    if site is not None:
        report.site_outside = [
            m
            for m in (*report.measures, *report.gpu_measures)
            if m.site_km is not None and m.site_km > m.radius_km + requirement.site_tolerance_km
        ]
        report.site_border_km = min_distance_km(site[0], site[1], area)
    return report


def _measures(
    best: dict[str, tuple[Landmark, int]],
    area: Area,
    requirement: LocationRequirement,
    site: tuple[float, float] | None,
    floor_ns: int,
) -> list[Measure]:
    """One measure per landmark, nearest first; ``floor_ns`` is taken off each RTT (GPU-timed disks)."""
    out = []
    for lm, rtt in best.values():
        radius = radius_km(rtt - floor_ns)
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
        out.append(Measure(lm, rtt, radius, border, alone, site_km))
    out.sort(key=lambda m: m.radius_km)
    return out


_SIGNATURE_LENGTH = 96  # raw r||s of ECDSA P-384 at the end of an NVIDIA report


def _gpu_timing(
    r: LandmarkReceipt,
    reports: Sequence[TimedGpuReport],
    gpu_indices: Sequence[int],
    bound_keys: Mapping[int, ec.EllipticCurvePublicKey] | None,
    floor_ns: int,
) -> Rejected | None:
    """None when receipt ``r`` is GPU-timed for every GPU; otherwise why it counts for the key only."""
    lm = r.landmark_id
    assert r.gpu_reports is not None
    if not bound_keys or not gpu_indices or any(i not in bound_keys for i in gpu_indices):
        return Rejected(
            lm,
            "location.gpu_timing_not_checked",
            Severity.INFO,
            f"receipt from {lm} carries GPU report digests, but the node key is not hardware-bound here "
            "(no verified GPU leaf keys to check them with); it counts for the key only",
        )
    if len(set(gpu_indices)) != len(gpu_indices):
        # One key per index: a repeated index would let one GPU's report stand for another's.
        return Rejected(
            lm,
            "location.gpu_reports_incomplete",
            Severity.WARNING,
            "the manifest lists a GPU index twice; a GPU-timed receipt needs one report from each GPU, so "
            f"the receipt from {lm} counts for the key only",
        )
    recorded = set(r.gpu_reports)
    per_gpu: dict[int, TimedGpuReport] = {}
    for t in reports:
        if t.gpu_index in per_gpu:
            return Rejected(
                lm,
                "location.gpu_report_invalid",
                Severity.CONTRAINDICATED,
                f"two reports for GPU {t.gpu_index} answer the challenge of {lm}",
            )
        per_gpu[t.gpu_index] = t
    missing = [i for i in gpu_indices if i not in per_gpu]
    extra = sorted(set(per_gpu) - set(gpu_indices))
    if missing or extra or len(recorded) != len(r.gpu_reports) or len(recorded) < len(gpu_indices):
        # The receipt may record more GPUs than this manifest lists (a job on some of the node's
        # GPUs); every GPU the manifest lists must have answered.
        return Rejected(
            lm,
            "location.gpu_reports_incomplete",
            Severity.WARNING,
            f"receipt from {lm} records {len(r.gpu_reports)} report digests for the {len(gpu_indices)} GPUs listed"
            + (f"; no report for GPU {', '.join(map(str, missing))}" if missing else "")
            + (
                f"; reports for GPUs the manifest does not list: {', '.join(map(str, extra))}"
                if extra
                else ""
            )
            + (": a digest is recorded twice" if len(recorded) != len(r.gpu_reports) else "")
            + ": every GPU must answer for the receipt to be GPU-timed; it counts for the key only",
        )
    asked = gpu_nonce(bytes.fromhex(r.nonce), r.node_key_id, r.binding)
    for index in gpu_indices:
        raw = bytes.fromhex(per_gpu[index].report) if len(per_gpu[index].report) % 2 == 0 else b""
        if "sha256:" + hashlib.sha256(raw).hexdigest() not in recorded:
            return Rejected(
                lm,
                "location.gpu_report_invalid",
                Severity.CONTRAINDICATED,
                f"GPU {index}'s report for {lm} is not one the landmark recorded (its SHA-256 is not in the "
                "receipt): a report substituted after the clock stopped",
            )
        if len(raw) < 36 + _SIGNATURE_LENGTH or raw[4:36] != asked:
            return Rejected(
                lm,
                "location.gpu_report_invalid",
                Severity.CONTRAINDICATED,
                f"GPU {index}'s report for {lm} was not made over this challenge's nonce (a report from "
                "another exchange, made before the challenge existed)",
            )
        sig = raw[-_SIGNATURE_LENGTH:]
        rs = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
        try:
            bound_keys[index].verify(rs, raw[:-_SIGNATURE_LENGTH], ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, ValueError):
            return Rejected(
                lm,
                "location.gpu_report_invalid",
                Severity.CONTRAINDICATED,
                f"GPU {index}'s report for {lm} does not verify with that GPU's leaf key from its CC evidence: "
                "another device answered (or the GPU's firmware changed since the binding; bind again)",
            )
    if r.rtt_ns <= floor_ns:
        return Rejected(
            lm,
            "location.gpu_faster_than_floor",
            Severity.WARNING,
            f"the GPUs answered {lm} in {r.rtt_ns / 1e6:.3f} ms, faster than the catalog's floor on report "
            f"generation ({floor_ns / 1e6:.3f} ms): the floor is not a lower bound for these GPUs, so the "
            "receipt counts for the key only; recalibrate it (attest gpu time-report)",
        )
    return None


def evaluate_manifest(
    manifest: WorkloadManifest,
    *,
    registry: LandmarkRegistry,
    requirement: LocationRequirement,
    prohibited: Sequence[str],
    now: datetime,
    clock_skew: timedelta = timedelta(seconds=60),
    bound_keys: Mapping[int, ec.EllipticCurvePublicKey] | None = None,
    report_floor_ns: int = 0,
) -> LocationReport:
    """:func:`evaluate` for the receipts of a (verified) manifest: bound to it, fresh for it, its site tested.

    ``bound_keys`` are the GPU leaf keys the hardware step verified (GPU index → key); without
    them no receipt is GPU-timed.
    """
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
        gpu_reports=manifest.location_evidence.gpu_reports,
        gpu_indices=[g.index for g in manifest.gpus],
        bound_keys=bound_keys,
        report_floor_ns=report_floor_ns,
    )


def _staleness(
    r: LandmarkReceipt,
    req: LocationRequirement,
    issued_at: datetime | None,
    expires_at: datetime | None,
    now: datetime | None,
    skew: timedelta,
) -> str | None:
    if now is not None and r.measured_at > shift(now, skew):
        return f"receipt from {r.landmark_id} is dated {r.measured_at.isoformat()}, in the future"
    if issued_at is not None and r.measured_at < shift_back(
        shift_back(issued_at, timedelta(seconds=req.receipt_max_age_s)), skew
    ):
        return (
            f"receipt from {r.landmark_id} was measured at {r.measured_at.isoformat()}, more than "
            f"{req.receipt_max_age_s} s before the manifest was issued"
        )
    if expires_at is not None and r.measured_at > shift(expires_at, skew):
        return f"receipt from {r.landmark_id} was measured after the manifest expired"
    return None


def findings(report: LocationReport, *, grade: str) -> tuple[list[Finding], str]:
    """The findings of a report and the grade it earns, given the grade established so far.

    With a hardware-bound node key: GPU-timed disks that rule the prohibited area out give
    ``measured``; disks of receipts the key alone answered give ``key-measured`` (a copy of
    the key could have answered them). A key that is not bound to a GPU earns neither.
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
    for r in report.gpu_rejected:
        add(
            r.rule,
            r.severity,
            r.message,
            {"landmark": r.landmark_id},
            "re-run attest locate with the GPUs answering (--simulate/--cc-sim or NVML) and bind the key again"
            if r.severity is not Severity.INFO
            else None,
        )
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
    gd = report.gpu_decision
    if report.gpu_excluded and grade == "hardware-bound":
        assert gd is not None
        add(
            "location.measured",
            Severity.INFO,
            f"the GPUs themselves answered the landmarks (attestation reports over each challenge, "
            f"{report.report_floor_ns / 1e6:g} ms report floor taken off): their round trips rule out {names}: "
            f"{len(gd.operators)} operators, any {gd.k - 1} of them could lie and the rest would still exclude it",
            {
                "excluded": True,
                "prohibited": list(report.prohibited),
                "gpu_timed_landmarks": summary["gpu_timed_landmarks"],
                "report_floor_ms": summary["report_floor_ms"],
            },
        )
        return out, "measured"
    if report.excluded and grade == "hardware-bound":
        if not report.gpu_measures:
            gpu_why = "no receipt is GPU-timed (the node key alone answered the landmarks)"
        else:
            gpu_why = (
                _not_excluded_why(gd, names)
                + " for the GPU-timed receipts ("
                + _radii(report.gpu_measures)
                + ")"
            )
        add(
            "location.key_measured",
            Severity.INFO,
            f"landmark round trips rule out {names} for the node key, but {gpu_why}: a copy of the key next to the "
            "landmarks could have answered them, so this proves where the key was, not the GPUs; the location "
            "grade is key-measured, not measured",
            {
                "excluded": True,
                "gpu_excluded": False,
                "landmarks": per_landmark,
                "gpu_timed_landmarks": summary["gpu_timed_landmarks"],
            },
            "measure with the GPUs answering (attest locate --simulate/--cc-sim, or NVML on the node)",
        )
        return out, "key-measured"
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
    need = (
        f"; a landmark at the declared site would need a round trip under {report.needed_rtt_ms:.2f} ms"
        if report.needed_rtt_ms is not None
        else ""
    )
    add(
        "location.not_provable",
        Severity.INFO,
        f"landmark round trips do not rule out {names}: {_not_excluded_why(d, names)}. "
        f"Radii {_radii(report.measures)}{need}",
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


def _not_excluded_why(d: RobustDecision | None, names: str) -> str:
    if d is None:
        return "no receipt counts"
    if len(d.operators) < d.k:
        return f"receipts come from {len(d.operators)} operator(s); {d.k} distinct operators are required"
    if d.full.excluded:
        return f"the proof rests on {', '.join(d.weakest)}: without it the rest do not exclude {names}"
    return f"the disks may reach {', '.join(d.full.touched)}"


def _radii(measures: Sequence[Measure]) -> str:
    return "; ".join(
        f"{m.landmark.id}: {m.radius_km:.0f} km (border {m.min_border_km:.0f} km away)" for m in measures
    )
