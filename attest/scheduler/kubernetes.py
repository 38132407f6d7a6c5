"""Kubernetes: a ValidatingAdmissionWebhook's decision (AdmissionReview v1 in and out).

A pod that asks for any accelerator (``nvidia.com/gpu``, MIG slices, time-sliced replicas,
AMD, Intel, Gaudi, TPU, Neuron, a DRA resource claim: see :class:`Accelerators`) is admitted
only if the nodes it may land on have fresh, verified evidence and the export-control policy allows *this*
tenant there. The tenant comes from the namespace, through a mapping the cluster's
administrators keep (pods cannot be trusted to name their own tenant). Unknown
namespaces, malformed reviews and missing evidence are refused: the webhook fails
closed, like ``failurePolicy: Fail``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.scheduler.kueue import ADMISSION_GATE, KUEUE_USER, QUEUE_LABEL
from attest.verify import PolicyEvaluator


class ReviewError(ValueError):
    """The request is not an AdmissionReview v1 this webhook can answer."""


HOSTNAME = "kubernetes.io/hostname"


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReviewError(f"{what} is not an object")
    return value


def _items(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReviewError(f"{what} is not a list")
    return value


def _names(value: Any, what: str) -> set[str]:
    names = _items(value, what)
    if not all(isinstance(n, str) for n in names):
        raise ReviewError(f"{what} holds something other than names")
    return set(names)


@dataclass(frozen=True)
class Accelerators:
    """Which pod resources are accelerators, and how a request for them counts.

    ``whole`` resources count one GPU per unit (``nvidia.com/gpu: 8`` needs 8 GPUs on the node);
    ``shared`` ones are slices of a GPU (MIG profiles, time-sliced replicas): any number of
    them needs at least one GPU. Names ending in ``*`` are prefixes. A resource that is in
    neither list, nor in ``ignored``, nor a core resource (:data:`CORE_RESOURCES`) is refused
    with the options that would configure it: unknown chips count as controlled, never as
    "no GPU".

    A pod's DRA ``resourceClaims`` name claims, not device classes (the webhook does not read
    ResourceClaim objects): each claim is judged as a request for at least one GPU, unless the
    ResourceClaim or ResourceClaimTemplate it names, as ``namespace/name``, is in
    ``ignored_claims`` (a name alone would be the tenant's to choose).
    """

    whole: tuple[str, ...] = (
        "nvidia.com/gpu",
        "amd.com/gpu",
        "gpu.intel.com/xe",
        "habana.ai/gaudi",
        "google.com/tpu",
        "aws.amazon.com/neuron",
        "aws.amazon.com/neurondevice",
    )
    shared: tuple[str, ...] = (
        "nvidia.com/mig-*",
        "nvidia.com/gpu.shared",
        "gpu.intel.com/*",
        "aws.amazon.com/neuroncore",
    )
    ignored: tuple[str, ...] = ()
    ignored_claims: tuple[str, ...] = ()
    plain_runtime_classes: tuple[str, ...] = ()
    """RuntimeClasses that hand a container no GPU (``--not-gpu-runtime-class``); any other
    ``runtimeClassName`` (``nvidia``, a renamed one) is judged as reaching every GPU of the node."""
    env_ignored: bool = False
    """The nodes' container toolkit ignores ``NVIDIA_VISIBLE_DEVICES`` in unprivileged containers
    (``--nodes-ignore-device-env``): environment variables then reach no GPU."""
    plain_host_paths: tuple[str, ...] = ()
    """Host directories that hold no device, socket or key (``--plain-host-path``, normalised by
    :func:`plain_host_path`); a ``hostPath`` volume anywhere else is judged as reaching every GPU."""
    plain_csi_drivers: tuple[str, ...] = ()
    """CSI drivers whose inline volumes hand a pod files, never a host path or device
    (``--plain-csi-driver``, e.g. ``secrets-store.csi.k8s.io``); any other inline CSI volume is judged."""

    def __post_init__(self) -> None:
        for path in self.plain_host_paths:
            if plain_host_path(path) != path:
                raise ValueError(f"plain host path {path!r} is not normalised: use plain_host_path()")

    def with_options(
        self,
        *,
        whole: Sequence[str] = (),
        shared: Sequence[str] = (),
        ignored: Sequence[str] = (),
        ignored_claims: Sequence[str] = (),
        plain_runtime_classes: Sequence[str] = (),
        env_ignored: bool = False,
        plain_host_paths: Sequence[str] = (),
        plain_csi_drivers: Sequence[str] = (),
    ) -> Accelerators:
        """A configuration that also knows these names (``--gpu-resource`` and the like).

        Raises:
            ValueError: a plain host path that may hold devices, sockets or keys (see :func:`plain_host_path`).
        """
        return Accelerators(
            (*self.whole, *whole),
            (*self.shared, *shared),
            (*self.ignored, *ignored),
            (*self.ignored_claims, *ignored_claims),
            (*self.plain_runtime_classes, *plain_runtime_classes),
            self.env_ignored or env_ignored,
            (*self.plain_host_paths, *(plain_host_path(p) for p in plain_host_paths)),
            (*self.plain_csi_drivers, *plain_csi_drivers),
        )

    def kind(self, resource: str) -> str | None:
        """``whole``, ``shared``, ``ignored``, ``unknown`` (not configured), or None (a core resource).

        An allow-list: only the core resources (:data:`CORE_RESOURCES`, exact names, and
        ``hugepages-*``) are not accelerators by default; any other resource (``qualcomm.com/qaic``,
        ``hygon.com/dcu``, ``cpu.example.com/gpu``) is ``unknown`` until configured.
        """
        for kind, names in (("ignored", self.ignored), ("whole", self.whole), ("shared", self.shared)):
            if any(_matches(resource, n) for n in names):
                return kind
        if resource in CORE_RESOURCES or resource.startswith("hugepages-"):
            return None
        return "unknown"


def _matches(resource: str, name: str) -> bool:
    return resource.startswith(name[:-1]) if name.endswith("*") else resource == name


#: A pod's resources that are never accelerators (exact names; ``hugepages-<size>`` too).
CORE_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})

#: GPU model words the daemon's evidence carries for each vendor's resources.
_VENDOR_TYPE = {
    "nvidia.com/": "NVIDIA",
    "amd.com/": "AMD",
    "habana.ai/": "Gaudi",
    "gpu.intel.com/": "Intel",
    "google.com/tpu": "TPU",
    "aws.amazon.com/neuron": "Neuron",
}

DEFAULT_ACCELERATORS = Accelerators()


@dataclass(frozen=True)
class AcceleratorRequest:
    """What a pod asks for: the GPUs a node must have, and of which vendor's kind."""

    gpus: int
    gpu_type: str | None
    what: list[str]
    """The resources and claims that made it an accelerator request, for the message."""


def _quantity(raw: Any, name: str) -> int:
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError
        n = int(str(raw))
    except ValueError:
        raise ReviewError(f"{name} quantity {str(raw)[:40]!r} is not a whole number") from None
    if n < 0:  # would cancel another container's GPUs in the sum
        raise ReviewError(f"{name} quantity {n} is negative")
    return n


def accelerator_request(
    pod: Mapping[str, Any], config: Accelerators = DEFAULT_ACCELERATORS, namespace: str = "default"
) -> AcceleratorRequest:
    """Every accelerator a pod asks for: containers, init containers, pod-level resources, DRA claims.

    Raises:
        ReviewError: a malformed spec, or a resource that looks like an accelerator and is not
            configured (the message says how to configure it).
    """
    spec = _obj(pod.get("spec"), "spec")
    vendors: set[str] = set()
    what: list[str] = []

    def count(holder: Any, where: str) -> tuple[int, bool]:
        res = _obj(_obj(holder, where).get("resources"), f"{where}.resources")
        limits = _obj(res.get("limits"), f"{where} limits")
        requests = _obj(res.get("requests"), f"{where} requests")
        whole, shared = 0, False
        for name in sorted({*limits, *requests}):
            if not isinstance(name, str):
                raise ReviewError(f"{where}: a resource name is not a string")
            kind = config.kind(name)
            if kind is None or kind == "ignored":
                continue
            if kind == "unknown":
                raise ReviewError(
                    f"{where} asks for {name!r}, an extended resource this webhook does not know, so possibly an "
                    "accelerator; "
                    f"configure it: attest webhook serve --gpu-resource {name} (one GPU per unit), "
                    f"--shared-gpu-resource {name} (a slice of a GPU), or --not-accelerator {name}"
                )
            n = _quantity(limits.get(name, requests.get(name, 0)), name)
            if n == 0:
                continue
            what.append(f"{name}: {n}")
            vendors.update(t for prefix, t in _VENDOR_TYPE.items() if name.startswith(prefix))
            if kind == "whole":
                whole += n
            else:
                shared = True
        return whole, shared

    def need(holder: Any, where: str) -> int:
        whole, shared = count(holder, where)
        return max(whole, 1 if shared else 0)

    containers = _items(spec.get("containers"), "spec.containers")
    inits = _items(spec.get("initContainers"), "spec.initContainers")
    main = sum(need(c, f"spec.containers[{i}]") for i, c in enumerate(containers))
    # Init containers run one at a time, except sidecars (restartPolicy: Always), which keep
    # running beside every later init container and the main ones: theirs add up (as the
    # scheduler counts them), the others' take the max.
    sidecars = init = 0
    for i, c in enumerate(inits):
        n = need(c, f"spec.initContainers[{i}]")
        if _obj(c, f"spec.initContainers[{i}]").get("restartPolicy") == "Always":
            sidecars += n
            init = max(init, sidecars)
        else:
            init = max(init, sidecars + n)
    gpus = max(main + sidecars, init, need(spec, "spec") if "resources" in spec else 0)
    for i, claim in enumerate(_items(spec.get("resourceClaims"), "spec.resourceClaims")):
        claim = _obj(claim, f"spec.resourceClaims[{i}]")
        source = _obj(claim.get("source"), f"spec.resourceClaims[{i}].source")  # before Kubernetes 1.31
        name = (
            claim.get("resourceClaimName")
            or claim.get("resourceClaimTemplateName")
            or source.get("resourceClaimName")
            or source.get("resourceClaimTemplateName")
        )
        if not isinstance(name, str) or not name:
            name = claim.get("name")
            if not isinstance(name, str) or not name:
                raise ReviewError(f"spec.resourceClaims[{i}] names no claim")
        elif f"{namespace}/{name}" in config.ignored_claims:
            continue
        what.append(f"resource claim {name!r}")
        gpus = max(gpus, 1)
    if len(vendors) > 1:
        raise ReviewError(
            f"the pod asks for accelerators of several vendors ({', '.join(sorted(vendors))}): not judged"
        )
    vendor = next(iter(vendors), None)
    # NVIDIA's model comes from the pod's nvidia.com/gpu.product selector, if any (see _judge).
    return AcceleratorRequest(gpus, None if vendor == "NVIDIA" else vendor, what)


#: Variables through which a GPU container runtime hands a container devices, whatever it requested.
DEVICE_ENV = frozenset(
    {
        "NVIDIA_VISIBLE_DEVICES",
        "AMD_VISIBLE_DEVICES",
        "HABANA_VISIBLE_DEVICES",
        "TPU_VISIBLE_CHIPS",
        "AWS_NEURON_VISIBLE_DEVICES",  # the oci-neuron hook's
    }
)
_NO_DEVICES = frozenset({"", "void", "none"})

#: Host directories that hold device nodes, the kernel's views of every process and device, runtime
#: and device-plugin sockets, the kubelet's and runtimes' state, or the attest daemon's key and state
#: (``/etc/attest/node``, ``/var/lib/attest``, ``/run/attest``, as deploy/kubernetes mounts them). A
#: ``--plain-host-path`` may not be one of them, lie under one, or contain one (``/var`` holds ``/var/run``).
NOT_PLAIN = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/docker",
    "/etc",
    "/etc/attest",
    "/var/lib/attest",
    "/run/attest",
    # Other runtimes' and distributions' state and sockets, and directories anyone on the host
    # writes or links elsewhere (red team rt8): /var/lock links to /run/lock, MicroK8s keeps its
    # containerd socket under /var/snap.
    "/var/lock",
    "/var/snap",
    "/var/lib/k0s",
    "/var/lib/rancher",
    "/var/lib/containers",
    "/var/lib/cni",
    "/opt/cni",
    "/tmp",  # noqa: S108 - a path refused, not used
    "/var/tmp",  # noqa: S108 - a path refused, not used
    "/root",
    "/home",
    "/boot",
    "/lib/modules",
    "/usr",
)


