"""Attack simulation: honest nodes and attackers against the real receipt and region code.

Every trial signs real receipts with real landmark keys (Ed25519), binds them to a
manifest nonce and runs :func:`attest.location.check.evaluate` and
:func:`attest.location.check.findings` — the code the verifier runs. Only the
network is modelled:

* propagation over fibre at 2/3 c along a route 1.3-2.5 times the great-circle
  distance, plus node signing (~60 µs) and stack time, plus queueing jitter
  (exponential, mean 0.3 ms; 3% of rounds hit a 2-20 ms spike); the landmark
  keeps the minimum of ``rounds`` rounds.

Strategies (the node is really at ``true``, just inside the prohibited area):

* ``honest``: the node is at the declared site, its key hardware-bound.
* ``added-delay``: the attacker shapes every RTT with extra delay of its choosing.
* ``relay``: a proxy next to each landmark forwards challenges to the node, whose key
  stays with the GPU (round trip = landmark↔proxy + proxy↔node and back).
* ``compromised``: ``k-1`` landmark operators sign whatever RTT the attacker wants (0.05 ms).
* ``stolen-key``: an accomplice next to each landmark holds a copy of a key that is
  *not* hardware-bound and answers in 0.2 ms.

A *false pass* is a ``measured`` grade for a node that is in the prohibited area.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.location.borders import bundled_borders
from attest.location.check import evaluate, findings
from attest.location.receipts import binding_for, sign_receipt
from attest.location.region import C_KM_PER_NS, geodesic_km
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.policy import LocationRequirement

STRATEGIES = ("honest", "added-delay", "relay", "compromised", "stolen-key")
_C_FIBRE_KM_PER_MS = 299_792.458 * 2 / 3 / 1000


@dataclass(frozen=True)
class Site:
    """A declared site, the landmarks near it and where an attacker would really be."""

    name: str
    lat: float
    lon: float
    border_pair: bool = False
    """True where site and prohibited area are too close to tell apart by delay."""


#: The sites the acceptance targets name, and border pairs that must come out "not provable".
SITES: tuple[Site, ...] = (
    Site("Singapore", 1.2897, 103.8501),
    Site("Kuala Lumpur", 3.1412, 101.6865),
    Site("Johor (Kulai)", 1.6561, 103.6032),
    Site("Jakarta", -6.2146, 106.8451),
    Site("Bangkok", 13.7540, 100.5014),
    Site("Tokyo", 35.6895, 139.6917),
    Site("Mumbai", 19.0728, 72.8826),
    Site("Dubai", 25.0657, 55.1713),
    Site("Kinmen (vs Xiamen, 10 km)", 24.4493, 118.3767, border_pair=True),
    Site("Hanoi (vs Guangxi, 130 km)", 21.0285, 105.8542, border_pair=True),
    Site("Taipei (vs Fujian, 173 km)", 25.0330, 121.5654, border_pair=True),
)

_FAR = (("fra-1", 50.1155, 8.6842, "op-far"), ("iad-1", 39.04, -77.49, "op-far"))


@dataclass
class Outcome:
    """Counts for one site and strategy."""

    site: str
    strategy: str
    trials: int = 0
    measured: int = 0
    excluded_physics: int = 0
    not_provable: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of trials graded ``measured``."""
        return self.measured / self.trials if self.trials else 0.0


def _offset(rng: np.random.Generator, lat: float, lon: float, km: float) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = km * math.cos(bearing) / 111.0
    dlon = km * math.sin(bearing) / (111.0 * max(0.1, math.cos(math.radians(lat))))
    return lat + dlat, (lon + dlon + 180) % 360 - 180


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic_km(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))[0])


def _rtt_ns(rng: np.random.Generator, km: float, rounds: int) -> int:
    route = rng.uniform(1.3, 2.5)
    base = 2 * km * route / _C_FIBRE_KM_PER_MS + 0.06 + rng.uniform(0.03, 0.15)
    jitter = rng.exponential(0.3, rounds)
    spikes = rng.random(rounds) < 0.03
    jitter[spikes] += rng.uniform(2, 20, int(spikes.sum()))
    rtt_ms = float((base + jitter).min())
    physical_floor = 2 * km / (C_KM_PER_NS * 1e6)  # never faster than light
    return max(1, int(max(rtt_ms, physical_floor) * 1e6))


