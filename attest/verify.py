"""The verifier: envelope bytes, a trust store and a clock in; a result out.

Verification is pure. State that must outlive one envelope (seen nonces, the
newest manifest of each node) is passed in through the interfaces of
:mod:`attest.replay`; export-control policy comes in through the
:class:`PolicyEvaluator` seam (its rules live in a later part of the package).

Steps, in the order a person would check by hand:

1. Size limit, strict JSON, DSSE shape, canonical encoding, base64.
2. ``payloadType`` is the in-toto type.
3. Every signature's key is known and not revoked.
4. Every signature verifies over PAE(type, payload) of the bytes received.
5. Only now: parse the payload as an in-toto Statement v1 with a known
   predicate type and a valid workload manifest.
6. The statement's subjects are the manifest's workload.
7. The manifest's node key is one of the signers.
8. Each signer key is used within its scope (operator, sites, countries, period).
9. Freshness: within [issued_at, expires_at], allowing clock skew.
10. Replay: the (key, nonce) pair was not seen before.
11. Chain: the node's sequence never goes back, and ``previous`` is the
    digest of the node's manifest one sequence number earlier.
12. Classification: every GPU re-classified from the chip catalog (by PCI
    id, then name); a different claim, or an unknown chip, is a finding.
13. Hardware evidence: each GPU's CC report verifies to the pinned vendor
    root over SHA-256 of the signing key; all GPUs bound → ``hardware-bound``.
14. Location: each landmark receipt verifies to the trusted landmark registry,
    answers this manifest and is fresh; its RTT draws a disk (``c`` in vacuum).
    With a hardware-bound node key: ``measured`` when the disks of GPU-timed
    receipts (every GPU's report over the challenge-derived nonce, signed with
    its verified leaf key; ``c·(RTT - t_min)/2``) rule out the policy's
    prohibited area even with any ``k-1`` landmark operators lying;
    ``key-measured`` when only the disks of the key's answers do. A declared
    site outside a disk is impossible.
15. Policy, when one is given.
16. Status: the worst finding; the trust vector per aspect.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import JsonValue
from pydantic_core import to_json

from attest._internal.memo import Bounded, ByIdentity, Same
from attest._internal.sightings import sight_next
from attest.anchors import catalog_anchor, policy_anchor, registry_digest, trust_digest
from attest.crypto.canonical import MSGSPEC_ERRORS, Bytes, input_bytes, strict_loads
from attest.crypto.dsse import (
    b64decode_canonical,
    encode_envelope,
    pae,
    parse_envelope,
    sign_payload,
    split_one_signature,
)
from attest.crypto.keys import SigningKey, VerifyingKey
from attest.crypto.trust import TrustEntry, TrustStore
from attest.errors import AttestError, EnvelopeError, InputError, StoreError
from attest.hardware.appraisal import appraise_gpu
from attest.hardware.binding import evidence_digest
from attest.hardware.catalog import Catalog, ChipClassification, bundled_catalog, classify_system
from attest.hardware.cc import (
    BindingCache,
    ReportVerification,
    parse_chain,
    verify_report,
)
from attest.hardware.devices import claim_period, gpu_devices
from attest.hardware.freshness import binding_nonce, challenge_digest, challenge_signed_by
from attest.model.base import assemble, construct, format_timestamp, require_aware, shift, shift_back
from attest.model.fastread import (
    REPEATING,
    PayloadFrame,
    Varying,
    match_frame,
    payload_frame,
    read_framed,
    read_statement,
)
from attest.model.location import LandmarkRegistry
from attest.model.manifest import (
    PREDICATE_TYPE,
    CcEvidence,
    Freshness,
    Gpu,
    SignedChallenge,
    WorkloadManifest,
)
from attest.model.policy import LocationRequirement
from attest.model.result import Anchors, Finding, Severity, Status, TrustVector, VerificationResult
from attest.model.statement import PAYLOAD_TYPE_INTOTO, Envelope, Statement
from attest.model.wire import view
from attest.policy.engine import Facts, Policy
from attest.replay import (
    ChainHead,
    ChainStore,
    DeviceClaim,
    DeviceStore,
    MemoryVerifierState,
    NonceStore,
    Sighting,
    sighting_store,
)
from attest.seams import EvidenceSource as EvidenceSource  # re-exported: the verifier's seams
from attest.seams import PolicyEvaluator as PolicyEvaluator
from attest.seams import PolicyRules as PolicyRules
from attest.seams import RulesOnly as RulesOnly
from attest.seams import VerifyOptions as VerifyOptions
from attest.seams import as_policy as as_policy
from attest.sign import (
    canonical_job,
    clear_digests,
    framed_digest,
    job_names,
    manifest_digest,
    manifest_frame,
    subjects_name_workload,
    workload_subjects,
)
from attest.units import human_duration

if TYPE_CHECKING:
    from attest.location.check import LocationReport


# Which trust-vector aspect each rule family speaks to.
_ASPECTS = {
    "envelope": "instance_identity",
    "signature": "instance_identity",
    "trust": "instance_identity",
    "statement": "instance_identity",
    "manifest": "instance_identity",
    "freshness": "instance_identity",
    "chain": "instance_identity",
    "hardware": "hardware",
    "location": "location",
    "classification": "hardware",
    "tenant": "tenant",
    "policy": "policy",
}


_VECTOR = tuple(TrustVector.model_fields)

# Policy rules that also speak to another aspect of the trust vector.
_ALSO: dict[str, tuple[str, ...]] = {
    "policy.headquarters": ("tenant",),
    "policy.screening": ("tenant",),
    "policy.evidence_strength": ("location",),
    "site.outside_country": ("location",),
    "policy.affiliates": ("tenant",),
}


@functools.lru_cache(maxsize=4096)  # rule ids are few; policy files name a bounded number more
def _aspects_of(rule: str) -> tuple[str, ...]:
    """The trust-vector aspects a finding of ``rule`` speaks to."""
    return (_ASPECTS.get(rule.split(".", 1)[0], "policy"), *_ALSO.get(rule, ()))


@dataclass(slots=True)
class _Run:
    """Findings and facts gathered while verifying one envelope."""

    now: datetime
    source: str | None
    findings: list[Finding] = field(default_factory=list)
    at: datetime | None = None
    """The moment the manifest is judged at when it is not ``now`` (``VerifyOptions.as_of_issue``)."""
    evaluated: set[str] = field(default_factory=set)
    subject: str | None = None
    key_id: str | None = None
    signed: WorkloadManifest | None = None
    """The manifest read (steps 5 on); see :attr:`manifest`."""
    heartbeat: tuple[_Judged, Freshness, Varying] | None = None
    """Step 0's reading: the conclusions it reused, the manifest's own freshness, and what it read."""
    grade: str = "declared"
    classifications: tuple[ChipClassification, ...] = ()
    bound: list[BoundDevice] = field(default_factory=list)
    """The GPUs whose binding verified (device identity, binding period), when hardware-bound."""
    bound_leaf_keys: dict[int, ec.EllipticCurvePublicKey] = field(default_factory=dict)
    """GPU index → leaf public key of its verified CC evidence; filled only when ``hardware-bound``."""
    anchors: Anchors | None = None
    hardware_manifest: WorkloadManifest | None = None
    """The manifest with each ``cc_evidence_ref`` resolved to the evidence it names (when it has any)."""

    @property
    def manifest(self) -> WorkloadManifest | None:
        """The authenticated manifest; step 0's is built when first asked for (a heartbeat's result needs none)."""
        if self.signed is None and self.heartbeat is not None:
            judged, fr, read = self.heartbeat
            values = {name: judged.members.get(name) for name in WorkloadManifest.model_fields}
            # A job model of this manifest's own: the one step 0 read may be kept for later heartbeats.
            values["freshness"], values["job"] = fr, read.fresh_job()
            self.signed = assemble(WorkloadManifest, values, set(judged.given))
        return self.signed

    def claims(self) -> tuple[str, int]:
        """The authenticated manifest's node key and sequence (without building step 0's manifest)."""
        if self.signed is not None:
            return self.signed.node.key_id, self.signed.freshness.sequence
        assert self.heartbeat is not None and self.key_id is not None  # step 0: signed by the node key
        return self.key_id, self.heartbeat[1].sequence

    @property
    def judged_at(self) -> datetime:
        """When expiry, key trust periods and GPU certificates are judged: ``at`` if set, else ``now``."""
        return self.at or self.now

    def add(
        self,
        rule: str,
        severity: Severity,
        message: str,
        evidence: dict[str, JsonValue] | None = None,
        remedy: str | None = None,
    ) -> None:
        # Built here from checked values: constructed without re-validation.
        self.findings.append(
            construct(
                Finding,
                {
                    "rule": rule,
                    "severity": severity,
                    "message": message,
                    "evidence": evidence or {},
                    "remedy": remedy,
                },
            )
        )

    def result(self) -> VerificationResult:
        m, hb = self.signed, self.heartbeat
        findings = self.findings
        trust_vector: TrustVector | None = None
        if hb is not None and len(self.evaluated) == len(hb[0].evaluated):
            # Step 0's: the kept findings (steps 7-8 first, 12-15 last) were folded when kept;
            # only those between them (replay, chain) are folded now. Folding is order-free.
            judged = hb[0]
            status, vector, trust_vector = judged.folded
            between = findings[len(judged.pre) : len(findings) - len(judged.post)]
            if between:
                vector = dict(vector)
                status = _fold(between, status, vector)
                trust_vector = None
        else:
            vector = dict.fromkeys(self.evaluated, Status.AFFIRMING)
            status = _fold(findings, Status.AFFIRMING, vector)
        if trust_vector is None:
            trust_vector = _trust_vector(tuple([vector.get(a, Status.NONE) for a in _VECTOR]))
        if m is not None:
            read: tuple[str, str, int] | None = (m.node.hostname, m.job.id, m.freshness.sequence)
        elif hb is not None:
            read = (hb[0].hostname, hb[2].job.id, hb[1].sequence)
        else:
            read = None
        # The status is computed from the findings here, so it is never more trusting
        # than the worst of them (the invariant VerificationResult checks on input).
        return construct(
            VerificationResult,
            {
                "status": status,
                "source": self.source,
                "subject": self.subject,
                "key_id": self.key_id,
                "node": read[0] if read else None,
                "job_id": read[1] if read else None,
                "sequence": read[2] if read else None,
                "location_grade": self.grade if read else None,
                "trust_vector": trust_vector,
                "findings": findings,
                "verified_at": self.now,
                "anchors": self.anchors,
            },
        )


def _fold(findings: Sequence[Finding], status: Status, vector: dict[str, Status]) -> Status:
    """``status`` lowered by each finding, and ``vector``'s aspects by the findings that speak to them (in place)."""
    for f in findings:
        if f.severity is Severity.INFO:
            continue  # explains; lowers nothing (and an unevaluated aspect stays unevaluated)
        level = f.severity.status
        status = Status.worst((status, level))
        for aspect in _aspects_of(f.rule):
            vector[aspect] = Status.worst((vector.get(aspect, Status.AFFIRMING), level))
    return status


def _trust_vector(statuses: tuple[Status, ...]) -> TrustVector:
    """The (frozen, shared) trust vector of these statuses, in ``_VECTOR`` order: at most 4^5 of them."""
    vector = _TRUST_VECTORS.get(statuses)
    if vector is None:
        vector = _TRUST_VECTORS[statuses] = construct(TrustVector, dict(zip(_VECTOR, statuses, strict=True)))
    return vector


_TRUST_VECTORS: dict[tuple[Status, ...], TrustVector] = {}

CONTRA = Severity.CONTRAINDICATED

# The same in every result without a policy (findings are frozen; results share them).
_POLICY_NOT_EVALUATED = construct(
    Finding,
    {
        "rule": "policy.not_evaluated",
        "severity": Severity.INFO,
        "message": "no export-control policy was given; no export-control rule was applied",
        "evidence": {},
        "remedy": None,
    },
)


def _info(rule: str, message: str, remedy: str | None = None) -> Finding:
    """An ``info`` finding built once (findings are frozen; results share them)."""
    return construct(
        Finding,
        {"rule": rule, "severity": Severity.INFO, "message": message, "evidence": {}, "remedy": remedy},
    )


# What a verifier built without a store did not check: said in every result, never skipped silently.
_REPLAY_NOT_CHECKED = _info(
    "freshness.replay_not_checked",
    "no nonce store was given: a replay of this envelope (its key and nonce seen before) would not be noticed",
    "verify with a nonce store (attest.Verifier keeps one in memory by default; attest verify --state FILE)",
)
_CHAIN_NOT_CHECKED = _info(
    "chain.not_checked",
    "no chain store was given: a sequence number going back, a fork or a gap in this node's chain "
    "would not be noticed",
    "verify with a chain store (attest.Verifier keeps one in memory by default; attest verify --state FILE)",
)
_DEVICES_NOT_CHECKED = _info(
    "hardware.devices_not_checked",
    "no device store was given: GPUs vouching for another node key over the same time would not be noticed",
    "verify with a device store (attest.Verifier keeps one in memory by default; attest verify --state FILE)",
)


class _Default(Enum):
    """The CLI's default for a :class:`Verifier` argument (a policy or a store)."""

    TOKEN = 0


DEFAULT = _Default.TOKEN
"""For :class:`Verifier`: use the CLI's default (the ``us-ear`` policy; a store in memory)."""

DEFAULT_POLICY = "us-ear"
"""The policy :class:`Verifier` applies unless told otherwise (as ``attest verify`` does)."""

IN_MEMORY = "memory"
"""For a :class:`Verifier` store: the verifier's own state in memory (the default)."""

_S = TypeVar("_S")


def _store(
    given: _S | str | _Default | None, memory: MemoryVerifierState, name: str
) -> _S | MemoryVerifierState | None:
    """A store argument of :class:`Verifier`: ``"memory"`` (or ``DEFAULT``) is the verifier's state in memory."""
    if isinstance(given, _Default) or given == IN_MEMORY:
        return memory
    if isinstance(given, str):
        raise InputError(f"{name} must be a store, None or {IN_MEMORY!r}, not {given[:40]!r}")
    return given


