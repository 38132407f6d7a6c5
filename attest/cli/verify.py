"""``attest verify``: judge envelopes against a trust store and explain every verdict."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attest import __version__
from attest.anchors import describe_anchors, policy_anchor
from attest.cli.common import (
    HelpFormatter,
    add_as_of_arg,
    add_evidence_args,
    add_format,
    add_policy_arg,
    check_output,
    evidence_options,
    int_between,
    parse_when,
    policy_from_args,
    printable,
    read_input,
    stderr,
    write_output,
)
from attest.crypto.canonical import DEFAULT_MAX_BYTES
from attest.crypto.keys import load_signing_key
from attest.crypto.trust import TrustStore
from attest.ear import ear_claims, sign_ear
from attest.errors import AttestError, InputTooLarge
from attest.model.result import Anchors, Finding, Severity, Status, TrustVector, VerificationResult
from attest.replay import MemoryVerifierState, SqliteVerifierState, VerifierState
from attest.storage import BatchedStore
from attest.verify import (
    PolicyEvaluator,
    VerifyOptions,
    location_report,
    sign_result,
    verify_and_open,
    verify_many,
)

EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "verify",
        help="verify signed manifests and explain the verdict",
        description="Verify DSSE envelopes of workload manifests: encoding, signature, key trust and scope, "
        "freshness, nonce reuse, and each node's sequence/previous chain across the given envelopes.",
        epilog="""exit codes: 0 all affirming, 1 worst is a warning, 3 worst is contraindicated or a
signature/trust failure, 2 usage error or an unreadable file (3 wins over 2 when both occur).

