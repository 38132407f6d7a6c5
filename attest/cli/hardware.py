"""``attest collect``: read this host's GPU identity (NVML, or a simulated fleet)."""

from __future__ import annotations

import argparse

from attest.cli.common import HelpFormatter, write_output
from attest.hardware import PRESETS, open_source
from attest.model.hardware import HardwareEvidence


def add_simulate(p: argparse.ArgumentParser) -> None:
    """Add ``--simulate``, ``--seed`` and ``--hostname`` (shared with ``attest manifest``)."""
    p.add_argument(
        "--simulate",
        metavar="PRESET|FILE",
        help=f"use simulated GPUs: a preset ({', '.join(PRESETS)}) or a JSON file written by 'attest collect'; "
        "without it, NVML is read",
    )
    p.add_argument("--seed", help="makes simulated GPU identities unique (default: the host name)")
    p.add_argument("--hostname", help="host name to report (default: this machine's)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "collect",
        help="read GPU identity (NVML or --simulate) as hardware evidence JSON",
        description="Read the identity of every GPU on this host. Read-only: never changes GPU state.",
        epilog="examples:\n  attest collect                      # the real GPUs, through NVML\n"
        "  attest collect --simulate h100 -o gpus.json\n  attest collect --simulate gpus.json --format text",
        formatter_class=HelpFormatter,
    )
    add_simulate(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--format", choices=["json", "text"], default="json", help="output format (default: json)")
    p.set_defaults(func=run_collect)


def run_collect(args: argparse.Namespace) -> int:
    """Read and print the evidence."""
    evidence = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read()
    text = evidence.to_json() + "\n" if args.format == "json" else render_text(evidence)
    write_output(text.encode("utf-8"), args.output)
    return 0


def render_text(evidence: HardwareEvidence) -> str:
    """A table of the GPUs, one line each."""
    lines = [
        f"host {evidence.hostname}  source {evidence.source}{' ' + evidence.preset if evidence.preset else ''}"
        f"  driver {evidence.driver_version or '?'}  CUDA {evidence.cuda_driver_version or '?'}",
        f"{'#':>2}  {'name':<28} {'uuid':<40} {'serial':<13}  pci",
    ]
    for g in evidence.gpus:
        lines.append(
            f"{g.index:>2}  {g.name:<28} {g.uuid:<40} {g.serial or '-':<13}  {g.pci.bus_id} {g.pci.device_id}"
        )
    return "\n".join(lines) + "\n"
