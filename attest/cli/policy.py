"""``attest policy show|check``: read and validate export-control policies."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.cli.common import HelpFormatter, add_format, parse_when, printable, read_input
from attest.crypto.dsse import parse_envelope
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.result import Status
from attest.model.statement import Statement
from attest.policy import BUNDLED, Policy, load_policy
from attest.policy.engine import Override
from attest.verify import verify_envelope


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "policy",
        help="show or check export-control policies",
        description=f"Show or check export-control policies. Bundled: {', '.join(BUNDLED)} (default us-ear).",
        epilog="examples:\n  attest policy show us-ear\n  attest policy check my-policy.toml",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="policy_verb", required=True, metavar="{show,check,explain}")
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
    add_format(ck)
    ck.set_defaults(func=run_check)
    ex = verbs.add_parser(
        "explain",
        help="why a manifest passes or fails a policy, rule by rule",
        epilog="example:\n  attest policy explain m.envelope.json --trust trust.json --policy us-ear",
        formatter_class=HelpFormatter,
    )
    ex.add_argument("envelope", metavar="ENVELOPE")
    ex.add_argument("--trust", required=True, metavar="TRUST")
    ex.add_argument("--policy", default="us-ear", metavar="NAME|FILE")
    ex.add_argument("--now", metavar="TIME", help="judge as of this time (default: now)")
    add_format(ex)
    ex.set_defaults(func=run_explain)


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
    for override in policy.overrides:
        lines.append(f"  OVERRIDE: {override.describe()}")
    for src in (s for d in policy.documents for s in d.sources):
        lines.append(f"  source: {src.title}" + (f" ({src.date})" if src.date else ""))
    for name, group in policy.groups.items():
        note = "" if group.confirmed else "  [unconfirmed]"
        lines.append(f"  group {name}: {' '.join(group.members)}{note}")
    for lic in policy.licenses:
        lines.append(
            f"  {lic.kind} {lic.id} ({lic.issuer}) for {lic.holder}"
            f"{' and its subsidiaries' if lic.covers_subsidiaries else ''}: {', '.join(lic.destinations)}; "
            f"items {', '.join(lic.items) or '-'}; chips {', '.join(lic.chips) or '-'}; until {lic.valid_until or '-'}"
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
                {
                    "documents": [d.to_obj() for d in policy.documents],
                    "rules": [r.id for r in policy.rules],
                    "overrides": [_override_obj(o) for o in policy.overrides],
                },
                default=str,
            )
        )
    else:
        print(describe(policy))
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Validate and say so."""
    policy = load_policy(args.policy)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "ok": True,
                    "id": policy.id,
                    "version": policy.main.version,
                    "rules": len(policy.rules),
                    "groups": len(policy.groups),
                    "licences": len(policy.licenses),
                    "overrides": [_override_obj(o) for o in policy.overrides],
                }
            )
        )
        return 0
    print(
        f"ok: {policy.id} {policy.main.version}, {len(policy.rules)} rules, {len(policy.groups)} groups, {len(policy.licenses)} licences"
    )
    for override in policy.overrides:
        print(f"  OVERRIDE: {override.describe()}")
    return 0


def _override_obj(override: Override) -> dict[str, Any]:
    return {
        "what": override.what,
        "document": override.document,
        "base": override.base,
        "change": override.change,
        "reason": override.reason,
        "countries": sorted(override.codes),
        "grades": sorted(override.grades),
    }


def run_explain(args: argparse.Namespace) -> int:
    """Verify one envelope under a policy and lay out the facts and every rule's outcome."""
    policy = load_policy(args.policy)
    raw = read_input(args.envelope, what="envelope")
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    result = verify_envelope(
        raw, TrustStore.load(Path(args.trust)), now=now, policy=policy, source=args.envelope
    )
    try:
        _, payload = parse_envelope(raw, require_canonical=False)
        manifest = Statement.from_json(payload).predicate
    except InputError:
        manifest = None
    if args.format == "json":
        obj: dict[str, Any] = {
            "envelope": args.envelope,
            "policy": {"id": policy.id, "version": policy.main.version, "anchor": _policy_name(policy)},
        }
        obj.update(result.to_obj())
        if manifest is not None:
            at, names = manifest.freshness.issued_at.date(), list(policy.groups)

            def groups(country: str) -> list[str]:
                return list(policy.groups_of(country, names, at))

            t = manifest.tenant
            obj["facts"] = {
                "site": {
                    "facility_id": manifest.site.facility_id,
                    "country": manifest.site.country,
                    "groups": groups(manifest.site.country),
                },
                "tenant": {
                    "legal_name": t.legal_name,
                    "country": t.headquarters_country,
                    "groups": groups(t.headquarters_country),
                },
                "parent": {
                    "legal_name": t.ultimate_parent.legal_name,
                    "country": t.ultimate_parent.headquarters_country,
                    "groups": groups(t.ultimate_parent.headquarters_country),
                }
                if t.ultimate_parent
                else None,
                "licenses": [r.id for r in manifest.licenses],
            }
        print(json.dumps(obj, ensure_ascii=False, default=str))
        return Status(result.status).exit_code
    # Names come from the manifest, that is from the party being judged: escaped, so none forges a line.
    print(f"{printable(args.envelope)}: {result.status.value.upper()} under {_policy_name(policy)}")
    if manifest is not None:
        at = manifest.freshness.issued_at.date()
        names = list(policy.groups)
        site = manifest.site.country
        print(
            f"  site {printable(manifest.site.facility_id)} in {site}: groups {', '.join(policy.groups_of(site, names, at)) or 'none'}"
        )
        t = manifest.tenant
        print(
            f"  tenant {printable(t.legal_name)} ({t.headquarters_country}: {', '.join(policy.groups_of(t.headquarters_country, names, at)) or 'no group'})"
        )
        if t.ultimate_parent:
            p = t.ultimate_parent
            print(
                f"  parent {printable(p.legal_name)} ({p.headquarters_country}: {', '.join(policy.groups_of(p.headquarters_country, names, at)) or 'no group'})"
            )
        print(
            f"  location grade {result.location_grade}; licences: "
            + printable(", ".join(r.id for r in manifest.licenses) or "none")
        )
    for f in result.findings:
        if f.rule.startswith(("policy.", "classification.")):
            mark = (
                "passed"
                if f.severity.value == "info" and f.message.startswith("passed")
                else f.severity.value
            )
            print(f"  [{mark}] {f.rule}: {printable(f.message.removeprefix('passed: '))}")
            if f.remedy and f.severity.value != "info":
                print(f"      to pass: {printable(f.remedy)}")
    others = [
        f
        for f in result.findings
        if not f.rule.startswith(("policy.", "classification.")) and f.severity.value != "info"
    ]
    for f in others:
        print(f"  [{f.severity.value}] {f.rule}: {printable(f.message)}")
    return Status(result.status).exit_code


def _policy_name(policy: Any) -> str:
    """``id version``, with ``custom:`` first unless it is the bundled policy's content (a file's id is its own word)."""
    from attest.anchors import policy_anchor

    return policy_anchor(policy)[0].replace("@", " ", 1)
