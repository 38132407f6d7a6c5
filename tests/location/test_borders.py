"""The bundled borders: provenance, codes, disputed areas and the geometry bounds the proofs rest on."""

from __future__ import annotations

import numpy as np
import pytest

from attest.errors import InputError
from attest.location.borders import bundled_borders, parse_codes
from attest.location.region import cell_radius_km, geodesic_km, min_distance_km


def test_provenance_and_codes() -> None:
    b = bundled_borders()
    assert "Natural Earth" in b.provenance["source"] and "10m" in b.provenance["source"]
    assert b.provenance["rebuild"].startswith("python scripts/build_borders.py")
    # 10 m scale has the small places 110 m lacks; ISO_A2_EH gives France and Norway their codes.
    for code in ("SG", "HK", "MO", "FR", "NO", "TW", "CN"):
        assert code in b.codes


@pytest.mark.parametrize(
    ("code", "lat", "lon"),
    [("SG", 1.2897, 103.8501), ("HK", 22.3193, 114.1694), ("MO", 22.1987, 113.5439), ("CN", 39.9042, 116.4074)],
)
def test_cities_lie_inside_their_country(code: str, lat: float, lon: float) -> None:
    area = bundled_borders().area([code])
    assert area.contains(np.array([lat]), np.array([lon]))[0]


def test_disputed_areas_count_for_every_claimant_but_taiwan_is_its_own() -> None:
    b = bundled_borders()
    cn = b.area(["CN"])
    assert any(m.startswith("PGA") for m in cn.members)  # Spratly Is., claimed by CN
    assert any(m.startswith("SCR") for m in cn.members)  # Scarborough Reef
    assert "TW" not in cn.members
    taipei = (np.array([25.033]), np.array([121.5654]))
    assert not cn.contains(*taipei)
    assert any(m.startswith("PGA") for m in b.area(["VN"]).members)
    assert not any(m.startswith("PGA") for m in b.area(["TH"]).members)


def test_unknown_and_malformed_codes_are_clear_errors() -> None:
    with pytest.raises(InputError, match="no border polygon for XX"):
        bundled_borders().area(["CN", "XX"])
    with pytest.raises(InputError, match="not ISO 3166"):
        parse_codes("CN,China")
    with pytest.raises(InputError, match="no prohibited"):
        bundled_borders().area([])
    assert parse_codes("cn, hk,MO") == ["CN", "HK", "MO"]


def test_min_distance_matches_the_reference_within_data_tolerance() -> None:
    """geolocation.md: Bangkok 823 km, Tokyo 1088 km, Dubai 2258 km to CN/HK/MO (grown borders: a bit less)."""
    area = bundled_borders().area(["CN", "HK", "MO"])
    for lat, lon, km in [(13.7540, 100.5014, 823), (35.6895, 139.6917, 1088), (25.0657, 55.1713, 2258)]:
        d = min_distance_km(lat, lon, area)
        assert km - 12 <= d <= km, (lat, lon, d)
    assert min_distance_km(39.9042, 116.4074, area) == 0.0


def test_cell_radius_bounds_every_point_of_the_cell() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        half = float(rng.choice([0.5, 0.25, 1 / 64]))
        lat0 = float(rng.uniform(-90, 90 - 2 * half))
        lon0 = float(rng.uniform(-180, 180 - 2 * half))
        plat = rng.uniform(lat0, lat0 + 2 * half, 200)
        plon = rng.uniform(lon0, lon0 + 2 * half, 200)
        corners_lat = np.array([lat0, lat0, lat0 + 2 * half, lat0 + 2 * half])
        corners_lon = np.array([lon0, lon0 + 2 * half, lon0, lon0 + 2 * half])
        plat, plon = np.concatenate([plat, corners_lat]), np.concatenate([plon, corners_lon])
        d = geodesic_km(np.full(plat.size, lat0 + half), np.full(plat.size, lon0 + half), plat, plon)
        assert d.max() <= cell_radius_km(np.array([lat0]), half, half)[0]
