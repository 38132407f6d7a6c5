"""``attest log``: the transparency log of envelopes (RFC 9162), signed checkpoints, proofs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from attest.cli.common import HelpFormatter, add_format, read_input, stderr
from attest.crypto.keys import load_signing_key
from attest.errors import InputError
from attest.log import Log, is_url

EXIT_OK, EXIT_BAD = 0, 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "log",
        help="append envelopes to a Merkle log, sign checkpoints, prove inclusion and consistency",
        description="An append-only RFC 9162 Merkle log whose leaves are envelope files' bytes as received "
        "(leaf hash = SHA-256(0x00 || bytes)); checkpoints are C2SP signed notes (Ed25519). Stored in SQLite "
        "(WAL, synchronous=FULL) with the envelopes' bytes beside it in PATH-entries (keep the two files "
        "together), or in PostgreSQL; proofs are read from stored subtree hashes.",
        epilog="examples:\n"
        "  attest log init --log audit.db --origin example.com/attest/log --key log.key\n"
        "  attest log append spool/*.json --log audit.db\n"
        "  attest log checkpoint --log audit.db --key log.key > checkpoint.txt\n"
        "  attest log proof --log audit.db --inclusion 17 --format json\n"
        "  attest log proof --log audit.db --consistency 10 20\n"
        "  attest log verify --log audit.db",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="log_verb", required=True, metavar="{init,append,checkpoint,proof,verify}")

    def log_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--log",
            required=True,
            metavar="PATH_OR_URL",
            help="the log: a SQLite file, postgresql://..., or a collector http(s):// URL (append, checkpoint, proof)",
        )

    i = verbs.add_parser(
        "init",
        help="create a log",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log init --log audit.db --origin example.com/attest/log --key log.key",
    )
    log_arg(i)
    i.add_argument("--origin", required=True, help="the log's name in its checkpoints (no spaces)")
    i.add_argument("--key", required=True, metavar="KEY", help="Ed25519 key that signs checkpoints")
    i.set_defaults(func=run_init)
    a = verbs.add_parser(
        "append",
        help="append envelope files",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log append spool/*.json --log audit.db --format json",
    )
    a.add_argument("envelopes", nargs="+", metavar="ENVELOPE")
    log_arg(a)
    add_format(a)
    a.set_defaults(func=run_append)
    c = verbs.add_parser(
        "checkpoint",
        help="sign a checkpoint of the current size",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log checkpoint --log audit.db --key log.key",
    )
    log_arg(c)
    c.add_argument(
        "--key", metavar="KEY", help="the log's key (not needed for a collector URL: it signs its own)"
    )
    c.set_defaults(func=run_checkpoint)
    pr = verbs.add_parser(
        "proof",
        help="an inclusion or consistency proof",
        formatter_class=HelpFormatter,
        epilog="examples:\n  attest log proof --log audit.db --inclusion 17\n"
        "  attest log proof --log audit.db --consistency 10 20 --format json",
    )
    log_arg(pr)
    which = pr.add_mutually_exclusive_group(required=True)
    which.add_argument("--inclusion", type=int, metavar="N", help="leaf index")
    which.add_argument("--consistency", type=int, nargs=2, metavar=("OLD", "NEW"))
    pr.add_argument("--size", type=int, metavar="SIZE", help="tree size for --inclusion (default: current)")
    add_format(pr)
    pr.set_defaults(func=run_proof)
    v = verbs.add_parser(
        "verify",
        help="recompute the tree from its entries and check every checkpoint",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log verify --log audit.db",
    )
    log_arg(v)
    add_format(v)
    v.set_defaults(func=run_verify)


def _is_http(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _open(text: str) -> Log:
    if "://" in text and not is_url(text):
        raise InputError("this verb needs the log itself: a file path or a postgresql:// URL")
    return Log.open(text)


def run_init(args: argparse.Namespace) -> int:
    """Create a log."""
    if "://" in args.log and not is_url(args.log):
        raise InputError("a log is a file path or a postgresql:// URL")
    log = Log.init(args.log, args.origin, load_signing_key(Path(args.key)))
    print(json.dumps({"log": args.log, "origin": log.origin, "verifier_key": log.store.meta("verifier_key")}))
    return EXIT_OK


def run_append(args: argparse.Namespace) -> int:
    """Append envelopes; print each one's index and leaf hash."""
    data = [read_input(p, what="envelope") for p in args.envelopes]
    if _is_http(args.log):
        from attest.log.remote import RemoteLog

        placed = RemoteLog(args.log).append(data)
        size = None
    else:
        log = _open(args.log)
        placed = log.append(data)
        size = log.size
    for path, a in zip(args.envelopes, placed, strict=True):
        if args.format == "json":
            print(
                json.dumps(
                    {"file": path, "leaf_index": a.index, "leaf_hash": a.leaf_hash.hex(), "new": a.new}
                )
            )
        else:
            print(f"{a.index}\t{a.leaf_hash.hex()}\t{path}" + ("" if a.new else "\t(already logged)"))
    if size is not None:
        stderr(f"log size {size}")
    return EXIT_OK


def run_checkpoint(args: argparse.Namespace) -> int:
    """Sign a checkpoint."""
    if _is_http(args.log):
        from attest.log.remote import RemoteLog

        print(RemoteLog(args.log).checkpoint(), end="")  # the collector signs its own checkpoints
        return EXIT_OK
    if not args.key:
        raise InputError("signing a checkpoint needs the log's key: --key KEY")
    log = _open(args.log)
    print(log.checkpoint(load_signing_key(Path(args.key))), end="")
    return EXIT_OK


def run_proof(args: argparse.Namespace) -> int:
    """Print a proof."""
    if _is_http(args.log):
        from attest.log.remote import RemoteLog

        source: Any = RemoteLog(args.log)
    else:
        source = _open(args.log)
    if args.inclusion is not None:
        proof = source.inclusion(args.inclusion, args.size)
    else:
        proof = source.consistency(*args.consistency)
    if args.format == "json":
        print(json.dumps(proof))
    else:
        for k, v in proof.items():
            print(f"{k}: {' '.join(v) if isinstance(v, list) else v}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Check the whole log."""
    log = _open(args.log)
    problems = log.verify()
    checkpoints = len(log.store.checkpoints())
    if args.format == "json":
        print(
            json.dumps(
                {
                    "ok": not problems,
                    "size": log.size,
                    "root_hash": log.root().hex(),
                    "checkpoints": checkpoints,
                    "problems": problems,
                }
            )
        )
    else:
        print(
            ("OK" if not problems else "DAMAGED")
            + f": {log.size} entries, root {log.root().hex()}, {checkpoints} checkpoints"
        )
        for p in problems:
            print(f"  {p}")
    return EXIT_OK if not problems else EXIT_BAD
