"""The feasible region of a node and whether it can touch a prohibited area.

Each valid receipt gives a disk: the node answered from within ``r = c·RTT/2``
of the landmark, with ``c`` the speed of light in vacuum. The node is in the
intersection of all disks. The area is *excluded* when no point of it lies in
every disk.

Method (conservative by construction, error bounded):

* The area is covered by 1° cells, refined by quadtree where undecided.
* A cell is cleared when some disk misses it entirely: the geodesic distance
  from the landmark to the cell centre exceeds ``r`` plus a proven upper bound
  of the cell's radius plus a safety margin (``margin_km``, default 5 km, for
  border data tolerance).
* A cell whose centre lies in the area and inside every disk proves the region
  touches the area (a witness). A cell still undecided at the finest size
  (~1 km) counts as touching: the method may fail to prove, never prove wrongly.

Distances are WGS84 geodesics (pyproj); a spherical formula with a 2% safety
factor only skips the exact computation where the answer cannot change.
Validated against a brute-force grid oracle in ``tests/location/test_region_oracle.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod

from attest.location.borders import DENSIFY_DEG, KM_PER_DEG_MAX, Area, FloatArray

#: Speed of light in vacuum, km per nanosecond.
C_KM_PER_NS = 299_792.458e-9
_GEOD = Geod(ellps="WGS84")
_R_MEAN = 6371.0088
_SPHERE_SLACK = 0.02  # spherical vs WGS84 geodesic distance differ by < 0.6%; 2% is safe
_MIN_HALF_DEG = 1 / 256  # finest cell: ~0.43 km half-size
_MAX_CELLS = 400_000  # work bound per member; beyond it the member counts as touched


def radius_km(rtt_ns: int) -> float:
    """The distance bound of a round trip: ``c · RTT / 2`` in vacuum."""
    return rtt_ns * C_KM_PER_NS / 2


def rtt_ms_for(km: float) -> float:
    """The largest RTT (ms) whose disk stays within ``km``."""
    return 2 * km / C_KM_PER_NS / 1e6


@dataclass(frozen=True)
class Disk:
    """Where a node can be according to one landmark: within ``radius_km`` of (lat, lon)."""

    lat: float
    lon: float
    radius_km: float
    label: str = ""
    operator: str = ""


def geodesic_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """WGS84 geodesic distance in km, vectorised."""
    _, _, d = _GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d, dtype=np.float64) / 1000.0


def _sphere_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return np.asarray(2 * _R_MEAN * np.arcsin(np.sqrt(np.clip(h, 0, 1))), dtype=np.float64)


def _beyond(lat: FloatArray, lon: FloatArray, disk: Disk, threshold: FloatArray) -> NDArray[np.bool_]:
    """For each point: is its geodesic distance to the disk's centre greater than ``threshold``?"""
    dlat = np.full_like(lat, disk.lat)
    dlon = np.full_like(lon, disk.lon)
    s = _sphere_km(dlat, dlon, lat, lon)
    out = s * (1 - _SPHERE_SLACK) - 1.0 > threshold
    unsure = ~out & (s * (1 + _SPHERE_SLACK) + 1.0 > threshold)
    if unsure.any():
        exact = geodesic_km(dlat[unsure], dlon[unsure], lat[unsure], lon[unsure])
        out[unsure] = exact > threshold[unsure]
    return out


def cell_radius_km(lat0: FloatArray, half_lat: float, half_lon: float) -> FloatArray:
    """An upper bound of the distance from a lon/lat cell's centre to any point of it.

    Triangle inequality along the centre's meridian then the point's parallel: at most
    ``half_lat`` degrees of meridian plus ``half_lon`` degrees of the cell's widest parallel.
    """
    lo = lat0
    hi = lat0 + 2 * half_lat
    min_abs = np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    return np.asarray(
        KM_PER_DEG_MAX * half_lat + KM_PER_DEG_MAX * np.cos(np.radians(min_abs)) * half_lon, dtype=np.float64
    )


@dataclass
class MemberResult:
    """Whether the feasible region can touch one member of the area."""

    member: str
    touches: bool
    how: str
    """``cleared`` (no point of it is feasible), ``witness`` (a feasible point in it) or ``unresolved``."""
    witness: tuple[float, float] | None = None
    cells: int = 0