def _under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or lies under it, by whole components (``/data2`` is not under ``/data``)."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def plain_host_path(raw: str) -> str:
    """A ``--plain-host-path`` normalised (``//``, ``.`` and a trailing slash gone), or ValueError.

    Refused: a relative path, one with ``..`` (on the host it resolves through symlinks, not as
    written), ``/``, and any path that is, lies under or contains one of :data:`NOT_PLAIN`.
    """
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise ValueError(f"--plain-host-path {str(raw)[:80]!r} is not an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"--plain-host-path {raw[:80]!r} has a '..': name the directory itself")
    path = "/" + "/".join(parts)
    if path == "/":
        raise ValueError(
            "--plain-host-path / would exempt the host's whole filesystem (its devices and keys)"
        )
    for bad in NOT_PLAIN:
        if _under(path, bad) or _under(bad, path):
            raise ValueError(
                f"--plain-host-path {raw[:80]!r} "
                + ("lies under" if _under(path, bad) else "contains")
                + f" {bad}, which holds devices, sockets, process views or keys: it is never plain"
            )
    return path


#: Added capabilities that reach no device, no other process and no file the container could not
#: already reach: PodSecurity ``baseline``'s list without MKNOD, plus NET_RAW (a runtime default),
#: IPC_LOCK (RDMA pins memory), SYS_NICE and NET_ADMIN (service-mesh init containers). Any other
#: (SYS_ADMIN, SYS_RAWIO, SYS_PTRACE, MKNOD, SYS_MODULE, DAC_READ_SEARCH, BPF, PERFMON, ALL, ...)
#: is judged as reaching every GPU of the node and its key: a list of the dangerous ones could not
#: be complete.
HARMLESS_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
        "IPC_LOCK",
        "SYS_NICE",
        "NET_ADMIN",
    }
)
#: hostPath types that are a device or a socket wherever they lie.
_DEVICE_TYPES = frozenset({"CharDevice", "BlockDevice", "Socket"})


