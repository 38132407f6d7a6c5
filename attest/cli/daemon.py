"""``attest daemon``: run the node daemon, or talk to it (sign-job, status, last, inventory, heartbeat)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_format,
    check_output,
    finite_float,
    read_input,
    stderr,
    write_output,
)
from attest.crypto.canonical import strict_loads
from attest.daemon.client import Client
from attest.errors import InputError
from attest.scheduler.slurm import gpu_indices

DEFAULT_SOCKET = "/run/attest/attest.sock"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "daemon",
        help="the node daemon: sign job manifests over a local socket, heartbeats, delivery",
        description="Without a sub-verb: run the daemon (attest daemon --config FILE). It serves a JSON API "
        "on a Unix socket to callers whose uid/gid the config allows (SO_PEERCRED), signs job start/end and "
        "heartbeat manifests on one crash-safe chain (SQLite WAL, synchronous=FULL: an acknowledged manifest "
        "is never lost), writes them to a spool, pushes them to a collector with retries, and exposes "
        "Prometheus metrics. With Type=notify under systemd it reports READY and feeds the watchdog.",
        epilog="examples:\n"
        "  attest daemon --config /etc/attest/daemon.toml\n"
        "  attest daemon sign-job --phase start --job-id 48211 --tenant tenant.json --gpus 0,1\n"
        "  attest daemon status --format json\n"
        "  attest daemon last -n 5",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="daemon configuration (TOML); see examples/daemon/")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run_daemon_verb)
    verbs = p.add_subparsers(dest="daemon_verb", metavar="{sign-job,status,last,inventory,heartbeat}")

    def client_args(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--socket", metavar="PATH", help=f"daemon socket (default: from --config, else {DEFAULT_SOCKET})"
        )
        q.add_argument(
            "--config", dest="client_config", metavar="FILE", help="read the socket path from this config"
        )
        q.add_argument("--timeout", type=finite_float, default=30.0, metavar="SECONDS")
        add_format(q)

    s = verbs.add_parser(
        "sign-job",
        help="ask the daemon for a signed start or end manifest",
        epilog="examples:\n"
        "  attest daemon sign-job --phase start --job-id 48211 --tenant tenant.json --gpus 0,1\n"
        "  attest daemon sign-job --phase end --job-id 48211 --tenant tenant.json --gpus GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0\n"
        "  attest daemon sign-job --phase start --slurm-env --tenant-map /etc/attest/tenants.json   # in a Slurm Prolog",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--phase", required=True, choices=["start", "end"])
    s.add_argument("--job-id", help="the job id (with --slurm-env: SLURM_JOB_ID)")
    who = s.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", metavar="FILE", help="tenant JSON (legal_name, headquarters_country, ...)")
    who.add_argument(
        "--tenant-map", metavar="FILE", help="JSON object: account -> tenant (with --account or --slurm-env)"
    )
    s.add_argument(
        "--account", metavar="NAME", help="key into --tenant-map (with --slurm-env: SLURM_JOB_ACCOUNT)"
    )
    s.add_argument(
        "--gpus", default="", metavar="LIST", help="GPU indices or UUIDs, comma-separated (default: all)"
    )
    s.add_argument(
        "--slurm-env",
        action="store_true",
        help="take job id, account and physical GPU indices from a Slurm prolog/epilog environment "
        "(SLURM_JOB_ID, SLURM_JOB_ACCOUNT, SLURM_JOB_GPUS or CUDA_VISIBLE_DEVICES); a job with no GPU "
        "allocated gets no manifest (it uses none)",
    )
    s.add_argument("--scheduler", default="slurm")
    s.add_argument("-o", "--output", metavar="FILE", help="also write the envelope here")
    client_args(s)
    s.set_defaults(func=run_sign_job)
    for name, text in (
        ("status", "the daemon's state: chain head, GPUs, last heartbeat"),
        ("inventory", "the GPU inventory the daemon signs with"),
        ("heartbeat", "sign a heartbeat now"),
    ):
        q = verbs.add_parser(
            name, help=text, epilog=f"example:\n  attest daemon {name}", formatter_class=HelpFormatter
        )
        client_args(q)
        q.set_defaults(func=run_simple, op=name)
    last = verbs.add_parser(
        "last",
        help="the newest manifests",
        epilog="example:\n  attest daemon last -n 5",
        formatter_class=HelpFormatter,
    )
    last.add_argument("-n", type=int, default=1)
    client_args(last)
    last.set_defaults(func=run_last)


def _client(args: argparse.Namespace) -> Client:
    path = args.socket
    if path is None and args.client_config:
        from attest.daemon.config import load_config  # pydantic: only when a config is read

        path = load_config(Path(args.client_config)).socket
    return Client(path or DEFAULT_SOCKET, timeout_s=args.timeout)


def run_daemon_verb(args: argparse.Namespace) -> int:
    """``attest daemon --config FILE``: serve until SIGTERM."""
    if not args.config:
        raise InputError("attest daemon needs --config FILE (or a sub-verb: sign-job, status, ...)")
    from attest.daemon.config import load_config
    from attest.daemon.server import run_daemon, setup_logging

    config = load_config(Path(args.config))
    setup_logging(args.log_level)
    run_daemon(config)
    return 0


def run_sign_job(args: argparse.Namespace) -> int:
    """Sign a job manifest through the daemon."""
    if args.output:
        check_output(args.output)  # before the daemon signs (and chains) a manifest that could not be kept
    job_id, account = args.job_id, args.account
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()]
    if args.slurm_env:
        env = os.environ
        job_id = job_id or env.get("SLURM_JOB_ID")
        account = account or env.get("SLURM_JOB_ACCOUNT")
        gpus = gpus or gpu_indices(env.get("SLURM_JOB_GPUS"), env.get("CUDA_VISIBLE_DEVICES"))
        if not gpus:
            # A job without GPUs (no --gres) uses none of them: attributing every GPU of the
            # node to its tenant would be false. A manifest names at least one GPU, so none is signed.
            message = (
                f"job {job_id or '?'} has no GPU allocated on this node: no manifest (nothing to attribute)"
            )
            print(json.dumps({"skipped": message}) if args.format == "json" else message)
            return 0
    if not job_id:
        raise InputError("no job id: give --job-id (or --slurm-env with SLURM_JOB_ID set)")
    if args.tenant:
        tenant = strict_loads(read_input(args.tenant, what="tenant file"), what=f"tenant file {args.tenant}")
    else:
        table = strict_loads(
            read_input(args.tenant_map, what="tenant map"), what=f"tenant map {args.tenant_map}"
        )
        if not account:
            raise InputError("--tenant-map needs --account (or --slurm-env with SLURM_JOB_ACCOUNT set)")
        if not isinstance(table, dict) or account not in table:
            raise InputError(f"tenant map {args.tenant_map} has no tenant for account {account!r}")
        tenant = table[account]
    if not isinstance(tenant, dict):
        raise InputError("the tenant must be a JSON object")
    with _client(args) as client:
        reply = client.sign_job(args.phase, job_id, tenant, gpus=gpus, scheduler=args.scheduler)
    if args.output:
        write_output(reply["envelope"].encode("utf-8"), args.output)
    if args.format == "json":
        print(json.dumps({k: v for k, v in reply.items() if k != "ok"}))
    else:
        print(f"signed {reply['phase']} manifest #{reply['sequence']} for job {job_id}: {reply['path']}")
    return 0


def run_simple(args: argparse.Namespace) -> int:
    """Status / inventory / heartbeat."""
    with _client(args) as client:
        reply = client.request({"op": args.op})
    reply.pop("ok", None)
    if args.op == "inventory":
        print(json.dumps(reply["inventory"], indent=None if args.format == "json" else 2))
    elif args.format == "json":
        print(json.dumps(reply))
    else:
        for k, v in reply.items():
            print(f"{k}: {v}" if k != "envelope" else f"{k}: ({len(v)} bytes)")
    return 0


def run_last(args: argparse.Namespace) -> int:
    """The newest manifests."""
    if not 1 <= args.n <= 1000:
        raise InputError("-n must be from 1 to 1000")
    with _client(args) as client:
        rows = client.last(args.n)
    if args.format == "json":
        print(json.dumps(rows))
    else:
        for r in rows:
            print(
                f"#{r['sequence']} {r['phase']:<9} job {r['job_id']} at {r['issued_at']} {r['digest'][:23]}…"
            )
    if not rows:
        stderr("no manifest signed yet")
    return 0
