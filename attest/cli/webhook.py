"""``attest webhook serve``: the Kubernetes ValidatingAdmissionWebhook for accelerator pods.

POST /validate with an AdmissionReview v1 (``/validate-kueue`` for namespaces whose pods Kueue
places: see :func:`attest.scheduler.kubernetes.review`); the answer copies ``request.uid``, sets ``allowed``,
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
from pathlib import Path
from typing import Any

from attest.cli.admit import AdmissionSetup, add_admission_args
from attest.cli.common import HelpFormatter, float_between
from attest.crypto.canonical import strict_loads
from attest.errors import AttestError, InputError
from attest.scheduler.admission import NodeEvidence
from attest.scheduler.kubernetes import DEFAULT_ACCELERATORS, Accelerators, ReviewError, review
from attest.scheduler.kueue import KUEUE_USER

MAX_BODY = 4 << 20
#: Verification results older than this are recomputed (expiry and trust periods move with time).
REVERIFY_S = 30.0
#: The path and port the server answers on; deploy/kubernetes and tests check the manifests against them.
VALIDATE_PATH, HEALTH_PATH, DEFAULT_PORT = "/validate", "/healthz", 8443
#: Where the API server sends pods of namespaces labelled compute-attest.dev/placement=kueue.
VALIDATE_KUEUE_PATH = "/validate-kueue"


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
        "      --evidence /var/lib/attest/evidence --tenant-map tenants.json --landmarks landmarks.json \\\n"
        "      --plain-host-path /data/datasets --plain-csi-driver secrets-store.csi.k8s.io\n"
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
        type=float_between(0, 86_400, "seconds"),
        default=5.0,
        metavar="SECONDS",
        help="look for new evidence at most this often (default 5; reviews in between use what was read, "
        f"re-verified every {REVERIFY_S:g} s); trust, tenant map and policy files are looked at on every review",
    )
    s.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="DANGEROUS unless unattested nodes are kept from accelerator pods by other means (taints, a "
        "scheduler plugin): admit a pod that names no node when EVERY attested node would take it (one "
        "quarantined, stale or policy-refused node refuses it); by default such a pod is refused with the "
        "nodes to pin it to",
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
        help="an extended resource that is not an accelerator (e.g. nvidia.com/hostdev, rdma/hca); every "
        "resource but cpu, memory, ephemeral-storage, storage, pods and hugepages-* must be configured",
    )
    s.add_argument(
        "--not-accelerator-claim",
        action="append",
        default=[],
        metavar="NAMESPACE/NAME",
        help="a DRA ResourceClaim or ResourceClaimTemplate, in its namespace, that holds no accelerator "
        "(list only objects tenants cannot edit); any other claim is judged as a request for at least one GPU",
    )
    s.add_argument(
        "--not-gpu-runtime-class",
        action="append",
        default=[],
        metavar="NAME",
        help="a RuntimeClass that hands a container no GPU (e.g. gvisor); a pod with any other "
        "runtimeClassName is judged as using every GPU of its node",
    )
    s.add_argument(
        "--nodes-ignore-device-env",
        action="store_true",
        help="the nodes' NVIDIA container toolkit ignores NVIDIA_VISIBLE_DEVICES in unprivileged containers "
        "(accept-nvidia-visible-devices-envvar-when-unprivileged = false, device plugin "
        "DEVICE_LIST_STRATEGY=volume-mounts): env and envFrom are then not judged as reaching GPUs; "
        "without it they are",
    )
    s.add_argument(
        "--plain-host-path",
        action="append",
        default=[],
        metavar="DIR",
        help="a host directory that holds no device, socket or key (e.g. /data/datasets): a hostPath volume "
        "under it, mounted readOnly everywhere, is not judged as reaching GPUs; every other hostPath is. "
        "Refused: /, and anything that is, lies under or contains /proc, /sys, /dev, /run, /var/run, "
        "/var/lib/kubelet, /var/lib/containerd, /var/lib/docker, /etc or /var/lib/attest",
    )
    s.add_argument(
        "--plain-csi-driver",
        action="append",
        default=[],
        metavar="NAME",
        help="a CSI driver whose inline volumes mount no host path or device (e.g. secrets-store.csi.k8s.io); "
        "a pod with an inline volume of any other driver is judged as using every GPU of its node",
    )
    s.add_argument(
        "--kueue-user",
        action="append",
        default=[],
        metavar="USER",
        help=f"the user Kueue's controller acts as (default {KUEUE_USER}): in namespaces whose pods reach "
        f"{VALIDATE_KUEUE_PATH} only it may remove Kueue's admission scheduling gate",
    )
    s.add_argument(
        "--kueue-admission-check",
        action="store_true",
        help=f"a controller runs the compute-attest AdmissionCheck on the ClusterQueues of the namespaces whose "
        f"pods reach {VALIDATE_KUEUE_PATH}: only then may a pod Kueue holds go there unpinned (this package "
        "ships the check's state machine, attest.scheduler.kueue, not the controller); without it such a pod "
        "is judged as any other",
    )
    s.set_defaults(func=run_serve)


#: Files of the command line whose change rebuilds the setup (trust, tenants, policy, landmarks, roots).
_INPUT_ARGS = ("trust", "tenant_map", "policy", "landmarks", "cc_root", "nras_jwks", "rims")


def _file_stamp(path: str) -> tuple[str, int, int, int] | tuple[str]:
    try:
        st = Path(path).stat()
    except OSError:
        return (path,)  # gone or unreadable: rebuilding says so (and fails closed)
    if Path(path).is_dir():  # a directory of RIMs: any file in it
        files = [f.stat() for f in Path(path).rglob("*") if f.is_file()]
        return (path, max((f.st_mtime_ns for f in files), default=0), len(files), st.st_ino)
    return (path, st.st_mtime_ns, st.st_size, st.st_ino)


class _State:
    """The admission setup and the evidence, kept current.

    * The trust store, tenant map, policy and the other input files are looked at on every
      review (a few ``stat`` calls): when any changed (mtime, size or inode), the setup is read
      again, so a revoked key or a removed tenant stops admitting at once. While a changed file
      cannot be read, every review fails (the API server then refuses: ``failurePolicy: Fail``).
    * The evidence directory is looked at at most every ``--rescan`` seconds.
    * Verification results depend on time (expiry, a trust entry's ``not_after``): they are
      recomputed when the evidence or the setup changed, and at least every
      :data:`REVERIFY_S` seconds, no more than the verifier's clock skew. Staleness and expiry
      themselves are judged by admission at each review's own time.
    """

    def __init__(
        self, setup: AdmissionSetup, rescan_s: float, args: argparse.Namespace | None = None
    ) -> None:
        self.setup = setup
        self.args = args
        self.rescan_s = rescan_s
        self.lock = threading.Lock()
        self.stamp: tuple[float, int] | None = None
        self.scanned: float | None = None
        self.verified: float | None = None
        self.evidence: dict[str, NodeEvidence] = {}
        self.inputs = self._inputs()
        self.broken: AttestError | None = None

    def _inputs(self) -> tuple[object, ...]:
        if self.args is None:
            return ()
        paths = [getattr(self.args, a, None) for a in _INPUT_ARGS]
        return tuple(_file_stamp(p) for p in paths if isinstance(p, str) and p)

    def current(self) -> dict[str, NodeEvidence]:
        """The evidence, re-verified when anything it depends on changed or time moved on."""
        with self.lock:
            inputs = self._inputs()
            if self.args is not None and (inputs != self.inputs or self.broken is not None):
                self.inputs = inputs
                try:
                    self.setup = AdmissionSetup.from_args(self.args, tenant_map_required=True)
                except AttestError as exc:
                    self.broken = exc
                    raise
                self.broken = None
                self.stamp = self.scanned = None  # verify everything again with the new setup
            clock = time.monotonic()
            if self.scanned is None or clock - self.scanned >= self.rescan_s:
                stamp = self.setup.evidence_stamp()
                if stamp != self.stamp:
                    self.verified = None
                self.stamp, self.scanned = stamp, clock
            if self.verified is None or clock - self.verified >= min(
                REVERIFY_S, self.setup.options.clock_skew.total_seconds()
            ):
                self.evidence = self.setup.evidence(now=datetime.now(UTC))
                self.verified = clock
            return self.evidence


def _handler(
    state: _State,
    accelerators: Accelerators,
    allow_unpinned: bool,
    kueue_users: frozenset[str],
    kueue_check: bool = False,
) -> type[BaseHTTPRequestHandler]:
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
            if self.path not in (VALIDATE_PATH, VALIDATE_KUEUE_PATH):
                self._send(404, {"error": f"POST {VALIDATE_PATH} or {VALIDATE_KUEUE_PATH}"})
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
                evidence = state.current()
                setup = state.setup
                out = review(
                    body,
                    evidence=evidence,
                    tenants=setup.tenants,
                    policy=setup.policy,
                    now=datetime.now(UTC),
                    max_age=setup.max_age,
                    allow_unpinned=allow_unpinned,
                    accelerators=accelerators,
                    kueue=self.path == VALIDATE_KUEUE_PATH,
                    kueue_users=kueue_users,
                    kueue_check=kueue_check,
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
    bad = [c for c in args.not_accelerator_claim if c.count("/") != 1 or "" in c.split("/")]
    if bad:
        raise InputError(
            f"--not-accelerator-claim {bad[0]!r} is not NAMESPACE/NAME",
            hint="a claim's name alone is the tenant's to choose: name the object in its namespace",
        )
    if args.rescan < 0:
        raise InputError("--rescan must not be negative")
    setup = AdmissionSetup.from_args(args, tenant_map_required=True)
    try:
        accelerators = DEFAULT_ACCELERATORS.with_options(
            whole=args.gpu_resource,
            shared=args.shared_gpu_resource,
            ignored=args.not_accelerator,
            ignored_claims=args.not_accelerator_claim,
            plain_runtime_classes=args.not_gpu_runtime_class,
            env_ignored=args.nodes_ignore_device_env,
            plain_host_paths=args.plain_host_path,
            plain_csi_drivers=args.plain_csi_driver,
        )
    except ValueError as exc:
        raise InputError(str(exc), hint="name only directories that hold data, e.g. /data/datasets") from None
    state = _State(setup, args.rescan, args)
    state.current()  # unreadable evidence or trust: say so at start, not at the first review
    try:
        server = ThreadingHTTPServer(
            (host or "0.0.0.0", int(port)),  # noqa: S104 - a cluster service
            _handler(
                state,
                accelerators,
                args.allow_unpinned,
                frozenset(args.kueue_user or [KUEUE_USER]),
                args.kueue_admission_check,
            ),
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
