"""Scheduler integration: a pure admission API and the adapters' shared cores."""

from attest.scheduler.admission import Admission, JobRequest, NodeEvidence, NodeVerdict, admit

__all__ = ["Admission", "JobRequest", "NodeEvidence", "NodeVerdict", "admit"]