def _clear_matrix(
    clat: FloatArray, clon: FloatArray, rad: FloatArray, disks: Sequence[Disk], margin_km: float
) -> NDArray[np.bool_]:
    """``[cell, disk]``: the disk provably misses the whole cell (distance > r + cell radius + margin)."""
    dlat = np.array([d.lat for d in disks])
    dlon = np.array([d.lon for d in disks])
    thr = np.array([d.radius_km for d in disks])[None, :] + rad[:, None] + margin_km
    s = _sphere_km(clat[:, None], clon[:, None], dlat[None, :], dlon[None, :])
    out = s * (1 - _SPHERE_SLACK) - 1.0 > thr
    unsure = ~out & (s * (1 + _SPHERE_SLACK) + 1.0 > thr)
    if unsure.any():
        ii, jj = np.nonzero(unsure)
        out[ii, jj] = geodesic_km(clat[ii], clon[ii], dlat[jj], dlon[jj]) > thr[ii, jj]
    return np.asarray(out, dtype=bool)


def _level0(area: Area, member: str, disks: Sequence[Disk], margin_km: float) -> NDArray[np.bool_]:
    corners = area.cells(member)
    lat0 = corners[:, 0]
    return _clear_matrix(lat0 + 0.5, corners[:, 1] + 0.5, cell_radius_km(lat0, 0.5, 0.5), disks, margin_km)


def _member(
    disks: Sequence[Disk],
    area: Area,
    member: str,
    margin_km: float,
    level0: NDArray[np.bool_] | None = None,
) -> MemberResult:
    corners = area.cells(member)
    lat0, lon0 = corners[:, 0].copy(), corners[:, 1].copy()
    half = 0.5
    geom = area.members[member]
    shapely.prepare(geom)
    examined = 0
    while lat0.size:
        examined += lat0.size
        clat, clon = lat0 + half, lon0 + half
        if level0 is not None and half == 0.5:
            cleared = level0
        else:
            cleared = _clear_matrix(clat, clon, cell_radius_km(lat0, half, half), disks, margin_km)
        alive = ~cleared.any(axis=1)
        if not alive.any():
            return MemberResult(member, False, "cleared", cells=examined)
        cand = np.flatnonzero(alive)
        for d in disks:
            cand = cand[~_beyond(clat[cand], clon[cand], d, np.full(cand.size, d.radius_km))]
        if cand.size:
            hit = shapely.contains_xy(geom, clon[cand], clat[cand])
            if hit.any():
                i = cand[np.argmax(hit)]
                return MemberResult(member, True, "witness", (float(clat[i]), float(clon[i])), examined)
        if half <= _MIN_HALF_DEG or examined > _MAX_CELLS:
            i = int(np.flatnonzero(alive)[0])
            return MemberResult(member, True, "unresolved", (float(clat[i]), float(clon[i])), examined)
        lat0, lon0 = lat0[alive], lon0[alive]
        half /= 2
        size = 2 * half
        lat0 = np.concatenate([lat0, lat0, lat0 + size, lat0 + size])
        lon0 = np.concatenate([lon0, lon0 + size, lon0, lon0 + size])
        keep = shapely.intersects(geom, shapely.box(lon0, lat0, lon0 + size, lat0 + size))
        lat0, lon0 = lat0[keep], lon0[keep]
    return MemberResult(member, False, "cleared", cells=examined)


@dataclass
class RegionDecision:
    """Whether the intersection of ``disks`` misses every member of ``area``."""

    excluded: bool
    members: list[MemberResult]
    margin_km: float

    @property
    def touched(self) -> list[str]:
        """Members the region may touch."""
        return [m.member for m in self.members if m.touches]


def decide(disks: Sequence[Disk], area: Area, *, margin_km: float = 5.0) -> RegionDecision:
    """Whether the feasible region (intersection of ``disks``) misses every member of ``area``.

    With no disk the region is the whole Earth: nothing is excluded.
    """
    if margin_km < 0 or not math.isfinite(margin_km):
        raise ValueError("margin_km must be a finite number >= 0")
    if not disks:
        return RegionDecision(False, [MemberResult(m, True, "no disks") for m in area.members], margin_km)
    # Shortcut: a disk that stays clear of the whole area by itself decides (border distance is a lower bound).
    for d in disks:
        if min_distance_km(d.lat, d.lon, area) > d.radius_km + margin_km:
            return RegionDecision(
                True,
                [MemberResult(m, False, f"cleared by {d.label or 'one disk'} alone") for m in area.members],
                margin_km,
            )
    return _decide(disks, area, margin_km, None)


