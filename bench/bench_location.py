"""Location decisions: time for 6 landmarks beside a brute-force grid oracle, and the attack simulation.

Part 1 — decision time. Three cases with 6 landmarks of 6 operators, k = 2, against CN/HK/MO:
  - clear:  an in-metro pair around Singapore (each disk alone clears China; the common case);
  - joint:  six disks around Tokyo that each reach China, whose intersection does not
            (the quadtree has to work);
  - touch:  a node just inside China (an attacker): the region touches China.
The contender is ``decide_robust`` (the verifier's call: full decision plus one per dropped
operator); the oracle answers the same question (all disks, then each operator dropped). It samples the area on a 0.1° grid plus its densified boundary and tests
every sample against every disk with exact WGS84 geodesics — the obvious correct way.
Timed warm (landmark distances cached, as for a verifier with a fixed registry) and cold.

Part 2 — the attack simulation (``attest location simulate``) with its pass rates per site,
for GPUs that take ``--report-ms`` per report, at each floor ``--floor-ms`` (t_min); then,
with ``--relay-trials N``, the key-copy and GPU-report relays at volume.

Run: python bench/bench_location.py [--trials 200] [--repeat 20] [--floor-ms 0 --floor-ms 27] [--relay-trials 228]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import shapely

from attest.location.borders import Area, bundled_borders
from attest.location.region import Disk, decide_robust, geodesic_km
from attest.location.simulate import SITES, STRATEGIES, Simulation


def oracle(disks: list[Disk], plat: np.ndarray, plon: np.ndarray) -> bool:
    """True when no sample of the area lies in every disk."""
    alive = np.ones(plat.size, dtype=bool)
    for d in disks:
        idx = np.flatnonzero(alive)
        dist = geodesic_km(np.full(idx.size, d.lat), np.full(idx.size, d.lon), plat[idx], plon[idx])
        alive[idx[dist > d.radius_km]] = False
    return not alive.any()


def oracle_robust(disks: list[Disk], plat: np.ndarray, plon: np.ndarray) -> bool:
    """The same question as decide_robust(k=2): excluded with all disks and with any one operator dropped."""
    ops = sorted({d.operator for d in disks})
    return oracle(disks, plat, plon) and all(oracle([d for d in disks if d.operator != o], plat, plon) for o in ops)


def samples(area: Area, step: float) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = shapely.bounds(area.union)
    lon, lat = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    lon, lat = lon.ravel(), lat.ravel()
    inside = shapely.contains_xy(area.union, lon, lat)
    blat, blon = area.boundary_points
    return np.concatenate([lat[inside], blat]), np.concatenate([lon[inside], blon])


def cases() -> dict[str, list[Disk]]:
    sg = [
        Disk(1.30, 103.80, 90, "sin-a", "A"),
        Disk(1.35, 103.95, 110, "sin-b", "B"),
        Disk(3.14, 101.69, 500, "kul", "C"),
        Disk(-6.21, 106.85, 1300, "jkt", "D"),
        Disk(13.75, 100.50, 1700, "bkk", "E"),
        Disk(50.11, 8.68, 10_000, "fra", "F"),
    ]
    # A node in Tokyo; six landmarks to its west and south, each disk reaching China on its own,
    # whose intersection (around Tokyo) does not - even with any one operator dropped.
    joint = [
        Disk(34.68, 131.40, 806, "l0", "A"),
        Disk(30.44, 126.68, 1406, "l1", "B"),
        Disk(34.35, 131.12, 840, "l2", "C"),
        Disk(47.56, 145.01, 1452, "l3", "D"),
        Disk(22.41, 127.62, 1957, "l4", "E"),
        Disk(31.15, 124.29, 1582, "l5", "F"),
    ]
    # A node in Kunming claims Bangkok: honest landmarks measure it where it is.
    km = (25.04, 102.71)
    touch = []
    for i, (lat, lon) in enumerate([(13.75, 100.50), (13.80, 100.60), (18.79, 98.98), (21.03, 105.85), (16.87, 96.20), (11.56, 104.92)]):
        d = float(geodesic_km(np.array([lat]), np.array([lon]), np.array([km[0]]), np.array([km[1]]))[0])
        touch.append(Disk(lat, lon, d * 1.3 + 20, f"l{i}", chr(65 + i)))
    return {"clear": sg, "joint": joint, "touch": touch}


def time_it(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def part1(repeat: int) -> None:
    area = bundled_borders().area(["CN", "HK", "MO"])
    area.union  # noqa: B018 - build the prepared geometry and the 1-degree cover once per process
    for member in area.members:
        area.cells(member)
    plat, plon = samples(area, 0.1)
    print(f"oracle samples: {plat.size} (0.1 deg grid + boundary)\n")
    print(f"{'case':6} {'answer':>8} {'oracle':>7} {'cold ms':>8} {'warm ms':>8} {'oracle ms':>10} {'oracle/warm':>12}")
    for name, disks in cases().items():
        area.distances.clear()
        t0 = time.perf_counter()
        got = decide_robust(disks, area, k=2).excluded
        cold = time.perf_counter() - t0
        warm = time_it(lambda: decide_robust(disks, area, k=2), repeat)  # noqa: B023
        want = oracle_robust(disks, plat, plon)
        t_oracle = time_it(lambda: oracle_robust(disks, plat, plon), max(3, repeat // 5))  # noqa: B023
        assert not (got and not want), f"{name}: decided excluded, the oracle found a feasible point"
        print(f"{name:6} {got!s:>8} {want!s:>7} {cold * 1e3:8.1f} {warm * 1e3:8.1f} {t_oracle * 1e3:10.1f} {t_oracle / warm:11.0f}x")


def part2(trials: int, report_ms: float, floors: list[float], relay_trials: int) -> None:
    """Honest pass rates per site and every attack, at each floor; then the two relays at volume."""
    for floor in floors:
        sim = Simulation(prohibited=["CN", "HK", "MO"], report_ms=report_ms, floor_ms=floor)
        t = time.perf_counter()
        outcomes = sim.run(SITES, STRATEGIES, trials)
        elapsed = time.perf_counter() - t
        print(
            f"\nattack simulation: {trials} manifests per site and strategy, k = 2, CN/HK/MO; GPU reports "
            f"{report_ms:g} ms + jitter, floor t_min {floor:g} ms ({elapsed:.0f} s)\n"
            "measured (GPU-timed) rate; for honest also key-measured (key-only receipts) in brackets\n"
        )
        print(f"{'site':30} " + " ".join(f"{s:>16}" for s in STRATEGIES))
        for site in SITES:
            row = {o.strategy: o for o in outcomes if o.site == site.name}
            honest = row["honest"]
            cells = [f"{honest.rate:6.1%} ({honest.key_rate:5.1%})"] + [f"{row[s].rate:16.1%}" for s in STRATEGIES[1:]]
            print(f"{site.name:30} " + " ".join(f"{c:>16}" for c in cells))
        false_passes = sum(o.measured for o in outcomes if o.strategy != "honest")
        attacks = sum(o.trials for o in outcomes if o.strategy != "honest")
        print(f"\nfalse passes (attack graded measured): {false_passes} of {attacks}")
        copies = [o for o in outcomes if o.strategy == "key-copy-relay"]
        print(
            f"key-copy-relay graded key-measured (what a copy of the key can still show): "
            f"{sum(o.key_measured for o in copies)} of {sum(o.trials for o in copies)}"
        )
        target = [o for o in outcomes if o.strategy == "honest" and not next(s for s in SITES if s.name == o.site).border_pair]
        print(f"honest measured, target sites: min {min(o.rate for o in target):.1%}, max {max(o.rate for o in target):.1%}")
    if relay_trials:
        total = measured = 0
        t = time.perf_counter()
        for floor in floors:
            sim = Simulation(report_ms=report_ms, floor_ms=floor, far_landmarks=False)
            outcomes = sim.run(SITES, ["key-copy-relay", "gpu-report-relay"], relay_trials)
            total += sum(o.trials for o in outcomes)
            measured += sum(o.measured for o in outcomes)
        print(
            f"\nrelays at volume (in-metro landmarks only, floors {floors}): {measured} measured of {total} trials "
            f"({time.perf_counter() - t:.0f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--report-ms", type=float, default=30.0, help="honest GPUs' report time (default 30)")
    parser.add_argument(
        "--floor-ms", type=float, action="append", help="t_min (repeatable; default: 0 and 27)"
    )
    parser.add_argument(
        "--relay-trials", type=int, default=0, help="then this many relay trials per site, strategy and floor"
    )
    parser.add_argument("--skip-part1", action="store_true")
    args = parser.parse_args()
    if not args.skip_part1:
        part1(args.repeat)
    part2(args.trials, args.report_ms, args.floor_ms or [0.0, 27.0], args.relay_trials)


if __name__ == "__main__":
    main()
