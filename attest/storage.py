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
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable
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
