"""``attest webhook serve`` as a real HTTP(S) server answering real AdmissionReviews; Kueue's core."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from attest.crypto.trust import TrustStore
from tests.daemon.fixtures import MakeDaemon, sign

K8S = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"
WEBHOOK = [sys.executable, "-m", "attest.cli.main", "webhook", "serve"]


def pod_review(uid: str, namespace: str, gpus: int, node: str | None = "gpu-a17") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "train", "image": "trainer:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node, "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "trainer-0",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:ci:runner"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trainer-0", "namespace": namespace}, "spec": spec},
            "oldObject": None,
            "dryRun": False,
        },
    }


@pytest.fixture
def evidence(make_daemon: MakeDaemon, tmp_path: Path) -> tuple[Path, Path]:
    dp = make_daemon()
    dp.start()
    with dp.client() as c:
        sign(c, "warm-up")
    dp.stop()
    TrustStore().with_key(dp.key.public).save(tmp_path / "trust.json")
    return dp.dir / "state" / "spool", tmp_path / "trust.json"


def start(evidence: tuple[Path, Path], *extra: str) -> Iterator[str]:
    spool, trust = evidence
    proc = subprocess.Popen(
        [*WEBHOOK, "--listen", "127.0.0.1:0", "--trust", str(trust), "--evidence", str(spool),
         "--tenants", str(K8S / "tenants.json"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        yield json.loads(line)["listening"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def post(url: str, body: object, context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_webhook_allows_and_refuses_real_admission_reviews(evidence: tuple[Path, Path]) -> None:
    gen = start(evidence, "--insecure-http")
    address = next(gen)
    url = f"http://{address}/validate"
    code, out = post(url, pod_review("uid-allowed", "acme", 4))
    assert code == 200 and out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == "uid-allowed" and out["response"]["allowed"] is True
    assert out["response"]["auditAnnotations"]["compute-attest.dev/allowed-nodes"] == "gpu-a17"
    code, out = post(url, pod_review("uid-refused", "blue-lotus", 4))
    r = out["response"]
    assert code == 200 and r["uid"] == "uid-refused" and r["allowed"] is False
    assert r["status"]["code"] == 403 and "policy.headquarters" in r["status"]["message"]
    # More GPUs than the node has; an unknown namespace; a node without evidence; no GPU at all.
    assert "the job needs 16" in post(url, pod_review("u3", "acme", 16))[1]["response"]["status"]["message"]
    assert "no tenant record" in post(url, pod_review("u4", "unknown", 1))[1]["response"]["status"]["message"]
    assert "no verified evidence" in post(url, pod_review("u5", "acme", 1, node="gpu-zz"))[1]["response"]["status"]["message"]
    assert post(url, pod_review("u6", "unknown", 0))[1]["response"]["allowed"] is True
    # Unpinned pods could land on a node nobody attested: refused, with the nodes to pin them to.
    r = post(url, pod_review("u7", "acme", 1, node=None))[1]["response"]
    assert r["allowed"] is False and "pin it with nodeSelector kubernetes.io/hostname" in r["status"]["message"]
    assert r["status"]["message"].endswith("attested nodes that allow it: gpu-a17")
    # Affinity naming two hosts: the scheduler may pick either, so both must qualify.
    both = pod_review("u8", "acme", 1, node=None)
    both["request"]["object"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["gpu-a17", "gpu-zz"]}]}]}}}
    r = post(url, both)[1]["response"]
    assert r["allowed"] is False and "gpu-zz: no verified evidence" in r["status"]["message"]
    terms = both["request"]["object"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    terms[0]["matchExpressions"][0]["values"] = ["gpu-a17"]
    assert post(url, both)[1]["response"]["allowed"] is True
    # A pod this webhook cannot read is refused with the reason (its uid answered), never a crash.
    for mangle in ({"containers": {"train": {}}}, {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "-4"}}}, {"resources": {"limits": {"nvidia.com/gpu": "8"}}}]},
                   {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}], "nodeSelector": ["gpu-a17"]},
                   {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}], "affinity": {"nodeAffinity": []}}):
        bad = pod_review("u9", "acme", 1)
        bad["request"]["object"]["spec"] = mangle
        code, out = post(url, bad)
        assert code == 200 and out["response"]["uid"] == "u9" and out["response"]["allowed"] is False, mangle
    # Not an AdmissionReview: 400, never an allow.
    assert post(url, {"kind": "Pod"})[0] == 400
    assert post(url, {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}})[0] == 400
    gen.close()


def test_webhook_allow_unpinned(evidence: tuple[Path, Path]) -> None:
    gen = start(evidence, "--insecure-http", "--allow-unpinned")
    url = f"http://{next(gen)}/validate"
    r = post(url, pod_review("u1", "acme", 1, node=None))[1]["response"]
    assert r["allowed"] is True and r["auditAnnotations"]["compute-attest.dev/allowed-nodes"] == "gpu-a17"
    assert post(url, pod_review("u2", "blue-lotus", 1, node=None))[1]["response"]["allowed"] is False
    gen.close()


def test_webhook_over_tls(evidence: tuple[Path, Path], tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    gen = start(evidence, "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"))
    address = next(gen)
    ctx = ssl.create_default_context(cafile=str(tmp_path / "tls.crt"))
    ctx.check_hostname = False
    code, out = post(f"https://{address}/validate", pod_review("tls-1", "acme", 1), ctx)
    assert code == 200 and out["response"]["allowed"] is True
    gen.close()


def test_webhook_refuses_to_start_without_tls(evidence: tuple[Path, Path]) -> None:
    spool, trust = evidence
    r = subprocess.run([*WEBHOOK, "--trust", str(trust), "--evidence", str(spool),
                        "--tenants", str(K8S / "tenants.json")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "TLS" in r.stderr


def test_kueue_check_transitions() -> None:
    from attest.scheduler.admission import Admission, NodeVerdict
    from attest.scheduler.kueue import ATTESTED_LABEL, CheckState, CheckStatus, after_retry, transition

    pending = CheckStatus(CheckState.PENDING, "")
    ok = Admission([NodeVerdict("gpu-a17", True, "ok", "allowed"), NodeVerdict("gpu-b1", False, "stale", "old")])
    ready = transition(pending, ok, pod_sets=["main", "workers"])
    assert ready.state is CheckState.READY
    assert ready.pod_set_updates == [
        {"name": "main", "nodeSelector": {ATTESTED_LABEL: "true", "kubernetes.io/hostname": "gpu-a17"}},
        {"name": "workers", "nodeSelector": {ATTESTED_LABEL: "true", "kubernetes.io/hostname": "gpu-a17"}},
    ]
    assert ready.to_obj("attest")["state"] == "Ready"
    assert transition(ready, Admission([]), pod_sets=["main"]) is ready  # final for this reservation
    waiting = Admission([NodeVerdict("gpu-b1", False, "no-evidence", "none"), NodeVerdict("gpu-b2", False, "stale", "old")])
    retry = transition(pending, waiting, pod_sets=["main"])
    assert retry.state is CheckState.RETRY and retry.retries == 1
    again = after_retry(retry)
    assert again.state is CheckState.PENDING and again.retries == 1
    status = again
    for _ in range(10):
        status = after_retry(transition(status, waiting, pod_sets=["main"], max_retries=3))
    assert status.state is CheckState.REJECTED and "after 3 retries" in status.message
    refused = Admission([NodeVerdict("gpu-a17", False, "policy", "policy.headquarters: ..."), NodeVerdict("gpu-b1", False, "stale", "")])
    assert transition(pending, refused, pod_sets=["main"]).state is CheckState.REJECTED
    two = Admission([NodeVerdict("a", True, "ok", ""), NodeVerdict("b", True, "ok", "")])
    assert transition(pending, two, pod_sets=["main"]).pod_set_updates == [{"name": "main", "nodeSelector": {ATTESTED_LABEL: "true"}}]
    # Two allowed nodes beside a refused one: a nodeSelector cannot keep the pods off the refused
    # node (it may carry the attested label: it is attested, just not for this tenant).
    mixed = Admission([NodeVerdict("a", True, "ok", ""), NodeVerdict("b", True, "ok", ""), NodeVerdict("c", False, "policy", "policy.destination: ...")])
    status = transition(pending, mixed, pod_sets=["main"])
    assert status.state is CheckState.REJECTED and not status.pod_set_updates
    assert status.message.startswith("allowed on a, b but not on 1 other nodes") and "c: policy.destination" in status.message
    late = Admission([NodeVerdict("a", True, "ok", ""), NodeVerdict("b", True, "ok", ""), NodeVerdict("c", False, "stale", "old")])
    assert transition(pending, late, pod_sets=["main"]).state is CheckState.RETRY  # c may come back


def test_webhook_looks_for_new_evidence_at_most_every_rescan_seconds(evidence: tuple[Path, Path], tmp_path: Path) -> None:
    """--rescan: reviews in between use what was read; at 0 every review sees a change at once."""
    spool, trust = evidence
    for rescan, seen in (("3600", False), ("0", True)):
        directory = tmp_path / f"evidence-{rescan}"
        directory.mkdir()
        gen = start((directory, trust), "--insecure-http", "--rescan", rescan)
        url = f"http://{next(gen)}/validate"
        assert "no verified evidence" in post(url, pod_review("r1", "acme", 1))[1]["response"]["status"]["message"]
        for f in spool.glob("*.envelope.json"):  # the node's evidence arrives
            (directory / f.name).write_bytes(f.read_bytes())
        assert post(url, pod_review("r2", "acme", 1))[1]["response"]["allowed"] is seen, rescan
        gen.close()


def shaped(uid: str, namespace: str, resources: dict[str, str] | None = None, claims: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A pod pinned to gpu-a17 asking for ``resources`` (limits) and DRA ``claims``."""
    review = pod_review(uid, namespace, 0)
    spec = review["request"]["object"]["spec"]
    spec["containers"][0]["resources"] = {"limits": resources or {}}
    spec["nodeSelector"] = {"kubernetes.io/hostname": "gpu-a17"}
    if claims is not None:
        spec["resourceClaims"] = claims
        spec["containers"][0]["resources"]["claims"] = [{"name": c["name"]} for c in claims]
    return review


