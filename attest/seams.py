"""The verifier's seams: what it asks of a policy and of a source of GPU evidence.

:class:`PolicyEvaluator` is everything the verifier (:mod:`attest.verify`) asks of an
export-control policy; :class:`attest.policy.Policy` implements it, and an object with only
``evaluate()`` is taken as :class:`RulesOnly` of it. :class:`EvidenceSource` is where a
verifier looks up GPU evidence named by digest (:class:`attest.log.Log` is one). They live
apart from the pipeline so that the pipeline's module holds no runtime-checkable protocol
(mypyc compiles :mod:`attest.verify`; see ``setup.py``). :mod:`attest.verify` re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from attest.model.manifest import WorkloadManifest
from attest.model.policy import HardwareRequirement, LocationRequirement
from attest.model.result import Finding
from attest.policy.engine import Facts, Policy

__all__ = ["EvidenceSource", "PolicyEvaluator", "PolicyRules", "RulesOnly", "as_policy"]


class EvidenceSource(Protocol):
    """Where a verifier may look up GPU evidence named by digest that it has not verified itself.

    :class:`attest.log.Log` is one (its evidence index): a second collector on the same log, or
    ``attest verify --log``, resolves a heartbeat naming its node's binding by digest from the
    entry that carried it. Nothing it returns is trusted: each entry is verified in full
    (signature by a trusted, unrevoked key; the heartbeat's own node key; the evidence's digest;
    its reports, chains and revocation as for a full manifest) before its evidence is used.
    """

    def envelopes_carrying(self, digest: str, limit: int = 8) -> Sequence[tuple[str, bytes]]:
        """(label, envelope bytes) of the newest entries said to carry the evidence of ``digest``.

        Raises:
            AttestError: the source could not be read (a :class:`~attest.errors.StoreError` for a
                database); the verifier turns it into a finding.
        """
        ...


@runtime_checkable
class PolicyEvaluator(Protocol):
    """The seam for export-control policy: everything the verifier asks of a policy.

    Findings whose rule starts with ``tenant.`` count toward the trust
    vector's ``tenant`` aspect, ``location.`` toward ``location``,
    ``hardware.`` toward ``hardware``, all others toward ``policy``.
    :class:`attest.policy.Policy` implements it.
    """

    @property
    def id(self) -> str:
        """The policy's id (recorded in each result's anchors)."""
        ...

    @property
    def version(self) -> str:
        """The policy's version (recorded in each result's anchors)."""
        ...

    def evaluate(self, manifest: WorkloadManifest, *, now: datetime, facts: Facts) -> Sequence[Finding]:
        """Return the findings of every rule for this manifest, given what the verifier established.

        ``facts.catalog`` is the chip catalog the verifier classified with; rules that read
        the catalog must read that one.
        """
        ...

    def location_requirement(self, at: date) -> tuple[LocationRequirement, list[str]]:
        """What a ``measured`` grade must prove on ``at``: the requirement and its prohibited country codes."""
        ...

    def hardware_requirement(self) -> HardwareRequirement | None:
        """How young a GPU binding must be; None: the verifier's ``VerifyOptions.binding_max_age``."""
        ...


class PolicyRules(Protocol):
    """An object with only :meth:`PolicyEvaluator.evaluate` (accepted by the function wrappers)."""

    def evaluate(self, manifest: WorkloadManifest, *, now: datetime, facts: Facts) -> Sequence[Finding]:
        """Return the findings of every rule for this manifest."""
        ...


class RulesOnly:
    """A :class:`PolicyEvaluator` made of an object that only evaluates rules.

    Its location requirement is the default one (CN, HK, MO; k = 2), its binding age the
    verifier's options'; its id is the object's class name and its version empty.
    """

    def __init__(self, rules: PolicyRules) -> None:
        self.rules = rules

    @property
    def id(self) -> str:
        """The wrapped object's class name."""
        return type(self.rules).__name__

    @property
    def version(self) -> str:
        """Unknown: empty."""
        return ""

    def evaluate(self, manifest: WorkloadManifest, *, now: datetime, facts: Facts) -> Sequence[Finding]:
        """The wrapped object's findings."""
        return self.rules.evaluate(manifest, now=now, facts=facts)

    def location_requirement(self, at: date) -> tuple[LocationRequirement, list[str]]:
        """The default requirement (CN, HK, MO; k = 2)."""
        req = LocationRequirement()
        return req, list(req.prohibited)

    def hardware_requirement(self) -> HardwareRequirement | None:
        """None: the verifier's options decide."""
        return None


def as_policy(policy: PolicyEvaluator | PolicyRules | None) -> PolicyEvaluator | None:
    """``policy`` as a full :class:`PolicyEvaluator` (an evaluate-only object wrapped in :class:`RulesOnly`)."""
    if policy is None or isinstance(policy, Policy | RulesOnly):  # the common cases, without a probe
        return policy
    if isinstance(policy, PolicyEvaluator):
        return policy
    return RulesOnly(policy)
