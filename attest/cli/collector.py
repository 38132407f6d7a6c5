"""``attest collector serve``: receive, verify, log and prove the envelopes node daemons push."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_evidence_args,
    add_policy_arg,
    evidence_options,
    float_between,
    int_between,
    policy_from_args,
    read_input,
)
from attest.crypto.keys import load_signing_key
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.log.witness import WitnessKey


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "collector",
        help="the HTTP service node daemons push envelopes to (verify, log, prove)",
        description="Accepts envelopes over HTTP (POST /v1/manifests), verifies each with the trust store and "
        "policy (replays and chains tracked across restarts), appends it to the transparency log and answers "
        "with the result and an inclusion proof. Re-pushes are idempotent. Serves checkpoints and proofs.",
        epilog="example:\n  attest collector serve --log audit.db --trust trust.json --key log.key --listen 0.0.0.0:8080",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="collector_verb", required=True, metavar="{serve}")
    s = verbs.add_parser(
        "serve",
        help="serve until interrupted",
        epilog=(
            "examples:\n  attest collector serve --log audit.db --trust trust.json --key log.key\n"
            "  attest collector serve --log postgresql://attest@db/attest \\\n"
            "      --trust trust.json --key log.key --listen 0.0.0.0:8080   # state in the log's database\n"
            "  attest collector serve --log audit.db --trust trust.json --evidence-dir /var/lib/attest/evidence\n"
            "      # and in PrologSlurmctld: attest admit --evidence /var/lib/attest/evidence ..."
        ),
        formatter_class=HelpFormatter,
    )
    s.add_argument(
        "--log",
        required=True,
        metavar="PATH_OR_URL",
        help="the log, a file or postgresql://... (attest log init)",
    )
    s.add_argument("--trust", required=True, metavar="TRUST")
    add_policy_arg(s)
    s.add_argument("--key", metavar="KEY", help="the log's key: sign checkpoints (GET /v1/checkpoint)")
    s.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT")
    s.add_argument(
        "--state",
        metavar="DB",
        help="verifier state (nonces, chain heads), a SQLite file; default: LOG.verifier.db beside a log "
        "file, or the log's own database for a PostgreSQL log (shared by every collector on it)",
    )
    add_evidence_args(s)
    s.add_argument(
        "--checkpoint-interval", type=float_between(0.01, 86_400, "seconds"), default=10.0, metavar="SECONDS"
    )
    s.add_argument(
        "--accept-untrusted",
        action="store_true",
        help="labs only: log every envelope with its verdict, forgeries and strangers included "
        "(default: only envelopes signed by trusted, unrevoked keys are logged; the rest get 403)",
    )
    s.add_argument("--refuse-untrusted", action="store_true", help=argparse.SUPPRESS)  # the default now
    s.add_argument(
        "--quota",
        type=float_between(0, 1e9, "a minute"),
        default=600.0,
        metavar="PER_MINUTE",
        help="envelopes each signer may push a minute, in bursts up to as many (beyond: 429 with "
        "Retry-After); all untrusted envelopes share one quota (default: 600)",
    )
    s.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL=VKEY",
        help="a C2SP tlog-witness to ask for a cosignature of each new checkpoint (its URL, '=', its vkey "
        "file); repeatable. Cosignatures are served with the checkpoint and kept with it",
    )
    s.add_argument(
        "--refusals",
        type=float_between(0, 1e9, "a minute"),
        default=120.0,
        metavar="PER_MINUTE",
        help="refused envelopes (400, 403) a source network (IPv4 /24, IPv6 /64) may send a minute; "
        "beyond, 429 before anything is verified (default 120; 0: off, e.g. behind a reverse proxy, where "
        "every client has the proxy's address: limit there)",
    )
    s.add_argument(
        "--read-token-file",
        metavar="FILE",
        help="GET /v1/entries/N (the manifests: tenant names) answers only requests with "
        "'Authorization: Bearer <the token in FILE>'; checkpoints and proofs stay public. For mTLS, "
        "put a TLS-terminating proxy that requires client certificates in front",
    )
    s.add_argument(
        "--header-timeout",
        type=float_between(0, 86_400, "seconds"),
        default=10.0,
        metavar="SECONDS",
        help="close a connection that has not sent a complete request's headers by then (default 10)",
    )
    s.add_argument(
        "--body-timeout",
        type=float_between(0, 86_400, "seconds"),
        default=30.0,
        metavar="SECONDS",
        help="answer 408 and close when a body has not arrived by then (default 30)",
    )
    s.add_argument(
        "--max-connections",
        type=int_between(0, 1_000_000),
        default=1024,
        metavar="N",
        help="connections at once, kept below the descriptor limit (default 1024; more are closed on arrival)",
    )
    s.add_argument(
        "--max-per-network",
        type=int_between(0, 1_000_000),
        default=64,
        metavar="N",
        help="connections at once from one IPv4 /24 or IPv6 /64 (default 64; 0: no such cap, "
        "e.g. behind a reverse proxy)",
    )
    s.add_argument(
        "--min-body-rate",
        type=float_between(0, 1e12, "bytes a second"),
        default=512.0,
        metavar="BYTES_PER_S",
        help="answer 408 and close when a body averages fewer bytes a second than this after 5 s "
        "(default 512); such connections are also closed first when the connections run out",
    )
    s.add_argument(
        "--max-group",
        type=int,
        default=256,
        metavar="N",
        help="group commit: the envelopes that arrive while one group is committed are judged in "
        "arrival order and logged together, at most N at a time, in one append, one state commit and "
        "one verdict commit; each is answered once its group is durable (default 256; 1: each "
        "envelope on its own)",
    )
    s.add_argument(
        "--evidence-dir",
        metavar="DIR",
        help="also keep each node key's newest authenticated envelope here (<key id>.envelope.json): "
        "what attest admit --evidence and the Kubernetes webhook should read, one file per node "
        "instead of every manifest ever signed",
    )
    s.set_defaults(func=run_serve)


def _witness(text: str) -> tuple[str, WitnessKey]:
    url, sep, path = text.rpartition("=")
    if not sep or not url.startswith(("http://", "https://")):
        raise InputError(f"--witness {text!r} is not URL=VKEY_FILE")
    return url, WitnessKey.load(Path(path))


def run_serve(args: argparse.Namespace) -> int:
    """Serve."""
    from attest.log import Log
    from attest.log.collector import Collector, open_state
    from attest.log.frontend import Limits, serve_app
    from attest.scheduler.evidence import NewestEvidence

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--listen {args.listen!r} is not HOST:PORT")
    if args.accept_untrusted and args.refuse_untrusted:
        raise InputError("--accept-untrusted and --refuse-untrusted contradict each other")
    if not args.refusals >= 0:
        raise InputError("--refusals must be 0 (off) or a positive number a minute")
    if not args.quota > 0:
        raise InputError("--quota must be a positive number of envelopes a minute")
    if not (args.header_timeout > 0 and args.body_timeout > 0 and args.max_connections > 0):
        raise InputError("--header-timeout, --body-timeout and --max-connections must be positive")
    if not (args.max_per_network >= 0 and args.min_body_rate >= 0):
        raise InputError("--max-per-network and --min-body-rate must be 0 (off) or positive")
    if not 1 <= args.max_group <= 10_000:
        raise InputError("--max-group must be a whole number from 1 to 10000")
    witnesses = [_witness(w) for w in args.witness]
    if witnesses and not args.key:
        raise InputError("--witness needs --key: witnesses cosign the checkpoints this collector signs")
    token = None
    if args.read_token_file:
        token = read_input(args.read_token_file, what="read token file", max_bytes=4096).decode(
            "utf-8", "replace"
        )
        token = token.strip()
        if len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
            raise InputError("the read token must be at least 16 printable characters without spaces")
    log = Log.open(args.log)
    limits = Limits(
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        max_connections=args.max_connections,
        max_per_network=args.max_per_network,
        min_body_rate=args.min_body_rate,
    )
    options = evidence_options(args)
    collector = Collector(
        log,
        TrustStore.load(Path(args.trust)),
        state=open_state(args.log, args.state),
        policy=policy_from_args(args),
        options=options,
        key=load_signing_key(Path(args.key)) if args.key else None,
        checkpoint_interval_s=args.checkpoint_interval,
        accept_untrusted=args.accept_untrusted,
        quota_per_minute=args.quota,
        newest=NewestEvidence(Path(args.evidence_dir), options) if args.evidence_dir else None,
        limits=limits,
        witnesses=witnesses,
        read_token=token,
        refusals_per_minute=args.refusals or None,
        max_group=args.max_group,
    )
    recovered = collector.recover()
    if recovered:
        print(f"attest collector: judged {recovered} logged entries that had no verdict", file=sys.stderr)
    serve_app(collector.app(), host or "127.0.0.1", int(port), {"log": args.log, "size": log.size}, limits)
    return 0
