"""A plain SVG map of a location proof: disks, landmarks, the declared site, prohibited countries.

Written by hand (no plotting dependency): an equirectangular view around the
evidence, countries from the bundled borders, each disk drawn as a true geodesic
circle (points at its radius from the landmark, every 2°).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import Geod

from attest.location.borders import Area, bundled_borders
from attest.location.region import Disk

if TYPE_CHECKING:
    from attest.location.check import LocationReport

_GEOD = Geod(ellps="WGS84")
_W, _H = 960, 640
_PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f"]


def _circle(d: Disk) -> tuple[np.ndarray, np.ndarray]:
    az = np.arange(0, 360, 2.0)
    lon, lat, _ = _GEOD.fwd(
        np.full(az.size, d.lon), np.full(az.size, d.lat), az, np.full(az.size, d.radius_km * 1000)
    )
    lon = np.asarray(lon)
    lon = d.lon + (lon - d.lon + 180) % 360 - 180  # unwrap around the landmark
    return np.asarray(lat), lon


def render(
    disks: Sequence[Disk],
    area: Area,
    *,
    site: tuple[float, float] | None = None,
    title: str = "",
    verdict: str = "",
) -> str:
    """The SVG text of the map."""
    lats: list[float] = []
    lons: list[float] = []
    if site:
        lats.append(site[0])
        lons.append(site[1])
    for d in disks:
        lats.append(d.lat)
        lons.append(d.lon)
    for d in sorted(disks, key=lambda d: d.radius_km)[:2]:
        if d.radius_km < 4000:
            clat, clon = _circle(d)
            lats += list(clat)
            lons += list(clon)
    anchor = site
    if anchor is None and disks:
        tightest = min(disks, key=lambda d: d.radius_km)
        anchor = (tightest.lat, tightest.lon)
    if anchor:  # show the nearest prohibited border too
        blat, blon = area.boundary_points
        i = int(
            np.argmin((blat - anchor[0]) ** 2 + ((blon - anchor[1]) * math.cos(math.radians(anchor[0]))) ** 2)
        )
        lats.append(float(blat[i]))
        lons.append(float(blon[i]))
    if not lats:
        lats, lons = [0.0], [0.0]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    cy = (lat0 + lat1) / 2
    kx = math.cos(math.radians(max(-70.0, min(70.0, cy))))
    span_y = max(lat1 - lat0, 4.0, (lon1 - lon0) * kx * _H / _W) * 1.15
    span_x = span_y * _W / _H / kx
    cx = (lon0 + lon1) / 2
    bx0, bx1, by0, by1 = cx - span_x / 2, cx + span_x / 2, cy - span_y / 2, cy + span_y / 2

    def px(lon: float) -> float:
        return (lon - bx0) / span_x * _W

    def py(lat: float) -> float:
        return (by1 - lat) / span_y * _H

    def path(geom: shapely.Geometry) -> str:
        out = []
        for poly in getattr(geom, "geoms", [geom]):
            if poly.is_empty or not hasattr(poly, "exterior"):
                continue
            for ring in [poly.exterior, *poly.interiors]:
                pts = " L".join(f"{px(x):.1f},{py(y):.1f}" for x, y in ring.coords)
                out.append(f"M{pts} Z")
        return " ".join(out)

    view = shapely.box(max(bx0, -180), max(by0, -90), min(bx1, 180), min(by1, 90))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + 90}" viewBox="0 0 {_W} {_H + 90}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="#eaf2fb"/>',
    ]
    borders = bundled_borders()
    prohibited = set(area.codes)
    for f in borders.features:
        geom = borders.geometry(f)
        if not shapely.intersects(geom, view):
            continue
        clipped = shapely.clip_by_rect(geom, *shapely.bounds(view))
        bad = f.iso in prohibited or (f.disputed and bool(set(f.claimants) & prohibited))
        fill, stroke = ("#f4a6a6", "#c0392b") if bad else ("#fbfaf5", "#b8b2a0")
        parts.append(f'<path d="{path(clipped)}" fill="{fill}" stroke="{stroke}" stroke-width="0.6"/>')
    placed: list[tuple[float, float]] = []
    for i, d in enumerate(disks):
        colour = _PALETTE[i % len(_PALETTE)]
        clat, clon = _circle(d)
        pts = " L".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(clon, clat, strict=True))
        parts.append(
            f'<path d="M{pts} Z" fill="{colour}" fill-opacity="0.08" stroke="{colour}" stroke-width="1.5"/>'
        )
        x, y = px(d.lon), py(d.lat)
        parts.append(
            f'<path d="M{x:.1f},{y - 7:.1f} L{x - 6:.1f},{y + 5:.1f} L{x + 6:.1f},{y + 5:.1f} Z" fill="{colour}"/>'
        )
        ly = y + 4
        while any(abs(ly - py_) < 14 and abs(x - px_) < 80 for px_, py_ in placed):
            ly += 14  # landmarks close together: stack their labels
        placed.append((x, ly))
        parts.append(f'<text x="{x + 8:.1f}" y="{ly:.1f}" fill="{colour}">{escape(d.label)}</text>')
    if site:
        x, y = px(site[1]), py(site[0])
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#000" stroke="#fff" stroke-width="1.5"/>'
        )
        parts.append(f'<text x="{x + 8:.1f}" y="{y - 8:.1f}" font-weight="bold">declared site</text>')
    parts.append(f'<rect y="{_H}" width="{_W}" height="90" fill="#fff"/>')
    parts.append(
        f'<text x="10" y="{_H + 20}" font-weight="bold">{escape(title)}{escape(" — " + verdict if verdict else "")}</text>'
    )
    legend = "; ".join(
        f"{d.label}{f' ({d.operator})' if d.operator else ''} r={d.radius_km:.0f} km" for d in disks[:6]
    ) + (f"; and {len(disks) - 6} more" if len(disks) > 6 else "")
    parts.append(f'<text x="10" y="{_H + 40}">{escape(legend)}</text>')
    parts.append(
        f'<text x="10" y="{_H + 60}">red: prohibited ({escape(", ".join(area.codes))}, and disputed areas they claim); '
        "circles: c·RTT/2 at the speed of light in vacuum; triangles: landmarks</text>"
    )
    parts.append(
        f'<text x="10" y="{_H + 80}" fill="#555">borders: Natural Earth 10m (public domain), grown outward; '
        f"view {by0:.1f}..{by1:.1f}°N, {bx0:.1f}..{bx1:.1f}°E</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render_report(report: LocationReport, title: str) -> str:
    """The map of a location report: its disks, its declared site, its prohibited area and verdict."""
    return render(
        [m.disk for m in report.measures],
        bundled_borders().area(report.prohibited),
        site=report.site,
        title=title,
        verdict="excluded: measured" if report.excluded else "not provable",
    )