# The four pod shapes that were "no GPU requested: not judged" (issue 19), and neighbours.
FOUR_SHAPES = {
    "a whole H100 as a MIG slice": {"resources": {"nvidia.com/mig-7g.80gb": "1"}},
    "time-sliced replicas": {"resources": {"nvidia.com/gpu.shared": "4"}},
    "AMD GPUs": {"resources": {"amd.com/gpu": "8"}},
    "a DRA resource claim": {"claims": [{"name": "gpus", "resourceClaimTemplateName": "eight-h100"}]},
}


def test_every_accelerator_counts_through_http(evidence: tuple[Path, Path]) -> None:
    gen = start(evidence, "--insecure-http", "--gpu-resource", "example.com/renamed-gpu", "--not-accelerator", "nvidia.com/hostdev")
    url = f"http://{next(gen)}/validate"
    for what, shape in FOUR_SHAPES.items():
        r = post(url, shaped(f"cn-{what}", "blue-lotus", **shape))[1]["response"]  # type: ignore[arg-type]
        assert r["allowed"] is False, what
        message = r["status"]["message"]
        # Judged, and refused for what the tenant is (or, for AMD, for what the node's evidence lacks).
        assert "policy.headquarters" in message or "AMD GPUs" in message, (what, message)
    # The same shapes for a US tenant on its attested H100 node: the MIG slice, the replicas and the claim are admitted.
    for what in ("a whole H100 as a MIG slice", "time-sliced replicas", "a DRA resource claim"):
        r = post(url, shaped(f"us-{what}", "acme", **FOUR_SHAPES[what]))[1]["response"]  # type: ignore[arg-type]
        assert r["allowed"] is True, (what, r)
    # Resources that look like accelerators and are not configured: refused, saying how to configure them.
    for name in ("nvidia.com/gpu-ts", "vendor.example/npu", "habana.ai/gaudi2", "xilinx.com/fpga-u250", "qualcomm.com/qaic", "cpu.example.com/gpu"):
        r = post(url, shaped(f"unknown-{name}", "acme", {name: "1"}))[1]["response"]
        assert r["allowed"] is False, name
        assert "does not know" in r["status"]["message"] and f"--gpu-resource {name}" in r["status"]["message"]
    # Configured names: a renamed whole GPU counts (CN refused), a declared non-accelerator is not judged.
    r = post(url, shaped("renamed", "blue-lotus", {"example.com/renamed-gpu": "2"}))[1]["response"]
    assert r["allowed"] is False and "policy.headquarters" in r["status"]["message"]
    assert post(url, shaped("hostdev", "blue-lotus", {"nvidia.com/hostdev": "1"}))[1]["response"]["allowed"] is True
    # Ordinary resources stay unjudged; init containers and pod-level resources count too.
    assert post(url, shaped("cpu", "blue-lotus", {"cpu": "4", "memory": "1Gi"}))[1]["response"]["allowed"] is True
    init = shaped("init", "blue-lotus")
    init["request"]["object"]["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"nvidia.com/mig-1g.10gb": "1"}}}]
    assert post(url, init)[1]["response"]["allowed"] is False
    podlevel = shaped("pod-level", "blue-lotus")
    podlevel["request"]["object"]["spec"]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    assert post(url, podlevel)[1]["response"]["allowed"] is False
    gen.close()


def test_a_claim_impossible_node_stays_refused_through_http_until_cleared(tmp_path: Path) -> None:
    """The webhook takes verify's evidence options; a contradiction quarantines the node until an auditor clears it."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import trusted_node
    from tests.location.test_verify_location import REGISTRY, receipt, with_receipts

    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    (tmp_path / "landmarks.json").write_text(REGISTRY.to_json())
    ev = tmp_path / "ev"
    ev.mkdir()
    now = datetime.now(UTC)
    m = node.manifest(now=now - timedelta(seconds=30), chain=True)
    node.history[-1] = with_receipts(m, [receipt(m, "fra", 1_000_000, at=now - timedelta(seconds=30))])  # 1 ms from Frankfurt
    (ev / "0.json").write_bytes(node.envelope(node.history[-1]))
    (ev / "1.json").write_bytes(node.envelope(node.manifest(now=now - timedelta(seconds=20), chain=True)))
    gen = start((ev, tmp_path / "trust.json"), "--insecure-http", "--rescan", "0", "--landmarks", str(tmp_path / "landmarks.json"))
    url = f"http://{next(gen)}/validate"
    r = post(url, pod_review("q1", "acme", 1))[1]["response"]
    assert r["allowed"] is False and "quarantined" in r["status"]["message"] and "location.claim_impossible" in r["status"]["message"]
    (ev / "0.json").unlink()  # the contradicting manifest is gone; the next one is clean
    assert "quarantined" in post(url, pod_review("q2", "acme", 1))[1]["response"]["status"]["message"]
    cleared = subprocess.run([sys.executable, "-m", "attest.cli.main", "quarantine", "clear", "gpu-a17", "--evidence", str(ev),
                              "--by", "A. Auditor", "--reason", "landmark fra misconfigured"], capture_output=True, text=True, timeout=60)
    assert cleared.returncode == 0, cleared.stderr
    assert post(url, pod_review("q3", "acme", 1))[1]["response"]["allowed"] is True
    gen.close()


def test_another_nodes_key_cannot_get_a_host_admitted_through_http(tmp_path: Path) -> None:
    """gpu-b's trusted key signs a fresh manifest naming gpu-a17, whose own evidence is stale: refused."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import OPERATOR, trusted_node

    a, b = trusted_node(), trusted_node()
    b.host = "gpu-b"
    trust = a.trust.with_key(b.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    trust.save(tmp_path / "trust.json")
    ev = tmp_path / "ev"
    ev.mkdir()
    now = datetime.now(UTC)
    (ev / "a.json").write_bytes(a.envelope(a.manifest(now=now - timedelta(hours=1), chain=True)))
    (ev / "b.json").write_bytes(b.envelope(b.manifest(now=now - timedelta(seconds=30), chain=True)))
    forged = b.manifest(now=now - timedelta(seconds=10), chain=True, node={"hostname": "gpu-a17", "key_id": b.key.key_id})
    (ev / "b-as-a17.json").write_bytes(b.envelope(forged))
    gen = start((ev, tmp_path / "trust.json"), "--insecure-http")
    url = f"http://{next(gen)}/validate"
    r = post(url, pod_review("k1", "acme", 1))[1]["response"]
    assert r["allowed"] is False and "old" in r["status"]["message"] and "expired" in r["status"]["message"], r
    # The operator names gpu-a17's own key for it: gpu-b's key is then refused by the trust store itself.
    gen.close()
    trust.with_key(a.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"], hosts=["gpu-a17"], replace=True).save(tmp_path / "trust.json")
    gen = start((ev, tmp_path / "trust.json"), "--insecure-http")
    url = f"http://{next(gen)}/validate"
    r = post(url, pod_review("k2", "acme", 1))[1]["response"]
    assert r["allowed"] is False and "expired" in r["status"]["message"], r
    gen.close()


def test_a_pod_that_reaches_gpus_without_requesting_them_is_judged_through_http(
    evidence: tuple[Path, Path],
) -> None:
    """Red-team review of issue 19: no GPU request, but the runtime or the host hands the pod every GPU."""
    gen = start(evidence, "--insecure-http", "--not-gpu-runtime-class", "gvisor", "--plain-host-path", "/var/log", "--plain-host-path", "/devices")
    url = f"http://{next(gen)}/validate"
    container: dict[str, Any] = {"name": "x", "image": "cuda:12"}
    ways: dict[str, dict[str, Any]] = {
        "env all": {
            "containers": [{**container, "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]}]
        },
        "env from a ConfigMap key": {
            "containers": [
                {
                    **container,
                    "env": [
                        {
                            "name": "NVIDIA_VISIBLE_DEVICES",
                            "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}},
                        }
                    ],
                }
            ]
        },
        "envFrom": {"containers": [{**container, "envFrom": [{"configMapRef": {"name": "gpu-env"}}]}]},
        "privileged": {"containers": [{**container, "securityContext": {"privileged": True}}]},
        "privileged init": {
            "containers": [container],
            "initContainers": [{**container, "securityContext": {"privileged": True}}],
        },
        "hostPath /dev": {
            "containers": [container],
            "volumes": [{"name": "d", "hostPath": {"path": "/dev"}}],
        },
        "hostPath /dev/nvidia0": {
            "containers": [container],
            "volumes": [{"name": "d", "hostPath": {"path": "//dev/../dev/nvidia0"}}],
        },
        "hostPath /": {"containers": [container], "volumes": [{"name": "d", "hostPath": {"path": "/"}}]},
        "runtime socket": {
            "containers": [container],
            "volumes": [{"name": "d", "hostPath": {"path": "/run/containerd/containerd.sock"}}],
        },
        "runtime class": {"containers": [container], "runtimeClassName": "nvidia"},
    }
    node_itself = {"privileged", "privileged init", "hostPath /dev", "hostPath /dev/nvidia0", "hostPath /", "runtime socket"}
    for what, spec in ways.items():
        for node in ("gpu-a17", None):
            review = pod_review(f"reach-{what}", "blue-lotus", 0, node=node)
            review["request"]["object"]["spec"] = {
                **spec,
                **({"nodeSelector": {"kubernetes.io/hostname": node}} if node else {}),
            }
            r = post(url, review)[1]["response"]
            assert r["allowed"] is False, (what, node, r)
            if what in node_itself:  # the node's files or processes: its signing key, refused outright
                assert "can reach its node itself" in r["status"]["message"], (what, r)
                continue
            assert "can reach every GPU of its node" in r["status"]["message"], (what, r)
            if node:
                assert "policy.headquarters" in r["status"]["message"], (what, r)
        # A US tenant on its attested node is judged and admitted, with the reason in a warning,
        # when the pod reaches only the node's GPUs; never when it reaches the node itself.
        review = pod_review(f"us-{what}", "acme", 0)
        review["request"]["object"]["spec"] = {**spec, "nodeSelector": {"kubernetes.io/hostname": "gpu-a17"}}
        r = post(url, review)[1]["response"]
        if what in node_itself:
            assert r["allowed"] is False and "signing key" in r["status"]["message"], (what, r)
        else:
            assert r["allowed"] is True and "can reach every GPU" in r["warnings"][0], (what, r)
    # Not reaching GPUs: no devices in the variable, a plain runtime class, a hostPath under a --plain-host-path.
    for what, spec in {
        "void": {"containers": [{**container, "env": [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]}]},
        "gvisor": {"containers": [container], "runtimeClassName": "gvisor"},
        "logs": {
            "containers": [container],
            "volumes": [
                {"name": "l", "hostPath": {"path": "/var/log"}},
                {"name": "devices", "hostPath": {"path": "/devices"}},
            ],
        },
    }.items():
        review = pod_review(f"plain-{what}", "blue-lotus", 0, node=None)
        review["request"]["object"]["spec"] = spec
        assert post(url, review)[1]["response"]["allowed"] is True, what
    # kubectl debug --profile=sysadmin: an UPDATE of pods/ephemeralcontainers on the running pod.
    debug = pod_review("debug", "blue-lotus", 0)
    debug["request"].update(operation="UPDATE", subResource="ephemeralcontainers")
    debug["request"]["object"]["spec"] = {
        "nodeName": "gpu-a17",
        "containers": [container],
        "ephemeralContainers": [
            {"name": "debugger", "image": "busybox", "securityContext": {"privileged": True}}
        ],
    }
    r = post(url, debug)[1]["response"]
    assert r["allowed"] is False and "spec.ephemeralContainers[0] is privileged" in r["status"]["message"], r
    debug["request"]["object"]["spec"]["ephemeralContainers"][0]["securityContext"] = {}
    assert post(url, debug)[1]["response"]["allowed"] is True
    gen.close()
    # Once the nodes ignore the variable in unprivileged containers, env and envFrom reach no GPU.
    gen = start(evidence, "--insecure-http", "--nodes-ignore-device-env")
    url = f"http://{next(gen)}/validate"
    for what in ("env all", "envFrom"):
        review = pod_review(f"ignored-{what}", "blue-lotus", 0, node=None)
        review["request"]["object"]["spec"] = ways[what]
        assert post(url, review)[1]["response"]["allowed"] is True, what
    review = pod_review("still-privileged", "blue-lotus", 0, node=None)
    review["request"]["object"]["spec"] = ways["privileged"]
    assert post(url, review)[1]["response"]["allowed"] is False
    gen.close()


def test_the_webhook_reloads_trust_and_tenants_and_judges_expiry_at_each_review(evidence: tuple[Path, Path], tmp_path: Path) -> None:
    """Red-team review of issue 19: a revoked key, a removed tenant and an expired manifest stop admitting at once."""
    import shutil
    import time
    from datetime import UTC, datetime, timedelta

    from tests.conftest import trusted_node

    spool, trust = evidence
    tenants = tmp_path / "tenants.json"
    shutil.copy(K8S / "tenants.json", tenants)
    proc = subprocess.Popen(
        [*WEBHOOK, "--listen", "127.0.0.1:0", "--trust", str(trust), "--evidence", str(spool),
         "--tenants", str(tenants), "--insecure-http", "--rescan", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    url = f"http://{json.loads(proc.stdout.readline())['listening']}/validate"
    try:
        assert post(url, pod_review("t1", "acme", 1))[1]["response"]["allowed"] is True
        # The tenant map drops acme: refused at the next review, not at the next restart.
        tenants.write_text(json.dumps({k: v for k, v in json.loads(tenants.read_text()).items() if k != "acme"}))
        assert "no tenant record" in post(url, pod_review("t2", "acme", 1))[1]["response"]["status"]["message"]
        shutil.copy(K8S / "tenants.json", tenants)
        assert post(url, pod_review("t3", "acme", 1))[1]["response"]["allowed"] is True
        # The auditor revokes the node key: refused at the next review.
        (key_id,) = [k.key_id for k in TrustStore.load(trust).document.keys]
        revoked = subprocess.run([sys.executable, "-m", "attest.cli.main", "trust", "revoke", key_id, "--trust", str(trust)],
                                 capture_output=True, text=True, timeout=60)
        assert revoked.returncode == 0, revoked.stderr
        r = post(url, pod_review("t4", "acme", 1))[1]["response"]
        assert r["allowed"] is False, r
        # A trust file that no longer reads: every review fails (the API server refuses), none admits.
        trust.write_text("{")
        assert post(url, pod_review("t5", "acme", 1))[0] == 400
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    # Evidence that expires while cached is stale at the first review after its expiry.
    node = trusted_node()
    node.trust.save(tmp_path / "trust2.json")
    ev = tmp_path / "ev"
    ev.mkdir()
    gen = start((ev, tmp_path / "trust2.json"), "--insecure-http", "--rescan", "0")
    url = f"http://{next(gen)}/validate"
    now = datetime.now(UTC)
    m = node.manifest(now=now - timedelta(seconds=5))
    m = m.model_copy(update={"freshness": m.freshness.model_copy(update={"expires_at": now + timedelta(seconds=4)})})
    (ev / "m.json").write_bytes(node.envelope(m))  # verified at the next review, then cached
    r = post(url, pod_review("e1", "acme", 1))[1]["response"]
    assert r["allowed"] is True, r
    time.sleep(max(0.0, (now + timedelta(seconds=4.5) - datetime.now(UTC)).total_seconds()))
    r = post(url, pod_review("e2", "acme", 1))[1]["response"]
    assert r["allowed"] is False and "expired" in r["status"]["message"], r
    gen.close()


def test_a_claim_exemption_must_name_the_namespace(evidence: tuple[Path, Path]) -> None:
    """A bare claim name is the tenant's to choose: --not-accelerator-claim takes NAMESPACE/NAME (exit 2 otherwise)."""
    spool, trust = evidence
    r = subprocess.run([*WEBHOOK, "--insecure-http", "--trust", str(trust), "--evidence", str(spool), "--tenants", str(K8S / "tenants.json"),
                        "--not-accelerator-claim", "scratch"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "NAMESPACE/NAME" in r.stderr and "Traceback" not in r.stderr
    gen = start(evidence, "--insecure-http", "--not-accelerator-claim", "shared-infra/scratch")
    url = f"http://{next(gen)}/validate"
    claims = [{"name": "s", "resourceClaimTemplateName": "scratch"}]
    assert post(url, shaped("own-template", "blue-lotus", claims=claims))[1]["response"]["allowed"] is False
    other = shaped("infra", "shared-infra", claims=claims)
    assert post(url, other)[1]["response"]["allowed"] is True  # the exempted template, in its own namespace
    gen.close()


def test_allow_unpinned_refuses_when_any_attested_node_would(tmp_path: Path) -> None:
    """Red-team review of issue 19: with --allow-unpinned the pod may land on any attested node, so each must allow it."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import OPERATOR, trusted_node

    a, b = trusted_node(), trusted_node()
    b.host = "gpu-b"
    a.trust.with_key(b.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"]).save(tmp_path / "trust.json")
    ev = tmp_path / "ev"
    ev.mkdir()
    now = datetime.now(UTC)
    (ev / "a.json").write_bytes(a.envelope(a.manifest(now=now - timedelta(seconds=30), chain=True)))
    (ev / "b.json").write_bytes(b.envelope(b.manifest(now=now - timedelta(hours=1), chain=True)))  # stale
    gen = start((ev, tmp_path / "trust.json"), "--insecure-http", "--rescan", "0", "--allow-unpinned")
    url = f"http://{next(gen)}/validate"
    r = post(url, pod_review("u1", "acme", 1, node=None))[1]["response"]
    assert r["allowed"] is False and "1 of the 2 attested nodes" in r["status"]["message"] and "gpu-b: newest evidence is" in r["status"]["message"], r
    (ev / "b.json").unlink()
    assert post(url, pod_review("u2", "acme", 1, node=None))[1]["response"]["allowed"] is True
    gen.close()
