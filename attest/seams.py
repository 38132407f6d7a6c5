"""The verifier's seams: what it asks of a policy and of a source of GPU evidence, and its knobs.

:class:`PolicyEvaluator` is everything the verifier (:mod:`attest.verify`) asks of an
export-control policy; :class:`attest.policy.Policy` implements it, and an object with only
``evaluate()`` is taken as :class:`RulesOnly` of it. :class:`EvidenceSource` is where a
verifier looks up GPU evidence named by digest (:class:`attest.log.Log` is one);
:class:`VerifyOptions` holds the verifier's knobs (a plain frozen dataclass, pickled to the
audit's workers). They live
apart from the pipeline so that the pipeline's module holds no runtime-checkable protocol
(mypyc compiles :mod:`attest.verify`; see ``setup.py``). :mod:`attest.verify` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from attest.crypto.canonical import DEFAULT_MAX_BYTES
from attest.errors import InputError
from attest.hardware.cc import NVIDIA_DEVICE_IDENTITY_ROOT_SHA256, ChainCache
from attest.hardware.rim import RimAppraiser
from attest.model.location import LandmarkRegistry
from attest.model.manifest import WorkloadManifest
from attest.model.policy import HardwareRequirement, LocationRequirement
from attest.model.result import Finding
from attest.policy.engine import Facts, Policy

__all__ = ["EvidenceSource", "PolicyEvaluator", "PolicyRules", "RulesOnly", "VerifyOptions", "as_policy"]


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


@dataclass(frozen=True)
class VerifyOptions:
    """Knobs of the verifier; the defaults are the strict ones."""

    max_bytes: int = DEFAULT_MAX_BYTES
    clock_skew: timedelta = timedelta(seconds=60)
    max_validity: timedelta = timedelta(hours=24)
    require_canonical: bool = True
    cc_root: bytes | None = None
    """PEM of the GPU vendor's root certificate; without it CC evidence is not checked."""
    cc_root_sha256: str = NVIDIA_DEVICE_IDENTITY_ROOT_SHA256
    """The fingerprint ``cc_root`` must have (NVIDIA's Device Identity CA by default)."""
    cc_cache: ChainCache | None = None
    """Parsed GPU chains and verified links, shared across envelopes."""
    rims: RimAppraiser | None = None
    """NVIDIA's reference integrity manifests: each verified report's measurements are compared with
    them (a mismatch or a debug-mode GPU is contraindicated); without them, a warning."""
    nras_jwks: dict[str, EllipticCurvePublicKey] | None = None
    """NRAS's public keys: an NRAS token carried with a report may then stand in for the RIMs."""
    landmarks: LandmarkRegistry | None = None
    """The trusted landmark registry; without it receipts are not evaluated."""
    binding_max_age: timedelta = timedelta(hours=24)
    """How old a GPU binding's challenge may be (a policy's ``[hardware]`` section overrides it)."""
    require_revocation: bool = True
    """``hardware-bound`` needs each GPU chain's OCSP status (False: a lab's explicit opt-out)."""
    ocsp_fetcher: Callable[[bytes], list[bytes]] | None = None
    """Fetches OCSP responses for a PEM chain that carries none (``attest verify --online``)."""
    as_of_issue: bool = False
    """Judge each manifest as of its own ``issued_at`` (an audit of past manifests): expiry, the
    signing key's trust period and GPU certificates are checked at that moment (landmark
    receipts always are), so a manifest valid when issued is not refused for having expired since.
    Revocation still counts whenever it happened, and a manifest issued after the verification
    time (beyond the clock skew) is still refused."""

    def __post_init__(self) -> None:
        """Refuse a knob of the wrong kind at once (a ``0`` for a flag, a float for a size), in every build.

        Raises:
            InputError: naming the knob.
        """
        for name in ("require_canonical", "require_revocation", "as_of_issue"):
            if type(getattr(self, name)) is not bool:
                raise InputError(f"VerifyOptions.{name} is True or False, not {getattr(self, name)!r}")
        if type(self.max_bytes) is not int or self.max_bytes <= 0:
            raise InputError(
                f"VerifyOptions.max_bytes is a whole number of bytes above 0, not {self.max_bytes!r}"
            )
        for name in ("clock_skew", "max_validity", "binding_max_age"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise InputError(f"VerifyOptions.{name} is a timedelta of 0 or more, not {value!r}")
        if self.cc_root is not None and not isinstance(self.cc_root, bytes):
            raise InputError("VerifyOptions.cc_root is the root certificate's PEM bytes, or None")
        if not isinstance(self.cc_root_sha256, str):
            raise InputError("VerifyOptions.cc_root_sha256 is a hex string")