def _flag(holder: Mapping[str, Any], key: str, where: str) -> bool:
    value = holder.get(key)
    if value is not None and not isinstance(value, bool):
        raise ReviewError(f"{where}.{key} is not true or false")
    return value is True


def _host_path(volume: Mapping[str, Any], where: str, config: Accelerators, writers: list[str]) -> str | None:
    """Why a ``hostPath`` volume may reach the node's devices or key, or None when it lies under a plain path."""
    host = _obj(volume.get("hostPath"), f"{where}.hostPath")
    path, kind = host.get("path"), host.get("type")
    if not isinstance(path, str):
        raise ReviewError(f"{where}.hostPath.path is not a string")
    if kind is not None and not isinstance(kind, str):
        raise ReviewError(f"{where}.hostPath.type is not a string")
    shown = f"hostPath volume {path[:80]!r}"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not path.startswith("/") or ".." in parts:
        # '..' resolves on the host after the symlinks before it, not as written: never judged as plain.
        return f"{shown} (not an absolute path without '..')"
    if kind in _DEVICE_TYPES:
        return f"{shown} of type {kind}"
    norm = "/" + "/".join(parts)
    if not any(_under(norm, p) for p in config.plain_host_paths):
        return f"{shown} (every host path reaches devices or keys unless under a --plain-host-path)"
    if writers:
        # A symlink written there (to /dev, /proc/1/root, the key) is followed by the next pod's hostPath.
        return (
            f"{shown} is mounted writable by {writers[0]} (mount it readOnly with recursiveReadOnly: Enabled: a "
            "symlink written there, or in a mount below it, leads anywhere)"
        )
    return None


