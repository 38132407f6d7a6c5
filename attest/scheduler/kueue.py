"""Kueue AdmissionCheck: the state-transition core of a controller, testable without a cluster.

Kueue reserves quota for a Workload (so its flavor, and with it the region and
nodes, are known), then waits for every AdmissionCheck on it to be ``Ready``. Our
controller writes ``status.admissionChecks[].state`` for the check it owns:

* ``Pending`` → ``Ready``: admission allows the job on at least one node; the
  ``podSetUpdates`` pin its pods to the allowed nodes (``nodeSelector`` on the
  attested-node label, ``kubernetes.io/hostname`` when exactly one node qualifies);
* ``Pending`` → ``Retry``: nothing is wrong, evidence is missing or stale (a node
  rebooting, a heartbeat late); Kueue releases the quota and tries again later;
* ``Pending`` → ``Rejected``: the policy refuses the tenant on every candidate node,
  or their evidence failed verification: retrying cannot help;
* after ``max_retries`` retries without evidence, ``Rejected`` with the reason.

``Ready`` and ``Rejected`` are final for a quota reservation; a new reservation
starts again from ``Pending``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from attest.scheduler.admission import Admission

ATTESTED_LABEL = "compute-attest.dev/attested"


class CheckState(StrEnum):
    """``status.admissionChecks[].state`` values."""

    PENDING = "Pending"
    READY = "Ready"
    RETRY = "Retry"
    REJECTED = "Rejected"


@dataclass(frozen=True)
class CheckStatus:
    """What the controller writes for its check on one Workload."""

    state: CheckState
    message: str
    pod_set_updates: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0

    def to_obj(self, check_name: str) -> dict[str, Any]:
        """The ``admissionChecks`` entry, as Kueue's API spells it."""
        obj: dict[str, Any] = {
            "name": check_name,
            "state": self.state.value,
            "message": self.message[:32_768],
        }
        if self.pod_set_updates:
            obj["podSetUpdates"] = self.pod_set_updates
        return obj


_TRANSIENT = {"no-evidence", "stale"}


def transition(
    current: CheckStatus,
    admission: Admission,
    *,
    pod_sets: list[str],
    max_retries: int = 5,
) -> CheckStatus:
    """The next state of our check, given the admission decision for the Workload's candidate nodes."""
    if current.state in (CheckState.READY, CheckState.REJECTED):
        return current  # final for this reservation
    if admission.allowed:
        nodes = admission.allowed_nodes
        selector = {ATTESTED_LABEL: "true"}
        if len(nodes) == 1:
            selector["kubernetes.io/hostname"] = nodes[0]
        updates = [{"name": ps, "nodeSelector": dict(selector)} for ps in pod_sets]
        return CheckStatus(CheckState.READY, admission.message(), updates, current.retries)
    reasons = {v.reason for v in admission.verdicts}
    if admission.verdicts and reasons <= _TRANSIENT:
        if current.retries >= max_retries:
            return CheckStatus(
                CheckState.REJECTED,
                f"no fresh evidence after {current.retries} retries: {admission.message()}",
                retries=current.retries,
            )
        return CheckStatus(CheckState.RETRY, admission.message(), retries=current.retries + 1)
    return CheckStatus(CheckState.REJECTED, admission.message(), retries=current.retries)


def after_retry(current: CheckStatus) -> CheckStatus:
    """Kueue evicts and requeues a Workload whose check is ``Retry``; the next reservation starts ``Pending``."""
    if current.state is not CheckState.RETRY:
        return current
    return CheckStatus(CheckState.PENDING, "waiting for evidence", retries=current.retries)
