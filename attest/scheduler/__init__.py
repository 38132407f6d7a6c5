"""Scheduler integration: a pure admission API and the adapters' shared cores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest._internal.lazy import lazy_exports

if TYPE_CHECKING:
    from attest.scheduler.admission import Admission, JobRequest, NodeEvidence, NodeVerdict, admit

__all__ = ["Admission", "JobRequest", "NodeEvidence", "NodeVerdict", "admit"]

# attest.scheduler.slurm (host lists, GPU indices) is used by Slurm prologs, which should not
# pay for the admission engine's models; names are imported on first use (PEP 562).
_EXPORTS = dict.fromkeys(__all__, "attest.scheduler.admission")
__getattr__ = lazy_exports(__name__, _EXPORTS)
