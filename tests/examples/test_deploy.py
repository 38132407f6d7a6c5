"""deploy/: the Kubernetes manifests (kustomize) and the container image, checked as far as this machine allows.

No cluster here: the objects are rendered (``kubectl kustomize`` when kubectl is installed, else the
resources the kustomization lists), parsed, and checked against the code they run: every container's
arguments parse with attest's own command line, the webhook's path, port and probes are the server's,
every container requests resources, and the webhook fails closed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from attest.cli.main import build_parser
from attest.cli.webhook import DEFAULT_PORT, HEALTH_PATH, VALIDATE_KUEUE_PATH, VALIDATE_PATH

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"


def listed() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    for d in docs:
        if d["kind"] not in ("Namespace", "ValidatingWebhookConfiguration"):
            d["metadata"].setdefault("namespace", kustomization["namespace"])
    return docs


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return listed()
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(rendered) == len(listed())  # every file the kustomization names, and nothing else
    return rendered


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for o in objects:
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            pod = o["spec"]["template"]["spec"]
            out += [(o["metadata"]["name"], c, pod) for c in pod["containers"]]
    return out


def test_every_file_is_listed_and_every_object_is_well_formed(objects: list[dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    for o in objects:
        assert o["apiVersion"] and o["kind"] and o["metadata"]["name"], o
        if o["kind"] not in ("Namespace", "ValidatingWebhookConfiguration"):
            assert o["metadata"]["namespace"] == "attest-system", o["metadata"]
    kinds = {o["kind"] for o in objects}
    assert {"DaemonSet", "Deployment", "StatefulSet", "ValidatingWebhookConfiguration", "ServiceAccount", "Role",
            "RoleBinding", "Certificate", "Service", "PersistentVolumeClaim"} <= kinds


def test_every_container_requests_resources_and_runs_a_real_attest_command(objects: list[dict[str, Any]]) -> None:
    for owner, c, pod in containers(objects):
        requests = c.get("resources", {}).get("requests", {})
        assert {"cpu", "memory"} <= set(requests), (owner, c["name"])
        assert pod.get("automountServiceAccountToken") is False, owner  # none of them calls the API
        if c["image"].startswith("postgres"):
            continue
        args = list(c.get("args", []))
        if c.get("command"):  # the daemon renders its config first, then execs attest
            assert "exec attest daemon --config" in " ".join(args)
            args = args[0].split("exec attest ", 1)[1].split()
        parsed = build_parser(args[0]).parse_args(args)  # the flags exist and take these values
        assert parsed.func is not None


def test_the_webhook_fails_closed_on_the_servers_path_and_port(objects: list[dict[str, Any]]) -> None:
    config = find(objects, "ValidatingWebhookConfiguration", "compute-attest")
    hook, kueue = config["webhooks"]
    debug = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods/ephemeralcontainers"]}
    assert hook["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}, debug]
    # Issue: namespaces labelled placement=kueue were left out of the webhook altogether. They now
    # reach /validate-kueue, pod creations, updates (only Kueue may ungate) and kubectl debug alike.
    assert kueue["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}, debug]
    placements = []
    for h, path in ((hook, VALIDATE_PATH), (kueue, VALIDATE_KUEUE_PATH)):
        assert h["failurePolicy"] == "Fail" and h["sideEffects"] == "None" and h["admissionReviewVersions"] == ["v1"]
        service_ref = h["clientConfig"]["service"]
        assert service_ref["path"] == path and service_ref["namespace"] == "attest-system"
        assert service_ref == {**hook["clientConfig"]["service"], "path": path}
        expressions = h["namespaceSelector"]["matchExpressions"]
        excluded = next(e for e in expressions if e["key"] == "kubernetes.io/metadata.name")
        assert excluded == {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "attest-system"]}
        (placement,) = [e for e in expressions if e["key"] == "compute-attest.dev/placement"]
        assert len(expressions) == 2 and "objectSelector" not in h and placement["values"] == ["kueue"]
        placements.append(placement["operator"])
    assert placements == ["NotIn", "In"]  # together: every namespace but the two system ones
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "attest-system/attest-webhook"
    service = find(objects, "Service", service_ref["name"])
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == service_ref["port"]]
    deployment = find(objects, "Deployment", "attest-webhook")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    (container_port,) = [p for p in c["ports"] if p["name"] == port["targetPort"]]
    args = build_parser("webhook").parse_args(c["args"])
    assert container_port["containerPort"] == int(args.listen.rsplit(":", 1)[1]) == DEFAULT_PORT
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert probe["httpGet"]["path"] == HEALTH_PATH and probe["httpGet"]["scheme"] == "HTTPS"
    # TLS from the Certificate's Secret, for the Service's DNS name.
    cert = find(objects, "Certificate", "attest-webhook")
    tls = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == cert["spec"]["secretName"]
    assert "attest-webhook.attest-system.svc" in cert["spec"]["dnsNames"]
    assert args.tls_cert.startswith(next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "tls"))


def test_the_webhook_reads_what_the_collector_keeps(objects: list[dict[str, Any]]) -> None:
    def mount_of(deployment: str, path: str) -> str:
        pod = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"]))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        return str(volume["persistentVolumeClaim"]["claimName"])

    collector = find(objects, "Deployment", "attest-collector")["spec"]["template"]["spec"]["containers"][0]["args"]
    webhook = find(objects, "Deployment", "attest-webhook")["spec"]["template"]["spec"]["containers"][0]["args"]
    evidence_dir = build_parser("collector").parse_args(collector).evidence_dir
    assert build_parser("webhook").parse_args(webhook).evidence == evidence_dir
    claim = mount_of("attest-collector", evidence_dir)
    assert claim == mount_of("attest-webhook", evidence_dir)
    assert find(objects, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]
    # The daemons push to the collector's Service.
    daemon_toml = find(objects, "ConfigMap", "attest-daemon")["data"]["daemon.toml"]
    service = find(objects, "Service", "attest-collector")
    assert f'url = "http://attest-collector.attest-system.svc:{service["spec"]["ports"][0]["port"]}/v1/manifests"' in daemon_toml


def test_the_daemon_runs_on_gpu_nodes_with_its_own_key_and_socket(objects: list[dict[str, Any]]) -> None:
    import tomllib

    ds = find(objects, "DaemonSet", "attest-daemon")
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"} and pod["runtimeClassName"] == "nvidia"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["key"]["hostPath"]["path"] == "/etc/attest/node"  # each node's own key, never a shared Secret
    config = tomllib.loads(find(objects, "ConfigMap", "attest-daemon")["data"]["daemon.toml"])
    assert config["hostname"] == "@NODE_NAME@" and config["gpus"] == "nvml"
    (c,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert config["key"].startswith(mounts["key"]) and config["socket"].startswith(mounts["socket"])
    assert volumes["socket"]["hostPath"]["path"] == mounts["socket"]
    from attest.daemon.config import DaemonConfig

    DaemonConfig.model_validate({**config, "hostname": "gpu-a17"})  # the rendered file is a valid daemon config


def test_the_container_image_runs_attest() -> None:
    text = (REPO / "deploy" / "container" / "Containerfile").read_text()
    assert 'ENTRYPOINT ["attest"]' in text and "USER 10001" in text
    for line in text.splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY --from"):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), src
