"""``attest landmark serve`` and ``attest locate``: measured round trips to landmarks, signed."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_alias,
    add_written_format,
    check_output,
    finite_float,
    parse_nonce,
    read_model,
    report_written,
    stderr,
    write_output,
)
from attest.cli.hardware import add_simulate
from attest.crypto.keys import SigningKey, VerifyingKey, load_signing_key
from attest.errors import AttestError, InputError
from attest.hardware import open_source
from attest.hardware.binding import CcEvidenceSource, SimulatedCcSource
from attest.hardware.nvml import NvmlCcSource
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.location.landmark import LandmarkServer
from attest.location.prover import measure, measure_timed
from attest.location.receipts import check_receipt
from attest.model.location import LandmarkRegistry
from attest.model.manifest import Gpu, LandmarkReceipt, LocationEvidence, TimedGpuReport


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"{text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verbs."""
    p = sub.add_parser(
        "landmark",
        help="run a landmark server",
        description="Landmark servers time round trips and sign receipts.",
        epilog="example:\n  attest landmark serve --key lm.key --id sin-1 --lat 1.29 --lon 103.85 --listen 0.0.0.0:7410",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="landmark_verb", required=True, metavar="{serve,registry}")
    s = verbs.add_parser(
        "serve",
        help="serve UDP challenges until interrupted",
        epilog="example:\n  attest landmark serve --key lm.key --id sin-1 --lat 1.29 --lon 103.85",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--key", required=True, metavar="KEY")
    s.add_argument("--id", required=True)
    s.add_argument("--lat", type=finite_float, required=True)
    s.add_argument("--lon", type=finite_float, required=True)
    s.add_argument(
        "--listen",
        default="127.0.0.1:7410",
        metavar="HOST:PORT",
        help="UDP address (default: 127.0.0.1:7410)",
    )
    add_alias(s, "--bind", dest="listen", metavar="HOST:PORT")  # its first spelling
    s.set_defaults(func=run_serve)
    from attest.cli.landmark_registry import register_registry

    register_registry(verbs)
    lo = sub.add_parser(
        "locate",
        help="measure round trips to landmarks and collect signed receipts",
        description="Measure each landmark of the registry. The node key answers every landmark's challenge "
        "(a key-only receipt: grade key-measured at best, since a copy of the key could answer too). With "
        "--gpu-timed (NVML, GPUs in CC mode) or --simulate PRESET --cc-sim DIR, every GPU also answers: "
        "each signs an attestation report over a nonce derived from the challenge, and the landmark stops "
        "its clock only when their digests arrive (a GPU-timed receipt: grade measured when the disks rule "
        "the prohibited area out). The output carries the receipts and the reports; give it to "
        "attest manifest --receipts.",
        epilog="""examples:
  attest locate --landmarks landmarks.json --key /etc/attest/attest.key --nonce <manifest nonce> -o receipts.json
  attest locate --landmarks landmarks.json --key /etc/attest/attest.key --nonce <nonce> --gpu-timed -o receipts.json
  attest locate --landmarks landmarks.json --key node.key --nonce <nonce> --simulate h100 --cc-sim ./sim-vendor -o receipts.json""",
        formatter_class=HelpFormatter,
    )
    lo.add_argument("--landmarks", required=True, metavar="LANDMARKS.json")
    lo.add_argument("--key", required=True, metavar="KEY")
    lo.add_argument(
        "--nonce",
        required=True,
        metavar="HEX",
        help="the freshness nonce of the manifest the receipts will go into",
    )
    lo.add_argument("--rounds", type=int, default=5)
    lo.add_argument(
        "--gpu-timed",
        action="store_true",
        help="also have every GPU answer each challenge with a CC attestation report (NVML, or --simulate)",
    )
    add_simulate(lo)
    lo.add_argument(
        "--cc-sim",
        metavar="DIR",
        help="with --simulate: the simulated GPU vendor the GPUs were bound with (attest bind --cc-sim)",
    )
    lo.add_argument("-o", "--output", metavar="FILE")
    add_written_format(lo)
    lo.set_defaults(func=run_locate)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        raise InputError("--lat must be within ±90 and --lon within ±180")
    server = LandmarkServer(args.id, load_signing_key(Path(args.key)))
    address, stop = server.serve_in_thread(*_host_port(args.listen))
    print(
        json.dumps(
            {"landmark": args.id, "address": f"{address[0]}:{address[1]}", "key_id": server.key.key_id}
        ),
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    stop.set()
    stderr(json.dumps({"landmark": args.id, "counters": vars(server.counters)}))
    return 0


def run_locate(args: argparse.Namespace) -> int:
    """Measure every landmark; write the receipts that verify (and the GPU reports of GPU-timed ones)."""
    nonce = parse_nonce(args.nonce)
    if not 1 <= args.rounds <= 100:
        raise InputError("--rounds must be between 1 and 100")
    if args.output:
        check_output(args.output)
    registry = read_model(args.landmarks, LandmarkRegistry, what="landmark registry")
    if not registry.landmarks:
        raise InputError(f"landmark registry {args.landmarks} names no landmark to measure")
    key = load_signing_key(Path(args.key))
    gpus, source = _gpu_source(args)
    held = source.session() if isinstance(source, NvmlCcSource) else contextlib.nullcontext()
    with held:  # NVML stays initialised for every round of every landmark
        receipts, reports, failed = _locate(args, nonce, registry, key, gpus, source)
    evidence = LocationEvidence(receipts=receipts, gpu_reports=reports)
    if receipts:
        write_output((evidence.to_json(indent=2) + "\n").encode(), args.output)
        report_written(
            args,
            args.output,
            {"receipts": len(receipts), "gpu_reports": len(reports), "unmeasured": failed},
            f"wrote {args.output}: {len(receipts)} receipts",
        )
    if failed:  # a dead landmark is said, and the exit says it too: a script must not go on unaware
        measured = len(registry.landmarks) - len(failed)
        stderr(
            f"error: {len(failed)} of {len(registry.landmarks)} landmarks could not be measured "
            f"({', '.join(failed)}); "
            + (f"the receipts of the other {measured} were written" if receipts else "no receipt was written")
        )
        return 2
    return 0


def _locate(
    args: argparse.Namespace,
    nonce: str,
    registry: LandmarkRegistry,
    key: SigningKey,
    gpus: list[Gpu],
    source: CcEvidenceSource | None,
) -> tuple[list[LandmarkReceipt], list[TimedGpuReport], list[str]]:
    """The receipts (and GPU reports) of every landmark that answered, and the ids of those that did not."""
    receipts: list[LandmarkReceipt] = []
    reports: list[TimedGpuReport] = []
    failed: list[str] = []
    for lm in registry.landmarks:
        if lm.address is None:
            stderr(f"{lm.id}: the registry gives no address to measure it at")
            failed.append(lm.id)
            continue
        try:
            address = _host_port(lm.address)
            landmark_key = VerifyingKey.from_spki_b64(lm.public_key)
            receipt = measure(address, key, nonce, rounds=args.rounds)
            check_receipt(receipt, landmark_key)
            timed = None
            if source is not None:
                timed = measure_timed(address, key, nonce, gpus, source, rounds=args.rounds)
                check_receipt(timed.receipt, landmark_key)
        except AttestError as exc:
            stderr(f"{lm.id}: {exc.message}")
            failed.append(lm.id)
            continue
        receipts.append(receipt)
        line = f"{lm.id}: {receipt.rtt_ns / 1e6:.3f} ms round trip (key)"
        if timed is not None:
            receipts.append(timed.receipt)
            reports.extend(timed.timed_reports())
            line += f", {timed.receipt.rtt_ns / 1e6:.3f} ms with {len(gpus)} GPU reports"
        stderr(line)
    return receipts, reports, failed


def _gpu_source(args: argparse.Namespace) -> tuple[list[Gpu], CcEvidenceSource | None]:
    """The GPUs that answer and how they are asked, or ([], None) for key-only receipts."""
    if args.cc_sim and not args.simulate:
        raise InputError("--cc-sim goes with --simulate")
    if args.simulate:
        if not args.cc_sim:
            raise InputError(
                "--simulate needs --cc-sim DIR: simulated GPUs need the simulated vendor they were bound with"
            )
        source: CcEvidenceSource = SimulatedCcSource(SimulatedCcBackend(Path(args.cc_sim)))
    elif args.gpu_timed:
        source = NvmlCcSource()
    else:
        return [], None
    gpus = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read().gpus
    if not gpus:
        raise InputError("no GPU found to answer the landmarks")
    return list(gpus), source
