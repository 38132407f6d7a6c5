"""A plain SVG map of a location proof: disks, landmarks, the declared site, prohibited countries.

Written by hand (no plotting dependency): an equirectangular view around the
evidence, countries from the bundled borders, each disk drawn as a true geodesic
circle (points at its radius from the landmark, every 2°).

Readable at a glance: the view holds the disks and the nearest prohibited border; the
distance from each disk to that border is drawn and written; a scale bar gives the
size; when the disks are too small to read at that scale an inset shows them up close.
Labels are placed so that none overlaps another or a marker (each ``<text>`` carries
``class="label"``, which the browser test measures), and landmarks are drawn above the
declared site's ring, never hidden under it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import Geod

from attest.location.borders import Area, bundled_borders
from attest.location.region import Disk, geodesic_km

if TYPE_CHECKING:
    from attest.location.check import LocationReport

_GEOD = Geod(ellps="WGS84")
_W, _H = 960, 640
_FOOT = 90
_INSET = 300
_PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f"]
_CHAR_W, _LINE_H = 6.8, 14.0  # a 12 px sans-serif label: width per character (generous), height
_KM_PER_DEG = 111.32


def _circle(d: Disk) -> tuple[np.ndarray, np.ndarray]:
    az = np.arange(0, 360, 2.0)
    lon, lat, _ = _GEOD.fwd(
        np.full(az.size, d.lon), np.full(az.size, d.lat), az, np.full(az.size, d.radius_km * 1000)
    )
    lon = np.asarray(lon)
    lon = d.lon + (lon - d.lon + 180) % 360 - 180  # unwrap around the landmark
    return np.asarray(lat), lon


@dataclass(frozen=True)
class _Border:
    """The point of the prohibited area nearest to a disk's centre, and how far the disk's edge is from it."""

    lat: float
    lon: float
    km: float
    """From the disk's edge (0 when the disk reaches the area)."""
    inside: bool = False
    """The disk's centre (or the site) is inside the prohibited area."""

    def says(self) -> str:
        """How far, in words."""
        if self.inside:
            return "inside a prohibited area"
        return f"{_fmt_km(self.km)} to border" if self.km > 0 else "reaches the border"


def _nearest_border(lat: float, lon: float, radius_km: float, area: Area) -> _Border | None:
    blat, blon = area.boundary_points
    if blat.size == 0:
        return None
    km = geodesic_km(np.full_like(blat, lat), np.full_like(blon, lon), blat, blon)
    i = int(np.argmin(km))
    if area.contains(np.array([lat]), np.array([lon]))[0]:
        return _Border(float(blat[i]), float(blon[i]), 0.0, inside=True)
    return _Border(float(blat[i]), float(blon[i]), max(0.0, float(km[i]) - radius_km))


