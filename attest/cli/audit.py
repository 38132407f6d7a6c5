"""``attest audit``: verify a fleet's envelopes in parallel and report what no single manifest shows."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.anchors import describe_anchors
from attest.cli.common import (
    HelpFormatter,
    add_as_of_arg,
    add_evidence_args,
    add_format,
    add_policy_arg,
    check_output,
    duration_option,
    evidence_options,
    finite_float,
    parse_when,
    policy_from_args,
    printable,
    read_input,
    stderr,
    write_output,
)
from attest.cli.log import add_log_pin_args, log_pin
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.log.monitor import LogMisbehaviour
from attest.verify import VerifyOptions

if TYPE_CHECKING:
    from attest.audit import AuditReport
    from attest.audit.analytics import ManifestSummary


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "audit",
        help="verify many envelopes in parallel; fleet analytics; an HTML report",
        description="Verifies every envelope of SOURCE (a directory of envelopes, or a log/collector database) "
        "across worker processes (each takes whole nodes, so chain and replay checks are exact), then looks "
        "across manifests: one GPU at two sites faster than travel allows, one GPU on two nodes at once, GPUs "
        "that went silent, gaps and forks in a node's chain, and the chip registry against what is attested. "
        "Findings are mapped to the Chip Security Act's reportable events.",
        epilog="exit codes: 0 all clean, 1 warnings, 3 something contraindicated, 2 usage or an input that "
        "could not be read (named on stderr; the rest is audited, and 3 wins).\n\n"
        "examples:\n"
        "  attest audit spool/ --trust trust.json --jobs 4 --report audit.html\n"
        "  attest audit demo-out/ --glob '*.envelope.json' --trust demo-out/trust.json --landmarks demo-out/landmarks.json\n"
        "  attest audit --log audit.db --trust trust.json --registry chips.csv --max-silence 2h --format json",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help="directory of envelopes, or a log database (file or postgresql://...)",
    )
    p.add_argument(
        "--log",
        metavar="PATH_OR_URL",
        help="a log database, named as the log verbs name it (the same as SOURCE)",
    )
    p.add_argument(
        "--evidence-log",
        metavar="PATH_OR_URL",
        help="a log database to resolve GPU evidence that heartbeats name by digest from, when no audited "
        "envelope carries it; every entry used is verified in full (default: SOURCE itself when it is a log "
        "and the audit runs here, not on --dask)",
    )
    p.add_argument(
        "--glob",
        default="*.json",
        metavar="PATTERN",
        help="which files of a directory are envelopes (default: *.json; every match is judged, none skipped)",
    )
    p.add_argument("--trust", required=True, metavar="TRUST")
    add_policy_arg(p)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes that verify, this one included (default: 1)",
    )
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    p.add_argument("--registry", metavar="CSV", help="chip registry: serial,uuid,site")
    p.add_argument(
        "--max-silence",
        type=duration_option,
        default="1h",
        metavar="DURATION",
        help="a GPU unseen this long is silent (e.g. 90m, 2h)",
    )
    p.add_argument(
        "--max-speed", type=finite_float, default=1000.0, metavar="KMH", help="fastest credible move of a GPU"
    )
    p.add_argument(
        "--now",
        metavar="TIME",
        help="the audit's time (default: now): GPUs unseen for --max-silence before it are silent, "
        "and manifests dated after it are refused",
    )
    p.add_argument(
        "--max-log-delay",
        type=duration_option,
        default="1h",
        metavar="DURATION",
        help="a manifest a log integrated longer than this after its claimed issue time is at most "
        "warning (a backdated node clock); logs only (default 1h)",
    )
    add_log_pin_args(p)
    add_as_of_arg(p, default="issued")
    add_evidence_args(p)
    p.add_argument(
        "--details",
        action="store_true",
        help="name every failed envelope with its own message (text); include every result (JSON)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS|local:N",
        help="verify on a Dask cluster (tcp://scheduler:8786), or on a local one with N worker processes",
    )
    add_format(p)
    p.set_defaults(func=run_audit)


MAX_REGISTRY_BYTES = 256 * 1024 * 1024
"""A chip registry lists every GPU of a fleet (tens of thousands of rows): far more than an envelope's 1 MiB."""


