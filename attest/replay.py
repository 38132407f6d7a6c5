"""State that outlives one verification: seen nonces and per-node chain heads.

The verifier itself is pure; what it must remember between envelopes — which
nonces a key has used, and the last sequence number and manifest digest of
each node — lives behind two small interfaces, each with an in-memory
implementation and a SQLite one (WAL mode, one file, safe to share between
processes on one machine); collectors on a PostgreSQL log keep both in that
database (:class:`attest.log.postgres.PostgresVerifierState`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from attest._internal.sightings import sight_next as _sight_next
from attest.storage import BatchedStore


class NonceStore(Protocol):
    """Remembers (key id, nonce) pairs until they expire."""

    def check_and_record(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """Record the pair; return False if it had been recorded before (a replay)."""
        ...


@dataclass(frozen=True)
class Sighting:
    """The first use of a (node key, nonce) pair: which payload used it, when, and its chain verdict.

    The identity of a submission is its payload and its node key (as the log's, see
    :func:`attest.log.collector.submission_identity`): identical bytes, or the same payload
    re-signed, seen again are the same manifest, judged again now but not a replay. A
    different payload with the same nonce is one.
    """

    payload: str
    """``sha256:`` of the payload bytes that first used the nonce."""
    at: datetime
    """When that payload was first verified."""
    chain_rule: str | None
    """The chain check's finding at first sight: its rule, ``""`` for none, None if not known
    (not checked then, or a crash came between): then the check is made again."""
    new: bool = False
    """Whether this call recorded the pair (the first use is this one)."""


@runtime_checkable
class SightingStore(NonceStore, Protocol):
    """A :class:`NonceStore` that remembers which payload used each nonce, so a re-verification is no replay."""

    def first_use(
        self, key_id: str, nonce: str, expires_at: datetime, payload: str, at: datetime
    ) -> Sighting:
        """Record the pair as used by ``payload`` at ``at`` unless it was used before; return its first use."""
        ...

    def note_chain(self, key_id: str, nonce: str, payload: str, rule: str) -> None:
        """Remember the chain check's finding (``""``: none) for the pair's first use by ``payload``."""
        ...

    def note_fork(self, key_id: str, nonce: str, payload: str) -> None:
        """Mark the pair's first use by ``payload`` a branch of a fork (``chain.fork``), over a milder verdict.

        A batch finds a fork only once all its branches were checked, after the first branch's
        clean verdict was kept: the state must hold what was reported.
        """
        ...


_SIGHTING_TYPES: dict[type, bool] = {}
_MILDER_THAN_FORK = (None, "", "chain.gap")


def sighting_store(store: NonceStore | None) -> SightingStore | None:
    """``store`` if it remembers which payload used each nonce (a :class:`SightingStore`), else None.

    Decided once per type: ``isinstance`` against a runtime protocol costs tens of microseconds,
    a large share of one verification.
    """
    if store is None:
        return None
    kind = type(store)
    known = _SIGHTING_TYPES.get(kind)
    if known is None:
        known = _SIGHTING_TYPES[kind] = isinstance(store, SightingStore)
    return store if known else None  # type: ignore[return-value]


@dataclass(frozen=True)
class ChainHead:
    """The newest manifest seen from one node key."""

    sequence: int
    digest: str


class ChainStore(Protocol):
    """Remembers the newest (sequence, digest) per node key."""

    def head(self, key_id: str) -> ChainHead | None:
        """The newest manifest seen from this key, or None."""
        ...

    def advance(self, key_id: str, head: ChainHead) -> None:
        """Record ``head`` if its sequence is newer than the stored one."""
        ...


@runtime_checkable
class SwapChainStore(ChainStore, Protocol):
    """A :class:`ChainStore` that moves a head by compare-and-set, so concurrent verifiers cannot both advance.

    The verifier reads a head, judges the manifest against it, then swaps: if another verifier
    moved the head meanwhile the swap fails and the manifest is judged again against the new head
    (two branches of a fork verified at once: one advances, the other is ``chain.fork``). The
    verifier uses :meth:`swap` when a store has it, else :meth:`ChainStore.advance` (not atomic).
    """

    def swap(self, key_id: str, expected: ChainHead | None, head: ChainHead) -> bool:
        """Set the key's head to ``head`` only if it is still ``expected`` (None: no head yet); whether it was set."""
        ...


