"""``attest gpu verify-report``: check an NVIDIA confidential-computing attestation report offline."""

from __future__ import annotations

import argparse
import binascii
import json
import string
from datetime import UTC, datetime
from pathlib import Path

from attest.cli.common import HelpFormatter, add_format, parse_when, read_input, root_pin
from attest.errors import InputError
from attest.hardware.cc import NVIDIA_DEVICE_IDENTITY_ROOT_SHA256, ReportVerification, verify_report
from attest.hardware.simulated_cc import SimulatedCcBackend, all_devices

_HEX = frozenset(string.hexdigits.encode() + string.whitespace.encode())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "gpu",
        help="GPU evidence: verify NVIDIA CC attestation reports",
        description="GPU evidence tools.",
        epilog="example:\n  attest gpu verify-report --report report.hex --chain chain.pem --root nvidia_device_identity_root.pem --nonce 27a3…",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="gpu_verb", required=True, metavar="{verify-report,revoke,ocsp-serve}")
    v = verbs.add_parser(
        "verify-report",
        help="verify a report and its certificate chain offline",
        description="Verify an NVIDIA GPU attestation report (SPDM GET_MEASUREMENTS request and response) "
        "offline: the chain of five certificates up to the pinned NVIDIA Device Identity CA, the report's "
        "P-384 signature, the caller's nonce and the firmware id. No network access.",
        epilog="""exit codes: 0 valid, 1 valid but the nonce was not checked, 3 invalid, 2 unreadable input.

example:
  attest gpu verify-report --report hopperAttestationReport.txt --chain hopperCertChain.txt \\
      --root nvidia_device_identity_root.pem --nonce 27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66""",
        formatter_class=HelpFormatter,
    )
    v.add_argument(
        "--report", required=True, metavar="HEX_OR_BIN", help="the report: a hex text file or raw bytes"
    )
    v.add_argument("--chain", required=True, metavar="PEM", help="the GPU's certificate chain, leaf first")
    v.add_argument("--root", required=True, metavar="PEM", help="the NVIDIA Device Identity CA root file")
    v.add_argument("--nonce", metavar="HEX", help="the 32-byte nonce the report was requested with")
    v.add_argument(
        "--root-sha256",
        default=NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
        metavar="HEX",
        help="pin another root (test hierarchies); default: NVIDIA's",
    )
    v.add_argument(
        "--ocsp",
        nargs="+",
        default=None,
        metavar="DER",
        help="OCSP responses captured earlier (checked offline)",
    )
    v.add_argument("--now", metavar="TIME", help="check certificate validity as of this time (default: now)")
    add_format(v)
    v.set_defaults(func=run_verify_report)

    r = verbs.add_parser(
        "revoke",
        help="simulated vendor: revoke a simulated GPU's device certificate (demos, tests)",
        description="Mark a simulated GPU's device certificate (chain position 1) revoked at its simulated "
        "vendor: its OCSP answers say so from now on, in new bindings and through attest gpu ocsp-serve.",
        epilog="example:\n  attest gpu revoke --cc-sim ./sim-vendor GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b0",
        formatter_class=HelpFormatter,
    )
    r.add_argument("uuid", metavar="UUID", help="the simulated GPU's UUID")
    r.add_argument("--cc-sim", required=True, metavar="DIR", help="the simulated vendor's directory")
    r.set_defaults(func=run_revoke)

    o = verbs.add_parser(
        "ocsp-serve",
        help="simulated vendor: answer OCSP requests over HTTP until interrupted",
        description="Serve the simulated vendor's OCSP responder (POST, RFC 6960), so verifiers can check "
        "revocation online: attest verify --online --ocsp-url http://HOST:PORT/",
        epilog="example:\n  attest gpu ocsp-serve --cc-sim ./sim-vendor --listen 127.0.0.1:8089",
        formatter_class=HelpFormatter,
    )
    o.add_argument("--cc-sim", required=True, metavar="DIR", help="the simulated vendor's directory")
    o.add_argument("--listen", default="127.0.0.1:8089", metavar="HOST:PORT")
    o.set_defaults(func=run_ocsp_serve)