def _registry_text(path: str) -> str:
    """The chip registry's text, whole and unaltered: bytes that are not UTF-8 are refused, not replaced."""
    raw = read_input(path, what="chip registry", max_bytes=MAX_REGISTRY_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"chip registry {path} is not UTF-8 text (byte {exc.start})") from None


def run_audit(args: argparse.Namespace) -> int:
    """Audit and report."""
    from attest.audit import audit, integration_times, log_time_findings, progress_bar, read_source
    from attest.audit.analytics import load_registry

    now = parse_when(args.now) if args.now else datetime.now(UTC)
    if (args.source is None) == (args.log is None):
        raise InputError(
            "give what to audit once: SOURCE (a directory or a log) or --log PATH_OR_URL",
            hint="attest audit spool/ --trust trust.json",
        )
    args.source = args.source or args.log
    if args.report:
        check_output(args.report)  # before the audit, not after it
    trust = TrustStore.load(Path(args.trust))
    options = evidence_options(args)  # configuration errors are said before any envelope is read
    log_key, witnesses, cosignatures = log_pin(args)
    try:  # before the envelopes are verified: a log signed by another key is not audited
        log_times = log_time_findings(
            args.source, log_key=log_key, witnesses=witnesses, cosignatures=cosignatures
        )
    except LogMisbehaviour as exc:
        stderr(exc.diagnostics())
        return 3
    registry = load_registry(_registry_text(args.registry)) if args.registry else []
    unreadable: list[tuple[str, str]] = []
    items = read_source(args.source, pattern=args.glob, unreadable=unreadable)
    for name, reason in unreadable:  # named, and the rest is audited: exit 2 unless 3 wins
        stderr(f"error: cannot read {name} in {args.source}: {reason}; not audited")
    if not items:
        if unreadable:
            raise InputError(f"no readable envelope in {args.source} ({len(unreadable)} unreadable)")
        raise InputError(f"no envelope in {args.source}")
    landmarks = options.landmarks
    evidence_log = args.evidence_log
    if evidence_log is None and not args.dask and not Path(args.source).is_dir():
        evidence_log = args.source  # a log: its own entries resolve the digests its heartbeats name
    if args.evidence_log is not None:
        from attest.log import Log

        Log.open(args.evidence_log).store.close()  # an unusable log is said now, in one line (exit 2)
    client = _dask_client(args.dask) if args.dask else None
    try:
        report = audit(
            items,
            trust,
            now=now,
            policy=None if args.policy == "none" else args.policy,
            options=options,
            jobs=args.jobs,
            registry=registry,
            max_silence=args.max_silence,
            max_speed_kmh=args.max_speed,
            progress=progress_bar(),
            dask_client=client,
            integrated=integration_times(args.source),
            max_log_delay=args.max_log_delay,
            log_times=log_times,
            evidence_log=evidence_log,
        )
    finally:
        if client is not None:
            cluster = client.cluster  # ours for local:N (None for a scheduler's address)
            client.close()
            if cluster is not None:
                # Workers first, then the scheduler: left to the interpreter's exit, the scheduler
                # could go first and a worker's heartbeat logged a traceback (seen under load).
                cluster.close()
    if args.report:
        from attest.audit.report import render_html

        policy = policy_from_args(args)
        maps = _maps(items, report, trust, policy, options, now) if landmarks else []
        write_output(render_html(report, maps=maps).encode(), args.report)
        stderr(f"report written to {args.report}")
    if args.format == "json":
        obj = report.to_obj(details=args.details)
        obj["unreadable"] = [{"source": name, "reason": reason} for name, reason in unreadable]
        print(json.dumps(obj))
    else:
        if unreadable:  # failures first: what was not audited at all leads
            print(f"UNREADABLE: {len(unreadable)} input(s), not audited")
            for name, reason in unreadable:
                print(f"  {printable(name)}: {reason}")
        _print_text(report, details=args.details)
    if report.status.value == "contraindicated":
        return 3
    if unreadable:  # an input that could not be read: 2 (only 3 wins over it)
        stderr(f"error: {len(unreadable)} input(s) could not be read and were not audited")
        return 2
    return 1 if report.status.value == "warning" else 0