@dataclass(frozen=True)
class DeviceClaim:
    """A GPU device (by its certificate identity) vouching for a node key over a period."""

    device_id: str
    key_id: str
    host: str
    since: datetime
    """When the binding's challenge was issued."""
    until: datetime
    """The newest manifest seen that carries the binding."""

    def overlaps(self, other: DeviceClaim) -> bool:
        """Whether the two periods share a moment."""
        return self.since <= other.until and other.since <= self.until


class DeviceStore(Protocol):
    """Remembers which node keys each GPU device vouched for, and each key's bound devices.

    One GPU can serve one node at a time: a device that vouches for two keys over
    overlapping periods is one set of GPUs backing two nodes (``hardware.gpu_two_nodes``).
    """

    def claim(self, claim: DeviceClaim) -> list[DeviceClaim]:
        """Record the claim; return other keys' claims on the device that overlap it.

        The claim is merged with the same key's earlier one (the earliest ``since``, the newest ``until``).
        """
        ...

    def claims(self, device_id: str) -> list[DeviceClaim]:
        """Every key's claim on this device (a read)."""
        ...

    def rebind(
        self, key_id: str, since: datetime, devices: frozenset[str]
    ) -> tuple[datetime, frozenset[str]] | None:
        """Record a key's binding (dated ``since``) of ``devices``.

        Returns the previous binding (date, devices) when this newer one binds other devices (a swap).
        """
        ...


class MemoryDeviceStore:
    """In-memory :class:`DeviceStore`."""

    def claims(self, device_id: str) -> list[DeviceClaim]:
        """Every key's claim on this device (a read)."""
        with self._lock:
            return list(self._claims.get(device_id, {}).values())

    def __init__(self) -> None:
        self._claims: dict[str, dict[str, DeviceClaim]] = {}
        self._bindings: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def claim(self, claim: DeviceClaim) -> list[DeviceClaim]:
        """Record the claim; return other keys' overlapping claims on the device."""
        with self._lock:
            held = self._claims.setdefault(claim.device_id, {})
            merged = _merge(held.get(claim.key_id), claim)
            held[claim.key_id] = merged
            return [c for k, c in held.items() if k != claim.key_id and c.overlaps(merged)]

    def rebind(
        self, key_id: str, since: datetime, devices: frozenset[str]
    ) -> tuple[datetime, frozenset[str]] | None:
        """Record a key's binding; return the previous one when the devices changed."""
        with self._lock:
            previous = self._bindings.get(key_id)
            if previous is not None and since <= previous[0]:
                return None  # the same binding again, or an older one seen late
            self._bindings[key_id] = (since, devices)
            return previous if previous is not None and previous[1] != devices else None


def _merge(old: DeviceClaim | None, new: DeviceClaim) -> DeviceClaim:
    if old is None:
        return new
    return DeviceClaim(
        new.device_id, new.key_id, new.host, min(old.since, new.since), max(old.until, new.until)
    )


class VerifierState(NonceStore, ChainStore, DeviceStore, Protocol):
    """The stores in one place that outlives a process (a collector's state)."""

    def close(self) -> None:
        """Release the store."""
        ...


