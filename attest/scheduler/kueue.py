"""Kueue AdmissionCheck: the state-transition core of a controller, testable without a cluster.

Kueue reserves quota for a Workload (so its flavor, and with it the region and
nodes, are known), then waits for every AdmissionCheck on it to be ``Ready``. Our
controller writes ``status.admissionChecks[].state`` for the check it owns:

* ``Pending`` → ``Ready``: the pods can be kept on nodes that qualify. ``podSetUpdates``
  can only add a ``nodeSelector`` (a map: it cannot say "one of these hosts"), so either
  every candidate node (the reserved flavor's) qualifies, and the pods get the attested-node
  label, or exactly one does, and they get its ``kubernetes.io/hostname`` as well. Several
  qualifying nodes beside refused ones cannot be told apart by a selector: that is not
  ``Ready`` (the pods could land on a refused node) but ``Retry`` or ``Rejected`` by the
  refused nodes' reasons, with a message that says so;
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

# The admission webhook's side (attest.scheduler.kubernetes.review with kueue=True, for namespaces
# labelled compute-attest.dev/placement=kueue): a pod there is left to Kueue, unpinned, only when
# Kueue manages it. Kueue's pod integration marks such a pod in its *mutating* webhook
# (kubernetes-sigs/kueue pkg/controller/jobs/pod/pod_webhook.go, PodWebhook.Default on pod CREATE,
# path /mutate--v1-pod): a pod with a queue-name label (or any pod, with manageJobsWithoutQueueName)
# in a namespace Kueue manages gets the scheduling gate SchedulingGateName =
# "kueue.x-k8s.io/admission" (pkg/controller/jobs/pod/constants/constants.go), which Kueue removes
# only once the pod's Workload is admitted, every AdmissionCheck Ready. The API server runs mutating
# webhooks before validating ones, so a Kueue-managed pod reaches this webhook gated. A pod without
# the gate is not held by Kueue, whatever its labels: it is judged like any other.

#: The label that puts a pod in a LocalQueue.
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: The scheduling gate Kueue's pod webhook adds and its controller removes on admission.
ADMISSION_GATE = "kueue.x-k8s.io/admission"
#: Kueue's controller as a default install names it (namespace kueue-system): the only user that may
#: remove :data:`ADMISSION_GATE` (``attest webhook serve --kueue-user`` names others).
KUEUE_USER = "system:serviceaccount:kueue-system:kueue-controller-manager"


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
    nodes = admission.allowed_nodes
    refused = [v for v in admission.verdicts if not v.allowed]
    if nodes and (len(nodes) == 1 or not refused):
        selector = {ATTESTED_LABEL: "true"}
        if len(nodes) == 1:
            selector["kubernetes.io/hostname"] = nodes[0]
        updates = [{"name": ps, "nodeSelector": dict(selector)} for ps in pod_sets]
        return CheckStatus(CheckState.READY, admission.message(), updates, current.retries)
    message = admission.message()  # "refused: ..." with every node's reason
    if nodes:
        message = (
            f"allowed on {', '.join(nodes)} but not on {len(refused)} other nodes of the flavor, and a "
            "nodeSelector cannot keep the pods off those: "
            + "; ".join(f"{v.node}: {v.message}" for v in refused)
        )
    if refused and {v.reason for v in refused} <= _TRANSIENT:
        if current.retries >= max_retries:
            return CheckStatus(
                CheckState.REJECTED,
                f"no fresh evidence after {current.retries} retries: {message}",
                retries=current.retries,
            )
        return CheckStatus(CheckState.RETRY, message, retries=current.retries + 1)
    return CheckStatus(CheckState.REJECTED, message, retries=current.retries)


def after_retry(current: CheckStatus) -> CheckStatus:
    """Kueue evicts and requeues a Workload whose check is ``Retry``; the next reservation starts ``Pending``."""
    if current.state is not CheckState.RETRY:
        return current
    return CheckStatus(CheckState.PENDING, "waiting for evidence", retries=current.retries)
