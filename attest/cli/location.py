"""``attest landmark serve`` and ``attest locate``: measured round trips to landmarks, signed."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from attest.cli.common import HelpFormatter, read_model, stderr, write_output
from attest.crypto.keys import VerifyingKey, load_signing_key
from attest.errors import InputError
from attest.location.landmark import LandmarkServer
from attest.location.prover import measure
from attest.location.receipts import check_receipt
from attest.model.location import LandmarkRegistry


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
        epilog="example:\n  attest landmark serve --key lm.key --id sin-1 --lat 1.29 --lon 103.85 --bind 0.0.0.0:7410",
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
    s.add_argument("--lat", type=float, required=True)
    s.add_argument("--lon", type=float, required=True)
    s.add_argument("--bind", default="127.0.0.1:7410", metavar="HOST:PORT")
    s.set_defaults(func=run_serve)
    from attest.cli.landmark_registry import register_registry

    register_registry(verbs)
    lo = sub.add_parser(
        "locate",
        help="measure round trips to landmarks and collect signed receipts",
        epilog="example:\n  attest locate --landmarks landmarks.json --key /etc/attest/attest.key --nonce <manifest nonce> -o receipts.json",
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
    lo.add_argument("-o", "--output", metavar="FILE")
    lo.set_defaults(func=run_locate)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        raise InputError("--lat must be within ±90 and --lon within ±180")
    server = LandmarkServer(args.id, load_signing_key(Path(args.key)))
    address, stop = server.serve_in_thread(*_host_port(args.bind))
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
    """Measure every landmark; write the receipts that verify."""
    registry = read_model(args.landmarks, LandmarkRegistry, what="landmark registry")
    key = load_signing_key(Path(args.key))
    receipts, failures = [], 0
    for lm in registry.landmarks:
        if lm.address is None:
            stderr(f"{lm.id}: the registry gives no address to measure it at")
            failures += 1
            continue
        try:
            receipt = measure(_host_port(lm.address), key, args.nonce, rounds=args.rounds)
            check_receipt(receipt, VerifyingKey.from_spki_b64(lm.public_key))
        except InputError as exc:
            stderr(f"{lm.id}: {exc.message}")
            failures += 1
            continue
        receipts.append(receipt.to_obj())
        stderr(f"{lm.id}: {receipt.rtt_ns / 1e6:.3f} ms round trip")
    write_output((json.dumps({"receipts": receipts}, indent=2) + "\n").encode(), args.output)
    return 0 if receipts else 2
