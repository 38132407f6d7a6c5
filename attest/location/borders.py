"""Country borders for exclusion proofs: Natural Earth admin-0 (10 m), grown outward.

The bundled file ``data/borders.json.gz`` is derived by ``scripts/build_borders.py``;
every shipped polygon contains its Natural Earth source polygon, so "a point of
country X" is always inside X's polygon here. Disputed and indeterminate features
(Spratly Islands, Scarborough Reef, ...) are counted as part of *every* claimant:
a region that may touch them is never proven clear of a claimant.

Prohibited areas are built per country set and cached; each carries what the
geometry in :mod:`attest.location.region` needs: prepared polygons, the 1° cells
that cover them and the densified boundary.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from attest.errors import InputError

#: Boundary vertices are at most this far apart (degrees) for distance bounds.
DENSIFY_DEG = 0.05
#: The largest geodesic length of one degree of latitude or of longitude on WGS84, in km.
KM_PER_DEG_MAX = 111.72

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Feature:
    """One Natural Earth admin-0 feature as shipped."""

    id: str
    iso: str | None
    name: str
    type: str
    disputed: bool
    claimants: tuple[str, ...]
    polygons: tuple[tuple[tuple[int, ...], ...], ...] = field(repr=False)

    def geometry(self, grid: float) -> MultiPolygon:
        """Decode the delta-encoded rings into a shapely multipolygon."""
        polys = []
        for rings in self.polygons:
            decoded = []
            for ring in rings:
                xy = np.cumsum(np.asarray(ring, dtype=np.int64).reshape(-1, 2), axis=0) * grid
                decoded.append(xy)
            polys.append(Polygon(decoded[0], decoded[1:]))
        return MultiPolygon(polys)


@dataclass
class Area:
    """A set of countries to prove a node is *not* in, ready for geometry."""

    name: str
    codes: tuple[str, ...]
    members: dict[str, shapely.Geometry]
    """Per member (country code, or feature id for a claimed disputed area): its geometry."""

    @cached_property
    def union(self) -> shapely.Geometry:
        """All members as one geometry, prepared for fast predicates."""
        geom = shapely.union_all(list(self.members.values()))
        shapely.prepare(geom)
        return geom

    @cached_property
    def boundary_points(self) -> tuple[FloatArray, FloatArray]:
        """(lat, lon) of the boundary, densified to ``DENSIFY_DEG``."""
        lines = shapely.segmentize(shapely.boundary(self.union), DENSIFY_DEG)
        xy = shapely.get_coordinates(lines)
        return xy[:, 1].copy(), xy[:, 0].copy()

    def cells(self, member: str) -> FloatArray:
        """South-west corners (lat, lon) of the 1° cells that intersect ``member``."""
        with _LOCK:
            cached = self._cells.get(member)
            if cached is None:
                cached = _cover(self.members[member])
                self._cells[member] = cached
            return cached

    _cells: dict[str, FloatArray] = field(default_factory=dict, repr=False)
    distances: dict[tuple[float, float], float] = field(default_factory=dict, repr=False)
    """Cache of lower-bound distances from points (landmarks) to the area, in km."""

    def contains(self, lat: FloatArray, lon: FloatArray, member: str | None = None) -> NDArray[np.bool_]:
        """Which points lie inside the area (or inside one member)."""
        geom = self.union if member is None else self.members[member]
        shapely.prepare(geom)
        return np.asarray(shapely.contains_xy(geom, lon, lat), dtype=bool)


def _cover(geom: shapely.Geometry) -> FloatArray:
    minx, miny, maxx, maxy = shapely.bounds(geom)
    lats = np.arange(np.floor(miny), np.ceil(maxy), 1.0)
    lons = np.arange(np.floor(minx), np.ceil(maxx), 1.0)
    grid_lat, grid_lon = np.meshgrid(lats, lons, indexing="ij")
    la, lo = grid_lat.ravel(), grid_lon.ravel()
    boxes = shapely.box(lo, la, lo + 1.0, la + 1.0)
    shapely.prepare(geom)
    hit = shapely.intersects(geom, boxes)
    return np.stack([la[hit], lo[hit]], axis=1)


_LOCK = threading.Lock()


class Borders:
    """The bundled country polygons; build :class:`Area` objects from country codes."""

    def __init__(self, doc: dict[str, Any]) -> None:
        if doc.get("format") != "compute-attest borders v1":
            raise InputError("borders file is not in compute-attest borders v1 format")
        self.provenance: dict[str, Any] = doc["provenance"]
        self.grid = float(self.provenance["rounding_deg"])
        self.features = [
            Feature(
                id=f["id"],
                iso=f["iso"],
                name=f["name"],
                type=f["type"],
                disputed=bool(f["disputed"]),
                claimants=tuple(f["claimants"]),
                polygons=tuple(tuple(tuple(r) for r in p) for p in f["polygons"]),
            )
            for f in doc["features"]
        ]
        self.codes = sorted({f.iso for f in self.features if f.iso})
        self._geoms: dict[str, shapely.Geometry] = {}
        self._areas: dict[tuple[str, ...], Area] = {}

    def name_of(self, code: str) -> str:
        """A country's name, or the code itself when unknown."""
        return next((f.name for f in self.features if f.iso == code), code)

    def geometry(self, feature: Feature) -> shapely.Geometry:
        """The decoded geometry of one feature (cached)."""
        geom = self._geoms.get(feature.id)
        if geom is None:
            geom = feature.geometry(self.grid)
            self._geoms[feature.id] = geom
        return geom

    def area(self, codes: Iterable[str]) -> Area:
        """The area of ``codes`` plus every disputed feature one of them claims.

        Raises:
            InputError: a code names no country in the borders file.
        """
        wanted = tuple(sorted({c.strip().upper() for c in codes if c.strip()}))
        if not wanted:
            raise InputError("no prohibited countries given")
        unknown = [c for c in wanted if c not in self.codes]
        if unknown:
            raise InputError(
                f"no border polygon for {', '.join(unknown)} (ISO 3166 alpha-2 codes as Natural Earth's "
                "ISO_A2_EH; e.g. CN, HK, MO)"
            )
        with _LOCK:
            cached = self._areas.get(wanted)
        if cached is not None:
            return cached
        members: dict[str, list[shapely.Geometry]] = {}
        for f in self.features:
            if f.iso in wanted:
                members.setdefault(f.iso, []).append(self.geometry(f))
            elif f.disputed and set(f.claimants) & set(wanted):
                members.setdefault(f"{f.id} (disputed, claimed by {'/'.join(f.claimants)})", []).append(
                    self.geometry(f)
                )
        area = Area(
            name=",".join(wanted),
            codes=wanted,
            members={k: shapely.union_all(v) for k, v in members.items()},
        )
        with _LOCK:
            self._areas[wanted] = area
        return area


_BUNDLED: Borders | None = None


def bundled_borders() -> Borders:
    """The borders shipped with the package (loaded once, ~0.3 s)."""
    global _BUNDLED
    if _BUNDLED is None:
        raw = resources.files("attest.location").joinpath("data/borders.json.gz").read_bytes()
        _BUNDLED = Borders(json.loads(gzip.decompress(raw)))
    return _BUNDLED


def parse_codes(text: str | Sequence[str]) -> list[str]:
    """``"CN,HK,MO"`` (or a list of such) → ``["CN", "HK", "MO"]``, validated as two letters."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    codes = [c.strip().upper() for c in items if c.strip()]
    bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
    if bad:
        raise InputError(f"not ISO 3166 alpha-2 country codes: {', '.join(bad)}")
    return codes
