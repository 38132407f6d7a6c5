"""``attest trust add|list|revoke``: keep the auditor's trust store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from attest.cli.common import HelpFormatter, add_format, parse_when, stderr
from attest.crypto.keys import load_verifying_key
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.base import format_timestamp
from attest.model.trust import TrustedKey


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "trust",
        help="manage the trust store (trusted signer keys and their scope)",
        description="Manage the trust store: which node keys are trusted, for which operator, "
        "sites, countries and period, and which keys are revoked.",
        epilog="examples:\n  attest trust add node.pub --trust trust.json --operator 'Example Cloud Sdn. Bhd.' "
        "--site jhb-2 --country MY --not-after 2027-12-31\n  attest trust list --trust trust.json\n"
        "  attest trust revoke 3f1c9a0b --trust trust.json",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="trust_verb", required=True, metavar="{add,list,revoke}")

    a = verbs.add_parser(
        "add",
        help="trust a public key (creates the file)",
        description="Trust a node's public key within a scope. A key already trusted keeps its scope: "
        "adding it again with another scope is refused unless --replace is given, and then the change is shown "
        "(a re-add must never widen trust without a word).",
        epilog="exit codes: 0 added (or already trusted with this scope), 2 refused or bad input.\n\n"
        "examples:\n  attest trust add node.pub --trust trust.json --site jhb-2 --country MY\n"
        "  attest trust add node.pub --trust trust.json --site jhb-2 --country MY SG --replace",
        formatter_class=HelpFormatter,
    )
    a.add_argument("pubkey", metavar="PUBKEY", help="the signer's public key (.pub, SPKI PEM)")
    a.add_argument("--trust", required=True, metavar="FILE")
    a.add_argument("--operator", metavar="NAME", help="only for manifests naming this operator")
    a.add_argument(
        "--site", action="extend", nargs="+", default=[], metavar="ID", help="allowed facility ids"
    )
    a.add_argument(
        "--country", action="extend", nargs="+", default=[], metavar="CC", help="allowed site countries"
    )
    a.add_argument(
        "--host",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="host names this node key may speak for in admission (as the scheduler names the node); "
        "also how an operator decides for a new key after a rotation",
    )
    a.add_argument("--not-before", metavar="DATE", help="trusted from (YYYY-MM-DD or RFC 3339)")
    a.add_argument(
        "--not-after", metavar="DATE", help="trusted until (a date means the end of that day, UTC)"
    )
    a.add_argument("--comment", help="free text kept with the key")
    a.add_argument(
        "--replace",
        action="store_true",
        help="replace the scope of a key that is already trusted (without it, a different scope is refused)",
    )
    a.add_argument(
        "--challenger",
        action="store_true",
        help="trust the key to issue binding challenges (attest challenge issue), not to sign manifests",
    )
    add_format(a)
    a.set_defaults(func=run_add)

    li = verbs.add_parser(
        "list",
        help="list trusted and revoked keys",
        epilog="example:\n  attest trust list --trust trust.json --format json",
        formatter_class=HelpFormatter,
    )
    li.add_argument("--trust", required=True, metavar="FILE")
    add_format(li)
    li.set_defaults(func=run_list)

    r = verbs.add_parser(
        "revoke",
        help="revoke a key id (or a unique prefix of a trusted one)",
        epilog="example:\n  attest trust revoke 3f1c9a0b --trust trust.json",
        formatter_class=HelpFormatter,
    )
    r.add_argument("key_id", metavar="KEY_ID")
    r.add_argument("--trust", required=True, metavar="FILE")
    add_format(r)
    r.set_defaults(func=run_revoke)


def _save(store: TrustStore, path: Path) -> None:
    """Write the trust store, or say why it cannot be written (exit 2)."""
    if path.is_dir():
        raise InputError(f"cannot write trust store {path}: it is a directory")
    try:
        store.save(path)
    except OSError as exc:
        raise InputError(f"cannot write trust store {path}: {exc.strerror}") from None


def run_add(args: argparse.Namespace) -> int:
    """Add (or re-scope) a key."""
    path = Path(args.trust)
    store = TrustStore.load(path) if path.exists() else TrustStore()
    key = load_verifying_key(Path(args.pubkey))
    if args.challenger:
        if args.operator or args.site or args.country or args.not_before or args.not_after:
            raise InputError(
                "a challenger key has no scope: --operator, --site, --country and dates are for node keys"
            )
        _save(store.with_challenger(key, comment=args.comment), path)
        if args.format == "json":
            print(json.dumps({"added": key.key_id, "role": "challenger", "trust": str(path)}))
        else:
            print(f"trusted {key.key_id} ({key.algorithm.value}) as a binding challenger in {path}")
        return 0
    old = store.get(key.key_id)
    store = store.with_key(
        key,
        operator=args.operator,
        sites=args.site,
        countries=[c.upper() for c in args.country],
        hosts=args.host,
        not_before=parse_when(args.not_before) if args.not_before else None,
        not_after=parse_when(args.not_after, end_of_day=True) if args.not_after else None,
        comment=args.comment,
        replace=True,  # the change is compared and refused below, naming each field as trust list shows it
    )
    new = store.get(key.key_id)
    assert new is not None  # with_key just added it
    changes = _scope_changes(old.scope, new.scope) if old is not None else []
    if old is not None and changes and not args.replace:
        raise InputError(
            f"key {key.key_id[:16]}… is already trusted in {path} with another scope; nothing was changed:\n"
            + "\n".join(f"  {field}: {was}  ->  {now}" for field, was, now in changes),
            hint="add --replace to replace its scope (the new one is the whole scope, not an addition)",
        )
    if old is not None and not changes:
        if args.format == "json":
            print(json.dumps({"added": key.key_id, "trust": str(path), "unchanged": True, "changes": []}))
        else:
            print(f"{key.key_id} is already trusted in {path} with this scope; nothing changed")
        return 0
    _save(store, path)
    if args.format == "json":
        obj: dict[str, object] = {"added": key.key_id, "trust": str(path)}
        if old is not None:
            obj["replaced"] = True
            obj["changes"] = [{"field": f, "was": was, "now": now} for f, was, now in changes]
        print(json.dumps(obj))
    elif old is not None:
        print(f"replaced the scope of {key.key_id} in {path}:")
        for field, was, now in changes:
            print(f"  {field}: {was}  ->  {now}")
    else:
        print(f"trusted {key.key_id} ({key.algorithm.value}) in {path}")
    return 0


_KEY_MATERIAL = ("key_id", "algorithm", "public_key")


def _scope_text(scope: TrustedKey, field: str) -> str:
    """One field of a key's scope as ``trust list`` shows it ("any" for no limit)."""
    value = getattr(scope, field)
    if field in ("not_before", "not_after"):
        return format_timestamp(value) if value else "-"
    if isinstance(value, list):
        return ", ".join(sorted(str(v) for v in value)) or ("pinned" if field == "hosts" else "any")
    return str(value) if value else ("any" if field == "operator" else "-")