def device_access(pod: Mapping[str, Any], config: Accelerators = DEFAULT_ACCELERATORS) -> list[str]:
    """Ways a pod can reach the GPUs (or the signing key) of its node without requesting them (empty: none found).

    * A privileged container sees every device of the host; a Windows ``hostProcess`` one runs on the host.
    * A ``hostPath`` volume counts unless its path lies under a ``--plain-host-path`` (by whole
      components, after ``//``, ``.`` and trailing slashes; a path with ``..`` always counts) and
      every container mounts it ``readOnly`` with ``recursiveReadOnly: Enabled`` (a writable one,
      or a mount below it left writable by a plain ``readOnly``, could hold a symlink that the
      next pod's hostPath follows); a device or socket ``type`` counts anywhere. A deny-list of paths
      cannot be complete: ``/proc/1/root`` is the host's whole filesystem.
    * ``hostPID: true``: as root, ``/proc/PID/root`` of the node daemon (which drops every
      capability, so needs none to be reached) is its filesystem: key and devices.
    * An added capability outside :data:`HARMLESS_CAPABILITIES` (``SYS_ADMIN``, ``SYS_PTRACE``,
      ``DAC_READ_SEARCH``, ``ALL``..., with or without ``CAP_``, any case), whatever
      ``allowPrivilegeEscalation`` and ``runAsUser`` say (a root or setuid process holds them).
    * An inline CSI volume whose driver is not a ``--plain-csi-driver`` (the pod writes its
      ``volumeAttributes``: a driver could mount any path), and any ``flexVolume``.
    * A GPU runtime class (any ``runtimeClassName`` not configured as plain) and
      ``NVIDIA_VISIBLE_DEVICES`` (or AMD's, Habana's: :data:`DEVICE_ENV`, set directly, from a
      reference, or possibly through ``envFrom``) make the runtime inject GPUs the scheduler never counted.

    Not counted: ``volumeDevices`` (raw block volumes of PersistentVolumeClaims: the kubelet maps
    only block devices, of PersistentVolumes an administrator or provisioner made; GPUs are
    character devices), ``hostNetwork`` and ``hostIPC`` (no device or file of the host).
    The webhook refuses a pod that reaches the node itself (:func:`host_access`: everything above
    but the runtime class and the device variables) and judges one that reaches only its GPUs as
    one that uses every GPU of the node it lands on. Checked in
    containers, init containers and ephemeral containers (``kubectl debug --profile=sysadmin``).

    Raises:
        ReviewError: a malformed spec.
    """
    host, device = _access(pod, config)
    return [*host, *device]


def host_access(pod: Mapping[str, Any], config: Accelerators = DEFAULT_ACCELERATORS) -> list[str]:
    """The ways of :func:`device_access` that reach the node itself: its files, processes or kernel (empty: none).

    Everything but a GPU runtime class and the device variables: a privileged or host-process
    container, ``hostPID``, a hostPath not under a read-only ``--plain-host-path``, an added
    capability outside :data:`HARMLESS_CAPABILITIES`, an inline CSI volume of a driver not named
    plain, a ``flexVolume``. Each reaches the attest daemon's signing key (``/etc/attest/node``,
    or through ``/proc/PID/root``), and with it every manifest the node could sign: the webhook
    refuses such a pod in a tenant's namespace whatever it requests and whoever its tenant is.

    Raises:
        ReviewError: a malformed spec.
    """
    return _access(pod, config)[0]