class Simulation:
    """Landmarks around each site, with real keys; run trials per strategy."""

    def __init__(
        self,
        *,
        prohibited: Sequence[str] = ("CN", "HK", "MO"),
        requirement: LocationRequirement | None = None,
        rounds: int = 5,
        seed: int = 2026,
    ) -> None:
        self.prohibited = list(prohibited)
        self.requirement = requirement or LocationRequirement(prohibited=self.prohibited)
        self.rounds = rounds
        self.rng = np.random.default_rng(seed)
        self.area = bundled_borders().area(self.prohibited)
        self.node_key = SigningKey.generate()
        self.keys: dict[str, SigningKey] = {}
        self._attacker: dict[str, tuple[float, float]] = {}

    def landmarks_for(self, site: Site) -> list[Landmark]:
        """Two in-metro landmarks (operators A and B), one regional (C), two far ones."""
        rng = np.random.default_rng(zlib.crc32(site.name.encode()))
        spots = [
            ("metro-a", *_offset(rng, site.lat, site.lon, float(rng.uniform(5, 30))), "op-a"),
            ("metro-b", *_offset(rng, site.lat, site.lon, float(rng.uniform(5, 30))), "op-b"),
            ("regional", *_offset(rng, site.lat, site.lon, float(rng.uniform(300, 1200))), "op-c"),
            *_FAR,
        ]
        out = []
        for name, lat, lon, op in spots:
            key = self.keys.setdefault(name + site.name, SigningKey.generate())
            out.append(
                Landmark(
                    id=f"{name}",
                    latitude=max(-90.0, min(90.0, lat)),
                    longitude=lon,
                    public_key=key.public.spki_b64(),
                    operator=op,
                )
            )
        return out

    def attacker_position(self, site: Site) -> tuple[float, float]:
        """The point of the prohibited area nearest the declared site (the attacker's best spot)."""
        cached = self._attacker.get(site.name)
        if cached is not None:
            return cached
        blat, blon = self.area.boundary_points
        d = geodesic_km(np.full(blat.size, site.lat), np.full(blat.size, site.lon), blat, blon)
        i = int(np.argmin(d))
        self._attacker[site.name] = (float(blat[i]), float(blon[i]))
        return self._attacker[site.name]

    def trial(self, site: Site, strategy: str, landmarks: Sequence[Landmark]) -> tuple[str, bool]:
        """One manifest's worth of receipts; returns (grade, physics excluded)."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
        rng = self.rng
        now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        nonce = os.urandom(16).hex()
        binding = binding_for(self.node_key.key_id, nonce)
        here = (site.lat, site.lon) if strategy == "honest" else self.attacker_position(site)
        lying_ops = {"op-a"} if strategy == "compromised" else set()
        receipts = []
        for lm in landmarks:
            where = (lm.latitude, lm.longitude)
            if lm.operator in lying_ops:
                rtt = 50_000
            elif strategy == "stolen-key":
                rtt = 200_000  # an accomplice with the key next to the landmark
            elif strategy == "relay":
                proxy = _offset(rng, *where, 1.0)
                rtt = _rtt_ns(rng, 1.0, self.rounds) + _rtt_ns(rng, _km(proxy, here), self.rounds)
            else:
                rtt = _rtt_ns(rng, _km(where, here), self.rounds)
                if strategy == "added-delay":
                    rtt += int(rng.uniform(0, 5e6))
            receipts.append(
                sign_receipt(
                    self.keys[lm.id + site.name],
                    landmark_id=lm.id,
                    node_key_id=self.node_key.key_id,
                    nonce=os.urandom(16),
                    rtt_ns=rtt,
                    measured_at=now - timedelta(seconds=30),
                    binding=binding,
                )
            )
        report = evaluate(
            receipts,
            registry=LandmarkRegistry(landmarks=list(landmarks)),
            requirement=self.requirement,
            prohibited=self.prohibited,
            node_key_id=self.node_key.key_id,
            manifest_nonce=nonce,
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            now=now,
            site=(site.lat, site.lon),
        )
        bound = "declared" if strategy == "stolen-key" else "hardware-bound"
        _, grade = findings(report, grade=bound)
        return grade, report.excluded

    def run(self, sites: Sequence[Site], strategies: Sequence[str], trials: int) -> list[Outcome]:
        """``trials`` manifests per site and strategy."""
        out = []
        for site in sites:
            landmarks = self.landmarks_for(site)
            for strategy in strategies:
                o = Outcome(site.name, strategy)
                for _ in range(trials):
                    grade, excluded = self.trial(site, strategy, landmarks)
                    o.trials += 1
                    o.measured += grade == "measured"
                    o.excluded_physics += excluded
                    o.not_provable += not excluded
                out.append(o)
        return out


def site_named(name: str) -> Site:
    """A built-in site by (case-insensitive prefix of) its name."""
    hits = [s for s in SITES if s.name.lower().startswith(name.lower())]
    if len(hits) != 1:
        raise InputError(
            f"no single built-in site matches {name!r}; sites: {', '.join(s.name for s in SITES)}"
        )
    return hits[0]