examples:
  attest verify m.envelope.json --trust trust.json
  attest verify spool/*.json --trust trust.json --format json --state verifier.db
  attest verify heartbeat.json --trust trust.json --cc-root nvidia_root.pem --log audit.db   # binding by digest
  attest verify spool/*.json --trust trust.json --quiet   # one line each, like cosign
  attest verify m.envelope.json --trust trust.json --policy my-policy.toml   # us-ear is the default
  attest verify m.envelope.json --trust trust.json --cc-root nvidia_root.pem --landmarks landmarks.json --map proof.svg
  attest verify spool/*.json --trust trust.json --format ear --sign-result verifier.key   # one signed EAR (JWT)""",
        formatter_class=HelpFormatter,
    )
    p.add_argument("envelopes", nargs="+", metavar="ENVELOPE", help="envelope files ('-' for stdin)")
    p.add_argument("--trust", required=True, metavar="TRUST", help="trust store file")
    p.add_argument(
        "--state",
        metavar="DB",
        help="SQLite file (or a postgresql:// database) remembering nonces and chain heads across runs; "
        "verifying the same envelopes again is not a replay (default: this run only)",
    )
    p.add_argument(
        "--log",
        metavar="LOG",
        help="a log database (file or postgresql://...) to resolve GPU evidence that heartbeats name by "
        "digest (cc_evidence_ref) from, when the envelope carrying it is not among those given: the "
        "entry found is verified in full (trusted, unrevoked signature by the same node key, the "
        "digest, reports, chains and revocation); the log is never taken at its word",
    )
    p.add_argument("--now", metavar="TIME", help="verify as of this time (default: now)")
    add_as_of_arg(p, default="now")
    p.add_argument(
        "--skew",
        type=int_between(0, MAX_SKEW_S, "seconds"),
        default=60,
        metavar="SECONDS",
        help="allowed clock skew (default: 60)",
    )
    p.add_argument(
        "--max-bytes",
        type=int_between(1, 1 << 30, "bytes"),
        default=DEFAULT_MAX_BYTES,
        metavar="N",
        help="size limit per envelope (default: 1 MiB)",
    )
    p.add_argument(
        "--sign-result",
        metavar="KEY",
        help="sign each result with the verifier's key: output is one DSSE envelope per line (a relying party "
        "trusts one key); with --format ear, one EAT Attestation Result (a signed JWT) for the whole run",
    )
    add_policy_arg(p)
    add_evidence_args(p)
    p.add_argument(
        "--map",
        metavar="OUT.svg",
        help="draw the location proof of the (single) envelope as SVG (needs --landmarks)",
    )
    p.add_argument(
        "--allow-noncanonical",
        action="store_true",
        help="accept envelopes re-encoded by other DSSE tools (signatures still checked byte for byte)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="one line per envelope: 'FILE: STATUS GRADE', and the rules that made it so when not affirming",
    )
    add_format(p, more=("ear",))
    p.set_defaults(func=run_verify)


MAX_SKEW_S = 86_400
"""The largest clock skew --skew takes (a day): more would make every window meaningless."""


def render_text(result: VerificationResult) -> str:
    """A readable verdict: one headline, then one line per finding.

    Names and messages come from the signed manifest, that is from the party audited: control
    characters are escaped so none can forge or erase a line of the verdict.
    """
    head = f"{printable(result.source or '-')}: {result.status.value.upper()}"
    facts = [
        f"node {result.node}" if result.node else None,
        f"job {result.job_id}" if result.job_id else None,
        f"seq {result.sequence}" if result.sequence is not None else None,
        f"location {result.location_grade}" if result.location_grade else None,
        f"key {result.key_id[:16]}…" if result.key_id else None,
    ]
    lines = [head + "".join(f"  {printable(f)}" for f in facts if f)]
    for f in result.findings:
        lines.append(f"  [{f.severity.value}] {f.rule}: {printable(f.message)}")
        if f.remedy:
            lines.append(f"      remedy: {printable(f.remedy)}")
    return "\n".join(lines)


def distinct_anchors(results: Iterable[VerificationResult]) -> list[Anchors]:
    """The different anchors the results were produced with, in order (one for a run of one verifier)."""
    seen: list[Anchors] = []
    for r in results:
        if r.anchors is not None and all(r.anchors is not a and r.anchors != a for a in seen):
            seen.append(r.anchors)
    return seen


def render_quiet(result: VerificationResult) -> str:
    """One line: ``FILE: STATUS GRADE``, then (when not affirming) the rules that set the status."""
    line = f"{printable(result.source or '-')}: {result.status.value.upper()} {result.location_grade or '-'}"
    if result.status is not Status.AFFIRMING:
        rules = dict.fromkeys(f.rule for f in result.findings if f.severity.status is result.status)
        if rules:
            line += f" ({', '.join(rules)})"
    return line


def oversize_result(source: str, exc: InputTooLarge, now: datetime) -> VerificationResult:
    """The verdict on an envelope file over the size limit: contraindicated, naming its real size."""
    finding = Finding(
        rule="envelope.oversize",
        severity=Severity.CONTRAINDICATED,
        message=exc.message,
        evidence={"size_bytes": exc.size, "limit_bytes": exc.limit, "size_exact": exc.exact},
        remedy="an envelope is a few KiB: this file is not one (raise --max-bytes only for a real envelope)",
    )
    return VerificationResult(
        status=Status.CONTRAINDICATED,
        source=source,
        trust_vector=TrustVector(instance_identity=Status.CONTRAINDICATED),
        findings=[finding],
        verified_at=now,
    )


def exit_code(statuses: Iterable[Status], *, unreadable: bool) -> int:
    """The documented exit code: 3 > 2 > 1 > 0."""
    worst = Status.worst(statuses)
    if worst is Status.CONTRAINDICATED:
        return 3
    if unreadable:
        return EXIT_USAGE
    return worst.exit_code


def run_verify(args: argparse.Namespace) -> int:
    """Verify every input and print one result each."""
    trust = TrustStore.load(Path(args.trust))
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    if args.format == "ear" and not args.sign_result:
        stderr("error: --format ear writes a signed EAR: give --sign-result KEY")
        return EXIT_USAGE
    if args.max_bytes <= 0 or args.skew < 0:
        stderr("error: --max-bytes must be positive and --skew not negative")
        return EXIT_USAGE
    options = evidence_options(
        args,
        max_bytes=args.max_bytes,
        clock_skew=timedelta(seconds=args.skew),
        require_canonical=not args.allow_noncanonical,
    )
    if args.quiet and (args.format != "text" or args.sign_result):
        stderr("error: --quiet is a text output: not with --format json or ear, nor with --sign-result")
        return EXIT_USAGE
    if args.map and (not args.landmarks or len(args.envelopes) != 1):
        stderr("error: --map draws one envelope's location proof: give one envelope and --landmarks")
        return EXIT_USAGE
    policy = policy_from_args(args)  # a configuration error is said once, before any file is read
    if args.map:
        check_output(args.map)
    items: list[tuple[str, bytes]] = []
    oversize: dict[int, VerificationResult] = {}  # position among the inputs -> its verdict
    unreadable = False
    for path in args.envelopes:
        try:
            items.append((path, read_input(path, what="envelope", max_bytes=args.max_bytes)))
        except InputTooLarge as exc:  # judged, as a verdict of its own: never a prefix of it
            oversize[len(items) + len(oversize)] = oversize_result(path, exc, now)
        except AttestError as exc:
            stderr(exc.diagnostics())
            unreadable = True
    evidence_log = None
    if args.log:
        from attest.log import Log

        evidence_log = Log.open(args.log)
    # Without --state, the same semantics in memory: a file given twice is seen before, not a replay.
    try:
        state = open_state(args.state) if args.state else MemoryVerifierState()
    except BaseException:
        if evidence_log is not None:
            evidence_log.store.close()
        raise
    try:
        # A state in SQLite or PostgreSQL takes the batch's writes in a few transactions, each
        # committed durably, all before any verdict is printed: what is reported was recorded.
        with state.batch() if isinstance(state, BatchedStore) else nullcontext():
            results = verify_many(
                items,
                trust,
                now=now,
                nonces=state,
                chains=state,
                policy=policy,
                options=options,
                devices=state,
                evidence_log=evidence_log,
            )
    finally:
        state.close()
        if evidence_log is not None:
            evidence_log.store.close()
    for at, result in sorted(oversize.items()):
        results.insert(at, result)
    if args.map and items and options.landmarks is not None:
        _draw_map(args.map, items[0][1], trust, now, policy, options)
    signer = load_signing_key(Path(args.sign_result)) if args.sign_result else None
    if signer is not None and args.format == "ear":
        claims = ear_claims(
            results,
            issued_at=datetime.now(UTC),
            policy_id=policy_anchor(policy)[0] if policy is not None else "none",  # custom: unless bundled
            build=f"compute-attest {__version__}",
        )
        sys.stdout.buffer.write(sign_ear(claims, signer) + b"\n")
        return exit_code((r.status for r in results), unreadable=unreadable)
    if signer is not None:
        sys.stdout.buffer.write(b"".join(sign_result(result, signer) for result in results))
        return exit_code((r.status for r in results), unreadable=unreadable)
    # The whole report is built, then written at once (one write, not one per envelope).
    if args.format == "json":
        lines = [json.dumps(result.to_obj(), ensure_ascii=False) for result in results]
    else:
        lines = [(render_quiet if args.quiet else render_text)(result) for result in results]
    if args.format == "text" and not args.quiet:
        # Which policy (custom: unless bundled), lists, catalog and trust store judged, as the JSON
        # results' anchors say: a policy file that calls itself us-ear is not the bundled one.
        lines += [printable(describe_anchors(a)) for a in distinct_anchors(results)]
    if args.format == "text" and not args.quiet and len(results) > 1:
        counts = {s: sum(r.status is s for r in results) for s in Status}
        lines.append(
            f"\n{len(results)} verified: "
            + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
            + (f"; {len(args.envelopes) - len(results)} unreadable" if unreadable else "")
        )
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
    return exit_code((r.status for r in results), unreadable=unreadable)


def open_state(where: str) -> VerifierState:
    """The verifier state at ``where``: a SQLite file, or a PostgreSQL database (``postgresql://``)."""
    if where.startswith(("postgresql://", "postgres://")):
        from attest.log.postgres import PostgresVerifierState  # psycopg only when asked for

        return PostgresVerifierState(where)
    return SqliteVerifierState(where)


def _draw_map(
    out: str,
    raw: bytes,
    trust: TrustStore,
    now: datetime,
    policy: PolicyEvaluator | None,
    options: VerifyOptions,
) -> None:
    """Draw the location proof of an envelope whose signatures verify."""
    from attest.location.svgmap import render_report

    _, manifest = verify_and_open(raw, trust, now=now, options=options)
    if manifest is None or options.landmarks is None:
        stderr("no map: the envelope does not verify")
        return
    report = location_report(manifest, options.landmarks, policy, now=now, clock_skew=options.clock_skew)
    title = f"{manifest.node.hostname} at {manifest.site.name} vs {', '.join(report.prohibited)}"
    svg = render_report(report, title)
    write_output(svg.encode(), out)
    stderr(f"map written to {out}")
