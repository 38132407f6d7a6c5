"""``attest chips list|show|classify``: the chip catalog and 3A090 classification."""

from __future__ import annotations

import argparse
import json
import re

from attest.cli.common import HelpFormatter, add_format, allow_negative_values, finite_float
from attest.errors import InputError
from attest.hardware.catalog import ChipClassification, bundled_catalog, classify_chip, classify_parameters


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "chips",
        help="the chip catalog and ECCN 3A090 classification",
        description="List the chip catalog, show a chip, or classify a chip or a set of figures under ECCN 3A090.",
        epilog="examples:\n  attest chips list\n  attest chips show h20\n  attest chips classify --pci 10de:2330\n"
        "  attest chips classify --tpp 4200 --die-area 600 --no-datacenter --format json",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="chips_verb", required=True, metavar="{list,show,classify}")
    li = verbs.add_parser(
        "list",
        help="every chip with its classification",
        epilog="example:\n  attest chips list --format json",
        formatter_class=HelpFormatter,
    )
    add_format(li)
    li.set_defaults(func=run_list)
    sh = verbs.add_parser(
        "show",
        help="one chip: identities, figures, sources, classification",
        epilog="example:\n  attest chips show 'NVIDIA H100 80GB HBM3'",
        formatter_class=HelpFormatter,
    )
    sh.add_argument("name", help="catalog id, product name as NVML reports it, or PCI VENDOR:DEVICE")
    add_format(sh)
    sh.set_defaults(func=run_show)
    c = verbs.add_parser(
        "classify",
        help="classify by name, PCI id, or figures",
        epilog="examples:\n  attest chips classify --name 'NVIDIA H20'\n  attest chips classify --pci 1002:74a1\n"
        "  attest chips classify --tpp 2400 --die-area 1500 --datacenter",
        formatter_class=HelpFormatter,
    )
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--name", help="product name or catalog id")
    how.add_argument("--pci", metavar="VENDOR:DEVICE", help="PCI ids in hex, e.g. 10de:2330")
    how.add_argument("--tpp", type=finite_float, metavar="X", help="total processing performance")
    c.add_argument(
        "--die-area", type=finite_float, metavar="MM2", help="applicable die area in mm² (with --tpp)"
    )
    dc = c.add_mutually_exclusive_group()
    dc.add_argument(
        "--datacenter",
        dest="datacenter",
        action="store_true",
        default=None,
        help="designed or marketed for datacenters (default)",
    )
    dc.add_argument(
        "--no-datacenter",
        dest="datacenter",
        action="store_false",
        help="not designed or marketed for datacenters",
    )
    add_format(c)
    allow_negative_values(c)  # --tpp -inf is refused as a number, not taken for an option
    c.set_defaults(func=run_classify)


def _find(text: str) -> ChipClassification:
    catalog = bundled_catalog()
    m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", text.strip())
    chip = catalog.by_pci(int(m[1], 16), int(m[2], 16)) if m else catalog.by_name(text)
    if chip is None:
        raise InputError(f"no chip {text!r} in the catalog", hint="see: attest chips list")
    return classify_chip(chip)


def as_json(r: ChipClassification) -> dict[str, object]:
    """The classification as a JSON object."""
    return {
        "chip": r.chip,
        "product": r.product,
        "eccn": r.eccn,
        "paragraph": r.paragraph,
        "tpp": r.tpp,
        "pd": round(r.pd, 3) if r.pd is not None else None,
        "datacenter": r.datacenter,
        "controlled": r.controlled,
        "basis": r.basis,
        "notes": list(r.notes),
    }


def render(r: ChipClassification) -> str:
    """One classification as readable lines."""
    head = f"{r.product or 'figures'}: {r.paragraph or r.eccn or 'not 3A090'}"
    head += f"  (TPP {r.tpp:g}" if r.tpp is not None else "  (TPP unknown"
    head += f", PD {r.pd:.2f})" if r.pd is not None else ", PD unknown)"
    head += f"  [{r.basis}{', controlled' if r.controlled else ''}]"
    return "\n".join([head, *(f"  note: {n}" for n in r.notes)])


def run_list(args: argparse.Namespace) -> int:
    """Print every chip."""
    rows = [classify_chip(c) for c in bundled_catalog().chips]
    if args.format == "json":
        print(json.dumps([as_json(r) for r in rows]))
        return 0
    print(f"{'id':<30} {'product':<42} {'class':<10} {'TPP':>8} {'PD':>6}")
    for r in rows:
        tpp = f"{r.tpp:,.0f}" if r.tpp is not None else "?"
        pd = f"{r.pd:.2f}" if r.pd is not None else "?"
        label = r.paragraph or r.eccn or "not 3A090"
        print(
            f"{r.chip or '':<30} {r.product or '':<42} {label + ('*' if r.basis == 'assumed' else ''):<10} {tpp:>8} {pd:>6}"
        )
    print("\n* assumed controlled: figures not known well enough to decide")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one chip."""
    r = _find(args.name)
    chip = bundled_catalog().get(r.chip or "")
    assert chip is not None
    if args.format == "json":
        print(json.dumps({"chip": chip.to_obj(), "classification": as_json(r)}))
        return 0
    print(render(r))
    print(f"  names: {', '.join(chip.names) or '-'}\n  PCI ids: {', '.join(chip.pci_ids) or '-'}")
    sources = bundled_catalog().document.sources
    for f in chip.dense_peak:
        print(
            f"  dense {f.precision}: {f.tops:g} TOPS x {f.bits} bits = {f.tops * f.bits:g} ({sources.get(f.source, f.source)}, {f.date})"
        )
    if chip.die_area_mm2:
        print(
            f"  die area: {chip.die_area_mm2:g} mm² ({sources.get(chip.die_area_source or '', chip.die_area_source)})"
        )
    return 0


def run_classify(args: argparse.Namespace) -> int:
    """Classify and print."""
    if args.tpp is not None:
        if args.tpp < 0 or (args.die_area is not None and args.die_area <= 0):
            raise InputError("--tpp must not be negative and --die-area must be positive")
        pd = args.tpp / args.die_area if args.die_area else None
        r = classify_parameters(args.tpp, pd, datacenter=args.datacenter)
    else:
        if args.die_area is not None or args.datacenter is not None:
            raise InputError("--die-area and --datacenter go with --tpp; a catalog chip brings its own")
        r = _find(args.name or args.pci)
    print(json.dumps(as_json(r)) if args.format == "json" else render(r))
    return 0
