"""The transparency log: RFC 9162 Merkle tree over envelopes, signed checkpoints, proofs."""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attest.crypto.keys import SigningKey
from attest.errors import AttestError, InputError
from attest.log import merkle
from attest.log.checkpoint import DASH, Checkpoint, open_checkpoint, parse_verifier_key, verifier_key
from attest.log.cosignature import WitnessKey, count_cosignatures
from attest.log.store import (
    EVIDENCE_INDEXED_FROM,
    TIMES_KEPT_FROM,
    Appended,
    LogStore,
    SqliteLog,
    entries_path,
)

__all__ = ["TIME_TOLERANCE_S", "Appended", "Checkpoint", "Log", "is_url", "merkle"]

TIME_TOLERANCE_S = 120.0
"""How far an entry's integration time may lie outside the signed checkpoint times around it.

Checkpoint times are whole seconds, signed as max(now, the newest checkpoint's time) by a
collector whose clock may be up to ``FUTURE_BOUND_S`` behind that time, on a log other
collectors (within ``max_clock_lag_s``, 60 s by default) append to: two minutes covers all of it.
"""

FUTURE_BOUND_S = 60.0
"""A collector signs no checkpoint time more than this ahead of its own clock (it refuses instead)."""


def is_url(where: Path | str) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a file."""
    return str(where).startswith(("postgresql://", "postgres://"))


class Log:
    """A log: a store, its origin and its checkpoint verifier key."""

    def __init__(self, store: LogStore) -> None:
        self.store = store
        origin = store.meta("origin")
        vkey = store.meta("verifier_key")
        if origin is None or vkey is None:
            raise InputError("this database is not an initialized log", hint="attest log init")
        self.origin = origin
        self.key_name, self.public = parse_verifier_key(vkey)

    @classmethod
    def init(cls, where: Path | str, origin: str, key: SigningKey) -> Log:
        """Create a log whose checkpoints ``key`` signs (a file path, or a ``postgresql://`` URL)."""
        if not origin or any(c.isspace() or c == "+" for c in origin):
            raise InputError(
                "the origin must be non-empty, without spaces or '+' (e.g. example.com/attest/log)"
            )
        verifier = verifier_key(origin, key.public)  # refuses non-Ed25519 keys before anything is created
        store: LogStore
        if is_url(where):
            from attest.log.postgres import PostgresLog

            store = PostgresLog(str(where), create=True)
            if store.meta("origin") is not None:
                raise InputError("that database already holds a log")
        else:
            path = Path(where)
            for taken in (path, entries_path(path)):
                if taken.exists():
                    raise InputError(f"{taken} already exists")
            store = SqliteLog(path, create=True)
        store.set_meta("origin", origin)
        store.set_meta("verifier_key", verifier)
        store.set_meta(TIMES_KEPT_FROM, "0")
        return cls(store)

    @classmethod
    def open(cls, where: Path | str) -> Log:
        """Open an existing log (a file path, or a ``postgresql://`` URL)."""
        if is_url(where):
            from attest.log.postgres import PostgresLog

            return cls(PostgresLog(str(where)))
        return cls(SqliteLog(Path(where)))

    @property
    def size(self) -> int:
        """Number of entries."""
        return self.store.size()

    def append(self, entries: list[bytes], evidence: Sequence[Sequence[str]] | None = None) -> list[Appended]:
        """Append envelopes' bytes as received (one durable batch), indexing the GPU evidence they carry.

        ``evidence``: each entry's evidence digests, when the caller has read them (a collector,
        from the manifest it verified); by default they are read here from the bytes, unverified.
        The index is only where to look: whoever resolves a digest from the log verifies the entry
        in full (:meth:`envelopes_carrying`).
        """
        if evidence is None:
            evidence = [carried_evidence(raw) for raw in entries]
        return self.store.append(entries, evidence)

    def envelopes_carrying(self, digest: str, limit: int = 8) -> list[tuple[str, bytes]]:
        """(label, bytes) of the newest entries indexed as carrying the GPU evidence of ``digest``.

        The operator's word, as everything in the log: a verifier resolving a digest from it
        (:class:`attest.verify.EvidenceSource`) verifies each entry returned in full.

        Raises:
            StoreError: the database could not be read.
            InputError: ``digest`` is not ``sha256:<hex>``; an indexed entry is missing; nothing was
                found and the index does not cover every entry (a log from before it).
        """
        if not self.store.indexed:
            raise InputError(
                "the log has no evidence index (it was created before the index and is opened read-only)",
                hint="run attest log index-evidence --log LOG once, with write access",
            )
        found = self.store.evidence_entries(digest, limit)
        if not found and self.evidence_indexed_from > 0:
            raise InputError(
                f"the log's evidence index starts at entry {self.evidence_indexed_from}: the entries "
                "logged before it were not searched",
                hint="run attest log index-evidence --log LOG once",
            )
        return [(f"log entry {i}", self.store.entry(i)) for i in found]

    @property
    def evidence_indexed_from(self) -> int:
        """The first entry the evidence index covers (entries before it were logged before the index)."""
        value = self.store.meta(EVIDENCE_INDEXED_FROM)
        return int(value) if value is not None and value.isdigit() else 0

    def index_evidence(self) -> int:
        """Index the GPU evidence of the entries logged before the evidence index; return how many carried any.

        Raises:
            InputError: the log has no evidence index (one from before it, opened read-only).
        """
        if not self.store.indexed:
            raise InputError("the log has no evidence index, and it could not be made (is it read-only?)")
        end = self.evidence_indexed_from
        carrying = 0
        for start in range(0, end, 1000):
            rows: list[tuple[str, int]] = []
            for index in range(start, min(end, start + 1000)):
                digests = carried_evidence(self.store.entry(index))
                carrying += bool(digests)
                rows += [(d, index) for d in digests]
            if rows:
                self.store.add_evidence_rows(rows)
        if end:
            self.store.set_meta(EVIDENCE_INDEXED_FROM, "0")
        return carrying

    def root(self, size: int | None = None) -> bytes:
        """The root hash at ``size`` (default: now)."""
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise InputError(f"the log has {self.size} entries, not {n}")
        return merkle.root(self.store.node, n)

    def inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        """The inclusion proof of entry ``index`` in the tree of ``size`` entries."""
        return self.inclusions([index], size)[0]

    def inclusions(self, indexes: Sequence[int], size: int | None = None) -> list[dict[str, Any]]:
        """The inclusion proofs of several entries in one tree of ``size`` entries (its root computed once)."""
        n = self.size if size is None else size
        for index in indexes:
            if not 0 <= index < n <= self.size:
                raise InputError(f"no entry {index} in a tree of size {n} (the log has {self.size})")
        root = self.root(n).hex() if indexes else ""
        return [
            {
                "leaf_index": index,
                "tree_size": n,
                "leaf_hash": self.store.node(0, index).hex(),
                "root_hash": root,
                "path": [p.hex() for p in merkle.inclusion_path(self.store.node, index, n)],
            }
            for index in indexes
        ]

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        """The consistency proof from size ``old`` to size ``new``."""
        n = self.size if new is None else new
        if not 0 <= old <= n <= self.size:
            raise InputError(f"no consistency proof from {old} to {n} (the log has {self.size})")
        return {
            "old_size": old,
            "new_size": n,
            "old_root": self.root(old).hex(),
            "new_root": self.root(n).hex(),
            "path": [p.hex() for p in merkle.consistency_path(self.store.node, old, n)],
        }

    def checkpoint(self, key: SigningKey, *, future_bound_s: float = FUTURE_BOUND_S) -> str:
        """Sign and remember a checkpoint of the current size.

        Raises:
            InputError: not the log's key, or the newest checkpoint's time is more than
                ``future_bound_s`` ahead of this clock (a clock ahead signed it, or this one is
                behind): carrying that time forward would freeze every writer's time line, and a
                time line behind it would go backwards, so nothing is signed until the clocks agree.
        """
        if verifier_key(self.origin, key.public) != self.store.meta("verifier_key"):
            raise InputError("this is not the key the log was created with")
        n = self.size
        root = self.root(n)
        kept = self.store.checkpoint_at(n)
        if kept is not None and kept[0] == root:
            return kept[1]  # signed before (with the cosignatures it has gathered since)
        # Never a time before the newest checkpoint's: a clock set back (or another collector's
        # clock ahead) must not make the log's signed time lines go backwards.
        stamp = int(time.time())
        newest = self.store.newest_checkpoint()
        if newest is not None:
            try:
                last = open_checkpoint(newest, self.key_name, self.public, origin=self.origin).timestamp
            except InputError:
                last = None
            if last is not None and last > stamp + future_bound_s:
                raise InputError(
                    f"the log's newest checkpoint is timed {last - stamp} s ahead of this clock (more than "
                    f"{future_bound_s:.0f} s): no checkpoint is signed until the clocks agree",
                    hint="check this host's clock (and that of whoever signed that checkpoint)",
                )
            stamp = max(stamp, last or 0)
        note = Checkpoint(self.origin, n, root, stamp).sign(self.origin, key)
        self.store.add_checkpoint(n, root, note)  # refused if this size was signed with another root
        return note

    def add_cosignatures(self, note: str, lines: str) -> str:
        """Keep ``note`` with cosignature ``lines`` (already verified) appended; return the new note.

        Lines that are not signature lines, or that name this log's own key, are dropped: a
        cosignature adds to the note's signatures and never stands in for the log's own.
        """
        cp = open_checkpoint(note, self.key_name, self.public, origin=self.origin)
        kept = [
            line + "\n"
            for line in lines.splitlines()
            if line.startswith(DASH + " ")
            and line.split(" ")[1:2] != [self.key_name]
            and line + "\n" not in note
        ]
        cosigned = note + "".join(kept)
        self.store.add_checkpoint(cp.size, cp.root, cosigned)
        return cosigned

    def signed_checkpoint_times(self) -> list[tuple[int, int]]:
        """(size, time) of each stored checkpoint that verifies and has a time line, by size."""
        out: list[tuple[int, int]] = []
        for size, root, note in self.store.checkpoints():
            try:
                cp = open_checkpoint(note, self.key_name, self.public, origin=self.origin)
            except InputError:
                continue  # verify() reports it
            if cp.timestamp is not None and cp.size == size and cp.root == root:
                out.append((size, cp.timestamp))
        return sorted(out)

    def time_problems(self, tolerance_s: float = TIME_TOLERANCE_S) -> tuple[dict[int, str], set[int]]:
        """Check each entry's integration time against the signed checkpoints' time lines.

        An entry's time must be no later than the time of every signed checkpoint that includes
        it and no earlier than the time of every one that does not (within ``tolerance_s``): a
        rewritten time column (to hide a backdated node clock, or to frame one) shows. Returns
        the contradicted entries with a message each, and the timed entries no signed, timed
        checkpoint covers yet (their time is the log operator's word alone).
        """
        times = self.store.integration_times()
        signed = self.signed_checkpoint_times()
        problems: dict[int, str] = {
            index: (
                f"entry {index}: the log keeps integration times but has none for this entry "
                "(removed from its database?)"
            )
            for index in self.untimed()
        }
        if not times:
            return problems, set()
        sizes = [size for size, _ in signed]
        # newest[i]: the latest time among signed[:i + 1]; oldest[i]: the earliest among signed[i:].
        newest = list(itertools.accumulate((t for _, t in signed), max))
        oldest = list(itertools.accumulate((t for _, t in reversed(signed)), min))[::-1]
        unsigned: set[int] = set()
        for index, at in sorted(times.items()):
            if not math.isfinite(at):
                problems[index] = f"entry {index}: integration time {at} is not a time (rewritten?)"
                continue
            cut = bisect.bisect_right(sizes, index)  # signed[:cut] do not include the entry
            if cut < len(signed) and at > oldest[cut] + tolerance_s:
                size = next(s for s, t in signed[cut:] if t == oldest[cut])
                problems[index] = (
                    f"entry {index}: integration time {_utc(at)} is after {_utc(oldest[cut])}, the time of "
                    f"the signed checkpoint at size {size}, which includes it (rewritten?)"
                )
            elif cut > 0 and at < newest[cut - 1] - tolerance_s:
                size = next(s for s, t in signed[:cut] if t == newest[cut - 1])
                problems[index] = (
                    f"entry {index}: integration time {_utc(at)} is before {_utc(newest[cut - 1])}, the "
                    f"time of the signed checkpoint at size {size}, which does not include it yet (the time rewritten, or that checkpoint signed by a clock running ahead)"
                )
            elif cut == len(signed):
                unsigned.add(index)
        return problems, unsigned

    def untimed(self) -> list[int]:
        """The entries that should have an integration time and have none (removed from the database).

        A log created by ``attest log init`` keeps a time for every entry; one created before
        times were kept, from the entry the upgrade began with (``times_kept_from``). Without
        that mark (a log upgraded before the mark existed), from its first timed entry; with no
        timed entry but a signed checkpoint's time line, from the first: a time set to NULL, or
        the column dropped, is not an older log.
        """
        size = self.size
        times = self.store.integration_times()
        mark = self.store.meta(TIMES_KEPT_FROM)
        start: int | None
        if mark is not None and mark.isdigit():
            start = int(mark)
        elif mark is not None:
            start = 0  # a mark that is no number was written by hand
        elif times:
            start = min(times)
        elif self.signed_checkpoint_times():
            start = 0
        else:
            start = None  # a log from before times were kept
        if start is None:
            return []
        return [i for i in range(start, size) if i not in times]

    def uncosigned_times(self, witnesses: Sequence[WitnessKey], cosignatures: int) -> list[int]:
        """The entries whose integration time no checkpoint with ``cosignatures`` witness cosignatures confirms.

        An entry's time is confirmed when the first signed, timed checkpoint that holds it, or a
        later one timed within ``TIME_TOLERANCE_S`` of it, carries that many valid cosignatures by
        ``witnesses``: witnesses check a time line against their own clocks, so a time line the
        log's key alone vouches for (re-signed later, with a chosen time) is not confirmed.
        """
        if cosignatures <= 0:
            return []
        timed: list[tuple[int, int, bool]] = []  # (size, time, cosigned enough)
        for size, root, note in self.store.checkpoints():
            try:
                cp = open_checkpoint(note, self.key_name, self.public, origin=self.origin)
            except InputError:
                continue  # verify() reports it
            if cp.timestamp is not None and cp.size == size and cp.root == root:
                timed.append((size, cp.timestamp, count_cosignatures(note, witnesses) >= cosignatures))
        timed.sort()
        # The entries in [timed[k-1].size, timed[k].size) are held by timed[k:] alone; all share a verdict.
        out: list[int] = []
        start = 0
        for k in range(len(timed) + 1):
            end = timed[k][0] if k < len(timed) else self.size
            covering = timed[k:]
            first = min((t for _, t, _ in covering), default=None)
            if first is None or not any(ok and t <= first + TIME_TOLERANCE_S for _, t, ok in covering):
                out.extend(range(start, min(end, self.size)))
            start = max(start, end)
        return out

    def covered_at(self) -> dict[int, int]:
        """For each entry a signed, timed checkpoint includes: the earliest such checkpoint's time.

        The log signed, at that time, a tree that held the entry: it was integrated no later
        (within whole seconds), whatever its time column says. Deleting checkpoints only moves
        this later, never earlier.
        """
        signed = self.signed_checkpoint_times()
        oldest = list(itertools.accumulate((t for _, t in reversed(signed)), min))[::-1]
        sizes = [size for size, _ in signed]
        out: dict[int, int] = {}
        for index in range(self.size):
            cut = bisect.bisect_right(sizes, index)
            if cut < len(signed):
                out[index] = oldest[cut]
        return out

    def verify(self) -> list[str]:
        """Recompute everything from the entries; check every checkpoint. Returns problems (empty = sound).

        Each entry's integration time is checked against the signed checkpoints' time lines too.
        """
        problems: list[str] = []
        tree = merkle.MemoryTree()
        for i in range(self.size):
            data = self.store.entry(i)
            tree.append(data)
            if tree.node(0, i) != self.store.node(0, i):
                problems.append(f"entry {i}: stored leaf hash does not match its bytes")
        for level, hashes in enumerate(tree.levels):
            for i, h in enumerate(hashes):
                if self.store.node(level, i) != h:
                    problems.append(f"subtree ({level}, {i}) does not match its children")
        for size, stored_root, note in self.store.checkpoints():
            try:
                cp = open_checkpoint(note, self.key_name, self.public, origin=self.origin)
            except InputError as exc:
                problems.append(f"checkpoint at size {size}: {exc.message}")
                continue
            if cp.size != size or cp.root != stored_root:
                problems.append(f"checkpoint at size {size} does not say what was stored")
            if size > self.size:
                problems.append(
                    f"checkpoint at size {size} is beyond the log's {self.size} entries (truncated log)"
                )
            elif merkle.root(tree.node, size) != cp.root:
                problems.append(f"checkpoint at size {size}: the log's tree at that size has another root")
        problems.extend(self.time_problems()[0].values())
        return problems


def carried_evidence(raw: bytes) -> list[str]:
    """The digests of the GPU evidence an envelope's manifest carries, read without verifying it.

    For the log's evidence index, which only says where to look: nothing is trusted from it.
    Bytes that are not an envelope of a manifest carry none.
    """
    from attest.crypto.dsse import parse_envelope
    from attest.hardware.binding import evidence_digest
    from attest.model.fastread import read_statement

    try:
        _, payload = parse_envelope(raw, require_canonical=False)
        gpus = read_statement(payload).predicate.gpus
    except AttestError:
        return []
    except (ValueError, RecursionError, MemoryError):  # pragma: no cover - the readers raise AttestError
        return []  # an index hint never stops bytes from being logged
    return list(dict.fromkeys(evidence_digest(g.cc_evidence) for g in gpus if g.cc_evidence is not None))


def _utc(stamp: float) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
    except (OverflowError, OSError, ValueError):  # beyond the calendar
        return f"{stamp:.0f} s"