class MemoryNonceStore:
    """In-memory :class:`NonceStore` (one process; forgets on exit)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def check_and_record(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """Record the pair; return False if it had been recorded before."""
        with self._lock:
            if (key_id, nonce) in self._seen:
                return False
            self._seen[(key_id, nonce)] = expires_at
            return True

    def copy(self) -> MemoryNonceStore:
        """A store that has seen what this one has (and then goes its own way)."""
        other = MemoryNonceStore()
        with self._lock:
            other._seen = dict(self._seen)
        return other

    def prune(self, before: datetime) -> int:
        """Forget pairs that expired before ``before``; return how many."""
        with self._lock:
            old = [k for k, exp in self._seen.items() if exp < before]
            for k in old:
                del self._seen[k]
            return len(old)


class MemoryChainStore:
    """In-memory :class:`ChainStore`."""

    def __init__(self) -> None:
        self._heads: dict[str, ChainHead | tuple[int, str]] = {}
        """Each key's head; :meth:`MemoryVerifierState.sight_next` keeps it as a (sequence, digest)
        tuple, made a :class:`ChainHead` when read."""
        self._lock = threading.Lock()

    def _head(self, key_id: str) -> ChainHead | None:
        """The key's head as a :class:`ChainHead` (the caller holds the lock, or reads once)."""
        head = self._heads.get(key_id)
        if head is None or isinstance(head, ChainHead):
            return head
        return ChainHead(sequence=head[0], digest=head[1])

    def head(self, key_id: str) -> ChainHead | None:
        """The newest manifest seen from this key, or None."""
        return self._head(key_id)

    def advance(self, key_id: str, head: ChainHead) -> None:
        """Record ``head`` if newer."""
        with self._lock:
            current = self._head(key_id)
            if current is None or head.sequence > current.sequence:
                self._heads[key_id] = head

    def swap(self, key_id: str, expected: ChainHead | None, head: ChainHead) -> bool:
        """Set the key's head to ``head`` only if it is still ``expected``; whether it was set."""
        with self._lock:
            if self._head(key_id) != expected:
                return False
            self._heads[key_id] = head
            return True

    def copy(self) -> MemoryChainStore:
        """A store with this one's heads (and then going its own way)."""
        other = MemoryChainStore()
        with self._lock:
            other._heads = dict(self._heads)
        return other


class MemoryVerifierState(MemoryNonceStore, MemoryChainStore, MemoryDeviceStore):
    """Every store in memory, with :class:`SqliteVerifierState`'s semantics (one process; forgets on exit).

    A :class:`SightingStore`: the same payload from the same node key again (identical bytes,
    or the payload signed again) is a manifest seen before, which keeps the chain verdict of
    its first sighting when this object is also the chain store; a different payload reusing a
    (node key, nonce) pair is a replay. ``attest verify`` without ``--state`` and
    :class:`attest.Verifier` by default keep their state in one of these.
    """

    def __init__(self) -> None:
        MemoryNonceStore.__init__(self)
        MemoryChainStore.__init__(self)
        MemoryDeviceStore.__init__(self)  # the last: its lock is the one all three share
        self._first: dict[tuple[str, str], Sighting | tuple[str, datetime, str]] = {}
        """The first use of each pair recorded with its payload (a pair recorded by
        ``check_and_record`` has none: it matches no payload, as in SQLite). :meth:`sight_next`
        keeps its (payload, at, chain rule) as a tuple, made a :class:`Sighting` when read."""

    def first_use(
        self, key_id: str, nonce: str, expires_at: datetime, payload: str, at: datetime
    ) -> Sighting:
        """Record the pair as used by ``payload`` at ``at`` unless it was used before; return its first use."""
        pair = (key_id, nonce)
        with self._lock:
            if pair not in self._seen:
                self._seen[pair] = expires_at
                first = self._first[pair] = Sighting(payload, at, None)
                return Sighting(first.payload, first.at, None, new=True)
            return self._sighting(pair) or Sighting("", datetime.fromtimestamp(0, UTC), None)

    def sight_next(
        self,
        key_id: str,
        nonce: str,
        expires_at: datetime,
        payload: str,
        at: datetime,
        sequence: int,
        digest: str,
        previous: str | None,
    ) -> bool:
        """The common case of a replay and chain check in one step; whether it was that case.

        When the pair is unused and the manifest (``sequence``, ``digest``) continues the key's
        chain (its sequence the next, ``previous`` the newest manifest's digest, or the key has
        no head): records the pair's first use by ``payload`` with no chain finding, and the
        manifest as the key's newest — what :meth:`first_use`, a clean chain check's
        :meth:`swap` and :meth:`note_chain` record. Otherwise records nothing (the verifier's
        general steps judge it).
        """
        return _sight_next(
            self._seen,
            self._first,
            self._heads,
            self._lock,
            key_id,
            nonce,
            expires_at,
            payload,
            at,
            sequence,
            digest,
            previous,
        )

    def note_chain(self, key_id: str, nonce: str, payload: str, rule: str) -> None:
        """Remember the chain verdict of the pair's first use by ``payload`` (never overwritten)."""
        pair = (key_id, nonce)
        with self._lock:
            first = self._sighting(pair)
            if first is not None and first.payload == payload and first.chain_rule is None:
                self._first[pair] = Sighting(first.payload, first.at, rule)

    def note_fork(self, key_id: str, nonce: str, payload: str) -> None:
        """Mark the pair's first use by ``payload`` a branch of a fork (over a clean or milder verdict)."""
        pair = (key_id, nonce)
        with self._lock:
            first = self._sighting(pair)
            if first is not None and first.payload == payload and first.chain_rule in _MILDER_THAN_FORK:
                self._first[pair] = Sighting(first.payload, first.at, "chain.fork")

    def _sighting(self, pair: tuple[str, str]) -> Sighting | None:
        """The recorded first use of ``pair`` (None: none recorded); the caller holds the lock."""
        first = self._first.get(pair)
        if first is None or isinstance(first, Sighting):
            return first
        return Sighting(*first)

    def prune(self, before: datetime) -> int:
        """Forget pairs (and their first uses) that expired before ``before``; return how many."""
        with self._lock:
            old = [k for k, exp in self._seen.items() if exp < before]
            for k in old:
                del self._seen[k]
                self._first.pop(k, None)
            return len(old)

    def copy(self) -> MemoryVerifierState:
        """A state that has seen what this one has (and then goes its own way)."""
        other = MemoryVerifierState()
        with self._lock:
            other._seen, other._first, other._heads = dict(self._seen), dict(self._first), dict(self._heads)
            other._claims = {device: dict(claims) for device, claims in self._claims.items()}
            other._bindings = dict(self._bindings)
        return other

    def close(self) -> None:
        """Nothing to release (a :class:`VerifierState` like the database ones)."""