class Verifier:
    """One verifier: every trust anchor and all replay, chain and device state, held once.

    ``verify(raw)`` judges one envelope, ``verify_many(items)`` a batch; each result names
    the anchors that produced it (:class:`attest.model.result.Anchors`).

    Its defaults are the CLI's: the ``us-ear`` policy (a policy may be given by a bundled id or a
    file's path, as ``attest verify --policy``) and nonce, chain and device stores in memory
    (``"memory"``), so a stream of envelopes is checked for replays, chain breaks and GPUs
    serving two nodes. Pass ``None`` for any of them to skip that check; the result then
    says so in a finding (``policy.not_evaluated``, ``freshness.replay_not_checked``,
    ``chain.not_checked``, ``hardware.devices_not_checked``) rather than skipping it silently.
    A policy object with only ``evaluate()`` is taken as :class:`RulesOnly` of it.
    ``evidence_log`` (an :class:`EvidenceSource`, such as :class:`attest.log.Log`) resolves GPU
    evidence a heartbeat names by digest that this verifier has not verified itself.

    Example::

        verifier = Verifier(TrustStore.load(Path("trust.json")))
        result = verifier.verify(Path("m.dsse.json").read_bytes())
    """

    def __init__(
        self,
        trust: TrustStore,
        *,
        policy: PolicyEvaluator | PolicyRules | str | _Default | None = DEFAULT_POLICY,
        catalog: Catalog | None = None,
        options: VerifyOptions | None = None,
        nonces: NonceStore | str | _Default | None = IN_MEMORY,
        chains: ChainStore | str | _Default | None = IN_MEMORY,
        devices: DeviceStore | str | _Default | None = IN_MEMORY,
        evidence_log: EvidenceSource | None = None,
    ) -> None:
        if isinstance(policy, _Default):
            policy = DEFAULT_POLICY
        if isinstance(policy, str):  # a bundled policy's id (or a policy file), as attest verify --policy
            from attest.policy.engine import load_policy

            policy = load_policy(policy)
        self.trust = trust
        self.policy: PolicyEvaluator | None = as_policy(policy)
        self.catalog: Catalog = catalog if catalog is not None else bundled_catalog()
        self.options = options if options is not None else VerifyOptions()
        # One state in memory for every store left to the default, as attest verify's: the same
        # manifest seen again keeps its first chain verdict, another payload reusing a nonce is a replay.
        memory = MemoryVerifierState()
        self.nonces: NonceStore | None = _store(nonces, memory, "nonces")
        self.chains: ChainStore | None = _store(chains, memory, "chains")
        self.devices: DeviceStore | None = _store(devices, memory, "devices")
        self.bindings = BindingCache()
        """GPU reports this verifier verified, by digest: a heartbeat repeating its binding costs no
        P-384 verify (what depends on the envelope is still checked every time)."""
        self.evidence_log = evidence_log
        """Where evidence named by digest that this verifier never verified is looked up (a log):
        each entry found is verified in full before its evidence is used. None: such a digest is refused."""
        self._anchors: Anchors | None = None
        self._anchored: tuple[object, ...] | None = None
        self._heartbeats: _Heartbeats | None = _Heartbeats()
        """What this verifier concluded about each node's repeating members (step 0 of a
        verification); None judges every envelope in full (the differential tests compare both)."""
        self._checker: Verifier | None = None
        self._checked_options: VerifyOptions | None = None
        self._aware: datetime | None = None

    @property
    def anchors(self) -> Anchors:
        """The anchors every result of this verifier records, from its current trust store, policy, catalog and options.

        Each is named by its content (:mod:`attest.anchors`): a policy is ``custom:ID@VERSION``
        unless it is the bundled engine with every document of its ``extends`` chain the bundled
        one of that id (a file that calls itself ``us-ear`` is not ``us-ear``), and carries the
        sha256 of its documents and screening lists; a catalog that is not the bundled one is
        ``custom:``; the trust store and landmark registry are named by their sha256.
        """
        p, c, o, t = self.policy, self.catalog, self.options, self.trust
        document = t.document
        held = self._anchored
        if (  # identity, not equality: a result's anchors are those of the objects in use now
            self._anchors is None
            or held is None
            or held[0] is not p
            or held[1] is not c
            or held[2] is not o
            or held[3] is not t
            or held[4] is not document
        ):
            self._anchored = (p, c, o, t, document)
            policy, policy_sha256, lists = (None, None, []) if p is None else policy_anchor(p)
            self._anchors = construct(
                Anchors,
                {
                    "policy": policy,
                    "policy_sha256": policy_sha256,
                    "lists": lists,
                    "catalog": catalog_anchor(c),
                    "trust_store": trust_digest(t),
                    "cc_root_sha256": o.cc_root_sha256 if o.cc_root is not None else None,
                    "landmark_registry": registry_digest(o.landmarks) if o.landmarks is not None else None,
                },
            )
        return self._anchors

    def verify(
        self, raw: Bytes, *, now: datetime | None = None, source: str | None = None
    ) -> VerificationResult:
        """Verify one envelope file's bytes (never raises on bad input).

        Args:
            raw: the envelope exactly as received.
            now: the verification time (an aware datetime; default: the clock's now).
            source: a label for the input (file name), copied into the result.

        Raises:
            StoreError: the replay, chain or device state could not be read or written
                (a database locked, full, read-only, damaged or disconnected): no verdict.
        """
        return self._run(raw, now=now, source=source).result()

    def verify_and_open(
        self, raw: Bytes, *, now: datetime | None = None, source: str | None = None
    ) -> tuple[VerificationResult, WorkloadManifest | None]:
        """:meth:`verify`, also returning the manifest once every signature on it verified.

        The manifest is None when the envelope could not be authenticated; a returned manifest
        may still carry contraindicated findings (read the result first).
        """
        run = self._run(raw, now=now, source=source)
        return run.result(), run.manifest

    def verify_and_resolve(
        self, raw: Bytes, *, now: datetime | None = None, source: str | None = None
    ) -> tuple[VerificationResult, WorkloadManifest | None, WorkloadManifest | None]:
        """:meth:`verify_and_open`, and the manifest with its GPU evidence references resolved.

        The third is the manifest with each ``Gpu.cc_evidence_ref`` replaced by the evidence it
        names (None when it had none, or one did not resolve). Read devices and bindings from the
        third; digests and chains from the second, as signed.
        """
        run = self._run(raw, now=now, source=source)
        return run.result(), run.manifest, run.hardware_manifest

    def _run(
        self, raw: Bytes, *, now: datetime | None, source: str | None, ahead: _Ahead | None = None
    ) -> _Run:
        raw = input_bytes(raw)  # a buffer is judged as it holds the envelope now (and checked ahead never)
        if source is not None and type(source) is not str:
            raise TypeError(f"source is a label (str) or None, not {type(source).__name__}")
        if now is None:
            now = datetime.now(UTC)
        elif now is not self._aware:  # checked once per moment object (a batch passes one)
            self._aware = require_aware(now)
        run = _Run(now=now, source=source, anchors=self.anchors)
        run.evaluated.add("instance_identity")
        try:
            _verify(run, raw, self, ahead)
        except StoreError:
            raise  # the state cannot be read or written: not a verdict on this envelope
        except AttestError as exc:  # pragma: no cover - every step turns its errors into findings
            run.add("envelope.malformed", CONTRA, exc.message)
        return run

    def _entry_checker(self) -> Verifier:
        """The verifier of log entries that evidence named by digest is resolved from (kept while the anchors are).

        This verifier's anchors and policy (the binding age), judged as of each entry's issue time,
        with no nonce, chain or device store (an entry read back is not a new sighting, and writes
        nothing). It shares this verifier's binding cache: what it leaves there is what verifying
        that entry here would have left (reports' outcomes kept only within their validity, evidence
        that earned hardware-bound for its own key), and remembering grants nothing, as whatever
        resolves a digest is verified again for the heartbeat. Sharing it makes that second check
        cost no report signature.
        """
        held = self._checker
        if (
            held is None
            or held.trust is not self.trust
            or held.policy is not self.policy
            or held.catalog is not self.catalog
            or self._checked_options is not self.options
        ):
            held = Verifier(
                self.trust,
                policy=self.policy,
                catalog=self.catalog,
                options=replace(self.options, as_of_issue=True),
                nonces=None,
                chains=None,
                devices=None,
            )
            self._checker, self._checked_options = held, self.options
        held.bindings = self.bindings  # (a caller may have given this verifier another since)
        return held

    def verify_many(
        self,
        items: Sequence[tuple[str, Bytes]],
        *,
        now: datetime | None = None,
        threads: object = None,
    ) -> list[VerificationResult]:
        """Verify a batch, checking chains in (node key, sequence) order; results in input order.

        Inputs are visited in sequence order per node so that a batch given in
        any file order is judged the same; ordering reads the unverified
        payload only to sort, never to decide. With a device store, a GPU found
        backing two node keys anywhere in the batch refuses every envelope of the
        batch that relies on it, not only the ones verified after the other key's.

        ``threads``: how many threads check signatures ahead of the judging (a signature check
        is a pure function of key, signature and message, and runs without the GIL), so that
        on a machine with cores to spare a batch takes about its signatures' time. Default:
        one less than the CPUs, at most 4; 0 checks each signature in turn. The results are
        the same either way.
        """
        at = require_aware(now) if now is not None else datetime.now(UTC)
        batch: Sequence[object] = items  # each item is read as it is judged (_pair), a list pair too
        # The sort reads each envelope's frame (base64 decoded); the judging takes that reading
        # again rather than making it twice, for the very bytes object it was made of
        # (_KEEP_SPLITS bounds the memory held).
        keys: list[tuple[str, int]] = []
        splits: list[_Kept | None] = []
        budget = _KEEP_SPLITS
        for i in range(len(batch)):
            raw_item = _pair(batch[i])[1]
            key, one = _order_read(raw_item)
            keys.append(key)
            if one is not None and len(one[3]) <= budget:
                budget -= len(one[3])
                splits.append((raw_item, one))
            else:
                splits.append(None)
        order = sorted(range(len(batch)), key=keys.__getitem__)
        results: dict[int, VerificationResult] = {}
        # the authenticated: their manifests, as signed, tell branches of a fork apart
        read: dict[int, _Run] = {}
        workers = _ahead_threads(len(order), threads)
        max_bytes = self.options.max_bytes
        ahead = (
            _SignaturesAhead(
                self.trust,
                [_pair(batch[i])[1] for i in order],
                [splits[i] for i in order],
                workers,
                max_bytes,
            )
            if workers
            else None
        )
        if ahead is not None:
            splits = []  # the threads hold them now
        try:
            for position, i in enumerate(order):
                label, raw = _pair(batch[i])
                if ahead is not None:
                    checked = ahead.get(position)
                else:
                    kept, splits[i] = splits[i], None  # read once: its memory goes with it
                    checked = _check_ahead(self.trust, raw, max_bytes, _split_of(kept, raw)) if kept else None
                run = self._run(raw, now=at, source=label, ahead=checked)
                results[i] = run.result()
                if run.signed is not None or run.heartbeat is not None:
                    read[i] = run
                if ahead is not None and ahead.behind():
                    time.sleep(0)  # lets a checking thread take the GIL now, not at the next switch interval
        finally:
            if ahead is not None:
                ahead.close()
        if self.devices is not None:
            for i, run in read.items():
                if results[i].location_grade not in (None, "declared"):  # GPUs relied on, evidence resolved
                    manifest = run.hardware_manifest or run.manifest
                    assert manifest is not None
                    results[i] = _recheck_devices(results[i], manifest, self.devices)
        if self.chains is not None:
            # Two payloads that differ only in carrying evidence or naming it by digest are two
            # branches: the digests compared are the signed manifests', as the audit's summaries hold.
            forked = _refuse_batch_forks(results, read)
            # The state holds what was reported: each branch's first sighting becomes a fork, so the
            # branch the batch's order checked first is not affirmed when verified again later.
            sightings = sighting_store(self.nonces)
            if forked and sightings is not None and id(self.nonces) == id(self.chains):
                for i in forked:
                    m, subject = read[i].manifest, results[i].subject
                    assert m is not None
                    if subject is not None and m.node.key_id == results[i].key_id:
                        sightings.note_fork(m.node.key_id, m.freshness.nonce, subject)
        return [results[i] for i in range(len(items))]


def _pair(item: object) -> tuple[str, Bytes]:
    """One item of a batch: a (label, envelope) pair, a tuple or a list of two; the envelope is read later."""
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
        return str(item[0]), item[1]
    raise TypeError(f"each item of a batch is a (label, envelope bytes) pair, not {type(item).__name__}")


_Checked = tuple[str, str, bytes, bool, VerifyingKey]
"""A signature check: key id, signature text, the message it was checked over, whether it verified, the key."""


class _Ahead:
    """One envelope read by its frame and its signature checked (:func:`_check_ahead`): by step 0, or ahead on a thread.

    A plain class (compiled, it is built without the interpreted ``__new__`` of a NamedTuple).
    """

    __slots__ = ("key", "message", "ok", "one", "raw")

    def __init__(
        self, raw: bytes, one: tuple[str, str, bytes, bytes], message: bytes, ok: bool, key: VerifyingKey
    ) -> None:
        self.raw = raw
        """The very bytes object read: what is here counts only for the verification of this object."""
        self.one = one
        """:func:`split_one_signature` of it."""
        self.message = message
        self.ok = ok
        self.key = key
        """The key it was checked with (the trust store's entry for the key id then)."""

    def checked(self) -> _Checked:
        """The signature check, as step 3 compares it."""
        return self.one[0], self.one[1], self.message, self.ok, self.key


_AHEAD_CHUNK = 32
"""Envelopes per task of :class:`_SignaturesAhead`."""


_MAX_AHEAD_THREADS = 32


def _ahead_threads(batch: int, threads: object) -> int:
    """The threads :meth:`Verifier.verify_many` checks signatures ahead with: ``threads``, or by default."""
    if threads is not None:
        if type(threads) is not int or threads < 0:
            raise InputError(f"threads must be a whole number, 0 or more, not {threads!r}")
        return min(threads, _MAX_AHEAD_THREADS)
    if batch < 2 * _AHEAD_CHUNK:
        return 0  # a small batch: the threads would cost more than they overlap
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


_Split = tuple[str, str, bytes, bytes]
""":func:`split_one_signature` of an envelope: key id, signature text, signature, payload."""
_Kept = tuple[object, _Split]
"""A split kept for the judging: the very object it was read from, and the split."""

_KEEP_SPLITS = 256 * 1024 * 1024
"""The most payload bytes :meth:`Verifier.verify_many` keeps from its sort for the judging (the rest are read again)."""


def _split_of(kept: _Kept, raw: object) -> _Split | None:
    """The kept split if it was read from ``raw`` itself (the same object), else None."""
    return kept[1] if kept[0] is raw else None


def _check_ahead(trust: TrustStore, raw: object, max_bytes: int, one: _Split | None = None) -> _Ahead | None:
    """The one signature of a canonical in-toto envelope by a trusted, unrevoked key, checked; None for any other.

    Step 0's reading and signature check, and what :class:`_SignaturesAhead` runs on its threads.
    ``one``: :func:`split_one_signature` of this very ``raw``, when it was read before (the sort of
    :meth:`Verifier.verify_many`); the caller vouches that it is of this object.
    """
    try:
        if type(raw) is not bytes or len(raw) > max_bytes:
            return None  # a buffer may change before it is judged; an oversize one is not read
        if one is None:
            one = split_one_signature(raw)
        if one is None:
            return None
        entry = trust.get(one[0])
        if entry is None or trust.is_revoked(one[0]):
            return None
        message = pae(PAYLOAD_TYPE_INTOTO, one[3])
        return _Ahead(raw, one, message, entry.key.verify(one[2], message), entry.key)
    except Exception:  # a speed-up: whatever it cannot check is checked in turn
        return None


