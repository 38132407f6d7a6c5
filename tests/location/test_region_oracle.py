"""The exclusion decision against a brute-force geodesic grid oracle.

The oracle samples each area densely (a lon/lat grid inside the shipped polygons plus
the densified boundary) and asks, with exact WGS84 geodesics, whether any sample lies in
every disk. Whenever it finds one, :func:`decide` must not call the area excluded: a
false exclusion would prove a node clear of a country it may be in.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from attest.location.borders import Area, bundled_borders
from attest.location.region import Disk, decide, decide_robust, geodesic_km

# (codes, oracle grid step in degrees, cases)
CASES = [
    (["CN", "HK", "MO"], 0.5, 700),
    (["HK", "MO"], 0.01, 500),
    (["TW"], 0.05, 400),
    (["KP"], 0.1, 300),
    (["SG"], 0.005, 300),
    (["FJ"], 0.05, 300),  # crosses the antimeridian
    (["RU"], 1.0, 200),  # huge, high latitudes, crosses the antimeridian
]


def oracle_points(area: Area, step: float) -> tuple[np.ndarray, np.ndarray]:
    geom = area.union
    minx, miny, maxx, maxy = shapely.bounds(geom)
    lon, lat = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    lon, lat = lon.ravel(), lat.ravel()
    inside = shapely.contains_xy(geom, lon, lat)
    blat, blon = area.boundary_points
    return np.concatenate([lat[inside], blat]), np.concatenate([lon[inside], blon])


def feasible(plat: np.ndarray, plon: np.ndarray, disks: list[Disk]) -> np.ndarray:
    ok = np.ones(plat.size, dtype=bool)
    for d in disks:
        idx = np.flatnonzero(ok)
        dist = geodesic_km(np.full(idx.size, d.lat), np.full(idx.size, d.lon), plat[idx], plon[idx])
        ok[idx[dist > d.radius_km]] = False
    return ok


def random_disks(rng: np.random.Generator, plat: np.ndarray, plon: np.ndarray) -> list[Disk]:
    """Landmarks around a random point of the area, radii near the distance to it."""
    i = rng.integers(plat.size)
    tlat, tlon = plat[i], plon[i]
    disks = []
    for j in range(int(rng.integers(1, 5))):
        spread = float(rng.choice([50.0, 500.0, 3000.0]))
        lat = float(np.clip(tlat + rng.normal(0, spread / 111), -89.0, 89.0))
        lon = float((tlon + rng.normal(0, spread / 111) + 180) % 360 - 180)
        d = float(geodesic_km(np.array([lat]), np.array([lon]), np.array([tlat]), np.array([tlon]))[0])
        radius = max(0.5, d * float(rng.uniform(0.85, 1.1)) + float(rng.uniform(-20, 20)))
        disks.append(Disk(lat, lon, radius, f"L{j}", f"op{j}"))
    return disks


@pytest.mark.slow
@pytest.mark.parametrize(
    ("codes", "step", "n"), CASES, ids=lambda v: ",".join(v) if isinstance(v, list) else None
)
def test_no_false_exclusion_against_grid_oracle(codes: list[str], step: float, n: int) -> None:
    area = bundled_borders().area(codes)
    plat, plon = oracle_points(area, step)
    rng = np.random.default_rng(sum(map(ord, "".join(codes))))
    outcomes = {"oracle touches": 0, "excluded": 0, "unprovable": 0}
    for _ in range(n):
        disks = random_disks(rng, plat, plon)
        touches = bool(feasible(plat, plon, disks).any())
        decision = decide(disks, area, margin_km=0.0)
        if touches:
            outcomes["oracle touches"] += 1
            assert not decision.excluded, f"false exclusion of {codes} with {disks}"
        elif decision.excluded:
            outcomes["excluded"] += 1
        else:
            outcomes["unprovable"] += 1
    # The cases are not vacuous: both answers occur often.
    assert outcomes["oracle touches"] > n // 10, outcomes
    assert outcomes["excluded"] > n // 10, outcomes


def test_exclusion_bounds_match_the_reference_table() -> None:
    """geolocation.md: an in-city landmark proves CN/HK/MO clear below these RTTs (Spratlys counted)."""
    area = bundled_borders().area(["CN", "HK", "MO"])
    for lat, lon, km in [(13.7540, 100.5014, 823), (35.6895, 139.6917, 1088), (25.0657, 55.1713, 2258)]:
        assert not decide([Disk(lat, lon, km * 1.01)], area).excluded
        assert decide([Disk(lat, lon, km * 0.99 - 5)], area).excluded


def test_joint_exclusion_needs_the_intersection() -> None:
    """Two far landmarks whose disks each reach China, but whose lens misses it."""
    area = bundled_borders().area(["CN", "HK", "MO"])
    # Singapore and Jakarta, radii 1,500 km: each disk alone reaches the Spratlys/China? check
    sg = Disk(1.29, 103.85, 2500.0, "sin", "a")
    jk = Disk(-6.21, 106.85, 800.0, "jkt", "b")
    assert not decide([sg], area).excluded
    assert decide([jk], area).excluded
    assert decide([sg, jk], area).excluded


def test_one_operator_cannot_make_it_measured() -> None:
    area = bundled_borders().area(["CN", "HK", "MO"])
    honest_far = Disk(50.11, 8.68, 9000.0, "fra", "honest")
    liar = Disk(1.29, 103.85, 5.0, "sin", "liar")
    assert decide([honest_far, liar], area).excluded  # the lie alone would do it...
    robust = decide_robust([honest_far, liar], area, k=2)
    assert not robust.excluded and robust.weakest == ["liar"]  # ...but not k-of-n
    two_honest = [Disk(1.29, 103.85, 600.0, "sin", "a"), Disk(3.14, 101.69, 800.0, "kul", "b")]
    assert decide_robust(two_honest, area, k=2).excluded
    assert not decide_robust(two_honest[:1], area, k=2).excluded  # one operator is not enough


@pytest.mark.slow
@pytest.mark.parametrize(("codes", "step", "n"), [(["CN", "HK", "MO"], 0.5, 300), (["TW"], 0.05, 200)], ids=["CN,HK,MO", "TW"])
def test_robust_decision_against_the_oracle(codes: list[str], step: float, n: int) -> None:
    """k = 2: excluded only if every one-operator-dropped subset is excluded by the oracle too."""
    area = bundled_borders().area(codes)
    plat, plon = oracle_points(area, step)
    rng = np.random.default_rng(99)
    excluded = 0
    for _ in range(n):
        disks = random_disks(rng, plat, plon) + random_disks(rng, plat, plon)
        disks = [Disk(d.lat, d.lon, d.radius_km, f"L{i}", f"op{i % 3}") for i, d in enumerate(disks)]
        decision = decide_robust(disks, area, k=2, margin_km=0.0)
        if not decision.excluded:
            continue
        excluded += 1
        ops = {d.operator for d in disks}
        assert len(ops) >= 2
        for dropped in ops:
            rest = [d for d in disks if d.operator != dropped]
            assert not feasible(plat, plon, rest).any(), f"dropping {dropped} leaves a feasible point: {disks}"
    assert excluded > n // 20
