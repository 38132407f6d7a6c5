"""``attest manifest`` and ``attest sign``: build a workload manifest, then sign it."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attest.build import build_manifest
from attest.cli.common import (
    HelpFormatter,
    add_written_format,
    finite_float,
    parse_nonce,
    parse_when,
    read_input,
    read_model,
    report_written,
    sha256_input,
    write_output,
)
from attest.cli.hardware import add_simulate
from attest.crypto.canonical import strict_loads
from attest.crypto.dsse import encode_envelope
from attest.crypto.keys import load_signing_key, load_verifying_key
from attest.errors import InputError
from attest.hardware import open_source
from attest.hardware.binding import NodeBinding, attach, unmatched
from attest.model.manifest import (
    ImageRef,
    Job,
    LandmarkReceipt,
    LicenseReference,
    LocationEvidence,
    Operator,
    Site,
    Tenant,
    TimedGpuReport,
    WorkloadManifest,
)
from attest.sign import sign_manifest

# Verifiers refuse a manifest valid for longer than a day (VerifyOptions.max_validity): one
# longer is refused here, when it is made, not later by every verifier.
MAX_VALID_FOR = 86_400

_IMAGE = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verbs."""
    p = sub.add_parser(
        "manifest",
        help="build an unsigned workload manifest",
        description="Build an unsigned workload manifest (the in-toto predicate) from this node's GPUs "
        "and the site, tenant and job declarations.",
        epilog="""SITE.json:   {"facility_id": "jhb-2", "name": "Johor DC 2", "country": "MY",
              "latitude": 1.6561, "longitude": 103.6032, "accuracy": 500}
TENANT.json: {"legal_name": "Example Robotics Inc.", "headquarters_country": "US",
              "ultimate_parent": {"legal_name": "Example Holdings Inc.", "headquarters_country": "US"}}

example:
  attest manifest --site site.json --tenant tenant.json --job-id slurm-48211 \\
      --operator "Example Cloud Sdn. Bhd." --key /etc/attest/attest.key --simulate h100 -o m.json""",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--site", required=True, metavar="SITE.json")
    p.add_argument("--tenant", required=True, metavar="TENANT.json")
    p.add_argument("--job-id", required=True)
    p.add_argument("--phase", choices=["start", "heartbeat", "end"], default="start")
    p.add_argument("--scheduler", default="manual", help="slurm, kubernetes, skypilot, ... (default: manual)")
    p.add_argument(
        "--operator",
        required=True,
        metavar="NAME",
        help="operator legal name, as the verifier's trust store scopes the node key (required: a site's "
        "name is not its operator's)",
    )
    p.add_argument("--operator-country", metavar="CC", help="operator country (default: the site's)")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", metavar="KEY", help="the node's private key (its id goes into the manifest)")
    keys.add_argument(
        "--pub", metavar="KEY.pub", help="the node's public key, when signing happens elsewhere"
    )
    p.add_argument(
        "--gpus", metavar="LIST", help="GPU indices or UUIDs used by the job, comma separated (default: all)"
    )
    p.add_argument(
        "--declared-ops", type=finite_float, metavar="N", help="declared training compute, in operations"
    )
    p.add_argument("--job-spec", metavar="FILE", help="job specification file; its SHA-256 becomes a subject")
    p.add_argument(
        "--image", action="append", default=[], metavar="NAME@sha256:HEX", help="container image (repeatable)"
    )
    p.add_argument(
        "--license",
        action="append",
        default=[],
        metavar="KIND:ID",
        help="e.g. license:D123456 or exception:NAC",
    )
    p.add_argument("--started-at", metavar="TIME", help="job start time (default: now, for phase start)")
    p.add_argument(
        "--valid-for",
        type=int,
        default=900,
        metavar="SECONDS",
        help=f"validity window, 1 to {MAX_VALID_FOR} (verifiers refuse longer ones; default: 900)",
    )
    chain = p.add_mutually_exclusive_group()
    chain.add_argument(
        "--after", metavar="PREVIOUS.json", help="this node's previous manifest (sets sequence and previous)"
    )
    chain.add_argument("--sequence", type=int, metavar="N", help="sequence number (with --previous)")
    p.add_argument("--previous", metavar="sha256:HEX", help="digest of this node's previous manifest")
    p.add_argument("--nonce", metavar="HEX", help="caller nonce (default: 16 random bytes)")
    p.add_argument(
        "--binding", metavar="BINDING.json", help="GPU reports over the node key, from attest bind"
    )
    p.add_argument(
        "--receipts", metavar="RECEIPTS.json", help="landmark receipts from attest locate (made for --nonce)"
    )
    add_simulate(p)
    p.add_argument("-o", "--output", metavar="FILE")
    add_written_format(p)
    p.set_defaults(func=run_manifest)

    s = sub.add_parser(
        "sign",
        help="sign a manifest into a DSSE envelope",
        description="Wrap a manifest into an in-toto Statement v1 and sign it into a DSSE envelope "
        "(canonical JSON). The key must be the node key the manifest names.",
        epilog="example:\n  attest sign m.json --key /etc/attest/attest.key -o m.envelope.json",
        formatter_class=HelpFormatter,
    )
    s.add_argument("manifest", metavar="MANIFEST.json")
    s.add_argument("--key", required=True, metavar="KEY")
    s.add_argument("-o", "--output", metavar="ENVELOPE.json")
    add_written_format(s)
    s.set_defaults(func=run_sign)


def _licenses(values: list[str]) -> list[LicenseReference]:
    out = []
    for v in values:
        kind, sep, ident = v.partition(":")
        if not sep or kind not in ("license", "exception", "authorization") or not ident:
            raise InputError(f"--license {v!r}: use KIND:ID with KIND license, exception or authorization")
        out.append(LicenseReference(kind=kind, id=ident))  # type: ignore[arg-type]  # checked just above
    return out


def _images(values: list[str]) -> list[ImageRef]:
    out = []
    for v in values:
        m = _IMAGE.match(v)
        if not m:
            raise InputError(f"--image {v!r}: use NAME@sha256:<64 lowercase hex>")
        out.append(ImageRef(name=m["name"], digest=m["digest"]))
    return out


def run_manifest(args: argparse.Namespace) -> int:
    """Build and print the manifest."""
    now = datetime.now(UTC)
    if not 1 <= args.valid_for <= MAX_VALID_FOR:
        raise InputError(
            f"--valid-for {args.valid_for}: must be between 1 and {MAX_VALID_FOR} seconds (a day)",
            hint="verifiers refuse manifests valid for longer than a day; sign a heartbeat manifest instead",
        )
    if not args.operator.strip():
        raise InputError("--operator is empty: give the operator's legal name")
    site = read_model(args.site, Site, what="site file")
    tenant = read_model(args.tenant, Tenant, what="tenant file")
    key_id = (
        load_signing_key(Path(args.key)).key_id if args.key else load_verifying_key(Path(args.pub)).key_id
    )
    after = read_model(args.after, WorkloadManifest, what="previous manifest") if args.after else None
    if (args.sequence is None) != (args.previous is None) and not (
        args.sequence == 0 and args.previous is None
    ):
        raise InputError("--sequence N and --previous DIGEST go together (only sequence 0 has no previous)")
    spec_digest = None
    if args.job_spec:
        spec_digest = sha256_input(args.job_spec, what="job spec")
    started = parse_when(args.started_at) if args.started_at else (now if args.phase == "start" else None)
    job = Job.from_obj(
        {
            "id": args.job_id,
            "scheduler": args.scheduler,
            "phase": args.phase,
            "started_at": started,
            "ended_at": now if args.phase == "end" else None,
            "declared_training_ops": args.declared_ops,
            "spec_digest": spec_digest,
            "images": _images(args.image),
        },
        what="job",
    )
    operator = Operator.from_obj(
        {"name": args.operator, "country": args.operator_country or site.country},
        what="operator",
    )
    evidence = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read()
    if args.binding:
        binding = read_model(args.binding, NodeBinding, what="binding")
        evidence = evidence.model_copy(update={"gpus": attach(evidence.gpus, binding, key_id)})
        for b in unmatched(evidence.gpus, binding):
            print(
                f"warning: the binding's GPU {b.index} ({b.uuid}) is not on this host: its report is left out",
                file=sys.stderr,
            )
    receipts: list[LandmarkReceipt] = []
    gpu_reports: list[TimedGpuReport] = []
    if args.receipts:
        doc = strict_loads(
            read_input(args.receipts, what="receipts file"), what=f"receipts file {args.receipts}"
        )
        if not isinstance(doc, dict) or not isinstance(doc.get("receipts"), list):
            raise InputError(
                f'receipts file {args.receipts} has no "receipts" list (write it with attest locate)'
            )
        located = LocationEvidence.from_obj(doc, what=f"receipts file {args.receipts}")
        receipts, gpu_reports = located.receipts, located.gpu_reports
        if receipts and not args.nonce:
            raise InputError(
                "--receipts needs --nonce: the receipts are bound to the nonce they were measured for"
            )
    manifest = build_manifest(
        evidence=evidence,
        site=site,
        tenant=tenant,
        operator=operator,
        job=job,
        node_key_id=key_id,
        now=now,
        valid_for=timedelta(seconds=args.valid_for),
        gpus=[g for g in args.gpus.split(",") if g] if args.gpus else None,
        after=after,
        sequence=args.sequence,
        previous=args.previous,
        nonce=parse_nonce(args.nonce) if args.nonce is not None else None,
        licenses=_licenses(args.license),
        receipts=receipts,
        gpu_reports=gpu_reports,
    )
    write_output((manifest.to_json() + "\n").encode("utf-8"), args.output)
    fr = manifest.freshness
    report_written(
        args,
        args.output,
        {
            "job": manifest.job.id,
            "nonce": fr.nonce,
            "sequence": fr.sequence,
            "expires_at": str(fr.expires_at),
        },
        f"wrote {args.output}: job {manifest.job.id}, sequence {fr.sequence}, nonce {fr.nonce}",
    )
    return 0


def run_sign(args: argparse.Namespace) -> int:
    """Sign and write the envelope."""
    key = load_signing_key(Path(args.key))
    manifest = read_model(args.manifest, WorkloadManifest, what="manifest")
    write_output(encode_envelope(sign_manifest(manifest, key)), args.output)
    report_written(args, args.output, {"key_id": key.key_id}, f"wrote {args.output}: signed by {key.key_id}")
    return 0
