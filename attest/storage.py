"""One place where a database's errors become the project's: the base class of every store.

The stores that outlive a process (the verifier's state of seen nonces, chain heads and GPU
claims; the log; the node's chain) keep their data in SQLite or PostgreSQL. Their drivers
raise their own errors: a locked database, a full disk, a read-only or damaged file, a
dropped connection. As python-tuf's ``FetcherInterface`` turns every implementer's failure
into one ``DownloadError``, :class:`DatabaseStore` turns every driver error raised by a
public method of a subclass into :class:`~attest.errors.StoreError`, naming the store and
what went wrong, so no ``sqlite3.Error`` or ``psycopg.Error`` reaches a caller, and the CLI
prints one line (exit 2) instead of "internal error ... this is a bug".

A subclass defines its methods as usual; every public method (a name without a leading
underscore, including ``__init__``) is wrapped when the class is created. A subclass whose
driver is not SQLite says which errors are its driver's in ``_db_errors`` (set in its
``__init__`` before the first query, as psycopg is an optional import).

:class:`BatchedStore` adds, for every driver alike, the writes of many calls shared in a few
transactions (:meth:`BatchedStore.batch`): the verifier state in SQLite and in PostgreSQL.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar, TypeVar

from attest.errors import StoreError

_F = TypeVar("_F", bound=Callable[..., Any])


class DatabaseStore:
    """Base class of the stores backed by a database: their driver errors become :class:`StoreError`.

    Attributes:
        store_name: how messages name the store ("the verifier state", "the log").
    """

    store_name: ClassVar[str] = "the database"
    _db_errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if (name.startswith("_") and name != "__init__") or not inspect.isfunction(member):
                continue
            setattr(cls, name, _guarded(member))

    def _where(self) -> str:
        """The store's location for messages (a path; a URL without credentials)."""
        return ""


def _guarded(method: _F) -> _F:
    @functools.wraps(method)
    def wrapper(self: DatabaseStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except BaseException as exc:
            if not isinstance(exc, self._db_errors):
                raise
            raise StoreError.from_driver(self.store_name, self._where(), exc) from exc

    return wrapper  # type: ignore[return-value]


class BatchedStore(DatabaseStore):
    """A :class:`DatabaseStore` whose writes can share transactions, committed together: :meth:`batch`.

    The transaction handling is here, once, for every driver; a subclass says how its driver
    begins (taking the lock that orders writers), commits and rolls back a transaction
    (``_tx_begin``, ``_tx_commit``, ``_tx_rollback``, ``_tx_open``), holds ``_lock`` around
    each write and calls :meth:`_writing` (``roll=True`` where a verification's writes begin)
    before it.
    """

    _lock: threading.Lock
    _batching: bool = False
    _hold: float = 0.0
    _began: float = 0.0

    def _tx_open(self) -> bool:
        """Whether a batch's transaction is open."""
        raise NotImplementedError

    def _tx_begin(self) -> None:
        """Begin a transaction, holding the lock that orders the store's writers across processes."""
        raise NotImplementedError

    def _tx_commit(self) -> None:
        """Commit the open transaction (durably)."""
        raise NotImplementedError

    def _tx_rollback(self) -> None:
        """Roll the open transaction back."""
        raise NotImplementedError

    @contextmanager
    def batch(self, *, hold: float = 0.25) -> Iterator[None]:
        """Make the writes within it in shared transactions, committed (durably) when it ends.

        A transaction holds the lock that orders the store's writers (SQLite's write lock; a
        PostgreSQL advisory lock of the verifier state), so once one has been open ``hold``
        seconds it is committed, and the next one begun, where the next verification's writes
        begin (its nonce): another process's batch waits at most about that long, and one
        verification's writes are never split between two commits. Each transaction is all or
        nothing. When the block ends without an error, everything written in it is committed
        as durably as a single write, so a caller reports what it verified only after the
        block. An error within it rolls back the writes since the last commit (those before it
        are kept, as a write outside a batch would have been) and is raised; one in committing
        raises :class:`~attest.errors.StoreError`, and nothing of the last transaction is kept.

        Within the block a verifier reads the heads and nonces it writes, and no other
        process's batch can write between its read and its compare-and-set: chain heads move
        exactly as they do outside it. A batch within a batch is the outer one.
        """
        if self._batching:
            yield
            return
        with self._lock:
            self._batching, self._hold = True, hold
        try:
            yield
        except BaseException:
            with self._lock:
                self._batching = False
                if self._tx_open():
                    with suppress(*self._db_errors):  # the error being raised says what went wrong
                        self._tx_rollback()
            raise
        with self._lock:
            self._batching = False
            if self._tx_open():
                try:
                    self._tx_commit()
                except self._db_errors as exc:
                    if self._tx_open():
                        with suppress(*self._db_errors):
                            self._tx_rollback()
                    raise StoreError.from_driver(self.store_name, self._where(), exc) from exc

    def _writing(self, *, roll: bool = False) -> None:
        """Before a write (``_lock`` held): within a batch, be in its transaction.

        With ``roll`` (where a verification's writes begin), a transaction open ``hold``
        seconds or more is committed first and a new one begun.
        """
        if not self._batching:
            return
        if self._tx_open():
            if not roll or time.monotonic() - self._began < self._hold:
                return
            self._tx_commit()
        self._tx_begin()
        self._began = time.monotonic()
