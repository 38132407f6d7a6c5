"""``attest location check|region|simulate``: what landmark round trips prove, and what they cannot."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.cli.common import (
    HelpFormatter,
    add_format,
    allow_negative_values,
    check_output,
    finite_float,
    read_input,
    read_model,
    stderr,
    write_output,
)
from attest.crypto.canonical import strict_loads
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.location.borders import bundled_borders, parse_codes
from attest.model.location import LandmarkRegistry
from attest.model.manifest import LocationEvidence
from attest.model.policy import LocationRequirement

if TYPE_CHECKING:
    from attest.location.check import LocationReport

EXIT_OK, EXIT_WARN, EXIT_USAGE, EXIT_BAD = 0, 1, 2, 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "location",
        help="check landmark receipts, feasible regions and attacks on them",
        description="Landmark round trips bound where a node can be (r = c·RTT/2, c in vacuum). These verbs "
        "say whether the bound rules out prohibited countries, and simulate attackers against it.",
        epilog="examples:\n"
        "  attest location check receipts.json --landmarks landmarks.json --prohibited CN,HK,MO\n"
        "  attest location region --disk 1.29,103.85,9.5 --prohibited CN,HK,MO --format json\n"
        "  attest location simulate --site Singapore --trials 200",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="location_verb", required=True, metavar="{check,region,simulate}")

    c = verbs.add_parser(
        "check",
        help="judge receipts (a locate output or a signed manifest) against a trusted landmark registry",
        description="Check each receipt's signature against the registry, then decide whether the disks of the "
        "valid ones rule out the prohibited countries, robustly against k-1 lying landmark operators. For an "
        "envelope (--trust needed) the receipts must also answer that manifest (node key and nonce) and be "
        "fresh, and the declared site must lie inside every disk.",
        epilog="exit codes: 0 excluded, 1 not provable, 3 a forged/moved receipt or an impossible site, 2 usage.\n\n"
        "examples:\n"
        "  attest location check receipts.json --landmarks landmarks.json\n"
        "  attest location check m.envelope.json --trust trust.json --landmarks landmarks.json --map proof.svg\n"
        "  attest location check receipts.json --landmarks landmarks.json --prohibited CN,HK,MO,KP --k 3 --format json",
        formatter_class=HelpFormatter,
    )
    c.add_argument("input", metavar="RECEIPTS_OR_ENVELOPE")
    c.add_argument("--landmarks", required=True, metavar="FILE", help="trusted landmark registry (JSON)")
    c.add_argument("--trust", metavar="TRUST", help="trust store; required to read an envelope's receipts")
    c.add_argument("--prohibited", metavar="CODES", help="countries to rule out (default: CN,HK,MO)")
    c.add_argument(
        "--k", type=int, default=2, metavar="N", help="distinct landmark operators required (default: 2)"
    )
    c.add_argument(
        "--margin-km", type=finite_float, default=5.0, metavar="KM", help="border safety margin (default: 5)"
    )
    c.add_argument(
        "--site", metavar="LAT,LON", help="declared site to test against the disks (receipts files)"
    )
    c.add_argument("--map", metavar="OUT.svg", help="also draw the disks, landmarks, site and borders as SVG")
    add_format(c)
    allow_negative_values(c)  # --site -6.2,106.8
    c.set_defaults(func=run_check)

    r = verbs.add_parser(
        "region",
        help="pure geometry: do these disks rule out these countries?",
        description="Each --disk is a landmark position and a round-trip time in milliseconds; the node is "
        "within c·RTT/2 of each. Says whether the intersection misses every prohibited country, and per "
        "country whether it can touch it.",
        epilog="exit codes: 0 excluded, 1 not excluded, 2 usage.\n\nexamples:\n"
        "  attest location region --disk 1.29,103.85,9.5 --prohibited CN,HK,MO\n"
        "  attest location region --disk 13.75,100.50,6 --disk 3.14,101.69,14 --prohibited CN --format json",
        formatter_class=HelpFormatter,
    )
    r.add_argument("--disk", action="append", required=True, metavar="LAT,LON,RTT_MS")
    r.add_argument("--prohibited", required=True, metavar="CODES")
    r.add_argument(
        "--margin-km", type=finite_float, default=5.0, metavar="KM", help="border safety margin (default: 5)"
    )
    r.add_argument("--map", metavar="OUT.svg", help="also draw the disks and borders as SVG")
    add_format(r)
    allow_negative_values(r)  # --disk -6.2,106.8,9.5 (south and west are negative)
    r.set_defaults(func=run_region)

    s = verbs.add_parser(
        "simulate",
        help="honest nodes and attackers against the real receipt checks; false/honest pass rates",
        description="Signs real receipts for simulated round trips (fibre at 2/3 c, route factor, jitter, "
        "spikes; minimum of several rounds), has a simulated GPU sign a real report for every GPU-timed "
        "challenge (taking --report-ms plus jitter; an attacker's GPUs take exactly the floor) and runs the "
        "verifier's location checks with the floor --floor-ms (t_min) taken off GPU-timed round trips. "
        "Strategies: honest, added-delay, relay (key stays with the GPU), compromised (k-1 lying landmark "
        "operators), stolen-key (a key that is not hardware-bound, used next to the landmarks), key-copy-relay "
        "(a copy of the hardware-bound key next to each landmark; GPU challenges relayed to the real GPUs), "
        "gpu-report-relay (both challenges relayed to the real node).",
        epilog="exit codes: 0 no attack was graded measured, 3 some attack was (a false pass), 2 usage.\n\n"
        "examples:\n  attest location simulate --trials 100\n"
        "  attest location simulate --site Bangkok --site Kinmen --strategy honest --strategy relay --format json\n"
        "  attest location simulate --floor-ms 29 --strategy honest --strategy key-copy-relay   # a calibrated floor",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--site", action="append", metavar="NAME", help="built-in site (repeatable; default: all)")
    s.add_argument("--strategy", action="append", metavar="NAME", help="strategy (repeatable; default: all)")
    s.add_argument(
        "--trials", type=int, default=50, metavar="N", help="manifests per site and strategy (default: 50)"
    )
    s.add_argument("--prohibited", default="CN,HK,MO", metavar="CODES")
    s.add_argument("--seed", type=int, default=2026)
    s.add_argument(
        "--report-ms",
        type=finite_float,
        default=30.0,
        metavar="MS",
        help="how long an honest GPU takes to make a report (default: 30)",
    )
    s.add_argument(
        "--floor-ms",
        type=finite_float,
        default=0.0,
        metavar="MS",
        help="t_min, the catalog's floor taken off GPU-timed round trips (default: 0, the bundled catalog's)",
    )
    add_format(s)
    s.set_defaults(func=run_simulate)


def _requirement(args: argparse.Namespace) -> tuple[LocationRequirement, list[str]]:
    codes = parse_codes(args.prohibited) if args.prohibited else ["CN", "HK", "MO"]
    if not 1 <= args.k <= 16:
        raise InputError("--k must be between 1 and 16")
    if not 0 <= args.margin_km <= 500:
        raise InputError("--margin-km must be between 0 and 500")
    return LocationRequirement(prohibited=codes, min_operators=args.k, margin_km=args.margin_km), codes


def _latlon(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{what} {text!r} is not LAT,LON") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"{what} {text!r}: latitude must be within ±90 and longitude within ±180")
    return lat, lon


def run_check(args: argparse.Namespace) -> int:
    """Judge receipts from a locate output or a verified envelope."""
    from attest.location.check import evaluate, evaluate_manifest, findings

    req, codes = _requirement(args)
    if args.map:
        check_output(args.map)
    registry = read_model(args.landmarks, LandmarkRegistry, what="landmark registry")
    raw = read_input(args.input, what="input")
    doc = strict_loads(raw, what=f"input {args.input}")
    now = datetime.now(UTC)
    if isinstance(doc, dict) and "payload" in doc and "signatures" in doc:
        if not args.trust:
            raise InputError(
                "an envelope's receipts are read only after its signature verifies",
                hint="give the trust store: --trust trust.json",
            )
        from attest.verify import verify_and_open

        result, manifest = verify_and_open(raw, TrustStore.load(Path(args.trust)), now=now, source=args.input)
        if manifest is None:
            stderr(
                f"{args.input}: the envelope does not verify: "
                + "; ".join(f.message for f in result.findings)
            )
            return EXIT_BAD
        report = evaluate_manifest(manifest, registry=registry, requirement=req, prohibited=codes, now=now)
    else:
        evidence = LocationEvidence.from_obj(doc, what=f"receipts file {args.input}")
        site = _latlon(args.site, "--site") if args.site else None
        report = evaluate(
            evidence.receipts, registry=registry, requirement=req, prohibited=codes, now=now, site=site
        )
    # No GPU leaf keys here (attest verify --cc-root checks them): at most key-measured.
    found, grade = findings(report, grade="hardware-bound")
    obj = report.to_obj()
    obj["grade"] = grade if grade != "hardware-bound" else "not provable"
    obj["gpu_note"] = "GPU-timed receipts are checked by attest verify with --cc-root: measured needs that"
    obj["findings"] = [{"rule": f.rule, "severity": f.severity.value, "message": f.message} for f in found]
    if not report.bindings_checked:
        obj["note"] = "receipts file: binding to a manifest not checked (check the envelope for that)"
    if args.map:
        _draw(args.map, report, codes)
    if args.format == "json":
        print(json.dumps(obj, ensure_ascii=False))
    else:
        print(_text(obj))
    if any(f.severity.value == "contraindicated" for f in found):
        return EXIT_BAD
    if not report.measures:
        return EXIT_WARN
    return EXIT_OK if report.excluded else EXIT_WARN


def _text(obj: dict[str, Any]) -> str:
    head = "EXCLUDED" if obj["excluded"] else "NOT PROVABLE"
    lines = [f"{head}: {', '.join(obj['prohibited'])} (k = {obj['min_operators']})"]
    for lm in obj["landmarks"]:
        lines.append(
            f"  {lm['id']} ({lm['operator']}): rtt {lm['rtt_ms']:.3f} ms -> radius {lm['radius_km']:.0f} km, "
            f"border {lm['min_border_km']:.0f} km" + ("  excludes alone" if lm["excludes_alone"] else "")
        )
    for f in obj["findings"]:
        lines.append(f"  [{f['severity']}] {f['rule']}: {f['message']}")
    return "\n".join(lines)


def _draw(out: str, report: LocationReport, codes: list[str]) -> None:
    from attest.location.svgmap import render_report

    write_output(render_report(report, f"Location proof vs {', '.join(codes)}").encode(), out)
    stderr(f"map written to {out}")


def run_region(args: argparse.Namespace) -> int:
    """Decide exclusion for explicit disks."""
    from attest.location.region import Disk, decide, min_distance_km, radius_km

    codes = parse_codes(args.prohibited)
    if args.map:
        check_output(args.map)
    if not 0 <= args.margin_km <= 500:
        raise InputError("--margin-km must be between 0 and 500")
    disks = []
    for i, text in enumerate(args.disk):
        parts = text.split(",")
        if len(parts) != 3:
            raise InputError(f"--disk {text!r} is not LAT,LON,RTT_MS")
        lat, lon = _latlon(",".join(parts[:2]), "--disk")
        try:
            rtt_ms = float(parts[2])
        except ValueError:
            raise InputError(f"--disk {text!r}: RTT_MS is not a number") from None
        if not 0 < rtt_ms < 10_000:
            raise InputError(f"--disk {text!r}: RTT_MS must be positive and below 10 s")
        disks.append(Disk(lat, lon, radius_km(round(rtt_ms * 1e6)), f"disk{i + 1}"))
    area = bundled_borders().area(codes)
    decision = decide(disks, area, margin_km=args.margin_km)
    countries: dict[str, bool] = {}
    for m in decision.members:
        countries[m.member] = countries.get(m.member, False) or m.touches
    obj: dict[str, Any] = {
        "excluded": decision.excluded,
        "prohibited": codes,
        "margin_km": args.margin_km,
        "countries": {k: {"can_touch": v} for k, v in countries.items()},
        "disks": [
            {
                "lat": d.lat,
                "lon": d.lon,
                "radius_km": round(d.radius_km, 3),
                "min_border_km": round(min_distance_km(d.lat, d.lon, area), 3),
            }
            for d in disks
        ],
    }
    if args.map:
        from attest.location.svgmap import render

        write_output(
            render(
                disks,
                area,
                title=f"Feasible region vs {', '.join(codes)}",
                verdict="excluded" if decision.excluded else "not excluded",
            ).encode(),
            args.map,
        )
    if args.format == "json":
        print(json.dumps(obj))
    else:
        print(("EXCLUDED" if decision.excluded else "NOT EXCLUDED") + f": {', '.join(codes)}")
        for d in obj["disks"]:
            print(
                f"  {d['lat']},{d['lon']}: radius {d['radius_km']:.0f} km, border {d['min_border_km']:.0f} km"
            )
        for k, v in countries.items():
            print(f"  {k}: {'can be touched' if v else 'ruled out'}")
    return EXIT_OK if decision.excluded else EXIT_WARN


def run_simulate(args: argparse.Namespace) -> int:
    """Run the attack simulation and print pass rates."""
    from attest.location.simulate import SITES, STRATEGIES, Simulation, site_named

    if not 1 <= args.trials <= 100_000:
        raise InputError("--trials must be between 1 and 100000")
    sites = [site_named(n) for n in args.site] if args.site else list(SITES)
    strategies = args.strategy or list(STRATEGIES)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise InputError(f"unknown strategy {', '.join(bad)}; one of {', '.join(STRATEGIES)}")
    if not 0 <= args.report_ms <= 10_000:
        raise InputError("--report-ms must be between 0 and 10000")
    sim = Simulation(
        prohibited=parse_codes(args.prohibited),
        seed=args.seed,
        report_ms=args.report_ms,
        floor_ms=args.floor_ms,
    )
    outcomes = sim.run(sites, strategies, args.trials)
    false_pass = sum(o.measured for o in outcomes if o.strategy != "honest")
    if args.format == "json":
        print(
            json.dumps(
                {
                    "prohibited": sim.prohibited,
                    "report_ms": sim.report_ms,
                    "floor_ms": sim.floor_ms,
                    "false_passes": false_pass,
                    "outcomes": [
                        {
                            "site": o.site,
                            "strategy": o.strategy,
                            "trials": o.trials,
                            "measured": o.measured,
                            "key_measured": o.key_measured,
                            "pass_rate": round(o.rate, 4),
                            "key_pass_rate": round(o.key_rate, 4),
                            "physics_excluded": o.excluded_physics,
                            "gpu_physics_excluded": o.gpu_excluded,
                        }
                        for o in outcomes
                    ],
                }
            )
        )
    else:
        print(
            f"GPU reports take {sim.report_ms:g} ms (+ jitter); floor t_min {sim.floor_ms:g} ms\n"
            f"{'site':34} {'strategy':16} {'measured':>9} {'rate':>7} {'key-measured':>13} {'key phys':>8} {'gpu phys':>8}"
        )
        for o in outcomes:
            label = "honest pass" if o.strategy == "honest" else "FALSE PASS" if o.measured else "false pass"
            print(
                f"{o.site:34} {o.strategy:16} {o.measured:>5}/{o.trials:<4}{o.rate:>6.1%} {o.key_rate:>13.1%} "
                f"{o.excluded_physics:>8} {o.gpu_excluded:>8}  {label}"
            )
        print(f"\nfalse passes (attack graded measured) over all attack trials: {false_pass}")
    return EXIT_BAD if false_pass else EXIT_OK
