"""Entry point of the ``attest`` command, and its one error boundary.

Results go to stdout, diagnostics to stderr. Exit codes: 0 affirming,
1 warning, 3 contraindicated or signature failure, 2 usage or unreadable
input. No traceback reaches a user: library errors print their diagnostics;
anything unexpected prints one line (set ``ATTEST_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from attest import __version__
from attest._internal import native
from attest.cli.common import HelpFormatter
from attest.errors import AttestError

EXIT_USAGE = 2


# Each verb and the module that registers it, in the order of `attest --help`. A command
# imports only its own module (the rest of the library stays unloaded: `attest daemon
# sign-job` in a Slurm Prolog starts in a fraction of the time); `attest --help`, no verb or
# an unknown one builds the whole command line.
VERBS = {
    "keygen": "keys",
    "collect": "hardware",
    "bind": "bind",
    "challenge": "bind",
    "manifest": "manifest",
    "sign": "manifest",
    "verify": "verify",
    "inspect": "inspect",
    "trust": "trust",
    "policy": "policy",
    "screen": "screening",
    "lists": "screening",
    "gpu": "gpu",
    "chips": "chips",
    "landmark": "location",
    "locate": "location",
    "location": "geo",
    "daemon": "daemon",
    "admit": "admit",
    "quarantine": "quarantine",
    "webhook": "webhook",
    "log": "log",
    "collector": "collector",
    "audit": "audit",
    "demo": "demo",
}


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The command line: the whole of it, or only what ``verb`` needs (when it is a known verb)."""
    parser = argparse.ArgumentParser(
        prog="attest",
        description="Prove where export-controlled AI chips run and for whom; verify that proof.",
        epilog="start with:  attest demo\nhelp on a verb:  attest VERB --help",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"compute-attest {__version__}\nverifier: {native.status()}",  # compiled, or pure Python and why
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    if verb in VERBS:
        modules = [VERBS[verb]]
    elif verb == "--version":
        modules = []  # answered before any verb is looked for
    else:
        modules = list(dict.fromkeys(VERBS.values()))
    for name in modules:
        importlib.import_module(f"attest.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except AttestError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("ATTEST_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("this is a bug in compute-attest; rerun with ATTEST_DEBUG=1 for details", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
