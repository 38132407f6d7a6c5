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

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
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
    neither list but looks like an accelerator (see :data:`LOOKS_LIKE_ACCELERATOR`) is refused
    with the options that would configure it, unless it is in ``ignored``: unknown chips
    count as controlled, never as "no GPU".

    A pod's DRA ``resourceClaims`` name claims, not device classes (the webhook does not read
    ResourceClaim objects): each claim is judged as a request for at least one GPU, unless its
    name is in ``ignored_claims``.
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

    def with_options(
        self,
        *,
        whole: Sequence[str] = (),
        shared: Sequence[str] = (),
        ignored: Sequence[str] = (),
        ignored_claims: Sequence[str] = (),
    ) -> Accelerators:
        """A configuration that also knows these names (``--gpu-resource`` and the like)."""
        return Accelerators(
            (*self.whole, *whole),
            (*self.shared, *shared),
            (*self.ignored, *ignored),
            (*self.ignored_claims, *ignored_claims),
        )

    def kind(self, resource: str) -> str | None:
        """``whole``, ``shared``, ``ignored``, ``unknown`` (looks like an accelerator), or None (not one)."""
        for kind, names in (("ignored", self.ignored), ("whole", self.whole), ("shared", self.shared)):
            if any(_matches(resource, n) for n in names):
                return kind
        if LOOKS_LIKE_ACCELERATOR.search(resource) and not resource.startswith(_CORE_RESOURCES):
            return "unknown"
        return None


def _matches(resource: str, name: str) -> bool:
    return resource.startswith(name[:-1]) if name.endswith("*") else resource == name


#: Vendors' domains and words that mark an extended resource as (probably) an accelerator.
LOOKS_LIKE_ACCELERATOR = re.compile(
    r"gpu|mig-|tpu|npu|xpu|ipu|accel|neuron|gaudi|habana|nvidia|amd\.com|xilinx|fpga|cuda|tensor|ascend|cambricon",
    re.IGNORECASE,
)
_CORE_RESOURCES = ("cpu", "memory", "ephemeral-storage", "hugepages-", "pods", "kubernetes.io/")

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
    pod: Mapping[str, Any], config: Accelerators = DEFAULT_ACCELERATORS
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
                    f"{where} asks for {name!r}, which looks like an accelerator this webhook does not know; "
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
    init = max((need(c, f"spec.initContainers[{i}]") for i, c in enumerate(inits)), default=0)
    gpus = max(main, init, need(spec, "spec") if "resources" in spec else 0)
    for i, claim in enumerate(_items(spec.get("resourceClaims"), "spec.resourceClaims")):
        claim = _obj(claim, f"spec.resourceClaims[{i}]")
        name = claim.get("resourceClaimName") or claim.get("resourceClaimTemplateName") or claim.get("name")
        if not isinstance(name, str) or not name:
            raise ReviewError(f"spec.resourceClaims[{i}] names no claim")
        if name in config.ignored_claims:
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
) -> dict[str, Any]:
    """The AdmissionReview response for ``body`` (raises :class:`ReviewError` when it is not one).

    A GPU pod is admitted only if every node it may land on qualifies (see :func:`placement`).
    A pod whose spec names no hosts could land on a node nobody attested, so it is refused,
    with the attested nodes that would take it in the message; ``allow_unpinned`` admits it
    when one attested node qualifies instead, for clusters that keep GPU pods off unattested
    nodes by other means (taints, a scheduler plugin).
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
        return _judge(req, answer, evidence, tenants, policy, now, max_age, allow_unpinned, accelerators)
    except ReviewError as exc:  # a pod this webhook cannot read is refused, with the reason
        return answer(False, f"refused: {exc}")


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
) -> dict[str, Any]:
    kind = _obj(req.get("kind"), "request.kind").get("kind")
    if kind != "Pod" or req.get("operation") not in ("CREATE", None):
        return answer(True, f"not a pod creation ({kind} {req.get('operation')}): not judged")
    pod = req.get("object")
    if not isinstance(pod, dict):
        raise ReviewError("AdmissionReview request has no object")
    asked = accelerator_request(pod, accelerators)
    if asked.gpus == 0:
        return answer(True, "no GPU requested: not judged")
    metadata = _obj(pod.get("metadata"), "metadata")
    namespace = req.get("namespace") or metadata.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise ReviewError("the namespace is not a string")
    tenant = tenants.get(namespace)
    if tenant is None:
        return answer(False, f"namespace {namespace!r} has no tenant record; GPU pods there are refused")
    spec = _obj(pod.get("spec"), "spec")
    hosts = placement(spec)
    selector = _obj(spec.get("nodeSelector"), "spec.nodeSelector")
    product = selector.get("nvidia.com/gpu.product")
    gpu_type = asked.gpu_type
    if product and gpu_type is None:  # e.g. NVIDIA-H100-80GB-HBM3: the model token is what NVML names contain
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
            "refused: the pod names no node, so it could land on one nobody attested; pin it with "
            f"nodeSelector {HOSTNAME} (or required node affinity on {HOSTNAME}) to attested nodes "
            f"that allow it: {where}",
            nodes=[],
        )
    refused = [f"{v.node}: {v.message}" for v in decision.verdicts if not v.allowed]
    if decision.allowed:
        warnings = [w for v in decision.verdicts if v.allowed for w in v.warnings]
        if refused:
            warnings.append(f"not on {len(refused)} other nodes: " + "; ".join(refused)[:200])
        return answer(True, decision.message(), warnings, decision.allowed_nodes)
    return answer(False, decision.message()[:1000], nodes=[])