class _SignaturesAhead:
    """A batch's signatures checked on other threads, a few tasks ahead of the envelope being judged.

    What a check gives is used only by the judging of an envelope whose key id, signature text
    and message are those very values (:func:`_verify`), so it decides nothing else: trust,
    revocation, replay, chain and every other step are judged in order, as without it. At most
    ``2 x threads`` tasks are ahead (their messages held meanwhile).
    """

    def __init__(
        self,
        trust: TrustStore,
        raws: list[Bytes],
        splits: list[_Kept | None],
        threads: int,
        max_bytes: int,
    ) -> None:
        self._trust, self._raws, self._max_bytes = trust, raws, max_bytes
        self._splits = splits  # the sort's readings, by position (each let go once handed to a task)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="attest-signatures")
        self._tasks: dict[int, Future[list[_Ahead | None]]] = {}
        self._window = 2 * threads
        self._next = 0
        for _ in range(self._window):
            self._submit()

    def _submit(self) -> None:
        start = self._next * _AHEAD_CHUNK
        if start < len(self._raws):
            chunk = self._raws[start : start + _AHEAD_CHUNK]
            kept = self._splits[start : start + _AHEAD_CHUNK]
            self._splits[start : start + _AHEAD_CHUNK] = [None] * len(kept)
            trust, limit = self._trust, self._max_bytes
            self._tasks[self._next] = self._pool.submit(
                lambda: [
                    _check_ahead(trust, r, limit, _split_of(k, r) if k is not None else None)
                    for r, k in zip(chunk, kept, strict=True)
                ]
            )
            self._next += 1

    def behind(self) -> bool:
        """Whether a task is still being checked (then the judging thread should let it take the GIL)."""
        return any(not task.done() for task in self._tasks.values())

    def get(self, position: int) -> _Ahead | None:
        """The check of the envelope at ``position`` (waiting for it), or None."""
        task, offset = divmod(position, _AHEAD_CHUNK)
        future = self._tasks.get(task)
        if future is None:
            return None
        checks = future.result()
        if offset == len(checks) - 1:  # the task's last: the next one goes ahead
            del self._tasks[task]
            self._submit()
        return checks[offset] if offset < len(checks) else None

    def close(self) -> None:
        """Stop: tasks not started are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _function_verifier(
    trust: TrustStore,
    nonces: NonceStore | None,
    chains: ChainStore | None,
    policy: PolicyEvaluator | PolicyRules | None,
    options: VerifyOptions | None,
    catalog: Catalog | None,
    devices: DeviceStore | None,
    evidence_log: EvidenceSource | None = None,
) -> Verifier:
    """The :class:`Verifier` the function wrappers use: exactly the stores and policy they were given."""
    return Verifier(
        trust,
        policy=policy,
        catalog=catalog,
        options=options,
        nonces=nonces,
        chains=chains,
        devices=devices,
        evidence_log=evidence_log,
    )


def verify_envelope(
    raw: Bytes,
    trust: TrustStore,
    *,
    now: datetime,
    nonces: NonceStore | None = None,
    chains: ChainStore | None = None,
    policy: PolicyEvaluator | PolicyRules | None = None,
    options: VerifyOptions | None = None,
    source: str | None = None,
    catalog: Catalog | None = None,
    devices: DeviceStore | None = None,
) -> VerificationResult:
    """Verify one envelope file's bytes and return the result (never raises on bad input).

    A one-call form of :class:`Verifier` that uses exactly what it is given: a check whose
    store or policy is missing is not made, and the result says so in an ``info`` finding.

    Whatever the bytes, the answer is a result. Only the stores can make it raise: a state
    whose database cannot be read or written (locked, full, read-only, damaged, disconnected)
    raises :class:`~attest.errors.StoreError`, as no verdict can be given without it.

    Args:
        raw: the envelope exactly as received.
        trust: the trusted signer keys.
        now: the verification time (an aware datetime).
        nonces: where seen nonces are remembered; None skips the replay check (and says so).
        chains: where each node's newest manifest is remembered; None skips the chain check (and says so).
        policy: export-control policy; None records that policy was not evaluated.
        options: limits and tolerances.
        source: a label for the input (file name), copied into the result.
        catalog: the chip catalog GPUs are classified with (default: the bundled one).
        devices: which node keys each GPU device vouched for; None skips the one-GPU-one-node check (and says so).

    Raises:
        StoreError: ``nonces``, ``chains`` or ``devices`` could not be read or written.
    """
    verifier = _function_verifier(trust, nonces, chains, policy, options, catalog, devices)
    verifier._heartbeats = None  # one envelope: nothing to reuse, so nothing to learn
    return verifier.verify_and_open(raw, now=now, source=source)[0]


def verify_and_open(
    raw: Bytes,
    trust: TrustStore,
    *,
    now: datetime,
    nonces: NonceStore | None = None,
    chains: ChainStore | None = None,
    policy: PolicyEvaluator | PolicyRules | None = None,
    options: VerifyOptions | None = None,
    source: str | None = None,
    catalog: Catalog | None = None,
    devices: DeviceStore | None = None,
    bindings: BindingCache | None = None,
    evidence_log: EvidenceSource | None = None,
) -> tuple[VerificationResult, WorkloadManifest | None]:
    """:func:`verify_envelope`, also returning the manifest once every signature on it verified.

    The manifest is None when the envelope could not be authenticated; a returned manifest
    may still carry contraindicated findings (read the result first). ``bindings``: the GPU
    bindings verified by earlier calls (a caller that keeps one across envelopes resolves
    heartbeats naming a binding by digest and judges each binding once); default: none.
    ``evidence_log``: where a digest no binding resolves is looked up (:class:`EvidenceSource`).
    """
    verifier = _function_verifier(trust, nonces, chains, policy, options, catalog, devices, evidence_log)
    verifier._heartbeats = None  # one envelope: nothing to reuse, so nothing to learn
    if bindings is not None:
        verifier.bindings = bindings
    return verifier.verify_and_open(raw, now=now, source=source)


def _verify(run: _Run, raw: bytes, verifier: Verifier, ahead: _Ahead | None = None) -> None:
    trust, chains = verifier.trust, verifier.chains
    policy, options, catalog, devices = verifier.policy, verifier.options, verifier.catalog, verifier.devices
    # The anchors this verification uses throughout, read once (another thread may replace them on
    # the verifier meanwhile): what step 0 reuses and what it learns are filed under these.
    context = (policy, catalog, options, trust, trust.document)

    # 0. A heartbeat of a node judged before: its repeating members are the very bytes judged
    #    then, so steps 7-8 and 12-15 are what they were; the rest is judged below, in full.
    # (key id, signature, message, whether it verified): a signature step 0 checked, not checked twice
    # ``ahead``: this very bytes object read and its signature checked before, elsewhere (verify_many).
    if ahead is not None and (ahead.raw is not raw or type(raw) is not bytes):
        ahead = None
    verified = ahead.checked() if ahead is not None else None
    heartbeats = verifier._heartbeats
    if heartbeats is not None and len(raw) <= options.max_bytes:
        done, checked = _verify_heartbeat(run, raw, verifier, heartbeats, context, ahead)
        if done:
            return
        verified = checked or verified

    # 1. Size, strict JSON, DSSE shape, canonical encoding, base64.
    try:
        envelope, payload = parse_envelope(
            raw, max_bytes=options.max_bytes, require_canonical=options.require_canonical
        )
    except EnvelopeError as exc:
        run.add(exc.rule, CONTRA, exc.message, remedy=exc.hint)
        return
    run.subject = "sha256:" + hashlib.sha256(payload).hexdigest()
    run.key_id = envelope.signatures[0].keyid

    # 2. Payload type.
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO:
        run.add(
            "envelope.payload_type",
            CONTRA,
            f"payloadType {envelope.payload_type[:80]!r} is not {PAYLOAD_TYPE_INTOTO}",
        )
        return

    # 3. and 4. Every signer known, not revoked, and its signature valid over these bytes.
    message = pae(envelope.payload_type, payload)
    signers: list[TrustEntry] = []
    for sig in envelope.signatures:
        if trust.is_revoked(sig.keyid):
            run.add("trust.key_revoked", CONTRA, f"key {sig.keyid} is revoked", {"key_id": sig.keyid})
            continue
        entry = trust.get(sig.keyid)
        if entry is None:
            run.add(
                "signature.unknown_key",
                CONTRA,
                f"key {sig.keyid} is not in the trust store",
                {"key_id": sig.keyid},
                remedy="add the node's public key with: attest trust add KEY.pub --trust FILE",
            )
            continue
        if (
            verified is not None
            and verified[:3] == (sig.keyid, sig.sig, message)
            and verified[4] is entry.key
        ):
            valid = verified[3]
        else:
            valid = entry.key.verify(b64decode_canonical(sig.sig, what="signature"), message)
        if not valid:
            run.add(
                "signature.invalid",
                CONTRA,
                f"signature by key {sig.keyid} does not verify",
                {"key_id": sig.keyid},
            )
            continue
        signers.append(entry)
    if len(signers) != len(envelope.signatures):
        return  # nothing signed may be read unless every signature holds

    # 5. Parse the now-authenticated payload, strictly.
    try:
        statement = read_statement(payload, max_bytes=options.max_bytes)
    except AttestError:
        _explain_bad_statement(run, payload, options)
        return
    manifest = statement.predicate
    run.signed = manifest
    if options.as_of_issue:
        run.at = min(manifest.freshness.issued_at, run.now)

    # 6. Subjects name this manifest's workload.
    # The job's canonical encoding serves both the subjects (a job naming no spec) and the chain digest.
    job = manifest.job
    job_canonical = canonical_job(job) if chains is not None or not (job.spec_digest or job.images) else None
    if not subjects_name_workload(statement.subject, manifest, job_canonical=job_canonical):
        expected = workload_subjects(manifest, job_canonical=job_canonical)
        run.add(
            "statement.subject_mismatch",
            CONTRA,
            "the statement's subjects are not the workload digests of its manifest",
            {"expected": [s.to_obj() for s in expected]},
        )

    marks = [len(run.findings)]  # where steps 7, 9 and 12 begin: what step 0 reuses lies between

    # 7. The node key the manifest names signed it.
    signer_ids = [s.scope.key_id for s in signers]
    if manifest.node.key_id not in signer_ids:
        run.add(
            "manifest.node_key_mismatch",
            CONTRA,
            f"manifest names node key {manifest.node.key_id} but was signed by {', '.join(signer_ids)}",
            {"node_key_id": manifest.node.key_id, "signers": list(signer_ids)},
        )
    run.key_id = manifest.node.key_id if manifest.node.key_id in signer_ids else signer_ids[0]

    # 8. Each key within its scope.
    for entry in signers:
        _check_scope(run, entry, manifest)

    marks.append(len(run.findings))

    # 9. Freshness.
    _check_freshness(run, manifest.freshness, options)

    # 10. and 11. Replay and chain.
    _check_replay_and_chain(
        run,
        verifier,
        manifest.freshness,
        manifest.node.key_id,
        lambda: manifest_digest(manifest, job=job_canonical),
    )
    marks.append(len(run.findings))

    # 12. Classification, from the catalog, never from the manifest's word.
    _check_classification(run, manifest, catalog)

    # 13. Hardware evidence binds the signing key to the GPUs listed: fresh, unrevoked, the declared model.
    #     Evidence named by digest is resolved from what this verifier verified, then checked in full.
    node_signer = next((e for e in signers if e.scope.key_id == manifest.node.key_id), None)
    hw = _check_gpu_evidence(run, manifest, node_signer, verifier)

    # 13b. One GPU serves one node: a device bound to another key over the same time; a swap.
    if run.bound:
        if devices is None:
            run.findings.append(_DEVICES_NOT_CHECKED)
        else:
            _check_devices(run, hw or manifest, devices)

    # 14. Location: landmark receipts, checked against the trusted registry; physics decides.
    _check_location(run, manifest, policy, options, catalog)

    # 15. Policy.
    if policy is None:
        run.findings.append(_POLICY_NOT_EVALUATED)
    else:
        facts = Facts(run.grade, run.classifications, catalog)
        if type(policy) is Policy:  # the bundled engine: its kept verdict, and the aspects it speaks to
            verdict = policy.verdict(manifest, facts=facts)
            aspects = _VERDICT_ASPECTS.get(verdict)
            if aspects is None:
                aspects = _evaluated_aspects(verdict)
                _VERDICT_ASPECTS.put(aspects, verdict)
            run.findings.extend(verdict)
            run.evaluated.update(aspects)
        else:
            found = list(policy.evaluate(manifest, now=run.now, facts=facts))
            run.findings.extend(found)
            run.evaluated.update(_evaluated_aspects(found))

    if heartbeats is not None:
        try:
            heartbeats.learn(run, context, payload, manifest, signers, marks)
        except Exception:  # a memory for speed: whatever goes wrong there, the verdict stands
            heartbeats.failures += 1


def _check_replay_and_chain(
    run: _Run, verifier: Verifier, freshness: Freshness, node_key_id: str, digest: Callable[[], str]
) -> None:
    """Steps 10 and 11: the (key, nonce) pair not used before; the node's chain continued.

    ``freshness`` and ``node_key_id`` are the manifest's; ``digest`` gives the manifest's digest
    (:func:`attest.sign.manifest_digest`), asked only when the chain is checked.
    """
    # 10. Replay: the (key, nonce) pair was not used before by another payload. The same payload
    #     from the same node key again (identical or re-signed bytes) is the same manifest: it
    #     keeps its first chain verdict and is judged again now on everything else.
    assert run.key_id is not None and run.subject is not None  # set by steps 1-7
    first = None
    nonces, chains, options = verifier.nonces, verifier.chains, verifier.options
    expires = shift(freshness.expires_at, options.clock_skew)
    sightings = sighting_store(nonces)
    if nonces is None:
        run.findings.append(_REPLAY_NOT_CHECKED)
    elif sightings is not None:
        first = sightings.first_use(run.key_id, freshness.nonce, expires, run.subject, run.now)
        if first.payload != run.subject:
            first = None
            _replayed(run, freshness.nonce)
        elif not first.new:
            run.add(*seen_before(first))
    elif not nonces.check_and_record(run.key_id, freshness.nonce, expires):
        _replayed(run, freshness.nonce)

    # 11. Chain (a manifest seen before keeps the chain verdict it had when first seen). The
    #     verdict kept with a sighting is the one judged against that same store's chain heads:
    #     a verifier whose chain store is another (or none) neither uses nor records it.
    same_store = chains is not None and id(chains) == id(nonces)  # the same object
    if first is not None and not first.new and first.chain_rule is not None and same_store:
        if first.chain_rule:
            run.add(*first_chain_verdict(first))
    elif chains is None:
        run.findings.append(_CHAIN_NOT_CHECKED)
    elif run.key_id != node_key_id:
        pass  # not signed by the node key it names (refused above): its claims move no chain
    else:
        rule = _check_chain(run, chains, freshness, digest)
        if first is not None and sightings is not None and same_store:
            sightings.note_chain(run.key_id, freshness.nonce, first.payload, rule)


@dataclass(frozen=True, eq=False)
class _Judged:
    """What steps 7-8 and 12-15 concluded about one node's repeating manifest members.

    Those steps read only the members other than freshness and job (tenant, operator, site,
    node, GPUs, licences, location evidence), the signer's trust entry, the issue date and the
    job's declared operations, and the verifier's policy, catalog and options — when, as
    :meth:`_Heartbeats.learn` requires, the key's trust period is met, the GPUs carry no
    evidence, the manifest no landmark receipts and the policy is the bundled engine (whose
    verdict is a function of those). A payload that is this one's frame with other subjects,
    job and freshness (:func:`~attest.model.fastread.match_frame`) has every other member byte
    for byte, so the same values (the reader's values are functions of the bytes) and the same
    conclusions.
    """

    context: tuple[object, ...]
    """The verifier's policy, catalog, options, trust store and trust document (compared by identity)."""
    context_ids: tuple[int, ...]
    signer: TrustEntry
    frame: PayloadFrame
    """The judged payload around its subjects, job and freshness."""
    on: date
    ops: tuple[type, object]
    hostname: str
    members: dict[str, Any]
    """The judged manifest's repeating member objects (validated), by name."""
    given: frozenset[str]
    digest_frame: tuple[bytes, bytes, bytes]
    """The manifest's canonical text around its freshness and job (the chain digest's)."""
    pre: tuple[Finding, ...]
    """Steps 7 and 8 (the node key, the key's scope)."""
    post: tuple[Finding, ...]
    """Steps 12 to 15 (classification, hardware, devices, location, policy)."""
    evaluated: frozenset[str]
    classifications: tuple[ChipClassification, ...]
    folded: tuple[Status, dict[str, Status], TrustVector]
    """The status and trust-vector aspects that ``evaluated``, ``pre`` and ``post`` give (see :meth:`_Run.result`)."""
    last: _LastJob = field(default_factory=lambda: _LastJob())
    """The job the node's heartbeats in this frame carried last, with what its text gave."""


class _LastJob:
    """The job read last from heartbeats of one judged frame: what its text alone gives, kept for the next.

    A node's heartbeats repeat their job (a heartbeat a minute, a job for hours), so what is a
    function of the job's text alone is worked out once per job: the job read (its Struct and
    model, both frozen, as :func:`~attest.model.fastread.read_framed` gives them for that text),
    its canonical text (the chain digest's), and the subjects' text that names it in the frame's
    order (:meth:`~attest.model.fastread.Varying.subjects_text`). A heartbeat whose job text is
    byte for byte the kept one's has exactly these. Replaced whole (a tuple), so a thread reads
    one job's values or another's, never a mix.
    """

    def __init__(self) -> None:
        self.kept: tuple[Varying, bytes, bytes] | None = None


_TIME_SCOPE = frozenset({"trust.key_not_yet_valid", "trust.key_expired"})


_KEEP_AT_MOST = 64 * 1024
"""The largest payload whose frame is kept (a 64-GPU manifest is ~35 KB); at most 2 per key and 1,024 keys: 128 MiB."""
_PER_KEY = 2
"""Conclusions kept per node key (a node running two jobs of different declared operations)."""


class _Heartbeats:
    """A verifier's memory of the nodes it judged in full: step 0 of :func:`_verify`.

    A node's heartbeats repeat every member but subjects, freshness and job byte for byte. For
    one whose other members, signer, issue date and declared operations were judged before by
    this verifier (with the same anchors), steps 7-8 and 12-15 are those conclusions again;
    steps 1-6 and 9-11 (envelope, signature, subjects, freshness, replay, chain) are made in
    full. A node's conclusions are kept from its second envelope judged in full (a verifier
    that sees one envelope of a node keeps nothing). Bounded: the newest :data:`_PER_KEY`
    conclusions per node key, for up to ``limit`` keys.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._newest: Bounded[str, tuple[_Judged, ...]] = Bounded(limit)
        # Keys judged in full once: what is concluded about them is kept from the second time.
        self._once: Bounded[str, bool] = Bounded(limit)
        self.hits = 0
        """Envelopes judged by step 0 (tests and benchmarks read it)."""
        self.failures = 0
        """Verifications whose conclusions could not be kept (a bug; the verdicts stand)."""

    def judged(self, key_id: str) -> tuple[_Judged, ...]:
        """The conclusions kept for ``key_id``, newest first (none: step 0 leaves it to the full path)."""
        return self._newest.get(key_id) or ()

    def learn(
        self,
        run: _Run,
        context: tuple[Any, ...],
        payload: bytes,
        manifest: WorkloadManifest,
        signers: list[TrustEntry],
        marks: list[int],
    ) -> None:
        """Keep what the full path concluded at steps 7-8 and 12-15, when they depend on nothing else.

        ``context`` is what the full path judged with (policy, catalog, options, trust store and
        document, read when it began).
        """
        policy, options = context[0], context[2]
        if options.as_of_issue or not options.require_canonical or run.at is not None:
            return
        if policy is not None and type(policy) is not Policy:
            return  # another engine's verdict may read anything (the job, the time): judged every time
        if len(signers) != 1 or len(marks) != 3:
            return
        signer = signers[0]
        key_id = signer.scope.key_id
        if manifest.node.key_id != key_id or run.key_id != key_id:
            return
        if self._once.get(key_id) is None:  # a verifier seeing one envelope of a node pays nothing here
            self._once.put(key_id, True)
            return
        if run.grade != "declared" or run.bound or run.hardware_manifest is not None:
            return
        if manifest.location_evidence.receipts or any(
            g.cc_evidence is not None or g.cc_evidence_ref for g in manifest.gpus
        ):
            return  # evidence is judged against the time and the verifier's caches: every time
        pre = tuple(run.findings[marks[0] : marks[1]])
        if any(f.rule in _TIME_SCOPE for f in pre):
            return
        if len(payload) > _KEEP_AT_MOST:
            return  # a node whose manifests are this large is judged in full (memory stays bounded)
        frame = payload_frame(payload, max_bytes=options.max_bytes)
        if frame is None:
            return
        ops = manifest.job.declared_training_ops
        pre_post = (*pre, *run.findings[marks[2] :])
        vector = dict.fromkeys(run.evaluated, Status.AFFIRMING)
        status = _fold(pre_post, Status.AFFIRMING, vector)
        judged = _Judged(
            context=context,
            context_ids=tuple(map(id, context)),
            signer=signer,
            frame=frame,
            on=manifest.freshness.issued_at.date(),
            ops=(type(ops), ops),
            hostname=manifest.node.hostname,
            members={name: getattr(manifest, name) for name in REPEATING},
            given=frozenset(manifest.model_fields_set),
            digest_frame=manifest_frame(manifest),
            pre=pre,
            post=tuple(run.findings[marks[2] :]),
            evaluated=frozenset(run.evaluated),
            classifications=run.classifications,
            folded=(status, vector, _trust_vector(tuple([vector.get(a, Status.NONE) for a in _VECTOR]))),
        )
        kept = tuple(
            j for j in self.judged(key_id) if j.frame != frame or j.on != judged.on or j.ops != judged.ops
        )
        self._newest.put(key_id, (judged, *kept[: _PER_KEY - 1]))


def _in_trust_period(entry: TrustEntry, issued: datetime, now: datetime) -> bool:
    """Whether step 8 finds the key trusted at ``now`` and at ``issued`` (its time part)."""
    scope = entry.scope
    if scope.not_before is None and scope.not_after is None:
        return True
    for moment in (now, issued):
        if (scope.not_before and moment < scope.not_before) or (scope.not_after and moment > scope.not_after):
            return False
    return True


def _heartbeat_ready(
    run: _Run,
    payload: bytes,
    entry: TrustEntry,
    verifier: Verifier,
    kept: tuple[_Judged, ...],
    context: tuple[Any, ...],
) -> tuple[_Judged, Varying, bytes] | None:
    """Step 0 before the state: the conclusions found, what varies, the job's canonical text; None to go the whole way."""
    options = context[2]
    if len(payload) > options.max_bytes:
        return None
    ids = tuple(map(id, context))  # the judged hold their anchors: an id there is still that object
    for judged in kept:
        if judged.signer is not entry or judged.context_ids != ids:
            continue
        texts = match_frame(judged.frame, payload)
        if texts is None:
            continue
        last = judged.last.kept
        read = read_framed(judged.frame, texts, last[0] if last is not None else None)
        if read is None:
            return None  # not what the reader reads fast: the full path reads and explains it
        if last is not None and read.job is not last[0].job:
            last = None  # another job than the one kept
        job, fr = read.job, read.freshness
        ops = job.declared_training_ops
        if fr.issued_at.date() != judged.on or (type(ops), ops) != judged.ops:
            continue
        break
    else:
        return None
    if not _in_trust_period(entry, fr.issued_at, run.now):
        return None
    if last is not None:  # the job kept: its canonical text, and the subjects' text that names it
        job_canonical, named = last[1], last[2]
    else:
        job_canonical = canonical_job(job, read.job_wire)
        found = read.subjects_text(job_names(job, job_canonical=job_canonical))
        if found is None:
            return None  # no statement can name this job: the full path says why
        judged.last.kept = (read, job_canonical, found)
        named = found
    if read.subject_text != named:
        return None  # other subjects, or the same in another spelling: the full path judges them
    _check_freshness(run, fr, options)
    if run.findings:
        run.findings.clear()
        return None
    return judged, read, job_canonical


def _verify_heartbeat(
    run: _Run,
    raw: bytes,
    verifier: Verifier,
    heartbeats: _Heartbeats,
    context: tuple[Any, ...],
    ahead: _Ahead | None = None,
) -> tuple[bool, _Checked | None]:
    """Step 0: judge a heartbeat of a node judged before; (False, …) leaves it to the full path.

    Returns whether it judged the envelope, and the (key id, signature, message, outcome) of the
    signature it checked (so the full path does not check the same signature over the same
    message twice, a forged one included). It gives up, having added nothing, on
    anything but a canonical envelope with one signature by a trusted, unrevoked key whose
    payload is the frame of one judged before with other subjects, job and freshness, subjects
    that name the job and a freshness without finding; whatever it judges is judged as the full
    path would. ``context`` is the anchors the verification uses (see :func:`_verify`).
    """
    trust = context[3]
    if ahead is None:  # read and checked now, as verify_many's thread would have (the same function)
        ahead = _check_ahead(trust, raw, context[2].max_bytes)
        if ahead is None:
            return (
                False,
                None,
            )  # not a canonical in-toto envelope with one signature by a trusted, unrevoked key
    key_id, _, _, payload = ahead.one
    entry = trust.get(key_id)
    if entry is None or trust.is_revoked(key_id) or entry.key is not ahead.key:
        return False, None  # the store changed since: the full path checks with what it holds now
    verified = ahead.checked()
    if not ahead.ok:
        return False, verified
    kept = heartbeats.judged(key_id)
    if not kept:
        return False, verified  # a node not judged before: the full path (which takes this check)
    try:  # nothing is recorded before the state is asked (steps 10-11): until then, any surprise is the full path's
        ready = _heartbeat_ready(run, payload, entry, verifier, kept, context)
    except Exception:  # a shortcut: the full path judges and explains whatever this did not expect
        heartbeats.failures += 1
        run.findings.clear()
        ready = None
    if ready is None:
        return False, verified
    judged, read, job_canonical = ready
    fr = read.freshness
    run.heartbeat = (judged, fr, read)
    run.subject = subject = "sha256:" + hashlib.sha256(payload).hexdigest()
    run.key_id = key_id
    run.findings.extend(judged.pre)
    digest = (
        framed_digest(
            judged.digest_frame,
            fr,
            job_canonical,
            wire=read.freshness_wire,
        )
        if verifier.chains is not None
        else ""  # not asked for: no chain is checked
    )
    state = verifier.nonces
    memory = state if type(state) is MemoryVerifierState else None
    if not (
        memory is verifier.chains
        and memory is not None
        and sight_next(  # MemoryVerifierState.sight_next, over its tables, without an interpreted call
            memory._seen,
            memory._first,
            memory._heads,
            memory._lock,
            key_id,
            fr.nonce,
            shift(fr.expires_at, context[2].clock_skew),
            subject,
            run.now,
            fr.sequence,
            digest,
            fr.previous,
        )
    ):  # the common case in the bundled in-memory state, else the general steps
        _check_replay_and_chain(run, verifier, fr, key_id, lambda: digest)
    run.findings.extend(judged.post)
    run.evaluated.update(judged.evaluated)
    run.classifications = judged.classifications
    heartbeats.hits += 1
    return True, verified


# The aspects a kept policy verdict makes evaluated, by the verdict (a tuple the policy holds).
_VERDICT_ASPECTS: ByIdentity[frozenset[str]] = ByIdentity(256)


def _evaluated_aspects(findings: Sequence[Finding]) -> frozenset[str]:
    """The aspects a policy's findings make evaluated: policy and tenant always, and each finding's own."""
    return frozenset(
        ("policy", "tenant", *(_ASPECTS.get(f.rule.split(".", 1)[0], "policy") for f in findings))
    )


def _location_scope(
    policy: PolicyEvaluator | None, manifest: WorkloadManifest
) -> tuple[LocationRequirement, list[str]]:
    """The location requirement of ``policy`` (or the default: CN, HK, MO; k = 2) and its country codes."""
    if policy is not None:
        req, codes = policy.location_requirement(manifest.freshness.issued_at.date())
        return req, list(codes)
    req = LocationRequirement()
    return req, list(req.prohibited)


def location_report(
    manifest: WorkloadManifest,
    registry: LandmarkRegistry,
    policy: PolicyEvaluator | PolicyRules | None,
    *,
    now: datetime,
    clock_skew: timedelta | None = None,
    bound_keys: dict[int, ec.EllipticCurvePublicKey] | None = None,
    catalog: Catalog | None = None,
) -> LocationReport:
    """Evaluate a (verified) manifest's receipts; also used to draw the map.

    ``clock_skew``: as :class:`VerifyOptions`' (default 60 s). ``bound_keys`` (GPU index → verified
    leaf key) let receipts count as GPU-timed; the report floor ``t_min`` comes from ``catalog`` (default: the bundled one).
    """
    from attest.location.check import evaluate_manifest  # numpy, shapely, pyproj: loaded when needed

    req, codes = _location_scope(as_policy(policy), manifest)
    return evaluate_manifest(
        manifest,
        registry=registry,
        requirement=req,
        prohibited=codes,
        now=now,
        clock_skew=clock_skew if clock_skew is not None else VerifyOptions.clock_skew,
        bound_keys=bound_keys,
        report_floor_ns=(catalog or bundled_catalog()).report_floor_ns(manifest.gpus),
    )


def _check_location(
    run: _Run,
    manifest: WorkloadManifest,
    policy: PolicyEvaluator | None,
    options: VerifyOptions,
    catalog: Catalog | None,
) -> None:
    receipts = manifest.location_evidence.receipts
    if not receipts:
        return
    if options.landmarks is None:
        run.add(
            "location.no_registry",
            Severity.INFO,
            f"{len(receipts)} landmark receipts are present but no trusted landmark registry was given "
            f"(attest verify --landmarks FILE); the location grade stays {run.grade}",
        )
        return
    run.evaluated.add("location")
    try:
        report = location_report(
            manifest,
            options.landmarks,
            policy,
            now=run.now,
            clock_skew=options.clock_skew,
            bound_keys=run.bound_leaf_keys,
            catalog=catalog,
        )
    except AttestError as exc:
        run.add(
            "location.unusable", Severity.WARNING, f"location evidence could not be evaluated: {exc.message}"
        )
        return
    from attest.location.check import findings

    found, run.grade = findings(report, grade=run.grade)
    run.findings.extend(found)


def _explain_bad_statement(run: _Run, payload: bytes, options: VerifyOptions) -> None:
    """Say precisely why a signed payload is not a valid statement."""
    try:
        obj = strict_loads(payload, what="payload", max_bytes=options.max_bytes)
    except AttestError as exc:
        run.add("statement.malformed", CONTRA, exc.message)
        return
    # An absent predicateType is the model's to explain (it names a key written in another spelling).
    if not isinstance(obj, dict) or obj.get("predicateType", PREDICATE_TYPE) != PREDICATE_TYPE:
        found = obj.get("predicateType") if isinstance(obj, dict) else None
        run.add(
            "statement.predicate_type",
            CONTRA,
            f"predicateType {str(found)[:120]!r} is not {PREDICATE_TYPE}",
            {"predicate_type": str(found)[:200]},
        )
        return
    try:
        Statement.from_obj(obj, what="statement")
    except AttestError as exc:
        run.add("statement.malformed", CONTRA, exc.message)
        return
    run.add("statement.malformed", CONTRA, "the statement could not be read")  # pragma: no cover


# The outcome of classifying one GPU list, by the identity of the list and the catalog. The fast
# statement reader hands every manifest of a node the same (validated, cached) list object, so a
# node's GPUs are classified once; the entry holds the list, so its id cannot be reused meanwhile.
_CLASSIFIED: ByIdentity[tuple[tuple[ChipClassification, ...], tuple[Finding, ...]]] = ByIdentity(256)


def _clear_caches() -> None:
    """Forget what the verifier cached (validated manifest members, GPU classifications, digests).

    Results never depend on the caches; benchmarks clear them to time a cold verifier.
    """
    from attest.model.fastread import clear_cache

    clear_cache()
    clear_digests()
    _CLASSIFIED.clear()
    _VERDICT_ASPECTS.clear()


def _check_classification(run: _Run, manifest: WorkloadManifest, catalog: Catalog) -> None:
    hit = _CLASSIFIED.get(manifest.gpus, catalog)
    if hit is not None:
        run.findings.extend(hit[1])
    else:
        first = len(run.findings)
        hit = (_classify(run, manifest, catalog), tuple(run.findings[first:]))
        _CLASSIFIED.put(hit, manifest.gpus, catalog)
    run.classifications = hit[0]  # one tuple per GPU list: the policy finds its verdict by it


_TPP_TOLERANCE = 0.01
"""How far (relative) a declared TPP may stand from the catalog's: rounding and a catalog's revised figures."""


def _tpp_differs(claimed: float | None, catalog: float | None) -> bool:
    """Whether a GPU's declared TPP contradicts the catalog's (neither side silent, and beyond the tolerance)."""
    if claimed is None or catalog is None:
        return False
    return abs(claimed - catalog) > max(0.1, _TPP_TOLERANCE * abs(catalog))


def _classify(run: _Run, manifest: WorkloadManifest, catalog: Catalog) -> tuple[ChipClassification, ...]:
    """Each GPU's classification from the catalog, adding the findings about them to ``run``."""
    counts: dict[str, int] = {}
    conflicts: dict[tuple[str, str, str, str], list[int]] = {}
    derived_all: list[ChipClassification] = []
    for gpu in manifest.gpus:
        derived = catalog.classify_gpu(gpu)
        derived_all.append(derived)
        expected = derived.wire
        label = derived.paragraph or derived.eccn or "not 3A090"
        counts[label] = counts.get(label, 0) + 1
        claimed = gpu.classification
        mismatch = claimed is not None and (claimed.eccn, claimed.paragraph) != (
            expected.eccn,
            expected.paragraph,
        )
        # The legal classification right, the figure it rests on not: a false statement signed all the same.
        wrong_tpp = claimed is not None and not mismatch and _tpp_differs(claimed.tpp, expected.tpp)
        conflict = catalog.name_pci_conflict(gpu)
        if conflict is not None:
            conflicts.setdefault((conflict[0].id, conflict[1].id, gpu.name, gpu.pci.device_id), []).append(
                gpu.index
            )
        if derived.chip is not None and not mismatch and not wrong_tpp:
            continue  # the common case: a known chip, declared as the catalog says
        where: dict[str, JsonValue] = {
            "index": gpu.index,
            "name": gpu.name,
            "uuid": gpu.uuid,
            "pci": gpu.pci.device_id,
        }
        if derived.chip is None:
            run.add(
                "classification.unknown_chip",
                Severity.WARNING,
                f"GPU {gpu.index} ({gpu.name}, PCI {gpu.pci.device_id}) is not in the chip catalog; treated as controlled",
                where,
                remedy="add the chip to the catalog, with its dense peak figures and die area",
            )
        if claimed is not None and mismatch:
            run.add(
                "classification.mismatch",
                CONTRA if derived.controlled else Severity.WARNING,
                f"GPU {gpu.index} ({gpu.name}) is declared {claimed.paragraph or claimed.eccn}; the catalog classifies it "
                f"{derived.paragraph or derived.eccn or 'not 3A090'} (TPP {derived.tpp if derived.tpp is not None else 'unknown'})",
                {
                    **where,
                    "claimed": claimed.to_obj(),
                    "catalog": expected.to_obj(),
                    "notes": list(derived.notes),
                },
            )
        if claimed is not None and wrong_tpp:
            run.add(
                "classification.mismatch",
                Severity.WARNING,
                f"GPU {gpu.index} ({gpu.name}) is declared with TPP {claimed.tpp:g}; the catalog gives "
                f"{expected.tpp:g} for it (its classification, {derived.paragraph or derived.eccn or 'not 3A090'}, "
                "is as declared)",
                {
                    **where,
                    "claimed": claimed.to_obj(),
                    "catalog": expected.to_obj(),
                    "notes": list(derived.notes),
                },
                remedy="declare the GPUs' classification as the chip catalog gives it (attest manifest writes it)",
            )
    for (pci_chip, name_chip, name, pci), indexes in conflicts.items():
        by_pci, by_name = catalog.get(pci_chip), catalog.get(name_chip)
        run.add(
            "hardware.model_mismatch",
            CONTRA,
            f"GPU(s) {_indexes(indexes)}: named {name!r} ({by_name.product if by_name else name_chip}) but PCI id "
            f"{pci} is {by_pci.product if by_pci else pci_chip}: NVML reads both from the same device, so one of "
            "them was re-declared",
            {
                "gpus": list(indexes),
                "name": name,
                "pci": pci,
                "chip_by_name": name_chip,
                "chip_by_pci": pci_chip,
            },
            "declare the GPUs as NVML reports them",
        )
    system = classify_system(derived_all)
    summary = ", ".join(f"{n} x {label}" for label, n in sorted(counts.items()))
    run.add(
        "classification.summary",
        Severity.INFO,
        f"GPUs: {summary}" + (f"; the node is {system}" if system else ""),
        {"gpus": dict(counts), "system": system},
    )
    return tuple(derived_all)


OCSP_BEFORE_CHALLENGE = timedelta(hours=1)
"""How long before a binding's challenge an attached OCSP answer may have been produced (responders cache)."""


def _binding_max_age(policy: PolicyEvaluator | None, options: VerifyOptions) -> timedelta:
    """The maximum binding age: the policy's ``[hardware]`` section if it has one, else the options'."""
    req = policy.hardware_requirement() if policy is not None else None
    return timedelta(seconds=req.binding_max_age_s) if req is not None else options.binding_max_age


@dataclass(frozen=True)
class BoundDevice:
    """A GPU whose report verified for the node key: its device identity and its binding's period."""

    index: int
    device_id: str
    since: datetime
    """When its binding's challenge was issued (for an undated binding: the manifest's issue time)."""


@dataclass(frozen=True)
class _BindingVerdict:
    """A binding judged ``hardware-bound`` for one node key under one set of anchors.

    Kept by a :class:`BindingCache`: what a heartbeat repeating the binding, or naming it by
    digest, is given without verifying it again, once every condition a heartbeat can change
    still holds.
    """

    findings: tuple[Finding, ...]
    bound: tuple[BoundDevice, ...]
    leaf_keys: tuple[tuple[int, ec.EllipticCurvePublicKey], ...]
    challengers: tuple[tuple[str, bytes], ...]
    """(key id, SPKI) of every challenge's signer: each must still be trusted, as the same key."""
    valid_from: datetime
    valid_until: datetime
    """Where every certificate (report chains, RIM signers) is valid and every OCSP answer current."""
    refs: tuple[str, ...]
    resolved: tuple[Gpu, ...] | None
    """The GPUs with their evidence resolved (None when the manifest carried its evidence)."""


@dataclass
class _Validity:
    """Gathers, while a binding is verified, when its outcome holds and whether it may be kept."""

    start: datetime | None = None
    end: datetime | None = None
    keep: bool = True

    def within(self, start: datetime | None, end: datetime | None) -> None:
        if start is None or end is None:
            self.keep = False
            return
        self.start = start if self.start is None else max(self.start, start)
        self.end = end if self.end is None else min(self.end, end)


def _gpu_key(gpu: Gpu, memo: ByIdentity[bytes]) -> bytes:
    """SHA-256 of the GPU entry's JSON: every field, its evidence or the digest naming it.

    The models' JSON is a faithful rendering (equal JSON, equal values); hashing the evidence a
    heartbeat repeats is the least that heartbeat can cost. An entry the reader kept (the GPU list
    a node's heartbeats share, read once per distinct byte string, evidence and all) is found
    again in ``memo`` by its identity: the memo holds the entry, so its id is not reused.
    """
    hit = memo.get(gpu)
    if hit is None:
        if gpu.cc_evidence is not None:
            hit = _evidence_gpu_key(gpu, gpu.cc_evidence)
        else:
            hit = hashlib.sha256(Gpu.__pydantic_serializer__.to_json(gpu)).digest()
        memo.put(hit, gpu)
    return hit


_NO_EVIDENCE = {"cc_evidence"}


def _evidence_gpu_key(gpu: Gpu, evidence: CcEvidence) -> bytes:
    """:func:`_gpu_key` of an entry carrying its evidence.

    The entry's other fields as JSON, then each field of the evidence tagged and length-prefixed
    (its long strings hashed as they are, not re-serialised).
    """
    h = hashlib.sha256()
    rest = Gpu.__pydantic_serializer__.to_json(gpu, exclude=_NO_EVIDENCE)
    h.update(len(rest).to_bytes(8, "big") + rest)
    for name in CcEvidence.model_fields:
        value = getattr(evidence, name)
        if isinstance(value, str):
            parts = [b"s", value.encode("utf-8", "surrogatepass")]
        elif value is None:
            parts = [b"n"]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts = [b"l", *(v.encode("utf-8", "surrogatepass") for v in value)]
        else:
            parts = [b"j", to_json(value)]
        h.update(len(parts).to_bytes(8, "big"))
        for part in parts:
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.digest()


def _verdict_key(
    manifest: WorkloadManifest,
    key: VerifyingKey,
    options: VerifyOptions,
    catalog: Catalog,
    max_age: timedelta,
    bindings: BindingCache,
) -> Hashable | None:
    """What a binding's judgement depends on besides the time and the trust store's challengers.

    The node key, every GPU entry and its evidence, the vendor root and its pin, the revocation
    rule, the RIM appraiser with its root and contents, the catalog and the binding age. None when
    it cannot be kept (answers fetched online, NRAS tokens judged at a time, a RIM source that
    cannot say whether its contents changed).
    """
    if options.cc_root is None or options.ocsp_fetcher is not None:
        return None
    rims = None
    if options.rims is not None:
        rims = options.rims.contents_token()
        if rims is None:
            return None
    gpus = tuple(_gpu_key(g, bindings.gpu_keys) for g in manifest.gpus)
    if options.nras_jwks is not None and any(
        g.cc_evidence is not None and g.cc_evidence.nras_token is not None for g in manifest.gpus
    ):
        return None
    return (
        "binding-verdict-v1",
        key.spki_der,
        options.cc_root,
        options.cc_root_sha256,
        options.require_revocation,
        max_age,
        Same(options.rims),
        rims,
        Same(options.nras_jwks),
        Same(catalog),
        gpus,
    )


def _check_gpu_evidence(
    run: _Run, manifest: WorkloadManifest, node_signer: TrustEntry | None, verifier: Verifier
) -> WorkloadManifest | None:
    """Step 13: resolve evidence named by digest, judge the GPUs' evidence, set ``run.grade``.

    A binding judged ``hardware-bound`` before, for this node key, these very GPU entries and
    evidence and the same anchors, is not verified again: its verdict is used when the heartbeat's
    time lies where every certificate is valid and every OCSP answer current, its challenger is
    still trusted, the binding is young enough for this heartbeat and every digest it names still
    resolves. Anything else is verified in full. Returns the manifest with its evidence resolved
    (None when a reference does not resolve).
    """
    options, bindings = verifier.options, verifier.bindings
    max_age = _binding_max_age(verifier.policy, options)
    vkey = (
        _verdict_key(manifest, node_signer.key, options, verifier.catalog, max_age, bindings)
        if node_signer is not None
        and any(g.cc_evidence is not None or g.cc_evidence_ref for g in manifest.gpus)
        else None
    )
    if vkey is not None:
        verdict = bindings.verdict(vkey)
        if isinstance(verdict, _BindingVerdict) and _verdict_holds(run, manifest, verdict, verifier, max_age):
            bindings.verdict_hits += 1
            run.evaluated.add("hardware")
            run.findings.extend(verdict.findings)
            run.bound.extend(verdict.bound)
            run.bound_leaf_keys.update(verdict.leaf_keys)
            run.grade = "hardware-bound"
            if verdict.resolved is None:
                return manifest
            resolved = manifest.model_copy(update={"gpus": list(verdict.resolved)})
            run.hardware_manifest = resolved
            return resolved
    before = len(run.findings)
    hw = _resolve_evidence(run, manifest, bindings, verifier, node_signer)
    if node_signer is None or hw is None:
        return hw
    validity = _Validity() if vkey is not None else None
    run.grade = _check_hardware(
        run, hw, node_signer.key, options, verifier.trust, verifier.catalog, max_age, bindings, validity
    )
    if run.grade != "hardware-bound":
        return hw
    if hw is manifest:
        for gpu in manifest.gpus:  # later heartbeats may name this evidence by its digest
            if gpu.cc_evidence is not None:
                bindings.add_evidence(evidence_digest(gpu.cc_evidence), gpu.cc_evidence)
    if vkey is not None and validity is not None:
        # Keyed as things stand now: a RIM fetched while judging is in the source's contents.
        vkey = _verdict_key(manifest, node_signer.key, options, verifier.catalog, max_age, bindings)
        if vkey is not None:
            _keep_verdict(run, manifest, hw, vkey, validity, verifier, before)
    return hw


def _verdict_holds(
    run: _Run, manifest: WorkloadManifest, verdict: _BindingVerdict, verifier: Verifier, max_age: timedelta
) -> bool:
    """Whether a kept verdict still holds for this heartbeat (else the binding is verified in full)."""
    at = run.judged_at
    if not verdict.valid_from <= at <= verdict.valid_until:
        return False  # a certificate expired or not yet valid, an OCSP answer no longer current
    for key_id, spki in verdict.challengers:
        issuer = verifier.trust.challenger(key_id)
        if issuer is None or issuer.spki_der != spki:
            return False  # the challenger is no longer trusted (or is another key now)
    issued = manifest.freshness.issued_at
    skew = verifier.options.clock_skew
    for since in {b.since for b in verdict.bound}:
        if since > shift(issued, skew) or max(at, issued) - since > max_age:
            return False  # a binding younger than the heartbeat claims, or too old for it
    return all(verifier.bindings.evidence(ref) is not None for ref in verdict.refs)


def _keep_verdict(
    run: _Run,
    manifest: WorkloadManifest,
    hw: WorkloadManifest,
    vkey: Hashable,
    validity: _Validity,
    verifier: Verifier,
    before: int,
) -> None:
    """Keep a clean ``hardware-bound`` judgement for the heartbeats that repeat or name this binding."""
    findings = tuple(run.findings[before:])
    # Only a clean judgement is kept: a warning (a missing RIM, an expired RIM signer, ...) may
    # change from one moment to the next. Without any RIM source the warning is the same always.
    if any(f.severity is not Severity.INFO and f.rule != "hardware.rim.not_checked" for f in findings):
        return
    if not validity.keep or validity.start is None or validity.end is None:
        return
    if not validity.start <= run.judged_at <= validity.end:
        return
    challengers: dict[str, bytes] = {}
    for gpu in hw.gpus:
        ev = gpu.cc_evidence
        if ev is None or ev.challenge is None:
            return
        issuer = verifier.trust.challenger(ev.challenge.challenge.challenger_key_id)
        if issuer is None:
            return
        challengers[issuer.key_id] = issuer.spki_der
    refs = tuple(g.cc_evidence_ref for g in manifest.gpus if g.cc_evidence_ref is not None)
    verifier.bindings.add_verdict(
        vkey,
        _BindingVerdict(
            findings=findings,
            bound=tuple(run.bound),
            leaf_keys=tuple(run.bound_leaf_keys.items()),
            challengers=tuple(challengers.items()),
            valid_from=validity.start,
            valid_until=validity.end,
            refs=refs,
            resolved=tuple(hw.gpus) if hw is not manifest else None,
        ),
    )


def _check_hardware(
    run: _Run,
    manifest: WorkloadManifest,
    key: VerifyingKey,
    options: VerifyOptions,
    trust: TrustStore,
    catalog: Catalog,
    max_age: timedelta,
    bindings: BindingCache | None = None,
    validity: _Validity | None = None,
) -> str:
    """Verify the GPUs' CC evidence for ``key``; return the location grade it earns.

    ``hardware-bound`` needs every listed GPU to have a report that (a) verifies to the pinned
    root over a nonce naming this key and a trusted challenger's challenge no older than
    ``max_age``, (b) carries current revocation status for its chain, (c) says the GPU is the
    chip its entry declares, and (d) comes from a device no other GPU of the manifest presents.
    """
    with_evidence = [g for g in manifest.gpus if g.cc_evidence is not None]
    if not with_evidence:
        return "declared"
    if options.cc_root is None:
        run.add(
            "hardware.cc.not_checked",
            Severity.INFO,
            f"{len(with_evidence)} GPUs carry confidential-computing evidence, but no vendor root was configured "
            "to check it against (attest verify --cc-root ROOT.pem); the location stays declared",
        )
        return "declared"
    run.evaluated.add("hardware")
    devices: dict[str, int] = {}
    ok = True
    undated: list[int] = []
    untrusted: dict[str, list[int]] = {}
    stale: list[tuple[int, datetime]] = []
    future: list[int] = []
    no_revocation: list[int] = []
    digests: dict[tuple[object, ...], bytes] = {}  # by the signed challenge's every field
    models: dict[tuple[str, str], list[tuple[Gpu, dict[str, JsonValue]]]] = {}
    for gpu in with_evidence:
        evidence = gpu.cc_evidence
        assert evidence is not None
        where: dict[str, JsonValue] = {"index": gpu.index, "uuid": gpu.uuid, "pci_bus_id": gpu.pci.bus_id}
        if len(evidence.report) % 2:
            run.add(
                "hardware.cc.report_malformed",
                CONTRA,
                f"GPU {gpu.index}: the report is not whole bytes of hex",
                where,
            )
            ok = False
            continue
        try:
            # Answers already decoded for a report remembered by the cache (its key holds them) are not
            # decoded again: only whether there are any matters then.
            remembered = bindings is not None and evidence.ocsp and bindings.decoded(evidence.ocsp)
            responses = (
                ([] if remembered else [base64.b64decode(r, validate=True) for r in evidence.ocsp])
                if evidence.ocsp
                else None
            )
        except ValueError:
            run.add(
                "hardware.cc.ocsp_malformed",
                CONTRA,
                f"GPU {gpu.index}: an OCSP response is not base64",
                where,
            )
            ok = False
            continue
        chain_pem = evidence.certificate_chain.encode("utf-8")
        # Revocation: attached answers must be younger than the binding's challenge (answers
        # captured before a revocation cannot be copied into a later binding) and than the
        # binding age; with a fetcher (--online), today's answer is asked for whatever is attached.
        signed = evidence.challenge
        ocsp_now, ocsp_not_before = (
            run.judged_at,
            (shift_back(signed.challenge.issued_at, OCSP_BEFORE_CHALLENGE) if signed is not None else None),
        )
        if options.ocsp_fetcher is not None:
            ocsp_now, ocsp_not_before = run.now, None
            try:
                responses = options.ocsp_fetcher(chain_pem)
            except AttestError as exc:
                run.add(
                    "hardware.cc.revocation_unavailable",
                    Severity.WARNING,
                    f"GPU {gpu.index} ({gpu.uuid}): its revocation status could not be fetched: {exc.message}",
                    where,
                )
                ok = False
                continue
        digest = None
        if signed is not None:  # the GPUs of one binding share its challenge: its digest is computed once
            same = (signed.signature, *signed.challenge.__dict__.values())
            try:
                digest = digests.get(same)
                if digest is None:
                    digest = digests[same] = challenge_digest(signed)
            except TypeError:  # a field that cannot be hashed: no memo
                digest = challenge_digest(signed)
        expected = binding_nonce(key, signed, digest=digest)
        ocsp_max_age = min(max_age, timedelta(days=7))
        # A report verified before, over exactly these bytes, for this key's nonce, current now:
        # its signatures need not be checked again (answers fetched online always are).
        cache_key = (
            BindingCache.key(
                evidence.report,
                evidence.certificate_chain,
                evidence.ocsp if evidence.ocsp else None,
                expected_nonce=expected,
                root_pem=options.cc_root,
                pinned_root_sha256=options.cc_root_sha256,
                ocsp_max_age=ocsp_max_age,
                ocsp_not_before=ocsp_not_before,
            )
            if bindings is not None and options.ocsp_fetcher is None
            else None
        )
        outcome = (
            bindings.get(cache_key, run.judged_at) if bindings is not None and cache_key is not None else None
        )
        if outcome is None:
            if remembered and options.ocsp_fetcher is None:  # not current any more: decoded, checked again
                responses = [base64.b64decode(r, validate=True) for r in evidence.ocsp]
            outcome = verify_report(
                bytes.fromhex(evidence.report),
                chain_pem,
                options.cc_root,
                now=run.judged_at,
                expected_nonce=expected,
                pinned_root_sha256=options.cc_root_sha256,
                cache=options.cc_cache,
                ocsp_responses=responses,
                ocsp_max_age=ocsp_max_age,
                ocsp_not_before=ocsp_not_before,
                ocsp_now=ocsp_now,
            )
            if bindings is not None and cache_key is not None:
                bindings.put(cache_key, outcome)
                if outcome.valid and evidence.ocsp:
                    bindings.add_decoded(evidence.ocsp)
        # Measurements against the reference manifests (attest.hardware.rim): a mismatch costs the grade.
        rim_validity: list[tuple[datetime, datetime]] = []
        appraisal = (
            appraise_gpu(
                outcome,
                evidence.nras_token,
                rims=options.rims,
                nras_keys=options.nras_jwks,
                nonce=expected,
                now=run.judged_at,
                validity=rim_validity,
            )
            if outcome.status is not Status.CONTRAINDICATED
            else []
        )
        if validity is not None:  # when this outcome and its appraisal hold
            validity.within(outcome.valid_from, outcome.valid_until)
            for start, end in rim_validity:
                validity.within(start, end)
        for f in [*outcome.findings, *appraisal]:
            if f.severity is not Severity.INFO:
                message = f.message
                if f.rule == "hardware.cc.nonce_mismatch":
                    message = (
                        "the report was not made over this node key and its binding challenge (a binding for "
                        "another key or challenge, or copied)"
                    )
                run.add(
                    f.rule, f.severity, f"GPU {gpu.index} ({gpu.uuid}): {message}", {**where, **f.evidence}
                )
        if not outcome.valid or any(f.severity is CONTRA for f in appraisal):
            ok = False
            if outcome.status is Status.CONTRAINDICATED or outcome.device_id is None:
                continue  # not genuine: nothing more to learn from it
            # Genuine but lacking (stale revocation status, say): the other checks still speak.
        device_id = outcome.device_id
        assert device_id is not None  # set whenever the chain verified
        if device_id in devices:
            run.add(
                "hardware.cc.duplicate_device",
                CONTRA,
                f"GPUs {devices[device_id]} and {gpu.index} present the same device certificate",
                {**where, "device_id": device_id},
            )
            ok = False
            continue
        devices[device_id] = gpu.index
        # (b) Revocation: required, unless a lab opted out.
        if responses is None and options.require_revocation:
            no_revocation.append(gpu.index)
            ok = False
        # (c) The attested model is the declared one (a PCI id and name naming different chips
        #     were reported by the classification step; they leave the GPU unbound here).
        if catalog.name_pci_conflict(gpu) is not None:
            ok = False
        problem = _check_model(gpu, outcome, catalog)
        if problem is not None:
            models.setdefault(problem[:2], []).append((gpu, problem[2]))
            ok = False
        # (a) Freshness: a trusted challenger's challenge, young enough.
        since = manifest.freshness.issued_at
        if signed is None:
            undated.append(gpu.index)
            ok = False
        else:
            issuer = trust.challenger(signed.challenge.challenger_key_id)
            if issuer is None or not _challenge_signed(signed, issuer, digest, bindings):
                untrusted.setdefault(signed.challenge.challenger_key_id, []).append(gpu.index)
                ok = False
            else:
                since = signed.challenge.issued_at
                # A binding cannot predate its challenge, nor a manifest its binding. Its age is
                # taken at the moment judged (now, or the issue time in an audit), and at the
                # manifest's issue time: a backdated manifest cannot make an old binding young.
                age = max(run.judged_at, manifest.freshness.issued_at) - since
                if since > shift(manifest.freshness.issued_at, options.clock_skew):
                    future.append(gpu.index)
                    ok = False
                elif age > max_age:
                    stale.append((gpu.index, since))
                    ok = False
        run.bound.append(BoundDevice(gpu.index, device_id, since))
    _model_findings(run, models)
    _freshness_findings(run, undated, untrusted, stale, future, max_age)
    if no_revocation:
        run.add(
            "hardware.cc.revocation_missing",
            Severity.WARNING,
            f"GPU(s) {_indexes(no_revocation)}: no revocation status for the device certificates; hardware-bound "
            "needs each chain's OCSP status (attach it with attest bind, or verify with --online)",
            {"gpus": list(no_revocation)},
            "re-bind with attest bind (it attaches OCSP responses), verify with --online, or, in a lab only, "
            "--allow-no-revocation",
        )
    if not ok:
        run.bound.clear()
        return "declared"
    if len(with_evidence) < len(manifest.gpus):
        run.add(
            "hardware.partially_bound",
            Severity.INFO,
            f"{len(with_evidence)} of {len(manifest.gpus)} GPUs carry evidence for the node key; hardware-bound needs all",
        )
        run.bound.clear()
        return "declared"
    run.add(
        "hardware.bound",
        Severity.INFO,
        f"all {len(with_evidence)} GPUs vouch for the signing key with vendor-certified, unrevoked reports made "
        f"within {_age_text(max_age)} of this manifest, each the chip its entry declares; reports carry no serial "
        "or UUID, so each is tied to its GPU entry by the driver's PCI mapping. The key is still a file unless a "
        "TPM or confidential VM holds it",
        {"devices": len(devices)},
    )
    for gpu in with_evidence:  # the keys GPU-timed landmark receipts must verify with
        assert gpu.cc_evidence is not None
        pem = gpu.cc_evidence.certificate_chain.encode("utf-8")
        leaf = (options.cc_cache.chain(pem) if options.cc_cache else parse_chain(pem))[0].public_key()
        if isinstance(leaf, ec.EllipticCurvePublicKey):
            run.bound_leaf_keys[gpu.index] = leaf
    return "hardware-bound"


def _resolve_evidence(
    run: _Run,
    manifest: WorkloadManifest,
    bindings: BindingCache,
    verifier: Verifier | None = None,
    node_signer: TrustEntry | None = None,
) -> WorkloadManifest | None:
    """The manifest with every ``cc_evidence_ref`` replaced by the evidence it names.

    A digest is resolved from the evidence this verifier verified, else (with an evidence log and
    a manifest signed by its node key) from an entry of the log that verifies in full for that
    key (:func:`_evidence_from_log`). None (and a contraindicated finding) when a digest resolves
    neither way, or a GPU carries both evidence and a reference: a reference never passes unchecked.
    """
    looked_up: dict[str, CcEvidence | None] = {}
    refused: set[str] = set()  # digests the log was asked for and answered wrongly (a finding says why)
    entries: dict[bytes, _Run] = {}  # log entries verified for this manifest (one may be named for 8 GPUs)
    if all(g.cc_evidence_ref is None for g in manifest.gpus):
        return manifest
    gpus: list[Gpu] = []
    unknown: list[tuple[int, str]] = []
    both: list[int] = []
    for g in manifest.gpus:
        ref = g.cc_evidence_ref
        if ref is None:
            gpus.append(g)
        elif g.cc_evidence is not None:
            both.append(g.index)
        else:
            evidence = bindings.evidence(ref)
            if evidence is None and verifier is not None and verifier.evidence_log is not None:
                if node_signer is not None and ref not in looked_up and ref not in refused:
                    found, said = _evidence_from_log(
                        run, ref, node_signer, verifier, verifier.evidence_log, entries
                    )
                    looked_up[ref] = found
                    if said:
                        refused.add(ref)
                evidence = looked_up.get(ref)
            if evidence is None:
                unknown.append((g.index, ref))
            else:
                gpus.append(g.model_copy(update={"cc_evidence": evidence, "cc_evidence_ref": None}))
    if both:
        run.add(
            "hardware.cc.evidence_ref_conflict",
            CONTRA,
            f"GPU(s) {_indexes(both)} carry both evidence and a reference to evidence; a GPU carries one",
            {"gpus": list(both)},
        )
    unknown = [(i, d) for i, d in unknown if d not in refused]  # a log's refusal said why already
    searched = bool(looked_up)
    if unknown:
        run.add(
            "hardware.cc.evidence_unknown",
            CONTRA,
            f"GPU(s) {_indexes([i for i, _ in unknown])} name their evidence by digest ("
            + ", ".join(d for _, d in unknown[:3])
            + (", …" if len(unknown) > 3 else "")
            + "), but this verifier has verified no such evidence"
            + (" and the log holds no entry carrying it" if searched else "")
            + ": nothing shows these GPUs are bound",
            {"gpus": [i for i, _ in unknown], "digests": [d for _, d in unknown]},
            "verify the node's full binding first (a manifest carrying cc_evidence, in the same call or "
            "earlier with this verifier), or have the node send its full binding",
        )
    if both or unknown or len(gpus) != len(manifest.gpus):
        return None
    resolved = manifest.model_copy(update={"gpus": gpus})
    run.hardware_manifest = resolved
    return resolved


_LOG_CANDIDATES = 8
"""Entries of a log said to carry one evidence digest that are verified before it is refused."""

# Contraindicated findings on a log entry that refuse the evidence it carries: what says who signed
# it and whether its GPU evidence is genuine. (Its freshness, chain, location and policy are its own.)
_ENTRY_AUTHENTICITY = ("envelope.", "signature.", "trust.", "statement.", "manifest.", "hardware.")


def _evidence_from_log(
    run: _Run,
    ref: str,
    node_signer: TrustEntry,
    verifier: Verifier,
    source: EvidenceSource,
    entries: dict[bytes, _Run],
) -> tuple[CcEvidence | None, bool]:
    """The evidence of digest ``ref`` from an entry of ``source`` that verifies in full for this node key.

    The log is the operator's: each entry it names is verified as a manifest of its own (signatures
    by trusted, unrevoked keys, by the node key the heartbeat is signed by; its GPU evidence judged
    hardware-bound as of the entry's issue time, reports, chains and revocation included) and must
    carry evidence of exactly that digest. The evidence is then remembered by this verifier, and the
    heartbeat's own check (step 13) verifies it again, in full, for the heartbeat.

    Returns the evidence (or None) and whether a finding was added (a lookup that failed, entries
    that did not verify); a digest the log holds no entry for adds none (the caller says so).
    ``entries`` holds the entries verified so far for this manifest, by their bytes.
    """
    try:
        candidates = list(source.envelopes_carrying(ref, _LOG_CANDIDATES))
    except AttestError as exc:  # a StoreError (database locked, gone, damaged), an index row of no entry
        run.add(
            "hardware.cc.evidence_log_error",
            CONTRA,
            f"evidence {ref} could not be looked up in the log: {exc.message}",
            {"digest": ref},
            "repair or reconnect the log, or have the node send its full binding",
        )
        return None, True
    if not candidates:
        return None, False
    checker = verifier._entry_checker()
    key_id = node_signer.scope.key_id
    reasons: list[str] = []
    for label, raw in candidates:
        entry = entries.get(raw)
        if entry is None:
            entry = entries[raw] = checker._run(raw, now=run.now, source=label)
        m = entry.manifest
        refusing = sorted(
            {
                f.rule
                for f in entry.findings
                if f.severity is CONTRA and f.rule.startswith(_ENTRY_AUTHENTICITY)
            }
        )
        if m is None:
            reasons.append(f"{label}: its envelope does not verify ({', '.join(refusing) or 'malformed'})")
            continue
        if entry.key_id != key_id or m.node.key_id != key_id:
            reasons.append(f"{label}: signed by node key {(entry.key_id or '?')[:16]}…, not this heartbeat's")
            continue
        evidence = next(
            (
                g.cc_evidence
                for g in m.gpus
                if g.cc_evidence is not None and evidence_digest(g.cc_evidence) == ref
            ),
            None,
        )
        if evidence is None:
            reasons.append(f"{label}: it carries no evidence of that digest")
            continue
        if refusing or entry.grade == "declared":
            reasons.append(
                f"{label}: its GPU evidence is not hardware-bound ({', '.join(refusing) or 'not bound'})"
            )
            continue
        verifier.bindings.add_evidence(ref, evidence)
        return evidence, False
    run.add(
        "hardware.cc.evidence_log_refused",
        CONTRA,
        f"evidence {ref} is not carried by any verifiable entry of the log for node key {key_id[:16]}…: "
        + "; ".join(reasons[:3])
        + ("; …" if len(reasons) > 3 else ""),
        {"digest": ref, "entries": list(reasons)},
        "the log's entries for this digest were altered or belong to another node: investigate the log; "
        "have the node send its full binding",
    )
    return None, True


def _challenge_signed(
    signed: SignedChallenge, issuer: VerifyingKey, digest: bytes | None, bindings: BindingCache | None
) -> bool:
    """:func:`challenge_signed_by`, remembered by (challenge digest, signature, challenger key)."""
    if bindings is None or digest is None:
        return challenge_signed_by(signed, issuer)
    key = (digest, signed.signature, issuer.spki_der)
    if bindings.challenge_verified(key):
        return True
    ok = challenge_signed_by(signed, issuer)
    if ok:
        bindings.add_challenge(key)
    return ok


def _check_devices(run: _Run, manifest: WorkloadManifest, devices: DeviceStore) -> None:
    """Each bound GPU device vouches for this key alone over its binding's period (else contraindicated)."""
    key_id, host = manifest.node.key_id, manifest.node.hostname
    # The manifest asserts these GPUs until it expires; a period never ends before it starts.
    conflicts: list[tuple[BoundDevice, DeviceClaim]] = []
    for b in run.bound:
        for other in devices.claim(DeviceClaim(b.device_id, key_id, host, *claim_period(manifest, b.since))):
            conflicts.append((b, other))
    if conflicts:
        by_key: dict[str, list[tuple[BoundDevice, DeviceClaim]]] = {}
        for b, other in conflicts:
            by_key.setdefault(other.key_id, []).append((b, other))
        for other_key, pairs in by_key.items():
            other = pairs[0][1]
            names = ", ".join(f"{b.index} (device {b.device_id[:16]}…)" for b, _ in pairs)
            run.add(
                "hardware.gpu_two_nodes",
                CONTRA,
                f"{len(pairs)} GPU(s) vouch for node key {key_id[:16]}… (host {host}) and, over the same time, for "
                f"node key {other_key[:16]}… (host {other.host}, {other.since.isoformat()} .. "
                f"{other.until.isoformat()}): one set of GPUs cannot back two nodes. GPUs {names}",
                {
                    "devices": [b.device_id for b, _ in pairs],
                    "gpus": [b.index for b, _ in pairs],
                    "keys": [key_id, other_key],
                    "hosts": [host, other.host],
                },
                "find where these GPUs are; revoke the key that is not theirs (attest trust revoke)",
            )
        run.bound.clear()
        run.bound_leaf_keys.clear()  # no GPU-timed receipt counts for GPUs that serve another node
        run.grade = "declared"
        run.findings = [f for f in run.findings if f.rule != "hardware.bound"]
        return
    since = max(b.since for b in run.bound)
    previous = devices.rebind(key_id, since, frozenset(b.device_id for b in run.bound))
    if previous is not None:
        now_set = {b.device_id for b in run.bound}
        removed, added = sorted(previous[1] - now_set), sorted(now_set - previous[1])
        run.add(
            "hardware.gpu_swapped",
            Severity.WARNING,
            f"node key {key_id[:16]}… (host {host}) is bound to other GPUs than at its binding of "
            f"{previous[0].isoformat()}: {len(removed)} device(s) left, {len(added)} arrived",
            {"removed": list(removed), "added": list(added), "previous_binding": previous[0].isoformat()},
            "record the swap (RMA) in the chip registry; an unexplained swap may be a diversion",
        )


def _indexes(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def _age_text(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def _freshness_findings(
    run: _Run,
    undated: list[int],
    untrusted: dict[str, list[int]],
    stale: list[tuple[int, datetime]],
    future: list[int],
    max_age: timedelta,
) -> None:
    """One finding per kind of unfresh binding (not one per GPU)."""
    if undated:
        run.add(
            "hardware.binding_not_fresh",
            Severity.WARNING,
            f"GPU(s) {_indexes(undated)}: the binding names no challenge, so its reports could have been made at "
            "any time, on GPUs anywhere; it is genuine but not fresh, and the location stays declared",
            {"gpus": list(undated)},
            "re-bind with a trusted challenger's challenge: attest bind --challenge FILE",
        )
    for kid, gpus in untrusted.items():
        run.add(
            "hardware.binding_challenge_untrusted",
            Severity.WARNING,
            f"GPU(s) {_indexes(gpus)}: the binding's challenge is not signed by a trusted challenger "
            f"({kid[:16]}…); nothing dates the binding",
            {"gpus": list(gpus), "challenger_key_id": kid},
            "trust the challenger with: attest trust add CHALLENGER.pub --challenger --trust FILE",
        )
    if stale:
        oldest = min(t for _, t in stale)
        run.add(
            "hardware.binding_stale",
            Severity.WARNING,
            f"GPU(s) {_indexes([i for i, _ in stale])}: the binding's challenge was issued {oldest.isoformat()}, "
            f"more than the policy's maximum binding age ({_age_text(max_age)}) before this manifest was judged",
            {
                "gpus": [i for i, _ in stale],
                "challenge_issued_at": oldest.isoformat(),
                "max_age_s": int(max_age.total_seconds()),
            },
            "re-bind the node with a fresh challenge (daily)",
        )
    if future:
        run.add(
            "hardware.binding_challenge_future",
            Severity.WARNING,
            f"GPU(s) {_indexes(future)}: the binding's challenge is dated after the manifest was issued",
            {"gpus": list(future)},
        )


# NVIDIA board part numbers: 692-2G520-0200-000 is project G520, SKU 0200 (the report's opaque fields 17, 18).
_BOARD_PART = re.compile(r"^\d{3}-\d([0-9A-Z]{4})-(\d{4})-[0-9A-Z]{3}$")


def _check_model(
    gpu: Gpu, outcome: ReportVerification, catalog: Catalog
) -> tuple[str, str, dict[str, JsonValue]] | None:
    """None when the signed report says this GPU is the chip its entry declares, else (rule, why, evidence)."""
    declared = catalog.declared_chip(gpu)
    report = outcome.parsed
    fields = {f.name: f.text for f in report.model().opaque} if report is not None else {}
    evidence: dict[str, JsonValue] = {
        "declared_name": gpu.name,
        "declared_pci": gpu.pci.device_id,
        "certificate_model": outcome.hwmodel,
        "project": fields.get("project"),
        "project_sku": fields.get("project_sku"),
        "chip_sku": fields.get("chip_sku"),
    }
    if declared is None:
        return (
            "hardware.model_unconfirmed",
            f"{gpu.name} is not in the chip catalog, so the model its report attests ({outcome.hwmodel}) "
            "cannot be compared with it",
            evidence,
        )
    check = catalog.check_identity(
        declared, outcome.hwmodel or "", fields.get("project"), fields.get("project_sku")
    )
    board = _BOARD_PART.match(gpu.board_part_number or "")
    if (
        check.verdict == "confirmed"
        and board
        and fields.get("project")
        and fields.get("project_sku")
        and (board[1], board[2]) != (fields["project"], fields["project_sku"])
    ):
        return (
            "hardware.model_mismatch",
            f"the declared board part number {gpu.board_part_number} names board {board[1]}/{board[2]}, "
            f"but the signed report names {fields['project']}/{fields['project_sku']}",
            {**evidence, "declared_chip": declared.id, "board_part_number": gpu.board_part_number},
        )
    if check.verdict == "confirmed":
        return None
    rule = "hardware.model_mismatch" if check.verdict == "mismatch" else "hardware.model_unconfirmed"
    return rule, check.message, {**evidence, "declared_chip": declared.id}


def _model_findings(
    run: _Run, problems: dict[tuple[str, str], list[tuple[Gpu, dict[str, JsonValue]]]]
) -> None:
    """One finding per distinct model problem, naming every GPU it concerns."""
    for (rule, why), gpus in problems.items():
        names = ", ".join(f"{g.index}" for g, _ in gpus)
        evidence: dict[str, JsonValue] = {
            **gpus[0][1],
            "gpus": [{"index": g.index, "uuid": g.uuid, "pci_bus_id": g.pci.bus_id} for g, _ in gpus],
        }
        if rule == "hardware.model_mismatch":
            run.add(
                rule,
                CONTRA,
                f"GPU(s) {names}: {why}: the attested model is not the declared one",
                evidence,
                "declare the GPUs as NVML reports them; a re-declared chip is not what was attested",
            )
        else:
            run.add(
                rule,
                Severity.WARNING,
                f"GPU(s) {names}: {why}",
                evidence,
                "add the board SKU to the chip catalog from the vendor's samples or reference manifests",
            )


def _check_scope(run: _Run, entry: TrustEntry, manifest: WorkloadManifest) -> None:
    scope = entry.scope
    kid = scope.key_id
    if scope.operator is not None and scope.operator != manifest.operator.name:
        run.add(
            "trust.scope_operator",
            CONTRA,
            f"key {kid[:16]}… is trusted for operator {scope.operator!r}, not {manifest.operator.name!r}",
            {"key_id": kid, "allowed": scope.operator, "claimed": manifest.operator.name},
        )
    if scope.sites and manifest.site.facility_id not in scope.sites:
        run.add(
            "trust.scope_site",
            CONTRA,
            f"key {kid[:16]}… is trusted for sites {', '.join(scope.sites)}, not {manifest.site.facility_id!r}",
            {"key_id": kid, "allowed": list(scope.sites), "claimed": manifest.site.facility_id},
        )
    if scope.countries and manifest.site.country not in scope.countries:
        run.add(
            "trust.scope_country",
            CONTRA,
            f"key {kid[:16]}… is trusted for sites in {', '.join(scope.countries)}, not {manifest.site.country}",
            {"key_id": kid, "allowed": list(scope.countries), "claimed": manifest.site.country},
        )
    if scope.not_before is None and scope.not_after is None:
        return  # trusted for no limited period
    moments = [("issued_at", manifest.freshness.issued_at)]
    if run.at is None:  # judged now: the key must be trusted now, too
        moments.insert(0, ("verification time", run.now))
    for label, moment in moments:
        if scope.not_before and moment < scope.not_before:
            run.add(
                "trust.key_not_yet_valid",
                CONTRA,
                f"key {kid[:16]}… is trusted from {format_timestamp(scope.not_before)}; {label} is {format_timestamp(moment)}",
                {"key_id": kid, "not_before": format_timestamp(scope.not_before)},
            )
            break
        if scope.not_after and moment > scope.not_after:
            run.add(
                "trust.key_expired",
                CONTRA,
                f"key {kid[:16]}… was trusted until {format_timestamp(scope.not_after)}; {label} is {format_timestamp(moment)}",
                {"key_id": kid, "not_after": format_timestamp(scope.not_after)},
            )
            break


def _check_freshness(run: _Run, fr: Freshness, options: VerifyOptions) -> None:

    def evidence() -> dict[str, JsonValue]:  # only formatted when a finding needs it
        return {
            "issued_at": format_timestamp(fr.issued_at),
            "expires_at": format_timestamp(fr.expires_at),
            "now": format_timestamp(run.now),
            "clock_skew_s": options.clock_skew.total_seconds(),
        }

    # A window longer than the verifier allows is a warning while the allowed part of it lasts,
    # and over when that part is: a node key cannot make a manifest current for years by
    # signing a distant expires_at (the window_too_long warning alone left it usable until then).
    allowed_until = shift(fr.issued_at, options.max_validity)
    if shift(run.now, options.clock_skew) < fr.issued_at:
        run.add(
            "freshness.not_yet_valid",
            CONTRA,
            "manifest is issued in the future (beyond the allowed clock skew)",
            evidence(),
        )
    elif shift_back(run.judged_at, options.clock_skew) > fr.expires_at:
        run.add(
            "freshness.expired",
            CONTRA,
            f"manifest expired at {format_timestamp(fr.expires_at)}",
            evidence(),
        )
    elif shift_back(run.judged_at, options.clock_skew) > allowed_until:
        run.add(
            "freshness.expired",
            CONTRA,
            f"manifest says it expires at {format_timestamp(fr.expires_at)}, but a manifest is current for at "
            f"most {human_duration(options.max_validity)} after its issue: it expired at "
            f"{format_timestamp(allowed_until)}",
            {**evidence(), "max_validity_s": options.max_validity.total_seconds()},
        )
    if fr.expires_at - fr.issued_at > options.max_validity:
        run.add(
            "freshness.window_too_long",
            Severity.WARNING,
            f"manifest is valid for {human_duration(fr.expires_at - fr.issued_at)}, longer than the allowed "
            f"{human_duration(options.max_validity)}",
            evidence(),
        )


def _check_chain(
    run: _Run, chains: ChainStore, freshness: Freshness, manifest_digest: Callable[[], str]
) -> str:
    """Check and advance the node's chain; return the finding's rule ("" for none)."""
    assert run.key_id is not None
    seq = freshness.sequence
    digest = manifest_digest()
    new = ChainHead(sequence=seq, digest=digest)
    swap = getattr(chains, "swap", None)  # a SwapChainStore: read, judge, compare-and-set
    for _ in range(_CHAIN_TRIES):
        head = chains.head(run.key_id)
        finding, advance = _chain_step(head, seq, digest, freshness.previous)
        if not advance:
            break
        if swap is None:
            chains.advance(run.key_id, new)
            break
        if swap(run.key_id, head, new):
            break
        # Another verifier moved the head since it was read: judge again against the new one.
    else:
        raise StoreError(f"the chain head of node key {run.key_id} kept changing while it was being advanced")
    if finding is not None:
        run.add(*finding)
    return "" if finding is None else finding[0]


_CHAIN_TRIES = 64
"""How often a chain check is judged again when other verifiers keep moving the node's head."""


def seen_before(first: Sighting) -> ChainFinding:
    """The note on a manifest verified again: the same payload from the same node key, not a replay."""
    at = first.at.isoformat().replace("+00:00", "Z")
    return (
        "freshness.seen_before",
        Severity.INFO,
        f"this manifest was verified before, at {at}: the same payload from the same node key is "
        "the same manifest, not a replay (judged again now; its chain verdict is the first one's)",
        {"first_seen": at},
    )


def first_chain_verdict(first: Sighting) -> ChainFinding:
    """The chain finding a manifest seen before had when first seen, kept on every re-verification."""
    assert first.chain_rule
    at = first.at.isoformat().replace("+00:00", "Z")
    severity = Severity.WARNING if first.chain_rule == "chain.gap" else CONTRA
    return (
        first.chain_rule,
        severity,
        f"when first verified, at {at}, this manifest failed the chain check ({first.chain_rule}); "
        "verifying the same manifest again keeps that verdict",
        {"first_seen": at},
    )


def _replayed(run: _Run, nonce: str) -> None:
    assert run.key_id is not None
    run.add(
        "freshness.nonce_reused",
        CONTRA,
        f"nonce {nonce} was already used by key {run.key_id[:16]}… for another manifest (a replay)",
        {"nonce": nonce},
    )


ChainFinding = tuple[str, Severity, str, dict[str, Any]]
"""A chain finding: rule, severity, message, evidence."""


def _chain_step(
    head: ChainHead | None, seq: int, digest: str, previous: str | None
) -> tuple[ChainFinding | None, bool]:
    """The chain check of one manifest against its node's newest one: (finding or None, advance?).

    A pure function of what it is given, so a parallel audit can tell whether a manifest
    checked against a guessed head would have fared the same against the true one.
    """
    if head is None:
        return None, True
    last = head.sequence
    if seq == last + 1 and previous == head.digest:
        return None, True  # the common case: the next manifest, linked to the newest one

    def evidence() -> dict[str, Any]:  # built only for a finding
        return {"sequence": seq, "last_sequence": last, "last_digest": head.digest}

    if seq < last:
        return (
            "chain.sequence_rollback",
            CONTRA,
            f"sequence {seq} goes back: this node already signed sequence {last}",
            evidence(),
        ), False
    if seq == last and digest != head.digest:
        return (
            "chain.fork",
            CONTRA,
            f"two different manifests carry sequence {seq} for this node",
            evidence(),
        ), False
    if seq == last + 1:  # and previous is not the newest manifest's digest
        return (
            "chain.previous_mismatch",
            CONTRA,
            f"previous is not the digest of this node's manifest {last}",
            {**evidence(), "previous": previous},
        ), False
    if seq > last + 1:
        return (
            "chain.gap",
            Severity.WARNING,
            f"manifests {last + 1}..{seq - 1} of this node were not seen",
            evidence(),
        ), True
    return None, True


def verify_many(
    items: Sequence[tuple[str, Bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    nonces: NonceStore | None,
    chains: ChainStore | None,
    policy: PolicyEvaluator | PolicyRules | None = None,
    options: VerifyOptions | None = None,
    catalog: Catalog | None = None,
    devices: DeviceStore | None = None,
    evidence_log: EvidenceSource | None = None,
    threads: object = None,
) -> list[VerificationResult]:
    """Verify a batch with exactly these stores and policy (:meth:`Verifier.verify_many`).

    ``evidence_log``: where GPU evidence named by digest and not carried in the batch is looked up.
    ``threads``: signature checks ahead (:meth:`Verifier.verify_many`).
    """
    verifier = _function_verifier(trust, nonces, chains, policy, options, catalog, devices, evidence_log)
    return verifier.verify_many(items, now=now, threads=threads)


def _recheck_devices(
    result: VerificationResult, manifest: WorkloadManifest, devices: DeviceStore
) -> VerificationResult:
    """Refuse a bound result whose GPUs another key claimed over the same time (seen later in the batch)."""
    if result.location_grade in (None, "declared") or any(
        f.rule == "hardware.gpu_two_nodes" for f in result.findings
    ):
        return result
    key_id = manifest.node.key_id
    clashes: list[tuple[int, str, DeviceClaim]] = []
    for index, device_id, bound_at in gpu_devices(manifest.gpus):
        mine = DeviceClaim(device_id, key_id, manifest.node.hostname, *claim_period(manifest, bound_at))
        clashes += [
            (index, device_id, c)
            for c in devices.claims(device_id)
            if c.key_id != key_id and c.overlaps(mine)
        ]
    if not clashes:
        return result
    other = clashes[0][2]
    finding = construct(
        Finding,
        {
            "rule": "hardware.gpu_two_nodes",
            "severity": CONTRA,
            "message": f"{len({d for _, d, _ in clashes})} GPU(s) vouch for node key {key_id[:16]}… (host "
            f"{manifest.node.hostname}) and, over the same time, for node key {other.key_id[:16]}… (host {other.host}, "
            f"{other.since.isoformat()} .. {other.until.isoformat()}), seen later in this batch: one set of GPUs "
            f"cannot back two nodes. GPUs {', '.join(sorted({str(i) for i, _, _ in clashes}))}",
            "evidence": {
                "devices": sorted({d for _, d, _ in clashes}),
                "keys": [key_id, other.key_id],
                "hosts": [manifest.node.hostname, other.host],
            },
            "remedy": "find where these GPUs are; revoke the key that is not theirs (attest trust revoke)",
        },
    )
    findings = [f for f in result.findings if f.rule not in ("hardware.bound", "location.measured")] + [
        finding
    ]
    vector = result.trust_vector.model_copy(
        update={"hardware": Status.worst((result.trust_vector.hardware, Status.CONTRAINDICATED))}
    )
    return result.model_copy(
        update={
            "findings": findings,
            "status": Status.CONTRAINDICATED,
            "location_grade": "declared",
            "trust_vector": vector,
        }
    )


def _refuse_batch_forks(results: dict[int, VerificationResult], runs: dict[int, _Run]) -> list[int]:
    """Every branch of a fork within one batch is ``chain.fork``, whichever the batch's order visited first.

    A (node key, sequence) carried by more than one payload among the batch's authenticated
    manifests (``runs``) is a fork: the branch checked first would otherwise stand, chosen by
    input order. Returns the batch indexes of the branches.
    """
    groups: dict[tuple[str, int], list[int]] = {}
    for i, run in runs.items():
        groups.setdefault(run.claims(), []).append(i)
    forked: list[int] = []
    for (_, sequence), members in groups.items():
        if len(members) < 2:
            continue
        found = {_branch(runs[i], results[i]) for i in members}  # as the audit's summaries hold them
        if len(found) > 1:
            for i in members:
                results[i] = with_batch_fork(results[i], sequence, found)
            forked.extend(members)
    return forked


def _branch(run: _Run, result: VerificationResult) -> str:
    """The digest a fork's branch is told apart by: the manifest's, or its payload's when it has none.

    A signed manifest that cannot be written canonically (an integer beyond 2**53) has no manifest
    digest; it was refused on its own (``envelope.malformed``), and is still a branch of its own.
    """
    try:
        return manifest_digest(_read(run))
    except InputError:
        return f"payload {result.subject}"


def _read(run: _Run) -> WorkloadManifest:
    manifest = run.manifest
    assert manifest is not None  # an authenticated run's
    return manifest


def with_batch_fork(result: VerificationResult, sequence: int, branches: set[str]) -> VerificationResult:
    """``result`` refused as one of ``branches`` (digests) that carry the same sequence of one node in a batch.

    Unchanged if it already carries ``chain.fork``. Used by :meth:`Verifier.verify_many` and the audit.
    """
    if any(f.rule == "chain.fork" for f in result.findings):
        return result
    finding = construct(
        Finding,
        {
            "rule": "chain.fork",
            "severity": CONTRA,
            "message": f"{len(branches)} different manifests in this batch carry sequence {sequence} for this node",
            "evidence": {"sequence": sequence, "branches": sorted(branches)},
            "remedy": None,
        },
    )
    vector = result.trust_vector.model_copy(
        update={
            "instance_identity": Status.worst((result.trust_vector.instance_identity, Status.CONTRAINDICATED))
        }
    )
    return result.model_copy(
        update={
            "findings": [*result.findings, finding],
            "status": Status.CONTRAINDICATED,
            "trust_vector": vector,
        }
    )


# What the pre-readers below read, before anything is verified: views of the wire models
# (attest.model.wire) that decode only these fields, each with the model's own constraints.
_ORDER_ENVELOPE = msgspec.json.Decoder(view(Envelope, {"payload": bytes})).decode
_ORDER_STATEMENT = msgspec.json.Decoder(
    view(
        Statement,
        {"predicate": {"node": {"key_id": None, "hostname": None}, "freshness": {"sequence": None}}},
    )
).decode


def chain_order_key(raw: Bytes) -> tuple[str, int]:
    """(node key id, sequence) read from an envelope before it is verified — for ordering only.

    Read with typed C decoders that look at nothing else (10x quicker than parsing it all);
    input they cannot read sorts first as ``("", -1)``. Only an envelope whose payload is a
    valid manifest can advance a chain, and for those the key is the manifest's own.
    """
    pred = _claims(raw)
    return ("", -1) if pred is None else (pred.node.key_id, pred.freshness.sequence)


def _claimed_hostname(raw: Bytes) -> str | None:
    """The host name an envelope's manifest gives, read before anything is verified (to choose only).

    None for input the typed C decoders of :func:`chain_order_key` cannot read.
    """
    pred = _claims(raw)
    return None if pred is None else pred.node.hostname


def _order_read(raw: Bytes) -> tuple[tuple[str, int], _Split | None]:
    """:func:`chain_order_key` of ``raw``, and its frame's split when ``raw`` is bytes that split (for the judging to reuse)."""
    try:
        data = input_bytes(raw)
        one = split_one_signature(data)  # the common envelope, by its frame (base64 by SIMD)
        payload = one[3] if one is not None else _ORDER_ENVELOPE(data).payload  # type: ignore[attr-defined]
        pred = _ORDER_STATEMENT(payload).predicate  # type: ignore[attr-defined]
    except MSGSPEC_ERRORS:
        return ("", -1), None
    return (pred.node.key_id, pred.freshness.sequence), (one if data is raw else None)


def _claims(raw: Bytes) -> Any:
    """The predicate's node and freshness as the views read them, or None for input they cannot read."""
    try:
        raw = input_bytes(raw)
        one = split_one_signature(raw)  # the common envelope, by its frame (base64 by SIMD)
        payload = one[3] if one is not None else _ORDER_ENVELOPE(raw).payload  # type: ignore[attr-defined]
        return _ORDER_STATEMENT(payload).predicate  # type: ignore[attr-defined]
    except MSGSPEC_ERRORS:
        return None


RESULT_PAYLOAD_TYPE = "application/vnd.compute-attest.result+json"
"""DSSE payloadType of a verifier-signed verification result."""


def sign_result(result: VerificationResult, key: SigningKey) -> bytes:
    """Sign a result as a canonical DSSE envelope, so a relying party needs to trust only the verifier's key."""
    payload = result.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
    return encode_envelope(sign_payload(payload, RESULT_PAYLOAD_TYPE, [key]))


def open_signed_result(raw: bytes, verifier_key: VerifyingKey) -> VerificationResult:
    """Check a verifier-signed result and return it.

    Raises:
        EnvelopeError: the envelope is malformed, of another type, or not signed by ``verifier_key``.
    """
    envelope, payload = parse_envelope(raw)
    if envelope.payload_type != RESULT_PAYLOAD_TYPE:
        raise EnvelopeError(
            f"payloadType {envelope.payload_type!r} is not {RESULT_PAYLOAD_TYPE}",
            rule="envelope.payload_type",
        )
    message = pae(envelope.payload_type, payload)
    if not any(
        s.keyid == verifier_key.key_id
        and verifier_key.verify(b64decode_canonical(s.sig, what="signature"), message)
        for s in envelope.signatures
    ):
        raise EnvelopeError("the result is not signed by the verifier's key", rule="signature.invalid")
    try:
        return VerificationResult.from_json(payload, what="signed result")
    except AttestError as exc:
        raise EnvelopeError(exc.message, rule="statement.malformed") from None
