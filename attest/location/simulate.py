"""Attack simulation: honest nodes and attackers against the real receipt and region code.

Every trial signs real receipts with real landmark keys (Ed25519), binds them to a
manifest nonce, has a simulated GPU (:class:`attest.hardware.simulated_cc.SimulatedCcBackend`,
P-384, NVIDIA's report shape) sign a real attestation report over each GPU-timed
challenge, and runs :func:`attest.location.check.evaluate` and
:func:`attest.location.check.findings` — the code the verifier runs, GPU report
checks included. Only the network and the GPUs' clocks are modelled:

* propagation over fibre at 2/3 c along a route 1.3-2.5 times the great-circle
  distance, plus node signing (~60 µs) and stack time, plus queueing jitter
  (exponential, mean 0.3 ms; 3% of rounds hit a 2-20 ms spike); the landmark
  keeps the minimum of ``rounds`` rounds;
* an honest GPU takes ``report_ms`` (default 30) plus exponential jitter (mean
  ``report_jitter_ms``, default 1) to make a report; the verifier takes
  ``floor_ms`` (``t_min``, the catalog's floor; default 0) off each GPU-timed
  round trip. An attacker's GPUs are assumed to take exactly the floor: the
  floor is by definition the least a report can take, so that is their best.

Each honest node answers every landmark twice: with its key alone (v1) and with its
GPUs (v2); the manifest carries both receipts.

Strategies (an attacker's node, key and GPUs are really at ``true``, the point of the
prohibited area nearest the declared site; its key is hardware-bound unless said):

* ``honest``: the node is at the declared site.
* ``added-delay``: the attacker shapes every RTT with extra delay of its choosing.
* ``relay``: a proxy next to each landmark forwards the key-only challenge to the node
  (round trip = landmark↔proxy + proxy↔node and back).
* ``compromised``: ``k-1`` landmark operators sign whatever RTT the attacker wants (0.05 ms),
  GPU-timed ones included.
* ``stolen-key``: an accomplice next to each landmark holds a copy of a key that is
  *not* hardware-bound and answers in 0.2 ms.
* ``key-copy-relay``: an accomplice next to each landmark holds a copy of the
  *hardware-bound* key: it answers key-only challenges in 0.2 ms, and relays each
  GPU challenge to the real GPUs and their reports back.
* ``gpu-report-relay``: a proxy next to each landmark forwards both challenges to the
  real node and returns its signature and its GPUs' reports.

A *false pass* is a ``measured`` grade for a node that is in the prohibited area.
``key-measured`` for such a node is expected where the key answered next to the landmarks:
that grade says only where the key was.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.hardware.simulated_cc import DEFAULT_REPORT_MS, SimulatedCcBackend
from attest.location.borders import bundled_borders
from attest.location.check import evaluate, findings
from attest.location.receipts import binding_for, gpu_nonce, report_digest, sign_receipt
from attest.location.region import C_KM_PER_NS, geodesic_km
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import LandmarkReceipt, TimedGpuReport
from attest.model.policy import LocationRequirement

STRATEGIES = (
    "honest",
    "added-delay",
    "relay",
    "compromised",
    "stolen-key",
    "key-copy-relay",
    "gpu-report-relay",
)
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
    key_measured: int = 0
    excluded_physics: int = 0
    """Trials whose key-only disks rule the area out (what a copy of the key could show)."""
    gpu_excluded: int = 0
    """Trials whose GPU-timed disks rule the area out."""
    not_provable: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of trials graded ``measured``."""
        return self.measured / self.trials if self.trials else 0.0

    @property
    def key_rate(self) -> float:
        """Share of trials graded ``key-measured``."""
        return self.key_measured / self.trials if self.trials else 0.0


def _offset(rng: np.random.Generator, lat: float, lon: float, km: float) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = km * math.cos(bearing) / 111.0
    dlon = km * math.sin(bearing) / (111.0 * max(0.1, math.cos(math.radians(lat))))
    return lat + dlat, (lon + dlon + 180) % 360 - 180


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic_km(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))[0])


