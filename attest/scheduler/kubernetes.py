"""Kubernetes: a ValidatingAdmissionWebhook's decision (AdmissionReview v1 in and out).

A pod that asks for ``nvidia.com/gpu`` is admitted only if at least one node it may
land on has fresh, verified evidence and the export-control policy allows *this*
tenant there. The tenant comes from the namespace, through a mapping the cluster's
administrators keep (pods cannot be trusted to name their own tenant). Unknown
namespaces, malformed reviews and missing evidence are refused: the webhook fails
closed, like ``failurePolicy: Fail``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from attest.model.manifest import Tenant
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.verify import PolicyEvaluator

GPU_RESOURCE = "nvidia.com/gpu"


class ReviewError(ValueError):
    """The request is not an AdmissionReview v1 this webhook can answer."""


def _gpus(pod: Mapping[str, Any]) -> int:
    spec = pod.get("spec") or {}

    def limit(c: Mapping[str, Any]) -> int:
        res = c.get("resources") or {}
        raw = (res.get("limits") or {}).get(GPU_RESOURCE, (res.get("requests") or {}).get(GPU_RESOURCE, 0))
        try:
            return int(str(raw))
        except ValueError:
            raise ReviewError(f"{GPU_RESOURCE} quantity {raw!r} is not a whole number") from None

    main = sum(limit(c) for c in spec.get("containers") or [])
    init = max((limit(c) for c in spec.get("initContainers") or []), default=0)
    return max(main, init)


def review(
    body: Mapping[str, Any],
    *,
    evidence: Mapping[str, NodeEvidence],
    tenants: Mapping[str, Tenant],
    policy: PolicyEvaluator | None,
    now: datetime,
    max_age: timedelta = timedelta(minutes=15),
) -> dict[str, Any]:
    """The AdmissionReview response for ``body`` (raises :class:`ReviewError` when it is not one)."""
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

    kind = (req.get("kind") or {}).get("kind")
    if kind != "Pod" or req.get("operation") not in ("CREATE", None):
        return answer(True, f"not a pod creation ({kind} {req.get('operation')}): not judged")
    pod = req.get("object")
    if not isinstance(pod, dict):
        raise ReviewError("AdmissionReview request has no object")
    try:
        count = _gpus(pod)
    except ReviewError as exc:
        return answer(False, str(exc))
    if count == 0:
        return answer(True, "no GPU requested: not judged")
    namespace = req.get("namespace") or (pod.get("metadata") or {}).get("namespace") or "default"
    tenant = tenants.get(namespace)
    if tenant is None:
        return answer(False, f"namespace {namespace!r} has no tenant record; GPU pods there are refused")
    spec = pod.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    nodes = (
        [spec["nodeName"]]
        if spec.get("nodeName")
        else ([selector["kubernetes.io/hostname"]] if selector.get("kubernetes.io/hostname") else [])
    )
    product = selector.get("nvidia.com/gpu.product")
    gpu_type = None
    if product:  # e.g. NVIDIA-H100-80GB-HBM3: the model token is what NVML names contain
        tokens = [t for t in str(product).replace("NVIDIA-", "").split("-") if t]
        gpu_type = tokens[0] if tokens else None
    name = (pod.get("metadata") or {}).get("name") or (pod.get("metadata") or {}).get("generateName") or "pod"
    decision = admit(
        JobRequest(
            tenant=tenant, gpu_count=count, gpu_type=gpu_type, nodes=nodes, job_id=f"{namespace}/{name}"
        ),
        evidence,
        policy=policy,
        now=now,
        max_age=max_age,
    )
    refused = [f"{v.node}: {v.message}" for v in decision.verdicts if not v.allowed]
    if decision.allowed:
        warnings = [w for v in decision.verdicts if v.allowed for w in v.warnings]
        if refused:
            warnings.append(f"not on {len(refused)} other nodes: " + "; ".join(refused)[:200])
        return answer(True, decision.message(), warnings, decision.allowed_nodes)
    return answer(False, decision.message()[:1000], nodes=[])
