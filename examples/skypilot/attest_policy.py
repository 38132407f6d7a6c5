"""A SkyPilot admin policy: refuse launches whose region the export-control policy does not allow.

Install on the SkyPilot API server (server-side policies are enforced; client-side ones are not)::

    # ~/.sky/config.yaml on the server
    admin_policy: attest_policy.AttestPolicy

The tenant of each user comes from ``ATTEST_SKYPILOT_TENANTS`` (JSON: user name -> tenant),
kept by the administrators; the policy from ``ATTEST_POLICY`` (default ``us-ear``). A request
is refused, with the reason, when any candidate resource has no pinned region, a region the
table does not know, or a region where the policy refuses this tenant these chips.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.policy import load_policy
from attest.scheduler.placement import judge_placement, parse_tenant

try:  # the real base class when SkyPilot is installed; the same duck type otherwise
    import sky

    _Base: Any = sky.AdminPolicy
except ImportError:  # pragma: no cover - depends on the environment
    sky = None
    _Base = object


class PlacementRefused(Exception):
    """Raised to refuse a request; SkyPilot shows the message to the user."""


def _tenants() -> dict[str, Any]:
    path = os.environ.get("ATTEST_SKYPILOT_TENANTS", "/etc/attest/skypilot-tenants.json")
    return dict(json.loads(Path(path).read_text()))


class AttestPolicy(_Base):  # type: ignore[misc]
    """``validate_and_mutate``: validate only; the request is returned unchanged when allowed."""

    @classmethod
    def validate_and_mutate(cls, user_request: Any) -> Any:
        user = getattr(getattr(user_request, "user", None), "name", None) or os.environ.get("USER", "")
        tenants = _tenants()
        if user not in tenants:
            raise PlacementRefused(f"compute-attest: no tenant record for user {user!r}")
        tenant = parse_tenant(tenants[user])
        policy = load_policy(os.environ.get("ATTEST_POLICY", "us-ear"))
        now = datetime.now(UTC)
        for res in user_request.task.resources:
            accelerators = getattr(res, "accelerators", None) or {}
            names = list(accelerators) or [None]
            cloud = str(res.cloud).lower() if getattr(res, "cloud", None) is not None else None
            for name in names:
                verdict = judge_placement(tenant, cloud, getattr(res, "region", None), name, policy=policy, now=now)
                if not verdict.allowed:
                    raise PlacementRefused(f"compute-attest: {verdict.message}")
        if sky is not None:
            return sky.MutatedUserRequest(task=user_request.task, skypilot_config=user_request.skypilot_config)
        return user_request
