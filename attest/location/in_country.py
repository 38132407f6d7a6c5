"""Does a point lie in a country? The declared site against the bundled borders.

A site declared in Malaysia whose coordinates are in Shenzhen is a lie the borders
can catch without any measurement. The test is pure: borders, a country code, a
point and a tolerance in, a :class:`CountryFit` out. The country's area is the one
:meth:`Borders.area` builds, so a disputed feature counts as part of every claimant
(as everywhere in the location code): a point on the Spratly Islands fits any of
the countries that claim them. Distances are great-circle distances (haversine on a
6,371 km sphere) to the nearest point of the country's polygons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from attest.location.borders import Borders

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class CountryFit:
    """How a point relates to a country: inside, or how far outside, and which country holds it."""

    country: str
    known: bool
    """False when the borders have no polygon for ``country`` (nothing could be checked)."""
    inside: bool
    distance_km: float
    """0 inside; else the distance to the country's nearest border point."""
    found_in: tuple[str, ...]
    """The countries (ISO codes) whose polygons contain the point, for the finding."""

    def within(self, tolerance_km: float) -> bool:
        """Whether the point is in the country or at most ``tolerance_km`` outside it."""
        return self.known and (self.inside or self.distance_km <= tolerance_km)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def country_fit(borders: Borders, country: str, latitude: float, longitude: float) -> CountryFit:
    """Where (``latitude``, ``longitude``) lies relative to ``country`` (an ISO 3166-1 alpha-2 code)."""
    code = country.upper()
    if code not in borders.codes:
        return CountryFit(code, False, False, math.inf, containing(borders, latitude, longitude))
    union = borders.area([code]).union
    if shapely.intersects_xy(union, longitude, latitude):
        return CountryFit(code, True, True, 0.0, (code,))
    near, _ = nearest_points(union, Point(longitude, latitude))
    return CountryFit(
        code,
        True,
        False,
        haversine_km(latitude, longitude, near.y, near.x),
        containing(borders, latitude, longitude),
    )


def containing(borders: Borders, latitude: float, longitude: float) -> tuple[str, ...]:
    """The ISO codes of every feature whose polygon holds the point (claimants for a disputed one)."""
    found: set[str] = set()
    for f in borders.features:
        geom = borders.geometry(f)
        minx, miny, maxx, maxy = shapely.bounds(geom)
        if (
            minx <= longitude <= maxx
            and miny <= latitude <= maxy
            and shapely.intersects_xy(geom, longitude, latitude)
        ):
            found.update([f.iso] if f.iso else f.claimants)
    return tuple(sorted(found))
