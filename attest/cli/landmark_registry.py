"""``attest landmark registry add``: write (or extend) a landmark registry file, validated.

The registry is what a node measures against and what a verifier trusts: each landmark's
position, the key its receipts are signed with, and the operator holding that key (k-of-n
counts distinct operators). Written by hand it is easy to get wrong in ways that matter:
a key pasted under a second id (one operator counted twice), a duplicate id, a position
with its sign lost. So this verb validates every field, refuses an id or a key that is
already registered unless ``--replace`` names that landmark, and shows what changed.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from attest.cli.common import HelpFormatter, add_format, read_input, write_output
from attest.crypto.keys import load_verifying_key
from attest.errors import InputError
from attest.model.location import Landmark, LandmarkRegistry


def register_registry(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``registry add`` under ``attest landmark``."""
    r = verbs.add_parser(
        "registry",
        help="build the landmark registry file (ids, positions, keys, operators)",
        description="Build the landmark registry that nodes measure against and verifiers trust.",
        epilog="example:\n  attest landmark registry add --registry landmarks.json --id sin-1 --lat 1.29 --lon 103.85 "
        "--key sin-1.pub --operator 'Landmark Operator A' --address 203.0.113.7:7410",
        formatter_class=HelpFormatter,
    )
    sub = r.add_subparsers(dest="registry_verb", required=True, metavar="{add}")
    a = sub.add_parser(
        "add",
        help="add a landmark (creates the file); --replace to change one",
        description="Add a landmark to a registry file (created when missing). Every field is validated; "
        "an id already registered, or a key already registered under another id, is refused unless "
        "--replace names that landmark (the change is then shown). A key under two ids would let one "
        "operator count twice.",
        epilog="exit codes: 0 written (or already registered as given), 2 refused or bad input.\n\n"
        "examples:\n"
        "  attest landmark registry add --registry landmarks.json --id sin-1 --lat 1.29 --lon 103.85 \\\n"
        "      --key sin-1.pub --operator 'Landmark Operator A' --address 203.0.113.7:7410\n"
        "  attest landmark registry add --registry landmarks.json --id jkt-1 --lat -6.2 --lon 106.8 \\\n"
        "      --key jkt-1.pub --operator 'Landmark Operator B' --replace",
        formatter_class=HelpFormatter,
    )
    a.add_argument("--registry", required=True, metavar="FILE", help="the registry file (JSON)")
    a.add_argument("--id", required=True, help="the landmark's id (as its receipts name it)")
    a.add_argument("--lat", required=True, metavar="DEG", help="latitude, -90..90 (south is negative)")
    a.add_argument("--lon", required=True, metavar="DEG", help="longitude, -180..180 (west is negative)")
    a.add_argument(
        "--key", required=True, metavar="PUB", help="the landmark's public receipt key (.pub, SPKI PEM)"
    )
    a.add_argument(
        "--operator", required=True, metavar="NAME", help="who holds the key (k-of-n counts operators)"
    )
    a.add_argument("--address", metavar="HOST:PORT", help="where provers reach its UDP service")
    a.add_argument("--replace", action="store_true", help="replace the landmark with this id")
    add_format(a)
    a.set_defaults(func=run_add)


def _degrees(text: str, name: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--{name} {text!r} is not a number of degrees") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise InputError(f"--{name} must be a finite number from {-limit:g} to {limit:g}, not {text!r}")
    return value


def _address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"--address {text!r} is not HOST:PORT (a port from 1 to 65535)")
    return text


def _load(path: Path) -> list[Landmark]:
    if path.is_dir():
        raise InputError(f"landmark registry {path} is a directory")
    if not path.exists():
        return []
    raw = read_input(str(path), what="landmark registry")
    return list(LandmarkRegistry.from_json(raw, what=f"landmark registry {path}").landmarks)


def _show(lm: Landmark) -> dict[str, Any]:
    return {
        "latitude": lm.latitude,
        "longitude": lm.longitude,
        "operator": lm.operator,
        "address": lm.address,
        "public_key": lm.public_key,
    }


def run_add(args: argparse.Namespace) -> int:
    """Add (or, with ``--replace``, change) one landmark; write the registry atomically."""
    path = Path(args.registry)
    landmark = Landmark.from_obj(
        {
            "id": args.id.strip(),
            "latitude": _degrees(args.lat, "lat", 90),
            "longitude": _degrees(args.lon, "lon", 180),
            "public_key": load_verifying_key(Path(args.key)).spki_b64(),
            "operator": args.operator.strip(),
            "address": _address(args.address) if args.address else None,
        },
        what="landmark",
    )
    landmarks = _load(path)
    old = next((lm for lm in landmarks if lm.id == landmark.id), None)
    other = next(
        (lm for lm in landmarks if lm.public_key == landmark.public_key and lm.id != landmark.id), None
    )
    if other is not None:
        raise InputError(
            f"this key is already registered for landmark {other.id!r} (operator {other.operator}); "
            "one key under two ids would count one operator twice",
            hint="give each landmark a key of its own (attest keygen)",
        )
    if old is not None and old == landmark:
        _report(args, path, landmark, [], landmarks, unchanged=True)
        return 0
    changes = (
        [(k, v, _show(landmark)[k]) for k, v in _show(old).items() if v != _show(landmark)[k]]
        if old is not None
        else []
    )
    if old is not None and not args.replace:
        raise InputError(
            f"landmark {landmark.id!r} is already in {path}; nothing was changed:\n"
            + "\n".join(f"  {k}: {was}  ->  {now}" for k, was, now in changes),
            hint="add --replace to replace it",
        )
    landmarks = (
        [landmark if lm.id == landmark.id else lm for lm in landmarks] if old else [*landmarks, landmark]
    )
    registry = LandmarkRegistry.from_obj(
        {"landmarks": [lm.to_obj() for lm in landmarks]}, what=f"landmark registry {path}"
    )
    write_output((json.dumps(registry.to_obj(), indent=2, ensure_ascii=False) + "\n").encode(), str(path))
    _report(args, path, landmark, changes, landmarks, unchanged=False, replaced=old is not None)
    return 0


def _report(
    args: argparse.Namespace,
    path: Path,
    landmark: Landmark,
    changes: list[tuple[str, Any, Any]],
    landmarks: list[Landmark],
    *,
    unchanged: bool,
    replaced: bool = False,
) -> None:
    operators = len({lm.operator for lm in landmarks})
    if args.format == "json":
        print(
            json.dumps(
                {
                    "landmark": landmark.id,
                    "registry": str(path),
                    "unchanged": unchanged,
                    "replaced": replaced,
                    "changes": [{"field": k, "was": was, "now": now} for k, was, now in changes],
                    "landmarks": len(landmarks),
                    "operators": operators,
                },
                ensure_ascii=False,
            )
        )
        return
    if unchanged:
        print(f"landmark {landmark.id} is already in {path} as given; nothing changed")
    elif replaced:
        print(f"replaced landmark {landmark.id} in {path}:")
        for k, was, now in changes:
            print(f"  {k}: {was}  ->  {now}")
    else:
        print(
            f"added landmark {landmark.id} ({landmark.operator}, {landmark.latitude}, {landmark.longitude}) to {path}"
        )
    print(f"{path}: {len(landmarks)} landmark(s) from {operators} operator(s)")
