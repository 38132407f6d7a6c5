"""``attest inspect``: show an envelope's decoded manifest, marked NOT VERIFIED unless ``--trust`` is given.

Like ``cosign verify-attestation``'s payload view or ``sigstore``'s bundle inspection: a
person wants to read what a node signed. Decoding checks nothing, so the output says so on
its first line; with ``--trust`` the envelope is verified first and the verdict is shown
beside the manifest (and sets the exit code, as ``attest verify`` does).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.cli.common import (
    HelpFormatter,
    add_as_of_arg,
    add_evidence_args,
    add_format,
    add_policy_arg,
    evidence_options,
    parse_when,
    policy_from_args,
    printable,
    read_input,
)
from attest.crypto.canonical import DEFAULT_MAX_BYTES
from attest.errors import AttestError, InputError

NOT_VERIFIED = (
    "NOT VERIFIED: decoded without checking any signature, key or policy; anyone could have written this. "
    "Give --trust TRUST to verify it."
)
NOT_AUTHENTICATED = (
    "NOT AUTHENTICATED: the envelope did not verify against the trust store; the manifest below is "
    "unverified content, shown for diagnosis only."
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "inspect",
        help="show an envelope's decoded manifest (NOT verified unless --trust is given)",
        description="Decode a DSSE envelope and show its in-toto statement and workload manifest: who "
        "signed (key ids), the job, tenant, operator, site, node, GPUs, location evidence and freshness. "
        "Without --trust nothing is checked and the output says NOT VERIFIED first. With --trust the "
        "envelope is verified first (as attest verify does) and its verdict is shown beside the manifest.",
        epilog="exit codes: without --trust 0 decoded, 2 not an envelope of a manifest (or unreadable);\n"
        "with --trust as attest verify: 0 affirming, 1 warning, 3 contraindicated, 2 usage.\n\n"
        "examples:\n"
        "  attest inspect m.envelope.json\n"
        "  attest inspect m.envelope.json --format json | jq .manifest.tenant\n"
        "  attest inspect m.envelope.json --trust trust.json",
        formatter_class=HelpFormatter,
    )
    p.add_argument("envelope", metavar="ENVELOPE", help="envelope file ('-' for stdin)")
    p.add_argument(
        "--trust", metavar="TRUST", help="verify first against this trust store, and show the verdict"
    )
    p.add_argument("--now", metavar="TIME", help="with --trust: verify as of this time (default: now)")
    add_as_of_arg(p, default="now")
    add_policy_arg(p)
    add_evidence_args(p)
    add_format(p)
    p.set_defaults(func=run_inspect)


def decode(raw: bytes, *, source: str) -> tuple[dict[str, Any], Any]:
    """The envelope's parts (payload type, signatures) and its statement, decoded and NOT verified.

    Raises:
        InputError: the bytes are not a DSSE envelope whose payload is a workload-manifest statement.
    """
    from attest.crypto.dsse import parse_envelope
    from attest.model.statement import Statement

    try:
        envelope, payload = parse_envelope(raw, require_canonical=False)
    except AttestError as exc:
        raise InputError(f"{source} is not a DSSE envelope: {exc.message}") from None
    try:
        statement = Statement.from_json(payload, what="payload")
    except AttestError as exc:
        raise InputError(
            f"{source}: the payload is not a workload-manifest statement: {exc.message}",
            hint=f"its payloadType is {envelope.payload_type!r}",
        ) from None
    parts = {
        "payload_type": envelope.payload_type,
        "signatures": [s.keyid for s in envelope.signatures],
    }
    return parts, statement


def run_inspect(args: argparse.Namespace) -> int:
    """Decode (and with ``--trust`` verify) one envelope; print the manifest."""
    if args.now and not args.trust:
        raise InputError("--now is for verifying: give --trust too")
    raw = read_input(args.envelope, what="envelope", max_bytes=DEFAULT_MAX_BYTES)
    if not raw.strip():
        raise InputError(f"envelope {args.envelope} is empty")
    result, opened = None, None
    if args.trust:  # verified first: a verdict stands even when the payload cannot be decoded
        from attest.crypto.trust import TrustStore
        from attest.replay import MemoryChainStore, MemoryDeviceStore, MemoryNonceStore
        from attest.verify import verify_and_open

        trust = TrustStore.load(Path(args.trust))
        now = parse_when(args.now) if args.now else datetime.now(UTC)
        result, opened = verify_and_open(
            raw,
            trust,
            now=now,
            nonces=MemoryNonceStore(),
            chains=MemoryChainStore(),
            devices=MemoryDeviceStore(),
            policy=policy_from_args(args),
            options=evidence_options(args),
            source=args.envelope,
        )
    from attest.cli.verify import exit_code, render_text

    try:
        parts, statement = decode(raw, source=args.envelope)
    except InputError as exc:
        if result is None:
            raise
        if args.format == "json":
            print(
                json.dumps(
                    {
                        "checked": True,
                        "status": result.status.value,
                        "authenticated": False,
                        "result": result.to_obj(),
                        "manifest": None,
                        "error": exc.message,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(f"VERDICT (verified against {args.trust}): {result.status.value.upper()}")
            print(render_text(result))
            print(f"\nno manifest to show: {exc.message}")
        return exit_code([result.status], unreadable=False)
    authenticated = opened is not None  # every signature verified with a trusted key
    banner = NOT_VERIFIED if result is None else (None if authenticated else NOT_AUTHENTICATED)
    # Once authenticated, what is shown is the manifest the verifier judged, not a second reading of it.
    manifest = opened if opened is not None else statement.predicate
    if args.format == "json":
        obj: dict[str, Any] = {
            # "checked": a verification ran; its verdict is "status" (null when nothing was checked)
            "checked": result is not None,
            "status": result.status.value if result is not None else None,
            "authenticated": authenticated,
            **({"warning": banner} if banner else {}),
            **({"result": result.to_obj()} if result is not None else {}),
            **parts,
            "subject": [s.to_obj() for s in statement.subject],
            "predicate_type": statement.predicate_type,
            "manifest": manifest.to_obj(),
        }
        print(json.dumps(obj, ensure_ascii=False))
    else:
        if result is not None:
            print(f"VERDICT (verified against {args.trust}): {result.status.value.upper()}")
            print(render_text(result))
            print()
        if banner:
            print(banner)
            print()
        print(_summary(parts, statement))
        print()
        print("manifest:")
        print(
            printable(json.dumps(manifest.to_obj(), indent=2, ensure_ascii=False))
        )  # JSON escapes C0, not C1
    if result is None:
        return 0
    return exit_code([result.status], unreadable=False)


def _summary(parts: dict[str, Any], statement: Any) -> str:
    """The manifest's main facts, one per line."""
    m = statement.predicate
    tenant = m.tenant
    parent = tenant.ultimate_parent
    gpus: dict[str, int] = {}
    for g in m.gpus:
        gpus[g.name] = gpus.get(g.name, 0) + 1
    lines = [
        f"payload type  {parts['payload_type']}",
        "signed by     " + ", ".join(parts["signatures"]),
        "subject       "
        + ", ".join(
            f"{s.name} ({', '.join(f'{k}:{v[:16]}…' for k, v in s.digest.items())})"
            for s in statement.subject
        ),
        f"job           {m.job.id} ({m.job.scheduler}, {m.job.phase})",
        f"tenant        {tenant.legal_name} ({tenant.headquarters_country})"
        + (f"; ultimate parent {parent.legal_name} ({parent.headquarters_country})" if parent else ""),
        f"operator      {m.operator.name} ({m.operator.country})",
        f"site          {m.site.facility_id} {m.site.name} ({m.site.country}) at {m.site.latitude}, {m.site.longitude}",
        f"node          {m.node.hostname} key {m.node.key_id}",
        "gpus          " + (", ".join(f"{n}× {name}" for name, n in gpus.items()) or "none"),
        f"location      {len(m.location_evidence.receipts)} landmark receipt(s)",
        f"freshness     issued {m.freshness.issued_at.isoformat()}, expires {m.freshness.expires_at.isoformat()}, "
        f"sequence {m.freshness.sequence}",
    ]
    return "\n".join(printable(line) for line in lines)