def _access(pod: Mapping[str, Any], config: Accelerators) -> tuple[list[str], list[str]]:
    """(ways to the node itself, ways to its GPUs only): see :func:`device_access`."""
    spec = _obj(pod.get("spec"), "spec")
    found: list[str] = []  # the node itself (its files, processes, kernel)
    device: list[str] = []  # its GPUs only (the runtime injects them)
    runtime = spec.get("runtimeClassName")
    if runtime is not None and runtime != "":
        if not isinstance(runtime, str):
            raise ReviewError("spec.runtimeClassName is not a string")
        if runtime not in config.plain_runtime_classes:
            device.append(
                f"runtimeClassName {runtime!r} (if it hands out no GPU: --not-gpu-runtime-class {runtime})"
            )
    if _flag(spec, "hostPID", "spec"):
        found.append("hostPID: true (/proc/PID/root of the node daemon is its key and devices)")
    pod_ctx = _obj(spec.get("securityContext"), "spec.securityContext")
    windows = _obj(pod_ctx.get("windowsOptions"), "spec.securityContext.windowsOptions")
    if _flag(windows, "hostProcess", "spec.securityContext.windowsOptions"):
        found.append("spec.securityContext.windowsOptions.hostProcess: true (a process on the host itself)")
    containers = [
        (f"spec.{field}[{i}]", _obj(c, f"spec.{field}[{i}]"))
        for field in ("containers", "initContainers", "ephemeralContainers")
        for i, c in enumerate(_items(spec.get(field), f"spec.{field}"))
    ]
    writers: dict[str, list[str]] = {}  # volume name -> containers that may write in it
    for where, c in containers:
        for j, m in enumerate(_items(c.get("volumeMounts"), f"{where}.volumeMounts")):
            m = _obj(m, f"{where}.volumeMounts[{j}]")
            # readOnly alone leaves the mounts below the path writable (a disk or share mounted
            # under the plain directory): only recursiveReadOnly: Enabled makes them all read-only.
            if (
                not _flag(m, "readOnly", f"{where}.volumeMounts[{j}]")
                or m.get("recursiveReadOnly") != "Enabled"
            ):
                writers.setdefault(str(m.get("name")), []).append(where)
    for i, volume in enumerate(_items(spec.get("volumes"), "spec.volumes")):
        where = f"spec.volumes[{i}]"
        volume = _obj(volume, where)
        if volume.get("hostPath") is not None:
            finding = _host_path(volume, where, config, writers.get(str(volume.get("name")), []))
            if finding:
                found.append(finding)
        if volume.get("csi") is not None:
            driver = _obj(volume.get("csi"), f"{where}.csi").get("driver")
            if not isinstance(driver, str) or driver not in config.plain_csi_drivers:
                found.append(
                    f"inline CSI volume of driver {str(driver)[:60]!r} (the pod chooses its attributes; if it "
                    f"mounts no host path or device: --plain-csi-driver {str(driver)[:60]})"
                )
        if volume.get("flexVolume") is not None:
            found.append(f"flexVolume {where} (a node-side driver given the pod's options)")
    for where, c in containers:
        ctx = _obj(c.get("securityContext"), f"{where}.securityContext")
        if _flag(ctx, "privileged", f"{where}.securityContext"):
            found.append(f"{where} is privileged")
        windows = _obj(ctx.get("windowsOptions"), f"{where}.securityContext.windowsOptions")
        if _flag(windows, "hostProcess", f"{where}.securityContext.windowsOptions"):
            found.append(f"{where} is a Windows host process")
        caps = _obj(ctx.get("capabilities"), f"{where}.securityContext.capabilities")
        for cap in _items(caps.get("add"), f"{where}.securityContext.capabilities.add"):
            if not isinstance(cap, str):
                raise ReviewError(
                    f"{where}.securityContext.capabilities.add holds something other than names"
                )
            if cap.strip().upper().removeprefix("CAP_") not in HARMLESS_CAPABILITIES:
                found.append(f"{where} adds capability {cap[:40]!r}")
        if config.env_ignored:
            continue
        for j, e in enumerate(_items(c.get("env"), f"{where}.env")):
            e = _obj(e, f"{where}.env[{j}]")
            name, value = e.get("name"), e.get("value")
            if not isinstance(name, str):
                raise ReviewError(f"{where}.env[{j}].name is not a string")
            if name in DEVICE_ENV and (
                "valueFrom" in e or not isinstance(value, str) or value.strip().lower() not in _NO_DEVICES
            ):
                device.append(f"{where} sets {name}")
        if _items(c.get("envFrom"), f"{where}.envFrom"):
            device.append(
                f"{where} takes its environment from envFrom, which may set NVIDIA_VISIBLE_DEVICES "
                "(--nodes-ignore-device-env once the nodes ignore it)"
            )
    return found, device


