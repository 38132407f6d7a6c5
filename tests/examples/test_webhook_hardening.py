"""Pods that reach a node's GPUs or key without requesting them, and pods Kueue does not hold, through the real webhook.

Red-team findings left open after issue 19: hostPaths outside a short deny-list (``/proc/1/root`` is
the host's whole filesystem), capabilities and ``hostPID``, and namespaces labelled
``compute-attest.dev/placement=kueue``, which the webhook configuration left out altogether. Every
attack is one test, against one ``attest webhook serve`` started for the module; each is refused
without a GPU request, unpinned (no node for a tenant nobody judged) and pinned for a tenant the
policy refuses on the node. Lawful pods beside them are still admitted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.scheduler.kubernetes import (
    DEFAULT_ACCELERATORS,
    NOT_PLAIN,
    Accelerators,
    device_access,
    plain_host_path,
)
from attest.scheduler.kueue import ADMISSION_GATE, KUEUE_USER, QUEUE_LABEL
from tests.conftest import trusted_node
from tests.examples.test_kubernetes import K8S, WEBHOOK, pod_review, post, start

PLAIN = ("--plain-host-path", "/data/datasets", "--plain-host-path", "/var/log/", "--plain-csi-driver", "secrets-store.csi.k8s.io")
C: dict[str, Any] = {"name": "x", "image": "cuda:12"}


@pytest.fixture(scope="module")
def node_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    node = trusted_node()
    d = tmp_path_factory.mktemp("hardening")
    node.trust.save(d / "trust.json")
    (d / "ev").mkdir()
    (d / "ev" / "m.json").write_bytes(node.envelope(node.manifest(now=datetime.now(UTC) - timedelta(seconds=5), chain=True)))
    return d / "ev", d / "trust.json"


@pytest.fixture(scope="module")
def server(node_files: tuple[Path, Path]) -> Iterator[str]:
    gen = start(node_files, "--insecure-http", *PLAIN, "--kueue-admission-check")
    yield f"http://{next(gen)}"
    gen.close()


def with_spec(uid: str, namespace: str, spec: dict[str, Any], node: str | None) -> dict[str, Any]:
    review = pod_review(uid, namespace, 0, node=None)
    review["request"]["object"]["spec"] = {**spec, **({"nodeSelector": {"kubernetes.io/hostname": node}} if node else {})}
    return review


def host(path: str, *, read_only: bool = True, recursive: bool = True, kind: str | None = None, where: str = "containers") -> dict[str, Any]:
    volume: dict[str, Any] = {"name": "h", "hostPath": {"path": path, **({"type": kind} if kind else {})}}
    spec: dict[str, Any] = {"containers": [C], "volumes": [volume]}
    mount = {"name": "h", "mountPath": "/h", "readOnly": read_only, **({"recursiveReadOnly": "Enabled"} if read_only and recursive else {})}
    spec[where] = [*spec.get(where, []), {**C, "name": "m", "volumeMounts": [mount]}]
    return spec


def caps(*add: str, where: str = "containers", **ctx: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [C]}
    spec[where] = [*spec.get(where, []), {**C, "name": "c", "securityContext": {"capabilities": {"add": list(add)}, **ctx}}]
    return spec


# Each: the pod spec, and the finding the refusal must name.
ATTACKS: dict[str, tuple[dict[str, Any], str]] = {
    "hostPath /proc/1/root (the host's whole filesystem)": (host("/proc/1/root"), "'/proc/1/root'"),
    "hostPath /proc": (host("/proc"), "'/proc'"),
    "hostPath /sys": (host("/sys"), "'/sys'"),
    "hostPath /host (a symlink or mount of / on some nodes)": (host("/host"), "'/host'"),
    "hostPath /etc/..": (host("/etc/.."), "without '..'"),
    "hostPath /etc/attest/node (the daemon's key)": (host("/etc/attest/node"), "'/etc/attest/node'"),
    "hostPath /var/lib/attest (the daemon's state)": (host("/var/lib/attest"), "'/var/lib/attest'"),
    "hostPath climbing out of a plain path with ..": (host("/data/datasets/../../proc/1/root"), "without '..'"),
    "hostPath through a symlink then .. (lexically plain)": (host("/data/datasets/link/.."), "without '..'"),
    "hostPath beside a plain path (/data/datasets2)": (host("/data/datasets2"), "'/data/datasets2'"),
    "hostPath above a plain path (/data)": (host("/data"), "'/data'"),
    "hostPath relative": (host("data/datasets/x"), "not an absolute path"),
    "hostPath under a plain path, mounted writable (plants a symlink)": (host("/data/datasets/scratch", read_only=False), "mounted writable"),
    # red team rt8: readOnly alone leaves a mount below the plain path writable (a symlink planted there)
    "hostPath under a plain path, readOnly but not recursively": (host("/data/datasets", recursive=False), "recursiveReadOnly: Enabled"),
    "hostPath under a plain path, written by an ephemeral container": (host("/data/datasets", read_only=False, where="ephemeralContainers"), "mounted writable by spec.ephemeralContainers[0]"),
    "hostPath under a plain path of type CharDevice": (host("/data/datasets/nvidia0", kind="CharDevice"), "of type CharDevice"),
    "hostPath under a plain path of type Socket": (host("/var/log/containerd.sock", kind="Socket"), "of type Socket"),
    "hostPID": ({"containers": [C], "hostPID": True}, "hostPID: true"),
    "hostPID with an added capability": ({**caps("NET_ADMIN"), "hostPID": True}, "hostPID: true"),
    "SYS_ADMIN": (caps("SYS_ADMIN"), "adds capability 'SYS_ADMIN'"),
    "cap_sys_ptrace, any case, with CAP_": (caps("cap_sys_ptrace"), "adds capability 'cap_sys_ptrace'"),
    "SYS_RAWIO without privilege escalation, as non-root": (caps("SYS_RAWIO", allowPrivilegeEscalation=False, runAsNonRoot=True), "'SYS_RAWIO'"),
    "SYS_MODULE with privilege escalation": (caps(" Sys_Module ", allowPrivilegeEscalation=True), "adds capability ' Sys_Module '"),
    "MKNOD in an init container": (caps("MKNOD", where="initContainers"), "spec.initContainers[0] adds capability 'MKNOD'"),
    "DAC_READ_SEARCH in an ephemeral container": (caps("CAP_DAC_READ_SEARCH", where="ephemeralContainers"), "spec.ephemeralContainers[0] adds capability"),
    "ALL": (caps("all"), "adds capability 'all'"),
    "BPF and PERFMON (read any memory; not on the named list)": (caps("BPF", "PERFMON"), "adds capability 'BPF'"),
    "an inline CSI volume of a driver not named plain": (
        {"containers": [C], "volumes": [{"name": "v", "csi": {"driver": "hostpath.csi.k8s.io", "volumeAttributes": {"path": "/dev"}}}]},
        "inline CSI volume of driver 'hostpath.csi.k8s.io'",
    ),
    "a Windows host process (pod level)": ({"containers": [C], "securityContext": {"windowsOptions": {"hostProcess": True}}}, "hostProcess: true"),
    "a Windows host process (container)": (caps(windowsOptions={"hostProcess": True}), "spec.containers[1] is a Windows host process"),
    "a flexVolume": ({"containers": [C], "volumes": [{"name": "v", "flexVolume": {"driver": "example/mount", "options": {"path": "/"}}}]}, "flexVolume"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_on_the_node_itself_is_refused_whoever_the_tenant(server: str, attack: str) -> None:
    """Each reaches the node's files or processes, so the attest daemon's signing key: refused outright.

    Red team rt8: judged as "using every GPU", such a pod was admitted for a tenant the policy
    allows on the node, and could copy the key and sign manifests as that node from anywhere.
    """
    spec, finding = ATTACKS[attack]
    for path in ("/validate", "/validate-kueue"):  # the same judgement in a Kueue namespace
        for tenant, node in (("blue-lotus", None), ("blue-lotus", "gpu-a17"), ("acme", "gpu-a17"), ("acme", None)):
            r = post(server + path, with_spec(f"a-{attack}-{tenant}-{node}", tenant, spec, node))[1]["response"]
            message = r["status"]["message"]
            assert r["allowed"] is False and "can reach its node itself" in message and "signing key" in message, (path, r)
            assert finding in message, (path, r)


LAWFUL: dict[str, dict[str, Any]] = {
    "hostPath under a plain path, read-only": host("/data/datasets/imagenet"),
    "the plain path itself, spelled //, ./ and a trailing slash": host("//data//datasets/./"),
    "a plain path configured with a trailing slash": host("/var/log/pods"),
    "a hostPath volume no container mounts writable": {"containers": [C], "volumes": [{"name": "h", "hostPath": {"path": "/data/datasets", "type": "Directory"}}]},
    "harmless capabilities": caps("NET_BIND_SERVICE", "CAP_IPC_LOCK", "net_raw", "SYS_NICE", "NET_ADMIN"),
    "hostPID false, hostNetwork and hostIPC": {"containers": [C], "hostPID": False, "hostNetwork": True, "hostIPC": True},
    "a CSI driver named plain": {"containers": [C], "volumes": [{"name": "s", "csi": {"driver": "secrets-store.csi.k8s.io"}}]},
    "a raw block PersistentVolumeClaim": {"containers": [{**C, "volumeDevices": [{"name": "b", "devicePath": "/dev/xvda"}]}],
                                          "volumes": [{"name": "b", "persistentVolumeClaim": {"claimName": "block"}}]},
}


@pytest.mark.parametrize("what", list(LAWFUL))
def test_a_pod_that_reaches_no_device_is_not_judged(server: str, what: str) -> None:
    r = post(server + "/validate", with_spec(f"ok-{what}", "blue-lotus", LAWFUL[what], None))[1]["response"]
    assert r["allowed"] is True and r["auditAnnotations"]["compute-attest.dev/decision"] == "no GPU requested: not judged", r


@pytest.mark.parametrize(
    ("path", "why"),
    [("/", "whole filesystem"), ("/proc", "lies under /proc"), ("/sys/class", "lies under /sys"), ("/dev/", "lies under /dev"),
     ("//run//nvidia", "lies under /run"), ("/var/run", "lies under /var/run"), ("/var", "contains /var/run"),
     ("/var/lib", "contains /var/lib/kubelet"), ("/var/lib/kubelet/pods", "lies under /var/lib/kubelet"),
     ("/var/lib/containerd", "lies under"), ("/var/lib/docker/volumes", "lies under"), ("/etc/attest/node", "lies under /etc"),
     ("/var/lib/attest", "lies under /var/lib/attest"), ("/data/../etc", "'..'"), ("data", "not an absolute path"), ("", "not an absolute path"),
     # red team rt8: a symlink to /run/lock, other runtimes' sockets and state, directories anyone writes
     ("/var/lock", "lies under /var/lock"), ("/var/snap/microk8s", "lies under /var/snap"), ("/var/lib/k0s", "lies under"),
     ("/var/lib/rancher/k3s", "lies under"), ("/var/lib/containers", "lies under"), ("/tmp", "lies under /tmp"),
     ("/root", "lies under /root"), ("/home/alice", "lies under /home")],
)
def test_a_plain_host_path_that_may_hold_devices_or_keys_is_refused(path: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace(".", r"\.")):
        plain_host_path(path)


def test_plain_host_paths_are_normalised_and_compared_by_component() -> None:
    assert plain_host_path("//data//datasets/./") == "/data/datasets"
    config = DEFAULT_ACCELERATORS.with_options(plain_host_paths=["/data/"])
    assert device_access({"spec": host("/data/x")}, config) == []
    assert device_access({"spec": host("/data")}, config) == []
    assert device_access({"spec": host("/data2")}, config) != []
    assert device_access({"spec": host("/dat")}, config) != []
    # The library cannot be handed an unchecked one either.
    with pytest.raises(ValueError, match="lies under /proc"):
        DEFAULT_ACCELERATORS.with_options(plain_host_paths=["/proc/1/root"])
    with pytest.raises(ValueError, match="not normalised"):
        Accelerators(plain_host_paths=("/data/",))
    with pytest.raises(ValueError, match="lies under /dev"):
        Accelerators(plain_host_paths=("/dev",))
    # The daemon's own state directory is one of the refused ones, wherever the daemon's default moves.
    from attest.daemon.config import DaemonConfig

    assert DaemonConfig.model_fields["state_dir"].default in NOT_PLAIN


def test_the_webhook_refuses_to_start_with_a_plain_host_path_that_is_not(node_files: tuple[Path, Path]) -> None:
    spool, trust = node_files
    for path in ("/", "/proc/1/root", "/var"):
        r = subprocess.run([*WEBHOOK, "--insecure-http", "--trust", str(trust), "--evidence", str(spool), "--tenants", str(K8S / "tenants.json"),
                            "--plain-host-path", "/data/datasets", "--plain-host-path", path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--plain-host-path" in r.stderr and "Traceback" not in r.stderr, (path, r.stderr)


def kueue_pod(uid: str, namespace: str, *, label: bool = True, gate: bool = True, gpus: int = 8, **spec: Any) -> dict[str, Any]:
    review = pod_review(uid, namespace, gpus, node=None)
    pod = review["request"]["object"]
    if label:
        pod["metadata"]["labels"] = {QUEUE_LABEL: "team-a"}
    if gate:
        pod["spec"]["schedulingGates"] = [{"name": ADMISSION_GATE}]
    pod["spec"].update(spec)
    return review


def test_a_pod_kueue_holds_is_admitted_unpinned_in_a_kueue_namespace(server: str) -> None:
    r = post(server + "/validate-kueue", kueue_pod("k-held", "acme"))[1]["response"]
    assert r["allowed"] is True and "Kueue holds the pod" in r["auditAnnotations"]["compute-attest.dev/decision"], r
    # Not in a namespace whose pods the configuration sends to /validate-kueue: judged as ever, and
    # Kueue's gate there is one nobody checks the removal of.
    r = post(server + "/validate", kueue_pod("k-elsewhere", "acme"))[1]["response"]
    assert r["allowed"] is False and ADMISSION_GATE in r["status"]["message"], r
    # An unknown namespace has no tenant, Kueue or not.
    assert "no tenant record" in post(server + "/validate-kueue", kueue_pod("k-nobody", "nobody"))[1]["response"]["status"]["message"]


@pytest.mark.parametrize(
    ("what", "review"),
    [
        ("created directly, no queue label and no gate", kueue_pod("k1", "acme", label=False, gate=False)),
        ("the queue label, but Kueue did not gate it", kueue_pod("k2", "acme", gate=False)),
        ("the gate written by the tenant, no queue label", kueue_pod("k3", "acme", label=False)),
        ("an empty queue label", kueue_pod("k4", "acme")),
        ("Kueue holds it, but it mounts the host's root", kueue_pod("k5", "acme", gpus=0, containers=[C], volumes=[{"name": "r", "hostPath": {"path": "/proc/1/root"}}])),
        ("Kueue holds it, but names an unattested node (nodeName never waits for the gate)", kueue_pod("k7", "acme", nodeName="gpu-zz")),
        ("Kueue holds it, but it adds SYS_ADMIN", kueue_pod("k6", "acme", containers=[{**C, "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}])),
    ],
)
def test_a_pod_kueue_does_not_hold_is_judged_in_a_kueue_namespace(server: str, what: str, review: dict[str, Any]) -> None:
    if what == "an empty queue label":
        review["request"]["object"]["metadata"]["labels"][QUEUE_LABEL] = ""
    r = post(server + "/validate-kueue", review)[1]["response"]
    reaches_node = "root" in what or "SYS_ADMIN" in what
    expected = "signing key" if reaches_node else "no verified evidence" if "nodeName" in what else "names no node"
    assert r["allowed"] is False and expected in r["status"]["message"], (what, r)
    # Pinned to its attested node, it is judged like any other pod: a tenant the policy refuses stays refused.
    review["request"]["namespace"] = "blue-lotus"
    review["request"]["object"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "gpu-a17"}
    review["request"]["object"]["spec"].pop("nodeName", None)
    r = post(server + "/validate-kueue", review)[1]["response"]
    expected = "signing key" if reaches_node else "policy.headquarters"
    assert r["allowed"] is False and expected in r["status"]["message"], (what, r)


def ungating(uid: str, user: object, *, before: bool = True, after: bool = False) -> dict[str, Any]:
    review = kueue_pod(uid, "blue-lotus", gate=after)
    review["request"]["operation"] = "UPDATE"
    review["request"]["userInfo"] = {"username": user}
    review["request"]["oldObject"] = kueue_pod(uid, "blue-lotus", gate=before)["request"]["object"]
    return review


def test_only_kueue_may_remove_its_admission_gate(server: str) -> None:
    """A tenant that ungates its own Kueue-held pod would have it scheduled anywhere, its Workload never admitted."""
    r = post(server + "/validate-kueue", ungating("u1", "system:serviceaccount:blue-lotus:default"))[1]["response"]
    assert r["allowed"] is False and "only Kueue may remove the scheduling gate" in r["status"]["message"], r
    assert post(server + "/validate-kueue", ungating("u2", "alice@example.com"))[1]["response"]["allowed"] is False
    assert post(server + "/validate-kueue", ungating("u3", None))[1]["response"]["allowed"] is False
    missing = ungating("u4", "alice")
    del missing["request"]["oldObject"]
    assert post(server + "/validate-kueue", missing)[1]["response"]["allowed"] is False
    # Kueue's controller ungates the admitted Workload's pods; other updates keep the gate or never had it.
    assert post(server + "/validate-kueue", ungating("u5", KUEUE_USER))[1]["response"]["allowed"] is True
    assert post(server + "/validate-kueue", ungating("u6", "alice", after=True))[1]["response"]["allowed"] is True
    assert post(server + "/validate-kueue", ungating("u7", "alice", before=False))[1]["response"]["allowed"] is True


def test_another_kueue_user_is_configured(node_files: tuple[Path, Path]) -> None:
    gen = start(node_files, "--insecure-http", "--kueue-user", "system:serviceaccount:queues:kueue")
    url = f"http://{next(gen)}/validate-kueue"
    assert post(url, ungating("c1", "system:serviceaccount:queues:kueue"))[1]["response"]["allowed"] is True
    assert post(url, ungating("c2", KUEUE_USER))[1]["response"]["allowed"] is False  # the default no longer
    gen.close()


def test_the_neuron_device_variable_and_a_malformed_variable_name(server: str) -> None:
    """Red team rt8: AWS_NEURON_VISIBLE_DEVICES was not read, and a list as a variable's name crashed the review."""
    spec = {"containers": [{**C, "env": [{"name": "AWS_NEURON_VISIBLE_DEVICES", "value": "ALL"}]}]}
    r = post(server + "/validate", with_spec("neuron", "blue-lotus", spec, None))[1]["response"]
    assert r["allowed"] is False and "sets AWS_NEURON_VISIBLE_DEVICES" in r["status"]["message"], r
    for name in (["NVIDIA_VISIBLE_DEVICES"], {"a": 1}, 7):
        spec = {"containers": [{**C, "env": [{"name": name, "value": "all"}]}]}
        status, body = post(server + "/validate", with_spec(f"bad-{name!r}", "blue-lotus", spec, None))
        r = body["response"]
        assert r["allowed"] is False and "env[0].name is not a string" in r["status"]["message"], (name, status, r)


