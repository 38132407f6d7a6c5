"""Kubernetes: a ValidatingAdmissionWebhook's decision (AdmissionReview v1 in and out).

A pod that asks for ``nvidia.com/gpu`` is admitted only if at least one node it may
land on has fresh, verified evidence and the export-control policy allows *this*
tenant there. The tenant comes from the namespace, through a mapping the cluster's
administrators keep (pods cannot be trusted to name their own tenant). Unknown
namespaces, malformed reviews and missing evidence are refused: the webhook fails
closed, like ``failurePolicy: Fail``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.verify import PolicyEvaluator

GPU_RESOURCE = "nvidia.com/gpu"


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


def _gpus(pod: Mapping[str, Any]) -> int:
    spec = _obj(pod.get("spec"), "spec")

    def limit(c: Any, what: str) -> int:
        res = _obj(_obj(c, what).get("resources"), f"{what}.resources")
        limits, requests = (
            _obj(res.get("limits"), f"{what} limits"),
            _obj(res.get("requests"), f"{what} requests"),
        )
        raw = limits.get(GPU_RESOURCE, requests.get(GPU_RESOURCE, 0))
        try:
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ValueError
            n = int(str(raw))
        except ValueError:
            raise ReviewError(f"{GPU_RESOURCE} quantity {str(raw)[:40]!r} is not a whole number") from None
        if n < 0:  # would cancel another container's GPUs in the sum
            raise ReviewError(f"{GPU_RESOURCE} quantity {n} is negative")
        return n

    containers = _items(spec.get("containers"), "spec.containers")
    inits = _items(spec.get("initContainers"), "spec.initContainers")
    main = sum(limit(c, f"spec.containers[{i}]") for i, c in enumerate(containers))
    init = max((limit(c, f"spec.initContainers[{i}]") for i, c in enumerate(inits)), default=0)
    return max(main, init)


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
        return _judge(req, answer, evidence, tenants, policy, now, max_age, allow_unpinned)
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
) -> dict[str, Any]:
    kind = _obj(req.get("kind"), "request.kind").get("kind")
    if kind != "Pod" or req.get("operation") not in ("CREATE", None):
        return answer(True, f"not a pod creation ({kind} {req.get('operation')}): not judged")
    pod = req.get("object")
    if not isinstance(pod, dict):
        raise ReviewError("AdmissionReview request has no object")
    count = _gpus(pod)
    if count == 0:
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
    gpu_type = None
    if product:  # e.g. NVIDIA-H100-80GB-HBM3: the model token is what NVML names contain
        tokens = [t for t in str(product).replace("NVIDIA-", "").split("-") if t]
        gpu_type = tokens[0] if tokens else None
    if hosts is not None and not hosts:
        return answer(False, "refused: the pod's node constraints leave no node it may run on", nodes=[])
    name = metadata.get("name") or metadata.get("generateName") or "pod"
    request = JobRequest(
        tenant=tenant,
        gpu_count=count,
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