def placement(spec: Mapping[str, Any]) -> set[str] | None:
    """The host names a pod may land on, or None when its spec does not name them.

    Read from ``nodeName``, ``nodeSelector`` on ``kubernetes.io/hostname``, and required node
    affinity: a node must match one of the ``nodeSelectorTerms``; a term names hosts through
    ``kubernetes.io/hostname In [...]`` (or ``matchFields`` ``metadata.name In [...]``). A term
    that names none could match any node, so the affinity then names none. Other constraints
    (labels, taints) only narrow the set further: judging the named hosts is on the safe side.
    """
    hosts: set[str] | None = None

    def narrow(names: set[str]) -> None:
        nonlocal hosts
        hosts = names if hosts is None else hosts & names

    name = spec.get("nodeName")
    if name is not None and name != "":
        if not isinstance(name, str):
            raise ReviewError("spec.nodeName is not a string")
        narrow({name})
    selector = _obj(spec.get("nodeSelector"), "spec.nodeSelector")
    if HOSTNAME in selector:
        narrow(_names([selector[HOSTNAME]], f"spec.nodeSelector[{HOSTNAME}]"))
    where = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    affinity = _obj(
        _obj(spec.get("affinity"), "spec.affinity").get("nodeAffinity"), "spec.affinity.nodeAffinity"
    )
    terms = _items(
        _obj(affinity.get("requiredDuringSchedulingIgnoredDuringExecution"), where).get("nodeSelectorTerms"),
        where,
    )
    named: set[str] | None = set() if terms else None
    for i, term in enumerate(terms):
        term = _obj(term, f"{where}.nodeSelectorTerms[{i}]")
        in_term: set[str] | None = None
        for kind, key in (("matchExpressions", HOSTNAME), ("matchFields", "metadata.name")):
            for j, e in enumerate(_items(term.get(kind), f"{where}.nodeSelectorTerms[{i}].{kind}")):
                e = _obj(e, f"{where}.nodeSelectorTerms[{i}].{kind}[{j}]")
                if e.get("key") == key and e.get("operator") == "In":
                    values = _names(e.get("values"), f"{where}.nodeSelectorTerms[{i}].{kind}[{j}].values")
                    in_term = values if in_term is None else in_term & values
        if in_term is None:
            named = None
            break
        assert named is not None
        named |= in_term
    if named is not None:
        narrow(named)
    return hosts


def review(
    body: Mapping[str, Any],
    *,
    evidence: Mapping[str, NodeEvidence],
    tenants: Mapping[str, Tenant],
    policy: PolicyEvaluator | None,
    now: datetime,
    max_age: timedelta = timedelta(minutes=15),
    allow_unpinned: bool = False,
    accelerators: Accelerators = DEFAULT_ACCELERATORS,
    kueue: bool = False,
    kueue_users: Collection[str] = (KUEUE_USER,),
    kueue_check: bool = False,
) -> dict[str, Any]:
    """The AdmissionReview response for ``body`` (raises :class:`ReviewError` when it is not one).

    A GPU pod is admitted only if every node it may land on qualifies (see :func:`placement`).
    A pod whose spec names no hosts could land on a node nobody attested, so it is refused,
    with the attested nodes that would take it in the message; ``allow_unpinned`` admits it
    when every attested node qualifies instead (it could land on any of them), for clusters
    that keep GPU pods off unattested nodes by other means (taints, a scheduler plugin).

    ``kueue``: the pod's namespace is one whose pods Kueue places (the webhook configuration sends
    those to another path). An accelerator pod there is admitted unpinned only when Kueue holds it
    (the ``kueue.x-k8s.io/queue-name`` label and Kueue's ``kueue.x-k8s.io/admission`` scheduling
    gate: the compute-attest AdmissionCheck then keeps it on nodes that qualify) and it reaches no
    device without asking (:func:`device_access`); any other pod is judged as elsewhere. An
    ``UPDATE`` that removes the gate is refused unless one of ``kueue_users`` makes it: a tenant
    who ungates its own pod would have it scheduled anywhere, unchecked. The unpinned admission
    needs ``kueue_check`` (the operator says a controller runs the compute-attest AdmissionCheck on
    the ClusterQueues; this package ships its state machine, not the controller): without it, a
    pod Kueue holds is judged as any other, since nothing would keep it on nodes that qualify.
    """
    if body.get("apiVersion") != "admission.k8s.io/v1" or body.get("kind") != "AdmissionReview":
        raise ReviewError("not an admission.k8s.io/v1 AdmissionReview")
    req = body.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("uid"), str):
        raise ReviewError("AdmissionReview has no request.uid")
    uid = req["uid"]

    def answer(
        allowed: bool, message: str, warnings: list[str] | None = None, nodes: list[str] | None = None
    ) -> dict[str, Any]:
        response: dict[str, Any] = {"uid": uid, "allowed": allowed}
        if not allowed:
            response["status"] = {"code": 403, "message": message}
        if warnings:
            response["warnings"] = [w[:250] for w in warnings[:10]]
        response["auditAnnotations"] = {"compute-attest.dev/decision": message[:1000]}
        if nodes is not None:
            response["auditAnnotations"]["compute-attest.dev/allowed-nodes"] = ",".join(nodes)[:1000]
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}

    try:
        pod_update = req.get("operation") == "UPDATE" and not req.get("subResource")
        if kueue and pod_update and _obj(req.get("kind"), "request.kind").get("kind") == "Pod":
            return _ungating(req, answer, kueue_users)
        return _judge(
            req,
            answer,
            evidence,
            tenants,
            policy,
            now,
            max_age,
            allow_unpinned,
            accelerators,
            kueue,
            kueue_check,
        )
    except ReviewError as exc:  # a pod this webhook cannot read is refused, with the reason
        return answer(False, f"refused: {exc}")


