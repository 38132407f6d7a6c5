"""``attest keygen``: make a node or verifier key pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from attest.cli.common import HelpFormatter, add_alias, add_format, require, write_output
from attest.crypto.keys import Algorithm, SigningKey, write_private_key
from attest.errors import KeyFileError

PRIVATE_NAME = "attest.key"
PUBLIC_NAME = "attest.pub"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "keygen",
        help="generate a signing key pair",
        description="Generate a key pair: DIR/attest.key (PKCS#8, mode 0600) and DIR/attest.pub (SPKI).",
        epilog="example:\n  attest keygen -o /etc/attest --algorithm ed25519",
        formatter_class=HelpFormatter,
    )
    p.add_argument("-o", "--output", metavar="DIR", help="directory for attest.key and attest.pub (required)")
    add_alias(p, "--out", dest="output", metavar="DIR")  # its first spelling
    p.add_argument(
        "--algorithm", default="ed25519", choices=["ed25519", "p256", "p384"], help="default: ed25519"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair")
    add_format(p)
    p.set_defaults(func=run_keygen)


def generate_key_pair(
    out: Path, algorithm: Algorithm = Algorithm.ED25519, *, force: bool = False
) -> SigningKey:
    """Create ``out`` (0700 when new) and write the key pair into it."""
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create {out}: {exc.strerror}") from None
    key = SigningKey.generate(algorithm)
    public = out / PUBLIC_NAME
    if public.exists() and not force:
        raise KeyFileError(f"{public} already exists; refusing to overwrite a key", hint="use --force")
    write_private_key(out / PRIVATE_NAME, key, overwrite=force)
    write_output(key.public.to_pem(), str(public))
    return key


def run_keygen(args: argparse.Namespace) -> int:
    """Generate and report the new key's id (never its private part)."""
    out = Path(require(args, "output", "-o/--output DIR", hint="attest keygen -o /etc/attest"))
    key = generate_key_pair(out, Algorithm.parse(args.algorithm), force=args.force)
    info = {
        "key_id": key.key_id,
        "algorithm": key.algorithm.value,
        "private_key": str(out / PRIVATE_NAME),
        "public_key": str(out / PUBLIC_NAME),
    }
    if args.format == "json":
        print(json.dumps(info))
    else:
        print(f"key id     {info['key_id']}\nalgorithm  {info['algorithm']}")
        print(f"private    {info['private_key']} (0600)\npublic     {info['public_key']}")
    return 0
