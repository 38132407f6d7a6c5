"""``attest admit``: may this job run on these nodes? For PrologSlurmctld, SkyPilot and scripts.

Also the admission setup every relying party on the command line shares (``attest admit``,
``attest webhook serve``): the same evidence options as ``attest verify`` (``--cc-root``,
``--landmarks``), the policy and its minimum evidence grade, the host pins and the
quarantine record kept beside a collector's evidence directory.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attest.cli.common import (
    HelpFormatter,
    add_evidence_args,
    add_format,
    add_policy_arg,
    evidence_options,
    finite_float,
    int_between,
    parse_when,
    policy_from_args,
    printable,
    read_input,
    read_model,
)
from attest.crypto.canonical import strict_loads
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.scheduler.evidence import HostPins, by_node_name, load_evidence, read_envelopes, unmade_checks
from attest.scheduler.quarantine import FILE_NAME as QUARANTINE_FILE
from attest.scheduler.quarantine import QuarantineRecord
from attest.scheduler.slurm import expand_hostlist
from attest.verify import PolicyEvaluator, VerifyOptions

EXIT_ALLOWED, EXIT_REFUSED = 0, 3


def add_admission_args(p: argparse.ArgumentParser, *, tenant_map_help: str | None = None) -> None:
    """The options every admitting verb shares: evidence, trust, policy, freshness, records."""
    if tenant_map_help:
        p.add_argument("--tenant-map", "--tenants", required=True, metavar="FILE", help=tenant_map_help)
    p.add_argument(
        "--evidence",
        required=True,
        metavar="DIR",
        help="signed envelopes of the nodes: the collector's --evidence-dir (one per node key), or a spool",
    )
    p.add_argument("--trust", required=True, metavar="TRUST")
    add_policy_arg(p)
    add_evidence_args(p)
    p.add_argument(
        "--max-age",
        type=int_between(1, 366 * 86_400, "seconds"),
        default=900,
        metavar="SECONDS",
        help="evidence older than this is stale (default 900)",
    )
    p.add_argument(
        "--quarantine",
        metavar="FILE",
        help="the quarantine record (default: DIR/quarantine.jsonl of --evidence); nodes whose evidence "
        "contradicted itself stay refused until an auditor clears them (attest quarantine clear)",
    )
    p.add_argument(
        "--pins",
        metavar="FILE",
        help="the first key seen for each host and host for each key (default: DIR/pins.jsonl of --evidence, "
        "which the collector keeps); a trust entry's --host overrides them",
    )


MAX_TENANT_MAP_BYTES = 64 * 1024 * 1024
"""A tenant map names a tenant per account or namespace: thousands of them can pass an envelope's 1 MiB."""


def _read_tenant_map(path: str) -> dict[str, Any]:
    table = strict_loads(
        read_input(path, what="tenant map", max_bytes=MAX_TENANT_MAP_BYTES),
        what=f"tenant map {path}",
        max_bytes=MAX_TENANT_MAP_BYTES,
    )
    if not isinstance(table, dict):
        raise InputError(f"tenant map {path} must be a JSON object (account or namespace -> tenant)")
    return table