class _Raced(Exception):
    """An atomic :meth:`SqlVerifierState.record` found another writer ahead of it: roll back."""


class SqlVerifierState(BatchedStore):
    """The verifier state in a SQL database: every store's logic once, for SQLite and PostgreSQL alike.

    Each call is a statement or a short transaction whose compare-and-set is the database's
    (a primary key, an ``UPDATE ... WHERE`` on the expected head), so two processes racing
    with the same nonce cannot both record it. A subclass names its connection (``_db``), its
    tables and SQL spellings (``_dialect``), how it stores a time, and how it makes a
    transaction (:meth:`_atomic`, and :class:`~attest.storage.BatchedStore`'s hooks).
    """

    store_name = "the verifier state"
    _dialect: ClassVar[dict[str, str]]
    """Table names (``nonce``, ``head``, ``claim``, ``binding``, ``submission``), ``least`` and
    ``greatest`` (SQL functions), ``lock_row`` (a row-lock clause) and ``param`` (placeholder)."""
    _sql: ClassVar[dict[str, str]]
    _db: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_dialect" in vars(cls):
            cls._sql = {
                k: v.format(**cls._dialect).replace("?", cls._dialect["param"]) for k, v in _SQL.items()
            }

    def _time(self, at: datetime) -> Any:
        """``at`` as the database stores it."""
        return at

    def _read_time(self, value: Any) -> datetime:
        """A stored time as a UTC datetime."""
        return value  # type: ignore[no-any-return]

    def _atomic(self) -> AbstractContextManager[Any]:
        """A transaction (a savepoint of the batch's or another's, if one is open)."""
        raise NotImplementedError

    def _run(self, name: str, params: tuple[Any, ...]) -> Any:
        return self._db.execute(self._sql[name], params)

    def check_and_record(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """Record the pair; return False if it had been recorded before (a replay)."""
        with self._lock:
            self._writing(roll=True)
            return bool(self._run("nonce", (key_id, nonce, self._time(expires_at))).rowcount == 1)

    def first_use(
        self, key_id: str, nonce: str, expires_at: datetime, payload: str, at: datetime
    ) -> Sighting:
        """Record the pair as used by ``payload`` unless it was used before; return its first use (one ``INSERT``)."""
        with self._lock:
            self._writing(roll=True)
            with self._atomic():
                cur = self._run("sighting", (key_id, nonce, self._time(expires_at), payload, self._time(at)))
                if cur.rowcount == 1:
                    return Sighting(payload, at, None, new=True)
                row = self._run("first_use", (key_id, nonce)).fetchone()
        if row is None:  # pragma: no cover - the row was inserted or found in the same transaction
            raise RuntimeError("a nonce row vanished while it was being recorded")
        payload_, first, rule = row
        when = self._read_time(first) if first is not None else _utc(0.0)  # a row from before sightings
        return Sighting("" if payload_ is None else str(payload_), when, None if rule is None else str(rule))

    def note_chain(self, key_id: str, nonce: str, payload: str, rule: str) -> None:
        """Remember the chain verdict of the pair's first use by ``payload`` (never overwritten)."""
        with self._lock:
            self._writing()
            self._run("note_chain", (rule, key_id, nonce, payload))

    def note_fork(self, key_id: str, nonce: str, payload: str) -> None:
        """Mark the pair's first use by ``payload`` a branch of a fork (over a clean or milder verdict)."""
        with self._lock:
            self._writing()
            self._run("note_fork", (key_id, nonce, payload))

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

        With ``expected``, a key's head moves only from the head named there (None: no head yet):
        one that another writer moved meanwhile is left as it is, and the call returns False.
        With ``atomic``, a call that returns False records nothing at all (it is rolled back).
        """
        fresh = True
        with self._lock:
            self._writing()
            try:
                with self._atomic():  # within a batch: a savepoint of its transaction
                    for key_id, nonce, expires_at in nonces:
                        fresh = (
                            self._run("nonce", (key_id, nonce, self._time(expires_at))).rowcount == 1
                            and fresh
                        )
                    for key_id, head in heads:
                        if expected is not None and key_id in expected:
                            fresh = self._swap(key_id, expected[key_id], head) and fresh
                        else:
                            self._run("advance", (key_id, head.sequence, head.digest))
                    for submission in submissions:
                        self._run("submit", submission)
                    if atomic and not fresh:
                        raise _Raced  # rolls the transaction (or the batch's savepoint) back
            except _Raced:
                return False
        return fresh

    def seen(self, key_id: str, nonce: str) -> bool:
        """Whether the pair is recorded (a read: nothing is recorded)."""
        with self._lock:
            return self._run("seen", (key_id, nonce)).fetchone() is not None

    def submission(self, identity: bytes) -> int | None:
        """The log index of the submission with this identity (payload and signers), if logged."""
        with self._lock:
            row = self._run("submission", (identity,)).fetchone()
        return int(row[0]) if row else None

    def record_submission(self, identity: bytes, index: int) -> None:
        """Remember that the submission ``identity`` is entry ``index`` of the log (the first one stays)."""
        with self._lock:
            self._writing()
            self._run("submit", (identity, index))

    def prune(self, before: datetime) -> int:
        """Forget nonces that expired before ``before``; return how many."""
        with self._lock:
            self._writing()
            return int(self._run("prune", (self._time(before),)).rowcount)

    def head(self, key_id: str) -> ChainHead | None:
        """The newest manifest seen from this key, or None."""
        with self._lock:
            row = self._run("head", (key_id,)).fetchone()
        return ChainHead(sequence=int(row[0]), digest=str(row[1])) if row else None

    def advance(self, key_id: str, head: ChainHead) -> None:
        """Record ``head`` if newer (one atomic upsert)."""
        with self._lock:
            self._writing()
            self._run("advance", (key_id, head.sequence, head.digest))

    def swap(self, key_id: str, expected: ChainHead | None, head: ChainHead) -> bool:
        """Set the key's head to ``head`` only if it is still ``expected`` (one atomic statement); whether it was set."""
        with self._lock:
            self._writing()
            return self._swap(key_id, expected, head)

    def _swap(self, key_id: str, expected: ChainHead | None, head: ChainHead) -> bool:
        if expected is None:
            cur = self._run("head_first", (key_id, head.sequence, head.digest))
        else:
            cur = self._run(
                "head_swap", (head.sequence, head.digest, key_id, expected.sequence, expected.digest)
            )
        return bool(cur.rowcount == 1)

    def _claims(self, rows: list[tuple[Any, ...]], device_id: str) -> list[DeviceClaim]:
        return [
            DeviceClaim(device_id, str(k), str(h), self._read_time(a), self._read_time(b))
            for k, h, a, b in rows
        ]

    def claims(self, device_id: str) -> list[DeviceClaim]:
        """Every key's claim on this device (a read)."""
        with self._lock:
            rows = self._run("claims", (device_id,)).fetchall()
        return self._claims(rows, device_id)

    def claim(self, claim: DeviceClaim) -> list[DeviceClaim]:
        """Record the claim (one upsert); return other keys' overlapping claims on the device."""
        with self._lock:
            self._writing()
            self._run(
                "claim",
                (claim.device_id, claim.key_id, claim.host, self._time(claim.since), self._time(claim.until)),
            )
            since, until = self._run("claim_own", (claim.device_id, claim.key_id)).fetchone()
            rows = self._run("overlaps", (claim.device_id, claim.key_id, until, since)).fetchall()
        return self._claims(rows, claim.device_id)

    def rebind(
        self, key_id: str, since: datetime, devices: frozenset[str]
    ) -> tuple[datetime, frozenset[str]] | None:
        """Record a key's binding; return the previous one when the devices changed (one transaction)."""
        text = ",".join(sorted(devices))
        with self._lock:
            self._writing()
            with self._atomic():
                row = self._run("binding", (key_id,)).fetchone()
                if row is not None and self._time(since) <= row[0]:
                    return None  # the same binding again, or an older one seen late
                self._run("rebind", (key_id, self._time(since), text))
        if row is None or row[1] == text:
            return None
        return self._read_time(row[0]), frozenset(d for d in str(row[1]).split(",") if d)


_SQL = {
    "nonce": "INSERT INTO {nonce} (key_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    "sighting": "INSERT INTO {nonce} (key_id, nonce, expires_at, payload, first_seen) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING",
    "first_use": "SELECT payload, first_seen, chain_rule FROM {nonce} WHERE key_id = ? AND nonce = ?",
    "note_chain": "UPDATE {nonce} SET chain_rule = ? WHERE key_id = ? AND nonce = ? AND payload = ? "
    "AND chain_rule IS NULL",
    "note_fork": "UPDATE {nonce} SET chain_rule = 'chain.fork' WHERE key_id = ? AND nonce = ? AND payload = ? "
    "AND (chain_rule IS NULL OR chain_rule IN ('', 'chain.gap'))",
    "seen": "SELECT 1 FROM {nonce} WHERE key_id = ? AND nonce = ?",
    "prune": "DELETE FROM {nonce} WHERE expires_at < ?",
    "submit": "INSERT INTO {submission} (identity, log_index) VALUES (?, ?) ON CONFLICT DO NOTHING",
    "submission": "SELECT log_index FROM {submission} WHERE identity = ?",
    "head": "SELECT sequence, digest FROM {head} WHERE key_id = ?",
    "advance": "INSERT INTO {head} (key_id, sequence, digest) VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE "
    "SET sequence = excluded.sequence, digest = excluded.digest WHERE excluded.sequence > {head}.sequence",
    "head_first": "INSERT INTO {head} (key_id, sequence, digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    "head_swap": "UPDATE {head} SET sequence = ?, digest = ? WHERE key_id = ? AND sequence = ? AND digest = ?",
    "claims": "SELECT key_id, host, since, until FROM {claim} WHERE device_id = ?",
    "claim": "INSERT INTO {claim} (device_id, key_id, host, since, until) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, key_id) DO UPDATE SET host = excluded.host, "
    "since = {least}({claim}.since, excluded.since), until = {greatest}({claim}.until, excluded.until)",
    "claim_own": "SELECT since, until FROM {claim} WHERE device_id = ? AND key_id = ?",
    "overlaps": "SELECT key_id, host, since, until FROM {claim} "
    "WHERE device_id = ? AND key_id <> ? AND since <= ? AND until >= ?",
    "binding": "SELECT since, devices FROM {binding} WHERE key_id = ?{lock_row}",
    "rebind": "INSERT INTO {binding} (key_id, since, devices) VALUES (?, ?, ?) "
    "ON CONFLICT (key_id) DO UPDATE SET since = excluded.since, devices = excluded.devices",
}
"""Every statement of :class:`SqlVerifierState`, written once (``?`` placeholders; ``{name}``: the dialect's)."""


class SqliteVerifierState(SqlVerifierState):
    """Both stores in one SQLite file (WAL mode), shared safely between processes.

    ``check_and_record`` is a single ``INSERT`` on a primary key, so two
    processes racing with the same nonce cannot both succeed. A database that cannot be
    read or written (locked, full, read-only, damaged) raises :class:`~attest.errors.StoreError`.

    Each write is its own durable transaction, unless made within :meth:`batch`: then the
    writes of many verifications share a few (``attest verify`` of a thousand files commits
    a handful of times instead of three thousand).
    """

    _dialect: ClassVar[dict[str, str]] = {
        "nonce": "seen_nonce",
        "head": "chain_head",
        "claim": "device_claim",
        "binding": "key_binding",
        "submission": "submission",
        "least": "min",
        "greatest": "max",
        "lock_row": "",  # a transaction holds the whole file's write lock
        "param": "?",
    }

    def __init__(self, path: Path | str, *, timeout: float = 30.0) -> None:
        self._path = str(path)
        self._db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS seen_nonce (
                key_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at REAL NOT NULL,
                PRIMARY KEY (key_id, nonce));
            CREATE TABLE IF NOT EXISTS chain_head (
                key_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, digest TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS device_claim (
                device_id TEXT NOT NULL, key_id TEXT NOT NULL, host TEXT NOT NULL,
                since REAL NOT NULL, until REAL NOT NULL, PRIMARY KEY (device_id, key_id));
            CREATE TABLE IF NOT EXISTS key_binding (
                key_id TEXT PRIMARY KEY, since REAL NOT NULL, devices TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS submission (
                identity BLOB PRIMARY KEY, log_index INTEGER NOT NULL);
            """
        )
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(seen_nonce)")}
        for column in ("payload TEXT", "first_seen REAL", "chain_rule TEXT"):  # files before sightings
            if column.split()[0] not in columns:
                self._db.execute(f"ALTER TABLE seen_nonce ADD COLUMN {column}")
        self._lock = threading.Lock()

    def _where(self) -> str:
        return getattr(self, "_path", "")

    def _tx_open(self) -> bool:
        return bool(self._db.in_transaction)

    def _tx_begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")  # the write lock, held until the commit

    def _tx_commit(self) -> None:
        self._db.execute("COMMIT")

    def _tx_rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def _time(self, at: datetime) -> Any:
        return at.timestamp()

    def _read_time(self, value: Any) -> datetime:
        return _utc(float(value))

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        own = not self._db.in_transaction  # within a batch: a savepoint of its transaction
        self._db.execute("BEGIN IMMEDIATE" if own else "SAVEPOINT atomic")
        try:
            yield
        except BaseException:
            if own and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            elif not own:
                self._db.execute("ROLLBACK TO atomic")
                self._db.execute("RELEASE atomic")
            raise
        self._db.execute("COMMIT" if own else "RELEASE atomic")

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