def _gates(pod: Any, what: str) -> set[str]:
    spec = _obj(_obj(pod, what).get("spec"), f"{what}.spec")
    names = set()
    for i, gate in enumerate(_items(spec.get("schedulingGates"), f"{what}.spec.schedulingGates")):
        name = _obj(gate, f"{what}.spec.schedulingGates[{i}]").get("name")
        if not isinstance(name, str):
            raise ReviewError(f"{what}.spec.schedulingGates[{i}].name is not a string")
        names.add(name)
    return names


def _kueue_holds(pod: Mapping[str, Any]) -> bool:
    """Whether Kueue holds the pod: its queue-name label, and Kueue's admission gate (see :mod:`.kueue`)."""
    labels = _obj(_obj(pod.get("metadata"), "metadata").get("labels"), "metadata.labels")
    queue = labels.get(QUEUE_LABEL)
    return isinstance(queue, str) and bool(queue) and ADMISSION_GATE in _gates(pod, "object")


def _ungating(
    req: Mapping[str, Any], answer: Callable[..., dict[str, Any]], kueue_users: Collection[str]
) -> dict[str, Any]:
    """A pod UPDATE in a Kueue namespace: only Kueue may remove its admission gate."""
    if not isinstance(req.get("oldObject"), dict) or not isinstance(req.get("object"), dict):
        raise ReviewError("a pod UPDATE without its object and oldObject")
    if ADMISSION_GATE not in _gates(req.get("oldObject"), "oldObject") or ADMISSION_GATE in _gates(
        req.get("object"), "object"
    ):
        return answer(True, "a pod update that keeps Kueue's admission gate or never had it: not judged")
    user = _obj(req.get("userInfo"), "request.userInfo").get("username")
    if isinstance(user, str) and user in kueue_users:
        return answer(True, f"Kueue ({user}) removed its admission gate: the pod's Workload is admitted")
    return answer(
        False,
        f"refused: only Kueue may remove the scheduling gate {ADMISSION_GATE!r} (not {str(user)[:100]!r}): "
        "a pod ungated by anyone else would run on any node, unchecked (attest webhook serve --kueue-user "
        "names Kueue's controller where it is not " + KUEUE_USER + ")",
    )


