"""A ValidatingAdmissionWebhook for GPU pods: AdmissionReview v1 in, AdmissionReview v1 out.

    python webhook.py --listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key \\
        --trust /etc/attest/trust.json --evidence /var/lib/attest/evidence --tenants tenants.json

POST /validate with an AdmissionReview; the answer copies ``request.uid``, sets ``allowed``,
``status.message`` when refused, ``warnings`` and ``auditAnnotations``. Evidence (each node's
newest signed manifest, as ``attest collector serve --evidence-dir`` keeps it) is looked for at
most every ``--rescan`` seconds and re-verified when the directory changed.
Anything the webhook cannot judge is refused (pair it with ``failurePolicy: Fail``). A GPU pod is
admitted only if every node it may land on qualifies: it must name them (``nodeName``, a
``kubernetes.io/hostname`` nodeSelector, or required node affinity on that label), since an
unpinned pod could land on a node nobody attested (``--allow-unpinned`` relaxes this). With
Kueue and the AdmissionCheck of ``attest.scheduler.kueue``, a workload on one qualifying node gets
its hostname and passes here; one on a flavor whose nodes all qualify gets only the attested-node
label, so leave Kueue-managed namespaces out (``webhook.yaml`` skips namespaces labelled
``compute-attest.dev/placement=kueue``) rather than weakening the check for every pod.
``--insecure-http`` serves plain HTTP for local tests only: the API server requires TLS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from attest.crypto.canonical import strict_loads
from attest.crypto.trust import TrustStore
from attest.errors import AttestError
from attest.model.manifest import Tenant
from attest.policy import load_policy
from attest.scheduler.evidence import load_evidence, read_envelopes
from attest.scheduler.kubernetes import ReviewError, review

MAX_BODY = 4 << 20


class State:
    """Trust, tenants, policy and the evidence, reloaded when the evidence directory changes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.trust = TrustStore.load(Path(args.trust))
        raw = strict_loads(Path(args.tenants).read_bytes(), what=f"tenants file {args.tenants}")
        if not isinstance(raw, dict):
            raise SystemExit(f"tenants file {args.tenants} must map namespaces to tenants")
        self.tenants = {ns: Tenant.from_obj(t, what=f"tenant of namespace {ns}") for ns, t in raw.items()}
        self.policy = None if args.policy == "none" else load_policy(args.policy)
        self.dir = Path(args.evidence)
        self.max_age = timedelta(seconds=args.max_age)
        self.allow_unpinned = args.allow_unpinned
        self.lock = threading.Lock()
        self.stamp: tuple[float, int] | None = None
        self.rescan_s = args.rescan
        self.scanned: float | None = None
        self.evidence: dict[str, Any] = {}

    def current(self) -> dict[str, Any]:
        """The evidence, rescanned at most every --rescan seconds and re-verified only when it changed.

        Point --evidence at the collector's --evidence-dir (one file per node): a spool of every
        manifest ever signed would be re-verified whole at each change.
        """
        with self.lock:
            if self.scanned is not None and time.monotonic() - self.scanned < self.rescan_s:
                return self.evidence
            files = list(self.dir.rglob("*.json"))
            stamp = (max((f.stat().st_mtime for f in files), default=0.0), len(files))
            if stamp != self.stamp:
                self.evidence = load_evidence(read_envelopes(self.dir), self.trust, now=datetime.now(UTC))
                self.stamp = stamp
            self.scanned = time.monotonic()
            return self.evidence


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, obj: dict[str, Any]) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, {"ok": True, "nodes": len(state.current())})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/validate":
                self._send(404, {"error": "POST /validate"})
                return
            length = int(self.headers.get("Content-Length") or 0)
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
                    tenants=state.tenants,
                    policy=state.policy,
                    now=datetime.now(UTC),
                    max_age=state.max_age,
                    allow_unpinned=state.allow_unpinned,
                )
            except (ReviewError, AttestError) as exc:
                msg = exc.message if isinstance(exc, AttestError) else str(exc)
                self._send(400, {"error": msg})
                return
            self._send(200, out)

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write(json.dumps({"msg": fmt % args, "client": self.client_address[0]}) + "\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="0.0.0.0:8443", metavar="HOST:PORT")
    p.add_argument("--tls-cert", metavar="PEM")
    p.add_argument("--tls-key", metavar="PEM")
    p.add_argument("--insecure-http", action="store_true", help="plain HTTP (tests only)")
    p.add_argument("--trust", required=True)
    p.add_argument("--evidence", required=True, metavar="DIR")
    p.add_argument("--tenants", required=True, metavar="FILE", help="JSON: namespace -> tenant")
    p.add_argument("--policy", default="us-ear")
    p.add_argument("--max-age", type=int, default=900, metavar="SECONDS")
    p.add_argument(
        "--rescan", type=float, default=5.0, metavar="SECONDS",
        help="look for new evidence at most this often (default 5; admission reviews in between use what was read)",
    )
    p.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="admit a GPU pod that names no node when one attested node would take it (only where "
        "unattested nodes are kept from GPU pods by other means: taints, a scheduler plugin); "
        "by default such a pod is refused with the nodes to pin it to",
    )
    args = p.parse_args(argv)
    if not args.insecure_http and not (args.tls_cert and args.tls_key):
        p.error("the API server calls webhooks over TLS: give --tls-cert and --tls-key (or --insecure-http for tests)")
    try:
        state = State(args)
    except AttestError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), make_handler(state))  # noqa: S104 - a cluster service
    if not args.insecure_http:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"listening": f"{server.server_address[0]}:{server.server_address[1]}"}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
