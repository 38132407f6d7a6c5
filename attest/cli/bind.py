"""``attest bind``: have every GPU vouch for the node key (hardware-bound grade)."""

from __future__ import annotations

import argparse
from pathlib import Path

from attest.cli.common import HelpFormatter, read_input, stderr, write_output
from attest.cli.hardware import add_simulate
from attest.crypto.keys import load_signing_key, load_verifying_key
from attest.errors import InputError
from attest.hardware import open_source
from attest.hardware.binding import SimulatedCcSource, bind, binding_nonce
from attest.hardware.nvat import MAX_NVATTEST_BYTES, binding_from_nvattest, parse_nvattest
from attest.hardware.nvml import NvmlCcSource
from attest.hardware.simulated_cc import SimulatedCcBackend


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "bind",
        help="bind the node key to this host's GPUs with CC attestation reports",
        description="Ask every GPU for a confidential-computing attestation report whose nonce is the SHA-256 "
        "of the node key's public key, and write the binding. Manifests built with --binding carry the "
        "reports; a verifier given the vendor root then grades them hardware-bound.",
        epilog="""examples:
  attest bind --key /etc/attest/attest.key -o /etc/attest/binding.json        # NVML, GPUs in CC mode
  attest bind --pub node.pub --simulate h100 --cc-sim ./sim-vendor -o binding.json
  nvattest collect-evidence --nonce $(attest bind --pub node.pub --print-nonce) --format json > ev.json
  attest bind --pub node.pub --nvattest ev.json -o binding.json               # NVIDIA's nvattest (Blackwell: no CC needed)
  attest manifest ... --key node.key --binding binding.json -o m.json
  attest verify m.envelope.json --trust trust.json --cc-root ./sim-vendor/root.pem --cc-root-sha256 HEX \\
      --rims ./sim-vendor/rims --rim-root ./sim-vendor/rim_root.pem --rim-root-sha256 HEX""",
        formatter_class=HelpFormatter,
    )
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", metavar="KEY", help="the node's private key (only its public part is used)")
    keys.add_argument("--pub", metavar="KEY.pub", help="the node's public key")
    add_simulate(p)
    p.add_argument(
        "--cc-sim",
        metavar="DIR",
        help="with --simulate: a simulated GPU vendor hierarchy (created if missing; its root.pem must be pinned)",
    )
    p.add_argument(
        "--nvattest",
        metavar="JSON",
        help="take the reports from nvattest collect-evidence output (run with --nonce from --print-nonce) "
        "instead of asking the GPUs; GPU entries match this host's GPUs in order, NVSwitches are left out",
    )
    p.add_argument(
        "--nras-token",
        metavar="JSON",
        help="with --nvattest: NRAS's detached EAT for the same run; each GPU's evidence carries its part "
        "(a verifier with --nras-jwks may then take NVIDIA's appraisal in place of RIMs)",
    )
    p.add_argument(
        "--print-nonce",
        action="store_true",
        help="print the key's binding nonce (hex) for nvattest collect-evidence --nonce, and exit",
    )
    p.add_argument("-o", "--output", metavar="FILE")
    p.set_defaults(func=run_bind)


def run_bind(args: argparse.Namespace) -> int:
    """Collect the reports and write the binding."""
    key = load_signing_key(Path(args.key)).public if args.key else load_verifying_key(Path(args.pub))
    if args.print_nonce:
        print(binding_nonce(key).hex())
        return 0
    if args.nras_token and not args.nvattest:
        raise InputError("--nras-token goes with --nvattest (the evidence NRAS appraised)")
    if args.nvattest:
        if args.cc_sim:
            raise InputError("--cc-sim makes simulated reports; --nvattest brings real ones: give one")
        entries = parse_nvattest(
            read_input(args.nvattest, what="nvattest evidence", max_bytes=MAX_NVATTEST_BYTES)
        )
        switches = sum(e.is_switch for e in entries)
        if switches:
            stderr(f"{switches} NVSwitch entries left out (a binding is made by GPUs)")
        gpus = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read().gpus
        nras = read_input(args.nras_token, what="NRAS token") if args.nras_token else None
        binding = binding_from_nvattest(entries, gpus, key, nras_token=nras)
        write_output((binding.to_json() + "\n").encode("utf-8"), args.output)
        return 0
    if args.simulate:
        if not args.cc_sim:
            raise InputError(
                "--simulate needs --cc-sim DIR: simulated GPUs need a simulated vendor to sign their reports"
            )
        backend = SimulatedCcBackend(Path(args.cc_sim))
        backend.publish_rims(Path(args.cc_sim) / "rims")  # the vendor's golden measurements, for appraisal
        source: SimulatedCcSource | NvmlCcSource = SimulatedCcSource(backend)
    else:
        if args.cc_sim:
            raise InputError("--cc-sim goes with --simulate")
        source = NvmlCcSource()
    evidence = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read()
    binding = bind(evidence.gpus, key, source)
    write_output((binding.to_json() + "\n").encode("utf-8"), args.output)
    return 0
