"""``attest gpu verify-report``: check an NVIDIA confidential-computing attestation report offline."""

from __future__ import annotations

import argparse
import binascii
import contextlib
import json
import string
from datetime import UTC, datetime
from pathlib import Path

from attest.cli.common import (
    HelpFormatter,
    add_alias,
    add_format,
    add_rim_args,
    parse_when,
    pinned_root,
    read_input,
    require,
    rim_appraiser,
    root_pin,
    stderr,
)
from attest.cli.hardware import add_simulate
from attest.errors import InputError
from attest.hardware.cc import (
    NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
    ChainCache,
    ReportVerification,
    verify_report,
)
from attest.hardware.nvat import MAX_NVATTEST_BYTES, NvatEntry, arch_findings, entry_findings, parse_nvattest
from attest.hardware.rim import RimAppraiser, appraise_report
from attest.hardware.simulated_cc import SimulatedCcBackend, all_devices
from attest.model.result import Finding, Severity, Status

_HEX = frozenset(string.hexdigits.encode() + string.whitespace.encode())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "gpu",
        help="GPU evidence: verify NVIDIA CC attestation reports, time their generation",
        description="GPU evidence tools.",
        epilog="example:\n  attest gpu verify-report --report report.hex --chain chain.pem --cc-root nvidia_device_identity_root.pem --nonce 27a3…",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(
        dest="gpu_verb",
        required=True,
        metavar="{verify-report,verify-token,time-report,revoke,ocsp-serve}",
    )
    v = verbs.add_parser(
        "verify-report",
        help="verify a report and its certificate chain offline",
        description="Verify an NVIDIA GPU attestation report (SPDM GET_MEASUREMENTS request and response) "
        "offline: the chain of five certificates up to the pinned NVIDIA Device Identity CA, the report's "
        "P-384 signature, the caller's nonce and the firmware id. No network access.",
        epilog="""exit codes: 0 valid, 1 valid but the nonce was not checked or a RIM asked for is missing,
3 invalid (or measurements that are not NVIDIA's golden values), 2 unreadable input.

examples:
  attest gpu verify-report --report hopperAttestationReport.txt --chain hopperCertChain.txt \\
      --cc-root nvidia_device_identity_root.pem --nonce 27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66
  nvattest collect-evidence --nonce $NONCE --format json > evidence.json
  attest gpu verify-report --nvattest evidence.json --cc-root nvidia_device_identity_root.pem --nonce $NONCE \\
      --rims ./rims --rim-root verifier_RIM_root.pem""",
        formatter_class=HelpFormatter,
    )
    v.add_argument("--report", metavar="HEX_OR_BIN", help="the report: a hex text file or raw bytes")
    v.add_argument("--chain", metavar="PEM", help="the GPU's certificate chain, leaf first")
    v.add_argument(
        "--nvattest",
        metavar="JSON",
        help="instead of --report/--chain: nvattest collect-evidence output (CLI wrapper, bare array or "
        "fleet agent's attestationData); every GPU and NVSwitch in it is verified",
    )
    v.add_argument(
        "--cc-root",
        metavar="PEM",
        help="the NVIDIA Device Identity CA root file (required; as attest verify's)",
    )
    add_alias(v, "--root", dest="cc_root", metavar="PEM")  # its first spelling
    v.add_argument("--nonce", metavar="HEX", help="the 32-byte nonce the report was requested with")
    v.add_argument(
        "--cc-root-sha256",
        default=NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
        metavar="HEX",
        help="pin another root (test hierarchies); default: NVIDIA's",
    )
    add_alias(v, "--root-sha256", dest="cc_root_sha256", metavar="HEX")
    v.add_argument(
        "--ocsp",
        nargs="+",
        default=None,
        metavar="DER",
        help="OCSP responses captured earlier (checked offline)",
    )
    v.add_argument("--now", metavar="TIME", help="check certificate validity as of this time (default: now)")
    add_rim_args(v)
    add_format(v)
    v.set_defaults(func=run_verify_report)

    t = verbs.add_parser(
        "verify-token",
        help="verify an NRAS detached EAT (NVIDIA's remote attestation result) offline",
        description='Verify an NRAS detached EAT ([["JWT", overall], {"GPU-0": jwt, ...}]): every ES384 '
        "signature against the given JWKS, the overall token's submods digests against the per-device tokens, "
        "eat_nonce against --nonce, expiry, and NRAS's appraisal claims (measurements, debug mode, secure boot, "
        "certificate status). No network access.",
        epilog="""exit codes: 0 affirming, 1 warning (e.g. no --nonce), 3 contraindicated, 2 unreadable input.

example:
  curl -s https://nras.attestation.nvidia.com/.well-known/jwks.json > nras-jwks.json
  attest gpu verify-token nras-token.json --jwks nras-jwks.json --nonce $(attest bind --pub node.pub --print-nonce)""",
        formatter_class=HelpFormatter,
    )
    t.add_argument(
        "token", metavar="TOKEN", help="the detached EAT as NRAS returned it (a JSON file; '-' for stdin)"
    )
    t.add_argument("--jwks", required=True, metavar="FILE", help="NRAS's JWKS (keys by kid, as x/y or x5c)")
    t.add_argument("--nonce", metavar="HEX", help="the 32-byte nonce the attestation was requested with")
    t.add_argument("--now", metavar="TIME", help="check expiry as of this time (default: now)")
    add_format(t)
    t.set_defaults(func=run_verify_token)

    tr = verbs.add_parser(
        "time-report",
        help="time how long the GPUs take to make attestation reports (calibrates t_min)",
        description="Ask every GPU for CC attestation reports over fresh random nonces, all GPUs at once as the "
        "GPU-timed landmark exchange does, and print the fastest and median single report and the fastest "
        "round. The chip catalog's report_time_floor_ms (t_min, per architecture) must stay below the fastest "
        "report any GPU of that architecture achieves: run this on several machines and driver versions, and record a floor below "
        "the smallest minimum with a margin (the suggested floor is 0.9 x the fastest single report seen here). "
        "Read-only: asking for a report changes no GPU state.",
        epilog="""examples:
  attest gpu time-report --rounds 100                                  # the real GPUs, through NVML (CC mode)
  attest gpu time-report --simulate h100 --cc-sim ./sim-vendor --rounds 10 --format json""",
        formatter_class=HelpFormatter,
    )
    tr.add_argument("--rounds", type=int, default=20, metavar="N", help="rounds to time (default: 20)")
    add_simulate(tr)
    tr.add_argument("--cc-sim", metavar="DIR", help="with --simulate: the simulated GPU vendor")
    add_format(tr)
    tr.set_defaults(func=run_time_report)

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
    add_format(r)
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
    if args.format == "json":
        print(json.dumps({"revoked": args.uuid, "cc_sim": args.cc_sim}))
        return 0
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