def _vendor(path: str) -> SimulatedCcBackend:
    if not (Path(path) / "root.pem").exists():
        raise InputError(
            f"{path} is not a simulated vendor directory (no root.pem)",
            hint="attest bind --simulate PRESET --cc-sim DIR makes one",
        )
    return SimulatedCcBackend(Path(path))


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke a simulated GPU."""
    backend = _vendor(args.cc_sim)
    if args.uuid not in all_devices(backend):
        raise InputError(f"the simulated vendor in {args.cc_sim} has made no GPU {args.uuid}")
    backend.revoke(args.uuid)
    print(f"revoked the device certificate of {args.uuid} at the simulated vendor {args.cc_sim}")
    return 0


def run_ocsp_serve(args: argparse.Namespace) -> int:
    """Serve OCSP until SIGINT or SIGTERM."""
    import signal
    import threading

    from attest.cli.location import _host_port
    from attest.hardware.simulated_cc import serve_ocsp

    backend = _vendor(args.cc_sim)
    host, port = _host_port(args.listen)
    try:
        server = serve_ocsp(backend, host, port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.listen}: {exc.strerror}") from None
    address = server.server_address
    print(json.dumps({"ocsp": f"http://{address[0]}:{address[1]}/"}), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.shutdown()
    return 0


def read_report(path: str) -> bytes:
    """Read a report file: hex text (whitespace allowed) or raw bytes."""
    data = read_input(path, what="report", max_bytes=1024 * 1024)
    if data and all(b in _HEX for b in data):
        try:
            return binascii.unhexlify(b"".join(data.split()))
        except binascii.Error:
            raise InputError(f"report {path} looks like hex but has an odd number of digits") from None
    return data


def run_verify_report(args: argparse.Namespace) -> int:
    """Verify and print the outcome."""
    report = read_report(args.report)
    chain = read_input(args.chain, what="certificate chain")
    root = read_input(args.root, what="root certificate")
    nonce = None
    if args.nonce:
        try:
            nonce = bytes.fromhex(args.nonce)
        except ValueError:
            raise InputError("--nonce must be hex") from None
        if len(nonce) != 32:
            raise InputError(f"--nonce must be 32 bytes (64 hex digits), not {len(nonce)}")
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    responses = [read_input(p, what="OCSP response") for p in args.ocsp] if args.ocsp else None
    result = verify_report(
        report,
        chain,
        root,
        now=now,
        expected_nonce=nonce,
        pinned_root_sha256=root_pin(args.root_sha256),
        ocsp_responses=responses,
    )
    print(json.dumps(to_json(result)) if args.format == "json" else render_text(result))
    return result.status.exit_code


def to_json(result: ReportVerification) -> dict[str, object]:
    """The outcome as a JSON object."""
    return {
        "status": result.status.value,
        "valid": result.valid,
        "hwmodel": result.hwmodel,
        "ueid": result.ueid,
        "fwid": result.fwid,
        "findings": [f.to_obj() for f in result.findings],
        "report": result.report.to_obj() if result.report else None,
    }


def render_text(result: ReportVerification) -> str:
    """A readable outcome."""
    lines = [
        f"{'VALID' if result.valid else result.status.value.upper()}  {result.hwmodel or '?'}  ueid {result.ueid or '?'}"
    ]
    if result.report:
        fields = {f.name: f.text or f.value for f in result.report.opaque}
        lines.append(
            f"  nonce {result.report.nonce}  driver {fields.get('driver_version', '?')}  vbios {fields.get('vbios_version', '?')}"
            f"  {len(result.report.blocks)} measurements"
        )
    for f in result.findings:
        lines.append(f"  [{f.severity.value}] {f.rule}: {f.message}")
    return "\n".join(lines)