@dataclass
class AdmissionSetup:
    """Trust, policy, evidence options and records, read once from the command line."""

    directory: Path
    trust: TrustStore
    policy: PolicyEvaluator | None
    options: VerifyOptions
    max_age: timedelta
    quarantine: QuarantineRecord
    pins_path: Path
    tenants: dict[str, Tenant]

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, tenant_map_required: bool = False) -> AdmissionSetup:
        """Read everything :func:`add_admission_args` named (clear errors, exit 2, when unreadable)."""
        if args.max_age <= 0:
            raise InputError("--max-age must be positive")
        directory = Path(args.evidence)
        if not directory.is_dir():
            raise InputError(f"evidence directory {directory} does not exist")
        tenants: dict[str, Tenant] = {}
        if tenant_map_required:
            table = _read_tenant_map(args.tenant_map)
            tenants = {
                k: Tenant.from_obj(v, what=f"tenant of {k!r} in {args.tenant_map}") for k, v in table.items()
            }
        setup = cls(
            directory=directory,
            trust=TrustStore.load(Path(args.trust)),
            policy=policy_from_args(args),
            options=evidence_options(args),
            max_age=timedelta(seconds=args.max_age),
            quarantine=QuarantineRecord(
                Path(args.quarantine) if args.quarantine else directory / QUARANTINE_FILE
            ),
            pins_path=Path(args.pins) if args.pins else directory / HostPins.FILE_NAME,
            tenants=tenants,
        )
        setup.quarantine.events()  # unreadable: say so now
        return setup

    def evidence(self, *, now: datetime, hosts: list[str] | None = None) -> dict[str, NodeEvidence]:
        """The newest verified evidence per host, judged with every option (see :func:`load_evidence`).

        Raises:
            InputError: the collector that keeps the directory did not make this admission's
                evidence checks (:func:`attest.scheduler.evidence.unmade_checks`).
        """
        problem = unmade_checks(self.directory, self.options)
        if problem:
            raise InputError(problem, hint="e.g. attest collector serve ... --landmarks FILE --cc-root PEM")
        return load_evidence(
            read_envelopes(self.directory),
            self.trust,
            now=now,
            options=self.options,
            hosts=hosts,
            pins=HostPins(self.pins_path),
            quarantine=self.quarantine,
        )

    def evidence_stamp(self) -> tuple[float, int]:
        """Changes when any file under the evidence directory, or the records, changed."""
        files = [*self.directory.rglob("*"), self.quarantine.path, self.pins_path]
        stamps = [f.stat().st_mtime for f in files if f.is_file()]
        return (max(stamps, default=0.0), len(stamps))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "admit",
        help="decide whether a job may run on candidate nodes, from their verified evidence and policy",
        description="Verifies the nodes' signed manifests (newest per node, from the host's own key), then judges "
        "each candidate: no evidence, another key speaking for the host, quarantine after a contradiction, stale "
        "evidence, evidence that failed verification, too few GPUs of the type asked, or the export-control policy "
        "(minimum evidence grade included) refusing this tenant there. Allowed if at least one node qualifies, or "
        "with --allocated (the job runs on all its nodes) if every one does.",
        epilog="exit codes: 0 allowed on at least one node, 3 refused, 2 usage or unreadable input.\n\n"
        "examples:\n"
        "  attest admit --tenant tenant.json --evidence spool/ --trust trust.json --nodes 'gpu-[01-04]' --gpus 8\n"
        '  attest admit --tenant-map accounts.json --account acme --nodes "$SLURM_JOB_NODELIST" --allocated '
        "--evidence spool/ --trust trust.json\n"
        "  attest admit --tenant-map accounts.json --account acme --evidence /var/lib/attest/evidence "
        "--trust trust.json --landmarks landmarks.json --cc-root nvidia_root.pem --format json",
        formatter_class=HelpFormatter,
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", metavar="FILE", help="tenant JSON (legal_name, headquarters_country, ...)")
    who.add_argument("--tenant-map", metavar="FILE", help="JSON object: account or namespace -> tenant")
    p.add_argument(
        "--account", metavar="NAME", help="the key to look up in --tenant-map (e.g. SLURM_JOB_ACCOUNT)"
    )
    add_admission_args(p)
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
        "--gpus",
        type=int_between(0, 1_000_000),
        default=1,
        metavar="N",
        help="GPUs the job needs per node (default: 1)",
    )
    p.add_argument("--gpu-type", metavar="NAME", help="GPU model the job needs (H100, B200, ...)")
    p.add_argument("--training-ops", type=finite_float, metavar="OPS", help="declared training compute")
    p.add_argument("--job-id", default="pending")
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
        table = _read_tenant_map(args.tenant_map)
        if args.account not in table:
            # A refusal like any other, in the format asked for (text was once given JSON).
            message = f"no tenant record for account {args.account!r} in {args.tenant_map}"
            if args.format == "json":
                print(json.dumps({"allowed": False, "allowed_nodes": [], "message": message, "nodes": []}))
            else:
                print(f"REFUSED: {printable(message)}")
            return EXIT_REFUSED
        tenant = Tenant.from_obj(table[args.account], what=f"tenant {args.account!r} in {args.tenant_map}")
    if args.gpus < 0:
        raise InputError("--gpus must not be negative")
    nodes = expand_hostlist(args.nodes)
    if args.allocated and not nodes:
        raise InputError(
            "--allocated needs the job's nodes (--nodes)",
            hint='in a Slurm PrologSlurmctld: --nodes "$SLURM_JOB_NODELIST"',
        )
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    setup = AdmissionSetup.from_args(args)
    # Only these nodes' evidence is verified; a Slurm NodeName matches the short form of a manifest's FQDN.
    evidence = by_node_name(setup.evidence(now=now, hosts=nodes or None), nodes, setup.trust)
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
        policy=setup.policy,
        now=now,
        max_age=setup.max_age,
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
