"""The collector: node daemons push envelopes; each is verified, logged and answered with a proof.

HTTP API (aiohttp, behind :mod:`attest.log.frontend`'s timeouts and connection cap)::

    POST /v1/manifests          body: one envelope file's bytes (≤ 1 MiB)
        200 {"result": {...}, "leaf_index": N, "leaf_hash": hex, "inclusion": {...},
             "integrated_time": RFC 3339, "duplicate": bool}
        400 not an envelope at all · 413 too large · 408 the body came too slowly
        403 not signed by trusted, unrevoked keys only (unless ``accept_untrusted``)
        429 the signer's quota is spent (``Retry-After``)
        503 the log or the state could not take it, or this collector's clock disagrees with
            the log's newest entry or with every witness (push again later)
        (nothing is acknowledged for any of these)
    GET  /v1/checkpoint         the newest signed checkpoint, with witness cosignatures (text/plain)
    GET  /v1/proof/inclusion?index=N[&size=S]
    GET  /v1/proof/consistency?old=M[&new=N]
    GET  /v1/entries/N          the logged bytes of entry N (401 without the read token, if set)
    GET  /healthz

Only envelopes every signature of which is a trusted, unrevoked key's and verifies are logged
(the log is append-only: anyone who could reach the collector could otherwise fill it); what a
trusted key signed is logged whatever else is wrong with it, with the verifier's result, kept
in the log's own store. ``accept_untrusted`` (labs) logs every envelope with its verdict.
Each signer has a quota (one shared bucket for every untrusted envelope).

One submission is one entry: the same bytes, or the same payload attributed to the same node
key (an ECDSA ``s -> n - s`` twin, a re-signature, a co-signature added by another key), are
answered from the store with the original's index and result, so they are never mistaken for
a replay. The nonces, chain heads and identity a verification would record are committed in one
transaction only after the append succeeded, so a failed append (disk full, quota, refusal)
followed by a retry is judged as the original; entries logged without a verdict (a crash in
between) are judged before serving (:meth:`Collector.recover`).

Group commit (:meth:`Collector._submit_group`): envelopes that arrive while a group is being
committed queue in the order their bodies were completely received; the next group is the
queue's first ``max_group``. Its envelopes are judged in that order, each against the durable
state plus what the earlier ones hold (:class:`GroupHeld`), so every verdict is the one the same
envelopes would get one by one; the accepted ones are appended in one batch (log order is that
order), their nonces, heads and submissions recorded in one transaction (atomic: one that
another collector raced records nothing, and the group is judged again one by one), their
verdicts stored in one more, and only then is each request answered. A failure at any step
fails every envelope of the group it reaches: none is told "logged" unless its entry and
verdict are durable. Verification state persists —
in a SQLite file, or in a PostgreSQL log's own database, shared by every collector on it — so
a restarted collector still sees replays and rollbacks, and collectors behind one load
balancer see one node's manifests as one chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from attest.scheduler.evidence import NewestEvidence

from attest.crypto.dsse import parse_envelope
from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import AttestError, InputError
from attest.hardware.binding import evidence_digest
from attest.hardware.cc import BindingCache
from attest.log import Appended, Log, is_url
from attest.log.frontend import Limits, NetworkBuckets, read_body
from attest.log.witness import WitnessKey
from attest.replay import ChainHead, SqliteVerifierState, VerifierState
from attest.units import human_size
from attest.verify import PolicyEvaluator, VerifyOptions, verify_and_open

if TYPE_CHECKING:
    from attest.model.manifest import WorkloadManifest
    from attest.model.result import VerificationResult

MAX_BODY = 1 << 20
_UNFINISHED_KEPT = 10_000
"""Envelopes whose append or verdict failed, remembered for their retry (the oldest forgotten first)."""
_NOT_AN_ENVELOPE = ("envelope.malformed", "envelope.oversize", "envelope.base64", "envelope.noncanonical")
_BOUND_GRADES = frozenset({"hardware-bound", "key-measured", "measured"})  # grades its GPU evidence earned
_NOT_TRUSTED_SIGNERS = (
    "envelope.payload_type",
    "signature.unknown_key",
    "signature.invalid",
    "trust.key_revoked",
)


class CollectorState(VerifierState, Protocol):
    """A collector's verifier state: seen nonces, chain heads, and the submissions it logged."""

    def seen(self, key_id: str, nonce: str) -> bool:
        """Whether the pair is recorded (a read)."""
        ...

    def submission(self, identity: bytes) -> int | None:
        """The log index of the submission with this identity, if logged."""
        ...

    def record_submission(self, identity: bytes, index: int) -> None:
        """Remember the log index of a submission."""
        ...

    def record(
        self,
        nonces: list[tuple[str, str, datetime]],
        heads: list[tuple[str, ChainHead]],
        submissions: Sequence[tuple[bytes, int]],
        expected: Mapping[str, ChainHead | None] | None = None,
        *,
        atomic: bool = False,
    ) -> bool:
        """Record nonces, chain heads and submissions in one transaction; False if a nonce was recorded.

        With ``expected``, a key's head is written only if it is still the one named there (None:
        no head); otherwise it is left as it is and the call returns False (a fork raced). With
        ``atomic``, a call that returns False records nothing.
        """
        ...


class GroupHeld:
    """What the envelopes judged before, in one group commit, hold: later members are judged against it.

    A group's envelopes are appended and recorded together, so none of them is in the durable
    state while the others are judged. Each is judged against the durable state plus what the
    group's earlier members hold (their nonces, their chain heads), exactly as if each earlier
    one had been logged and recorded on its own first: a second envelope of one node continues
    the first's chain, a nonce used twice in the group is a replay the second time, and two
    branches of a fork in one group make the second a fork.
    """

    def __init__(self) -> None:
        self.nonces: set[tuple[str, str]] = set()
        self.heads: dict[str, ChainHead] = {}
        self.leaves: dict[bytes, int] = {}
        """Leaf hash -> the member with these bytes (a second push of them in the group is its duplicate)."""
        self.identities: dict[bytes, int] = {}
        """Submission identity -> the member (the same payload by the same node key again is its duplicate)."""
        self.slots: set[tuple[str, int]] = set()
        """Node key and sequence of each member (an earlier failed twin's retry loses its old heads)."""

    def take(
        self,
        position: int,
        leaf: bytes,
        pending: PendingState,
        identity: bytes | None,
        slot: tuple[str, int] | None,
    ) -> None:
        """Add the member at ``position`` (its envelope will be appended with the group)."""
        self.nonces.update(pending.nonces)
        self.heads.update(pending.heads)
        self.leaves[leaf] = position
        if identity is not None:
            self.identities[identity] = position
        if slot is not None:
            self.slots.add(slot)


