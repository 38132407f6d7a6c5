"""What a pod asks for, as the webhook counts it: every accelerator, and unknown ones refused with the fix."""

from __future__ import annotations

from typing import Any

import pytest

from attest.scheduler.kubernetes import DEFAULT_ACCELERATORS, ReviewError, accelerator_request


def pod(*limits: dict[str, Any], claims: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [{"name": f"c{i}", "resources": {"limits": lim}} for i, lim in enumerate(limits)], **spec}
    if claims is not None:
        s["resourceClaims"] = claims
    return {"spec": s}


@pytest.mark.parametrize(
    ("p", "gpus", "gpu_type"),
    [
        (pod({"cpu": "2", "memory": "1Gi"}), 0, None),
        (pod({"nvidia.com/gpu": "8"}), 8, None),
        (pod({"nvidia.com/gpu": "2"}, {"nvidia.com/gpu": "3"}), 5, None),  # containers add up
        (pod({"nvidia.com/mig-7g.80gb": "1"}), 1, None),  # a slice needs at least one GPU
        (pod({"nvidia.com/mig-1g.10gb": "7"}), 1, None),
        (pod({"nvidia.com/gpu.shared": "4"}), 1, None),
        (pod({"amd.com/gpu": "8"}), 8, "AMD"),
        (pod({"gpu.intel.com/i915": "1"}), 1, "Intel"),
        (pod({"habana.ai/gaudi": "8"}), 8, "Gaudi"),
        (pod({"google.com/tpu": "4"}), 4, "TPU"),
        (pod(claims=[{"name": "g", "resourceClaimTemplateName": "h100"}]), 1, None),
        (pod(claims=[{"name": "g", "resourceClaimName": "shared-claim"}]), 1, None),
        (pod({}, initContainers=[{"resources": {"requests": {"nvidia.com/gpu": "4"}}}]), 4, None),  # the max of init and main
        (pod({"cpu": "1"}, resources={"limits": {"nvidia.com/gpu": "2"}}), 2, None),  # pod-level resources
        (pod({"nvidia.com/gpu": "0"}), 0, None),
    ],
)
def test_every_accelerator_counts(p: dict[str, Any], gpus: int, gpu_type: str | None) -> None:
    asked = accelerator_request(p)
    assert (asked.gpus, asked.gpu_type) == (gpus, gpu_type)


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (pod({"nvidia.com/gpu-ts": "1"}), "--gpu-resource nvidia.com/gpu-ts"),
        (pod({"example.com/npu": "1"}), "looks like an accelerator"),
        (pod({"NVIDIA.COM/GPU": "1"}), "looks like an accelerator"),
        (pod({"nvidia.com/gpu": "1.5"}), "not a whole number"),
        (pod({"nvidia.com/gpu": "-1"}, {"nvidia.com/gpu": "8"}), "negative"),
        (pod({"nvidia.com/gpu": "1"}, {"amd.com/gpu": "1"}), "several vendors"),
        (pod(claims=[{"source": {}}]), "names no claim"),
        (pod(claims="gpus"), "not a list"),  # type: ignore[arg-type]
    ],
)
def test_what_cannot_be_judged_is_refused_with_the_reason(p: dict[str, Any], text: str) -> None:
    with pytest.raises(ReviewError, match=text.replace(".", r"\.").replace("-", r"\-")):
        accelerator_request(p)


def test_configured_names() -> None:
    config = DEFAULT_ACCELERATORS.with_options(whole=["example.com/gpu-*"], shared=["example.com/slice"],
                                               ignored=["nvidia.com/hostdev"], ignored_claims=["scratch"])
    assert accelerator_request(pod({"example.com/gpu-a": "3"}), config).gpus == 3
    assert accelerator_request(pod({"example.com/slice": "9"}), config).gpus == 1
    assert accelerator_request(pod({"nvidia.com/hostdev": "1"}), config).gpus == 0
    assert accelerator_request(pod(claims=[{"name": "s", "resourceClaimName": "scratch"}]), config).gpus == 0
