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
from collections.abc import Iterable
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


def depth_km(borders: Borders, country: str, latitude: float, longitude: float) -> float:
    """How far inside ``country``'s area the point lies: the distance to its boundary (0 outside or unknown).

    The bundled polygons are grown a little outward (``scripts/build_borders.py``), so two
    neighbours overlap along their border: a point in both lies on the side it is deeper in.
    """
    code = country.upper()
    if code not in borders.codes:
        return 0.0
    union = borders.area([code]).union
    if not shapely.intersects_xy(union, longitude, latitude):
        return 0.0
    near, _ = nearest_points(shapely.boundary(union), Point(longitude, latitude))
    return haversine_km(latitude, longitude, near.y, near.x)


# Countries (ISO 3166-1 alpha-2) the bundled borders hold no polygon for: small territories, each
# within these boxes (south, west, north, east; degrees, generous by ~0.2 deg), so that a site
# declared there can still be told to be elsewhere.
TERRITORY_BOXES: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "BQ": ((11.8, -68.6, 12.5, -68.0), (17.3, -63.5, 17.8, -62.7)),  # Bonaire; Saba and Sint Eustatius
    "BV": ((-54.7, 3.0, -54.2, 3.7),),  # Bouvet Island
    "CC": ((-12.4, 96.6, -11.6, 97.1),),  # Cocos (Keeling) Islands
    "CX": ((-10.8, 105.3, -10.2, 105.9),),  # Christmas Island
    "GF": ((1.9, -54.9, 6.0, -51.3),),  # French Guiana
    "GP": ((15.6, -62.0, 16.7, -60.8),),  # Guadeloupe
    "MQ": ((14.2, -61.4, 15.1, -60.6),),  # Martinique
    "RE": ((-21.6, 55.0, -20.7, 56.0),),  # Réunion
    "SJ": ((74.1, 9.8, 81.1, 34.0), (70.6, -9.3, 71.4, -7.7)),  # Svalbard; Jan Mayen
    "TK": ((-9.7, -172.8, -8.3, -170.9),),  # Tokelau
    "YT": ((-13.2, 44.8, -12.4, 45.5),),  # Mayotte
}


def territory_distance_km(country: str, latitude: float, longitude: float) -> float | None:
    """How far the point lies outside the boxes of a country without a polygon (0 inside); None if it has none."""
    boxes = TERRITORY_BOXES.get(country.upper())
    if boxes is None:
        return None
    best = math.inf
    for south, west, north, east in boxes:
        lat = min(max(latitude, south), north)
        lon = min(max(longitude, west), east)
        best = min(best, haversine_km(latitude, longitude, lat, lon))
    return best


def in_any(borders: Borders, codes: Iterable[str], latitude: float, longitude: float) -> bool:
    """Whether the point lies in the area of any of ``codes`` (those the borders hold; disputed areas too).

    One test against their cached union: what tells, for a site inside its own country, whether a
    neighbour's polygon holds it too, before :func:`containing` names which (~2 ms).
    """
    known = sorted({c.upper() for c in codes} & set(borders.codes))
    return bool(known) and bool(shapely.intersects_xy(borders.area(known).union, longitude, latitude))