def _scope_changes(old: TrustedKey, new: TrustedKey) -> list[tuple[str, str, str]]:
    """The fields of a key's scope that differ: (field, was, now), as ``trust list`` shows them.

    Every field of the model but the key itself is compared, so a scope field added later
    is never silently left out of the comparison (and so never changed without --replace).
    """
    out = []
    for field in TrustedKey.model_fields:
        if field in _KEY_MATERIAL:
            continue
        was, now = _scope_text(old, field), _scope_text(new, field)
        if was != now:
            out.append((field, was, now))
    return out


def run_list(args: argparse.Namespace) -> int:
    """Print the keys."""
    store = TrustStore.load(Path(args.trust))
    if args.format == "json":
        print(store.document.to_json())
        return 0
    for e in store.entries:
        s = e.scope
        state = "REVOKED" if store.is_revoked(s.key_id) else "trusted"
        period = f"{format_timestamp(s.not_before) if s.not_before else '-'} .. {format_timestamp(s.not_after) if s.not_after else '-'}"
        print(f"{s.key_id}  {s.algorithm:<10} {state}")
        print(
            f"    operator {s.operator or 'any'}; sites {', '.join(s.sites) or 'any'}; countries {', '.join(s.countries) or 'any'}; hosts {', '.join(s.hosts) or 'pinned'}; valid {period}"
        )
    for ch in store.document.challengers:
        state = "REVOKED" if store.is_revoked(ch.key_id) else "trusted"
        print(f"{ch.key_id}  {ch.algorithm:<10} {state}")
        print("    binding challenger (dates GPU bindings; cannot sign manifests)")
    listed = {e.scope.key_id for e in store.entries} | {c.key_id for c in store.document.challengers}
    for kid in sorted(store.revoked - listed):
        print(f"{kid}  (not listed)  REVOKED")
    if not store.entries and not store.revoked and not store.document.challengers:
        print("(no keys)")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke a key id."""
    path = Path(args.trust)
    store = TrustStore.load(path)
    wanted = args.key_id.strip().lower()
    if len(wanted) == 64 and all(c in "0123456789abcdef" for c in wanted):
        key_id = wanted
    else:
        known = [e.scope.key_id for e in store.entries] + [c.key_id for c in store.document.challengers]
        matches = [k for k in known if k.startswith(wanted)]
        if len(wanted) < 8 or len(matches) != 1:
            raise InputError(
                f"{args.key_id!r} does not name exactly one trusted key",
                hint="give the full 64-hex key id, or a unique prefix of at least 8 characters",
            )
        key_id = matches[0]
    if store.get(key_id) is None and store.challenger(key_id) is None:
        stderr(f"note: {key_id} is not a trusted key; revoking it anyway so it can never be added")
    _save(store.with_revoked(key_id), path)
    if args.format == "json":
        print(json.dumps({"revoked": key_id, "trust": str(path)}))
    else:
        print(f"revoked {key_id} in {path}")
    return 0