def _decide(
    disks: Sequence[Disk],
    area: Area,
    margin_km: float,
    level0: dict[str, NDArray[np.bool_]] | None,
) -> RegionDecision:
    results = [_member(disks, area, m, margin_km, level0[m] if level0 else None) for m in area.members]
    return RegionDecision(not any(r.touches for r in results), results, margin_km)


@dataclass
class RobustDecision:
    """Exclusion that survives any ``k - 1`` landmark operators lying."""

    excluded: bool
    k: int
    operators: list[str]
    full: RegionDecision
    weakest: list[str] = field(default_factory=list)
    """Operators whose removal (with others up to k-1) leaves the area not excluded."""


def decide_robust(disks: Sequence[Disk], area: Area, *, k: int = 2, margin_km: float = 5.0) -> RobustDecision:
    """Excluded only if, for every choice of ``k-1`` operators dropped, the rest still exclude.

    A dishonest landmark can claim any RTT; dropping up to ``k-1`` operators' disks leaves
    at least the honest ones, which contain the node's true position.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if margin_km < 0 or not math.isfinite(margin_km):
        raise ValueError("margin_km must be a finite number >= 0")
    operators = sorted({d.operator for d in disks})
    full_level0: dict[str, NDArray[np.bool_]] = {}  # level-0 clearances of every disk, sliced per subset
    if not disks or any(min_distance_km(d.lat, d.lon, area) > d.radius_km + margin_km for d in disks):
        full = decide(disks, area, margin_km=margin_km)  # no disks, or one disk decides alone
    else:
        full_level0 = {m: _level0(area, m, disks, margin_km) for m in area.members}
        full = _decide(disks, area, margin_km, full_level0)
    if not full.excluded or len(operators) < k:
        return RobustDecision(False, k, operators, full, [])
    weakest: list[str] = []
    for dropped in itertools.combinations(operators, k - 1):
        keep = [i for i, d in enumerate(disks) if d.operator not in dropped]
        rest = [disks[i] for i in keep]
        if not rest:
            excluded = False
        elif any(min_distance_km(d.lat, d.lon, area) > d.radius_km + margin_km for d in rest):
            excluded = True  # one remaining disk clears the whole area by itself
        else:
            if not full_level0:
                full_level0 = {m: _level0(area, m, disks, margin_km) for m in area.members}
            excluded = _decide(
                rest, area, margin_km, {m: v[:, keep] for m, v in full_level0.items()}
            ).excluded
        if not excluded:
            weakest.extend(o for o in dropped if o not in weakest)
    return RobustDecision(not weakest, k, operators, full, weakest)


def min_distance_km(lat: float, lon: float, area: Area) -> float:
    """A lower bound of the geodesic distance from (lat, lon) to the area (0 inside it).

    The boundary is densified to ``DENSIFY_DEG``; the bound subtracts half a segment.
    """
    cached = area.distances.get((lat, lon))
    if cached is not None:
        return cached
    if area.contains(np.array([lat]), np.array([lon]))[0]:
        area.distances[(lat, lon)] = 0.0
        return 0.0
    blat, blon = area.boundary_points
    plat, plon = np.full_like(blat, lat), np.full_like(blon, lon)
    s = _sphere_km(plat, plon, blat, blon)
    near = s <= s.min() * (1 + 2 * _SPHERE_SLACK) + 2.0
    exact = geodesic_km(plat[near], plon[near], blat[near], blon[near])
    found = max(0.0, float(exact.min()) - DENSIFY_DEG * KM_PER_DEG_MAX / 2)
    if len(area.distances) < 100_000:  # landmarks repeat across manifests; bounded memory
        area.distances[(lat, lon)] = found
    return found


def in_disk(lat: float, lon: float, disk: Disk, *, tolerance_km: float = 0.0) -> bool:
    """Whether (lat, lon) lies within ``disk`` (plus ``tolerance_km``)."""
    d = geodesic_km(np.array([disk.lat]), np.array([disk.lon]), np.array([lat]), np.array([lon]))[0]
    return bool(d <= disk.radius_km + tolerance_km)
