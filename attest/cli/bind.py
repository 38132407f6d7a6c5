"""``attest bind``: have every GPU vouch for the node key (hardware-bound grade)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_written_format,
    parse_when,
    read_input,
    read_model,
    report_written,
    stderr,
    write_output,
)
from attest.cli.hardware import add_simulate
from attest.crypto.keys import VerifyingKey, load_signing_key, load_verifying_key
from attest.errors import InputError
from attest.hardware import open_source
from attest.hardware.binding import SimulatedCcSource, bind, binding_nonce
from attest.hardware.freshness import issue_challenge
from attest.hardware.nvat import MAX_NVATTEST_BYTES, binding_from_nvattest, parse_nvattest
from attest.hardware.nvml import NvmlCcSource
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.manifest import SignedChallenge


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "bind",
        help="bind the node key to this host's GPUs with CC attestation reports",
        description="Ask every GPU for a confidential-computing attestation report whose nonce names the node "
        "key and a trusted challenger's challenge, attach each chain's OCSP status, and write the binding. "
        "Manifests built with --binding carry the reports; a verifier given the vendor root grades them "
        "hardware-bound while the challenge is younger than its policy's maximum binding age (24 h for us-ear).",
        epilog="""examples:
  attest bind --key /etc/attest/attest.key --challenge challenge.json -o /etc/attest/binding.json   # NVML, CC mode
  attest bind --pub node.pub --simulate h100 --cc-sim ./sim-vendor --challenge challenge.json -o binding.json
  nvattest collect-evidence --format json \\
      --nonce $(attest bind --pub node.pub --challenge challenge.json --print-nonce) > ev.json
  attest bind --pub node.pub --challenge challenge.json --nvattest ev.json -o binding.json   # NVIDIA's nvattest
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
        "--challenge",
        metavar="FILE",
        help="a trusted challenger's challenge (attest challenge issue): dates the binding; without one "
        "the binding is genuine but never graded hardware-bound",
    )
    p.add_argument(
        "--no-ocsp",
        action="store_true",
        help="do not attach the GPU chains' OCSP status (verifiers then need --online)",
    )
    p.add_argument(
        "--ocsp-url",
        metavar="URL",
        help="NVML: ask this OCSP responder instead of the one the certificates name",
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
    add_written_format(p)
    p.set_defaults(func=run_bind)

    c = sub.add_parser(
        "challenge",
        help="issue binding challenges (freshness nodes cannot predict)",
        description="A challenger (an auditor, the collector's operator) signs a random value and the time. "
        "Nodes bind their keys over it (attest bind --challenge), so a verifier that trusts the challenger "
        "(attest trust add CHALLENGER.pub --challenger) knows how old each binding is.",
        epilog="""examples:
  attest keygen -o challenger                          # once; keep challenger/attest.key safe
  attest trust add challenger/attest.pub --challenger --trust trust.json
  attest challenge issue --key challenger/attest.key -o challenge.json   # daily, sent to each node
  attest bind --key /etc/attest/attest.key --challenge challenge.json -o /etc/attest/binding.json""",
        formatter_class=HelpFormatter,
    )
    cverbs = c.add_subparsers(dest="challenge_verb", required=True, metavar="{issue}")
    ci = cverbs.add_parser(
        "issue",
        help="write a signed challenge",
        epilog="example:\n  attest challenge issue --key challenger/attest.key -o challenge.json",
        formatter_class=HelpFormatter,
    )
    ci.add_argument("--key", required=True, metavar="KEY", help="the challenger's private key")
    ci.add_argument("--now", metavar="TIME", help="date it at this time (default: now; for tests)")
    ci.add_argument("-o", "--output", metavar="FILE")
    add_written_format(ci)
    ci.set_defaults(func=run_challenge_issue)


def run_challenge_issue(args: argparse.Namespace) -> int:
    """Sign and write one challenge."""
    key = load_signing_key(Path(args.key))
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    challenge = issue_challenge(key, now=now)
    write_output((challenge.to_json() + "\n").encode("utf-8"), args.output)
    report_written(
        args, args.output, {"challenger": key.key_id}, f"wrote {args.output}: a challenge by {key.key_id}"
    )
    return 0


def run_bind(args: argparse.Namespace) -> int:
    """Collect the reports (or take nvattest's) and write the binding."""
    key = load_signing_key(Path(args.key)).public if args.key else load_verifying_key(Path(args.pub))
    challenge = (
        read_model(args.challenge, SignedChallenge, what="binding challenge") if args.challenge else None
    )
    if args.print_nonce:
        print(binding_nonce(key, challenge).hex())
        return 0
    if args.nras_token and not args.nvattest:
        raise InputError("--nras-token goes with --nvattest (the evidence NRAS appraised)")
    if challenge is None:
        stderr(
            "warning: no --challenge: this binding is genuine but undated, and verifiers never grade it "
            "hardware-bound (attest challenge issue makes one)"
        )
    if args.nvattest:
        return _bind_nvattest(args, key, challenge)
    backend = None
    if args.simulate:
        if not args.cc_sim:
            raise InputError(
                "--simulate needs --cc-sim DIR: simulated GPUs need a simulated vendor to sign their reports"
            )
        if args.ocsp_url:
            raise InputError("--ocsp-url is for NVML; the simulated vendor answers OCSP itself")
        backend = SimulatedCcBackend(Path(args.cc_sim))
        source: SimulatedCcSource | NvmlCcSource = SimulatedCcSource(backend)
    else:
        if args.cc_sim:
            raise InputError("--cc-sim goes with --simulate")
        source = NvmlCcSource(ocsp_url=args.ocsp_url)
    evidence = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read()
    binding = bind(evidence.gpus, key, source, challenge=challenge, revocation=not args.no_ocsp)
    if backend is not None:  # the vendor's golden measurements for its GPUs, for appraisal (--rims DIR/rims)
        backend.publish_rims(Path(args.cc_sim) / "rims")
    write_output((binding.to_json() + "\n").encode("utf-8"), args.output)
    if backend is not None:  # a simulated vendor's roots are not NVIDIA's: a verifier must pin them
        sim = Path(args.cc_sim)
        stderr(
            f"simulated vendor {sim}: its roots are not NVIDIA's; verify with --cc-root {sim / 'root.pem'} "
            f"--cc-root-sha256 {backend.root_sha256} --rims {sim / 'rims'} --rim-root {sim / 'rim_root.pem'} "
            f"--rim-root-sha256 {backend.rim_root_sha256}"
        )
    report_written(
        args, args.output, {"key_id": key.key_id}, f"wrote {args.output}: the binding of {key.key_id}"
    )
    return 0


def _bind_nvattest(args: argparse.Namespace, key: VerifyingKey, challenge: SignedChallenge | None) -> int:
    """A binding from nvattest's evidence, with each chain's OCSP status fetched unless --no-ocsp."""
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
    revocation = None
    if not args.no_ocsp:
        from attest.hardware.ocsp import HttpOcspFetcher

        revocation = HttpOcspFetcher(override_url=args.ocsp_url)
    binding = binding_from_nvattest(
        entries, gpus, key, challenge=challenge, revocation=revocation, nras_token=nras
    )
    write_output((binding.to_json() + "\n").encode("utf-8"), args.output)
    report_written(
        args, args.output, {"key_id": key.key_id}, f"wrote {args.output}: the binding of {key.key_id}"
    )
    return 0
