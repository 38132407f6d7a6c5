"""``attest policy show|check``: read and validate export-control policies."""

from __future__ import annotations

import argparse
import json

from attest.cli.common import HelpFormatter, add_format
from attest.policy import BUNDLED, Policy, load_policy


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "policy",
        help="show or check export-control policies",
        description=f"Show or check export-control policies. Bundled: {', '.join(BUNDLED)} (default us-ear).",
        epilog="examples:\n  attest policy show us-ear\n  attest policy check my-policy.toml",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="policy_verb", required=True, metavar="{show,check}")
    sh = verbs.add_parser(
        "show",
        help="a policy with what it extends: sources, groups, licences, rules",
        epilog="example:\n  attest policy show us-ear --format json",
        formatter_class=HelpFormatter,
    )
    sh.add_argument("policy", nargs="?", default="us-ear", metavar="NAME|FILE")
    add_format(sh)
    sh.set_defaults(func=run_show)
    ck = verbs.add_parser(
        "check",
        help="validate a policy file (exit 0 valid, 2 with the line or field at fault)",
        epilog="example:\n  attest policy check my-policy.toml",
        formatter_class=HelpFormatter,
    )
    ck.add_argument("policy", metavar="NAME|FILE")
    ck.set_defaults(func=run_check)


def describe(policy: Policy) -> str:
    """A readable summary."""
    doc = policy.main
    lines = [
        f"{doc.id} {doc.version}: {doc.title}",
        f"  effective {doc.effective}; status {doc.status}"
        + (f" (rescinded {doc.rescinded})" if doc.rescinded else ""),
    ]
    if len(policy.documents) > 1:
        lines.append("  extends " + ", ".join(d.id for d in policy.documents[:-1]))
    for src in (s for d in policy.documents for s in d.sources):
        lines.append(f"  source: {src.title}" + (f" ({src.date})" if src.date else ""))
    for name, group in policy.groups.items():
        note = "" if group.confirmed else "  [unconfirmed]"
        lines.append(f"  group {name}: {' '.join(group.members)}{note}")
    for lic in policy.licenses:
        lines.append(
            f"  {lic.kind} {lic.id} ({lic.issuer}) for {lic.holder}: {', '.join(lic.destinations)} until {lic.valid_until or '-'}"
        )
    for rule in policy.rules:
        lines.append(f"  rule {rule.id} [{rule.kind}, {rule.severity}]: {rule.reference or ''}")
    lines.append(f"  {doc.disclaimer}")
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    """Print the policy."""
    policy = load_policy(args.policy)
    if args.format == "json":
        print(
            json.dumps(
                {"documents": [d.to_obj() for d in policy.documents], "rules": [r.id for r in policy.rules]},
                default=str,
            )
        )
    else:
        print(describe(policy))
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Validate and say so."""
    policy = load_policy(args.policy)
    print(
        f"ok: {policy.id} {policy.main.version}, {len(policy.rules)} rules, {len(policy.groups)} groups, {len(policy.licenses)} licences"
    )
    return 0