def _judge(
    req: Mapping[str, Any],
    answer: Callable[..., dict[str, Any]],
    evidence: Mapping[str, NodeEvidence],
    tenants: Mapping[str, Tenant],
    policy: PolicyEvaluator | None,
    now: datetime,
    max_age: timedelta,
    allow_unpinned: bool,
    accelerators: Accelerators,
    kueue: bool,
    kueue_check: bool = False,
) -> dict[str, Any]:
    kind = _obj(req.get("kind"), "request.kind").get("kind")
    operation, sub = req.get("operation"), req.get("subResource")
    # kubectl debug adds ephemeral containers (privileged ones with --profile=sysadmin) to a
    # running pod: an UPDATE of pods/ephemeralcontainers, judged like the pod's creation.
    debug = operation == "UPDATE" and sub == "ephemeralcontainers"
    if kind != "Pod" or not ((operation in ("CREATE", None) and not sub) or debug):
        what = " ".join(str(w) for w in (kind, operation, sub) if w)
        return answer(True, f"not a pod creation ({what}): not judged")
    pod = req.get("object")
    if not isinstance(pod, dict):
        raise ReviewError("AdmissionReview request has no object")
    metadata = _obj(pod.get("metadata"), "metadata")
    namespace = req.get("namespace") or metadata.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise ReviewError("the namespace is not a string")
    asked = accelerator_request(pod, accelerators, namespace)
    host, device = _access(pod, accelerators)
    if host:
        # Not "uses every GPU": the node's files or processes hold the attest daemon's signing key,
        # and whoever copies it signs manifests as that node from anywhere (red team rt8).
        return answer(
            False,
            "refused: the pod can reach its node itself (" + "; ".join(host[:4]) + "), hence the attest "
            "daemon's signing key, whatever it requests and whoever its tenant is; run node tooling in "
            "kube-system or attest-system",
            nodes=[],
        )
    access = device
    if asked.gpus == 0 and not access:
        return answer(True, "no GPU requested: not judged")
    if not debug:
        # A gate the webhook never sees removed (pod UPDATEs are not judged) lets a pod admitted now
        # start later, after its node was quarantined or its tenant listed (red team rt9). Only Kueue's
        # own gate, in a namespace Kueue places, whose removal only Kueue may make, is accepted.
        others = sorted(_gates(pod, "object") - ({ADMISSION_GATE} if kueue else set()))
        if others:
            return answer(
                False,
                f"refused: the pod carries the scheduling gates {', '.join(repr(g[:80]) for g in others[:4])}: "
                "admitted now, it would start whenever they are removed, unjudged then; a GPU pod may carry "
                f"only Kueue's {ADMISSION_GATE} gate, in a namespace Kueue places",
                nodes=[],
            )
    reach = (
        "the pod can reach every GPU of its node without requesting one ("
        + "; ".join(access[:4])
        + "), so it is judged as using them all: "
        if access
        else ""
    )
    tenant = tenants.get(namespace)
    if tenant is None:
        return answer(
            False, reach + f"namespace {namespace!r} has no tenant record; GPU pods there are refused"
        )
    spec = _obj(pod.get("spec"), "spec")
    hosts = placement(spec)
    # A pod that names its hosts (nodeName never waits for a gate) is judged on them, Kueue or not.
    if kueue and kueue_check and not access and hosts is None and _kueue_holds(pod):
        return answer(
            True,
            f"Kueue holds the pod (queue {_obj(metadata.get('labels'), 'metadata.labels')[QUEUE_LABEL]!r}, gate "
            f"{ADMISSION_GATE}): the compute-attest AdmissionCheck keeps it on nodes that qualify",
        )
    selector = _obj(spec.get("nodeSelector"), "spec.nodeSelector")
    product = selector.get("nvidia.com/gpu.product")
    gpu_type = asked.gpu_type
    if (
        product and gpu_type is None and asked.gpus
    ):  # e.g. NVIDIA-H100-80GB-HBM3: the model token is what NVML names contain
        tokens = [t for t in str(product).replace("NVIDIA-", "").split("-") if t]
        gpu_type = tokens[0] if tokens else None
    if hosts is not None and not hosts:
        return answer(False, "refused: the pod's node constraints leave no node it may run on", nodes=[])
    name = metadata.get("name") or metadata.get("generateName") or "pod"
    request = JobRequest(
        tenant=tenant,
        gpu_count=asked.gpus,
        gpu_type=gpu_type,
        nodes=sorted(hosts or ()),
        job_id=f"{namespace}/{name}"[:256],
        every_node=hosts is not None,
    )
    decision = admit(request, evidence, policy=policy, now=now, max_age=max_age)
    if hosts is None and not allow_unpinned:
        where = ", ".join(decision.allowed_nodes) or "none"
        return answer(
            False,
            reach + "refused: the pod names no node, so it could land on one nobody attested; pin it with "
            f"nodeSelector {HOSTNAME} (or required node affinity on {HOSTNAME}) to attested nodes "
            f"that allow it: {where}"
            + (
                f" (or, without device access, let Kueue place it: the {QUEUE_LABEL} label of a queue whose "
                "ClusterQueue has the compute-attest AdmissionCheck)"
                if kueue
                else ""
            ),
            nodes=[],
        )
    refused = [f"{v.node}: {v.message}" for v in decision.verdicts if not v.allowed]
    if hosts is None and refused:
        # --allow-unpinned: the scheduler may put the pod on any attested node (the rest are kept
        # off by other means), so every one of them must allow it: quarantined, stale and
        # policy-refused nodes included.
        return answer(
            False,
            reach
            + f"refused: the pod names no node, and {len(refused)} of the {len(decision.verdicts)} attested "
            "nodes it could land on may not run it (pin it to nodes that allow it: "
            + (", ".join(decision.allowed_nodes) or "none")
            + "): "
            + "; ".join(refused),
            nodes=[],
        )
    if decision.allowed:
        warnings = [w for v in decision.verdicts if v.allowed for w in v.warnings]
        if refused:
            warnings.append(f"not on {len(refused)} other nodes: " + "; ".join(refused)[:200])
        if access:
            warnings.insert(0, reach.rstrip(": "))
        return answer(True, decision.message(), warnings, decision.allowed_nodes)
    return answer(False, (reach + decision.message())[:1000], nodes=[])
