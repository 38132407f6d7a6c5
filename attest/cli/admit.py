"""``attest admit``: may this job run on these nodes? For PrologSlurmctld, SkyPilot and scripts."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_format,
    add_policy_arg,
    parse_when,
    policy_from_args,
    read_input,
    read_model,
)
from attest.crypto.canonical import strict_loads
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, admit
from attest.scheduler.evidence import load_evidence, read_envelopes
from attest.scheduler.slurm import expand_hostlist

EXIT_ALLOWED, EXIT_REFUSED = 0, 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "admit",
        help="decide whether a job may run on candidate nodes, from their verified evidence and policy",
        description="Verifies the nodes' signed manifests (newest per node), then judges each candidate: no "
        "evidence, stale evidence, evidence that failed verification, too few GPUs of the type asked, or the "
        "export-control policy refusing this tenant there. Allowed if at least one node qualifies, or with "
        "--allocated (the job runs on all its nodes) if every one does.",
        epilog="exit codes: 0 allowed on at least one node, 3 refused, 2 usage or unreadable input.\n\n"
        "examples:\n"
        "  attest admit --tenant tenant.json --evidence spool/ --trust trust.json --nodes 'gpu-[01-04]' --gpus 8\n"
        '  attest admit --tenant-map accounts.json --account acme --nodes "$SLURM_JOB_NODELIST" --allocated '
        "--evidence spool/ --trust trust.json\n"
        "  attest admit --tenant-map accounts.json --account acme --evidence spool/ --trust trust.json --format json",
        formatter_class=HelpFormatter,
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", metavar="FILE", help="tenant JSON (legal_name, headquarters_country, ...)")
    who.add_argument("--tenant-map", metavar="FILE", help="JSON object: account or namespace -> tenant")
    p.add_argument(
        "--account", metavar="NAME", help="the key to look up in --tenant-map (e.g. SLURM_JOB_ACCOUNT)"
    )
    p.add_argument("--evidence", required=True, metavar="DIR", help="signed envelopes of the nodes (a spool)")
    p.add_argument("--trust", required=True, metavar="TRUST")
    p.add_argument(
        "--nodes",
        default="",
        metavar="HOSTLIST",
        help="candidate nodes, Slurm host-list syntax (default: all)",
    )
    p.add_argument(
        "--allocated",
        action="store_true",
        help="the nodes are the job's allocation and it runs on all of them (Slurm's "
        "SLURM_JOB_NODELIST): allowed only if every one qualifies; needs --nodes. Without it the "
        "nodes are candidates, and one qualifying node allows the job",
    )
    p.add_argument(
        "--gpus", type=int, default=1, metavar="N", help="GPUs the job needs per node (default: 1)"
    )
    p.add_argument("--gpu-type", metavar="NAME", help="GPU model the job needs (H100, B200, ...)")
    p.add_argument("--training-ops", type=float, metavar="OPS", help="declared training compute")
    p.add_argument("--job-id", default="pending")
    add_policy_arg(p)
    p.add_argument(
        "--max-age", type=int, default=900, metavar="SECONDS", help="evidence older than this is stale"
    )
    p.add_argument("--now", metavar="TIME")
    add_format(p)
    p.set_defaults(func=run_admit)


def run_admit(args: argparse.Namespace) -> int:
    """Decide and print; exit 0 allowed, 3 refused."""
    if args.tenant:
        tenant = read_model(args.tenant, Tenant, what="tenant")
    else:
        if not args.account:
            raise InputError("--tenant-map needs --account")
        table = strict_loads(
            read_input(args.tenant_map, what="tenant map"), what=f"tenant map {args.tenant_map}"
        )
        if not isinstance(table, dict):
            raise InputError(f"tenant map {args.tenant_map} must be a JSON object")
        if args.account not in table:
            print(json.dumps({"allowed": False, "message": f"no tenant record for account {args.account!r}"}))
            return EXIT_REFUSED
        tenant = Tenant.from_obj(table[args.account], what=f"tenant {args.account!r} in {args.tenant_map}")
    if args.gpus < 0 or args.max_age <= 0:
        raise InputError("--gpus must not be negative and --max-age must be positive")
    nodes = expand_hostlist(args.nodes)
    if args.allocated and not nodes:
        raise InputError(
            "--allocated needs the job's nodes (--nodes)",
            hint='in a Slurm PrologSlurmctld: --nodes "$SLURM_JOB_NODELIST"',
        )
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    policy = policy_from_args(args)
    evidence = load_evidence(
        read_envelopes(Path(args.evidence)),
        TrustStore.load(Path(args.trust)),
        now=now,
        hosts=nodes or None,  # only these nodes' evidence is verified
    )
    decision = admit(
        JobRequest(
            tenant=tenant,
            gpu_count=args.gpus,
            gpu_type=args.gpu_type,
            nodes=nodes,
            declared_training_ops=args.training_ops,
            job_id=args.job_id,
            every_node=args.allocated,
        ),
        evidence,
        policy=policy,
        now=now,
        max_age=timedelta(seconds=args.max_age),
    )
    if args.format == "json":
        print(
            json.dumps(
                {
                    "allowed": decision.allowed,
                    "every_node": decision.every_node,
                    "allowed_nodes": decision.allowed_nodes,
                    "message": decision.message(),
                    "nodes": [
                        {
                            "node": v.node,
                            "allowed": v.allowed,
                            "reason": v.reason,
                            "message": v.message,
                            "warnings": v.warnings,
                            "site_country": v.site_country,
                            "location_grade": v.location_grade,
                        }
                        for v in decision.verdicts
                    ],
                }
            )
        )
    else:
        print(("ALLOWED: " if decision.allowed else "REFUSED: ") + decision.message())
        for v in decision.verdicts:
            print(f"  {v.node}: {'ok' if v.allowed else v.reason} - {v.message}")
    return EXIT_ALLOWED if decision.allowed else EXIT_REFUSED
