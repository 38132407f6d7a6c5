"""Fleet analytics against a plain reference: every sighting of every GPU compared in time order.

``analyze`` only compares the sightings of GPUs seen from two nodes or two sites, and places
each node's shared GPU tuple once; on random fleets with clones, moves, silences and timestamp
ties it must give exactly the reference's findings, in the same order.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from attest.audit.analytics import (
    CSA_DIVERTED,
    CSA_TAMPERED,
    FleetFinding,
    GpuSeen,
    ManifestSummary,
    _km,
    analyze,
)
from attest.model.result import Severity

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SITES = [("jhb-2", "MY", 1.6561, 103.6032), ("sin-1", "SG", 1.3521, 103.8198), ("iad-4", "US", 39.0438, -77.4874)]


def reference(summaries, *, now, max_silence=timedelta(hours=1), max_speed_kmh=1000.0):  # type: ignore[no-untyped-def]
    """The GPU rules as first written: all sightings per GPU, sorted, compared pairwise."""
    out = []
    sightings = defaultdict(list)
    for s in summaries:
        for g in s.gpus:
            sightings[f"uuid:{g.uuid}"].append((s.issued_at, s))
            if g.serial:
                sightings[f"serial:{g.serial}"].append((s.issued_at, s))
    for ident, seen in sightings.items():
        seen.sort(key=lambda x: (x[0], x[1].name))
        for (t1, a), (t2, b) in itertools.pairwise(seen):
            if a.key_id != b.key_id and abs((t2 - t1).total_seconds()) < 60:
                out.append(FleetFinding("fleet.gpu_cloned", Severity.CONTRAINDICATED,
                    f"GPU {ident} is in the manifests of two nodes at once ({a.node} and {b.node})", CSA_TAMPERED,
                    {"gpu": ident, "nodes": [a.node, b.node], "manifests": [a.name, b.name]}))
            if a.site == b.site:
                continue
            km = _km((a.lat, a.lon), (b.lat, b.lon))
            hours = max((t2 - t1).total_seconds() / 3600, 1e-9)
            if km / hours > max_speed_kmh:
                out.append(FleetFinding("fleet.gpu_two_places", Severity.CONTRAINDICATED,
                    f"GPU {ident} was attested at {a.site} ({a.country}) and {km:.0f} km away at {b.site} "
                    f"({b.country}) {hours * 60:.0f} min later: faster than {max_speed_kmh:.0f} km/h", CSA_DIVERTED,
                    {"gpu": ident, "from": a.site, "to": b.site, "km": round(km, 1), "minutes": round(hours * 60, 1),
                     "manifests": [a.name, b.name]}))
    for ident, seen in sightings.items():
        if not ident.startswith("uuid:"):
            continue
        last_t, last = max(seen, key=lambda x: x[0])
        if now - last_t > max_silence:
            out.append(FleetFinding("fleet.gpu_silent", Severity.WARNING,
                f"GPU {ident[5:]} was last attested {(now - last_t).total_seconds() / 3600:.1f} h ago on {last.node} "
                f"at {last.site}: longer than {max_silence.total_seconds() / 3600:g} h", CSA_DIVERTED,
                {"gpu": ident[5:], "last_seen": last_t.isoformat(), "node": last.node, "site": last.site}))
    order = {Severity.CONTRAINDICATED: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(out, key=lambda f: (order.get(f.severity, 3), f.rule))


def fleet(rng: random.Random) -> list[ManifestSummary]:
    gpus = [GpuSeen(f"GPU-{i:04d}", f"S{i:04d}" if rng.random() < 0.8 else None, "NVIDIA H100") for i in range(40)]
    out = []
    for n in range(rng.randrange(2, 6)):
        site = rng.choice(SITES)
        shared = tuple(rng.sample(gpus, 4))  # one tuple object per node, as the audit shares it
        other = tuple(rng.sample(gpus, 4))  # a second GPU list the node reports at times (a swap, a clone)
        t = T0 + timedelta(minutes=rng.randrange(0, 600))
        for seq in range(rng.randrange(1, 12)):
            t += timedelta(minutes=rng.choice([0, 0, 1, 5, 30, 90]))  # ties, quick repeats, silences
            moved = rng.random() < 0.1
            where = rng.choice(SITES) if moved else site
            out.append(ManifestSummary(
                name=f"n{n}-{seq:03d}.json", key_id=f"{n:064x}", node=f"node-{n}", sequence=seq, previous=None,
                digest=f"sha256:{seq:064x}", issued_at=t, site=where[0], country=where[1], lat=where[2], lon=where[3],
                tenant="t", phase="heartbeat", gpus=other if rng.random() < 0.15 else shared,
                chip_classes=("3A090.a",) * 4, status="affirming", receipts=0,
            ))
    rng.shuffle(out)
    out.sort(key=lambda s: (s.key_id, s.sequence, s.name))  # as audit() orders them
    return out


@pytest.mark.parametrize("seed", range(60))
def test_analyze_finds_what_the_reference_finds(seed: int) -> None:
    rng = random.Random(seed)
    summaries = fleet(rng)
    now = max(s.issued_at for s in summaries) + timedelta(minutes=rng.choice([0, 30, 120, 6000]))
    want = [f.to_obj() for f in reference(summaries, now=now)]
    got = [f.to_obj() for f in analyze(summaries, now=now) if f.rule.startswith("fleet.gpu_")]
    assert got == want


def test_the_random_fleets_plant_every_kind_of_gpu_finding() -> None:
    kinds: set[str] = set()
    for seed in range(60):
        rng = random.Random(seed)
        summaries = fleet(rng)
        now = max(s.issued_at for s in summaries) + timedelta(minutes=rng.choice([0, 30, 120, 6000]))
        kinds |= {f.rule for f in reference(summaries, now=now)}
    assert kinds == {"fleet.gpu_cloned", "fleet.gpu_two_places", "fleet.gpu_silent"}