class PendingState:
    """What one verification would record (nonces, chain heads), held back until the log has the envelope.

    The verifier checks against the durable state plus what it holds; :meth:`commit` writes it
    once the append succeeded. An append that fails (a full disk, a quota, a refusal) leaves
    the durable state as it was, so the node's retry of the same envelope is judged as the
    original, not as a replay of it. With each nonce it records which log entry first used it
    (:func:`nonce_owner`), in the same transaction: a fault after the commit but before the
    verdict is stored (or a crash there) leaves an entry whose nonce is recorded; judging that
    very entry again (``own_index``: the node's retry of the same bytes, or
    :meth:`Collector.recover`) does not count its own nonce as a replay. Any other entry's use
    of the nonce still is one.
    """

    def __init__(
        self,
        base: CollectorState,
        own_index: int | None = None,
        as_of: dict[str, ChainHead | None] | None = None,
        group: GroupHeld | None = None,
    ) -> None:
        self.base = base
        self.own_index = own_index
        self.group = group
        """What the earlier envelopes of the same group commit hold (they come before this one)."""
        self.as_of = as_of or {}
        """Chain heads as they were when this very envelope was first judged (a retry after a
        failed append or verdict): it is judged against them, as the original was, not against
        a newer manifest of the node logged meanwhile."""
        self.nonces: dict[tuple[str, str], datetime] = {}
        self.heads: dict[str, ChainHead] = {}
        self.read: dict[str, ChainHead | None] = {}
        """The recorded head each held head was judged against: the commit moves it only from there."""

    def check_and_record(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """Hold the pair; False if it is recorded or held already (a replay), unless recorded by ``own_index``."""
        if (key_id, nonce) in self.nonces:
            return False
        if self.group is not None and (key_id, nonce) in self.group.nonces:
            return False  # an earlier envelope of this group uses it (another entry: a replay)
        if self.base.seen(key_id, nonce):
            # Recorded already: fresh only if entry ``own_index`` recorded it (nothing to hold then).
            return (
                self.own_index is not None
                and self.base.submission(nonce_owner(key_id, nonce)) == self.own_index
            )
        self.nonces[(key_id, nonce)] = expires_at
        return True

    def head(self, key_id: str) -> ChainHead | None:
        """The newest head held or recorded for this key (as of the original judgment, for a retry)."""
        if key_id in self.heads:
            return self.heads[key_id]
        if key_id in self.as_of:
            return self.as_of[key_id]
        if self.group is not None and key_id in self.group.heads:
            return self.group.heads[key_id]
        return self.base.head(key_id)

    def advance(self, key_id: str, head: ChainHead) -> None:
        """Hold ``head`` if newer than what is recorded (never moving a recorded head back)."""
        if key_id in self.heads:
            current: ChainHead | None = self.heads[key_id]
        elif self.group is not None and key_id in self.group.heads:
            current = self.group.heads[key_id]
        else:
            current = self.base.head(key_id)
        if current is None or head.sequence > current.sequence:
            if key_id not in self.heads:
                self.read[key_id] = current
            self.heads[key_id] = head

    def commit(self, submission: tuple[bytes, int] | None = None) -> bool:
        """Record what is held, the submission and who owns each nonce, in one transaction (after the append).

        False if another collector recorded a nonce meanwhile, or moved a chain head this one
        advances from (two branches of a fork at once: this one's head is not written, and the
        envelope must be judged again against the recorded state). All or nothing: a state that
        cannot be written (a full disk) keeps none of it, and the entry's re-push is judged as
        the original.
        """
        rows: list[tuple[bytes, int]] = [] if submission is None else [submission]
        if submission is not None:
            rows += [(nonce_owner(k, n), submission[1]) for (k, n) in self.nonces]
        return self.base.record(
            [(k, n, e) for (k, n), e in self.nonces.items()], list(self.heads.items()), rows, self.read
        )


def nonce_owner(key_id: str, nonce: str) -> bytes:
    """The key under which the state records which log entry first used ``(key_id, nonce)``.

    Kept in the submission table (identity -> log index) in a domain of its own: a SHA-256
    over a label no submission identity starts with (those start with an 8-byte length).
    """
    h = hashlib.sha256(b"attest nonce owner\x00")
    for part in (key_id.encode(), nonce.encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


def submission_identity(raw: bytes, signer: str) -> bytes | None:
    """SHA-256 over the payload type, the payload and the node key it is attributed to: one submission.

    Two envelopes of the same payload attributed to the same node key are the same submission,
    whatever their signature bytes (an ECDSA signature's ``s`` can be turned into ``n - s`` by
    anyone; a node may sign the same payload twice; another trusted key may add its own
    signature): the second is not a replay *by the node*. Take it only of an envelope whose
    signatures all verified. None for bytes that are not an envelope.
    """
    try:
        envelope, payload = parse_envelope(raw, require_canonical=False)
    except AttestError:
        return None
    h = hashlib.sha256()
    for part in (envelope.payload_type.encode(), payload, signer.encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


class KeyQuota:
    """Per-signer token buckets: ``per_minute`` envelopes a minute, bursts up to as many.

    Buckets exist for trusted keys only (the trust store bounds them) and one shared by every
    unauthenticated envelope (with ``accept_untrusted``), so nobody can grow this map.
    """

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1.0, per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float:
        """Spend one token for ``key``; return 0 if allowed, else the seconds until one is there."""
        tokens, last = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
        self.buckets[key] = (tokens - 1.0, now)
        return 0.0


@dataclass
class _Member:
    """One envelope of a group commit, judged and waiting for the group's append."""

    raw: bytes
    leaf: bytes
    existing: int | None
    """The entry with these bytes, logged without a verdict (a crash): it is judged as itself."""
    now: datetime
    pending: PendingState
    result: VerificationResult
    manifest: WorkloadManifest | None
    before: dict[str, ChainHead | None]
    """The durable chain heads it was judged against (for its retry if the group's append fails)."""
    judged_against: dict[str, ChainHead | None]
    """The heads it was judged against, the group's earlier members' included (for its retry if
    the group was logged but its verdicts could not be stored)."""
    identity: bytes | None


class Collector:
    """State shared by the handlers: the log, the verifier's state, trust, policy."""

    def __init__(
        self,
        log: Log,
        trust: TrustStore,
        *,
        state: CollectorState,
        policy: PolicyEvaluator | None,
        options: VerifyOptions,
        key: SigningKey | None = None,
        checkpoint_interval_s: float = 10.0,
        accept_untrusted: bool = False,
        quota_per_minute: float = 600.0,
        newest: NewestEvidence | None = None,
        limits: Limits | None = None,
        witnesses: Sequence[tuple[str, WitnessKey]] = (),
        read_token: str | None = None,
        max_clock_lag_s: float = 60.0,
        refusals_per_minute: float | None = 120.0,
        max_group: int = 256,
    ) -> None:
        self.log, self.trust, self.state, self.policy, self.options = log, trust, state, policy, options
        self.accept_untrusted = accept_untrusted
        self.bindings = BindingCache()
        """GPU bindings this collector verified (by digest, for heartbeats that name them), and their verdicts."""
        self.quota = KeyQuota(quota_per_minute)
        self.newest = newest
        self.key = key
        self.interval = checkpoint_interval_s
        self.lock = asyncio.Lock()
        self.max_group = max(1, max_group)
        """The most envelopes one group commit takes (1: each envelope appended and committed on its own)."""
        self.queue: list[tuple[bytes, asyncio.Future[tuple[int, dict[str, Any]]]]] = []
        """Envelopes waiting for the next group commit, in the order their bodies arrived."""
        self.draining: asyncio.Task[None] | None = None
        self.note: str | None = None
        self.noted_size = -1
        self.limits = limits or Limits()
        self.read_token = read_token
        self.refusals = NetworkBuckets(refusals_per_minute) if refusals_per_minute else None
        """Refused envelopes (400, 403) per source network: beyond them, 429 before any verifying."""
        self.key_refusals = NetworkBuckets(refusals_per_minute) if refusals_per_minute else None
        """The same, per trusted signer set, for envelopes naming trusted keys only (bounded by the trust store)."""
        self.max_clock_lag_s = max_clock_lag_s
        self.witnesses = list(witnesses)
        self.witnessed: dict[str, int] = {}
        self.cosigned_size = -1
        """The size of the newest checkpoint the witnesses were asked to cosign."""
        self.clock_offsets: dict[str, float] = {}
        """This collector's clock minus each witness's, from their newest cosignatures."""
        self.dated: set[str] = set()
        """Witnesses whose offset in ``clock_offsets`` comes from an (unsigned) HTTP ``Date``."""
        self.unfinished: OrderedDict[bytes, dict[str, ChainHead | None]] = OrderedDict()
        """By leaf hash, the chain heads an envelope was judged against when its append or verdict
        failed (its retry is judged against them: the same submission; bounded, not kept across restarts)."""
        self.unfinished_slot: dict[bytes, tuple[str, int]] = {}
        """By leaf hash of an ``unfinished`` envelope: its node key and sequence. Another envelope
        of that key and sequence logged meanwhile (a twin) ends the retry's claim to the old heads."""
        """The size each witness last cosigned (what the next add-checkpoint starts from)."""

    def _judge(
        self, raw: bytes, now: datetime, state: PendingState | CollectorState
    ) -> tuple[VerificationResult, WorkloadManifest | None]:
        # GPU device claims go straight to the durable state: recording one twice is harmless.
        # One binding cache for every envelope: a heartbeat naming its node's verified binding by
        # digest resolves (a verifier per envelope would know no binding), and a binding is judged once.
        # A digest it never verified (another collector on this log took the full binding, or this one
        # restarted) is looked up in the log's evidence index and that entry verified in full.
        return verify_and_open(
            raw,
            self.trust,
            now=now,
            nonces=state,
            chains=state,
            policy=self.policy,
            options=self.options,
            devices=self.state,
            bindings=self.bindings,
            evidence_log=self.log,
        )

    def recover(self, limit: int = 10_000) -> int:
        """Judge the newest entries without a stored verdict, in log order; return how many.

        A crash between an entry's append and its verdict leaves its nonce and chain head
        unrecorded: they are recorded here, as of the entry's integration time. Run before serving, so a replay of such an entry cannot be judged fresh before it is.
        """
        size = self.log.size
        first = size
        while first > 0 and size - first < limit and self.log.store.result(first - 1) is None:
            first -= 1
        for index in range(first, size):
            raw = self.log.store.entry(index)
            at = self.log.store.integrated_at(index)
            now = datetime.fromtimestamp(at, UTC) if at is not None else datetime.now(UTC)
            pending = PendingState(self.state, own_index=index)
            result, manifest = self._judge(raw, now, pending)  # as of when the log took it
            identity = (
                submission_identity(raw, result.key_id) if manifest is not None and result.key_id else None
            )
            pending.commit(None if identity is None else (identity, index))
            self.log.store.put_result(index, result.status.value, json.dumps(result.to_obj()))
        return size - first

    def _unlogged(self, manifest: WorkloadManifest | None) -> None:
        """An envelope judged but not logged: the evidence it carried leaves the binding cache.

        Judging it kept its GPU evidence for heartbeats that name it by digest; a heartbeat logged
        on the strength of evidence the log does not hold could not be judged again from the log.
        (Evidence an earlier entry carried is found again through the log's evidence index.)
        """
        for digest in carried(manifest):
            self.bindings.forget_evidence(digest)

    def _duplicate(self, index: int, result: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"duplicate": True, "leaf_index": index, "result": result, **self._proof(index)}

    def _submit(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Judge, log and answer one envelope (a group of one)."""
        return self._submit_group([raw])[0]

    def _admit(
        self, raw: bytes, position: int, held: GroupHeld
    ) -> tuple[int, dict[str, Any]] | int | _Member:
        """Steps 1-4 for one envelope of a group: an answer now, the earlier member it duplicates, or a member."""
        from attest.log import merkle

        # 1. The same bytes again: answered from the store (or as the earlier member of this group
        #    with them), unless a crash came between their append and their verdict (then they are
        #    judged now, as the original).
        leaf = merkle.leaf_hash(raw)
        if leaf in held.leaves:
            return held.leaves[leaf]
        existing = self.log.store.find(leaf)
        if existing is not None:
            kept = self.log.store.result(existing)
            if kept is not None:
                return self._duplicate(existing, json.loads(kept))
        # 2. A clock behind the log's own recent time judges nothing (it would store verdicts of
        #    a time that has passed); then verify, holding what it would record until the log has it.
        now = datetime.now(UTC)
        size = self.log.size
        newest = self.log.store.integrated_at(size - 1) if size else None
        # (A witness that vouches for this clock settles it: then the newest entry came from a
        # collector whose clock runs ahead, and it must not freeze the writers whose clocks are right.)
        if (
            newest is not None
            and now.timestamp() < newest - self.max_clock_lag_s
            and not self.clock_confirmed()
        ):
            return 503, {
                "error": "this collector's clock is behind the log's newest entry by "
                f"{newest - now.timestamp():.0f} s; it judges nothing until its clock is fixed"
            }
        if self.clock_disagrees():
            off = min(self.clock_offsets.values(), key=abs)
            return 503, {
                "error": f"this collector's clock is {off:+.0f} s off every witness's; it judges nothing "
                "until its clock is fixed"
            }
        if self.unconfirmed():
            return 503, {"error": UNCONFIRMED}
        # A logged entry without a verdict is judged as itself: its own recorded nonce is no replay.
        # The retry of an envelope whose append (or verdict) failed is judged against the chain as
        # it was then: a newer manifest of the node logged meanwhile does not make it a rollback
        # (unless an envelope of the same node and sequence came first: see _supersede). Every
        # envelope is judged against the durable state plus this group's earlier members.
        as_of = self.unfinished.get(leaf)
        if as_of is not None and self.unfinished_slot.get(leaf) in held.slots:
            as_of = None
        pending = PendingState(self.state, own_index=existing, as_of=as_of, group=held)
        result, manifest = self._judge(raw, now, pending)
        # The heads it was judged against, kept for its retry if its group fails: the durable ones if
        # the append fails (the group's earlier members are not logged then: a retry alone must
        # not continue a chain through one of them), else with the earlier members' (logged).
        before = as_of if as_of is not None else {}
        judged_against = before
        if as_of is None and result.key_id:
            before = {result.key_id: self.state.head(result.key_id)}
            judged_against = {result.key_id: held.heads.get(result.key_id, before[result.key_id])}
        if any(f.rule in _NOT_AN_ENVELOPE for f in result.findings):
            return 400, {"error": "not an envelope", "result": _brief(result.to_obj())}
        untrusted = any(f.rule in _NOT_TRUSTED_SIGNERS for f in result.findings)
        if untrusted and not self.accept_untrusted:
            self._unlogged(manifest)
            return 403, {
                "error": "not signed by trusted keys only; not logged",
                "result": _brief(result.to_obj()),
            }
        # 3. One submission, one entry: the same payload by the same signers is the original.
        identity = submission_identity(raw, result.key_id) if manifest is not None and result.key_id else None
        if existing is None and identity is not None:
            if identity in held.identities:
                return held.identities[identity]
            first = self.state.submission(identity)
            if first is not None:
                kept = self.log.store.result(first)
                return self._duplicate(first, json.loads(kept) if kept else None)
        # 4. The signer's quota (nothing is recorded for a refused envelope).
        if existing is None:
            signer = "untrusted" if untrusted else (result.key_id or "untrusted")
            wait = self.quota.take(signer, time.monotonic())
            if wait > 0:
                self._unlogged(manifest)
                return 429, {
                    "error": "this key's quota is spent; retry later",
                    "retry_after": math.ceil(wait),
                }
        slot = (
            (result.key_id, manifest.freshness.sequence) if manifest is not None and result.key_id else None
        )
        held.take(position, leaf, pending, identity, slot)
        return _Member(raw, leaf, existing, now, pending, result, manifest, before, judged_against, identity)

    def _submit_group(self, raws: Sequence[bytes]) -> list[tuple[int, dict[str, Any]]]:
        """Judge, log and answer envelopes that arrived together: one append, one state commit, one verdict commit.

        The group is ordered as given (the order their bodies arrived). Each envelope is judged,
        in that order, against the durable state plus what the earlier ones hold, so a replay,
        a chain step or a fork within the group is judged as if they had come one by one; the
        accepted ones are appended together (in that order: log order is arrival order), then
        what they record is committed in one transaction, then their verdicts in one. An append
        that fails fails every envelope of the group (none is acknowledged; their retries are
        judged as the originals), and so does a state or verdict commit that fails.
        """
        answers: list[tuple[int, dict[str, Any]] | None] = [None] * len(raws)
        aliases: dict[int, int] = {}  # position -> the earlier member's position it duplicates
        held = GroupHeld()
        members: dict[int, _Member] = {}
        for position, raw in enumerate(raws):
            got = self._admit(raw, position, held)
            if isinstance(got, _Member):
                members[position] = got
            elif isinstance(got, int):
                aliases[position] = got
            else:
                answers[position] = got
        if members:
            self._log_group(members, answers)
        for position, target in aliases.items():
            code, body = answers[target] or (503, {"error": "the collector could not take the envelope now"})
            answers[position] = (code, {**body, "duplicate": True} if code == 200 else body)
        return [a if a is not None else (503, {"error": "not answered"}) for a in answers]

    def _log_group(
        self, members: dict[int, _Member], answers: list[tuple[int, dict[str, Any]] | None]
    ) -> None:
        """Step 5 for a group's members: log them; only then record their nonces, heads, identities and verdicts."""
        order = list(members)
        try:
            placed = dict(
                zip(
                    order,
                    self.log.append(
                        [members[p].raw for p in order],
                        # indexed only where it earned hardware-bound for the key that carried it: a
                        # key copying another's evidence does not crowd the real entry out of the lookup
                        [
                            carried(members[p].manifest)
                            if members[p].result.location_grade in _BOUND_GRADES
                            else []
                            for p in order
                        ],
                    ),
                    strict=True,
                )
            )
        except InputError as exc:
            for p in order:
                m = members[p]
                self._unlogged(m.manifest)
                self._unfinished(m.leaf, m.before, m.result.key_id, m.manifest)
                answers[p] = (
                    503,
                    {"error": f"the envelope could not be logged (nothing was recorded): {exc.message}"},
                )
            return
        committing: list[int] = []
        for p in order:
            m = members[p]
            if (
                not placed[p].new and m.existing is None
            ):  # another collector on this log logged the same bytes meanwhile
                kept = self.log.store.result(placed[p].index)
                if kept is not None:  # its verdict stands (this one's saw its nonce as a replay)
                    answers[p] = self._duplicate(placed[p].index, json.loads(kept))
                    continue
            committing.append(p)
        try:
            if committing and not self._record(committing, members, placed):
                # Another collector on this state recorded a nonce, or moved a node's chain head,
                # between our check and our commit (nothing of the group was recorded): each
                # entry is judged again against the committed state, one by one in log order, its
                # own nonce not counted against it (a replay; a fork), and recorded.
                for p in committing:
                    m, index = members[p], placed[p].index
                    again = PendingState(self.state, own_index=index)
                    m.result, _ = self._judge(m.raw, m.now, again)
                    if not again.commit(None if m.identity is None else (m.identity, index)):
                        again = PendingState(self.state, own_index=index)
                        m.result, _ = self._judge(m.raw, m.now, again)
                        again.commit()
            rows = [
                (placed[p].index, members[p].result.status.value, json.dumps(members[p].result.to_obj()))
                for p in committing
            ]
            if rows:
                self.log.store.put_results(rows)
        except (AttestError, sqlite3.Error, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            for p in committing:
                m = members[p]
                self._unfinished(m.leaf, m.judged_against, m.result.key_id, m.manifest)
                answers[p] = (
                    503,
                    {
                        "error": f"logged as entry {placed[p].index}, but its verdict could not be stored ({message}); "
                        "push it again: it is judged then, as the original"
                    },
                )
            return
        proofs = self.log.inclusions([placed[p].index for p in committing])  # one tree, its root once
        for p, proof in zip(committing, proofs, strict=True):
            m, index = members[p], placed[p].index
            self.unfinished.pop(m.leaf, None)
            self.unfinished_slot.pop(m.leaf, None)
            if m.manifest is not None and m.result.key_id:
                self._supersede(m.leaf, m.result.key_id, m.manifest.freshness.sequence)
            if self.newest is not None:
                try:
                    self.newest.offer(m.raw, m.result, m.manifest)
                except OSError as exc:  # the log has the envelope; the directory catches up with the next one
                    _warn(f"cannot update the evidence directory: {exc}")
            answers[p] = (
                200,
                {
                    "duplicate": m.existing is not None,
                    "leaf_index": index,
                    "result": m.result.to_obj(),
                    **self._proof(index, proof),
                },
            )

    def _record(
        self, committing: list[int], members: dict[int, _Member], placed: dict[int, Appended]
    ) -> bool:
        """Record what the group's committing members hold, in one transaction; False (nothing recorded) on a race.

        A key's head moves from the durable head its first member in the group read to its last
        member's head (heads only move forward); each nonce's owner is its member's entry.
        """
        nonces: list[tuple[str, str, datetime]] = []
        heads: dict[str, ChainHead] = {}
        expected: dict[str, ChainHead | None] = {}
        rows: list[tuple[bytes, int]] = []
        for p in committing:
            m, index = members[p], placed[p].index
            nonces += [(k, n, e) for (k, n), e in m.pending.nonces.items()]
            heads.update(m.pending.heads)
            for key_id, read in m.pending.read.items():
                expected.setdefault(key_id, read)
            if m.identity is not None:
                rows.append((m.identity, index))
                rows += [(nonce_owner(k, n), index) for (k, n) in m.pending.nonces]
        return self.state.record(nonces, list(heads.items()), rows, expected, atomic=True)

    def _unfinished(
        self,
        leaf: bytes,
        heads: dict[str, ChainHead | None],
        key_id: str | None,
        manifest: WorkloadManifest | None,
    ) -> None:
        self.unfinished[leaf] = heads
        self.unfinished.move_to_end(leaf)
        if key_id and manifest is not None:
            self.unfinished_slot[leaf] = (key_id, manifest.freshness.sequence)
        while len(self.unfinished) > _UNFINISHED_KEPT:
            self.unfinished_slot.pop(self.unfinished.popitem(last=False)[0], None)

    def _supersede(self, leaf: bytes, key_id: str, sequence: int) -> None:
        """Forget the old heads of failed envelopes whose key and sequence ``leaf`` (just logged) took.

        Their retry is another manifest of the same place in the node's chain: judged against the
        heads as they are now (a fork or a rollback), not as of its first attempt, which would let a
        node get both twins of one sequence, and everything after the twin, affirmed.
        """
        for other, slot in list(self.unfinished_slot.items()):
            if other != leaf and slot == (key_id, sequence):
                self.unfinished.pop(other, None)
                del self.unfinished_slot[other]

    def _proof(self, index: int, proof: dict[str, Any] | None = None) -> dict[str, Any]:
        """An answer's proof of entry ``index`` (``proof``: its inclusion proof, computed with its group's)."""
        proof = proof or self.log.inclusion(index)
        at = self.log.store.integrated_at(index)
        stamp = None if at is None else datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
        return {"leaf_hash": proof["leaf_hash"], "inclusion": proof, "integrated_time": stamp}

    async def post_manifest(self, request: web.Request) -> web.Response:
        """POST /v1/manifests."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response(
                {
                    "error": f"the body is {human_size(request.content_length)}, over the limit of "
                    f"{human_size(MAX_BODY)} for an envelope; nothing was logged"
                },
                status=413,
            )
        remote = request.remote or "unknown"
        try:
            raw = await read_body(request, self.limits)
        except web.HTTPRequestTimeout:
            if self.refusals is not None:  # a trickled body is a refusal like a forgery
                self.refusals.spend(remote)
            raise
        # Envelopes signed by trusted, unrevoked keys only (a cheap look at their key ids) are
        # limited per key, not per network: a flood of refusals from a node's /24 must not lock
        # that node out. Forgeries naming a trusted key spend that key's own refusal budget.
        signers = self._trusted_signers(raw)
        bucket = f"key {' '.join(signers)}" if signers else remote
        limiter = self.key_refusals if signers else self.refusals
        wait = limiter.wait(bucket) if limiter is not None else 0.0
        if wait > 0:  # too many envelopes from this network (or in this key's name) were refused
            return web.json_response(
                {
                    "error": "too many refused envelopes from your network or in your key's name; retry later",
                    "retry_after": math.ceil(wait),
                },
                status=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        code, body = await self._in_group(raw)
        if code in (400, 403) and limiter is not None:
            limiter.spend(bucket)
        headers = {"Retry-After": str(body["retry_after"])} if code == 429 else None
        return web.json_response(body, status=code, headers=headers)

    async def _in_group(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Queue ``raw`` for the next group commit; its answer once its group is durable (or has failed).

        Group commit: while one group is judged and committed, the envelopes that arrive wait
        in the queue, in the order their bodies were received; the next group is the queue's
        first ``max_group`` of them. One group at a time, under the lock.
        """
        future: asyncio.Future[tuple[int, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self.queue.append((raw, future))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        return await asyncio.shield(future)  # a client that goes away does not undo its group

    async def _drain(self) -> None:
        """Commit the queued envelopes, group after group, until the queue is empty."""
        group: list[tuple[bytes, asyncio.Future[tuple[int, dict[str, Any]]]]] = []
        try:
            while self.queue:
                async with self.lock:  # (what arrives while the lock is held joins this group)
                    group, self.queue = self.queue[: self.max_group], self.queue[self.max_group :]
                    try:
                        answers = await asyncio.to_thread(self._submit_group, [raw for raw, _ in group])
                    except Exception as exc:  # a database gone away (PostgreSQL), say: nothing acknowledged
                        _warn(f"a push failed: {type(exc).__name__}: {exc}")
                        answers = [
                            (503, {"error": "the collector could not take the envelope now; push it again"})
                        ] * len(group)
                for (_, future), answer in zip(group, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self.draining = None
            for _, future in group + self.queue:  # (only if this task was cancelled: the server stops)
                if not future.done():
                    future.set_result((503, {"error": "the collector is stopping; push it again"}))
            self.queue = []

    def _trusted_signers(self, raw: bytes) -> list[str]:
        """The sorted key ids of an envelope whose every signature names a trusted, unrevoked key; else []."""
        try:
            envelope, _ = parse_envelope(raw, require_canonical=False)
        except AttestError:
            return []
        ids = sorted({s.keyid for s in envelope.signatures})
        if not ids or any(self.trust.get(k) is None or self.trust.is_revoked(k) for k in ids):
            return []
        return ids

    def unconfirmed(self) -> bool:
        """Whether this collector has witnesses and none has confirmed its clock with a signed time yet.

        Such a collector judges and signs nothing: a clock running ahead, with its witnesses
        unreachable, would otherwise sign a checkpoint timed ahead that freezes every honest
        collector of the log until that time (an unanswered or unsigned ``Date`` confirms nothing).
        """
        return bool(self.witnesses) and self.key is not None and not self.clock_confirmed()

    def confirm_clock(self) -> None:
        """Ask the witnesses to cosign a checkpoint of the log as it is, signed now and kept in memory only.

        Their cosignatures' signed times measure this clock (:meth:`clock_confirmed`). Nothing is
        stored: a witness refuses a time line far from its clock, and then the log keeps no
        checkpoint with that time either.
        """
        from attest.log.checkpoint import Checkpoint

        if self.key is None or not self.witnesses:
            return
        size = self.log.size
        probe = Checkpoint(self.log.origin, size, self.log.root(size), int(time.time()))
        self._cosign(probe.sign(self.log.origin, self.key))

    def clock_confirmed(self) -> bool:
        """Whether some witness's signed cosignature time, as last measured, is within ``max_clock_lag_s`` of this clock."""
        return any(
            abs(o) <= self.max_clock_lag_s for u, o in self.clock_offsets.items() if u not in self.dated
        )

    def _measure_clock(self, url: str, resp: Any) -> None:
        """This clock minus a witness's from its HTTP ``Date`` (whole seconds), when no cosignature says it.

        A witness that refuses a checkpoint (its time too far ahead, say) still tells its time.
        The header is not signed: it can show a disagreement (and clear one it showed), never
        confirm this clock against a disagreement a cosignature showed.
        """
        from email.utils import parsedate_to_datetime

        try:
            then = parsedate_to_datetime(resp.headers["Date"]).timestamp()
        except (KeyError, TypeError, ValueError, IndexError, OverflowError):
            return
        off = time.time() - then
        if abs(off) > self.max_clock_lag_s:
            if url in self.dated or abs(self.clock_offsets.get(url, 0.0)) <= self.max_clock_lag_s:
                self.clock_offsets[url] = off
                self.dated.add(url)
        elif url in self.dated:
            del self.clock_offsets[url]
            self.dated.discard(url)

    def _cosigned_time(self, url: str, wkey: WitnessKey) -> float | None:
        """The witness's signed time now: it cosigns again the newest stored checkpoint it cosigned before."""
        import requests

        from attest.log.witness import add_checkpoint_request, cosignature_times

        for size, _, note in reversed(self.log.store.checkpoints()[-50:]):
            if not cosignature_times(note, [wkey]):
                continue
            head, _, sigs = note.partition("\n\n")
            own = head + "\n\n" + sigs.splitlines()[0] + "\n"  # the log's own signature line
            try:
                resp = requests.post(
                    url.rstrip("/") + "/add-checkpoint", data=add_checkpoint_request(size, [], own), timeout=5
                )
            except requests.RequestException:
                return None
            stamps = cosignature_times(own + _text(resp), [wkey]) if resp.status_code == 200 else {}
            return float(next(iter(stamps.values()))) if stamps else None
        return None

    def measure_clocks(self) -> None:
        """Ask each witness its time before this collector signs anything.

        Signed (a cosignature of a checkpoint it cosigned before) where it can, else its answers' ``Date``.
        """
        import requests

        for url, wkey in self.witnesses:
            signed = self._cosigned_time(url, wkey)
            if signed is not None:
                self.clock_offsets[url] = time.time() - signed
                self.dated.discard(url)
                continue
            try:
                resp = requests.get(url.rstrip("/") + "/", timeout=5)
            except requests.RequestException as exc:
                _warn(f"witness {url} unreachable: {exc}")
                continue
            self._measure_clock(url, resp)
        if not self.clock_confirmed():
            self.confirm_clock()
        if self.clock_disagrees():
            off = min(self.clock_offsets.values(), key=abs)
            _warn(f"this collector's clock is {off:+.0f} s off every witness's: it judges and signs nothing")
        elif self.unconfirmed():
            _warn(UNCONFIRMED)

    def clock_disagrees(self) -> bool:
        """Whether every witness's clock is more than ``max_clock_lag_s`` from this collector's."""
        return (
            bool(self.clock_offsets)
            and min(abs(o) for o in self.clock_offsets.values()) > self.max_clock_lag_s
        )

    def _remeasure_clocks(self) -> None:
        """Ask each witness to cosign the current checkpoint again, for its time only (after a clock fix)."""
        import requests

        from attest.log.witness import add_checkpoint_request, cosignature_times

        if self.note is None:  # nothing signed yet (this clock was off from the start): their Date
            self.measure_clocks()
            return
        body = self.note.partition("\n\n")
        note = body[0] + "\n\n" + body[2].splitlines()[0] + "\n"  # the log's own signature line
        for url, wkey in self.witnesses:
            try:
                resp = requests.post(
                    url.rstrip("/") + "/add-checkpoint",
                    data=add_checkpoint_request(self.noted_size, [], note),
                    timeout=5,
                )
            except requests.RequestException:
                continue
            stamps = cosignature_times(note + _text(resp), [wkey]) if resp.status_code == 200 else {}
            if stamps:
                self.clock_offsets[url] = time.time() - next(iter(stamps.values()))
                self.dated.discard(url)
            else:  # refused (this collector's own checkpoint timed ahead, say): its Date still tells
                self._measure_clock(url, resp)

    def _checkpoint(self) -> str | None:
        """Sign a checkpoint if the log grew (under the lock; witnesses are asked outside it)."""
        if self.key is None:
            return None
        if self.log.size != self.noted_size:
            if self.clock_disagrees() or self.unconfirmed():  # its time line may be wrong: nothing is signed
                return self.note
            try:
                self.note = self.log.checkpoint(self.key)
            except InputError as exc:  # the newest checkpoint is timed far ahead of this clock
                _warn(f"no checkpoint signed: {exc.message}")
                return self.note
            self.noted_size = self.log.size
        return self.note

    def _witness_round(self) -> tuple[str, str] | None:
        """Outside the lock (a slow witness must not stall pushes): cosignatures for the newest note."""
        if self.clock_disagrees():
            self._remeasure_clocks()
        if self.unconfirmed():
            self.confirm_clock()
        note, size = self.note, self.noted_size
        if note is None or self.cosigned_size == size:
            return None
        lines = self._cosign(note)
        self.cosigned_size = size
        return (note, lines) if lines else None

    def _keep_cosignatures(self, note: str, lines: str) -> None:
        """Under the lock: keep the cosignatures with the checkpoint, and serve them if it is the newest."""
        cosigned = self.log.add_cosignatures(note, lines)
        if self.note == note:
            self.note = cosigned

    def _cosign(self, note: str) -> str:
        """Ask each witness to cosign ``note`` (C2SP tlog-witness); return the cosignature lines that verify."""
        import requests

        from attest.log.checkpoint import open_checkpoint
        from attest.log.witness import add_checkpoint_request, cosignature_times

        cp = open_checkpoint(note, self.log.key_name, self.log.public, origin=self.log.origin)
        lines = ""
        for url, wkey in self.witnesses:
            if wkey.vkey() in cosignature_times(note, [wkey]):
                continue  # this size was cosigned by it before
            for _ in range(2):  # a 409 names the size it last cosigned: one retry from there
                old = min(self.witnessed.get(url, 0), cp.size)
                proof = (
                    [] if old == 0 else [bytes.fromhex(h) for h in self.log.consistency(old, cp.size)["path"]]
                )
                try:
                    resp = requests.post(
                        url.rstrip("/") + "/add-checkpoint",
                        data=add_checkpoint_request(old, proof, note),
                        timeout=5,
                    )
                except requests.RequestException as exc:
                    _warn(f"witness {url} unreachable: {exc}")
                    break
                if resp.status_code == 409 and _text(resp).strip().isdigit():
                    self.witnessed[url] = int(_text(resp).strip())
                    continue
                if resp.status_code != 200:
                    self._measure_clock(url, resp)
                    _warn(
                        f"witness {url} refused the checkpoint at size {cp.size}: {resp.status_code} {_text(resp)[:200]}"
                    )
                    break
                # Only this witness's own cosignature lines that verify under its name and key are
                # kept: anything else in its reply (a line in the log's name, another witness's,
                # junk) would otherwise be stored and served with the log's checkpoint.
                got = [
                    line + "\n"
                    for line in _text(resp).splitlines()
                    if line and cosignature_times(note + line + "\n", [wkey])
                ][:1]
                stamps = cosignature_times(note + "".join(got), [wkey])
                if stamps:
                    lines += "".join(got)
                    self.witnessed[url] = cp.size
                    # The witness's clock, as its signed timestamp gives it: an independent
                    # check of this collector's own (a few seconds of latency aside).
                    self.clock_offsets[url] = time.time() - next(iter(stamps.values()))
                    self.dated.discard(url)
                else:
                    _warn(f"witness {url} answered with no valid cosignature by {wkey.name}")
                break
        return lines

    async def get_checkpoint(self, request: web.Request) -> web.Response:
        """GET /v1/checkpoint."""
        async with self.lock:
            note = await asyncio.to_thread(self._checkpoint)
        if note is None and self.key is not None:
            return web.json_response(
                {"error": "no checkpoint could be signed yet (this collector's clock; see its log)"},
                status=503,
            )
        if note is None:
            return web.json_response({"error": "this collector signs no checkpoints (no --key)"}, status=404)
        return web.Response(text=note, content_type="text/plain")

    async def get_inclusion(self, request: web.Request) -> web.Response:
        """GET /v1/proof/inclusion."""
        try:
            index = int(request.query["index"])
            size = int(request.query["size"]) if "size" in request.query else None
            return web.json_response(self.log.inclusion(index, size))
        except (KeyError, ValueError) as exc:
            return web.json_response(
                {"error": f"give index (and optionally size) as integers: {exc}"}, status=400
            )
        except Exception as exc:  # an InputError: out of range
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)

    async def get_consistency(self, request: web.Request) -> web.Response:
        """GET /v1/proof/consistency."""
        try:
            old = int(request.query["old"])
            new = int(request.query["new"]) if "new" in request.query else None
            return web.json_response(self.log.consistency(old, new))
        except (KeyError, ValueError) as exc:
            return web.json_response(
                {"error": f"give old (and optionally new) as integers: {exc}"}, status=400
            )
        except Exception as exc:
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)

    async def get_entry(self, request: web.Request) -> web.Response:
        """GET /v1/entries/N (with ``read_token``: only with ``Authorization: Bearer <token>``)."""
        if self.read_token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.read_token}".encode()):
                return web.json_response(
                    {"error": "entries are readable with the read token only"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        try:
            data = self.log.store.entry(int(request.match_info["index"]))
        except ValueError:
            return web.json_response({"error": "entry index must be an integer"}, status=400)
        except Exception as exc:
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)
        return web.Response(body=data, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        """GET /healthz."""
        return web.json_response({"ok": True, "size": self.log.size, "origin": self.log.origin})

    async def _checkpoints(self, app: web.Application) -> Any:
        if self.witnesses:  # before anything is judged or signed with a clock the witnesses disagree with
            await asyncio.to_thread(self.measure_clocks)

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval)
                async with self.lock:
                    await asyncio.to_thread(self._checkpoint)
                if self.witnesses:  # (with no note yet, it still measures the clocks again)
                    got = await asyncio.to_thread(self._witness_round)
                    if got is not None:
                        async with self.lock:
                            await asyncio.to_thread(self._keep_cosignatures, *got)

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(
            [
                web.post("/v1/manifests", self.post_manifest),
                web.get("/v1/checkpoint", self.get_checkpoint),
                web.get("/v1/proof/inclusion", self.get_inclusion),
                web.get("/v1/proof/consistency", self.get_consistency),
                web.get("/v1/entries/{index}", self.get_entry),
                web.get("/healthz", self.healthz),
            ]
        )
        if self.key is not None:
            app.cleanup_ctx.append(self._checkpoints)
        return app


_log = logging.getLogger("attest.collector")

UNCONFIRMED = (
    "no witness has confirmed this collector's clock with a signed time yet (unreachable, or refusing "
    "its checkpoints): it judges and signs nothing until one does"
)


def _text(resp: Any) -> str:
    """A text answer as UTF-8 (signed notes are UTF-8 whatever charset, if any, the server names)."""
    return bytes(resp.content).decode("utf-8", "replace")


def _warn(message: str) -> None:
    _log.warning("%s", message[:500])


def carried(manifest: WorkloadManifest | None) -> list[str]:
    """The digests of the GPU evidence an authenticated manifest carries (for the log's evidence index)."""
    if manifest is None:
        return []
    return list(
        dict.fromkeys(evidence_digest(g.cc_evidence) for g in manifest.gpus if g.cc_evidence is not None)
    )


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    """A refused envelope's verdict without its evidence (a refusal tells a stranger no more than why)."""
    return {
        "status": result.get("status"),
        "findings": [
            {"rule": f.get("rule"), "severity": f.get("severity")} for f in result.get("findings", [])
        ],
    }


def open_state(log: str, state: str | None) -> CollectorState:
    """The verifier's state: ``state`` (a SQLite file) if given, else one beside a log file.

    A PostgreSQL log without ``state`` keeps it in its own database, where every collector on
    that log shares it.
    """
    if state is None and is_url(log):
        from attest.log.postgres import PostgresVerifierState

        return PostgresVerifierState(log)
    log_path = Path(log)
    path = Path(state) if state else log_path.with_name(log_path.name + ".verifier.db")
    try:
        return SqliteVerifierState(path)
    except sqlite3.Error as exc:  # pragma: no cover - a broken file
        raise InputError(f"cannot open verifier state {path}: {exc}") from None
