"""``attest webhook serve``: the Kubernetes ValidatingAdmissionWebhook for accelerator pods.

POST /validate with an AdmissionReview v1; the answer copies ``request.uid``, sets ``allowed``,
``status.message`` when refused, ``warnings`` and ``auditAnnotations``. GET /healthz answers
``{"ok": true, ...}`` for the kubelet's probes. Evidence (each node key's newest signed manifest,
as ``attest collector serve --evidence-dir`` keeps it) is looked for at most every ``--rescan``
seconds and re-verified when the directory changed, with the same evidence options as
``attest verify`` and ``attest admit``. Anything the webhook cannot judge is refused (pair it
with ``failurePolicy: Fail``). What counts as an accelerator and how pods are placed is
:mod:`attest.scheduler.kubernetes`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from attest.cli.admit import AdmissionSetup, add_admission_args
from attest.cli.common import HelpFormatter
from attest.crypto.canonical import strict_loads
from attest.errors import AttestError, InputError
from attest.scheduler.admission import NodeEvidence
from attest.scheduler.kubernetes import DEFAULT_ACCELERATORS, Accelerators, ReviewError, review

MAX_BODY = 4 << 20
#: The path and port the server answers on; deploy/kubernetes and tests check the manifests against them.
VALIDATE_PATH, HEALTH_PATH, DEFAULT_PORT = "/validate", "/healthz", 8443


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "webhook",
        help="the Kubernetes admission webhook for accelerator pods",
        description="A ValidatingAdmissionWebhook: a pod that asks for any accelerator is admitted only if "
        "every node it may land on has fresh, verified evidence and the policy allows the namespace's tenant there.",
        epilog="example:\n  attest webhook serve --tls-cert tls.crt --tls-key tls.key --trust trust.json "
        "--evidence /var/lib/attest/evidence --tenant-map tenants.json",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(dest="webhook_verb", required=True, metavar="{serve}")
    s = verbs.add_parser(
        "serve",
        help="serve AdmissionReviews until interrupted",
        description=__doc__,
        epilog="exit codes: 2 on a usage error or unreadable input at start; otherwise runs until stopped.\n\n"
        "examples:\n"
        "  attest webhook serve --tls-cert tls.crt --tls-key tls.key --trust trust.json \\\n"
        "      --evidence /var/lib/attest/evidence --tenant-map tenants.json --landmarks landmarks.json\n"
        "  attest webhook serve --insecure-http --listen 127.0.0.1:8080 ... --gpu-resource example.com/gpu-ts",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", metavar="HOST:PORT")
    s.add_argument("--tls-cert", metavar="PEM", help="the serving certificate (cert-manager's tls.crt)")
    s.add_argument("--tls-key", metavar="PEM", help="its key (tls.key)")
    s.add_argument("--insecure-http", action="store_true", help="plain HTTP, for local tests only")
    add_admission_args(s, tenant_map_help="JSON object: namespace -> tenant")
    s.add_argument(
        "--rescan",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="look for new evidence at most this often (default 5; reviews in between use what was read)",
    )
    s.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="admit an accelerator pod that names no node when one attested node would take it (only where "
        "unattested nodes are kept from such pods by other means: taints, a scheduler plugin); by default "
        "such a pod is refused with the nodes to pin it to",
    )
    s.add_argument(
        "--gpu-resource",
        action="append",
        default=[],
        metavar="NAME",
        help="an extended resource that is one GPU per unit (a renamed nvidia.com/gpu); NAME* for a prefix",
    )
    s.add_argument(
        "--shared-gpu-resource",
        action="append",
        default=[],
        metavar="NAME",
        help="an extended resource that is a slice of a GPU (a renamed time-sliced or MIG resource)",
    )
    s.add_argument(
        "--not-accelerator",
        action="append",
        default=[],
        metavar="NAME",
        help="an extended resource that looks like an accelerator but is not one (e.g. nvidia.com/hostdev)",
    )
    s.add_argument(
        "--not-accelerator-claim",
        action="append",
        default=[],
        metavar="NAME",
        help="a DRA resource claim (or claim template) name that holds no accelerator; any other claim "
        "is judged as a request for at least one GPU",
    )
    s.set_defaults(func=run_serve)


class _State:
    """The admission setup and the evidence, rescanned at most every ``--rescan`` seconds."""

    def __init__(self, setup: AdmissionSetup, rescan_s: float) -> None:
        self.setup = setup
        self.rescan_s = rescan_s
        self.lock = threading.Lock()
        self.stamp: tuple[float, int] | None = None
        self.scanned: float | None = None
        self.evidence: dict[str, NodeEvidence] = {}

    def current(self) -> dict[str, NodeEvidence]:
        """The evidence; re-verified only when the directory changed (newest mtime, file count)."""
        with self.lock:
            if self.scanned is not None and time.monotonic() - self.scanned < self.rescan_s:
                return self.evidence
            stamp = self.setup.evidence_stamp()
            if stamp != self.stamp:
                self.evidence = self.setup.evidence(now=datetime.now(UTC))
                self.stamp = stamp
            self.scanned = time.monotonic()
            return self.evidence


def _handler(state: _State, accelerators: Accelerators, allow_unpinned: bool) -> type[BaseHTTPRequestHandler]:
    setup = state.setup

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, obj: dict[str, Any]) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == HEALTH_PATH:
                try:
                    self._send(200, {"ok": True, "nodes": len(state.current())})
                except AttestError as exc:
                    self._send(503, {"ok": False, "error": exc.message})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != VALIDATE_PATH:
                self._send(404, {"error": f"POST {VALIDATE_PATH}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if not 0 < length <= MAX_BODY:
                self._send(400, {"error": "missing or oversized body"})
                return
            try:
                body = strict_loads(self.rfile.read(length), what="AdmissionReview")
                if not isinstance(body, dict):
                    raise ReviewError("AdmissionReview must be a JSON object")
                out = review(
                    body,
                    evidence=state.current(),
                    tenants=setup.tenants,
                    policy=setup.policy,
                    now=datetime.now(UTC),
                    max_age=setup.max_age,
                    allow_unpinned=allow_unpinned,
                    accelerators=accelerators,
                )
            except (ReviewError, AttestError) as exc:
                msg = exc.message if isinstance(exc, AttestError) else str(exc)
                self._send(400, {"error": msg})
                return
            self._send(200, out)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(json.dumps({"msg": format % args, "client": self.client_address[0]}) + "\n")

    return Handler


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if not args.insecure_http and not (args.tls_cert and args.tls_key):
        raise InputError(
            "the API server calls webhooks over TLS: give --tls-cert and --tls-key",
            hint="--insecure-http serves plain HTTP, for local tests only",
        )
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InputError(f"--listen {args.listen!r} is not HOST:PORT")
    if args.rescan < 0:
        raise InputError("--rescan must not be negative")
    setup = AdmissionSetup.from_args(args, tenant_map_required=True)
    accelerators = DEFAULT_ACCELERATORS.with_options(
        whole=args.gpu_resource,
        shared=args.shared_gpu_resource,
        ignored=args.not_accelerator,
        ignored_claims=args.not_accelerator_claim,
    )
    state = _State(setup, args.rescan)
    state.current()  # unreadable evidence or trust: say so at start, not at the first review
    try:
        server = ThreadingHTTPServer(
            (host or "0.0.0.0", int(port)),  # noqa: S104 - a cluster service
            _handler(state, accelerators, args.allow_unpinned),
        )
    except OSError as exc:
        raise InputError(f"cannot listen on {args.listen}: {exc.strerror}") from None
    if not args.insecure_http:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot load --tls-cert/--tls-key: {exc}") from None
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    bound_host, bound_port = server.server_address[:2]
    print(json.dumps({"listening": f"{bound_host!s}:{bound_port}"}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