def test_a_gpu_pod_with_a_scheduling_gate_of_its_own_is_refused(server: str) -> None:
    """Red team rt9: a gate the tenant removes later (pod UPDATEs are not judged) let a pod admitted while its
    node qualified start after the node was quarantined. Only Kueue's gate, in a Kueue namespace, is accepted."""
    review = pod_review("gated", "acme", 8, node="gpu-a17")
    review["request"]["object"]["spec"]["schedulingGates"] = [{"name": "example.com/hold"}]
    for path in ("/validate", "/validate-kueue"):
        r = post(server + path, review)[1]["response"]
        assert r["allowed"] is False and "'example.com/hold'" in r["status"]["message"], (path, r)
    # Kueue's own gate outside a Kueue namespace: nobody there checks who removes it.
    review["request"]["object"]["spec"]["schedulingGates"] = [{"name": ADMISSION_GATE}]
    r = post(server + "/validate", review)[1]["response"]
    assert r["allowed"] is False and ADMISSION_GATE in r["status"]["message"], r
    # Kueue's gate beside another one, in a Kueue namespace: the other is refused.
    held = kueue_pod("k-two-gates", "acme")
    held["request"]["object"]["spec"]["schedulingGates"].append({"name": "example.com/hold"})
    r = post(server + "/validate-kueue", held)[1]["response"]
    assert r["allowed"] is False and "'example.com/hold'" in r["status"]["message"], r
    # The same pod without a gate is admitted on its qualifying node; a CPU pod may carry any gate.
    review["request"]["object"]["spec"].pop("schedulingGates")
    assert post(server + "/validate", review)[1]["response"]["allowed"] is True
    cpu = pod_review("cpu-gated", "acme", 0, node=None)
    cpu["request"]["object"]["spec"]["schedulingGates"] = [{"name": "example.com/hold"}]
    assert post(server + "/validate", cpu)[1]["response"]["allowed"] is True


def test_without_the_admission_check_a_pod_kueue_holds_is_judged_as_any_other(node_files: tuple[Path, Path]) -> None:
    """This package ships the AdmissionCheck's state machine, not a controller: unless the operator says one
    runs (--kueue-admission-check), nothing would keep a pod Kueue holds on nodes that qualify."""
    gen = start(node_files, "--insecure-http")
    url = f"http://{next(gen)}/validate-kueue"
    r = post(url, kueue_pod("k-unchecked", "acme"))[1]["response"]
    assert r["allowed"] is False and "names no node" in r["status"]["message"], r
    gen.close()