def _rounds_ms(rng: np.random.Generator, km: float, rounds: int) -> np.ndarray:
    """Each round's network RTT in ms (never faster than light)."""
    route = rng.uniform(1.3, 2.5)
    base = 2 * km * route / _C_FIBRE_KM_PER_MS + 0.06 + rng.uniform(0.03, 0.15)
    jitter = rng.exponential(0.3, rounds)
    spikes = rng.random(rounds) < 0.03
    jitter[spikes] += rng.uniform(2, 20, int(spikes.sum()))
    physical_floor = 2 * km / (C_KM_PER_NS * 1e6)
    return np.maximum(base + jitter, physical_floor)


def _ns(ms: float) -> int:
    return max(1, int(ms * 1e6))


def _rtt_ns(rng: np.random.Generator, km: float, rounds: int) -> int:
    return _ns(float(_rounds_ms(rng, km, rounds).min()))


class Simulation:
    """Landmarks around each site, with real keys; run trials per strategy."""

    def __init__(
        self,
        *,
        prohibited: Sequence[str] = ("CN", "HK", "MO"),
        requirement: LocationRequirement | None = None,
        rounds: int = 5,
        seed: int = 2026,
        report_ms: float = DEFAULT_REPORT_MS,
        report_jitter_ms: float = 1.0,
        floor_ms: float = 0.0,
        gpus: int = 1,
        far_landmarks: bool = True,
    ) -> None:
        if not 0 <= floor_ms <= report_ms:
            raise InputError(
                f"the report floor ({floor_ms} ms) must be between 0 and the GPUs' report time ({report_ms} ms)"
            )
        if not 1 <= gpus <= 16:
            raise InputError("a simulated node has 1 to 16 GPUs")
        self.report_ms, self.report_jitter_ms, self.floor_ms = report_ms, report_jitter_ms, floor_ms
        self.far_landmarks = far_landmarks
        self.prohibited = list(prohibited)
        self.requirement = requirement or LocationRequirement(prohibited=self.prohibited)
        self.rounds = rounds
        self.rng = np.random.default_rng(seed)
        self.area = bundled_borders().area(self.prohibited)
        self.node_key = SigningKey.generate()
        self.keys: dict[str, SigningKey] = {}
        self._attacker: dict[str, tuple[float, float]] = {}
        # The node's GPUs: real simulated devices (their leaf keys are what the hardware step binds).
        self._vendor_dir = tempfile.TemporaryDirectory(prefix="attest-sim-vendor-")
        self.vendor = SimulatedCcBackend(Path(self._vendor_dir.name), report_ms=0)  # time is modelled
        base = int(self.rng.integers(0, 2**62))
        self.gpu_uuids = {i: f"GPU-{uuid.UUID(int=base + i)}" for i in range(gpus)}
        self.bound_keys = {i: self.vendor.device(u).leaf_key.public_key() for i, u in self.gpu_uuids.items()}

    def landmarks_for(self, site: Site) -> list[Landmark]:
        """Two in-metro landmarks (operators A and B), one regional (C), two far ones.

        Without ``far_landmarks`` only the in-metro pair: fewer constraints, so every attack
        has it easier (and each trial costs less).
        """
        rng = np.random.default_rng(zlib.crc32(site.name.encode()))
        spots = [
            ("metro-a", *_offset(rng, site.lat, site.lon, float(rng.uniform(5, 30))), "op-a"),
            ("metro-b", *_offset(rng, site.lat, site.lon, float(rng.uniform(5, 30))), "op-b"),
            ("regional", *_offset(rng, site.lat, site.lon, float(rng.uniform(300, 1200))), "op-c"),
            *_FAR,
        ]
        if not self.far_landmarks:
            spots = spots[:2]
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

    def _report_ms(self, rng: np.random.Generator, n: int, attacker: bool) -> np.ndarray:
        if attacker:  # an attacker's GPUs are as fast as the floor allows, never faster
            return np.full(n, self.floor_ms)
        return self.report_ms + rng.exponential(self.report_jitter_ms, n)

    def _rtts(self, strategy: str, lm: Landmark, site: Site, lying: bool) -> tuple[int | None, int | None]:
        """(key-only RTT, GPU-timed RTT) in ns for one landmark; None where no such receipt is made."""
        rng, n = self.rng, self.rounds
        where = (lm.latitude, lm.longitude)
        attacker = strategy != "honest"
        here = (site.lat, site.lon) if not attacker else self.attacker_position(site)
        if lying:  # the landmark signs what the attacker wants, whatever the GPUs took
            return 50_000, 50_000
        if strategy == "stolen-key":
            return 200_000, None  # no bound GPU near the landmark: no GPU-timed receipt at all
        if strategy == "key-copy-relay":
            hop = _rounds_ms(rng, 1.0, n)
            relayed = (
                hop + _rounds_ms(rng, _km(_offset(rng, *where, 1.0), here), n) + self._report_ms(rng, n, True)
            )
            return 200_000, _ns(float(relayed.min()))
        if strategy in ("relay", "gpu-report-relay"):
            proxy = _offset(rng, *where, 1.0)
            key = _rounds_ms(rng, 1.0, n) + _rounds_ms(rng, _km(proxy, here), n)
            if strategy == "relay":
                return _ns(float(key.min())), None
            gpu = (
                _rounds_ms(rng, 1.0, n) + _rounds_ms(rng, _km(proxy, here), n) + self._report_ms(rng, n, True)
            )
            return _ns(float(key.min())), _ns(float(gpu.min()))
        km = _km(where, here)
        key = _rounds_ms(rng, km, n)
        gpu = _rounds_ms(rng, km, n) + self._report_ms(rng, n, attacker)
        if strategy == "added-delay":
            key, gpu = key + rng.uniform(0, 5, n), gpu + rng.uniform(0, 5, n)
        return _ns(float(key.min())), _ns(float(gpu.min()))

    def trial(self, site: Site, strategy: str, landmarks: Sequence[Landmark]) -> tuple[str, bool, bool]:
        """One manifest's worth of receipts; returns (grade, key disks excluded, GPU disks excluded)."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
        now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        nonce = os.urandom(16).hex()
        key_id = self.node_key.key_id
        binding = binding_for(key_id, nonce)
        lying_ops = {"op-a"} if strategy == "compromised" else set()
        receipts: list[LandmarkReceipt] = []
        reports: list[TimedGpuReport] = []
        for lm in landmarks:
            key_rtt, gpu_rtt = self._rtts(strategy, lm, site, lm.operator in lying_ops)
            lm_key = self.keys[lm.id + site.name]
            at = now - timedelta(seconds=30)
            if key_rtt is not None:
                receipts.append(
                    sign_receipt(
                        lm_key,
                        landmark_id=lm.id,
                        node_key_id=key_id,
                        nonce=os.urandom(16),
                        rtt_ns=key_rtt,
                        measured_at=at,
                        binding=binding,
                    )
                )
            if gpu_rtt is not None:
                challenge = os.urandom(16)
                asked = gpu_nonce(challenge, key_id, binding)
                made = {i: self.vendor.attest(u, asked)[0] for i, u in self.gpu_uuids.items()}
                receipts.append(
                    sign_receipt(
                        lm_key,
                        landmark_id=lm.id,
                        node_key_id=key_id,
                        nonce=challenge,
                        rtt_ns=gpu_rtt,
                        measured_at=at,
                        binding=binding,
                        gpu_reports=[report_digest(made[i]) for i in sorted(made)],
                    )
                )
                reports += [
                    TimedGpuReport(receipt_nonce=challenge.hex(), gpu_index=i, report=r.hex())
                    for i, r in made.items()
                ]
        bound = strategy != "stolen-key"
        report = evaluate(
            receipts,
            registry=LandmarkRegistry(landmarks=list(landmarks)),
            requirement=self.requirement,
            prohibited=self.prohibited,
            node_key_id=key_id,
            manifest_nonce=nonce,
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            now=now,
            site=(site.lat, site.lon),
            gpu_reports=reports,
            gpu_indices=sorted(self.gpu_uuids),
            bound_keys=self.bound_keys if bound else None,
            report_floor_ns=int(self.floor_ms * 1e6),
        )
        _, grade = findings(report, grade="hardware-bound" if bound else "declared")
        return grade, report.excluded, report.gpu_excluded

    def run(self, sites: Sequence[Site], strategies: Sequence[str], trials: int) -> list[Outcome]:
        """``trials`` manifests per site and strategy."""
        out = []
        for site in sites:
            landmarks = self.landmarks_for(site)
            for strategy in strategies:
                o = Outcome(site.name, strategy)
                for _ in range(trials):
                    grade, excluded, gpu_excluded = self.trial(site, strategy, landmarks)
                    o.trials += 1
                    o.measured += grade == "measured"
                    o.key_measured += grade == "key-measured"
                    o.excluded_physics += excluded
                    o.gpu_excluded += gpu_excluded
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