@dataclass(frozen=True)
class _View:
    """An equirectangular window: geographic bounds drawn into a pixel box of the canvas."""

    x: float
    y: float
    w: float
    h: float
    lon0: float
    lon1: float
    lat0: float
    lat1: float

    @classmethod
    def fit(
        cls,
        lats: Sequence[float],
        lons: Sequence[float],
        box: tuple[float, float, float, float],
        min_km: float,
    ) -> _View:
        """The smallest view (with a margin) that holds the points, at least ``min_km`` tall."""
        x, y, w, h = box
        lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
        cy = (lat0 + lat1) / 2
        kx = math.cos(math.radians(max(-70.0, min(70.0, cy))))
        span_y = max(lat1 - lat0, min_km / _KM_PER_DEG, (lon1 - lon0) * kx * h / w) * 1.25
        span_y = min(span_y, 170.0)
        span_x = span_y * w / h / kx
        cx = (lon0 + lon1) / 2
        cy = max(-90 + span_y / 2, min(90 - span_y / 2, cy)) if span_y < 180 else 0.0
        return cls(x, y, w, h, cx - span_x / 2, cx + span_x / 2, cy - span_y / 2, cy + span_y / 2)

    def px(self, lon: float) -> float:
        """The x of a longitude, taken on the side of the antimeridian where the view is."""
        mid = (self.lon0 + self.lon1) / 2
        lon = mid + (lon - mid + 180) % 360 - 180
        return self.x + (lon - self.lon0) / (self.lon1 - self.lon0) * self.w

    def py(self, lat: float) -> float:
        return self.y + (self.lat1 - lat) / (self.lat1 - self.lat0) * self.h

    @property
    def km_per_px(self) -> float:
        """Horizontal scale at the view's middle latitude."""
        mid = math.radians((self.lat0 + self.lat1) / 2)
        return (self.lon1 - self.lon0) * _KM_PER_DEG * math.cos(mid) / self.w

    def path(self, geom: shapely.Geometry, shift: float = 0.0) -> str:
        """SVG path data of polygons, their longitudes moved by ``shift`` (±360 across the antimeridian)."""
        out = []
        k = self.w / (self.lon1 - self.lon0)
        for poly in getattr(geom, "geoms", [geom]):
            if poly.is_empty or not hasattr(poly, "exterior"):
                continue
            for ring in [poly.exterior, *poly.interiors]:
                pts = " L".join(
                    f"{self.x + (x + shift - self.lon0) * k:.1f},{self.py(y):.1f}" for x, y in ring.coords
                )
                out.append(f"M{pts} Z")
        return " ".join(out)