def _print_text(report: AuditReport, *, details: bool) -> None:
    """The text report: what failed first, grouped by cause with counts; then the totals.

    Each group names up to 10 envelopes (or fleet subjects); ``details`` names them all, each
    with its own message.
    """
    obj = report.to_obj()
    shown = 10_000_000 if details else 10
    groups = report.failures()
    for status in ("contraindicated", "none", "warning"):
        mine = [g for g in groups if g.status == status]
        if not mine:
            continue
        bad = sum(1 for r in report.results if r.status.value == status)
        fleet = sum(g.count for g in mine if g.fleet)
        counted = [f"{bad} of {len(report.results)} envelopes"] if bad else []
        counted += [f"{fleet} fleet finding(s)"] if fleet else []
        print(f"{status.upper()}: {' and '.join(counted)}")
        for g in mine:
            what = "fleet finding" if g.fleet else "envelope"
            print(f"  {g.rule} — {g.count} {what}{'s' if g.count != 1 else ''}: {printable(g.message)}")
            nodes = g.by_node()
            if g.count > 1 and len(nodes) > 1:
                print(f"      on {len(nodes)} nodes: " + printable(", ".join(f"{n} ({k})" for n, k in nodes)))
            for item, message in list(zip(g.items, g.messages, strict=True))[:shown]:
                print(
                    f"      {printable(item)}"
                    + (f": {printable(message)}" if details and message != g.message else "")
                )
            if g.count > shown:
                print(f"      … and {g.count - shown} more (--details lists them all)")
    print(
        f"{obj['envelopes']} envelopes: "
        + ", ".join(f"{n} {s}" for s, n in obj["by_status"].items())
        + f" -> {obj['status'].upper()}"
    )
    for event, items_ in obj["csa_events"].items():
        print(f"  CSA event '{event}': {len(items_)} indication(s)")
    for anchors in report.anchors():
        print(printable(describe_anchors(anchors)))


def _maps(
    items: list[tuple[str, bytes]],
    report: AuditReport,
    trust: TrustStore,
    policy: Any,
    options: VerifyOptions,
    now: datetime,
) -> list[tuple[str, str]]:
    """The location proof of each node's newest manifest that carries receipts (up to 12)."""
    from attest.location.svgmap import render_report
    from attest.verify import location_report, verify_and_open

    newest: dict[str, ManifestSummary] = {}
    for s in report.summaries:
        if s.receipts and (s.key_id not in newest or s.sequence > newest[s.key_id].sequence):
            newest[s.key_id] = s
    raw_by_name = dict(items)
    out = []
    for s in list(newest.values())[:12]:
        _, m = verify_and_open(raw_by_name[s.name], trust, now=now, options=options)
        if m is None or options.landmarks is None:
            continue
        rep = location_report(m, options.landmarks, policy, now=now)
        verdict = "excluded" if rep.excluded else "not provable"
        out.append(
            (
                f"{s.name}: {m.node.hostname} at {m.site.name} — {verdict}",
                render_report(rep, f"{m.node.hostname} at {m.site.name}"),
            )
        )
    return out


def _dask_client(spec: str) -> Any:
    """A ``distributed.Client`` for ``tcp://...`` or ``local:N``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask needs Dask", hint="pip install 'compute-attest[distributed]'") from None
    if spec.startswith("local:"):
        n = spec.split(":", 1)[1]
        if not n.isdigit() or not 1 <= int(n) <= 256:
            raise InputError("--dask local:N needs a worker count from 1 to 256")
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=int(n),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # a throwaway cluster: its failures reach the audit as exceptions; its workers' own
            # log lines (connection noise while it shuts down) are not for the user
            silence_logs=logging.CRITICAL,
        )
        return Client(cluster)  # type: ignore[no-untyped-call]
    try:
        return Client(spec, timeout=30)  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
