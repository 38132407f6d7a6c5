"""Entry point of the ``attest`` command, and its one error boundary.

Results go to stdout, diagnostics to stderr. Exit codes: 0 affirming,
1 warning, 3 contraindicated or signature failure, 2 usage or unreadable
input. No traceback reaches a user: library errors print their diagnostics;
anything unexpected prints one line (set ``ATTEST_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from attest import __version__
from attest.cli import (
    admit,
    audit,
    bind,
    chips,
    collector,
    daemon,
    demo,
    geo,
    gpu,
    hardware,
    keys,
    location,
    log,
    manifest,
    policy,
    screening,
    trust,
    verify,
)
from attest.cli.common import HelpFormatter
from attest.errors import AttestError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="attest",
        description="Prove where export-controlled AI chips run and for whom; verify that proof.",
        epilog="start with:  attest demo\nhelp on a verb:  attest VERB --help",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"compute-attest {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in (
        keys,
        hardware,
        bind,
        manifest,
        verify,
        trust,
        policy,
        screening,
        gpu,
        chips,
        location,
        geo,
        daemon,
        admit,
        log,
        collector,
        audit,
        demo,
    ):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; return its exit code."""
    parser = build_parser()
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
