"""``attest quarantine list|clear``: nodes whose evidence contradicted itself, and auditors' decisions.

Admission (``attest admit``, ``attest webhook serve``, the collector's evidence directory)
appends a contradiction (an impossible location, a chain fork, GPUs that are not the declared
ones) to the quarantine record and refuses the node from then on, however clean its newest
manifest. Only an auditor's ``clear``, with a name and a reason, admits it again; both stay in
the record (:mod:`attest.scheduler.quarantine`).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from attest.cli.common import HelpFormatter, add_format
from attest.errors import InputError
from attest.scheduler.quarantine import FILE_NAME, QuarantineRecord


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "quarantine",
        help="list quarantined nodes, or clear one after an audit",
        description=__doc__,
        epilog="examples:\n  attest quarantine list --evidence /var/lib/attest/evidence\n"
        "  attest quarantine clear gpu-a17 --evidence /var/lib/attest/evidence --by 'A. Auditor' "
        "--reason 'landmark lm-3 misconfigured; receipts re-measured 2026-12-05'",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="quarantine_verb", required=True, metavar="{list,clear}")

    def where(q: argparse.ArgumentParser) -> None:
        g = q.add_mutually_exclusive_group(required=True)
        g.add_argument("--evidence", metavar="DIR", help=f"the evidence directory (its {FILE_NAME})")
        g.add_argument("--record", metavar="FILE", help="the quarantine record itself")
        add_format(q)

    li = verbs.add_parser(
        "list",
        help="quarantined nodes and why (--all: the whole audit trail)",
        epilog="exit codes: 0 none quarantined, 3 some node is, 2 unreadable record.\n\n"
        "example:\n  attest quarantine list --evidence /var/lib/attest/evidence --format json",
        formatter_class=HelpFormatter,
    )
    where(li)
    li.add_argument(
        "--all", action="store_true", help="print every event of the record, cleared ones included"
    )
    li.set_defaults(func=run_list)

    c = verbs.add_parser(
        "clear",
        help="admit a quarantined node again (recorded with who and why)",
        epilog="exit codes: 0 cleared, 2 not in quarantine or unwritable record.\n\n"
        "example:\n  attest quarantine clear gpu-a17 --evidence /var/lib/attest/evidence --by 'A. Auditor' "
        "--reason 'site re-surveyed'",
        formatter_class=HelpFormatter,
    )
    c.add_argument("host", metavar="HOST")
    where(c)
    c.add_argument("--by", required=True, metavar="NAME", help="who decides (kept in the record)")
    c.add_argument("--reason", required=True, metavar="TEXT", help="why the node may run jobs again")
    c.set_defaults(func=run_clear)


def _record(args: argparse.Namespace) -> QuarantineRecord:
    if args.record:
        return QuarantineRecord(Path(args.record))
    directory = Path(args.evidence)
    if not directory.is_dir():
        raise InputError(f"evidence directory {directory} does not exist")
    return QuarantineRecord(directory / FILE_NAME)


def run_list(args: argparse.Namespace) -> int:
    """Print quarantined hosts (or the whole trail); exit 3 when any host is quarantined."""
    record = _record(args)
    events = record.events()
    open_ = record.quarantined()
    if args.format == "json":
        print(
            json.dumps({"quarantined": open_, **({"events": events} if args.all else {})}, ensure_ascii=False)
        )
    else:
        shown = events if args.all else [e for es in open_.values() for e in es]
        for e in shown:
            if e["event"] == "quarantined":
                print(
                    f"{e['at']}  QUARANTINED {e['host']}  key {e['key_id'][:16]}… seq {e['sequence']}  {e['rule']}: {e.get('message', '')}"
                )
            else:
                print(f"{e['at']}  CLEARED {e['host']}  by {e.get('by')}: {e.get('reason')}")
        if not open_:
            print("no node is quarantined")
    return 3 if open_ else 0


def run_clear(args: argparse.Namespace) -> int:
    """Record the auditor's decision."""
    event = QuarantineRecord.clear(
        _record(args), args.host, by=args.by, reason=args.reason, at=datetime.now(UTC)
    )
    if args.format == "json":
        print(json.dumps(event, ensure_ascii=False))
    else:
        print(
            f"cleared {args.host} ({', '.join(event['rules'])}) by {args.by}; recorded in the quarantine record"
        )
    return 0
