"""Bounded memos for the hot paths: by exact bytes, or by the identity of immutable objects.

A memo by identity holds the objects it was computed from, so their ``id`` cannot be reused
by another object while the entry lives. Both kinds forget their oldest entries past a limit
and are safe to share between threads (a lost race only costs a recomputation). Pickled (an
object holding one, sent to a spawned process), a memo arrives empty: identities mean nothing
in another process, and a cache is never needed for a result.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Hashable
from contextlib import suppress
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A dict that keeps at most ``limit`` entries, forgetting the oldest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[Bounded[K, V]], tuple[int]]:
        return (type(self), (self.limit,))

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, if any."""
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, as the newest entry (a key put again forgets no other)."""
        with self._lock:
            items = self._items
            if key in items:
                del items[key]
            elif len(items) >= self.limit:
                with suppress(StopIteration, KeyError):
                    items.pop(next(iter(items)))
            items[key] = value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class ByIdentity(Generic[V]):
    """Values computed from a few objects, found again by those very objects (not by equality).

    ``extra``, a hashable of plain values (dates, numbers, strings), is part of the key too.
    """

    def __init__(self, limit: int) -> None:
        self._memo: Bounded[tuple[Hashable, ...], tuple[tuple[object, ...], V]] = Bounded(limit)

    def __reduce__(self) -> tuple[type[ByIdentity[V]], tuple[int]]:
        return (type(self), (self._memo.limit,))

    def get(self, *objects: object, extra: Hashable = None) -> V | None:
        """The value kept for exactly these objects (and ``extra``), if any."""
        hit = self._memo.get((extra, *map(id, objects)))
        if hit is not None and all(map(operator.is_, hit[0], objects)):  # same length: same key
            return hit[1]
        return None

    def put(self, value: V, *objects: object, extra: Hashable = None) -> None:
        """Keep ``value`` for these objects and ``extra`` (holding the objects while the entry lives)."""
        self._memo.put((extra, *map(id, objects)), (objects, value))

    def clear(self) -> None:
        """Forget everything."""
        self._memo.clear()


class Same:
    """An object in a cache key, compared by identity and held (so its ``id`` is never reused meanwhile)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"Same({type(self.obj).__name__} at {id(self.obj):#x})"
