"""Placement by cloud region (SkyPilot and other multi-cloud launchers): may this tenant use these chips there?

There is no node evidence before a cloud VM exists, so this is the *destination* half
of admission only: the region's country, the tenant (and its parent), the chips
requested, through the same policy engine (destination, headquarters, prohibited
hardware). Evidence from the VM's own daemon is still needed once it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from attest.build import build_manifest
from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.hardware.catalog import bundled_catalog
from attest.hardware.simulated import PRESETS, SimulatedGpuSource
from attest.model.manifest import Job, Operator, Site, Tenant
from attest.model.result import Finding, Severity
from attest.policy.engine import Facts
from attest.verify import PolicyEvaluator

#: (cloud, region) -> (country, latitude, longitude) for regions whose country matters here.
#: Extend for your clouds; an unknown region is refused, not guessed.
REGIONS: dict[tuple[str, str], tuple[str, float, float]] = {
    ("aws", "us-east-1"): ("US", 38.9, -77.4),
    ("aws", "us-west-2"): ("US", 45.8, -119.7),
    ("aws", "eu-central-1"): ("DE", 50.1, 8.7),
    ("aws", "ap-southeast-1"): ("SG", 1.3, 103.8),
    ("aws", "ap-southeast-5"): ("MY", 3.1, 101.7),
    ("aws", "ap-northeast-1"): ("JP", 35.7, 139.7),
    ("aws", "ap-south-1"): ("IN", 19.1, 72.9),
    ("aws", "me-central-1"): ("AE", 25.2, 55.3),
    ("aws", "ap-east-1"): ("HK", 22.3, 114.2),
    ("aws", "cn-north-1"): ("CN", 39.9, 116.4),
    ("aws", "cn-northwest-1"): ("CN", 37.5, 105.2),
    ("gcp", "us-central1"): ("US", 41.3, -95.9),
    ("gcp", "asia-southeast1"): ("SG", 1.3, 103.8),
    ("gcp", "asia-southeast2"): ("ID", -6.2, 106.8),
    ("gcp", "asia-northeast1"): ("JP", 35.7, 139.7),
    ("gcp", "asia-east2"): ("HK", 22.3, 114.2),
    ("gcp", "me-central2"): ("SA", 26.4, 50.1),
    ("azure", "eastus"): ("US", 37.4, -79.4),
    ("azure", "southeastasia"): ("SG", 1.3, 103.8),
    ("azure", "malaysiawest"): ("MY", 3.1, 101.7),
    ("azure", "uaenorth"): ("AE", 25.3, 55.3),
    ("azure", "eastasia"): ("HK", 22.3, 114.2),
    ("azure", "chinaeast2"): ("CN", 31.2, 121.5),
}

_PRESET_BY_NAME = {
    "h100": "h100",
    "h200": "h200",
    "h20": "h20",
    "b200": "b200",
    "a100": "a100",
    "l40s": "l40s",
    "rtx4090": "rtx4090",
}


@dataclass
class PlacementVerdict:
    """Whether a tenant may use an accelerator in a region."""

    allowed: bool
    country: str | None
    message: str
    findings: list[Finding]


def judge_placement(
    tenant: Tenant,
    cloud: str | None,
    region: str | None,
    accelerator: str | None,
    *,
    policy: PolicyEvaluator,
    now: datetime,
) -> PlacementVerdict:
    """Apply ``policy`` to ``tenant`` using ``accelerator`` (e.g. ``H100``) in ``cloud``/``region``."""
    if not cloud or not region:
        return PlacementVerdict(
            False, None, "pin a cloud and region: placement anywhere cannot be judged", []
        )
    where = REGIONS.get((cloud.lower(), region.lower()))
    if where is None:
        return PlacementVerdict(
            False, None, f"region {cloud}/{region} is not in the region table; refused, not guessed", []
        )
    country, lat, lon = where
    if accelerator is None:
        return PlacementVerdict(True, country, "no accelerator requested: not judged", [])
    preset = _PRESET_BY_NAME.get(accelerator.lower().split(":")[0])
    if preset is None or preset not in PRESETS:
        return PlacementVerdict(
            False,
            country,
            f"accelerator {accelerator!r} is not one this policy knows; unknown chips are treated as controlled",
            [],
        )
    evidence = SimulatedGpuSource(preset, seed="placement", hostname="placement").read()
    probe_key = SigningKey.generate()  # the probe manifest is never signed or kept
    site = Site(
        facility_id=f"{cloud}-{region}",
        name=f"{cloud} {region}",
        country=country,
        latitude=lat,
        longitude=lon,
    )
    manifest = build_manifest(
        evidence=evidence,
        site=site,
        tenant=tenant,
        operator=Operator(name=cloud, country="US"),
        job=Job(id="placement", scheduler="skypilot", phase="start"),
        node_key_id=probe_key.key_id,
        now=now,
        gpus=["0"],
    )
    catalog = bundled_catalog()
    found = list(
        policy.evaluate(
            manifest, now=now, facts=Facts("declared", [catalog.classify_gpu(g) for g in manifest.gpus])
        )
    )
    # Location evidence cannot exist before the VM does: the evidence-strength rule is for run time.
    refused = [
        f for f in found if f.severity is Severity.CONTRAINDICATED and f.rule != "policy.evidence_strength"
    ]
    if refused:
        return PlacementVerdict(False, country, "; ".join(f"{f.rule}: {f.message}" for f in refused), refused)
    return PlacementVerdict(True, country, f"allowed in {cloud}/{region} ({country})", found)


def parse_tenant(obj: object) -> Tenant:
    """A tenant from a JSON value (clear error otherwise)."""
    if not isinstance(obj, dict):
        raise InputError("the tenant must be a JSON object")
    return Tenant.from_obj(obj, what="tenant")