class _Labels:
    """Greedy label placement: each label takes the first candidate spot that overlaps nothing placed."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        self.bounds = bounds
        self.taken: list[tuple[float, float, float, float]] = []

    def block(self, x: float, y: float, r: float) -> None:
        """Keep labels off a marker at (x, y) of radius ``r``."""
        self.taken.append((x - r, y - r, x + r, y + r))

    def place(self, text: str, x: float, y: float, *, gap: float = 9.0) -> tuple[float, float, bool] | None:
        """Where to write ``text`` near (x, y): (left, baseline, needs a leader line), or None: no room.

        A label with no room is left out rather than drawn over another (the legend lists every disk).
        """
        w, h = len(text) * _CHAR_W + 2, _LINE_H
        bx0, by0, bx1, by1 = self.bounds
        tries = []
        for ring in range(8):
            d = gap + ring * h
            tries += [(x + d, y + 4), (x - d - w, y + 4), (x - w / 2, y - d), (x - w / 2, y + d + h - 4)]
            tries += [(x + d, y - d + 4), (x + d, y + d + 4), (x - d - w, y - d + 4), (x - d - w, y + d + 4)]
        for lx, ly in tries:
            box = (lx, ly - h + 3, lx + w, ly + 3)
            if box[0] < bx0 or box[2] > bx1 or box[1] < by0 or box[3] > by1:
                continue
            if any(
                not (box[2] <= t[0] or box[0] >= t[2] or box[3] <= t[1] or box[1] >= t[3]) for t in self.taken
            ):
                continue
            self.taken.append(box)
            return lx, ly, abs(lx - x) + abs(ly - 4 - y) > 3 * gap
        return None


def _nice_km(target: float) -> float:
    """1, 2 or 5 times a power of ten, at most ``target``."""
    if target <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(target))
    return float(max(m * p for m in (1, 2, 5) if m * p <= target))


def _fmt_km(km: float) -> str:
    return f"{km:,.0f} km" if km >= 10 else f"{km:.1f} km"


def render(
    disks: Sequence[Disk],
    area: Area,
    *,
    site: tuple[float, float] | None = None,
    title: str = "",
    verdict: str = "",
) -> str:
    """The SVG text of the map."""
    tight = sorted(disks, key=lambda d: d.radius_km)
    borders_near = [(d, _nearest_border(d.lat, d.lon, d.radius_km, area)) for d in disks]
    anchor = site or ((tight[0].lat, tight[0].lon) if tight else None)
    site_border = _nearest_border(anchor[0], anchor[1], 0.0, area) if anchor else None
    # What the main view must hold: the site, the landmarks, the smaller disks, the nearest border.
    lats: list[float] = []
    lons: list[float] = []
    close: list[float] = []
    close_lons: list[float] = []
    if site:
        lats.append(site[0])
        lons.append(site[1])
    for d in disks:
        lats.append(d.lat)
        lons.append(d.lon)
    for d in tight[:2]:
        if d.radius_km < 4000:
            clat, clon = _circle(d)
            close += list(clat)
            close_lons += list(clon)
    lats += close
    lons += close_lons
    # The gap drawn: from the disk whose edge stays furthest from the prohibited area (the one that
    # rules it out on its own, when one does), else from the declared site.
    clear = [(d, b) for d, b in borders_near if b is not None and b.km > 0]
    best = max(clear, key=lambda db: db[1].km, default=None)
    nearest = best[1] if best else site_border  # site_border: from the site, else the tightest disk's centre
    for b in [nearest, *(b for _, b in borders_near)]:
        if b is not None:
            lats.append(b.lat)
            lons.append(b.lon)
    if not lats:
        lats, lons = [0.0], [0.0]
    ref = lons[0]  # longitudes on one side of the antimeridian: Fiji's landmarks are neighbours
    lons = [ref + (lo - ref + 180) % 360 - 180 for lo in lons]
    close_lons = [ref + (lo - ref + 180) % 360 - 180 for lo in close_lons]
    main = _View.fit(lats, lons, (0, 0, _W, _H), min_km=50.0)
    # The disks up close, when they are too small to read at the main scale.
    small = bool(tight) and tight[0].radius_km / main.km_per_px < 40
    inset: _View | None = None
    if small:
        ilats = close + [d.lat for d in tight[:2]] + ([site[0]] if site else [])
        ilons = close_lons + [
            ref + (lo - ref + 180) % 360 - 180
            for lo in [d.lon for d in tight[:2]] + ([site[1]] if site else [])
        ]
        corner = _free_corner(main, lats, lons, nearest)
        inset = _View.fit(ilats, ilons, (*corner, _INSET, _INSET), min_km=2 * tight[0].radius_km)

    # clip ids are global in an HTML page holding several maps: one per map, stable for the same map
    uid = (
        "m"
        + hashlib.sha256(
            repr((title, site, [(d.lat, d.lon, d.radius_km) for d in disks])).encode()
        ).hexdigest()[:10]
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H + _FOOT}" '
        f'viewBox="0 0 {_W} {_H + _FOOT}" font-family="sans-serif" font-size="12">',
        f'<defs><clipPath id="{uid}-main"><rect width="{_W}" height="{_H}"/></clipPath>'
        + (
            f'<clipPath id="{uid}-inset"><rect x="{inset.x}" y="{inset.y}" width="{inset.w}" height="{inset.h}"/></clipPath>'
            if inset
            else ""
        )
        + "</defs>",
    ]
    main_labels = _Labels((4, 4, _W - 4, _H - 4))
    if inset:  # nothing of the main view's labels goes under the inset
        main_labels.taken.append((inset.x - 6, inset.y - 6, inset.x + inset.w + 6, inset.y + inset.h + 6))
    gap = (best[0] if best else None, nearest) if nearest is not None else None
    parts += _draw_view(
        main, f"{uid}-main", disks, area, site, borders_near, gap, main_labels, detail=not inset
    )
    if inset:
        # Where the inset is, in the overview: a frame when it is big enough to see, and a dotted
        # line from just outside the evidence (never across a marker) to the inset.
        fx0, fy0, fx1, fy1 = (
            main.px(inset.lon0),
            main.py(inset.lat1),
            main.px(inset.lon1),
            main.py(inset.lat0),
        )
        if fx1 - fx0 >= 14:
            parts.append(
                f'<rect x="{fx0:.1f}" y="{fy0:.1f}" width="{fx1 - fx0:.1f}" height="{fy1 - fy0:.1f}" fill="none" '
                'stroke="#333" stroke-width="1"/>'
            )
        cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
        tx, ty = inset.x + inset.w / 2, inset.y + inset.h / 2
        dist = math.hypot(tx - cx, ty - cy) or 1.0
        off = max(14.0, (fx1 - fx0) / 2 + 4)
        parts.append(
            f'<line x1="{cx + (tx - cx) * off / dist:.1f}" y1="{cy + (ty - cy) * off / dist:.1f}" '
            f'x2="{tx:.1f}" y2="{ty:.1f}" stroke="#333" stroke-width="0.8" stroke-dasharray="2,3"/>'
        )
        parts.append(
            f'<rect x="{inset.x - 2}" y="{inset.y - 2}" width="{inset.w + 4}" height="{inset.h + 4}" fill="#fff" '
            'stroke="#333" stroke-width="1.5"/>'
        )
        inset_labels = _Labels((inset.x + 4, inset.y + 18, inset.x + inset.w - 4, inset.y + inset.h - 30))
        parts += _draw_view(
            inset, f"{uid}-inset", disks, area, site, borders_near, None, inset_labels, detail=True
        )
        parts.append(_text(inset.x + 6, inset.y + 14, "the disks up close", bold=True))
        parts += _scale_bar(inset, inset.x + 8, inset.y + inset.h - 12)
    parts += _scale_bar(main, 12 if not inset or inset.x > 200 else _W - 220, _H - 14)
    parts.append(f'<rect y="{_H}" width="{_W}" height="{_FOOT}" fill="#fff"/>')
    parts.append(
        f'<text x="10" y="{_H + 20}" font-weight="bold">{escape(title)}{escape(" — " + verdict if verdict else "")}</text>'
    )
    entries = [
        f"{d.label}{f' ({d.operator})' if d.operator and len(disks) <= 3 else ''} r={d.radius_km:.0f} km"
        + ("" if b is None else f", {b.says()}")
        for d, b in borders_near
    ]
    legend = ""
    for n, entry in enumerate(entries):  # as many as fit on the line (about 140 characters)
        more = f"; and {len(entries) - n} more" if n else ""
        if len(legend) + len(entry) + 2 + len(more) > 140:
            legend += f"; and {len(entries) - n} more" if n else entry[:130] + "…"
            break
        legend += ("; " if n else "") + entry
    parts.append(f'<text x="10" y="{_H + 40}">{escape(legend)}</text>')
    parts.append(
        f'<text x="10" y="{_H + 60}">red: prohibited ({escape(", ".join(area.codes))}, and disputed areas they claim); '
        "circles: c·RTT/2 at the speed of light in vacuum; triangles: landmarks; dashed: distance to the border</text>"
    )
    parts.append(
        f'<text x="10" y="{_H + 80}" fill="#555">borders: Natural Earth 10m (public domain), grown outward; '
        f"view {main.lat0:.1f}..{main.lat1:.1f}°N, {main.lon0:.1f}..{main.lon1:.1f}°E</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _free_corner(
    view: _View, lats: Sequence[float], lons: Sequence[float], nearest: _Border | None
) -> tuple[float, float]:
    """The corner of the main view for the inset that covers the fewest points of interest."""
    pts = [(view.px(lo), view.py(la)) for la, lo in zip(lats, lons, strict=True)]
    if nearest is not None:
        pts += [(view.px(nearest.lon), view.py(nearest.lat))] * 50  # never hide the border
    corners = [
        (_W - _INSET - 12, 12.0),
        (12.0, 12.0),
        (_W - _INSET - 12, _H - _INSET - 40),
        (12.0, _H - _INSET - 40),
    ]

    def covered(c: tuple[float, float]) -> int:
        return sum(
            c[0] - 20 <= x <= c[0] + _INSET + 20 and c[1] - 20 <= y <= c[1] + _INSET + 20 for x, y in pts
        )

    return min(corners, key=covered)


def _scale_bar(view: _View, x: float, y: float) -> list[str]:
    km = _nice_km(view.km_per_px * 160)
    w = km / view.km_per_px
    return [
        f'<rect x="{x - 4:.1f}" y="{y - 16:.1f}" width="{w + 70:.1f}" height="22" fill="#fff" fill-opacity="0.85"/>',
        f'<path d="M{x:.1f},{y - 6:.1f} L{x:.1f},{y:.1f} L{x + w:.1f},{y:.1f} L{x + w:.1f},{y - 6:.1f}" '
        'fill="none" stroke="#000" stroke-width="2" class="scale"/>',
        _text(x + w + 6, y, _fmt_km(km)),
    ]


def _draw_view(
    view: _View,
    clip: str,
    disks: Sequence[Disk],
    area: Area,
    site: tuple[float, float] | None,
    borders_near: Sequence[tuple[Disk, _Border | None]],
    gap: tuple[Disk | None, _Border] | None,
    labels: _Labels,
    *,
    detail: bool,
) -> list[str]:
    """Countries, disks, landmarks, site and (in the main view) the distance to the border."""
    parts = [
        f'<g clip-path="url(#{clip})">',
        f'<rect x="{view.x}" y="{view.y}" width="{view.w}" height="{view.h}" fill="#eaf2fb"/>',
    ]
    borders = bundled_borders()
    prohibited = set(area.codes)
    for shift in (-360.0, 0.0, 360.0):  # a view across the antimeridian shows both sides
        lo, hi = max(view.lon0 - shift, -180), min(view.lon1 - shift, 180)
        if lo >= hi:
            continue
        geo = shapely.box(lo, max(view.lat0, -90), hi, min(view.lat1, 90))
        for f in borders.features:
            geom = borders.geometry(f)
            if not shapely.intersects(geom, geo):
                continue
            clipped = shapely.clip_by_rect(geom, *shapely.bounds(geo))
            bad = f.iso in prohibited or (f.disputed and bool(set(f.claimants) & prohibited))
            fill, stroke = ("#f4a6a6", "#c0392b") if bad else ("#fbfaf5", "#b8b2a0")
            parts.append(
                f'<path d="{view.path(clipped, shift)}" fill="{fill}" stroke="{stroke}" stroke-width="0.6"/>'
            )
    for i, d in enumerate(disks):
        colour = _PALETTE[i % len(_PALETTE)]
        clat, clon = _circle(d)
        pts = " L".join(f"{view.px(x):.1f},{view.py(y):.1f}" for x, y in zip(clon, clat, strict=True))
        parts.append(
            f'<path d="M{pts} Z" fill="{colour}" fill-opacity="0.08" stroke="{colour}" stroke-width="1.5"/>'
        )
    texts: list[str] = []
    leaders: list[str] = []  # drawn under the landmarks: a leader never covers a marker

    def label(
        text: str,
        x: float,
        y: float,
        colour: str,
        *,
        fill: str | None = None,
        bold: bool = False,
        short: str = "",
    ) -> None:
        spot = labels.place(text, x, y)
        if spot is None and short:  # no room for the whole: the id alone (the legend has the rest)
            text, spot = short, labels.place(short, x, y)
        if spot is None:
            return
        lx, ly, lead = spot
        if lead:
            leaders.append(_leader(x, y, lx, ly, text, colour))
        texts.append(_text(lx, ly, text, fill=fill or colour, bold=bold))

    sx = sy = 0.0
    if site:
        sx, sy = view.px(site[1]), view.py(site[0])
        labels.block(sx, sy, 9)
    marks: list[tuple[float, float, int]] = []
    for i, d in enumerate(disks):
        x, y = view.px(d.lon), view.py(d.lat)
        marks.append((x, y, i))
        labels.block(x, y, 7)
    if gap is not None:  # the gap between the evidence and the border, drawn and written
        disk, nearest = gap
        if disk is not None:
            az, _, _ = _GEOD.inv(disk.lon, disk.lat, nearest.lon, nearest.lat)
            elon, elat, _ = _GEOD.fwd(disk.lon, disk.lat, az, disk.radius_km * 1000)
            start = (float(elat), float(elon))
            text = (
                f"{_fmt_km(nearest.km)} from {disk.label or 'a disk'}'s edge to the nearest prohibited border"
            )
        else:
            tightest = min(disks, key=lambda d: d.radius_km) if disks else None
            if site:
                start, what = site, "the declared site"
            elif tightest is not None:
                start, what = (
                    (tightest.lat, tightest.lon),
                    f"{tightest.label or 'the tightest disk'}'s landmark",
                )
            else:
                start, what = (nearest.lat, nearest.lon), "the point"
            text = (
                f"{what} is inside a prohibited area"
                if nearest.inside
                else f"every disk reaches a prohibited area; {what} is {_fmt_km(nearest.km)} from its border"
            )
        x0, y0, x1, y1 = view.px(start[1]), view.py(start[0]), view.px(nearest.lon), view.py(nearest.lat)
        parts.append(
            f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#c0392b" stroke-width="1.5" '
            'stroke-dasharray="6,4"/>'
        )
        parts.append(f'<circle cx="{x1:.1f}" cy="{y1:.1f}" r="4" fill="#c0392b"/>')
        labels.block(x1, y1, 6)
        label(text, (x0 + x1) / 2, (y0 + y1) / 2, "#c0392b", fill="#9b1c1c", bold=True)
    if site:
        label("declared site", sx, sy, "#000", bold=True)
    if detail:
        crowded = len(disks) > 4  # then the id only by each landmark; the legend has the rest
        for (x, y, i), (d, b) in zip(marks, borders_near, strict=True):
            reach = "" if b is None else f", {b.says()}"
            text = d.label or "landmark"
            if not crowded:
                text += f" r={_fmt_km(d.radius_km)}{reach}"
            label(text, x, y, _PALETTE[i % len(_PALETTE)], short=d.label)
    elif disks:
        cx = sum(m[0] for m in marks) / len(marks)
        cy = sum(m[1] for m in marks) / len(marks)
        label(f"{len(disks)} landmark disk{'s' if len(disks) != 1 else ''} (see the inset)", cx, cy, "#333")
    if site:
        # a ring, not a dot: a landmark at the site shows through it
        parts.append(
            f'<circle class="site" cx="{sx:.1f}" cy="{sy:.1f}" r="7" fill="none" stroke="#000" stroke-width="2.5"/>'
        )
        parts.append(f'<circle cx="{sx:.1f}" cy="{sy:.1f}" r="1.8" fill="#000"/>')
    parts += leaders
    for x, y, i in marks:  # landmarks above the site's ring and the leader lines
        colour = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<path class="landmark" d="M{x:.1f},{y - 7:.1f} L{x - 6:.1f},{y + 5:.1f} L{x + 6:.1f},{y + 5:.1f} Z" '
            f'fill="{colour}" stroke="#fff" stroke-width="1"/>'
        )
    parts += texts
    parts.append("</g>")
    return parts


def _text(x: float, y: float, text: str, *, fill: str = "#000", bold: bool = False) -> str:
    """A map label: white halo (legible over lines and fills), ``class="label"`` (the browser test measures them)."""
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text class="label" paint-order="stroke" stroke="#fff" stroke-width="3" stroke-linejoin="round" '
        f'x="{x:.1f}" y="{y:.1f}" fill="{fill}"{weight}>{escape(text)}</text>'
    )


def _leader(x: float, y: float, lx: float, ly: float, text: str, colour: str) -> str:
    """A thin line from a marker to the nearest point of its displaced label."""
    tx = min(max(x, lx), lx + len(text) * _CHAR_W)
    ty = min(max(y, ly - _LINE_H + 3), ly + 3)
    dist = math.hypot(tx - x, ty - y) or 1.0
    x, y = x + (tx - x) * 8 / dist, y + (ty - y) * 8 / dist  # from the marker's edge: never over it
    return (
        f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{ty:.1f}" stroke="{colour}" stroke-width="0.7" '
        'stroke-opacity="0.8"/>'
    )


def render_report(report: LocationReport, title: str) -> str:
    """The map of a location report: its disks, its declared site, its prohibited area and verdict."""
    return render(
        [m.disk for m in report.measures],
        bundled_borders().area(report.prohibited),
        site=report.site,
        title=title,
        verdict="excluded: measured" if report.excluded else "not provable",
    )