def _nonce_arg(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        nonce = bytes.fromhex(value)
    except ValueError:
        raise InputError("--nonce must be hex") from None
    if len(nonce) != 32:
        raise InputError(f"--nonce must be 32 bytes (64 hex digits), not {len(nonce)}")
    return nonce


def run_verify_token(args: argparse.Namespace) -> int:
    """Verify an NRAS token and print the outcome."""
    from attest.hardware.nras import MAX_TOKEN_BYTES, load_jwks, verify_detached_eat

    token = read_input(args.token, what="NRAS token", max_bytes=MAX_TOKEN_BYTES)
    keys = load_jwks(read_input(args.jwks, what="JWKS", max_bytes=MAX_TOKEN_BYTES))
    now = parse_when(args.now) if args.now else datetime.now(UTC)
    result = verify_detached_eat(token, keys, now=now, expected_nonce=_nonce_arg(args.nonce))
    if args.format == "json":
        print(
            json.dumps(
                {
                    "status": result.status.value,
                    "devices": sorted(result.devices),
                    "findings": [f.to_obj() for f in result.findings],
                    "overall": result.overall,
                    "claims": result.devices,
                }
            )
        )
    else:
        lines = [f"{result.status.value.upper()}  NRAS token for {', '.join(sorted(result.devices)) or '?'}"]
        lines += [f"  [{f.severity.value}] {f.rule}: {f.message}" for f in result.findings]
        print("\n".join(lines))
    return result.status.exit_code


def run_verify_report(args: argparse.Namespace) -> int:
    """Verify and print the outcome."""
    if args.nvattest and (args.report or args.chain):
        raise InputError("give --nvattest, or --report with --chain, not both")
    if not args.nvattest and not (args.report and args.chain):
        raise InputError("give --report and --chain (a raw report), or --nvattest (nvattest's JSON)")
    root = pinned_root(
        require(args, "cc_root", "--cc-root PEM", hint="NVIDIA's Device Identity CA root certificate"),
        root_pin(args.cc_root_sha256),
        flag="--cc-root",
        pin_flag="--cc-root-sha256",
        default_pin=NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
        what="NVIDIA's Device Identity CA",
    )
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
    rims = rim_appraiser(args)
    if args.nvattest:
        entries = parse_nvattest(
            read_input(args.nvattest, what="nvattest evidence", max_bytes=MAX_NVATTEST_BYTES)
        )
        cache = ChainCache()
        results = []
        for entry in entries:
            result = verify_report(
                entry.report,
                entry.certificate_chain,
                root,
                now=now,
                expected_nonce=nonce,
                pinned_root_sha256=root_pin(args.cc_root_sha256),
                cache=cache,
                ocsp_responses=responses,
            )
            result.findings[:0] = [*entry_findings(entry), *arch_findings(entry, result.hwmodel)]
            result.findings.extend(_appraisal(result, rims, now))
            results.append((entry, result))
        if args.format == "json":
            print(json.dumps(nvattest_json(results)))
        else:
            print(render_nvattest(results))
        return Status.worst(r.status for _, r in results).exit_code
    report = read_report(args.report)
    chain = read_input(args.chain, what="certificate chain")
    result = verify_report(
        report,
        chain,
        root,
        now=now,
        expected_nonce=nonce,
        pinned_root_sha256=root_pin(args.cc_root_sha256),
        ocsp_responses=responses,
    )
    result.findings.extend(_appraisal(result, rims, now))
    print(json.dumps(to_json(result)) if args.format == "json" else render_text(result))
    return result.status.exit_code


def _appraisal(result: ReportVerification, rims: RimAppraiser | None, now: datetime) -> list[Finding]:
    """Measurement appraisal of a report that verified: opt-in here (``--rims``/``--rim-root``).

    Without a RIM source this verb checks the report alone and says so (info); ``attest
    verify`` warns instead, since a manifest's grade depends on the measurements.
    """
    if result.status is Status.CONTRAINDICATED:
        return []
    if rims is None:
        return [
            Finding(
                rule="hardware.rim.not_checked",
                severity=Severity.INFO,
                message="measurements not compared with NVIDIA's RIMs (give --rims DIR --rim-root PEM, or --online)",
            )
        ]
    return appraise_report(result, rims, now=now)


def _device_label(entry: NvatEntry, results: list[tuple[NvatEntry, ReportVerification]]) -> str:
    """``GPU n`` or ``NVSwitch n``, counted within its kind in nvattest's order."""
    same = [e for e, _ in results if e.is_switch == entry.is_switch]
    return f"{'NVSwitch' if entry.is_switch else 'GPU'} {same.index(entry)}"


def nvattest_json(results: list[tuple[NvatEntry, ReportVerification]]) -> dict[str, object]:
    """Every device's outcome, GPUs and NVSwitches apart, and the worst status."""

    def one(entry: NvatEntry, result: ReportVerification) -> dict[str, object]:
        return {"position": entry.position, "arch": entry.arch, **to_json(result)}

    return {
        "status": Status.worst(r.status for _, r in results).value,
        "gpus": [one(e, r) for e, r in results if not e.is_switch],
        "switches": [one(e, r) for e, r in results if e.is_switch],
    }


def render_nvattest(results: list[tuple[NvatEntry, ReportVerification]]) -> str:
    """One block per device, GPUs first, then NVSwitches."""
    ordered = [p for p in results if not p[0].is_switch] + [p for p in results if p[0].is_switch]
    blocks = [f"{_device_label(e, results)} ({e.arch}): {render_text(r)}" for e, r in ordered]
    worst = Status.worst(r.status for _, r in results)
    gpus = sum(not e.is_switch for e, _ in results)
    return "\n".join(blocks) + f"\n\n{gpus} GPUs, {len(results) - gpus} NVSwitches: {worst.value}"


def run_time_report(args: argparse.Namespace) -> int:
    """Time report generation and print min/median and a suggested floor."""
    from pathlib import Path

    from attest.hardware import open_source
    from attest.hardware.binding import CcEvidenceSource, SimulatedCcSource
    from attest.hardware.catalog import bundled_catalog
    from attest.hardware.nvml import NvmlCcSource
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from attest.hardware.timing import time_reports

    if args.cc_sim and not args.simulate:
        raise InputError("--cc-sim goes with --simulate")
    if args.simulate:
        if not args.cc_sim:
            raise InputError(
                "--simulate needs --cc-sim DIR: simulated GPUs need a simulated vendor to sign reports"
            )
        source: CcEvidenceSource = SimulatedCcSource(SimulatedCcBackend(Path(args.cc_sim)))
    else:
        source = NvmlCcSource()
    gpus = open_source(args.simulate, seed=args.seed, hostname=args.hostname).read().gpus
    held = source.session() if isinstance(source, NvmlCcSource) else contextlib.nullcontext()
    with held:  # NVML initialised once, as attest locate does
        timing = time_reports(gpus, source, rounds=args.rounds)
    catalog = bundled_catalog()
    architectures = sorted(
        {
            chip.architecture
            for g in gpus
            if (chip := catalog.by_pci(*g.pci_vendor_device) or catalog.by_name(g.name))
        }
    )
    current = catalog.report_floor_ns(gpus) / 1e6
    obj = {
        "source": source.name,
        "gpus": len(gpus),
        "architectures": architectures,
        "rounds": len(timing.rounds_ms),
        "min_ms": round(timing.min_ms, 3),
        "median_ms": round(timing.median_ms, 3),
        "max_ms": round(max(timing.reports_ms), 3),
        "round_min_ms": round(timing.round_min_ms, 3),
        "suggested_floor_ms": timing.suggested_floor_ms(),
        "catalog_floor_ms": current,
    }
    if args.format == "json":
        print(json.dumps(obj))
    else:
        print(
            f"{len(gpus)} GPUs ({', '.join(architectures) or 'unknown architecture'}) via {source.name}, "
            f"{obj['rounds']} rounds: one report min {obj['min_ms']:.3f} ms, median {obj['median_ms']:.3f} ms, "
            f"max {obj['max_ms']:.3f} ms; all GPUs at once min {obj['round_min_ms']:.3f} ms\n"
            f"suggested floor (0.9 x min): {obj['suggested_floor_ms']} ms; the catalog's floor for these GPUs: "
            f"{current:g} ms"
        )
    if current > timing.min_ms:
        stderr(
            f"the catalog's floor ({current:g} ms) is above the fastest round seen ({timing.min_ms:.3f} ms): "
            "it is not a lower bound for these GPUs; lower report_time_floor_ms"
        )
        return 1
    return 0


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
